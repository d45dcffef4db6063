//! What the state store remembers around a run: links of users and groups, interrupted runs,
//! failures, and groups waiting out their grace period. The journal of the writes themselves is
//! in [`super::journal`].

use std::collections::{BTreeMap, BTreeSet};

use flexsync_core::current::{Current, LinkKind, Memory};
use flexsync_core::desired::Desired;
use flexsync_core::group_plan::{Grace, TargetGroup};
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use flexsync_core::outcome::{Outcome, RunKind};
use flexsync_core::plan::Plan;
use flexsync_core::retry_hold::{self, RecordFailure};
use flexsync_state::{OpOutcome, StateStore};

/// User external id -> target id, from the target and from our links.
pub(super) fn user_ids(current: &Current, memory: &Memory) -> BTreeMap<ExternalId, TargetId> {
    let mut ids: BTreeMap<ExternalId, TargetId> = memory.links.clone();
    for user in &current.users {
        if let Some(external_id) = &user.external_id {
            ids.insert(external_id.clone(), user.id.clone());
        }
    }
    ids
}

/// External ids of the groups this tool created (their links are kept like users').
pub(super) fn created_groups(memory: &Memory) -> BTreeSet<ExternalId> {
    memory
        .group_links
        .iter()
        .filter(|(_, target_id)| memory.created.contains(*target_id))
        .map(|(external_id, _)| external_id.clone())
        .collect()
}

/// What settling earlier runs found: warnings, and the records whose create was under way
/// (announced, outcome unknown): if the target holds them now, they are ours.
#[derive(Debug, Default)]
pub(super) struct Interrupted {
    pub(super) warnings: Vec<String>,
    pub(super) creates: BTreeSet<ExternalId>,
}

/// Writes that an earlier run announced but never finished (it was killed): each is closed as
/// interrupted. Nothing else is needed: this run plans from what the target holds, and a create
/// that did land is found by its externalId.
pub(super) fn settle_interrupted(store: &StateStore, now: jiff::Timestamp) -> Interrupted {
    let intents = match store.unfinished_intents() {
        Ok(intents) => intents,
        Err(error) => {
            return Interrupted {
                warnings: vec![format!("could not read unfinished operations: {error}")],
                ..Interrupted::default()
            };
        }
    };
    let creates = intents
        .iter()
        .filter(|i| {
            i.operation == OperationKind::Create.as_str()
                || i.operation == OperationKind::CreateGroup.as_str()
        })
        .map(|i| i.external_id.clone())
        .collect();
    Interrupted {
        warnings: close_interrupted(store, &intents, now),
        creates,
    }
}

/// Closes unfinished intents and the runs they belong to; says which runs stopped part-way.
fn close_interrupted(
    store: &StateStore,
    intents: &[flexsync_state::OperationRecord],
    now: jiff::Timestamp,
) -> Vec<String> {
    let mut runs = BTreeSet::new();
    for intent in intents {
        runs.insert(intent.run.0);
        let outcome = OpOutcome::Failed {
            message: "interrupted: the run stopped before the outcome was known".into(),
        };
        if let Err(error) = store.record_outcome(intent.id, outcome, now) {
            tracing::warn!(%error, "could not close an interrupted operation");
        }
    }
    // Syncs that never finished (killed while reading, before any write) are closed too.
    if let Ok(earlier) = store.runs(200) {
        for run in earlier
            .iter()
            .filter(|r| r.kind == RunKind::Sync && r.finished.is_none())
        {
            runs.insert(run.id.0);
        }
    }
    if runs.is_empty() {
        return Vec::new();
    }
    for run in &runs {
        // A run killed mid-apply never finished; close it (a finished one refuses, harmlessly).
        let _ = store.finish_run(
            flexsync_state::RunId(*run),
            now,
            Outcome::Unreachable,
            &flexsync_state::RunRecord::interrupted_summary(),
        );
    }
    let runs: Vec<String> = runs.iter().map(|r| format!("#{r}")).collect();
    let runs = runs.join(", ");
    if intents.is_empty() {
        return vec![format!(
            "run {runs} stopped before it finished, with no write under way"
        )];
    }
    vec![format!(
        "run {runs} stopped with {} writes under way; this run re-planned them from what \
         Winningtemp holds",
        intents.len()
    )]
}

/// Brings the state store in line with what the target already holds: a user carrying one of our
/// external ids but no link (its create landed while the answer was lost) is linked, and a record
/// that failed before but needed nothing this run has its failure cleared.
#[allow(clippy::too_many_arguments)]
pub(super) fn reconcile_memory(
    store: &StateStore,
    desired: &Desired,
    current: &Current,
    memory: &Memory,
    plan: &Plan,
    failures: &[RecordFailure],
    deferred: &[retry_hold::Deferred],
    interrupted: &BTreeSet<ExternalId>,
) {
    let now = jiff::Timestamp::now();
    let failed: BTreeSet<&ExternalId> = failures.iter().map(|f| &f.external_id).collect();
    let mut touched: BTreeSet<&ExternalId> = plan
        .steps
        .iter()
        .map(|s| s.operation.external_id())
        .collect();
    touched.extend(deferred.iter().map(|d| &d.external_id));
    let mut result = Ok(());
    for user in &current.users {
        let Some(external_id) = user.external_id.as_ref() else {
            continue;
        };
        if !desired.users.contains_key(external_id) {
            continue;
        }
        if memory.links.get(external_id) != Some(&user.id) && !touched.contains(external_id) {
            // Ours if one of our writes for it failed, or its create was under way when an
            // earlier run stopped: the create that did land.
            let created = failed.contains(external_id) || interrupted.contains(external_id);
            result = result
                .and_then(|()| store.link(LinkKind::User, external_id, &user.id, created, now));
        }
        if failed.contains(external_id) && !touched.contains(external_id) {
            result = result.and_then(|()| store.clear_failure(external_id));
        }
    }
    // A record that failed and has since left both Flex and the target needs nothing more.
    let held: BTreeSet<&ExternalId> = match failed.is_empty() {
        true => BTreeSet::new(),
        false => current
            .users
            .iter()
            .filter_map(|u| u.external_id.as_ref())
            .collect(),
    };
    for external_id in &failed {
        let gone = !desired.users.contains_key(*external_id) && !held.contains(*external_id);
        if gone {
            result = result.and_then(|()| store.clear_failure(external_id));
        }
    }
    if let Err(error) = result {
        tracing::warn!(%error, "could not reconcile the state store with the target");
    }
}

/// Links the groups whose create was under way when an earlier run stopped and that the target
/// now holds: they are ours, and may be retired one day.
pub(super) fn reconcile_groups(
    store: &StateStore,
    target: &[TargetGroup],
    memory: &Memory,
    interrupted: &BTreeSet<ExternalId>,
) {
    let now = jiff::Timestamp::now();
    for group in target {
        let Some(external_id) = group.external_id.as_ref() else {
            continue;
        };
        let ours =
            interrupted.contains(external_id) && !memory.group_links.contains_key(external_id);
        if ours && let Err(error) = store.link(LinkKind::Group, external_id, &group.id, true, now) {
            tracing::warn!(%error, "could not record a group link");
        }
    }
}

/// Remembers since when each retirement candidate is empty; forgets groups that are not
/// candidates any more (they have members again).
pub(super) fn remember_empty_groups(
    store: &StateStore,
    before: &BTreeMap<ExternalId, jiff::civil::Date>,
    grace: &Grace,
) {
    let mut result = Ok(());
    for (external_id, since) in &grace.empty {
        result = result.and_then(|()| store.mark_group_empty(external_id, *since));
    }
    for external_id in before.keys().filter(|id| !grace.empty.contains_key(*id)) {
        result = result.and_then(|()| store.clear_group_empty(external_id));
    }
    if let Err(error) = result {
        tracing::warn!(%error, "could not record empty groups");
    }
}
