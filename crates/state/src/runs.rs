//! Runs and the operations they perform: each intent is written before acting and its outcome
//! after, so an intent without an outcome shows where an earlier process stopped.

use std::fmt;

use crate::db::{Value, params};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::outcome::{Outcome, RunKind};

use crate::error::StateError;
use crate::store::StateStore;

/// Records an intent and returns its id (see [`StateStore::record_intent`]).
pub(crate) const INTENT: &str = "INSERT INTO operations (run_id, external_id, operation, detail)
     VALUES (?1, ?2, ?3, ?4) RETURNING id";
/// Records the outcome of an intent that has none yet (see [`StateStore::record_outcome`]).
pub(crate) const OUTCOME: &str =
    "UPDATE operations SET outcome = ?2, target_id = ?3, message = ?4, finished = ?5
     WHERE id = ?1 AND outcome IS NULL";

/// The values of [`OUTCOME`] for `op`.
pub(crate) fn outcome_params(op: OpId, outcome: &OpOutcome, at: &str) -> Vec<Value> {
    let (kind, target_id, message) = match outcome {
        OpOutcome::Done { target_id } => ("done", Some(target_id.as_str()), None),
        OpOutcome::Failed { message } => ("failed", None, Some(message.as_str())),
    };
    params![op.0, kind, target_id, message, at]
}

/// The key in a run summary that holds how many source records the run read.
pub const SOURCE_RECORDS: &str = "source_records";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub kind: RunKind,
    pub started: Timestamp,
    /// `None` while running, or when the process stopped before finishing the run.
    pub finished: Option<Timestamp>,
    pub outcome: Option<Outcome>,
    pub summary: Option<serde_json::Value>,
}

impl RunRecord {
    /// The summary of a run closed by a later one because its process stopped before the run
    /// ended (killed, or its daemon lost the tenant).
    pub fn interrupted_summary() -> serde_json::Value {
        serde_json::json!({ "error": "interrupted" })
    }

    /// Whether a later run closed this one as interrupted.
    pub fn interrupted(&self) -> bool {
        self.summary
            .as_ref()
            .is_some_and(|summary| summary["error"] == "interrupted")
    }

    /// How the run ended, as people read it: its outcome, `interrupted`, or `unfinished`.
    pub fn ending(&self) -> &'static str {
        match self.outcome {
            _ if self.interrupted() => "interrupted",
            Some(outcome) => outcome.label(),
            None => "unfinished",
        }
    }
}

/// What came of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OpOutcome {
    Done { target_id: TargetId },
    Failed { message: String },
}

/// One operation as stored: the intent, and its outcome once known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: OpId,
    pub run: RunId,
    pub external_id: ExternalId,
    pub operation: String,
    pub detail: serde_json::Value,
    pub outcome: Option<OpOutcome>,
    pub finished: Option<Timestamp>,
}

const RUN_COLUMNS: &str = "id, kind, started, finished, outcome, summary";
const OP_COLUMNS: &str =
    "id, run_id, external_id, operation, detail, outcome, target_id, message, finished";

type RawRun = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);
type RawOp = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl StateStore {
    /// Starts a run of `kind`.
    pub fn begin_run(&self, started: Timestamp, kind: RunKind) -> Result<RunId, StateError> {
        self.insert(
            "begin a run",
            "INSERT INTO runs (kind, started) VALUES (?1, ?2) RETURNING id",
            params![kind.label(), started.to_string()],
        )
        .map(RunId)
    }

    /// Finishes an open run. Put [`SOURCE_RECORDS`] in the summary of every run that read the
    /// source, so [`StateStore::last_source_count`] can find it.
    pub fn finish_run(
        &self,
        run: RunId,
        finished: Timestamp,
        outcome: Outcome,
        summary: &serde_json::Value,
    ) -> Result<(), StateError> {
        let operation = "finish a run";
        let changed = self.execute(
            operation,
            "UPDATE runs SET finished = ?2, outcome = ?3, summary = ?4
             WHERE id = ?1 AND finished IS NULL",
            params![
                run.0,
                finished.to_string(),
                outcome.label(),
                summary.to_string()
            ],
        )?;
        if changed == 0 {
            return Err(self.missing(operation, format!("no open run {run}")));
        }
        Ok(())
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_runs("list runs", "ORDER BY id DESC LIMIT ?1", params![limit])
    }

    /// The run `id`, if the store holds it.
    pub fn run(&self, id: RunId) -> Result<Option<RunRecord>, StateError> {
        let runs = self.query_runs("read a run", "WHERE id = ?1", params![id.0])?;
        Ok(runs.into_iter().next())
    }

    /// The newest `limit` runs of `kind`, newest first.
    pub fn runs_of_kind(&self, kind: RunKind, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_runs(
            "list runs of a kind",
            "WHERE kind = ?1 ORDER BY id DESC LIMIT ?2",
            params![kind.label(), limit],
        )
    }

    /// The newest `sync` run that completed its work: outcome `done` or `record_failures` (record
    /// failures do not make the source read less trustworthy). `plan`, refused and failed runs
    /// never count, so a refused shrink never becomes the next baseline.
    pub fn last_successful_run(&self) -> Result<Option<RunRecord>, StateError> {
        let runs = self.query_runs(
            "find the last successful run",
            "WHERE kind = ?1 AND outcome IN ('done', 'record_failures') ORDER BY id DESC LIMIT 1",
            params![RunKind::Sync.label()],
        )?;
        Ok(runs.into_iter().next())
    }

    /// The newest finished `sync` run whose outcome is one of `outcomes` (the daemon's last run
    /// and last success after a restart).
    pub fn last_sync_ending(&self, outcomes: &[Outcome]) -> Result<Option<RunRecord>, StateError> {
        let labels: Vec<String> = outcomes
            .iter()
            .map(|o| format!("'{}'", o.label()))
            .collect();
        let runs = self.query_runs(
            "find the last sync with an outcome",
            &format!(
                "WHERE kind = ?1 AND finished IS NOT NULL AND outcome IN ({}) ORDER BY id DESC LIMIT 1",
                labels.join(", ")
            ),
            params![RunKind::Sync.label()],
        )?;
        Ok(runs.into_iter().next())
    }

    /// `source_records` from the summary of [`StateStore::last_successful_run`]; `None` when
    /// there is no such run or its summary lacks the number.
    pub fn last_source_count(&self) -> Result<Option<usize>, StateError> {
        Ok(self.last_successful_run()?.and_then(|run| {
            run.summary
                .as_ref()
                .and_then(|summary| summary.get(SOURCE_RECORDS))
                .and_then(serde_json::Value::as_u64)
                .and_then(|count| usize::try_from(count).ok())
        }))
    }

    /// Records what is about to be done, before doing it.
    pub fn record_intent(
        &self,
        run: RunId,
        external_id: &ExternalId,
        operation: &str,
        detail: &serde_json::Value,
    ) -> Result<OpId, StateError> {
        self.insert(
            "record an intent",
            INTENT,
            params![run.0, external_id.as_str(), operation, detail.to_string()],
        )
        .map(OpId)
    }

    /// Records what came of an intent. Each intent gets exactly one outcome.
    pub fn record_outcome(
        &self,
        op: OpId,
        outcome: OpOutcome,
        at: Timestamp,
    ) -> Result<(), StateError> {
        let operation = "record an outcome";
        let changed = self.execute(
            operation,
            OUTCOME,
            outcome_params(op, &outcome, &at.to_string()),
        )?;
        if changed == 0 {
            return Err(self.missing(operation, format!("no operation {op} without an outcome")));
        }
        Ok(())
    }

    /// The operations of one run, in the order they were recorded.
    pub fn operations(&self, run: RunId) -> Result<Vec<OperationRecord>, StateError> {
        self.query_ops(
            "list a run's operations",
            "WHERE run_id = ?1 ORDER BY id",
            params![run.0],
        )
    }

    /// Every intent that has no outcome, oldest first: the process stopped between acting and
    /// recording, so the target may or may not hold the change. Call this after taking the run
    /// lock and before recording new intents; settle each one with
    /// [`StateStore::record_outcome`] (e.g. `Failed { message: "interrupted" }`) once the
    /// target has been checked, and it stops being reported.
    pub fn unfinished_intents(&self) -> Result<Vec<OperationRecord>, StateError> {
        self.query_ops(
            "list unfinished intents",
            "WHERE outcome IS NULL ORDER BY id",
            params![],
        )
    }

    /// The runs that `SELECT ... FROM runs {clauses}` finds.
    fn query_runs(
        &self,
        operation: &'static str,
        clauses: &str,
        params: Vec<Value>,
    ) -> Result<Vec<RunRecord>, StateError> {
        let query = format!("SELECT {RUN_COLUMNS} FROM runs {clauses}");
        let raw: Vec<RawRun> = self.rows(operation, &query, params)?;
        raw.into_iter().map(|row| self.decode_run(row)).collect()
    }

    /// The operations that `SELECT ... FROM operations {clauses}` finds.
    fn query_ops(
        &self,
        operation: &'static str,
        clauses: &str,
        params: Vec<Value>,
    ) -> Result<Vec<OperationRecord>, StateError> {
        let query = format!("SELECT {OP_COLUMNS} FROM operations {clauses}");
        let raw: Vec<RawOp> = self.rows(operation, &query, params)?;
        raw.into_iter().map(|row| self.decode_op(row)).collect()
    }

    fn decode_run(&self, raw: RawRun) -> Result<RunRecord, StateError> {
        let (id, kind, started, finished, outcome, summary) = raw;
        let outcome = outcome
            .map(|text| {
                Outcome::parse(&text)
                    .ok_or_else(|| self.corrupt("runs", id, "outcome", format!("{text:?}")))
            })
            .transpose()?;
        let kind = RunKind::parse(&kind)
            .ok_or_else(|| self.corrupt("runs", id, "kind", format!("{kind:?}")))?;
        Ok(RunRecord {
            id: RunId(id),
            kind,
            started: self.timestamp("runs", id, "started", &started)?,
            finished: finished
                .map(|text| self.timestamp("runs", id, "finished", &text))
                .transpose()?,
            outcome,
            summary: summary
                .map(|text| self.json("runs", id, "summary", &text))
                .transpose()?,
        })
    }

    fn decode_op(&self, raw: RawOp) -> Result<OperationRecord, StateError> {
        let (id, run, external_id, operation, detail, outcome, target_id, message, finished) = raw;
        let outcome = match outcome.as_deref() {
            None => None,
            Some("done") => Some(OpOutcome::Done {
                target_id: TargetId::from(target_id.unwrap_or_default()),
            }),
            Some("failed") => Some(OpOutcome::Failed {
                message: message.unwrap_or_default(),
            }),
            Some(other) => {
                return Err(self.corrupt("operations", id, "outcome", format!("{other:?}")));
            }
        };
        Ok(OperationRecord {
            id: OpId(id),
            run: RunId(run),
            external_id: ExternalId::from(external_id),
            operation,
            detail: self.json("operations", id, "detail", &detail)?,
            outcome,
            finished: finished
                .map(|text| self.timestamp("operations", id, "finished", &text))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    both_backends! {
        fn run_lifecycle_is_listed_newest_first(db) {
            let store = db.open();
            let first = store
                .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                .unwrap();
            store
                .finish_run(
                    first,
                    at("2025-01-01T06:05:00Z"),
                    Outcome::Done,
                    &json!({"source_records": 10}),
                )
                .unwrap();
            let second = store
                .begin_run(at("2025-01-02T06:00:00Z"), RunKind::Plan)
                .unwrap();
            assert!(second > first);

            let runs = store.runs(10).unwrap();
            assert_eq!(runs.len(), 2);
            assert_eq!(runs[0].id, second);
            assert_eq!(runs[0].kind, RunKind::Plan);
            assert_eq!(runs[0].finished, None);
            assert_eq!(runs[0].outcome, None);
            assert_eq!(runs[0].summary, None);
            assert_eq!(runs[1].id, first);
            assert_eq!(runs[1].started, at("2025-01-01T06:00:00Z"));
            assert_eq!(runs[1].finished, Some(at("2025-01-01T06:05:00Z")));
            assert_eq!(runs[1].outcome, Some(Outcome::Done));
            assert_eq!(runs[1].summary, Some(json!({"source_records": 10})));

            assert_eq!(store.runs(1).unwrap().len(), 1);
            assert_eq!(store.runs(1).unwrap()[0].id, second);
        }
    }

    both_backends! {
        fn a_run_is_finished_once(db) {
            let store = db.open();
            let run = store
                .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                .unwrap();
            let done = at("2025-01-01T06:01:00Z");
            store
                .finish_run(run, done, Outcome::Unreachable, &json!({}))
                .unwrap();
            let again = store.finish_run(run, done, Outcome::Done, &json!({}));
            assert!(
                matches!(again, Err(StateError::Missing { .. })),
                "{again:?}"
            );
            let unknown = store.finish_run(RunId(999), done, Outcome::Done, &json!({}));
            let error = unknown.unwrap_err().to_string();
            assert!(error.contains("999"), "{error}");
            assert_eq!(
                store.runs(5).unwrap()[0].outcome,
                Some(Outcome::Unreachable)
            );
        }
    }

    both_backends! {
        fn last_successful_run_skips_plans_refusals_failures_and_open_runs(db) {
            let store = db.open();
            assert_eq!(store.last_successful_run().unwrap(), None);
            assert_eq!(store.last_source_count().unwrap(), None);

            let finish = |kind: RunKind, outcome: Option<Outcome>, count: u64| {
                let run = store.begin_run(at("2025-01-01T06:00:00Z"), kind).unwrap();
                if let Some(outcome) = outcome {
                    store
                        .finish_run(
                            run,
                            at("2025-01-01T06:01:00Z"),
                            outcome,
                            &json!({ "source_records": count }),
                        )
                        .unwrap();
                }
                run
            };
            finish(RunKind::Sync, Some(Outcome::Done), 100);
            let partial = finish(RunKind::Sync, Some(Outcome::RecordFailures), 98);
            finish(RunKind::Sync, Some(Outcome::Refused), 3);
            finish(RunKind::Sync, Some(Outcome::Unreachable), 0);
            finish(RunKind::Plan, Some(Outcome::Done), 5);
            finish(RunKind::Sync, None, 0);

            let last = store.last_successful_run().unwrap().unwrap();
            assert_eq!(last.id, partial);
            assert_eq!(store.last_source_count().unwrap(), Some(98));
        }
    }

    both_backends! {
        fn a_summary_without_source_records_gives_no_count(db) {
            let store = db.open();
            let run = store
                .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                .unwrap();
            store
                .finish_run(
                    run,
                    at("2025-01-01T06:01:00Z"),
                    Outcome::Done,
                    &json!({"created": 4}),
                )
                .unwrap();
            assert!(store.last_successful_run().unwrap().is_some());
            assert_eq!(store.last_source_count().unwrap(), None);
        }
    }

    both_backends! {
        fn intents_and_outcomes_are_kept_per_run_in_order(db) {
            let store = db.open();
            let run = store
                .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                .unwrap();
            let other = store
                .begin_run(at("2025-01-01T07:00:00Z"), RunKind::Sync)
                .unwrap();
            let create = store
                .record_intent(run, &"E1".into(), "create", &json!({"userName": "a@x.se"}))
                .unwrap();
            let update = store
                .record_intent(
                    run,
                    &"E2".into(),
                    "update",
                    &json!({"givenName": ["A", "B"]}),
                )
                .unwrap();
            store
                .record_intent(other, &"E3".into(), "deactivate", &json!(null))
                .unwrap();

            let done_at = at("2025-01-01T06:00:05Z");
            store
                .record_outcome(
                    create,
                    OpOutcome::Done {
                        target_id: "T1".into(),
                    },
                    done_at,
                )
                .unwrap();
            store
                .record_outcome(
                    update,
                    OpOutcome::Failed {
                        message: "400 invalidValue".into(),
                    },
                    done_at,
                )
                .unwrap();

            let ops = store.operations(run).unwrap();
            assert_eq!(ops.len(), 2);
            assert_eq!(ops[0].id, create);
            assert_eq!(ops[0].run, run);
            assert_eq!(ops[0].external_id, "E1");
            assert_eq!(ops[0].operation, "create");
            assert_eq!(ops[0].detail, json!({"userName": "a@x.se"}));
            assert_eq!(
                ops[0].outcome,
                Some(OpOutcome::Done {
                    target_id: "T1".into()
                })
            );
            assert_eq!(ops[0].finished, Some(done_at));
            assert_eq!(ops[1].id, update);
            assert_eq!(
                ops[1].outcome,
                Some(OpOutcome::Failed {
                    message: "400 invalidValue".into()
                })
            );
            assert_eq!(store.operations(other).unwrap().len(), 1);
        }
    }

    both_backends! {
        fn an_outcome_is_recorded_once(db) {
            let store = db.open();
            let run = store
                .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                .unwrap();
            let op = store
                .record_intent(run, &"E1".into(), "create", &json!({}))
                .unwrap();
            let done = OpOutcome::Done {
                target_id: "T1".into(),
            };
            let t = at("2025-01-01T06:00:01Z");
            store.record_outcome(op, done.clone(), t).unwrap();
            let again = store.record_outcome(op, done, t);
            assert!(
                matches!(again, Err(StateError::Missing { .. })),
                "{again:?}"
            );
            assert_eq!(
                store.operations(run).unwrap()[0].outcome,
                Some(OpOutcome::Done {
                    target_id: "T1".into()
                })
            );
        }
    }

    both_backends! {
        fn an_intent_for_an_unknown_run_is_refused(db) {
            let store = db.open();
            let result = store.record_intent(RunId(42), &"E1".into(), "create", &json!({}));
            assert!(
                matches!(result, Err(StateError::Sql { .. } | StateError::Postgres { .. })),
                "{result:?}"
            );
        }
    }

    both_backends! {
        fn unfinished_intents_survive_a_crash_until_settled(db) {
            let (crashed_run, pending) = {
                let store = db.open();
                let run = store
                    .begin_run(at("2025-01-01T06:00:00Z"), RunKind::Sync)
                    .unwrap();
                let finished = store
                    .record_intent(run, &"E1".into(), "create", &json!({}))
                    .unwrap();
                store
                    .record_outcome(
                        finished,
                        OpOutcome::Done {
                            target_id: "T1".into(),
                        },
                        at("2025-01-01T06:00:01Z"),
                    )
                    .unwrap();
                let pending = store
                    .record_intent(run, &"E2".into(), "update", &json!({"active": false}))
                    .unwrap();
                // The process dies here: no outcome, no finish_run.
                (run, pending)
            };

            let store = db.open();
            let unfinished = store.unfinished_intents().unwrap();
            assert_eq!(unfinished.len(), 1);
            assert_eq!(unfinished[0].id, pending);
            assert_eq!(unfinished[0].run, crashed_run);
            assert_eq!(unfinished[0].external_id, "E2");
            assert_eq!(unfinished[0].operation, "update");
            assert_eq!(unfinished[0].detail, json!({"active": false}));
            assert_eq!(unfinished[0].outcome, None);
            assert_eq!(store.runs(1).unwrap()[0].finished, None);

            store
                .record_outcome(
                    pending,
                    OpOutcome::Failed {
                        message: "interrupted".into(),
                    },
                    at("2025-01-02T06:00:00Z"),
                )
                .unwrap();
            assert!(store.unfinished_intents().unwrap().is_empty());
        }
    }
}
