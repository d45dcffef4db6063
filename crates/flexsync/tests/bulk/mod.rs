//! SCIM Bulk against the emulator's extended profile, which advertises it: a sync through
//! `/Bulk` holds what one of single requests holds, in fewer requests, within the advertised
//! limits, and an operation that fails inside a request fails for its person alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use flexsync::config::Config;
use flexsync::run::{Mode, Outcome};
use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::bulk::Limits;
use flexsync_emulators::scim::{Profile, ScimOptions};

use crate::support::*;

const LEVELS: &str = "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }, \
                      { dimension = \"Team\" }]\n";

const GROUP_MANAGERS: &str =
    "/urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group/managers";

type Held = BTreeMap<String, Value>;

/// Two holdings are the same; else the first few that differ are shown.
fn assert_same(through_bulk: &(Held, Held), one_by_one: &(Held, Held)) {
    for (what, a, b) in [
        ("users", &through_bulk.0, &one_by_one.0),
        ("groups", &through_bulk.1, &one_by_one.1),
    ] {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let differing: Vec<String> = keys
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .take(3)
            .map(|k| format!("{k}:\n  bulk:   {:?}\n  single: {:?}", a.get(k), b.get(k)))
            .collect();
        assert!(
            differing.is_empty(),
            "{what} differ:\n{}",
            differing.join("\n")
        );
    }
}

fn generated(employees: usize) -> Value {
    generate::generate(&GenerateOptions {
        employees,
        seed: 11,
        today: TODAY,
        companies: None,
    })
}

async fn rig(doc: &Value, options: ScimOptions, bulk: bool) -> Rig {
    let mut rig = Rig::with(doc, options, Faults::default(), LEVELS).await;
    if !bulk {
        let text = std::fs::read_to_string(&rig.config_path).unwrap();
        let text = text.replace(
            "token_file = \"scim-token.txt\"\n",
            "token_file = \"scim-token.txt\"\nbulk = false\n",
        );
        std::fs::write(&rig.config_path, text).unwrap();
        rig.config = Config::load(&rig.config_path).unwrap();
        assert!(!rig.config.bulk);
    }
    rig
}

/// Requests that write one resource each (everything but `/Bulk`).
fn single_writes(rig: &Rig) -> u64 {
    let bulk = rig
        .scim
        .knobs
        .counters()
        .get("POST /api/scim/Bulk")
        .copied()
        .unwrap_or(0);
    rig.write_requests() - bulk
}

/// What the target holds, without the server's ids: users by externalId (manager as the
/// manager's externalId), groups by externalId (members as externalIds).
fn held(rig: &Rig) -> (Held, Held) {
    let users = rig.users();
    let external: BTreeMap<String, String> = users
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["externalId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let by_external = |id: &Value| json!(external.get(id.as_str().unwrap_or_default()));
    let users = users
        .iter()
        .map(|u| {
            let mut u = u.clone();
            let manager = u[ENTERPRISE]["manager"]["value"].clone();
            if !manager.is_null() {
                u[ENTERPRISE]["manager"] = json!({"value": by_external(&manager)});
            }
            let map = u.as_object_mut().unwrap();
            map.remove("id");
            map.remove("meta");
            (u["externalId"].as_str().unwrap().to_string(), u)
        })
        .collect();
    let groups = rig
        .scim
        .groups()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            for (list, at) in [("members", "/members"), ("managers", GROUP_MANAGERS)] {
                let ids: BTreeSet<String> = g
                    .pointer(at)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|m| by_external(&m["value"]).to_string())
                    .collect();
                if let Some(slot) = g.pointer_mut(at) {
                    *slot = json!(ids);
                } else {
                    assert!(ids.is_empty(), "{list}");
                }
            }
            let map = g.as_object_mut().unwrap();
            map.remove("id");
            map.remove("meta");
            (g["externalId"].as_str().unwrap().to_string(), g)
        })
        .collect();
    (users, groups)
}

#[tokio::test]
async fn a_sync_through_bulk_holds_what_single_requests_hold_in_fewer_requests() {
    let mut doc = generated(300);
    let through_bulk = rig(&doc, scim_options(Profile::Extended), true).await;
    let one_by_one = rig(&doc, scim_options(Profile::Extended), false).await;
    for (rig, bulk) in [(&through_bulk, true), (&one_by_one, false)] {
        let result = rig.run(Mode::Sync, allow_all()).await.unwrap();
        assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
        assert_eq!(rig.scim.bulk_stats().requests > 0, bulk);
    }
    let holding = held(&through_bulk);
    assert!(holding.0.len() > 250 && holding.1.len() > 20);
    assert_same(&holding, &held(&one_by_one));

    let bulk_counters = through_bulk.scim.knobs.counters();
    assert_eq!(single_writes(&through_bulk), 0, "{bulk_counters:?}");
    let stats = through_bulk.scim.bulk_stats();
    assert_eq!(stats.refused, 0);
    assert_eq!(stats.operations, through_bulk.scim.writes());
    assert_eq!(one_by_one.scim.writes(), through_bulk.scim.writes());
    let requests = |rig: &Rig| rig.scim.knobs.counters().values().sum::<u64>();
    assert!(
        requests(&through_bulk) * 3 < requests(&one_by_one),
        "{} requests through Bulk, {} one by one",
        requests(&through_bulk),
        requests(&one_by_one)
    );

    // A week of changes later, both go on to hold the same.
    generate::apply_changes(&mut doc, 12, TODAY, 10);
    for rig in [&through_bulk, &one_by_one] {
        rig.set_flex(&doc);
        let result = rig.run(Mode::Sync, allow_all()).await.unwrap();
        assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
        let after = rig.run(Mode::Plan, allow_all()).await.unwrap();
        assert!(after.plan.steps.is_empty() && after.group_plan.steps.is_empty());
    }
    assert_eq!(single_writes(&through_bulk), 0);
    assert_same(&held(&through_bulk), &held(&one_by_one));
}

#[tokio::test]
async fn bulk_requests_never_pass_the_advertised_max_operations() {
    let doc = generated(120);
    let options = ScimOptions {
        bulk: Limits {
            max_operations: 7,
            ..Limits::default()
        },
        ..scim_options(Profile::Extended)
    };
    let rig = rig(&doc, options, true).await;
    let result = rig.run(Mode::Sync, allow_all()).await.unwrap();
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let stats = rig.scim.bulk_stats();
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(stats.most_operations, 7, "{stats:?}");
    assert_eq!(stats.operations, rig.scim.writes());
    assert!(stats.requests >= stats.operations.div_ceil(7), "{stats:?}");
    assert_eq!(single_writes(&rig), 0);
    assert!(rig.users().len() > 100);
}

#[tokio::test]
async fn bulk_requests_never_pass_the_advertised_max_payload_size() {
    let doc = generated(120);
    let max_payload_size = 6_000;
    let options = ScimOptions {
        bulk: Limits {
            max_operations: 1000,
            max_payload_size,
        },
        ..scim_options(Profile::Extended)
    };
    let rig = rig(&doc, options, true).await;
    let result = rig.run(Mode::Sync, allow_all()).await.unwrap();
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    let stats = rig.scim.bulk_stats();
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert!(stats.largest_payload <= max_payload_size, "{stats:?}");
    // Filled close to the limit: a user create is well under 1,000 bytes.
    assert!(
        stats.largest_payload > max_payload_size - 1_000,
        "{stats:?}"
    );
    assert!(stats.most_operations < 20, "{stats:?}");
    assert_eq!(stats.operations, rig.scim.writes());
    assert!(rig.users().len() > 100);
}

#[tokio::test]
async fn a_failed_operation_in_a_bulk_request_fails_for_that_person_alone() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 30);
    let rig = rig(&doc, scim_options(Profile::Extended), true).await;
    rig.scim
        .insert_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "staff7@example.se",
            "externalId": "someone-else",
            "active": true
        }))
        .unwrap();
    let result = rig.sync().await;
    let report = result.report.render();
    let stats = rig.scim.bulk_stats();
    assert!(
        stats.most_operations >= 30,
        "Sara's staff in one request: {stats:?}"
    );
    assert_eq!(result.report.conflicts.len(), 1, "{report}");
    let conflict = &result.report.conflicts[0];
    assert_eq!(conflict.external_id, staff[6]);
    assert!(conflict.problem.contains("staff7@example.se"), "{report}");
    assert!(report.contains("Staff Number7"), "{report}");
    assert!(result.report.failures.is_empty(), "{report}");
    let users = rig.users();
    assert_eq!(
        users.len(),
        4 + 30,
        "everyone else, beside the hand-made account"
    );
    for id in staff.iter().filter(|id| **id != staff[6]) {
        assert_eq!(rig.user(id)["active"], true, "{id}");
    }
    assert!(find(&users, &staff[6]).is_none());
    assert_no_duplicates(&users);
    assert_eq!(single_writes(&rig), 0);
}
