//! Retention: runs older than the configured number of days are pruned with their journal rows
//! and named changes, except what later runs still need (the last successful sync, which the
//! guards compare with, and any intent whose outcome was never written).

use crate::db::params;
use jiff::Timestamp;

use crate::error::StateError;
use crate::runs::RunId;
use crate::store::StateStore;

/// What one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: usize,
    pub operations: usize,
    pub changes: usize,
}

impl StateStore {
    /// Removes the runs started before `cutoff`, their finished operations and their changes.
    /// Kept: the last successful sync, and runs with an intent that has no outcome.
    pub fn prune_before(&self, cutoff: Timestamp) -> Result<Pruned, StateError> {
        let keep = self.last_successful_run()?.map(|run| run.id);
        let old: Vec<RunId> = self
            .run_starts()?
            .into_iter()
            .filter(|(id, started)| *started < cutoff && Some(*id) != keep)
            .map(|(id, _)| id)
            .collect();
        let Some(newest) = old.iter().max().copied() else {
            return Ok(Pruned::default());
        };
        let kept = keep.map_or(0, |id| id.0);
        let sql = self.sql("prune old runs");
        self.in_transaction("prune old runs", |tx| {
            let changes = tx
                .execute(
                    "DELETE FROM changes WHERE run_id <= ?1 AND run_id <> ?2",
                    params![newest.0, kept],
                )
                .map_err(&sql)?;
            let operations = tx
                .execute(
                    "DELETE FROM operations
                     WHERE run_id <= ?1 AND run_id <> ?2 AND outcome IS NOT NULL",
                    params![newest.0, kept],
                )
                .map_err(&sql)?;
            let runs = tx
                .execute(
                    "DELETE FROM runs WHERE id <= ?1 AND id <> ?2
                     AND id NOT IN (SELECT run_id FROM operations)",
                    params![newest.0, kept],
                )
                .map_err(&sql)?;
            Ok(Pruned {
                runs,
                operations,
                changes,
            })
        })
    }

    /// When the oldest run the store still holds started (how far back `history` reaches).
    pub fn oldest_run_started(&self) -> Result<Option<Timestamp>, StateError> {
        Ok(self
            .run_starts()?
            .into_iter()
            .map(|(_, started)| started)
            .min())
    }

    fn run_starts(&self) -> Result<Vec<(RunId, Timestamp)>, StateError> {
        let raw: Vec<(i64, String)> =
            self.rows("list run starts", "SELECT id, started FROM runs", params![])?;
        raw.into_iter()
            .map(|(id, started)| Ok((RunId(id), self.timestamp("runs", id, "started", &started)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeRow;
    use crate::testing::both_backends;
    use flexsync_core::ids::ExternalId;
    use flexsync_core::outcome::{Outcome, RunKind};

    fn at(day: i8) -> Timestamp {
        jiff::civil::date(2026, 11, day)
            .at(1, 0, 0, 0)
            .in_tz("UTC")
            .unwrap()
            .timestamp()
    }

    fn run(store: &StateStore, day: i8, outcome: Outcome, open_intent: bool) -> RunId {
        let id = store.begin_run(at(day), RunKind::Sync).unwrap();
        let op = store
            .record_intent(
                id,
                &ExternalId::from("e1"),
                "create",
                &serde_json::json!({}),
            )
            .unwrap();
        if !open_intent {
            store
                .record_outcome(
                    op,
                    crate::runs::OpOutcome::Failed {
                        message: "x".into(),
                    },
                    at(day),
                )
                .unwrap();
        }
        let change = ChangeRow {
            external_id: ExternalId::from("e1"),
            name: "Anna".into(),
            email: None,
            action: "create".into(),
            result: "ok".into(),
            detail: serde_json::json!({}),
        };
        store.record_changes(id, [change]).unwrap();
        store
            .finish_run(id, at(day), outcome, &serde_json::json!({}))
            .unwrap();
        id
    }

    both_backends! {
        fn old_runs_go_but_the_last_success_and_open_intents_stay(db) {
            let store = db.open();
            let oldest = run(&store, 1, Outcome::Done, false);
            let crashed = run(&store, 2, Outcome::Unreachable, true);
            let last_success = run(&store, 3, Outcome::Done, false);
            let refused = run(&store, 4, Outcome::Refused, false);
            let recent = run(&store, 20, Outcome::Refused, false);

            let pruned = store.prune_before(at(10)).unwrap();
            assert_eq!(
                pruned,
                Pruned {
                    runs: 2,
                    operations: 2,
                    changes: 3
                }
            );
            let left: Vec<RunId> = store.runs(10).unwrap().iter().map(|r| r.id).collect();
            assert_eq!(left, [recent, last_success, crashed]);
            assert!(!left.contains(&oldest) && !left.contains(&refused));
            assert_eq!(store.unfinished_intents().unwrap().len(), 1);
            assert_eq!(store.oldest_run_started().unwrap(), Some(at(2)));
            // Nothing older: nothing more to prune.
            assert_eq!(store.prune_before(at(10)).unwrap().runs, 0);
        }
    }
}
