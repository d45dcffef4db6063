//! The one error type of the state store: every variant names the database and what was being done.

use std::path::PathBuf;

use jiff::Timestamp;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {path}: could not create it readable by its owner only: {source}")]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state store {path}: could not create the directory {dir}: {source}")]
    CreateDir {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("state store {path}: {operation} failed: {source}")]
    Sql {
        path: PathBuf,
        operation: &'static str,
        source: rusqlite::Error,
    },
    #[error("state store {path}: {operation} failed: {detail}")]
    Postgres {
        path: PathBuf,
        operation: &'static str,
        /// The server's message and SQLSTATE code, or the connection's error.
        detail: String,
        source: tokio_postgres::Error,
    },
    #[error("state store {path}: {operation} failed: {detail}")]
    Backend {
        path: PathBuf,
        operation: &'static str,
        detail: String,
    },
    #[error(
        "state store {path}: schema version {found} is newer than this flexsync knows ({known}); \
         use a newer flexsync or another state file"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("state store {path}: {table} row {row}, column {column}: {detail}")]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        row: String,
        column: &'static str,
        detail: String,
    },
    #[error("state store {path}: {operation}: {what}")]
    Missing {
        path: PathBuf,
        operation: &'static str,
        what: String,
    },
    #[error("state store {path}: a run is already in progress: locked by {holder} since {since}")]
    Locked {
        path: PathBuf,
        holder: String,
        since: Timestamp,
    },
    #[error("state store {path}: the run lock held by {holder} was taken over by another run")]
    LockLost { path: PathBuf, holder: String },
    #[error("state store {path}: {operation}: the connection is unusable after a panic elsewhere")]
    Poisoned {
        path: PathBuf,
        operation: &'static str,
    },
}

impl StateError {
    /// The error of a backend call for `operation` on the store at `path`.
    pub(crate) fn of_db(path: PathBuf, operation: &'static str, error: DbError) -> StateError {
        match error {
            DbError::Sqlite(source) => StateError::Sql {
                path,
                operation,
                source,
            },
            DbError::Postgres(source) => StateError::Postgres {
                path,
                operation,
                detail: crate::pg::describe(&source),
                source,
            },
            DbError::Decode(detail) => StateError::Backend {
                path,
                operation,
                detail,
            },
        }
    }
}
