//! A run's place in the state store: the store, the run lock (syncs only), the run's id and
//! clock, earlier runs that were interrupted, and closing a run that stops part-way. Only syncs
//! are recorded as runs: a plan (`plan`, `explain`) looks things up and leaves no trace.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use flexsync_core::ids::ExternalId;
use flexsync_core::outcome::Outcome;
use flexsync_state::{LockGuard, RunId, StateStore};

use super::lock::take_lock;
use super::memory::{Interrupted, settle_interrupted};
use super::{Mode, RunFailure, Stop};
use crate::config::Config;
use crate::report::RunReport;

/// An open run.
pub(super) struct Session {
    pub(super) store: StateStore,
    /// The sync's run in the store; `None` for a plan, which is not recorded.
    pub(super) run_id: Option<RunId>,
    pub(super) mode: Mode,
    pub(super) started: jiff::Timestamp,
    pub(super) clock: Instant,
    /// Warnings about earlier runs that stopped part-way (settled by this one).
    pub(super) interrupted: Vec<String>,
    /// Creates under way when an earlier run stopped: linked as ours if the target holds them.
    pub(super) interrupted_creates: BTreeSet<ExternalId>,
    /// Where a sync that stops part-way writes the report saying why.
    report_dir: PathBuf,
    _lock: Option<LockGuard>,
}

impl Session {
    /// Opens the state store, takes the run lock for a sync, settles interrupted runs and
    /// begins the run.
    pub(super) fn open(config: &Config, mode: Mode) -> Result<Session, RunFailure> {
        let clock = Instant::now();
        let started = jiff::Timestamp::now();
        let store = config.open_state().map_err(RunFailure::usage)?;
        let (lock, interrupted, run_id) = match mode {
            Mode::Sync => {
                let lock = take_lock(&store, started, config.run_lock_stale_after)
                    .map_err(RunFailure::usage)?;
                let interrupted = settle_interrupted(&store, started);
                let run_id = store
                    .begin_run(started, mode.kind())
                    .map_err(RunFailure::usage)?;
                (Some(lock), interrupted, Some(run_id))
            }
            Mode::Plan => (None, Interrupted::default(), None),
        };
        Ok(Session {
            store,
            run_id,
            mode,
            started,
            clock,
            interrupted: interrupted.warnings,
            interrupted_creates: interrupted.creates,
            report_dir: config.report_dir.clone(),
            _lock: lock,
        })
    }

    /// A stage's result; a failure writes a report saying why, then closes the run in the
    /// store with the outcome `stop` maps to (a finished run always has its report).
    pub(super) fn step<T, E: Into<anyhow::Error>>(
        &self,
        stop: Stop,
        result: Result<T, E>,
    ) -> Result<T, RunFailure> {
        result.map_err(|error| {
            let error = error.into();
            let outcome: Outcome = stop.into();
            if let Some(run_id) = self.run_id {
                let report = RunReport::failed(Some(run_id.0), outcome, &error);
                if let Err(error) = report.write(&self.report_dir) {
                    tracing::warn!(%error, "cannot write the report of a failed run");
                }
                let _ = self.store.finish_run(
                    run_id,
                    jiff::Timestamp::now(),
                    outcome,
                    &json!({ "error": format!("{error:#}") }),
                );
            }
            RunFailure {
                stop,
                error,
                run_id: self.run_id.map(|id| id.0),
            }
        })
    }
}
