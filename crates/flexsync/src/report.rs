//! The report of one run: built from the plan and the outcomes, written as JSON beside the state
//! store, and rendered for the terminal.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::Serialize;

use flexsync_core::finding::{Finding, Severity};
use flexsync_core::guard::Refusal;
use flexsync_core::ids::ExternalId;
use flexsync_core::kind::OperationKind;
use flexsync_core::outcome::{Outcome, RunKind};
use flexsync_core::plan::{Conflict, NotSent, Plan};
use flexsync_core::retry_hold::FailureClass;

use flexsync_winningtemp::StepOutcome;

use crate::changes::{ChangeResult, NamedChange};
use crate::file_writer::DeliveryOutcome;
use crate::tree_view::TreeRow;

/// How many of each list the terminal summary shows; the JSON report has them all.
const MAX_CHANGES: usize = 25;
const MAX_FAILURES: usize = 20;
const MAX_NOTES: usize = 10;
const MAX_FINDINGS: usize = 15;
const MAX_GROUP_NOTES: usize = 10;

/// Whether a file name is one of the reports a run writes (`run-….json` or `run-….html`).
pub fn is_report_file(name: &str) -> bool {
    name.starts_with("run-") && (name.ends_with(".json") || name.ends_with(".html"))
}

/// Everything an operator needs to know about one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub run_id: Option<i64>,
    pub kind: RunKind,
    /// How the run ended (absent while it is being built).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub started: String,
    pub duration_ms: u64,
    pub dry_run: bool,
    /// Employee records read from Flex, and users in the desired state (active / paused).
    pub source_records: usize,
    pub desired_users: usize,
    pub desired_active: usize,
    /// Records the scoping rules leave out.
    pub out_of_scope: usize,
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
    /// Every change of the run, naming the person or group, with before and after and what
    /// came of it.
    pub changes: Vec<NamedChange>,
    /// The desired group tree in outline order, with member counts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tree: Vec<TreeRow>,
    /// Active users who sit in no group of the tree.
    #[serde(skip_serializing_if = "is_zero")]
    pub outside_the_tree: usize,
    /// The identity of what the plan would write (`flexsync approve` lets exactly it through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// A refused run: the command that lets exactly this plan through once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve_command: Option<String>,
    /// A run that went through on an approval: whose, and of which refused run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved: Option<crate::run::Approved>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
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
    pub fn failed(run_id: Option<i64>, outcome: Outcome, error: &anyhow::Error) -> RunReport {
        RunReport {
            run_id,
            kind: RunKind::Sync,
            started: jiff::Timestamp::now().to_string(),
            error: Some(format!("{error:#}")),
            outcome: Some(outcome),
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

    /// `run-000012`, or `run-<start time>` for a run without an id.
    pub fn file_stem(&self) -> String {
        match self.run_id {
            Some(id) => format!("run-{id:06}"),
            None => format!("run-{}", self.started.replace([':', ' '], "-")),
        }
    }

    /// Writes the report into `dir` as JSON (`run-NNNNNN.json`, returned) and as the HTML page
    /// beside it.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let json = self.write_json(dir)?;
        let page = dir.join(format!("{}.html", self.file_stem()));
        crate::safe_write::write_atomically_with(&page, |out| {
            crate::report_page::write(self, out)
        })?;
        Ok(json)
    }

    /// Writes `run-<id or time>.json` into `dir` and returns its path.
    pub fn write_json(&self, dir: &Path) -> std::io::Result<PathBuf> {
        crate::safe_write::private_dir(dir)?;
        let path = dir.join(format!("{}.json", self.file_stem()));
        crate::safe_write::write_atomically_with(&path, |out| {
            serde_json::to_writer_pretty(out, self).map_err(std::io::Error::other)
        })?;
        Ok(path)
    }

    /// A summary for the terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_summary(&mut out);
        out
    }

    fn write_summary(&self, out: &mut String) -> fmt::Result {
        self.write_header(out)?;
        self.write_counts(out)?;
        self.write_changes(out)?;
        self.write_failures_and_notes(out)?;
        self.write_findings(out)?;
        self.write_plan_notes(out)?;
        self.write_retries(out)?;
        self.write_group_notes(out)?;
        self.write_files(out)?;
        self.write_warnings(out)?;
        self.write_requests(out)
    }

    /// The run's size, and the guard that refused it, if one did.
    fn write_header(&self, out: &mut String) -> fmt::Result {
        let verb = if self.dry_run { "plan" } else { "sync" };
        let scoped = match self.out_of_scope {
            0 => String::new(),
            n => format!(", {n} out of scope"),
        };
        writeln!(
            out,
            "{verb}: {} Flex records -> {} users ({} active{scoped}); target holds {} users",
            self.source_records, self.desired_users, self.desired_active, self.target_users
        )?;
        if let Some(refusal) = &self.refused {
            writeln!(
                out,
                "REFUSED by guard {}: {}",
                refusal.guard, refusal.problem
            )?;
            writeln!(out, "  nothing was written; to proceed: {}", refusal.remedy)?;
            if let Some(command) = &self.approve_command {
                writeln!(out, "  or let exactly this plan through once: {command}")?;
            }
        }
        if let Some(approved) = &self.approved {
            writeln!(
                out,
                "APPROVED: the plan refused in run #{} ({}) was approved by {} at {}; {}",
                approved.refused_run,
                approved.problem,
                approved.by,
                approved.at,
                if self.dry_run {
                    "the next sync carries it out once"
                } else {
                    "it went through once"
                }
            )?;
        }
        Ok(())
    }

    /// Steps planned, and for a sync that wrote, what they came to.
    fn write_counts(&self, out: &mut String) -> fmt::Result {
        writeln!(out, "  planned:   {}", count_line(&self.planned))?;
        if !self.dry_run && self.refused.is_none() {
            writeln!(out, "  done:      {}", count_line(&self.succeeded))?;
            writeln!(out, "  failed:    {}", count_line(&self.failed))?;
            if !self.skipped.is_empty() {
                writeln!(out, "  skipped:   {}", count_line(&self.skipped))?;
            }
        }
        Ok(())
    }

    /// What a sync changed, person by person, or for a refused one what it would have changed
    /// (a plan shows its steps on its own).
    fn write_changes(&self, out: &mut String) -> fmt::Result {
        if self.dry_run {
            return Ok(());
        }
        let wanted = if self.refused.is_some() {
            writeln!(out, "  would have done (nothing was written):")?;
            ChangeResult::Planned
        } else {
            ChangeResult::Ok
        };
        let done: Vec<&NamedChange> = self.changes.iter().filter(|c| c.result == wanted).collect();
        for change in done.iter().take(MAX_CHANGES) {
            let attributes = change.attribute_lines();
            let detail = if attributes.is_empty() || change.action == OperationKind::Create {
                String::new()
            } else {
                format!(": {}", attributes.join("; "))
            };
            writeln!(
                out,
                "    {} {}{detail} [{}]",
                change.action,
                who(&change.name, change.email.as_deref(), &change.external_id),
                change.reason
            )?;
        }
        write_more(out, done.len(), MAX_CHANGES)
    }

    /// Name and email of the person (or the group's name) a step was about, beside its id.
    fn who(&self, external_id: &ExternalId, kind: OperationKind) -> String {
        self.changes
            .iter()
            .find(|c| &c.external_id == external_id && c.action == kind)
            .map_or_else(
                || external_id.to_string(),
                |c| who(&c.name, c.email.as_deref(), external_id),
            )
    }

    /// The first failed steps, then the first steps that left a note.
    fn write_failures_and_notes(&self, out: &mut String) -> fmt::Result {
        for failure in self.failures.iter().take(MAX_FAILURES) {
            writeln!(
                out,
                "    ! {} {}: {}",
                failure.kind,
                self.who(&failure.external_id, failure.kind),
                failure.error_message().unwrap_or("")
            )?;
        }
        write_more(out, self.failures.len(), MAX_FAILURES)?;
        for note in self.notes.iter().take(MAX_NOTES) {
            writeln!(
                out,
                "    ~ {} {}: {}",
                note.kind,
                self.who(&note.external_id, note.kind),
                note.note.as_deref().unwrap_or("")
            )?;
        }
        write_more(out, self.notes.len(), MAX_NOTES)
    }

    /// How many findings, and the weightiest of them.
    fn write_findings(&self, out: &mut String) -> fmt::Result {
        let skipped = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Skipped)
            .count();
        writeln!(
            out,
            "  findings:  {} ({} records not synced)",
            self.findings.len(),
            skipped
        )?;
        // Records left out first: they are people without an account.
        let mut by_weight: Vec<&Finding> = self.findings.iter().collect();
        by_weight.sort_by_key(|f| f.severity);
        for finding in by_weight.into_iter().take(MAX_FINDINGS) {
            let record = finding.who();
            writeln!(
                out,
                "    - {record} {}: {} ({})",
                finding.field, finding.problem, finding.action
            )?;
        }
        write_more(out, self.findings.len(), MAX_FINDINGS)
    }

    /// What the plan left out or held: values not sent, conflicts, waits, moves, kept pauses.
    fn write_plan_notes(&self, out: &mut String) -> fmt::Result {
        for item in &self.not_sent {
            writeln!(
                out,
                "  not sent:  {} for {} users (the target does not advertise it)",
                item.attribute.name(),
                item.users
            )?;
        }
        for conflict in &self.conflicts {
            writeln!(
                out,
                "  conflict:  {}: {}",
                conflict.external_id, conflict.problem
            )?;
        }
        if !self.waiting.is_empty() {
            writeln!(
                out,
                "  waiting:   {} manager links wait for their manager to exist",
                self.waiting.len()
            )?;
        }
        if !self.held.is_empty() {
            writeln!(
                out,
                "  held:      {} users kept as they are while their Flex record has findings",
                self.held.len()
            )?;
        }
        for moved in &self.moves {
            writeln!(
                out,
                "  moved:     {} -> {} (same person, another company; account {} kept)",
                moved.previous_external_id, moved.external_id, moved.target_id
            )?;
        }
        if !self.kept_paused.is_empty() {
            writeln!(
                out,
                "  kept paused: {} users active in Flex stay paused (keep_paused)",
                self.kept_paused.len()
            )?;
        }
        Ok(())
    }

    /// Steps put off after recent failures, and records held back after repeated ones.
    fn write_retries(&self, out: &mut String) -> fmt::Result {
        if !self.deferred.is_empty() {
            writeln!(
                out,
                "  deferred:  {} steps of records that failed lately wait for their next try",
                self.deferred.len()
            )?;
        }
        for external_id in self.held_back.iter().take(MAX_FAILURES) {
            let waiting = self.deferred.iter().find(|d| &d.external_id == external_id);
            let why = held_reason(self, external_id);
            let kind = waiting.map_or(OperationKind::Update, |d| d.kind);
            writeln!(
                out,
                "  HELD:      {} {}: {why} (or `sync --retry-held`)",
                kind,
                self.who(external_id, kind)
            )?;
        }
        write_more(out, self.held_back.len(), MAX_FAILURES)?;
        Ok(())
    }

    /// A group tree the target cannot hold, and the first group steps left alone.
    fn write_group_notes(&self, out: &mut String) -> fmt::Result {
        if self.tree_by_hand {
            writeln!(
                out,
                "  groups:    the SCIM server advertises no group parent: groups are flat; place \
                 the tree by hand in Winningtemp or deliver it as files ([files])"
            )?;
        }
        for note in self.group_notes.iter().take(MAX_GROUP_NOTES) {
            writeln!(
                out,
                "  group:     {} ({}): {}",
                note.group, note.kind, note.message
            )?;
        }
        if self.group_notes.len() > MAX_GROUP_NOTES {
            writeln!(
                out,
                "    ... {} more group notes in the JSON report",
                self.group_notes.len() - MAX_GROUP_NOTES
            )?;
        }
        Ok(())
    }

    /// The file channel: where the files went, or why not, and what changed in each.
    fn write_files(&self, out: &mut String) -> fmt::Result {
        match &self.delivery {
            Some(DeliveryOutcome {
                error: Some(error), ..
            }) => writeln!(out, "  files:     NOT delivered: {error}")?,
            Some(DeliveryOutcome {
                destination: Some(destination),
                ..
            }) => writeln!(out, "  files:     delivered to {destination}")?,
            _ => {}
        }
        for (name, diff) in &self.file_changes {
            writeln!(
                out,
                "  file:      {name}: {} added, {} changed, {} removed since the last delivery",
                diff.added.len(),
                diff.changed.len(),
                diff.removed.len()
            )?;
        }
        Ok(())
    }

    fn write_warnings(&self, out: &mut String) -> fmt::Result {
        for warning in &self.warnings {
            writeln!(out, "  warning:   {warning}")?;
        }
        Ok(())
    }

    /// How long the run took and the HTTP requests it sent.
    fn write_requests(&self, out: &mut String) -> fmt::Result {
        let requests = self
            .requests
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "  took {:.1}s; requests: {requests}",
            self.duration_ms as f64 / 1000.0
        )
    }
}

/// Why a record is held back, by the class of its last failure.
pub fn held_reason(report: &RunReport, external_id: &ExternalId) -> &'static str {
    let waiting = report
        .deferred
        .iter()
        .find(|d| &d.external_id == external_id);
    match waiting.map(|d| d.class) {
        Some(FailureClass::Permanent) => {
            "the server refused what flexsync sends; held until that changes"
        }
        Some(FailureClass::Conflict) => "another account holds its value; held until that changes",
        _ => "failed repeatedly; tried weekly until it succeeds",
    }
}

/// `kind count, kind count`, or `nothing`.
fn count_line(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        "nothing".to_string()
    } else {
        counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The line that says how many of a list were left out of the summary.
fn write_more(out: &mut String, total: usize, shown: usize) -> fmt::Result {
    if total > shown {
        writeln!(out, "    ... {} more in the JSON report", total - shown)?;
    }
    Ok(())
}

/// "Anna Svensson <anna.svensson@example.se> (e2e60fc5-...)", or the name and id of a group.
fn who(name: &str, email: Option<&str>, external_id: &ExternalId) -> String {
    match email {
        Some(email) => format!("{name} <{email}> ({external_id})"),
        None if name == external_id.as_str() => name.to_string(),
        None => format!("{name} ({external_id})"),
    }
}
