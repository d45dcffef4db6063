//! Test knobs shared by both emulators: added latency, a share of 429/503 answers with
//! `Retry-After`, a share of dropped connections, and request counters by method and route.

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
    /// Share of requests answered by closing the connection, as `f64` bits (see `set_drop_share`).
    drop_share: AtomicU64,
    dropped: AtomicU64,
    drop_sequence: AtomicU64,
    /// Answer every write 403, as a server does for a token that may read but not write.
    refuse_writes: std::sync::atomic::AtomicBool,
}

impl Knobs {
    pub fn new(faults: Faults) -> Arc<Knobs> {
        Arc::new(Knobs {
            faults: Mutex::new(faults),
            ..Knobs::default()
        })
    }

    /// Refuse (403) every POST, PUT, PATCH and DELETE from now on, or stop refusing.
    pub fn set_refuse_writes(&self, refuse: bool) {
        self.refuse_writes.store(refuse, Ordering::Relaxed);
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
        self.dropped.store(0, Ordering::Relaxed);
    }

    /// How many 429/503 answers were injected since the last reset.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Sets the share (clamped to 0.0..=1.0) of requests that are handled and then answered by
    /// closing the connection: the server acted (a POST did create), the client never hears of
    /// it and sees the connection break. Kept apart from [`Faults`] so its literals stay valid.
    pub fn set_drop_share(&self, share: f64) {
        let share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self.drop_share.store(share.to_bits(), Ordering::Relaxed);
    }

    pub fn drop_share(&self) -> f64 {
        f64::from_bits(self.drop_share.load(Ordering::Relaxed))
    }

    /// How many connections were dropped since the last reset.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count(&self, key: String) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_insert(0) += 1;
        }
    }

    /// Deterministic spread of injected faults: request n fails when the running share says so.
    /// Each kind of fault keeps its own `sequence`, so one share does not shift the other.
    fn should_fail(sequence: &AtomicU64, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        let n = sequence.fetch_add(1, Ordering::Relaxed);
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
    let write = matches!(
        request.method().as_str(),
        "POST" | "PUT" | "PATCH" | "DELETE"
    );
    if write && knobs.refuse_writes.load(Ordering::Relaxed) {
        let body = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\
                    \"status\":\"403\",\"detail\":\"this token may not write\"}";
        return (StatusCode::FORBIDDEN, Body::from(body)).into_response();
    }
    let faults = knobs.faults();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if Knobs::should_fail(&knobs.sequence, faults.error_share) {
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
    let response = next.run(request).await;
    if Knobs::should_fail(&knobs.drop_sequence, knobs.drop_share()) {
        knobs.dropped.fetch_add(1, Ordering::Relaxed);
        return dropped_connection();
    }
    response
}

/// A response that cannot be sent: its body fails before the first byte, so hyper closes the
/// connection with the head still unsent and the client sees the connection break unanswered.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected dropped connection",
        ))
    });
    Response::new(Body::from_stream(failing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;

    /// A server whose one route counts the requests it handled, behind the knobs.
    async fn serve(knobs: Arc<Knobs>) -> (String, Arc<AtomicU64>) {
        let handled = Arc::new(AtomicU64::new(0));
        let seen = handled.clone();
        let app = Router::new()
            .route(
                "/things",
                post(move || {
                    let seen = seen.clone();
                    async move {
                        seen.fetch_add(1, Ordering::Relaxed);
                        "made"
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(knobs, apply));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/things"), handled)
    }

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    #[tokio::test]
    async fn a_dropped_connection_is_handled_but_never_answered() {
        let knobs = Knobs::new(Faults::default());
        knobs.set_drop_share(1.0);
        let (url, handled) = serve(knobs.clone()).await;
        let http = client();

        let error = http.post(&url).send().await.unwrap_err();
        assert!(error.status().is_none(), "{error:?}");
        assert!(!error.is_connect(), "the connection was made: {error:?}");
        assert_eq!(handled.load(Ordering::Relaxed), 1, "the server acted");
        assert_eq!(knobs.dropped(), 1);
        assert_eq!(knobs.injected(), 0);
        assert_eq!(knobs.counters().get("POST /things"), Some(&1));

        knobs.set_drop_share(0.0);
        let answer = http.post(&url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.text().await.unwrap(), "made");
        assert_eq!(handled.load(Ordering::Relaxed), 2);
        assert_eq!(knobs.dropped(), 1);
    }

    #[tokio::test]
    async fn drops_follow_their_share_beside_injected_errors() {
        let knobs = Knobs::new(Faults {
            error_share: 0.5,
            ..Faults::default()
        });
        knobs.set_drop_share(0.25);
        let (url, handled) = serve(knobs.clone()).await;
        let http = client();
        let (mut answered, mut refused, mut broken) = (0, 0, 0);
        for _ in 0..16 {
            match http.post(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => answered += 1,
                Ok(_) => refused += 1,
                Err(_) => broken += 1,
            }
        }
        // Half are refused before the handler; a quarter of the handled ones are dropped.
        assert_eq!((answered, refused, broken), (6, 8, 2));
        assert_eq!(handled.load(Ordering::Relaxed), 8);
        assert_eq!((knobs.injected(), knobs.dropped()), (8, 2));
        knobs.reset_counters();
        assert_eq!((knobs.injected(), knobs.dropped()), (0, 0));
        assert!(knobs.counters().is_empty());
    }

    #[test]
    fn drop_share_is_clamped() {
        let knobs = Knobs::new(Faults::default());
        assert_eq!(knobs.drop_share(), 0.0);
        knobs.set_drop_share(7.0);
        assert_eq!(knobs.drop_share(), 1.0);
        knobs.set_drop_share(-1.0);
        assert_eq!(knobs.drop_share(), 0.0);
        knobs.set_drop_share(f64::NAN);
        assert_eq!(knobs.drop_share(), 0.0);
    }
}
