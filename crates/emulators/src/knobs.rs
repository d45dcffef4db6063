//! Test knobs shared by both emulators: added latency, a share of 429/503 answers with
//! `Retry-After`, dropped connections, and request counters by method and route.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Faults to inject. All zero by default: a well-behaved server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every answer.
    pub latency: Duration,
    /// Share (0.0..=1.0) of requests answered 429 or 503 with `Retry-After`.
    pub error_share: f64,
    /// The `Retry-After` value sent with injected errors, in seconds.
    pub retry_after_seconds: u64,
}

/// Live knobs and counters of one running emulator. Tests keep an `Arc` and read or change it.
#[derive(Debug, Default)]
pub struct Knobs {
    faults: Mutex<Faults>,
    counters: Mutex<BTreeMap<String, u64>>,
    injected: AtomicU64,
    sequence: AtomicU64,
}

impl Knobs {
    pub fn new(faults: Faults) -> Arc<Knobs> {
        Arc::new(Knobs {
            faults: Mutex::new(faults),
            ..Knobs::default()
        })
    }

    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Requests served (including injected errors), keyed `"METHOD /route"` with the route as
    /// declared (e.g. `"GET /employees"`, `"PATCH /Users/{id}"`).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Sum of all requests whose method is one of `methods`.
    pub fn count_methods(&self, methods: &[&str]) -> u64 {
        self.counters()
            .iter()
            .filter(|(key, _)| methods.iter().any(|m| key.starts_with(&format!("{m} "))))
            .map(|(_, n)| *n)
            .sum()
    }

    pub fn reset_counters(&self) {
        if let Ok(mut c) = self.counters.lock() {
            c.clear();
        }
        self.injected.store(0, Ordering::Relaxed);
    }

    /// How many faults were injected since the last reset.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn count(&self, key: String) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_insert(0) += 1;
        }
    }

    /// Deterministic spread of injected faults: request n fails when the running share says so.
    fn should_fail(&self, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let before = (n as f64 * share).floor();
        let after = ((n + 1) as f64 * share).floor();
        after > before
    }
}

/// Axum middleware applying the knobs; install with
/// `axum::middleware::from_fn_with_state(knobs, knobs::apply)`.
pub async fn apply(State(knobs): State<Arc<Knobs>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    knobs.count(format!("{} {}", request.method(), route));
    let faults = knobs.faults();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if knobs.should_fail(faults.error_share) {
        let n = knobs.injected.fetch_add(1, Ordering::Relaxed);
        let status = if n % 2 == 0 {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let mut response = (status, Body::from("{\"Message\":\"injected fault\"}")).into_response();
        if let Ok(value) = HeaderValue::from_str(&faults.retry_after_seconds.to_string()) {
            response.headers_mut().insert("retry-after", value);
        }
        return response;
    }
    next.run(request).await
}
