//! Users over SCIM: observing what Winningtemp holds (`Current`), and carrying out a user plan
//! with bounded concurrency, recording every outcome; one failed record never stops the rest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use flexsync_core::current::{Attribute, Capabilities, Current};
use flexsync_core::desired::UserValues;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::plan::{Change, Operation, Plan, Step};
use flexsync_scim::{PatchOperation, ScimClient, ScimError, ScimUser, ServerInfo, Writer};

use crate::attributes::{AttributeMap, Location};
use crate::convert::{change_ops, manager_op, new_user, target_user};
use crate::outcome::{ApplyError, Halt, Journal, StepOutcome};

/// Watches users listed with an attribute list for values of the extension attributes the
/// server advertises: a list where none carries any (while some users are there to carry them)
/// may have dropped what it was asked for.
struct ExtensionWatch {
    advertised: Vec<Location>,
    users: usize,
    values: bool,
}

impl ExtensionWatch {
    fn new(map: &AttributeMap, capabilities: &Capabilities) -> ExtensionWatch {
        let advertised = map
            .rows()
            .filter(|(attribute, location)| !location.is_core() && capabilities.supports(attribute))
            .map(|(_, location)| location)
            .collect();
        ExtensionWatch {
            advertised,
            users: 0,
            values: false,
        }
    }

    fn see(&mut self, user: &ScimUser) {
        self.users += 1;
        self.values = self.values
            || self
                .advertised
                .iter()
                .any(|l| user.extension_attribute(&l.schema, &l.path).is_some());
    }

    fn lacks_extensions(&self) -> bool {
        self.users > 0 && !self.advertised.is_empty() && !self.values
    }
}

/// Reads what the target has: discovery, then every user, each converted as its page comes.
pub async fn observe(
    client: &ScimClient,
    map: &AttributeMap,
) -> Result<(Current, ServerInfo), ScimError> {
    let info = client.discover().await?;
    let capabilities = map.capabilities(&info);
    let mut watch = ExtensionWatch::new(map, &capabilities);
    let attributes = map.read_attributes();
    let listed = client
        .list_users_into(Some(&attributes), |user| {
            watch.see(&user);
            target_user(map, &user)
        })
        .await;
    let whole = || client.list_users_into(None, |user| target_user(map, &user));
    let users = match listed {
        // A server that answered the list without any advertised extension value may have
        // dropped what it was asked for: read whole users rather than plan every value anew.
        Ok(_) if watch.lacks_extensions() => {
            tracing::warn!(
                "the SCIM server answered an attribute list without any extension value; \
                 reading whole users"
            );
            whole().await?
        }
        Ok(users) => users,
        // A server that cannot pick attributes is asked for everything.
        Err(error) if error.status() == Some(400) => {
            tracing::warn!(%error, "the SCIM server refused an attribute list; reading whole users");
            whole().await?
        }
        Err(error) => return Err(error),
    };
    Ok((
        Current {
            users: users.into_iter().flatten().collect(),
            capabilities,
        },
        info,
    ))
}

/// Carries out a plan, each step as soon as the steps it needs are done (see [`schedule`]);
/// through a Bulk writer, the steps ready together share requests.
pub struct Applier<'a> {
    pub writer: &'a Writer<'a>,
    pub map: &'a AttributeMap,
    pub capabilities: &'a Capabilities,
    pub concurrency: usize,
    /// External id -> target id of every user known to exist (grows as creates succeed).
    pub known: Arc<Mutex<BTreeMap<ExternalId, TargetId>>>,
    pub journal: &'a dyn Journal,
    /// Set once the journal fails: every later step is left unwritten.
    pub halt: &'a Halt,
}

impl Applier<'_> {
    pub async fn apply(&self, plan: &Plan) -> Vec<StepOutcome> {
        let (order, after) = schedule(plan);
        let limit = self.writer.steps_in_flight(self.concurrency);
        let steps = crate::order::run_after(&after, limit, |i| self.run_step(order[i]));
        self.writer.drive(steps).await
    }

    fn target_of(&self, external_id: &str) -> Option<TargetId> {
        self.known
            .lock()
            .ok()
            .and_then(|k| k.get(external_id).cloned())
    }

    fn remember(&self, external_id: &ExternalId, target_id: &TargetId) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(external_id.clone(), target_id.clone());
        }
    }

    async fn run_step(&self, step: &Step) -> StepOutcome {
        let mut outcome =
            StepOutcome::new(step.operation.external_id().clone(), step.operation.kind());
        // Intent before write, or no write.
        let intent = match self.halt.reason() {
            Some(_) => Err(None),
            None => self.journal.intent(step).await.map_err(Some),
        };
        let intent = match intent {
            Ok(intent) => intent,
            Err(error) => {
                if let Some(error) = error {
                    self.halt.stop(&error);
                }
                outcome.fail(self.halt.unwritten());
                return outcome;
            }
        };
        match self.execute(&step.operation, &mut outcome).await {
            Ok(target_id) => outcome.target_id = target_id,
            Err(error) => outcome.fail(error),
        }
        self.journal.outcome(intent, step, &outcome);
        outcome
    }

    async fn execute(
        &self,
        operation: &Operation,
        outcome: &mut StepOutcome,
    ) -> Result<Option<TargetId>, ApplyError> {
        let changed = |values: &UserValues, changes: &[Change]| {
            change_ops(self.map, values, changes.iter().map(|c| &c.attribute))
        };
        match operation {
            Operation::CreateUser {
                external_id,
                values,
                attributes,
                manager_external_id,
            } => {
                let id = self
                    .create(
                        external_id,
                        values,
                        attributes,
                        manager_external_id,
                        outcome,
                    )
                    .await?;
                Ok(Some(id))
            }
            Operation::AdoptUser {
                target_id,
                external_id,
                values,
                changes,
            } => {
                let mut ops = vec![PatchOperation::replace("externalId", json!(external_id))];
                ops.extend(changed(values, changes));
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
                self.patch(target_id, changed(values, changes)).await?;
                Ok(Some(target_id.clone()))
            }
            Operation::ReactivateUser {
                target_id,
                values,
                changes,
                ..
            } => {
                let mut ops = changed(values, changes);
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
                let last_values = values
                    .as_ref()
                    .map(|values| changed(values, changes))
                    .unwrap_or_default();
                self.pause(target_id, last_values, outcome).await?;
                Ok(Some(target_id.clone()))
            }
            Operation::SetManager {
                target_id,
                external_id,
                manager_external_id,
                ..
            } => {
                self.set_manager(
                    target_id.as_ref(),
                    external_id,
                    manager_external_id,
                    outcome,
                )
                .await
            }
        }
    }

    /// Creates a user; an account that already carries its externalId (made by someone, or by
    /// a run that crashed after the request) is taken instead.
    async fn create(
        &self,
        external_id: &ExternalId,
        values: &UserValues,
        attributes: &[Attribute],
        manager_external_id: &Option<ExternalId>,
        outcome: &mut StepOutcome,
    ) -> Result<TargetId, ApplyError> {
        // A manager travels only where the server holds managers.
        let manager_id = manager_external_id
            .as_deref()
            .and_then(|m| self.target_of(m))
            .filter(|_| self.capabilities.supports(&Attribute::Manager));
        let user = new_user(
            self.map,
            external_id,
            values,
            attributes,
            manager_id.as_ref(),
        );
        let created = match self.writer.create_user(&user).await {
            Ok(created) => created,
            Err(error) if error.is_uniqueness() => {
                match self
                    .writer
                    .client()
                    .find_user_by_external_id(external_id)
                    .await
                {
                    Ok(Some(existing)) => {
                        outcome.note = Some("existed already: adopted".into());
                        existing
                    }
                    _ => return Err(error.into()),
                }
            }
            Err(error) => return Err(error.into()),
        };
        let id = created
            .id
            .map(TargetId::from)
            .ok_or_else(|| ApplyError::permanent("the server returned no id"))?;
        self.remember(external_id, &id);
        Ok(id)
    }

    /// Pauses a user, with its last values in the same PATCH. A PATCH is all or nothing: if a
    /// last value is refused, the pause still goes, alone.
    async fn pause(
        &self,
        target_id: &TargetId,
        mut last_values: Vec<PatchOperation>,
        outcome: &mut StepOutcome,
    ) -> Result<(), ApplyError> {
        let pause = PatchOperation::replace("active", json!(false));
        if last_values.is_empty() {
            return self.patch(target_id, vec![pause]).await;
        }
        last_values.push(pause.clone());
        if let Err(error) = self.patch(target_id, last_values).await {
            self.patch(target_id, vec![pause]).await?;
            outcome.note = Some(format!("paused; its last values were refused: {error}"));
        }
        Ok(())
    }

    /// Links a user to its manager (or unlinks it). A user or manager that does not exist in
    /// the target yet is a note, not a failure: its create failed and was reported, or waits.
    async fn set_manager(
        &self,
        target_id: Option<&TargetId>,
        external_id: &ExternalId,
        manager_external_id: &Option<ExternalId>,
        outcome: &mut StepOutcome,
    ) -> Result<Option<TargetId>, ApplyError> {
        let Some(target_id) = target_id.cloned().or_else(|| self.target_of(external_id)) else {
            outcome.note = Some("not linked: the user was not created".into());
            return Ok(None);
        };
        let manager_id = match manager_external_id {
            Some(manager) => {
                let Some(manager_id) = self.target_of(manager) else {
                    outcome.note = Some(format!(
                        "manager {manager} does not exist in the target yet: linked by a later run"
                    ));
                    return Ok(None);
                };
                Some(manager_id)
            }
            None => None,
        };
        let op = manager_op(self.map, manager_id.as_ref());
        self.patch(&target_id, vec![op]).await?;
        Ok(Some(target_id))
    }

    async fn patch(&self, target_id: &str, ops: Vec<PatchOperation>) -> Result<(), ApplyError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.writer.patch_user(target_id, ops).await?;
        Ok(())
    }
}

/// The plan's steps in the order they may start (adoptions; creates, a manager before their
/// reports; updates; manager links; pauses), and for each the earlier steps it waits for: the
/// step before it on the same user, and the create or adoption of the manager it links to.
fn schedule(plan: &Plan) -> (Vec<&Step>, Vec<Vec<usize>>) {
    let rank = |step: &Step| match step.operation {
        Operation::AdoptUser { .. } => 0,
        Operation::CreateUser { .. } => 1,
        Operation::UpdateUser { .. } | Operation::ReactivateUser { .. } => 2,
        Operation::SetManager { .. } => 3,
        Operation::DeactivateUser { .. } => 4,
    };
    let mut order: Vec<&Step> = plan.steps.iter().collect();
    order.sort_by_key(|step| rank(step));
    let mut last_on: BTreeMap<&str, usize> = BTreeMap::new();
    let mut made_at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut after = Vec::with_capacity(order.len());
    for (i, step) in order.iter().enumerate() {
        let user = step.operation.external_id().as_str();
        let manager = match &step.operation {
            Operation::CreateUser {
                manager_external_id,
                ..
            }
            | Operation::SetManager {
                manager_external_id,
                ..
            } => manager_external_id.as_deref(),
            _ => None,
        };
        let waits: Vec<usize> = [last_on.get(user), manager.and_then(|m| made_at.get(m))]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        after.push(waits);
        last_on.insert(user, i);
        if rank(step) <= 1 {
            made_at.insert(user, i);
        }
    }
    (order, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";

    fn user(body: serde_json::Value) -> ScimUser {
        serde_json::from_value(body).unwrap_or_default()
    }

    #[test]
    fn a_list_without_any_advertised_extension_value_is_read_again_whole() {
        let map = AttributeMap {
            user_extension: WT.into(),
            extra: Vec::new(),
        };
        let mut caps = Capabilities::core();
        caps.attributes.insert(Attribute::BirthDate);
        let bare = [user(json!({"id": "1", "userName": "a@example.se"}))];
        let full = [user(json!({
            "id": "1", "userName": "a@example.se",
            WT: {"birthDate": "1980-01-02T00:00:00Z"}
        }))];
        let lacks = |users: &[ScimUser], caps: &Capabilities| {
            let mut watch = ExtensionWatch::new(&map, caps);
            users.iter().for_each(|user| watch.see(user));
            watch.lacks_extensions()
        };
        assert!(lacks(&bare, &caps));
        assert!(!lacks(&full, &caps));
        assert!(!lacks(&[bare[0].clone(), full[0].clone()], &caps));
        assert!(!lacks(&[], &caps));
        assert!(!lacks(&bare, &Capabilities::core()));
    }

    /// A journal whose intents wait until the test commits them (all pending at once) or
    /// refuses them; it checks that each outcome follows its committed intent.
    #[derive(Default)]
    struct Gated {
        pending: Mutex<Vec<tokio::sync::oneshot::Sender<Result<i64, String>>>>,
        /// Intents committed so far: their ids are 0 up to this.
        committed: std::sync::atomic::AtomicI64,
        outcomes: Mutex<Vec<i64>>,
    }

    impl Gated {
        fn committed(&self) -> i64 {
            self.committed.load(std::sync::atomic::Ordering::SeqCst)
        }

        /// Answers every pending intent: its id, or (refused) an error.
        fn commit(&self, refuse: bool) {
            let pending = std::mem::take(&mut *self.pending.lock().unwrap());
            for answer in pending {
                let answered = match refuse {
                    true => Err("the store is full".to_string()),
                    false => Ok(self
                        .committed
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
                };
                let _ = answer.send(answered);
            }
        }
    }

    impl Journal for Gated {
        fn intent(&self, _: &Step) -> crate::IntentRecorded<'_> {
            let (answer, answered) = tokio::sync::oneshot::channel();
            self.pending.lock().unwrap().push(answer);
            Box::pin(async move { answered.await.unwrap_or_else(|_| Err("dropped".into())) })
        }
        fn outcome(&self, intent: i64, _: &Step, _: &StepOutcome) {
            assert!(intent < self.committed(), "an outcome before its intent");
            self.outcomes.lock().unwrap().push(intent);
        }
        fn group_intent(
            &self,
            _: &flexsync_core::group_plan::GroupStep,
        ) -> crate::IntentRecorded<'_> {
            Box::pin(std::future::ready(Err("no groups here".to_string())))
        }
        fn group_outcome(&self, _: i64, _: &StepOutcome) {}
    }

    fn creates(count: usize) -> Plan {
        let steps = (0..count)
            .map(|i| Step {
                operation: Operation::CreateUser {
                    external_id: ExternalId::from(format!("e{i}")),
                    values: UserValues {
                        user_name: format!("user{i}@example.se"),
                        given_name: "Förnamn".into(),
                        family_name: format!("Efternamn{i}"),
                        active: true,
                        ..UserValues::default()
                    },
                    attributes: Vec::new(),
                    manager_external_id: None,
                },
                reason: "new".into(),
            })
            .collect();
        Plan {
            steps,
            ..Plan::default()
        }
    }

    /// Applies six creates through a Bulk writer while the journal commits (or, `refuse`,
    /// refuses) what is pending every 20 ms; checks that no write ever went out before its
    /// intent was committed. Returns the outcomes and the writes the server saw.
    async fn apply_gated(refuse: bool) -> (Vec<StepOutcome>, Halt, u64) {
        use flexsync_emulators::scim::{Profile, ScimOptions, start};
        let server = start(ScimOptions {
            profile: Profile::Extended,
            ..ScimOptions::default()
        })
        .await
        .unwrap();
        let token = secrecy::SecretString::from(server.emulator().options().token.clone());
        let settings = flexsync_scim::ScimSettings::new(server.base_url(), token);
        let client = ScimClient::new(settings).unwrap();
        let info = client.discover().await.unwrap();
        let limits = flexsync_scim::BulkLimits::advertised(&info).unwrap();
        let writer = Writer::bulk(&client, limits, 4);
        let map = AttributeMap {
            user_extension: WT.into(),
            extra: Vec::new(),
        };
        let journal = Gated::default();
        let halt = Halt::default();
        let applier = Applier {
            writer: &writer,
            map: &map,
            capabilities: &Capabilities::core(),
            concurrency: 4,
            known: Arc::default(),
            journal: &journal,
            halt: &halt,
        };
        let plan = creates(6);
        let gate = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let committed = u64::try_from(journal.committed()).unwrap();
                assert!(server.writes() <= committed, "a write before its intent");
                journal.commit(refuse);
            }
        };
        let outcomes = tokio::select! {
            outcomes = applier.apply(&plan) => outcomes,
            () = gate => unreachable!("the gate never ends"),
        };
        assert_eq!(
            journal.outcomes.lock().unwrap().len(),
            usize::try_from(journal.committed()).unwrap()
        );
        (outcomes, halt, server.writes())
    }

    #[tokio::test]
    async fn no_write_goes_out_before_its_intent_is_committed() {
        let (outcomes, halt, writes) = apply_gated(false).await;
        assert_eq!(outcomes.len(), 6);
        assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
        assert_eq!(writes, 6);
        assert_eq!(halt.reason(), None);
    }

    #[tokio::test]
    async fn a_refused_batch_of_intents_halts_writing_and_leaves_its_steps_unwritten() {
        let (outcomes, halt, writes) = apply_gated(true).await;
        assert_eq!(writes, 0);
        assert_eq!(halt.reason().as_deref(), Some("the store is full"));
        assert_eq!(outcomes.len(), 6);
        for outcome in &outcomes {
            let message = outcome.error_message().unwrap_or_default();
            assert!(message.starts_with("not written"), "{outcome:?}");
        }
    }
}
