//! Golden trees for hand-written organisations, and properties of generated ones.

use jiff::civil::{Date, date};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::build_groups;
use crate::desired::Desired;
use crate::ids::ExternalId;
use crate::map::map;
use crate::mapping::{
    DisplayName, GapRule, GroupLevel, GroupNaming, GroupSettings, MappingSettings,
};
use crate::snapshot::{
    Snapshot, SourceAccount, SourceCompany, SourceDefaultAccount, SourceDimension, SourceEmployee,
    SourcePeriod,
};

pub(crate) const TODAY: Date = date(2025, 6, 1);

/// A small organisation, written the way Flex holds it, for golden tests.
pub(crate) struct Org {
    pub snapshot: Snapshot,
}

impl Org {
    pub fn new() -> Org {
        Org {
            snapshot: Snapshot::default(),
        }
    }

    pub fn company(&mut self, id: &str, number: Option<i64>, name: &str) -> &mut Org {
        self.snapshot.companies.push(SourceCompany {
            id: id.into(),
            number,
            name: Some(name.into()),
        });
        self
    }

    /// A dimension `name` in `company` with accounts (code, name); account ids are
    /// `<dimension id>-<code>`.
    pub fn dimension(&mut self, company: &str, name: &str, accounts: &[(&str, &str)]) -> &mut Org {
        let id = format!("{company}-{name}");
        self.snapshot.dimensions.push(SourceDimension {
            accounts: accounts
                .iter()
                .map(|(code, label)| SourceAccount {
                    id: format!("{id}-{code}"),
                    code: code.to_string(),
                    name: Some(label.to_string()),
                })
                .collect(),
            id,
            company_id: company.into(),
            name: name.into(),
        });
        self
    }

    /// An employee employed since 2020 (or until 2024 when not `active`).
    pub fn employee(
        &mut self,
        id: &str,
        company: &str,
        manager: Option<&str>,
        active: bool,
    ) -> &mut Org {
        self.snapshot.employees.push(SourceEmployee {
            id: id.into(),
            company_id: company.into(),
            first_name: Some(format!("First {id}").into()),
            last_name: Some(format!("Last {id}").into()),
            email_work: Some(format!("{id}@example.se").into()),
            manager_id: manager.map(Into::into),
            ..SourceEmployee::default()
        });
        self.snapshot.periods.push(SourcePeriod {
            id: Some(format!("p-{id}")),
            employee_id: id.into(),
            from: Some("2020-01-01T00:00:00".into()),
            to: (!active).then(|| "2024-12-31T00:00:00".into()),
            fields: Default::default(),
        });
        self
    }

    pub fn field(&mut self, employee: &str, name: &str, value: &str) -> &mut Org {
        if let Some(e) = self
            .snapshot
            .employees
            .iter_mut()
            .find(|e| e.id == employee)
        {
            e.fields.insert(name.into(), value.into());
        }
        self
    }

    /// A default account by code, dated.
    pub fn account(
        &mut self,
        employee: &str,
        company: &str,
        dimension: &str,
        code: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> &mut Org {
        let dimension_id = format!("{company}-{dimension}");
        self.snapshot.default_accounts.push(SourceDefaultAccount {
            employee_id: employee.into(),
            account_id: Some(format!("{dimension_id}-{code}").into()),
            dimension_id: dimension_id.into(),
            account_code: Some(code.into()),
            from: from.map(Into::into),
            to: to.map(Into::into),
        });
        self
    }

    pub fn rename(&mut self, company: &str, dimension: &str, code: &str, name: &str) -> &mut Org {
        let id = format!("{company}-{dimension}");
        for d in self.snapshot.dimensions.iter_mut().filter(|d| d.id == id) {
            for a in d.accounts.iter_mut().filter(|a| a.code == code) {
                a.name = Some(name.into());
            }
        }
        self
    }
}

/// Two companies; duplicate names under different parents; gaps; a leaver; a person who moved
/// department on the day; an unknown account; a company without the Team dimension.
pub(crate) fn example() -> Org {
    let mut org = Org::new();
    let (a, b) = ("c-a", "c-b");
    org.company(a, Some(1010), "Exempel AB")
        .company(b, None, "Andra AB")
        .dimension(a, "Kontor", &[("100", "Stockholm"), ("110", "Göteborg")])
        .dimension(a, "Avdelning", &[("200", "Ekonomi"), ("210", "IT")])
        .dimension(a, "Team", &[("300", "Leverantörsreskontra")])
        .dimension(b, "Kontor", &[("100", "Stockholm")])
        .dimension(b, "Avdelning", &[("200", "Ekonomi")]);
    org.employee("e01", a, Some("e03"), true)
        .account("e01", a, "Kontor", "100", Some("2020-01-01T00:00:00"), None)
        .account("e01", a, "Avdelning", "200", None, None)
        .account("e01", a, "Team", "300", None, None);
    org.employee("e02", a, Some("e03"), true)
        .account("e02", a, "Kontor", "100", None, None)
        .account("e02", a, "Avdelning", "200", None, None);
    org.employee("e03", a, None, true)
        .account("e03", a, "Kontor", "100", None, None);
    org.employee("e04", a, Some("e03"), true)
        .account("e04", a, "Kontor", "110", None, None)
        .account("e04", a, "Avdelning", "200", None, None);
    // No office: a gap above the department and the team.
    org.employee("e05", a, None, true)
        .account("e05", a, "Avdelning", "210", None, None)
        .account("e05", a, "Team", "300", None, None);
    // No department: a gap between the office and the team.
    org.employee("e06", a, Some("e04"), true)
        .account("e06", a, "Kontor", "110", None, None)
        .account("e06", a, "Team", "300", None, None);
    org.employee("e07", a, None, false)
        .account("e07", a, "Kontor", "100", None, None);
    // Moved from Ekonomi to IT on the day of the sync.
    org.employee("e08", a, None, true)
        .account("e08", a, "Kontor", "100", None, None)
        .account(
            "e08",
            a,
            "Avdelning",
            "200",
            Some("2021-01-01"),
            Some("2025-05-31"),
        )
        .account("e08", a, "Avdelning", "210", Some("2025-06-01"), None);
    org.employee("e09", a, None, true)
        .account("e09", a, "Kontor", "100", None, None)
        .account("e09", a, "Avdelning", "999", None, None);
    org.employee("e10", b, None, true)
        .account("e10", b, "Kontor", "100", None, None)
        .account("e10", b, "Avdelning", "200", None, None)
        .account("e10", b, "Team", "300", None, None);
    // A default account that starts after the day does not count yet.
    org.employee("e11", a, None, true)
        .account("e11", a, "Kontor", "110", None, None)
        .account("e11", a, "Avdelning", "210", Some("2025-06-02"), None);
    org
}

fn three_levels() -> Vec<GroupLevel> {
    ["Kontor", "Avdelning", "Team"]
        .iter()
        .map(|name| GroupLevel::Dimension(name.to_string()))
        .collect()
}

pub(crate) fn settings(gap: GapRule, company_top: bool, naming: GroupNaming) -> GroupSettings {
    GroupSettings {
        levels: three_levels(),
        gap,
        company_top,
        naming,
        display: DisplayName::Label,
        ..GroupSettings::default()
    }
}

pub(crate) fn desired_for(snapshot: &Snapshot, settings: &GroupSettings) -> Desired {
    let mut desired = map(snapshot, &MappingSettings::default(), TODAY);
    build_groups(snapshot, settings, TODAY, &mut desired);
    desired
}

/// The tree, each user's group and the group findings, for golden files.
fn golden(desired: &Desired) -> Value {
    let users: BTreeMap<&str, Option<&str>> = desired
        .users
        .iter()
        .map(|(id, user)| (id.as_str(), user.group.as_deref()))
        .collect();
    let group_kinds = [
        "group_gap",
        "group_none",
        "group_name_merged",
        "group_dimension_missing",
        "unknown_account",
    ];
    let findings: Vec<&crate::finding::Finding> = desired
        .findings
        .iter()
        .filter(|f| group_kinds.contains(&f.kind.as_str()))
        .collect();
    json!({ "groups": desired.groups, "users": users, "findings": findings })
}

#[test]
fn tree_by_path_stopping_at_first_gap() {
    let org = example();
    let desired = desired_for(
        &org.snapshot,
        &settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path),
    );
    insta::assert_json_snapshot!(golden(&desired));
}

#[test]
fn tree_by_path_skipping_gaps_under_company_groups() {
    let org = example();
    let desired = desired_for(
        &org.snapshot,
        &settings(GapRule::Skip, true, GroupNaming::Path),
    );
    insta::assert_json_snapshot!(golden(&desired));
}

#[test]
fn tree_by_name_only_merges_and_reports() {
    let org = example();
    let desired = desired_for(
        &org.snapshot,
        &settings(GapRule::StopAtFirstEmpty, false, GroupNaming::NameOnly),
    );
    insta::assert_json_snapshot!(golden(&desired));
}

#[test]
fn same_name_under_two_parents_is_two_groups() {
    let org = example();
    let desired = desired_for(
        &org.snapshot,
        &settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path),
    );
    let ekonomi: Vec<_> = desired
        .groups
        .values()
        .filter(|g| g.display_name == "Ekonomi")
        .collect();
    assert_eq!(
        ekonomi.len(),
        3,
        "Stockholm and Göteborg in company A, Stockholm in B"
    );
    let parents: BTreeSet<_> = ekonomi.iter().map(|g| &g.parent_external_id).collect();
    assert_eq!(parents.len(), 3);
}

#[test]
fn renamed_account_keeps_the_external_id() {
    let mut org = example();
    let settings = settings(GapRule::StopAtFirstEmpty, true, GroupNaming::Path);
    let before = desired_for(&org.snapshot, &settings);
    org.rename("c-a", "Avdelning", "200", "Ekonomi och finans");
    let after = desired_for(&org.snapshot, &settings);
    let ids = |d: &Desired| d.groups.keys().cloned().collect::<Vec<_>>();
    assert_eq!(ids(&before), ids(&after));
    let id = "grp:1010/kontor=100/avdelning=200";
    assert_eq!(before.groups[id].display_name, "Ekonomi");
    assert_eq!(after.groups[id].display_name, "Ekonomi och finans");
    assert_eq!(
        after.groups["grp:1010/kontor=100/avdelning=200/team=300"].path,
        [
            "Exempel AB",
            "Stockholm",
            "Ekonomi och finans",
            "Leverantörsreskontra"
        ]
    );
}

#[test]
fn a_person_moving_teams_changes_group_on_the_day() {
    let org = example();
    let settings = settings(GapRule::StopAtFirstEmpty, false, GroupNaming::Path);
    let mut before = map(&org.snapshot, &MappingSettings::default(), TODAY);
    build_groups(&org.snapshot, &settings, date(2025, 5, 31), &mut before);
    let after = desired_for(&org.snapshot, &settings);
    assert_eq!(
        before.users["e08"].group.as_deref(),
        Some("grp:1010/kontor=100/avdelning=200")
    );
    assert_eq!(
        after.users["e08"].group.as_deref(),
        Some("grp:1010/kontor=100/avdelning=210")
    );
}

#[test]
fn field_levels_key_by_normalised_value() {
    let mut org = Org::new();
    org.company("c", Some(1), "Bolaget");
    org.employee("a", "c", None, true)
        .field("a", "City", "  Malmö ");
    org.employee("b", "c", None, true)
        .field("b", "City", "MALMÖ");
    org.employee("c", "c", None, true)
        .field("c", "City", "Lund  Norra");
    let settings = GroupSettings {
        levels: vec![GroupLevel::Field("City".into())],
        ..GroupSettings::default()
    };
    let desired = desired_for(&org.snapshot, &settings);
    let ids: Vec<&str> = desired.groups.keys().map(ExternalId::as_str).collect();
    assert_eq!(ids, ["grp:1/city=lund norra", "grp:1/city=malmö"]);
    assert_eq!(desired.groups["grp:1/city=malmö"].members, ["a", "b"]);
    assert_eq!(
        desired.groups["grp:1/city=lund norra"].display_name,
        "Lund Norra"
    );
}

#[test]
fn normalise_folds_case_spaces_and_unicode_forms() {
    let key = super::normalise("G\u{f6}teborg  Centrum");
    assert_eq!(key, "g\u{f6}teborg centrum");
    for variant in [
        "Go\u{308}teborg Centrum",
        " G\u{d6}TEBORG\tcentrum ",
        "GO\u{308}TEBORG   CENTRUM",
    ] {
        assert_eq!(super::normalise(variant), key, "{variant:?}");
    }
    assert_eq!(super::normalise("STRASSE"), super::normalise("Stra\u{df}e"));
    assert_ne!(super::normalise("Malm\u{f6}"), super::normalise("Malmo"));
}

#[test]
fn field_values_differing_only_in_case_spaces_or_nfd_are_one_group() {
    let mut org = Org::new();
    org.company("c", Some(1), "Bolaget");
    org.employee("a", "c", None, true)
        .field("a", "City", "G\u{f6}teborg");
    org.employee("b", "c", None, true)
        .field("b", "City", "Go\u{308}teborg");
    org.employee("d", "c", None, true)
        .field("d", "City", "  G\u{d6}TEBORG ");
    let settings = GroupSettings {
        levels: vec![GroupLevel::Field("City".into())],
        ..GroupSettings::default()
    };
    let desired = desired_for(&org.snapshot, &settings);
    let ids: Vec<&str> = desired.groups.keys().map(ExternalId::as_str).collect();
    assert_eq!(ids, ["grp:1/city=g\u{f6}teborg"]);
    let group = &desired.groups["grp:1/city=g\u{f6}teborg"];
    assert_eq!(group.members, ["a", "b", "d"]);
    assert_eq!(
        group.display_name, "G\u{f6}teborg",
        "labels are composed too"
    );
}

#[test]
fn account_codes_match_whatever_their_case_spaces_or_unicode_form() {
    let mut org = Org::new();
    org.company("c", Some(1), "Bolaget");
    org.dimension("c", "Kontor", &[("G\u{d6}T", "Go\u{308}teborg")]);
    org.employee("a", "c", None, true);
    org.employee("b", "c", None, true);
    org.account("a", "c", "Kontor", "G\u{d6}T", None, None);
    org.account("b", "c", "Kontor", "x", None, None);
    for default in &mut org.snapshot.default_accounts {
        if &*default.employee_id == "b" {
            default.account_id = None;
            default.account_code = Some(" go\u{308}t ".into());
        }
    }
    let settings = GroupSettings {
        levels: vec![GroupLevel::Dimension("Kontor".into())],
        ..GroupSettings::default()
    };
    let desired = desired_for(&org.snapshot, &settings);
    let ids: Vec<&str> = desired.groups.keys().map(ExternalId::as_str).collect();
    assert_eq!(ids, ["grp:1/kontor=g\u{f6}t"]);
    let group = &desired.groups["grp:1/kontor=g\u{f6}t"];
    assert_eq!(group.members, ["a", "b"]);
    assert_eq!(group.display_name, "G\u{f6}teborg");
    assert!(desired.findings.is_empty(), "{:?}", desired.findings);
}

#[test]
fn keys_with_separators_do_not_collide() {
    let mut org = Org::new();
    org.company("c", Some(1), "Bolaget");
    org.employee("a", "c", None, true)
        .field("a", "City", "x/team=y");
    org.employee("b", "c", None, true)
        .field("b", "City", "x")
        .field("b", "Team", "y");
    let settings = GroupSettings {
        levels: vec![
            GroupLevel::Field("City".into()),
            GroupLevel::Field("Team".into()),
        ],
        ..GroupSettings::default()
    };
    let desired = desired_for(&org.snapshot, &settings);
    assert_ne!(desired.users["a"].group, desired.users["b"].group);
    assert_eq!(
        desired.users["a"].group.as_deref(),
        Some("grp:1/city=x%2Fteam%3Dy")
    );
}

#[test]
fn no_levels_and_no_company_group_means_no_groups() {
    let org = example();
    let desired = desired_for(&org.snapshot, &GroupSettings::default());
    assert!(desired.groups.is_empty());
    assert!(desired.users.values().all(|u| u.group.is_none()));
}

// ---- properties

/// A generated employee: company index, an account index per level (None = no value; an
/// index past the accounts = an unknown account), active or not, a manager index.
pub(crate) type GeneratedEmployee = (usize, Vec<Option<usize>>, bool, Option<usize>);

/// A generated organisation.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub accounts_per_level: Vec<usize>,
    pub employees: Vec<GeneratedEmployee>,
}

pub(crate) fn generated() -> impl Strategy<Value = Generated> {
    prop::collection::vec(1usize..4, 3).prop_flat_map(|accounts_per_level| {
        let levels = accounts_per_level.clone();
        let employee = (
            0usize..2,
            levels
                .iter()
                .map(|n| prop::option::weighted(0.8, 0..*n + 1))
                .collect::<Vec<_>>(),
            prop::bool::weighted(0.8),
            prop::option::of(0usize..15),
        );
        (
            Just(accounts_per_level),
            prop::collection::vec(employee, 0..15),
        )
            .prop_map(|(accounts_per_level, employees)| Generated {
                accounts_per_level,
                employees,
            })
    })
}

/// The snapshot of a generated organisation; `names` shifts every account name (a rename).
pub(crate) fn build(generated: &Generated, names: usize) -> Snapshot {
    let mut org = Org::new();
    let level_names = ["Kontor", "Avdelning", "Team"];
    for company in ["c0", "c1"] {
        org.company(company, (company == "c0").then_some(10), company);
        for (level, count) in level_names.iter().zip(&generated.accounts_per_level) {
            // Codes repeat across levels and companies, names repeat across levels.
            let accounts: Vec<(String, String)> = (0..*count)
                .map(|i| (format!("{i}"), format!("Name {}", (i + names) % 3)))
                .collect();
            let refs: Vec<(&str, &str)> = accounts
                .iter()
                .map(|(c, n)| (c.as_str(), n.as_str()))
                .collect();
            org.dimension(company, level, &refs);
        }
    }
    let count = generated.employees.len();
    for (index, (company, values, active, manager)) in generated.employees.iter().enumerate() {
        let id = format!("e{index:02}");
        let company = if *company == 0 { "c0" } else { "c1" };
        let manager = manager
            .filter(|m| *m < count && *m != index)
            .map(|m| format!("e{m:02}"));
        org.employee(&id, company, manager.as_deref(), *active);
        for (level, value) in level_names.iter().zip(values) {
            if let Some(code) = value {
                org.account(&id, company, level, &code.to_string(), None, None);
            }
        }
    }
    org.snapshot
}

pub(crate) fn any_settings() -> impl Strategy<Value = GroupSettings> {
    (prop::bool::ANY, prop::bool::ANY, prop::bool::weighted(0.25)).prop_map(
        |(skip, company_top, by_name)| {
            let gap = if skip {
                GapRule::Skip
            } else {
                GapRule::StopAtFirstEmpty
            };
            let naming = if by_name {
                GroupNaming::NameOnly
            } else {
                GroupNaming::Path
            };
            settings(gap, company_top, naming)
        },
    )
}

proptest! {
    #[test]
    fn the_tree_is_sound(generated in generated(), settings in any_settings()) {
        let snapshot = build(&generated, 0);
        let desired = desired_for(&snapshot, &settings);
        let by_path = settings.naming == GroupNaming::Path;

        // Every active user in exactly one group, and that group is the user's group;
        // with company groups, every active user has one.
        for (id, user) in &desired.users {
            let holding: Vec<&str> = desired.groups.values()
                .filter(|g| g.members.contains(id))
                .map(|g| g.external_id.as_str())
                .collect();
            if user.values.active {
                prop_assert_eq!(holding.len(), usize::from(user.group.is_some()));
                prop_assert_eq!(holding.first().copied(), user.group.as_deref());
                if settings.company_top {
                    prop_assert!(user.group.is_some());
                }
            } else {
                prop_assert!(holding.is_empty() && user.group.is_none());
            }
        }
        for group in desired.groups.values() {
            // Every parent exists (by path: one level up).
            if let Some(parent) = &group.parent_external_id {
                let parent = desired.groups.get(parent);
                prop_assert!(parent.is_some());
                if by_path {
                    prop_assert_eq!(parent.map(|p| p.path.len() + 1), Some(group.path.len()));
                }
            } else if by_path {
                prop_assert_eq!(group.path.len(), 1);
            }
            // No cycles: walking up ends within the depth of the tree.
            let mut at = group;
            let mut steps = 0;
            while let Some(parent) = at.parent_external_id.as_ref().and_then(|p| desired.groups.get(p)) {
                at = parent;
                steps += 1;
                prop_assert!(steps <= desired.groups.len());
            }
            // No empty groups: members or children.
            let children = desired.groups.values()
                .any(|g| g.parent_external_id.as_ref() == Some(&group.external_id));
            prop_assert!(!group.members.is_empty() || children);
            // Managers are the members' managers.
            let managers: BTreeSet<&ExternalId> = group.members.iter()
                .filter_map(|m| desired.users[m].manager_external_id.as_ref())
                .collect();
            prop_assert_eq!(group.managers.iter().collect::<BTreeSet<_>>(), managers);
        }
        // Keys unique: by path no two paths ever share an id.
        if by_path {
            prop_assert!(!desired.findings.iter().any(|f| f.kind == "group_name_merged"));
        }
    }

    #[test]
    fn a_rename_keeps_every_external_id(generated in generated(), settings in any_settings()) {
        prop_assume!(settings.naming == GroupNaming::Path);
        let before = desired_for(&build(&generated, 0), &settings);
        let after = desired_for(&build(&generated, 1), &settings);
        prop_assert_eq!(before.groups.keys().collect::<Vec<_>>(), after.groups.keys().collect::<Vec<_>>());
        for (id, user) in &before.users {
            prop_assert_eq!(&user.group, &after.users[id].group);
        }
    }
}
