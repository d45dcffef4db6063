//! A state store whose disk fills during a sync: the real SQLite store, made to fail by triggers
//! that refuse every insert and update once the run has recorded `n` intents (what a full disk
//! does to SQLite). Intents pending together are committed together, so the batch that would
//! pass `n` fails whole: writing must stop there, with exactly the writes whose intent was
//! recorded made, a report must say so, and the next run, with room again, must remember every
//! user and group it made as its own.

use std::path::Path;

use flexsync::run::{Mode, Outcome};
use flexsync_core::guard::Allowance;
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;
use flexsync_state::StateStore;

use crate::support::*;

const LEVELS: &str =
    "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
const TABLES: [&str; 6] = [
    "runs",
    "operations",
    "links",
    "failures",
    "empty_groups",
    "changes",
];

/// From the `n`th intent on, every insert and update fails as on a full disk.
fn fill_disk_after(path: &Path, n: usize) {
    drop(StateStore::open(path).unwrap());
    let db = rusqlite::Connection::open(path).unwrap();
    for table in TABLES {
        for verb in ["INSERT", "UPDATE"] {
            db.execute_batch(&format!(
                "CREATE TRIGGER full_{verb}_{table} BEFORE {verb} ON {table}
                 WHEN (SELECT count(*) FROM operations) >= {n}
                 BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
            ))
            .unwrap();
        }
    }
}

fn free_disk(path: &Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    for table in TABLES {
        for verb in ["INSERT", "UPDATE"] {
            db.execute_batch(&format!("DROP TRIGGER full_{verb}_{table}"))
                .unwrap();
        }
    }
}

fn intents(path: &Path) -> usize {
    let db = rusqlite::Connection::open(path).unwrap();
    db.query_row("SELECT count(*) FROM operations", [], |r| r.get(0))
        .unwrap()
}

/// Fills the disk after `n` intents, syncs, checks that exactly the recorded writes were made
/// and reported, then frees the disk and checks that the next run takes every user and group
/// made as its own.
async fn disk_fills_after(n: usize) {
    if crate::support::sqlite_only("disk_fills_after") {
        return;
    }
    let mut doc = example();
    add_staff(&mut doc, 12);
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        LEVELS,
    )
    .await;
    let path = rig.config.state_path.clone();
    let plan = rig.run(Mode::Plan, Allowance::default()).await.unwrap();
    let steps = plan.plan.steps.len() + plan.group_plan.steps.len();
    assert!(
        steps > n + 1,
        "the plan is too small to fill the disk in: {steps}"
    );
    fill_disk_after(&path, n);

    rig.scim.knobs.reset_counters();
    let before = rig.scim.writes();
    let first = rig.sync().await;
    let report = first.report.render();
    assert_eq!(first.outcome, Outcome::Usage, "{report}");
    let recorded = intents(&path);
    assert!(recorded <= n, "{recorded} intents: {report}");
    // Through /Bulk (the extended profile advertises it), one request carries many writes.
    assert_eq!(
        rig.scim.writes() - before,
        recorded as u64,
        "exactly the writes whose intent was recorded were made: {report}"
    );
    assert!(
        report.contains("the state store failed while writing"),
        "{report}"
    );
    let unwritten = first
        .report
        .failures
        .iter()
        .filter(|f| {
            f.error_message()
                .is_some_and(|m| m.starts_with("not written"))
        })
        .count();
    assert_eq!(unwritten, steps - recorded, "{report}");
    let dir = tempfile::tempdir().unwrap();
    let written = first.report.write_json(dir.path()).unwrap();
    let json = std::fs::read_to_string(written).unwrap();
    assert!(json.contains("not written"), "{json}");

    free_disk(&path);
    let second = rig.sync().await;
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    let third = rig.sync_counted().await;
    assert_eq!(third.1, 0, "{}", third.0.report.render());
    let memory = StateStore::open(&path).unwrap().memory().unwrap();
    let users = rig.users();
    assert_no_duplicates(&users);
    for user in &users {
        let id = user["id"].as_str().unwrap();
        assert!(
            memory.created.contains(id),
            "user {id} not remembered as ours"
        );
    }
    let groups = rig.scim.groups();
    assert!(!groups.is_empty());
    for group in &groups {
        let id = group["id"].as_str().unwrap();
        assert!(
            memory.created.contains(id),
            "group {id} not remembered as ours"
        );
    }
}

#[tokio::test]
async fn a_disk_that_fills_among_user_writes_stops_them_and_the_next_run_reconciles() {
    disk_fills_after(3).await;
}

#[tokio::test]
async fn a_disk_that_fills_among_group_writes_stops_them_and_the_next_run_reconciles() {
    let mut doc = example();
    add_staff(&mut doc, 12);
    // Every user create, then two group writes.
    let users = Rig::start(&doc, Profile::Extended)
        .await
        .run(Mode::Plan, Allowance::default())
        .await
        .unwrap()
        .plan
        .steps
        .len();
    disk_fills_after(users + 2).await;
}

/// The same through the binary: exit 2, the summary printed, and a report in the report folder
/// listing what was not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_whose_disk_fills_exits_2_and_leaves_a_report() {
    if crate::support::sqlite_only("a_sync_whose_disk_fills_exits_2_and_leaves_a_report") {
        return;
    }
    let rig = super::HostileRig::start("").await;
    let path = rig.dir.path().join("flexsync.db");
    fill_disk_after(&path, 2);
    let ran = rig.sync().await;
    let printed = ran.printed();
    assert_eq!(ran.code, 2, "{printed}");
    assert!(
        printed.contains("the state store failed while writing"),
        "{printed}"
    );
    let recorded = intents(&path);
    assert!(recorded <= 2, "{recorded} intents: {printed}");
    assert_eq!(rig.scim.writes(), recorded as u64, "{printed}");
    let stored = rig.stored();
    assert!(stored.contains("\"kind\": \"sync\""), "no report on disk");
    assert!(
        stored.contains("not written: the state store could not record"),
        "{printed}"
    );
    free_disk(&path);
    let again = rig.sync().await;
    assert_eq!(again.code, 0, "{}", again.printed());
    assert_eq!(rig.users().len(), 4);
}

/// With the report folder unusable too, the report goes to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_goes_to_stderr() {
    if crate::support::sqlite_only("a_report_that_cannot_be_written_goes_to_stderr") {
        return;
    }
    let rig = super::HostileRig::start("[report]\ndir = \"not-a-folder\"\n").await;
    std::fs::write(rig.dir.path().join("not-a-folder"), "a file").unwrap();
    fill_disk_after(&rig.dir.path().join("flexsync.db"), 2);
    let ran = rig.sync().await;
    assert_eq!(ran.code, 2, "{}", ran.printed());
    assert!(ran.stderr.contains("\"run_id\""), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("not written: the state store could not record"),
        "{}",
        ran.stderr
    );
}
