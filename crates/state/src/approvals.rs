//! Refused plans and their approvals: a refusal records the plan's identity; `flexsync approve`
//! marks it approved (who, when); the next sync with the same plan goes through on it once and
//! marks it used. An approval is only good until a sync goes through: after that the plans it
//! was about are history.

use crate::db::params;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::runs::RunId;
use crate::store::StateStore;

/// A refusal as a run records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalRow {
    /// The guard that refused, e.g. `deactivations`.
    pub guard: String,
    /// The refused plan's identity.
    pub plan_id: String,
    pub problem: String,
    pub remedy: String,
    /// Planned steps per kind.
    pub counts: serde_json::Value,
}

/// A refusal as stored, with its approval and use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRefusal {
    pub run: RunId,
    pub refusal: RefusalRow,
    /// Who approved it, and when.
    pub approved: Option<(String, Timestamp)>,
    /// The run that went through on the approval, and when.
    pub used: Option<(RunId, Timestamp)>,
}

type RawRefusal = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

const COLUMNS: &str = "run_id, guard, plan_id, problem, remedy, counts, approved_by, \
                       approved_at, used_by, used_at";

impl StateStore {
    /// Records that `run` was refused.
    pub fn record_refusal(&self, run: RunId, refusal: &RefusalRow) -> Result<(), StateError> {
        self.execute(
            "record a refusal",
            "INSERT INTO refusals (run_id, guard, plan_id, problem, remedy, counts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run.0,
                refusal.guard,
                refusal.plan_id,
                refusal.problem,
                refusal.remedy,
                refusal.counts.to_string()
            ],
        )?;
        Ok(())
    }

    /// The refusal of `run`, if it was refused.
    pub fn refusal(&self, run: RunId) -> Result<Option<StoredRefusal>, StateError> {
        let found = self.query_refusals("read a refusal", "WHERE run_id = ?1", params![run.0])?;
        Ok(found.into_iter().next())
    }

    /// Approves the refusal of `run`; false when it is not there or was approved already.
    pub fn approve(&self, run: RunId, by: &str, at: Timestamp) -> Result<bool, StateError> {
        let changed = self.execute(
            "approve a refused plan",
            "UPDATE refusals SET approved_by = ?2, approved_at = ?3
             WHERE run_id = ?1 AND approved_at IS NULL",
            params![run.0, by, at.to_string()],
        )?;
        Ok(changed == 1)
    }

    /// The approval that lets `plan_id` through now: approved, not used, and given for a run
    /// refused after the last sync that went through.
    pub fn approval_for(&self, plan_id: &str) -> Result<Option<StoredRefusal>, StateError> {
        let found = self.query_refusals(
            "find an approval",
            "WHERE approved_at IS NOT NULL AND used_by IS NULL AND run_id > COALESCE(
                 (SELECT max(id) FROM runs
                  WHERE kind = 'sync' AND outcome IN ('done', 'record_failures')), 0)
             AND plan_id = ?1 ORDER BY run_id DESC LIMIT 1",
            params![plan_id],
        )?;
        Ok(found.into_iter().next())
    }

    /// Marks the approval of `refused` as used by `run`; false when it was used already.
    pub fn use_approval(
        &self,
        refused: RunId,
        run: RunId,
        at: Timestamp,
    ) -> Result<bool, StateError> {
        let changed = self.execute(
            "use an approval",
            "UPDATE refusals SET used_by = ?2, used_at = ?3
             WHERE run_id = ?1 AND approved_at IS NOT NULL AND used_by IS NULL",
            params![refused.0, run.0, at.to_string()],
        )?;
        Ok(changed == 1)
    }

    fn query_refusals(
        &self,
        operation: &'static str,
        clauses: &str,
        params: Vec<crate::db::Value>,
    ) -> Result<Vec<StoredRefusal>, StateError> {
        let query = format!("SELECT {COLUMNS} FROM refusals {clauses}");
        let raw: Vec<RawRefusal> = self.rows(operation, &query, params)?;
        raw.into_iter().map(|raw| self.refusal_of(raw)).collect()
    }

    fn refusal_of(&self, raw: RawRefusal) -> Result<StoredRefusal, StateError> {
        let (run, guard, plan_id, problem, remedy, counts, by, at, used_by, used_at) = raw;
        let approved = match (by, at) {
            (Some(by), Some(at)) => {
                Some((by, self.timestamp("refusals", run, "approved_at", &at)?))
            }
            _ => None,
        };
        let used = match (used_by, used_at) {
            (Some(by), Some(at)) => {
                Some((RunId(by), self.timestamp("refusals", run, "used_at", &at)?))
            }
            _ => None,
        };
        Ok(StoredRefusal {
            run: RunId(run),
            refusal: RefusalRow {
                guard,
                plan_id,
                problem,
                remedy,
                counts: self.json("refusals", run, "counts", &counts)?,
            },
            approved,
            used,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;
    use flexsync_core::outcome::{Outcome, RunKind};
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn refusal(plan_id: &str) -> RefusalRow {
        RefusalRow {
            guard: "deactivations".into(),
            plan_id: plan_id.into(),
            problem: "12 users would be paused".into(),
            remedy: "review `flexsync plan`".into(),
            counts: json!({"pause": 12}),
        }
    }

    fn finished(store: &StateStore, outcome: Outcome) -> RunId {
        let run = store
            .begin_run(at("2026-11-27T01:00:00Z"), RunKind::Sync)
            .unwrap();
        store
            .finish_run(run, at("2026-11-27T01:01:00Z"), outcome, &json!({}))
            .unwrap();
        run
    }

    both_backends! {
        fn an_approval_lets_its_plan_through_once(db) {
            let store = db.open();
            let refused = finished(&store, Outcome::Refused);
            store.record_refusal(refused, &refusal("00ab")).unwrap();
            assert_eq!(
                store.approval_for("00ab").unwrap(),
                None,
                "not approved yet"
            );
            assert!(
                store
                    .approve(refused, "alice", at("2026-11-27T08:00:00Z"))
                    .unwrap()
            );
            assert!(
                !store
                    .approve(refused, "bob", at("2026-11-27T08:05:00Z"))
                    .unwrap(),
                "approved once"
            );
            assert_eq!(store.approval_for("00cd").unwrap(), None, "another plan");
            let approval = store.approval_for("00ab").unwrap().unwrap();
            assert_eq!(approval.run, refused);
            assert_eq!(approval.approved.as_ref().unwrap().0, "alice");
            assert_eq!(approval.refusal.counts, json!({"pause": 12}));

            let next = store
                .begin_run(at("2026-11-28T01:00:00Z"), RunKind::Sync)
                .unwrap();
            assert!(
                store
                    .use_approval(refused, next, at("2026-11-28T01:00:05Z"))
                    .unwrap()
            );
            assert!(
                !store
                    .use_approval(refused, next, at("2026-11-28T01:00:06Z"))
                    .unwrap()
            );
            assert_eq!(store.approval_for("00ab").unwrap(), None, "used");
            let stored = store.refusal(refused).unwrap().unwrap();
            assert_eq!(stored.used.unwrap().0, next);
        }
    }

    both_backends! {
        fn a_sync_that_went_through_retires_older_approvals(db) {
            let store = db.open();
            let refused = finished(&store, Outcome::Refused);
            store.record_refusal(refused, &refusal("00ab")).unwrap();
            store
                .approve(refused, "alice", at("2026-11-27T08:00:00Z"))
                .unwrap();
            finished(&store, Outcome::Done);
            assert_eq!(store.approval_for("00ab").unwrap(), None);
        }
    }
}
