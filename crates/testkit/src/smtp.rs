//! Starts a real SMTP server (aiosmtpd from PyPI, through `smtp/sink.py`) on a loopback port for
//! the notification tests, and reads back what arrived: one JSON document per message, as
//! Python's own email package parsed it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scim2::REQUIRE_ENV;

/// Path of a Python that has `aiosmtpd` installed (e.g. `.ci/venv/bin/python`).
pub const PYTHON_ENV: &str = "AIOSMTPD_PYTHON";
const START_WAIT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: u32 = 3;

/// How the server protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain SMTP.
    None,
    /// STARTTLS required before any mail.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// What the server asks of its clients.
#[derive(Debug, Clone, Copy)]
pub struct SinkOptions<'a> {
    /// A user name and password to log in with (AUTH required).
    pub login: Option<(&'a str, &'a str)>,
    pub tls: SinkTls,
}

/// A running SMTP server, killed when dropped; its messages are kept in a temporary folder.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// The PEM certificate of the authority that signed the server's certificate (with TLS).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
        paths.sort();
        paths
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect()
    }

    /// The messages once there are at least `count` (or all there are after `wait`).
    pub fn wait_for(&self, count: usize, wait: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count || start.elapsed() > wait {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the server as `options` say. `Ok(None)` means
/// `AIOSMTPD_PYTHON` is unset and the caller should return (skipped, said on stderr); `Err`
/// means the test must fail (and it does when `FLEXSYNC_REQUIRE_INTEROP=1`).
pub fn start(test: &str, options: SinkOptions<'_>) -> Result<Option<SmtpSink>, String> {
    let Some(python) = std::env::var_os(PYTHON_ENV).filter(|v| !v.is_empty()) else {
        if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
            return Err(format!(
                "{test}: {PYTHON_ENV} is not set, and {REQUIRE_ENV}=1 requires the SMTP tests \
                 (a Python with aiosmtpd, e.g. .ci/venv/bin/python)"
            ));
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {PYTHON_ENV} is not set (a Python with aiosmtpd installed)"
        );
        return Ok(None);
    };
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match spawn_once(&python, options) {
            Ok(sink) => return Ok(Some(sink)),
            Err(error) => failures.push(error),
        }
    }
    Err(format!(
        "{test}: the SMTP server did not start:\n{}",
        failures.join("\n---\n")
    ))
}

fn spawn_once(python: &std::ffi::OsStr, options: SinkOptions<'_>) -> Result<SmtpSink, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary folder: {e}"))?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
    let mut command = Command::new(python);
    command.arg(&script).arg(dir.path()).arg(port.to_string());
    if let Some((user, password)) = options.login {
        command.arg("--login").arg(user).arg(password);
    }
    match options.tls {
        SinkTls::None => {}
        SinkTls::StartTls => {
            command.args(["--tls", "starttls"]);
        }
        SinkTls::Implicit => {
            command.args(["--tls", "implicit"]);
        }
    }
    let mut child = command
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", PathBuf::from(python).display()))?;
    let (ready_tx, ready_rx) = mpsc::channel::<bool>();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "READY" {
                    let _ = ready_tx.send(true);
                }
            }
            let _ = ready_tx.send(false);
        });
    }
    if ready_rx.recv_timeout(START_WAIT) == Ok(true) {
        return Ok(SmtpSink { child, port, dir });
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Err(format!("port {port}: not ready; stderr:\n{stderr}"))
}
