//! `[state]` and `[report]`: where flexsync keeps its own files, and how paths written in the
//! configuration are read.

use std::path::{Path, PathBuf};

use super::raw::{RawReport, RawState};

pub(super) fn state_path(raw: &RawState, base: &Path) -> PathBuf {
    resolve(
        base,
        raw.path.as_deref().unwrap_or(Path::new("flexsync.db")),
    )
}

/// Where run reports go: `report.dir`, or `reports/` beside the state store.
pub(super) fn report_dir(raw: &RawReport, base: &Path, state_path: &Path) -> PathBuf {
    match &raw.dir {
        Some(dir) => resolve(base, dir),
        None => beside(state_path, "reports"),
    }
}

/// How many days reports and journal rows are kept: `report.keep_days`, default 90.
pub(super) fn keep_days(raw: &RawReport) -> anyhow::Result<u32> {
    const MAX_DAYS: i64 = 36_500;
    match raw.keep_days {
        None => Ok(90),
        Some(days @ 1..=MAX_DAYS) => Ok(days as u32),
        Some(days) => anyhow::bail!(
            "report.keep_days = {days}: give a number of days from 1 to {MAX_DAYS} (default 90)"
        ),
    }
}

/// Where a run leaves its records, and for how long: all that `history` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    pub state_path: PathBuf,
    pub report_dir: PathBuf,
    pub keep_days: u32,
}

impl Records {
    pub(super) fn of(state: &RawState, report: &RawReport, base: &Path) -> anyhow::Result<Records> {
        let state_path = state_path(state, base);
        Ok(Records {
            report_dir: report_dir(report, base, &state_path),
            keep_days: keep_days(report)?,
            state_path,
        })
    }
}

/// A path from the configuration, taken from the configuration file's folder when relative.
pub(super) fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// A folder next to the state store.
pub(super) fn beside(state_path: &Path, name: &str) -> PathBuf {
    state_path.parent().unwrap_or(Path::new(".")).join(name)
}
