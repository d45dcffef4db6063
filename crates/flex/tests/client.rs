//! The Flex client against the Flex emulator over real sockets.

// The shared helpers below are test code too; clippy only exempts `#[test]` functions.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flexsync_core::snapshot::Snapshot;
use flexsync_emulators::flex::{self, FlexData, ListStyle, PageFault, PageFaultKind, RunningFlex};
use flexsync_emulators::knobs::Faults;
use flexsync_flex::{AuthScheme, CompanyRef, FlexClient, FlexError, FlexSettings};
use flexsync_http::{HttpSettings, RetryPolicy};
use secrecy::SecretString;
use serde_json::{Value, json};

fn example_json() -> Value {
    flexsync_testkit::fixtures::flex_small()
}

fn example() -> FlexData {
    FlexData::load(flexsync_testkit::fixtures::flex_small_path()).unwrap()
}

/// Quick retries, so that tests of retries and failures do not wait.
fn fast_http() -> HttpSettings {
    HttpSettings {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(5),
        },
        ..HttpSettings::default()
    }
}

/// Settings for the data's first API user and every company of the data, by number.
fn settings(flex: &RunningFlex, data: &FlexData) -> FlexSettings {
    let user = &data.api_users[0];
    let companies = data
        .companies
        .iter()
        .map(|c| {
            let number = c.get("CompanyNumber").or(c.get("companyNumber"));
            CompanyRef::Number(number.and_then(Value::as_i64).unwrap())
        })
        .collect();
    FlexSettings {
        base_url: flex.base_url(),
        username: user.username.clone(),
        password: SecretString::from(user.password.clone()),
        instance: data.instance.clone(),
        companies,
        http: fast_http(),
        ..FlexSettings::default()
    }
}

fn guid(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// Companies `(number, employee count)`, each with one dimension of one account; every
/// employee has one period and one default account. Users: `all` and `only-first`.
fn synthetic(companies: &[(i64, usize)]) -> FlexData {
    let (mut comps, mut emps, mut periods, mut dists, mut defaults) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (ci, (number, count)) in companies.iter().enumerate() {
        let company = guid(1, ci);
        let dimension = guid(2, ci);
        let account = guid(3, ci);
        comps.push(
            json!({"Id": company, "CompanyNumber": number, "Name": format!("Bolag {number} AB")}),
        );
        dists.push(
            json!({"Id": dimension, "CompanyId": company, "Name": "Avdelning",
            "Accounts": [{"Id": account, "Code": format!("{number}0"), "Name": "Ekonomi"}]}),
        );
        for i in 0..*count {
            let n = ci * 100_000 + i;
            let employee = guid(4, n);
            emps.push(json!({"Id": employee, "CompanyId": company, "FirstName": format!("Person{n}"),
                "LastName": "Test", "EmailWork": format!("p{n}@example.se"), "Gender": i % 3,
                "Employment": {"EmploymentNumber": format!("{number}-{i:04}"), "EmploymentType": 0}}));
            periods.push(
                json!({"Id": guid(5, n), "CompanyId": company, "EmployeeId": employee,
                "FromDate": "2020-01-01T00:00:00", "ToDate": null}),
            );
            defaults.push(json!({"Id": guid(6, n), "CompanyId": company, "EmployeeId": employee,
                "AccountDistributionId": dimension, "AccountId": account,
                "AccountCode": format!("{number}0"), "FromDate": "2020-01-01T00:00:00", "TomDate": null}));
        }
    }
    FlexData::from_value(json!({
        "Instance": "5257",
        "ApiUsers": [
            {"Username": "all", "Password": "pw:with:colons", "CompanyIds": null},
            {"Username": "only-first", "Password": "pw-first", "CompanyIds": [guid(1, 0)]}
        ],
        "Companies": comps, "Employees": emps, "EmploymentPeriods": periods,
        "AccountDistributions": dists, "EmploymentDefaultAccounts": defaults
    }))
    .unwrap()
}

async fn read(settings: FlexSettings) -> Result<Snapshot, FlexError> {
    FlexClient::new(settings).unwrap().read_snapshot().await
}

#[tokio::test]
async fn reads_the_example_file_whole() {
    let data = example();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let client = FlexClient::new(settings(&flex, &data)).unwrap();
    let read = client.read().await.unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert_eq!(read.dropped, 0);
    let snapshot = read.snapshot;
    let file = example_json();
    let list = |name: &str| file[name].as_array().unwrap().clone();

    assert_eq!(snapshot.companies.len(), list("Companies").len());
    assert_eq!(snapshot.companies[0].id, list("Companies")[0]["Id"]);
    assert_eq!(
        snapshot.companies[0].number,
        list("Companies")[0]["CompanyNumber"].as_i64()
    );
    assert_eq!(snapshot.employees.len(), 4);
    assert_eq!(snapshot.periods.len(), 4);
    assert_eq!(snapshot.dimensions.len(), 2);
    assert_eq!(snapshot.default_accounts.len(), 8);

    for record in list("Employees") {
        let e = snapshot
            .employees
            .iter()
            .find(|e| e.id == record["Id"])
            .unwrap();
        let text = |v: &Value| v.as_str().map(Box::from);
        assert_eq!(Some(&*e.company_id), record["CompanyId"].as_str());
        assert_eq!(e.first_name, text(&record["FirstName"]));
        assert_eq!(e.last_name, text(&record["LastName"]));
        assert_eq!(e.email_work, text(&record["EmailWork"]));
        assert_eq!(e.date_of_birth, text(&record["DateOfBirth"]));
        assert_eq!(e.manager_id, text(&record["ImmediateManagerEmployeeId"]));
        assert_eq!(e.gender, Some(record["Gender"].to_string().into()));
        assert_eq!(
            e.employment_number,
            text(&record["Employment"]["EmploymentNumber"])
        );
        assert_eq!(
            e.employment_type,
            Some(record["Employment"]["EmploymentType"].to_string().into())
        );
        assert_eq!(
            e.fields.get("City").map(String::as_str),
            record["City"].as_str()
        );
        assert_eq!(
            e.fields.get("Name").map(String::as_str),
            record["Name"].as_str()
        );
        assert!(!e.fields.contains_key("FirstName"));
        assert!(
            !e.fields.contains_key("EmailPrivate"),
            "null fields are left out"
        );
    }
    for dist in list("AccountDistributions") {
        let d = snapshot
            .dimensions
            .iter()
            .find(|d| d.id == dist["Id"])
            .unwrap();
        assert_eq!(d.name, dist["Name"]);
        let mut codes: Vec<&str> = dist["Accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["Code"].as_str().unwrap())
            .collect();
        codes.sort();
        let read_codes: Vec<&str> = d.accounts.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(read_codes, codes);
    }
    for default in list("EmploymentDefaultAccounts") {
        assert!(snapshot.default_accounts.iter().any(|d| {
            default["EmployeeId"] == *d.employee_id
                && default["AccountDistributionId"] == *d.dimension_id
                && d.account_code.as_deref() == default["AccountCode"].as_str()
        }));
    }
    let stats = client.transport_stats();
    assert_eq!(
        stats.requests.load(Relaxed),
        flex.knobs.counters().values().sum::<u64>()
    );
    assert_eq!(stats.retries.load(Relaxed), 0);
}

#[tokio::test]
async fn pages_through_long_lists() {
    let data = synthetic(&[(100, 57)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let page_size = 5;
    let snapshot = read(FlexSettings {
        page_size,
        ..settings(&flex, &data)
    })
    .await
    .unwrap();
    assert_eq!(snapshot.employees.len(), data.employees.len());
    assert_eq!(snapshot.periods.len(), data.employment_periods.len());
    assert_eq!(
        snapshot.default_accounts.len(),
        data.employment_default_accounts.len()
    );
    let mut ids: Vec<&str> = snapshot.employees.iter().map(|e| e.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), data.employees.len(), "no employee read twice");
    let pages = data.employees.len().div_ceil(page_size as usize) as u64;
    assert_eq!(flex.route_count("GET /employees"), pages);
    assert_eq!(flex.route_count("GET /employmentperiods"), pages);
}

#[tokio::test]
async fn reads_lists_in_every_envelope_shape() {
    let data = synthetic(&[(100, 12)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let settings = FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    };
    let expected = read(settings.clone()).await.unwrap();
    assert_eq!(expected.employees.len(), 12);
    for style in [
        ListStyle::CamelCase,
        ListStyle::BareArray,
        ListStyle::Unpaged,
    ] {
        flex.set_list_style(style);
        let snapshot = read(settings.clone()).await.unwrap();
        assert_eq!(snapshot, expected, "{style:?}");
    }
}

#[tokio::test]
async fn reads_in_every_auth_scheme() {
    let data = synthetic(&[(100, 3)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let literal = read(settings(&flex, &data)).await.unwrap();
    assert_eq!(literal.employees.len(), 3);
    for auth in [AuthScheme::Base64Full, AuthScheme::Base64UserPass] {
        let snapshot = read(FlexSettings {
            auth,
            ..settings(&flex, &data)
        })
        .await
        .unwrap();
        assert_eq!(snapshot, literal, "{auth:?}");
    }
}

#[tokio::test]
async fn bad_credentials_are_401_naming_the_resource_without_the_password() {
    let data = synthetic(&[(100, 3)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    for auth in [
        AuthScheme::Literal,
        AuthScheme::Base64Full,
        AuthScheme::Base64UserPass,
    ] {
        let wrong = "Wrong-Secret-123";
        let error = read(FlexSettings {
            auth,
            password: SecretString::from(wrong.to_string()),
            ..settings(&flex, &data)
        })
        .await
        .unwrap_err();
        assert!(matches!(error, FlexError::Unauthorized { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("the company list: 401"), "{text}");
        assert!(!text.contains(wrong), "{text}");
        assert!(!format!("{error:?}").contains(wrong));
    }
    let error = read(FlexSettings {
        instance: "9999".to_string(),
        ..settings(&flex, &data)
    })
    .await
    .unwrap_err();
    assert_eq!(error.status(), Some(401), "a wrong instance is refused");
}

#[tokio::test]
async fn a_forbidden_company_is_403_naming_company_and_resource() {
    let data = synthetic(&[(100, 4), (200, 3)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let restricted = FlexSettings {
        username: "only-first".to_string(),
        password: SecretString::from("pw-first".to_string()),
        ..settings(&flex, &data)
    };
    let error = read(restricted.clone()).await.unwrap_err();
    assert!(matches!(error, FlexError::Forbidden { .. }), "{error:?}");
    let text = error.to_string();
    let second = guid(1, 1);
    assert!(
        text.contains(&format!("of company 200 ({second}): 403 forbidden")),
        "{text}"
    );
    assert!(
        [
            "employees",
            "employment periods",
            "dimensions",
            "default accounts"
        ]
        .iter()
        .any(|resource| text.starts_with(resource)),
        "{text}"
    );

    let first_only = read(FlexSettings {
        companies: vec![CompanyRef::Number(100)],
        ..restricted
    })
    .await
    .unwrap();
    assert_eq!(first_only.employees.len(), 4);
    assert!(
        first_only
            .employees
            .iter()
            .all(|e| *e.company_id == guid(1, 0))
    );
}

#[tokio::test]
async fn two_companies_are_read_apart() {
    let data = synthetic(&[(100, 4), (200, 3)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let snapshot = read(settings(&flex, &data)).await.unwrap();
    assert_eq!(snapshot.companies.len(), 2);
    assert_eq!(snapshot.employees.len(), 7);
    assert_eq!(snapshot.dimensions.len(), 2);
    for period in &snapshot.periods {
        let owner = snapshot
            .employees
            .iter()
            .find(|e| *e.id == *period.employee_id)
            .unwrap();
        assert!(*owner.company_id == guid(1, 0) || *owner.company_id == guid(1, 1));
    }
    assert_eq!(snapshot.periods.len(), 7);
}

#[tokio::test]
async fn companies_by_guid_and_unknown_companies() {
    let data = example();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let id = data.companies[0]["Id"].as_str().unwrap().to_uppercase();
    let by_guid = read(FlexSettings {
        companies: vec![id.parse().unwrap()],
        ..settings(&flex, &data)
    })
    .await
    .unwrap();
    assert_eq!(by_guid.employees.len(), 4);

    let error = read(FlexSettings {
        companies: vec![CompanyRef::Number(999)],
        ..settings(&flex, &data)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, FlexError::UnknownCompany { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("company 999"), "{error}");
}

#[tokio::test]
async fn base_urls_with_and_without_the_api_path() {
    let data = example();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let host = flex.base_url();
    let mut snapshots = Vec::new();
    for (base, prefix) in [
        (host.clone(), "/webapi/api"),
        (format!("{host}/"), "/webapi/api"),
        (format!("{host}/api"), "/api"),
        (format!("{host}/webapi/api/"), "/webapi/api"),
    ] {
        flex.knobs.reset_counters();
        let snapshot = read(FlexSettings {
            base_url: base.clone(),
            ..settings(&flex, &data)
        })
        .await
        .unwrap();
        let counters = flex.knobs.counters();
        assert!(
            counters
                .keys()
                .all(|k| k.starts_with(&format!("GET {prefix}/"))),
            "{base}: {counters:?}"
        );
        snapshots.push(snapshot);
    }
    assert!(snapshots.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn camel_case_and_odd_shapes_are_read_and_bad_fields_skipped() {
    let company = guid(1, 0);
    let (eva, ek) = (guid(4, 1), guid(4, 2));
    let data = FlexData::from_value(json!({
        "Instance": "5257",
        "ApiUsers": [{"Username": "u", "Password": "p", "CompanyIds": null}],
        "Companies": [{"id": company, "companyNumber": 300, "name": "Camel AB"}],
        "Employees": [
            {"id": eva, "companyId": company, "firstName": "Eva", "gender": "Kvinna",
             "dateOfBirth": "1985-05-05T00:00:00.000+02:00", "city": "Lund",
             "employment": [{"employmentNumber": "B1", "employmentType": "Extern personal"}]},
            {"Id": ek, "CompanyId": company, "FirstName": {"bad": true}, "LastName": "Ek",
             "Employment": {"EmploymentNumber": 2, "EmploymentType": 0}},
            {"CompanyId": company, "FirstName": "Nobody"}
        ],
        "EmploymentPeriods": [
            {"id": guid(5, 1), "employeeId": eva, "companyId": company,
             "fromDate": "2021-01-01T00:00:00+01:00", "toDate": null},
            {"id": guid(5, 2), "employeeId": guid(4, 99), "companyId": company,
             "fromDate": "2021-01-01T00:00:00", "toDate": null}
        ]
    }))
    .unwrap();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let client = FlexClient::new(settings(&flex, &data)).unwrap();
    let read = client.read().await.unwrap();
    let snapshot = &read.snapshot;
    assert_eq!(snapshot.companies[0].number, Some(300));
    assert_eq!(snapshot.employees.len(), 2);
    assert_eq!(
        read.dropped, 1,
        "the record without Id is dropped and counted"
    );

    let e = snapshot.employees.iter().find(|e| e.id == eva).unwrap();
    assert_eq!(e.first_name.as_deref(), Some("Eva"));
    assert_eq!(e.gender.as_deref(), Some("Kvinna"));
    assert_eq!(
        e.date_of_birth.as_deref(),
        Some("1985-05-05T00:00:00.000+02:00")
    );
    assert_eq!(e.employment_number.as_deref(), Some("B1"));
    assert_eq!(e.employment_type.as_deref(), Some("Extern personal"));
    assert_eq!(e.fields.get("City").map(String::as_str), Some("Lund"));

    let e = snapshot.employees.iter().find(|e| e.id == ek).unwrap();
    assert_eq!(e.first_name, None);
    assert_eq!(e.last_name.as_deref(), Some("Ek"));
    assert_eq!(e.employment_number.as_deref(), Some("2"));
    let bad_field = read
        .warnings
        .iter()
        .find(|w| w.field.as_deref() == Some("FirstName"))
        .unwrap();
    assert_eq!(bad_field.record, ek);
    assert!(
        bad_field.to_string().contains("employees of company 300"),
        "{bad_field}"
    );

    assert_eq!(
        snapshot.periods.len(),
        1,
        "periods of other employees are left out"
    );
    assert_eq!(
        snapshot.periods[0].from.as_deref(),
        Some("2021-01-01T00:00:00+01:00")
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_stops_the_read() {
    let data = example();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    for (kind, words) in [
        (PageFaultKind::NotJson, "not JSON"),
        (PageFaultKind::Truncated, "cut off"),
    ] {
        flex.set_page_fault(Some(PageFault {
            resource: "employees".to_string(),
            page_index: 0,
            kind,
        }));
        let error = read(settings(&flex, &data)).await.unwrap_err();
        assert!(matches!(error, FlexError::Body { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.starts_with("employees of company 100 ("), "{text}");
        assert!(text.contains(words), "{text}");
    }
}

#[tokio::test]
async fn a_failing_page_stops_the_read() {
    let data = synthetic(&[(100, 30)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    flex.set_fail_page(Some(("employees".to_string(), 2)));
    let settings = FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    };
    let attempts = settings.http.retry.max_attempts;
    let client = FlexClient::new(settings).unwrap();
    let error = client.read().await.unwrap_err();
    assert_eq!(error.status(), Some(500), "{error:?}");
    assert!(
        error.to_string().starts_with("employees of company 100"),
        "{error}"
    );
    assert!(client.transport_stats().retries.load(Relaxed) >= u64::from(attempts - 1));

    flex.set_fail_page(None);
    assert_eq!(client.read().await.unwrap().snapshot.employees.len(), 30);
}

#[tokio::test]
async fn a_short_read_is_detected() {
    let data = synthetic(&[(100, 12)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    flex.set_short_page(Some(("employmentperiods".to_string(), 1)));
    let error = read(FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    })
    .await
    .unwrap_err();
    let total = data.employment_periods.len() as u64;
    match &error {
        FlexError::Partial {
            what,
            read,
            total: t,
        } => {
            assert!(
                what.starts_with("employment periods of company 100"),
                "{what}"
            );
            assert_eq!((*read, *t), (total - 1, total));
        }
        other => panic!("expected a partial read, got {other:?}"),
    }
}

#[tokio::test]
async fn a_list_that_shifts_while_it_is_read_is_read_again_then_refused() {
    let data = synthetic(&[(100, 12)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    flex.set_page_fault(Some(flex::PageFault {
        resource: "employees".to_string(),
        page_index: 1,
        kind: flex::PageFaultKind::Shifted,
    }));
    let error = read(FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    })
    .await
    .unwrap_err();
    match &error {
        FlexError::Unstable { what, detail } => {
            assert!(what.starts_with("employees of company 100"), "{what}");
            assert!(detail.contains("came twice"), "{detail}");
        }
        other => panic!("expected an unstable read, got {other:?}"),
    }
    // Read twice before giving up: 3 pages each.
    assert_eq!(flex.route_count("GET /employees"), 6);
    flex.set_page_fault(None);
    let read_again = read(FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    })
    .await
    .unwrap();
    assert_eq!(read_again.employees.len(), 12);
}

#[tokio::test]
async fn the_page_cap_refuses_an_endless_list() {
    let data = synthetic(&[(100, 20)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let error = read(FlexSettings {
        page_size: 5,
        max_pages: 3,
        ..settings(&flex, &data)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, FlexError::PageCap { max_pages: 3, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn injected_429_and_503_are_retried() {
    let data = synthetic(&[(100, 20)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let mut settings = FlexSettings {
        page_size: 5,
        ..settings(&flex, &data)
    };
    // Concurrent requests share the fault sequence; leave room for a few failures in a row.
    settings.http.retry.max_attempts = 10;
    let clean = read(settings.clone()).await.unwrap();
    flex.knobs.reset_counters();
    flex.knobs.set_faults(Faults {
        error_share: 0.4,
        retry_after_seconds: 0,
        ..Faults::default()
    });
    let client = FlexClient::new(settings).unwrap();
    let snapshot = client.read_snapshot().await.unwrap();
    assert_eq!(snapshot, clean);
    assert!(flex.knobs.injected() > 0);
    assert_eq!(
        client.transport_stats().retries.load(Relaxed),
        flex.knobs.injected()
    );
}

#[tokio::test]
async fn a_changed_flex_is_read_as_it_is_now() {
    let data = synthetic(&[(100, 5)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let client = FlexClient::new(settings(&flex, &data)).unwrap();
    assert_eq!(client.read_snapshot().await.unwrap().employees.len(), 5);
    let mut fewer = data.clone();
    let gone = fewer.employees.remove(0);
    flex.set_data(fewer);
    let snapshot = client.read_snapshot().await.unwrap();
    assert_eq!(snapshot.employees.len(), 4);
    assert!(snapshot.employees.iter().all(|e| e.id != gone["Id"]));
    assert_eq!(snapshot.periods.len(), 4, "the leaver's period is not kept");
}

#[tokio::test]
async fn the_emulator_follows_the_api_contract() {
    let data = example();
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let http = reqwest::Client::new();
    let user = &data.api_users[0];
    let auth = format!(
        "Basic {}:{}:{}",
        data.instance, user.username, user.password
    );
    let base = format!("{}/webapi/api", flex.base_url());
    let company = data.companies[0]["Id"].as_str().unwrap();
    let get = |path: String, auth: Option<&str>| {
        let mut request = http
            .get(format!("{base}{path}"))
            .header("Instance", &data.instance);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        request.send()
    };

    let anonymous = get("/companies".into(), None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let bearer = get("/companies".into(), Some("Bearer x")).await.unwrap();
    assert_eq!(bearer.status(), 401);

    let page: Value = get("/employees?PAGESIZE=3&pageindex=1".into(), Some(&auth))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["TotalItemCount"], 4);
    assert_eq!(page["PageIndex"], 1);
    assert_eq!(page["Items"].as_array().unwrap().len(), 1);

    let first: Value = get("/employees?pageSize=1".into(), Some(&auth))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served = &first["Items"][0];
    let in_file = data
        .employees
        .iter()
        .find(|e| e["Id"] == served["Id"])
        .unwrap();
    assert_eq!(served, in_file, "records are served exactly as in the file");

    let external: Value = get("/employees?employmentType=1".into(), Some(&auth))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = data
        .employees
        .iter()
        .filter(|e| e["Employment"]["EmploymentType"] == 1)
        .count();
    assert_eq!(external["Items"].as_array().unwrap().len(), expected);

    for (path, status) in [
        ("/employees?pageSize=1001".to_string(), 400),
        ("/employees?pageIndex=-1".to_string(), 400),
        ("/employees?companyId=nope".to_string(), 400),
        ("/employees/nope".to_string(), 400),
        (format!("/employees/{}", guid(9, 9)), 404),
        (format!("/companies/{company}"), 200),
        (format!("/instance/{}/companies", data.instance), 200),
        ("/instance/0/companies".to_string(), 404),
        (
            format!("/accountdistributions/{}/accounts", guid(9, 9)),
            404,
        ),
    ] {
        let response = get(path.clone(), Some(&auth)).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        if status >= 400 {
            let body: Value = response.json().await.unwrap();
            assert!(body["Message"].is_string(), "{path}: {body}");
        }
    }

    let dims: Value = get(
        format!("/companies/{company}/accountdistributions"),
        Some(&auth),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let dims = dims["Items"].as_array().unwrap();
    assert_eq!(dims.len(), data.account_distributions.len());
    assert!(dims.iter().all(|d| d.get("Accounts").is_none()));

    let short: Value = http
        .get(format!("{}/api/employees?pageSize=2", flex.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        short["Items"].as_array().unwrap().len(),
        2,
        "served under /api too"
    );
}

// ---- secrets never leak

/// Everything this test binary logs, at every level, through `tracing` and the `log` crate
/// (reqwest and rustls log through `log`). Every test of the binary writes here.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .try_init()
            .unwrap();
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The forms a password takes on the wire: itself and every `Authorization` credential.
fn secret_forms(instance: &str, username: &str, password: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    vec![
        password.to_string(),
        format!("{instance}:{username}:{password}"),
        b64(format!("{instance}:{username}:{password}")),
        b64(format!("{username}:{password}")),
    ]
}

/// The error's Display, alternate Display, Debug and every source in its chain.
fn error_texts(error: &FlexError) -> String {
    let mut text = format!("{error}\n{error:#}\n{error:?}\n{error:#?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    text
}

fn assert_free_of(text: &str, secrets: &[String], context: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{context} holds the secret {secret:?}:\n{text}"
        );
    }
}

/// A careless server on 127.0.0.1 that answers every request with `status` and a Flex error
/// body quoting the `Authorization` header, raw and base64-decoded.
async fn echoing_server(status: u16) -> String {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let authorization = head
                    .split("\r\n")
                    .filter_map(|line| line.split_once(':'))
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                    .map(|(_, value)| value.trim().to_string())
                    .unwrap_or_default();
                let decoded = authorization
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|bytes| String::from_utf8_lossy(&bytes).to_string())
                    .unwrap_or_default();
                let body = json!({
                    "Message": format!("refused {authorization} (that is {decoded})")
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn secrets_never_reach_logs_or_errors() {
    let logs = captured_logs();
    let data = synthetic(&[(100, 12)]);
    let flex = flex::start(data.clone(), Faults::default()).await.unwrap();
    let good = settings(&flex, &data);
    let wrong = "Wrong-Secret-4711";
    let mut secrets = secret_forms(&data.instance, &good.username, wrong);
    secrets.extend(secret_forms(
        &data.instance,
        &good.username,
        &data.api_users[0].password,
    ));
    let mut errors: Vec<(String, FlexError)> = Vec::new();

    // A wrong password, in every auth scheme: 401.
    for auth in [
        AuthScheme::Literal,
        AuthScheme::Base64Full,
        AuthScheme::Base64UserPass,
    ] {
        let error = read(FlexSettings {
            auth,
            password: SecretString::from(wrong.to_string()),
            ..good.clone()
        })
        .await
        .unwrap_err();
        assert_eq!(error.status(), Some(401), "{error:?}");
        errors.push((format!("401 in {auth:?}"), error));
    }

    // The right password, a page that keeps failing with 500 after retries, then a clean read.
    flex.set_fail_page(Some(("employees".to_string(), 1)));
    let client = FlexClient::new(FlexSettings {
        page_size: 5,
        ..good.clone()
    })
    .unwrap();
    let error = client.read().await.unwrap_err();
    assert_eq!(error.status(), Some(500), "{error:?}");
    assert!(client.transport_stats().retries.load(Relaxed) > 0);
    errors.push(("500 after retries".to_string(), error));
    flex.set_fail_page(None);
    assert_eq!(client.read().await.unwrap().snapshot.employees.len(), 12);

    // A server that quotes the credentials back in its 401 and 500 answers.
    for status in [401, 500] {
        let base_url = echoing_server(status).await;
        for auth in [
            AuthScheme::Literal,
            AuthScheme::Base64Full,
            AuthScheme::Base64UserPass,
        ] {
            let error = read(FlexSettings {
                base_url: base_url.clone(),
                auth,
                password: SecretString::from(wrong.to_string()),
                ..good.clone()
            })
            .await
            .unwrap_err();
            assert_eq!(error.status(), Some(status), "{error:?}");
            let text = error.to_string();
            assert!(
                text.contains("refused"),
                "the server's message is kept: {text}"
            );
            errors.push((format!("echoed {status} in {auth:?}"), error));
        }
    }

    for (context, error) in &errors {
        assert_free_of(&error_texts(error), &secrets, context);
    }
    assert_free_of(&format!("{client:?}"), &secrets, "the client's Debug");

    tracing::trace!(canary = "flex-secrets-canary", "log capture check");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("flex-secrets-canary"),
        "TRACE lines are captured"
    );
    assert!(
        text.contains("retrying a request"),
        "the transport's lines are captured"
    );
    assert!(
        text.contains("reqwest::"),
        "the `log` crate's lines are captured"
    );
    assert_free_of(&text, &secrets, "the logs");
}

// ---- parsing never panics

mod parsing {
    use flexsync_flex::json::Json;
    use flexsync_flex::wire;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Field names the parsers look for, in both cases, so that generated records go deep.
    const KEYS: &[&str] = &[
        "Id",
        "id",
        "CompanyId",
        "CompanyNumber",
        "Name",
        "FirstName",
        "lastName",
        "EmailWork",
        "DateOfBirth",
        "Gender",
        "ImmediateManagerEmployeeId",
        "Employment",
        "employment",
        "EmploymentNumber",
        "EmploymentType",
        "EmployeeId",
        "FromDate",
        "ToDate",
        "TomDate",
        "Code",
        "AccountDistributionId",
        "AccountId",
        "AccountCode",
        "Accounts",
        "Items",
        "items",
        "TotalItemCount",
        "totalItemCount",
        "Message",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(KEYS).prop_map(str::to_string),
            1 => "\\PC{0,8}",
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[ 0-9]{0,6}".prop_map(Value::String),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..8)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// A well-formed employee with some fields replaced by anything at all, and whether its
    /// `Id` was left alone.
    fn employee_like() -> impl Strategy<Value = (Value, bool)> {
        prop::collection::vec((key(), json_value()), 0..4).prop_map(|changes| {
            let mut record = json!({
                "Id": "e1", "CompanyId": "c1", "FirstName": "Sara", "LastName": "Nilsson",
                "DateOfBirth": "1981-02-14T00:00:00", "Gender": 2, "EmailWork": "sara@example.se",
                "ImmediateManagerEmployeeId": "m1", "City": "Uppsala",
                "Employment": {"EmploymentNumber": "A1", "EmploymentType": 0}
            });
            let id_kept = changes
                .iter()
                .all(|(key, _)| !key.eq_ignore_ascii_case("Id"));
            if let Value::Object(map) = &mut record {
                for (key, value) in changes {
                    map.insert(key, value);
                }
            }
            (record, id_kept)
        })
    }

    /// Raw bytes, JSON cut off anywhere, and JSON with one byte changed.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            (json_value(), any::<prop::sample::Index>()).prop_map(|(value, at)| {
                let bytes = value.to_string().into_bytes();
                let cut = at.index(bytes.len() + 1);
                bytes[..cut].to_vec()
            }),
            (json_value(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
                |(value, at, byte)| {
                    let mut bytes = value.to_string().into_bytes();
                    if !bytes.is_empty() {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                    bytes
                }
            ),
        ]
    }

    /// [`wire::parse_page`] on the value as it would come in an answer.
    fn parse_page(value: &Value) -> Result<(Vec<Value>, Option<u64>), String> {
        let text = value.to_string();
        let page = wire::parse_page(Json::parse(text.as_bytes()).map_err(|e| e.to_string())?)?;
        Ok((page.items.iter().map(Value::from).collect(), page.total))
    }

    /// Feeds one value, as it would come in an answer, to every record parser; checks what
    /// holds whatever the input.
    fn parse_everything(value: &Value) -> Result<(), TestCaseError> {
        let text = value.to_string();
        let json = Json::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read: Value =
            serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            Value::from(&json),
            read,
            "the tree reads as serde_json does"
        );
        let value = &json;
        if let Ok(page) = wire::parse_page(json.clone())
            && let Json::Array(sent) = value
        {
            prop_assert_eq!(&page.items, sent);
        }
        if let Ok(e) = wire::employee(
            value,
            "c1",
            &wire::KeptFields::All,
            &mut wire::SharedTexts::default(),
        )
        .record
        {
            prop_assert!(!e.id.is_empty() && e.id.trim() == e.id);
            prop_assert!(!e.company_id.is_empty());
        }
        let mut texts = wire::SharedTexts::default();
        if let Ok(p) = wire::period(value, &wire::KeptFields::All, &mut texts).record {
            prop_assert!(!p.employee_id.trim().is_empty());
        }
        if let Ok(d) = wire::dimension(value, "c1").record {
            prop_assert!(!d.id.trim().is_empty());
        }
        if let Ok(a) = wire::account(value).record {
            prop_assert!(!a.id.trim().is_empty() && !a.code.trim().is_empty());
        }
        if let Ok(d) = wire::default_account(value, &mut texts).record {
            prop_assert!(!d.employee_id.trim().is_empty() && !d.dimension_id.trim().is_empty());
        }
        if let Ok(c) = wire::company(value).record {
            prop_assert!(!c.id.trim().is_empty());
        }
        let _ = wire::record_label(value);
        if let Json::Object(map) = value {
            for name in KEYS {
                let _ = wire::field(map, name);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_json_value_is_read_or_refused_without_a_panic(value in json_value()) {
            parse_everything(&value)?;
            let items = match &value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for item in &items {
                parse_everything(item)?;
            }
            let envelope = json!({"Items": items, "TotalItemCount": items.len()});
            let (read, total) = parse_page(&envelope).map_err(TestCaseError::fail)?;
            // Compared as read back from text: a decimal may not survive the trip to the bit.
            let sent: Value = serde_json::from_str(&Value::Array(items.clone()).to_string())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Value::Array(read), sent);
            prop_assert_eq!(total, Some(items.len() as u64));
        }

        #[test]
        fn a_bad_field_never_drops_an_employee((record, id_kept) in employee_like()) {
            parse_everything(&record)?;
            let text = record.to_string();
            let json = Json::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let parsed = wire::employee(&json, "c1", &wire::KeptFields::All, &mut wire::SharedTexts::default());
            if id_kept {
                let employee = parsed.record.map_err(|m| TestCaseError::fail(m.to_string()))?;
                prop_assert_eq!(employee.id, "e1");
            }
        }

        #[test]
        fn any_body_is_read_or_refused_without_a_panic(bytes in body()) {
            if let Some(message) = wire::error_message(&bytes) {
                prop_assert!(!message.is_empty() && message.chars().count() <= 300);
            }
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                parse_everything(&value)?;
            }
        }
    }
}
