//! The SCIM writer: observes what Winningtemp holds (`Current`) and carries out a plan against
//! it, with bounded concurrency, recording every outcome; one failed record never stops the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde_json::{Value, json};

use flexsync_core::current::{Attribute, Capabilities, Current, TargetUser};
use flexsync_core::desired::{Gender, UserValues};
use flexsync_core::plan::{Operation, Plan, Step};
use flexsync_scim::{Email, Name, PatchOperation, ScimClient, ScimError, ScimUser, ServerInfo};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Where each mapped value lives on the SCIM side.
#[derive(Debug, Clone)]
pub struct AttributeMap {
    /// The URN of the extension holding gender, birthDate, excludeFromSurveys and dates.
    pub user_extension: String,
}

impl AttributeMap {
    /// (schema URN, attribute path within it) of an attribute.
    fn location(&self, attribute: &Attribute) -> (String, String) {
        let ext = |name: &str| (self.user_extension.clone(), name.to_string());
        match attribute {
            Attribute::UserName => (CORE_USER.into(), "userName".into()),
            Attribute::Email => (CORE_USER.into(), "emails".into()),
            Attribute::GivenName => (CORE_USER.into(), "name.givenName".into()),
            Attribute::FamilyName => (CORE_USER.into(), "name.familyName".into()),
            Attribute::Active => (CORE_USER.into(), "active".into()),
            Attribute::Manager => (ENTERPRISE_USER.into(), "manager".into()),
            Attribute::Gender => ext("gender"),
            Attribute::BirthDate => ext("birthDate"),
            Attribute::ExcludeFromSurveys => ext("excludeFromSurveys"),
            Attribute::EmploymentStart => ext("employmentStartDate"),
            Attribute::EmploymentEnd => ext("employmentEndDate"),
            Attribute::Extra(path) => split_urn(path),
        }
    }

    /// The PATCH path of an attribute: core attributes bare, extension ones URN-qualified.
    fn patch_path(&self, attribute: &Attribute) -> String {
        let (schema, path) = self.location(attribute);
        if schema == CORE_USER {
            path
        } else {
            format!("{schema}:{path}")
        }
    }

    /// The attributes the server advertises, in core terms.
    pub fn capabilities(&self, info: &ServerInfo, extra: &[String]) -> Capabilities {
        let mut caps = Capabilities::core();
        let mut candidates = vec![
            Attribute::Gender,
            Attribute::BirthDate,
            Attribute::ExcludeFromSurveys,
            Attribute::EmploymentStart,
            Attribute::EmploymentEnd,
            Attribute::Manager,
        ];
        candidates.extend(extra.iter().cloned().map(Attribute::Extra));
        for attribute in candidates {
            let (schema, path) = self.location(&attribute);
            if info.supports_attribute(&schema, &path) {
                caps.attributes.insert(attribute);
            }
        }
        caps
    }
}

/// `urn:...:User:department` -> (`urn:...:User`, `department`); a bare path is core.
fn split_urn(path: &str) -> (String, String) {
    if path.starts_with("urn:")
        && let Some((schema, attribute)) = path.rsplit_once(':')
    {
        return (schema.to_string(), attribute.to_string());
    }
    (CORE_USER.to_string(), path.to_string())
}

fn date_time(date: jiff::civil::Date) -> String {
    format!("{date}T00:00:00Z")
}

fn parse_date(value: &Value) -> Option<jiff::civil::Date> {
    let text = value.as_str()?;
    text.get(..10)?.parse().ok()
}

/// The JSON value an attribute is sent as.
fn attribute_value(attribute: &Attribute, values: &UserValues) -> Option<Value> {
    Some(match attribute {
        Attribute::UserName => json!(values.user_name),
        Attribute::Email => {
            let email = values.email.as_ref()?;
            json!([{"value": email, "type": "work", "primary": true}])
        }
        Attribute::GivenName => json!(values.given_name),
        Attribute::FamilyName => json!(values.family_name),
        Attribute::Active => json!(values.active),
        Attribute::Gender => json!(values.gender?.as_str()),
        Attribute::BirthDate => json!(date_time(values.birth_date?)),
        Attribute::ExcludeFromSurveys => json!(values.exclude_from_surveys?),
        Attribute::EmploymentStart => json!(date_time(values.employment_start?)),
        Attribute::EmploymentEnd => json!(date_time(values.employment_end?)),
        Attribute::Manager => return None,
        Attribute::Extra(path) => json!(values.extra.get(path)?),
    })
}

/// A SCIM user as core values, reading only the attributes we map.
pub fn target_user(map: &AttributeMap, user: &ScimUser, extra: &[String]) -> Option<TargetUser> {
    let id = user.id.clone()?;
    let ext = user.extensions.get(&map.user_extension);
    let ext_value = |name: &str| ext.and_then(|e| e.get(name));
    let email = user
        .emails
        .iter()
        .find(|e| e.primary == Some(true))
        .or_else(|| user.emails.first())
        .map(|e| e.value.clone());
    let mut extra_values = BTreeMap::new();
    for path in extra {
        let (schema, attribute) = split_urn(path);
        let value = if schema == CORE_USER {
            None
        } else {
            user.extensions.get(&schema).and_then(|e| e.get(&attribute))
        };
        if let Some(text) = value.and_then(Value::as_str) {
            extra_values.insert(path.clone(), text.to_string());
        }
    }
    let manager_id = user
        .extensions
        .get(ENTERPRISE_USER)
        .and_then(|e| e.get("manager"))
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(TargetUser {
        id,
        external_id: user.external_id.clone(),
        values: UserValues {
            user_name: user.user_name.clone(),
            email,
            given_name: user
                .name
                .as_ref()
                .and_then(|n| n.given_name.clone())
                .unwrap_or_default(),
            family_name: user
                .name
                .as_ref()
                .and_then(|n| n.family_name.clone())
                .unwrap_or_default(),
            gender: ext_value("gender")
                .and_then(Value::as_str)
                .and_then(Gender::parse),
            birth_date: ext_value("birthDate").and_then(parse_date),
            exclude_from_surveys: ext_value("excludeFromSurveys").and_then(Value::as_bool),
            employment_start: ext_value("employmentStartDate").and_then(parse_date),
            employment_end: ext_value("employmentEndDate").and_then(parse_date),
            active: user.active.unwrap_or(true),
            extra: extra_values,
        },
        manager_id,
    })
}

/// Reads what the target has: discovery, then every user.
pub async fn observe(
    client: &ScimClient,
    map: &AttributeMap,
    extra: &[String],
) -> Result<(Current, ServerInfo), ScimError> {
    let info = client.discover().await?;
    let capabilities = map.capabilities(&info, extra);
    let users = client
        .list_users()
        .await?
        .iter()
        .filter_map(|u| target_user(map, u, extra))
        .collect();
    Ok((
        Current {
            users,
            capabilities,
        },
        info,
    ))
}

/// The outcome of one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepOutcome {
    pub external_id: String,
    pub kind: &'static str,
    pub target_id: Option<String>,
    /// None when it succeeded.
    pub error: Option<String>,
    /// Set when the step found the work already done (e.g. an account that exists).
    pub note: Option<String>,
}

/// Called before each step (to record intent) and after it (to record the outcome).
pub trait Journal: Send + Sync {
    fn intent(&self, step: &Step) -> Option<i64>;
    fn outcome(&self, intent: Option<i64>, outcome: &StepOutcome);
}

/// Carries out a plan. Steps run in waves of independent operations: adoptions; creates, a
/// manager before their reports; updates; manager links; pauses.
pub struct Applier<'a> {
    pub client: &'a ScimClient,
    pub map: &'a AttributeMap,
    pub capabilities: &'a Capabilities,
    pub concurrency: usize,
    /// External id -> target id of every user known to exist (grows as creates succeed).
    pub known: Arc<Mutex<BTreeMap<String, String>>>,
    pub journal: &'a dyn Journal,
}

impl Applier<'_> {
    pub async fn apply(&self, plan: &Plan) -> Vec<StepOutcome> {
        let mut outcomes = Vec::new();
        for wave in waves(plan) {
            let results: Vec<StepOutcome> = futures::stream::iter(wave)
                .map(|step| self.run_step(step))
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
            outcomes.extend(results);
        }
        outcomes
    }

    fn target_of(&self, external_id: &str) -> Option<String> {
        self.known
            .lock()
            .ok()
            .and_then(|k| k.get(external_id).cloned())
    }

    fn remember(&self, external_id: &str, target_id: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(external_id.to_string(), target_id.to_string());
        }
    }

    async fn run_step(&self, step: &Step) -> StepOutcome {
        let intent = self.journal.intent(step);
        let mut outcome = StepOutcome {
            external_id: step.operation.external_id().to_string(),
            kind: step.operation.kind(),
            target_id: None,
            error: None,
            note: None,
        };
        match self.execute(&step.operation, &mut outcome).await {
            Ok(target_id) => outcome.target_id = target_id,
            Err(error) => outcome.error = Some(error),
        }
        self.journal.outcome(intent, &outcome);
        outcome
    }

    async fn execute(
        &self,
        operation: &Operation,
        outcome: &mut StepOutcome,
    ) -> Result<Option<String>, String> {
        match operation {
            Operation::CreateUser {
                external_id,
                values,
                attributes,
                manager_external_id,
            } => {
                let manager_id = manager_external_id
                    .as_deref()
                    .and_then(|m| self.target_of(m));
                let user = self.new_user(external_id, values, attributes, manager_id.as_deref());
                let created = match self.client.create_user(&user).await {
                    Ok(created) => created,
                    Err(error) if error.is_uniqueness() => {
                        // Someone (or a run that crashed) made it already: find it by externalId.
                        match self.client.find_user_by_external_id(external_id).await {
                            Ok(Some(existing)) => {
                                outcome.note = Some("existed already: adopted".into());
                                existing
                            }
                            _ => return Err(error.to_string()),
                        }
                    }
                    Err(error) => return Err(error.to_string()),
                };
                let id = created.id.ok_or("the server returned no id")?;
                self.remember(external_id, &id);
                Ok(Some(id))
            }
            Operation::AdoptUser {
                target_id,
                external_id,
                values,
                changes,
            } => {
                let mut ops = vec![PatchOperation::replace("externalId", json!(external_id))];
                ops.extend(self.change_ops(values, changes.iter().map(|c| &c.attribute)));
                self.patch(target_id, ops).await?;
                self.remember(external_id, target_id);
                Ok(Some(target_id.clone()))
            }
            Operation::UpdateUser {
                target_id,
                values,
                changes,
                ..
            } => {
                let ops = self.change_ops(values, changes.iter().map(|c| &c.attribute));
                self.patch(target_id, ops).await?;
                Ok(Some(target_id.clone()))
            }
            Operation::ReactivateUser {
                target_id,
                values,
                changes,
                ..
            } => {
                let mut ops = self.change_ops(values, changes.iter().map(|c| &c.attribute));
                ops.push(PatchOperation::replace("active", json!(true)));
                self.patch(target_id, ops).await?;
                Ok(Some(target_id.clone()))
            }
            Operation::DeactivateUser {
                target_id,
                values,
                changes,
                ..
            } => {
                let pause = PatchOperation::replace("active", json!(false));
                let mut ops = match values {
                    Some(values) => self.change_ops(values, changes.iter().map(|c| &c.attribute)),
                    None => Vec::new(),
                };
                if ops.is_empty() {
                    self.patch(target_id, vec![pause]).await?;
                    return Ok(Some(target_id.clone()));
                }
                ops.push(pause.clone());
                // A PATCH is all or nothing: if a last value is refused, the pause still goes.
                if let Err(error) = self.patch(target_id, ops).await {
                    self.patch(target_id, vec![pause]).await?;
                    outcome.note = Some(format!("paused; its last values were refused: {error}"));
                }
                Ok(Some(target_id.clone()))
            }
            Operation::SetManager {
                target_id,
                external_id,
                manager_external_id,
                ..
            } => {
                let Some(target_id) = target_id.clone().or_else(|| self.target_of(external_id))
                else {
                    // Its create failed, and was reported as that; nothing more to say here.
                    outcome.note = Some("not linked: the user was not created".into());
                    return Ok(None);
                };
                let path = self.map.patch_path(&Attribute::Manager);
                let op = match manager_external_id {
                    Some(manager) => {
                        let Some(manager_id) = self.target_of(manager) else {
                            // The manager's own create failed or waits: not this user's failure.
                            outcome.note = Some(format!(
                                "manager {manager} does not exist in the target yet: linked by a \
                                 later run"
                            ));
                            return Ok(None);
                        };
                        PatchOperation::replace(&path, json!({ "value": manager_id }))
                    }
                    None => PatchOperation::remove(&path),
                };
                self.patch(&target_id, vec![op]).await?;
                Ok(Some(target_id))
            }
        }
    }

    async fn patch(&self, target_id: &str, ops: Vec<PatchOperation>) -> Result<(), String> {
        if ops.is_empty() {
            return Ok(());
        }
        self.client
            .patch_user(target_id, ops)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// One `replace` per changed attribute (a `remove` where the new value is empty).
    fn change_ops<'b>(
        &self,
        values: &UserValues,
        attributes: impl Iterator<Item = &'b Attribute>,
    ) -> Vec<PatchOperation> {
        attributes
            .filter(|a| **a != Attribute::Manager)
            .map(|attribute| {
                let path = self.map.patch_path(attribute);
                match attribute_value(attribute, values) {
                    Some(value) => PatchOperation::replace(&path, value),
                    None => PatchOperation::remove(&path),
                }
            })
            .collect()
    }

    fn new_user(
        &self,
        external_id: &str,
        values: &UserValues,
        attributes: &[Attribute],
        manager_id: Option<&str>,
    ) -> ScimUser {
        let mut schemas: BTreeSet<String> = BTreeSet::from([CORE_USER.to_string()]);
        let mut extensions: BTreeMap<String, Value> = BTreeMap::new();
        let mut user = ScimUser {
            external_id: Some(external_id.to_string()),
            user_name: values.user_name.clone(),
            name: Some(Name {
                given_name: Some(values.given_name.clone()),
                family_name: Some(values.family_name.clone()),
                formatted: None,
            }),
            active: Some(values.active),
            ..ScimUser::default()
        };
        for attribute in attributes {
            let (schema, path) = self.map.location(attribute);
            if schema == CORE_USER {
                if *attribute == Attribute::Email
                    && let Some(email) = &values.email
                {
                    user.emails = vec![Email {
                        value: email.clone(),
                        kind: Some("work".into()),
                        primary: Some(true),
                    }];
                }
                continue;
            }
            if let Some(value) = attribute_value(attribute, values) {
                schemas.insert(schema.clone());
                let entry = extensions.entry(schema).or_insert_with(|| json!({}));
                if let Some(object) = entry.as_object_mut() {
                    object.insert(path, value);
                }
            }
        }
        if let Some(manager_id) = manager_id
            && self.capabilities.supports(&Attribute::Manager)
        {
            schemas.insert(ENTERPRISE_USER.to_string());
            let entry = extensions
                .entry(ENTERPRISE_USER.to_string())
                .or_insert_with(|| json!({}));
            if let Some(object) = entry.as_object_mut() {
                object.insert("manager".into(), json!({ "value": manager_id }));
            }
        }
        user.schemas = schemas.into_iter().collect();
        user.extensions = extensions;
        user
    }
}

/// Splits a plan into waves whose steps do not depend on each other. A create waits for the
/// wave that creates its manager.
fn waves(plan: &Plan) -> Vec<Vec<&Step>> {
    let mut creates_at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut adopts = Vec::new();
    let mut creates: Vec<Vec<&Step>> = Vec::new();
    let mut updates = Vec::new();
    let mut managers = Vec::new();
    let mut pauses = Vec::new();
    for step in &plan.steps {
        match &step.operation {
            Operation::AdoptUser { .. } => adopts.push(step),
            Operation::CreateUser {
                external_id,
                manager_external_id,
                ..
            } => {
                let wave = manager_external_id
                    .as_deref()
                    .and_then(|m| creates_at.get(m))
                    .map_or(0, |w| w + 1);
                creates_at.insert(external_id, wave);
                if creates.len() <= wave {
                    creates.resize_with(wave + 1, Vec::new);
                }
                creates[wave].push(step);
            }
            Operation::UpdateUser { .. } | Operation::ReactivateUser { .. } => updates.push(step),
            Operation::SetManager { .. } => managers.push(step),
            Operation::DeactivateUser { .. } => pauses.push(step),
        }
    }
    let mut all = vec![adopts];
    all.extend(creates);
    all.push(updates);
    all.push(managers);
    all.push(pauses);
    all.retain(|w| !w.is_empty());
    all
}
