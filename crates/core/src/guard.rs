//! Guards judge a plan before anything is written, and refuse plans that look like the result
//! of bad source data: an empty source, or more users paused than an operator would expect.

use serde::{Deserialize, Serialize};

use crate::current::Current;
use crate::desired::Desired;
use crate::plan::{Operation, Plan};

/// Thresholds, from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardSettings {
    /// Refuse when more users than this would be paused.
    pub max_deactivations: usize,
    /// Refuse when more than this share (0.0..=1.0) of the managed, active users would be paused.
    pub max_deactivation_share: f64,
    /// Paused users up to this count are always allowed, whatever their share (small orgs).
    pub deactivation_floor: usize,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            max_deactivations: 50,
            max_deactivation_share: 0.10,
            deactivation_floor: 5,
        }
    }
}

/// What the operator let through for this one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// `--allow-deactivations N`: up to N deactivations pass whatever the thresholds say.
    pub deactivations: Option<usize>,
}

/// Why a plan was refused, and how to let it through once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub guard: String,
    pub problem: String,
    pub remedy: String,
}

/// Judges a plan; `None` lets it through.
pub fn judge(
    plan: &Plan,
    desired: &Desired,
    current: &Current,
    settings: &GuardSettings,
    allowance: &Allowance,
) -> Option<Refusal> {
    if desired.source_records == 0 {
        return Some(Refusal {
            guard: "empty_source".into(),
            problem: "Flex returned no employees for the configured companies".into(),
            remedy: "check the company numbers and the API user's rights; nothing was written"
                .into(),
        });
    }
    let deactivations = plan
        .steps
        .iter()
        .filter(|s| matches!(s.operation, Operation::DeactivateUser { .. }))
        .count();
    if deactivations <= settings.deactivation_floor {
        return None;
    }
    if allowance.deactivations.is_some_and(|n| deactivations <= n) {
        return None;
    }
    let managed_active = current
        .users
        .iter()
        .filter(|u| u.external_id.is_some() && u.values.active)
        .count()
        .max(1);
    let share = deactivations as f64 / managed_active as f64;
    let too_many = deactivations > settings.max_deactivations;
    let too_large = share > settings.max_deactivation_share;
    if !too_many && !too_large {
        return None;
    }
    Some(Refusal {
        guard: "deactivations".into(),
        problem: format!(
            "{deactivations} users would be paused ({:.0}% of {managed_active} active managed users; \
             limits: {} users, {:.0}%)",
            share * 100.0,
            settings.max_deactivations,
            settings.max_deactivation_share * 100.0
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-deactivations {deactivations}` once"
        ),
    })
}
