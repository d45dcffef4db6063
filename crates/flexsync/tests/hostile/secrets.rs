//! Servers that echo our secrets back, in any encoding, in errors or in fields of the wrong
//! type; and secrets put where they do not belong in the configuration. No secret, in any form,
//! may be printed, reported or stored.

use base64::Engine as _;

use super::*;

/// Every form of a secret a leak could take (and its first characters, for a cut one).
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_string(),
        secret.replace('/', "\\/"),
        secret.replace('/', "%2F").replace('+', "%2B"),
        b64.encode(secret),
        secret[..8].to_string(),
    ]
}

fn assert_no_leak(rig: &HostileRig, ran: &Ran, secret: &str) {
    let printed = ran.printed();
    let stored = rig.stored();
    for form in forms(secret) {
        assert!(!printed.contains(&form), "printed {form:?}: {printed}");
        assert!(!stored.contains(&form), "stored {form:?}");
    }
}

/// A SCIM error body quoting the token in `form`.
fn echo(form: &str) -> Attack {
    let detail = serde_json::to_string(&format!("token {form} is not valid here")).unwrap();
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","detail":{detail}}}"#
    );
    respond(400, &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_in_any_encoding_is_never_printed_reported_or_stored() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let json_escaped = HOSTILE_TOKEN.replace('/', "\\/");
    let echoes = [
        HOSTILE_TOKEN.to_string(),
        // The body holds `\/`, JSON's optional escape of `/`.
        json_escaped.clone(),
        HOSTILE_TOKEN.replace('/', "%2F").replace('+', "%2B"),
        b64.encode(HOSTILE_TOKEN),
    ];
    // Creates go one by one to /Users, or together to /Bulk where the server advertises it.
    let routes = [(false, "/api/scim/Users"), (true, "/api/scim/Bulk")];
    for ((bulk, route), form) in routes.iter().cycle().zip(echoes) {
        let rig = HostileRig::start("").await;
        if !bulk {
            rig.turn_off_bulk();
        }
        let raw_json = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","detail":"token {form} is refused"}}"#
        );
        let attack = if form == json_escaped {
            respond(400, &raw_json)
        } else {
            echo(&form)
        };
        rig.scim_proxy.attack(rule(Some("POST"), route, attack));
        let ran = rig.sync().await;
        assert_eq!(ran.code, 1, "{form}: {}", ran.printed());
        assert!(ran.printed().contains("answered 400"), "{}", ran.printed());
        assert_no_leak(&rig, &ran, HOSTILE_TOKEN);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_field_of_the_wrong_type_is_not_quoted() {
    let rig = HostileRig::start("").await;
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{{"supported":"{HOSTILE_TOKEN}"}},"filter":{{"supported":true,"maxResults":200}}}}"#
    );
    rig.scim_proxy.attack(rule(
        Some("GET"),
        "/api/scim/ServiceProviderConfig",
        respond(200, &body),
    ));
    let ran = rig.sync().await;
    assert_eq!(ran.code, 4, "{}", ran.printed());
    assert!(ran.printed().contains("invalid type"), "{}", ran.printed());
    assert_no_leak(&rig, &ran, HOSTILE_TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flex_password_echoed_late_in_a_long_message_is_not_printed_even_in_part() {
    let rig = HostileRig::start("").await;
    let message = format!("{} {HOSTILE_PASSWORD}", "x".repeat(285));
    let body = serde_json::json!({ "Message": message }).to_string();
    rig.flex_proxy.attack(rule(None, "/", respond(401, &body)));
    let ran = rig.sync().await;
    assert_eq!(ran.code, 4, "{}", ran.printed());
    assert!(ran.printed().contains("xxxxxxxx"), "{}", ran.printed());
    assert_no_leak(&rig, &ran, HOSTILE_PASSWORD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_a_url_are_refused_without_being_repeated() {
    let rig = HostileRig::start("").await;
    let flex_url = rig.flex_proxy.url("");
    let with_password = flex_url.replace("http://", "http://bob:hunter2-in-url@");
    rig.edit_config(&flex_url, &with_password);
    let ran = rig.sync().await;
    assert_eq!(ran.code, 2, "{}", ran.printed());
    assert!(ran.printed().contains("credentials"), "{}", ran.printed());
    assert!(!ran.printed().contains("hunter2"), "{}", ran.printed());
    rig.edit_config(&with_password, &flex_url);

    let scim_url = rig.scim_proxy.url("/api/scim");
    let with_password = scim_url.replace("http://", "http://bob:hunter2-in-url@");
    rig.edit_config(&scim_url, &with_password);
    let ran = rig.sync().await;
    assert_eq!(ran.code, 2, "{}", ran.printed());
    assert!(ran.printed().contains("credentials"), "{}", ran.printed());
    assert!(!ran.printed().contains("hunter2"), "{}", ran.printed());
    assert!(
        rig.scim_proxy.requests().is_empty(),
        "nothing is sent with such a URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_inline_secret_is_not_echoed_in_the_config_error() {
    let rig = HostileRig::start("").await;
    rig.edit_config("token_file = \"scim-token.txt\"", "token = 987654321");
    let ran = rig.sync().await;
    assert_eq!(ran.code, 2, "{}", ran.printed());
    assert!(ran.printed().contains("invalid type"), "{}", ran.printed());
    assert!(!ran.printed().contains("987654321"), "{}", ran.printed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_secret_is_refused_with_how_to_pass_it_and_not_repeated() {
    let rig = HostileRig::start("").await;
    rig.edit_config(
        "token_file = \"scim-token.txt\"",
        "token = \"inline-Secret-4471\"",
    );
    let ran = rig.sync().await;
    assert_eq!(ran.code, 2, "{}", ran.printed());
    assert!(
        ran.printed()
            .contains("winningtemp.token: a secret is never written in the configuration file"),
        "{}",
        ran.printed()
    );
    assert!(
        ran.printed()
            .contains("under [winningtemp], give `token_env = "),
        "{}",
        ran.printed()
    );
    assert!(
        !ran.printed().contains("inline-Secret-4471"),
        "{}",
        ran.printed()
    );
    assert!(rig.scim_proxy.requests().is_empty(), "nothing is sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_wrong_typed_discovery_list_or_user_is_not_quoted() {
    let list = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{{"id":"User","name":"User","endpoint":"/Users","schema":"urn:ietf:params:scim:schemas:core:2.0:User","schemaExtensions":"{HOSTILE_TOKEN}"}}]}}"#
    );
    let users = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{{"id":"1","userName":"a@example.se","active":"{HOSTILE_TOKEN}"}}]}}"#
    );
    for (path, body) in [
        ("/api/scim/ResourceTypes", list),
        ("/api/scim/Users", users),
    ] {
        let rig = HostileRig::start("").await;
        rig.scim_proxy
            .attack(rule(Some("GET"), path, respond(200, &body)));
        let ran = rig.sync().await;
        assert_eq!(ran.code, 4, "{path}: {}", ran.printed());
        assert!(
            ran.printed().contains("invalid type"),
            "{path}: {}",
            ran.printed()
        );
        assert_no_leak(&rig, &ran, HOSTILE_TOKEN);
    }
}
