//! The Winningtemp SCIM 2.0 emulator: a real HTTP server on a loopback port with the
//! `documented` and `extended` profiles that `docs/winningtemp-scim.md` describes.
//!
//! - [`schema`]: the schemas each profile advertises.
//! - [`validate`]: incoming resources checked against those schemas.
//! - [`filter`]: SCIM filter parsing and evaluation.
//! - [`patch`]: PatchOp parsing and application.
//! - [`project`]: `attributes` and `excludedAttributes` applied to answers.
//! - [`search`]: list queries from GET parameters or a POST `.search` body.
//! - [`bulk`]: `/Bulk` (extended profile).
//! - [`store`]: users and groups in memory, with indexes, `meta` and the write counter.
//! - [`http`]: the axum routes under `/api/scim`, bearer auth and the test knobs.

pub mod bulk;
pub mod error;
pub mod filter;
pub mod http;
pub mod patch;
pub mod project;
pub mod schema;
pub mod search;
pub mod store;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::knobs::{Faults, Knobs};
pub use error::{ScimError, ScimType};
pub use schema::{Profile, ResourceKind, UnknownProfile};

use store::Store;

/// How the emulator behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimOptions {
    /// The bearer token every request must carry.
    pub token: String,
    pub profile: Profile,
    pub faults: Faults,
    /// Answer PATCH with 204 and no body instead of 200 with the resource.
    pub patch_returns_no_content: bool,
    /// Largest page served, advertised as `filter.maxResults`.
    pub max_results: usize,
    /// How attribute names are spelled in the Users and Groups it answers with.
    pub answer_case: AnswerCase,
    /// What one `/Bulk` request may carry (extended profile): advertised, 413 beyond.
    pub bulk: bulk::Limits,
}

/// How the emulator spells attribute names in the resources it answers with. RFC 7643 section
/// 2.1 makes attribute names case-insensitive, and some servers answer in their own spelling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AnswerCase {
    /// As the schemas declare them (`externalId`, `birthDate`).
    #[default]
    AsDeclared,
    /// Every key in capitals, schema URNs too (`EXTERNALID`, `BIRTHDATE`).
    Upper,
    /// Every attribute name with a capital first letter (`ExternalId`, `BirthDate`).
    Pascal,
}

impl AnswerCase {
    /// A JSON document with every object key respelled.
    pub fn respell(self, value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(key, inner)| (self.key(key), self.respell(inner)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|item| self.respell(item)).collect())
            }
            other => other,
        }
    }

    fn key(self, key: String) -> String {
        match self {
            AnswerCase::AsDeclared => key,
            AnswerCase::Upper => key.to_uppercase(),
            AnswerCase::Pascal if key.starts_with("urn:") => key,
            AnswerCase::Pascal => {
                let mut chars = key.chars();
                chars.next().map_or(String::new(), |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            }
        }
    }
}

impl Default for ScimOptions {
    fn default() -> Self {
        ScimOptions {
            token: "emulator-token".to_string(),
            profile: Profile::Documented,
            faults: Faults::default(),
            patch_returns_no_content: false,
            max_results: 200,
            answer_case: AnswerCase::AsDeclared,
            bulk: bulk::Limits::default(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    options: ScimOptions,
    knobs: Arc<Knobs>,
    store: Mutex<Store>,
    bulk_stats: Mutex<bulk::BulkStats>,
}

/// The emulator's state, shared by the routes; cheap to clone.
#[derive(Debug, Clone)]
pub struct ScimEmulator {
    inner: Arc<Inner>,
}

impl ScimEmulator {
    pub fn new(options: ScimOptions) -> ScimEmulator {
        let knobs = Knobs::new(options.faults.clone());
        let store = Mutex::new(Store::new(options.profile));
        ScimEmulator {
            inner: Arc::new(Inner {
                options,
                knobs,
                store,
                bulk_stats: Mutex::default(),
            }),
        }
    }

    pub fn options(&self) -> &ScimOptions {
        &self.inner.options
    }

    pub fn knobs(&self) -> Arc<Knobs> {
        self.inner.knobs.clone()
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// All users as the server would return them, in creation order.
    pub fn users(&self) -> Vec<Value> {
        self.store().all(ResourceKind::User)
    }

    /// All groups as the server would return them, in creation order.
    pub fn groups(&self) -> Vec<Value> {
        self.store().all(ResourceKind::Group)
    }

    /// Adds a user as if made by hand in Winningtemp (validated, not counted as a write);
    /// returns it with its `id`.
    pub fn insert_user(&self, user: Value) -> Result<Value, ScimError> {
        self.store()
            .create(ResourceKind::User, &user, jiff::Timestamp::now(), false)
    }

    /// Requests that changed something (created, changed or deleted a resource).
    pub fn writes(&self) -> u64 {
        self.store().writes()
    }

    /// What `/Bulk` has served so far.
    pub fn bulk_stats(&self) -> bulk::BulkStats {
        self.inner.bulk_stats.lock().map(|s| *s).unwrap_or_default()
    }

    pub(crate) fn bulk_stats_mut(&self) -> MutexGuard<'_, bulk::BulkStats> {
        self.inner
            .bulk_stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ScimEmulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    state
        .store()
        .set_base_url(format!("http://{addr}/api/scim"));
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An emulator serving on `127.0.0.1` in a background task. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningScim {
    pub addr: SocketAddr,
    pub knobs: Arc<Knobs>,
    emulator: ScimEmulator,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Binds `127.0.0.1:0` and serves in a spawned task.
pub async fn start(options: ScimOptions) -> std::io::Result<RunningScim> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let emulator = ScimEmulator::new(options);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, emulator.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(RunningScim {
        addr,
        knobs: emulator.knobs(),
        emulator,
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningScim {
    /// `http://127.0.0.1:PORT/api/scim`
    pub fn base_url(&self) -> String {
        format!("http://{}/api/scim", self.addr)
    }

    pub fn emulator(&self) -> &ScimEmulator {
        &self.emulator
    }

    pub fn users(&self) -> Vec<Value> {
        self.emulator.users()
    }

    pub fn groups(&self) -> Vec<Value> {
        self.emulator.groups()
    }

    pub fn insert_user(&self, user: Value) -> Result<Value, ScimError> {
        self.emulator.insert_user(user)
    }

    pub fn writes(&self) -> u64 {
        self.emulator.writes()
    }

    pub fn bulk_stats(&self) -> bulk::BulkStats {
        self.emulator.bulk_stats()
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningScim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
