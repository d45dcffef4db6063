//! `flexsync daemon`: syncs on the schedule, one at a time, until SIGTERM or Ctrl-C, and answers
//! `GET /healthz` (503 while the last run needs attention), `GET /livez`, `GET /metrics`, the
//! status page and the reports from one `DaemonState`, which starts from what the state store
//! remembers. `tenants` runs a folder of tenants, each in its own `DaemonState`; `leased` runs
//! one of them under a lease shared with other daemons.

mod health;
mod leased;
mod site;
pub mod tenants;

pub use health::{Attention, attention};
pub use site::{Site, report_type};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::{Timestamp, Zoned};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use flexsync_core::guard::Allowance;

use crate::config::{Config, DaemonSettings};
use crate::daemon_listener::GuardedListener;
use crate::notify::Delivery;
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
    /// What needs a person after this run (none when it went through).
    pub attention: Option<Attention>,
    /// The messages sent about the run.
    pub deliveries: Vec<Delivery>,
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
            (None, outcome) => {
                let (reason, remedy) = run
                    .attention
                    .as_ref()
                    .map(|a| (a.reason.as_str(), a.remedy.as_str()))
                    .unwrap_or_default();
                tracing::warn!(
                    run = %id, outcome = outcome.label(), %report,
                    "scheduled sync needs attention: {reason}; to do: {remedy}"
                )
            }
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

    /// The `/healthz` document: `ok`, or `attention` with the reason and the remedy when the
    /// last run was refused, failed or had records failing, or a message about it was not sent.
    pub fn healthz(&self) -> Value {
        let last = self.last.as_ref();
        let mut document = json!({
            "status": "ok",
            "last_run": last.map(|run| json!({
                "id": run.id,
                "outcome": run.outcome.label(),
                "finished": rfc3339(&run.finished),
            })),
            "next_run": self.next_run.as_ref().map(rfc3339),
        });
        let Some(run) = last else {
            return document;
        };
        if !run.deliveries.is_empty() {
            document["notifications"] = json!(run.deliveries);
        }
        if let Some(attention) = self.attention() {
            document["status"] = json!("attention");
            document["reason"] = json!(attention.reason);
            document["remedy"] = json!(attention.remedy);
        }
        document
    }

    /// Whether the last run went through and everything about it was said.
    pub fn healthy(&self) -> bool {
        self.attention().is_none()
    }

    /// The last run's attention, with any message about it that was not sent.
    fn attention(&self) -> Option<Attention> {
        let run = self.last.as_ref()?;
        let unsent: Vec<String> = run
            .deliveries
            .iter()
            .filter_map(|d| {
                d.error
                    .as_ref()
                    .map(|e| format!("the {} was not sent: {e}", d.channel))
            })
            .collect();
        match (&run.attention, unsent.is_empty()) {
            (None, true) => None,
            (Some(attention), true) => Some(attention.clone()),
            (None, false) => Some(Attention {
                reason: format!("the run went through, but {}", unsent.join("; ")),
                remedy: "check [notify] in the configuration and that its servers answer".into(),
            }),
            (Some(attention), false) => Some(Attention {
                reason: format!("{}; and {}", attention.reason, unsent.join("; ")),
                remedy: format!(
                    "{}; and check [notify] in the configuration",
                    attention.remedy
                ),
            }),
        }
    }

    /// Takes in a sync that finished outside the daemon (`flexsync sync` by hand, say after an
    /// approval) since the daemon's own last run, so `/healthz` speaks of the latest run.
    pub fn catch_up(&mut self, config: &Config) {
        let Ok(store) = config.open_state() else {
            return;
        };
        let newest = store
            .last_sync_ending(&Outcome::ALL)
            .ok()
            .flatten()
            .map(|run| run.id.0);
        let known = self.last.as_ref().and_then(|run| run.id);
        if newest.is_some() && newest > known {
            let next_run = self.next_run.clone();
            self.restore(config);
            self.next_run = next_run;
        }
    }

    /// Starts from what the state store remembers: the last sync (its outcome and what it
    /// needs), the last that ended done, and the last that applied its plan. A store that
    /// cannot be read leaves the state empty, with a warning.
    pub fn restore(&mut self, config: &Config) {
        let store = match config.open_state() {
            Ok(store) => store,
            Err(error) => {
                tracing::warn!(%error, "cannot read the last runs from the state store");
                return;
            }
        };
        let finished = |outcomes: &[Outcome]| {
            store
                .last_sync_ending(outcomes)
                .ok()
                .flatten()
                .and_then(|run| run.finished.map(|at| (run, at)))
        };
        self.last_success = finished(&[Outcome::Done]).map(|(_, at)| at);
        self.last_completed = finished(&[Outcome::Done, Outcome::RecordFailures]).map(|(_, at)| at);
        if let Some((run, at)) = finished(&Outcome::ALL) {
            self.last = Some(restored_run(&store, config, &run, at));
        }
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

/// The last sync as the store remembers it.
fn restored_run(
    store: &flexsync_state::StateStore,
    config: &Config,
    run: &flexsync_state::RunRecord,
    finished: Timestamp,
) -> FinishedRun {
    let summary = run.summary.clone().unwrap_or_default();
    let count = |key: &str| -> BTreeMap<String, usize> {
        serde_json::from_value(summary[key].clone()).unwrap_or_default()
    };
    let mut operations: BTreeMap<String, Operations> = BTreeMap::new();
    for kind in count("planned").into_keys() {
        operations.entry(kind).or_default();
    }
    for (kind, n) in count("succeeded") {
        operations.entry(kind).or_default().ok = n;
    }
    for (kind, n) in count("failed") {
        operations.entry(kind).or_default().failed = n;
    }
    let report = config.report_dir.join(format!("run-{:06}.json", run.id.0));
    FinishedRun {
        id: Some(run.id.0),
        outcome: run.outcome.unwrap_or(Outcome::Usage),
        finished: finished.to_zoned(config.time_zone.clone()),
        duration: Duration::try_from(finished.duration_since(run.started)).unwrap_or_default(),
        operations,
        findings: summary["findings"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok()),
        held: None,
        report: report.is_file().then_some(report),
        error: summary["error"].as_str().map(str::to_string),
        attention: health::attention_of_stored(store, run, config.command_flags().as_deref()),
        deliveries: Vec::new(),
    }
}

pub(crate) type Shared = Arc<Mutex<DaemonState>>;

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, DaemonState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the handlers share: the daemon's state and the pages' settings.
#[derive(Clone)]
struct App {
    state: Shared,
    site: Arc<Site>,
    /// To read runs made outside the daemon (`flexsync sync` by hand) from the state store.
    config: Arc<Config>,
}

/// `/healthz`, `/livez`, `/metrics`, the status page `/` and `/reports/{name}`.
pub fn router(state: Shared, site: Site, config: Arc<Config>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics))
        .route("/reports/{name}", get(report))
        .with_state(App {
            state,
            site: Arc::new(site),
            config,
        })
}

async fn healthz(State(app): State<App>) -> impl IntoResponse {
    let mut state = lock(&app.state);
    state.catch_up(&app.config);
    let status = if state.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(state.healthz()))
}

/// 200 while the daemon serves: a refused or failed run is no reason to restart it.
pub(crate) async fn livez() -> axum::Json<Value> {
    axum::Json(json!({"status": "live"}))
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let mut state = lock(&app.state);
    // A sync made outside the daemon (by hand, or by another daemon holding the tenant).
    state.catch_up(&app.config);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        state.metrics(),
    )
}

async fn status_page(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(refused) = app.site.refuse(&headers) {
        return refused;
    }
    let health = {
        let mut state = lock(&app.state);
        state.catch_up(&app.config);
        state.healthz()
    };
    let runs = app
        .config
        .open_state()
        .and_then(|store| store.runs(site::RUNS_LISTED))
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "the status page cannot read the last runs");
            Vec::new()
        });
    Html(site::status_page(&app.site, &health, &runs)).into_response()
}

async fn report(
    State(app): State<App>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = app.site.refuse(&headers) {
        return refused;
    }
    let Some(content_type) = report_type(&name) else {
        return (StatusCode::NOT_FOUND, "no such report\n").into_response();
    };
    match tokio::fs::read(app.site.report_dir.join(&name)).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such report\n").into_response(),
    }
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
            "daemon.listen = {listen} is not a loopback address: /healthz, /livez and /metrics are open to the network; the status page and the reports ask for the token of daemon.status_token_file{}",
            if config.daemon.status_token.is_none() {
                ", which is not set: they are closed"
            } else {
                ""
            }
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
pub(crate) fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
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
    lock(&state).restore(&config);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });

    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let site = Site::of_daemon(&config.daemon, config.report_dir.clone(), None);
    let app = router(state.clone(), site, Arc::new(config.clone()));
    let http = spawn_http(listener, &config.daemon, app, stop_rx.clone());
    tracing::info!(
        schedule = %config.schedule.describe(),
        "flexsync daemon: /healthz and /metrics on http://{address}"
    );

    schedule_loop(Arc::new(config), state, stop_rx, None).await;

    close_http(http).await;
    tracing::info!("flexsync daemon stopped");
    Ok(Outcome::Done)
}

/// Serves `app` on `listener` (guarded by the `[daemon]` limits) until `stop` turns true.
pub(crate) fn spawn_http(
    listener: TcpListener,
    settings: &DaemonSettings,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let listener =
        GuardedListener::new(listener, settings.max_connections, settings.header_timeout);
    tokio::spawn(async move {
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped(&mut stop).await })
            .await;
        if let Err(error) = serving {
            tracing::error!(%error, "the /healthz and /metrics server failed");
        }
    })
}

/// Waits for the HTTP server to close, at most `HTTP_STOP`.
pub(crate) async fn close_http(http: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(HTTP_STOP, http).await.is_err() {
        tracing::warn!(
            "the HTTP server did not close within {}s",
            HTTP_STOP.as_secs()
        );
    }
}

/// Runs `config`'s syncs on its schedule until `stop_rx` turns true, keeping each in `state`:
/// never two at once; a failed run is logged and the next slot comes as usual. With a `gate`
/// (several tenants), a run first waits for one of its permits. On stop a run in progress may
/// finish within `daemon.stop_timeout`.
pub(crate) async fn schedule_loop(
    config: Arc<Config>,
    state: Shared,
    mut stop_rx: watch::Receiver<bool>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
) {
    let (config, state, gate) = (config.as_ref(), &state, gate.as_ref());
    let mut due = if config.schedule.run_at_start || missed_a_slot(config) {
        None
    } else {
        Some(next_run(&now(config), &config.schedule))
    };
    lock(state).set_next_run(due.clone());
    loop {
        if let Some(due) = &due
            && !sleep_until(due.timestamp(), &mut stop_rx).await
        {
            break;
        }
        let Some(_permit) = take_turn(gate, &mut stop_rx).await else {
            break;
        };
        lock(state).set_next_run(None);
        let run = scheduled_sync(config);
        tokio::pin!(run);
        let finished = tokio::select! {
            finished = &mut run => finished,
            () = stopped(&mut stop_rx) => {
                tracing::info!(
                    "waiting up to {}s for the sync in progress to finish",
                    config.daemon.stop_timeout.as_secs()
                );
                match tokio::time::timeout(config.daemon.stop_timeout, &mut run).await {
                    Ok(finished) => lock(state).record(finished, None),
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
            _ => now(config),
        };
        let next = next_run(&after, &config.schedule);
        lock(state).record(finished, Some(next.clone()));
        due = Some(next);
    }
}

/// A permit of `gate` (none needed without one); `None` when stopped while waiting.
async fn take_turn(
    gate: Option<&Arc<tokio::sync::Semaphore>>,
    stop_rx: &mut watch::Receiver<bool>,
) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
    let Some(gate) = gate else {
        return Some(None);
    };
    tokio::select! {
        permit = gate.clone().acquire_owned() => permit.ok().map(Some),
        () = stopped(stop_rx) => None,
    }
}

/// Whether a scheduled slot passed since the last sync started (the daemon was down at the
/// time): then it runs at once, as a persistent timer would.
fn missed_a_slot(config: &Config) -> bool {
    let Ok(store) = config.open_state() else {
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

pub(crate) fn now(config: &Config) -> Zoned {
    Timestamp::now().to_zoned(config.time_zone.clone())
}

/// One sync, the same way `flexsync sync` does it, kept as a finished run whatever its end.
pub(crate) async fn scheduled_sync(config: &Config) -> FinishedRun {
    let clock = std::time::Instant::now();
    tracing::info!("scheduled sync starting");
    let synced = sync_and_report(config, Allowance::default()).await;
    let deliveries = synced.deliveries;
    let result = synced.result;
    let finished = now(config);
    let duration = clock.elapsed();
    let flags = config.command_flags();
    match result {
        Ok(result) => {
            let report_path = result.report_path.clone();
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
                attention: attention(report.run_id, result.outcome, Some(report), None)
                    .map(|attention| attention.naming(flags.as_deref())),
                deliveries,
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
            attention: attention(
                failure.run_id,
                failure.outcome(),
                None,
                Some(&format!("{:#}", failure.error)),
            )
            .map(|attention| attention.naming(flags.as_deref())),
            deliveries,
        },
    }
}

/// Resolves once stop is asked for; never when it cannot be asked for any more.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps until the wall clock reaches `due`, looking at it at least every `CLOCK_CHECK`.
/// False when stop was asked for first.
pub(crate) async fn sleep_until(due: Timestamp, stop: &mut watch::Receiver<bool>) -> bool {
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
pub(crate) mod tests {
    use super::*;

    /// A configuration in `dir`, its state store a SQLite file there.
    pub(crate) fn config_in(dir: &std::path::Path) -> Config {
        let text = "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_env = \"PATH\"\n\
                    instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
                    token_env = \"PATH\"\n";
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
        let store = config.open_state().unwrap();
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
            attention: None,
            deliveries: Vec::new(),
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
            attention: attention(
                None,
                Outcome::Unreachable,
                None,
                Some("reading Flex failed; nothing was written"),
            ),
            deliveries: Vec::new(),
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
        assert!(!state.healthy());
        assert_eq!(state.healthz()["status"], "attention");
        let reason = state.healthz()["reason"].as_str().unwrap().to_string();
        assert!(reason.contains("reading Flex failed"), "{reason}");
        assert!(
            state.healthz()["remedy"]
                .as_str()
                .unwrap()
                .contains("next scheduled run")
        );
    }

    #[test]
    fn a_message_that_was_not_sent_needs_attention_though_the_run_went_through() {
        let mut state = DaemonState::default();
        let mut run = done_run();
        run.deliveries = vec![Delivery {
            channel: "email",
            run: Some(7),
            at: "2026-03-29T00:00:13Z".into(),
            error: Some("SMTP smtp.example.se:587: connection refused".into()),
        }];
        state.record(run, None);
        let health = state.healthz();
        assert_eq!(health["status"], "attention", "{health}");
        assert!(
            health["reason"]
                .as_str()
                .unwrap()
                .contains("the email was not sent: SMTP smtp.example.se:587"),
            "{health}"
        );
        assert_eq!(health["notifications"][0]["channel"], "email");
        state.record(done_run(), None);
        assert!(state.healthy(), "the next run's message went out");
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
