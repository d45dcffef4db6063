//! `attributes` and `excludedAttributes` on every answer that carries resources, and POST
//! `.search` at the root and per resource type.

use super::super::*;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn keys(resource: &Value) -> BTreeSet<&str> {
    resource
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_every_answer() {
    let env = env(Profile::Extended).await;
    let created = env.create_user(1).await;
    let path = format!("/Users/{}", id(&created));

    let (status, only) = env
        .get(&format!("{path}?attributes=userName,name.givenName"))
        .await;
    assert_eq!(status, StatusCode::OK, "{only}");
    assert_eq!(
        keys(&only),
        BTreeSet::from(["id", "name", "schemas", "userName"])
    );
    assert_eq!(only["name"], json!({"givenName": "Given1"}));

    let (_, without) = env
        .get(&format!("{path}?excludedAttributes=name,emails.type,id"))
        .await;
    assert!(without.get("name").is_none(), "{without}");
    assert_eq!(without["id"], created["id"], "id is returned always");
    assert_eq!(
        without["emails"],
        json!([{"value": "person1@example.se", "primary": true}])
    );

    let (_, list) = env.get("/Users?excludedAttributes=name&count=5").await;
    assert!(list["Resources"][0].get("name").is_none(), "{list}");
    assert_eq!(list["Resources"][0]["userName"], "person1@example.se");

    let (status, posted) = env.post("/Users?attributes=userName", user(2)).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    assert_eq!(keys(&posted), BTreeSet::from(["id", "schemas", "userName"]));

    let (status, patched) = env
        .call(
            Method::PATCH,
            &format!("{path}?excludedAttributes=emails,meta"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": format!("{WT_USER}:gender"), "value": "Female"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(patched.get("emails").is_none() && patched.get("meta").is_none());
    assert_eq!(patched[WT_USER]["gender"], "Female");
    assert_eq!(patched["schemas"], json!([USER, WT_USER]));

    let (_, extension_only) = env.get(&format!("{path}?attributes={WT_USER}")).await;
    assert_eq!(
        keys(&extension_only),
        BTreeSet::from(["id", "schemas", WT_USER])
    );

    let (status, body) = env
        .get(&format!(
            "{path}?attributes=userName&excludedAttributes=name"
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
}

#[tokio::test]
async fn discovery_endpoints_refuse_a_filter() {
    let env = env(Profile::Extended).await;
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let (status, body) = env.get(&format!("{path}?filter=id%20pr")).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, None);
        let (status, _) = env.get(path).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn search_posts_at_the_root_and_per_resource_type() {
    let env = env(Profile::Documented).await;
    let first = env.create_user(1).await;
    env.create_user(2).await;
    let (status, group) = env
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Person group",
                   "members": [{"value": id(&first)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");

    let (status, users) = env
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH], "filter": "userName sw \"person\"",
                   "attributes": ["userName"], "startIndex": 2, "count": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["totalResults"], 2);
    assert_eq!(users["startIndex"], 2);
    let names: Vec<&str> = texts(&users["Resources"], "userName");
    assert_eq!(names, vec!["person2@example.se"]);
    assert!(users["Resources"][0].get("name").is_none());

    // At the root, both types; a filter on an attribute only users have finds only users.
    let (_, everything) = env
        .post(
            "/.search",
            json!({"schemas": [SEARCH], "excludedAttributes": ["members"]}),
        )
        .await;
    assert_eq!(everything["totalResults"], 3);
    let types: Vec<&str> = everything["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["User", "User", "Group"]);
    assert!(everything["Resources"][2].get("members").is_none());
    let (_, only_users) = env
        .post(
            "/.search",
            json!({"schemas": [SEARCH], "filter": "userName pr"}),
        )
        .await;
    assert_eq!(only_users["totalResults"], 2);
    let (_, by_name) = env
        .post(
            "/.search",
            json!({"schemas": [SEARCH], "filter": "displayName co \"group\""}),
        )
        .await;
    assert_eq!(by_name["totalResults"], 1, "{by_name}");

    let (status, body) = env
        .post(
            "/.search",
            json!({"schemas": [SEARCH], "filter": "shoeSize pr"}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("invalidFilter"),
    );
    let (status, body) = env
        .post("/Groups/.search", json!({"filter": "displayName pr"}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    );
    let (status, body) = env
        .post("/Users/.search", json!({"schemas": [SEARCH], "count": "2"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    assert_eq!(env.scim.writes(), 3, "searching writes nothing");
}
