//! Golden tests and properties of the whole map step, over Flex-shaped JSON fixtures and
//! generated snapshots.

use jiff::civil::{Date, date};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::map;
use crate::desired::{Desired, Gender};
use crate::finding::Severity;
use crate::ids::ExternalId;
use crate::mapping::{ExtraMapping, MappingSettings};
use crate::snapshot::{Snapshot, SourceCompany, SourceEmployee, SourcePeriod};

use flexsync_testkit::fixtures::{FLEX_BAD, FLEX_SMALL};

pub(crate) const TODAY: Date = date(2025, 6, 1);

/// A scalar JSON value as the text the snapshot keeps; null and structures are None.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn list<'a>(document: &'a Value, key: &str) -> &'a [Value] {
    document
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Reads an emulator data file (Flex API objects, PascalCase) into a snapshot, the way the Flex
/// client does: numbers become text, `Employment` may be an object or a one-element array.
pub(crate) fn snapshot_from_flex(json: &str) -> Snapshot {
    let document: Value = serde_json::from_str(json).unwrap();
    let employees = list(&document, "Employees")
        .iter()
        .map(|employee| {
            let field = |name: &str| text(employee.get(name));
            let employment = match employee.get("Employment") {
                Some(Value::Array(items)) => items.first(),
                other => other,
            };
            let employment_field = |name: &str| text(employment.and_then(|e| e.get(name)));
            let fields = employee
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), text(Some(value))?)))
                .collect();
            SourceEmployee {
                id: field("Id").unwrap_or_default(),
                company_id: field("CompanyId").unwrap_or_default().into(),
                first_name: field("FirstName").map(Into::into),
                last_name: field("LastName").map(Into::into),
                email_work: field("EmailWork").map(Into::into),
                date_of_birth: field("DateOfBirth").map(Into::into),
                gender: field("Gender").map(Into::into),
                manager_id: field("ImmediateManagerEmployeeId").map(Into::into),
                employment_number: employment_field("EmploymentNumber").map(Into::into),
                employment_type: employment_field("EmploymentType").map(Into::into),
                fields,
            }
        })
        .collect();
    let periods = list(&document, "EmploymentPeriods")
        .iter()
        .map(|period| SourcePeriod {
            id: text(period.get("Id")),
            employee_id: text(period.get("EmployeeId")).unwrap_or_default().into(),
            from: text(period.get("FromDate")).map(Into::into),
            to: text(period.get("ToDate")).map(Into::into),
            fields: BTreeMap::new(),
        })
        .collect();
    let companies = list(&document, "Companies")
        .iter()
        .map(|company| SourceCompany {
            id: text(company.get("Id")).unwrap_or_default(),
            number: company.get("CompanyNumber").and_then(Value::as_i64),
            name: text(company.get("Name")),
        })
        .collect();
    Snapshot {
        companies,
        employees,
        periods,
        ..Snapshot::default()
    }
}

fn settings_with_extras() -> MappingSettings {
    MappingSettings {
        extra: vec![
            ExtraMapping {
                source_field: "City".into(),
                target_attribute: "city".into(),
            },
            ExtraMapping {
                source_field: "Country".into(),
                target_attribute: "country".into(),
            },
        ],
        ..MappingSettings::default()
    }
}

fn bad_cases() -> Desired {
    map(
        &snapshot_from_flex(FLEX_BAD),
        &settings_with_extras(),
        TODAY,
    )
}

/// The kinds of the findings about one record, in order.
fn kinds(desired: &Desired, record: &str) -> Vec<String> {
    desired
        .findings
        .iter()
        .filter(|f| f.record == record)
        .map(|f| f.kind.to_string())
        .collect()
}

#[test]
fn golden_shared_example() {
    let desired = map(
        &snapshot_from_flex(FLEX_SMALL),
        &settings_with_extras(),
        TODAY,
    );
    insta::assert_json_snapshot!("flex_small", desired);
}

#[test]
fn golden_bad_cases() {
    insta::assert_json_snapshot!("flex_bad", bad_cases());
}

#[test]
fn shared_example_maps_every_record_without_findings() {
    let snapshot = snapshot_from_flex(FLEX_SMALL);
    let desired = map(&snapshot, &MappingSettings::default(), TODAY);
    assert_eq!(desired.source_records, 4);
    assert_eq!(desired.users.len(), 4);
    assert!(desired.findings.is_empty(), "{:#?}", desired.findings);
    let external = &desired.users["02c71d6c-e85f-5633-b8c5-b47d09cfafbf"];
    assert_eq!(external.values.exclude_from_surveys, Some(true));
    assert_eq!(external.manager_depth, 2);
    let top = &desired.users["e2e60fc5-bed8-5f4e-9c6e-85eedfbf230d"];
    assert_eq!(top.values.gender, Some(Gender::Female));
    assert_eq!(top.values.birth_date, Some(date(1981, 2, 14)));
    assert_eq!(top.manager_external_id, None);
}

#[test]
fn values_are_trimmed_and_emails_lower_cased() {
    let desired = bad_cases();
    let mid = &desired.users["mid"];
    assert_eq!(mid.values.user_name, "olle.berg@example.se");
    assert_eq!(mid.values.email.as_deref(), Some("olle.berg@example.se"));
    assert_eq!(
        (
            mid.values.given_name.as_str(),
            mid.values.family_name.as_str()
        ),
        ("Olle", "Berg")
    );
    assert_eq!(mid.manager_external_id.as_deref(), Some("boss"));
    assert_eq!(mid.values.birth_date, Some(date(1985, 5, 5)));
    assert_eq!(kinds(&desired, "mid"), ["overlapping_periods"]);
    let overlap = &desired.findings[desired
        .findings
        .iter()
        .position(|f| f.record == "mid")
        .unwrap()];
    assert_eq!(
        (overlap.field.as_str(), overlap.severity),
        ("EmploymentPeriods", Severity::Notice)
    );
    assert!(overlap.problem.contains("2018-06-01"), "{overlap:?}");
}

fn person(id: &str, first: &str, last: &str, email: &str) -> (SourceEmployee, SourcePeriod) {
    let employee = SourceEmployee {
        id: id.into(),
        company_id: "c".into(),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email_work: Some(email.into()),
        employment_type: Some(" Extern  personal ".into()),
        ..SourceEmployee::default()
    };
    let period = SourcePeriod {
        id: Some(format!("p-{id}")),
        employee_id: id.into(),
        from: Some("2020-01-01".into()),
        to: None,
        fields: BTreeMap::new(),
    };
    (employee, period)
}

#[test]
fn text_is_taken_in_nfc_and_emails_differing_only_in_case_spaces_or_nfd_are_one_user() {
    let people = [
        person(
            "a",
            " Go\u{308}ran ",
            "\u{c5}kesson  Berg",
            "goran.akesson@example.se",
        ),
        person("b", "Go\u{308}ran", "Åkesson", " GORAN.Akesson@Example.SE "),
        person("c", "Märta", "Öst", "ma\u{308}rta@example.se"),
        person("d", "Märta", "Öst", "M\u{c4}RTA@example.se"),
    ];
    let snapshot = Snapshot {
        employees: people.iter().map(|(e, _)| e.clone()).collect(),
        periods: people.iter().map(|(_, p)| p.clone()).collect(),
        ..Snapshot::default()
    };
    let desired = map(&snapshot, &MappingSettings::default(), TODAY);
    let ids: Vec<&str> = desired.users.keys().map(ExternalId::as_str).collect();
    assert_eq!(ids, ["a", "c"]);
    let a = &desired.users["a"].values;
    assert_eq!(a.given_name, "G\u{f6}ran");
    assert_eq!(a.family_name, "\u{c5}kesson Berg");
    assert_eq!(desired.users["c"].values.user_name, "m\u{e4}rta@example.se");
    assert!(a.exclude_from_surveys == Some(true), "{a:?}");
    for (loser, winner) in [("b", "a"), ("d", "c")] {
        assert_eq!(kinds(&desired, loser), ["duplicate_email"], "{loser}");
        let finding = desired.findings.iter().find(|f| f.record == loser).unwrap();
        assert_eq!(finding.field, "EmailWork");
        assert!(finding.action.contains(winner), "{finding:?}");
    }
    assert!(kinds(&desired, "a").is_empty(), "{:?}", desired.findings);
}

#[test]
fn bad_emails_and_ids_skip_only_their_record() {
    let desired = bad_cases();
    for (record, kind) in [
        ("no-email", "missing_email"),
        ("blank-email", "missing_email"),
        ("two-at", "invalid_email"),
        ("space-email", "invalid_email"),
        ("no-local", "invalid_email"),
        ("no-domain", "invalid_email"),
    ] {
        assert!(!desired.users.contains_key(record), "{record}");
        assert_eq!(kinds(&desired, record), vec![kind.to_string()], "{record}");
    }
    let no_id = desired
        .findings
        .iter()
        .find(|f| f.kind == "missing_id")
        .unwrap();
    assert_eq!(
        (no_id.record.as_str(), no_id.severity),
        ("employees[19]", Severity::Skipped)
    );
    assert_eq!(kinds(&desired, "boss"), vec!["duplicate_id".to_string()]);
    assert_eq!(desired.users["boss"].values.user_name, "eva.ek@example.se");
    assert_eq!(desired.source_records, 39);
}

#[test]
fn duplicate_emails_keep_one_record_by_activity_then_start_then_id() {
    let desired = bad_cases();
    for (winner, loser) in [
        ("dup-active", "dup-leaver"),
        ("dup-b-early", "dup-a-late"),
        ("dup-same-1", "dup-same-2"),
        ("dup-y-past", "dup-x-none"),
    ] {
        assert!(desired.users.contains_key(winner), "{winner}");
        assert!(!desired.users.contains_key(loser), "{loser}");
        let finding = desired.findings.iter().find(|f| f.record == loser).unwrap();
        assert_eq!(
            (finding.kind.as_str(), finding.severity),
            ("duplicate_email", Severity::Skipped)
        );
        assert!(finding.action.contains(winner), "{finding:?}");
    }
}

#[test]
fn employment_periods_decide_activity_and_dates() {
    let desired = bad_cases();
    let values = |id: &str| desired.users[id].values.clone();
    let mid = values("mid");
    assert_eq!(
        (mid.active, mid.employment_start, mid.employment_end),
        (true, Some(date(2015, 1, 1)), None)
    );
    let leaver = values("deep");
    assert_eq!(
        (
            leaver.active,
            leaver.employment_start,
            leaver.employment_end
        ),
        (false, Some(date(2020, 3, 1)), Some(date(2024, 12, 31)))
    );
    let starter = values("future");
    assert_eq!(
        (starter.active, starter.employment_start),
        (false, Some(date(2025, 9, 1)))
    );
    let none = values("no-periods");
    assert_eq!((none.active, none.employment_start), (false, None));
    assert_eq!(
        kinds(&desired, "no-periods"),
        vec!["no_employment_period".to_string()]
    );
    let bad = values("bad-periods");
    assert_eq!(
        (bad.active, bad.employment_start),
        (true, Some(date(2021, 1, 1)))
    );
    assert_eq!(
        kinds(&desired, "bad-periods"),
        [
            "invalid_date",
            "missing_date",
            "invalid_date",
            "period_end_before_start"
        ]
        .map(String::from)
    );
    assert_eq!(
        kinds(&desired, "all-bad-periods"),
        ["no_employment_period", "period_end_before_start"].map(String::from)
    );
}

#[test]
fn gender_birthday_and_employment_type_degrade_with_findings() {
    let desired = bad_cases();
    let nameless = &desired.users["nameless"].values;
    assert_eq!(
        (nameless.given_name.as_str(), nameless.family_name.as_str()),
        ("", "")
    );
    assert_eq!((nameless.gender, nameless.birth_date), (None, None));
    assert_eq!(nameless.exclude_from_surveys, Some(false));
    assert_eq!(
        kinds(&desired, "nameless"),
        [
            "invalid_date",
            "unknown_employment_type",
            "missing_name",
            "unknown_gender",
            "missing_name"
        ]
        .map(String::from)
    );
    let notice = desired
        .findings
        .iter()
        .find(|f| f.kind == "unknown_employment_type")
        .unwrap();
    assert_eq!(notice.severity, Severity::Notice);
    assert_eq!(
        kinds(&desired, "odd"),
        [
            "birth_date_in_future",
            "unknown_employment_type",
            "unknown_gender"
        ]
        .map(String::from)
    );
    assert_eq!(
        kinds(&desired, "ancient"),
        vec!["birth_date_before_1900".to_string()]
    );
    assert!(
        desired
            .findings
            .iter()
            .all(|f| !f.problem.contains("2090") && !f.problem.contains("1850"))
    );
    for (id, gender) in [
        ("mid", Gender::Male),
        ("worker", Gender::Female),
        ("deep", Gender::Female),
        ("future", Gender::Female),
        ("ancient", Gender::Male),
        ("no-periods", Gender::None),
        ("bad-periods", Gender::None),
        ("all-bad-periods", Gender::None),
    ] {
        assert_eq!(desired.users[id].values.gender, Some(gender), "{id}");
    }
    for (id, excluded) in [
        ("boss", false),
        ("mid", false),
        ("worker", true),
        ("deep", true),
        ("future", true),
        ("array-employment", true),
        ("odd", false),
    ] {
        assert_eq!(
            desired.users[id].values.exclude_from_surveys,
            Some(excluded),
            "{id}"
        );
    }
}

#[test]
fn extra_mappings_copy_non_blank_fields() {
    let desired = bad_cases();
    let boss = &desired.users["boss"].values.extra;
    assert_eq!(boss.get("city").map(String::as_str), Some("Uppsala"));
    assert_eq!(boss.get("country").map(String::as_str), Some("SE"));
    assert_eq!(desired.users["worker"].values.extra.get("city"), None);
}

#[test]
fn managers_link_to_desired_users_only() {
    let desired = bad_cases();
    let manager = |id: &str| desired.users[id].manager_external_id.clone();
    let depth = |id: &str| desired.users[id].manager_depth;
    assert_eq!(manager("reports-to-leaver").as_deref(), Some("deep"));
    assert_eq!(manager("lost-dup-manager").as_deref(), Some("dup-active"));
    assert_eq!(
        kinds(&desired, "lost-dup-manager"),
        vec!["manager_merged".to_string()]
    );
    assert_eq!(
        ["boss", "mid", "worker", "deep", "reports-to-leaver"].map(depth),
        [0, 1, 2, 3, 4]
    );
    for (id, kind) in [
        ("unknown-manager", "unknown_manager"),
        ("skipped-manager", "manager_out_of_scope"),
        ("self", "self_manager"),
    ] {
        assert_eq!(manager(id), None, "{id}");
        assert_eq!(depth(id), 0, "{id}");
        assert_eq!(kinds(&desired, id), vec![kind.to_string()], "{id}");
    }
}

#[test]
fn manager_cycles_break_at_the_lowest_id() {
    let desired = bad_cases();
    let manager = |id: &str| desired.users[id].manager_external_id.clone();
    let depth = |id: &str| desired.users[id].manager_depth;
    assert_eq!(manager("cyc-a"), None);
    assert_eq!(manager("cyc-b").as_deref(), Some("cyc-a"));
    assert_eq!(["cyc-a", "cyc-b", "cyc-tail"].map(depth), [0, 1, 2]);
    assert_eq!(manager("ring-1"), None);
    assert_eq!(["ring-1", "ring-3", "ring-2"].map(depth), [0, 1, 2]);
    assert_eq!(kinds(&desired, "cyc-a"), vec!["manager_cycle".to_string()]);
    assert_eq!(kinds(&desired, "ring-1"), vec!["manager_cycle".to_string()]);
    assert!(kinds(&desired, "cyc-b").is_empty());
    let ring = desired
        .findings
        .iter()
        .find(|f| f.record == "ring-1")
        .unwrap();
    assert!(
        ring.problem
            .contains("ring-1 -> ring-2 -> ring-3 -> ring-1"),
        "{}",
        ring.problem
    );
}

#[test]
fn findings_are_sorted_and_name_record_and_field() {
    let desired = bad_cases();
    let mut sorted = desired.findings.clone();
    sorted.sort_by(|a, b| (&a.record, &a.field, &a.kind).cmp(&(&b.record, &b.field, &b.kind)));
    assert_eq!(desired.findings, sorted);
    assert!(
        desired
            .findings
            .iter()
            .all(|f| !f.record.is_empty() && !f.field.is_empty())
    );
}

#[test]
fn an_empty_snapshot_maps_to_nothing() {
    let desired = map(&Snapshot::default(), &MappingSettings::default(), TODAY);
    assert_eq!(desired, Desired::default());
}

// ---- properties ----

fn maybe_padded(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::sample::select(pool),
        prop::sample::select(&["", " ", "\t"][..]),
    )
        .prop_map(|(text, pad)| format!("{pad}{text}{pad}"))
}

fn field(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![3 => maybe_padded(pool), 1 => any::<String>()])
}

const IDS: &[&str] = &[
    "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "",
];
const BAD_EMAILS: &[&str] = &["bad", "x@@y", "d e@x.se", "@x.se", "İ@x.se", "ß@X.SE"];
const DATES: &[&str] = &[
    "2020-01-01",
    "2024-06-01T00:00:00",
    "2025-06-01T12:00:00Z",
    "2026-01-01T00:00:00+01:00",
    "1850-01-01",
    "2024-02-30",
    "",
];
const GENDERS: &[&str] = &["0", "1", "2", "Kvinna", "MAN", "3", ""];
const TYPES: &[&str] = &["0", "1", "Extern personal", "anställd", "Konsult", ""];

fn id() -> impl Strategy<Value = String> {
    prop_oneof![8 => maybe_padded(IDS), 1 => any::<String>()]
}

/// Mostly distinct valid emails (so that most records become users), some colliding in case
/// only, some misshapen, some arbitrary.
fn email() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        12 => "[a-hA-H]{1,2}@[xX]\\.se".prop_map(Some),
        2 => maybe_padded(BAD_EMAILS).prop_map(Some),
        1 => any::<String>().prop_map(Some),
        1 => Just(None),
    ]
}

fn employee() -> impl Strategy<Value = SourceEmployee> {
    (
        id(),
        (
            field(&["Anna", ""]),
            field(&["Berg"]),
            email(),
            field(DATES),
        ),
        (
            field(GENDERS),
            prop_oneof![1 => Just(None), 6 => id().prop_map(Some)],
            field(TYPES),
        ),
        prop::collection::btree_map(maybe_padded(&["City", "Country"]), any::<String>(), 0..3),
    )
        .prop_map(
            |(
                id,
                (first_name, last_name, email_work, date_of_birth),
                (gender, manager_id, employment_type),
                fields,
            )| {
                SourceEmployee {
                    id,
                    first_name: first_name.map(Into::into),
                    last_name: last_name.map(Into::into),
                    email_work: email_work.map(Into::into),
                    date_of_birth: date_of_birth.map(Into::into),
                    gender: gender.map(Into::into),
                    manager_id: manager_id.map(Into::into),
                    employment_type: employment_type.map(Into::into),
                    fields,
                    ..SourceEmployee::default()
                }
            },
        )
}

fn period() -> impl Strategy<Value = SourcePeriod> {
    (
        prop::option::of(any::<String>()),
        id(),
        field(DATES),
        field(DATES),
    )
        .prop_map(|(id, employee_id, from, to)| SourcePeriod {
            id,
            employee_id: employee_id.into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
            fields: BTreeMap::new(),
        })
}

/// Snapshots whose records mostly carry distinct ids `e0`, `e1`, ... and mostly name one of
/// them as manager (so that links, chains and cycles are common), with some repeated, blank or
/// arbitrary ids among them.
fn snapshot() -> impl Strategy<Value = Snapshot> {
    let record = (
        employee(),
        prop::bool::weighted(0.8),
        prop::option::weighted(0.85, any::<prop::sample::Index>()),
    );
    (
        prop::collection::vec(record, 0..14),
        prop::collection::vec(period(), 0..16),
    )
        .prop_map(|(records, periods)| {
            let count = records.len();
            let employees = records
                .into_iter()
                .enumerate()
                .map(|(index, (mut employee, by_index, manager))| {
                    if by_index {
                        employee.id = format!("e{index}");
                    }
                    if let Some(manager) = manager {
                        employee.manager_id = Some(format!("e{}", manager.index(count)).into());
                    }
                    employee
                })
                .collect();
            Snapshot {
                employees,
                periods,
                ..Snapshot::default()
            }
        })
}

fn settings() -> impl Strategy<Value = MappingSettings> {
    (
        prop::collection::vec(prop_oneof![maybe_padded(TYPES), any::<String>()], 0..3),
        prop::collection::vec((maybe_padded(&["City", "country"]), any::<String>()), 0..3),
        0u32..400,
    )
        .prop_map(
            |(exclude_employment_types, extra, starter_lead_days)| MappingSettings {
                exclude_employment_types,
                starter_lead_days,
                extra: extra
                    .into_iter()
                    .map(|(source_field, target_attribute)| ExtraMapping {
                        source_field,
                        target_attribute,
                    })
                    .collect(),
                ..MappingSettings::default()
            },
        )
}

fn today() -> impl Strategy<Value = Date> {
    prop::sample::select(vec![date(2019, 12, 31), TODAY, date(2026, 1, 1)])
}

proptest! {
    #[test]
    fn users_are_well_formed(snapshot in snapshot(), settings in settings(), today in today()) {
        let desired = map(&snapshot, &settings, today);
        prop_assert_eq!(desired.source_records, snapshot.employees.len());
        let mut names = BTreeSet::new();
        for (key, user) in &desired.users {
            prop_assert_eq!(key, &user.external_id);
            prop_assert_eq!(key.trim(), key.as_str());
            prop_assert!(!key.is_empty());
            let name = &user.values.user_name;
            prop_assert!(!name.is_empty());
            prop_assert_eq!(name, &name.to_lowercase());
            prop_assert_eq!(user.values.email.as_ref(), Some(name));
            prop_assert!(names.insert(name.clone()), "user name {} twice", name);
            if user.values.active {
                let start = user.values.employment_start;
                let horizon = today.checked_add(jiff::Span::new().days(i64::from(settings.starter_lead_days))).unwrap();
                prop_assert!(start.is_some_and(|start| start <= horizon));
                prop_assert!(user.values.employment_end.is_none_or(|end| today <= end));
            }
        }
    }

    #[test]
    fn every_record_is_a_user_or_skipped_with_a_finding(snapshot in snapshot(), today in today()) {
        let desired = map(&snapshot, &MappingSettings::default(), today);
        for (index, employee) in snapshot.employees.iter().enumerate() {
            let id = employee.id.trim();
            let record = if id.is_empty() { format!("employees[{index}]") } else { id.to_string() };
            let skipped = desired
                .findings
                .iter()
                .any(|f| f.record == record && f.severity == Severity::Skipped);
            prop_assert!(desired.users.contains_key(record.as_str()) || skipped, "record {} vanished", record);
        }
        prop_assert!(desired.findings.iter().all(|f| !f.record.is_empty() && !f.field.is_empty()));
        prop_assert!(desired.findings.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn manager_links_form_a_forest_with_consistent_depths(snapshot in snapshot(), today in today()) {
        let desired = map(&snapshot, &MappingSettings::default(), today);
        for user in desired.users.values() {
            match &user.manager_external_id {
                None => prop_assert_eq!(user.manager_depth, 0),
                Some(manager) => {
                    prop_assert_ne!(manager, &user.external_id);
                    let boss = desired.users.get(manager);
                    prop_assert!(boss.is_some(), "manager {} is not a user", manager);
                    prop_assert_eq!(user.manager_depth, boss.map_or(0, |b| b.manager_depth) + 1);
                }
            }
            let mut steps = 0;
            let mut at = user;
            while let Some(next) = at.manager_external_id.as_ref().and_then(|m| desired.users.get(m)) {
                steps += 1;
                prop_assert!(steps <= desired.users.len(), "manager chain from {} loops", user.external_id);
                at = next;
            }
        }
    }

    #[test]
    fn input_order_does_not_change_the_result(snapshot in snapshot(), today in today()) {
        let settings = MappingSettings::default();
        let desired = map(&snapshot, &settings, today);
        let mut reordered = snapshot.clone();
        reordered.periods.reverse();
        let ids: BTreeSet<&str> = snapshot.employees.iter().map(|e| e.id.trim()).collect();
        if ids.len() == snapshot.employees.len() && !ids.contains("") {
            reordered.employees.reverse();
        }
        prop_assert_eq!(map(&reordered, &settings, today), desired);
    }
}

/// Guards the generators above: the properties only mean something if generated snapshots
/// really hold links, cycles, duplicate emails and skipped records.
#[test]
fn generated_snapshots_exercise_the_hard_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..256 {
        let snapshot = snapshot().new_tree(&mut runner).unwrap().current();
        let desired = map(&snapshot, &MappingSettings::default(), TODAY);
        *count.entry("users".into()).or_default() += desired.users.len();
        *count.entry("links".into()).or_default() += desired
            .users
            .values()
            .filter(|u| u.manager_external_id.is_some())
            .count();
        *count.entry("deep".into()).or_default() += desired
            .users
            .values()
            .filter(|u| u.manager_depth >= 2)
            .count();
        for finding in &desired.findings {
            *count.entry(finding.kind.to_string()).or_default() += 1;
        }
    }
    for kind in [
        "users",
        "links",
        "deep",
        "manager_cycle",
        "duplicate_email",
        "duplicate_id",
        "missing_id",
        "invalid_email",
        "no_employment_period",
        "period_end_before_start",
        "manager_out_of_scope",
        "unknown_manager",
        "self_manager",
    ] {
        assert!(
            count.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {count:?}"
        );
    }
}
