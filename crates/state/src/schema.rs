//! The schema and its migrations, applied in order at every open: SQLite's tracked with
//! `PRAGMA user_version`, PostgreSQL's (its own list, [`PG_MIGRATIONS`], versioned apart) in the
//! one-row table `schema_version` of the store's schema. Both hold the same tables and columns;
//! on PostgreSQL ids are identity columns and external ids sort bytewise (`COLLATE "C"`), as in
//! SQLite.
//!
//! Tables (times are RFC 3339 UTC text as `jiff::Timestamp` prints them; JSON is text):
//! - `runs`: one row per `sync` or `plan` run. `outcome` is one of `done`, `record_failures`,
//!   `usage`, `refused`, `unreachable` (before schema 4: `succeeded`, `partial`, `refused`,
//!   `failed`, renamed by that migration). `finished`, `outcome` and `summary` stay NULL
//!   until the run is finished; a run left open was interrupted. The summary JSON holds
//!   `source_records` (the number of source records read), which the guards compare against.
//! - `operations`: one row per operation a run meant to perform, written *before* acting
//!   (`run_id`, `external_id`, `operation`, `detail`). `outcome` (`done` or `failed`),
//!   `target_id`, `message` and `finished` are filled in afterwards; a row without an outcome
//!   means the process stopped between intent and outcome.
//! - `links`: external id (Flex `Id`, or a group's path key) -> target id, what it points at
//!   (`kind`: `user` or `group`), and whether this tool created that target resource
//!   (`created_by_us`, 0 or 1).
//! - `failures`: per external id, how often it failed in a row, first and last time, last message,
//!   the last failure's class (`retryable`, `permanent`, `conflict`) and the step that failed
//!   (`kind:fingerprint`, the fingerprint in 16 hex digits), so a held step that changes is tried
//!   again.
//! - `changes`: per sync, each change named for people (`external_id`, `name`, `email`,
//!   `action`, `result`) and the whole change as JSON in `detail` (birth dates never in it).
//! - `written`: per user (`external_id`) and `attribute`, a fingerprint (16 hex digits) of the
//!   value flexsync last wrote and when, so a later value that differs tells drift (a change by
//!   hand in Winningtemp) from a change in Flex. No value is kept, only its fingerprint.
//! - `refusals` (schema 8): per refused run, the guard, the refused plan's identity
//!   (`plan_id`, 16 hex digits), its `problem` and `remedy`, and its step `counts` (JSON);
//!   `approved_by`/`approved_at` once `flexsync approve` let it through, and `used_by` (the run
//!   that went through on it) and `used_at` once used. An approval is used at most once.
//! - `run_lock`: exactly one row (`id` = 1). `holder` and `since` are NULL when free;
//!   `generation` grows on every acquisition so a stale holder cannot release a newer lock.

use rusqlite::{Connection, TransactionBehavior};

use crate::db::{Conn, DbError, params};

/// Each entry moves the schema from version `index` to `index + 1`. Append only; never edit.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,
    started  TEXT NOT NULL,
    finished TEXT,
    outcome  TEXT CHECK (outcome IN ('succeeded', 'partial', 'refused', 'failed')),
    summary  TEXT
);

CREATE TABLE operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    external_id TEXT NOT NULL,
    operation   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    outcome     TEXT CHECK (outcome IN ('done', 'failed')),
    target_id   TEXT,
    message     TEXT,
    finished    TEXT
);
CREATE INDEX operations_by_run ON operations(run_id);
CREATE INDEX operations_open ON operations(id) WHERE outcome IS NULL;

CREATE TABLE links (
    external_id   TEXT PRIMARY KEY NOT NULL,
    target_id     TEXT NOT NULL,
    created_by_us INTEGER NOT NULL CHECK (created_by_us IN (0, 1)),
    linked_at     TEXT NOT NULL
);

CREATE TABLE failures (
    external_id  TEXT PRIMARY KEY NOT NULL,
    count        INTEGER NOT NULL,
    first_at     TEXT NOT NULL,
    last_at      TEXT NOT NULL,
    last_message TEXT NOT NULL
);

CREATE TABLE run_lock (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT,
    since      TEXT,
    generation INTEGER NOT NULL
);
INSERT INTO run_lock (id, holder, since, generation) VALUES (1, NULL, NULL, 0);
"#,
    r#"
CREATE TABLE empty_groups (
    external_id TEXT PRIMARY KEY,
    since       TEXT NOT NULL
);
"#,
    r#"
ALTER TABLE failures ADD COLUMN class TEXT NOT NULL DEFAULT 'retryable'
    CHECK (class IN ('retryable', 'permanent', 'conflict'));
ALTER TABLE failures ADD COLUMN failed_step TEXT;
"#,
    // One outcome for the exit code, the store and the metrics. The runs table is rebuilt to
    // change its CHECK; foreign keys from `operations` are deferred to the commit, by which
    // every run is back under its id.
    r#"
PRAGMA defer_foreign_keys = ON;
CREATE TABLE runs_before_4 AS SELECT * FROM runs;
DROP TABLE runs;
CREATE TABLE runs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL CHECK (kind IN ('sync', 'plan')),
    started  TEXT NOT NULL,
    finished TEXT,
    outcome  TEXT CHECK (outcome IN ('done', 'record_failures', 'usage', 'refused', 'unreachable')),
    summary  TEXT
);
INSERT INTO runs (id, kind, started, finished, outcome, summary)
    SELECT id, kind, started, finished,
           CASE outcome
               WHEN 'succeeded' THEN 'done'
               WHEN 'partial' THEN 'record_failures'
               WHEN 'refused' THEN 'refused'
               WHEN 'failed' THEN 'unreachable'
           END,
           summary
    FROM runs_before_4;
DROP TABLE runs_before_4;
"#,
    // Links say what they point at; before, group links were told apart by their `grp` prefix,
    // which this migration reads once.
    r#"
ALTER TABLE links ADD COLUMN kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'group'));
UPDATE links SET kind = 'group' WHERE external_id LIKE 'grp:%' OR external_id LIKE 'grp-name:%';
"#,
    r#"
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT,
    action      TEXT NOT NULL,
    result      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX changes_by_run ON changes(run_id);
"#,
    r#"
CREATE TABLE written (
    external_id TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    written     TEXT NOT NULL,
    PRIMARY KEY (external_id, attribute)
);
CREATE INDEX changes_by_person ON changes(external_id);
"#,
    // Schema 8: refused plans, and their approvals.
    r#"
CREATE TABLE refusals (
    run_id      INTEGER PRIMARY KEY REFERENCES runs(id),
    guard       TEXT NOT NULL,
    plan_id     TEXT NOT NULL,
    problem     TEXT NOT NULL,
    remedy      TEXT NOT NULL,
    counts      TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    used_by     INTEGER REFERENCES runs(id),
    used_at     TEXT
);
CREATE INDEX refusals_by_plan ON refusals(plan_id);
"#,
];

/// PostgreSQL's schema, each entry moving it from version `index` to `index + 1`. Append only.
/// Version 1 holds what SQLite's eight migrations built.
pub const PG_MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('sync', 'plan')),
    started  TEXT NOT NULL,
    finished TEXT,
    outcome  TEXT CHECK (outcome IN ('done', 'record_failures', 'usage', 'refused', 'unreachable')),
    summary  TEXT
);

CREATE TABLE operations (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs(id),
    external_id TEXT COLLATE "C" NOT NULL,
    operation   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    outcome     TEXT CHECK (outcome IN ('done', 'failed')),
    target_id   TEXT,
    message     TEXT,
    finished    TEXT
);
CREATE INDEX operations_by_run ON operations(run_id);
CREATE INDEX operations_open ON operations(id) WHERE outcome IS NULL;

CREATE TABLE links (
    external_id   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    target_id     TEXT NOT NULL,
    created_by_us BIGINT NOT NULL CHECK (created_by_us IN (0, 1)),
    linked_at     TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'group'))
);

CREATE TABLE failures (
    external_id  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    count        BIGINT NOT NULL,
    first_at     TEXT NOT NULL,
    last_at      TEXT NOT NULL,
    last_message TEXT NOT NULL,
    class        TEXT NOT NULL DEFAULT 'retryable'
        CHECK (class IN ('retryable', 'permanent', 'conflict')),
    failed_step  TEXT
);

CREATE TABLE run_lock (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    holder     TEXT,
    since      TEXT,
    generation BIGINT NOT NULL
);
INSERT INTO run_lock (id, holder, since, generation) VALUES (1, NULL, NULL, 0);

CREATE TABLE empty_groups (
    external_id TEXT COLLATE "C" PRIMARY KEY,
    since       TEXT NOT NULL
);

CREATE TABLE changes (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs(id),
    external_id TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT,
    action      TEXT NOT NULL,
    result      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX changes_by_run ON changes(run_id);
CREATE INDEX changes_by_person ON changes(external_id);

CREATE TABLE written (
    external_id TEXT COLLATE "C" NOT NULL,
    attribute   TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    written     TEXT NOT NULL,
    PRIMARY KEY (external_id, attribute)
);

CREATE TABLE refusals (
    run_id      BIGINT PRIMARY KEY REFERENCES runs(id),
    guard       TEXT NOT NULL,
    plan_id     TEXT NOT NULL,
    problem     TEXT NOT NULL,
    remedy      TEXT NOT NULL,
    counts      TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    used_by     BIGINT REFERENCES runs(id),
    used_at     TEXT
);
CREATE INDEX refusals_by_plan ON refusals(plan_id);
"#];

/// Why migrating stopped.
#[derive(Debug)]
pub enum MigrateError {
    Sql(rusqlite::Error),
    Newer {
        found: i64,
        known: i64,
    },
    /// PostgreSQL reported an error.
    Postgres(DbError),
}

impl From<DbError> for MigrateError {
    fn from(error: DbError) -> Self {
        MigrateError::Postgres(error)
    }
}

impl From<rusqlite::Error> for MigrateError {
    fn from(error: rusqlite::Error) -> Self {
        MigrateError::Sql(error)
    }
}

/// Brings the database up to the newest schema. Safe to call on every open: applied migrations
/// are skipped, and the version is re-read inside a write transaction so two openers cannot both
/// apply the same step.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(MigrateError::Newer { found, known });
    }
    for (version, sql) in (1_i64..)
        .zip(MIGRATIONS.iter())
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
    }
    tx.commit()?;
    Ok(())
}

/// Brings a PostgreSQL store up to [`PG_MIGRATIONS`], in one transaction that other openers of
/// the same store wait for.
pub fn migrate_postgres(conn: &mut Conn) -> Result<(), MigrateError> {
    apply_postgres(conn, PG_MIGRATIONS)
}

/// Brings a PostgreSQL schema up to `migrations` (each moving it from version `index` to
/// `index + 1`), its version kept in its table `schema_version`.
pub(crate) fn apply_postgres(conn: &mut Conn, migrations: &[&str]) -> Result<(), MigrateError> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    conn.transaction(|tx| {
        tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let found: Vec<(i64,)> = tx.rows("SELECT version FROM schema_version", vec![])?;
        let found = match found.first() {
            Some((version,)) => *version,
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", vec![])?;
                0
            }
        };
        if found > known {
            return Err(MigrateError::Newer { found, known });
        }
        for (version, sql) in (1_i64..)
            .zip(migrations.iter())
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.batch(sql)?;
            tx.execute("UPDATE schema_version SET version = ?1", params![version])?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_4_renames_outcomes_and_keeps_every_run_and_operation() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO runs (kind, started, finished, outcome) VALUES
                 ('sync', 't1', 't2', 'succeeded'), ('sync', 't3', 't4', 'partial'),
                 ('sync', 't5', 't6', 'refused'), ('sync', 't7', 't8', 'failed'),
                 ('plan', 't9', NULL, NULL);
             INSERT INTO operations (run_id, external_id, operation, detail)
                 VALUES (2, 'E1', 'create', '{}');",
        )
        .unwrap();

        migrate(&mut conn).unwrap();

        let outcomes: Vec<(i64, Option<String>)> = conn
            .prepare("SELECT id, outcome FROM runs ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = [
            (1, Some("done")),
            (2, Some("record_failures")),
            (3, Some("refused")),
            (4, Some("unreachable")),
            (5, None),
        ];
        let expected: Vec<(i64, Option<String>)> = expected
            .iter()
            .map(|(id, o)| (*id, o.map(str::to_string)))
            .collect();
        assert_eq!(outcomes, expected);
        let dangling: i64 = conn
            .query_row(
                "SELECT count(*) FROM operations WHERE run_id NOT IN (SELECT id FROM runs)",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(dangling, 0);
        let next: i64 = conn
            .query_row(
                "INSERT INTO runs (kind, started) VALUES ('sync', 't10') RETURNING id",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(next, 6);
        let refused = conn.execute(
            "INSERT INTO runs (kind, started, outcome) VALUES ('sync', 't', 'succeeded')",
            [],
        );
        assert!(refused.is_err(), "the old outcome names are refused now");
    }

    #[test]
    fn schema_5_tells_group_links_from_user_links() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute_batch(
            "INSERT INTO links (external_id, target_id, created_by_us, linked_at) VALUES
                 ('e2e60fc5', 'u1', 1, 't'), ('grp:1010/kontor=100', 'g1', 1, 't'),
                 ('grp-name:ekonomi', 'g2', 0, 't');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kinds: Vec<(String, String)> = conn
            .prepare("SELECT external_id, kind FROM links ORDER BY external_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let kind = |id: &str| kinds.iter().find(|(e, _)| e == id).unwrap().1.clone();
        assert_eq!(kind("e2e60fc5"), "user");
        assert_eq!(kind("grp:1010/kontor=100"), "group");
        assert_eq!(kind("grp-name:ekonomi"), "group");
    }
}
