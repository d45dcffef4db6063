//! `flexsync daemon --tenants DIR`: every tenant of the folder on its own schedule, with its own
//! state, reports and notifications, at most `[daemon] parallel_tenants` syncing at once, so one
//! tenant's failure or slowness holds up no other beyond that. One HTTP server answers for all:
//! `/healthz` (503 when any tenant needs attention, each tenant's document inside), `/livez`,
//! `/metrics` (every sample labelled `tenant`), an overview of the tenants at `/`, and each
//! tenant's own status page, reports, `/healthz` and `/metrics` under `/tenants/{name}`. With a PostgreSQL
//! `[state]` in `_daemon.toml`, several daemons share the tenants: each runs a tenant only while
//! it holds the tenant's lease there (see `leased.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::config::DaemonSettings;
use crate::config::tenants::{self, Tenant};
use crate::run::{Outcome, RunFailure};

use super::site::{Leases, Site, TenantRow};
use super::{Shared, lock, schedule_loop, stop_signal};

/// One tenant as the daemon runs it.
#[derive(Clone)]
struct Running {
    state: Shared,
    config: Arc<crate::config::Config>,
}

type Board = Arc<BTreeMap<String, Running>>;

/// Loads the tenants and the `[daemon]` settings, binds, and runs until SIGTERM or Ctrl-C.
pub async fn run(dir: &Path) -> Result<Outcome, RunFailure> {
    let fleet = tenants::fleet(dir).map_err(RunFailure::usage)?;
    let tenants = tenants::load_all(dir).map_err(RunFailure::usage)?;
    for warning in &fleet.warnings {
        tracing::warn!("{warning}");
    }
    for tenant in &tenants {
        let config = &tenant.config;
        for warning in config.warnings.iter().chain(&config.schedule.warnings()) {
            tracing::warn!(tenant = %tenant.name, "{warning}");
        }
    }
    for file in tenants::not_tenants(dir) {
        tracing::warn!(
            "{} is not read as a tenant: a tenant's file is NAME.toml",
            dir.join(file).display()
        );
    }
    if let Some(warning) = unshared_warning(&tenants, fleet.leases.is_some()) {
        tracing::warn!("{warning}");
    }
    let stop = stop_signal().map_err(RunFailure::usage)?;
    let board = match &fleet.leases {
        Some(target) => Some(Arc::new(
            flexsync_state::LeaseBoard::open(target).map_err(RunFailure::usage)?,
        )),
        None => None,
    };
    let listen = fleet.settings.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("daemon.listen: cannot listen on {listen}"))
        .map_err(RunFailure::usage)?;
    serve(fleet.settings, tenants, board, listener, stop).await
}

/// A store that does not fit how the tenants are run: on PostgreSQL while `_daemon.toml` names
/// no lease database (a second daemon started on them would fight this one every night), or a
/// SQLite file while daemons share the tenants (each would keep its own, apart).
fn unshared_warning(tenants: &[Tenant], leased: bool) -> Option<String> {
    let misfits: Vec<&str> = tenants
        .iter()
        .filter(|t| matches!(t.config.state, flexsync_state::Location::Postgres(_)) != leased)
        .map(|t| t.name.as_str())
        .collect();
    if misfits.is_empty() {
        return None;
    }
    let names = misfits.join(", ");
    Some(if leased {
        format!(
            "tenants {names} keep their state in a SQLite file while daemons share the tenants: \
             each daemon that runs them keeps its own file, and none knows what the others did. \
             Give them a [state] url on the PostgreSQL server"
        )
    } else {
        format!(
            "tenants {names} keep their state on PostgreSQL, but _daemon.toml has no [state]: \
             this daemon runs every tenant alone and shares none. Never start a second daemon on \
             these tenants (their runs would fail on each other's run lock); to share them, give \
             _daemon.toml a [state] url (the lease database)"
        )
    })
}

/// The tenants on a bound listener until `stop` resolves.
pub async fn serve(
    settings: DaemonSettings,
    tenants: Vec<Tenant>,
    leases: Option<Arc<flexsync_state::LeaseBoard>>,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Outcome, RunFailure> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let gate = Arc::new(Semaphore::new(settings.parallel_tenants));
    let mut board = BTreeMap::new();
    let mut loops = Vec::new();
    let me = super::leased::holder_name();
    for mut tenant in tenants {
        let leased = leases.as_ref().map(|board| super::leased::Leased {
            tenant: tenant.name.clone(),
            me: me.clone(),
            board: board.clone(),
            ttl: settings.lease,
        });
        if leased.is_some() {
            tenant.config.run_lock_stale_after = Some(settings.lease);
        }
        let state: Shared = Arc::default();
        lock(&state).restore(&tenant.config);
        let running = Running {
            state: state.clone(),
            config: Arc::new(tenant.config),
        };
        let (config, stop_rx, gate) = (running.config.clone(), stop_rx.clone(), gate.clone());
        loops.push(
            tenant_thread(&tenant.name, config, state, stop_rx, gate, leased)
                .map_err(RunFailure::usage)?,
        );
        board.insert(tenant.name, running);
    }
    let board: Board = Arc::new(board);
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let overview = Overview {
        board: board.clone(),
        leases,
        guard: Arc::new(Site::of_daemon(&settings, std::path::PathBuf::new(), None)),
    };
    let http = super::spawn_http(listener, &settings, router(overview), stop_rx.clone());
    tracing::info!(
        tenants = board.len(),
        parallel = settings.parallel_tenants,
        "flexsync daemon: /healthz and /metrics on http://{address}"
    );
    let joined = tokio::task::spawn_blocking(move || {
        for handle in loops {
            if handle.join().is_err() {
                tracing::error!("a tenant's schedule stopped with a panic");
            }
        }
    });
    if let Err(error) = joined.await {
        tracing::error!(%error, "waiting for the tenants failed");
    }
    super::close_http(http).await;
    tracing::info!("flexsync daemon stopped");
    Ok(Outcome::Done)
}

/// A tenant's schedule on a thread and runtime of its own: nothing one tenant does (a slow
/// end, a long plan, a blocking call) takes time from another's; `gate` alone says how many sync
/// at once.
fn tenant_thread(
    name: &str,
    config: Arc<crate::config::Config>,
    state: Shared,
    stop_rx: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    leased: Option<super::leased::Leased>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let span = tracing::info_span!("tenant", tenant = %name);
    std::thread::Builder::new()
        .name(format!("tenant-{name}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _enter = span.enter();
                    tracing::error!(%error, "cannot start the tenant's runtime");
                    return;
                }
            };
            match leased {
                Some(leased) => {
                    runtime.block_on(leased.run(config, state, stop_rx, gate).instrument(span))
                }
                None => runtime
                    .block_on(schedule_loop(config, state, stop_rx, Some(gate)).instrument(span)),
            }
        })
        .with_context(|| format!("cannot start the thread of tenant {name}"))
}

/// What the overview's handlers share.
#[derive(Clone)]
struct Overview {
    board: Board,
    leases: Option<Arc<flexsync_state::LeaseBoard>>,
    /// Who may read the pages (the overview's own report folder is unused).
    guard: Arc<Site>,
}

/// `/healthz`, `/livez` and `/metrics` for all tenants, the overview at `/`, and each tenant's
/// own pages (status page, reports, `/healthz`, `/metrics`) under `/tenants/{name}`.
fn router(overview: Overview) -> Router {
    let mut app = Router::new()
        .route("/", get(tenants_page))
        .route("/healthz", get(healthz))
        .route("/livez", get(super::livez))
        .route("/metrics", get(metrics))
        .with_state(overview.clone());
    for (name, running) in overview.board.iter() {
        let site = Site {
            report_dir: running.config.report_dir.clone(),
            tenant: Some(name.clone()),
            ..(*overview.guard).clone()
        };
        let pages = super::router(running.state.clone(), site, running.config.clone());
        app = app.nest(&format!("/tenants/{name}"), pages);
    }
    app
}

/// One tenant's `/healthz` document and whether it is healthy.
fn health_of(running: &Running) -> (bool, Value) {
    let mut state = lock(&running.state);
    state.catch_up(&running.config);
    (state.healthy(), state.healthz())
}

async fn healthz(State(overview): State<Overview>) -> impl IntoResponse {
    let mut all_healthy = true;
    let mut documents = serde_json::Map::new();
    for (name, running) in overview.board.iter() {
        let (healthy, document) = health_of(running);
        all_healthy &= healthy;
        documents.insert(name.clone(), document);
    }
    let mut document = json!({"tenants": documents});
    // Without the lease database this daemon takes no tenant: a person must look.
    if let Err(error) = lease_holders(&overview) {
        all_healthy = false;
        document["reason"] = json!(format!("cannot reach the lease database: {error}"));
        document["remedy"] =
            json!("check [state] in _daemon.toml and that the PostgreSQL server answers");
    }
    let status = if all_healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    document["status"] = json!(if all_healthy { "ok" } else { "attention" });
    (status, axum::Json(document))
}

/// Each tenant's current lease holder; empty when the daemons do not share the tenants.
fn lease_holders(
    overview: &Overview,
) -> Result<BTreeMap<String, Option<String>>, flexsync_state::StateError> {
    match &overview.leases {
        Some(leases) => Ok(leases.holders()?.into_iter().collect()),
        None => Ok(BTreeMap::new()),
    }
}

async fn tenants_page(State(overview): State<Overview>, headers: HeaderMap) -> Response {
    if let Some(refused) = overview.guard.refuse(&headers) {
        return refused;
    }
    let (holders, leases) = match (lease_holders(&overview), &overview.leases) {
        (Ok(holders), Some(_)) => (holders, Leases::Shared),
        (Ok(holders), None) => (holders, Leases::None),
        (Err(error), _) => (BTreeMap::new(), Leases::Unreachable(error.to_string())),
    };
    let rows: Vec<TenantRow> = overview
        .board
        .iter()
        .map(|(name, running)| TenantRow {
            name: name.clone(),
            health: health_of(running).1,
            holder: holders.get(name).cloned().flatten(),
        })
        .collect();
    Html(super::site::tenants_page(&rows, &leases)).into_response()
}

async fn metrics(State(overview): State<Overview>) -> impl IntoResponse {
    let pages: Vec<(String, String)> = overview
        .board
        .iter()
        .map(|(name, running)| {
            // A tenant another daemon runs: its last runs are read from its store.
            let mut state = lock(&running.state);
            state.catch_up(&running.config);
            (name.clone(), state.metrics())
        })
        .collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        crate::metrics::by_tenant(&pages),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::tests::config_in;

    #[test]
    fn a_store_that_does_not_fit_how_the_tenants_are_run_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let on_file = Tenant {
            name: "acme".into(),
            config: config_in(dir.path()),
        };
        let mut on_server = Tenant {
            name: "globex".into(),
            config: config_in(dir.path()),
        };
        on_server.config.state = flexsync_state::Location::Postgres(flexsync_state::PgTarget {
            url: "postgres://flexsync@db.example/flexsync".into(),
            password: None,
            schema: "globex".into(),
            ca_pem: None,
        });
        let tenants = [on_file, on_server];
        let warning = unshared_warning(&tenants, false).unwrap();
        assert!(warning.starts_with("tenants globex keep"), "{warning}");
        assert!(warning.contains("Never start a second daemon"), "{warning}");
        assert_eq!(unshared_warning(&tenants[..1], false), None, "SQLite only");
        assert_eq!(
            unshared_warning(&tenants[1..], true),
            None,
            "PostgreSQL, shared"
        );
        let split = unshared_warning(&tenants, true).unwrap();
        assert!(
            split.starts_with("tenants acme keep their state in a SQLite"),
            "{split}"
        );
    }
}
