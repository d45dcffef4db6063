//! The flexsync state store: what one run leaves for the next. SQLite (bundled) in one file, WAL
//! mode and a busy timeout, schema migrations embedded in the binary. A PostgreSQL backend for
//! shared deployments is later work; this crate has SQLite only.
//!
//! The API is synchronous and every call is short, so async callers use it directly. Times are
//! always passed in; the store never reads the clock.
//!
//! Layout:
//! - [`store`]: [`StateStore::open`] / [`StateStore::open_in_memory`], connection settings.
//! - [`schema`]: the tables and the migrations (see there for what each column means).
//! - [`runs`]: runs, and the operations each run records before (intent) and after (outcome)
//!   acting; [`StateStore::unfinished_intents`] shows where a crashed run stopped.
//! - [`changes`]: the changes each sync made, named for people, for `history`.
//! - [`approvals`]: refused plans and `flexsync approve`: each approval lets its plan through
//!   once.
//! - [`links`]: external id -> target id links ([`StateStore::memory`]) and per-record failures.
//! - [`step`]: a step that succeeded, its outcome and what it leaves, in one transaction.
//! - [`lock`]: the run lock that keeps two runs from overlapping.
//! - [`person`]: one person's rows, to export or forget (data-protection requests).
//! - [`retention`]: pruning runs older than the configured days, keeping what later runs need.
//! - [`groups`]: groups we created that became empty, for the retirement grace period.
//! - [`error`]: the one error type, [`StateError`].
//!
//! Source counts for the guards live in the run summary JSON under [`SOURCE_RECORDS`];
//! [`StateStore::last_source_count`] reads it from [`StateStore::last_successful_run`].

pub mod approvals;
pub mod changes;
pub mod error;
pub mod groups;
pub mod links;
pub mod lock;
pub mod person;
pub mod retention;
pub mod runs;
pub mod schema;
pub mod step;
pub mod store;

pub use approvals::{RefusalRow, StoredRefusal};
pub use changes::{ChangeRow, StoredChange};
pub use error::StateError;
pub use links::FailureRecord;
pub use lock::LockGuard;
pub use retention::Pruned;
pub use runs::{OpId, OpOutcome, OperationRecord, RunId, RunRecord, SOURCE_RECORDS};
pub use step::StepDone;
pub use store::StateStore;
