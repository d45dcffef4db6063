//! A tiny HTTP/1.1 server on a loopback socket that answers fixed responses by method and path
//! and records each request: for server behaviours scim2-server does not show (bare-array
//! discovery lists, no `/Schemas`, PATCH answered 200 with a body, numeric error statuses).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One fixed answer: method, path (without query), status, body.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub body: String,
}

pub fn route(method: &'static str, path: &'static str, status: u16, body: &str) -> Route {
    Route {
        method,
        path,
        status,
        body: body.to_string(),
    }
}

/// A request as the server read it. Header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Canned {
    /// The SCIM root, `http://127.0.0.1:PORT/scim`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Canned {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Canned {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `routes` under `/scim`; anything else is 404 with an empty body.
pub async fn serve(routes: Vec<Route>) -> std::io::Result<Canned> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let routes = Arc::new(routes);
    let seen = Arc::clone(&requests);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let routes = Arc::clone(&routes);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let _ = answer(stream, &routes, &seen).await;
            });
        }
    });
    Ok(Canned {
        base_url: format!("http://127.0.0.1:{port}/scim"),
        requests,
        task,
    })
}

async fn answer(
    mut stream: TcpStream,
    routes: &[Route],
    seen: &Mutex<Vec<Recorded>>,
) -> std::io::Result<()> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&buffer[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or_default().split(' ');
    let method = start.next().unwrap_or_default().to_string();
    let target = start.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buffer[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..]).to_string();
    let path = target.split('?').next().unwrap_or_default().to_string();
    if let Ok(mut seen) = seen.lock() {
        seen.push(Recorded {
            method: method.clone(),
            target,
            headers,
            body,
        });
    }
    let (status, body) = routes
        .iter()
        .find(|r| r.method == method && format!("/scim{}", r.path) == path)
        .map(|r| (r.status, r.body.as_str()))
        .unwrap_or((404, ""));
    let response = format!(
        "HTTP/1.1 {status} Canned\r\nContent-Type: application/scim+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
