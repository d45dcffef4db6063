//! Paged reads against the SCIM emulator: the largest page the server advertises, and one
//! request per page however the pages after the first are asked for.
// clippy.toml allows these inside #[test] functions only; the helpers below are test code too.
#![allow(clippy::unwrap_used)]

use flexsync_emulators::scim::{ScimOptions, start};
use flexsync_scim::{ScimClient, ScimSettings};
use secrecy::SecretString;
use serde_json::json;

async fn server_with(users: usize, max_results: usize) -> flexsync_emulators::scim::RunningScim {
    let server = start(ScimOptions {
        token: "t".into(),
        max_results,
        ..ScimOptions::default()
    })
    .await
    .unwrap();
    for n in 0..users {
        server
            .insert_user(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("user{n}@example.se"),
                "externalId": format!("e{n}"),
            }))
            .unwrap();
    }
    server
}

fn client(
    server: &flexsync_emulators::scim::RunningScim,
    page: usize,
    largest: bool,
) -> ScimClient {
    let mut settings = ScimSettings::new(server.base_url(), SecretString::from("t"));
    settings.page_size = page;
    settings.largest_page = largest;
    ScimClient::new(settings).unwrap()
}

fn user_pages(server: &flexsync_emulators::scim::RunningScim) -> u64 {
    server
        .knobs
        .counters()
        .get("GET /api/scim/Users")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn every_user_is_read_once_with_one_request_a_page() {
    let server = server_with(95, 200).await;
    let users = client(&server, 10, false).list_users().await.unwrap();
    let mut ids: Vec<_> = users.iter().filter_map(|u| u.external_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 95);
    assert_eq!(user_pages(&server), 10);
}

#[tokio::test]
async fn after_discovery_the_largest_advertised_page_is_asked_for() {
    let server = server_with(30, 7).await;
    let scim = client(&server, 200, true);
    scim.discover().await.unwrap();
    assert_eq!(scim.list_users().await.unwrap().len(), 30);
    assert_eq!(
        user_pages(&server),
        5,
        "pages of 7: {:?}",
        server.knobs.counters()
    );

    // A configured page size is kept, and a server that caps it still gives every user.
    server.knobs.reset_counters();
    let fixed = client(&server, 5, false);
    fixed.discover().await.unwrap();
    assert_eq!(fixed.list_users().await.unwrap().len(), 30);
    assert_eq!(user_pages(&server), 6);
    server.knobs.reset_counters();
    let capped = client(&server, 10, false);
    assert_eq!(capped.list_users().await.unwrap().len(), 30);
    assert_eq!(user_pages(&server), 5, "the server's 7 a page");
}
