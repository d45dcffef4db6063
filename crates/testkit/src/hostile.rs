//! A hostile server: an HTTP proxy in front of an emulator that forwards every request unless a
//! rule tells it to attack (redirect, answer a fixed body, stream an oversized or endless body,
//! rewrite the upstream's JSON). Without an upstream it is the "stranger" a redirect points to,
//! answering `200 {}`. Every request it receives is recorded, headers and body included.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::canned::Recorded;

/// What the proxy does to a request a rule matches.
#[derive(Clone)]
pub enum Attack {
    /// Answers `status` with `Location: location`.
    Redirect { status: u16, location: String },
    /// Answers `status` with this JSON body.
    Respond { status: u16, body: String },
    /// Answers 200 with `chunk` repeated: `total` bytes, or without end.
    Stream { chunk: Vec<u8>, total: Option<u64> },
    /// Forwards, then rewrites the upstream's JSON answer.
    Rewrite(Arc<dyn Fn(Value) -> Value + Send + Sync>),
}

/// An attack on the requests with this method (any, when `None`) whose path starts with `path`.
#[derive(Clone)]
pub struct Rule {
    pub method: Option<&'static str>,
    pub path: String,
    pub attack: Attack,
}

impl Rule {
    pub fn new(method: Option<&'static str>, path: &str, attack: Attack) -> Rule {
        Rule {
            method,
            path: path.to_string(),
            attack,
        }
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.is_none_or(|m| m == method.as_str()) && path.starts_with(&self.path)
    }
}

struct Shared {
    upstream: Option<String>,
    rules: Mutex<Vec<Rule>>,
    requests: Mutex<Vec<Recorded>>,
    client: reqwest::Client,
}

/// A running proxy (or stranger) on a loopback port.
pub struct Hostile {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Hostile {
    /// A proxy forwarding to `upstream` (`http://127.0.0.1:PORT`, no path).
    pub async fn proxy(upstream: &str) -> std::io::Result<Hostile> {
        Hostile::start(Some(upstream.trim_end_matches('/').to_string())).await
    }

    /// A server that answers `200 {}` to everything and records what reached it.
    pub async fn stranger() -> std::io::Result<Hostile> {
        Hostile::start(None).await
    }

    async fn start(upstream: Option<String>) -> std::io::Result<Hostile> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            client,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Hostile { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Adds an attack; the first rule that matches a request wins.
    pub fn attack(&self, rule: Rule) {
        if let Ok(mut rules) = self.shared.rules.lock() {
            rules.push(rule);
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(Recorded {
            method: parts.method.to_string(),
            target: target.clone(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let attack = shared.rules.lock().ok().and_then(|rules| {
        rules
            .iter()
            .find(|r| r.matches(&parts.method, parts.uri.path()))
            .map(|r| r.attack.clone())
    });
    match attack {
        Some(Attack::Redirect { status, location }) => {
            answer(status, &[(header::LOCATION, location)], Body::empty())
        }
        Some(Attack::Respond { status, body }) => json_answer(status, body),
        Some(Attack::Stream { chunk, total }) => stream(chunk, total),
        Some(Attack::Rewrite(rewrite)) => {
            let (status, headers, bytes) =
                forward(&shared, &parts.method, &target, &parts.headers, body).await;
            let rewritten = serde_json::from_slice::<Value>(&bytes)
                .map(|v| Bytes::from(rewrite(v).to_string()))
                .unwrap_or(bytes);
            let mut response = json_answer(status, rewritten);
            copy_headers(&headers, response.headers_mut(), false);
            response
        }
        None if shared.upstream.is_none() => json_answer(200, "{}"),
        None => {
            let (status, headers, bytes) =
                forward(&shared, &parts.method, &target, &parts.headers, body).await;
            let mut response = answer(status, &[], Body::from(bytes));
            copy_headers(&headers, response.headers_mut(), true);
            response
        }
    }
}

/// Sends the request on to the upstream; a failure is a 502.
async fn forward(
    shared: &Shared,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> (u16, HeaderMap, Bytes) {
    let Some(upstream) = &shared.upstream else {
        return (502, HeaderMap::new(), Bytes::new());
    };
    let mut outgoing = HeaderMap::new();
    copy_headers(headers, &mut outgoing, true);
    outgoing.remove(header::HOST);
    let sent = shared
        .client
        .request(method.clone(), format!("{upstream}{target}"))
        .headers(outgoing)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response.bytes().await.unwrap_or_default();
            (status, headers, bytes)
        }
        Err(_) => (502, HeaderMap::new(), Bytes::new()),
    }
}

/// Copies headers, leaving out those about the framing of the body (and its type, unless asked).
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, with_type: bool) {
    for (name, value) in from {
        let framing = [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ];
        if framing.contains(name) || (!with_type && name == header::CONTENT_TYPE) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn answer(status: u16, headers: &[(header::HeaderName, String)], body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}

fn json_answer(status: u16, body: impl Into<Body>) -> Response {
    let mut response = answer(status, &[], body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 whose body is `chunk` over and over, `total` bytes long or endless.
fn stream(chunk: Vec<u8>, total: Option<u64>) -> Response {
    let chunk = Bytes::from(chunk);
    let size = chunk.len().max(1) as u64;
    let count = total.map_or(u64::MAX, |t| t.div_ceil(size));
    let body = futures::stream::iter((0..count).map(move |_| Ok::<_, Infallible>(chunk.clone())));
    json_answer(200, Body::from_stream(body))
}
