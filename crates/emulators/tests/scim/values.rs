//! Every value checked against its declared type, mutability and uniqueness, answered with RFC
//! 7644 error bodies (`invalidValue`, `invalidSyntax`, `mutability`, `uniqueness`).

use super::super::*;

#[tokio::test]
async fn values_must_have_their_declared_types() {
    let env = env(Profile::Extended).await;
    let with = |extra: Value| {
        let mut body = user(1);
        body["schemas"] = json!([USER, ENTERPRISE, WT_USER]);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for bad in [
        json!({WT_USER: {"birthDate": "3a57b8c1-79ab-4c3d-9e8f-123456789012"}}),
        json!({WT_USER: {"birthDate": "1990-02-30T00:00:00Z"}}),
        json!({WT_USER: {"employmentStartDate": true}}),
        json!({WT_USER: {"excludeFromSurveys": "yes"}}),
        json!({"userName": 17}),
        json!({"displayName": ["A"]}),
        json!({"emails": [{"value": "a@x.se", "primary": true}, {"value": "b@x.se", "primary": true}]}),
        json!({"emails": [{"value": "a@x.se", "type": "mobile"}]}),
        json!({ENTERPRISE: {"manager": {"value": "nobody"}}}),
    ] {
        let (status, body) = env.post("/Users", with(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    for bad in [
        json!({"schemas": [USER]}),
        json!({"schemas": [ENTERPRISE, WT_USER]}),
        json!({"name": {"givenName": "A", "nickName": "B"}}),
    ] {
        let mut body = with(bad.clone());
        body[WT_USER] = json!({"gender": "Male"});
        let (status, body) = env.post("/Users", body).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        );
    }
    assert!(env.scim.users().is_empty());

    let created = env
        .post(
            "/Users",
            with(json!({WT_USER: {"birthDate": "1990-03-12T00:00:00Z"}, "id": "mine"})),
        )
        .await
        .1;
    assert_ne!(created["id"], "mine", "a read-only id sent is ignored");
    assert_eq!(created[WT_USER]["birthDate"], "1990-03-12T00:00:00Z");
}

#[tokio::test]
async fn read_only_paths_are_mutability_and_duplicates_uniqueness() {
    let env = env(Profile::Extended).await;
    let created = env.create_user(1).await;
    let path = format!("/Users/{}", id(&created));
    for target in [
        "id",
        "meta.lastModified",
        &format!("{ENTERPRISE}:manager.displayName"),
    ] {
        let (status, body) = env
            .patch(
                &path,
                json!([{"op": "replace", "path": target, "value": "x"}]),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("mutability"));
    }
    let mut twin = user(2);
    twin["userName"] = json!("PERSON1@example.se");
    let (status, body) = env.post("/Users", twin).await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("uniqueness"));
    let (status, body) = env
        .patch(
            &format!("/Users/{}", id(&env.create_user(3).await)),
            json!([{"op": "replace", "path": "userName", "value": "Person1@Example.se"}]),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("uniqueness"));

    // A member's type and $ref must name the member itself.
    let group_with =
        |member: Value| json!({"schemas": [GROUP], "displayName": "G", "members": [member]});
    let user_id = id(&created);
    for member in [
        json!({"value": user_id, "type": "Group"}),
        json!({"value": user_id, "$ref": format!("{}/Groups/{user_id}", env.scim.base_url())}),
        json!({"value": user_id, "$ref": "not a uri"}),
    ] {
        let (status, body) = env.post("/Groups", group_with(member.clone())).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    let good = json!({"value": user_id, "type": "User",
                      "$ref": format!("{}/Users/{user_id}", env.scim.base_url())});
    let (status, body) = env.post("/Groups", group_with(good)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
