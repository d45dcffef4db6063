//! Redirects at either end: never followed, an error naming both addresses, nothing sent to the
//! stranger and nothing taken from it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_redirect_is_not_followed_and_no_user_reaches_the_stranger() {
    let rig = HostileRig::start("").await;
    let to = rig.stranger.url("/api/scim/Users");
    rig.scim_proxy.attack(rule(
        Some("POST"),
        "/api/scim/Users",
        redirect(307, to.clone()),
    ));
    let answer = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"stranger-1"}"#;
    rig.stranger.attack(rule(None, "/", respond(201, answer)));
    let ran = rig.sync().await;
    let printed = ran.printed();
    assert!(
        rig.stranger.requests().is_empty(),
        "{:#?}",
        rig.stranger.requests()
    );
    assert_eq!(rig.write_requests(), 0, "{printed}");
    assert!(printed.contains("redirect"), "{printed}");
    assert!(
        printed.contains(&to),
        "the error names where it pointed: {printed}"
    );
    assert!(
        printed.contains(&rig.scim_proxy.url("/api/scim/Users")),
        "{printed}"
    );
    assert_eq!(ran.code, 1, "{printed}");
    assert!(
        !rig.stored().contains("stranger-1"),
        "a link to the stranger's id was stored"
    );
    assert!(rig.users().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flex_redirect_is_not_followed_and_nothing_is_taken_from_the_stranger() {
    let rig = HostileRig::start("").await;
    let to = rig.stranger.url("/api/v1/companies");
    rig.flex_proxy
        .attack(rule(None, "/", redirect(302, to.clone())));
    let ran = rig.sync().await;
    let printed = ran.printed();
    assert!(
        rig.stranger.requests().is_empty(),
        "{:#?}",
        rig.stranger.requests()
    );
    assert!(printed.contains("redirect"), "{printed}");
    assert!(printed.contains(&to), "{printed}");
    assert!(!printed.contains(HOSTILE_PASSWORD), "{printed}");
    assert_eq!(ran.code, 4, "{printed}");
    assert_eq!(rig.write_requests(), 0);
}
