//! The SCIM client over real sockets: against the third-party `scim2-server` (set
//! `SCIM2_SERVER`; see crates/testkit/scim2-server/README.md), and against canned answers for server
//! behaviours scim2-server does not show (and the emulator, for a Bulk limit advertised wrongly).
// clippy.toml allows these inside #[test] functions only; the helpers below are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

use flexsync_testkit::{canned, scim2};

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use flexsync_scim::{
    ENTERPRISE_USER_SCHEMA, Email, GROUP_SCHEMA, Member, Name, PatchOperation, ScimClient,
    ScimError, ScimGroup, ScimSettings, ScimUser, USER_SCHEMA,
};
use secrecy::SecretString;
use serde_json::json;

const WT_USER: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";
const WT_GROUP: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";

/// A server for one test, or `None` when the interop run is not configured.
fn server(test: &str) -> Option<scim2::Scim2Server> {
    scim2::start(test).unwrap_or_else(|error| panic!("{error}"))
}

fn client_with(server: &scim2::Scim2Server, page_size: usize, max_pages: usize) -> ScimClient {
    let mut settings =
        ScimSettings::new(&server.base_url, SecretString::from(server.token.clone()));
    settings.page_size = page_size;
    settings.max_pages = max_pages;
    ScimClient::new(settings).unwrap()
}

fn client(server: &scim2::Scim2Server) -> ScimClient {
    client_with(server, 200, 10_000)
}

fn person(external_id: &str, given: &str, family: &str) -> ScimUser {
    let email = format!(
        "{}.{}@example.se",
        given.to_lowercase(),
        family.to_lowercase()
    );
    ScimUser {
        external_id: Some(external_id.into()),
        user_name: email.clone(),
        name: Some(Name {
            given_name: Some(given.into()),
            family_name: Some(family.into()),
            formatted: None,
        }),
        emails: vec![Email {
            value: email,
            kind: Some("work".into()),
            primary: Some(true),
        }],
        active: Some(true),
        ..ScimUser::default()
    }
}

fn status_of(error: &ScimError) -> (u16, Option<&str>) {
    match error {
        ScimError::Status {
            status, scim_type, ..
        } => (*status, scim_type.as_deref()),
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_sees_the_kit_extensions() {
    let Some(server) = server("discovery_sees_the_kit_extensions") else {
        return;
    };
    let info = client(&server).discover().await.unwrap();

    assert!(info.patch && info.filter && info.bulk);
    assert!(info.schemas_served);
    assert_eq!(info.filter_max_results, Some(1000));
    assert_eq!(info.user_extensions, vec![ENTERPRISE_USER_SCHEMA, WT_USER]);
    assert_eq!(info.group_extensions, vec![WT_GROUP]);
    assert!(info.supports_attribute(USER_SCHEMA, "name.givenName"));
    assert!(info.supports_attribute(ENTERPRISE_USER_SCHEMA, "manager.value"));
    for attribute in [
        "gender",
        "birthDate",
        "excludeFromSurveys",
        "employmentStartDate",
        "employmentEndDate",
    ] {
        assert!(info.supports_attribute(WT_USER, attribute), "{attribute}");
    }
    assert!(info.supports_attribute(WT_GROUP, "parentExternalId"));
    assert!(info.supports_attribute(GROUP_SCHEMA, "members.value"));
    assert!(!info.supports_attribute(WT_USER, "shoeSize"));
}

#[tokio::test]
async fn users_are_created_found_patched_and_deleted() {
    let Some(server) = server("users_are_created_found_patched_and_deleted") else {
        return;
    };
    let scim = client(&server);

    let boss = scim.create_user(&person("1000", "Bo", "Ek")).await.unwrap();
    let boss_id = boss.id.clone().unwrap();
    let mut anna = person("1001", "Anna", "Berg");
    anna.extensions.insert(
        WT_USER.into(),
        json!({
            "gender": "Female",
            "birthDate": "1985-04-12T00:00:00Z",
            "excludeFromSurveys": false,
            "employmentStartDate": "2020-01-01T00:00:00Z"
        }),
    );
    anna.extensions.insert(
        ENTERPRISE_USER_SCHEMA.into(),
        json!({"department": "Sales"}),
    );
    let created = scim.create_user(&anna).await.unwrap();
    let id = created.id.clone().unwrap();
    assert!(created.schemas.iter().any(|s| s == WT_USER));
    assert_eq!(
        created.extension_attribute(WT_USER, "gender"),
        Some(&json!("Female"))
    );

    let by_external = scim
        .find_user_by_external_id("1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_external.id.as_deref(), Some(id.as_str()));
    let by_name = scim
        .find_user_by_user_name("ANNA.BERG@example.se")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id.as_deref(), Some(id.as_str()));
    assert_eq!(scim.find_user_by_external_id("9999").await.unwrap(), None);
    assert_eq!(
        scim.find_user_by_user_name("nobody@example.se")
            .await
            .unwrap(),
        None
    );

    let answer = scim
        .patch_user(
            &id,
            vec![
                PatchOperation::replace("active", json!(false)),
                PatchOperation::replace("name.givenName", json!("Annie")),
                PatchOperation::replace("name.familyName", json!("Berg-Lund")),
                PatchOperation::replace(format!("{WT_USER}:gender"), json!("NonBinary")),
                PatchOperation::replace(format!("{WT_USER}:excludeFromSurveys"), json!(true)),
                PatchOperation::set_manager(&boss_id),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer, None, "scim2-server answers PATCH with 204");

    let after = scim.get_user(&id).await.unwrap();
    assert_eq!(after.active, Some(false));
    let name = after.name.clone().unwrap();
    assert_eq!(name.given_name.as_deref(), Some("Annie"));
    assert_eq!(name.family_name.as_deref(), Some("Berg-Lund"));
    assert_eq!(
        after.extension_attribute(WT_USER, "gender"),
        Some(&json!("NonBinary"))
    );
    assert_eq!(
        after.extension_attribute(WT_USER, "excludeFromSurveys"),
        Some(&json!(true))
    );
    assert_eq!(
        after.extension_attribute(WT_USER, "birthDate"),
        Some(&json!("1985-04-12T00:00:00Z"))
    );
    assert_eq!(
        after.extension_attribute(ENTERPRISE_USER_SCHEMA, "department"),
        Some(&json!("Sales"))
    );
    assert_eq!(after.manager_id(), Some(boss_id.as_str()));

    scim.patch_user(
        &id,
        vec![
            PatchOperation::remove(format!("{WT_USER}:employmentStartDate")),
            PatchOperation::clear_manager(),
        ],
    )
    .await
    .unwrap();
    let after = scim.get_user(&id).await.unwrap();
    assert_eq!(
        after.extension_attribute(WT_USER, "employmentStartDate"),
        None
    );
    assert_eq!(after.manager_id(), None);

    scim.delete_user(&id).await.unwrap();
    assert!(scim.get_user(&id).await.unwrap_err().is_not_found());
    assert_eq!(scim.find_user_by_external_id("1001").await.unwrap(), None);
}

#[tokio::test]
async fn list_users_reads_every_page_and_no_more() {
    let Some(server) = server("list_users_reads_every_page_and_no_more") else {
        return;
    };
    let writer = client(&server);
    for n in 1..=10 {
        writer
            .create_user(&person(&format!("{n}"), "Person", &format!("Number{n}")))
            .await
            .unwrap();
    }

    let reader = client_with(&server, 3, 100);
    let users = reader.list_users().await.unwrap();
    let ids: BTreeSet<_> = users.iter().filter_map(|u| u.external_id.clone()).collect();
    let expected: BTreeSet<_> = (1..=10).map(|n| n.to_string()).collect();
    assert_eq!(users.len(), 10);
    assert_eq!(ids, expected);
    // Pages start at 1, 4, 7 and 10; the last one reaches totalResults, so no empty page.
    assert_eq!(reader.request_count(), 4);
}

#[tokio::test]
async fn a_read_past_the_page_cap_fails_as_partial() {
    let Some(server) = server("a_read_past_the_page_cap_fails_as_partial") else {
        return;
    };
    let writer = client(&server);
    for n in 1..=5 {
        writer
            .create_user(&person(&format!("{n}"), "Capped", &format!("User{n}")))
            .await
            .unwrap();
    }
    let capped = client_with(&server, 2, 2);
    let error = capped.list_users().await.unwrap_err();
    assert!(matches!(error, ScimError::Partial { .. }), "{error:?}");
    assert_eq!(capped.request_count(), 2);
    assert_eq!(
        client_with(&server, 2, 3).list_users().await.unwrap().len(),
        5
    );
}

#[tokio::test]
async fn groups_take_members_and_lose_them_by_filter_path() {
    let Some(server) = server("groups_take_members_and_lose_them_by_filter_path") else {
        return;
    };
    let scim = client(&server);
    let mut ids = Vec::new();
    for (n, given) in ["Ada", "Bea", "Cid"].iter().enumerate() {
        let user = scim
            .create_user(&person(&format!("{}", n + 1), given, "Lind"))
            .await
            .unwrap();
        ids.push(user.id.unwrap());
    }

    let mut group = ScimGroup {
        external_id: Some("c1/sthlm".into()),
        display_name: "Stockholm".into(),
        members: vec![Member {
            value: ids[0].clone(),
            display: None,
        }],
        ..ScimGroup::default()
    };
    group
        .extensions
        .insert(WT_GROUP.into(), json!({"parentExternalId": "c1"}));
    let created = scim.create_group(&group).await.unwrap();
    let gid = created.id.clone().unwrap();

    let found = scim
        .find_group_by_external_id("c1/sthlm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id.as_deref(), Some(gid.as_str()));
    assert_eq!(
        found.extension_attribute(WT_GROUP, "parentExternalId"),
        Some(&json!("c1"))
    );
    assert_eq!(scim.find_group_by_external_id("c1").await.unwrap(), None);

    let answer = scim
        .patch_group(&gid, vec![PatchOperation::add_members(&ids[1..])])
        .await
        .unwrap();
    assert_eq!(answer, None);
    scim.patch_group(&gid, vec![PatchOperation::remove_member(&ids[0])])
        .await
        .unwrap();
    scim.patch_group(
        &gid,
        vec![
            PatchOperation::replace("displayName", json!("Stockholm HQ")),
            PatchOperation::replace(format!("{WT_GROUP}:parentExternalId"), json!("c2")),
        ],
    )
    .await
    .unwrap();

    let after = scim.get_group(&gid).await.unwrap();
    let members: BTreeSet<_> = after.members.iter().map(|m| m.value.clone()).collect();
    assert_eq!(members, ids[1..].iter().cloned().collect());
    assert_eq!(after.display_name, "Stockholm HQ");
    assert_eq!(
        after.extension_attribute(WT_GROUP, "parentExternalId"),
        Some(&json!("c2"))
    );
    assert_eq!(scim.list_groups().await.unwrap().len(), 1);

    scim.delete_group(&gid).await.unwrap();
    assert!(scim.get_group(&gid).await.unwrap_err().is_not_found());
    assert!(scim.list_groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn error_answers_are_parsed() {
    let Some(server) = server("error_answers_are_parsed") else {
        return;
    };
    let scim = client(&server);
    let user = scim.create_user(&person("1", "Dag", "Holm")).await.unwrap();

    let mut same_name = person("2", "Dag", "Holm");
    same_name.user_name = same_name.user_name.to_uppercase();
    let duplicate = scim.create_user(&same_name).await.unwrap_err();
    assert_eq!(status_of(&duplicate), (409, Some("uniqueness")));
    assert!(duplicate.is_uniqueness());
    assert!(
        duplicate.to_string().starts_with("POST /Users: "),
        "{duplicate}"
    );

    let missing = scim.get_user("no-such-id").await.unwrap_err();
    assert_eq!(status_of(&missing).0, 404);
    assert!(missing.is_not_found());
    assert!(missing.to_string().contains("no-such-id"), "{missing}");
    // Deleting is idempotent: a DELETE resent after a dropped connection finds nothing left.
    scim.delete_user("no-such-id").await.unwrap();

    let id = user.id.unwrap();
    let bad_path = scim
        .patch_user(&id, vec![PatchOperation::replace("shoeSize", json!(42))])
        .await
        .unwrap_err();
    assert_eq!(status_of(&bad_path), (400, Some("invalidPath")));

    let mut undeclared = person("3", "Eva", "Ros");
    undeclared.extensions.insert("shoeSize".into(), json!(38));
    let refused = scim.create_user(&undeclared).await.unwrap_err();
    assert_eq!(status_of(&refused), (400, Some("invalidSyntax")));

    let intruder = ScimClient::new(ScimSettings::new(
        &server.base_url,
        SecretString::from("wrong-token-value"),
    ))
    .unwrap();
    let denied = intruder.list_users().await.unwrap_err();
    assert_eq!(status_of(&denied).0, 401);
    for error in [&duplicate, &missing, &bad_path, &refused, &denied] {
        let text = format!("{error} {error:?}");
        assert!(!text.contains(&server.token) && !text.contains("wrong-token-value"));
    }
}

#[tokio::test]
async fn filter_values_with_quotes_and_backslashes_find_their_user() {
    let Some(server) = server("filter_values_with_quotes_and_backslashes_find_their_user") else {
        return;
    };
    let scim = client(&server);
    let mut odd = person(r#"ext"1\a"#, "Odd", "Name");
    odd.user_name = r#"o"brien\x@example.se"#.into();
    let created = scim.create_user(&odd).await.unwrap();
    scim.create_user(&person(r#"ext"1"#, "Near", "Miss"))
        .await
        .unwrap();

    let by_external = scim
        .find_user_by_external_id(r#"ext"1\a"#)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_external.id, created.id);
    let by_name = scim
        .find_user_by_user_name(r#"o"brien\x@example.se"#)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, created.id);
}

#[tokio::test]
async fn duplicate_external_ids_are_reported_not_guessed() {
    let Some(server) = server("duplicate_external_ids_are_reported_not_guessed") else {
        return;
    };
    let scim = client(&server);
    scim.create_user(&person("77", "Twin", "One"))
        .await
        .unwrap();
    // scim2-server does not enforce unique externalIds; the client must notice.
    scim.create_user(&person("77", "Twin", "Two"))
        .await
        .unwrap();
    let error = scim.find_user_by_external_id("77").await.unwrap_err();
    assert!(
        matches!(error, ScimError::Ambiguous { count: 2, .. }),
        "{error:?}"
    );
}

// ---- canned answers

fn canned_client(server: &canned::Canned) -> ScimClient {
    ScimClient::new(ScimSettings::new(
        &server.base_url,
        SecretString::from("canned-token"),
    ))
    .unwrap()
}

#[tokio::test]
async fn discovery_takes_bare_arrays_and_a_missing_schemas_endpoint() {
    let resource_types = json!([
        {"id": "User", "name": "User", "endpoint": "/Users", "schema": USER_SCHEMA,
         "schemaExtensions": [{"schema": WT_USER, "required": false}]},
        {"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": GROUP_SCHEMA}
    ]);
    let server = canned::serve(vec![
        canned::route(
            "GET",
            "/ServiceProviderConfig",
            200,
            r#"{"patch":{"supported":true},"filter":{"supported":true,"maxResults":200},
                "bulk":{"supported":false}}"#,
        ),
        canned::route("GET", "/ResourceTypes", 200, &resource_types.to_string()),
        canned::route(
            "GET",
            "/Schemas",
            404,
            r#"{"status":404,"detail":"no schemas"}"#,
        ),
    ])
    .await
    .unwrap();

    let info = canned_client(&server).discover().await.unwrap();
    assert!(info.patch && info.filter && !info.bulk);
    assert_eq!(info.filter_max_results, Some(200));
    assert!(!info.schemas_served);
    assert_eq!(info.user_extensions, vec![WT_USER]);
    assert!(info.supports_attribute(USER_SCHEMA, "name.familyName"));
    assert!(!info.supports_attribute(WT_USER, "gender"));

    let requests = server.requests();
    let paths: Vec<_> = requests.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/scim/ServiceProviderConfig",
            "/scim/ResourceTypes",
            "/scim/Schemas"
        ]
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer canned-token")
    );
}

#[tokio::test]
async fn discovery_fails_when_schemas_fails_otherwise() {
    let server = canned::serve(vec![
        canned::route("GET", "/ServiceProviderConfig", 200, "{}"),
        canned::route("GET", "/ResourceTypes", 200, "[]"),
        canned::route("GET", "/Schemas", 403, r#"{"status":"403","detail":"no"}"#),
    ])
    .await
    .unwrap();
    let error = canned_client(&server).discover().await.unwrap_err();
    assert_eq!(status_of(&error).0, 403);
}

#[tokio::test]
async fn a_patch_answered_200_with_a_body_returns_the_user() {
    let server = canned::serve(vec![canned::route(
        "PATCH",
        "/Users/u1",
        200,
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id":"u1","userName":"a@example.se","active":false}"#,
    )])
    .await
    .unwrap();
    let scim = canned_client(&server);

    let user = scim
        .patch_user("u1", vec![PatchOperation::replace("active", json!(false))])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id.as_deref(), Some("u1"));
    assert_eq!(user.active, Some(false));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "PATCH");
    assert_eq!(sent.header("content-type"), Some("application/scim+json"));
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        })
    );
}

#[tokio::test]
async fn numeric_statuses_and_non_scim_bodies_become_status_errors() {
    let server = canned::serve(vec![
        canned::route(
            "POST",
            "/Users",
            400,
            r#"{"status":400,"scimType":"invalidValue","detail":"userName is required"}"#,
        ),
        canned::route(
            "GET",
            "/Users/u9",
            403,
            "<html><body>Forbidden by proxy</body></html>",
        ),
    ])
    .await
    .unwrap();
    let scim = canned_client(&server);

    let refused = scim
        .create_user(&person("1", "No", "Name"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&refused), (400, Some("invalidValue")));
    assert!(
        refused.to_string().contains("userName is required"),
        "{refused}"
    );

    let forbidden = scim.get_user("u9").await.unwrap_err();
    assert_eq!(status_of(&forbidden), (403, None));
    assert!(
        forbidden.to_string().contains("Forbidden by proxy"),
        "{forbidden}"
    );
    assert!(!forbidden.is_retryable());
}

#[tokio::test]
async fn a_page_that_comes_up_short_of_the_total_is_partial() {
    // The server claims 5 users but the second page is empty: nothing may be taken as absent.
    let server = canned::serve(vec![canned::route(
        "GET",
        "/Users",
        200,
        r#"{"totalResults":5,"itemsPerPage":0,"startIndex":1,"Resources":[]}"#,
    )])
    .await
    .unwrap();
    let error = canned_client(&server).list_users().await.unwrap_err();
    assert!(matches!(error, ScimError::Partial { .. }), "{error:?}");
    let target = &server.requests()[0].target;
    assert_eq!(target, "/scim/Users?startIndex=1&count=200");
}

#[tokio::test]
async fn a_server_that_ignores_start_index_is_caught_on_the_second_page() {
    // No totalResults, and the same page whatever startIndex says.
    let server = canned::serve(vec![canned::route(
        "GET",
        "/Users",
        200,
        r#"{"Resources":[{"id":"u1","userName":"a@example.se"}]}"#,
    )])
    .await
    .unwrap();
    let scim = ScimClient::new(ScimSettings {
        page_size: 1,
        ..ScimSettings::new(&server.base_url, SecretString::from("canned-token"))
    })
    .unwrap();
    let error = scim.list_users().await.unwrap_err();
    assert!(matches!(error, ScimError::Partial { .. }), "{error:?}");
    assert_eq!(server.requests().len(), 2);
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

/// The error's Display, alternate Display, Debug and every source in its chain.
fn error_texts(error: &ScimError) -> String {
    let mut text = format!("{error}\n{error:#}\n{error:?}\n{error:#?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn the_token_never_reaches_logs_or_errors() {
    let logs = captured_logs();
    let token = "scim-Secret-Token-8812";
    let server = canned::serve(vec![
        canned::route(
            "GET",
            "/ServiceProviderConfig",
            401,
            r#"{"status":"401","detail":"invalid bearer token"}"#,
        ),
        canned::route("GET", "/Users", 401, "Unauthorized"),
        canned::route(
            "GET",
            "/Groups",
            500,
            "<html><body>Internal error</body></html>",
        ),
        canned::route(
            "POST",
            "/Users",
            500,
            r#"{"status":500,"detail":"database down"}"#,
        ),
        canned::route("PATCH", "/Users/u1", 503, ""),
    ])
    .await
    .unwrap();
    let mut settings = ScimSettings::new(&server.base_url, SecretString::from(token));
    settings.http.retry.max_attempts = 3;
    settings.http.retry.base_delay = std::time::Duration::from_millis(1);
    settings.http.retry.max_delay = std::time::Duration::from_millis(2);
    let scim = ScimClient::new(settings).unwrap();

    let mut errors = Vec::new();
    let error = scim.discover().await.unwrap_err();
    assert_eq!(error.status(), Some(401), "{error:?}");
    errors.push(error);
    let error = scim.list_users().await.unwrap_err();
    assert_eq!(error.status(), Some(401), "{error:?}");
    errors.push(error);
    let error = scim.list_groups().await.unwrap_err();
    assert_eq!(error.status(), Some(500), "{error:?}");
    errors.push(error);
    let error = scim
        .create_user(&person("1", "Ann", "Berg"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(500), "{error:?}");
    errors.push(error);
    let error = scim
        .patch_user("u1", vec![PatchOperation::replace("active", json!(false))])
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");
    errors.push(error);
    assert!(scim.stats().retries.load(Ordering::Relaxed) > 0);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {token}"))),
        "the token was sent, so there was something to leak"
    );

    for error in &errors {
        let text = error_texts(error);
        assert!(!text.contains(token), "an error holds the token:\n{text}");
    }
    assert!(!format!("{scim:?}").contains(token));

    tracing::trace!(canary = "scim-secrets-canary", "log capture check");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("scim-secrets-canary"),
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
    assert!(!text.contains(token), "the logs hold the token:\n{text}");
}

#[tokio::test]
async fn a_token_quoted_back_by_the_server_is_not_repeated() {
    let token = "scim-Echoed-Token-5150";
    let server = canned::serve(vec![
        canned::route(
            "GET",
            "/Users/u1",
            401,
            &format!(r#"{{"status":"401","detail":"token {token} has expired"}}"#),
        ),
        canned::route(
            "GET",
            "/Users/u2",
            500,
            &format!("<html>request had Authorization: Bearer {token}</html>"),
        ),
    ])
    .await
    .unwrap();
    let mut settings = ScimSettings::new(&server.base_url, SecretString::from(token));
    settings.http.retry.max_attempts = 2;
    settings.http.retry.base_delay = std::time::Duration::from_millis(1);
    let scim = ScimClient::new(settings).unwrap();
    for (id, status) in [("u1", 401), ("u2", 500)] {
        let error = scim.get_user(id).await.unwrap_err();
        assert_eq!(error.status(), Some(status), "{error:?}");
        let text = error_texts(&error);
        assert!(!text.contains(token), "an error holds the token:\n{text}");
    }
}

// ---- parsing never panics

mod parsing {
    use flexsync_scim::discovery::list_items;
    use flexsync_scim::error::status_error;
    use flexsync_scim::wire::{ListResponse, ScimErrorBody, canonical_keys};
    use flexsync_scim::{ScimGroup, ScimUser};
    use proptest::prelude::*;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    /// Attribute names the wire types look for, so that generated resources go deep.
    const KEYS: &[&str] = &[
        "schemas",
        "id",
        "externalId",
        "userName",
        "name",
        "givenName",
        "familyName",
        "emails",
        "value",
        "type",
        "primary",
        "active",
        "displayName",
        "members",
        "display",
        "meta",
        "lastModified",
        "Resources",
        "resources",
        "totalResults",
        "startIndex",
        "itemsPerPage",
        "status",
        "scimType",
        "detail",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
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
            "[ 0-9]{0,4}".prop_map(Value::String),
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

    /// A well-formed user or group with some attributes replaced by anything at all.
    fn resource_like() -> impl Strategy<Value = Value> {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1", "externalId": "1001", "userName": "sara@example.se",
            "name": {"givenName": "Sara", "familyName": "Nilsson"},
            "emails": [{"value": "sara@example.se", "type": "work", "primary": true}],
            "active": true, "meta": {"resourceType": "User", "version": "W/\"1\""},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "u0"}}
        });
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1", "externalId": "dept-200", "displayName": "Ekonomi",
            "members": [{"value": "u1", "display": "Sara"}]
        });
        (
            prop_oneof![Just(user), Just(group)],
            prop::collection::vec((key(), json_value()), 0..3),
        )
            .prop_map(|(mut resource, changes)| {
                if let Value::Object(map) = &mut resource {
                    for (key, value) in changes {
                        map.insert(key, value);
                    }
                }
                resource
            })
    }

    /// Raw bytes, JSON cut off anywhere, and JSON with one byte changed.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
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

    /// Reads one value as every wire type the client reads; a resource read is written back
    /// and read again unchanged.
    fn read_everything(value: &Value) -> Result<(), TestCaseError> {
        if let Ok(page) = serde_json::from_value::<ListResponse<Value>>(value.clone()) {
            for resource in page.resources {
                read_everything(&resource)?;
            }
        }
        let _ = serde_json::from_value::<ListResponse<ScimUser>>(value.clone());
        let _ = serde_json::from_value::<ListResponse<ScimGroup>>(value.clone());
        let _ = serde_json::from_value::<ScimErrorBody>(value.clone()).map(|b| b.status);
        let _ = list_items::<Value>(value.clone());
        if let Ok(user) = serde_json::from_value::<ScimUser>(value.clone()) {
            let again: ScimUser = serde_json::from_value(serde_json::to_value(&user).unwrap())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, user);
        }
        if let Ok(group) = serde_json::from_value::<ScimGroup>(value.clone()) {
            let again: ScimGroup = serde_json::from_value(serde_json::to_value(&group).unwrap())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, group);
        }
        Ok(())
    }

    /// Every key at any depth in a case chosen by `seed`. Now and then the key is also kept as
    /// it was, beside the new spelling, holding its value, while the new spelling holds
    /// another: the standard spelling must win.
    fn recase(value: &Value, seed: &mut u64) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, inner) in map {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    let recased: String = key
                        .chars()
                        .enumerate()
                        .map(|(i, c)| match (*seed >> (i % 48)) & 1 {
                            1 => c.to_ascii_uppercase(),
                            _ => c.to_ascii_lowercase(),
                        })
                        .collect();
                    if *seed >> 62 == 0 && recased != *key {
                        out.insert(key.clone(), inner.clone());
                        out.insert(recased, json!("sent in another spelling"));
                    } else {
                        out.insert(recased, recase(inner, seed));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| recase(i, seed)).collect()),
            other => other.clone(),
        }
    }

    /// The value as JSON text with each object's members in an order chosen by `seed`; now and
    /// then a member comes twice. (Sent twice with two values, a standard name is read in
    /// order, and an earlier value of the wrong type fails the record: RFC 8259 leaves objects
    /// with repeated names to each reader.)
    fn shuffled_text(value: &Value, seed: &mut u64) -> String {
        fn next(seed: &mut u64) -> u64 {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        }
        match value {
            Value::Object(map) => {
                let mut members: Vec<(u64, String)> = Vec::new();
                for (key, inner) in map {
                    let key_text = Value::String(key.clone()).to_string();
                    let text = shuffled_text(inner, seed);
                    if next(seed).is_multiple_of(5) {
                        members.push((next(seed) % 1000, format!("{key_text}: {text}")));
                    }
                    members.push((next(seed) % 1000, format!("{key_text}: {text}")));
                }
                members.sort_by_key(|(order, _)| *order);
                let texts: Vec<&str> = members.iter().map(|(_, text)| text.as_str()).collect();
                format!("{{{}}}", texts.join(", "))
            }
            Value::Array(items) => {
                let texts: Vec<String> = items.iter().map(|i| shuffled_text(i, seed)).collect();
                format!("[{}]", texts.join(", "))
            }
            other => other.to_string(),
        }
    }

    /// `T` read straight from the text is `T` read from the text's tree with standard names.
    fn read_alike<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
        text: &str,
    ) -> Result<(), TestCaseError> {
        let direct = serde_json::from_str::<T>(text).ok();
        let tree: Value =
            serde_json::from_str(text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let through_tree = serde_json::from_value::<T>(canonical_keys(tree)).ok();
        prop_assert_eq!(direct, through_tree, "{}", text);
        Ok(())
    }

    /// An error body of any shape becomes a status error naming the status and the request.
    fn judge_error_body(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
        let error = status_error(status, body, "GET /Users");
        prop_assert_eq!(error.status(), Some(status));
        let text = error.to_string();
        prop_assert!(
            text.starts_with("GET /Users: the server answered"),
            "{}",
            text
        );
        let _ = serde_json::from_slice::<ScimErrorBody>(body);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_json_value_is_read_or_refused_without_a_panic(
            value in prop_oneof![json_value(), resource_like()],
            status in 100u16..600,
        ) {
            read_everything(&value)?;
            let resources = match &value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let page = json!({"totalResults": resources.len(), "Resources": resources});
            let read: ListResponse<Value> = serde_json::from_value(page)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(read.total_results, Some(resources.len() as u64));
            prop_assert_eq!(read.resources, resources);
            judge_error_body(status, value.to_string().as_bytes())?;
        }

        #[test]
        fn names_in_any_case_read_as_the_standard_ones(
            resource in resource_like(),
            mut seed in 1u64..,
        ) {
            let recased = recase(&resource, &mut seed);
            for text in [recased.to_string(), shuffled_text(&recased, &mut seed)] {
                read_alike::<ScimUser>(&text)?;
                read_alike::<ScimGroup>(&text)?;
            }
            let page = recase(&json!({"totalResults": 1, "Resources": [resource]}), &mut seed);
            for text in [page.to_string(), shuffled_text(&page, &mut seed)] {
                read_alike::<ListResponse<ScimUser>>(&text)?;
                read_alike::<ListResponse<ScimGroup>>(&text)?;
            }
        }

        #[test]
        fn any_body_is_read_or_refused_without_a_panic(
            bytes in body(),
            status in 100u16..600,
        ) {
            judge_error_body(status, &bytes)?;
            let _ = serde_json::from_slice::<ListResponse<Value>>(&bytes);
            let _ = serde_json::from_slice::<ListResponse<ScimUser>>(&bytes);
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                read_everything(&value)?;
            }
        }
    }
}

/// Runs `writes` together through a Bulk writer and returns what each came to, in order.
async fn through_bulk<'a, T>(
    writer: &flexsync_scim::Writer<'a>,
    writes: Vec<futures::future::BoxFuture<'a, T>>,
) -> Vec<T> {
    writer.drive(futures::future::join_all(writes)).await
}

#[tokio::test]
async fn writes_through_scim2_server_bulk_are_answered_as_they_would_be_alone() {
    let Some(server) =
        server("writes_through_scim2_server_bulk_are_answered_as_they_would_be_alone")
    else {
        return;
    };
    use futures::FutureExt;
    let scim = client(&server);
    let info = scim.discover().await.unwrap();
    let limits =
        flexsync_scim::BulkLimits::advertised(&info).expect("scim2-server advertises Bulk");
    let kept = scim.create_user(&person("1", "Dag", "Holm")).await.unwrap();
    let gone = scim.create_user(&person("2", "Eva", "Ros")).await.unwrap();
    let (kept_id, gone_id) = (kept.id.unwrap(), gone.id.unwrap());
    let before = scim.request_count();

    let writer = flexsync_scim::Writer::bulk(&scim, limits, 2);
    let mut same_name = person("3", "Dag", "Holm");
    same_name.user_name = same_name.user_name.to_uppercase();
    let (new_one, duplicate) = (person("4", "Ola", "Berg"), same_name);
    let results = through_bulk(
        &writer,
        vec![
            async { writer.create_user(&new_one).await.map(|u| u.id) }.boxed(),
            async { writer.create_user(&duplicate).await.map(|u| u.id) }.boxed(),
            async {
                let ops = vec![PatchOperation::replace("active", json!(false))];
                writer.patch_user(&kept_id, ops).await.map(|_| None)
            }
            .boxed(),
            async {
                let ops = vec![PatchOperation::replace("shoeSize", json!(42))];
                writer.patch_user(&kept_id, ops).await.map(|_| None)
            }
            .boxed(),
            async { writer.delete_user(&gone_id).await.map(|()| None) }.boxed(),
            async { writer.delete_user("no-such-id").await.map(|()| None) }.boxed(),
        ],
    )
    .await;
    assert_eq!(
        scim.request_count() - before,
        1,
        "one /Bulk request: {results:?}"
    );

    let made = results[0]
        .as_ref()
        .unwrap()
        .clone()
        .expect("the new user's id");
    let duplicate = results[1].as_ref().unwrap_err();
    assert_eq!(status_of(duplicate), (409, Some("uniqueness")));
    assert!(
        duplicate.to_string().starts_with("POST /Users: "),
        "{duplicate}"
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    let bad_path = results[3].as_ref().unwrap_err();
    assert_eq!(status_of(bad_path).0, 400);
    assert!(results[4].is_ok() && results[5].is_ok(), "{results:?}");

    let held = scim.list_users().await.unwrap();
    let names: BTreeSet<&str> = held.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["dag.holm@example.se", "ola.berg@example.se"])
    );
    let made = scim.get_user(&made).await.unwrap();
    assert_eq!(made.external_id.as_deref(), Some("4"));
    assert_eq!(scim.get_user(&kept_id).await.unwrap().active, Some(false));
}

#[tokio::test]
async fn a_bulk_request_refused_as_too_large_is_sent_again_in_halves() {
    use flexsync_emulators::scim::{Profile, ScimOptions, bulk::Limits, start};
    use futures::FutureExt;
    // The server takes 3 operations a request, but the writer was told 8.
    let server = start(ScimOptions {
        token: "t".into(),
        profile: Profile::Extended,
        bulk: Limits {
            max_operations: 3,
            ..Limits::default()
        },
        ..ScimOptions::default()
    })
    .await
    .unwrap();
    let scim = ScimClient::new(ScimSettings::new(
        server.base_url(),
        SecretString::from("t"),
    ))
    .unwrap();
    let told = flexsync_scim::BulkLimits {
        max_operations: 8,
        max_payload_size: 1 << 20,
    };
    let writer = flexsync_scim::Writer::bulk(&scim, told, 1);
    let people: Vec<ScimUser> = (0..8)
        .map(|n| person(&n.to_string(), "Anna", &format!("Nilsson{n}")))
        .collect();
    let writes = people
        .iter()
        .map(|p| async { writer.create_user(p).await }.boxed())
        .collect();
    let results = through_bulk(&writer, writes).await;
    for result in &results {
        assert!(result.as_ref().is_ok_and(|u| u.id.is_some()), "{result:?}");
    }
    let stats = server.bulk_stats();
    assert!(stats.refused >= 1, "{stats:?}");
    assert_eq!(stats.operations, 8, "each write made once: {stats:?}");
    assert_eq!(server.users().len(), 8);
    assert_eq!(server.writes(), 8);
}

#[tokio::test]
async fn a_bulk_result_is_found_by_bulk_id_and_a_busy_one_is_sent_again_alone() {
    use futures::FutureExt;
    // The results come in another order; the first create's has no resource, only its
    // location; the second create was not done (503) and goes again as POST /Users.
    let server = canned::serve(vec![
        canned::route(
            "POST",
            "/Bulk",
            200,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
                "Operations":[
                  {"method":"POST","bulkId":"b2","status":"503",
                   "response":{"status":"503","detail":"busy"}},
                  {"method":"POST","bulkId":"b1","status":"201",
                   "location":"https://example.se/scim/Users/u1"}]}"#,
        ),
        canned::route(
            "POST",
            "/Users",
            201,
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id":"u2","userName":"eva.ros@example.se"}"#,
        ),
    ])
    .await
    .unwrap();
    let scim = canned_client(&server);
    let limits = flexsync_scim::BulkLimits {
        max_operations: 10,
        max_payload_size: 1 << 20,
    };
    let writer = flexsync_scim::Writer::bulk(&scim, limits, 1);
    let (dag, eva) = (person("1", "Dag", "Holm"), person("2", "Eva", "Ros"));
    let results = through_bulk(
        &writer,
        vec![
            async { writer.create_user(&dag).await }.boxed(),
            async { writer.create_user(&eva).await }.boxed(),
        ],
    )
    .await;
    let made = results[0].as_ref().unwrap();
    assert_eq!(made.id.as_deref(), Some("u1"));
    assert_eq!(
        made.user_name, "dag.holm@example.se",
        "what was sent, with its id"
    );
    assert_eq!(results[1].as_ref().unwrap().id.as_deref(), Some("u2"));

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[0].ends_with("/Bulk") && paths[1].ends_with("/Users"),
        "{paths:?}"
    );
    let bulk: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
    assert!(bulk.get("failOnErrors").is_none());
    assert_eq!(bulk["Operations"][0]["bulkId"], "b1");
    assert_eq!(bulk["Operations"][1]["path"], "/Users");
    assert_eq!(bulk["Operations"][1]["data"]["externalId"], "2");
}
