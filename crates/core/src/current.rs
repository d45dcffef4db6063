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

impl Current {
    /// Holds each user's id once: the target repeats it as the manager of each report and as a
    /// member of each group, and a read makes a copy each time. `groups` are the target's.
    pub fn share_ids(&mut self, groups: &mut [crate::group_plan::TargetGroup]) {
        let ids: foldhash::HashSet<TargetId> =
            self.users.iter().map(|user| user.id.clone()).collect();
        let shared = |id: TargetId| ids.get(id.as_str()).cloned().unwrap_or(id);
        for user in &mut self.users {
            user.manager_id = user.manager_id.take().map(shared);
        }
        for group in groups {
            let members = std::mem::take(&mut group.members);
            group.members = members.into_iter().map(shared).collect();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_plan::TargetGroup;

    fn user(id: &str, manager: Option<&str>) -> TargetUser {
        TargetUser {
            id: TargetId::from(id),
            external_id: None,
            values: UserValues::default(),
            manager_id: manager.map(TargetId::from),
        }
    }

    #[test]
    fn managers_and_members_hold_the_users_own_id() {
        let mut current = Current {
            users: vec![
                user("t-boss", None),
                user("t-1", Some("t-boss")),
                user("t-2", Some("t-gone")),
            ],
            ..Current::default()
        };
        let mut groups = vec![TargetGroup {
            id: TargetId::from("g-1"),
            external_id: None,
            display_name: "G".into(),
            parent_external_id: None,
            members: ["t-1", "t-boss", "t-gone"].map(TargetId::from).into(),
            managers: BTreeSet::new(),
        }];
        let before = (current.clone(), groups.clone());
        current.share_ids(&mut groups);
        assert_eq!(
            (current.clone(), groups.clone()),
            before,
            "no value changes"
        );
        let same = |a: &TargetId, b: &TargetId| std::ptr::eq(a.as_str(), b.as_str());
        let boss = &current.users[0].id;
        assert!(same(current.users[1].manager_id.as_ref().unwrap(), boss));
        let members: Vec<&TargetId> = groups[0].members.iter().collect();
        assert!(same(members[0], &current.users[1].id));
        assert!(same(members[1], boss));
        assert_eq!(
            members[2].as_str(),
            "t-gone",
            "an id of no user stays as read"
        );
    }
}
