//! The file channel within a run: delivering the rendered files, and the guard on users who
//! would vanish from them.

use flexsync_core::guard::{self, Allowance};

use crate::config::FileChannel;
use crate::file_writer::{self, DeliveryOutcome};

/// Delivers the files (blocking I/O off the async threads) and remembers what was delivered.
pub(super) async fn deliver_files(
    channel: &FileChannel,
    rendered: Vec<(String, String)>,
) -> DeliveryOutcome {
    let destination = channel.destination.clone();
    let last = channel.last_delivery_dir.clone();
    let mode = channel.mode;
    let result = tokio::task::spawn_blocking(move || {
        let delivery = file_writer::deliver_with_mode(&rendered, &destination, mode)?;
        file_writer::remember_delivery(&last, &rendered)?;
        Ok::<_, file_writer::FileError>(delivery)
    })
    .await;
    let (destination, error) = match result {
        Ok(Ok(delivery)) => (Some(delivery.destination), None),
        Ok(Err(error)) => (None, Some(error.to_string())),
        Err(error) => (None, Some(format!("the delivery task failed: {error}"))),
    };
    DeliveryOutcome { destination, error }
}

/// The deactivation guard for the file channel: users who are active in the last delivered users
/// file and would be inactive or gone in the new one are pauses, judged by the same count and
/// share limits as pauses over SCIM. A last delivery that cannot be read refuses the run: with
/// nothing to compare against, a bad source could pause everyone unnoticed.
pub(super) fn judge_file_pauses(
    channel: &FileChannel,
    rendered: &[(String, String)],
    settings: &guard::GuardSettings,
    allowance: &Allowance,
) -> Option<guard::Refusal> {
    let previous = match file_writer::load_last_delivery(
        &channel.last_delivery_dir,
        file_writer::USERS_FILE,
    ) {
        Ok(previous) => previous,
        Err(error) => {
            return Some(guard::Refusal {
                guard: guard::GuardId::FilePauses,
                problem: format!("the last delivery cannot be read to compare with: {error}"),
                remedy: format!(
                    "make {} readable again (or move it away to start afresh)",
                    channel.last_delivery_dir.display()
                ),
            });
        }
    };
    let current = rendered
        .iter()
        .find(|(name, _)| name == file_writer::USERS_FILE)
        .map_or("", |(_, content)| content.as_str());
    let pauses =
        file_writer::file_pauses(previous.as_deref(), current, &channel.columns.users.active);
    let paused = pauses.paused.len();
    if paused <= settings.deactivation_floor || allowance.deactivations.is_some_and(|n| paused <= n)
    {
        return None;
    }
    let share = paused as f64 / pauses.active_before.max(1) as f64;
    if paused <= settings.max_deactivations && share <= settings.max_deactivation_share {
        return None;
    }
    Some(guard::Refusal {
        guard: guard::GuardId::FilePauses,
        problem: format!(
            "{paused} users active in the last {} would be paused or gone ({:.0}% of {}; limits: \
             {} users, {:.0}%)",
            file_writer::USERS_FILE,
            share * 100.0,
            pauses.active_before,
            settings.max_deactivations,
            settings.max_deactivation_share * 100.0
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-pauses {paused}` once"
        ),
    })
}
