//! One person's rows, for a data-protection request: everything the store holds about an
//! external id (`flexsync export`), and removing it (`flexsync forget`).

use serde_json::{Map, Value};

use crate::db::{self, params};
use crate::error::StateError;
use crate::store::StateStore;

/// The tables that hold rows about a person, by external id.
const TABLES: [&str; 5] = ["links", "written", "failures", "operations", "changes"];

/// How many rows `forget` removed, per table.
pub type Removed = Vec<(&'static str, usize)>;

impl StateStore {
    /// Every row about `external_id`, per table, as JSON objects of their columns.
    pub fn person_rows(&self, external_id: &str) -> Result<Map<String, Value>, StateError> {
        let sql = self.sql("read a person's rows");
        self.with_conn("read a person's rows", |conn| {
            let mut out = Map::new();
            for table in TABLES {
                let (columns, rows) = conn
                    .query(
                        &format!("SELECT * FROM {table} WHERE external_id = ?1 ORDER BY 1"),
                        params![external_id],
                    )
                    .map_err(&sql)?;
                let rows = rows
                    .into_iter()
                    .map(|row| {
                        Value::Object(
                            columns
                                .iter()
                                .cloned()
                                .zip(row.into_iter().map(json_of))
                                .collect(),
                        )
                    })
                    .collect();
                out.insert(table.to_string(), Value::Array(rows));
            }
            Ok(out)
        })
    }

    /// Removes every row about `external_id`, in one transaction.
    pub fn forget(&self, external_id: &str) -> Result<Removed, StateError> {
        let sql = self.sql("forget a person");
        self.in_transaction("forget a person", |tx| {
            let mut removed = Vec::new();
            for table in TABLES {
                let count = tx
                    .execute(
                        &format!("DELETE FROM {table} WHERE external_id = ?1"),
                        params![external_id],
                    )
                    .map_err(&sql)?;
                removed.push((table, count));
            }
            Ok(removed)
        })
    }
}

fn json_of(value: db::Value) -> Value {
    match value {
        db::Value::Null => Value::Null,
        db::Value::Int(n) => Value::from(n),
        db::Value::Text(text) => {
            // Columns that hold JSON (a change's detail, an operation's step) stay JSON.
            match serde_json::from_str::<Value>(&text) {
                Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
                _ => Value::from(text),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::changes::ChangeRow;
    use crate::testing::both_backends;
    use flexsync_core::current::LinkKind;
    use flexsync_core::ids::{ExternalId, TargetId};
    use flexsync_core::outcome::{Outcome, RunKind};

    both_backends! {
        fn a_person_is_exported_whole_and_forgotten_whole(db) {
            let store = db.open();
            let at = jiff::Timestamp::UNIX_EPOCH;
            let run = store.begin_run(at, RunKind::Sync).unwrap();
            for who in ["e1", "e2"] {
                let id = ExternalId::from(who);
                store
                    .link(
                        LinkKind::User,
                        &id,
                        &TargetId::from(format!("t-{who}")),
                        true,
                        at,
                    )
                    .unwrap();
                store
                    .record_intent(run, &id, "create", &serde_json::json!({"userName": who}))
                    .unwrap();
                let change = ChangeRow {
                    external_id: id.clone(),
                    name: format!("Name {who}"),
                    email: Some(format!("{who}@example.se")),
                    action: "create".into(),
                    result: "ok".into(),
                    detail: serde_json::json!({"reason": "new"}),
                };
                store.record_changes(run, [change]).unwrap();
            }
            store
                .finish_run(run, at, Outcome::Done, &serde_json::json!({}))
                .unwrap();

            let rows = store.person_rows("e1").unwrap();
            assert_eq!(rows["links"][0]["target_id"], "t-e1");
            assert_eq!(rows["operations"][0]["detail"]["userName"], "e1");
            assert_eq!(rows["changes"][0]["email"], "e1@example.se");

            let removed = store.forget("e1").unwrap();
            assert_eq!(
                removed,
                [
                    ("links", 1),
                    ("written", 0),
                    ("failures", 0),
                    ("operations", 1),
                    ("changes", 1)
                ]
            );
            let left = store.person_rows("e1").unwrap();
            assert!(
                left.values()
                    .all(|rows| rows.as_array().unwrap().is_empty())
            );
            assert_eq!(
                store.person_rows("e2").unwrap()["changes"]
                    .as_array()
                    .unwrap()
                    .len(),
                1
            );
        }
    }
}
