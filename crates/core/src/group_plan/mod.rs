//! The group plan: desired groups + the groups the target holds -> ordered group operations,
//! each with a reason. Pure. Groups without an externalId in the target are never touched, and
//! only groups flexsync created (the state store's memory) are ever retired.
//!
//! Members in operations are users' external ids: users are synced first, and the writer
//! resolves them to target ids when it applies the plan.

#[cfg(test)]
mod tests;

mod grace;

pub use grace::{Grace, apply_grace};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{Desired, DesiredGroup, Skipped};
use crate::groups::{NAME_PREFIX, PATH_PREFIX};
use crate::ids::{ExternalId, TargetId};
use crate::kind::OperationKind;
use crate::mapping::{DisplayName, GroupSettings, Memberships};

/// What the target can hold for groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCapabilities {
    /// The server advertises a parent attribute, so the tree can be built over this channel.
    pub parent: bool,
    /// The server advertises a group's managers, so they travel over this channel.
    pub managers: bool,
}

/// A group as the target holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// The target's id.
    pub id: TargetId,
    pub external_id: Option<ExternalId>,
    pub display_name: String,
    pub parent_external_id: Option<ExternalId>,
    /// Target ids of the members.
    pub members: BTreeSet<TargetId>,
    /// Target ids of the group's managers (where the server holds them).
    pub managers: BTreeSet<TargetId>,
}

/// A typed group operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GroupOperation {
    /// Create a group (its parent exists by then: creates run top-down).
    CreateGroup {
        external_id: ExternalId,
        display_name: String,
        parent_external_id: Option<ExternalId>,
    },
    RenameGroup {
        target_id: TargetId,
        external_id: ExternalId,
        before: String,
        after: String,
    },
    /// Change the parent (only where the target can hold one).
    MoveGroup {
        target_id: TargetId,
        external_id: ExternalId,
        before: Option<ExternalId>,
        after: Option<ExternalId>,
    },
    /// Add users (external ids); `target_id` is None for a group created in this run.
    AddMembers {
        target_id: Option<TargetId>,
        external_id: ExternalId,
        users: Vec<ExternalId>,
    },
    /// Remove users (external ids) that flexsync manages, and, under `memberships =
    /// "overwrite"`, accounts flexsync does not manage (target ids) from a group it created.
    RemoveMembers {
        target_id: TargetId,
        external_id: ExternalId,
        users: Vec<ExternalId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        others: Vec<TargetId>,
    },
    /// Set the group's managers: the users (external ids) Flex names, and `keep`, managers
    /// someone set by hand who are not users flexsync manages. `target_id` is None for a group
    /// created in this run.
    SetGroupManagers {
        target_id: Option<TargetId>,
        external_id: ExternalId,
        managers: Vec<ExternalId>,
        keep: Vec<TargetId>,
    },
    /// Delete a group flexsync created that has no members and no child groups left.
    RetireGroup {
        target_id: TargetId,
        external_id: ExternalId,
        display_name: String,
    },
}

impl GroupOperation {
    /// The external id of the group the operation is about.
    pub fn external_id(&self) -> &ExternalId {
        match self {
            GroupOperation::CreateGroup { external_id, .. }
            | GroupOperation::RenameGroup { external_id, .. }
            | GroupOperation::MoveGroup { external_id, .. }
            | GroupOperation::AddMembers { external_id, .. }
            | GroupOperation::RemoveMembers { external_id, .. }
            | GroupOperation::SetGroupManagers { external_id, .. }
            | GroupOperation::RetireGroup { external_id, .. } => external_id,
        }
    }

    /// A short name for reports, e.g. `create_group`.
    pub fn kind(&self) -> OperationKind {
        match self {
            GroupOperation::CreateGroup { .. } => OperationKind::CreateGroup,
            GroupOperation::RenameGroup { .. } => OperationKind::RenameGroup,
            GroupOperation::MoveGroup { .. } => OperationKind::MoveGroup,
            GroupOperation::AddMembers { .. } => OperationKind::AddMembers,
            GroupOperation::RemoveMembers { .. } => OperationKind::RemoveMembers,
            GroupOperation::SetGroupManagers { .. } => OperationKind::SetGroupManagers,
            GroupOperation::RetireGroup { .. } => OperationKind::RetireGroup,
        }
    }
}

/// One operation and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStep {
    pub operation: GroupOperation,
    pub reason: String,
}

/// Why a group step was left out or changed, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupNoteKind {
    /// Two target groups carry the same externalId.
    DuplicateExternalId,
    /// A group flexsync did not create is never retired.
    NotCreatedByFlexsync,
    /// A retirement waits while something still holds the group.
    RetireBlocked,
    /// An emptied group waits out its grace period before it is retired.
    RetirementGrace,
    /// On a flat target, groups whose labels repeat are named by their path.
    NamedByPath,
}

impl GroupNoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupNoteKind::DuplicateExternalId => "duplicate_external_id",
            GroupNoteKind::NotCreatedByFlexsync => "not_created_by_flexsync",
            GroupNoteKind::RetireBlocked => "retire_blocked",
            GroupNoteKind::RetirementGrace => "retirement_grace",
            GroupNoteKind::NamedByPath => "named_by_path",
        }
    }
}

impl std::fmt::Display for GroupNoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for GroupNoteKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Something the plan left alone, for the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupNote {
    /// The group's external id.
    pub group: ExternalId,
    pub kind: GroupNoteKind,
    pub message: String,
}

/// The ordered group operations: creates top-down, renames, moves, member removals,
/// retirements bottom-up, then member additions (so a user leaves the old group first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlan {
    pub steps: Vec<GroupStep>,
    /// The desired tree has parents the target cannot hold: groups go flat, and the tree must
    /// be placed by hand in Winningtemp or delivered as files.
    pub tree_by_hand: bool,
    pub notes: Vec<GroupNote>,
}

impl GroupPlan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The display name the target should show for each desired group. `flat`: the target keeps
/// groups flat, so with [`DisplayName::Auto`] a label several groups share becomes their paths.
pub fn display_names(
    desired: &Desired,
    display: DisplayName,
    flat: bool,
) -> BTreeMap<ExternalId, String> {
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for group in desired.groups.values() {
        *uses.entry(group.display_name.as_str()).or_insert(0) += 1;
    }
    desired
        .groups
        .values()
        .map(|group| {
            let by_path = match display {
                DisplayName::FullPath => true,
                DisplayName::Label => false,
                DisplayName::Auto => flat && uses[group.display_name.as_str()] > 1,
            };
            let name = if by_path {
                group.path.join(" / ")
            } else {
                group.display_name.clone()
            };
            (group.external_id.clone(), name)
        })
        .collect()
}

/// One note per label that several groups share on a flat target, when they are named by path.
fn named_by_path_notes(desired: &Desired, names: &BTreeMap<ExternalId, String>) -> Vec<GroupNote> {
    let mut by_label: BTreeMap<&str, Vec<(&ExternalId, &str)>> = BTreeMap::new();
    for group in desired.groups.values() {
        if names.get(&group.external_id) != Some(&group.display_name) {
            by_label
                .entry(group.display_name.as_str())
                .or_default()
                .push((&group.external_id, names[&group.external_id].as_str()));
        }
    }
    by_label
        .into_iter()
        .filter(|(_, groups)| groups.len() > 1)
        .map(|(label, groups)| GroupNote {
            group: groups[0].0.clone(),
            kind: GroupNoteKind::NamedByPath,
            message: format!(
                "{} groups are called '{label}' and the target keeps groups flat: each is named \
                 by its path ({}); groups.display = \"label\" keeps the bare label",
                groups.len(),
                groups
                    .iter()
                    .map(|(_, path)| *path)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

/// Plans the group operations. `user_ids` maps user external ids to target ids (users the
/// target holds); only members that are such users are ever removed. `created` holds the
/// external ids of the groups flexsync created in earlier runs.
pub fn plan_groups(
    desired: &Desired,
    current: &[TargetGroup],
    user_ids: &BTreeMap<ExternalId, TargetId>,
    created: &BTreeSet<ExternalId>,
    caps: GroupCapabilities,
    settings: &GroupSettings,
) -> GroupPlan {
    let mut plan = GroupPlan {
        tree_by_hand: !caps.parent
            && desired
                .groups
                .values()
                .any(|g| g.parent_external_id.is_some()),
        ..GroupPlan::default()
    };
    let managed: BTreeMap<&str, &str> = user_ids
        .iter()
        .map(|(external, target)| (target.as_str(), external.as_str()))
        .collect();
    let chunk = settings.member_chunk.max(1);

    let mut sorted: Vec<&TargetGroup> = current.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut targets: BTreeMap<&str, &TargetGroup> = BTreeMap::new();
    for group in sorted {
        let Some(external_id) = group.external_id.as_deref().filter(|e| !e.is_empty()) else {
            continue;
        };
        if let Some(first) = targets.get(external_id) {
            plan.notes.push(GroupNote {
                group: external_id.into(),
                kind: GroupNoteKind::DuplicateExternalId,
                message: format!(
                    "target groups {} and {} share this externalId; {} is left alone",
                    first.id, group.id, group.id
                ),
            });
        } else {
            targets.insert(external_id, group);
        }
    }

    // Top-down: by depth in the desired tree (a parent always comes before its children).
    let mut wanted: Vec<(usize, &DesiredGroup)> = desired
        .groups
        .values()
        .map(|group| (depth(group, desired), group))
        .collect();
    wanted.sort_by(|a, b| (a.0, &a.1.external_id).cmp(&(b.0, &b.1.external_id)));

    let (mut creates, mut renames, mut moves, mut removes, mut adds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut managers = Vec::new();
    let shown = display_names(desired, settings.display, !caps.parent);
    if settings.display == DisplayName::Auto {
        plan.notes.extend(named_by_path_notes(desired, &shown));
    }
    for (_, group) in &wanted {
        let external_id = group.external_id.clone();
        let name = shown[&external_id].clone();
        let parent = group.parent_external_id.clone().filter(|_| caps.parent);
        let members: BTreeSet<&str> = group.members.iter().map(ExternalId::as_str).collect();
        let Some(target) = targets.get(external_id.as_str()) else {
            creates.push(GroupStep {
                reason: format!("new in Flex: {}", group.path.join(" > ")),
                operation: GroupOperation::CreateGroup {
                    external_id: external_id.clone(),
                    display_name: name,
                    parent_external_id: parent,
                },
            });
            let users: Vec<&str> = members.into_iter().collect();
            for part in users.chunks(chunk) {
                adds.push(GroupStep {
                    reason: format!("in the new group in Flex: {}", users_text(part.len())),
                    operation: GroupOperation::AddMembers {
                        target_id: None,
                        external_id: external_id.clone(),
                        users: part.iter().map(|u| ExternalId::from(*u)).collect(),
                    },
                });
            }
            let wanted = linkable_managers(group, desired, user_ids);
            if caps.managers && !wanted.is_empty() {
                managers.push(GroupStep {
                    reason: format!(
                        "the new group's managers in Flex: {}",
                        names(desired, &wanted)
                    ),
                    operation: GroupOperation::SetGroupManagers {
                        target_id: None,
                        external_id: external_id.clone(),
                        managers: wanted,
                        keep: Vec::new(),
                    },
                });
            }
            continue;
        };
        if caps.managers {
            managers.extend(manager_step(group, target, desired, user_ids, &managed));
        }
        if target.display_name != name {
            renames.push(GroupStep {
                reason: format!("renamed in Flex: '{}' -> '{name}'", target.display_name),
                operation: GroupOperation::RenameGroup {
                    target_id: target.id.clone(),
                    external_id: external_id.clone(),
                    before: target.display_name.clone(),
                    after: name,
                },
            });
        }
        if caps.parent && target.parent_external_id != parent {
            moves.push(GroupStep {
                reason: "the group's place in the tree changed in Flex".to_string(),
                operation: GroupOperation::MoveGroup {
                    target_id: target.id.clone(),
                    external_id: external_id.clone(),
                    before: target.parent_external_id.clone(),
                    after: parent,
                },
            });
        }
        let held: BTreeSet<&str> = target
            .members
            .iter()
            .filter_map(|id| managed.get(id.as_str()).copied())
            .collect();
        // A record held for a finding keeps its account as it is, groups included.
        let gone: Vec<&str> = held
            .difference(&members)
            .copied()
            .filter(|id| desired.skipped.get(*id) != Some(&Skipped::Employed))
            .collect();
        for part in gone.chunks(chunk) {
            removes.push(GroupStep {
                reason: leaving_reason(desired, part),
                operation: GroupOperation::RemoveMembers {
                    target_id: target.id.clone(),
                    external_id: external_id.clone(),
                    users: part.iter().map(|u| ExternalId::from(*u)).collect(),
                    others: Vec::new(),
                },
            });
        }
        let overwrite = settings.memberships == Memberships::Overwrite
            && created.contains(external_id.as_str());
        let others: Vec<TargetId> = target
            .members
            .iter()
            .filter(|id| overwrite && !managed.contains_key(id.as_str()))
            .cloned()
            .collect();
        for part in others.chunks(chunk) {
            removes.push(GroupStep {
                reason: format!(
                    "added by hand, not in this group in Flex (memberships = \"overwrite\"): {}",
                    accounts_text(part.len())
                ),
                operation: GroupOperation::RemoveMembers {
                    target_id: target.id.clone(),
                    external_id: external_id.clone(),
                    users: Vec::new(),
                    others: part.to_vec(),
                },
            });
        }
        let new: Vec<&str> = members.difference(&held).copied().collect();
        for part in new.chunks(chunk) {
            adds.push(GroupStep {
                reason: format!("now in this group in Flex: {}", users_text(part.len())),
                operation: GroupOperation::AddMembers {
                    target_id: Some(target.id.clone()),
                    external_id: external_id.clone(),
                    users: part.iter().map(|u| ExternalId::from(*u)).collect(),
                },
            });
        }
    }

    let retires = retirements(
        desired,
        current,
        &targets,
        created,
        &managed,
        caps,
        &mut plan.notes,
    );
    plan.steps = [creates, renames, moves, removes, retires, adds, managers].concat();
    plan.notes.sort();
    plan
}

/// "1 account" or "N accounts".
fn accounts_text(count: usize) -> String {
    if count == 1 {
        "1 account".to_string()
    } else {
        format!("{count} accounts")
    }
}

/// The managers Flex names for a group who exist in the target or are created in this run
/// (active in Flex): a manager without an account is linked by the run that creates it.
fn linkable_managers(
    group: &DesiredGroup,
    desired: &Desired,
    user_ids: &BTreeMap<ExternalId, TargetId>,
) -> Vec<ExternalId> {
    group
        .managers
        .iter()
        .filter(|m| {
            user_ids.contains_key(*m) || desired.users.get(*m).is_some_and(|u| u.values.active)
        })
        .cloned()
        .collect()
}

/// People by name, for reasons: "Anna Svensson, Johan Karlsson".
fn names<'a>(desired: &Desired, ids: impl IntoIterator<Item = &'a ExternalId>) -> String {
    let named: Vec<String> = ids
        .into_iter()
        .map(|id| match desired.users.get(id) {
            Some(user) => format!("{} {}", user.values.given_name, user.values.family_name)
                .trim()
                .to_string(),
            None => id.to_string(),
        })
        .collect();
    if named.is_empty() {
        "none".to_string()
    } else {
        named.join(", ")
    }
}

/// The step that gives an existing group the managers Flex names, when they differ from the
/// users flexsync manages that it holds as managers. Flex is the source: a managed user set as a
/// manager by hand is replaced (the reason names who comes and goes); a manager who is not a
/// user flexsync manages is kept.
fn manager_step(
    group: &DesiredGroup,
    target: &TargetGroup,
    desired: &Desired,
    user_ids: &BTreeMap<ExternalId, TargetId>,
    managed: &BTreeMap<&str, &str>,
) -> Option<GroupStep> {
    let wanted_ids = linkable_managers(group, desired, user_ids);
    let wanted: BTreeSet<&str> = wanted_ids.iter().map(ExternalId::as_str).collect();
    let held: BTreeSet<&str> = target
        .managers
        .iter()
        .filter_map(|id| managed.get(id.as_str()).copied())
        .collect();
    if wanted == held {
        return None;
    }
    let coming: Vec<ExternalId> = wanted
        .difference(&held)
        .map(|m| ExternalId::from(*m))
        .collect();
    let going: Vec<ExternalId> = held
        .difference(&wanted)
        .map(|m| ExternalId::from(*m))
        .collect();
    let keep = target
        .managers
        .iter()
        .filter(|id| !managed.contains_key(id.as_str()))
        .cloned()
        .collect();
    Some(GroupStep {
        reason: format!(
            "the group's managers differ from Flex: gains {}; loses {}",
            names(desired, &coming),
            names(desired, &going)
        ),
        operation: GroupOperation::SetGroupManagers {
            target_id: Some(target.id.clone()),
            external_id: group.external_id.clone(),
            managers: wanted_ids,
            keep,
        },
    })
}

/// How many ancestors a desired group has (a cycle, which the tree never has, stops the walk).
fn depth(group: &DesiredGroup, desired: &Desired) -> usize {
    let mut seen = BTreeSet::new();
    let mut at = group;
    while let Some(parent) = at
        .parent_external_id
        .as_ref()
        .and_then(|p| desired.groups.get(p))
    {
        if !seen.insert(parent.external_id.as_str()) {
            break;
        }
        at = parent;
    }
    seen.len()
}

/// Why these users leave a group, counted by cause: out of scope, paused (no longer employed,
/// or gone from Flex), or placed elsewhere in Flex.
fn leaving_reason(desired: &Desired, users: &[&str]) -> String {
    let (mut out_of_scope, mut paused, mut moved) = (0, 0, 0);
    for user in users {
        let id = ExternalId::from(*user);
        match desired.users.get(&id) {
            Some(user) if user.values.active => moved += 1,
            _ if desired.out_of_scope.contains_key(&id) => out_of_scope += 1,
            _ => paused += 1,
        }
    }
    let causes: Vec<String> = [
        (moved, "placed elsewhere in Flex"),
        (out_of_scope, "out of scope"),
        (paused, "no longer active in Flex"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, cause)| format!("{} {cause}", users_text(count)))
    .collect();
    format!("no longer in this group: {}", causes.join(", "))
}

fn users_text(count: usize) -> String {
    if count == 1 {
        "1 user".to_string()
    } else {
        format!("{count} users")
    }
}

/// Groups flexsync created that Flex no longer has, deepest first; a group that still has a
/// child group staying in the target is kept (with a note).
fn retirements(
    desired: &Desired,
    current: &[TargetGroup],
    targets: &BTreeMap<&str, &TargetGroup>,
    created: &BTreeSet<ExternalId>,
    managed: &BTreeMap<&str, &str>,
    caps: GroupCapabilities,
    notes: &mut Vec<GroupNote>,
) -> Vec<GroupStep> {
    // A child's parent once this plan's moves are done.
    let parent_after = |child: &TargetGroup| -> Option<ExternalId> {
        let wanted = child
            .external_id
            .as_deref()
            .and_then(|e| desired.groups.get(e));
        match wanted {
            Some(group) if caps.parent => group.parent_external_id.clone(),
            _ => child.parent_external_id.clone(),
        }
    };
    let mut candidates: BTreeSet<&str> = BTreeSet::new();
    for external_id in targets.keys().copied() {
        if desired.groups.contains_key(external_id) {
            continue;
        }
        let strangers = targets.get(external_id).is_some_and(|g| {
            g.members
                .iter()
                .any(|member| !managed.contains_key(member.as_str()))
        });
        if created.contains(external_id) && strangers {
            notes.push(GroupNote {
                group: external_id.into(),
                kind: GroupNoteKind::RetireBlocked,
                message: "no longer in Flex, but it has members flexsync does not manage: kept"
                    .to_string(),
            });
        } else if created.contains(external_id) {
            candidates.insert(external_id);
        } else if external_id.starts_with(PATH_PREFIX) || external_id.starts_with(NAME_PREFIX) {
            notes.push(GroupNote {
                group: external_id.into(),
                kind: GroupNoteKind::NotCreatedByFlexsync,
                message: "no longer in Flex, but flexsync did not create it: left alone"
                    .to_string(),
            });
        }
    }
    loop {
        let blocked: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|candidate| {
                current.iter().any(|child| {
                    parent_after(child).as_deref() == Some(*candidate)
                        && child
                            .external_id
                            .as_deref()
                            .is_none_or(|e| !candidates.contains(e))
                })
            })
            .collect();
        if blocked.is_empty() {
            break;
        }
        for external_id in blocked {
            candidates.remove(external_id);
            notes.push(GroupNote {
                group: external_id.into(),
                kind: GroupNoteKind::RetireBlocked,
                message: "no longer in Flex, but a group that stays sits under it: kept"
                    .to_string(),
            });
        }
    }
    let depth = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut at = start;
        while let Some(parent) = targets
            .get(at)
            .and_then(|g| g.parent_external_id.as_deref())
        {
            if !seen.insert(at) {
                break;
            }
            at = parent;
        }
        seen.len()
    };
    let mut ordered: Vec<(usize, &str)> = candidates.iter().map(|c| (depth(c), *c)).collect();
    ordered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    ordered
        .into_iter()
        .filter_map(|(_, external_id)| {
            let target = targets.get(external_id)?;
            Some(GroupStep {
                reason: "no members and no child groups left in Flex; created by flexsync"
                    .to_string(),
                operation: GroupOperation::RetireGroup {
                    target_id: target.id.clone(),
                    external_id: external_id.into(),
                    display_name: target.display_name.clone(),
                },
            })
        })
        .collect()
}
