//! The journal of writes in batches (group commit): intents, and what came of earlier ones,
//! written in one transaction, in their order, all or nothing.

use flexsync_core::current::LinkKind;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use flexsync_core::retry_hold::{FailedStep, FailureClass};
use jiff::Timestamp;

use crate::db::{Conn, DbError, params};
use crate::error::StateError;
use crate::groups::CLEAR_GROUP_EMPTY;
use crate::links::{FAILURE, LINK, UNLINK, failed_step_text};
use crate::runs::{INTENT, OUTCOME, OpId, OpOutcome, RunId, outcome_params};
use crate::step::{StepDone, write_step_done};
use crate::store::StateStore;

/// One thing the journal records.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalEntry {
    /// What is about to be done (see [`StateStore::record_intent`]).
    Intent {
        run: RunId,
        external_id: ExternalId,
        operation: OperationKind,
        detail: serde_json::Value,
    },
    /// What came of an intent (see [`StateStore::record_outcome`]).
    Outcome { op: OpId, outcome: OpOutcome },
    /// A step that succeeded, with what it leaves (see [`StepDone`]).
    StepDone { op: OpId, done: StepDone },
    /// One more failure of a record (see [`StateStore::record_failure`]). Right after its step's
    /// `Outcome`, it is written only when that outcome was: a batch written again after an
    /// unclear end counts the failure once.
    Failure {
        external_id: ExternalId,
        message: String,
        class: FailureClass,
        failed_step: Option<FailedStep>,
    },
    /// A link to a user or group (see [`StateStore::link`]).
    Link {
        kind: LinkKind,
        external_id: ExternalId,
        target_id: TargetId,
        created_by_us: bool,
    },
    /// A retired group: its link and its empty mark are forgotten.
    ForgetGroup { external_id: ExternalId },
}

/// What one entry of a committed batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// An intent, with the id of its operation.
    Intent(OpId),
    Written,
    /// An outcome that changed nothing: its operation is unknown or has its outcome already.
    Unmatched(OpId),
}

impl StateStore {
    /// Records `entries` in one transaction, in their order, at `at`: all of them, or (with an
    /// error) none. Answers each entry in order; an intent with its id.
    pub fn record_journal(
        &self,
        entries: &[JournalEntry],
        at: Timestamp,
    ) -> Result<Vec<Recorded>, StateError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let operation = "record a batch of the journal";
        let sql = self.sql(operation);
        let at = at.to_string();
        self.in_transaction(operation, |tx| {
            let mut recorded: Vec<Recorded> = Vec::with_capacity(entries.len());
            for entry in entries {
                let after_unmatched = matches!(recorded.last(), Some(Recorded::Unmatched(_)));
                let answer = match entry {
                    JournalEntry::Failure { .. } if after_unmatched => Recorded::Written,
                    _ => write_entry(tx, entry, &at).map_err(&sql)?,
                };
                recorded.push(answer);
            }
            Ok(recorded)
        })
    }
}

fn write_entry(tx: &mut Conn, entry: &JournalEntry, at: &str) -> Result<Recorded, DbError> {
    match entry {
        JournalEntry::Intent {
            run,
            external_id,
            operation,
            detail,
        } => {
            let ids: Vec<(i64,)> = tx.rows(
                INTENT,
                params![
                    run.0,
                    external_id.as_str(),
                    operation.as_str(),
                    detail.to_string()
                ],
            )?;
            match ids.first() {
                Some((id,)) => Ok(Recorded::Intent(OpId(*id))),
                None => Err(DbError::Decode("the insert returned no id".into())),
            }
        }
        JournalEntry::Outcome { op, outcome } => {
            let changed = tx.execute(OUTCOME, outcome_params(*op, outcome, at))?;
            Ok(matched(*op, changed > 0))
        }
        JournalEntry::StepDone { op, done } => {
            let changed = write_step_done(tx, *op, done, at)?;
            Ok(matched(*op, changed))
        }
        JournalEntry::Failure {
            external_id,
            message,
            class,
            failed_step,
        } => {
            let _: Vec<(i64, String)> = tx.rows(
                FAILURE,
                params![
                    external_id.as_str(),
                    at,
                    message,
                    class.as_str(),
                    failed_step_text(*failed_step)
                ],
            )?;
            Ok(Recorded::Written)
        }
        JournalEntry::Link {
            kind,
            external_id,
            target_id,
            created_by_us,
        } => {
            tx.execute(
                LINK,
                params![
                    external_id.as_str(),
                    target_id.as_str(),
                    created_by_us,
                    at,
                    kind.label()
                ],
            )?;
            Ok(Recorded::Written)
        }
        JournalEntry::ForgetGroup { external_id } => {
            tx.execute(UNLINK, params![external_id.as_str()])?;
            tx.execute(CLEAR_GROUP_EMPTY, params![external_id.as_str()])?;
            Ok(Recorded::Written)
        }
    }
}

fn matched(op: OpId, changed: bool) -> Recorded {
    match changed {
        true => Recorded::Written,
        false => Recorded::Unmatched(op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::outcome::RunKind;

    use crate::testing::both_backends;

    fn at() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    fn intent(run: RunId, external_id: &str) -> JournalEntry {
        JournalEntry::Intent {
            run,
            external_id: external_id.into(),
            operation: OperationKind::Create,
            detail: serde_json::json!({"userName": external_id}),
        }
    }

    fn done(op: OpId, external_id: &str, target_id: &str) -> JournalEntry {
        JournalEntry::StepDone {
            op,
            done: StepDone {
                external_id: external_id.into(),
                target_id: target_id.into(),
                kind: OperationKind::Create,
                link: Some((LinkKind::User, true)),
                written: [("email".to_string(), 7u64)].into_iter().collect(),
            },
        }
    }

    fn failure(external_id: &str) -> JournalEntry {
        failure_saying(external_id, "refused")
    }

    fn failure_saying(external_id: &str, message: &str) -> JournalEntry {
        JournalEntry::Failure {
            external_id: external_id.into(),
            message: message.into(),
            class: FailureClass::Permanent,
            failed_step: None,
        }
    }

    /// A user step that failed, as the journal hands it over: its outcome, then the failure.
    fn failed(op: OpId, external_id: &str, message: &str) -> [JournalEntry; 2] {
        let outcome = OpOutcome::Failed {
            message: message.into(),
        };
        [
            JournalEntry::Outcome { op, outcome },
            failure_saying(external_id, message),
        ]
    }

    fn op_of(recorded: &Recorded) -> OpId {
        match recorded {
            Recorded::Intent(op) => *op,
            other => panic!("expected an intent, got {other:?}"),
        }
    }

    both_backends! {
        fn a_batch_of_intents_answers_their_ids_in_order(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let batch = [intent(run, "E1"), intent(run, "E2"), intent(run, "E3")];
            let ops: Vec<OpId> = store
                .record_journal(&batch, at())
                .unwrap()
                .iter()
                .map(op_of)
                .collect();
            let stored: Vec<(OpId, String)> = store
                .operations(run)
                .unwrap()
                .into_iter()
                .map(|o| (o.id, o.external_id.into_string()))
                .collect();
            let expected: Vec<(OpId, String)> =
                ops.into_iter().zip(["E1", "E2", "E3"].map(String::from)).collect();
            assert_eq!(stored, expected);
            assert_eq!(store.record_journal(&[], at()).unwrap(), []);
        }
    }

    both_backends! {
        fn an_intent_and_earlier_intents_outcomes_commit_all_or_nothing(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let first = store.record_journal(&[intent(run, "E1"), intent(run, "E2")], at());
            let [e1, e2] = first.unwrap()[..] else { panic!("two intents") };
            let (e1, e2) = (op_of(&e1), op_of(&e2));
            let outcomes = [
                done(e1, "E1", "t-1"),
                JournalEntry::Outcome {
                    op: e2,
                    outcome: OpOutcome::Failed { message: "refused".into() },
                },
                failure("E2"),
            ];
            // An intent for a run the store does not hold is refused: nothing of the batch stays.
            let mut refused = outcomes.to_vec();
            refused.push(intent(run, "E3"));
            refused.push(intent(RunId(run.0 + 99), "E4"));
            assert!(store.record_journal(&refused, at()).is_err());
            assert_eq!(store.unfinished_intents().unwrap().len(), 2);
            assert_eq!(store.operations(run).unwrap().len(), 2);
            assert!(store.memory().unwrap().links.is_empty());
            assert!(store.failures().unwrap().is_empty());

            let mut accepted = outcomes.to_vec();
            accepted.push(intent(run, "E3"));
            let recorded = store.record_journal(&accepted, at()).unwrap();
            assert_eq!(recorded[..3], [Recorded::Written; 3]);
            let e3 = op_of(&recorded[3]);
            let unfinished: Vec<OpId> =
                store.unfinished_intents().unwrap().iter().map(|o| o.id).collect();
            assert_eq!(unfinished, [e3]);
            let memory = store.memory().unwrap();
            assert_eq!(memory.links.get("E1"), Some(&TargetId::from("t-1")));
            assert!(memory.created.contains("t-1"));
            let failures = store.failures().unwrap();
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].external_id, ExternalId::from("E2"));
        }
    }

    both_backends! {
        fn a_failed_batch_fails_every_intent_in_it(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let batch = [
                intent(run, "E1"),
                intent(RunId(run.0 + 99), "E2"),
                intent(run, "E3"),
            ];
            assert!(store.record_journal(&batch, at()).is_err());
            assert!(store.operations(run).unwrap().is_empty());
            // The store takes the next batch as if the failed one had never been.
            let recorded = store.record_journal(&[intent(run, "E4")], at()).unwrap();
            assert_eq!(store.operations(run).unwrap()[0].id, op_of(&recorded[0]));
        }
    }

    both_backends! {
        fn an_outcome_without_its_open_intent_changes_nothing_and_the_rest_is_written(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let recorded = store.record_journal(&[intent(run, "E1")], at()).unwrap();
            let e1 = op_of(&recorded[0]);
            store.record_journal(&[done(e1, "E1", "t-1")], at()).unwrap();
            let again = [
                done(e1, "E1", "t-2"),
                JournalEntry::Link {
                    kind: LinkKind::Group,
                    external_id: "G1".into(),
                    target_id: "g-1".into(),
                    created_by_us: true,
                },
            ];
            let recorded = store.record_journal(&again, at()).unwrap();
            assert_eq!(recorded, [Recorded::Unmatched(e1), Recorded::Written]);
            let memory = store.memory().unwrap();
            assert_eq!(memory.links.get("E1"), Some(&TargetId::from("t-1")));
            assert_eq!(memory.group_links.get("G1"), Some(&TargetId::from("g-1")));

            store
                .mark_group_empty(&"G1".into(), jiff::civil::date(2025, 3, 1))
                .unwrap();
            let forget = [JournalEntry::ForgetGroup { external_id: "G1".into() }];
            store.record_journal(&forget, at()).unwrap();
            assert!(store.memory().unwrap().group_links.is_empty());
            assert!(store.empty_groups().unwrap().is_empty());
        }
    }

    both_backends! {
        fn a_failed_step_written_again_counts_its_failure_once(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let recorded = store.record_journal(&[intent(run, "E1")], at()).unwrap();
            let e1 = op_of(&recorded[0]);
            let failed = failed(e1, "E1", "refused");
            store.record_journal(&failed, at()).unwrap();
            // The same step again, as after a commit whose end was unclear.
            let again = store.record_journal(&failed, at()).unwrap();
            assert_eq!(again, [Recorded::Unmatched(e1), Recorded::Written]);
            let failures = store.failures().unwrap();
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].count, 1);
        }
    }

    both_backends! {
        fn a_message_with_a_nul_character_is_recorded(db) {
            let store = db.open();
            let run = store.begin_run(at(), RunKind::Sync).unwrap();
            let recorded = store.record_journal(&[intent(run, "E1")], at()).unwrap();
            let e1 = op_of(&recorded[0]);
            let failed = failed(e1, "E1", "refused\0by the server");
            store.record_journal(&failed, at()).unwrap();
            let kept = &store.failures().unwrap()[0].last_message;
            assert!(kept.starts_with("refused") && kept.ends_with("by the server"), "{kept:?}");
        }
    }
}
