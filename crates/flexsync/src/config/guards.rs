//! `[guards]`: the limits past which a run refuses to write.

use anyhow::{Result, bail};

use flexsync_core::guard::GuardSettings;

use super::raw::RawGuards;

pub(super) fn guard_settings(raw: &RawGuards) -> Result<GuardSettings> {
    let defaults = GuardSettings::default();
    let guards = GuardSettings {
        max_deactivations: raw.max_deactivations.unwrap_or(defaults.max_deactivations),
        max_deactivation_share: raw
            .max_deactivation_share
            .unwrap_or(defaults.max_deactivation_share),
        deactivation_floor: raw
            .deactivation_floor
            .unwrap_or(defaults.deactivation_floor),
        max_source_drop_share: raw
            .max_source_drop_share
            .unwrap_or(defaults.max_source_drop_share),
        max_group_retirements: raw
            .max_group_retirements
            .unwrap_or(defaults.max_group_retirements),
    };
    if !(0.0..=1.0).contains(&guards.max_source_drop_share) {
        bail!("guards.max_source_drop_share: give a share between 0.0 and 1.0");
    }
    if !(0.0..=1.0).contains(&guards.max_deactivation_share) {
        bail!("guards.max_deactivation_share: give a share between 0.0 and 1.0");
    }
    Ok(guards)
}
