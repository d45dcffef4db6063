//! The transport over real sockets against a tiny loopback server, on tokio's paused clock:
//! the rate limit spaces every attempt, retries included, and counts its waits.
// clippy.toml allows these inside #[test] functions only; the helpers below are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use flexsync_http::{HttpSettings, RetryPolicy, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A server on 127.0.0.1 that answers its first `failures` requests 503 with `Retry-After: 0`
/// and every later one 200. Returns the base URL and the count of requests it read.
async fn serve(failures: u64) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let n = counter.fetch_add(1, Relaxed);
                let status = if n < failures {
                    "503 Busy\r\nRetry-After: 0"
                } else {
                    "200 OK"
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/"), seen)
}

/// Settings with the given rate, quick retries, and a timeout far beyond any wait of the rate
/// limit, so that the paused clock reaches the waits first.
fn settings(rate_per_second: Option<f64>, max_concurrent: usize) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(24 * 3600),
        connect_timeout: Duration::from_secs(24 * 3600),
        read_timeout: Duration::from_secs(24 * 3600),
        max_concurrent,
        rate_per_second,
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(1),
        },
        ..HttpSettings::default()
    }
}

async fn get(transport: &Transport, url: &str) -> u16 {
    transport
        .send(true, |client| client.get(url))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(start_paused = true)]
async fn every_attempt_waits_for_the_rate_retries_included() {
    let (url, seen) = serve(2).await;
    // 2 a second: a burst of 2, then one every half second.
    let transport = Transport::new(settings(Some(2.0), 8)).unwrap();
    let start = Instant::now();
    for _ in 0..4 {
        assert_eq!(get(&transport, &url).await, 200);
    }
    let elapsed = start.elapsed();
    let stats = transport.stats();
    assert_eq!(
        seen.load(Relaxed),
        6,
        "4 requests and 2 retries reached the server"
    );
    assert_eq!(stats.requests.load(Relaxed), 6);
    assert_eq!(stats.retries.load(Relaxed), 2);
    assert_eq!(
        stats.rate_waits.load(Relaxed),
        4,
        "all but the burst waited"
    );
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(2100),
        "no more waiting than the rate asks: {elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_rate() {
    let (url, seen) = serve(0).await;
    // 5 a second: a burst of 5, then one every 200 ms.
    let transport = Transport::new(settings(Some(5.0), 16)).unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let transport = transport.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move { get(&transport, &url).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let elapsed = start.elapsed();
    assert_eq!(seen.load(Relaxed), 10);
    assert_eq!(transport.stats().rate_waits.load(Relaxed), 5);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn without_a_rate_nothing_waits() {
    let (url, seen) = serve(0).await;
    for rate in [None, Some(0.0), Some(-3.0)] {
        let transport = Transport::new(settings(rate, 16)).unwrap();
        let start = Instant::now();
        for _ in 0..10 {
            assert_eq!(get(&transport, &url).await, 200);
        }
        assert_eq!(transport.stats().rate_waits.load(Relaxed), 0, "{rate:?}");
        assert!(start.elapsed() < Duration::from_millis(100), "{rate:?}");
    }
    assert_eq!(seen.load(Relaxed), 30);
}
