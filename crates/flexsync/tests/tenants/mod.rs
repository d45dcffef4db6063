//! `flexsync daemon --tenants DIR` as an operator runs it: several tenants, each with its own
//! emulators, state and schedule, in one process; and the commands' `--tenant NAME`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use flexsync_emulators::flex::{self, RunningFlex};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::{self, Profile, RunningScim};

use crate::support::*;

mod kill;

const STEP: Duration = Duration::from_millis(100);

/// Writes the tenant `name` into `dir` (`NAME.toml`): its own state (the tenants' default when
/// on SQLite, a schema of its own on PostgreSQL), syncing at start.
pub fn write_tenant(dir: &Path, name: &str, flex_url: &str, scim_url: &str) {
    write_tenant_with(
        dir,
        name,
        flex_url,
        scim_url,
        "[schedule]\nrun_at_start = true\ntimes = [\"01:00\"]\n",
    );
}

/// [`write_tenant`] with `extra` sections (its schedule among them).
pub fn write_tenant_with(dir: &Path, name: &str, flex_url: &str, scim_url: &str, extra: &str) {
    let written = write_config(
        dir,
        flex_url,
        &Login::of(&example()),
        scim_url,
        TOKEN,
        extra,
    );
    let text = std::fs::read_to_string(&written)
        .unwrap()
        .replace("path = \"flexsync.db\"\n", "");
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    std::fs::remove_file(written).unwrap();
}

/// A tenant's two ends.
pub struct Ends {
    pub flex: RunningFlex,
    pub scim: RunningScim,
}

pub async fn ends(flex_faults: Faults) -> Ends {
    Ends {
        flex: flex::start(flex_data(&example()), flex_faults)
            .await
            .unwrap(),
        scim: scim::start(scim_options(Profile::Extended)).await.unwrap(),
    }
}

/// Polls /metrics until `done` holds, within `seconds`; the page read then.
async fn wait_until(
    child: &mut Child,
    port: u16,
    seconds: u64,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut page = String::new();
    for _ in 0..seconds * 10 {
        if let Some((200, body)) = get(port, "/metrics").await {
            page = body;
            if done(&page) {
                return page;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited early"
        );
        tokio::time::sleep(STEP).await;
    }
    panic!("not reached in {seconds}s; /metrics:\n{page}");
}

fn has(page: &str, line: &str) -> bool {
    page.lines().any(|l| l == line)
}

fn flexsync(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flexsync"))
        .args(args)
        .env_remove("FLEXSYNC_LOG")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_sync_apart_and_a_slow_or_failing_one_holds_up_no_other() {
    let acme = ends(Faults::default()).await;
    let slow = ends(Faults {
        latency: Duration::from_millis(1200),
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path();
    write_tenant(
        tenants,
        "acme",
        &acme.flex.base_url(),
        &acme.scim.base_url(),
    );
    write_tenant(
        tenants,
        "slow",
        &slow.flex.base_url(),
        &slow.scim.base_url(),
    );
    // Flex of globex does not answer at all.
    let closed = free_port();
    write_tenant(
        tenants,
        "globex",
        &format!("http://127.0.0.1:{closed}"),
        &acme.scim.base_url(),
    );
    let port = free_port();
    std::fs::write(
        tenants.join("_daemon.toml"),
        format!("[daemon]\nlisten = \"127.0.0.1:{port}\"\nparallel_tenants = 2\n"),
    )
    .unwrap();
    let log = tenants.join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flexsync"))
        .args(["daemon", "--tenants", tenants.to_str().unwrap()])
        .env_remove("FLEXSYNC_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let line = |tenant: &str, outcome: &str| {
        format!("flexsync_runs_total{{tenant=\"{tenant}\",outcome=\"{outcome}\"}} 1")
    };
    let page = wait_until(&mut child, port, 20, |page| {
        has(page, &line("acme", "done")) && has(page, &line("globex", "unreachable"))
    })
    .await;
    assert!(
        !has(&page, &line("slow", "done")),
        "the slow tenant is still syncing while the others are done:\n{page}"
    );
    assert_eq!(
        acme.scim.users().len(),
        4,
        "acme's people are in acme's Winningtemp"
    );
    assert_eq!(
        page.matches("# TYPE flexsync_runs_total counter").count(),
        1
    );

    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "globex needs attention: {body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["tenants"]["acme"]["status"], "ok", "{health}");
    assert_eq!(
        health["tenants"]["globex"]["status"], "attention",
        "{health}"
    );
    let (status, _) = get(port, "/tenants/acme/healthz").await.unwrap();
    assert_eq!(status, 200);

    // The overview names each tenant with its status and why; each tenant has its own pages.
    let (status, overview) = get(port, "/").await.unwrap();
    assert_eq!(status, 200, "{overview}");
    assert!(
        overview.contains("3 tenants, 1 needing attention")
            && overview.contains("<a href=\"/tenants/globex\">globex</a>")
            && overview.contains("attention"),
        "{overview}"
    );
    let (status, page) = get(port, "/tenants/acme").await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>flexsync: acme</h1>"), "{page}");
    let link = page
        .split("href=\"")
        .filter_map(|rest| rest.split_once('"').map(|(href, _)| href))
        .find(|href| href.ends_with(".html"))
        .unwrap_or_else(|| panic!("no report linked: {page}"));
    assert!(link.starts_with("/tenants/acme/reports/run-"), "{link}");
    let (status, report) = get(port, link).await.unwrap();
    assert_eq!(status, 200);
    assert!(report.contains("<html"), "{report}");
    let (status, _) = get(port, "/tenants/initech").await.unwrap();
    assert_eq!(status, 404);

    wait_until(&mut child, port, 30, |page| {
        has(page, &line("slow", "done"))
    })
    .await;
    assert_eq!(slow.scim.users().len(), 4);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut status = None;
    for _ in 0..200 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(STEP).await;
    }
    let printed = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{printed}");
    assert!(
        printed.contains("tenant=globex") || printed.contains("tenant{tenant=globex}"),
        "{printed}"
    );

    // Each tenant's records are its own, and every command reaches them with --tenant.
    let dir_arg = tenants.to_str().unwrap();
    let history = flexsync(&["history", "--tenants", dir_arg, "--tenant", "acme"]);
    let text = output_text(&history);
    assert_eq!(history.status.code(), Some(0), "{text}");
    assert!(text.contains("sync  done"), "{text}");
    let globex = output_text(&flexsync(&[
        "history",
        "--tenants",
        dir_arg,
        "--tenant",
        "globex",
    ]));
    assert!(
        globex.contains("sync  unreachable") && !globex.contains("sync  done"),
        "{globex}"
    );
    let plan = flexsync(&["plan", "--tenants", dir_arg, "--tenant", "acme"]);
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
    let unknown = flexsync(&["history", "--tenants", dir_arg, "--tenant", "initech"]);
    let text = output_text(&unknown);
    assert_eq!(unknown.status.code(), Some(2), "{text}");
    assert!(text.contains("acme, globex, slow"), "{text}");
}
