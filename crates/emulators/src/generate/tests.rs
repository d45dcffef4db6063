//! Tests of the generator and of a week of changes, against the document as JSON.

use super::day::{Day, day_part};
use super::names::COMPANIES;
use super::org::MAX_SPAN;
use super::people::unique_email;
use super::*;
use jiff::civil::date;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const TODAY: Date = date(2025, 6, 16);

fn options(employees: usize, seed: u64) -> GenerateOptions {
    GenerateOptions {
        employees,
        seed,
        today: TODAY,
        companies: None,
    }
}

fn items<'a>(document: &'a Value, key: &str) -> &'a Vec<Value> {
    document[key].as_array().expect(key)
}

fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

fn today() -> String {
    Day::from_date(TODAY).text()
}

/// Employee id -> its periods as (from, to) `YYYY-MM-DD` texts, in document order.
fn periods(document: &Value) -> BTreeMap<String, Vec<(String, Option<String>)>> {
    let mut out: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for p in items(document, "EmploymentPeriods") {
        out.entry(s(p, "EmployeeId").to_string())
            .or_default()
            .push((
                day_part(s(p, "FromDate")).to_string(),
                p["ToDate"].as_str().map(|t| day_part(t).to_string()),
            ));
    }
    out
}

fn active_ids(document: &Value) -> BTreeSet<String> {
    let today = today();
    periods(document)
        .into_iter()
        .filter(|(_, ps)| {
            ps.iter()
                .any(|(f, t)| *f <= today && t.as_ref().is_none_or(|t| *t >= today))
        })
        .map(|(id, _)| id)
        .collect()
}

/// Checks the manager tree of every company and returns the largest span of control.
fn check_tree(document: &Value) -> usize {
    let employees = items(document, "Employees");
    let by_id: BTreeMap<&str, &Value> = employees.iter().map(|e| (s(e, "Id"), e)).collect();
    assert_eq!(by_id.len(), employees.len(), "employee ids are unique");
    let mut tops: BTreeMap<&str, usize> = BTreeMap::new();
    let mut spans: BTreeMap<&str, usize> = BTreeMap::new();
    for e in employees {
        match e["ImmediateManagerEmployeeId"].as_str() {
            None => *tops.entry(s(e, "CompanyId")).or_default() += 1,
            Some(m) => {
                let manager = by_id.get(m).unwrap_or_else(|| panic!("manager {m} exists"));
                assert_eq!(s(manager, "CompanyId"), s(e, "CompanyId"), "same company");
                *spans.entry(m).or_default() += 1;
            }
        }
        let mut current = e;
        let mut steps = 0;
        while let Some(m) = current["ImmediateManagerEmployeeId"].as_str() {
            current = by_id[m];
            steps += 1;
            assert!(steps <= employees.len(), "cycle above {}", s(e, "Id"));
        }
    }
    let staffed: BTreeSet<&str> = employees.iter().map(|e| s(e, "CompanyId")).collect();
    for company in &staffed {
        assert_eq!(tops.get(company), Some(&1), "one top in {company}");
    }
    assert_eq!(tops.len(), staffed.len());
    spans.values().copied().max().unwrap_or(0)
}

fn normalised(email: &str) -> String {
    email.trim().to_lowercase()
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

fn is_flex_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 19
        && text.ends_with("T00:00:00")
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && text[..4]
            .chars()
            .chain(text[5..7].chars())
            .chain(text[8..10].chars())
            .all(|c| c.is_ascii_digit())
}

#[test]
fn same_seed_gives_the_same_document_and_another_seed_another() {
    let first = serde_json::to_string(&generate(&options(300, 42))).unwrap();
    let again = serde_json::to_string(&generate(&options(300, 42))).unwrap();
    let other = generate(&options(300, 43));
    assert_eq!(first, again);
    assert_ne!(first, serde_json::to_string(&other).unwrap());
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_ne!(
        items(&first, "Employees")[0]["Id"],
        items(&other, "Employees")[0]["Id"]
    );
}

#[test]
fn company_count_follows_the_size_rule() {
    let count = |employees, companies| {
        GenerateOptions {
            employees,
            seed: 1,
            today: TODAY,
            companies,
        }
        .company_count()
    };
    assert_eq!(count(0, None), 1);
    assert_eq!(count(1500, None), 1);
    assert_eq!(count(4499, None), 1);
    assert_eq!(count(4500, None), 2);
    assert_eq!(count(10_000, None), 3);
    assert_eq!(count(100_000, None), 4);
    assert_eq!(count(10, Some(0)), 1);
    assert_eq!(count(10, Some(3)), 3);
    let document = generate(&options(6000, 5));
    let numbers: Vec<i64> = items(&document, "Companies")
        .iter()
        .map(|c| c["CompanyNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1010, 1020]);
    check_tree(&document);
}

#[test]
fn the_mix_of_employees_is_roughly_as_specified_for_2000() {
    let today = today();
    let year_ago = Day::from_date(TODAY).plus(-365).text();
    let in_60_days = Day::from_date(TODAY).plus(60).text();
    let mut variants = 0;
    for seed in [1, 2, 3] {
        let document = generate(&options(2000, seed));
        let employees = items(&document, "Employees");
        assert_eq!(employees.len(), 2000);
        assert_eq!(items(&document, "Companies").len(), 1);
        let periods = periods(&document);
        let (mut leavers, mut future, mut rehires) = (0, 0, 0);
        for ps in periods.values() {
            let ended = |t: &Option<String>| t.as_ref().is_some_and(|t| *t < today);
            match ps.as_slice() {
                [(_, to)] if ended(to) && to.as_deref() >= Some(year_ago.as_str()) => leavers += 1,
                [(from, None)] if *from > today && *from <= in_60_days => future += 1,
                [(_, Some(end)), (start, None)] if *end < *start && *start <= today => rehires += 1,
                [(from, None)] => assert!(*from <= today),
                other => panic!("unexpected periods {other:?}"),
            }
        }
        assert_eq!(periods.len(), 2000, "everyone has periods");
        assert!((60..=100).contains(&leavers), "leavers {leavers}");
        assert!((30..=50).contains(&future), "future starters {future}");
        assert!((14..=26).contains(&rehires), "rehires {rehires}");

        let count = |f: &dyn Fn(&Value) -> bool| employees.iter().filter(|e| f(e)).count();
        let externals = count(&|e| e["Employment"]["EmploymentType"] == 1);
        assert!((45..=75).contains(&externals), "externals {externals}");
        let men_and_women = count(&|e| e["Gender"] == 1 || e["Gender"] == 2);
        let unknown = count(&|e| e["Gender"] == 0);
        let null = count(&|e| e["Gender"].is_null());
        assert!(men_and_women >= 1900, "genders 1 and 2: {men_and_women}");
        assert!((20..=90).contains(&unknown), "gender 0: {unknown}");
        assert!((2..=25).contains(&null), "gender null: {null}");
        assert!(count(&|e| e["Gender"] == 1) > 800 && count(&|e| e["Gender"] == 2) > 800);

        let missing = count(&|e| e["EmailWork"].is_null());
        assert!((5..=20).contains(&missing), "missing email {missing}");
        let mut by_address: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for e in employees {
            if let Some(address) = e["EmailWork"].as_str() {
                by_address
                    .entry(normalised(address))
                    .or_default()
                    .push(address);
            }
        }
        let shared: Vec<&Vec<&str>> = by_address.values().filter(|a| a.len() > 1).collect();
        assert!(
            (3..=20).contains(&shared.len()),
            "duplicates {}",
            shared.len()
        );
        variants += shared
            .iter()
            .flat_map(|a| a.iter())
            .filter(|a| normalised(a) != **a)
            .count();

        let company = s(&items(&document, "Companies")[0], "Name");
        let domain = COMPANIES.iter().find(|c| c.name == company).unwrap().domain;
        let domain = format!("@{domain}");
        let mut numbers = BTreeSet::new();
        for e in employees {
            let birth = s(e, "DateOfBirth");
            assert!(
                ("1960-01-01".."2006-01-01").contains(&birth),
                "born {birth}"
            );
            assert!(!s(e, "City").is_empty() && s(e, "Country") == "SE");
            assert_eq!(e["IsInAuditProcess"], false);
            assert!(numbers.insert(s(&e["Employment"], "EmploymentNumber").to_string()));
            if let Some(address) = e["EmailWork"].as_str() {
                let address = normalised(address);
                assert!(address.ends_with(&domain), "{address}");
                assert!(
                    address
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-@".contains(c)),
                    "{address}"
                );
            }
        }
    }
    assert!(variants > 0, "some duplicates differ in case or spaces");
}

#[test]
fn the_manager_tree_has_one_top_per_company_and_spans_within_ten() {
    for (employees, companies) in [(2000, None), (5000, None), (300, Some(3)), (57, None)] {
        let document = generate(&GenerateOptions {
            employees,
            seed: 9,
            today: TODAY,
            companies,
        });
        let span = check_tree(&document);
        assert!((3..=MAX_SPAN).contains(&span), "largest span {span}");
    }
}

#[test]
fn managers_mostly_sit_with_their_reports() {
    let document = generate(&options(2000, 4));
    let employees = items(&document, "Employees");
    let office_and_department = place_by_employee(&document);
    let by_id: BTreeMap<&str, &Value> = employees.iter().map(|e| (s(e, "Id"), e)).collect();
    let (mut same_office, mut same_department, mut reports) = (0, 0, 0);
    let mut spans: BTreeMap<&str, usize> = BTreeMap::new();
    for e in employees {
        if let Some(m) = e["ImmediateManagerEmployeeId"].as_str() {
            reports += 1;
            *spans.entry(m).or_default() += 1;
            let mine = &office_and_department[s(e, "Id")];
            let theirs = &office_and_department[s(by_id[m], "Id")];
            same_office += usize::from(mine.get("Kontor") == theirs.get("Kontor"));
            same_department += usize::from(mine.get("Avdelning") == theirs.get("Avdelning"));
        }
    }
    assert!(
        same_office * 100 >= reports * 95,
        "{same_office} of {reports} share an office"
    );
    assert!(
        same_department * 100 >= reports * 80,
        "{same_department} of {reports} share a department"
    );
    let typical = spans.values().filter(|&&n| (3..=10).contains(&n)).count();
    assert!(
        typical * 100 >= spans.len() * 70,
        "{typical} of {} spans in 3-10",
        spans.len()
    );
}

/// Employee id -> dimension name -> account code.
fn place_by_employee(document: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let names: BTreeMap<&str, &str> = items(document, "AccountDistributions")
        .iter()
        .map(|d| (s(d, "Id"), s(d, "Name")))
        .collect();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in items(document, "EmploymentDefaultAccounts") {
        if row["TomDate"].is_null() {
            let previous = out
                .entry(s(row, "EmployeeId").to_string())
                .or_default()
                .insert(
                    names[s(row, "AccountDistributionId")].to_string(),
                    s(row, "AccountCode").to_string(),
                );
            assert!(previous.is_none(), "one open row per dimension");
        }
    }
    out
}

#[test]
fn dimensions_repeat_department_names_under_offices_with_unique_codes() {
    let document = generate(&options(2000, 6));
    let employees = items(&document, "Employees");
    let company = s(&items(&document, "Companies")[0], "Id");
    let dimensions = items(&document, "AccountDistributions");
    let names: Vec<&str> = dimensions.iter().map(|d| s(d, "Name")).collect();
    assert_eq!(names, ["Kontor", "Avdelning", "Team"]);
    let mut accounts = BTreeMap::new();
    for d in dimensions {
        assert_eq!(s(d, "CompanyId"), company);
        let mut codes = BTreeSet::new();
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for a in items(d, "Accounts") {
            assert!(
                codes.insert(s(a, "Code")),
                "code {} unique in {}",
                s(a, "Code"),
                s(d, "Name")
            );
            *names.entry(s(a, "Name")).or_default() += 1;
            assert!(is_flex_date(s(a, "ActiveFromDate")) && a["ActiveTomDate"].is_null());
            accounts.insert((s(d, "Id"), s(a, "Id")), s(a, "Code"));
        }
        if s(d, "Name") == "Avdelning" {
            let repeated = names.values().filter(|&&n| n >= 2).count();
            assert!(
                repeated >= 3,
                "department names under several offices: {names:?}"
            );
            assert!(
                codes.iter().all(|c| c.parse::<u32>().is_ok()),
                "numeric codes"
            );
        }
        if s(d, "Name") == "Kontor" {
            assert!(
                codes.len() >= 3
                    && codes.contains("STO")
                        | codes.contains("GBG")
                        | codes.contains("MMA")
                        | codes.contains("UPP")
            );
        }
    }

    let periods = periods(&document);
    for row in items(&document, "EmploymentDefaultAccounts") {
        let key = (s(row, "AccountDistributionId"), s(row, "AccountId"));
        assert_eq!(
            accounts.get(&key),
            Some(&s(row, "AccountCode")),
            "row refers to its account"
        );
        let start = &periods[s(row, "EmployeeId")].last().unwrap().0;
        assert_eq!(day_part(s(row, "FromDate")), start);
    }
    let places = place_by_employee(&document);
    let with = |dimension: &str| {
        places
            .values()
            .filter(|p| p.contains_key(dimension))
            .count()
    };
    assert_eq!(with("Kontor"), employees.len());
    let teams = with("Team");
    assert!(
        teams * 100 >= employees.len() * 50 && teams < employees.len(),
        "{teams} in teams"
    );
    let no_department = employees.len() - with("Avdelning");
    assert!(
        (1..=40).contains(&no_department),
        "{no_department} without department"
    );
}

const TOP_KEYS: &[&str] = &[
    "AccountDistributions",
    "ApiUsers",
    "Companies",
    "Employees",
    "EmploymentDefaultAccounts",
    "EmploymentPeriods",
    "Instance",
];
const COMPANY_KEYS: &[&str] = &["CompanyNumber", "Id", "Name", "OrganizationNumber"];
const EMPLOYEE_KEYS: &[&str] = &[
    "City",
    "CompanyId",
    "Country",
    "DateOfBirth",
    "EmailPrivate",
    "EmailWork",
    "Employment",
    "FirstName",
    "Gender",
    "Id",
    "ImmediateManagerEmployeeId",
    "InstanceId",
    "IsInAuditProcess",
    "LastName",
    "Name",
];
const PERIOD_KEYS: &[&str] = &[
    "CompanyId",
    "EmployeeId",
    "EmploymentTypeId",
    "FromDate",
    "Id",
    "InstanceId",
    "TitleId",
    "ToDate",
];
const DIMENSION_KEYS: &[&str] = &["Accounts", "CompanyId", "Id", "Name"];
const ACCOUNT_KEYS: &[&str] = &["ActiveFromDate", "ActiveTomDate", "Code", "Id", "Name"];
const DEFAULT_ACCOUNT_KEYS: &[&str] = &[
    "AccountCode",
    "AccountDistributionId",
    "AccountId",
    "CompanyId",
    "EmployeeId",
    "FromDate",
    "Id",
    "InstanceId",
    "TomDate",
];

/// The keys of an object, sorted, to compare with the lists above.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The parts of the data file as the API documents them: a document that deserialises into
/// these reads as the small example (`crates/testkit/fixtures/flex-small.json`) does.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
struct DataFile {
    instance: String,
    api_users: Vec<ApiUser>,
    companies: Vec<serde_json::Map<String, Value>>,
    employees: Vec<Employee>,
    employment_periods: Vec<serde_json::Map<String, Value>>,
    account_distributions: Vec<serde_json::Map<String, Value>>,
    employment_default_accounts: Vec<serde_json::Map<String, Value>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ApiUser {
    username: String,
    password: String,
    company_ids: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct Employee {
    id: String,
    company_id: String,
    first_name: String,
    last_name: String,
    date_of_birth: String,
    gender: Option<u8>,
    email_work: Option<String>,
    immediate_manager_employee_id: Option<String>,
    is_in_audit_process: bool,
    employment: Employment,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct Employment {
    employment_number: String,
    employment_type: u8,
}

#[test]
fn the_document_has_the_shape_of_the_shared_example() {
    let document = generate(&options(120, 8));
    let file: DataFile = serde_json::from_value(document.clone()).unwrap();
    assert_eq!(file.instance, DEMO_INSTANCE);
    assert_eq!(file.api_users.len(), 1);
    assert_eq!(file.api_users[0].username, DEMO_USERNAME);
    assert_eq!(file.api_users[0].password, DEMO_PASSWORD);
    assert!(file.api_users[0].company_ids.is_none());
    assert_eq!(file.employees.len(), 120);
    let served = crate::flex::FlexData::from_value(document.clone()).unwrap();
    assert_eq!(served.instance, DEMO_INSTANCE);
    assert_eq!(served.employees.len(), 120);
    assert_eq!(served.account_distributions.len(), 3);

    assert_eq!(keys(&document), TOP_KEYS);
    let all = |key: &str| items(&document, key).iter();
    assert!(all("Companies").all(|v| keys(v) == COMPANY_KEYS));
    assert!(all("Employees").all(|v| keys(v) == EMPLOYEE_KEYS));
    assert!(
        all("Employees").all(|v| keys(&v["Employment"]) == ["EmploymentNumber", "EmploymentType"])
    );
    assert!(all("EmploymentPeriods").all(|v| keys(v) == PERIOD_KEYS));
    assert!(all("AccountDistributions").all(|v| keys(v) == DIMENSION_KEYS));
    assert!(
        all("AccountDistributions")
            .flat_map(|d| items(d, "Accounts"))
            .all(|v| keys(v) == ACCOUNT_KEYS)
    );
    assert!(all("EmploymentDefaultAccounts").all(|v| keys(v) == DEFAULT_ACCOUNT_KEYS));

    for e in all("Employees") {
        for key in ["Id", "InstanceId", "CompanyId"] {
            assert!(is_guid(s(e, key)), "{key} {}", e[key]);
        }
        assert!(is_flex_date(s(e, "DateOfBirth")));
        assert_eq!(
            s(e, "Name"),
            format!("{} {}", s(e, "FirstName"), s(e, "LastName"))
        );
    }
    for p in all("EmploymentPeriods") {
        assert!(is_guid(s(p, "Id")) && is_flex_date(s(p, "FromDate")));
        assert!(p["ToDate"].is_null() || is_flex_date(s(p, "ToDate")));
    }
    for c in all("Companies") {
        let number: String = s(c, "OrganizationNumber")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(number.len(), 10);
        let luhn: u32 = number
            .chars()
            .rev()
            .enumerate()
            .map(|(i, d)| {
                let d = d.to_digit(10).unwrap() * if i % 2 == 1 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        assert_eq!(luhn % 10, 0, "organisation number {number}");
    }
}

#[test]
fn tiny_organisations_are_valid() {
    let empty = generate(&options(0, 3));
    assert_eq!(keys(&empty), TOP_KEYS);
    assert_eq!(items(&empty, "Companies").len(), 1);
    assert!(items(&empty, "Employees").is_empty());
    assert!(items(&empty, "EmploymentPeriods").is_empty());
    assert_eq!(items(&empty, "AccountDistributions").len(), 3);
    assert!(!items(&items(&empty, "AccountDistributions")[0], "Accounts").is_empty());

    for employees in 1..=12 {
        for seed in 0..4 {
            let document = generate(&options(employees, seed));
            assert_eq!(items(&document, "Employees").len(), employees);
            check_tree(&document);
            let places = place_by_employee(&document);
            assert_eq!(
                places.values().filter(|p| p.contains_key("Kontor")).count(),
                employees
            );
        }
    }
    for (employees, companies) in [(4, 3), (2, 4), (1, 2)] {
        let document = generate(&GenerateOptions {
            employees,
            seed: 1,
            today: TODAY,
            companies: Some(companies),
        });
        assert_eq!(items(&document, "Companies").len(), companies);
        assert_eq!(items(&document, "Employees").len(), employees);
        check_tree(&document);
    }
}

#[test]
fn email_addresses_are_folded_and_numbered() {
    let mut taken = BTreeSet::new();
    assert_eq!(
        unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
        "asa.oberg@nordvik.se"
    );
    assert_eq!(
        unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
        "asa.oberg2@nordvik.se"
    );
    assert_eq!(
        unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
        "asa.oberg3@nordvik.se"
    );
    assert_eq!(
        unique_email("Désirée", "Sjödén", "x.se", &mut taken),
        "desiree.sjoden@x.se"
    );
    assert_eq!(
        unique_email("Anna-Karin", "Märtensson", "x.se", &mut taken),
        "anna-karin.martensson@x.se"
    );
}

#[test]
fn day_numbers_agree_with_jiff() {
    let mut day = date(1959, 1, 1);
    let first = Day::from_date(day);
    for offset in 0..30_000 {
        assert_eq!(Day(first.0 + offset).text(), day.to_string());
        assert_eq!(Day::from_date(day), Day(first.0 + offset));
        day = day.tomorrow().unwrap();
    }
    assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
    assert_eq!(Day::from_ymd(2024, 2, 29).add_years(1).text(), "2025-02-28");
}

/// Per employee id: the employee record, its periods and its default-account rows.
fn records(document: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in items(document, "Employees") {
        out.entry(s(e, "Id").to_string())
            .or_default()
            .push(e.clone());
    }
    for key in ["EmploymentPeriods", "EmploymentDefaultAccounts"] {
        for row in items(document, key) {
            out.entry(s(row, "EmployeeId").to_string())
                .or_default()
                .push(row.clone());
        }
    }
    out
}

fn subject(sentence: &str) -> Option<&str> {
    sentence
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|word| is_guid(word))
}

#[test]
fn apply_changes_changes_what_it_says() {
    let before = generate(&options(400, 7));
    let mut after = before.clone();
    let said = apply_changes(&mut after, 11, TODAY, 3);
    let mut again = before.clone();
    assert_eq!(
        apply_changes(&mut again, 11, TODAY, 3),
        said,
        "deterministic"
    );
    assert_eq!(again, after);
    assert_eq!(said.len(), 3 + 3 + 5, "{said:#?}");

    let (old, new) = (records(&before), records(&after));
    let changed: BTreeSet<&String> = new
        .keys()
        .filter(|id| old.get(*id) != new.get(*id))
        .collect();
    let subjects: BTreeSet<&str> = said.iter().filter_map(|line| subject(line)).collect();
    assert_eq!(
        subjects.len(),
        said.len() - 1,
        "every sentence but the rename names one employee: {said:#?}"
    );
    assert_eq!(
        changed
            .iter()
            .map(|id| id.as_str())
            .collect::<BTreeSet<_>>(),
        subjects
    );

    let employee = |document: &Value, id: &str| {
        items(document, "Employees")
            .iter()
            .find(|e| s(e, "Id") == id)
            .cloned()
            .unwrap()
    };
    let active_before = active_ids(&before);
    let active_after = active_ids(&after);
    let yesterday = Day::from_date(TODAY).plus(-1).text();
    for line in &said {
        let Some(id) = subject(line) else {
            continue;
        };
        let after_record = employee(&after, id);
        if line.contains(" leaves") {
            assert!(
                active_before.contains(id) && !active_after.contains(id),
                "{line}"
            );
            assert!(line.contains(&yesterday));
        } else if line.contains(" is hired") {
            assert!(!old.contains_key(id) && active_after.contains(id), "{line}");
            let manager = s(&after_record, "ImmediateManagerEmployeeId");
            assert!(line.contains(manager) && active_after.contains(manager));
            assert_eq!(place_by_employee(&after)[id].len(), new[id].len() - 2);
        } else if line.contains("changes surname") {
            let old_name = s(&employee(&before, id), "LastName").to_string();
            assert_ne!(s(&after_record, "LastName"), old_name);
            assert!(line.ends_with(s(&after_record, "LastName")), "{line}");
        } else if line.contains("changes work email") {
            let address = s(&after_record, "EmailWork");
            assert!(line.ends_with(address), "{line}");
            let holders = items(&after, "Employees")
                .iter()
                .filter(|e| e["EmailWork"].as_str().map(normalised) == Some(normalised(address)))
                .count();
            assert_eq!(holders, 1);
        } else if line.contains("new manager") {
            let manager = s(&after_record, "ImmediateManagerEmployeeId");
            assert_ne!(employee(&before, id)["ImmediateManagerEmployeeId"], manager);
            assert!(line.contains(manager));
        } else if line.contains(" moves into ") {
            assert_ne!(
                place_by_employee(&before)[id],
                place_by_employee(&after)[id],
                "{line}"
            );
        } else {
            panic!("unexpected sentence {line}");
        }
    }

    let accounts = |document: &Value| -> Vec<(String, String)> {
        items(document, "AccountDistributions")
            .iter()
            .flat_map(|d| items(d, "Accounts"))
            .map(|a| (s(a, "Code").to_string(), s(a, "Name").to_string()))
            .collect()
    };
    let renamed: Vec<((String, String), (String, String))> = accounts(&before)
        .into_iter()
        .zip(accounts(&after))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(renamed.len(), 1, "{renamed:?}");
    let ((old_code, old_name), (new_code, new_name)) = &renamed[0];
    assert_eq!(old_code, new_code);
    let line = said.iter().find(|l| l.contains("renamed")).unwrap();
    assert!(
        line.contains(old_code.as_str())
            && line.contains(old_name.as_str())
            && line.contains(new_name.as_str()),
        "{line}"
    );

    check_tree(&after);
}

#[test]
fn apply_changes_on_an_empty_document_changes_nothing() {
    let mut document = generate(&options(0, 1));
    let before = document.clone();
    assert!(apply_changes(&mut document, 1, TODAY, 3).is_empty());
    assert_eq!(document, before);
    let mut nothing = Value::Null;
    assert!(apply_changes(&mut nothing, 1, TODAY, 3).is_empty());
}

/// Run with `cargo test -p flexsync-emulators --release -- --ignored --nocapture timing`.
#[test]
#[ignore]
fn timing_of_large_documents() {
    for employees in [10_000, 100_000] {
        let started = Instant::now();
        let document = generate(&options(employees, 1));
        let generated = started.elapsed();
        let text = serde_json::to_string(&document).unwrap();
        println!(
            "generate({employees}): {generated:?}, serialised {} MB in {:?} more",
            text.len() / 1_000_000,
            started.elapsed() - generated
        );
    }
}
