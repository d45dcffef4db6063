//! The sync under measure: runs one flexsync command as a child process and reads its own CPU
//! time and peak memory from `getrusage` once it has ended.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::resource::{UsageWho, getrusage};

/// What one measured child process used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub wall: Duration,
    pub cpu: Duration,
    /// Peak resident memory, in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

/// `flexsync bench-measure`: runs `command`, waits for it, and writes the children's rusage
/// (user µs, system µs, maxrss KiB) to `out`. A process of its own, so the figures are the
/// measured command's alone. Returns the command's exit code.
pub fn run_and_record(out: &Path, command: &[String]) -> anyhow::Result<i32> {
    let Some((program, args)) = command.split_first() else {
        bail!("bench-measure needs a command to run");
    };
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage failed")?;
    let micros = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
    let line = format!(
        "{} {} {}\n",
        micros(usage.user_time()),
        micros(usage.system_time()),
        usage.max_rss()
    );
    std::fs::write(out, line).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(status.code().unwrap_or(1))
}

/// Runs `flexsync <args>` as a measured child, its output kept in `log`. Returns its usage
/// and exit code.
pub fn measure(dir: &Path, log: &Path, args: &[String]) -> anyhow::Result<(Usage, i32)> {
    let exe = std::env::current_exe().context("cannot find the flexsync binary")?;
    let out: PathBuf = dir.join("usage.txt");
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let status = Command::new(&exe)
        .arg("bench-measure")
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg(&exe)
        .args(args)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .stdin(Stdio::null())
        .status()
        .context("cannot start the measured sync")?;
    let wall = started.elapsed();
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("no usage in {}", out.display()))?;
    let numbers: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [user, system, max_rss_kib] = numbers[..] else {
        bail!("cannot read the usage line {text:?}");
    };
    let usage = Usage {
        wall,
        cpu: Duration::from_micros(user + system),
        max_rss_kib,
    };
    Ok((usage, status.code().unwrap_or(1)))
}
