//! A step that succeeded, recorded in one transaction: its outcome, the link a create or
//! adoption made, the fingerprints of the values it wrote, and the failure it mends. One commit
//! a step instead of one a row; the intent was committed on its own before the request.

use flexsync_core::current::LinkKind;
use flexsync_core::drift::Written;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use jiff::Timestamp;

use crate::db::params;
use crate::error::StateError;
use crate::links::{CLEAR_FAILURE_OF, LINK, WRITTEN};
use crate::runs::{OUTCOME, OpId};
use crate::store::StateStore;

/// What a successful step leaves besides its outcome.
#[derive(Debug)]
pub struct StepDone<'a> {
    pub external_id: &'a ExternalId,
    pub target_id: &'a TargetId,
    pub kind: OperationKind,
    /// The link a create or adoption made, and whether we created the account.
    pub link: Option<(LinkKind, bool)>,
    pub written: &'a Written,
}

impl StateStore {
    /// Records `op` done with everything [`StepDone`] holds, all or nothing.
    pub fn record_step_done(
        &self,
        op: OpId,
        done: &StepDone<'_>,
        at: Timestamp,
    ) -> Result<(), StateError> {
        let operation = "record a step that succeeded";
        let sql = self.sql(operation);
        let at = at.to_string();
        let (external_id, target_id) = (done.external_id.as_str(), done.target_id.as_str());
        let changed = self.in_transaction(operation, |tx| {
            let changed = tx
                .execute(
                    OUTCOME,
                    params![op.0, "done", target_id, None::<&str>, at.as_str()],
                )
                .map_err(&sql)?;
            if changed == 0 {
                return Ok(0);
            }
            if let Some((kind, created)) = done.link {
                tx.execute(
                    LINK,
                    params![external_id, target_id, created, at.as_str(), kind.label()],
                )
                .map_err(&sql)?;
            }
            for (attribute, fingerprint) in done.written {
                let fingerprint = format!("{fingerprint:016x}");
                tx.execute(
                    WRITTEN,
                    params![external_id, attribute.as_str(), fingerprint, at.as_str()],
                )
                .map_err(&sql)?;
            }
            tx.execute(CLEAR_FAILURE_OF, params![external_id, done.kind.as_str()])
                .map_err(&sql)?;
            Ok(changed)
        })?;
        if changed == 0 {
            return Err(self.missing(operation, format!("no operation {op} without an outcome")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::current::Memory;
    use flexsync_core::outcome::RunKind;

    use crate::testing::both_backends;

    both_backends! {
        fn a_step_done_leaves_its_outcome_link_written_values_and_no_failure(db) {
            let store = db.open();
            let at = Timestamp::from_second(1_700_000_000).unwrap();
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
                external_id: &sara,
                target_id: &TargetId::from("t-1"),
                kind: OperationKind::Create,
                link: Some((LinkKind::User, true)),
                written: &written,
            };
            store.record_step_done(op, &done, at).unwrap();

            let memory: Memory = store.memory().unwrap();
            assert_eq!(memory.links.get("e-sara"), Some(&TargetId::from("t-1")));
            assert!(memory.created.contains("t-1"));
            assert_eq!(memory.written.get("e-sara"), Some(&written));
            assert!(store.failures().unwrap().is_empty());
            assert!(store.unfinished_intents().unwrap().is_empty());
            // Each intent gets one outcome: a second is refused and changes nothing.
            assert!(store.record_step_done(op, &done, at).is_err());
        }
    }
}
