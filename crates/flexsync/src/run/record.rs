//! The end of a run: its report, built here and only here from the stages' values, and its
//! outcome, written to the state store.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::json;

use flexsync_core::desired::Desired;
use flexsync_core::guard::{PlanId, Refusal};
use flexsync_core::outcome::Outcome;

use super::apply::Applied;
use super::approval::{self, Approved, approve_command};
use super::observe::Observed;
use super::plan::Planned;
use super::session::Session;
use super::{Ends, Mode, RunFailure, RunResult};
use crate::changes::{ChangeResult, NamedChange, Names, named_changes};
use crate::config::Config;
use crate::file_writer::DeliveryOutcome;
use crate::report::RunReport;
use flexsync_state::ChangeRow;

/// Every stage's value, as the run produced them.
pub(super) struct Stages {
    pub(super) desired: Desired,
    pub(super) observed: Observed,
    pub(super) planned: Planned,
    pub(super) refusal: Option<Refusal>,
    pub(super) applied: Applied,
    pub(super) plan_id: PlanId,
    pub(super) approved: Option<Approved>,
}

/// Builds the report, settles the outcome and finishes the run in the state store.
pub(super) fn record(
    config: &Config,
    ends: &Ends,
    session: Session,
    stages: Stages,
) -> Result<RunResult, RunFailure> {
    let mut report = report(config, ends, &session, &stages);
    let token_refused = stages
        .applied
        .outcomes
        .iter()
        .any(|o| o.error.as_ref().is_some_and(|e| e.is_refused_token()));
    let outcome = if report.refused.is_some() {
        Outcome::Refused
    } else if stages.applied.halted.is_some() {
        Outcome::Usage
    } else if token_refused {
        Outcome::Unreachable
    } else if session.mode == Mode::Sync && report.failure_count() > 0 {
        Outcome::RecordFailures
    } else {
        Outcome::Done
    };
    report.outcome = Some(outcome);
    let mut report_path = None;
    let summary = Summary::of(&report).to_json();
    // A sync leaves its named changes for `history`: done, failed, or (refused) planned only.
    if let Some(run_id) = session.run_id {
        if let Some(refusal) = &report.refused {
            approval::record_refusal(&session, run_id, &stages.plan_id, refusal, &report.planned);
        }
        // Each row made as it is written: a large run's rows are never all held.
        let rows = report.changes.iter().map(change_row);
        if let Err(error) = session.store.record_changes(run_id, rows) {
            tracing::warn!(%error, "could not record the run's changes for history");
        }
        // The report is written before the run is finished in the store: a run the store
        // holds as finished always has its report, so a daemon that takes over a slot can
        // tell a run that ended (and adopt it) from one that did not.
        if session.mode == Mode::Sync {
            report_path = write_report(config, &mut report);
        }
        let finished = jiff::Timestamp::now();
        match session
            .store
            .finish_run(run_id, finished, outcome, &summary)
        {
            Ok(()) => {
                crate::retention::prune_store(&session.store, finished, config.report_keep_days)
            }
            // Writes were made: the report must not be lost with the store; the next run
            // settles it.
            Err(error) if stages.applied.halted.is_some() => {
                report.warnings.push(format!(
                    "the state store could not record the end of the run: {error}"
                ));
                if report_path.is_some() {
                    report_path = write_report(config, &mut report);
                }
            }
            Err(error) => return Err(RunFailure::usage(error)),
        }
    }
    let Stages {
        desired,
        observed,
        planned,
        ..
    } = stages;
    Ok(RunResult {
        report,
        report_path,
        plan: planned.plan,
        group_plan: planned.group_plan,
        desired,
        current: observed.current,
        outcome,
    })
}

/// A run's summary in the state store: the counts `history` and the status page show.
#[derive(serde::Serialize)]
pub(crate) struct Summary {
    source_records: serde_json::Value,
    desired_users: serde_json::Value,
    planned: serde_json::Value,
    succeeded: serde_json::Value,
    failed: serde_json::Value,
    findings: usize,
    refused: serde_json::Value,
}

impl Summary {
    fn of(report: &RunReport) -> Summary {
        Summary {
            source_records: json!(report.source_records),
            desired_users: json!(report.desired_users),
            planned: json!(report.planned),
            succeeded: json!(report.succeeded),
            failed: json!(report.failed),
            findings: report.findings.len(),
            refused: json!(report.refused.as_ref().map(|r| r.guard)),
        }
    }

    /// The summary of a report read back as JSON, by a daemon that adopts the run of a holder
    /// that died after writing the report but before finishing the run in the store.
    pub(crate) fn of_json(report: &serde_json::Value) -> Summary {
        Summary {
            source_records: report["source_records"].clone(),
            desired_users: report["desired_users"].clone(),
            planned: report["planned"].clone(),
            succeeded: report["succeeded"].clone(),
            failed: report["failed"].clone(),
            findings: report["findings"].as_array().map_or(0, Vec::len),
            refused: report["refused"]["guard"].clone(),
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Writes the sync's report into the report folder and prunes old ones. A report that cannot
/// be written does not undo the run: it becomes a warning, and the report follows on stderr.
fn write_report(config: &Config, report: &mut RunReport) -> Option<std::path::PathBuf> {
    match report.write(&config.report_dir) {
        Ok(written) => {
            if let Err(error) =
                crate::retention::prune_reports(&config.report_dir, config.report_keep_days)
            {
                tracing::warn!(%error, "could not prune old reports");
            }
            Some(written)
        }
        Err(error) => {
            let warning = format!(
                "cannot write the report into {}: {error}; it follows on stderr",
                config.report_dir.display()
            );
            tracing::warn!("{warning}");
            report.warnings.push(warning);
            // The report of last resort: what was and was not done must not be lost with the disk.
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&*report).unwrap_or_default()
            );
            None
        }
    }
}

/// The run's report: what was planned, done, refused, found and warned about.
fn report(config: &Config, ends: &Ends, session: &Session, stages: &Stages) -> RunReport {
    let Stages {
        desired,
        observed,
        planned,
        refusal,
        applied,
        ..
    } = stages;
    let current = &observed.current;
    let mut report = RunReport::from_plan(&planned.plan);
    report.add_group_plan(&planned.group_plan);
    report.run_id = session.run_id.map(|id| id.0);
    report.kind = session.mode.kind();
    report.started = session.started.to_string();
    report.dry_run = session.mode == Mode::Plan;
    report.source_records = desired.source_records;
    report.desired_users = desired.users.len();
    report.desired_active = desired.users.values().filter(|u| u.values.active).count();
    report.out_of_scope = desired.out_of_scope.len();
    report.target_users = current.users.len();
    report.findings = desired.findings.clone();
    report.tree = crate::tree_view::tree_rows(desired);
    report.outside_the_tree = crate::tree_view::outside_the_tree(desired);
    report.deferred = planned.deferred.clone();
    report.held_back = planned
        .waits
        .iter()
        .filter(|(_, state)| state.is_held())
        .map(|(external_id, _)| external_id.clone())
        .collect();
    report.refused = refusal.clone();
    report.plan_id = Some(stages.plan_id.0.clone());
    report.approved = stages.approved.clone();
    // Only a sync's refusal is recorded, so only it can be approved.
    if let (Some(_), Some(run_id)) = (refusal, session.run_id) {
        report.approve_command = Some(approve_command(run_id.0, config.command_flags().as_deref()));
    }

    report.warnings = config.warnings.clone();
    let managed_groups = desired
        .groups
        .values()
        .filter(|g| !g.managers.is_empty())
        .count();
    let managers_travel = observed
        .groups
        .as_ref()
        .is_some_and(|(caps, _)| caps.managers);
    if observed.groups.is_some() && !managers_travel && managed_groups > 0 {
        report.warnings.push(format!(
            "group managers ({managed_groups} groups) have no SCIM attribute to travel in; {}",
            if config.files.is_some() {
                "they are delivered in wt_groups.csv"
            } else {
                "configure [files] to deliver them"
            }
        ));
    }
    report.warnings.extend(session.interrupted.iter().cloned());
    if let Some(files) = &planned.files {
        match &files.changes {
            Ok(changes) => report.file_changes = changes.clone(),
            Err(error) => report
                .warnings
                .push(format!("cannot read the last delivery: {error}")),
        }
    }

    let written = session.mode == Mode::Sync && refusal.is_none();
    let names = Names { desired, current };
    report.changes = named_changes(
        &names,
        &planned.plan,
        &planned.group_plan,
        &planned.deferred,
        written.then_some(applied.outcomes.as_slice()),
    );
    // Without SCIM, the users file is what changes people: its rows are named the same way.
    if !observed.over_scim
        && let (Some(channel), Some(files)) = (&config.files, &planned.files)
    {
        let result = match (&applied.delivery, written) {
            (_, false) => ChangeResult::Planned,
            (Some(DeliveryOutcome { error: None, .. }), true) => ChangeResult::Ok,
            (
                Some(DeliveryOutcome {
                    error: Some(error), ..
                }),
                true,
            ) => ChangeResult::Failed {
                error: error.clone(),
            },
            (None, true) => ChangeResult::Skipped {
                why: "the files were not delivered in this run".to_string(),
            },
        };
        let changes = crate::file_writer::named_file_changes(
            files.last_users.as_deref(),
            files.users(),
            &channel.columns.users,
            desired,
            &result,
        );
        for change in &changes {
            let action = change.action.as_str().to_string();
            *report.planned.entry(action.clone()).or_default() += 1;
            if result == ChangeResult::Ok {
                *report.succeeded.entry(action).or_default() += 1;
            }
        }
        report.changes.extend(changes);
    }
    if applied
        .outcomes
        .iter()
        .any(|o| o.error.as_ref().is_some_and(|e| e.is_refused_token()))
    {
        report.warnings.push(
            "Winningtemp refused the token while writing (401/403): check [winningtemp] token; \
             the records it stopped are not counted as failing"
                .to_string(),
        );
    }
    if let Some(reason) = &applied.halted {
        report.warnings.push(format!(
            "the state store failed while writing ({reason}): writing stopped there; the steps \
             listed as \"not written\" were not sent, the files were not delivered, and the \
             next run plans them again"
        ));
    }
    report.record_outcomes(applied.outcomes.clone());
    report.delivery = applied.delivery.clone();
    report.duration_ms = session.clock.elapsed().as_millis() as u64;
    report.requests = request_counts(ends);
    report
}

/// HTTP requests sent per end, with retries and waits for the rate limit.
fn request_counts(ends: &Ends) -> BTreeMap<String, u64> {
    let flex = ends.flex.transport_stats();
    let mut counts: BTreeMap<String, u64> = [
        ("flex".to_string(), flex.requests.load(Relaxed)),
        ("flex_retries".to_string(), flex.retries.load(Relaxed)),
        ("flex_rate_waits".to_string(), flex.rate_waits.load(Relaxed)),
    ]
    .into_iter()
    .collect();
    if let Some(scim) = &ends.scim {
        counts.insert("scim".into(), scim.stats().requests.load(Relaxed));
        counts.insert("scim_retries".into(), scim.stats().retries.load(Relaxed));
        counts.insert(
            "scim_rate_waits".into(),
            scim.stats().rate_waits.load(Relaxed),
        );
    }
    counts
}

/// A named change as the state store keeps it.
fn change_row(change: &NamedChange) -> ChangeRow {
    let result = match change.result {
        ChangeResult::Planned => "planned",
        ChangeResult::Ok => "ok",
        ChangeResult::Failed { .. } => "failed",
        ChangeResult::Skipped { .. } => "skipped",
    };
    ChangeRow {
        external_id: change.external_id.clone(),
        name: change.name.clone(),
        email: change.email.clone(),
        action: change.action.as_str().to_string(),
        result: result.to_string(),
        detail: serde_json::to_value(change).unwrap_or_default(),
    }
}
