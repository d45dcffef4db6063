//! `flexsync daemon`: syncs on the schedule, one at a time, until SIGTERM or Ctrl-C, and answers
//! `GET /healthz` and `GET /metrics` from one `DaemonState`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use jiff::{Timestamp, Zoned};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use flexsync_core::guard::Allowance;

use crate::config::Config;
use crate::daemon_listener::GuardedListener;
use crate::run::{Outcome, RunFailure, RunKind, sync_and_report};
use crate::schedule::next_run;

/// The longest sleep between looks at the wall clock, so a clock change or a suspended machine
/// delays a run by at most this much.
const CLOCK_CHECK: Duration = Duration::from_secs(60);
/// How long the HTTP server may take to close its connections on stop.
const HTTP_STOP: Duration = Duration::from_secs(5);

/// Operations of one kind in a run: carried out, and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operations {
    pub ok: usize,
    pub failed: usize,
}

/// One finished run, as the daemon keeps it.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The state store's run id; none when the run failed before or without a report.
    pub id: Option<i64>,
    pub outcome: Outcome,
    pub finished: Zoned,
    pub duration: Duration,
    /// Per operation kind (create, update, pause, ...); empty when the run failed.
    pub operations: BTreeMap<String, Operations>,
    /// Findings on the Flex records; none when the run failed before mapping.
    pub findings: Option<usize>,
    /// Records held after failing; none when the run failed before planning.
    pub held: Option<usize>,
    pub report: Option<PathBuf>,
    /// Why the run failed, when it did not produce a report.
    pub error: Option<String>,
}

/// What the daemon knows: its runs so far and the next one. Logs each run and renders both
/// `/healthz` and `/metrics`, so the log line and the figures come from one place.
#[derive(Debug, Default)]
pub struct DaemonState {
    runs: BTreeMap<Outcome, u64>,
    last: Option<FinishedRun>,
    last_success: Option<Timestamp>,
    last_completed: Option<Timestamp>,
    next_run: Option<Zoned>,
}

impl DaemonState {
    /// Keeps a finished run and the next run due after it, and logs the run.
    pub fn record(&mut self, run: FinishedRun, next_run: Option<Zoned>) {
        let id = run
            .id
            .map(|id| format!("#{id}"))
            .unwrap_or_else(|| "-".into());
        let report = run
            .report
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match (&run.error, run.outcome) {
            (Some(error), outcome) => tracing::error!(
                run = %id, outcome = outcome.label(), "scheduled sync failed: {error}"
            ),
            (None, Outcome::Done) => tracing::info!(
                run = %id, outcome = "done", seconds = run.duration.as_secs_f64(), %report,
                "scheduled sync done"
            ),
            (None, outcome) => tracing::warn!(
                run = %id, outcome = outcome.label(), %report, "scheduled sync needs attention"
            ),
        }
        *self.runs.entry(run.outcome).or_insert(0) += 1;
        if run.outcome == Outcome::Done {
            self.last_success = Some(run.finished.timestamp());
        }
        if matches!(run.outcome, Outcome::Done | Outcome::RecordFailures) {
            self.last_completed = Some(run.finished.timestamp());
        }
        self.last = Some(run);
        self.set_next_run(next_run);
    }

    /// The next run due, or none while a run is in progress.
    pub fn set_next_run(&mut self, next_run: Option<Zoned>) {
        if let Some(next) = &next_run {
            tracing::info!(next_run = %rfc3339(next), "next scheduled sync");
        }
        self.next_run = next_run;
    }

    /// The `/healthz` document.
    pub fn healthz(&self) -> Value {
        json!({
            "status": "ok",
            "last_run": self.last.as_ref().map(|run| json!({
                "id": run.id,
                "outcome": run.outcome.label(),
                "finished": rfc3339(&run.finished),
            })),
            "next_run": self.next_run.as_ref().map(rfc3339),
        })
    }

    /// The `/metrics` page in Prometheus' text format (see [`crate::metrics`]).
    pub fn metrics(&self) -> String {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let last = self.last.as_ref();
        crate::metrics::render(crate::metrics::Figures {
            runs: Outcome::ALL
                .iter()
                .map(|o| (o.label(), self.runs.get(o).copied().unwrap_or(0)))
                .collect(),
            last_run: last.map(|run| run.finished.timestamp().as_second()),
            last_success: self.last_success.map(|t| t.as_second()),
            last_completed: self.last_completed.map(|t| t.as_second()),
            last_duration: last.map(|run| run.duration),
            operations: last
                .map(|run| &run.operations)
                .into_iter()
                .flatten()
                .map(|(kind, ops)| (kind.clone(), count(ops.ok), count(ops.failed)))
                .collect(),
            findings: last.and_then(|run| run.findings).map(count),
            held: last.and_then(|run| run.held).map(count),
            next_run: self.next_run.as_ref().map(|t| t.timestamp().as_second()),
        })
    }
}

/// A time as RFC 3339 with its local offset, e.g. `2026-03-30T01:00:00+02:00`.
fn rfc3339(zoned: &Zoned) -> String {
    zoned
        .timestamp()
        .display_with_offset(zoned.offset())
        .to_string()
}

type Shared = Arc<Mutex<DaemonState>>;

fn lock(state: &Shared) -> MutexGuard<'_, DaemonState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `/healthz` and `/metrics` over one shared state.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(state): State<Shared>) -> axum::Json<Value> {
    axum::Json(lock(&state).healthz())
}

async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        lock(&state).metrics(),
    )
}

/// `flexsync daemon --config F`: loads the configuration, binds the HTTP address, and runs until
/// SIGTERM or Ctrl-C. A configuration or bind error is a usage error (exit 2).
pub async fn run(config_path: &Path) -> Result<Outcome, RunFailure> {
    let config = Config::load(config_path).map_err(RunFailure::usage)?;
    for warning in config.warnings.iter().chain(&config.schedule.warnings()) {
        tracing::warn!("{warning}");
    }
    let listen = config.daemon.listen;
    if !listen.ip().is_loopback() {
        tracing::warn!(
            "daemon.listen = {listen} is not a loopback address: /healthz and /metrics are open to the network"
        );
    }
    let stop = stop_signal().map_err(RunFailure::usage)?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("daemon.listen: cannot listen on {listen}"))
        .map_err(RunFailure::usage)?;
    serve(config, listener, stop).await
}

/// Resolves on the first SIGTERM or Ctrl-C. The SIGTERM handler is in place once this returns.
fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    Ok(async move {
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt => tracing::info!("Ctrl-C: stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        }
        #[cfg(not(unix))]
        interrupt.await;
    })
}

/// The daemon on a bound listener until `stop` resolves: runs on the schedule, never two at
/// once; a failed run is logged and the next slot comes as usual. On stop a run in progress
/// may finish within `daemon.stop_timeout`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Outcome, RunFailure> {
    let state: Shared = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });

    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let app = router(state.clone());
    let (max_connections, header_timeout) =
        (config.daemon.max_connections, config.daemon.header_timeout);
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        let listener = GuardedListener::new(listener, max_connections, header_timeout);
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped(&mut http_stop).await })
            .await;
        if let Err(error) = serving {
            tracing::error!(%error, "the /healthz and /metrics server failed");
        }
    });
    tracing::info!(
        schedule = %config.schedule.describe(),
        "flexsync daemon: /healthz and /metrics on http://{address}"
    );

    let mut stop_rx = stop_rx;
    let mut due = if config.schedule.run_at_start || missed_a_slot(&config) {
        None
    } else {
        Some(next_run(&now(&config), &config.schedule))
    };
    lock(&state).set_next_run(due.clone());
    loop {
        if let Some(due) = &due
            && !sleep_until(due.timestamp(), &mut stop_rx).await
        {
            break;
        }
        lock(&state).set_next_run(None);
        let run = scheduled_sync(&config);
        tokio::pin!(run);
        let finished = tokio::select! {
            finished = &mut run => finished,
            () = stopped(&mut stop_rx) => {
                tracing::info!(
                    "waiting up to {}s for the sync in progress to finish",
                    config.daemon.stop_timeout.as_secs()
                );
                match tokio::time::timeout(config.daemon.stop_timeout, &mut run).await {
                    Ok(finished) => lock(&state).record(finished, None),
                    Err(_) => tracing::warn!(
                        "the sync in progress did not finish within {}s; stopping without it (the next run settles it)",
                        config.daemon.stop_timeout.as_secs()
                    ),
                }
                break;
            }
        };
        // Never before the slot just served, even if the wall clock stepped back meanwhile.
        let after = match &due {
            Some(slot) if slot.timestamp() > Timestamp::now() => slot.clone(),
            _ => now(&config),
        };
        let next = next_run(&after, &config.schedule);
        lock(&state).record(finished, Some(next.clone()));
        due = Some(next);
    }

    if tokio::time::timeout(HTTP_STOP, http).await.is_err() {
        tracing::warn!(
            "the HTTP server did not close within {}s",
            HTTP_STOP.as_secs()
        );
    }
    tracing::info!("flexsync daemon stopped");
    Ok(Outcome::Done)
}

/// Whether a scheduled slot passed since the last sync started (the daemon was down at the
/// time): then it runs at once, as a persistent timer would.
fn missed_a_slot(config: &Config) -> bool {
    let Ok(store) = flexsync_state::StateStore::open(&config.state_path) else {
        return false;
    };
    let last = store
        .runs(50)
        .ok()
        .and_then(|runs| runs.into_iter().find(|run| run.kind == RunKind::Sync));
    let Some(last) = last else {
        return false;
    };
    let slot = next_run(
        &last.started.to_zoned(config.time_zone.clone()),
        &config.schedule,
    );
    let missed = slot.timestamp() <= Timestamp::now();
    if missed {
        tracing::warn!(
            last_sync = %last.started,
            missed = %slot,
            "a scheduled sync was missed while the daemon was down: running one now"
        );
    }
    missed
}

fn now(config: &Config) -> Zoned {
    Timestamp::now().to_zoned(config.time_zone.clone())
}

/// One sync, the same way `flexsync sync` does it, kept as a finished run whatever its end.
async fn scheduled_sync(config: &Config) -> FinishedRun {
    let clock = std::time::Instant::now();
    tracing::info!("scheduled sync starting");
    let result = sync_and_report(config, Allowance::default()).await;
    let finished = now(config);
    let duration = clock.elapsed();
    match result {
        Ok((result, report_path)) => {
            let report = &result.report;
            let mut operations: BTreeMap<String, Operations> = BTreeMap::new();
            for kind in report.planned.keys() {
                operations.entry(kind.clone()).or_default();
            }
            for (kind, count) in &report.succeeded {
                operations.entry(kind.clone()).or_default().ok = *count;
            }
            for (kind, count) in &report.failed {
                operations.entry(kind.clone()).or_default().failed = *count;
            }
            FinishedRun {
                id: report.run_id,
                outcome: result.outcome,
                finished,
                duration,
                operations,
                findings: Some(report.findings.len()),
                held: Some(report.held_back.len()),
                report: report_path,
                error: None,
            }
        }
        Err(failure) => FinishedRun {
            id: failure.run_id,
            outcome: failure.outcome(),
            finished,
            duration,
            operations: BTreeMap::new(),
            findings: None,
            held: None,
            report: None,
            error: Some(format!("{:#}", failure.error)),
        },
    }
}

/// Resolves once stop is asked for; never when it cannot be asked for any more.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps until the wall clock reaches `due`, looking at it at least every `CLOCK_CHECK`.
/// False when stop was asked for first.
async fn sleep_until(due: Timestamp, stop: &mut watch::Receiver<bool>) -> bool {
    loop {
        let left = Timestamp::now().duration_until(due);
        if left.is_zero() || left.is_negative() {
            return true;
        }
        let nap = Duration::try_from(left)
            .unwrap_or(CLOCK_CHECK)
            .min(CLOCK_CHECK);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = stopped(stop) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &std::path::Path) -> Config {
        let text = "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword = \"p\"\n\
                    instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
                    token = \"t\"\n";
        let path = dir.join("flexsync.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    #[test]
    fn a_slot_passed_while_the_daemon_was_down_is_caught_up() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        assert!(
            !missed_a_slot(&config),
            "no sync yet: wait for the first slot"
        );
        let store = flexsync_state::StateStore::open(&config.state_path).unwrap();
        let two_days_ago = Timestamp::now() - jiff::SignedDuration::from_hours(48);
        store.begin_run(two_days_ago, RunKind::Sync).unwrap();
        assert!(
            missed_a_slot(&config),
            "the daily 01:00 slot passed since then"
        );
        store.begin_run(Timestamp::now(), RunKind::Sync).unwrap();
        assert!(
            !missed_a_slot(&config),
            "just synced: the next slot is ahead"
        );
    }

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    fn done_run() -> FinishedRun {
        FinishedRun {
            id: Some(7),
            outcome: Outcome::Done,
            finished: at("2026-03-29T01:00:12+01:00[Europe/Stockholm]"),
            duration: Duration::from_millis(12_345),
            operations: BTreeMap::from([
                ("create".to_string(), Operations { ok: 3, failed: 1 }),
                ("pause".to_string(), Operations { ok: 0, failed: 0 }),
            ]),
            findings: Some(2),
            held: Some(1),
            report: None,
            error: None,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn before_any_run_only_the_counters_and_the_next_run_have_samples() {
        let mut state = DaemonState::default();
        state.set_next_run(Some(at("2026-03-30T01:00:00+02:00[Europe/Stockholm]")));
        assert_eq!(
            lines(&state.metrics()),
            [
                "flexsync_runs_total{outcome=\"done\"} 0",
                "flexsync_runs_total{outcome=\"record_failures\"} 0",
                "flexsync_runs_total{outcome=\"refused\"} 0",
                "flexsync_runs_total{outcome=\"unreachable\"} 0",
                "flexsync_runs_total{outcome=\"usage\"} 0",
                "flexsync_next_run_timestamp_seconds 1774825200",
            ]
        );
        assert_eq!(
            state.healthz(),
            json!({"status": "ok", "last_run": null, "next_run": "2026-03-30T01:00:00+02:00"})
        );
    }

    #[test]
    fn a_finished_run_shows_in_both_answers() {
        let mut state = DaemonState::default();
        let next = at("2026-03-30T01:00:00+02:00[Europe/Stockholm]");
        state.record(done_run(), Some(next));
        let metrics = state.metrics();
        for line in [
            "flexsync_runs_total{outcome=\"done\"} 1",
            "flexsync_last_run_timestamp_seconds 1774742412",
            "flexsync_last_success_timestamp_seconds 1774742412",
            "flexsync_last_completed_timestamp_seconds 1774742412",
            "flexsync_last_run_duration_seconds 12.345",
            "flexsync_last_run_operations{kind=\"create\",result=\"ok\"} 3",
            "flexsync_last_run_operations{kind=\"create\",result=\"failed\"} 1",
            "flexsync_last_run_operations{kind=\"pause\",result=\"ok\"} 0",
            "flexsync_last_run_findings 2",
            "flexsync_last_run_held_records 1",
            "flexsync_next_run_timestamp_seconds 1774825200",
        ] {
            assert!(
                lines(&metrics).contains(&line),
                "{line} missing in\n{metrics}"
            );
        }
        assert_eq!(
            state.healthz(),
            json!({
                "status": "ok",
                "last_run": {"id": 7, "outcome": "done", "finished": "2026-03-29T01:00:12+01:00"},
                "next_run": "2026-03-30T01:00:00+02:00",
            })
        );
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_and_drops_the_old_figures() {
        let mut state = DaemonState::default();
        state.record(done_run(), None);
        let failed = FinishedRun {
            id: None,
            outcome: Outcome::Unreachable,
            finished: at("2026-03-30T01:00:30+02:00[Europe/Stockholm]"),
            duration: Duration::from_secs(30),
            operations: BTreeMap::new(),
            findings: None,
            held: None,
            report: None,
            error: Some("reading Flex failed; nothing was written".into()),
        };
        state.record(failed, None);
        let metrics = state.metrics();
        let samples = lines(&metrics);
        assert!(samples.contains(&"flexsync_runs_total{outcome=\"done\"} 1"));
        assert!(samples.contains(&"flexsync_runs_total{outcome=\"unreachable\"} 1"));
        assert!(samples.contains(&"flexsync_last_run_timestamp_seconds 1774825230"));
        assert!(samples.contains(&"flexsync_last_success_timestamp_seconds 1774742412"));
        assert!(
            !metrics.contains("flexsync_last_run_operations{"),
            "{metrics}"
        );
        assert!(
            !samples
                .iter()
                .any(|l| l.starts_with("flexsync_last_run_findings"))
        );
        assert!(!samples.iter().any(|l| l.starts_with("flexsync_next_run")));
        assert_eq!(state.healthz()["last_run"]["outcome"], "unreachable");
        assert_eq!(state.healthz()["last_run"]["id"], Value::Null);
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let mut state = DaemonState::default();
        state.record(done_run(), None);
        let metrics = state.metrics();
        for name in [
            "flexsync_runs_total",
            "flexsync_last_run_timestamp_seconds",
            "flexsync_last_success_timestamp_seconds",
            "flexsync_last_run_duration_seconds",
            "flexsync_last_run_operations",
            "flexsync_last_run_findings",
            "flexsync_last_run_held_records",
            "flexsync_next_run_timestamp_seconds",
        ] {
            let help = format!("# HELP {name} ");
            let kind = format!("# TYPE {name} ");
            assert_eq!(metrics.matches(&help).count(), 1, "{name}");
            assert_eq!(metrics.matches(&kind).count(), 1, "{name}");
        }
    }
}
