//! What is synced, by configuration: configured values with transforms over SCIM and in the
//! users file, built-ins taken from other sources, and scoping rules.

use serde_json::json;

use flexsync::run::Outcome;
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;

use crate::support::*;

/// The row of `external_id` in a CSV file, by header name.
fn csv_row(text: &str, external_id: &str) -> std::collections::BTreeMap<String, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| r.get(0) == Some(external_id))
        .unwrap_or_else(|| panic!("no row for {external_id} in\n{text}"));
    header
        .into_iter()
        .zip(row.iter().map(String::from))
        .collect()
}

const VALUES: &str = r#"
[[mapping.values]]
field = "Employment.EmploymentNumber"
transforms = ["lower", { concat = [{ field = "Country" }], separator = "-" }, "upper"]
attribute = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
column = "Anställningsnummer"

[[mapping.values]]
dimension = "Kontor"
part = "name"
transforms = [{ replace = "^Upp(.*)$", with = "Ö${1}" }, "upper", "title"]
attribute = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

[[mapping.values]]
period = "FromDate"
transforms = [{ date = "%d/%m/%Y" }]
column = "Start"

[[mapping.values]]
period = "Title"
transforms = ["trim"]
column = "Titel"

[[mapping.values]]
field = "Region"
transforms = [{ default = "okänd" }, "upper"]
column = "Region"

[[mapping.values]]
constant = "Sverige"
column = "Land"

[[mapping.values]]
field = "Gender"
transforms = [{ map = { "1" = "Female", "2" = "Male" }, default = "None" }]
builtin = "gender"

[[mapping.values]]
field = "EmailWork"
transforms = [{ replace = "@example\\.se$", with = "@ekdala.se" }]
builtin = "user_name"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_values_with_each_transform_reach_scim_and_the_users_file() {
    let mut doc = example();
    periods_mut(&mut doc, SARA)[0]["Title"] = json!("  Ekonom ");
    let out = tempfile::tempdir().unwrap();
    let extra = format!(
        "[files]\ndir = {:?}\n{VALUES}",
        out.path().display().to_string()
    );
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());

    let sara = rig.user(SARA);
    assert_eq!(sara["userName"], "sara.nilsson@ekdala.se");
    assert_eq!(
        sara[WT]["gender"], "Male",
        "Flex 2 mapped by the customer's table"
    );
    assert_eq!(sara[ENTERPRISE]["employeeNumber"], "A1-SE");
    assert_eq!(sara[ENTERPRISE]["department"], "Ösala");
    assert_eq!(rig.user(JOHAN)[WT]["gender"], "Female");

    let users = std::fs::read_to_string(out.path().join("wt_users.csv")).unwrap();
    let row = csv_row(&users, SARA);
    assert_eq!(row["Username"], "sara.nilsson@ekdala.se");
    assert_eq!(row["Gender"], "Male");
    assert_eq!(row["Anställningsnummer"], "A1-SE");
    assert_eq!(row["Start"], "01/01/2020");
    assert_eq!(row["Titel"], "Ekonom");
    assert_eq!(row["Region"], "OKÄND");
    assert_eq!(row["Land"], "Sverige");
    let header = users.lines().next().unwrap();
    assert!(
        !header.contains("urn:ietf:params:scim"),
        "a value with an attribute target gets a column only where one is named: {header}"
    );
    assert_eq!(
        csv_row(&users, JOHAN)["Titel"],
        "",
        "Johan's period has no title"
    );

    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
}

const SCOPE: &str = r#"
[[scope.exclude]]
field = "Employment.EmploymentType"
equals = ["Timanställd"]

[[scope.exclude]]
dimension = "Avdelning"
code = ["990"]

[[scope.include]]
field = "EmailWork"
matches = "@example\\.se$"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_leaving_the_scope_is_paused_and_named_with_the_rule() {
    let mut doc = example();
    let outsider = test_id(1);
    add_employee(
        &mut doc,
        &outsider,
        "Olle",
        "Utsida",
        Some("olle@konsult.se"),
        None,
        "2021-01-01",
    );
    let out = tempfile::tempdir().unwrap();
    let extra = format!(
        "[files]\ndir = {:?}\n{SCOPE}",
        out.path().display().to_string()
    );
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    assert!(find(&rig.users(), &outsider).is_none(), "not included");
    assert!(
        find(&rig.users(), ALI).is_none(),
        "ali.hassan@partner.example is not included"
    );
    assert_eq!(rig.user(JOHAN)["active"], true);

    // Johan becomes an hourly worker and Maria moves to department 990.
    employee_mut(&mut doc, JOHAN)["Employment"]["EmploymentType"] = json!("Timanställd");
    let maria_department = doc["EmploymentDefaultAccounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["EmployeeId"] == MARIA && a["AccountCode"] == "20")
        .unwrap();
    maria_department["AccountCode"] = json!("990");
    maria_department["AccountId"] = json!(null);
    let avdelning = doc["AccountDistributions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["Name"] == "Avdelning")
        .unwrap();
    avdelning["Accounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Id": "acc-990", "Code": "990", "Name": "Avvecklas", "ActiveFromDate": "2015-01-01T00:00:00", "ActiveTomDate": null}));
    rig.set_flex(&doc);

    let second = rig.sync().await;
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    assert_eq!(rig.user(JOHAN)["active"], false);
    assert_eq!(rig.user(MARIA)["active"], false);
    assert_eq!(rig.user(SARA)["active"], true);
    let users = std::fs::read_to_string(out.path().join("wt_users.csv")).unwrap();
    assert_eq!(csv_row(&users, JOHAN)["Active"], "false", "{users}");
    assert_eq!(csv_row(&users, JOHAN)["FirstName"], "Johan");
    assert_eq!(csv_row(&users, MARIA)["Active"], "false");
    assert_eq!(csv_row(&users, SARA)["Active"], "true");
    assert!(
        !users.contains(&outsider),
        "never in scope, never in the file: {users}"
    );
    let pause = |who: &str| {
        second
            .report
            .changes
            .iter()
            .find(|c| c.external_id.as_str() == who && c.action.as_str() == "pause")
            .unwrap_or_else(|| panic!("no pause of {who}: {}", second.report.render()))
            .clone()
    };
    let johan = pause(JOHAN);
    assert_eq!(johan.reason, "out of scope: scope.exclude[1]");
    assert!(
        second
            .report
            .render()
            .contains("(1 active, 4 out of scope)"),
        "{}",
        second.report.render()
    );
    assert_eq!(johan.name, "Johan Karlsson");
    assert_eq!(pause(MARIA).reason, "out of scope: scope.exclude[2]");
    assert!(
        second
            .report
            .render()
            .contains("out of scope: scope.exclude[1]"),
        "{}",
        second.report.render()
    );
    let config = rig.config_path.to_str().unwrap().to_string();
    let explained = flexsync_bin(&["explain", "--config", &config, "Johan Karlsson"]).await;
    assert!(
        output_text(&explained)
            .contains("desired:  not a Winningtemp user: out of scope (scope.exclude[1])"),
        "{}",
        output_text(&explained)
    );
    // Someone never in scope has no account, and is found by name or email all the same.
    for who in ["Olle Utsida", "olle@konsult.se"] {
        let explained = flexsync_bin(&["explain", "--config", &config, who]).await;
        let text = output_text(&explained);
        assert!(
            text.contains(&format!("\nOlle Utsida <olle@konsult.se> ({outsider})\n")),
            "{who}: {text}"
        );
        assert!(text.contains("out of scope (scope.include)"), "{text}");
    }
    let checked = flexsync_bin(&["check", "--config", &config]).await;
    assert!(
        output_text(&checked).contains(
            "the scoping rules leave 4 of 5 Flex records out (scope.exclude[1]: 1, \
             scope.exclude[2]: 1, scope.include: 2)"
        ),
        "{}",
        output_text(&checked)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_pauses_count_against_the_deactivation_guard_but_not_the_source_drop_guard() {
    let mut doc = example();
    add_staff(&mut doc, 20);
    let rig = Rig::with(&doc, scim_options(Profile::Extended), Faults::default(), "").await;
    rig.sync().await;
    let mut rig = rig;
    let text = std::fs::read_to_string(&rig.config_path).unwrap();
    let rule = "[[scope.exclude]]\nfield = \"LastName\"\nmatches = \"^Number\"\n";
    std::fs::write(&rig.config_path, format!("{text}{rule}")).unwrap();
    rig.config = flexsync::config::Config::load(&rig.config_path).unwrap();

    let refused = rig.sync().await;
    assert_eq!(
        refused.outcome,
        Outcome::Refused,
        "{}",
        refused.report.render()
    );
    let text = refused.report.render();
    assert!(
        text.contains("REFUSED by guard deactivations: 20 users would be paused"),
        "{text}"
    );
    assert!(
        text.contains("24 Flex records"),
        "counted before scoping: {text}"
    );
    assert!(!text.contains("source_drop"), "no source drop: {text}");
    assert_eq!(rig.user(&test_id(1))["active"], true);
}

/// `check` shows the effective mapping: every built-in and configured value with its source,
/// how many employees get a value, and examples with personal ones masked; a source the data
/// lacks is a problem naming its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_the_effective_mapping_with_counts_and_masked_examples() {
    let extra = format!(
        "{VALUES}[[mapping.values]]\ndimension = \"Avdelningar\"\ncolumn = \"Avd\"\n\
         [[mapping.values]]\nfield = \"FirstName\"\ntransforms = [{{ concat = [{{ field = \
         \"LastName\" }}], separator = \".\" }}, \"lower\"]\ncolumn = \"Alias\"\n\
         [[mapping.values]]\nfield = \"City\"\nattribute = \"urn:example:Unknown:city\"\n"
    );
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync_bin(&["check", "--config", &config]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(
            "mapping.values[11]: the SCIM server does not advertise urn:example:Unknown:city: its \
             values will not be sent"
        ),
        "{stdout}"
    );
    for line in [
        "  user_name <- field EmailWork, 1 transform(s): 4 of 4; e.g. a********, j********, s********",
        "  gender <- field Gender, 1 transform(s): 4 of 4; e.g. Female, Male",
        "  given_name <- field FirstName: 4 of 4; e.g. A**, J****, S***",
        "  birth_date <- field DateOfBirth: 4 of 4; e.g. 1********, 1********, 1********",
        "  mapping.values[1] <- field Employment.EmploymentNumber, 3 transform(s) -> attribute urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber, column Anställningsnummer: 4 of 4; e.g. A",
        "  mapping.values[2] <- dimension Kontor (name), 3 transform(s) -> attribute urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department: 4 of 4; e.g. Ösala",
        "  mapping.values[4] <- period Title, 1 transform(s) -> column Titel: 0 of 4",
        "  mapping.values[5] <- field Region, 2 transform(s) -> column Region: 4 of 4; e.g. OKÄND",
        "  mapping.values[6] <- constant \"Sverige\" -> column Land: 4 of 4; e.g. Sverige",
        "! mapping.values[9]: company 100 Exempel AB has no dimension named 'Avdelningar'",
        "! mapping.values[5]: no employee has a value in a field named 'Region'",
        "! mapping.values[4]: no employment period has a value in a field named 'Title'",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("sara.nilsson"), "{stdout}");
    // A configured value made of names is masked like the built-ins.
    let alias = stdout
        .lines()
        .find(|l| l.contains("mapping.values[10] <- field FirstName"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        alias.ends_with("e.g. a********, j********, s********"),
        "{alias}"
    );
    assert!(!stdout.contains("1981-02-14"), "{stdout}");
}

const SECOND_COMPANY: &str = "0c0c0c0c-2222-4333-8444-000000000200";

/// Adds company 200 "Dotter AB" and a record there for Sara (`id`), with her email or another
/// one, her employment number, and one period from `from` (to `to`).
fn sara_in_second_company(
    doc: &mut serde_json::Value,
    id: &str,
    email: &str,
    from: &str,
    to: Option<&str>,
) {
    doc["Companies"].as_array_mut().unwrap().push(json!({
        "Id": SECOND_COMPANY, "CompanyNumber": 200, "Name": "Dotter AB",
        "OrganizationNumber": "556000-0200"
    }));
    let mut record = employee_mut(doc, SARA).clone();
    record["Id"] = json!(id);
    record["CompanyId"] = json!(SECOND_COMPANY);
    record["EmailWork"] = json!(email);
    doc["Employees"].as_array_mut().unwrap().push(record);
    add_period(doc, id, from, to);
    let periods = doc["EmploymentPeriods"].as_array_mut().unwrap();
    periods.last_mut().unwrap()["CompanyId"] = json!(SECOND_COMPANY);
}

fn same_person_finding(
    result: &flexsync::run::RunResult,
    record: &str,
) -> flexsync_core::finding::Finding {
    result
        .desired
        .findings
        .iter()
        .find(|f| f.record == record && f.kind == "same_person")
        .unwrap_or_else(|| {
            panic!(
                "no same_person finding for {record}: {:?}",
                result.desired.findings
            )
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_two_companies_is_one_user_by_the_configured_rule() {
    let second = test_id(1);
    let mut doc = example();
    sara_in_second_company(
        &mut doc,
        &second,
        "Sara.Nilsson@example.se",
        "2024-01-01",
        None,
    );

    // Default: both employments cover the day, the latest start wins.
    let rig = Rig::start(&doc, Profile::Extended).await;
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let saras: Vec<_> = rig
        .users()
        .into_iter()
        .filter(|u| u["userName"] == "sara.nilsson@example.se")
        .collect();
    assert_eq!(saras.len(), 1, "{saras:?}");
    assert_eq!(saras[0]["externalId"], second.as_str());
    let found = same_person_finding(&result, SARA);
    assert_eq!(found.name.as_deref(), Some("Sara Nilsson"));
    assert_eq!(
        found.action,
        "skipped; the record in company 200 Dotter AB is synced (companies.prefer = \
         \"current_employment\": it started latest)"
    );
    assert_eq!(
        result
            .desired
            .findings
            .iter()
            .filter(|f| f.kind == "same_person")
            .count(),
        1,
        "reported once"
    );

    // A company order decides instead.
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        "[companies]\nprefer = [100]\n",
    )
    .await;
    let result = rig.sync().await;
    assert_eq!(rig.user(SARA)["userName"], "sara.nilsson@example.se");
    assert!(find(&rig.users(), &second).is_none());
    assert!(
        same_person_finding(&result, &second)
            .action
            .ends_with("(companies.prefer = [100]: its company comes first)"),
        "{:?}",
        same_person_finding(&result, &second)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_employment_number_in_two_companies_is_one_person_when_configured() {
    let second = test_id(1);
    let mut doc = example();
    sara_in_second_company(&mut doc, &second, "sara@dotter.se", "2024-01-01", None);

    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    assert!(
        find(&rig.users(), &second).is_some(),
        "by email alone these are two people"
    );

    let extra = "[companies]\nsame_person = [\"email\", \"employment_number\"]\nprefer = [\"Exempel AB\"]\n";
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    let result = rig.sync().await;
    assert!(find(&rig.users(), &second).is_none());
    assert_eq!(rig.user(SARA)["active"], true);
    let found = same_person_finding(&result, &second);
    assert!(
        found.problem.contains("EmploymentNumber 'A1' on both"),
        "{}",
        found.problem
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_moving_between_configured_companies_keeps_their_account() {
    let moved = test_id(1);
    let mut doc = example();
    sara_in_second_company(
        &mut doc,
        &moved,
        "sara.nilsson@example.se",
        "2026-11-01",
        None,
    );
    let mut before = doc.clone();
    remove_employee(&mut before, &moved);
    let rig = Rig::start(&before, Profile::Extended).await;
    rig.sync().await;
    let account = rig.user(SARA)["id"].clone();

    periods_mut(&mut doc, SARA)[0]["ToDate"] = json!("2026-10-31T00:00:00");
    rig.set_flex(&doc);
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let sara = rig.user(&moved);
    assert_eq!(sara["id"], account, "the same account");
    assert_eq!(sara["active"], true);
    assert!(
        same_person_finding(&result, SARA)
            .action
            .contains("its employment covers the day"),
        "{:?}",
        same_person_finding(&result, SARA)
    );
}

const SEGMENTS: &str = r#"
[[segments]]
name = "Avdelning"
dimension = "Avdelning"

[[segments]]
name = "Land"
field = "Country"
transforms = [{ map = { SE = "Sverige" } }]
column = "Segment Land"

[[segments]]
name = "Region"
field = "Region"
"#;

/// Segments: one value per user and category, stable ids (a renamed account keeps its id),
/// delivered as `wt_segments.csv` plus a column per category, and over SCIM where the server
/// advertises the segments attribute; empty values are reported per category.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_reach_the_files_and_scim_with_stable_ids() {
    let mut doc = example();
    employee_mut(&mut doc, ALI)["Country"] = json!(null);
    let out = tempfile::tempdir().unwrap();
    let extra = format!(
        "[files]\ndir = {:?}\n{SEGMENTS}",
        out.path().display().to_string()
    );
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());

    let segments = std::fs::read_to_string(out.path().join("wt_segments.csv")).unwrap();
    assert_eq!(
        segments,
        "ExternalId;Category;Name\n\
         seg:avdelning=10;Avdelning;Ledning\n\
         seg:avdelning=20;Avdelning;Utveckling\n\
         seg:land=sverige;Land;Sverige\n"
    );
    let users = std::fs::read_to_string(out.path().join("wt_users.csv")).unwrap();
    let sara = csv_row(&users, SARA);
    assert_eq!(sara["Avdelning"], "seg:avdelning=10");
    assert_eq!(sara["Segment Land"], "seg:land=sverige");
    assert_eq!(csv_row(&users, ALI)["Segment Land"], "");

    let over_scim = &rig.user(SARA)[WT]["segments"];
    assert!(
        over_scim.as_array().unwrap().contains(
            &json!({"category": "Avdelning", "value": "Ledning", "externalId": "seg:avdelning=10"})
        ),
        "{over_scim}"
    );

    let empty: Vec<_> = first
        .desired
        .findings
        .iter()
        .filter(|f| f.kind == "segment_empty")
        .collect();
    assert_eq!(empty.len(), 2, "{empty:?}");
    let land = empty.iter().find(|f| f.field == "Land").unwrap();
    assert!(
        land.problem
            .starts_with("1 user(s) have no value for segment 'Land'"),
        "{}",
        land.problem
    );
    assert!(
        land.problem.contains("Ali Hassan"),
        "named: {}",
        land.problem
    );
    let region = empty.iter().find(|f| f.field == "Region").unwrap();
    assert!(
        region.problem.starts_with("4 user(s)"),
        "{}",
        region.problem
    );

    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
    let read = flexsync::run::Ends::connect(&rig.config)
        .unwrap()
        .flex
        .read()
        .await
        .unwrap();
    let uses = flexsync_core::map::effective::effective_mapping(
        &read.snapshot,
        &rig.config.mapping,
        TODAY,
    );
    let land = uses.iter().find(|u| u.name == "segments[2]").unwrap();
    assert_eq!((land.with_value, land.in_scope), (3, 4));
    assert_eq!(land.targets, ["segment Land"]);

    // The account "Ledning" is renamed: its segment keeps its id, the name follows.
    let accounts = doc["AccountDistributions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["Name"] == "Avdelning")
        .unwrap()["Accounts"]
        .as_array_mut()
        .unwrap();
    let ledning = accounts.iter_mut().find(|a| a["Code"] == "10").unwrap();
    ledning["Name"] = json!("Ledningsgrupp");
    rig.set_flex(&doc);
    let renamed = rig.sync().await;
    let segments = std::fs::read_to_string(out.path().join("wt_segments.csv")).unwrap();
    assert!(
        segments.contains("seg:avdelning=10;Avdelning;Ledningsgrupp\n"),
        "{segments}"
    );
    let update = renamed
        .report
        .changes
        .iter()
        .find(|c| c.external_id.as_str() == SARA)
        .unwrap_or_else(|| panic!("{}", renamed.report.render()));
    assert!(
        update
            .attribute_lines()
            .iter()
            .any(|l| l.contains("Ledningsgrupp")),
        "{:?}",
        update.attribute_lines()
    );
}

/// `plan --on` shows what a sync on a later day would do: a leaver whose employment ends, a
/// starter who begins, and someone a dated move takes out of scope; read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_on_a_later_day_shows_starters_leavers_and_scope_changes_dated_ahead() {
    let mut doc = example();
    let extra = "[[scope.exclude]]\ndimension = \"Avdelning\"\ncode = [\"990\"]\n";
    let avdelning = doc["AccountDistributions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["Name"] == "Avdelning")
        .unwrap();
    avdelning["Accounts"].as_array_mut().unwrap().push(json!({
        "Id": "acc-990", "Code": "990", "Name": "Avvecklas",
        "ActiveFromDate": "2015-01-01T00:00:00", "ActiveTomDate": null
    }));
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    rig.sync().await;

    periods_mut(&mut doc, JOHAN)[0]["ToDate"] = json!("2027-01-15T00:00:00");
    let starter = test_id(1);
    add_employee(
        &mut doc,
        &starter,
        "Nils",
        "Nykomling",
        Some("nils@example.se"),
        Some(SARA),
        "2027-02-01",
    );
    let defaults = doc["EmploymentDefaultAccounts"].as_array_mut().unwrap();
    let current = defaults
        .iter_mut()
        .find(|a| a["EmployeeId"] == MARIA && a["AccountCode"] == "20")
        .unwrap();
    current["TomDate"] = json!("2027-01-31T00:00:00");
    let mut moved = current.clone();
    moved["Id"] = json!("dflt-990");
    moved["AccountId"] = json!("acc-990");
    moved["AccountCode"] = json!("990");
    moved["FromDate"] = json!("2027-02-01T00:00:00");
    moved["TomDate"] = json!(null);
    defaults.push(moved);
    rig.set_flex(&doc);

    let now = rig
        .run(flexsync::run::Mode::Plan, Default::default())
        .await
        .unwrap();
    let kinds: Vec<&str> = now
        .plan
        .steps
        .iter()
        .map(|s| s.operation.kind().as_str())
        .collect();
    assert_eq!(
        kinds,
        ["update"],
        "only Johan's end date is known on {TODAY}"
    );

    let config = rig.config_path.to_str().unwrap().to_string();
    let before = rig.scim.writes();
    let out = flexsync_bin(&["plan", "--config", &config, "--on", "2027-02-01"]).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("plan for 2027-02-01 (today is "), "{text}");
    let line = |who: &str| {
        text.lines()
            .find(|l| {
                l.contains(who) && l.contains("pause") || l.contains(who) && l.contains("create")
            })
            .unwrap_or_else(|| panic!("nothing for {who} in\n{text}"))
            .to_string()
    };
    assert!(
        line("Johan Karlsson").contains("no employment period covers"),
        "{text}"
    );
    assert!(
        line("Maria Andersson").contains("out of scope: scope.exclude[1]"),
        "{text}"
    );
    assert!(line("Nils Nykomling").contains("create"), "{text}");
    assert_eq!(rig.scim.writes(), before, "plan --on writes nothing");

    let bad = flexsync_bin(&["plan", "--config", &config, "--on", "1 feb"]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", output_text(&bad));
    assert!(
        output_text(&bad).contains("\"1 feb\" is not a day as YYYY-MM-DD"),
        "{}",
        output_text(&bad)
    );
}

/// Matched by employment number, a person whose work email changes with the company keeps
/// their account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_moving_with_a_new_email_keeps_their_account_when_matched_by_employment_number() {
    let moved = test_id(1);
    let mut doc = example();
    sara_in_second_company(&mut doc, &moved, "sara@dotter.se", "2026-11-01", None);
    let mut before = doc.clone();
    remove_employee(&mut before, &moved);
    let extra = "[companies]\nsame_person = [\"email\", \"employment_number\"]\n";
    let rig = Rig::with(
        &before,
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    rig.sync().await;
    let account = rig.user(SARA)["id"].clone();

    periods_mut(&mut doc, SARA)[0]["ToDate"] = json!("2026-10-31T00:00:00");
    rig.set_flex(&doc);
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let sara = rig.user(&moved);
    assert_eq!(sara["id"], account, "the same account");
    assert_eq!(sara["userName"], "sara@dotter.se");
    assert_eq!(sara["active"], true);
    let adopted = result
        .report
        .changes
        .iter()
        .find(|c| c.external_id.as_str() == moved)
        .unwrap_or_else(|| panic!("{}", result.report.render()));
    assert!(
        adopted.reason.starts_with("moved between companies: "),
        "{}",
        adopted.reason
    );
    let saras = rig
        .users()
        .into_iter()
        .filter(|u| u["name"]["givenName"] == "Sara")
        .count();
    assert_eq!(saras, 1);
}

/// `check` notes an exclusion that leaves no one out (a misspelt value, most likely, or nothing
/// to do yet), and names as problems an inclusion of a company that is not read (so no one is
/// in scope) and a preferred company that is not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_notes_a_scope_rule_that_matches_no_one_and_an_unknown_preferred_company() {
    let extra = "[[scope.exclude]]\nfield = \"City\"\nequals = [\"Uppsalla\"]\n\n\
                 [[scope.include]]\ncompany = [\"Exempel\"]\n\n\
                 [companies]\nprefer = [9999]\n";
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync_bin(&["check", "--config", &config]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    for expected in [
        "  - scope.exclude[1] matches no Flex record ('Uppsalla'): check its values",
        "  ! scope.include[1]: company 'Exempel' is none of the companies read (by name, number \
         or id): 100 Exempel AB",
        "  ! scope.include[1]: matches no Flex record, so no one it names is synced",
        "  ! scope: the scoping rules leave all 4 Flex records out: no one would be synced",
    ] {
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
    }
    assert!(
        stdout.contains("! companies.prefer: '9999' is not one of the companies read"),
        "{stdout}"
    );
}
