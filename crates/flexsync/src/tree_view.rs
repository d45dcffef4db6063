//! The desired group tree as an indented outline with member counts, for people.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use flexsync_core::desired::{Desired, DesiredGroup};
use flexsync_core::ids::ExternalId;

/// One group of the tree, in outline order: its depth and its member counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeRow {
    pub external_id: ExternalId,
    pub name: String,
    /// 0 for a top group, 1 for its children, and so on.
    pub depth: usize,
    /// Users who sit directly in the group, and in it and every group below.
    pub members: usize,
    pub members_in_all: usize,
}

/// The desired tree in outline order (parents before children, siblings by name).
pub fn tree_rows(desired: &Desired) -> Vec<TreeRow> {
    let mut children: BTreeMap<Option<&str>, Vec<&DesiredGroup>> = BTreeMap::new();
    for group in desired.groups.values() {
        let parent = group
            .parent_external_id
            .as_deref()
            .filter(|p| desired.groups.contains_key(*p));
        children.entry(parent).or_default().push(group);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| {
            (&a.display_name, &a.external_id).cmp(&(&b.display_name, &b.external_id))
        });
    }
    let mut rows = Vec::new();
    let mut stack: Vec<(usize, &DesiredGroup)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|g| (0, *g)).collect())
        .unwrap_or_default();
    while let Some((depth, group)) = stack.pop() {
        rows.push(TreeRow {
            external_id: group.external_id.clone(),
            name: group.display_name.clone(),
            depth,
            members: group.members.len(),
            members_in_all: members_below(group, &children),
        });
        if let Some(list) = children.get(&Some(group.external_id.as_str())) {
            stack.extend(list.iter().rev().map(|g| (depth + 1, *g)));
        }
    }
    rows
}

/// Active users the tree leaves out: they sit in no group.
pub fn outside_the_tree(desired: &Desired) -> usize {
    if desired.groups.is_empty() {
        return 0;
    }
    desired
        .users
        .values()
        .filter(|u| u.values.active && u.group.is_none())
        .count()
}

/// The desired tree as an indented outline with member counts (direct, and in all below).
pub fn render_tree(desired: &Desired) -> String {
    let mut out = String::new();
    for row in tree_rows(desired) {
        out.push_str(&format!(
            "{}{} ({} {}, {} in all)\n",
            "  ".repeat(row.depth),
            row.name,
            row.members,
            if row.members == 1 {
                "member"
            } else {
                "members"
            },
            row.members_in_all,
        ));
    }
    let outside = outside_the_tree(desired);
    if outside > 0 {
        out.push_str(&format!("(in no group: {outside} active users)\n"));
    }
    out
}

fn members_below(
    group: &DesiredGroup,
    children: &BTreeMap<Option<&str>, Vec<&DesiredGroup>>,
) -> usize {
    let mut total = 0;
    let mut seen = BTreeSet::new();
    let mut todo = vec![group];
    while let Some(at) = todo.pop() {
        if !seen.insert(at.external_id.as_str()) {
            continue;
        }
        total += at.members.len();
        if let Some(list) = children.get(&Some(at.external_id.as_str())) {
            todo.extend(list.iter().copied());
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::desired::{DesiredUser, UserValues};

    fn group(id: &str, name: &str, parent: Option<&str>, members: &[&str]) -> DesiredGroup {
        DesiredGroup {
            external_id: id.into(),
            display_name: name.into(),
            path: vec![name.into()],
            parent_external_id: parent.map(ExternalId::from),
            members: members.iter().map(|m| ExternalId::from(*m)).collect(),
            managers: Vec::new(),
        }
    }

    fn user(id: &str, group: Option<&str>) -> (ExternalId, Box<DesiredUser>) {
        let user = DesiredUser {
            external_id: id.into(),
            values: UserValues {
                active: true,
                ..UserValues::default()
            },
            manager_external_id: None,
            manager_depth: 0,
            group: group.map(ExternalId::from),
        };
        (id.into(), Box::new(user))
    }

    #[test]
    fn the_tree_renders_as_an_outline_with_counts() {
        let groups = [
            group("c", "Exempel AB", None, &[]),
            group("sthlm", "Stockholm", Some("c"), &["e1"]),
            group("gbg", "Göteborg", Some("c"), &[]),
            group("eko", "Ekonomi", Some("sthlm"), &["e2", "e3"]),
            group("it", "IT", Some("gbg"), &["e5"]),
        ];
        let desired = Desired {
            groups: groups
                .into_iter()
                .map(|g| (g.external_id.clone(), g))
                .collect(),
            users: [
                user("e1", Some("sthlm")),
                user("e2", Some("eko")),
                user("e3", Some("eko")),
                user("e5", Some("it")),
                user("e9", None),
            ]
            .into_iter()
            .collect(),
            ..Desired::default()
        };
        let expected = "\
Exempel AB (0 members, 4 in all)
  Göteborg (0 members, 1 in all)
    IT (1 member, 1 in all)
  Stockholm (1 member, 3 in all)
    Ekonomi (2 members, 2 in all)
(in no group: 1 active users)
";
        assert_eq!(render_tree(&desired), expected);
    }
}
