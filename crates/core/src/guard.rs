//! Guards judge a plan before anything is written, and refuse plans that look like the result
//! of bad source data: an empty or shrunken source, or more users paused or groups retired than
//! an operator would expect. A plan's identity ([`PlanId`]) lets an approval name exactly the
//! plan that was refused.

use serde::{Deserialize, Serialize};

use crate::current::Current;
use crate::desired::Desired;
use crate::group_plan::{GroupOperation, GroupPlan};
use crate::plan::Plan;

/// Thresholds, from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardSettings {
    /// Refuse when more users than this would be paused.
    pub max_deactivations: usize,
    /// Refuse when more than this share (0.0..=1.0) of the managed, active users would be paused.
    pub max_deactivation_share: f64,
    /// Paused users up to this count are always allowed, whatever their share (small orgs).
    pub deactivation_floor: usize,
    /// Refuse when the source holds more than this share (0.0..=1.0) fewer employee records
    /// than at the last successful run.
    pub max_source_drop_share: f64,
    /// Refuse when more groups than this would be retired.
    pub max_group_retirements: usize,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            max_deactivations: 50,
            max_deactivation_share: 0.10,
            deactivation_floor: 5,
            max_source_drop_share: 0.2,
            max_group_retirements: 10,
        }
    }
}

/// What the operator let through for this one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// `--allow-pauses N`: up to N deactivations pass whatever the thresholds say.
    pub deactivations: Option<usize>,
    /// `--allow-source-drop`: the source may have shrunk beyond `max_source_drop_share`.
    #[serde(default)]
    pub source_drop: bool,
    /// `--allow-group-retirements N`: up to N group retirements pass.
    #[serde(default)]
    pub group_retirements: Option<usize>,
    /// `--retry-held`: records held after failing are tried in this run (the cause was mended
    /// outside Flex: in Winningtemp, or by an upgrade).
    #[serde(default)]
    pub retry_held: bool,
}

/// Which guard refused a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardId {
    /// Flex returned no employees at all.
    EmptySource,
    /// The source shrank by more than the allowed share since the last completed sync.
    SourceDrop,
    /// Too many users would be paused over SCIM.
    Deactivations,
    /// Too many groups would be retired.
    GroupRetirements,
    /// Too many users would turn inactive or vanish from the delivered users file.
    FilePauses,
}

impl GuardId {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardId::EmptySource => "empty_source",
            GuardId::SourceDrop => "source_drop",
            GuardId::Deactivations => "deactivations",
            GuardId::GroupRetirements => "group_retirements",
            GuardId::FilePauses => "file_pauses",
        }
    }
}

impl std::fmt::Display for GuardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for GuardId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a plan was refused, and how to let it through once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub guard: GuardId,
    pub problem: String,
    pub remedy: String,
}

/// What identifies a plan for `flexsync approve`: 16 hex digits over everything it would write
/// (FNV-1a over the JSON of the user and group operations and the files to deliver), so an
/// approval lets through exactly the plan that was refused and nothing that differs from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanId(pub String);

impl PlanId {
    /// The identity of a user plan, a group plan and the rendered files (name, content).
    pub fn of(plan: &Plan, group_plan: &GroupPlan, files: &[(String, String)]) -> PlanId {
        let users: Vec<_> = plan.steps.iter().map(|s| &s.operation).collect();
        let groups: Vec<_> = group_plan.steps.iter().map(|s| &s.operation).collect();
        let text = serde_json::to_string(&(users, groups, files)).unwrap_or_default();
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        PlanId(format!("{hash:016x}"))
    }
}

impl std::fmt::Display for PlanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of `RetireGroup` steps in a group plan, for [`judge`].
pub fn group_retirements(plan: &GroupPlan) -> usize {
    plan.steps
        .iter()
        .filter(|s| matches!(s.operation, GroupOperation::RetireGroup { .. }))
        .count()
}

/// Judges a plan; `None` lets it through. `last_source_records` is the source record count of
/// the last successful run (None on the first run); `group_retirements` the number of groups
/// the group plan retires. The guards are judged in a fixed order and the first that trips is
/// returned: empty source, source drop, deactivations, group retirements.
pub fn judge(
    plan: &Plan,
    desired: &Desired,
    current: &Current,
    settings: &GuardSettings,
    allowance: &Allowance,
    last_source_records: Option<usize>,
    group_retirements: usize,
) -> Option<Refusal> {
    if desired.source_records == 0 {
        return Some(Refusal {
            guard: GuardId::EmptySource,
            problem: "Flex returned no employees for the configured companies".into(),
            remedy: "check the company numbers and the API user's rights; nothing was written"
                .into(),
        });
    }
    source_drop(
        desired.source_records,
        last_source_records,
        settings,
        allowance,
    )
    .or_else(|| deactivations(plan, current, settings, allowance))
    .or_else(|| group_retirement(group_retirements, settings, allowance))
}

fn source_drop(
    records: usize,
    last: Option<usize>,
    settings: &GuardSettings,
    allowance: &Allowance,
) -> Option<Refusal> {
    let last = last.filter(|last| *last > records)?;
    let share = (last - records) as f64 / last as f64;
    if share <= settings.max_source_drop_share || allowance.source_drop {
        return None;
    }
    Some(Refusal {
        guard: GuardId::SourceDrop,
        problem: format!(
            "Flex returned {records} employee records, {:.0}% fewer than the {last} of the last \
             successful run (limit: {:.0}%)",
            share * 100.0,
            settings.max_source_drop_share * 100.0
        ),
        remedy: "check that every configured company was read in full; if the drop is real, run \
                 `flexsync sync --allow-source-drop` once"
            .into(),
    })
}

fn group_retirement(
    retirements: usize,
    settings: &GuardSettings,
    allowance: &Allowance,
) -> Option<Refusal> {
    if retirements <= settings.max_group_retirements
        || allowance
            .group_retirements
            .is_some_and(|n| retirements <= n)
    {
        return None;
    }
    Some(Refusal {
        guard: GuardId::GroupRetirements,
        problem: format!(
            "{retirements} groups would be retired (limit: {})",
            settings.max_group_retirements
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-group-retirements {retirements}` once"
        ),
    })
}

fn deactivations(
    plan: &Plan,
    current: &Current,
    settings: &GuardSettings,
    allowance: &Allowance,
) -> Option<Refusal> {
    let deactivations = plan.steps.iter().filter(|s| s.operation.pauses()).count();
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
        guard: GuardId::Deactivations,
        problem: format!(
            "{deactivations} users would be paused ({:.0}% of {managed_active} active managed users; \
             limits: {} users, {:.0}%)",
            share * 100.0,
            settings.max_deactivations,
            settings.max_deactivation_share * 100.0
        ),
        remedy: format!(
            "review `flexsync plan`, then run `flexsync sync --allow-pauses {deactivations}` once"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::current::TargetUser;
    use crate::desired::UserValues;
    use crate::group_plan::GroupStep;
    use crate::plan::Operation;
    use crate::plan::Step;

    /// `managed` active managed users in the target, the first `paused` of them paused by the
    /// plan, and `records` employee records in the source.
    fn case(managed: usize, paused: usize, records: usize) -> (Plan, Desired, Current) {
        let users: Vec<TargetUser> = (0..managed)
            .map(|i| TargetUser {
                id: format!("t{i}").into(),
                external_id: Some(format!("e{i}").into()),
                values: UserValues {
                    active: true,
                    ..UserValues::default()
                },
                manager_id: None,
            })
            .collect();
        let steps = users
            .iter()
            .take(paused)
            .map(|u| Step {
                operation: Operation::DeactivateUser {
                    target_id: u.id.clone(),
                    external_id: u.external_id.clone().unwrap_or_default(),
                    values: None,
                    changes: Vec::new(),
                },
                reason: "no longer in Flex".into(),
            })
            .collect();
        let desired = Desired {
            source_records: records,
            ..Desired::default()
        };
        let current = Current {
            users,
            ..Current::default()
        };
        (
            Plan {
                steps,
                ..Plan::default()
            },
            desired,
            current,
        )
    }

    #[test]
    fn a_plan_id_follows_what_the_plan_writes_and_nothing_else() {
        let (plan, _, _) = case(20, 10, 20);
        let groups = GroupPlan::default();
        let id = PlanId::of(&plan, &groups, &[]);
        assert_eq!(id.0.len(), 16);
        assert_eq!(id, PlanId::of(&plan.clone(), &groups, &[]));
        let mut reworded = plan.clone();
        reworded.steps[0].reason = "another reason".into();
        assert_eq!(
            id,
            PlanId::of(&reworded, &groups, &[]),
            "reasons are not written"
        );
        let (fewer, _, _) = case(20, 9, 20);
        assert_ne!(id, PlanId::of(&fewer, &groups, &[]));
        let files = [("wt_users.csv".to_string(), "a,b\n".to_string())];
        assert_ne!(id, PlanId::of(&plan, &groups, &files));
    }

    fn guard_of(
        case: &(Plan, Desired, Current),
        allowance: &Allowance,
        last: Option<usize>,
        retirements: usize,
    ) -> Option<String> {
        let (plan, desired, current) = case;
        judge(
            plan,
            desired,
            current,
            &GuardSettings::default(),
            allowance,
            last,
            retirements,
        )
        .map(|r| r.guard.to_string())
    }

    #[test]
    fn an_empty_source_is_refused_whatever_is_allowed() {
        let allow_all = Allowance {
            deactivations: Some(1000),
            source_drop: true,
            group_retirements: Some(1000),
            retry_held: true,
        };
        let guard = guard_of(&case(10, 0, 0), &allow_all, Some(10), 0);
        assert_eq!(guard.as_deref(), Some("empty_source"));
    }

    #[test]
    fn a_source_that_shrank_beyond_the_share_is_refused_until_allowed() {
        let none = Allowance::default();
        let refused = judge(
            &Plan::default(),
            &case(0, 0, 79).1,
            &Current::default(),
            &GuardSettings::default(),
            &none,
            Some(100),
            0,
        );
        let Some(refusal) = refused else {
            panic!("a drop of 21% passed");
        };
        assert_eq!(refusal.guard, "source_drop");
        assert!(refusal.problem.contains("79") && refusal.problem.contains("100"));
        assert!(refusal.remedy.contains("flexsync sync --allow-source-drop"));

        assert_eq!(guard_of(&case(0, 0, 80), &none, Some(100), 0), None);
        assert_eq!(guard_of(&case(0, 0, 150), &none, Some(100), 0), None);
        assert_eq!(guard_of(&case(0, 0, 1), &none, None, 0), None);
        let allowed = Allowance {
            source_drop: true,
            ..Allowance::default()
        };
        assert_eq!(guard_of(&case(0, 0, 1), &allowed, Some(100), 0), None);
    }

    #[test]
    fn deactivations_over_the_share_are_refused_until_allowed() {
        let none = Allowance::default();
        assert_eq!(guard_of(&case(100, 10, 100), &none, Some(100), 0), None);
        assert_eq!(
            guard_of(&case(100, 11, 100), &none, Some(100), 0).as_deref(),
            Some("deactivations")
        );
        // Up to the floor, whatever the share.
        assert_eq!(guard_of(&case(6, 5, 6), &none, None, 0), None);
        let allowed = Allowance {
            deactivations: Some(11),
            ..Allowance::default()
        };
        assert_eq!(guard_of(&case(100, 11, 100), &allowed, None, 0), None);
    }

    #[test]
    fn a_source_drop_is_named_before_the_deactivations_it_causes() {
        let guard = guard_of(&case(100, 30, 70), &Allowance::default(), Some(100), 0);
        assert_eq!(guard.as_deref(), Some("source_drop"));
    }

    #[test]
    fn group_retirements_over_the_limit_are_refused_until_allowed() {
        let none = Allowance::default();
        let (plan, desired, current) = case(10, 0, 10);
        let Some(refusal) = judge(
            &plan,
            &desired,
            &current,
            &GuardSettings::default(),
            &none,
            None,
            11,
        ) else {
            panic!("11 retirements passed");
        };
        assert_eq!(refusal.guard, "group_retirements");
        assert!(
            refusal
                .remedy
                .contains("flexsync sync --allow-group-retirements 11")
        );
        let case = (plan, desired, current);
        assert_eq!(guard_of(&case, &none, None, 10), None);
        let too_few = Allowance {
            group_retirements: Some(10),
            ..Allowance::default()
        };
        assert!(guard_of(&case, &too_few, None, 11).is_some());
        let enough = Allowance {
            group_retirements: Some(11),
            ..Allowance::default()
        };
        assert_eq!(guard_of(&case, &enough, None, 11), None);
    }

    #[test]
    fn group_retirements_counts_only_retire_steps() {
        let step = |operation| GroupStep {
            operation,
            reason: "test".into(),
        };
        let plan = GroupPlan {
            steps: vec![
                step(GroupOperation::RetireGroup {
                    target_id: "g1".into(),
                    external_id: "a".into(),
                    display_name: "A".into(),
                }),
                step(GroupOperation::CreateGroup {
                    external_id: "b".into(),
                    display_name: "B".into(),
                    parent_external_id: None,
                }),
                step(GroupOperation::RetireGroup {
                    target_id: "g2".into(),
                    external_id: "c".into(),
                    display_name: "C".into(),
                }),
            ],
            ..GroupPlan::default()
        };
        assert_eq!(group_retirements(&plan), 2);
    }
}
