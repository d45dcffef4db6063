//! Groups over SCIM: observing the target's groups and carrying out a group plan, each step as
//! soon as the steps it needs are done (one failed step never stops the rest).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::{Value, json};

use flexsync_core::group_plan::{GroupCapabilities, GroupOperation, GroupPlan, TargetGroup};
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_scim::{PatchOperation, ScimClient, ScimError, ScimGroup, ServerInfo, Writer};

use crate::outcome::{ApplyError, Halt, Journal, StepOutcome};

/// The Winningtemp group extension (`docs/winningtemp-scim.md`).
pub const GROUP_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";
/// The default parent attribute: `parentExternalId` in [`GROUP_EXTENSION`].
pub const DEFAULT_PARENT_ATTRIBUTE: &str =
    "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group:parentExternalId";

/// `urn:...:Group:parentExternalId` -> (schema URN, attribute); a bare name is an attribute of
/// [`GROUP_EXTENSION`].
fn split_parent_attribute(parent_attr: &str) -> (&str, &str) {
    match parent_attr.rsplit_once(':') {
        Some((urn, attribute)) if parent_attr.starts_with("urn:") => (urn, attribute),
        _ => (GROUP_EXTENSION, parent_attr),
    }
}

/// A group's managers, an attribute of the same extension as the parent.
const MANAGERS: &str = "managers";

/// Whether the server advertises the parent attribute and the group's managers (the `extended`
/// profile does, the `documented` one does not).
pub fn group_capabilities(info: &ServerInfo, parent_attr: &str) -> GroupCapabilities {
    let (urn, attribute) = split_parent_attribute(parent_attr);
    let extension = info.has_group_extension(urn);
    GroupCapabilities {
        parent: extension && info.supports_attribute(urn, attribute),
        managers: extension && info.supports_attribute(urn, MANAGERS),
    }
}

/// The `value`s of a multi-valued complex attribute (`[{"value": "..."}]`), in any case.
fn values_of(attribute: Option<&Value>) -> BTreeSet<TargetId> {
    let items = attribute
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    items
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|item| {
            item.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("value"))
                .and_then(|(_, value)| value.as_str())
        })
        .map(TargetId::from)
        .collect()
}

/// A SCIM group in plan terms; None without a server id.
pub fn target_group(group: &ScimGroup, parent_attr: &str) -> Option<TargetGroup> {
    let (urn, attribute) = split_parent_attribute(parent_attr);
    Some(TargetGroup {
        id: TargetId::from(group.id.clone()?),
        external_id: group.external_id.as_deref().map(ExternalId::from),
        display_name: group.display_name.clone(),
        parent_external_id: group
            .extension_attribute(urn, attribute)
            .and_then(Value::as_str)
            .map(ExternalId::from),
        members: group
            .members
            .iter()
            .map(|m| TargetId::from(m.value.as_str()))
            .collect(),
        managers: values_of(group.extension_attribute(urn, MANAGERS)),
    })
}

/// Every group the target holds.
pub async fn observe_groups(
    client: &ScimClient,
    parent_attr: &str,
) -> Result<Vec<TargetGroup>, ScimError> {
    Ok(client
        .list_groups()
        .await?
        .iter()
        .filter_map(|group| target_group(group, parent_attr))
        .collect())
}

/// Carries out a group plan, at most `concurrency` requests at a time, each step after the
/// steps it needs (see [`schedule`]); through a Bulk writer, the steps ready together share
/// requests. `user_ids` maps user external ids to target ids
/// (the users are synced first); a member without a target id is reported, not sent.
/// Each write's intent goes to `journal` first; once it cannot be recorded, `halt` is set and no
/// further step is written.
pub async fn apply_group_plan(
    writer: &Writer<'_>,
    plan: &GroupPlan,
    user_ids: &BTreeMap<ExternalId, TargetId>,
    parent_attr: &str,
    journal: &dyn Journal,
    halt: &Halt,
    concurrency: usize,
) -> Vec<StepOutcome> {
    let applier = GroupApplier {
        writer,
        user_ids,
        parent_attr: split_parent_attribute(parent_attr),
        created: Mutex::new(BTreeMap::new()),
        failed: Mutex::new(BTreeSet::new()),
    };
    let after = schedule(plan);
    let limit = writer.steps_in_flight(concurrency);
    let steps = crate::order::run_after(&after, limit, |i| {
        let step = &plan.steps[i];
        let applier = &applier;
        async move {
            let intent = match halt.reason() {
                Some(_) => None,
                None => journal
                    .group_intent(step)
                    .await
                    .map_err(|error| halt.stop(&error))
                    .ok(),
            };
            let Some(intent) = intent else {
                let mut outcome =
                    StepOutcome::new(step.operation.external_id().clone(), step.operation.kind());
                outcome.fail(halt.unwritten());
                return outcome;
            };
            let outcome = applier.run(&step.operation).await;
            journal.group_outcome(intent, &outcome);
            outcome
        }
    });
    writer.drive(steps).await
}

/// For each step of the plan (in its order), the earlier steps it waits for: the step before
/// it on the same group; a create or move, its parent's create; an addition, the removals of
/// its users from other groups; the first retirement, every step before it, and each later
/// one the retirement before it (they run bottom-up, one by one).
fn schedule(plan: &GroupPlan) -> Vec<Vec<usize>> {
    let mut last_on: BTreeMap<&str, usize> = BTreeMap::new();
    let mut created_at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut removed_at: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut last_retirement: Option<usize> = None;
    let mut after = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        let group = step.operation.external_id().as_str();
        let mut waits: Vec<usize> = last_on.get(group).copied().into_iter().collect();
        match &step.operation {
            GroupOperation::CreateGroup {
                parent_external_id: parent,
                ..
            }
            | GroupOperation::MoveGroup { after: parent, .. } => {
                waits.extend(parent.as_deref().and_then(|p| created_at.get(p)));
                if matches!(step.operation, GroupOperation::CreateGroup { .. }) {
                    created_at.insert(group, i);
                }
            }
            GroupOperation::RemoveMembers { users, .. } => {
                for user in users {
                    removed_at.entry(user.as_str()).or_default().push(i);
                }
            }
            GroupOperation::AddMembers { users, .. } => {
                for user in users {
                    waits.extend(removed_at.get(user.as_str()).into_iter().flatten());
                }
            }
            GroupOperation::RetireGroup { .. } => {
                match last_retirement {
                    Some(previous) => waits.push(previous),
                    None => waits.extend(0..i),
                }
                last_retirement = Some(i);
            }
            GroupOperation::RenameGroup { .. } | GroupOperation::SetGroupManagers { .. } => {}
        }
        waits.sort_unstable();
        waits.dedup();
        after.push(waits);
        last_on.insert(group, i);
    }
    after
}

struct GroupApplier<'a> {
    writer: &'a Writer<'a>,
    user_ids: &'a BTreeMap<ExternalId, TargetId>,
    parent_attr: (&'a str, &'a str),
    /// External id -> target id of the groups created in this run.
    created: Mutex<BTreeMap<ExternalId, TargetId>>,
    /// Groups whose create failed: their later steps fail without a request.
    failed: Mutex<BTreeSet<ExternalId>>,
}

impl GroupApplier<'_> {
    async fn run(&self, operation: &GroupOperation) -> StepOutcome {
        let external_id = operation.external_id().clone();
        let mut outcome = StepOutcome::new(external_id.clone(), operation.kind());
        let result = match operation {
            GroupOperation::CreateGroup {
                display_name,
                parent_external_id,
                ..
            } => self
                .create(&external_id, display_name, parent_external_id.as_deref())
                .await
                .map(|(id, note)| {
                    outcome.target_id = Some(id);
                    outcome.note = note;
                }),
            GroupOperation::RenameGroup {
                target_id, after, ..
            } => {
                outcome.target_id = Some(target_id.clone());
                let op = PatchOperation::replace("displayName", json!(after));
                self.patch(target_id, vec![op]).await
            }
            GroupOperation::MoveGroup {
                target_id, after, ..
            } => {
                outcome.target_id = Some(target_id.clone());
                let path = format!("{}:{}", self.parent_attr.0, self.parent_attr.1);
                let op = match after {
                    Some(parent) => PatchOperation::replace(path, json!(parent)),
                    None => PatchOperation::remove(path),
                };
                self.patch(target_id, vec![op]).await
            }
            GroupOperation::AddMembers {
                target_id, users, ..
            } => match self.group_id(&external_id, target_id.as_ref()) {
                Err(error) => Err(error),
                Ok(group) => {
                    outcome.target_id = Some(group.clone());
                    let (ids, missing) = self.resolve(users);
                    outcome.note = missing;
                    if ids.is_empty() {
                        // Nothing was sent: a step skipped, with its note, not one done.
                        outcome.target_id = None;
                        Ok(())
                    } else {
                        let op = PatchOperation::add_members(&ids);
                        self.patch(&group, vec![op]).await
                    }
                }
            },
            GroupOperation::RemoveMembers {
                target_id,
                users,
                others,
                ..
            } => {
                outcome.target_id = Some(target_id.clone());
                let (mut ids, missing) = self.resolve(users);
                outcome.note = missing;
                ids.extend(others.iter().cloned());
                let ops: Vec<PatchOperation> = ids
                    .iter()
                    .map(|id| PatchOperation::remove_member(id))
                    .collect();
                if ops.is_empty() {
                    Ok(())
                } else {
                    self.patch(target_id, ops).await
                }
            }
            GroupOperation::SetGroupManagers {
                target_id,
                managers,
                keep,
                ..
            } => match self.group_id(&external_id, target_id.as_ref()) {
                Err(error) => Err(error),
                Ok(group) => {
                    outcome.target_id = Some(group.clone());
                    let (mut ids, missing) = self.resolve(managers);
                    outcome.note = missing;
                    ids.extend(keep.iter().cloned());
                    let path = format!("{}:{MANAGERS}", self.parent_attr.0);
                    let op = if ids.is_empty() {
                        PatchOperation::remove(path)
                    } else {
                        let values: Vec<Value> =
                            ids.iter().map(|id| json!({ "value": id })).collect();
                        PatchOperation::replace(path, Value::Array(values))
                    };
                    self.patch(&group, vec![op]).await
                }
            },
            GroupOperation::RetireGroup { target_id, .. } => {
                outcome.target_id = Some(target_id.clone());
                match self.writer.delete_group(target_id).await {
                    Err(error) if error.is_not_found() => {
                        outcome.note = Some("already gone".to_string());
                        Ok(())
                    }
                    other => other.map_err(ApplyError::from),
                }
            }
        };
        if let Err(error) = result {
            if matches!(operation, GroupOperation::CreateGroup { .. })
                && let Ok(mut failed) = self.failed.lock()
            {
                failed.insert(external_id);
            }
            outcome.fail(error);
        }
        outcome
    }

    /// Creates the group; if the server already holds one with this externalId (say, from a
    /// run whose record was lost), that one is taken.
    async fn create(
        &self,
        external_id: &ExternalId,
        display_name: &str,
        parent: Option<&str>,
    ) -> Result<(TargetId, Option<String>), ApplyError> {
        let mut group = ScimGroup {
            external_id: Some(external_id.to_string()),
            display_name: display_name.to_string(),
            ..ScimGroup::default()
        };
        if let Some(parent) = parent {
            let (urn, attribute) = self.parent_attr;
            group
                .extensions
                .insert(urn.to_string(), json!({ attribute: parent }));
        }
        let (id, note) = match self.writer.create_group(&group).await {
            Ok(made) => (made.id, None),
            Err(error) => match self
                .writer
                .client()
                .find_group_by_external_id(external_id)
                .await
            {
                Ok(Some(found)) => (
                    found.id,
                    Some(format!("already existed (create answered: {error})")),
                ),
                _ => return Err(error.into()),
            },
        };
        let id = id
            .map(TargetId::from)
            .ok_or_else(|| ApplyError::permanent("the server answered without an id"))?;
        if let Ok(mut created) = self.created.lock() {
            created.insert(external_id.clone(), id.clone());
        }
        Ok((id, note))
    }

    /// The target id of a group: given, or made earlier in this run.
    fn group_id(
        &self,
        external_id: &ExternalId,
        target_id: Option<&TargetId>,
    ) -> Result<TargetId, ApplyError> {
        if let Some(id) = target_id {
            return Ok(id.clone());
        }
        if let Some(id) = self
            .created
            .lock()
            .ok()
            .and_then(|c| c.get(external_id).cloned())
        {
            return Ok(id);
        }
        if self.failed.lock().is_ok_and(|f| f.contains(external_id)) {
            return Err(ApplyError::permanent("the group could not be created"));
        }
        Err(ApplyError::permanent("the group has no target id"))
    }

    /// Target ids of users, and a note naming those without one.
    fn resolve(&self, users: &[ExternalId]) -> (Vec<TargetId>, Option<String>) {
        let mut ids = Vec::new();
        let mut missing = Vec::new();
        for user in users {
            match self.user_ids.get(user) {
                Some(id) => ids.push(id.clone()),
                None => missing.push(user.as_str()),
            }
        }
        let note = (!missing.is_empty())
            .then(|| format!("users not in the target, left out: {}", missing.join(", ")));
        (ids, note)
    }

    async fn patch(&self, id: &str, operations: Vec<PatchOperation>) -> Result<(), ApplyError> {
        self.writer.patch_group(id, operations).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::desired::Desired;
    use flexsync_core::group_plan::plan_groups;
    use flexsync_core::groups::build_groups;
    use flexsync_core::map::map;
    use flexsync_core::mapping::{
        DisplayName, GapRule, GroupLevel, GroupNaming, GroupSettings, MappingSettings,
    };
    use flexsync_core::snapshot::{
        Snapshot, SourceAccount, SourceCompany, SourceDefaultAccount, SourceDimension,
        SourceEmployee, SourcePeriod,
    };
    use flexsync_emulators::scim::{Profile, ScimOptions, start};
    use flexsync_scim::ScimSettings;
    use jiff::civil::{Date, date};
    use secrecy::SecretString;

    const TODAY: Date = date(2025, 6, 1);

    #[test]
    fn a_group_step_waits_only_for_what_it_needs() {
        let id = |s: &str| ExternalId::from(s);
        let step = |operation| flexsync_core::group_plan::GroupStep {
            operation,
            reason: String::new(),
        };
        let create = |group: &str, parent: Option<&str>| {
            step(GroupOperation::CreateGroup {
                external_id: id(group),
                display_name: group.into(),
                parent_external_id: parent.map(id),
            })
        };
        let add = |group: &str, user: &str| {
            step(GroupOperation::AddMembers {
                target_id: None,
                external_id: id(group),
                users: vec![id(user)],
            })
        };
        let retire = |group: &str| {
            step(GroupOperation::RetireGroup {
                target_id: TargetId::from(group),
                external_id: id(group),
                display_name: group.into(),
            })
        };
        let plan = GroupPlan {
            steps: vec![
                create("top", None),      // 0
                create("a", Some("top")), // 1
                create("b", Some("top")), // 2
                create("other", None),    // 3
                step(GroupOperation::RemoveMembers {
                    target_id: TargetId::from("old"),
                    external_id: id("old"),
                    users: vec![id("u2")],
                    others: Vec::new(),
                }), // 4
                retire("old-child"),      // 5
                retire("old"),            // 6
                add("a", "u1"),           // 7
                add("b", "u2"),           // 8
            ],
            ..GroupPlan::default()
        };
        let after = schedule(&plan);
        assert_eq!(after[0], Vec::<usize>::new());
        assert_eq!(after[1], vec![0]);
        assert_eq!(after[2], vec![0]);
        assert_eq!(
            after[3],
            Vec::<usize>::new(),
            "unrelated creates never wait"
        );
        assert_eq!(after[5], vec![0, 1, 2, 3, 4]);
        assert_eq!(
            after[6],
            vec![4, 5],
            "its own removal first; retirements one by one"
        );
        assert_eq!(
            after[7],
            vec![1],
            "an addition waits for its group's create"
        );
        assert_eq!(
            after[8],
            vec![2, 4],
            "and for its user's removal from another group"
        );
    }

    /// One company, offices and departments; `placements` = (employee, office, department).
    fn snapshot(placements: &[(&str, &str, Option<&str>)], ekonomi: &str) -> Snapshot {
        let dimension = |name: &str, accounts: &[(&str, &str)]| SourceDimension {
            id: format!("d-{name}"),
            company_id: "c".into(),
            name: name.into(),
            accounts: accounts
                .iter()
                .map(|(code, label)| SourceAccount {
                    id: format!("a-{name}-{code}"),
                    code: code.to_string(),
                    name: Some(label.to_string()),
                })
                .collect(),
        };
        let default = |employee: &str, name: &str, code: &str| SourceDefaultAccount {
            employee_id: employee.into(),
            dimension_id: format!("d-{name}").into(),
            account_id: Some(format!("a-{name}-{code}").into()),
            account_code: Some(code.into()),
            from: Some("2020-01-01T00:00:00".into()),
            to: None,
        };
        let mut snapshot = Snapshot {
            companies: vec![SourceCompany {
                id: "c".into(),
                number: Some(1010),
                name: Some("Exempel AB".into()),
            }],
            dimensions: vec![
                dimension("Kontor", &[("100", "Stockholm"), ("110", "Göteborg")]),
                dimension("Avdelning", &[("200", ekonomi), ("210", "IT")]),
            ],
            ..Snapshot::default()
        };
        for (employee, office, department) in placements {
            snapshot.employees.push(SourceEmployee {
                id: employee.to_string(),
                company_id: "c".into(),
                first_name: Some("Förnamn".into()),
                last_name: Some((*employee).into()),
                email_work: Some(format!("{employee}@example.se").into()),
                manager_id: (*employee != "e1").then(|| "e1".into()),
                ..SourceEmployee::default()
            });
            snapshot.periods.push(SourcePeriod {
                id: None,
                employee_id: (*employee).into(),
                from: Some("2020-01-01".into()),
                to: None,
                fields: Default::default(),
            });
            snapshot
                .default_accounts
                .push(default(employee, "Kontor", office));
            if let Some(department) = department {
                snapshot
                    .default_accounts
                    .push(default(employee, "Avdelning", department));
            }
        }
        snapshot
    }

    fn settings() -> GroupSettings {
        GroupSettings {
            levels: vec![
                GroupLevel::Dimension("Kontor".into()),
                GroupLevel::Dimension("Avdelning".into()),
            ],
            gap: GapRule::StopAtFirstEmpty,
            company_top: true,
            naming: GroupNaming::Path,
            display: DisplayName::FullPath,
            member_chunk: 2,
            retire_after_days: 0,
            memberships: Default::default(),
        }
    }

    fn desired(snapshot: &Snapshot) -> Desired {
        let mut desired = map(snapshot, &MappingSettings::default(), TODAY);
        build_groups(snapshot, &settings(), TODAY, &mut desired);
        desired
    }

    /// A journal that numbers intents and keeps nothing.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicI64);

    impl Journal for Counting {
        fn intent(&self, _: &flexsync_core::plan::Step) -> crate::IntentRecorded<'_> {
            let id = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(std::future::ready(Ok(id)))
        }
        fn outcome(&self, _: i64, _: &flexsync_core::plan::Step, _: &StepOutcome) {}
        fn group_intent(
            &self,
            _: &flexsync_core::group_plan::GroupStep,
        ) -> crate::IntentRecorded<'_> {
            let id = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(std::future::ready(Ok(id)))
        }
        fn group_outcome(&self, _: i64, _: &StepOutcome) {}
    }

    /// Plans against what the server holds, applies, and returns the outcomes.
    async fn sync(
        client: &ScimClient,
        desired: &Desired,
        user_ids: &BTreeMap<ExternalId, TargetId>,
        created: &mut BTreeSet<ExternalId>,
        caps: GroupCapabilities,
    ) -> (GroupPlan, Vec<StepOutcome>) {
        // Where the server advertises Bulk (the extended profile), the writes go through it.
        let info = client.discover().await.unwrap();
        let writer = match flexsync_scim::BulkLimits::advertised(&info) {
            Some(limits) => Writer::bulk(client, limits, 4),
            None => Writer::single(client),
        };
        let current = observe_groups(client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        let plan = plan_groups(desired, &current, user_ids, created, caps, &settings());
        let halt = Halt::default();
        let outcomes = apply_group_plan(
            &writer,
            &plan,
            user_ids,
            DEFAULT_PARENT_ATTRIBUTE,
            &Counting::default(),
            &halt,
            4,
        )
        .await;
        for outcome in &outcomes {
            assert_eq!(outcome.error, None, "{outcome:?}");
            if outcome.kind == "create_group" {
                created.insert(outcome.external_id.clone());
            }
        }
        (plan, outcomes)
    }

    async fn round_trip(profile: Profile) {
        let server = start(ScimOptions {
            profile,
            ..ScimOptions::default()
        })
        .await
        .unwrap();
        let token = SecretString::from(server.emulator().options().token.clone());
        let client = ScimClient::new(ScimSettings::new(server.base_url(), token)).unwrap();
        let info = client.discover().await.unwrap();
        let caps = group_capabilities(&info, DEFAULT_PARENT_ATTRIBUTE);
        assert_eq!(caps.parent, profile == Profile::Extended);

        let day_one = snapshot(
            &[
                ("e1", "100", None),
                ("e2", "100", Some("200")),
                ("e3", "100", Some("200")),
                ("e4", "100", Some("200")),
                ("e5", "110", Some("200")),
            ],
            "Ekonomi",
        );
        let first = desired(&day_one);
        let mut user_ids = BTreeMap::new();
        for (id, user) in &first.users {
            let made = server
                .insert_user(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user.values.user_name,
                    "externalId": id,
                    "name": {"givenName": "Förnamn", "familyName": id},
                    "active": true,
                }))
                .unwrap();
            user_ids.insert(id.clone(), TargetId::from(made["id"].as_str().unwrap()));
        }
        let mut created = BTreeSet::new();
        let (plan, _) = sync(&client, &first, &user_ids, &mut created, caps).await;
        assert_eq!(plan.tree_by_hand, !caps.parent);
        let counters = server.knobs.counters();
        let singles = server.knobs.count_methods(&["PATCH", "DELETE"])
            + counters.get("POST /api/scim/Groups").copied().unwrap_or(0);
        match profile {
            Profile::Extended => {
                assert!(
                    counters.get("POST /api/scim/Bulk").is_some_and(|n| *n > 0),
                    "{counters:?}"
                );
                assert_eq!(singles, 0, "{counters:?}");
            }
            Profile::Documented => {
                assert!(
                    !counters.contains_key("POST /api/scim/Bulk"),
                    "{counters:?}"
                );
                assert!(singles > 0, "{counters:?}");
            }
        }

        let held = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        assert_eq!(held.len(), first.groups.len());
        for group in &held {
            let wanted = &first.groups[group.external_id.as_deref().unwrap()];
            let members: BTreeSet<TargetId> =
                wanted.members.iter().map(|m| user_ids[m].clone()).collect();
            assert_eq!(group.members, members);
            assert_eq!(group.display_name, wanted.path.join(" / "));
            let parent = wanted.parent_external_id.clone().filter(|_| caps.parent);
            assert_eq!(group.parent_external_id, parent);
        }
        let current = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        let again = plan_groups(&first, &current, &user_ids, &created, caps, &settings());
        assert!(again.is_empty(), "{again:#?}");

        // Ekonomi is renamed, e5 moves to Stockholm (Göteborg empties), e4 moves to IT.
        let day_two = snapshot(
            &[
                ("e1", "100", None),
                ("e2", "100", Some("200")),
                ("e3", "100", Some("200")),
                ("e4", "100", Some("210")),
                ("e5", "100", Some("200")),
            ],
            "Ekonomi och finans",
        );
        let second = desired(&day_two);
        let (plan, outcomes) = sync(&client, &second, &user_ids, &mut created, caps).await;
        let kinds: BTreeSet<&str> = outcomes.iter().map(|o| o.kind.as_str()).collect();
        for kind in [
            "create_group",
            "rename_group",
            "add_members",
            "remove_members",
            "retire_group",
        ] {
            assert!(kinds.contains(kind), "{kind} in {plan:#?}");
        }
        let held = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        let ids: BTreeSet<&str> = held
            .iter()
            .filter_map(|g| g.external_id.as_deref())
            .collect();
        let wanted: BTreeSet<&str> = second.groups.keys().map(ExternalId::as_str).collect();
        assert_eq!(ids, wanted);
        assert!(!ids.contains("grp:1010/kontor=110"));
        let current = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        let again = plan_groups(&second, &current, &user_ids, &created, caps, &settings());
        assert!(again.is_empty(), "{again:#?}");
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn groups_round_trip_on_the_documented_profile() {
        round_trip(Profile::Documented).await;
    }

    #[tokio::test]
    async fn groups_round_trip_on_the_extended_profile() {
        round_trip(Profile::Extended).await;
    }

    #[tokio::test]
    async fn a_move_is_sent_as_the_parent_attribute() {
        let server = start(ScimOptions {
            profile: Profile::Extended,
            ..ScimOptions::default()
        })
        .await
        .unwrap();
        let token = SecretString::from(server.emulator().options().token.clone());
        let client = ScimClient::new(ScimSettings::new(server.base_url(), token)).unwrap();
        let caps = GroupCapabilities {
            parent: true,
            managers: false,
        };
        let first = desired(&snapshot(&[("e1", "100", Some("200"))], "Ekonomi"));
        let e1 = server
            .insert_user(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "e1@example.se",
                "externalId": "e1",
                "name": {"givenName": "Förnamn", "familyName": "e1"},
            }))
            .unwrap();
        let user_ids = BTreeMap::from([(
            ExternalId::from("e1"),
            TargetId::from(e1["id"].as_str().unwrap()),
        )]);
        let mut created = BTreeSet::new();
        sync(&client, &first, &user_ids, &mut created, caps).await;
        // Someone moves Ekonomi to the top by hand; the next run puts it back.
        let ekonomi = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap()
            .into_iter()
            .find(|g| g.external_id.as_deref() == Some("grp:1010/kontor=100/avdelning=200"))
            .unwrap();
        let path = DEFAULT_PARENT_ATTRIBUTE.to_string();
        client
            .patch_group(&ekonomi.id, vec![PatchOperation::remove(path)])
            .await
            .unwrap();
        let (plan, _) = sync(&client, &first, &user_ids, &mut created, caps).await;
        assert_eq!(plan.steps.len(), 1, "{plan:#?}");
        assert_eq!(plan.steps[0].operation.kind(), "move_group");
        let held = observe_groups(&client, DEFAULT_PARENT_ATTRIBUTE)
            .await
            .unwrap();
        let moved = held.iter().find(|g| g.id == ekonomi.id).unwrap();
        assert_eq!(
            moved.parent_external_id.as_deref(),
            Some("grp:1010/kontor=100")
        );
        server.shutdown().await.unwrap();
    }
}
