//! The state Winningtemp should have after a run: one entry per user we manage.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::finding::Finding;
use crate::ids::ExternalId;

/// Winningtemp's gender values.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Gender {
    #[default]
    None,
    Male,
    Female,
    NonBinary,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::None => "None",
            Gender::Male => "Male",
            Gender::Female => "Female",
            Gender::NonBinary => "NonBinary",
        }
    }

    /// Reads Winningtemp's spelling back (case-insensitive); unknown text is `None`.
    pub fn parse(text: &str) -> Option<Gender> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Gender::None),
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            "nonbinary" => Some(Gender::NonBinary),
            _ => None,
        }
    }
}

/// Every value we may write for a user, in target terms. Shared by the desired state and by what
/// the target reports back (`current`), so that the plan compares like with like.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserValues {
    /// Work email, trimmed and lower-cased.
    pub user_name: String,
    pub email: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    pub exclude_from_surveys: Option<bool>,
    pub employment_start: Option<Date>,
    pub employment_end: Option<Date>,
    pub active: bool,
    /// Configured extra mappings: target attribute path -> value.
    pub extra: BTreeMap<String, String>,
    /// Configured values for the file channel only: `wt_users.csv` column -> value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
    /// The user's segments: category -> segment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, UserSegment>,
}

/// A user's value in one segment category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserSegment {
    /// The segment's stable external id (category and normalised value or code).
    pub external_id: ExternalId,
    /// The value as shown, e.g. `Uppsala`.
    pub name: String,
}

/// One segment value, as `wt_segments.csv` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredSegment {
    pub external_id: ExternalId,
    pub category: String,
    pub name: String,
    /// The `wt_users.csv` column of its category.
    pub column: String,
}

/// A user as the desired state wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredUser {
    /// Flex `Id`.
    pub external_id: ExternalId,
    pub values: UserValues,
    /// The external id of the user's manager, when the manager is also a desired user.
    pub manager_external_id: Option<ExternalId>,
    /// Depth in the manager tree (0 = no manager); creates run in this order.
    pub manager_depth: u32,
    /// The external id of the group the user belongs to (the lowest level they have a value
    /// for), when groups are configured.
    pub group: Option<ExternalId>,
}

/// A group of the tree built from organisational fields. Its external id is derived from its
/// path of keys (company, then each level's key), never from its name alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredGroup {
    pub external_id: ExternalId,
    /// The label shown (the account name, or the field value).
    pub display_name: String,
    /// The labels from the top down to this group, e.g. `["Stockholm", "Ekonomi"]`.
    pub path: Vec<String>,
    pub parent_external_id: Option<ExternalId>,
    /// External ids of the users who sit directly in this group.
    pub members: Vec<ExternalId>,
    /// External ids of the managers of this group's members ("Manager places another user as
    /// the manager for the group this user belongs to").
    pub managers: Vec<ExternalId>,
}

/// The whole desired state of one run, plus what the map step found along the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Boxed: a user is large, and the map is built from a list that is sorted first.
    pub users: BTreeMap<ExternalId, Box<DesiredUser>>,
    /// The group tree, by external id; empty when no group levels are configured.
    pub groups: BTreeMap<ExternalId, DesiredGroup>,
    pub findings: Vec<Finding>,
    /// How many employee records the source held (before any was skipped).
    pub source_records: usize,
    /// Records left out of `users` for a finding, by id, and whether their employment covers
    /// the day: an employed one's account is held as it is; the others' are paused like any
    /// leaver's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<ExternalId, Skipped>,
    /// Every segment value some user has, by external id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<ExternalId, DesiredSegment>,
    /// Records of a person in another configured company than the record kept for them
    /// (`[companies]`), by id, with the id of the record kept: a person who moves keeps their
    /// account even when the work email changed with the company.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub same_person: BTreeMap<ExternalId, ExternalId>,
    /// Records the scoping rules leave out, by id, with the rule that did; their accounts are
    /// paused like any leaver's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub out_of_scope: BTreeMap<ExternalId, ScopedOut>,
}

/// A record the scoping rules leave out: the rule, and who it is, for people to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedOut {
    /// The key of the rule that left it out: `scope.exclude[1]`, or `scope.include` when no
    /// include rule takes it in.
    pub rule: String,
    /// First and last name as Flex holds them (may be empty).
    pub name: String,
    pub email: Option<String>,
}

/// A record left out of the desired users, as the plan treats its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skipped {
    /// Employed on the day (or not known to have left): the account is held as it is.
    Employed,
    /// No employment period covers the day: the account is paused like any leaver's.
    NotEmployed,
}
