//! Three daemons share twenty tenants through leases on PostgreSQL; one is killed with SIGKILL
//! in the middle of a scheduled slot. Every tenant converges, no slot runs twice, each slot's
//! report exists once, and the figures are printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flexsync_emulators::knobs::Faults;
use flexsync_state::{LeaseBoard, PgTarget};

use super::{Ends, ends, write_tenant_with};
use crate::support::*;

const TENANTS: usize = 20;
const LEASE_SECONDS: u64 = 3;

/// A daemon of one copy of the tenants folder (as each replica mounts its own copy).
struct Instance {
    child: Child,
    dir: PathBuf,
}

impl Instance {
    fn start(dir: &Path) -> Instance {
        let child = Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .args(["daemon", "--tenants", dir.to_str().unwrap()])
            .env("FLEXSYNC_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        Instance {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lease schema's server: the test server, with its password in the URL's place.
fn lease_target(schema: &str) -> PgTarget {
    PgTarget {
        url: std::env::var("FLEXSYNC_TEST_POSTGRES_URL").unwrap(),
        password: None,
        schema: schema.to_string(),
        ca_pem: std::env::var("FLEXSYNC_TEST_POSTGRES_CA")
            .ok()
            .map(|path| std::fs::read(path).unwrap()),
    }
}

fn lease_section(dir: &Path, schema: &str, port: u16) -> String {
    let url = std::env::var("FLEXSYNC_TEST_POSTGRES_URL").unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (login, server) = rest.rsplit_once('@').unwrap();
    let (user, password) = login.split_once(':').unwrap();
    write_secret(&dir.join("lease-password.txt"), password);
    let ca = match std::env::var("FLEXSYNC_TEST_POSTGRES_CA") {
        Ok(path) => format!("ca_file = {path:?}\n"),
        Err(_) => String::new(),
    };
    format!(
        "[daemon]\nlisten = \"127.0.0.1:{port}\"\nparallel_tenants = 4\n\
         lease_seconds = {LEASE_SECONDS}\n\n[state]\nurl = \"{scheme}://{user}@{server}\"\n\
         password_file = \"lease-password.txt\"\nschema = \"{schema}\"\n{ca}"
    )
}

async fn wait(what: &str, seconds: u64, mut done: impl FnMut() -> bool, logs: &[&Instance]) {
    let until = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        if Instant::now() > until {
            let logs: Vec<String> = logs.iter().map(|i| i.log()).collect();
            panic!(
                "{what}: not within {seconds}s; logs:\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_twenty_tenants_and_survive_one_killed_mid_slot() {
    if !on_postgres() {
        eprintln!("the lease test needs PostgreSQL: it runs in the suite's PostgreSQL pass");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let reports = root.path().join("reports");
    let copies: Vec<PathBuf> = (0..3).map(|i| root.path().join(format!("d{i}"))).collect();
    for copy in &copies {
        std::fs::create_dir_all(copy).unwrap();
    }
    let mut tenants: BTreeMap<String, Ends> = BTreeMap::new();
    for i in 0..TENANTS {
        let name = format!("t{i:02}");
        let ends = ends(Faults::default()).await;
        let extra = format!(
            "[schedule]\nevery_minutes = 1\n\n[report]\ndir = {:?}\n",
            reports.join(&name)
        );
        write_tenant_with(
            &copies[0],
            &name,
            &ends.flex.base_url(),
            &ends.scim.base_url(),
            &extra,
        );
        tenants.insert(name, ends);
    }
    for copy in &copies[1..] {
        for entry in std::fs::read_dir(&copies[0]).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let schema = format!("leases_{}", std::process::id());
    for copy in &copies {
        std::fs::write(
            copy.join("_daemon.toml"),
            lease_section(copy, &schema, free_port()),
        )
        .unwrap();
    }

    // A takes every tenant first; B and C wait for leases to come free.
    let mut a = Instance::start(&copies[0]);
    let board = {
        let target = lease_target(&schema);
        let mut opened = None;
        wait(
            "the lease schema",
            20,
            || {
                opened = LeaseBoard::open(&target).ok();
                opened.is_some()
            },
            &[&a],
        )
        .await;
        opened.unwrap()
    };
    let held_by_all = |board: &LeaseBoard| {
        let holders = board.holders().unwrap();
        holders.len() == TENANTS && holders.iter().all(|(_, h)| h.is_some())
    };
    wait("A holds every tenant", 30, || held_by_all(&board), &[&a]).await;
    let a_name = board.holders().unwrap()[0].1.clone().unwrap();
    let b = Instance::start(&copies[1]);
    let c = Instance::start(&copies[2]);

    // The first slot comes at the next minute; A is killed while it runs it.
    wait(
        "A runs the first slot",
        75,
        || {
            let slots = board.slots().unwrap();
            slots.iter().any(|s| s.finished)
                && slots.iter().filter(|s| s.finished).count() < TENANTS
        },
        &[&a, &b, &c],
    )
    .await;
    a.signal("-KILL");
    let _ = a.child.wait();
    let slots_at_kill = board.slots().unwrap();
    let first_slot = slots_at_kill[0].slot;
    let finished_at_kill = slots_at_kill.iter().filter(|s| s.finished).count();

    // B and C take A's tenants once its leases expire, finish the first slot, run the next.
    let second_slot = first_slot + jiff::SignedDuration::from_secs(60);
    wait(
        "every tenant runs both slots",
        150,
        || {
            let slots = board.slots().unwrap();
            slots
                .iter()
                .filter(|s| s.finished && s.slot == second_slot)
                .count()
                == TENANTS
                && slots
                    .iter()
                    .filter(|s| s.finished && s.slot == first_slot)
                    .count()
                    == TENANTS
        },
        &[&b, &c],
    )
    .await;
    b.signal("-TERM");
    c.signal("-TERM");
    let mut b = b;
    let mut c = c;
    assert_eq!(b.child.wait().unwrap().code(), Some(0), "{}", b.log());
    assert_eq!(c.child.wait().unwrap().code(), Some(0), "{}", c.log());

    let slots = board.slots().unwrap();
    let takeovers: i64 = board.takeovers().unwrap().iter().map(|(_, n)| n).sum();
    let slot_takeovers = slots.iter().filter(|s| s.attempts > 1).count();
    let mut duplicates = 0;
    let mut extra_reports = 0;
    let mut interrupted = 0;
    let mut reports_missing = 0;
    for (name, ends) in &tenants {
        assert_eq!(ends.scim.users().len(), 4, "{name} converged");
        let tenant = flexsync::config::tenants::load(&copies[1], name).unwrap();
        let store = tenant.config.open_state().unwrap();
        let finished_runs = store
            .runs_of_kind(flexsync_core::outcome::RunKind::Sync, 1000)
            .unwrap()
            .into_iter()
            // A run killed mid-slot is closed by the next as interrupted: it did not complete.
            .filter(|run| run.finished.is_some() && !run.interrupted())
            .count();
        let own: Vec<_> = slots
            .iter()
            .filter(|s| s.tenant == *name && s.finished)
            .collect();
        duplicates += finished_runs.saturating_sub(own.len());
        let files = std::fs::read_dir(reports.join(name))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with("run-") && name.ends_with(".json")
            })
            .count();
        extra_reports += files.saturating_sub(own.len());
        interrupted += store
            .runs_of_kind(flexsync_core::outcome::RunKind::Sync, 1000)
            .unwrap()
            .iter()
            .filter(|run| run.interrupted())
            .count();
        for slot in &own {
            let report = reports
                .join(name)
                .join(format!("run-{:06}.json", slot.run_id.unwrap()));
            if !report.is_file() {
                reports_missing += 1;
            }
        }
    }
    // A slot whose run A finished (its report written) before dying is adopted, not run again.
    let adopted = [&b, &c]
        .iter()
        .map(|daemon| {
            daemon
                .log()
                .matches("a slot its earlier holder ran to the end")
                .count()
        })
        .sum::<usize>();
    let figures = format!(
        "tenants: {TENANTS}, slots: {}, finished when A ({a_name}) was killed: {finished_at_kill}, \
         lease takeovers: {takeovers}, slot takeovers: {slot_takeovers}, runs killed mid-slot: {interrupted}, \
         slots adopted as run to the end: {adopted}, \
         duplicates: {duplicates}, reports beyond one per slot: {extra_reports}, \
         reports missing: {reports_missing}",
        slots.len()
    );
    println!("FIGURES {figures}");
    eprintln!("FIGURES {figures}");
    assert_eq!(slots.len(), 2 * TENANTS, "{figures}");
    assert!(
        slots.iter().all(|s| s.outcome.as_deref() == Some("done")),
        "{slots:?}"
    );
    assert!(
        takeovers >= i64::try_from(TENANTS).unwrap(),
        "every tenant A held was taken over: {figures}"
    );
    assert_eq!(duplicates, 0, "{figures}");
    assert_eq!(extra_reports, 0, "{figures}");
    // A slot A claimed may die before its run began in the store; none is interrupted unclaimed.
    assert!(interrupted <= slot_takeovers, "{figures}");
    assert!(slot_takeovers > 0, "A was killed mid-slot: {figures}");
    assert_eq!(reports_missing, 0, "{figures}");
}
