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
pub(super) fn report_dir(raw: RawReport, base: &Path, state_path: &Path) -> PathBuf {
    match raw.dir {
        Some(dir) => resolve(base, &dir),
        None => beside(state_path, "reports"),
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
