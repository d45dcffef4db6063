//! The changes each sync made, named for people (who, what, why, what came of it), so that
//! `history` can answer "what happened to this person" from the store alone.

use crate::db::params;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use flexsync_core::ids::ExternalId;

use crate::error::StateError;
use crate::runs::RunId;
use crate::store::StateStore;

/// One change as a run records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRow {
    pub external_id: ExternalId,
    /// The person's first and last name, or the group's name.
    pub name: String,
    pub email: Option<String>,
    /// In Winningtemp's words: `create`, `pause`, `add_members`, ...
    pub action: String,
    /// `ok`, `failed`, `skipped` or `planned`.
    pub result: String,
    /// The whole change as the report shows it (attributes before and after, reason, error).
    pub detail: serde_json::Value,
}

/// A change as stored, with its run and when that run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChange {
    pub run: RunId,
    pub started: Timestamp,
    pub change: ChangeRow,
}

type RawChange = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);

const CHANGE_COLUMNS: &str = "c.run_id, r.started, c.external_id, c.name, c.email, c.action, \
                              c.result, c.detail";

impl StateStore {
    /// Records the changes of `run`, in one transaction, each row taken as it is written.
    pub fn record_changes(
        &self,
        run: RunId,
        changes: impl IntoIterator<Item = ChangeRow>,
    ) -> Result<(), StateError> {
        let sql = self.sql("record a change");
        self.in_transaction("record a change", |tx| {
            for change in changes {
                tx.execute(
                    "INSERT INTO changes (run_id, external_id, name, email, action, result, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        run.0,
                        change.external_id.as_str(),
                        change.name,
                        change.email,
                        change.action,
                        change.result,
                        change.detail.to_string()
                    ],
                )
                .map_err(&sql)?;
            }
            Ok(())
        })
    }

    /// The changes of one run, in the order they were recorded.
    pub fn changes_of_run(&self, run: RunId) -> Result<Vec<StoredChange>, StateError> {
        self.query_changes(
            "list a run's changes",
            "WHERE c.run_id = ?1 ORDER BY c.id",
            run.0,
        )
    }

    /// The changes recorded for one external id, oldest first.
    pub fn changes_of(&self, external_id: &str) -> Result<Vec<StoredChange>, StateError> {
        let query = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes c JOIN runs r ON r.id = c.run_id
             WHERE c.external_id = ?1 ORDER BY c.id"
        );
        let raw: Vec<RawChange> =
            self.rows("list a person's changes", &query, params![external_id])?;
        raw.into_iter().map(|row| self.decode_change(row)).collect()
    }

    /// Every change recorded, oldest first (`history --who` picks a person's among them).
    pub fn all_changes(&self) -> Result<Vec<StoredChange>, StateError> {
        self.query_changes(
            "list changes",
            "WHERE CAST(?1 AS INTEGER) = ?1 ORDER BY c.id",
            0,
        )
    }

    fn query_changes(
        &self,
        operation: &'static str,
        clauses: &str,
        value: i64,
    ) -> Result<Vec<StoredChange>, StateError> {
        let query = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes c JOIN runs r ON r.id = c.run_id {clauses}"
        );
        let raw: Vec<RawChange> = self.rows(operation, &query, params![value])?;
        raw.into_iter().map(|row| self.decode_change(row)).collect()
    }

    fn decode_change(&self, raw: RawChange) -> Result<StoredChange, StateError> {
        let (run, started, external_id, name, email, action, result, detail) = raw;
        Ok(StoredChange {
            run: RunId(run),
            started: self.timestamp("runs", run, "started", &started)?,
            change: ChangeRow {
                external_id: ExternalId::from(external_id),
                name,
                email,
                action,
                result,
                detail: self.json("changes", run, "detail", &detail)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;
    use flexsync_core::outcome::RunKind;
    use serde_json::json;

    both_backends! {
        fn changes_are_kept_per_run_with_the_run_start(db) {
            let store = db.open();
            let started: Timestamp = "2026-11-27T01:00:00Z".parse().unwrap();
            let run = store.begin_run(started, RunKind::Sync).unwrap();
            let pause = ChangeRow {
                external_id: "E1".into(),
                name: "Ali Hassan".into(),
                email: Some("ali.hassan@partner.example".into()),
                action: "pause".into(),
                result: "ok".into(),
                detail: json!({"reason": "no longer in Flex"}),
            };
            store
                .record_changes(run, [pause.clone()])
                .unwrap();
            let stored = store.changes_of_run(run).unwrap();
            assert_eq!(stored.len(), 1);
            assert_eq!(stored[0].change, pause);
            assert_eq!(stored[0].started, started);
            assert_eq!(store.all_changes().unwrap(), stored);
            assert!(store.changes_of_run(RunId(run.0 + 1)).unwrap().is_empty());
        }
    }
}
