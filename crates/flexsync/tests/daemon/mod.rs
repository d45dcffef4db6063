//! `flexsync daemon` as an operator runs it: the real binary syncing on its schedule, answering
//! /healthz and /metrics over a socket, and stopping cleanly on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;

use crate::support::*;

/// Polls are 100 ms apart; this many make the 20 s bound.
const POLLS: usize = 200;
const STEP: Duration = Duration::from_millis(100);

/// The daemon process; killed if a test ends before it stopped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let log = config.with_file_name("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .args(["daemon", "--config", config.to_str().unwrap()])
            .env_remove("FLEXSYNC_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls /metrics until it holds `line`; the last page read.
    async fn wait_for_metric(&mut self, port: u16, line: &str) -> String {
        let mut page = String::new();
        for _ in 0..POLLS {
            if let Some((200, body)) = get(port, "/metrics").await {
                page = body;
                if page.lines().any(|l| l == line) {
                    return page;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited early ({status}):\n{}", self.log());
            }
            tokio::time::sleep(STEP).await;
        }
        panic!("no `{line}` in /metrics:\n{page}\nlog:\n{}", self.log());
    }

    /// Waits until the daemon answers /livez.
    async fn wait_until_serving(&mut self, port: u16) {
        for _ in 0..POLLS {
            if let Some((200, _)) = get(port, "/livez").await {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited early ({status}):\n{}", self.log());
            }
            tokio::time::sleep(STEP).await;
        }
        panic!("the daemon never answered /livez:\n{}", self.log());
    }

    /// Sends SIGTERM and waits (bounded) for the process to end.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        for _ in 0..POLLS {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(STEP).await;
        }
        panic!("the daemon did not stop on SIGTERM:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn daemon_toml(port: u16) -> String {
    format!(
        "[schedule]\nrun_at_start = true\ntimes = [\"01:00\"]\n[daemon]\nlisten = \"127.0.0.1:{port}\"\n"
    )
}

fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_syncs_at_start_reports_health_and_metrics_and_stops_on_sigterm() {
    let doc = example();
    let port = free_port();
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &daemon_toml(port),
    )
    .await;
    let mut daemon = Daemon::start(&rig.config_path);

    let metrics = daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"done\"} 1")
        .await;
    let employees = doc["Employees"].as_array().unwrap().len();
    assert_eq!(rig.users().len(), employees);
    assert_eq!(employees, 4);
    for outcome in ["record_failures", "refused", "unreachable", "usage"] {
        let line = format!("flexsync_runs_total{{outcome=\"{outcome}\"}} 0");
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    assert_eq!(
        sample(
            &metrics,
            "flexsync_last_run_operations{kind=\"create\",result=\"ok\"}"
        ),
        Some(employees as f64),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "flexsync_last_run_operations{kind=\"create\",result=\"failed\"}"
        ),
        Some(0.0)
    );
    let finished = sample(&metrics, "flexsync_last_run_timestamp_seconds").unwrap();
    assert_eq!(
        sample(&metrics, "flexsync_last_success_timestamp_seconds"),
        Some(finished)
    );
    assert!(sample(&metrics, "flexsync_last_run_duration_seconds").is_some_and(|s| s >= 0.0));
    assert!(sample(&metrics, "flexsync_last_run_findings").is_some());

    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["last_run"]["outcome"], "done", "{health}");
    let run_id = health["last_run"]["id"].as_i64().unwrap();
    let finished_at: jiff::Timestamp = health["last_run"]["finished"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(finished_at.as_second() as f64, finished);

    // The next run is the configured 01:00, Stockholm time, after the run that just finished.
    let next: jiff::Timestamp = health["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next > finished_at, "{health}");
    let local = next.in_tz("Europe/Stockholm").unwrap();
    assert_eq!((local.hour(), local.minute(), local.second()), (1, 0, 0));
    assert!(next.duration_since(finished_at) <= jiff::SignedDuration::from_hours(25));
    assert_eq!(
        sample(&metrics, "flexsync_next_run_timestamp_seconds"),
        Some(next.as_second() as f64)
    );

    // The same path as `flexsync sync`: the run's JSON report is in the report folder.
    let report = rig.config.report_dir.join(format!("run-{run_id:06}.json"));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["kind"], "sync");
    assert_eq!(report["succeeded"]["create"], employees);

    let status = daemon.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_counted_and_the_daemon_goes_on() {
    let scim = flexsync_emulators::scim::start(scim_options(Profile::Extended))
        .await
        .unwrap();
    // Both bound at once, so they differ; the first stays closed.
    let (closed, port) = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("http://127.0.0.1:{closed}"),
        &Login::of(&example()),
        &scim.base_url(),
        TOKEN,
        &daemon_toml(port),
    );
    let mut daemon = Daemon::start(&config);

    let metrics = daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"unreachable\"} 1")
        .await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "flexsync_runs_total{outcome=\"done\"} 0")
    );
    assert_eq!(
        sample(&metrics, "flexsync_last_success_timestamp_seconds"),
        None
    );
    assert!(scim.users().is_empty(), "nothing is written");
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "attention", "{health}");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("could not reach"),
        "{health}"
    );
    assert!(
        health["remedy"].as_str().unwrap().contains("Flex"),
        "{health}"
    );
    assert_eq!(
        get(port, "/livez").await.unwrap().0,
        200,
        "alive all the same"
    );
    assert_eq!(health["last_run"]["outcome"], "unreachable", "{health}");
    assert!(health["next_run"].is_string(), "{health}");
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");

    let status = daemon.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        daemon.log().contains("scheduled sync failed"),
        "{}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schedule_stops_the_daemon_at_start_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "http://127.0.0.1:9",
        &Login::of(&example()),
        "http://127.0.0.1:9/api/scim",
        TOKEN,
        "[schedule]\ntimes = [\"25:00\"]\n",
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .args(["daemon", "--config", config.to_str().unwrap()])
            .env_remove("FLEXSYNC_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("schedule.times: \"25:00\""), "{stderr}");
}

/// The daemon's config section without a run at start: it serves, and waits for 01:00.
fn waiting_toml(listen: &str) -> String {
    format!("[schedule]\ntimes = [\"01:00\"]\n[daemon]\nlisten = \"{listen}\"\n")
}

fn health_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_run_needs_attention_until_its_approved_plan_goes_through() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let port = free_port();
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &daemon_toml(port),
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let first = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);

    let mut daemon = Daemon::start(&rig.config_path);
    daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"refused\"} 1")
        .await;
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    let health = health_of(&body);
    assert_eq!(health["status"], "attention");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .starts_with("run #2 was refused by guard"),
        "{health}"
    );
    let approve = format!("flexsync approve 2 --config {config}");
    assert!(
        health["remedy"].as_str().unwrap().contains(&approve),
        "{health}"
    );
    assert_eq!(
        get(port, "/livez").await.unwrap(),
        (200, "{\"status\":\"live\"}".into())
    );
    assert_eq!(daemon.terminate().await.code(), Some(0));
    assert!(
        rig.users().iter().all(|u| u["active"] == true),
        "nothing paused"
    );

    let approved = flexsync_bin(&["approve", "2", "--config", &config, "--by", "ops"]).await;
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        output_text(&approved)
    );
    // The restarted daemon's run at start goes through on the approval.
    let mut daemon = Daemon::start(&rig.config_path);
    daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"done\"} 1")
        .await;
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(health_of(&body)["status"], "ok");
    assert_eq!(paused_ids(&rig.users()).len(), 8);
    assert_eq!(daemon.terminate().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_last_runs_come_back_and_the_status_page_links_their_reports() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let port = free_port();
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &waiting_toml(&format!("127.0.0.1:{port}")),
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let first = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    let store = rig.config.open_state().unwrap();
    let synced = store
        .runs(1)
        .unwrap()
        .remove(0)
        .finished
        .unwrap()
        .as_second() as f64;
    // The HTML report is written beside the JSON one (by the report renderer); one stands in.
    let html = rig.config.report_dir.join("run-000001.html");
    std::fs::write(&html, "<html><body>run 1 report</body></html>").unwrap();

    let mut daemon = Daemon::start(&rig.config_path);
    daemon.wait_until_serving(port).await;
    let (_, metrics) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&metrics, "flexsync_last_success_timestamp_seconds"),
        Some(synced),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "flexsync_last_run_timestamp_seconds"),
        Some(synced)
    );
    assert_eq!(
        sample(&metrics, "flexsync_last_completed_timestamp_seconds"),
        Some(synced)
    );
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(health_of(&body)["last_run"]["id"], 1);

    let (status, page) = get(port, "/").await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<a href=\"/reports/run-000001.html\">"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"/reports/run-000001.json\">"),
        "{page}"
    );
    assert!(page.contains("done create 14"), "{page}");
    let (status, json) = get(port, "/reports/run-000001.json").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(health_of(&json)["run_id"], 1);
    assert_eq!(
        get(port, "/reports/run-000001.html").await.unwrap(),
        (200, "<html><body>run 1 report</body></html>".into())
    );
    for path in [
        "/reports/flexsync.db",
        "/reports/..%2Fflexsync.db",
        "/reports/run-000001.json.tmp",
        "/reports/run-000009.json",
    ] {
        assert_eq!(get(port, path).await.unwrap().0, 404, "{path}");
    }
    assert_eq!(daemon.terminate().await.code(), Some(0));

    // A refused sync by hand; the restarted daemon says so before its next run.
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);
    let refused = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", output_text(&refused));
    let mut daemon = Daemon::start(&rig.config_path);
    daemon.wait_until_serving(port).await;
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    let health = health_of(&body);
    assert_eq!(health["last_run"]["outcome"], "refused");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("run #2 was refused by guard"),
        "{health}"
    );
    assert!(
        health["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("flexsync approve 2 --config {config}")),
        "{health}"
    );
    let (_, metrics) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&metrics, "flexsync_last_success_timestamp_seconds"),
        Some(synced),
        "the last success is still the first sync"
    );
    let (_, page) = get(port, "/").await.unwrap();
    assert!(page.contains("attention"), "{page}");
    assert!(page.contains("refused by "), "{page}");
    assert_eq!(daemon.terminate().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_status_page_and_reports_ask_for_the_bearer_token() {
    let port = free_port();
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("status-token.txt");
    write_secret(&token_file, "status-token-81c4\n");
    let extra = format!(
        "{}status_token_file = {:?}\n",
        waiting_toml(&format!("0.0.0.0:{port}")),
        token_file.display().to_string()
    );
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let first = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));

    let mut daemon = Daemon::start(&rig.config_path);
    daemon.wait_until_serving(port).await;
    for path in ["/", "/reports/run-000001.json"] {
        let (status, body) = get(port, path).await.unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("status-token-81c4"));
        let (status, _) = get_with(port, path, Some("status-token-81c5"))
            .await
            .unwrap();
        assert_eq!(status, 401, "{path}: a wrong token");
        let (status, body) = get_with(port, path, Some("status-token-81c4"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }
    for open in ["/healthz", "/livez", "/metrics"] {
        assert_eq!(
            get(port, open).await.unwrap().0,
            200,
            "{open} is for probes"
        );
    }
    assert_eq!(daemon.terminate().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_that_could_not_be_sent_shows_in_healthz_though_the_run_went_through() {
    let port = free_port();
    let closed = free_port();
    let extra = format!(
        "{}[notify.email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {closed}\nsecurity = \"none\"\n\
         from = \"flexsync@example.se\"\nto = [\"hr-it@example.se\"]\nwhen = \"always\"\n",
        daemon_toml(port)
    );
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let mut daemon = Daemon::start(&rig.config_path);
    daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"done\"} 1")
        .await;
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    let health = health_of(&body);
    assert_eq!(health["last_run"]["outcome"], "done");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .starts_with("the run went through, but the email was not sent: SMTP 127.0.0.1:"),
        "{health}"
    );
    assert_eq!(health["notifications"][0]["channel"], "email");
    assert_eq!(rig.users().len(), 4, "the sync itself was carried out");
    assert_eq!(daemon.terminate().await.code(), Some(0));
    assert!(
        daemon.log().contains("could not notify"),
        "{}",
        daemon.log()
    );
}

/// Descriptors the process holds open.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A connection that sends the start of a request and never finishes it.
async fn half_open(port: u16) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_capped_and_health_still_answers() {
    let port = free_port();
    let extra = format!(
        "{}max_connections = 8\nheader_timeout_seconds = 1\n",
        daemon_toml(port)
    );
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let mut daemon = Daemon::start(&rig.config_path);
    daemon
        .wait_for_metric(port, "flexsync_runs_total{outcome=\"done\"} 1")
        .await;

    // One request never finished: closed after the header timeout.
    let mut lingering = half_open(port).await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), lingering.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a half-open connection is still open after 5 s: {read:?}"
    );

    // A flood of them holds no more than the cap, and /healthz is still answered at once.
    let before = open_descriptors(daemon.child.id());
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(half_open(port).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = open_descriptors(daemon.child.id());
    assert!(
        during <= before + 10,
        "{before} descriptors before the flood, {during} during it"
    );
    let health = tokio::time::timeout(Duration::from_secs(2), get(port, "/healthz")).await;
    assert!(
        matches!(health, Ok(Some((200, _)))),
        "/healthz during the flood: {health:?}"
    );
    drop(flood);
    assert!(daemon.terminate().await.success(), "{}", daemon.log());
}

/// A sync made by hand while the daemon waits for its slot (say after an approval) is what
/// `/healthz` speaks of: the refusal before it no longer needs attention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_speaks_of_a_sync_made_by_hand_since_the_daemons_last_run() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let port = free_port();
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &waiting_toml(&format!("127.0.0.1:{port}")),
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let first = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);
    let refused = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", output_text(&refused));

    let mut daemon = Daemon::start(&rig.config_path);
    daemon.wait_until_serving(port).await;
    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");

    let approved = flexsync_bin(&["approve", "2", "--config", &config, "--by", "ops"]).await;
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        output_text(&approved)
    );
    let by_hand = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(by_hand.status.code(), Some(0), "{}", output_text(&by_hand));

    let (status, body) = get(port, "/healthz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(health_of(&body)["last_run"]["id"], 3, "{body}");
    assert!(daemon.terminate().await.success(), "{}", daemon.log());
}
