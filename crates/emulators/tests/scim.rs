//! The SCIM emulator over a real socket: auth, discovery per profile, CRUD, paging, filters,
//! PATCH shapes, strictness, no-op writes, groups and injected faults; in `scim/`, answers
//! shaped by `attributes` and `.search`, value checks, Group managers and `/Bulk`.

// clippy.toml allows these in #[test] functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod scim {
    mod answers;
    mod bulk;
    mod managers;
    mod values;
}

use std::collections::BTreeSet;

use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::{AnswerCase, Profile, RunningScim, ScimOptions, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "t0ken-for-tests";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const WT_USER: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";
const WT_GROUP: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Env {
    scim: RunningScim,
    http: reqwest::Client,
}

async fn env(profile: Profile) -> Env {
    env_with(ScimOptions {
        profile,
        ..options()
    })
    .await
}

/// The default options with the test token.
fn options() -> ScimOptions {
    ScimOptions {
        token: TOKEN.to_string(),
        ..ScimOptions::default()
    }
}

async fn env_with(options: ScimOptions) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scim = start(options).await.unwrap();
    Env {
        scim,
        http: reqwest::Client::new(),
    }
}

impl Env {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.scim.base_url())
        };
        let mut request = self.http.request(method, url).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, operations: Value) -> (StatusCode, Value) {
        let body = json!({"schemas": [PATCH_OP], "Operations": operations});
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn create_user(&self, n: usize) -> Value {
        let (status, body) = self.post("/Users", user(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn filter(&self, resource: &str, filter: &str) -> (StatusCode, Value) {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/{resource}", self.scim.base_url()),
            &[("filter", filter)],
        )
        .unwrap();
        self.get(url.as_str()).await
    }
}

fn user(n: usize) -> Value {
    json!({
        "schemas": [USER],
        "userName": format!("person{n}@example.se"),
        "externalId": format!("E{n}"),
        "name": {"givenName": format!("Given{n}"), "familyName": format!("Family{n}")},
        "emails": [{"value": format!("person{n}@example.se"), "type": "work", "primary": true}],
        "active": true,
    })
}

fn id(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_string()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, scim_type: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(
        body["status"],
        json!(expected.as_u16().to_string()),
        "{body}"
    );
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// A 400 `invalidSyntax` error whose detail names `what`.
fn assert_invalid_syntax_naming(status: StatusCode, body: &Value, what: &str) {
    assert_error(status, body, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    assert!(body["detail"].as_str().unwrap().contains(what), "{body}");
}

/// The string `field` of every object in the array `list`.
fn texts<'a, C: FromIterator<&'a str>>(list: &'a Value, field: &str) -> C {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn bearer_token_is_required() {
    let env = env(Profile::Documented).await;
    let url = format!("{}/Users", env.scim.base_url());
    for auth in [None, Some("Bearer wrong"), Some("Basic dDBrZW4=")] {
        let mut request = env.http.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
    }
    let (status, body) = env.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalResults"], 0);
}

#[tokio::test]
async fn documented_profile_advertises_only_core_attributes() {
    let env = env_with(ScimOptions {
        max_results: 50,
        ..options()
    })
    .await;
    let (status, config) = env.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(
        config["filter"],
        json!({"supported": true, "maxResults": 50})
    );
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(config["etag"]["supported"], false);
    assert_eq!(config["sort"]["supported"], false);

    let (_, types) = env.get("/ResourceTypes").await;
    let types = types["Resources"].as_array().unwrap();
    assert_eq!(types.len(), 2);
    for t in types {
        assert_eq!(t["schemaExtensions"], json!([]), "{t}");
    }
    let (_, schemas) = env.get("/Schemas").await;
    let ids: Vec<&str> = texts(&schemas["Resources"], "id");
    assert_eq!(ids, vec![USER, GROUP]);

    let (status, schema) = env.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(status, StatusCode::OK);
    let names: BTreeSet<&str> = texts(&schema["attributes"], "name");
    let expected: BTreeSet<&str> = [
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "externalId",
    ]
    .into();
    assert_eq!(names, expected);
    let user_name = &schema["attributes"][0];
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["uniqueness"], "server");

    let (status, body) = env.get(&format!("/Schemas/{ENTERPRISE}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn extended_profile_advertises_the_extensions() {
    let env = env(Profile::Extended).await;
    let (_, user_type) = env.get("/ResourceTypes/User").await;
    assert_eq!(
        user_type["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}, {"schema": WT_USER, "required": false}])
    );
    let (_, group_type) = env.get("/ResourceTypes/Group").await;
    assert_eq!(
        group_type["schemaExtensions"],
        json!([{"schema": WT_GROUP, "required": false}])
    );

    let (status, wt) = env.get(&format!("/Schemas/{WT_USER}")).await;
    assert_eq!(status, StatusCode::OK);
    let attrs = wt["attributes"].as_array().unwrap();
    let gender = attrs.iter().find(|a| a["name"] == "gender").unwrap();
    assert_eq!(
        gender["canonicalValues"],
        json!(["None", "Male", "Female", "NonBinary"])
    );
    let types: Vec<(&str, &str)> = attrs
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("gender", "string"),
            ("birthDate", "dateTime"),
            ("excludeFromSurveys", "boolean"),
            ("employmentStartDate", "dateTime"),
            ("employmentEndDate", "dateTime"),
            ("segments", "complex"),
        ]
    );
    let segments = attrs.iter().find(|a| a["name"] == "segments").unwrap();
    assert_eq!(segments["multiValued"], true);
    let subs: Vec<&str> = segments["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["category", "value", "externalId"]);
    let (_, enterprise) = env.get(&format!("/Schemas/{ENTERPRISE}")).await;
    let manager = enterprise["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "manager")
        .unwrap();
    assert!(
        manager["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "value")
    );
    let (_, group) = env.get(&format!("/Schemas/{WT_GROUP}")).await;
    assert_eq!(group["attributes"][0]["name"], "parentExternalId");
}

#[tokio::test]
async fn create_get_and_list_with_paging_and_filters() {
    let env = env(Profile::Documented).await;
    let mut created = BTreeSet::new();
    for n in 0..7 {
        let body = env.create_user(n).await;
        assert_eq!(body["userName"], format!("person{n}@example.se"));
        assert_eq!(body["meta"]["resourceType"], "User");
        assert_eq!(body["meta"]["version"], "W/\"1\"");
        let (status, fetched) = env.get(body["meta"]["location"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, body);
        created.insert(id(&body));
    }

    let response = env
        .http
        .post(format!("{}/Users", env.scim.base_url()))
        .bearer_auth(TOKEN)
        .json(&user(99))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("{}/Users/{}", env.scim.base_url(), id(&body))
    );
    created.insert(id(&body));

    let mut seen = Vec::new();
    let mut start_index = 1;
    loop {
        let (status, page) = env
            .get(&format!("/Users?startIndex={start_index}&count=3"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["totalResults"], 8);
        assert_eq!(page["startIndex"], start_index);
        let got = page["Resources"].as_array().unwrap().len();
        assert_eq!(page["itemsPerPage"], got);
        seen.extend(page["Resources"].as_array().unwrap().iter().map(id));
        if start_index + got > 8 {
            break;
        }
        start_index += got;
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    let (_, beyond) = env.get("/Users?startIndex=20").await;
    assert_eq!(beyond["Resources"], json!([]));
    assert_eq!(beyond["totalResults"], 8);
    let (_, zero) = env.get("/Users?count=0").await;
    assert_eq!(
        (zero["totalResults"].clone(), zero["itemsPerPage"].clone()),
        (json!(8), json!(0))
    );

    let (_, found) = env
        .filter("Users", r#"userName eq "PERSON3@Example.SE""#)
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["externalId"], "E3");
    let (_, by_external) = env.filter("Users", r#"externalId eq "E4""#).await;
    assert_eq!(
        by_external["Resources"][0]["userName"],
        "person4@example.se"
    );
    let (_, case_exact) = env.filter("Users", r#"externalId eq "e4""#).await;
    assert_eq!(case_exact["totalResults"], 0);
    let (_, combined) = env
        .filter(
            "Users",
            r#"(externalId eq "E1" or emails.value ew "5@example.se") and not (active eq false)"#,
        )
        .await;
    let mut names: Vec<&str> = texts(&combined["Resources"], "userName");
    names.sort();
    assert_eq!(names, vec!["person1@example.se", "person5@example.se"]);
    let (_, starts) = env
        .filter("Users", r#"userName sw "person" and externalId co "9""#)
        .await;
    assert_eq!(starts["totalResults"], 1);
    let (_, present) = env.filter("Users", "displayName pr").await;
    assert_eq!(present["totalResults"], 0);
    let third = env.filter("Users", r#"externalId eq "E3""#).await.1["Resources"][0].clone();
    let since = third["meta"]["lastModified"].as_str().unwrap();
    let (_, later) = env
        .filter("Users", &format!(r#"meta.lastModified ge "{since}""#))
        .await;
    let later: BTreeSet<&str> = texts(&later["Resources"], "externalId");
    assert!(
        later.contains("E3") && later.contains("E99") && !later.contains("E0"),
        "{later:?}"
    );

    for bad in [
        r#"userName eq"#,
        r#"userName eq 'x'"#,
        r#"nickName eq "x""#,
        r#"active eq "true""#,
    ] {
        let (status, body) = env.filter("Users", bad).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
        );
    }
    let (status, body) = env.get("/Users/no-such-id").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn page_size_is_capped_at_max_results() {
    let env = env_with(ScimOptions {
        max_results: 2,
        ..options()
    })
    .await;
    for n in 0..5 {
        env.create_user(n).await;
    }
    let (_, page) = env.get("/Users?count=100").await;
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["totalResults"], 5);
}

#[tokio::test]
async fn patch_with_paths_and_with_value_objects() {
    let env = env(Profile::Extended).await;
    let manager = env.create_user(1).await;
    let employee = env.create_user(2).await;
    let path = format!("/Users/{}", id(&employee));

    let (status, body) = env
        .patch(
            &path,
            json!([
                {"op": "Replace", "path": "active", "value": false},
                {"op": "replace", "path": "name.givenName", "value": "Greta"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "greta@example.se"},
                {"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": id(&manager)}},
                {"op": "add", "path": format!("{WT_USER}:gender"), "value": "Female"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(body["name"]["givenName"], "Greta");
    assert_eq!(body["emails"][0]["value"], "greta@example.se");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], id(&manager));
    assert_eq!(body[WT_USER]["gender"], "Female");
    assert_eq!(body["schemas"], json!([USER, ENTERPRISE, WT_USER]));

    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "add", "value": {
                "active": true,
                "externalId": "E2-new",
                WT_USER: {"excludeFromSurveys": true, "birthDate": "1984-03-02T00:00:00Z"},
                format!("{ENTERPRISE}:department"): "Ekonomi",
            }}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, fetched) = env.get(&path).await;
    assert_eq!(fetched, body);
    assert_eq!(fetched["active"], true);
    assert_eq!(fetched["externalId"], "E2-new");
    assert_eq!(fetched[WT_USER]["excludeFromSurveys"], true);
    assert_eq!(fetched[WT_USER]["gender"], "Female");
    assert_eq!(fetched[ENTERPRISE]["department"], "Ekonomi");
    assert_eq!(fetched[ENTERPRISE]["manager"]["value"], id(&manager));

    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "remove", "path": format!("{ENTERPRISE}:manager")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body[ENTERPRISE].get("manager").is_none(), "{body}");

    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "missing"}}]),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    for (op_path, value) in [
        ("active", json!("false")),
        (&format!("{WT_USER}:gender") as &str, json!("female")),
        (&format!("{WT_USER}:birthDate"), json!("1984-03-02")),
    ] {
        let (status, body) = env
            .patch(
                &path,
                json!([{"op": "replace", "path": op_path, "value": value}]),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    let (status, body) = env
        .patch(
            "/Users/no-such-id",
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    assert_eq!(
        env.scim.knobs.counters().get("PATCH /api/scim/Users/{id}"),
        Some(&8)
    );
}

#[tokio::test]
async fn patch_can_answer_no_content() {
    let env = env_with(ScimOptions {
        patch_returns_no_content: true,
        ..options()
    })
    .await;
    let created = env.create_user(1).await;
    let path = format!("/Users/{}", id(&created));
    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(env.get(&path).await.1["active"], false);
}

#[tokio::test]
async fn undeclared_attributes_are_invalid_syntax_naming_them() {
    let env = env(Profile::Documented).await;
    let mut with_nickname = user(1);
    with_nickname["nickName"] = json!("Nick");
    let (status, body) = env.post("/Users", with_nickname).await;
    assert_invalid_syntax_naming(status, &body, "nickName");

    let mut with_extension = user(1);
    with_extension[WT_USER] = json!({"gender": "Male"});
    let (status, body) = env.post("/Users", with_extension).await;
    assert_invalid_syntax_naming(status, &body, WT_USER);

    let mut with_sub = user(1);
    with_sub["name"]["middleName"] = json!("M");
    let (status, body) = env.post("/Users", with_sub).await;
    assert_invalid_syntax_naming(status, &body, "name.middleName");

    let created = env.create_user(1).await;
    let path = format!("/Users/{}", id(&created));
    let (status, body) = env
        .patch(&path, json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": id(&created)}}]))
        .await;
    assert_invalid_syntax_naming(status, &body, ENTERPRISE);

    let mut put_body = user(1);
    put_body["title"] = json!("Boss");
    let (status, body) = env.call(Method::PUT, &path, Some(put_body)).await;
    assert_invalid_syntax_naming(status, &body, "title");

    let mut wrong_type = user(2);
    wrong_type["active"] = json!("true");
    let (status, body) = env.post("/Users", wrong_type).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let (status, body) = env
        .post("/Users", json!({"name": {"givenName": "No username"}}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let (status, body) = env
        .call(Method::POST, "/Users", Some(json!("not an object")))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    );
    assert_eq!(env.scim.users().len(), 1);
}

#[tokio::test]
async fn duplicate_user_name_is_a_conflict_but_duplicate_external_id_is_not() {
    let env = env(Profile::Documented).await;
    let first = env.create_user(1).await;
    let mut same_name = user(2);
    same_name["userName"] = json!("PERSON1@example.se");
    let (status, body) = env.post("/Users", same_name).await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("uniqueness"));

    let mut same_external = user(2);
    same_external["externalId"] = first["externalId"].clone();
    let (status, second) = env.post("/Users", same_external).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");

    let (status, body) = env
        .patch(
            &format!("/Users/{}", id(&second)),
            json!([{"op": "replace", "path": "userName", "value": "Person1@Example.se"}]),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("uniqueness"));
    let (_, both) = env.filter("Users", r#"externalId eq "E1""#).await;
    assert_eq!(both["totalResults"], 2);

    let by_hand = env
        .scim
        .insert_user(json!({"userName": "manual@example.se", "name": {"givenName": "Manual"}}))
        .unwrap();
    assert!(by_hand.get("externalId").is_none());
    let mut clash = user(3);
    clash["userName"] = json!("Manual@Example.se");
    let (status, body) = env.post("/Users", clash).await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("uniqueness"));
    let (_, found) = env
        .filter("Users", r#"userName eq "manual@example.se""#)
        .await;
    assert_eq!(found["Resources"][0]["id"], by_hand["id"]);
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_version_and_last_modified() {
    let env = env(Profile::Extended).await;
    let created = env.create_user(1).await;
    let path = format!("/Users/{}", id(&created));
    assert_eq!(env.scim.writes(), 1);

    let (status, same) = env
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "active", "value": true},
                {"op": "replace", "path": "name.givenName", "value": "Given1"},
                {"op": "add", "path": "emails", "value": [{"value": "person1@example.se", "type": "work", "primary": true}]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["meta"], created["meta"]);
    let (status, same) = env.call(Method::PUT, &path, Some(user(1))).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["meta"], created["meta"]);
    assert_eq!(env.scim.writes(), 1);

    let (_, changed) = env
        .patch(
            &path,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(changed["meta"]["version"], "W/\"2\"");
    assert_eq!(changed["meta"]["created"], created["meta"]["created"]);
    assert_ne!(
        changed["meta"]["lastModified"],
        created["meta"]["lastModified"]
    );
    assert_eq!(env.scim.writes(), 2);

    let mut put = user(1);
    put["active"] = json!(false);
    put["displayName"] = json!("Person One");
    let (status, replaced) = env.call(Method::PUT, &path, Some(put)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["meta"]["version"], "W/\"3\"");
    assert_eq!(replaced["displayName"], "Person One");
    assert_eq!(env.scim.writes(), 3);
    assert_eq!(env.scim.users(), vec![replaced]);
}

#[tokio::test]
async fn groups_with_members_and_member_removal_by_filter_path() {
    let env = env(Profile::Extended).await;
    let a = id(&env.create_user(1).await);
    let b = id(&env.create_user(2).await);
    let c = id(&env.create_user(3).await);

    let (status, group) = env
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP, WT_GROUP],
                "displayName": "Ekonomi",
                "externalId": "g/1/eko",
                "members": [{"value": a}, {"value": b}],
                WT_GROUP: {"parentExternalId": "g/1"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["meta"]["resourceType"], "Group");
    let path = format!("/Groups/{}", id(&group));

    let (status, body) = env
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "add", "path": "members", "value": [{"value": c}, {"value": b}]},
                {"op": "replace", "path": "displayName", "value": "Ekonomi och finans"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"], json!([{"value": b}, {"value": c}]));
    assert_eq!(body["displayName"], "Ekonomi och finans");
    assert_eq!(body[WT_GROUP]["parentExternalId"], "g/1");

    let (_, found) = env
        .filter("Groups", r#"displayName eq "EKONOMI OCH FINANS""#)
        .await;
    assert_eq!(found["totalResults"], 1);
    let (_, by_member) = env
        .filter("Groups", &format!(r#"members.value eq "{c}""#))
        .await;
    assert_eq!(by_member["totalResults"], 1);

    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}]),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));

    let (status, body) = env
        .patch(&path, json!([{"op": "replace", "value": {"externalId": "g/1/fin", "members": [{"value": c}]}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"], json!([{"value": c}]));
    assert_eq!(body["externalId"], "g/1/fin");

    let (status, _) = env.call(Method::DELETE, &format!("/Users/{c}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = env.get(&path).await;
    assert!(after.get("members").is_none(), "{after}");

    let (status, _) = env.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = env.get(&path).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = env.call(Method::DELETE, &path, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    assert!(env.scim.groups().is_empty());

    let documented = crate::env(Profile::Documented).await;
    let (status, body) = documented
        .post(
            "/Groups",
            json!({"displayName": "X", WT_GROUP: {"parentExternalId": "g"}}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    );
}

#[tokio::test]
async fn injected_429_carries_retry_after_and_is_counted_by_route() {
    let env = env(Profile::Documented).await;
    env.scim.knobs.set_faults(Faults {
        error_share: 1.0,
        retry_after_seconds: 7,
        ..Faults::default()
    });
    let response = env
        .http
        .get(format!("{}/Users", env.scim.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(env.scim.knobs.injected(), 1);

    env.scim.knobs.set_faults(Faults::default());
    let (status, _) = env.get("/Users").await;
    assert_eq!(status, StatusCode::OK);
    env.create_user(1).await;
    let counters = env.scim.knobs.counters();
    assert_eq!(counters.get("GET /api/scim/Users"), Some(&2));
    assert_eq!(counters.get("POST /api/scim/Users"), Some(&1));
    assert_eq!(env.scim.writes(), 1);
    env.scim.shutdown().await.unwrap();
}

#[tokio::test]
async fn answer_case_respells_users_and_groups_but_not_discovery() {
    let env = env_with(ScimOptions {
        answer_case: AnswerCase::Upper,
        ..options()
    })
    .await;
    let (status, created) = env.post("/Users", user(1)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["USERNAME"], "person1@example.se", "{created}");
    assert_eq!(created["NAME"]["GIVENNAME"], "Given1", "{created}");
    let (_, list) = env.get("/Users").await;
    assert_eq!(list["RESOURCES"][0]["EXTERNALID"], "E1", "{list}");
    let (_, config) = env.get("/ServiceProviderConfig").await;
    assert!(config.get("patch").is_some(), "{config}");

    let pascal = env_with(ScimOptions {
        answer_case: AnswerCase::Pascal,
        ..options()
    })
    .await;
    let (_, created) = pascal.post("/Users", user(2)).await;
    assert_eq!(created["ExternalId"], "E2", "{created}");
    assert!(created.get("externalId").is_none(), "{created}");
}
