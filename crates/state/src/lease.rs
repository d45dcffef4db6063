//! Several daemons sharing tenants through PostgreSQL: per tenant a lease (holder, expiry by the
//! server's clock, a generation that grows with every new holder) that its holder renews, and
//! per tenant and scheduled slot one row saying who ran it and how it ended, so a slot is never
//! run twice nor lost when its holder dies. Lives in its own schema (tables `leases`, `slots`,
//! versioned in `schema_version` like a store).

use jiff::Timestamp;

use crate::db::{Conn, DbError, params};
use crate::error::StateError;
use crate::pg::{PgConn, PgTarget};
use crate::schema::MigrateError;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The coordination schema's migrations. Append only.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE leases (
    tenant         TEXT COLLATE "C" PRIMARY KEY,
    holder         TEXT,
    expires        TIMESTAMPTZ,
    generation     BIGINT NOT NULL,
    scheduled_from TIMESTAMPTZ NOT NULL,
    takeovers      BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE slots (
    tenant   TEXT COLLATE "C" NOT NULL,
    slot     TEXT NOT NULL,
    holder   TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    claimed  TIMESTAMPTZ NOT NULL,
    finished TIMESTAMPTZ,
    run_id   BIGINT,
    outcome  TEXT,
    PRIMARY KEY (tenant, slot)
);
"#];

/// A lease held: the tenant and the generation it was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant: String,
    pub holder: String,
    pub generation: i64,
    /// When the tenant's schedule counts from (its first lease ever).
    pub scheduled_from: Timestamp,
}

/// What claiming a slot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had it: run it.
    New,
    /// A holder that lost its lease had claimed it (at `claimed`, the database's clock) and not
    /// marked it finished: run it again, unless that holder's run completed before it died.
    TakenOver { from: String, claimed: Timestamp },
    /// It ran already.
    Done,
    /// The lease is no longer ours: leave the tenant.
    LeaseLost,
}

/// A slot as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRow {
    pub tenant: String,
    pub slot: Timestamp,
    pub holder: String,
    pub attempts: i64,
    pub finished: bool,
    pub run_id: Option<i64>,
    pub outcome: Option<String>,
}

/// The leases and slots of every tenant, on one connection shared by a daemon's threads; a
/// connection the server closed (a restart, a failover) is opened again on the next call.
#[derive(Debug)]
pub struct LeaseBoard {
    name: PathBuf,
    target: PgTarget,
    conn: Mutex<Conn>,
}

impl LeaseBoard {
    /// Connects to `target`'s schema and migrates it.
    pub fn open(target: &PgTarget) -> Result<LeaseBoard, StateError> {
        let name = PathBuf::from(target.display());
        let failed = |operation| {
            let name = name.clone();
            move |error| StateError::of_db(name, operation, error)
        };
        let mut conn = Conn::Postgres(PgConn::connect(target).map_err(failed("connect"))?);
        migrate(&mut conn).map_err(failed("migrate the lease schema"))?;
        Ok(LeaseBoard {
            name,
            target: target.clone(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn.lock().map_err(|_| StateError::Poisoned {
            path: self.name.clone(),
            operation,
        })?;
        if matches!(&*conn, Conn::Postgres(pg) if pg.is_closed()) {
            let reopened = PgConn::connect(&self.target)
                .map_err(|error| StateError::of_db(self.name.clone(), "reconnect", error))?;
            *conn = Conn::Postgres(reopened);
        }
        call(&mut conn).map_err(|error| StateError::of_db(self.name.clone(), operation, error))
    }

    /// Takes the lease of `tenant` for `holder` for `ttl` when it is free, expired or already
    /// `holder`'s; `None` when another holds it.
    pub fn acquire(
        &self,
        tenant: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        let millis = millis(ttl);
        self.with("take a lease", |conn| {
            conn.execute(
                "INSERT INTO leases (tenant, holder, expires, generation, scheduled_from)
                 VALUES (?1, NULL, NULL, 0, now()) ON CONFLICT (tenant) DO NOTHING",
                params![tenant],
            )?;
            let rows: Vec<(i64, String, i64)> = conn.rows(
                "UPDATE leases SET
                     takeovers = takeovers + CASE WHEN holder IS NOT NULL AND holder <> ?2
                         THEN 1 ELSE 0 END,
                     generation = generation + CASE WHEN holder = ?2 THEN 0 ELSE 1 END,
                     holder = ?2,
                     expires = clock_timestamp() + CAST(CAST(?3 AS TEXT) || ' ms' AS INTERVAL)
                 WHERE tenant = ?1
                   AND (holder IS NULL OR holder = ?2 OR expires < clock_timestamp())
                 RETURNING generation, to_char(scheduled_from AT TIME ZONE 'UTC',
                     'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), takeovers",
                params![tenant, holder, millis],
            )?;
            Ok(rows.into_iter().next())
        })?
        .map(|(generation, from, _)| {
            Ok(Lease {
                tenant: tenant.to_string(),
                holder: holder.to_string(),
                generation,
                scheduled_from: self.time("leases", tenant, "scheduled_from", &from)?,
            })
        })
        .transpose()
    }

    /// Moves the lease's expiry `ttl` ahead; false when it is no longer `lease.holder`'s.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        let millis = millis(ttl);
        let changed = self.with("renew a lease", |conn| {
            conn.execute(
                "UPDATE leases SET expires = clock_timestamp()
                     + CAST(CAST(?4 AS TEXT) || ' ms' AS INTERVAL)
                 WHERE tenant = ?1 AND holder = ?2 AND generation = ?3
                   AND expires >= clock_timestamp()",
                params![lease.tenant, lease.holder, lease.generation, millis],
            )
        })?;
        Ok(changed == 1)
    }

    /// Gives the lease up, so another daemon may take the tenant at once.
    pub fn release(&self, lease: &Lease) -> Result<(), StateError> {
        self.with("release a lease", |conn| {
            conn.execute(
                "UPDATE leases SET holder = NULL, expires = NULL
                 WHERE tenant = ?1 AND holder = ?2 AND generation = ?3",
                params![lease.tenant, lease.holder, lease.generation],
            )
        })?;
        Ok(())
    }

    /// Claims `slot` of the lease's tenant, in one transaction that also checks the lease.
    pub fn claim(&self, lease: &Lease, slot: Timestamp) -> Result<Claim, StateError> {
        self.with("claim a slot", |conn| {
            conn.transaction(|tx| {
                let held: Vec<(i64,)> = tx.rows(
                    "SELECT generation FROM leases WHERE tenant = ?1 AND holder = ?2
                       AND generation = ?3 AND expires >= clock_timestamp() FOR UPDATE",
                    params![lease.tenant, lease.holder, lease.generation],
                )?;
                if held.is_empty() {
                    return Ok(Claim::LeaseLost);
                }
                let found: Vec<(String, Option<String>, String)> = tx.rows(
                    "SELECT holder, to_char(finished, 'YYYY'), to_char(claimed AT TIME ZONE 'UTC',
                         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
                     FROM slots WHERE tenant = ?1 AND slot = ?2 FOR UPDATE",
                    params![lease.tenant, slot.to_string()],
                )?;
                match found.into_iter().next() {
                    None => {
                        tx.execute(
                            "INSERT INTO slots (tenant, slot, holder, attempts, claimed)
                             VALUES (?1, ?2, ?3, 1, clock_timestamp())",
                            params![lease.tenant, slot.to_string(), lease.holder],
                        )?;
                        Ok(Claim::New)
                    }
                    Some((_, Some(_), _)) => Ok(Claim::Done),
                    Some((from, None, claimed)) => {
                        let claimed = claimed.parse::<Timestamp>().map_err(|error| {
                            DbError::Decode(format!("slots.claimed {claimed:?}: {error}"))
                        })?;
                        tx.execute(
                            "UPDATE slots SET holder = ?3, attempts = attempts + 1,
                                 claimed = clock_timestamp()
                             WHERE tenant = ?1 AND slot = ?2",
                            params![lease.tenant, slot.to_string(), lease.holder],
                        )?;
                        Ok(Claim::TakenOver { from, claimed })
                    }
                }
            })
        })
    }

    /// Records how the slot ended (the run's id in the tenant's store, and its outcome).
    pub fn finish(
        &self,
        lease: &Lease,
        slot: Timestamp,
        run_id: Option<i64>,
        outcome: &str,
    ) -> Result<bool, StateError> {
        let changed = self.with("finish a slot", |conn| {
            conn.execute(
                "UPDATE slots SET finished = clock_timestamp(), run_id = ?4, outcome = ?5
                 WHERE tenant = ?1 AND slot = ?2 AND holder = ?3 AND finished IS NULL",
                params![
                    lease.tenant,
                    slot.to_string(),
                    lease.holder,
                    run_id,
                    outcome
                ],
            )
        })?;
        Ok(changed == 1)
    }

    /// The newest slot recorded for `tenant`.
    pub fn last_slot(&self, tenant: &str) -> Result<Option<SlotRow>, StateError> {
        Ok(self
            .slots_where("WHERE tenant = ?1 ORDER BY slot DESC LIMIT 1", tenant)?
            .into_iter()
            .next())
    }

    /// Every slot recorded, by tenant and time.
    pub fn slots(&self) -> Result<Vec<SlotRow>, StateError> {
        self.slots_where("WHERE tenant <> ?1 ORDER BY tenant, slot", "")
    }

    /// Each tenant's current holder, if its lease has not expired.
    pub fn holders(&self) -> Result<Vec<(String, Option<String>)>, StateError> {
        self.with("read the holders", |conn| {
            conn.rows(
                "SELECT tenant, CASE WHEN expires >= clock_timestamp() THEN holder END
                 FROM leases ORDER BY tenant",
                params![],
            )
        })
    }

    /// How many times each tenant's lease passed from an expired holder to another.
    pub fn takeovers(&self) -> Result<Vec<(String, i64)>, StateError> {
        self.with("read the takeovers", |conn| {
            conn.rows(
                "SELECT tenant, takeovers FROM leases ORDER BY tenant",
                params![],
            )
        })
    }

    fn slots_where(&self, clauses: &str, value: &str) -> Result<Vec<SlotRow>, StateError> {
        type Raw = (
            String,
            String,
            String,
            i64,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let query = format!(
            "SELECT tenant, slot, holder, attempts, to_char(finished, 'YYYY'), run_id, outcome
             FROM slots {clauses}"
        );
        let rows: Vec<Raw> = self.with("read slots", |conn| conn.rows(&query, params![value]))?;
        rows.into_iter()
            .map(
                |(tenant, slot, holder, attempts, finished, run_id, outcome)| {
                    Ok(SlotRow {
                        slot: self.time("slots", &tenant, "slot", &slot)?,
                        tenant,
                        holder,
                        attempts,
                        finished: finished.is_some(),
                        run_id,
                        outcome,
                    })
                },
            )
            .collect()
    }

    fn time(
        &self,
        table: &'static str,
        row: &str,
        column: &'static str,
        text: &str,
    ) -> Result<Timestamp, StateError> {
        text.parse().map_err(|error| StateError::Corrupt {
            path: self.name.clone(),
            table,
            row: row.to_string(),
            column,
            detail: format!("{text:?}: {error}"),
        })
    }
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn migrate(conn: &mut Conn) -> Result<(), DbError> {
    crate::schema::apply_postgres(conn, MIGRATIONS).map_err(|error| match error {
        MigrateError::Postgres(error) => error,
        MigrateError::Sql(error) => DbError::Sqlite(error),
        MigrateError::Newer { found, known } => DbError::Decode(format!(
            "lease schema version {found} is newer than this flexsync knows ({known})"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    const TTL: Duration = Duration::from_secs(30);

    fn board() -> Option<(TestDb, LeaseBoard)> {
        let db = TestDb::postgres("lease")?;
        let TestDb::Postgres(target) = &db else {
            return None;
        };
        let board = LeaseBoard::open(target).unwrap();
        Some((db, board))
    }

    #[test]
    fn a_lease_is_one_holders_until_released_or_expired() {
        let Some((_db, board)) = board() else { return };
        let a = board.acquire("acme", "a", TTL).unwrap().unwrap();
        assert!(board.acquire("acme", "b", TTL).unwrap().is_none());
        assert_eq!(
            board.acquire("acme", "a", TTL).unwrap().unwrap().generation,
            a.generation
        );
        board.release(&a).unwrap();
        let b = board.acquire("acme", "b", Duration::ZERO).unwrap().unwrap();
        assert!(b.generation > a.generation);
        assert!(!board.renew(&a, TTL).unwrap(), "a's lease is gone");
        std::thread::sleep(Duration::from_millis(20));
        // b's lease expired at once: c takes it over, and b can no longer renew.
        let c = board.acquire("acme", "c", TTL).unwrap().unwrap();
        assert!(!board.renew(&b, TTL).unwrap());
        assert!(board.renew(&c, TTL).unwrap());
        assert_eq!(board.takeovers().unwrap(), [("acme".to_string(), 1)]);
    }

    #[test]
    fn a_connection_the_server_closed_is_opened_again() {
        let Some((db, board)) = board() else { return };
        let TestDb::Postgres(target) = &db else {
            return;
        };
        let a = board.acquire("acme", "a", TTL).unwrap().unwrap();
        let backends: Vec<(i64,)> = board
            .with("read the backend", |conn| {
                conn.rows("SELECT pg_backend_pid()::BIGINT", params![])
            })
            .unwrap();
        let pid = backends[0].0;
        // As a server restart or failover would: the board's connection is ended server-side.
        let other = LeaseBoard::open(target).unwrap();
        other
            .with("end the connection", |conn| {
                conn.execute("SELECT pg_terminate_backend(?1::INTEGER)", params![pid])
            })
            .unwrap();
        let closed = |board: &LeaseBoard| matches!(&*board.conn.lock().unwrap(), Conn::Postgres(pg) if pg.is_closed());
        for _ in 0..100 {
            if closed(&board) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(closed(&board), "the server ended the connection");
        assert!(
            board.renew(&a, TTL).unwrap(),
            "renewed over a new connection"
        );
    }

    #[test]
    fn a_slot_runs_once_and_an_unfinished_one_is_taken_over() {
        let Some((_db, board)) = board() else { return };
        let slot: Timestamp = "2026-11-30T01:00:00Z".parse().unwrap();
        let a = board.acquire("acme", "a", Duration::ZERO).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(board.claim(&a, slot).unwrap(), Claim::LeaseLost);
        let a = board.acquire("acme", "a", TTL).unwrap().unwrap();
        let before_claim = Timestamp::now() - jiff::SignedDuration::from_secs(5);
        assert_eq!(board.claim(&a, slot).unwrap(), Claim::New);
        // a dies before finishing; b gets the lease once it is released or expired.
        board.release(&a).unwrap();
        let b = board.acquire("acme", "b", TTL).unwrap().unwrap();
        // The takeover says who had it and since when (the earlier holder's run may have
        // completed since then; the daemon looks for it before running the slot again).
        match board.claim(&b, slot).unwrap() {
            Claim::TakenOver { from, claimed } => {
                assert_eq!(from, "a");
                let after_claim = Timestamp::now() + jiff::SignedDuration::from_secs(5);
                assert!(before_claim < claimed && claimed < after_claim, "{claimed}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !board.finish(&a, slot, Some(1), "done").unwrap(),
            "not a's any more"
        );
        assert!(board.finish(&b, slot, Some(2), "done").unwrap());
        assert_eq!(board.claim(&b, slot).unwrap(), Claim::Done);
        let last = board.last_slot("acme").unwrap().unwrap();
        assert_eq!((last.slot, last.attempts, last.run_id), (slot, 2, Some(2)));
        assert!(last.finished);
    }
}
