//! The plan: desired + current + memory -> an ordered list of typed operations, each with a
//! reason. Pure: running it twice on the same inputs gives the same plan.

use serde::{Deserialize, Serialize};

use crate::current::Attribute;
use crate::desired::UserValues;

/// One attribute that will change, shown as text for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: Attribute,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A typed operation against the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a user. `manager_external_id` is linked in the same request when the manager's
    /// target id is known by then, otherwise in a later `SetManager`.
    CreateUser {
        external_id: String,
        values: UserValues,
        /// Attributes to send (those the target supports).
        attributes: Vec<Attribute>,
        manager_external_id: Option<String>,
    },
    /// Take over an existing account with the same userName and no externalId.
    AdoptUser {
        target_id: String,
        external_id: String,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Change the attributes listed in `changes` to their values in `values`.
    UpdateUser {
        target_id: String,
        external_id: String,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Pause a user (active = false).
    DeactivateUser {
        target_id: String,
        external_id: String,
    },
    /// Make a paused user active again, with any other changes.
    ReactivateUser {
        target_id: String,
        external_id: String,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Link (or unlink, when `manager_external_id` is None) a user's manager. `target_id` is
    /// None when the user is created in this run.
    SetManager {
        target_id: Option<String>,
        external_id: String,
        manager_external_id: Option<String>,
        before: Option<String>,
    },
}

/// An operation and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub operation: Operation,
    pub reason: String,
}

/// A value the source has but the target cannot hold, counted per attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotSent {
    pub attribute: Attribute,
    pub users: usize,
}

/// A desired user the plan cannot act on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub external_id: String,
    pub problem: String,
}

/// The ordered operations of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub not_sent: Vec<NotSent>,
    pub conflicts: Vec<Conflict>,
}
