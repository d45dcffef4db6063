//! One run, start to end: read Flex, map, observe Winningtemp, plan, judge, apply, report.
//! `plan` stops after judging; `sync` goes on. The outcome carries the exit code.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use flexsync_core::current::Current;
use flexsync_core::desired::Desired;
use flexsync_core::finding::{Finding, Severity};
use flexsync_core::group_plan::{
    GroupCapabilities, GroupPlan, TargetGroup, apply_grace, plan_groups,
};
use flexsync_core::guard::{self, Allowance};
use flexsync_core::plan::{self, Plan};
use flexsync_core::retry_hold::{self, RecordFailure};
use flexsync_flex::FlexClient;
use flexsync_scim::ScimClient;
use flexsync_state::{RunOutcome, StateStore};

mod files;
mod lock;
mod memory;

use files::{deliver_files, judge_file_pauses};
use lock::take_lock;
use memory::{
    StoreJournal, created_groups, reconcile_memory, remember_empty_groups, remember_groups,
    settle_interrupted, user_ids,
};

use crate::config::Config;
use crate::file_writer;
use crate::report::RunReport;
use flexsync_winningtemp::users::{self, Applier};
use flexsync_winningtemp::{AttributeMap, groups};

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
    /// The run's id in the state store, when it got that far.
    pub run_id: Option<i64>,
}

impl RunFailure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> RunFailure {
        RunFailure {
            exit,
            error: error.into(),
            run_id: None,
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
        RunFailure {
            run_id: Some(run_id.0),
            ..RunFailure::new(exit, error)
        }
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
    let map = config.attribute_map();
    let memory = store
        .memory()
        .map_err(|e| fail(&store, Exit::Usage, e.into()))?;
    let observed = match &ends.scim {
        Some(scim) => match observe(scim, &map, config).await {
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
            class: f.class,
            failed_step: f.failed_step,
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
    let managed_groups = desired
        .groups
        .values()
        .filter(|g| !g.managers.is_empty())
        .count();
    if observed.groups.is_some() && managed_groups > 0 {
        report.warnings.push(format!(
            "group managers ({managed_groups} groups) have no SCIM attribute to travel in; {}",
            if config.files.is_some() {
                "they are delivered in wt_groups.csv"
            } else {
                "configure [files] to deliver them"
            }
        ));
    }
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
    report
        .warnings
        .splice(0..0, config.warnings.iter().cloned());
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
    if let Some((channel, rendered, changes)) = &files {
        match changes {
            Ok(changes) => report.file_changes = changes.clone(),
            Err(error) => report
                .warnings
                .push(format!("cannot read the last delivery: {error}")),
        }
        if report.refused.is_none() {
            report.refused = judge_file_pauses(channel, rendered, &config.guards, &allowance);
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
            // What the target shows wins over what we remember.
            let known = user_ids(&current, &memory);
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
                let outcomes = groups::apply_group_plan(
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
            report.delivery = Some(deliver_files(channel, rendered).await);
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

/// What the SCIM end holds: users, and groups when the group tree is configured.
#[derive(Default)]
struct Observed {
    current: Current,
    groups: Option<(GroupCapabilities, Vec<TargetGroup>)>,
}

async fn observe(
    scim: &ScimClient,
    map: &AttributeMap,
    config: &Config,
) -> anyhow::Result<Observed> {
    let (current, info) = users::observe(scim, map).await?;
    let groups = if config.groups.levels.is_empty() && !config.groups.company_top {
        None
    } else {
        let caps = groups::group_capabilities(&info, &config.group_parent_attribute);
        let target = groups::observe_groups(scim, &config.group_parent_attribute).await?;
        Some((caps, target))
    };
    Ok(Observed { current, groups })
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
