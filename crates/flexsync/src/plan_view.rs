//! A plan as a readable diff: one line per operation, with before and after values.

use std::fmt::Write as _;

use flexsync_core::desired::Desired;
use flexsync_core::group_plan::{GroupOperation, GroupPlan};
use flexsync_core::plan::{Change, Operation, Plan};

fn changes_text(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.attribute.name(),
                c.before.as_deref().unwrap_or("(none)"),
                c.after.as_deref().unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `+` create, `~` change, `-` pause, `>` manager link; each with the user's email and reason.
pub fn render(plan: &Plan, desired: &Desired, limit: usize) -> String {
    let mut out = String::new();
    let who = |external_id: &str| {
        desired
            .users
            .get(external_id)
            .map(|u| format!("{} ({external_id})", u.values.user_name))
            .unwrap_or_else(|| external_id.to_string())
    };
    for step in plan.steps.iter().take(limit) {
        let line = match &step.operation {
            Operation::CreateUser {
                external_id,
                values,
                ..
            } => format!(
                "+ create   {}: {} {}",
                who(external_id),
                values.given_name,
                values.family_name
            ),
            Operation::AdoptUser {
                external_id,
                target_id,
                changes,
                ..
            } => format!(
                "~ adopt    {} = target {target_id}; {}",
                who(external_id),
                changes_text(changes)
            ),
            Operation::UpdateUser {
                external_id,
                changes,
                ..
            } => format!("~ update   {}: {}", who(external_id), changes_text(changes)),
            Operation::ReactivateUser {
                external_id,
                changes,
                ..
            } => format!(
                "+ resume   {}{}",
                who(external_id),
                if changes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", changes_text(changes))
                }
            ),
            Operation::DeactivateUser { external_id, .. } => {
                format!("- pause    {}", who(external_id))
            }
            Operation::SetManager {
                external_id,
                manager_external_id,
                ..
            } => format!(
                "> manager  {} -> {}",
                who(external_id),
                manager_external_id
                    .as_deref()
                    .map(who)
                    .unwrap_or_else(|| "(none)".into())
            ),
        };
        let _ = writeln!(out, "  {line}   [{}]", step.reason);
    }
    if plan.steps.len() > limit {
        let _ = writeln!(out, "  ... and {} more steps", plan.steps.len() - limit);
    }
    out
}

/// Group steps: `+` create, `~` rename or move, `>` members, `-` retire.
pub fn render_groups(plan: &GroupPlan, desired: &Desired, limit: usize) -> String {
    let mut out = String::new();
    let label = |external_id: &str| {
        desired
            .groups
            .get(external_id)
            .map(|g| g.path.join(" / "))
            .unwrap_or_else(|| external_id.to_string())
    };
    for step in plan.steps.iter().take(limit) {
        let line = match &step.operation {
            GroupOperation::CreateGroup { external_id, .. } => {
                format!("+ group    {}", label(external_id))
            }
            GroupOperation::RenameGroup { before, after, .. } => {
                format!("~ rename   group {before} -> {after}")
            }
            GroupOperation::MoveGroup {
                external_id,
                before,
                after,
                ..
            } => format!(
                "~ move     {}: parent {} -> {}",
                label(external_id),
                before.as_deref().unwrap_or("(top)"),
                after.as_deref().unwrap_or("(top)")
            ),
            GroupOperation::AddMembers {
                external_id, users, ..
            } => format!("> members  {}: +{} users", label(external_id), users.len()),
            GroupOperation::RemoveMembers {
                external_id, users, ..
            } => format!("> members  {}: -{} users", label(external_id), users.len()),
            GroupOperation::RetireGroup { display_name, .. } => {
                format!("- retire   group {display_name}")
            }
        };
        let _ = writeln!(out, "  {line}   [{}]", step.reason);
    }
    if plan.steps.len() > limit {
        let _ = writeln!(
            out,
            "  ... and {} more group steps",
            plan.steps.len() - limit
        );
    }
    out
}
