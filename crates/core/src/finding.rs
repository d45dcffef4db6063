//! Data-quality findings: a record the map step could not take as it is, and what it did instead.

use serde::{Deserialize, Serialize};

/// How a finding affected the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The record was left out of the desired state.
    Skipped,
    /// The record was taken, without the value named.
    Degraded,
    /// Worth knowing; nothing was lost.
    Notice,
}

/// One finding, always naming the record and the field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// The Flex employee `Id` (or another record id) the finding is about.
    pub record: String,
    /// The Flex field, e.g. `EmailWork`.
    pub field: String,
    /// A short machine-readable kind, e.g. `missing_email`, `duplicate_email`.
    pub kind: String,
    /// What is wrong, for people.
    pub problem: String,
    /// What was done about it.
    pub action: String,
    pub severity: Severity,
}
