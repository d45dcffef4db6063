//! The Winningtemp end of flexsync over SCIM 2.0: the one place that knows where each value lives
//! on the target and how plans become requests. The SCIM wire types and the HTTP client are in
//! `flexsync-scim`; the plans come from the pure core.
//!
//! - [`attributes`]: the table from each mapped attribute to its SCIM schema and path.
//! - [`convert`]: core user values to SCIM users and PATCH operations, and back.
//! - [`users`]: observing users, and carrying out a user plan.
//! - [`groups`]: observing groups, and carrying out a group plan.
//! - [`order`]: steps run as soon as what they need is done, a bounded number at a time.
//! - [`outcome`]: step outcomes, typed write errors with their retry class, the journal.

pub mod attributes;
pub mod convert;
pub mod groups;
pub mod order;
pub mod outcome;
pub mod users;

pub use attributes::AttributeMap;
pub use outcome::{ApplyError, Halt, IntentRecorded, Journal, StepOutcome};
