//! The file channel within a run: delivering the rendered files, and the guard on users who
//! would vanish from them.

use std::collections::BTreeMap;

use flexsync_core::guard::{self, Allowance};

use crate::config::FileChannel;
use crate::file_writer;
use crate::scim_writer::StepOutcome;

/// Delivers the files (blocking I/O off the async threads) and remembers what was delivered.
pub(super) async fn deliver_files(
    channel: &FileChannel,
    rendered: Vec<(String, String)>,
) -> StepOutcome {
    let destination = channel.destination.clone();
    let last = channel.last_delivery_dir.clone();
    let result = tokio::task::spawn_blocking(move || {
        let delivery = file_writer::deliver(&rendered, &destination)?;
        file_writer::remember_delivery(&last, &rendered)?;
        Ok::<_, file_writer::FileError>(delivery)
    })
    .await;
    let (target_id, error) = match result {
        Ok(Ok(delivery)) => (Some(delivery.destination), None),
        Ok(Err(error)) => (None, Some(error.to_string())),
        Err(error) => (None, Some(format!("the delivery task failed: {error}"))),
    };
    StepOutcome {
        external_id: "(files)".into(),
        kind: "deliver_files",
        target_id,
        error,
        note: None,
    }
}

/// Users that would vanish from the users file count as pauses for the guards.
pub(super) fn judge_file_removals(
    changes: &BTreeMap<String, file_writer::FileDiff>,
    settings: &guard::GuardSettings,
    allowance: &Allowance,
) -> Option<guard::Refusal> {
    let removed = changes
        .get(file_writer::USERS_FILE)
        .map_or(0, |diff| diff.removed.len());
    let allowed = allowance.deactivations.is_some_and(|n| removed <= n);
    if removed <= settings.deactivation_floor.max(settings.max_deactivations) || allowed {
        return None;
    }
    Some(guard::Refusal {
        guard: "file_removals".into(),
        problem: format!(
            "{removed} users would disappear from {} (limit {})",
            file_writer::USERS_FILE,
            settings.max_deactivations
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-deactivations {removed}` once"
        ),
    })
}
