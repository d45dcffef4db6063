//! The run lock: one sync at a time per state store, and a lock left by a killed run is taken
//! over at once.

use flexsync_state::{LockGuard, StateError, StateStore};

/// The run lock, named `flexsync sync (pid N on HOST)`. A lock whose holder is a process on
/// this host that no longer runs (a killed run) is taken over at once; any other lock is only
/// taken over once it is older than six hours.
/// Under a tenant's lease (`stale_after` given) the lock of a run whose daemon lost the lease is
/// taken over once older than that.
pub(super) fn take_lock(
    store: &StateStore,
    now: jiff::Timestamp,
    stale_after: Option<std::time::Duration>,
) -> Result<LockGuard, StateError> {
    let host = host_name();
    let holder = format!("flexsync sync (pid {} on {host})", std::process::id());
    let stale_after = stale_after.unwrap_or(std::time::Duration::from_secs(6 * 3600));
    match store.acquire_lock(&holder, now, stale_after) {
        Err(StateError::Locked { holder: other, .. }) if holder_is_gone(&other, &host) => {
            tracing::warn!(holder = %other, "taking over the lock of a run that no longer runs");
            store.acquire_lock(&holder, now, std::time::Duration::ZERO)
        }
        result => result,
    }
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True when `holder` names a process on this host that has exited (Linux: no `/proc/PID`).
pub(super) fn holder_is_gone(holder: &str, host: &str) -> bool {
    let Some(rest) = holder.split("(pid ").nth(1) else {
        return false;
    };
    let Some((pid, tail)) = rest.split_once(" on ") else {
        return false;
    };
    let same_host = tail.trim_end_matches(')') == host;
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    same_host
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_holder_that_exited_on_this_host_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let host = host_name();
        assert!(holder_is_gone(
            &format!("flexsync sync (pid {pid} on {host})"),
            &host
        ));
        let me = std::process::id();
        assert!(!holder_is_gone(
            &format!("flexsync sync (pid {me} on {host})"),
            &host
        ));
        assert!(!holder_is_gone(
            &format!("flexsync sync (pid {pid} on elsewhere)"),
            &host
        ));
        assert!(!holder_is_gone("test holder", &host));
    }
}
