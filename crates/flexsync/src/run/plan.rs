//! The pure middle of a run: map the Flex read into the desired state, plan the users, groups
//! and files against what the target holds and the store remembers, and judge the plan.

use std::collections::BTreeMap;

use flexsync_core::desired::{Desired, Skipped};
use flexsync_core::finding::{Finding, FindingKind, Severity};
use flexsync_core::group_plan::{Grace, GroupPlan, apply_grace, plan_groups};
use flexsync_core::guard::{self, Allowance, Refusal};
use flexsync_core::ids::ExternalId;
use flexsync_core::plan::{self, Plan};
use flexsync_core::retry_hold::{self, Deferred, HoldState};
use flexsync_flex::{FlexRead, ReadWarning};

use super::files::judge_file_pauses;
use super::memory::{created_groups, user_ids};
use super::observe::{Observed, Recalled};
use crate::config::Config;
use crate::file_writer::{self, FileDiff};

/// Snapshot + settings + day -> the desired users and group tree, with every finding (the Flex
/// client's unreadable fields and records among them).
pub(crate) fn map(config: &Config, read: &FlexRead, today: jiff::civil::Date) -> Desired {
    let mut desired = flexsync_core::map::map(&read.snapshot, &config.mapping, today);
    flexsync_core::groups::build_groups(&read.snapshot, &config.groups, today, &mut desired);
    desired
        .findings
        .extend(read.warnings.iter().map(read_finding));
    // A record the client could not read at all is not known to have left: its account is held.
    for warning in read.warnings.iter().filter(|w| w.field.is_none()) {
        desired
            .skipped
            .entry(ExternalId::from(warning.record.as_str()))
            .or_insert(Skipped::Employed);
    }
    Finding::name_people(&mut desired.findings, &read.snapshot.employees);
    desired.findings.sort();
    desired
}

/// A field or record the Flex client could not read, as a finding naming both.
fn read_finding(warning: &ReadWarning) -> Finding {
    let dropped = warning.field.is_none();
    Finding {
        record: warning.record.clone(),
        field: warning.field.clone().unwrap_or_else(|| "(record)".into()),
        kind: if dropped {
            FindingKind::UnreadableRecord
        } else {
            FindingKind::UnreadableField
        },
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
        name: None,
        email: None,
    }
}

/// The files the file channel would deliver, and what changed in them since the last delivery.
pub(super) struct PlannedFiles {
    pub(super) rendered: Vec<(String, String)>,
    /// Per file, what changed; an error when the last delivery cannot be read.
    pub(super) changes: Result<BTreeMap<String, FileDiff>, String>,
    /// The users file as last delivered (None before the first delivery, or when unreadable).
    pub(super) last_users: Option<String>,
}

impl PlannedFiles {
    /// The users file about to be delivered.
    pub(super) fn users(&self) -> &str {
        self.rendered
            .iter()
            .find(|(name, _)| name == file_writer::USERS_FILE)
            .map_or("", |(_, content)| content.as_str())
    }
}

/// Everything the run would write.
pub(super) struct Planned {
    pub(super) plan: Plan,
    pub(super) group_plan: GroupPlan,
    /// Steps of records that failed lately, put off until their next try.
    pub(super) deferred: Vec<Deferred>,
    /// Records that wait (not yet due, or held after failures).
    pub(super) waits: BTreeMap<ExternalId, HoldState>,
    /// Groups waiting out their grace period before retirement.
    pub(super) grace: Grace,
    pub(super) files: Option<PlannedFiles>,
}

/// The whole plan around the users' part ([`plan_users`]): the group tree and the files.
pub(super) fn plan(
    config: &Config,
    desired: &Desired,
    observed: &Observed,
    recalled: &Recalled,
    users: PlannedUsers,
    today: jiff::civil::Date,
) -> Planned {
    let current = &observed.current;
    let PlannedUsers {
        plan,
        deferred,
        waits,
    } = users;
    let mut group_plan = match &observed.groups {
        Some((caps, target_groups)) => plan_groups(
            desired,
            target_groups,
            &user_ids(current, &recalled.memory),
            &created_groups(&recalled.memory),
            *caps,
            &config.groups,
        ),
        None => GroupPlan::default(),
    };
    let grace = apply_grace(
        &mut group_plan,
        &recalled.empty_since,
        today,
        config.groups.retire_after_days,
    );
    // The file channel delivers the whole state; its changes are judged like the plan's.
    let files = config.files.as_ref().map(|channel| {
        // A last delivery that cannot be read carries nothing; the pause guard refuses that run.
        let last_users =
            file_writer::load_last_delivery(&channel.last_delivery_dir, file_writer::USERS_FILE)
                .ok()
                .flatten();
        let carried = file_writer::CarriedRows::from_last(
            last_users.as_deref(),
            desired,
            &channel.columns.users,
        );
        let rendered =
            file_writer::render_files(desired, &channel.columns, channel.cells, &carried);
        let changes = file_writer::changes_since_last(&channel.last_delivery_dir, &rendered)
            .map_err(|error| error.to_string());
        PlannedFiles {
            rendered,
            changes,
            last_users,
        }
    });
    Planned {
        plan,
        group_plan,
        deferred,
        waits,
        grace,
        files,
    }
}

/// The users' part of a plan.
pub(super) struct PlannedUsers {
    pub(super) plan: Plan,
    pub(super) deferred: Vec<Deferred>,
    pub(super) waits: BTreeMap<ExternalId, HoldState>,
}

/// The users' steps, with those of records that failed lately put off.
pub(super) fn plan_users(
    config: &Config,
    allowance: &Allowance,
    desired: &Desired,
    observed: &Observed,
    recalled: &Recalled,
    now: jiff::Timestamp,
) -> PlannedUsers {
    let mut plan = match observed.over_scim {
        true => plan::plan(desired, &observed.current, &recalled.memory, &config.plan),
        false => Plan::default(),
    };
    // Records that failed lately wait their turn; held ones are listed in every report, unless
    // the operator asks for them to be tried now.
    let waits = if allowance.retry_held {
        BTreeMap::new()
    } else {
        retry_hold::held_back(&recalled.failures, now, &config.hold)
    };
    let deferred = retry_hold::defer(&mut plan, &waits, now);
    PlannedUsers {
        plan,
        deferred,
        waits,
    }
}

/// The people whose planned steps say why by what flexsync wrote to them before (updates,
/// pauses and reactivations): the values written are read for them only.
pub(super) fn changed_people(plan: &Plan) -> Vec<&ExternalId> {
    plan.steps
        .iter()
        .filter(|step| {
            matches!(
                step.operation,
                plan::Operation::UpdateUser { .. }
                    | plan::Operation::DeactivateUser { .. }
                    | plan::Operation::ReactivateUser { .. }
            )
        })
        .map(|step| step.operation.external_id())
        .collect()
}

/// The guards' verdict on the plan: `None` lets it through.
pub(super) fn judge(
    config: &Config,
    allowance: &Allowance,
    desired: &Desired,
    observed: &Observed,
    recalled: &Recalled,
    planned: &Planned,
) -> Option<Refusal> {
    let refusal = guard::judge(
        &planned.plan,
        desired,
        &observed.current,
        &config.guards,
        allowance,
        recalled.last_source_records,
        guard::group_retirements(&planned.group_plan),
    );
    if refusal.is_some() {
        return refusal;
    }
    let (channel, files) = config.files.as_ref().zip(planned.files.as_ref())?;
    judge_file_pauses(channel, &files.rendered, &config.guards, allowance)
}

/// What in the configuration or the Flex data most likely explains a refused plan: levels or
/// mappings naming what the data lacks, and companies that returned no one.
pub(super) fn likely_causes(
    config: &Config,
    read: &FlexRead,
    today: jiff::civil::Date,
) -> Vec<String> {
    let snapshot = &read.snapshot;
    let scope = flexsync_core::source_check::scope_gaps(snapshot, &config.mapping, today);
    let mut causes: Vec<String> =
        flexsync_core::source_check::missing_sources(snapshot, &config.groups, &config.mapping)
            .into_iter()
            .chain(scope.problems)
            .map(|gap| format!("{}: {}", gap.key, gap.problem))
            .collect();
    for company in &snapshot.companies {
        if !snapshot
            .employees
            .iter()
            .any(|e| *e.company_id == company.id)
        {
            causes.push(format!(
                "flex.companies: company {} {} returned no employees",
                company.number.map(|n| n.to_string()).unwrap_or_default(),
                company.name.as_deref().unwrap_or(&company.id)
            ));
        }
    }
    causes
}

/// A refusal with its likely cause first, so the fix is read before the flag that lets the
/// damage through.
pub(super) fn with_cause(mut refusal: Refusal, causes: &[String]) -> Refusal {
    if !causes.is_empty() {
        refusal.problem = format!("likely cause: {}. {}", causes.join("; "), refusal.problem);
        refusal.remedy = format!(
            "fix the cause and run again (`flexsync check` lists it); only if the change is \
             real: {}",
            refusal.remedy
        );
    }
    refusal
}
