//! The retirement grace period: a group we created is retired only once it has been empty for
//! the configured number of days, counted from the first run that saw it empty.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::ids::ExternalId;

use super::{GroupNote, GroupOperation, GroupPlan};

/// What the grace period decided for this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grace {
    /// Every group the plan wanted to retire, with the day it was first seen empty (today for
    /// newly empty ones): what the state store should remember.
    pub empty: BTreeMap<ExternalId, Date>,
}

/// Takes out of `plan` the retirements whose group has been empty fewer than `days` days, with a
/// note for each. `empty_since` is what earlier runs remembered.
pub fn apply_grace(
    plan: &mut GroupPlan,
    empty_since: &BTreeMap<ExternalId, Date>,
    today: Date,
    days: u32,
) -> Grace {
    let mut grace = Grace::default();
    let mut notes = Vec::new();
    plan.steps.retain(|step| {
        let GroupOperation::RetireGroup { external_id, .. } = &step.operation else {
            return true;
        };
        let since = empty_since.get(external_id).copied().unwrap_or(today);
        grace.empty.insert(external_id.clone(), since);
        let empty_days = (today - since).get_days().max(0);
        if empty_days >= i32::try_from(days).unwrap_or(i32::MAX) {
            return true;
        }
        notes.push(GroupNote {
            group: external_id.clone(),
            kind: super::GroupNoteKind::RetirementGrace,
            message: format!(
                "empty since {since}: retired after {days} days empty, unless it gets members again"
            ),
        });
        false
    });
    plan.notes.extend(notes);
    plan.notes.sort();
    grace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_plan::GroupStep;
    use jiff::civil::date;

    fn plan_retiring(ids: &[&str]) -> GroupPlan {
        GroupPlan {
            steps: ids
                .iter()
                .map(|id| GroupStep {
                    operation: GroupOperation::RetireGroup {
                        target_id: format!("t-{id}").into(),
                        external_id: (*id).into(),
                        display_name: id.to_string(),
                    },
                    reason: "empty".into(),
                })
                .collect(),
            ..GroupPlan::default()
        }
    }

    #[test]
    fn no_grace_retires_at_once() {
        let mut plan = plan_retiring(&["grp:a"]);
        let grace = apply_grace(&mut plan, &BTreeMap::new(), date(2026, 11, 27), 0);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(grace.empty["grp:a"], date(2026, 11, 27));
    }

    #[test]
    fn a_group_waits_until_it_has_been_empty_long_enough() {
        let today = date(2026, 11, 27);
        let remembered = BTreeMap::from([
            ("grp:old".into(), date(2026, 11, 10)),
            ("grp:recent".into(), date(2026, 11, 25)),
        ]);
        let mut plan = plan_retiring(&["grp:old", "grp:recent", "grp:new"]);
        let grace = apply_grace(&mut plan, &remembered, today, 7);
        let left: Vec<&str> = plan
            .steps
            .iter()
            .map(|s| s.operation.external_id().as_str())
            .collect();
        assert_eq!(left, ["grp:old"]);
        assert_eq!(plan.notes.len(), 2);
        assert_eq!(grace.empty["grp:new"], today);
        assert_eq!(grace.empty["grp:recent"], date(2026, 11, 25));
    }
}
