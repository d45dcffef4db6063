//! Whole syncs from the Flex emulator into the SCIM emulator: values, lifecycle, bad records,
//! profiles, adoption, guards, read failures, record failures, faults and a larger organisation.

use serde_json::{Value, json};

use flexsync::run::{Mode, Outcome};
use flexsync_core::current::Attribute;
use flexsync_core::guard::Allowance;
use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::{AnswerCase, Profile, ScimOptions};

use crate::support::*;

fn ext<'a>(user: &'a Value, name: &str) -> &'a Value {
    &user[WT][name]
}

fn manager_of(user: &Value) -> Option<&str> {
    user[ENTERPRISE]["manager"]["value"].as_str()
}

fn active(user: &Value) -> bool {
    user["active"].as_bool().unwrap()
}

#[tokio::test]
async fn shared_example_syncs_every_value_into_the_extended_profile() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    assert!(result.report.failures.is_empty());

    let users = rig.users();
    assert_eq!(users.len(), 4);
    assert_no_duplicates(&users);
    let expected = [
        (
            SARA,
            "sara.nilsson@example.se",
            "Sara",
            "Nilsson",
            "Female",
            "1981-02-14",
            None,
            false,
        ),
        (
            JOHAN,
            "johan.karlsson@example.se",
            "Johan",
            "Karlsson",
            "Male",
            "1987-06-01",
            Some(SARA),
            false,
        ),
        (
            MARIA,
            "maria.andersson@example.se",
            "Maria",
            "Andersson",
            "Female",
            "1993-09-09",
            Some(JOHAN),
            false,
        ),
        (
            ALI,
            "ali.hassan@partner.example",
            "Ali",
            "Hassan",
            "Male",
            "1990-12-12",
            Some(JOHAN),
            true,
        ),
    ];
    for (id, email, given, family, gender, birth, manager, excluded) in expected {
        let user = rig.user(id);
        assert_eq!(user["userName"], email, "{id}");
        assert_eq!(user["emails"][0]["value"], email, "{id}");
        assert_eq!(user["name"]["givenName"], given, "{id}");
        assert_eq!(user["name"]["familyName"], family, "{id}");
        assert_eq!(ext(&user, "gender"), gender, "{id}");
        assert_eq!(
            ext(&user, "birthDate"),
            &json!(format!("{birth}T00:00:00Z")),
            "{id}"
        );
        assert_eq!(ext(&user, "excludeFromSurveys"), excluded, "{id}");
        assert_eq!(
            ext(&user, "employmentStartDate"),
            "2020-01-01T00:00:00Z",
            "{id}"
        );
        assert!(active(&user), "{id}");
        let manager_scim_id = manager.map(|m| rig.user(m)["id"].as_str().unwrap().to_string());
        assert_eq!(manager_of(&user), manager_scim_id.as_deref(), "{id}");
    }
}

#[tokio::test]
async fn second_sync_on_unchanged_data_writes_nothing() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let (_, first) = rig.sync_counted().await;
    assert!(first >= 4, "the first sync wrote {first}");
    let (second, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0);
    assert_eq!(rig.write_requests(), 0);
    assert!(second.plan.steps.is_empty(), "{:?}", second.plan.steps);
    assert!(second.report.planned.is_empty());
    assert_eq!(second.outcome, Outcome::Done);
}

/// RFC 7643 2.1: attribute names are case-insensitive. A server that answers `EXTERNALID` and
/// `BIRTHDATE` (or `ExternalId` and `BirthDate`) holds the same values, so the next run plans
/// nothing.
async fn a_server_answering_in_another_case_is_read_as_it_means(case: AnswerCase) {
    let extra = "[[mapping.extra]]\nfield = \"City\"\n\
                 attribute = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"\n";
    let options = ScimOptions {
        answer_case: case,
        ..scim_options(Profile::Extended)
    };
    let rig = Rig::with(&example(), options, Faults::default(), extra).await;
    let first = rig.sync().await;
    assert!(
        first.report.failures.is_empty(),
        "{:?}",
        first.report.failures
    );
    let (second, writes) = rig.sync_counted().await;
    assert!(!second.current.users.is_empty());
    assert_eq!(writes, 0, "{:?}", second.plan.steps);
    assert!(second.plan.steps.is_empty(), "{:?}", second.plan.steps);
    let sara = second
        .current
        .users
        .iter()
        .find(|u| u.external_id.as_deref() == Some(SARA))
        .expect("Sara is read back");
    assert!(sara.values.birth_date.is_some());
    assert!(sara.values.gender.is_some());
    assert_eq!(sara.values.extra.len(), 1, "{:?}", sara.values.extra);
    assert!(sara.manager_id.is_some() || second.desired.users[SARA].manager_external_id.is_none());
}

#[tokio::test]
async fn a_server_answering_in_capitals_is_read_as_it_means() {
    a_server_answering_in_another_case_is_read_as_it_means(AnswerCase::Upper).await;
}

#[tokio::test]
async fn a_server_answering_in_pascal_case_is_read_as_it_means() {
    a_server_answering_in_another_case_is_read_as_it_means(AnswerCase::Pascal).await;
}

#[tokio::test]
async fn flex_changes_reach_the_target_and_leavers_are_paused_never_deleted() {
    let mut doc = example();
    let future_starter = test_id(1);
    let removed = test_id(2);
    add_employee(
        &mut doc,
        &removed,
        "Rut",
        "Berg",
        Some("rut.berg@example.se"),
        Some(SARA),
        "2021-01-01",
    );
    let rig = Rig::start(&doc, Profile::Extended).await;
    assert_eq!(rig.sync().await.outcome, Outcome::Done);
    let johan_id = rig.user(JOHAN)["id"].as_str().unwrap().to_string();
    let sara_id = rig.user(SARA)["id"].as_str().unwrap().to_string();
    let maria_scim_id = rig.user(MARIA)["id"].as_str().unwrap().to_string();
    let ali_scim_id = rig.user(ALI)["id"].as_str().unwrap().to_string();

    // Surname and work email; a new manager; a leaver; a future starter; a removed record.
    employee_mut(&mut doc, MARIA)["LastName"] = json!("Lind");
    employee_mut(&mut doc, MARIA)["EmailWork"] = json!("maria.lind@example.se");
    employee_mut(&mut doc, ALI)["ImmediateManagerEmployeeId"] = json!(SARA);
    periods_mut(&mut doc, JOHAN)[0]["ToDate"] = json!("2026-10-31T00:00:00");
    add_employee(
        &mut doc,
        &future_starter,
        "Nils",
        "Ny",
        Some("nils.ny@example.se"),
        Some(SARA),
        "2026-12-15",
    );
    remove_employee(&mut doc, &removed);
    rig.set_flex(&doc);
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());

    let users = rig.users();
    assert_eq!(
        users.len(),
        5,
        "nothing is deleted and the future starter is not created"
    );
    assert!(find(&users, &future_starter).is_none());
    let maria = rig.user(MARIA);
    assert_eq!(maria["id"], maria_scim_id.as_str());
    assert_eq!(maria["name"]["familyName"], "Lind");
    assert_eq!(maria["userName"], "maria.lind@example.se");
    assert_eq!(maria["emails"][0]["value"], "maria.lind@example.se");
    assert!(active(&maria));
    let ali = rig.user(ALI);
    assert_eq!(ali["id"], ali_scim_id.as_str());
    assert_eq!(manager_of(&ali), Some(sara_id.as_str()));
    let johan = rig.user(JOHAN);
    assert!(!active(&johan), "the leaver is paused");
    assert_eq!(johan["id"], johan_id.as_str());
    assert!(
        !active(&rig.user(&removed)),
        "the removed employee is paused"
    );
    assert!(active(&rig.user(SARA)));

    // Rehire: a second, open period makes the same account active again.
    add_period(&mut doc, JOHAN, "2026-11-20", None);
    rig.set_flex(&doc);
    assert_eq!(rig.sync().await.outcome, Outcome::Done);
    let johan = rig.user(JOHAN);
    assert!(active(&johan), "the rehire is active again");
    assert_eq!(
        johan["id"],
        johan_id.as_str(),
        "the rehire keeps the same account"
    );
    assert_eq!(rig.users().len(), 5);

    let (last, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", last.plan.steps);
}

#[tokio::test]
async fn bad_records_are_reported_and_the_others_are_synced() {
    let mut doc = example();
    let no_email = test_id(1);
    let dup_first = test_id(2);
    let dup_second = test_id(3);
    let odd_gender = test_id(4);
    let bad_birth = test_id(5);
    let orphan = test_id(6);
    let nobody = test_id(99);
    add_employee(
        &mut doc,
        &no_email,
        "Utan",
        "Epost",
        None,
        Some(SARA),
        "2021-01-01",
    );
    add_employee(
        &mut doc,
        &dup_first,
        "Dubbel",
        "Ett",
        Some("dup@example.se"),
        None,
        "2021-01-01",
    );
    add_employee(
        &mut doc,
        &dup_second,
        "Dubbel",
        "Tva",
        Some("dup@example.se"),
        None,
        "2023-01-01",
    );
    add_employee(
        &mut doc,
        &odd_gender,
        "Udda",
        "Kon",
        Some("udda@example.se"),
        None,
        "2021-01-01",
    )["Gender"] = json!(7);
    add_employee(
        &mut doc,
        &bad_birth,
        "Fel",
        "Datum",
        Some("fel@example.se"),
        None,
        "2021-01-01",
    )["DateOfBirth"] = json!("1985-02-30T00:00:00");
    add_employee(
        &mut doc,
        &orphan,
        "Ingen",
        "Chef",
        Some("ingen@example.se"),
        Some(&nobody),
        "2021-01-01",
    );
    let rig = Rig::start(&doc, Profile::Extended).await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());

    let finding = |record: &str, field: &str| {
        result
            .report
            .findings
            .iter()
            .find(|f| f.record == record && f.field == field)
            .unwrap_or_else(|| {
                panic!(
                    "no finding on {record} {field}: {:#?}",
                    result.report.findings
                )
            })
            .clone()
    };
    finding(&no_email, "EmailWork");
    assert!(
        finding(&dup_second, "EmailWork")
            .problem
            .contains(&dup_first)
    );
    finding(&odd_gender, "Gender");
    finding(&bad_birth, "DateOfBirth");
    assert!(
        finding(&orphan, "ImmediateManagerEmployeeId")
            .problem
            .contains(&nobody)
    );

    let users = rig.users();
    assert_eq!(
        users.len(),
        8,
        "the four good records and four taken with findings"
    );
    assert_no_duplicates(&users);
    for id in [
        SARA,
        JOHAN,
        MARIA,
        ALI,
        &dup_first,
        &odd_gender,
        &bad_birth,
        &orphan,
    ] {
        assert!(active(&rig.user(id)), "{id}");
    }
    assert!(find(&users, &no_email).is_none());
    assert!(find(&users, &dup_second).is_none());
    let gender = ext(&rig.user(&odd_gender), "gender").clone();
    assert!(gender.is_null() || gender == "None", "gender {gender}");
    assert!(ext(&rig.user(&bad_birth), "birthDate").is_null());
    assert_eq!(ext(&rig.user(&bad_birth), "gender"), "Female");
    assert!(manager_of(&rig.user(&orphan)).is_none());
    assert!(manager_of(&rig.user(MARIA)).is_some());

    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
}

#[tokio::test]
async fn documented_profile_gets_core_attributes_and_reports_what_is_not_sent() {
    let rig = Rig::start(&example(), Profile::Documented).await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let users = rig.users();
    assert_eq!(users.len(), 4);
    for user in &users {
        assert!(user.get(WT).is_none(), "{user}");
        assert!(user.get(ENTERPRISE).is_none(), "{user}");
        assert!(user["name"]["givenName"].is_string());
        assert!(active(user));
    }
    assert_eq!(rig.user(SARA)["userName"], "sara.nilsson@example.se");
    let not_sent = |attribute: Attribute| {
        result
            .report
            .not_sent
            .iter()
            .find(|n| n.attribute == attribute)
            .map(|n| n.users)
    };
    assert_eq!(not_sent(Attribute::Gender), Some(4));
    assert_eq!(not_sent(Attribute::BirthDate), Some(4));
    assert_eq!(not_sent(Attribute::Manager), Some(3));
    assert_eq!(not_sent(Attribute::ExcludeFromSurveys), Some(4));
    assert_eq!(not_sent(Attribute::EmploymentStart), Some(4));

    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
    assert!(again.plan.steps.is_empty());
}

#[tokio::test]
async fn hand_made_account_with_the_same_user_name_is_adopted_and_others_are_never_touched() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let same = rig
        .scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Maria.Andersson@example.se",
            "name": {"givenName": "Maria", "familyName": "A"},
            "active": true
        }))
        .unwrap();
    let other = rig
        .scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "consultant@elsewhere.example",
            "name": {"givenName": "Con", "familyName": "Sultant"},
            "active": true
        }))
        .unwrap();
    let other_version = other["meta"]["version"].clone();
    assert!(!other_version.is_null());

    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    assert_eq!(result.report.succeeded.get("adopt"), Some(&1));
    let users = rig.users();
    assert_eq!(users.len(), 5, "adopted, not duplicated");
    assert_no_duplicates(&users);
    let maria = rig.user(MARIA);
    assert_eq!(maria["id"], same["id"]);
    assert_eq!(maria["name"]["familyName"], "Andersson");
    assert_eq!(ext(&maria, "gender"), "Female");

    // Not in Flex, but never ours: left alone however often we sync.
    rig.sync().await;
    rig.sync().await;
    let untouched = rig
        .users()
        .into_iter()
        .find(|u| u["id"] == other["id"])
        .unwrap();
    assert_eq!(untouched["meta"]["version"], other_version);
    assert!(active(&untouched));
    assert!(untouched.get("externalId").is_none_or(Value::is_null));
}

#[tokio::test]
async fn company_without_employees_is_refused_and_nothing_is_written() {
    let mut doc = example();
    for list in [
        "Employees",
        "EmploymentPeriods",
        "EmploymentDefaultAccounts",
    ] {
        doc[list] = json!([]);
    }
    let rig = Rig::start(&doc, Profile::Extended).await;
    let (result, writes) = rig.sync_counted().await;
    assert_eq!(result.outcome, Outcome::Refused);
    assert_eq!(result.outcome.exit_code(), 3);
    assert_eq!(
        result.report.refused.as_ref().unwrap().guard,
        "empty_source"
    );
    assert_eq!(writes, 0);
    assert!(rig.users().is_empty());
}

#[tokio::test]
async fn removing_many_employees_is_refused_until_allowed() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let rig = Rig::start(&doc, Profile::Extended).await;
    assert_eq!(rig.sync().await.outcome, Outcome::Done);
    assert_eq!(rig.users().len(), 14);
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);

    let (refused, writes) = rig.sync_counted().await;
    assert_eq!(
        refused.outcome,
        Outcome::Refused,
        "{}",
        refused.report.render()
    );
    assert_eq!(writes, 0);
    assert!(rig.users().iter().all(active));

    rig.scim.knobs.reset_counters();
    let short = rig
        .run(
            Mode::Sync,
            Allowance {
                deactivations: Some(7),
                // The source shrank too: that guard is let through here, this test is about pauses.
                source_drop: true,
                ..Allowance::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        short.outcome,
        Outcome::Refused,
        "an allowance below the count is not enough"
    );
    assert_eq!(rig.write_requests(), 0);

    let allowed = rig
        .run(
            Mode::Sync,
            Allowance {
                deactivations: Some(8),
                // The source shrank too: that guard is let through here, this test is about pauses.
                source_drop: true,
                ..Allowance::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        allowed.outcome,
        Outcome::Done,
        "{}",
        allowed.report.render()
    );
    assert_eq!(allowed.report.succeeded.get("pause"), Some(&8));
    let users = rig.users();
    assert_eq!(users.len(), 14, "paused, never deleted");
    assert_eq!(users.iter().filter(|u| !active(u)).count(), 8);
}

async fn assert_failed_read_writes_nothing(rig: &Rig) {
    rig.scim.knobs.reset_counters();
    let before = rig.scim.writes();
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
    assert_eq!(rig.scim.writes(), before);
    assert_eq!(rig.write_requests(), 0);
    assert_eq!(rig.users().len(), 4);
    assert!(
        rig.users().iter().all(active),
        "a failed read pauses nobody"
    );
}

#[tokio::test]
async fn failing_employee_page_fails_the_run_and_writes_nothing() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    assert_eq!(rig.sync().await.outcome, Outcome::Done);
    rig.flex.set_fail_page(Some(("employees".to_string(), 0)));
    assert_failed_read_writes_nothing(&rig).await;
    rig.flex.set_fail_page(None);
    rig.flex.set_short_page(Some(("employees".to_string(), 0)));
    assert_failed_read_writes_nothing(&rig).await;
}

#[tokio::test]
async fn api_user_without_rights_fails_the_run_and_writes_nothing() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    assert_eq!(rig.sync().await.outcome, Outcome::Done);
    doc["ApiUsers"][0]["CompanyIds"] = json!(["999"]);
    rig.set_flex(&doc);
    assert_failed_read_writes_nothing(&rig).await;
}

#[tokio::test]
async fn user_name_held_by_another_managed_account_is_a_conflict_and_others_sync() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    rig.scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "johan.karlsson@example.se",
            "externalId": "someone-else",
            "name": {"givenName": "J", "familyName": "K"},
            "active": true
        }))
        .unwrap();
    let result = rig.sync().await;
    let conflict = result
        .report
        .conflicts
        .iter()
        .find(|c| c.external_id == JOHAN)
        .unwrap_or_else(|| panic!("no conflict: {}", result.report.render()));
    assert!(conflict.problem.contains("johan.karlsson@example.se"));
    let users = rig.users();
    assert_eq!(users.len(), 4, "three synced beside the hand-made account");
    for id in [SARA, MARIA, ALI] {
        assert!(active(&rig.user(id)), "{id}");
    }
    assert!(find(&users, JOHAN).is_none());
    assert_eq!(
        find(&users, "someone-else").unwrap()["name"]["familyName"],
        "K"
    );
}

#[tokio::test]
async fn one_failing_write_does_not_stop_the_others() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "taken@example.se",
            "externalId": "someone-else",
            "active": true
        }))
        .unwrap();
    assert_eq!(rig.sync().await.outcome, Outcome::Done);

    // Johan's new email is another account's userName: his update fails, the others go through.
    employee_mut(&mut doc, JOHAN)["EmailWork"] = json!("taken@example.se");
    employee_mut(&mut doc, MARIA)["LastName"] = json!("Lind");
    employee_mut(&mut doc, ALI)["LastName"] = json!("Haddad");
    rig.set_flex(&doc);
    let result = rig.sync().await;
    assert_eq!(
        result.outcome,
        Outcome::RecordFailures,
        "{}",
        result.report.render()
    );
    assert_eq!(result.outcome.exit_code(), 1);
    assert_eq!(
        result.report.failures.len(),
        1,
        "{:?}",
        result.report.failures
    );
    assert_eq!(result.report.failures[0].external_id, JOHAN);
    assert_eq!(rig.user(MARIA)["name"]["familyName"], "Lind");
    assert_eq!(rig.user(ALI)["name"]["familyName"], "Haddad");
    assert_eq!(rig.user(JOHAN)["userName"], "johan.karlsson@example.se");
    assert_no_duplicates(&rig.users());
}

#[tokio::test]
async fn sync_converges_through_injected_429_and_503() {
    let mut doc = example();
    add_staff(&mut doc, 16);
    let faults = Faults {
        latency: std::time::Duration::ZERO,
        error_share: 0.2,
        retry_after_seconds: 0,
    };
    let mut options = scim_options(Profile::Extended);
    options.faults = faults.clone();
    let rig = Rig::with(&doc, options, faults, "").await;
    let first = rig.sync().await;
    assert!(rig.scim.knobs.injected() > 0, "no SCIM fault was injected");
    assert!(rig.flex.knobs.injected() > 0, "no Flex fault was injected");
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    assert!(
        first
            .report
            .requests
            .get("scim_retries")
            .is_some_and(|n| *n > 0)
    );
    let users = rig.users();
    assert_eq!(users.len(), 20);
    assert_no_duplicates(&users);
    for user in &users {
        assert!(active(user));
    }
    assert!(manager_of(&rig.user(&test_id(16))).is_some());

    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
    assert_eq!(rig.users().len(), 20);
}

#[tokio::test]
async fn generated_organisation_syncs_changes_and_then_settles() {
    let options = GenerateOptions {
        employees: 300,
        seed: 11,
        today: TODAY,
        companies: None,
    };
    let mut doc = generate::generate(&options);
    let rig = Rig::start(&doc, Profile::Extended).await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    let created = first.report.succeeded.get("create").copied().unwrap_or(0);
    assert!(created > 200, "created {created}");
    assert_eq!(rig.users().len(), created);
    assert_eq!(first.report.desired_active, created);

    let changes = generate::apply_changes(&mut doc, 12, TODAY, 6);
    assert!(changes.len() >= 10, "{changes:?}");
    rig.set_flex(&doc);
    let second = rig.sync().await;
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    assert!(
        second
            .report
            .succeeded
            .get("create")
            .is_some_and(|n| *n >= 1)
    );
    assert!(
        second
            .report
            .succeeded
            .get("pause")
            .is_some_and(|n| *n >= 1)
    );
    assert!(
        second
            .report
            .succeeded
            .get("update")
            .is_some_and(|n| *n >= 1)
    );
    assert_no_duplicates(&rig.users());

    let (third, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", third.plan.steps);
    assert!(third.plan.steps.is_empty());
}

#[tokio::test]
async fn manager_in_conflict_leaves_the_link_waiting_instead_of_failing_every_run() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    rig.scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "sara.nilsson@example.se",
            "externalId": "another-system-1",
            "active": true
        }))
        .unwrap();
    let first = rig.sync().await;
    assert!(first.report.conflicts.iter().any(|c| c.external_id == SARA));
    assert!(manager_of(&rig.user(JOHAN)).is_none());
    assert!(
        first.report.waiting.iter().any(|w| w.external_id == JOHAN),
        "Johan's manager link cannot be made this run: {}",
        first.report.render()
    );
    for _ in 0..2 {
        let (again, writes) = rig.sync_counted().await;
        assert_eq!(again.outcome, Outcome::Done, "{}", again.report.render());
        assert!(again.report.waiting.iter().any(|w| w.external_id == JOHAN));
        assert_eq!(writes, 0, "{:?}", again.plan.steps);
    }
}

#[tokio::test]
async fn file_channel_delivers_both_files_beside_scim_and_reports_changes() {
    let out = tempfile::tempdir().unwrap();
    let extra = format!("[files]\ndir = {:?}\n", out.path().display().to_string());
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    let users = std::fs::read_to_string(out.path().join("wt_users.csv")).unwrap();
    let lines: Vec<&str> = users.lines().collect();
    assert_eq!(lines.len(), 5, "{users}");
    assert!(lines[0].starts_with("ExternalId;Username;"), "{}", lines[0]);
    assert!(users.contains("sara.nilsson@example.se"));
    assert!(out.path().join("wt_groups.csv").exists());
    let added = &first.report.file_changes["wt_users.csv"].added;
    assert_eq!(added.len(), 4);

    let mut doc = example();
    employee_mut(&mut doc, "e423a86d-fa95-5497-91bd-7b2e753e538a")["LastName"] = json!("Berg");
    rig.set_flex(&doc);
    let second = rig.sync().await;
    let diff = &second.report.file_changes["wt_users.csv"];
    assert_eq!(diff.changed, ["e423a86d-fa95-5497-91bd-7b2e753e538a"]);
    assert!(diff.added.is_empty() && diff.removed.is_empty());
    let users = std::fs::read_to_string(out.path().join("wt_users.csv")).unwrap();
    assert!(users.contains(";Berg;"), "{users}");
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_file_only_sync_that_would_pause_many_is_refused_and_the_files_stay() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 16);
    let flex = flexsync_emulators::flex::start(flex_data(&doc), Faults::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("outbox");
    std::fs::create_dir_all(&out).unwrap();
    let login = Login::of(&doc);
    write_secret(&dir.path().join("flex-password.txt"), &login.password);
    let companies: Vec<String> = login.companies.iter().map(i64::to_string).collect();
    let text = format!(
        "[flex]\nbase_url = \"{}\"\nusername = \"{}\"\npassword_file = \"flex-password.txt\"\n\
         instance = \"{}\"\ncompanies = [{}]\n[files]\ndir = \"outbox\"\n",
        flex.base_url(),
        login.username,
        login.instance,
        companies.join(", ")
    );
    let path = dir.path().join("flexsync.toml");
    std::fs::write(&path, text).unwrap();
    let config = flexsync::config::Config::load(&path).unwrap();
    let sync = |allowance: Allowance| {
        let config = config.clone();
        async move {
            let ends = flexsync::run::Ends::connect(&config).unwrap();
            flexsync::run::run(&config, &ends, Mode::Sync, allowance, TODAY)
                .await
                .unwrap()
        }
    };
    let first = sync(Allowance::default()).await;
    assert_eq!(first.outcome, Outcome::Done);
    let delivered = std::fs::read_to_string(out.join("wt_users.csv")).unwrap();
    // Without SCIM the rows of the users file are the changes, named as over SCIM.
    let created: Vec<&flexsync::changes::NamedChange> = first
        .report
        .changes
        .iter()
        .filter(|c| c.action.as_str() == "create")
        .collect();
    assert_eq!(
        created.len(),
        delivered.lines().count() - 1,
        "{}",
        first.report.render()
    );
    let maria = created
        .iter()
        .find(|c| c.external_id.as_str() == MARIA)
        .unwrap();
    assert_eq!(maria.name, "Maria Andersson");
    assert_eq!(maria.email.as_deref(), Some("maria.andersson@example.se"));
    assert_eq!(maria.result, flexsync::changes::ChangeResult::Ok);
    assert_eq!(first.report.succeeded.get("create"), Some(&created.len()));

    // Flex answers with every period of the added staff ended: they would all turn inactive.
    for id in &staff {
        for period in periods_mut(&mut doc, id) {
            period["ToDate"] = json!("2026-10-31T00:00:00");
        }
    }
    flex.set_data(flex_data(&doc));
    let refused = sync(Allowance::default()).await;
    assert_eq!(
        refused.outcome,
        Outcome::Refused,
        "{}",
        refused.report.render()
    );
    assert_eq!(
        refused.report.refused.as_ref().unwrap().guard,
        "file_pauses"
    );
    let would_pause: Vec<&flexsync::changes::NamedChange> = refused
        .report
        .changes
        .iter()
        .filter(|c| c.action.as_str() == "pause")
        .collect();
    assert_eq!(would_pause.len(), 16, "{}", refused.report.render());
    assert!(would_pause.iter().all(|c| {
        c.result == flexsync::changes::ChangeResult::Planned
            && c.reason == "no employment period covers today"
            && c.email.is_some()
            && !c.name.is_empty()
    }));
    assert_eq!(refused.report.planned.get("pause"), Some(&16));
    assert!(
        refused.report.render().contains(&would_pause[0].name),
        "{}",
        refused.report.render()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("wt_users.csv")).unwrap(),
        delivered,
        "a refused run delivers nothing"
    );
    let allowed = sync(Allowance {
        deactivations: Some(16),
        ..Allowance::default()
    })
    .await;
    assert_eq!(
        allowed.outcome,
        Outcome::Done,
        "{}",
        allowed.report.render()
    );
    assert_ne!(
        std::fs::read_to_string(out.join("wt_users.csv")).unwrap(),
        delivered
    );
}

#[tokio::test]
async fn an_extra_mapping_is_sent_updated_and_cleared() {
    let extra = "[[mapping.extra]]\nfield = \"City\"\n\
                 attribute = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"\n";
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    rig.sync().await;
    assert_eq!(rig.user(SARA)[ENTERPRISE]["department"], "Uppsala");
    let mut doc = example();
    employee_mut(&mut doc, SARA)["City"] = json!("Luleå");
    employee_mut(&mut doc, JOHAN)["City"] = Value::Null;
    rig.set_flex(&doc);
    let second = rig.sync().await;
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    assert_eq!(rig.user(SARA)[ENTERPRISE]["department"], "Luleå");
    assert!(rig.user(JOHAN)[ENTERPRISE]["department"].is_null());
    let (_, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0);
}

/// The report names every change: who (name and email beside the Flex id), what (in
/// Winningtemp's words, each attribute before and after, birth dates never quoted), why, and
/// what came of it.
#[tokio::test]
async fn the_report_names_who_was_paused_and_created() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let first = rig.sync().await;
    let report = serde_json::to_value(&first.report).unwrap();
    let changes = report["changes"].as_array().unwrap();
    let sara = changes
        .iter()
        .find(|c| c["external_id"] == SARA && c["action"] == "create")
        .unwrap_or_else(|| panic!("no create of Sara in {changes:#?}"));
    assert_eq!(sara["name"], "Sara Nilsson");
    assert_eq!(sara["email"], "sara.nilsson@example.se");
    assert_eq!(sara["result"]["result"], "ok");
    let birth = sara["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attribute"] == "birthDate")
        .unwrap();
    assert_eq!(birth["after"], "(set)");
    assert!(
        !report.to_string().contains("1981-02-14"),
        "a birth date is quoted"
    );

    let mut doc = example();
    remove_employee(&mut doc, ALI);
    rig.set_flex(&doc);
    // One of four is more than the source-drop guard lets through unasked.
    let allowance = Allowance {
        source_drop: true,
        ..Allowance::default()
    };
    let second = rig.run(Mode::Sync, allowance).await.unwrap();
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    let report = serde_json::to_value(&second.report).unwrap();
    let paused: Vec<&Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "pause")
        .collect();
    assert_eq!(paused.len(), 1, "{paused:#?}");
    assert_eq!(paused[0]["external_id"], ALI);
    assert_eq!(paused[0]["name"], "Ali Hassan");
    assert_eq!(paused[0]["email"], "ali.hassan@partner.example");
    assert_eq!(paused[0]["result"]["result"], "ok");
    assert_eq!(paused[0]["reason"], "no longer in Flex");
    let summary = second.report.render();
    assert!(
        summary.contains("pause Ali Hassan <ali.hassan@partner.example>"),
        "{summary}"
    );
}

#[tokio::test]
async fn findings_name_the_person_beside_the_flex_id() {
    let mut doc = example();
    employee_mut(&mut doc, JOHAN)["EmailWork"] = json!("johan.karlsson(at)example.se");
    let rig = Rig::start(&doc, Profile::Extended).await;
    let result = rig.sync().await;
    let finding = result
        .report
        .findings
        .iter()
        .find(|f| f.record == JOHAN && f.field == "EmailWork")
        .unwrap_or_else(|| panic!("{:#?}", result.report.findings));
    assert_eq!(finding.name.as_deref(), Some("Johan Karlsson"));
    assert_eq!(
        finding.email.as_deref(),
        Some("johan.karlsson(at)example.se")
    );
    let summary = result.report.render();
    assert!(
        summary.contains(&format!(
            "Johan Karlsson <johan.karlsson(at)example.se> ({JOHAN}) EmailWork"
        )),
        "{summary}"
    );
}

/// A value another account holds (409) is a conflict: held at once, not sent again every run;
/// once someone settles it in Winningtemp, `sync --retry-held` tries it at once.
#[tokio::test]
async fn a_conflict_is_held_until_its_step_changes_or_the_operator_retries_it() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    let other = rig
        .scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "taken@example.se",
            "externalId": "someone-else",
            "active": true
        }))
        .unwrap();
    rig.sync().await;
    employee_mut(&mut doc, JOHAN)["EmailWork"] = json!("taken@example.se");
    rig.set_flex(&doc);
    let failed = rig.sync().await;
    assert_eq!(failed.outcome, Outcome::RecordFailures);
    let failure = serde_json::to_value(&failed.report.failures[0]).unwrap();
    assert_eq!(failure["error_class"], "conflict", "{failure}");

    // The same request would meet the same conflict: it waits, and nothing is sent.
    let (held, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{}", held.report.render());
    assert_eq!(held.report.held_back, [JOHAN]);
    assert_eq!(held.report.deferred[0].external_id, JOHAN);
    let summary = held.report.render();
    assert!(
        summary.contains("HELD:      update Johan Karlsson <taken@example.se>"),
        "{summary}"
    );
    assert!(
        summary.contains("another account holds its value"),
        "{summary}"
    );

    // Someone removes the other account by hand; the operator lets the held record through.
    let id = other["id"].as_str().unwrap();
    let client = flexsync_scim::ScimClient::new(flexsync_scim::ScimSettings::new(
        rig.scim.base_url(),
        secrecy::SecretString::from(TOKEN.to_string()),
    ))
    .unwrap();
    client.delete_user(id).await.unwrap();
    let allowance = Allowance {
        retry_held: true,
        ..Allowance::default()
    };
    let retried = rig.run(Mode::Sync, allowance).await.unwrap();
    assert_eq!(
        retried.outcome,
        Outcome::Done,
        "{}",
        retried.report.render()
    );
    assert_eq!(rig.user(JOHAN)["userName"], "taken@example.se");
    let (after, _) = rig.sync_counted().await;
    assert!(
        after.report.held_back.is_empty(),
        "{}",
        after.report.render()
    );
}

/// A token refused while writing is the run's failure (exit 4, a warning naming the setting),
/// not every record's: nothing is held, and the next run with a good token writes at once.
#[tokio::test]
async fn a_token_refused_while_writing_fails_the_run_not_the_records() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    employee_mut(&mut doc, MARIA)["LastName"] = json!("Lind");
    rig.set_flex(&doc);
    rig.scim.knobs.set_refuse_writes(true);
    let refused = rig.sync().await;
    assert_eq!(
        refused.outcome,
        Outcome::Unreachable,
        "{}",
        refused.report.render()
    );
    assert_eq!(refused.outcome.exit_code(), 4);
    assert!(
        refused
            .report
            .warnings
            .iter()
            .any(|w| w.contains("refused the token")),
        "{:?}",
        refused.report.warnings
    );
    rig.scim.knobs.set_refuse_writes(false);
    let after = rig.sync().await;
    assert_eq!(after.outcome, Outcome::Done, "{}", after.report.render());
    assert!(after.report.deferred.is_empty() && after.report.held_back.is_empty());
    assert_eq!(rig.user(MARIA)["name"]["familyName"], "Lind");
}

/// The reason of an update tells which side moved: Flex, or a hand in Winningtemp since flexsync
/// wrote the value (drift, overwritten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_says_whether_flex_changed_or_someone_changed_winningtemp_by_hand() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    let reason_for = |result: &flexsync::run::RunResult, who: &str| {
        result
            .report
            .changes
            .iter()
            .find(|c| c.external_id.as_str() == who && c.action.as_str() == "update")
            .map(|c| c.reason.clone())
            .unwrap_or_else(|| panic!("no update of {who}: {}", result.report.render()))
    };

    // Flex moves: Maria marries.
    employee_mut(&mut doc, MARIA)["LastName"] = json!("Lind");
    rig.set_flex(&doc);
    let flex_change = rig.sync().await;
    assert_eq!(reason_for(&flex_change, MARIA), "changed in Flex");

    // Someone renames Ali by hand in Winningtemp; Flex still says what flexsync wrote.
    let client = flexsync_scim::ScimClient::new(flexsync_scim::ScimSettings::new(
        rig.scim.base_url(),
        secrecy::SecretString::from(TOKEN.to_string()),
    ))
    .unwrap();
    let ali = rig.user(ALI);
    let op = flexsync_scim::PatchOperation::replace("name.familyName", json!("Hasan"));
    client
        .patch_user(ali["id"].as_str().unwrap(), vec![op])
        .await
        .unwrap();
    let drift = rig.sync().await;
    assert_eq!(
        reason_for(&drift, ALI),
        "changed by hand in Winningtemp since flexsync wrote it (drift: familyName); \
         overwritten with the Flex value"
    );
    let summary = drift.report.render();
    assert!(summary.contains("familyName: Hasan -> Hassan"), "{summary}");
    assert_eq!(rig.user(ALI)["name"]["familyName"], "Hassan");

    // Someone pauses Ali by hand while Flex has him employed: reactivated, and said why.
    let op = flexsync_scim::PatchOperation::replace("active", json!(false));
    client
        .patch_user(ali["id"].as_str().unwrap(), vec![op])
        .await
        .unwrap();
    let paused_by_hand = rig.sync().await;
    let reactivation = paused_by_hand
        .report
        .changes
        .iter()
        .find(|c| c.external_id.as_str() == ALI)
        .unwrap_or_else(|| panic!("{}", paused_by_hand.report.render()));
    assert_eq!(reactivation.action.as_str(), "reactivate");
    assert!(
        reactivation
            .reason
            .starts_with("paused by hand in Winningtemp since flexsync wrote it (drift: active)"),
        "{}",
        reactivation.reason
    );
}

/// What a sync leaves on disk names people: the state store, the reports, the delivered files
/// and the copy of the last delivery are their owner's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_sync_leaves_on_disk_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    let extra = format!("[files]\ndir = {:?}\n", out.path().display().to_string());
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let synced = flexsync::run::sync_and_report(&rig.config, Allowance::default()).await;
    let result = synced.result.unwrap();
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let folder = rig.config_path.parent().unwrap();
    let mut checked = Vec::new();
    let mut check = |path: std::path::PathBuf| {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", path.display(), mode & 0o777);
        checked.push(path);
    };
    if !on_postgres() {
        check(folder.join("flexsync.db"));
    }
    for dir in [
        rig.config.report_dir.clone(),
        out.path().to_path_buf(),
        rig.config.files.as_ref().unwrap().last_delivery_dir.clone(),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            check(entry.unwrap().path());
        }
    }
    check(rig.config.report_dir.clone());
    // Two reports, two delivered files, their two copies, the store (a SQLite file) and the
    // report folder.
    let store_files = usize::from(!on_postgres());
    assert_eq!(checked.len(), 7 + store_files, "{checked:?}");
}
