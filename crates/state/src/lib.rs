//! The flexsync state store: what one run leaves for the next. SQLite (bundled) in one file, WAL
//! mode and a busy timeout, or a schema on a PostgreSQL server for shared deployments; schema
//! migrations for both embedded in the binary and applied at open. Every table module writes its
//! SQL once, for both backends ([`db`]).
//!
//! The API is synchronous and every call is short, so async callers use it directly (the
//! PostgreSQL connection is driven on its own thread, see [`pg`]). Times are
//! always passed in; the store never reads the clock.
//!
//! Layout:
//! - [`store`]: [`StateStore::open`] / [`StateStore::open_in_memory`], connection settings.
//! - [`db`]: the values, rows and connection shared by both backends.
//! - [`pg`]: the PostgreSQL connection and where it points ([`PgTarget`]).
//! - [`schema`]: the tables and the migrations (see there for what each column means).
//! - [`runs`]: runs, and the operations each run records before (intent) and after (outcome)
//!   acting; [`StateStore::unfinished_intents`] shows where a crashed run stopped.
//! - [`changes`]: the changes each sync made, named for people, for `history`.
//! - [`approvals`]: refused plans and `flexsync approve`: each approval lets its plan through
//!   once.
//! - [`links`]: external id -> target id links ([`StateStore::memory`]) and per-record failures.
//! - [`lease`]: tenants' leases and scheduled slots, for daemons sharing tenants (PostgreSQL).
//! - [`step`]: a step that succeeded, its outcome and what it leaves, in one transaction.
//! - [`journal`]: the journal's intents and outcomes in batches, one transaction a batch.
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
pub mod db;
pub mod error;
pub mod groups;
pub mod journal;
pub mod lease;
pub mod links;
pub mod lock;
pub mod person;
pub mod pg;
pub mod retention;
pub mod runs;
pub mod schema;
pub mod step;
pub mod store;
#[cfg(test)]
pub(crate) mod testing;

pub use approvals::{RefusalRow, StoredRefusal};
pub use changes::{ChangeRow, StoredChange};
pub use error::StateError;
pub use journal::{JournalEntry, Recorded};
pub use lease::{Claim, Lease, LeaseBoard, SlotRow};
pub use links::FailureRecord;
pub use lock::LockGuard;
pub use pg::PgTarget;
pub use retention::Pruned;
pub use runs::{OpId, OpOutcome, OperationRecord, RunId, RunRecord, SOURCE_RECORDS};
pub use step::StepDone;
pub use store::{Location, StateStore};
