//! Starts the third-party `scim2-server` (PyPI) on a loopback port, with the Winningtemp schemas
//! of this crate's `scim2-server/` folder, for interop tests.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Path of the `scim2-server` executable (e.g. `/opt/scim2-venv/bin/scim2-server`).
pub const SERVER_ENV: &str = "SCIM2_SERVER";
/// When `1`, a missing `SCIM2_SERVER` fails the test instead of skipping it (CI sets it).
pub const REQUIRE_ENV: &str = "FLEXSYNC_REQUIRE_INTEROP";
const READY: &str = "Serving SCIM on";
/// How long one start may take before it counts as failed.
const START_WAIT: Duration = Duration::from_secs(60);
/// Starts tried, for the rare case where another process takes the port we picked.
const START_ATTEMPTS: u32 = 3;
const LOG_LINES: usize = 40;

/// A running `scim2-server`, killed when dropped.
pub struct Scim2Server {
    child: Child,
    /// The SCIM root, `http://127.0.0.1:PORT/v2`.
    pub base_url: String,
    pub token: String,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Scim2Server {
    /// The last lines the server wrote to stderr (its request log and errors).
    pub fn log_tail(&self) -> String {
        tail(&self.stderr)
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The interop kit: schemas and resource types handed to the server.
pub fn kit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scim2-server")
}

/// Starts a server on a free loopback port. `Ok(None)` means `SCIM2_SERVER` is unset and the
/// caller should return (a line saying so is printed, past the test harness's capture);
/// `Err` means the test must fail.
pub fn start(test: &str) -> Result<Option<Scim2Server>, String> {
    let Some(program) = std::env::var_os(SERVER_ENV).filter(|v| !v.is_empty()) else {
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            return Err(format!(
                "{test}: {SERVER_ENV} is not set, and {REQUIRE_ENV}=1 requires the interop \
                 tests; see crates/testkit/scim2-server/README.md"
            ));
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {SERVER_ENV} is not set (path to the scim2-server executable; \
             see crates/testkit/scim2-server/README.md)"
        );
        return Ok(None);
    };
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match spawn_once(&program) {
            Ok(server) => return Ok(Some(server)),
            Err(error) => failures.push(error),
        }
    }
    Err(format!(
        "{test}: scim2-server did not start:\n{}",
        failures.join("\n---\n")
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

fn spawn_once(program: &OsString) -> Result<Scim2Server, String> {
    let port = free_port()?;
    let token = format!("interop-token-{}-{port}", std::process::id());
    let kit = kit_dir();
    let mut child = Command::new(program)
        .arg("--hostname")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--bearer-token")
        .arg(&token)
        .arg("--schema")
        .arg(kit.join("schemas.json"))
        .arg("--resource-type")
        .arg(kit.join("resource-types.json"))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", PathBuf::from(program).display()))?;

    let stderr_lines = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_reader = child.stderr.take().map(|stderr| {
        let lines = Arc::clone(&stderr_lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    if lines.len() == LOG_LINES {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            }
        })
    });
    let (ready_tx, ready_rx) = mpsc::channel::<bool>();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(READY) {
                    let _ = ready_tx.send(true);
                }
            }
            let _ = ready_tx.send(false);
        });
    }

    let ready = ready_rx.recv_timeout(START_WAIT);
    if ready == Ok(true) {
        return Ok(Scim2Server {
            child,
            base_url: format!("http://127.0.0.1:{port}/v2"),
            token,
            stderr: stderr_lines,
        });
    }
    let _ = child.kill();
    let status = child.wait();
    if let Some(reader) = stderr_reader {
        let _ = reader.join();
    }
    let why = match ready {
        Err(mpsc::RecvTimeoutError::Timeout) => format!("no {READY:?} within {START_WAIT:?}"),
        _ => format!("exited before it was ready ({status:?})"),
    };
    Err(format!(
        "port {port}: {why}; stderr:\n{}",
        tail(&stderr_lines)
    ))
}

fn tail(lines: &Mutex<VecDeque<String>>) -> String {
    lines
        .lock()
        .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}
