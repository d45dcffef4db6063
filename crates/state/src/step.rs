//! A step that succeeded, recorded all or nothing: its outcome, the link a create or adoption
//! made, the fingerprints of the values it wrote, and the failure it mends. Written as an entry
//! of the journal ([`crate::StateStore::record_journal`]).

use flexsync_core::current::LinkKind;
use flexsync_core::drift::Written;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;

use crate::db::{Conn, DbError, params};
use crate::links::{CLEAR_FAILURE_OF, LINK, WRITTEN};
use crate::runs::{OUTCOME, OpId};

/// What a successful step leaves besides its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDone {
    pub external_id: ExternalId,
    pub target_id: TargetId,
    pub kind: OperationKind,
    /// The link a create or adoption made, and whether we created the account.
    pub link: Option<(LinkKind, bool)>,
    pub written: Written,
}

/// Writes `done` for `op` inside a transaction; false, with nothing written, when `op` is not an
/// operation without an outcome.
pub(crate) fn write_step_done(
    tx: &mut Conn,
    op: OpId,
    done: &StepDone,
    at: &str,
) -> Result<bool, DbError> {
    let (external_id, target_id) = (done.external_id.as_str(), done.target_id.as_str());
    let changed = tx.execute(OUTCOME, params![op.0, "done", target_id, None::<&str>, at])?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some((kind, created)) = done.link {
        tx.execute(
            LINK,
            params![external_id, target_id, created, at, kind.label()],
        )?;
    }
    for (attribute, fingerprint) in &done.written {
        let fingerprint = format!("{fingerprint:016x}");
        tx.execute(
            WRITTEN,
            params![external_id, attribute.as_str(), fingerprint, at],
        )?;
    }
    tx.execute(CLEAR_FAILURE_OF, params![external_id, done.kind.as_str()])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::current::Memory;
    use flexsync_core::outcome::RunKind;

    use crate::journal::{JournalEntry, Recorded};
    use crate::testing::both_backends;

    both_backends! {
        fn a_step_done_leaves_its_outcome_link_written_values_and_no_failure(db) {
            let store = db.open();
            let at = jiff::Timestamp::from_second(1_700_000_000).unwrap();
            let run = store.begin_run(at, RunKind::Sync).unwrap();
            let sara = ExternalId::from("e-sara");
            store
                .record_failure(&sara, "refused", Default::default(), None, at)
                .unwrap();
            let op = store
                .record_intent(run, &sara, "create", &serde_json::json!({}))
                .unwrap();
            let written: Written = [("email".to_string(), 7u64)].into_iter().collect();
            let done = StepDone {
                external_id: sara.clone(),
                target_id: TargetId::from("t-1"),
                kind: OperationKind::Create,
                link: Some((LinkKind::User, true)),
                written: written.clone(),
            };
            let entry = [JournalEntry::StepDone { op, done }];
            assert_eq!(store.record_journal(&entry, at).unwrap(), [Recorded::Written]);

            let memory: Memory = store.memory().unwrap();
            assert_eq!(memory.links.get("e-sara"), Some(&TargetId::from("t-1")));
            assert!(memory.created.contains("t-1"));
            assert_eq!(memory.written.get("e-sara"), Some(&written));
            assert!(store.failures().unwrap().is_empty());
            assert!(store.unfinished_intents().unwrap().is_empty());
            // Each intent gets one outcome: a second changes nothing.
            assert_eq!(store.record_journal(&entry, at).unwrap(), [Recorded::Unmatched(op)]);
            assert_eq!(store.memory().unwrap(), memory);
        }
    }
}
