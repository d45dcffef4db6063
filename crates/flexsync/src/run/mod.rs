//! One run as its pipeline: open the state store, read Flex and observe Winningtemp at once,
//! map, recall what the store remembers, plan, judge, apply and record. Each stage is a function
//! returning a typed value; the report is built from them in [`record`], and how the run ended
//! is one [`Outcome`], mapped to an exit code once.

use std::path::PathBuf;

use flexsync_core::current::Current;
use flexsync_core::desired::Desired;
use flexsync_core::group_plan::GroupPlan;
use flexsync_core::guard::Allowance;
use flexsync_core::plan::Plan;
use flexsync_flex::FlexClient;
use flexsync_scim::ScimClient;

pub use flexsync_core::outcome::{Outcome, RunKind};

mod apply;
mod approval;
mod files;
mod journal;
mod lock;
mod memory;
mod observe;
pub(crate) mod plan;
mod record;
mod redact;
mod session;

pub use approval::{Approved, approve_command};
pub use lock::host_name;
pub(crate) use record::Summary;

use crate::config::Config;
use crate::notify::Delivery;
use crate::report::RunReport;

/// Why a run stopped before its end; each maps to one [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The configuration, the command line or the state store cannot be used.
    Usage,
    /// An end could not be reached or read; nothing was written.
    Unreachable,
}

impl From<Stop> for Outcome {
    fn from(stop: Stop) -> Outcome {
        match stop {
            Stop::Usage => Outcome::Usage,
            Stop::Unreachable => Outcome::Unreachable,
        }
    }
}

/// A run that could not be carried out: why, and the run's id in the state store when it got
/// that far.
#[derive(Debug)]
pub struct RunFailure {
    pub stop: Stop,
    pub error: anyhow::Error,
    pub run_id: Option<i64>,
}

impl RunFailure {
    pub fn new(stop: Stop, error: impl Into<anyhow::Error>) -> RunFailure {
        RunFailure {
            stop,
            error: error.into(),
            run_id: None,
        }
    }

    pub fn usage(error: impl Into<anyhow::Error>) -> RunFailure {
        RunFailure::new(Stop::Usage, error)
    }

    pub fn unreachable(error: impl Into<anyhow::Error>) -> RunFailure {
        RunFailure::new(Stop::Unreachable, error)
    }

    pub fn outcome(&self) -> Outcome {
        self.stop.into()
    }
}

/// What a run produced, for the command line and for tests.
pub struct RunResult {
    pub report: RunReport,
    /// Where a sync's JSON report was written; `None` for a plan, or when it could not be.
    pub report_path: Option<PathBuf>,
    pub plan: Plan,
    pub group_plan: GroupPlan,
    pub desired: Desired,
    pub current: Current,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read both ends and plan; write nothing to Winningtemp.
    Plan,
    /// Plan and apply.
    Sync,
}

impl Mode {
    pub fn kind(self) -> RunKind {
        match self {
            Mode::Plan => RunKind::Plan,
            Mode::Sync => RunKind::Sync,
        }
    }
}

/// The two clients, built once per run from the configuration.
pub struct Ends {
    pub flex: FlexClient,
    /// None when only the file channel is configured.
    pub scim: Option<ScimClient>,
}

impl Ends {
    pub fn connect(config: &Config) -> Result<Ends, RunFailure> {
        let flex = FlexClient::new(config.flex.clone()).map_err(RunFailure::usage)?;
        let scim = match &config.scim {
            Some(settings) => Some(ScimClient::new(settings.clone()).map_err(RunFailure::usage)?),
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
    let session = session::Session::open(config, mode)?;
    // Both ends are read at once (reads only); a failure is still judged in the order Flex,
    // state store, Winningtemp, and stops the run before anything is written.
    let (read, observed) = tokio::join!(
        observe::read_flex(ends, config, &session),
        observe::observe(ends, config, &session),
    );
    let read = session.step(Stop::Unreachable, read)?;
    let desired = plan::map(config, &read, today);
    // What a refusal would name as its likely cause is found now, so that the Flex read goes
    // before the state store's memory and the plan join what is held.
    let causes = plan::likely_causes(config, &read, today);
    drop(read);
    let mut recalled = session.step(Stop::Usage, observe::recall(&session.store))?;
    let observed = session.step(Stop::Unreachable, observed)?;
    let plan_users = |recalled: &observe::Recalled| {
        plan::plan_users(
            config,
            &allowance,
            &desired,
            &observed,
            recalled,
            session.started,
        )
    };
    let mut users = plan_users(&recalled);
    // What flexsync wrote before tells why a value changes: it is read for the people the plan
    // changes, not for everyone, and the users are planned again with it (only the reasons of
    // those people's steps can differ).
    let written = session.store.written_of(plan::changed_people(&users.plan));
    recalled.memory.written = session.step(Stop::Usage, written)?;
    if !recalled.memory.written.is_empty() {
        users = plan_users(&recalled);
    }
    let planned = plan::plan(config, &desired, &observed, &recalled, users, today);
    let refusal = plan::judge(config, &allowance, &desired, &observed, &recalled, &planned)
        .map(|refusal| plan::with_cause(refusal, &causes));
    let plan_id = approval::plan_id(&planned);
    let (refusal, approved) = approval::settle(&session, &plan_id, refusal);
    let applied = match (mode, &refusal) {
        (Mode::Sync, None) => {
            apply::apply(
                config, ends, &session, &desired, &observed, &recalled, &planned,
            )
            .await
        }
        _ => apply::Applied::default(),
    };
    record::record(
        config,
        ends,
        session,
        record::Stages {
            desired,
            observed,
            planned,
            refusal,
            applied,
            plan_id,
            approved,
        },
    )
}

/// A sync as `flexsync sync` and the daemon carry it out: how it went, and the messages sent
/// about it.
pub struct Synced {
    /// The run (with where its JSON report was written), or why it stopped.
    pub result: Result<RunResult, RunFailure>,
    /// One per message tried (`[notify]`); a message that failed never fails the sync.
    pub deliveries: Vec<Delivery>,
}

/// One sync as `flexsync sync` carries it out: the run, its JSON report in the report folder,
/// then the notifications. The daemon's scheduled runs come through here too.
/// A report that cannot be written does not undo the run: it becomes a warning in the summary.
pub async fn sync_and_report(config: &Config, allowance: Allowance) -> Synced {
    let result = sync_and_write(config, allowance).await;
    let deliveries = match &result {
        Ok(run) => crate::notify::after_sync(config, run.outcome, &run.report).await,
        Err(failure) => {
            let report = RunReport::failed(failure.run_id, failure.outcome(), &failure.error);
            crate::notify::after_sync(config, failure.outcome(), &report).await
        }
    };
    Synced { result, deliveries }
}

async fn sync_and_write(config: &Config, allowance: Allowance) -> Result<RunResult, RunFailure> {
    let ends = Ends::connect(config)?;
    // The run writes its report; one that stopped before its plan, a report saying why.
    run(config, &ends, Mode::Sync, allowance, today(config)).await
}
