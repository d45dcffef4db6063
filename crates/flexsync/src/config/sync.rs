//! `[sync]`: the time zone, the retry and hold policy, keep_paused and concurrency.

use anyhow::{Result, anyhow};

use flexsync_core::plan::PlanSettings;
use flexsync_core::retry_hold::HoldPolicy;

use super::raw::RawSync;

/// What `[sync]` adds to the `Config`.
pub(super) struct SyncPart {
    pub(super) concurrency: usize,
    pub(super) plan: PlanSettings,
    pub(super) hold: HoldPolicy,
    pub(super) time_zone: jiff::tz::TimeZone,
    pub(super) time_zone_name: String,
}

pub(super) fn sync_part(raw: RawSync) -> Result<SyncPart> {
    let hold = hold_policy(&raw)?;
    let time_zone_name = raw
        .time_zone
        .unwrap_or_else(|| "Europe/Stockholm".to_string());
    let time_zone = jiff::tz::TimeZone::get(&time_zone_name)
        .map_err(|e| anyhow!("sync.time_zone: {time_zone_name:?}: {e}"))?;
    Ok(SyncPart {
        concurrency: raw.concurrency.unwrap_or(8).clamp(1, 64),
        plan: PlanSettings {
            keep_paused: raw.keep_paused.unwrap_or(false),
        },
        hold,
        time_zone,
        time_zone_name,
    })
}

fn hold_policy(sync: &RawSync) -> Result<HoldPolicy> {
    let mut policy = HoldPolicy::default();
    if let Some(minutes) = sync.retry_base_minutes {
        let minutes = i64::try_from(minutes)
            .map_err(|_| anyhow!("sync.retry_base_minutes: {minutes} is too large"))?;
        policy.base = jiff::SignedDuration::from_mins(minutes).min(policy.max);
    }
    if let Some(count) = sync.hold_after_failures {
        policy.hold_after = count.max(1);
    }
    Ok(policy)
}
