//! Issue 4's bad-input catalogue, end to end: each bad record gets a finding naming its record,
//! field and kind, and every other record still syncs as Flex says; unreadable pages fail the run.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use flexsync::run::{Mode, Outcome, RunResult};
use flexsync_core::finding::Finding;
use flexsync_core::guard::Allowance;
use flexsync_emulators::flex::{PageFault, PageFaultKind};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;

use crate::support::*;

const LEVELS: &str =
    "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
const GROUP_EXT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";

fn ext<'a>(user: &'a Value, name: &str) -> &'a Value {
    &user[WT][name]
}

fn active(user: &Value) -> bool {
    user["active"].as_bool().unwrap()
}

fn manager_of(user: &Value) -> Option<String> {
    user[ENTERPRISE]["manager"]["value"]
        .as_str()
        .map(str::to_string)
}

fn scim_id(rig: &Rig, external_id: &str) -> String {
    rig.user(external_id)["id"].as_str().unwrap().to_string()
}

/// The first record with this `Id` in a Flex document.
fn record<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["Employees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Id"] == id)
        .unwrap_or_else(|| panic!("no employee {id}"))
}

fn ids(doc: &Value) -> BTreeSet<String> {
    doc["Employees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Id"].as_str().unwrap().to_string())
        .collect()
}

/// Starts both ends on `doc` with the extended profile and syncs once; the run must be done.
async fn synced(doc: &Value, extra: &str) -> (Rig, RunResult) {
    let rig = Rig::with(
        doc,
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    assert!(
        result.report.failures.is_empty(),
        "{:?}",
        result.report.failures
    );
    (rig, result)
}

/// The finding on `record` and `field`, which must be of `kind`.
fn finding(result: &RunResult, record: &str, field: &str, kind: &str) -> Finding {
    let findings = &result.report.findings;
    findings
        .iter()
        .find(|f| f.record == record && f.field == field && f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} finding on {record} {field}: {findings:#?}"))
        .clone()
}

/// The user of `id` holds what its (first) Flex record says, read by the product rules
/// independently of flexsync's mapping.
fn assert_synced_as_flex_says(rig: &Rig, doc: &Value, id: &str) {
    let e = record(doc, id);
    let user = rig.user(id);
    let email = e["EmailWork"].as_str().unwrap().trim().to_lowercase();
    assert_eq!(user["userName"], email, "{id}");
    assert_eq!(user["name"]["givenName"], e["FirstName"], "{id}");
    assert_eq!(user["name"]["familyName"], e["LastName"], "{id}");
    let gender = match e["Gender"].as_i64() {
        Some(1) => "Male",
        Some(2) => "Female",
        other => panic!("{id}: a good record has gender 1 or 2, not {other:?}"),
    };
    assert_eq!(ext(&user, "gender"), gender, "{id}");
    let birth = &e["DateOfBirth"].as_str().unwrap()[..10];
    assert_eq!(
        ext(&user, "birthDate"),
        &json!(format!("{birth}T00:00:00Z")),
        "{id}"
    );
    let external = e["Employment"]["EmploymentType"].as_i64() == Some(1);
    assert_eq!(ext(&user, "excludeFromSurveys"), external, "{id}");
    assert_eq!(
        active(&user),
        employed_on(doc, TODAY).contains(id),
        "{id} active"
    );
    let manager = e["ImmediateManagerEmployeeId"]
        .as_str()
        .map(|m| scim_id(rig, m));
    assert_eq!(manager_of(&user), manager, "{id} manager");
}

/// Every record of `doc` except `bad` synced as Flex says, and nothing else is in the target
/// beyond `extra_users`.
fn assert_others_synced(rig: &Rig, doc: &Value, bad: &[&str], extra_users: usize) {
    let good: Vec<String> = ids(doc)
        .into_iter()
        .filter(|id| !bad.contains(&id.as_str()))
        .collect();
    for id in &good {
        assert_synced_as_flex_says(rig, doc, id);
    }
    let users = rig.users();
    assert_no_duplicates(&users);
    assert_eq!(users.len(), good.len() + extra_users, "{users:#?}");
}

/// Adds a good employee of the example's shape (gender 2, born 1985-05-05, employed since
/// 2021-01-01) managed by Sara.
fn add_good<'a>(doc: &'a mut Value, n: u32, first: &str, email: &str) -> &'a mut Value {
    add_employee(
        doc,
        &test_id(n),
        first,
        "Testsson",
        Some(email),
        Some(SARA),
        "2021-01-01",
    )
}

#[tokio::test]
async fn missing_and_malformed_work_emails_skip_only_their_records() {
    let mut doc = example();
    let cases = [
        (json!(null), "missing_email"),
        (json!("   "), "missing_email"),
        (json!("anna.example.se"), "invalid_email"),
        (json!("anna@berg@example.se"), "invalid_email"),
        (json!("anna berg@example.se"), "invalid_email"),
        (json!("@example.se"), "invalid_email"),
    ];
    let bad: Vec<String> = (1..).take(cases.len()).map(test_id).collect();
    for ((email, _), id) in cases.iter().zip(&bad) {
        add_employee(&mut doc, id, "Anna", "Berg", None, Some(SARA), "2021-01-01")["EmailWork"] =
            email.clone();
    }
    let (rig, result) = synced(&doc, "").await;
    for ((_, kind), id) in cases.iter().zip(&bad) {
        finding(&result, id, "EmailWork", kind);
        assert!(find(&rig.users(), id).is_none(), "{id} was skipped");
    }
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    assert_others_synced(&rig, &doc, &bad, 0);
}

#[tokio::test]
async fn duplicate_work_emails_differing_in_case_spaces_or_form_are_one_user() {
    let mut doc = example();
    // Sara (employed since 2020) keeps her email; later starters with the same one are skipped.
    let sara_again = test_id(1);
    add_employee(
        &mut doc,
        &sara_again,
        "Sara",
        "Nilsson",
        Some("  SARA.Nilsson@Example.SE "),
        None,
        "2023-01-01",
    );
    let composed = test_id(2);
    let decomposed = test_id(3);
    add_good(&mut doc, 2, "Åsa", "åsa.öberg@example.se");
    add_employee(
        &mut doc,
        &decomposed,
        "A\u{30a}sa",
        "O\u{308}berg",
        Some("A\u{30a}SA.O\u{308}BERG@example.se"),
        Some(SARA),
        "2024-01-01",
    );
    let (rig, result) = synced(&doc, "").await;
    let first = finding(&result, &sara_again, "EmailWork", "duplicate_email");
    assert!(first.problem.contains(SARA), "{first:?}");
    let second = finding(&result, &decomposed, "EmailWork", "duplicate_email");
    assert!(second.problem.contains(&composed), "{second:?}");
    for id in [&sara_again, &decomposed] {
        assert!(find(&rig.users(), id).is_none(), "{id} was skipped");
    }
    assert_eq!(rig.user(&composed)["userName"], "åsa.öberg@example.se");
    assert_others_synced(&rig, &doc, &[&sara_again, &decomposed], 0);
}

#[tokio::test]
async fn missing_names_are_reported_and_the_user_synced() {
    let mut doc = example();
    let no_first = test_id(1);
    let blank_last = test_id(2);
    add_good(&mut doc, 1, "x", "utan.fornamn@example.se")["FirstName"] = json!(null);
    add_good(&mut doc, 2, "Blank", "blank.efternamn@example.se")["LastName"] = json!("  ");
    let (rig, result) = synced(&doc, "").await;
    finding(&result, &no_first, "FirstName", "missing_name");
    finding(&result, &blank_last, "LastName", "missing_name");
    for id in [&no_first, &blank_last] {
        let user = rig.user(id);
        assert!(active(&user), "{id}");
        assert_eq!(ext(&user, "gender"), "Female", "{id}");
    }
    assert_eq!(rig.user(&no_first)["userName"], "utan.fornamn@example.se");
    assert_eq!(rig.user(&blank_last)["name"]["givenName"], "Blank");
    assert_others_synced(&rig, &doc, &[&no_first, &blank_last], 2);
}

#[tokio::test]
async fn birth_dates_not_dates_in_the_future_or_absurd_are_dropped_with_a_finding() {
    let mut doc = example();
    let cases = [
        ("1985-02-30T00:00:00", "invalid_date"),
        ("19850505-1234", "invalid_date"),
        ("2027-01-01T00:00:00", "birth_date_in_future"),
        ("1850-06-01T00:00:00", "birth_date_before_1900"),
    ];
    let bad: Vec<String> = (1..).take(cases.len()).map(test_id).collect();
    for (n, (text, _)) in (1..).zip(&cases) {
        add_good(&mut doc, n, "Fel", &format!("fel{n}@example.se"))["DateOfBirth"] = json!(text);
    }
    let (rig, result) = synced(&doc, "").await;
    for ((text, kind), id) in cases.iter().zip(&bad) {
        let found = finding(&result, id, "DateOfBirth", kind);
        assert!(
            !found.problem.contains(text),
            "a birth date is never quoted"
        );
        let user = rig.user(id);
        assert!(ext(&user, "birthDate").is_null(), "{id}");
        assert_eq!(ext(&user, "gender"), "Female", "{id}");
        assert!(active(&user), "{id}");
    }
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    assert_others_synced(&rig, &doc, &bad, bad.len());
}

#[tokio::test]
async fn unknown_gender_and_employment_type_values_as_numbers_and_strings() {
    let mut doc = example();
    let genders = [json!(7), json!("7"), json!("Annat")];
    let types = [json!(5), json!("5"), json!("Konsult")];
    let mut gender_ids = Vec::new();
    let mut type_ids = Vec::new();
    for (n, value) in (1..).zip(&genders) {
        add_good(&mut doc, n, "Kon", &format!("kon{n}@example.se"))["Gender"] = value.clone();
        gender_ids.push(test_id(n));
    }
    for (n, value) in (10..).zip(&types) {
        add_good(&mut doc, n, "Typ", &format!("typ{n}@example.se"))["Employment"]["EmploymentType"] =
            value.clone();
        type_ids.push(test_id(n));
    }
    let (rig, result) = synced(&doc, "").await;
    for id in &gender_ids {
        finding(&result, id, "Gender", "unknown_gender");
        let gender = ext(&rig.user(id), "gender").clone();
        assert!(gender.is_null() || gender == "None", "{id}: {gender}");
        assert!(active(&rig.user(id)), "{id}");
    }
    for id in &type_ids {
        finding(&result, id, "EmploymentType", "unknown_employment_type");
        let user = rig.user(id);
        assert_eq!(ext(&user, "excludeFromSurveys"), false, "{id}");
        assert_eq!(ext(&user, "gender"), "Female", "{id}");
        assert!(active(&user), "{id}");
    }
    let mut bad: Vec<&str> = gender_ids.iter().map(String::as_str).collect();
    bad.extend(type_ids.iter().map(String::as_str));
    assert_others_synced(&rig, &doc, &bad, bad.len());
}

#[tokio::test]
async fn managers_pointing_to_nobody_themselves_or_a_skipped_record() {
    let mut doc = example();
    let orphan = test_id(1);
    let selfish = test_id(2);
    let skipped = test_id(3);
    let under_skipped = test_id(4);
    let nobody = test_id(99);
    add_good(&mut doc, 1, "Ingen", "ingen@example.se")["ImmediateManagerEmployeeId"] =
        json!(nobody);
    add_good(&mut doc, 2, "Egen", "egen@example.se")["ImmediateManagerEmployeeId"] = json!(selfish);
    add_good(&mut doc, 3, "Utan", "utan@example.se")["EmailWork"] = json!(null);
    add_good(&mut doc, 4, "Under", "under@example.se")["ImmediateManagerEmployeeId"] =
        json!(skipped);
    let (rig, result) = synced(&doc, "").await;
    let unknown = finding(
        &result,
        &orphan,
        "ImmediateManagerEmployeeId",
        "unknown_manager",
    );
    assert!(unknown.problem.contains(&nobody), "{unknown:?}");
    finding(
        &result,
        &selfish,
        "ImmediateManagerEmployeeId",
        "self_manager",
    );
    let scope = finding(
        &result,
        &under_skipped,
        "ImmediateManagerEmployeeId",
        "manager_out_of_scope",
    );
    assert!(scope.problem.contains(&skipped), "{scope:?}");
    finding(&result, &skipped, "EmailWork", "missing_email");
    for id in [&orphan, &selfish, &under_skipped] {
        let user = rig.user(id);
        assert_eq!(manager_of(&user), None, "{id}");
        assert!(active(&user), "{id}");
    }
    assert_others_synced(
        &rig,
        &doc,
        &[&orphan, &selfish, &skipped, &under_skipped],
        3,
    );
}

#[tokio::test]
async fn a_manager_in_a_company_not_configured_is_reported_and_the_link_left_out() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    // The config names the example's company only; a second company appears in Flex.
    let other_company = "0c4e8d3e-7a61-4c55-9a0e-2b1a0f2d6b77";
    doc["Companies"].as_array_mut().unwrap().push(json!({
        "Id": other_company, "CompanyNumber": 200, "Name": "Annat AB",
        "OrganizationNumber": "556000-0200"
    }));
    let boss = test_id(50);
    add_good(&mut doc, 50, "Annan", "annan.chef@example.se")["CompanyId"] = json!(other_company);
    let report = test_id(1);
    add_good(&mut doc, 1, "Rapport", "rapport@example.se")["ImmediateManagerEmployeeId"] =
        json!(boss);
    rig.set_flex(&doc);
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let found = finding(
        &result,
        &report,
        "ImmediateManagerEmployeeId",
        "unknown_manager",
    );
    assert!(found.problem.contains(&boss), "{found:?}");
    assert!(
        find(&rig.users(), &boss).is_none(),
        "out of scope: not synced"
    );
    assert_eq!(manager_of(&rig.user(&report)), None);
    assert!(active(&rig.user(&report)));
    assert_others_synced(&rig, &doc, &[&boss, &report], 1);
}

#[tokio::test]
async fn a_manager_cycle_is_broken_at_its_lowest_id() {
    let mut doc = example();
    let low = test_id(1);
    let high = test_id(2);
    add_good(&mut doc, 1, "Ett", "ett@example.se")["ImmediateManagerEmployeeId"] = json!(high);
    add_good(&mut doc, 2, "Tva", "tva@example.se")["ImmediateManagerEmployeeId"] = json!(low);
    let (rig, result) = synced(&doc, "").await;
    let cycle = finding(&result, &low, "ImmediateManagerEmployeeId", "manager_cycle");
    assert!(cycle.problem.contains(&high), "{cycle:?}");
    assert_eq!(manager_of(&rig.user(&low)), None);
    assert_eq!(manager_of(&rig.user(&high)), Some(scim_id(&rig, &low)));
    assert_others_synced(&rig, &doc, &[&low, &high], 2);
}

#[tokio::test]
async fn employment_periods_missing_overlapping_or_ending_before_they_start() {
    let mut doc = example();
    let none = test_id(1);
    let overlapping = test_id(2);
    let backwards = test_id(3);
    add_good(&mut doc, 1, "Ingen", "ingen.period@example.se");
    doc["EmploymentPeriods"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["EmployeeId"] != none.as_str());
    add_good(&mut doc, 2, "Dubbel", "dubbel.period@example.se");
    add_period(&mut doc, &overlapping, "2019-06-01", Some("2021-06-30"));
    add_good(&mut doc, 3, "Bakvand", "bakvand@example.se");
    add_period(&mut doc, &backwards, "2024-01-01", Some("2019-01-01"));
    let (rig, result) = synced(&doc, "").await;

    finding(&result, &none, "EmploymentPeriods", "no_employment_period");
    let unemployed = find(&rig.users(), &none);
    assert!(
        unemployed.as_ref().is_none_or(|u| !active(u)),
        "without a period nobody is active: {unemployed:?}"
    );

    let overlap = finding(
        &result,
        &overlapping,
        "EmploymentPeriods",
        "overlapping_periods",
    );
    assert!(overlap.problem.contains("2019-06-01"), "{overlap:?}");
    let user = rig.user(&overlapping);
    assert!(active(&user));
    assert_eq!(ext(&user, "employmentStartDate"), "2019-06-01T00:00:00Z");

    let ended = finding(&result, &backwards, "ToDate", "period_end_before_start");
    assert!(ended.problem.contains("2019-01-01"), "{ended:?}");
    let user = rig.user(&backwards);
    assert!(active(&user), "the good period still counts");
    assert_eq!(ext(&user, "employmentStartDate"), "2021-01-01T00:00:00Z");

    let users_for_bad = 2 + usize::from(unemployed.is_some());
    assert_others_synced(
        &rig,
        &doc,
        &[&none, &overlapping, &backwards],
        users_for_bad,
    );
}

#[tokio::test]
async fn the_same_id_twice_keeps_the_first_record() {
    let mut doc = example();
    let mut twin = record(&doc, JOHAN).clone();
    twin["FirstName"] = json!("Tvilling");
    twin["EmailWork"] = json!("tvilling@example.se");
    doc["Employees"].as_array_mut().unwrap().push(twin);
    let (rig, result) = synced(&doc, "").await;
    let named = result
        .report
        .findings
        .iter()
        .any(|f| f.record == JOHAN && f.field == "Id" && f.kind == "duplicate_id");
    assert!(named, "{:#?}", result.report.findings);
    assert_eq!(rig.user(JOHAN)["name"]["givenName"], "Johan");
    assert!(
        rig.users()
            .iter()
            .all(|u| u["userName"] != "tvilling@example.se")
    );
    assert_others_synced(&rig, &doc, &[], 0);
}

#[tokio::test]
async fn a_default_account_pointing_to_an_unknown_account_places_the_user_higher() {
    let mut doc = example();
    for row in doc["EmploymentDefaultAccounts"].as_array_mut().unwrap() {
        if row["EmployeeId"] == MARIA && row["AccountCode"] == "20" {
            row["AccountId"] = json!("00000000-0000-4000-8000-00000000dead");
            row["AccountCode"] = json!("99");
        }
    }
    let (rig, result) = synced(&doc, LEVELS).await;
    let found = finding(&result, MARIA, "AccountId", "unknown_account");
    assert!(found.problem.contains("99"), "{found:?}");
    let groups = rig.scim.groups();
    let group = |name: &str| {
        groups
            .iter()
            .find(|g| g["displayName"] == name)
            .unwrap_or_else(|| panic!("no group {name}: {groups:#?}"))
    };
    let members = |name: &str| -> BTreeSet<String> {
        group(name)["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(members("Uppsala"), BTreeSet::from([scim_id(&rig, MARIA)]));
    assert_eq!(
        members("Utveckling"),
        BTreeSet::from([scim_id(&rig, JOHAN), scim_id(&rig, ALI)])
    );
    assert_eq!(members("Ledning"), BTreeSet::from([scim_id(&rig, SARA)]));
    assert!(group("Utveckling")[GROUP_EXT]["parentExternalId"].is_string());
    assert_others_synced(&rig, &doc, &[], 0);
}

#[tokio::test]
async fn names_and_org_values_differing_in_case_spaces_or_form_are_one_group_and_one_user() {
    let mut doc = example();
    let composed = test_id(1);
    let decomposed = test_id(2);
    let shouting = test_id(3);
    let same_person = test_id(4);
    add_good(&mut doc, 1, "Göran", "goran@example.se")["City"] = json!("Göteborg");
    add_good(&mut doc, 2, "Go\u{308}ran", "gota@example.se")["City"] = json!("Go\u{308}teborg");
    add_good(&mut doc, 3, "  Märta  Li ", "marta@example.se")["City"] = json!("  GÖTEBORG ");
    let person = add_good(&mut doc, 4, "Göran", " GORAN@Example.se ");
    person["City"] = json!("go\u{308}teborg");
    person["Employment"]["EmploymentType"] = json!(0);
    let levels = "[groups]\nlevels = [{ field = \"City\" }]\n";
    // The later starter with the same email is the same person: skipped.
    for p in periods_mut(&mut doc, &same_person) {
        p["FromDate"] = json!("2024-01-01T00:00:00");
    }
    let (rig, result) = synced(&doc, levels).await;
    let dup = finding(&result, &same_person, "EmailWork", "duplicate_email");
    assert!(dup.problem.contains(&composed), "{dup:?}");
    assert!(find(&rig.users(), &same_person).is_none());

    assert_eq!(rig.user(&decomposed)["name"]["givenName"], "Göran", "NFC");
    assert_eq!(rig.user(&shouting)["name"]["givenName"], "Märta Li");
    let groups = rig.scim.groups();
    let names: BTreeSet<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["Göteborg", "Uppsala"]),
        "{groups:#?}"
    );
    let goteborg = groups
        .iter()
        .find(|g| g["displayName"] == "Göteborg")
        .unwrap();
    let members: BTreeSet<String> = goteborg["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = [&composed, &decomposed, &shouting]
        .iter()
        .map(|id| scim_id(&rig, id))
        .collect();
    assert_eq!(members, expected);
    assert_others_synced(
        &rig,
        &doc,
        &[&composed, &decomposed, &shouting, &same_person],
        3,
    );
    let (_, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "the normalised values settle");
}

#[tokio::test]
async fn a_name_of_ten_thousand_characters_is_synced_or_reported_never_a_crash() {
    let mut doc = example();
    let long = test_id(1);
    let name = "Å".repeat(10_000);
    add_good(&mut doc, 1, &name, "lang@example.se");
    let rig = Rig::start(&doc, Profile::Extended).await;
    let result = rig.sync().await;
    match find(&rig.users(), &long) {
        Some(user) => {
            assert_eq!(user["name"]["givenName"], name);
            assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
        }
        None => {
            let named = result.report.failures.iter().any(|f| f.external_id == long)
                || result.report.findings.iter().any(|f| f.record == long);
            assert!(
                named,
                "not synced and not reported: {}",
                result.report.render()
            );
        }
    }
    assert_others_synced(
        &rig,
        &doc,
        &[&long],
        usize::from(find(&rig.users(), &long).is_some()),
    );
}

#[tokio::test]
async fn wrong_types_in_fields_are_findings_and_the_record_still_syncs() {
    let mut doc = example();
    let odd = test_id(1);
    let employee = add_good(&mut doc, 1, "Udda", "udda.typer@example.se");
    employee["Gender"] = json!({"x": 1});
    employee["LastName"] = json!(["Typ"]);
    employee["Employment"]["EmploymentType"] = json!([1]);
    let (rig, result) = synced(&doc, "").await;
    for field in ["Gender", "LastName", "Employment.EmploymentType"] {
        finding(&result, &odd, field, "unreadable_field");
    }
    let user = rig.user(&odd);
    assert!(active(&user));
    assert_eq!(user["userName"], "udda.typer@example.se");
    assert_eq!(user["name"]["givenName"], "Udda");
    let gender = ext(&user, "gender").clone();
    assert!(gender.is_null() || gender == "None", "{gender}");
    assert_eq!(ext(&user, "excludeFromSurveys"), false);
    assert_eq!(manager_of(&user), Some(scim_id(&rig, SARA)));
    assert_others_synced(&rig, &doc, &[&odd], 1);
}

/// Issue 4 lists `"FirstName": 42` as a wrong type; the Flex reader takes any number as text.
#[tokio::test]
async fn a_number_where_a_name_is_expected_is_a_finding() {
    let mut doc = example();
    let odd = test_id(1);
    add_good(&mut doc, 1, "x", "nummer@example.se")["FirstName"] = json!(42);
    let (rig, result) = synced(&doc, "").await;
    finding(&result, &odd, "FirstName", "unreadable_field");
    assert!(active(&rig.user(&odd)));
    assert_others_synced(&rig, &doc, &[&odd], 1);
}

/// A run that must fail as unreachable (exit 4) without one write to Winningtemp.
async fn assert_fails_and_writes_nothing(rig: &Rig, users_before: &[Value]) {
    rig.scim.knobs.reset_counters();
    let failure = match rig.run(Mode::Sync, Allowance::default()).await {
        Ok(result) => panic!("the run did not fail: {}", result.report.render()),
        Err(failure) => failure,
    };
    assert_eq!(
        failure.outcome(),
        Outcome::Unreachable,
        "{:#}",
        failure.error
    );
    assert_eq!(failure.outcome().exit_code(), 4);
    assert_eq!(rig.write_requests(), 0);
    assert_eq!(rig.users(), users_before);
}

#[tokio::test]
async fn a_page_that_is_not_json_or_truncated_fails_the_run_and_writes_nothing() {
    let doc = example();
    for kind in [PageFaultKind::NotJson, PageFaultKind::Truncated] {
        for resource in ["employees", "employmentperiods"] {
            let rig = Rig::start(&doc, Profile::Extended).await;
            let fault = |page_index| {
                Some(PageFault {
                    resource: resource.to_string(),
                    page_index,
                    kind,
                })
            };
            rig.flex.set_page_fault(fault(0));
            assert_fails_and_writes_nothing(&rig, &[]).await;

            rig.flex.set_page_fault(None);
            let result = rig.sync().await;
            assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
            let before = rig.users();
            assert_eq!(before.len(), 4);

            rig.flex.set_page_fault(fault(0));
            assert_fails_and_writes_nothing(&rig, &before).await;
            assert!(
                rig.users().iter().all(active),
                "{kind:?} {resource}: a failed read pauses nobody"
            );
        }
    }
}
