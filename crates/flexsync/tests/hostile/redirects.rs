//! Redirects at either end: never followed, an error naming both addresses, nothing sent to the
//! stranger and nothing taken from it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_redirect_is_not_followed_and_no_user_reaches_the_stranger() {
    // Creates go one by one to /Users, or together to /Bulk where the server advertises it.
    for (bulk, route) in [(false, "/api/scim/Users"), (true, "/api/scim/Bulk")] {
        let rig = HostileRig::start("").await;
        if !bulk {
            rig.turn_off_bulk();
        }
        let to = rig.stranger.url(route);
        rig.scim_proxy
            .attack(rule(Some("POST"), route, redirect(307, to.clone())));
        let answer =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"stranger-1"}"#;
        rig.stranger.attack(rule(None, "/", respond(201, answer)));
        let ran = rig.sync().await;
        let printed = ran.printed();
        assert!(
            rig.stranger.requests().is_empty(),
            "{:#?}",
            rig.stranger.requests()
        );
        assert_eq!(rig.scim.writes(), 0, "{printed}");
        assert!(printed.contains("redirect"), "{printed}");
        assert!(
            printed.contains(&to),
            "the error names where it pointed: {printed}"
        );
        assert!(printed.contains(&rig.scim_proxy.url(route)), "{printed}");
        assert_eq!(ran.code, 1, "{printed}");
        assert!(
            !rig.stored().contains("stranger-1"),
            "a link to the stranger's id was stored"
        );
        assert!(rig.users().is_empty());
    }
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
