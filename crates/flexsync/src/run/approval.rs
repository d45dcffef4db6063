//! Approving a refused plan: the plan's identity, the approval that lets exactly that plan
//! through once (used up by a sync, only looked at by a plan), and the refusal a run records
//! so that `flexsync approve` can find it.

use serde::Serialize;

use flexsync_core::guard::{PlanId, Refusal};
use flexsync_state::{RefusalRow, RunId};

use super::plan::Planned;
use super::session::Session;

/// The approval a run went through on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approved {
    /// The refused run whose plan was approved.
    pub refused_run: i64,
    pub by: String,
    pub at: String,
    /// What the guard said then.
    pub problem: String,
}

/// The identity of everything `planned` would write.
pub(super) fn plan_id(planned: &Planned) -> PlanId {
    let files = planned
        .files
        .as_ref()
        .map_or(&[][..], |files| files.rendered.as_slice());
    PlanId::of(&planned.plan, &planned.group_plan, files)
}

/// The guards' verdict after approvals: a refusal whose plan was approved is lifted (and, in a
/// sync, the approval used up). A store that cannot be read keeps the refusal.
pub(super) fn settle(
    session: &Session,
    plan_id: &PlanId,
    refusal: Option<Refusal>,
) -> (Option<Refusal>, Option<Approved>) {
    let Some(refusal) = refusal else {
        return (None, None);
    };
    let approval = match session.store.approval_for(&plan_id.0) {
        Ok(Some(approval)) => approval,
        Ok(None) => return (Some(refusal), None),
        Err(error) => {
            tracing::warn!(%error, "cannot read approvals; the refusal stands");
            return (Some(refusal), None);
        }
    };
    // A sync (the one recorded kind of run) uses the approval up; a plan only looks.
    if let Some(run_id) = session.run_id {
        match session
            .store
            .use_approval(approval.run, run_id, session.started)
        {
            Ok(true) => {}
            Ok(false) | Err(_) => return (Some(refusal), None),
        }
    }
    let (by, at) = approval.approved.unwrap_or_default();
    tracing::info!(
        refused_run = approval.run.0,
        %by,
        "the plan refused in run #{} was approved: it goes through once",
        approval.run.0
    );
    let approved = Approved {
        refused_run: approval.run.0,
        by,
        at: at.to_string(),
        problem: refusal.problem,
    };
    (None, Some(approved))
}

/// Records the refusal of `run` with its plan's identity and counts, for `flexsync approve`.
pub(super) fn record_refusal(
    session: &Session,
    run: RunId,
    plan_id: &PlanId,
    refusal: &Refusal,
    counts: &std::collections::BTreeMap<String, usize>,
) {
    let row = RefusalRow {
        guard: refusal.guard.as_str().to_string(),
        plan_id: plan_id.0.clone(),
        problem: refusal.problem.clone(),
        remedy: refusal.remedy.clone(),
        counts: serde_json::to_value(counts).unwrap_or_default(),
    };
    if let Err(error) = session.store.record_refusal(run, &row) {
        tracing::warn!(%error, "cannot record the refusal; `flexsync approve` will not find it");
    }
}

/// The command that approves the plan refused in `run`.
pub fn approve_command(run: i64, flags: Option<&str>) -> String {
    match flags {
        Some(flags) => format!("flexsync approve {run} {flags}"),
        None => format!("flexsync approve {run}"),
    }
}
