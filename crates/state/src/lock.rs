//! The run lock: one row in the database, so two runs against the same store (in this process or
//! another) refuse to overlap. A lock older than the caller's `stale_after` may be taken over.

use std::time::Duration;

use crate::db::params;
use jiff::{SignedDuration, Timestamp};

use crate::error::StateError;
use crate::store::StateStore;

/// Holds the run lock until dropped or [`LockGuard::release`]d.
#[derive(Debug)]
pub struct LockGuard {
    store: StateStore,
    holder: String,
    generation: i64,
    released: bool,
}

impl StateStore {
    /// Takes the run lock for `holder` (e.g. "pid 123 on host x"). Refuses with
    /// [`StateError::Locked`] naming the current holder, unless that lock was taken or last
    /// renewed more than `stale_after` before `at`.
    pub fn acquire_lock(
        &self,
        holder: &str,
        at: Timestamp,
        stale_after: Duration,
    ) -> Result<LockGuard, StateError> {
        let operation = "take the run lock";
        let sql = self.sql(operation);
        let stale_after = SignedDuration::try_from(stale_after).unwrap_or(SignedDuration::MAX);
        let generation = self.in_transaction(operation, |tx| {
            let rows: Vec<(Option<String>, Option<String>, i64)> = tx
                .rows(
                    "SELECT holder, since, generation FROM run_lock WHERE id = 1",
                    params![],
                )
                .map_err(&sql)?;
            let Some((current, since, generation)) = rows.into_iter().next() else {
                return Err(self.missing(operation, "the run_lock row is gone".into()));
            };
            if let Some(current) = current {
                let since = self.timestamp("run_lock", 1, "since", &since.unwrap_or_default())?;
                if at.duration_since(since) <= stale_after {
                    return Err(StateError::Locked {
                        path: self.path().to_path_buf(),
                        holder: current,
                        since,
                    });
                }
            }
            let generation = generation + 1;
            tx.execute(
                "UPDATE run_lock SET holder = ?1, since = ?2, generation = ?3 WHERE id = 1",
                params![holder, at.to_string(), generation],
            )
            .map_err(&sql)?;
            Ok(generation)
        })?;
        Ok(LockGuard {
            store: self.clone(),
            holder: holder.to_string(),
            generation,
            released: false,
        })
    }
}

impl LockGuard {
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Marks the lock as fresh at `at`, so a long run is not taken for stale. Fails with
    /// [`StateError::LockLost`] when another run took it over meanwhile.
    pub fn renew(&self, at: Timestamp) -> Result<(), StateError> {
        let changed = self.store.execute(
            "renew the run lock",
            "UPDATE run_lock SET since = ?1 WHERE id = 1 AND generation = ?2",
            params![at.to_string(), self.generation],
        )?;
        if changed == 0 {
            return Err(StateError::LockLost {
                path: self.store.path().to_path_buf(),
                holder: self.holder.clone(),
            });
        }
        Ok(())
    }

    /// Gives the lock up, reporting failure (dropping the guard does the same silently). A lock
    /// that another run took over is left to that run.
    pub fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        self.free()
    }

    fn free(&self) -> Result<(), StateError> {
        self.store.execute(
            "release the run lock",
            "UPDATE run_lock SET holder = NULL, since = NULL WHERE id = 1 AND generation = ?1",
            params![self.generation],
        )?;
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            // Nothing to report to from here; a lock left behind goes stale and is taken over.
            let _ = self.free();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    both_backends! {
        fn a_second_run_is_refused_and_told_who_holds_the_lock(db) {
            // Two separate handles: as two processes would open the file.
            let first = db.open();
            let second = db.open();

            let guard = first
                .acquire_lock("pid 1 on alpha", at("2025-01-01T06:00:00Z"), HOUR)
                .unwrap();
            assert_eq!(guard.holder(), "pid 1 on alpha");
            let refused = second
                .acquire_lock("pid 2 on beta", at("2025-01-01T06:30:00Z"), HOUR)
                .unwrap_err();
            match &refused {
                StateError::Locked { holder, since, .. } => {
                    assert_eq!(holder, "pid 1 on alpha");
                    assert_eq!(*since, at("2025-01-01T06:00:00Z"));
                }
                other => panic!("expected Locked, got {other:?}"),
            }
            let message = refused.to_string();
            assert!(message.contains("pid 1 on alpha"), "{message}");

            // The same handle is refused too.
            assert!(matches!(
                first.acquire_lock("pid 1 again", at("2025-01-01T06:30:00Z"), HOUR),
                Err(StateError::Locked { .. })
            ));

            guard.release().unwrap();
            second
                .acquire_lock("pid 2 on beta", at("2025-01-01T06:31:00Z"), HOUR)
                .unwrap();
        }
    }

    both_backends! {
        fn dropping_the_guard_releases_the_lock(db) {
            let store = db.open();
            let t = at("2025-01-01T06:00:00Z");
            {
                let _guard = store.acquire_lock("run a", t, HOUR).unwrap();
                assert!(store.acquire_lock("run b", t, HOUR).is_err());
            }
            store.acquire_lock("run b", t, HOUR).unwrap();
        }
    }

    both_backends! {
        fn a_stale_lock_is_taken_over_and_the_old_guard_cannot_free_it(db) {
            let store = db.open();
            let old = store
                .acquire_lock("crashed run", at("2025-01-01T06:00:00Z"), HOUR)
                .unwrap();
            // Exactly at the limit the lock still counts.
            assert!(matches!(
                store.acquire_lock("new run", at("2025-01-01T07:00:00Z"), HOUR),
                Err(StateError::Locked { .. })
            ));
            let new = store
                .acquire_lock("new run", at("2025-01-01T07:00:01Z"), HOUR)
                .unwrap();

            assert!(matches!(
                old.renew(at("2025-01-01T07:00:02Z")),
                Err(StateError::LockLost { .. })
            ));
            drop(old);
            match store.acquire_lock("third run", at("2025-01-01T07:00:03Z"), HOUR) {
                Err(StateError::Locked { holder, .. }) => assert_eq!(holder, "new run"),
                other => panic!("expected Locked by the new run, got {other:?}"),
            }
            new.release().unwrap();
        }
    }

    both_backends! {
        fn renewing_keeps_a_long_run_from_going_stale(db) {
            let store = db.open();
            let guard = store
                .acquire_lock("long run", at("2025-01-01T06:00:00Z"), HOUR)
                .unwrap();
            guard.renew(at("2025-01-01T06:50:00Z")).unwrap();
            match store.acquire_lock("other", at("2025-01-01T07:30:00Z"), HOUR) {
                Err(StateError::Locked { since, .. }) => {
                    assert_eq!(since, at("2025-01-01T06:50:00Z"))
                }
                other => panic!("expected Locked, got {other:?}"),
            }
        }
    }
}
