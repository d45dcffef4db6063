//! What the store remembers per person: the link from external id to target id (and whether we
//! created that target user), and the record-level failures kept for retry with growing intervals.

use std::collections::BTreeMap;

use crate::db::{Value, params};
use flexsync_core::current::{LinkKind, Memory};
use flexsync_core::drift::Written;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use flexsync_core::retry_hold::{FailedStep, FailureClass};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::store::StateStore;

/// Links an external id to a target id (see [`StateStore::link`]).
pub(crate) const LINK: &str =
    "INSERT INTO links (external_id, target_id, created_by_us, linked_at, kind)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (external_id) DO UPDATE SET
         created_by_us = CASE WHEN links.target_id = excluded.target_id
             THEN CASE WHEN links.created_by_us > excluded.created_by_us
                 THEN links.created_by_us ELSE excluded.created_by_us END
             ELSE excluded.created_by_us END,
         target_id = excluded.target_id,
         linked_at = excluded.linked_at,
         kind = excluded.kind";
/// Remembers the fingerprint of one written value (see [`StateStore::remember_written`]).
pub(crate) const WRITTEN: &str =
    "INSERT INTO written (external_id, attribute, fingerprint, written)
     VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (external_id, attribute)
     DO UPDATE SET fingerprint = excluded.fingerprint, written = excluded.written";
/// Forgets a failure a successful step mends (see [`StateStore::clear_failure_of`]).
pub(crate) const CLEAR_FAILURE_OF: &str = "DELETE FROM failures WHERE external_id = ?1
     AND (failed_step IS NULL OR failed_step LIKE ?2 || ':%')";

/// Counts one more failure of a record (see [`StateStore::record_failure`]).
pub(crate) const FAILURE: &str = "INSERT INTO failures
         (external_id, count, first_at, last_at, last_message, class, failed_step)
     VALUES (?1, 1, ?2, ?2, ?3, ?4, ?5)
     ON CONFLICT (external_id) DO UPDATE SET
         count = failures.count + 1,
         last_at = excluded.last_at,
         last_message = excluded.last_message,
         class = excluded.class,
         failed_step = excluded.failed_step
     RETURNING count, first_at";
/// Forgets the link of an external id (see [`StateStore::unlink`]).
pub(crate) const UNLINK: &str = "DELETE FROM links WHERE external_id = ?1";

/// Failures of one record in a row, since its last success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub external_id: ExternalId,
    pub count: u32,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    pub last_message: String,
    /// The last failure's class, which decides when the record is tried again.
    pub class: FailureClass,
    /// The step that failed last.
    pub failed_step: Option<FailedStep>,
}

impl StateStore {
    /// Links `external_id` to `target_id` (insert or replace), as a link to a user or a group.
    /// `created_by_us` stays true once true for the same target id; linking to a *different*
    /// target takes the new flag, so we never claim to have created a user we adopted.
    pub fn link(
        &self,
        kind: LinkKind,
        external_id: &ExternalId,
        target_id: &TargetId,
        created_by_us: bool,
        at: Timestamp,
    ) -> Result<(), StateError> {
        self.execute(
            "link a user or group",
            LINK,
            params![
                external_id.as_str(),
                target_id.as_str(),
                created_by_us,
                at.to_string(),
                kind.label()
            ],
        )?;
        Ok(())
    }

    /// Forgets the link of `external_id` (no error when there is none).
    pub fn unlink(&self, external_id: &ExternalId) -> Result<(), StateError> {
        self.execute("unlink a user", UNLINK, params![external_id.as_str()])?;
        Ok(())
    }

    /// Remembers fingerprints of the values just written to `external_id`'s account.
    pub fn remember_written(
        &self,
        external_id: &ExternalId,
        written: &flexsync_core::drift::Written,
        at: Timestamp,
    ) -> Result<(), StateError> {
        for (attribute, fingerprint) in written {
            self.execute(
                "remember a written value",
                WRITTEN,
                params![
                    external_id.as_str(),
                    attribute,
                    format!("{fingerprint:016x}"),
                    at.to_string()
                ],
            )?;
        }
        Ok(())
    }

    /// Every link, and the target ids we created: what a plan needs of the memory. The values
    /// written before (`Memory::written`) are left out; they explain a change, so a run reads
    /// them for the people its plan changes ([`StateStore::written_of`]).
    pub fn links(&self) -> Result<Memory, StateError> {
        let mut memory = Memory::default();
        self.each_row(
            "read links",
            "SELECT external_id, target_id, created_by_us, kind FROM links",
            params![],
            |(external_id, target_id, created_by_us, kind): (String, String, bool, String)| {
                let target_id = TargetId::from(target_id);
                if created_by_us {
                    memory.created.insert(target_id.clone());
                }
                let links = match LinkKind::parse(&kind) {
                    Some(LinkKind::User) => &mut memory.links,
                    Some(LinkKind::Group) => &mut memory.group_links,
                    None => return Err(self.corrupt("links", external_id, "kind", kind)),
                };
                links.insert(ExternalId::from(external_id), target_id);
                Ok(())
            },
        )?;
        Ok(memory)
    }

    /// The whole memory: every link, and the values written to every account.
    pub fn memory(&self) -> Result<Memory, StateError> {
        let mut memory = self.links()?;
        self.each_row(
            "read written values",
            "SELECT external_id, attribute, fingerprint FROM written",
            params![],
            |row: (String, String, String)| self.add_written(&mut memory.written, row),
        )?;
        Ok(memory)
    }

    /// The values written to the accounts of `external_ids`, for those that have any.
    pub fn written_of<'a>(
        &self,
        external_ids: impl IntoIterator<Item = &'a ExternalId>,
    ) -> Result<BTreeMap<ExternalId, Written>, StateError> {
        let ids: Vec<&ExternalId> = external_ids.into_iter().collect();
        let mut written = BTreeMap::new();
        for chunk in ids.chunks(WRITTEN_OF_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
            let query = format!(
                "SELECT external_id, attribute, fingerprint FROM written WHERE external_id IN ({})",
                placeholders.join(", ")
            );
            let params = chunk.iter().map(|id| Value::Text(id.to_string())).collect();
            self.each_row("read written values", &query, params, |row| {
                self.add_written(&mut written, row)
            })?;
        }
        Ok(written)
    }

    /// One row of `written` into `into`.
    fn add_written(
        &self,
        into: &mut BTreeMap<ExternalId, Written>,
        (external_id, attribute, fingerprint): (String, String, String),
    ) -> Result<(), StateError> {
        let fingerprint = u64::from_str_radix(&fingerprint, 16)
            .map_err(|_| self.corrupt("written", &external_id, "fingerprint", fingerprint))?;
        into.entry(ExternalId::from(external_id))
            .or_default()
            .insert(attribute, fingerprint);
        Ok(())
    }

    /// Counts one more failure for `external_id` and returns the record as it now stands.
    pub fn record_failure(
        &self,
        external_id: &ExternalId,
        message: &str,
        class: FailureClass,
        failed_step: Option<FailedStep>,
        at: Timestamp,
    ) -> Result<FailureRecord, StateError> {
        let rows: Vec<(i64, String)> = self.rows(
            "record a failure",
            FAILURE,
            params![
                external_id.as_str(),
                at.to_string(),
                message,
                class.as_str(),
                failed_step_text(failed_step)
            ],
        )?;
        let Some((count, first_at)) = rows.into_iter().next() else {
            return Err(self.missing("record a failure", format!("no row for {external_id}")));
        };
        Ok(FailureRecord {
            external_id: external_id.clone(),
            count: self.count(external_id, count)?,
            first_at: self.timestamp("failures", external_id, "first_at", &first_at)?,
            last_at: at,
            last_message: message.to_string(),
            class,
            failed_step,
        })
    }

    /// Forgets the failure of `external_id` after a step of `kind` succeeded, unless the failure
    /// is another kind's: a record's failing update is not mended by its manager link.
    pub fn clear_failure_of(
        &self,
        external_id: &ExternalId,
        kind: OperationKind,
    ) -> Result<(), StateError> {
        self.execute(
            "clear a failure",
            CLEAR_FAILURE_OF,
            params![external_id.as_str(), kind.as_str()],
        )?;
        Ok(())
    }

    /// Forgets the failures of `external_id` (after it succeeded, or left the source).
    pub fn clear_failure(&self, external_id: &ExternalId) -> Result<(), StateError> {
        self.execute(
            "clear a failure",
            "DELETE FROM failures WHERE external_id = ?1",
            params![external_id.as_str()],
        )?;
        Ok(())
    }

    /// Every record that is failing, by external id.
    pub fn failures(&self) -> Result<Vec<FailureRecord>, StateError> {
        type Row = (String, i64, String, String, String, String, Option<String>);
        let rows: Vec<Row> = self.rows(
            "list failures",
            "SELECT external_id, count, first_at, last_at, last_message, class, failed_step
             FROM failures ORDER BY external_id",
            params![],
        )?;
        rows.into_iter()
            .map(
                |(external_id, count, first_at, last_at, last_message, class, step)| {
                    let corrupt = |column: &'static str, value: String| {
                        self.corrupt("failures", &external_id, column, value)
                    };
                    let class = FailureClass::parse(&class)
                        .ok_or_else(|| corrupt("class", class.clone()))?;
                    let failed_step = match step {
                        Some(text) => Some(
                            parse_failed_step(&text)
                                .ok_or_else(|| corrupt("failed_step", text.clone()))?,
                        ),
                        None => None,
                    };
                    Ok(FailureRecord {
                        count: self.count(&external_id, count)?,
                        first_at: self.timestamp(
                            "failures",
                            &external_id,
                            "first_at",
                            &first_at,
                        )?,
                        last_at: self.timestamp("failures", &external_id, "last_at", &last_at)?,
                        external_id: ExternalId::from(external_id),
                        last_message,
                        class,
                        failed_step,
                    })
                },
            )
            .collect()
    }

    fn count(&self, external_id: &str, count: i64) -> Result<u32, StateError> {
        u32::try_from(count)
            .map_err(|_| self.corrupt("failures", external_id, "count", count.to_string()))
    }
}

/// Ids asked for in one query of [`StateStore::written_of`]: well under SQLite's limit of
/// variables in a statement.
const WRITTEN_OF_CHUNK: usize = 500;

/// The kind and the fingerprint of a failed step as stored: `update:00ab...`.
pub(crate) fn failed_step_text(failed_step: Option<FailedStep>) -> Option<String> {
    failed_step.map(|f| format!("{}:{:016x}", f.kind.as_str(), f.fingerprint))
}

/// `update:00ab...` -> the kind and the fingerprint.
fn parse_failed_step(text: &str) -> Option<FailedStep> {
    let (kind, hex) = text.split_once(':')?;
    Some(FailedStep {
        kind: OperationKind::parse(kind)?,
        fingerprint: u64::from_str_radix(hex, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    both_backends! {
        fn links_build_the_memory(db) {
            let store = db.open();
            assert_eq!(store.memory().unwrap(), Memory::default());
            let t = at("2025-02-01T00:00:00Z");
            store
                .link(LinkKind::User, &"E2".into(), &"T2".into(), false, t)
                .unwrap();
            store
                .link(LinkKind::User, &"E1".into(), &"T1".into(), true, t)
                .unwrap();
            store
                .link(LinkKind::User, &"E3".into(), &"T3".into(), true, t)
                .unwrap();
            store.unlink(&"E3".into()).unwrap();
            store.unlink(&"never-linked".into()).unwrap();

            let memory = store.memory().unwrap();
            let links: Vec<(&str, &str)> = memory
                .links
                .iter()
                .map(|(e, t)| (e.as_str(), t.as_str()))
                .collect();
            assert_eq!(links, vec![("E1", "T1"), ("E2", "T2")]);
            assert_eq!(
                memory
                    .created
                    .iter()
                    .map(TargetId::as_str)
                    .collect::<Vec<_>>(),
                vec!["T1"]
            );
        }
    }

    both_backends! {
        fn written_values_are_read_for_the_people_asked_for(db) {
            let store = db.open();
            let t = at("2025-02-01T00:00:00Z");
            let ids: Vec<ExternalId> = (0..1_200).map(|n| format!("E{n}").into()).collect();
            for (n, id) in ids.iter().enumerate() {
                store.link(LinkKind::User, id, &format!("T{n}").into(), true, t).unwrap();
                let written = Written::from([("email".to_string(), n as u64), ("active".to_string(), 1)]);
                store.remember_written(id, &written, t).unwrap();
            }
            assert!(store.links().unwrap().written.is_empty(), "links leave them out");
            assert_eq!(store.memory().unwrap().written.len(), 1_200);
            // More than one query's worth, with one never written and one asked twice.
            let unknown: ExternalId = "never-written".into();
            let asked = ids.iter().skip(100).chain([&unknown, &ids[150]]);
            let read = store.written_of(asked).unwrap();
            assert_eq!(read.len(), 1_100);
            assert_eq!(read[&ids[1_000]]["email"], 1_000);
            assert_eq!(read[&ids[1_000]]["active"], 1);
            assert!(!read.contains_key(&ids[99]) && !read.contains_key(&unknown));
            assert!(store.written_of([]).unwrap().is_empty());
        }
    }

    both_backends! {
        fn created_by_us_stays_true_for_the_same_target(db) {
            let store = db.open();
            let t = at("2025-02-01T00:00:00Z");
            store
                .link(LinkKind::User, &"E1".into(), &"T1".into(), true, t)
                .unwrap();
            store
                .link(LinkKind::User, &"E1".into(), &"T1".into(), false, t)
                .unwrap();
            let memory = store.memory().unwrap();
            assert!(memory.created.contains("T1"));

            // An adopted user never becomes "created" by relinking it as adopted.
            store
                .link(LinkKind::User, &"E2".into(), &"T2".into(), false, t)
                .unwrap();
            store
                .link(LinkKind::User, &"E2".into(), &"T2".into(), false, t)
                .unwrap();
            assert!(!store.memory().unwrap().created.contains("T2"));
            // ... but a later create of the same link marks it.
            store
                .link(LinkKind::User, &"E2".into(), &"T2".into(), true, t)
                .unwrap();
            assert!(store.memory().unwrap().created.contains("T2"));
        }
    }

    both_backends! {
        fn relinking_to_another_target_does_not_carry_created_over(db) {
            let store = db.open();
            let t = at("2025-02-01T00:00:00Z");
            store
                .link(LinkKind::User, &"E1".into(), &"T1".into(), true, t)
                .unwrap();
            store
                .link(LinkKind::User, &"E1".into(), &"T9".into(), false, t)
                .unwrap();
            let memory = store.memory().unwrap();
            assert_eq!(memory.links.get("E1").map(TargetId::as_str), Some("T9"));
            assert!(memory.created.is_empty(), "{memory:?}");
        }
    }

    both_backends! {
        fn failures_count_up_keep_the_first_time_and_clear(db) {
            let store = db.open();
            let first = store
                .record_failure(
                    &"E1".into(),
                    "missing EmailWork",
                    FailureClass::Retryable,
                    None,
                    at("2025-02-01T06:00:00Z"),
                )
                .unwrap();
            assert_eq!(first.count, 1);
            assert_eq!(first.first_at, at("2025-02-01T06:00:00Z"));
            store
                .record_failure(
                    &"E2".into(),
                    "409 uniqueness",
                    FailureClass::Retryable,
                    None,
                    at("2025-02-01T06:00:00Z"),
                )
                .unwrap();
            let third = store
                .record_failure(
                    &"E1".into(),
                    "400 invalidValue",
                    FailureClass::Retryable,
                    None,
                    at("2025-02-03T06:00:00Z"),
                )
                .unwrap();
            let second = store
                .record_failure(
                    &"E1".into(),
                    "still bad",
                    FailureClass::Permanent,
                    Some(FailedStep {
                        kind: OperationKind::Update,
                        fingerprint: u64::MAX,
                    }),
                    at("2025-02-04T06:00:00Z"),
                )
                .unwrap();
            assert_eq!(third.count, 2);
            assert_eq!(second.count, 3);

            let failures = store.failures().unwrap();
            assert_eq!(failures.len(), 2);
            assert_eq!(failures[0], second);
            assert_eq!(
                failures[0],
                FailureRecord {
                    external_id: "E1".into(),
                    count: 3,
                    first_at: at("2025-02-01T06:00:00Z"),
                    last_at: at("2025-02-04T06:00:00Z"),
                    last_message: "still bad".into(),
                    class: FailureClass::Permanent,
                    failed_step: Some(FailedStep {
                        kind: OperationKind::Update,
                        fingerprint: u64::MAX,
                    }),
                }
            );
            assert_eq!(failures[1].external_id, "E2");
            assert_eq!(failures[1].count, 1);

            store.clear_failure(&"E1".into()).unwrap();
            let failures = store.failures().unwrap();
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].external_id, "E2");

            let again = store
                .record_failure(
                    &"E1".into(),
                    "new trouble",
                    FailureClass::Retryable,
                    None,
                    at("2025-03-01T06:00:00Z"),
                )
                .unwrap();
            assert_eq!(again.count, 1);
            assert_eq!(again.first_at, at("2025-03-01T06:00:00Z"));
        }
    }

    both_backends! {
        fn a_success_clears_only_a_failure_of_its_own_kind(db) {
            let store = db.open();
            let t = at("2025-02-01T06:00:00Z");
            let update = FailedStep {
                kind: OperationKind::Update,
                fingerprint: 7,
            };
            let e1 = ExternalId::from("E1");
            store
                .record_failure(&e1, "400", FailureClass::Permanent, Some(update), t)
                .unwrap();
            store
                .clear_failure_of(&e1, OperationKind::SetManager)
                .unwrap();
            assert_eq!(store.failures().unwrap()[0].failed_step, Some(update));
            store.clear_failure_of(&e1, OperationKind::Update).unwrap();
            assert!(store.failures().unwrap().is_empty());
        }
    }
}
