//! The extended profile's Group extension `managers`: advertised, held, checked, filtered,
//! patched, unlinked when a manager is deleted; unknown in the documented profile.

use super::super::*;

async fn group_with_managers(env: &Env, managers: Value) -> (StatusCode, Value) {
    env.post(
        "/Groups",
        json!({"schemas": [GROUP, WT_GROUP], "displayName": "Ekonomi",
               WT_GROUP: {"parentExternalId": "grp:1", "managers": managers}}),
    )
    .await
}

#[tokio::test]
async fn managers_are_advertised_only_in_the_extended_profile() {
    let env = env(Profile::Extended).await;
    let (_, schema) = env.get(&format!("/Schemas/{WT_GROUP}")).await;
    let managers = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "managers")
        .unwrap();
    assert_eq!(managers["type"], "complex");
    assert_eq!(managers["multiValued"], true);
    let subs: Vec<&str> = texts(&managers["subAttributes"], "name");
    assert_eq!(subs, vec!["value", "$ref", "display"]);
    assert_eq!(
        managers["subAttributes"][1]["referenceTypes"],
        json!(["User"])
    );
    assert_eq!(managers["subAttributes"][2]["mutability"], "readOnly");

    let documented = super::super::env(Profile::Documented).await;
    let (status, _) = documented.get(&format!("/Schemas/{WT_GROUP}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let boss = documented.create_user(1).await;
    let (status, body) = group_with_managers(&documented, json!([{"value": id(&boss)}])).await;
    assert_invalid_syntax_naming(status, &body, WT_GROUP);
}

#[tokio::test]
async fn managers_are_held_checked_filtered_patched_and_unlinked() {
    let env = env(Profile::Extended).await;
    let anna = id(&env.create_user(1).await);
    let bo = id(&env.create_user(2).await);
    let carl = id(&env.create_user(3).await);

    let (status, body) = group_with_managers(&env, json!([{"value": "nobody"}])).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let (status, body) = group_with_managers(&env, json!({"value": anna})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let wrong_ref = json!([{"value": anna, "$ref": format!("{}/Users/{bo}", env.scim.base_url())}]);
    let (status, body) = group_with_managers(&env, wrong_ref).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));

    let anna_ref = format!("{}/Users/{anna}", env.scim.base_url());
    let (status, group) = group_with_managers(
        &env,
        json!([{"value": anna, "$ref": anna_ref, "display": "A"}]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(
        group[WT_GROUP]["managers"],
        json!([{"value": anna, "$ref": anna_ref}]),
        "display is read-only and ignored"
    );
    let path = format!("/Groups/{}", id(&group));

    let (_, found) = env
        .filter(
            "Groups",
            &format!("{WT_GROUP}:managers.value eq \"{anna}\""),
        )
        .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    let (_, found) = env
        .filter("Groups", &format!("{WT_GROUP}:managers[value eq \"{bo}\"]"))
        .await;
    assert_eq!(found["totalResults"], 0, "{found}");

    let (status, patched) = env
        .patch(
            &path,
            json!([{"op": "add", "path": format!("{WT_GROUP}:managers"),
                    "value": [{"value": bo}, {"value": anna}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let values = |g: &Value| -> Vec<String> {
        g[WT_GROUP]["managers"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|v| v["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        values(&patched),
        vec![anna.clone(), bo.clone()],
        "add appends, once"
    );

    let (_, patched) = env
        .patch(
            &path,
            json!([{"op": "remove", "path": format!("{WT_GROUP}:managers[value eq \"{anna}\"]")}]),
        )
        .await;
    assert_eq!(values(&patched), vec![bo.clone()]);
    let (_, patched) = env
        .patch(
            &path,
            json!([{"op": "replace", "value": {WT_GROUP: {"managers": [{"value": carl}]}}}]),
        )
        .await;
    assert_eq!(values(&patched), vec![carl.clone()]);
    assert_eq!(patched[WT_GROUP]["parentExternalId"], "grp:1");
    let (status, body) = env
        .patch(
            &path,
            json!([{"op": "add", "path": format!("{WT_GROUP}:managers"), "value": [{"value": "x"}]}]),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("invalidValue"));

    let (status, _) = env
        .call(Method::DELETE, &format!("/Users/{carl}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = env.get(&path).await;
    assert_eq!(
        after[WT_GROUP],
        json!({"parentExternalId": "grp:1"}),
        "{after}"
    );
    assert_eq!(after["meta"]["version"], "W/\"5\"");
}
