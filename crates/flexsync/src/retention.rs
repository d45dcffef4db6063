//! `[report] keep_days`: after each sync, runs older than that leave the state store (with their
//! journal rows and named changes) and their reports leave the report folder.

use std::path::Path;
use std::time::{Duration, SystemTime};

use flexsync_state::StateStore;

/// The moment before which records are pruned.
pub fn cutoff(now: jiff::Timestamp, keep_days: u32) -> jiff::Timestamp {
    now.checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(keep_days)))
        .unwrap_or(jiff::Timestamp::MIN)
}

/// Prunes the store; a failure is logged, never fatal (the run itself is done).
pub fn prune_store(store: &StateStore, now: jiff::Timestamp, keep_days: u32) {
    match store.prune_before(cutoff(now, keep_days)) {
        Ok(pruned) if pruned.runs > 0 => tracing::info!(
            runs = pruned.runs,
            operations = pruned.operations,
            changes = pruned.changes,
            keep_days,
            "pruned old runs from the state store"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not prune old runs from the state store"),
    }
}

/// Removes the reports (`run-*.json`, `run-*.html`) last written more than `keep_days` ago, and
/// returns how many went. Other files in the folder are left alone.
pub fn prune_reports(dir: &Path, keep_days: u32) -> std::io::Result<usize> {
    let keep = Duration::from_secs(24 * 3600 * u64::from(keep_days));
    let Some(cutoff) = SystemTime::now().checked_sub(keep) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let report = crate::report::is_report_file(&name);
        let metadata = entry.metadata()?;
        if report && metadata.is_file() && metadata.modified()? < cutoff {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_reports_go() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(91 * 24 * 3600);
        for name in [
            "run-000001.json",
            "run-000001.html",
            "run-000002.json",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        for name in ["run-000001.json", "run-000001.html", "notes.txt"] {
            let file = std::fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        assert_eq!(prune_reports(dir.path(), 90).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "run-000002.json"]);
    }
}
