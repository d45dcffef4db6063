//! The convergence property through the real writer: whatever the organisation, a week of HR
//! changes and hand edits in Winningtemp, one sync against the SCIM emulator brings the target
//! to the desired state, and the plan that follows is empty.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

use flexsync::run::{Mode, Outcome};
use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;
use flexsync_scim::{PatchOperation, ScimClient, ScimSettings};
use secrecy::SecretString;

use crate::support::*;

const LEVELS: &str = "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }, \
                      { dimension = \"Team\" }]\n";

/// A change someone makes by hand in Winningtemp, to the n-th managed user (modulo their number).
#[derive(Debug, Clone)]
enum HandEdit {
    Rename(usize),
    Pause(usize),
    Delete(usize),
    Unlink(usize),
}

fn hand_edit() -> impl Strategy<Value = HandEdit> {
    prop_oneof![
        any::<usize>().prop_map(HandEdit::Rename),
        any::<usize>().prop_map(HandEdit::Pause),
        any::<usize>().prop_map(HandEdit::Delete),
        any::<usize>().prop_map(HandEdit::Unlink),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    employees: usize,
    seed: u64,
    changes: usize,
    profile: Profile,
    edits: Vec<HandEdit>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        5usize..45,
        any::<u64>(),
        0usize..6,
        prop_oneof![Just(Profile::Documented), Just(Profile::Extended)],
        prop::collection::vec(hand_edit(), 0..6),
    )
        .prop_map(|(employees, seed, changes, profile, edits)| Case {
            employees,
            seed,
            changes,
            profile,
            edits,
        })
}

async fn apply_edits(rig: &Rig, edits: &[HandEdit]) {
    let client = ScimClient::new(ScimSettings::new(
        rig.scim.base_url(),
        SecretString::from(TOKEN.to_string()),
    ))
    .unwrap();
    for edit in edits {
        let managed: Vec<Value> = rig
            .users()
            .into_iter()
            .filter(|u| u["externalId"].is_string())
            .collect();
        if managed.is_empty() {
            return;
        }
        let pick = |n: usize| {
            managed[n % managed.len()]["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        match edit {
            HandEdit::Rename(n) => {
                let op = PatchOperation::replace("name.givenName", json!("Handskriven"));
                client.patch_user(&pick(*n), vec![op]).await.unwrap();
            }
            HandEdit::Pause(n) => {
                let op = PatchOperation::replace("active", json!(false));
                client.patch_user(&pick(*n), vec![op]).await.unwrap();
            }
            HandEdit::Delete(n) => client.delete_user(&pick(*n)).await.unwrap(),
            HandEdit::Unlink(n) => {
                let op = PatchOperation::remove(format!("{ENTERPRISE}:manager"));
                // The documented profile has no managers to unlink.
                let _ = client.patch_user(&pick(*n), vec![op]).await;
            }
        }
    }
}

async fn converges(case: Case) -> Result<(), TestCaseError> {
    let options = GenerateOptions {
        employees: case.employees,
        seed: case.seed,
        today: TODAY,
        companies: None,
    };
    let mut doc = generate::generate(&options);
    let rig = Rig::with(&doc, scim_options(case.profile), Faults::default(), LEVELS).await;
    let first = rig.run(Mode::Sync, allow_all()).await.unwrap();
    prop_assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());

    generate::apply_changes(&mut doc, case.seed ^ 0x5eed, TODAY, case.changes);
    rig.set_flex(&doc);
    apply_edits(&rig, &case.edits).await;
    let second = rig.run(Mode::Sync, allow_all()).await.unwrap();
    prop_assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());

    let after = rig.run(Mode::Plan, allow_all()).await.unwrap();
    prop_assert!(
        after.plan.steps.is_empty(),
        "left to do after one sync: {:#?}",
        after.plan.steps
    );
    prop_assert!(
        after.group_plan.steps.is_empty(),
        "group steps left after one sync: {:#?}",
        after.group_plan.steps
    );
    // Every active desired user is there with its values; an inactive one is absent (never
    // created) or paused.
    let held: Vec<Value> = rig.users();
    for (external_id, user) in &after.desired.users {
        let Some(account) = find(&held, external_id) else {
            prop_assert!(!user.values.active, "{} is missing", external_id);
            continue;
        };
        prop_assert_eq!(&account["userName"], &json!(user.values.user_name));
        prop_assert_eq!(&account["active"], &json!(user.values.active));
        prop_assert_eq!(
            &account["name"]["givenName"],
            &json!(user.values.given_name)
        );
    }
    assert_no_duplicates(&held);
    Ok(())
}

#[test]
fn one_sync_through_the_real_writer_converges_whatever_changed() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // FLEXSYNC_CONVERGENCE_CASES runs more cases (say 500) when hunting for a counterexample.
    let cases = std::env::var("FLEXSYNC_CONVERGENCE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| runtime.block_on(converges(case)));
    if let Err(error) = result {
        panic!("{error}");
    }
}
