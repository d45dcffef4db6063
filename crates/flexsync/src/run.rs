//! One run, start to end: read Flex, map, observe Winningtemp, plan, judge, apply, report.
//! `plan` stops after judging; `sync` goes on. The outcome carries the exit code.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use flexsync_core::current::{Current, Memory};
use flexsync_core::desired::Desired;
use flexsync_core::finding::{Finding, Severity};
use flexsync_core::group_plan::{
    Grace, GroupCapabilities, GroupPlan, TargetGroup, apply_grace, plan_groups,
};
use flexsync_core::guard::{self, Allowance};
use flexsync_core::plan::{self, Plan, Step};
use flexsync_core::retry_hold::{self, RecordFailure};
use flexsync_flex::FlexClient;
use flexsync_scim::ScimClient;
use flexsync_state::{OpOutcome, RunOutcome, StateStore};

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, FileChannel};
use crate::file_writer;
use crate::report::RunReport;
use crate::scim_groups;
use crate::scim_writer::{self, Applier, AttributeMap, Journal, StepOutcome};

/// How a run ended, as the command line's exit codes say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    RecordFailures = 1,
    Usage = 2,
    Refused = 3,
    Unreachable = 4,
}

/// A run that could not be carried out, with the exit code it maps to.
#[derive(Debug)]
pub struct RunFailure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl RunFailure {
    fn new(exit: Exit, error: impl Into<anyhow::Error>) -> RunFailure {
        RunFailure {
            exit,
            error: error.into(),
        }
    }
}

/// What a run produced, for the command line and for tests.
pub struct RunResult {
    pub report: RunReport,
    pub plan: Plan,
    pub group_plan: GroupPlan,
    pub desired: Desired,
    pub current: Current,
    pub exit: Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read both ends and plan; write nothing to Winningtemp.
    Plan,
    /// Plan and apply.
    Sync,
}

/// The two clients, built once per run from the configuration.
pub struct Ends {
    pub flex: FlexClient,
    /// None when only the file channel is configured.
    pub scim: Option<ScimClient>,
}

impl Ends {
    pub fn connect(config: &Config) -> Result<Ends, RunFailure> {
        let flex =
            FlexClient::new(config.flex.clone()).map_err(|e| RunFailure::new(Exit::Usage, e))?;
        let scim = match &config.scim {
            Some(settings) => Some(
                ScimClient::new(settings.clone()).map_err(|e| RunFailure::new(Exit::Usage, e))?,
            ),
            None => None,
        };
        Ok(Ends { flex, scim })
    }
}

/// The day the run judges employment on, in the configured time zone.
pub fn today(config: &Config) -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(config.time_zone.clone())
        .date()
}

/// Carries out one run. Every run is recorded in the state store, refused and failed ones too.
pub async fn run(
    config: &Config,
    ends: &Ends,
    mode: Mode,
    allowance: Allowance,
    today: jiff::civil::Date,
) -> Result<RunResult, RunFailure> {
    let clock = Instant::now();
    let started = jiff::Timestamp::now();
    let store =
        StateStore::open(&config.state_path).map_err(|e| RunFailure::new(Exit::Usage, e))?;
    let _lock = match mode {
        Mode::Sync => {
            Some(take_lock(&store, started).map_err(|e| RunFailure::new(Exit::Usage, e))?)
        }
        Mode::Plan => None,
    };
    let interrupted = match mode {
        Mode::Sync => settle_interrupted(&store, started),
        Mode::Plan => Vec::new(),
    };
    let kind = if mode == Mode::Sync { "sync" } else { "plan" };
    let run_id = store
        .begin_run(started, kind)
        .map_err(|e| RunFailure::new(Exit::Usage, e))?;
    let fail = |store: &StateStore, exit: Exit, error: anyhow::Error| {
        let _ = store.finish_run(
            run_id,
            jiff::Timestamp::now(),
            RunOutcome::Failed,
            &json!({ "error": format!("{error:#}") }),
        );
        RunFailure::new(exit, error)
    };

    tracing::info!(run = run_id.0, "reading Flex");
    let read = match ends.flex.read().await {
        Ok(read) => read,
        Err(error) => {
            return Err(fail(
                &store,
                Exit::Unreachable,
                anyhow::Error::new(error).context("reading Flex failed; nothing was written"),
            ));
        }
    };
    let mut desired = flexsync_core::map::map(&read.snapshot, &config.mapping, today);
    flexsync_core::groups::build_groups(&read.snapshot, &config.groups, today, &mut desired);
    desired
        .findings
        .extend(read.warnings.iter().map(read_finding));
    desired.findings.sort();

    tracing::info!(run = run_id.0, "reading Winningtemp");
    let map = AttributeMap {
        user_extension: config.user_extension.clone(),
    };
    let extra: Vec<String> = config
        .mapping
        .extra
        .iter()
        .map(|e| e.target_attribute.clone())
        .collect();
    let memory = store
        .memory()
        .map_err(|e| fail(&store, Exit::Usage, e.into()))?;
    let observed = match &ends.scim {
        Some(scim) => match observe(scim, &map, &extra, config).await {
            Ok(observed) => observed,
            Err(error) => {
                return Err(fail(
                    &store,
                    Exit::Unreachable,
                    error.context("reading Winningtemp failed; nothing was written"),
                ));
            }
        },
        None => Observed::default(),
    };
    let current = observed.current;
    let mut plan = match &ends.scim {
        Some(_) => plan::plan(&desired, &current, &memory, &config.plan),
        None => Plan::default(),
    };
    // Records that failed lately wait their turn; held ones are listed in every report.
    let failures = store
        .failures()
        .map_err(|e| fail(&store, Exit::Usage, e.into()))?;
    let failures: Vec<RecordFailure> = failures
        .into_iter()
        .map(|f| RecordFailure {
            external_id: f.external_id,
            count: f.count,
            last_at: f.last_at,
        })
        .collect();
    let waits = retry_hold::held_back(&failures, started, &config.hold);
    let deferred = retry_hold::defer(&mut plan, &waits, started);
    let mut group_plan = match &observed.groups {
        Some((caps, target_groups)) => plan_groups(
            &desired,
            target_groups,
            &user_ids(&current, &memory),
            &created_groups(&memory),
            *caps,
            &config.groups,
        ),
        None => GroupPlan::default(),
    };
    let empty_since = store
        .empty_groups()
        .map_err(|e| fail(&store, Exit::Usage, e.into()))?;
    let grace = apply_grace(
        &mut group_plan,
        &empty_since,
        today,
        config.groups.retire_after_days,
    );

    // The file channel delivers the whole state; its changes are judged like the plan's.
    let files = config.files.as_ref().map(|channel| {
        let rendered = file_writer::render_files(&desired, &channel.columns);
        let changes = file_writer::changes_since_last(&channel.last_delivery_dir, &rendered);
        (channel, rendered, changes)
    });

    let mut report = RunReport::from_plan(&plan);
    report.add_group_plan(&group_plan);
    report.deferred = deferred;
    report.held_back = waits
        .iter()
        .filter(|(_, state)| state.is_held())
        .map(|(external_id, _)| external_id.clone())
        .collect();
    report.run_id = Some(run_id.0);
    report.kind = kind.to_string();
    report.started = started.to_string();
    report.dry_run = mode == Mode::Plan;
    report.source_records = desired.source_records;
    report.desired_users = desired.users.len();
    report.desired_active = desired.users.values().filter(|u| u.values.active).count();
    report.target_users = current.users.len();
    report.findings = desired.findings.clone();
    report.warnings = config.warnings.clone();
    report.warnings.extend(interrupted);
    let last_source_records = store.last_source_count().unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read the last run's source count");
        None
    });
    report.refused = guard::judge(
        &plan,
        &desired,
        &current,
        &config.guards,
        &allowance,
        last_source_records,
        guard::group_retirements(&group_plan),
    );
    if let Some((_, _, changes)) = &files {
        match changes {
            Ok(changes) => {
                report.file_changes = changes
                    .iter()
                    .map(|(name, diff)| (name.clone(), diff.clone()))
                    .collect();
                if report.refused.is_none() {
                    report.refused = judge_file_removals(changes, &config.guards, &allowance);
                }
            }
            Err(error) => report
                .warnings
                .push(format!("cannot read the last delivery: {error}")),
        }
    }

    let mut exit = Exit::Done;
    let outcome = if report.refused.is_some() {
        exit = Exit::Refused;
        RunOutcome::Refused
    } else if mode == Mode::Sync {
        if let Some(scim) = &ends.scim {
            let journal = StoreJournal {
                store: store.clone(),
                run: run_id,
            };
            let known = current
                .users
                .iter()
                .filter_map(|u| Some((u.external_id.clone()?, u.id.clone())))
                .chain(memory.links.clone())
                .collect();
            let applier = Applier {
                client: scim,
                map: &map,
                capabilities: &current.capabilities,
                concurrency: config.concurrency,
                known: Arc::new(Mutex::new(known)),
                journal: &journal,
            };
            report.record_outcomes(applier.apply(&plan).await);
            reconcile_memory(
                &store,
                &desired,
                &current,
                &memory,
                &plan,
                &failures,
                &report.deferred,
            );
            if !group_plan.is_empty() {
                let known = applier.known.lock().map(|k| k.clone()).unwrap_or_default();
                let outcomes = scim_groups::apply_group_plan(
                    scim,
                    &group_plan,
                    &known,
                    &config.group_parent_attribute,
                )
                .await;
                remember_groups(&store, &outcomes);
                report.record_outcomes(outcomes);
            }
        }
        remember_empty_groups(&store, &empty_since, &grace);
        if let Some((channel, rendered, _)) = files {
            report.record_outcomes(vec![deliver_files(channel, rendered).await]);
        }
        if report.failure_count() > 0 {
            exit = Exit::RecordFailures;
            RunOutcome::Partial
        } else {
            RunOutcome::Succeeded
        }
    } else {
        RunOutcome::Succeeded
    };

    report.duration_ms = clock.elapsed().as_millis() as u64;
    report.requests = request_counts(ends);
    let summary = json!({
        "source_records": report.source_records,
        "desired_users": report.desired_users,
        "planned": report.planned,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "findings": report.findings.len(),
        "refused": report.refused.as_ref().map(|r| r.guard.clone()),
    });
    store
        .finish_run(run_id, jiff::Timestamp::now(), outcome, &summary)
        .map_err(|e| RunFailure::new(Exit::Usage, e))?;
    Ok(RunResult {
        report,
        plan,
        group_plan,
        desired,
        current,
        exit,
    })
}

/// The run lock, named `flexsync sync (pid N on HOST)`. A lock whose holder is a process on
/// this host that no longer runs (a killed run) is taken over at once; any other lock is only
/// taken over once it is older than six hours.
fn take_lock(
    store: &StateStore,
    now: jiff::Timestamp,
) -> Result<flexsync_state::LockGuard, flexsync_state::StateError> {
    let host = host_name();
    let holder = format!("flexsync sync (pid {} on {host})", std::process::id());
    let stale_after = std::time::Duration::from_secs(6 * 3600);
    match store.acquire_lock(&holder, now, stale_after) {
        Err(flexsync_state::StateError::Locked { holder: other, .. })
            if holder_is_gone(&other, &host) =>
        {
            tracing::warn!(holder = %other, "taking over the lock of a run that no longer runs");
            store.acquire_lock(&holder, now, std::time::Duration::ZERO)
        }
        result => result,
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True when `holder` names a process on this host that has exited (Linux: no `/proc/PID`).
fn holder_is_gone(holder: &str, host: &str) -> bool {
    let Some(rest) = holder.split("(pid ").nth(1) else {
        return false;
    };
    let Some((pid, tail)) = rest.split_once(" on ") else {
        return false;
    };
    let same_host = tail.trim_end_matches(')') == host;
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    same_host
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// What the SCIM end holds: users, and groups when the group tree is configured.
#[derive(Default)]
struct Observed {
    current: Current,
    groups: Option<(GroupCapabilities, Vec<TargetGroup>)>,
}

async fn observe(
    scim: &ScimClient,
    map: &AttributeMap,
    extra: &[String],
    config: &Config,
) -> anyhow::Result<Observed> {
    let (current, info) = scim_writer::observe(scim, map, extra).await?;
    let groups = if config.groups.levels.is_empty() && !config.groups.company_top {
        None
    } else {
        let caps = scim_groups::group_capabilities(&info, &config.group_parent_attribute);
        let target = scim_groups::observe_groups(scim, &config.group_parent_attribute).await?;
        Some((caps, target))
    };
    Ok(Observed { current, groups })
}

/// User external id -> target id, from the target and from our links.
fn user_ids(current: &Current, memory: &Memory) -> BTreeMap<String, String> {
    let mut ids: BTreeMap<String, String> = memory.links.clone();
    for user in &current.users {
        if let Some(external_id) = &user.external_id {
            ids.insert(external_id.clone(), user.id.clone());
        }
    }
    ids
}

/// External ids of the groups this tool created (their links are kept like users').
fn created_groups(memory: &Memory) -> BTreeSet<String> {
    memory
        .links
        .iter()
        .filter(|(external_id, target_id)| {
            external_id.starts_with("grp") && memory.created.contains(*target_id)
        })
        .map(|(external_id, _)| external_id.clone())
        .collect()
}

/// Keeps the links of groups created in this run, and forgets retired ones.
fn remember_groups(store: &StateStore, outcomes: &[StepOutcome]) {
    let now = jiff::Timestamp::now();
    for outcome in outcomes.iter().filter(|o| o.error.is_none()) {
        let saved = match (outcome.kind, &outcome.target_id) {
            ("create_group", Some(target_id)) => {
                store.link(&outcome.external_id, target_id, outcome.note.is_none(), now)
            }
            ("retire_group", _) => store
                .unlink(&outcome.external_id)
                .and_then(|()| store.clear_group_empty(&outcome.external_id)),
            _ => Ok(()),
        };
        if let Err(error) = saved {
            tracing::warn!(%error, "could not record a group link");
        }
    }
}

/// Writes that an earlier run announced but never finished (it was killed): each is closed as
/// interrupted. Nothing else is needed: this run plans from what the target holds, and a create
/// that did land is found by its externalId.
fn settle_interrupted(store: &StateStore, now: jiff::Timestamp) -> Vec<String> {
    let intents = match store.unfinished_intents() {
        Ok(intents) => intents,
        Err(error) => return vec![format!("could not read unfinished operations: {error}")],
    };
    let mut runs = BTreeSet::new();
    for intent in &intents {
        runs.insert(intent.run.0);
        let outcome = OpOutcome::Failed {
            message: "interrupted: the run stopped before the outcome was known".into(),
        };
        if let Err(error) = store.record_outcome(intent.id, outcome, now) {
            tracing::warn!(%error, "could not close an interrupted operation");
        }
    }
    if intents.is_empty() {
        return Vec::new();
    }
    for run in &runs {
        // A run killed mid-apply never finished; close it (a finished one refuses, harmlessly).
        let _ = store.finish_run(
            flexsync_state::RunId(*run),
            now,
            RunOutcome::Failed,
            &json!({ "error": "interrupted" }),
        );
    }
    let runs: Vec<String> = runs.iter().map(|r| format!("#{r}")).collect();
    vec![format!(
        "run {} stopped with {} writes under way; this run re-planned them from what \
         Winningtemp holds",
        runs.join(", "),
        intents.len()
    )]
}

/// Brings the state store in line with what the target already holds: a user carrying one of our
/// external ids but no link (its create landed while the answer was lost) is linked, and a record
/// that failed before but needed nothing this run has its failure cleared.
fn reconcile_memory(
    store: &StateStore,
    desired: &Desired,
    current: &Current,
    memory: &Memory,
    plan: &Plan,
    failures: &[RecordFailure],
    deferred: &[retry_hold::Deferred],
) {
    let now = jiff::Timestamp::now();
    let failed: BTreeSet<&str> = failures.iter().map(|f| f.external_id.as_str()).collect();
    let mut touched: BTreeSet<&str> = plan
        .steps
        .iter()
        .map(|s| s.operation.external_id())
        .collect();
    touched.extend(deferred.iter().map(|d| d.external_id.as_str()));
    let mut result = Ok(());
    for user in &current.users {
        let Some(external_id) = user.external_id.as_deref() else {
            continue;
        };
        if !desired.users.contains_key(external_id) {
            continue;
        }
        if !memory.links.contains_key(external_id) && !touched.contains(external_id) {
            // Ours if one of our writes for it failed: the create that did land.
            let created = failed.contains(external_id);
            result = result.and_then(|()| store.link(external_id, &user.id, created, now));
        }
        if failed.contains(external_id) && !touched.contains(external_id) {
            result = result.and_then(|()| store.clear_failure(external_id));
        }
    }
    if let Err(error) = result {
        tracing::warn!(%error, "could not reconcile the state store with the target");
    }
}

/// Remembers since when each retirement candidate is empty; forgets groups that are not
/// candidates any more (they have members again).
fn remember_empty_groups(
    store: &StateStore,
    before: &BTreeMap<String, jiff::civil::Date>,
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

/// Delivers the files (blocking I/O off the async threads) and remembers what was delivered.
async fn deliver_files(channel: &FileChannel, rendered: Vec<(String, String)>) -> StepOutcome {
    let destination = channel.destination.clone();
    let last = channel.last_delivery_dir.clone();
    let result = tokio::task::spawn_blocking(move || {
        let delivery = file_writer::deliver(&rendered, &destination)?;
        file_writer::remember_delivery(&last, &rendered)?;
        Ok::<_, file_writer::FileError>(delivery)
    })
    .await;
    let (target_id, error) = match result {
        Ok(Ok(delivery)) => (Some(delivery.destination), None),
        Ok(Err(error)) => (None, Some(error.to_string())),
        Err(error) => (None, Some(format!("the delivery task failed: {error}"))),
    };
    StepOutcome {
        external_id: "(files)".into(),
        kind: "deliver_files",
        target_id,
        error,
        note: None,
    }
}

/// Users that would vanish from the users file count as pauses for the guards.
fn judge_file_removals(
    changes: &BTreeMap<String, file_writer::FileDiff>,
    settings: &guard::GuardSettings,
    allowance: &Allowance,
) -> Option<guard::Refusal> {
    let removed = changes
        .get(file_writer::USERS_FILE)
        .map_or(0, |diff| diff.removed.len());
    let allowed = allowance.deactivations.is_some_and(|n| removed <= n);
    if removed <= settings.deactivation_floor.max(settings.max_deactivations) || allowed {
        return None;
    }
    Some(guard::Refusal {
        guard: "file_removals".into(),
        problem: format!(
            "{removed} users would disappear from {} (limit {})",
            file_writer::USERS_FILE,
            settings.max_deactivations
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-deactivations {removed}` once"
        ),
    })
}

/// A field or record the Flex client could not read, as a finding naming both.
fn read_finding(warning: &flexsync_flex::ReadWarning) -> Finding {
    let dropped = warning.field.is_none();
    Finding {
        record: warning.record.clone(),
        field: warning.field.clone().unwrap_or_else(|| "(record)".into()),
        kind: if dropped {
            "unreadable_record"
        } else {
            "unreadable_field"
        }
        .into(),
        problem: format!("{}: {}", warning.what, warning.message),
        action: if dropped {
            "record left out of this run".into()
        } else {
            "value ignored".into()
        },
        severity: if dropped {
            Severity::Skipped
        } else {
            Severity::Degraded
        },
    }
}

fn request_counts(ends: &Ends) -> std::collections::BTreeMap<String, u64> {
    use std::sync::atomic::Ordering::Relaxed;
    let flex = ends.flex.transport_stats();
    let mut counts: std::collections::BTreeMap<String, u64> = [
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

/// Records intents and outcomes in the state store, and keeps the links it learns.
struct StoreJournal {
    store: StateStore,
    run: flexsync_state::RunId,
}

impl Journal for StoreJournal {
    fn intent(&self, step: &Step) -> Option<i64> {
        let store = &self.store;
        let detail = serde_json::to_value(step).unwrap_or_default();
        match store.record_intent(
            self.run,
            step.operation.external_id(),
            step.operation.kind(),
            &detail,
        ) {
            Ok(id) => Some(id.0),
            Err(error) => {
                tracing::warn!(%error, "could not record intent");
                None
            }
        }
    }

    fn outcome(&self, intent: Option<i64>, outcome: &StepOutcome) {
        let store = &self.store;
        let now = jiff::Timestamp::now();
        let result = match &outcome.error {
            None => OpOutcome::Done {
                target_id: outcome.target_id.clone().unwrap_or_default(),
            },
            Some(message) => OpOutcome::Failed {
                message: message.clone(),
            },
        };
        if let Some(intent) = intent {
            if let Err(error) = store.record_outcome(flexsync_state::OpId(intent), result, now) {
                tracing::warn!(%error, "could not record outcome");
            }
        }
        let saved = match (&outcome.error, &outcome.target_id) {
            (None, Some(target_id)) => {
                let created = outcome.kind == "create" && outcome.note.is_none();
                let linked = matches!(outcome.kind, "create" | "adopt")
                    .then(|| store.link(&outcome.external_id, target_id, created, now));
                linked
                    .unwrap_or(Ok(()))
                    .and_then(|()| store.clear_failure(&outcome.external_id))
            }
            (Some(message), _) => store
                .record_failure(&outcome.external_id, message, now)
                .map(|_| ()),
            (None, None) => Ok(()),
        };
        if let Err(error) = saved {
            tracing::warn!(%error, "could not update the state store");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_holder_that_exited_on_this_host_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let host = host_name();
        assert!(holder_is_gone(
            &format!("flexsync sync (pid {pid} on {host})"),
            &host
        ));
        let me = std::process::id();
        assert!(!holder_is_gone(
            &format!("flexsync sync (pid {me} on {host})"),
            &host
        ));
        assert!(!holder_is_gone(
            &format!("flexsync sync (pid {pid} on elsewhere)"),
            &host
        ));
        assert!(!holder_is_gone("test holder", &host));
    }
}
