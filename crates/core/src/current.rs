//! What the target holds now (as the writer observed it), what it can store, and what our
//! state store remembers from earlier runs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::desired::UserValues;
use crate::ids::{ExternalId, TargetId};

/// A value the target can hold for a user. The plan only compares and writes attributes the
/// target advertises.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    UserName,
    Email,
    GivenName,
    FamilyName,
    Gender,
    BirthDate,
    ExcludeFromSurveys,
    EmploymentStart,
    EmploymentEnd,
    Active,
    Manager,
    /// The user's Winningtemp segments, one per category.
    Segments,
    /// A configured extra mapping, by target attribute path.
    Extra(String),
}

impl Attribute {
    /// A stable, readable name for reports and plans.
    pub fn name(&self) -> String {
        match self {
            Attribute::UserName => "userName".into(),
            Attribute::Email => "email".into(),
            Attribute::GivenName => "givenName".into(),
            Attribute::FamilyName => "familyName".into(),
            Attribute::Gender => "gender".into(),
            Attribute::BirthDate => "birthDate".into(),
            Attribute::ExcludeFromSurveys => "excludeFromSurveys".into(),
            Attribute::EmploymentStart => "employmentStartDate".into(),
            Attribute::EmploymentEnd => "employmentEndDate".into(),
            Attribute::Active => "active".into(),
            Attribute::Manager => "manager".into(),
            Attribute::Segments => "segments".into(),
            Attribute::Extra(path) => path.clone(),
        }
    }
}

/// The attributes the target advertises. Core attributes (userName, names, active) are always
/// there; the rest depend on the server's schemas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub attributes: BTreeSet<Attribute>,
}

impl Capabilities {
    /// userName, email, names and active: what every SCIM server holds.
    pub fn core() -> Capabilities {
        Capabilities {
            attributes: [
                Attribute::UserName,
                Attribute::Email,
                Attribute::GivenName,
                Attribute::FamilyName,
                Attribute::Active,
            ]
            .into_iter()
            .collect(),
        }
    }

    pub fn supports(&self, attribute: &Attribute) -> bool {
        self.attributes.contains(attribute)
    }
}

/// One user as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUser {
    /// The target's own id.
    pub id: TargetId,
    pub external_id: Option<ExternalId>,
    /// Values as the target holds them; attributes it did not return are `None`/empty.
    pub values: UserValues,
    /// The target id of the user's manager.
    pub manager_id: Option<TargetId>,
}

/// Everything the target holds that the plan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub users: Vec<TargetUser>,
    pub capabilities: Capabilities,
}

/// What our state store remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// External id -> target id, for every user we created, adopted or linked.
    pub links: BTreeMap<ExternalId, TargetId>,
    /// External id -> target id, for every group we created or found by its external id.
    pub group_links: BTreeMap<ExternalId, TargetId>,
    /// Target ids of users and groups this tool created.
    pub created: BTreeSet<TargetId>,
    /// Per user, fingerprints of the values flexsync last wrote (see [`crate::drift`]).
    pub written: BTreeMap<ExternalId, crate::drift::Written>,
}

/// What a link in the state store points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    User,
    Group,
}

impl LinkKind {
    pub fn label(self) -> &'static str {
        match self {
            LinkKind::User => "user",
            LinkKind::Group => "group",
        }
    }

    pub fn parse(name: &str) -> Option<LinkKind> {
        [LinkKind::User, LinkKind::Group]
            .into_iter()
            .find(|k| k.label() == name)
    }
}
