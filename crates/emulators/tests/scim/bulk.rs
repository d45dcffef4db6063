//! `/Bulk` over HTTP: advertised and served in the extended profile only, with bulkId
//! references, failOnErrors and the two limits.

use super::super::*;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn statuses(answer: &Value) -> Vec<&str> {
    texts(&answer["Operations"], "status")
}

#[tokio::test]
async fn bulk_is_advertised_and_served_in_the_extended_profile_only() {
    let documented = env(Profile::Documented).await;
    let body = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user(1)},
    ]});
    let (status, answer) = documented.post("/Bulk", body.clone()).await;
    assert_error(status, &answer, StatusCode::NOT_IMPLEMENTED, None);
    assert!(documented.scim.users().is_empty());

    let env = env(Profile::Extended).await;
    let (_, config) = env.get("/ServiceProviderConfig").await;
    assert_eq!(
        config["bulk"],
        json!({"supported": true, "maxOperations": 100, "maxPayloadSize": 1_048_576})
    );
    let (status, answer) = env.post("/Bulk", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    assert_eq!(statuses(&answer), vec!["201"]);
    let location = answer["Operations"][0]["location"].as_str().unwrap();
    let (status, created) = env.get(location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["userName"], "person1@example.se");
    assert_eq!(
        answer["Operations"][0]["version"],
        created["meta"]["version"]
    );
    assert_eq!(
        env.scim.knobs.counters().get("POST /api/scim/Bulk"),
        Some(&1)
    );
}

#[tokio::test]
async fn bulk_ids_link_operations_and_fail_on_errors_stops() {
    let env = env(Profile::Extended).await;
    let manager = |bulk_id: &str| json!({"value": format!("bulkId:{bulk_id}")});
    let (status, answer) = env
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {
                    "schemas": [GROUP, WT_GROUP], "displayName": "G",
                    "members": [manager("u1"), manager("u2")],
                    WT_GROUP: {"managers": [manager("u1")]},
                }},
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user(1)},
                {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user(2)},
                {"method": "PATCH", "path": "/Users/bulkId:u2", "data": {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "path": format!("{ENTERPRISE}:manager"),
                                    "value": manager("u1")}],
                }},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        statuses(&answer),
        vec!["201", "201", "201", "200"],
        "{answer}"
    );
    let users = env.scim.users();
    let (u1, u2) = (id(&users[0]), id(&users[1]));
    let group = &env.scim.groups()[0];
    assert_eq!(group["members"], json!([{"value": u1}, {"value": u2}]));
    assert_eq!(group[WT_GROUP]["managers"], json!([{"value": u1}]));
    assert_eq!(users[1][ENTERPRISE]["manager"], json!({"value": u1}));
    assert!(
        answer["Operations"][3]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{u2}"))
    );

    let writes = env.scim.writes();
    let (_, stopped) = env
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user(1)},
                {"method": "POST", "path": "/Users", "bulkId": "new", "data": user(3)},
            ]}),
        )
        .await;
    assert_eq!(statuses(&stopped), vec!["409"], "{stopped}");
    assert_eq!(
        stopped["Operations"][0]["response"]["scimType"],
        "uniqueness"
    );
    assert_eq!(stopped["Operations"][0]["bulkId"], "dup");
    assert_eq!(
        env.scim.writes(),
        writes,
        "nothing after the first error ran"
    );
}

#[tokio::test]
async fn bulk_limits_are_413_and_a_bad_envelope_400() {
    let env = env(Profile::Extended).await;
    let many: Vec<Value> = (0..101)
        .map(|n| json!({"method": "DELETE", "path": format!("/Users/{n}")}))
        .collect();
    let (status, body) = env
        .post("/Bulk", json!({"schemas": [BULK], "Operations": many}))
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);
    let mut big = user(1);
    big["displayName"] = json!("x".repeat(1_048_576));
    let (status, body) = env
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": big},
            ]}),
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);
    let (status, body) = env
        .post(
            "/Bulk",
            json!({"Operations": [{"method": "DELETE", "path": "/Users/1"}]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    );
    assert_eq!(env.scim.writes(), 0);
}

#[tokio::test]
async fn limits_set_in_the_options_are_advertised_and_enforced_at_their_edge() {
    use flexsync_emulators::scim::bulk::Limits;
    let deletes = |n: usize| -> Value {
        let ops: Vec<Value> = (0..n)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/u{i}")}))
            .collect();
        json!({"schemas": [BULK], "Operations": ops})
    };
    let max_payload_size = deletes(2).to_string().len();
    let env = env_with(ScimOptions {
        profile: Profile::Extended,
        bulk: Limits {
            max_operations: 3,
            max_payload_size,
        },
        ..options()
    })
    .await;
    let (_, config) = env.get("/ServiceProviderConfig").await;
    assert_eq!(
        config["bulk"],
        json!({"supported": true, "maxOperations": 3, "maxPayloadSize": max_payload_size})
    );
    // Two operations fill the payload exactly: served (each a 404: nobody is there).
    let (status, answer) = env.post("/Bulk", deletes(2)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(statuses(&answer), vec!["404", "404"]);
    // Three are within maxOperations, but over maxPayloadSize.
    let (status, body) = env.post("/Bulk", deletes(3)).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("maxPayloadSize")),
        "{body}"
    );
    let stats = env.scim.bulk_stats();
    assert_eq!((stats.requests, stats.operations, stats.refused), (1, 2, 1));
    assert_eq!(stats.largest_payload, max_payload_size);
}

#[tokio::test]
async fn more_operations_than_max_operations_are_413_whatever_their_size() {
    use flexsync_emulators::scim::bulk::Limits;
    let env = env_with(ScimOptions {
        profile: Profile::Extended,
        bulk: Limits {
            max_operations: 2,
            ..Limits::default()
        },
        ..options()
    })
    .await;
    let ops: Vec<Value> = (0..3)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/u{i}")}))
        .collect();
    let (status, body) = env
        .post("/Bulk", json!({"schemas": [BULK], "Operations": ops}))
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("maxOperations (2)")),
        "{body}"
    );
    assert_eq!(env.scim.bulk_stats().refused, 1);
}
