//! The daemon's listener for `/healthz` and `/metrics`: at most so many connections are held at
//! once, a new one evicting the oldest (so a flood of half-open connections can neither starve
//! the server nor the sync of descriptors, and a fresh `/healthz` is still answered), and a
//! connection unanswered for the header timeout (a request never finished, an idle keep-alive)
//! is closed.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// A TCP listener with a connection cap and a per-connection answer deadline.
pub struct GuardedListener {
    listener: TcpListener,
    live: Arc<Mutex<VecDeque<Arc<Eviction>>>>,
    max_connections: usize,
    timeout: Duration,
}

/// Tells one connection to close.
#[derive(Default)]
struct Eviction {
    evicted: AtomicBool,
    waker: AtomicWaker,
}

impl Eviction {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.waker.wake();
    }
}

impl GuardedListener {
    pub fn new(listener: TcpListener, max_connections: usize, timeout: Duration) -> Self {
        GuardedListener {
            listener,
            live: Arc::default(),
            max_connections: max_connections.max(1),
            timeout,
        }
    }

    /// Registers a new connection, evicting the oldest ones beyond the cap.
    fn admit(&self) -> Arc<Eviction> {
        let eviction = Arc::new(Eviction::default());
        if let Ok(mut live) = self.live.lock() {
            while live.len() >= self.max_connections {
                if let Some(oldest) = live.pop_front() {
                    oldest.evict();
                }
            }
            live.push_back(eviction.clone());
        }
        eviction
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    let io = GuardedStream {
                        stream,
                        deadline: Box::pin(tokio::time::sleep(self.timeout)),
                        timeout: self.timeout,
                        eviction: self.admit(),
                        live: self.live.clone(),
                    };
                    return (io, address);
                }
                Err(error) => {
                    tracing::warn!(%error, "the HTTP server could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// One connection: reading fails once it is evicted, or has waited `timeout` since it opened or
/// was last answered.
pub struct GuardedStream {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    eviction: Arc<Eviction>,
    live: Arc<Mutex<VecDeque<Arc<Eviction>>>>,
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        if let Ok(mut live) = self.live.lock() {
            live.retain(|e| !Arc::ptr_eq(e, &self.eviction));
        }
    }
}

fn closed(reason: &str) -> Poll<io::Result<()>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::TimedOut,
        reason.to_string(),
    )))
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.eviction.waker.register(cx.waker());
        if self.eviction.evicted.load(Ordering::Acquire) {
            return closed("evicted by a newer connection");
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return closed("no complete request within the header timeout");
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let next = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(next);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
