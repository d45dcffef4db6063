//! `[schedule]` and `[daemon]`: when `flexsync daemon` runs a sync, where it serves, and how
//! it stops.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::schedule::{CronSlots, MAX_EVERY_MINUTES, Schedule, Slots, parse_time_of_day};

use super::raw::{RawDaemon, RawSchedule};
use super::{DEFAULT_DAEMON_LISTEN, DaemonSettings};

pub(super) fn read_schedule(raw: &RawSchedule, time_zone: &jiff::tz::TimeZone) -> Result<Schedule> {
    let given = [
        raw.times.is_some(),
        raw.every_minutes.is_some(),
        raw.cron.is_some(),
    ];
    if given.iter().filter(|given| **given).count() > 1 {
        bail!("schedule: give `times` or `every_minutes` or `cron`, only one of them");
    }
    let slots = match (&raw.times, raw.every_minutes, &raw.cron) {
        (_, _, Some(text)) => Slots::Cron(CronSlots::parse(text).map_err(|e| {
            anyhow!(
                "schedule.cron: {text:?} is not a cron expression to run by ({e}); write five \
                 fields, minute hour day-of-month month day-of-week, e.g. \"0 1 * * 1-5\""
            )
        })?),
        (None, None, None) => Schedule::daily_at_one(time_zone.clone()).slots,
        (None, Some(minutes), None) => {
            if !(1..=MAX_EVERY_MINUTES).contains(&minutes) {
                bail!(
                    "schedule.every_minutes: {minutes} is not between 1 and {MAX_EVERY_MINUTES}; use `times` for daily runs"
                );
            }
            Slots::EveryMinutes(minutes)
        }
        (Some(times), _, None) => {
            if times.is_empty() {
                bail!("schedule.times: name at least one time of day, e.g. [\"01:00\"]");
            }
            let parsed = times
                .iter()
                .map(|text| {
                    parse_time_of_day(text).ok_or_else(|| {
                        anyhow!("schedule.times: {text:?} is not a time of day written HH:MM (00:00 to 23:59)")
                    })
                })
                .collect::<Result<BTreeSet<_>>>()?;
            Slots::Times(parsed)
        }
    };
    Ok(Schedule {
        slots,
        time_zone: time_zone.clone(),
        run_at_start: raw.run_at_start.unwrap_or(false),
    })
}

pub(super) fn read_daemon(
    raw: &RawDaemon,
    base: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<DaemonSettings> {
    let text = raw.listen.as_deref().unwrap_or(DEFAULT_DAEMON_LISTEN);
    let listen = text.trim().parse::<SocketAddr>().map_err(|e| {
        anyhow!("daemon.listen: {text:?} is not an address and port such as 127.0.0.1:9108: {e}")
    })?;
    if let Some(file) = &raw.status_token_file
        && std::fs::read_to_string(super::paths::resolve(base, file))
            .is_ok_and(|text| text.trim().is_empty())
    {
        bail!(
            "daemon.status_token_file: {} is empty; put a long random token in it",
            file.display()
        );
    }
    let max_connections = raw.max_connections.unwrap_or(64);
    if !(1..=10_000).contains(&max_connections) {
        bail!("daemon.max_connections: {max_connections} is not between 1 and 10000");
    }
    let header_timeout = raw.header_timeout_seconds.unwrap_or(10);
    if !(1..=3600).contains(&header_timeout) {
        bail!("daemon.header_timeout_seconds: {header_timeout} is not between 1 and 3600");
    }
    let parallel_tenants = raw.parallel_tenants.unwrap_or(4);
    if !(1..=1000).contains(&parallel_tenants) {
        bail!("daemon.parallel_tenants: {parallel_tenants} is not between 1 and 1000");
    }
    let lease = raw.lease_seconds.unwrap_or(30);
    if !(2..=3600).contains(&lease) {
        bail!("daemon.lease_seconds: {lease} is not between 2 and 3600");
    }
    Ok(DaemonSettings {
        lease: Duration::from_secs(lease),
        parallel_tenants,
        listen,
        stop_timeout: Duration::from_secs(raw.stop_timeout_seconds.unwrap_or(120)),
        status_token: raw
            .status_token_file
            .as_deref()
            .map(|file| {
                super::connection::secret(
                    "daemon.status_token",
                    None,
                    None,
                    Some(super::paths::resolve(base, file)),
                    warnings,
                )
            })
            .transpose()?
            .filter(|token| {
                !secrecy::ExposeSecret::expose_secret(token)
                    .trim()
                    .is_empty()
            }),
        max_connections,
        header_timeout: Duration::from_secs(header_timeout),
    })
}
