//! Opening the store (SQLite file or memory, or a PostgreSQL schema), connection settings, and
//! the small helpers every table module uses: running a call on the connection and decoding
//! stored times and JSON.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;

use crate::db::{Conn, DbError, FromRow, Value};
use crate::error::StateError;
use crate::pg::{PgConn, PgTarget};
use crate::schema::{self, MigrateError};

/// What ended a transaction: the store's own error, or the backend's at begin or commit.
enum Failure {
    Store(StateError),
    Db(DbError),
}

impl From<DbError> for Failure {
    fn from(error: DbError) -> Self {
        Failure::Db(error)
    }
}

/// Creates `dir` (and its parents) for its owner only; an existing folder is left as it is.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates the database file readable by its owner only, and takes group and other bits off it
/// and its `-wal` and `-shm` files where an earlier version left them.
fn private_files(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// Pages the SQLite write-ahead log grows to before it is copied into the database file.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// How long a call waits for another process's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on one state database. Cheap to clone; clones share one connection, and each call
/// holds it only for that call. Every method is synchronous and short, so async callers may call
/// them directly.
#[derive(Debug, Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The file, or for PostgreSQL the URL (without password) and schema: how errors name it.
    path: PathBuf,
    conn: Mutex<Conn>,
}

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A schema on a PostgreSQL server.
    Postgres(PgTarget),
}

impl StateStore {
    /// Opens the store at `location`, a SQLite file or a PostgreSQL schema.
    pub fn open_at(location: &Location) -> Result<StateStore, StateError> {
        match location {
            Location::File(path) => StateStore::open(path),
            Location::Postgres(target) => StateStore::open_postgres(target),
        }
    }

    /// Opens (creating the parent directory and the file if needed) and migrates the database at
    /// `path`.
    /// The database holds personal data: a folder it creates is its owner's only (0700), and the
    /// file and its WAL companions are made readable by their owner only (0600), tightened on
    /// every open.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            private_dir(dir).map_err(|source| StateError::CreateDir {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        private_files(path).map_err(|source| StateError::Private {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StateError::Sql {
            path: path.to_path_buf(),
            operation: "open",
            source,
        })?;
        StateStore::setup(path.to_path_buf(), conn)
    }

    /// A private database that lives as long as this handle and its clones (for `plan` runs
    /// without a state file, and tests).
    pub fn open_in_memory() -> Result<StateStore, StateError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sql {
            path: path.clone(),
            operation: "open",
            source,
        })?;
        StateStore::setup(path, conn)
    }

    /// Connects to the PostgreSQL schema of `target` (creating it when missing) and migrates it.
    pub fn open_postgres(target: &PgTarget) -> Result<StateStore, StateError> {
        let path = PathBuf::from(target.display());
        let failed = |operation| {
            let path = path.clone();
            move |error| StateError::of_db(path, operation, error)
        };
        let mut conn = Conn::Postgres(PgConn::connect(target).map_err(failed("connect"))?);
        schema::migrate_postgres(&mut conn).map_err(|error| match error {
            MigrateError::Newer { found, known } => StateError::NewerSchema {
                path: path.clone(),
                found,
                known,
            },
            MigrateError::Sql(source) => failed("migrate the schema")(DbError::Sqlite(source)),
            MigrateError::Postgres(error) => failed("migrate the schema")(error),
        })?;
        Ok(StateStore {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
            }),
        })
    }

    /// Where the database lives (`:memory:` for an in-memory store; for PostgreSQL its URL
    /// without password, then `#` and the schema).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn setup(path: PathBuf, mut conn: Connection) -> Result<StateStore, StateError> {
        let sql = |operation| {
            let path = path.clone();
            move |source| StateError::Sql {
                path,
                operation,
                source,
            }
        };
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set the busy timeout"))?;
        // In-memory databases answer "memory"; that is fine.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sql("switch to WAL mode"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql("enable foreign keys"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("set synchronous mode"))?;
        // The journal commits often (each batch of intents and outcomes, intent before write),
        // and each commit rewrites the same few pages in the log: checkpoint after 10,000 pages
        // (about 40 MB) rather than 1,000, so each page goes to the database file once per
        // checkpoint, not once per few hundred commits.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(sql("set the checkpoint interval"))?;
        schema::migrate(&mut conn).map_err(|error| match error {
            MigrateError::Sql(source) => StateError::Sql {
                path: path.clone(),
                operation: "migrate the schema",
                source,
            },
            MigrateError::Postgres(error) => {
                StateError::of_db(path.clone(), "migrate the schema", error)
            }
            MigrateError::Newer { found, known } => StateError::NewerSchema {
                path: path.clone(),
                found,
                known,
            },
        })?;
        Ok(StateStore {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(Conn::Sqlite(conn)),
            }),
        })
    }

    /// Runs `call` on the connection. `operation` names the call in errors.
    pub(crate) fn with_conn<T>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&mut Conn) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = self.inner.conn.lock().map_err(|_| StateError::Poisoned {
            path: self.inner.path.clone(),
            operation,
        })?;
        call(&mut conn)
    }

    /// Runs `call` in one transaction (see [`Conn::transaction`]).
    pub(crate) fn in_transaction<T>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&mut Conn) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let sql = self.sql(operation);
        self.with_conn(operation, |conn| {
            conn.transaction(|tx| call(tx).map_err(Failure::Store))
                .map_err(|failure| match failure {
                    Failure::Store(error) => error,
                    Failure::Db(error) => sql(error),
                })
        })
    }

    /// Runs one statement and returns how many rows it changed.
    pub(crate) fn execute(
        &self,
        operation: &'static str,
        query: &str,
        params: Vec<Value>,
    ) -> Result<usize, StateError> {
        let sql = self.sql(operation);
        self.with_conn(operation, |conn| conn.execute(query, params).map_err(&sql))
    }

    /// Runs one `INSERT ... RETURNING id` and returns the id of the new row.
    pub(crate) fn insert(
        &self,
        operation: &'static str,
        query: &str,
        params: Vec<Value>,
    ) -> Result<i64, StateError> {
        let rows: Vec<(i64,)> = self.rows(operation, query, params)?;
        rows.first()
            .map(|(id,)| *id)
            .ok_or_else(|| self.missing(operation, "the insert returned no id".into()))
    }

    /// Every row `query` returns, each read as `T` (a tuple of the selected columns).
    pub(crate) fn rows<T: FromRow>(
        &self,
        operation: &'static str,
        query: &str,
        params: Vec<Value>,
    ) -> Result<Vec<T>, StateError> {
        let sql = self.sql(operation);
        self.with_conn(operation, |conn| conn.rows(query, params).map_err(&sql))
    }

    /// Calls `each` with every row of a query as the rows come (see [`Conn::each_row`]).
    pub(crate) fn each_row<T: FromRow>(
        &self,
        operation: &'static str,
        query: &str,
        params: Vec<Value>,
        mut each: impl FnMut(T) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let sql = self.sql(operation);
        self.with_conn(operation, |conn| {
            conn.each_row::<T, Failure>(query, params, |row| each(row).map_err(Failure::Store))
                .map_err(|failure| match failure {
                    Failure::Store(error) => error,
                    Failure::Db(error) => sql(error),
                })
        })
    }

    /// Maps a backend error to a [`StateError`] for `operation`.
    pub(crate) fn sql(&self, operation: &'static str) -> impl Fn(DbError) -> StateError {
        let path = self.inner.path.clone();
        move |error| StateError::of_db(path.clone(), operation, error)
    }

    pub(crate) fn missing(&self, operation: &'static str, what: String) -> StateError {
        StateError::Missing {
            path: self.inner.path.clone(),
            operation,
            what,
        }
    }

    pub(crate) fn corrupt(
        &self,
        table: &'static str,
        row: impl ToString,
        column: &'static str,
        detail: impl ToString,
    ) -> StateError {
        StateError::Corrupt {
            path: self.inner.path.clone(),
            table,
            row: row.to_string(),
            column,
            detail: detail.to_string(),
        }
    }

    /// Decodes a stored time.
    pub(crate) fn timestamp(
        &self,
        table: &'static str,
        row: impl ToString,
        column: &'static str,
        text: &str,
    ) -> Result<Timestamp, StateError> {
        text.parse::<Timestamp>()
            .map_err(|error| self.corrupt(table, row, column, format!("{text:?}: {error}")))
    }

    /// Decodes a stored JSON document.
    pub(crate) fn json(
        &self,
        table: &'static str,
        row: impl ToString,
        column: &'static str,
        text: &str,
    ) -> Result<serde_json::Value, StateError> {
        serde_json::from_str(text).map_err(|error| self.corrupt(table, row, column, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::both_backends;

    #[test]
    fn the_store_and_its_new_folder_are_their_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("flexsync.db");
        let store = StateStore::open(&path).unwrap();
        store
            .begin_run(
                jiff::Timestamp::UNIX_EPOCH,
                flexsync_core::outcome::RunKind::Sync,
            )
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // An older store left readable by others is tightened when opened.
        drop(store);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        StateStore::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
    use flexsync_core::current::LinkKind;
    use flexsync_core::retry_hold::FailureClass;

    #[test]
    fn open_creates_the_parent_directory_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("deeper").join("state.db");
        let store = StateStore::open(&path).unwrap();
        assert!(path.is_file());
        assert_eq!(store.path(), path);
        drop(store);

        // Reopening must not re-run migrations (they would fail on existing tables).
        let store = StateStore::open(&path).unwrap();
        let (version, mode): (i64, String) = store
            .with_conn("inspect", |conn| {
                let Conn::Sqlite(conn) = conn else {
                    panic!("a file opens on SQLite")
                };
                let version = conn
                    .pragma_query_value(None, "user_version", |row| row.get(0))
                    .unwrap();
                let mode = conn
                    .pragma_query_value(None, "journal_mode", |row| row.get(0))
                    .unwrap();
                Ok((version, mode))
            })
            .unwrap();
        assert_eq!(version, i64::try_from(schema::MIGRATIONS.len()).unwrap());
        assert_eq!(mode.to_lowercase(), "wal");
    }

    both_backends! {
        fn data_survives_reopen(db) {
            let at: Timestamp = "2025-03-01T08:00:00Z".parse().unwrap();
            db.open()
                .link(LinkKind::User, &"E1".into(), &"T1".into(), true, at)
                .unwrap();
            let memory = db.open().memory().unwrap();
            assert_eq!(memory.links.get("E1").map(|t| t.as_str()), Some("T1"));
        }
    }

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(StateStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);

        let error = StateStore::open(&path).unwrap_err();
        match &error {
            StateError::NewerSchema { found, .. } => assert_eq!(*found, 99),
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        assert!(error.to_string().contains("state.db"), "{error}");
    }

    #[test]
    fn a_newer_postgres_schema_is_refused_by_name() {
        let Some(db) = crate::testing::TestDb::postgres("a_newer_postgres_schema") else {
            return;
        };
        let store = db.open();
        store
            .with_conn("break", |conn| {
                conn.execute("UPDATE schema_version SET version = 99", vec![])
                    .unwrap();
                Ok(())
            })
            .unwrap();
        drop(store);
        let crate::testing::TestDb::Postgres(target) = &db else {
            panic!("a PostgreSQL fixture")
        };
        match StateStore::open_postgres(target) {
            Err(error @ StateError::NewerSchema { found: 99, .. }) => {
                let text = error.to_string();
                assert!(text.contains("#test_"), "{text}");
                assert!(!text.contains("flexsync-test"), "no password: {text}");
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }

    #[test]
    fn tls_is_used_when_required_and_the_servers_certificate_is_checked() {
        let Some(db) = crate::testing::TestDb::postgres("tls_is_used_when_required") else {
            return;
        };
        let crate::testing::TestDb::Postgres(target) = &db else {
            panic!("a PostgreSQL fixture")
        };
        let Ok(ca) = std::env::var("FLEXSYNC_TEST_POSTGRES_CA") else {
            assert!(
                std::env::var("FLEXSYNC_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "FLEXSYNC_TEST_POSTGRES_CA is not set and FLEXSYNC_REQUIRE_INTEROP=1"
            );
            eprintln!("SKIPPED: FLEXSYNC_TEST_POSTGRES_CA is not set");
            return;
        };
        let required = crate::PgTarget {
            url: format!("{}?sslmode=require", target.url),
            ca_pem: Some(std::fs::read(ca).unwrap()),
            ..target.clone()
        };
        let store = StateStore::open_postgres(&required).unwrap();
        let ssl: Vec<(bool,)> = store
            .rows(
                "read the connection's TLS",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                vec![],
            )
            .unwrap();
        assert_eq!(ssl, [(true,)]);
        // Without the CA that signed the server's certificate, the connection is refused.
        let untrusted = crate::PgTarget {
            ca_pem: None,
            ..required
        };
        let error = StateStore::open_postgres(&untrusted)
            .unwrap_err()
            .to_string();
        assert!(error.contains("connect failed"), "{error}");
        assert!(error.to_lowercase().contains("certificate"), "{error}");
        assert!(!error.contains("flexsync-test"), "no password: {error}");
    }

    #[test]
    fn a_path_that_cannot_be_a_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let path = blocker.join("state.db");
        let error = StateStore::open(&path).unwrap_err();
        assert!(matches!(error, StateError::CreateDir { .. }), "{error:?}");
        assert!(error.to_string().contains("state.db"), "{error}");
    }

    both_backends! {
        fn a_corrupt_time_names_table_row_and_column(db) {
            let store = db.open();
            let at: Timestamp = "2025-03-01T08:00:00Z".parse().unwrap();
            store
                .record_failure(&"E7".into(), "boom", FailureClass::Retryable, None, at)
                .unwrap();
            store
                .with_conn("break", |conn| {
                    conn.execute("UPDATE failures SET last_at = 'yesterday'", vec![])
                        .unwrap();
                    Ok(())
                })
                .unwrap();
            let error = store.failures().unwrap_err();
            let text = error.to_string();
            assert!(text.contains("failures"), "{text}");
            assert!(text.contains("E7"), "{text}");
            assert!(text.contains("last_at"), "{text}");
        }
    }
}
