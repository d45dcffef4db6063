//! Chaos and crashes: syncs through injected errors, latency and dropped connections while Flex
//! changes; a `flexsync sync` killed mid-apply; and two runs that must not overlap.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use flexsync::run::{Mode, Outcome, RunResult};
use flexsync_core::guard::Allowance;
use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;

use crate::support::*;

fn organisation(employees: usize, seed: u64) -> Value {
    generate::generate(&GenerateOptions {
        employees,
        seed,
        today: TODAY,
        companies: None,
    })
}

/// Lets every deactivation through, as the operator would after reviewing the plan.
fn allow_pauses() -> Allowance {
    Allowance {
        deactivations: Some(usize::MAX),
        ..Allowance::default()
    }
}

fn manager_of(user: &Value) -> Option<&str> {
    user[ENTERPRISE]["manager"]["value"].as_str()
}

/// Nobody who is employed today in `doc` may be paused in the target.
fn assert_nobody_wrongly_paused(rig: &Rig, doc: &Value, run: usize) {
    let employed = employed_on(doc, TODAY);
    let wrongly: Vec<String> = paused_ids(&rig.users())
        .intersection(&employed)
        .cloned()
        .collect();
    assert!(
        wrongly.is_empty(),
        "run {run}: paused although employed today: {wrongly:?}"
    );
}

/// The target equals what `result` (a run with nothing left to fail) wanted, and agrees with the
/// employment periods in `doc`.
fn assert_target_is_desired(rig: &Rig, doc: &Value, result: &RunResult) {
    let users = rig.users();
    assert_no_duplicates(&users);
    let by_external: BTreeMap<&str, &Value> = users
        .iter()
        .filter_map(|u| Some((u["externalId"].as_str()?, u)))
        .collect();
    assert_eq!(by_external.len(), users.len(), "a user without externalId");
    let employed = employed_on(doc, TODAY);
    // Every active desired user exists with the desired values; a paused one, if it exists,
    // is paused with them.
    for (external_id, wanted) in &result.desired.users {
        let values = &wanted.values;
        let Some(user) = by_external.get(external_id.as_str()) else {
            // A leaver who never had an account is not created just to be paused.
            if !values.active {
                continue;
            }
            panic!(
                "desired user {external_id} (active {}) is missing; conflicts {:?}; held {:?}",
                values.active, result.report.conflicts, result.report.held
            );
        };
        assert_eq!(user["active"], values.active, "{external_id}: active");
        assert_eq!(user["userName"], values.user_name.as_str(), "{external_id}");
        assert_eq!(user["name"]["givenName"], values.given_name.as_str());
        assert_eq!(user["name"]["familyName"], values.family_name.as_str());
        if values.active {
            assert!(
                employed.contains(external_id.as_str()),
                "{external_id} active"
            );
        }
        if let Some(manager_id) = wanted.manager_external_id.as_deref()
            && let Some(manager) = by_external.get(manager_id)
        {
            let found = manager_of(user);
            let holder = users
                .iter()
                .find(|u| u["id"].as_str() == found)
                .map(|u| u["externalId"].clone());
            assert_eq!(
                found,
                manager["id"].as_str(),
                "{external_id}: manager should be {manager_id}; the target points at the \
                     user with externalId {holder:?}"
            );
        }
    }
    for (external_id, user) in &by_external {
        if !employed.contains(*external_id) {
            assert_eq!(user["active"], false, "leaver {external_id} must be paused");
        }
    }
    let active = users.iter().filter(|u| u["active"] == true).count();
    assert_eq!(active, result.report.desired_active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_through_errors_latency_and_dropped_connections_converge() {
    const FAULTY_RUNS: usize = 6;
    let mut doc = organisation(200, 41);
    let faults = Faults {
        latency: Duration::from_millis(2),
        error_share: 0.12,
        retry_after_seconds: 0,
    };
    let drop_share = 0.04;
    let mut options = scim_options(Profile::Extended);
    options.faults = faults.clone();
    // Failed records are retried on the next run, not an hour later: the runs here are
    // milliseconds apart, and convergence is what this test is about.
    let sync = "[sync]\nretry_base_minutes = 0\nhold_after_failures = 1000\n";
    let rig = Rig::with(&doc, options, faults, sync).await;
    for knobs in [&rig.flex.knobs, &rig.scim.knobs] {
        knobs.set_drop_share(drop_share);
    }

    let (mut injected, mut dropped, mut retries, mut record_failures) = (0, 0, 0, 0);
    let mut failed_runs = 0;
    for run in 1..=FAULTY_RUNS {
        let changes = if run > 1 {
            let changes = generate::apply_changes(&mut doc, 100 + run as u64, TODAY, 3);
            rig.set_flex(&doc);
            changes.len()
        } else {
            0
        };
        for knobs in [&rig.flex.knobs, &rig.scim.knobs] {
            knobs.reset_counters();
        }
        let outcome = rig.run(Mode::Sync, allow_pauses()).await;
        let run_injected = rig.flex.knobs.injected() + rig.scim.knobs.injected();
        let run_dropped = rig.flex.knobs.dropped() + rig.scim.knobs.dropped();
        injected += run_injected;
        dropped += run_dropped;
        match &outcome {
            Ok(result) => {
                assert!(
                    result.report.refused.is_none(),
                    "{}",
                    result.report.render()
                );
                let run_retries = result.report.requests.get("flex_retries").unwrap_or(&0)
                    + result.report.requests.get("scim_retries").unwrap_or(&0);
                retries += run_retries;
                record_failures += result.report.failures.len();
                assert!(result.report.deferred.is_empty() && result.report.held_back.is_empty());
                println!(
                    "chaos run {run}: {changes} Flex changes, exit {:?}, {} steps planned, \
                     {} failed, {run_injected} injected 429/503, {run_dropped} dropped, \
                     {run_retries} retries",
                    result.outcome,
                    result.plan.steps.len(),
                    result.report.failures.len(),
                );
            }
            Err(failure) => {
                failed_runs += 1;
                assert_eq!(
                    failure.outcome(),
                    Outcome::Unreachable,
                    "{:#}",
                    failure.error
                );
                println!(
                    "chaos run {run}: {changes} Flex changes, run failed ({:?}): {:#}; \
                     {run_injected} injected 429/503, {run_dropped} dropped",
                    failure.outcome(),
                    failure.error
                );
            }
        }
        assert_no_duplicates(&rig.users());
        assert_nobody_wrongly_paused(&rig, &doc, run);
    }
    assert!(injected > 0 && dropped > 0, "no fault was injected");
    assert!(failed_runs < FAULTY_RUNS, "no faulty run got through");

    for knobs in [&rig.flex.knobs, &rig.scim.knobs] {
        knobs.set_faults(Faults::default());
        knobs.set_drop_share(0.0);
    }
    let clean = rig
        .run(Mode::Sync, allow_pauses())
        .await
        .unwrap_or_else(|f| {
            panic!("clean run failed ({:?}): {:#}", f.outcome(), f.error);
        });
    assert_eq!(clean.outcome, Outcome::Done, "{}", clean.report.render());
    assert_nobody_wrongly_paused(&rig, &doc, FAULTY_RUNS + 1);
    assert_target_is_desired(&rig, &doc, &clean);
    let (settled, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", settled.plan.steps);

    let users = rig.users();
    println!(
        "chaos: {FAULTY_RUNS} faulty runs + 1 clean; {injected} injected 429/503, {dropped} \
         dropped connections, {retries} retries, {record_failures} record failures, \
         {failed_runs} failed runs; clean run wrote {} steps; outcome: {} users ({} active, {} \
         paused), converged, no duplicates, nobody wrongly paused",
        clean.plan.steps.len(),
        users.len(),
        users.iter().filter(|u| u["active"] == true).count(),
        paused_ids(&users).len(),
    );

    // A create whose answer was lost did create: once the target shows the user, the state
    // store must know it (linked) and stop listing it as failing.
    let store = rig.config.open_state().unwrap();
    let links = store.memory().unwrap().links;
    let unlinked: Vec<String> = rig
        .users()
        .iter()
        .filter_map(|u| u["externalId"].as_str())
        .filter(|id| !links.contains_key(*id))
        .map(str::to_string)
        .collect();
    let failing: Vec<String> = store
        .failures()
        .unwrap()
        .into_iter()
        .map(|f| format!("{} ({}x): {}", f.external_id, f.count, f.last_message))
        .collect();
    assert!(
        failing.is_empty() && unlinked.is_empty(),
        "after convergence the state store still lists failing records {failing:#?} and has \
         no link for target users {unlinked:?}"
    );
}

fn flexsync_command(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexsync"));
    command
        .arg("sync")
        .arg("--config")
        .arg(config)
        .env_remove("FLEXSYNC_LOG");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_mid_apply_is_followed_by_a_run_that_converges_without_duplicates() {
    let doc = organisation(150, 43);
    let mut options = scim_options(Profile::Extended);
    options.faults.latency = Duration::from_millis(20);
    let rig = Rig::with(&doc, options, Faults::default(), "").await;

    let mut child = flexsync_command(&rig.config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut polls = 0;
    // Writes, not requests: through /Bulk one request carries many.
    while rig.scim.writes() < 8 && polls < 4000 {
        polls += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(still_running, "the sync ended before it could be killed");
    let posts_before_kill = rig.scim.writes();
    assert!(posts_before_kill >= 8, "no write seen in {polls} polls");
    let created_by_killed = rig.users().len();

    let mut attempts = Vec::new();
    let result = loop {
        match rig.run(Mode::Sync, allow_pauses()).await {
            Ok(result) if result.outcome == Outcome::Done => break result,
            Ok(result) => attempts.push(format!("exit {:?}", result.outcome)),
            Err(failure) => attempts.push(format!("{:?}: {:#}", failure.outcome(), failure.error)),
        }
        assert!(
            attempts.len() < 3,
            "no run after the kill converged (the killed run's lock must be taken over): \
             {attempts:#?}"
        );
    };
    assert_target_is_desired(&rig, &doc, &result);
    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{:?}", again.plan.steps);
    println!(
        "crash: killed after {posts_before_kill} writes made ({created_by_killed} users stored), \
         {} runs to converge, {} users, none duplicated",
        attempts.len() + 1,
        rig.users().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_refuses_to_overlap_a_run_holding_the_lock_and_names_it() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let store = rig.config.open_state().unwrap();
    let lock = store
        .acquire_lock(
            "test holder",
            jiff::Timestamp::now(),
            Duration::from_secs(6 * 3600),
        )
        .unwrap();

    let config = rig.config_path.clone();
    let out = tokio::task::spawn_blocking(move || flexsync_command(&config).output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("test holder"), "{stderr}");
    assert!(
        rig.flex.knobs.counters().is_empty(),
        "refused before reading"
    );
    assert_eq!(rig.scim.writes(), 0);
    assert!(rig.users().is_empty());

    lock.release().unwrap();
    let config = rig.config_path.clone();
    let out = tokio::task::spawn_blocking(move || flexsync_command(&config).output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: BTreeSet<String> = rig
        .users()
        .iter()
        .filter_map(|u| u["externalId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([SARA, JOHAN, MARIA, ALI].map(String::from))
    );
}
