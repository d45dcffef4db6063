//! The HTTP transport shared by the Flex and SCIM clients: one `reqwest` client with timeouts,
//! a cap on concurrent requests, a rate limit kept by the [`rate`] module (`governor`), and
//! retries decided by the pure [`retry`] module. Redirects are never followed; [`redact`] keeps
//! secrets and server-sent values out of messages.

pub mod rate;
pub mod redact;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use rate::{RateLimit, RateQuota};
pub use retry::{Decision, Outcome, RetryPolicy};
use tokio::sync::Semaphore;

/// How one end (Flex or SCIM) is reached.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whole-request timeout (`timeout_seconds`), for an answer that keeps coming but slowly.
    pub timeout: Duration,
    /// How long a connection may take to open: much shorter, a host that is not there is known
    /// at once.
    pub connect_timeout: Duration,
    /// How long an open connection may stay silent (no byte of the answer): a host that accepts
    /// and never answers is given up on after this, not after the whole-request timeout.
    pub read_timeout: Duration,
    /// Requests in flight at once against this end.
    pub max_concurrent: usize,
    /// Requests a second against this end, every attempt counted (retries too), with a small
    /// burst (see [`RateQuota`]). `None`, zero or a negative number: no limit.
    pub rate_per_second: Option<f64>,
    pub retry: RetryPolicy,
    /// Skip TLS certificate verification. Only ever set by explicit operator choice.
    pub accept_invalid_certs: bool,
    /// The largest body read from one answer; a larger one fails the read ([`read_body`]).
    pub max_body_bytes: u64,
    /// Certificate authorities (PEM) trusted besides the system's, for an end behind a private
    /// authority (instead of turning verification off).
    pub ca_pem: Option<Vec<u8>>,
    /// An outbound proxy every request of this end goes through (`HTTPS_PROXY` and friends are
    /// honoured when none is set).
    pub proxy: Option<url::Url>,
}

/// The default cap on one answer's body: far above the largest real page.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            max_concurrent: 8,
            rate_per_second: None,
            retry: RetryPolicy::default(),
            accept_invalid_certs: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_pem: None,
            proxy: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("could not build the HTTP client: {0}")]
    Build(String),
    #[error("request failed after {attempts} attempt(s): {message}")]
    Transport { attempts: u32, message: String },
    /// Redirects are never followed: a server that sends one is misconfigured or hostile, and
    /// following it would send our data and credentials elsewhere (or take another's answer).
    #[error(
        "the server at {from} answered {status}, a redirect to {to}; redirects are not followed: \
         correct the configured URL if the service has really moved"
    )]
    Redirect {
        status: u16,
        from: String,
        to: String,
    },
    #[error(
        "the answer is larger than {} MB, the most read from this end (raise max_response_mb \
         if the answer is really this large)",
        limit.div_ceil(1024 * 1024)
    )]
    TooLarge { limit: u64 },
    #[error("the answer could not be read whole: {0}")]
    Body(String),
}

/// Counts of what the transport did, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Attempts that had to wait for the rate limit before they were sent.
    pub rate_waits: AtomicU64,
}

/// A client for one end. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    limit: Arc<Semaphore>,
    rate: Option<Arc<RateLimit>>,
    settings: HttpSettings,
    stats: Arc<TransportStats>,
}

impl Transport {
    pub fn new(settings: HttpSettings) -> Result<Transport, HttpError> {
        // Every crate uses the ring provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &settings.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                HttpError::Build(format!("the CA file holds no PEM certificate: {e}"))
            })?;
            builder = builder.tls_certs_merge(certificates);
        }
        if let Some(proxy) = &settings.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| HttpError::Build(format!("the proxy {}: {e}", bare(proxy))))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout.min(settings.timeout))
            .tls_danger_accept_invalid_certs(settings.accept_invalid_certs)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("flexsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Build(e.to_string()))?;
        Ok(Transport {
            client,
            limit: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            rate: settings
                .rate_per_second
                .and_then(RateLimit::new)
                .map(Arc::new),
            settings,
            stats: Arc::new(TransportStats::default()),
        })
    }

    /// The counters, shared: a progress line may read them while requests run.
    pub fn stats(&self) -> &Arc<TransportStats> {
        &self.stats
    }

    /// Reads an answer's body, chunk by chunk, up to the configured cap: a larger (or endless)
    /// body fails once the cap is passed, having held no more than the cap in memory.
    pub async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
        read_body(response, self.settings.max_body_bytes).await
    }

    /// Sends the request that `build` makes, retrying as the policy decides. `idempotent` says
    /// whether a request that may have reached the server can be sent again after a connection
    /// error; answers of 429 and 503 are always retried, as the server did not act on them.
    /// The final response is returned whatever its status: callers judge it.
    pub async fn send<F>(&self, idempotent: bool, build: F) -> Result<reqwest::Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|e| HttpError::Build(e.to_string()))?;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if let Some(rate) = &self.rate
                && let Some(waited) = rate.until_ready().await
            {
                self.stats.rate_waits.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    attempt,
                    wait_ms = waited.as_millis() as u64,
                    "waited for the rate limit"
                );
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = build(&self.client).send().await;
            if let Ok(response) = &result
                && response.status().is_redirection()
            {
                return Err(redirect_error(response));
            }
            let outcome = match &result {
                Ok(response) => Outcome::Status {
                    status: response.status().as_u16(),
                    retry_after: response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                },
                Err(error) if error.is_connect() => Outcome::ConnectFailed,
                Err(_) => Outcome::Interrupted,
            };
            let decision = retry::decide(
                &self.settings.retry,
                &outcome,
                idempotent,
                attempt,
                jiff::Timestamp::now(),
                jitter_fraction(),
            );
            match (decision, result) {
                (Decision::RetryAfter(wait), result) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let (host, why) = match &result {
                        Ok(response) => (host_of(response.url()), response.status().to_string()),
                        Err(error) => (
                            error.url().map(host_of).unwrap_or_default(),
                            self.through_proxy(error),
                        ),
                    };
                    tracing::info!(
                        %host,
                        attempt,
                        of = self.settings.retry.max_attempts,
                        wait_ms = wait.as_millis() as u64,
                        %why,
                        "retrying a request"
                    );
                    tokio::time::sleep(wait).await;
                }
                (Decision::Stop, Ok(response)) => return Ok(response),
                (Decision::Stop, Err(error)) => {
                    return Err(HttpError::Transport {
                        attempts: attempt,
                        message: self.through_proxy(&error),
                    });
                }
            }
        }
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, HttpError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(HttpError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::Body(describe(&e)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(HttpError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error for a redirect: where the request went and where the server pointed, both without
/// query (which may hold filters on personal data) or credentials.
fn redirect_error(response: &reqwest::Response) -> HttpError {
    let from = response.url();
    let to = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or_else(
            || "nowhere (no Location header)".to_string(),
            |location| match from.join(location) {
                Ok(to) => bare(&to),
                Err(_) => format!("{:?}", printable(location)),
            },
        );
    HttpError::Redirect {
        status: response.status().as_u16(),
        from: bare(from),
        to,
    }
}

/// `host:port` of a URL, for logs.
fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    }
}

/// A URL as it may be printed: scheme, host, port and path only.
pub fn bare(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// Text a server sent, with control characters replaced, at most 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Transport {
    /// [`describe`], naming the configured proxy when the connection to it failed: with a proxy,
    /// it is the proxy that is connected to, not the end.
    fn through_proxy(&self, error: &reqwest::Error) -> String {
        match &self.settings.proxy {
            Some(proxy) if error.is_connect() => {
                format!("through the proxy {}: {}", bare(proxy), describe(error))
            }
            _ => describe(error),
        }
    }
}

/// A reqwest error with its causes, without the URL's query (which may hold filters on
/// personal data) and never with headers.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "connection error".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        // Not "timed out: operation timed out": a cause that only repeats it is left out.
        let repeats = error.is_timeout() && said.contains("timed out");
        if !repeats {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// A number in [0, 1) that differs from call to call, for back-off jitter.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() % 10_000) as f64 / 10_000.0
}
