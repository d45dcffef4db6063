//! Golden group plans for a changing organisation, and properties: applying a plan and
//! planning again yields nothing.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

use super::{GroupCapabilities, GroupOperation, GroupPlan, TargetGroup, plan_groups};
use crate::desired::Desired;
use crate::groups::tests::{any_settings, build, desired_for, example, generated, settings};
use crate::ids::{ExternalId, TargetId};
use crate::mapping::{DisplayName, GapRule, GroupNaming, GroupSettings};

const TREE: GroupCapabilities = GroupCapabilities {
    parent: true,
    managers: false,
};
const FLAT: GroupCapabilities = GroupCapabilities {
    parent: false,
    managers: false,
};

/// Every user is in the target as `t-<external id>`.
fn user_ids(desired: &Desired) -> BTreeMap<ExternalId, TargetId> {
    desired
        .users
        .keys()
        .map(|id| (id.clone(), format!("t-{id}").into()))
        .collect()
}

/// What a faithful target looks like after `plan`; also checks the order is one a strict
/// server accepts (parents before children, no group deleted while it has children).
fn apply(
    mut groups: Vec<TargetGroup>,
    plan: &GroupPlan,
    user_ids: &BTreeMap<ExternalId, TargetId>,
    created: &mut BTreeSet<ExternalId>,
) -> Vec<TargetGroup> {
    let find = |groups: &mut Vec<TargetGroup>, external_id: &str| -> usize {
        groups
            .iter()
            .position(|g| g.external_id.as_deref() == Some(external_id))
            .unwrap()
    };
    for step in &plan.steps {
        match &step.operation {
            GroupOperation::CreateGroup {
                external_id,
                display_name,
                parent_external_id,
            } => {
                if let Some(parent) = parent_external_id {
                    assert!(
                        groups
                            .iter()
                            .any(|g| g.external_id.as_ref() == Some(parent)),
                        "parent {parent} of {external_id} is created first"
                    );
                }
                created.insert(external_id.clone());
                groups.push(TargetGroup {
                    id: format!("g-{external_id}").into(),
                    external_id: Some(external_id.clone()),
                    display_name: display_name.clone(),
                    parent_external_id: parent_external_id.clone(),
                    members: BTreeSet::new(),
                    managers: BTreeSet::new(),
                });
            }
            GroupOperation::RenameGroup {
                external_id, after, ..
            } => {
                let at = find(&mut groups, external_id);
                groups[at].display_name = after.clone();
            }
            GroupOperation::MoveGroup {
                external_id, after, ..
            } => {
                let at = find(&mut groups, external_id);
                groups[at].parent_external_id = after.clone();
            }
            GroupOperation::AddMembers {
                external_id, users, ..
            } => {
                let at = find(&mut groups, external_id);
                for user in users {
                    groups[at].members.insert(user_ids[user].clone());
                }
            }
            GroupOperation::RemoveMembers {
                external_id, users, ..
            } => {
                let at = find(&mut groups, external_id);
                for user in users {
                    groups[at].members.remove(&user_ids[user]);
                }
            }
            GroupOperation::SetGroupManagers {
                external_id,
                managers,
                keep,
                ..
            } => {
                let at = find(&mut groups, external_id);
                groups[at].managers = managers
                    .iter()
                    .map(|m| user_ids[m].clone())
                    .chain(keep.iter().cloned())
                    .collect();
            }
            GroupOperation::RetireGroup { external_id, .. } => {
                assert!(
                    !groups
                        .iter()
                        .any(|g| g.parent_external_id.as_ref() == Some(external_id)),
                    "{external_id} has no children when retired"
                );
                let at = find(&mut groups, external_id);
                groups.remove(at);
            }
        }
    }
    groups
}

fn hand_made() -> Vec<TargetGroup> {
    vec![
        TargetGroup {
            id: "h1".into(),
            external_id: None,
            display_name: "Made by hand".into(),
            parent_external_id: None,
            members: ["t-e01".into(), "t-e02".into()].into(),
            managers: BTreeSet::new(),
        },
        TargetGroup {
            id: "h2".into(),
            external_id: Some("grp:9999".into()),
            display_name: "Old integration".into(),
            parent_external_id: None,
            members: BTreeSet::new(),
            managers: BTreeSet::new(),
        },
    ]
}

#[test]
fn first_run_creates_the_tree_top_down() {
    let settings = settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path);
    let desired = desired_for(&example().snapshot, &settings);
    let ids = user_ids(&desired);
    let plan = plan_groups(
        &desired,
        &hand_made(),
        &ids,
        &BTreeSet::new(),
        TREE,
        &settings,
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn documented_profile_creates_flat_groups_with_full_paths() {
    let settings = GroupSettings {
        display: DisplayName::FullPath,
        ..settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path)
    };
    let desired = desired_for(&example().snapshot, &settings);
    let plan = plan_groups(
        &desired,
        &[],
        &user_ids(&desired),
        &BTreeSet::new(),
        FLAT,
        &settings,
    );
    assert!(plan.tree_by_hand);
    let names: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.operation {
            GroupOperation::CreateGroup {
                display_name,
                parent_external_id,
                ..
            } => {
                assert_eq!(parent_external_id, &None);
                Some(display_name.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(names.contains(&"Stockholm / Ekonomi / Leverantörsreskontra"));
    assert!(names.contains(&"Göteborg / Ekonomi"));
}

#[test]
fn second_run_renames_moves_people_and_retires_what_emptied() {
    let settings = settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path);
    let mut org = example();
    let day_one = desired_for(&org.snapshot, &settings);
    let ids = user_ids(&day_one);
    let mut created = BTreeSet::new();
    let first = plan_groups(&day_one, &hand_made(), &ids, &created, TREE, &settings);
    let mut target = apply(hand_made(), &first, &ids, &mut created);

    // In Flex: Ekonomi renamed; e01 leaves the team (the team empties); e04 moves from
    // Göteborg to Stockholm (Göteborg > Ekonomi empties). In Winningtemp: someone moved
    // Stockholm under the hand-made group.
    org.rename("c-a", "Avdelning", "200", "Ekonomi och finans");
    org.snapshot
        .default_accounts
        .retain(|d| !(&*d.employee_id == "e01" && &*d.dimension_id == "c-a-Team"));
    for d in org.snapshot.default_accounts.iter_mut() {
        if &*d.employee_id == "e04" && &*d.dimension_id == "c-a-Kontor" {
            d.account_id = Some("c-a-Kontor-100".into());
            d.account_code = Some("100".into());
        }
    }
    for g in target.iter_mut() {
        if g.external_id.as_deref() == Some("grp:1010/kontor=100") {
            g.parent_external_id = Some("grp:9999".into());
        }
    }
    let day_two = desired_for(&org.snapshot, &settings);
    let second = plan_groups(&day_two, &target, &ids, &created, TREE, &settings);
    insta::assert_json_snapshot!(second);

    let target = apply(target, &second, &ids, &mut created);
    let again = plan_groups(&day_two, &target, &ids, &created, TREE, &settings);
    assert!(again.is_empty(), "{again:#?}");
    assert!(target.iter().any(|g| g.id == "h1" && g.members.len() == 2));
}

#[test]
fn members_are_added_and_removed_in_chunks() {
    let settings = GroupSettings {
        member_chunk: 2,
        ..settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path)
    };
    let desired = desired_for(&example().snapshot, &settings);
    let plan = plan_groups(
        &desired,
        &[],
        &user_ids(&desired),
        &BTreeSet::new(),
        TREE,
        &settings,
    );
    for step in &plan.steps {
        if let GroupOperation::AddMembers { users, .. } = &step.operation {
            assert!(!users.is_empty() && users.len() <= 2);
        }
    }
    let added: usize = plan
        .steps
        .iter()
        .map(|s| match &s.operation {
            GroupOperation::AddMembers { users, .. } => users.len(),
            _ => 0,
        })
        .sum();
    let members: usize = desired.groups.values().map(|g| g.members.len()).sum();
    assert_eq!(added, members);
}

#[test]
fn groups_not_created_by_flexsync_are_never_retired() {
    let settings = settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path);
    let desired = Desired::default();
    let target = vec![TargetGroup {
        id: "x".into(),
        external_id: Some("grp:1010/kontor=100".into()),
        display_name: "Stockholm".into(),
        ..TargetGroup::default()
    }];
    let plan = plan_groups(
        &desired,
        &target,
        &BTreeMap::new(),
        &BTreeSet::new(),
        TREE,
        &settings,
    );
    assert!(plan.is_empty());
    assert_eq!(plan.notes[0].kind, "not_created_by_flexsync");
    let created = BTreeSet::from([ExternalId::from("grp:1010/kontor=100")]);
    let plan = plan_groups(
        &desired,
        &target,
        &BTreeMap::new(),
        &created,
        TREE,
        &settings,
    );
    assert_eq!(plan.steps[0].operation.kind(), "retire_group");
}

#[test]
fn a_group_we_created_is_kept_while_it_holds_members_we_do_not_manage() {
    let settings = settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path);
    let desired = Desired::default();
    let target = vec![TargetGroup {
        id: "x".into(),
        external_id: Some("grp:1010/kontor=100".into()),
        display_name: "Stockholm".into(),
        members: BTreeSet::from(["consultant".into(), "t-e01".into()]),
        ..TargetGroup::default()
    }];
    let created = BTreeSet::from([ExternalId::from("grp:1010/kontor=100")]);
    let ours = BTreeMap::from([("e01".into(), "t-e01".into())]);
    let plan = plan_groups(&desired, &target, &ours, &created, TREE, &settings);
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(plan.notes[0].kind, "retire_blocked");
    let only_ours = vec![TargetGroup {
        members: BTreeSet::from(["t-e01".into()]),
        ..target[0].clone()
    }];
    let plan = plan_groups(&desired, &only_ours, &ours, &created, TREE, &settings);
    assert_eq!(plan.steps[0].operation.kind(), "retire_group");
}

#[test]
fn a_created_group_with_a_foreign_child_is_kept() {
    let settings = settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path);
    let target = vec![
        TargetGroup {
            id: "x".into(),
            external_id: Some("grp:1/kontor=1".into()),
            display_name: "Ours".into(),
            ..TargetGroup::default()
        },
        TargetGroup {
            id: "y".into(),
            external_id: None,
            display_name: "Theirs".into(),
            parent_external_id: Some("grp:1/kontor=1".into()),
            ..TargetGroup::default()
        },
    ];
    let created = BTreeSet::from([ExternalId::from("grp:1/kontor=1")]);
    let plan = plan_groups(
        &Desired::default(),
        &target,
        &BTreeMap::new(),
        &created,
        TREE,
        &settings,
    );
    assert!(plan.is_empty());
    assert_eq!(plan.notes[0].kind, "retire_blocked");
}

proptest! {
    #[test]
    fn planning_after_applying_yields_nothing(
        first in generated(),
        second in generated(),
        settings in any_settings(),
        parent in prop::bool::ANY,
        chunk in 1usize..4,
    ) {
        let settings = GroupSettings { member_chunk: chunk, ..settings };
        let caps = GroupCapabilities {
            parent,
            managers: parent,
        };
        let one = desired_for(&build(&first, 0), &settings);
        let two = desired_for(&build(&second, 1), &settings);
        let mut ids = user_ids(&one);
        ids.extend(user_ids(&two));
        let mut created = BTreeSet::new();

        let plan = plan_groups(&one, &[], &ids, &created, caps, &settings);
        let target = apply(Vec::new(), &plan, &ids, &mut created);
        prop_assert!(plan_groups(&one, &target, &ids, &created, caps, &settings).is_empty());

        let plan = plan_groups(&two, &target, &ids, &created, caps, &settings);
        let target = apply(target, &plan, &ids, &mut created);
        let again = plan_groups(&two, &target, &ids, &created, caps, &settings);
        prop_assert!(again.is_empty(), "{:#?}", again);

        // The target now holds exactly the desired groups, with the desired members.
        let held: BTreeSet<&str> = target.iter().filter_map(|g| g.external_id.as_deref()).collect();
        prop_assert_eq!(held, two.groups.keys().map(ExternalId::as_str).collect::<BTreeSet<_>>());
        for group in &target {
            let wanted = &two.groups[group.external_id.as_deref().unwrap()];
            let members: BTreeSet<TargetId> = wanted.members.iter().map(|m| ids[m].clone()).collect();
            prop_assert_eq!(&group.members, &members);
        }
    }
}

#[test]
fn a_member_held_for_a_finding_keeps_their_groups_and_a_leaver_leaves_them() {
    use crate::desired::Skipped;
    let settings = settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path);
    let desired = desired_for(&example().snapshot, &settings);
    let ids = user_ids(&desired);
    let mut created = BTreeSet::new();
    let target = apply(
        Vec::new(),
        &plan_groups(&desired, &[], &ids, &BTreeSet::new(), TREE, &settings),
        &ids,
        &mut created,
    );
    let (group_id, member) = desired
        .groups
        .iter()
        .find_map(|(id, g)| g.members.first().map(|m| (id.clone(), m.clone())))
        .unwrap();
    // The desired state with `member` gone from their group and the users.
    let without_member = || {
        let mut next = desired.clone();
        next.users.remove(&member);
        next.groups
            .get_mut(&group_id)
            .unwrap()
            .members
            .retain(|m| m != &member);
        next
    };
    let removals = |skipped: Skipped| {
        let mut next = without_member();
        next.skipped.insert(member.clone(), skipped);
        plan_groups(&next, &target, &ids, &created, TREE, &settings)
            .steps
            .iter()
            .filter(|s| matches!(&s.operation, GroupOperation::RemoveMembers { users, .. } if users.contains(&member)))
            .count()
    };
    assert_eq!(removals(Skipped::Employed), 0);
    assert_eq!(removals(Skipped::NotEmployed), 1);

    // The reason says why: a leaver is no longer active, someone out of scope is out of scope.
    let reason = |out_of_scope: bool| {
        let mut next = without_member();
        if out_of_scope {
            next.out_of_scope
                .insert(member.clone(), crate::desired::ScopedOut::default());
        }
        plan_groups(&next, &target, &ids, &created, TREE, &settings)
            .steps
            .iter()
            .find(|s| matches!(&s.operation, GroupOperation::RemoveMembers { users, .. } if users.contains(&member)))
            .map(|s| s.reason.clone())
            .unwrap()
    };
    assert_eq!(
        reason(false),
        "no longer in this group: 1 user no longer active in Flex"
    );
    assert_eq!(reason(true), "no longer in this group: 1 user out of scope");
}

#[test]
fn on_a_flat_target_repeated_labels_are_named_by_their_path() {
    use crate::desired::DesiredGroup;
    use crate::mapping::DisplayName;
    let group = |id: &str, path: &[&str]| DesiredGroup {
        external_id: id.into(),
        display_name: path.last().unwrap().to_string(),
        path: path.iter().map(|p| p.to_string()).collect(),
        parent_external_id: None,
        members: Vec::new(),
        managers: Vec::new(),
    };
    let desired = Desired {
        groups: [
            group("a", &["Stockholm", "Ekonomi"]),
            group("b", &["Göteborg", "Ekonomi"]),
            group("c", &["Göteborg", "IT"]),
        ]
        .into_iter()
        .map(|g| (g.external_id.clone(), g))
        .collect(),
        ..Desired::default()
    };
    let names = |display, flat| {
        let names = super::display_names(&desired, display, flat);
        names.values().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        names(DisplayName::Auto, true),
        ["Stockholm / Ekonomi", "Göteborg / Ekonomi", "IT"]
    );
    assert_eq!(
        names(DisplayName::Auto, false),
        ["Ekonomi", "Ekonomi", "IT"]
    );
    assert_eq!(
        names(DisplayName::Label, true),
        ["Ekonomi", "Ekonomi", "IT"]
    );
    let settings = GroupSettings {
        display: DisplayName::Auto,
        ..GroupSettings::default()
    };
    let plan = plan_groups(
        &desired,
        &[],
        &BTreeMap::new(),
        &BTreeSet::new(),
        FLAT,
        &settings,
    );
    let note = plan
        .notes
        .iter()
        .find(|n| n.kind == "named_by_path")
        .unwrap();
    assert!(
        note.message.starts_with("2 groups are called 'Ekonomi'"),
        "{}",
        note.message
    );
}

#[test]
fn overwrite_removes_hand_added_members_only_from_groups_we_created() {
    let mut settings = settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path);
    let desired = desired_for(&example().snapshot, &settings);
    let ids = user_ids(&desired);
    let mut created = BTreeSet::new();
    let mut target = apply(
        Vec::new(),
        &plan_groups(&desired, &[], &ids, &BTreeSet::new(), TREE, &settings),
        &ids,
        &mut created,
    );
    let ours = target[0].external_id.clone().unwrap();
    target[0].members.insert("guest".into());
    // A group of the tree that was there before flexsync (not created by it).
    let theirs = target[1].external_id.clone().unwrap();
    assert!(created.remove(&theirs));
    target[1].members.insert("guest".into());

    let managed = plan_groups(&desired, &target, &ids, &created, TREE, &settings);
    assert!(managed.is_empty(), "{managed:#?}");

    settings.memberships = crate::mapping::Memberships::Overwrite;
    let plan = plan_groups(&desired, &target, &ids, &created, TREE, &settings);
    assert_eq!(plan.steps.len(), 1, "{plan:#?}");
    match &plan.steps[0].operation {
        GroupOperation::RemoveMembers {
            external_id,
            users,
            others,
            ..
        } => {
            assert_eq!(external_id, &ours);
            assert!(users.is_empty());
            assert_eq!(others, &[TargetId::from("guest")]);
        }
        other => panic!("{other:?}"),
    }
}
