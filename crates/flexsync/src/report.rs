//! The report of one run: built from the plan and the outcomes, written as JSON beside the state
//! store, and rendered for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use flexsync_core::finding::{Finding, Severity};
use flexsync_core::guard::Refusal;
use flexsync_core::ids::ExternalId;
use flexsync_core::outcome::RunKind;
use flexsync_core::plan::{Conflict, NotSent, Plan};

use flexsync_winningtemp::StepOutcome;

use crate::file_writer::DeliveryOutcome;

/// Everything an operator needs to know about one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub run_id: Option<i64>,
    pub kind: RunKind,
    pub started: String,
    pub duration_ms: u64,
    pub dry_run: bool,
    /// Employee records read from Flex, and users in the desired state (active / paused).
    pub source_records: usize,
    pub desired_users: usize,
    pub desired_active: usize,
    pub target_users: usize,
    pub planned: BTreeMap<String, usize>,
    pub succeeded: BTreeMap<String, usize>,
    /// Steps that found nothing to write (e.g. a manager link whose manager does not exist
    /// yet); each has a note.
    pub skipped: BTreeMap<String, usize>,
    pub failed: BTreeMap<String, usize>,
    pub failures: Vec<StepOutcome>,
    pub notes: Vec<StepOutcome>,
    pub findings: Vec<Finding>,
    pub not_sent: Vec<NotSent>,
    pub conflicts: Vec<Conflict>,
    pub waiting: Vec<Conflict>,
    pub held: Vec<ExternalId>,
    pub refused: Option<Refusal>,
    pub warnings: Vec<String>,
    /// HTTP requests sent, per end (including retries), and retries.
    pub requests: BTreeMap<String, u64>,
    /// Steps of records that failed lately, put off until their next try.
    pub deferred: Vec<flexsync_core::retry_hold::Deferred>,
    /// Records held back after repeated failures: listed on every run until they succeed.
    pub held_back: Vec<ExternalId>,
    /// Accounts re-keyed because their person moved between configured companies.
    pub moves: Vec<flexsync_core::plan::Move>,
    /// Users active in Flex but kept paused (the keep_paused rule).
    pub kept_paused: Vec<ExternalId>,
    /// Group steps left alone, with why.
    pub group_notes: Vec<flexsync_core::group_plan::GroupNote>,
    /// The SCIM server cannot hold a group's parent: groups were made flat.
    pub tree_by_hand: bool,
    /// Why a run stopped before it had a plan (nothing was written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The file channel: what changed per file since the last delivery.
    pub file_changes: BTreeMap<String, crate::file_writer::FileDiff>,
    /// The file channel: where this run delivered the files, or why it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::file_writer::DeliveryOutcome>,
}

impl RunReport {
    pub fn from_plan(plan: &Plan) -> RunReport {
        RunReport {
            planned: plan
                .counts()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            not_sent: plan.not_sent.clone(),
            conflicts: plan.conflicts.clone(),
            waiting: plan.waiting.clone(),
            held: plan.held.clone(),
            moves: plan.moves.clone(),
            kept_paused: plan.kept_paused.clone(),
            ..RunReport::default()
        }
    }

    /// The report of a sync that stopped before its plan: which run, and why.
    pub fn failed(run_id: i64, error: &anyhow::Error) -> RunReport {
        RunReport {
            run_id: Some(run_id),
            kind: RunKind::Sync,
            started: jiff::Timestamp::now().to_string(),
            error: Some(format!("{error:#}")),
            ..RunReport::default()
        }
    }

    pub fn add_group_plan(&mut self, plan: &flexsync_core::group_plan::GroupPlan) {
        for step in &plan.steps {
            *self
                .planned
                .entry(step.operation.kind().to_string())
                .or_insert(0) += 1;
        }
        self.group_notes = plan.notes.clone();
        self.tree_by_hand = plan.tree_by_hand;
    }

    pub fn record_outcomes(&mut self, outcomes: Vec<StepOutcome>) {
        for outcome in outcomes {
            let bucket = if outcome.error.is_some() {
                &mut self.failed
            } else if outcome.target_id.is_none() && outcome.note.is_some() {
                &mut self.skipped
            } else {
                &mut self.succeeded
            };
            *bucket.entry(outcome.kind.to_string()).or_insert(0) += 1;
            if outcome.error.is_some() {
                self.failures.push(outcome);
            } else if outcome.note.is_some() {
                self.notes.push(outcome);
            }
        }
        self.failures
            .sort_by(|a, b| (&a.external_id, a.kind).cmp(&(&b.external_id, b.kind)));
    }

    /// Failed steps, and a failed delivery of the files.
    pub fn failure_count(&self) -> usize {
        let delivery = self.delivery.as_ref().is_some_and(|d| d.error.is_some());
        self.failed.values().sum::<usize>() + usize::from(delivery)
    }

    /// Writes `run-<id or time>.json` into `dir` and returns its path.
    pub fn write_json(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let name = match self.run_id {
            Some(id) => format!("run-{id:06}.json"),
            None => format!("run-{}.json", self.started.replace([':', ' '], "-")),
        };
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &path)?;
        Ok(path)
    }

    /// A summary for the terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run { "plan" } else { "sync" };
        let _ = writeln!(
            out,
            "{verb}: {} Flex records -> {} users ({} active); target holds {} users",
            self.source_records, self.desired_users, self.desired_active, self.target_users
        );
        if let Some(refusal) = &self.refused {
            let _ = writeln!(
                out,
                "REFUSED by guard {}: {}",
                refusal.guard, refusal.problem
            );
            let _ = writeln!(out, "  nothing was written; to proceed: {}", refusal.remedy);
        }
        let line = |counts: &BTreeMap<String, usize>| {
            if counts.is_empty() {
                "nothing".to_string()
            } else {
                counts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(out, "  planned:   {}", line(&self.planned));
        if !self.dry_run && self.refused.is_none() {
            let _ = writeln!(out, "  done:      {}", line(&self.succeeded));
            let _ = writeln!(out, "  failed:    {}", line(&self.failed));
            if !self.skipped.is_empty() {
                let _ = writeln!(out, "  skipped:   {}", line(&self.skipped));
            }
        }
        for failure in self.failures.iter().take(20) {
            let _ = writeln!(
                out,
                "    ! {} {}: {}",
                failure.kind,
                failure.external_id,
                failure.error_message().unwrap_or("")
            );
        }
        if self.failures.len() > 20 {
            let _ = writeln!(
                out,
                "    ... {} more in the JSON report",
                self.failures.len() - 20
            );
        }
        for note in self.notes.iter().take(10) {
            let _ = writeln!(
                out,
                "    ~ {} {}: {}",
                note.kind,
                note.external_id,
                note.note.as_deref().unwrap_or("")
            );
        }
        if self.notes.len() > 10 {
            let _ = writeln!(
                out,
                "    ... {} more in the JSON report",
                self.notes.len() - 10
            );
        }
        let skipped = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Skipped)
            .count();
        let _ = writeln!(
            out,
            "  findings:  {} ({} records not synced)",
            self.findings.len(),
            skipped
        );
        // Records left out first: they are people without an account.
        let mut by_weight: Vec<&Finding> = self.findings.iter().collect();
        by_weight.sort_by_key(|f| f.severity);
        for finding in by_weight.into_iter().take(15) {
            let _ = writeln!(
                out,
                "    - {} {}: {} ({})",
                finding.record, finding.field, finding.problem, finding.action
            );
        }
        if self.findings.len() > 15 {
            let _ = writeln!(
                out,
                "    ... {} more in the JSON report",
                self.findings.len() - 15
            );
        }
        for item in &self.not_sent {
            let _ = writeln!(
                out,
                "  not sent:  {} for {} users (the target does not advertise it)",
                item.attribute.name(),
                item.users
            );
        }
        for conflict in &self.conflicts {
            let _ = writeln!(
                out,
                "  conflict:  {}: {}",
                conflict.external_id, conflict.problem
            );
        }
        if !self.waiting.is_empty() {
            let _ = writeln!(
                out,
                "  waiting:   {} manager links wait for their manager to exist",
                self.waiting.len()
            );
        }
        if !self.held.is_empty() {
            let _ = writeln!(
                out,
                "  held:      {} users kept as they are while their Flex record has findings",
                self.held.len()
            );
        }
        for moved in &self.moves {
            let _ = writeln!(
                out,
                "  moved:     {} -> {} (same person, another company; account {} kept)",
                moved.previous_external_id, moved.external_id, moved.target_id
            );
        }
        if !self.kept_paused.is_empty() {
            let _ = writeln!(
                out,
                "  kept paused: {} users active in Flex stay paused (keep_paused)",
                self.kept_paused.len()
            );
        }
        if !self.deferred.is_empty() {
            let _ = writeln!(
                out,
                "  deferred:  {} steps of records that failed lately wait for their next try",
                self.deferred.len()
            );
        }
        for external_id in &self.held_back {
            let _ = writeln!(
                out,
                "  HELD:      {external_id} failed repeatedly; tried weekly until it succeeds"
            );
        }
        if self.tree_by_hand {
            let _ = writeln!(
                out,
                "  groups:    the SCIM server advertises no group parent: groups are flat; place \
                 the tree by hand in Winningtemp or deliver it as files ([files])"
            );
        }
        for note in self.group_notes.iter().take(10) {
            let _ = writeln!(
                out,
                "  group:     {} ({}): {}",
                note.group, note.kind, note.message
            );
        }
        if self.group_notes.len() > 10 {
            let _ = writeln!(
                out,
                "    ... {} more group notes in the JSON report",
                self.group_notes.len() - 10
            );
        }
        match &self.delivery {
            Some(DeliveryOutcome {
                error: Some(error), ..
            }) => {
                let _ = writeln!(out, "  files:     NOT delivered: {error}");
            }
            Some(DeliveryOutcome {
                destination: Some(destination),
                ..
            }) => {
                let _ = writeln!(out, "  files:     delivered to {destination}");
            }
            _ => {}
        }
        for (name, diff) in &self.file_changes {
            let _ = writeln!(
                out,
                "  file:      {name}: {} added, {} changed, {} removed since the last delivery",
                diff.added.len(),
                diff.changed.len(),
                diff.removed.len()
            );
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "  warning:   {warning}");
        }
        let requests = self
            .requests
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "  took {:.1}s; requests: {requests}",
            self.duration_ms as f64 / 1000.0
        );
        out
    }
}
