//! Plan tests: worked examples, and properties checked against a simulated target.

use super::*;
use crate::current::Capabilities;
use crate::desired::{Gender, ScopedOut};
use crate::finding::{Finding, FindingKind, Severity};
use jiff::civil::date;
use proptest::prelude::*;

fn values(user_name: &str, active: bool) -> UserValues {
    UserValues {
        user_name: user_name.to_string(),
        email: Some(user_name.to_string()),
        given_name: "Given".into(),
        family_name: "Family".into(),
        gender: Some(Gender::Female),
        birth_date: Some(date(1990, 1, 2)),
        exclude_from_surveys: Some(false),
        employment_start: Some(date(2020, 1, 1)),
        employment_end: None,
        active,
        extra: BTreeMap::new(),
        columns: BTreeMap::new(),
        segments: BTreeMap::new(),
    }
}

fn desired_user(id: &str, active: bool, manager: Option<&str>, depth: u32) -> DesiredUser {
    DesiredUser {
        external_id: id.into(),
        values: values(&format!("{id}@example.se"), active),
        manager_external_id: manager.map(ExternalId::from),
        manager_depth: depth,
        group: None,
    }
}

/// The plan with nothing remembered and default settings.
fn plan_with_defaults(desired: &Desired, current: &Current) -> Plan {
    plan(
        desired,
        current,
        &Memory::default(),
        &PlanSettings::default(),
    )
}

fn desired(users: Vec<DesiredUser>) -> Desired {
    Desired {
        source_records: users.len(),
        users: users
            .into_iter()
            .map(|u| (u.external_id.clone(), Box::new(u)))
            .collect(),
        findings: Vec::new(),
        groups: BTreeMap::new(),
        skipped: BTreeMap::new(),
        out_of_scope: BTreeMap::new(),
        same_person: BTreeMap::new(),
        segments: BTreeMap::new(),
    }
}

fn extended() -> Capabilities {
    let mut caps = Capabilities::core();
    caps.attributes.extend([
        Attribute::Gender,
        Attribute::BirthDate,
        Attribute::ExcludeFromSurveys,
        Attribute::EmploymentStart,
        Attribute::EmploymentEnd,
        Attribute::Manager,
    ]);
    caps
}

/// Carries out a plan against an in-memory target the way a faithful writer would.
fn simulate(current: &Current, memory: &Memory, plan: &Plan) -> (Current, Memory) {
    let mut current = current.clone();
    let mut memory = memory.clone();
    let caps = current.capabilities.clone();
    let keep = |v: &UserValues| -> UserValues {
        let mut kept = UserValues {
            user_name: v.user_name.clone(),
            given_name: v.given_name.clone(),
            family_name: v.family_name.clone(),
            active: v.active,
            ..UserValues::default()
        };
        if caps.supports(&Attribute::Email) {
            kept.email = v.email.clone();
        }
        if caps.supports(&Attribute::Gender) {
            kept.gender = v.gender;
        }
        if caps.supports(&Attribute::BirthDate) {
            kept.birth_date = v.birth_date;
        }
        if caps.supports(&Attribute::ExcludeFromSurveys) {
            kept.exclude_from_surveys = v.exclude_from_surveys;
        }
        if caps.supports(&Attribute::EmploymentStart) {
            kept.employment_start = v.employment_start;
        }
        if caps.supports(&Attribute::EmploymentEnd) {
            kept.employment_end = v.employment_end;
        }
        kept
    };
    let target_of = |current: &Current, memory: &Memory, external_id: &str| -> Option<TargetId> {
        current
            .users
            .iter()
            .find(|u| u.external_id.as_deref() == Some(external_id))
            .map(|u| u.id.clone())
            .or_else(|| memory.links.get(external_id).cloned())
    };
    for (n, step) in plan.steps.iter().enumerate() {
        match &step.operation {
            Operation::CreateUser {
                external_id,
                values,
                manager_external_id,
                ..
            } => {
                let id = TargetId::from(format!("new-{n}"));
                let manager_id = manager_external_id
                    .as_deref()
                    .and_then(|m| target_of(&current, &memory, m));
                current.users.push(TargetUser {
                    id: id.clone(),
                    external_id: Some(external_id.clone()),
                    values: keep(values),
                    manager_id,
                });
                memory.links.insert(external_id.clone(), id.clone());
                memory.created.insert(id);
            }
            Operation::AdoptUser {
                target_id,
                external_id,
                values,
                ..
            }
            | Operation::UpdateUser {
                target_id,
                external_id,
                values,
                ..
            }
            | Operation::ReactivateUser {
                target_id,
                external_id,
                values,
                ..
            } => {
                let user = current
                    .users
                    .iter_mut()
                    .find(|u| &u.id == target_id)
                    .unwrap();
                user.external_id = Some(external_id.clone());
                let manager_id = user.manager_id.clone();
                user.values = keep(values);
                user.manager_id = manager_id;
                memory.links.insert(external_id.clone(), target_id.clone());
            }
            Operation::DeactivateUser {
                target_id, values, ..
            } => {
                let user = current
                    .users
                    .iter_mut()
                    .find(|u| &u.id == target_id)
                    .unwrap();
                if let Some(values) = values {
                    user.values = keep(values);
                }
                user.values.active = false;
            }
            Operation::SetManager {
                external_id,
                manager_external_id,
                ..
            } => {
                let manager_id = manager_external_id
                    .as_deref()
                    .and_then(|m| target_of(&current, &memory, m));
                let id = target_of(&current, &memory, external_id).unwrap();
                let user = current.users.iter_mut().find(|u| u.id == id).unwrap();
                user.manager_id = manager_id;
            }
        }
    }
    (current, memory)
}

#[test]
fn creates_managers_before_their_reports_and_links_in_the_request() {
    let desired = desired(vec![
        desired_user("b", true, Some("a"), 1),
        desired_user("a", true, None, 0),
    ]);
    let current = Current {
        users: vec![],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    let kinds: Vec<_> = plan
        .steps
        .iter()
        .map(|s| s.operation.external_id())
        .collect();
    assert_eq!(kinds, ["a", "b"]);
    assert!(matches!(
        &plan.steps[1].operation,
        Operation::CreateUser { manager_external_id: Some(m), .. } if m == "a"
    ));
}

#[test]
fn an_unchanged_target_gives_an_empty_plan() {
    let desired = desired(vec![
        desired_user("a", true, None, 0),
        desired_user("b", true, Some("a"), 1),
    ]);
    let empty = Current {
        users: vec![],
        capabilities: extended(),
    };
    let first = plan_with_defaults(&desired, &empty);
    let (after, memory) = simulate(&empty, &Memory::default(), &first);
    let second = plan(&desired, &after, &memory, &PlanSettings::default());
    assert!(second.is_empty(), "{second:#?}");
}

#[test]
fn a_manager_unlinked_because_they_are_not_synced_says_why() {
    let both = desired(vec![
        desired_user("a", true, None, 0),
        desired_user("b", true, Some("a"), 1),
    ]);
    let empty = Current {
        users: vec![],
        capabilities: extended(),
    };
    let (linked, memory) = simulate(
        &empty,
        &Memory::default(),
        &plan_with_defaults(&both, &empty),
    );
    let reason = |finding: Option<&str>| {
        let mut next = desired(vec![desired_user("b", true, None, 0)]);
        next.out_of_scope.insert("a".into(), ScopedOut::default());
        next.findings.extend(finding.map(|problem| Finding {
            record: "b".into(),
            field: "ImmediateManagerEmployeeId".into(),
            kind: FindingKind::ManagerOutOfScope,
            problem: problem.into(),
            action: "synced without a manager".into(),
            severity: Severity::Degraded,
            name: None,
            email: None,
        }));
        let plan = plan(&next, &linked, &memory, &PlanSettings::default());
        plan.steps
            .iter()
            .find(|s| matches!(s.operation, Operation::SetManager { .. }))
            .map(|s| s.reason.clone())
            .unwrap()
    };
    assert_eq!(
        reason(Some(
            "manager a is in the source but is not a user of this sync"
        )),
        "the manager Flex names is not synced: manager a is in the source but is not a user of \
         this sync"
    );
    assert_eq!(reason(None), "no manager in Flex");
}

#[test]
fn leavers_are_paused_and_users_without_external_id_are_left_alone() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    let mut hand_made = TargetUser {
        id: "t-hand".into(),
        external_id: None,
        values: values("boss@example.se", true),
        manager_id: None,
    };
    hand_made.values.given_name = "Hand".into();
    let current = Current {
        users: vec![
            TargetUser {
                id: "t-a".into(),
                external_id: Some("a".into()),
                values: values("a@example.se", true),
                manager_id: None,
            },
            TargetUser {
                id: "t-gone".into(),
                external_id: Some("gone".into()),
                values: values("gone@example.se", true),
                manager_id: None,
            },
            hand_made,
        ],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert_eq!(plan.steps.len(), 1, "{plan:#?}");
    assert_eq!(
        plan.steps[0].operation,
        Operation::DeactivateUser {
            target_id: "t-gone".into(),
            external_id: "gone".into(),
            values: None,
            changes: Vec::new(),
        }
    );
}

#[test]
fn a_skipped_record_is_held_not_paused() {
    let mut desired = desired(vec![]);
    desired.findings.push(Finding {
        record: "gone".into(),
        field: "EmailWork".into(),
        kind: crate::finding::FindingKind::MissingEmail,
        problem: "no work email".into(),
        action: "not created".into(),
        severity: Severity::Skipped,
        name: None,
        email: None,
    });
    desired
        .skipped
        .insert("gone".into(), crate::desired::Skipped::Employed);
    let current = Current {
        users: vec![TargetUser {
            id: "t-gone".into(),
            external_id: Some("gone".into()),
            values: values("gone@example.se", true),
            manager_id: None,
        }],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(plan.steps.is_empty());
    assert_eq!(plan.held, ["gone"]);
}

#[test]
fn adopts_an_account_with_the_same_user_name_and_no_external_id() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    let mut existing = values("A@Example.se", true);
    existing.given_name = "Old".into();
    let current = Current {
        users: vec![TargetUser {
            id: "t1".into(),
            external_id: None,
            values: existing,
            manager_id: None,
        }],
        capabilities: Capabilities::core(),
    };
    let plan = plan_with_defaults(&desired, &current);
    match &plan.steps[..] {
        [
            Step {
                operation: Operation::AdoptUser { changes, .. },
                ..
            },
        ] => {
            let names: Vec<_> = changes.iter().map(|c| c.attribute.clone()).collect();
            assert_eq!(names, [Attribute::GivenName]);
        }
        other => panic!("{other:#?}"),
    }
}

#[test]
fn a_user_name_held_by_another_managed_user_is_a_conflict() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    // Another person: with the same names and birth date it would be a move between companies.
    let mut other = values("a@example.se", true);
    other.given_name = "Someone".into();
    let current = Current {
        users: vec![TargetUser {
            id: "t1".into(),
            external_id: Some("other".into()),
            values: other,
            manager_id: None,
        }],
        capabilities: Capabilities::core(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.steps
            .iter()
            .all(|s| !matches!(s.operation, Operation::CreateUser { .. }))
    );
}

#[test]
fn unsupported_values_are_counted_not_sent() {
    let desired = desired(vec![
        desired_user("a", true, None, 0),
        desired_user("b", true, Some("a"), 1),
    ]);
    let current = Current {
        users: vec![],
        capabilities: Capabilities::core(),
    };
    let plan = plan_with_defaults(&desired, &current);
    let manager = plan
        .not_sent
        .iter()
        .find(|n| n.attribute == Attribute::Manager)
        .unwrap();
    assert_eq!(manager.users, 1);
    let gender = plan
        .not_sent
        .iter()
        .find(|n| n.attribute == Attribute::Gender)
        .unwrap();
    assert_eq!(gender.users, 2);
    for step in &plan.steps {
        if let Operation::CreateUser { attributes, .. } = &step.operation {
            assert!(!attributes.contains(&Attribute::Gender));
        }
    }
}

#[test]
fn rehires_are_reactivated() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    let current = Current {
        users: vec![TargetUser {
            id: "t1".into(),
            external_id: Some("a".into()),
            values: values("a@example.se", false),
            manager_id: None,
        }],
        capabilities: Capabilities::core(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(matches!(
        plan.steps[..],
        [Step {
            operation: Operation::ReactivateUser { .. },
            ..
        }]
    ));
}

#[test]
fn a_leaver_whose_record_has_a_finding_is_paused_not_held() {
    let mut desired = desired(vec![]);
    desired.findings.push(Finding {
        record: "gone".into(),
        field: "EmailWork".into(),
        kind: crate::finding::FindingKind::MissingEmail,
        problem: "no work email".into(),
        action: "not created".into(),
        severity: Severity::Skipped,
        name: None,
        email: None,
    });
    desired
        .skipped
        .insert("gone".into(), crate::desired::Skipped::NotEmployed);
    let current = Current {
        users: vec![TargetUser {
            id: "t-gone".into(),
            external_id: Some("gone".into()),
            values: values("gone@example.se", true),
            manager_id: None,
        }],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(plan.held.is_empty());
    assert!(matches!(
        &plan.steps[..],
        [Step { operation: Operation::DeactivateUser { target_id, .. }, .. }] if target_id == "t-gone"
    ));
}

#[test]
fn a_second_account_with_a_managed_external_id_is_reported_and_paused_when_they_leave() {
    let twin = |id: &str| TargetUser {
        id: id.into(),
        external_id: Some("a".into()),
        values: values("a@example.se", true),
        manager_id: None,
    };
    let current = Current {
        users: vec![twin("t1"), twin("t2")],
        capabilities: Capabilities::core(),
    };
    let staying = desired(vec![desired_user("a", true, None, 0)]);
    let plan_staying = plan_with_defaults(&staying, &current);
    assert!(plan_staying.steps.is_empty());
    assert_eq!(plan_staying.conflicts.len(), 1);
    assert!(plan_staying.conflicts[0].problem.contains("t2"));
    let leaving = desired(vec![desired_user("a", false, None, 0)]);
    let plan_leaving = plan_with_defaults(&leaving, &current);
    let paused: Vec<_> = plan_leaving
        .steps
        .iter()
        .filter_map(|s| match &s.operation {
            Operation::DeactivateUser { target_id, .. } => Some(target_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(paused, ["t1", "t2"]);
}

#[test]
fn a_hand_made_account_is_never_adopted_only_to_be_paused() {
    let desired = desired(vec![desired_user("a", false, None, 0)]);
    let current = Current {
        users: vec![TargetUser {
            id: "t-hand".into(),
            external_id: None,
            values: values("a@example.se", true),
            manager_id: None,
        }],
        capabilities: Capabilities::core(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(plan.conflicts.is_empty());
}

#[test]
fn every_step_that_pauses_someone_says_so() {
    let pause = Change {
        attribute: Attribute::Active,
        before: Some("true".into()),
        after: Some("false".into()),
    };
    let adopt = Operation::AdoptUser {
        target_id: "t".into(),
        external_id: "a".into(),
        values: values("a@example.se", false),
        changes: vec![pause],
    };
    assert!(adopt.pauses());
    let update = Operation::UpdateUser {
        target_id: "t".into(),
        external_id: "a".into(),
        values: values("a@example.se", true),
        changes: vec![],
    };
    assert!(!update.pauses());
}

#[test]
fn a_leavers_end_date_and_pause_go_in_one_step() {
    let mut leaver = desired_user("a", false, None, 0);
    leaver.values.employment_end = Some(date(2026, 11, 26));
    let desired = desired(vec![leaver]);
    let current = Current {
        users: vec![TargetUser {
            id: "t1".into(),
            external_id: Some("a".into()),
            values: values("a@example.se", true),
            manager_id: None,
        }],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    match &plan.steps[..] {
        [
            Step {
                operation:
                    Operation::DeactivateUser {
                        values: Some(values),
                        changes,
                        ..
                    },
                ..
            },
        ] => {
            assert!(!values.active);
            let names: Vec<_> = changes.iter().map(|c| c.attribute.clone()).collect();
            assert_eq!(names, [Attribute::EmploymentEnd]);
        }
        other => panic!("{other:#?}"),
    }
}

fn keep_paused() -> PlanSettings {
    PlanSettings { keep_paused: true }
}

fn target(id: &str, external_id: Option<&str>, values: UserValues) -> TargetUser {
    TargetUser {
        id: id.into(),
        external_id: external_id.map(ExternalId::from),
        values,
        manager_id: None,
    }
}

#[test]
fn keep_paused_updates_a_paused_user_but_never_reactivates_them() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    let mut paused = values("a@example.se", false);
    paused.given_name = "Old".into();
    let current = Current {
        users: vec![target("t1", Some("a"), paused)],
        capabilities: Capabilities::core(),
    };
    let plan = plan(&desired, &current, &Memory::default(), &keep_paused());
    match &plan.steps[..] {
        [
            Step {
                operation:
                    Operation::UpdateUser {
                        values, changes, ..
                    },
                ..
            },
        ] => {
            assert!(!values.active);
            let names: Vec<_> = changes.iter().map(|c| c.attribute.clone()).collect();
            assert_eq!(names, [Attribute::GivenName]);
        }
        other => panic!("{other:#?}"),
    }
    assert_eq!(plan.kept_paused, ["a"]);

    let (after, memory) = simulate(&current, &Memory::default(), &plan);
    assert!(!after.users[0].values.active);
    let again = super::plan(&desired, &after, &memory, &keep_paused());
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(again.kept_paused, ["a"], "listed on every run");
}

#[test]
fn keep_paused_also_holds_an_adopted_paused_account() {
    let desired = desired(vec![desired_user("a", true, None, 0)]);
    let current = Current {
        users: vec![target("t1", None, values("a@example.se", false))],
        capabilities: Capabilities::core(),
    };
    let plan = plan(&desired, &current, &Memory::default(), &keep_paused());
    match &plan.steps[..] {
        [
            Step {
                operation:
                    Operation::AdoptUser {
                        values, changes, ..
                    },
                ..
            },
        ] => {
            assert!(!values.active);
            assert!(changes.iter().all(|c| c.attribute != Attribute::Active));
        }
        other => panic!("{other:#?}"),
    }
    assert_eq!(plan.kept_paused, ["a"]);
}

#[test]
fn keep_paused_still_pauses_leavers_and_creates_starters_active() {
    let desired = desired(vec![
        desired_user("new", true, None, 0),
        desired_user("left", false, None, 0),
    ]);
    let current = Current {
        users: vec![target(
            "t-left",
            Some("left"),
            values("left@example.se", true),
        )],
        capabilities: Capabilities::core(),
    };
    let plan = plan(&desired, &current, &Memory::default(), &keep_paused());
    let kinds: Vec<_> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.operation.kind().as_str(),
                s.operation.external_id().as_str(),
            )
        })
        .collect();
    assert_eq!(kinds, [("create", "new"), ("pause", "left")]);
    assert!(plan.kept_paused.is_empty());
}

/// The person moved from company 1 (record `old`, ended, its email now on `new`) to company 2.
fn mover_case(old_values: UserValues) -> (Desired, Current) {
    let mut desired = desired(vec![desired_user("new", true, None, 0)]);
    desired.source_records = 2;
    desired.findings.push(Finding {
        record: "old".into(),
        field: "EmailWork".into(),
        kind: crate::finding::FindingKind::DuplicateEmail,
        problem: "EmailWork 'new@example.se' is also on employee new".into(),
        action: "skipped; employee new keeps the email".into(),
        severity: Severity::Skipped,
        name: None,
        email: None,
    });
    desired
        .skipped
        .insert("old".into(), crate::desired::Skipped::Employed);
    let current = Current {
        users: vec![target("t-old", Some("old"), old_values)],
        capabilities: extended(),
    };
    (desired, current)
}

#[test]
fn a_mover_between_companies_keeps_their_account() {
    let mut old = values("New@Example.se", true);
    old.given_name = "GIVEN ".into();
    let (desired, current) = mover_case(old);
    let plan = plan_with_defaults(&desired, &current);
    match &plan.steps[..] {
        [
            Step {
                operation:
                    Operation::AdoptUser {
                        target_id,
                        external_id,
                        ..
                    },
                reason,
            },
        ] => {
            assert_eq!((target_id.as_str(), external_id.as_str()), ("t-old", "new"));
            assert_eq!(reason, "moved between companies: old -> new");
        }
        other => panic!("{other:#?}"),
    }
    assert_eq!(
        plan.moves,
        [Move {
            external_id: "new".into(),
            previous_external_id: "old".into(),
            target_id: "t-old".into(),
        }]
    );
    assert!(plan.conflicts.is_empty() && plan.held.is_empty());

    let (after, memory) = simulate(&current, &Memory::default(), &plan);
    assert_eq!(after.users.len(), 1);
    let again = super::plan(&desired, &after, &memory, &PlanSettings::default());
    assert!(again.is_empty() && again.moves.is_empty(), "{again:#?}");
}

#[test]
fn a_mover_whose_old_account_was_paused_is_made_active_again() {
    let (desired, current) = mover_case(values("new@example.se", false));
    let plan = plan_with_defaults(&desired, &current);
    match &plan.steps[..] {
        [
            Step {
                operation: Operation::AdoptUser { changes, .. },
                ..
            },
        ] => assert_eq!(
            changes.last().map(|c| &c.attribute),
            Some(&Attribute::Active)
        ),
        other => panic!("{other:#?}"),
    }
    assert_eq!(plan.moves.len(), 1);
}

#[test]
fn a_mover_without_a_birth_date_in_the_target_is_still_a_move() {
    let mut old = values("new@example.se", true);
    old.birth_date = None;
    let (desired, current) = mover_case(old);
    let plan = plan_with_defaults(&desired, &current);
    assert_eq!(plan.moves.len(), 1, "{plan:#?}");
}

#[test]
fn another_person_on_the_old_account_is_a_conflict_not_a_move() {
    for change in ["family name", "birth date"] {
        let mut old = values("new@example.se", true);
        match change {
            "family name" => old.family_name = "Other".into(),
            _ => old.birth_date = Some(date(1991, 1, 2)),
        }
        let (desired, current) = mover_case(old);
        let plan = plan_with_defaults(&desired, &current);
        assert!(plan.steps.is_empty(), "{change}: {plan:#?}");
        assert!(plan.moves.is_empty(), "{change}");
        assert_eq!(plan.conflicts.len(), 1, "{change}");
        assert!(
            plan.conflicts[0].problem.contains("not taken as a move"),
            "{}",
            plan.conflicts[0].problem
        );
        assert_eq!(
            plan.held,
            ["old"],
            "{change}: the old account is left alone"
        );
    }
}

#[test]
fn an_account_of_a_record_still_in_the_source_is_not_a_move() {
    let mut desired = desired(vec![
        desired_user("new", true, None, 0),
        desired_user("old", false, None, 0),
    ]);
    if let Some(old) = desired.users.get_mut("old") {
        old.values.user_name = "old@example.se".into();
    }
    let current = Current {
        users: vec![target("t-old", Some("old"), values("new@example.se", true))],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(plan.moves.is_empty());
    assert_eq!(plan.conflicts.len(), 1);
    assert!(!plan.conflicts[0].problem.contains("move"));
}

#[test]
fn a_moved_manager_is_linked_to_their_reports_in_the_same_run() {
    let mut desired = desired(vec![
        desired_user("new", true, None, 0),
        desired_user("report", true, Some("new"), 1),
    ]);
    desired.source_records = 3;
    let current = Current {
        users: vec![target("t-old", Some("old"), values("new@example.se", true))],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    assert!(plan.waiting.is_empty(), "{plan:#?}");
    assert!(plan.steps.iter().any(|s| matches!(
        &s.operation,
        Operation::CreateUser { external_id, manager_external_id: Some(m), .. }
            if external_id == "report" && m == "new"
    )));
    let (after, memory) = simulate(&current, &Memory::default(), &plan);
    let again = super::plan(&desired, &after, &memory, &PlanSettings::default());
    assert!(again.is_empty(), "{again:#?}");
}

fn arb_values(n: usize) -> impl Strategy<Value = UserValues> {
    (
        any::<bool>(),
        prop::sample::select(vec!["Anna", "Björn", "Eva"]),
        prop::option::of(prop::sample::select(vec![
            Gender::Male,
            Gender::Female,
            Gender::None,
        ])),
        prop::option::of(1950i16..2000),
        any::<bool>(),
    )
        .prop_map(move |(active, given, gender, year, upper)| {
            let name = format!("user{n}@example.se");
            UserValues {
                user_name: if upper {
                    name.to_uppercase()
                } else {
                    name.clone()
                },
                email: Some(name),
                given_name: given.to_string(),
                family_name: "Svensson".into(),
                gender,
                birth_date: year.map(|y| date(y, 3, 4)),
                exclude_from_surveys: Some(!active),
                employment_start: None,
                employment_end: None,
                active,
                extra: BTreeMap::new(),
                columns: BTreeMap::new(),
                segments: BTreeMap::new(),
            }
        })
}

/// A desired state of up to 12 users with a manager forest, and a target holding a mix of
/// linked, stale, hand-made and unrelated accounts.
fn arb_case() -> impl Strategy<Value = (Desired, Current, PlanSettings)> {
    let users = (0usize..12).prop_flat_map(|count| {
        let values: Vec<_> = (0..count).map(arb_values).collect();
        let managers = prop::collection::vec(prop::option::of(0usize..12), count);
        (values, managers)
    });
    let target = prop::collection::vec((0usize..16, 0u8..5, arb_values(99)), 0..10);
    let caps = (any::<bool>(), any::<bool>());
    let settings = any::<bool>().prop_map(|keep_paused| PlanSettings { keep_paused });
    (users, target, caps, settings).prop_map(
        |((values, managers), target, (gender, manager), settings)| {
            let count = values.len();
            let mut users: Vec<DesiredUser> = values
                .into_iter()
                .enumerate()
                .map(|(i, values)| DesiredUser {
                    external_id: format!("e{i}").into(),
                    values,
                    // Only lower-numbered managers: a forest, as map guarantees.
                    manager_external_id: managers[i]
                        .filter(|m| *m < i)
                        .map(|m| format!("e{m}").into()),
                    manager_depth: 0,
                    group: None,
                })
                .collect();
            for i in 0..count {
                users[i].manager_depth = users[i]
                    .manager_external_id
                    .as_deref()
                    .and_then(|m| m[1..].parse::<usize>().ok())
                    .map(|m| users[m].manager_depth + 1)
                    .unwrap_or(0);
            }
            let mut capabilities = Capabilities::core();
            if gender {
                capabilities.attributes.insert(Attribute::Gender);
                capabilities.attributes.insert(Attribute::BirthDate);
            }
            if manager {
                capabilities.attributes.insert(Attribute::Manager);
            }
            let mut seen_names = BTreeSet::new();
            let targets = target
                .into_iter()
                .enumerate()
                .filter_map(|(t, (who, kind, mut v))| {
                    // kind 0: linked by external id; 1: same userName, no externalId;
                    // 2: a stranger with an externalId; 3: a hand-made stranger; 4: the account of
                    // an old record no longer in the source, with a desired userName (a mover when
                    // the person matches).
                    let external_id = match kind {
                        0 => Some(format!("e{who}").into()),
                        2 => Some(format!("x{t}").into()),
                        4 => Some(format!("old{t}").into()),
                        _ => None,
                    };
                    let stranger = kind == 2 || kind == 3;
                    v.user_name =
                        format!("user{}@example.se", if stranger { 100 + t } else { who });
                    if !seen_names.insert(v.user_name.clone()) {
                        return None;
                    }
                    Some(TargetUser {
                        id: format!("t{t}").into(),
                        external_id,
                        values: v,
                        manager_id: None,
                    })
                })
                .collect();
            (
                desired(users),
                Current {
                    users: targets,
                    capabilities,
                },
                settings,
            )
        },
    )
}

proptest! {
    #[test]
    fn applying_the_plan_converges((desired, current, settings) in arb_case()) {
        let first = plan(&desired, &current, &Memory::default(), &settings);
        let (after, memory) = simulate(&current, &Memory::default(), &first);
        let second = plan(&desired, &after, &memory, &settings);
        prop_assert!(second.steps.is_empty(), "second plan: {:#?}", second.steps);
        prop_assert_eq!(&second.kept_paused, &first.kept_paused);

        for user in desired.users.values() {
            let target = after
                .users
                .iter()
                .find(|t| t.external_id.as_deref() == Some(user.external_id.as_str()));
            let conflicted = first.conflicts.iter().any(|c| c.external_id == user.external_id);
            let kept_paused = first.kept_paused.contains(&user.external_id);
            match target {
                Some(t) => {
                    prop_assert_eq!(t.values.active, user.values.active && !kept_paused);
                    prop_assert_eq!(&t.values.given_name, &user.values.given_name);
                }
                None => prop_assert!(!user.values.active || conflicted),
            }
        }
    }

    #[test]
    fn accounts_without_external_id_are_only_ever_adopted((desired, current, settings) in arb_case()) {
        let plan = plan(&desired, &current, &Memory::default(), &settings);
        for step in &plan.steps {
            let target_id = match &step.operation {
                Operation::UpdateUser { target_id, .. }
                | Operation::DeactivateUser { target_id, .. }
                | Operation::ReactivateUser { target_id, .. } => Some(target_id),
                Operation::SetManager { target_id, .. } => target_id.as_ref(),
                _ => None,
            };
            if let Some(id) = target_id {
                let t = current.users.iter().find(|u| &u.id == id).unwrap();
                let adopted = plan.steps.iter().any(|s| matches!(
                    &s.operation, Operation::AdoptUser { target_id, .. } if target_id == id));
                prop_assert!(t.external_id.is_some() || adopted);
            }
        }
    }

    #[test]
    fn nobody_active_in_flex_is_paused((desired, current, settings) in arb_case()) {
        let plan = plan(&desired, &current, &Memory::default(), &settings);
        for step in &plan.steps {
            if let Operation::DeactivateUser { external_id, .. } = &step.operation {
                let wanted_active = desired.users.get(external_id).is_some_and(|u| u.values.active);
                prop_assert!(!wanted_active, "{} paused while active", external_id);
            }
        }
    }

    #[test]
    fn keep_paused_never_makes_a_paused_account_active((desired, current, _) in arb_case()) {
        let plan = plan(&desired, &current, &Memory::default(), &keep_paused());
        let was_active = |id: &str| current.users.iter().any(|u| u.id == id && u.values.active);
        for step in &plan.steps {
            match &step.operation {
                Operation::ReactivateUser { external_id, .. } => {
                    prop_assert!(false, "{} reactivated", external_id);
                }
                Operation::AdoptUser { target_id, values, .. }
                | Operation::UpdateUser { target_id, values, .. } => {
                    prop_assert!(!values.active || was_active(target_id), "{:#?}", step);
                }
                _ => {}
            }
        }
        for id in &plan.kept_paused {
            prop_assert!(desired.users.get(id).is_some_and(|u| u.values.active));
        }
        let without = plan_with_defaults(&desired, &current);
        let reactivated = without.steps.iter().filter(|s| match &s.operation {
            Operation::ReactivateUser { .. } => true,
            Operation::AdoptUser { target_id, values, .. } => values.active && !was_active(target_id),
            _ => false,
        }).count();
        prop_assert_eq!(reactivated, plan.kept_paused.len());
    }

    #[test]
    fn moves_rekey_exactly_the_accounts_of_the_same_person((desired, current, settings) in arb_case()) {
        let plan = plan(&desired, &current, &Memory::default(), &settings);
        for user in desired.users.values() {
            let name = user.values.user_name.to_lowercase();
            let linked = current.users.iter().any(|t| t.external_id.as_deref() == Some(user.external_id.as_str()));
            let holder = current.users.iter()
                .filter(|t| t.values.user_name.to_lowercase() == name)
                .min_by(|a, b| a.id.cmp(&b.id));
            let mover = user.values.active && !linked && holder.is_some_and(|t| {
                t.external_id.as_deref().is_some_and(|old| !desired.users.contains_key(old))
                    && t.values.given_name.to_lowercase() == user.values.given_name.to_lowercase()
                    && t.values.family_name.to_lowercase() == user.values.family_name.to_lowercase()
                    && (t.values.birth_date.is_none()
                        || user.values.birth_date.is_none()
                        || t.values.birth_date == user.values.birth_date)
            });
            let moved = plan.moves.iter().find(|m| m.external_id == user.external_id);
            prop_assert_eq!(mover, moved.is_some(), "{}: {:#?}", &user.external_id, &plan);
            if let (Some(m), Some(t)) = (moved, holder) {
                prop_assert_eq!(&m.target_id, &t.id);
                prop_assert_eq!(Some(&m.previous_external_id), t.external_id.as_ref());
                let paused = plan.steps.iter().any(|s| matches!(
                    &s.operation, Operation::DeactivateUser { target_id, .. } if *target_id == t.id));
                prop_assert!(!paused || !user.values.active, "a mover's account is paused");
                prop_assert!(plan.conflicts.iter().all(|c| c.external_id != user.external_id));
            }
        }
    }
}

/// The small example against a target where each kind of user step has a reason to happen: a
/// value changed by hand, an account to adopt, one missing, one paused, and one whose person
/// left Flex.
#[test]
fn golden_user_plan() {
    let desired = crate::map::map(
        &crate::map::tests::snapshot_from_flex(flexsync_testkit::fixtures::FLEX_SMALL),
        &crate::mapping::MappingSettings::default(),
        crate::map::tests::TODAY,
    );
    let mut users = desired.users.values();
    let mut next = || {
        users
            .next()
            .cloned()
            .expect("the example has four employees")
    };
    let (renamed, adoptable, _missing, paused) = (next(), next(), next(), next());
    let mut renamed_values = renamed.values.clone();
    renamed_values.given_name = "Handskriven".into();
    let mut paused_values = paused.values.clone();
    paused_values.active = false;
    let current = Current {
        users: vec![
            target("t-1", Some(&renamed.external_id), renamed_values),
            target("t-2", None, adoptable.values.clone()),
            target("t-4", Some(&paused.external_id), paused_values),
            target("t-9", Some("left-flex"), values("left@example.se", true)),
        ],
        capabilities: extended(),
    };
    let plan = plan_with_defaults(&desired, &current);
    insta::assert_json_snapshot!("user_plan", plan);
}
