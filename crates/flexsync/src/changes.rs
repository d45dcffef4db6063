//! Every change of a run, named for people: who (name and email beside the Flex id), what
//! (Winningtemp's words, each attribute before and after), why, and what came of it. The JSON
//! report carries them; the terminal summary and the HTML page render the same list.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use flexsync_core::current::{Attribute, Current};
use flexsync_core::desired::{Desired, UserValues};
use flexsync_core::group_plan::{GroupOperation, GroupPlan};
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use flexsync_core::plan::{self, Change, Operation, Plan};
use flexsync_core::retry_hold::Deferred;
use flexsync_winningtemp::StepOutcome;

/// One change to a user or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedChange {
    pub external_id: ExternalId,
    /// First and last name, or the group's name.
    pub name: String,
    /// The user's work email (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub action: OperationKind,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeChange>,
    pub reason: String,
    pub result: ChangeResult,
}

impl NamedChange {
    /// Each attribute as people read it: `givenName: Ana -> Anna` where a value changes,
    /// `joined: Anna Svensson <anna@example.se>` where there is only a new value to tell.
    pub fn attribute_lines(&self) -> Vec<String> {
        let before_matters = shows_before(self.action);
        self.attributes
            .iter()
            .map(|a| attribute_line(a, before_matters))
            .collect()
    }
}

/// Whether an action's attributes are read as before and after (an update) or as the values
/// it sets (a creation, a membership change).
pub fn shows_before(action: OperationKind) -> bool {
    !matches!(
        action,
        OperationKind::Create
            | OperationKind::CreateGroup
            | OperationKind::AddMembers
            | OperationKind::RemoveMembers
            | OperationKind::SetGroupManagers
    )
}

/// `attribute: before -> after`, or `attribute: value` when the before does not matter.
pub fn attribute_line(change: &AttributeChange, before_matters: bool) -> String {
    let after = change.after.as_deref().unwrap_or("(none)");
    if before_matters {
        let before = change.before.as_deref().unwrap_or("(none)");
        format!("{}: {before} -> {after}", change.attribute)
    } else {
        format!("{}: {after}", change.attribute)
    }
}

/// One attribute before and after. Birth dates are shown as changed, never quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    pub attribute: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What came of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChangeResult {
    /// Planned only: a plan, or a sync a guard refused.
    Planned,
    Ok,
    Failed {
        error: String,
    },
    Skipped {
        why: String,
    },
}

/// What the run knows about the people and groups it names.
pub struct Names<'a> {
    pub desired: &'a Desired,
    pub current: &'a Current,
}

impl Names<'_> {
    /// Name and email of a user: from Flex, or from what Winningtemp holds for a leaver.
    pub(crate) fn user(&self, external_id: &ExternalId) -> (String, Option<String>) {
        let values = self
            .desired
            .users
            .get(external_id)
            .map(|u| &u.values)
            .or_else(|| {
                self.current
                    .users
                    .iter()
                    .find(|u| u.external_id.as_ref() == Some(external_id))
                    .map(|u| &u.values)
            });
        if let Some(values) = values {
            return (full_name(values), Some(values.user_name.clone()));
        }
        match self.desired.out_of_scope.get(external_id) {
            Some(scoped) if !scoped.name.is_empty() => (scoped.name.clone(), scoped.email.clone()),
            _ => (external_id.to_string(), None),
        }
    }

    /// A user's name by target id (a manager the target links to).
    fn by_target_id(&self, target_id: &TargetId) -> String {
        self.current
            .users
            .iter()
            .find(|u| &u.id == target_id)
            .map_or_else(|| target_id.to_string(), |u| person(&u.values))
    }

    /// Ids of accounts (target ids, or the Flex ids they carry) in a text, named: "taken by
    /// user 25dd…" reads "taken by user Anna Svensson <anna@example.se> (25dd…)".
    fn name_target_ids(&self, text: &str) -> String {
        text.split(' ')
            .map(|word| {
                let id = word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-'));
                let account = (!id.is_empty())
                    .then(|| {
                        self.current.users.iter().find(|u| {
                            u.id.as_str() == id
                                || u.external_id.as_ref().is_some_and(|e| e.as_str() == id)
                        })
                    })
                    .flatten();
                match account {
                    Some(user) => word.replacen(id, &format!("{} ({id})", person(&user.values)), 1),
                    None => word.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn manager(&self, external_id: &ExternalId) -> String {
        match self.user(external_id) {
            (name, Some(email)) => format!("{name} <{email}>"),
            (name, None) => name,
        }
    }

    fn group(&self, external_id: &ExternalId) -> String {
        self.desired.groups.get(external_id).map_or_else(
            || external_id.to_string(),
            |g| {
                if g.path.is_empty() {
                    g.display_name.clone()
                } else {
                    g.path.join(" > ")
                }
            },
        )
    }
}

fn full_name(values: &UserValues) -> String {
    format!("{} {}", values.given_name, values.family_name)
        .trim()
        .to_string()
}

/// "Anna Svensson <anna.svensson@example.se>".
fn person(values: &UserValues) -> String {
    format!("{} <{}>", full_name(values), values.user_name)
}

/// The change list of a run: every step of both plans with its outcome, and the steps put off
/// because their record failed lately.
pub fn named_changes(
    names: &Names<'_>,
    plan: &Plan,
    group_plan: &GroupPlan,
    deferred: &[Deferred],
    outcomes: Option<&[StepOutcome]>,
) -> Vec<NamedChange> {
    let mut results = Results::new(outcomes);
    let mut changes = Vec::new();
    for step in &plan.steps {
        let external_id = step.operation.external_id();
        let (name, email) = names.user(external_id);
        changes.push(NamedChange {
            external_id: external_id.clone(),
            name,
            email,
            action: step.operation.kind(),
            attributes: user_attributes(names, &step.operation),
            reason: step.reason.clone(),
            result: match results.next(external_id, step.operation.kind()) {
                ChangeResult::Failed { error } => ChangeResult::Failed {
                    error: names.name_target_ids(&error),
                },
                other => other,
            },
        });
    }
    for step in &group_plan.steps {
        let external_id = step.operation.external_id();
        changes.push(NamedChange {
            external_id: external_id.clone(),
            name: group_name(names, &step.operation),
            email: None,
            action: step.operation.kind(),
            attributes: group_attributes(names, &step.operation),
            reason: names.name_target_ids(&step.reason),
            result: results.next(external_id, step.operation.kind()),
        });
    }
    for waiting in deferred {
        let (name, email) = names.user(&waiting.external_id);
        let why = if waiting.held {
            format!(
                "held after failing ({}); tried again at {} or when its data changes",
                waiting.class.as_str(),
                minutes(waiting.next_try)
            )
        } else {
            format!(
                "failed lately; tried again at {}",
                minutes(waiting.next_try)
            )
        };
        changes.push(NamedChange {
            external_id: waiting.external_id.clone(),
            name,
            email,
            action: waiting.kind,
            attributes: Vec::new(),
            reason: "put off: its record failed lately".into(),
            result: ChangeResult::Skipped { why },
        });
    }
    changes
}

/// "2026-12-07 11:38 CET": a retry time as people read it, in this machine's zone.
fn minutes(at: jiff::Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Outcomes in the order they ran, looked up by (external id, action); `None` when the run
/// wrote nothing (a plan, or a refused sync).
struct Results {
    written: bool,
    by_step: BTreeMap<(ExternalId, OperationKind), VecDeque<StepOutcome>>,
}

impl Results {
    fn new(outcomes: Option<&[StepOutcome]>) -> Results {
        let mut by_step: BTreeMap<_, VecDeque<StepOutcome>> = BTreeMap::new();
        for outcome in outcomes.unwrap_or_default() {
            by_step
                .entry((outcome.external_id.clone(), outcome.kind))
                .or_default()
                .push_back(outcome.clone());
        }
        Results {
            written: outcomes.is_some(),
            by_step,
        }
    }

    fn next(&mut self, external_id: &ExternalId, kind: OperationKind) -> ChangeResult {
        if !self.written {
            return ChangeResult::Planned;
        }
        let outcome = self
            .by_step
            .get_mut(&(external_id.clone(), kind))
            .and_then(VecDeque::pop_front);
        match outcome {
            None => ChangeResult::Skipped {
                why: "not carried out in this run".into(),
            },
            Some(outcome) => match (outcome.error_message(), &outcome.target_id, &outcome.note) {
                (Some(error), _, _) => ChangeResult::Failed {
                    error: error.to_string(),
                },
                (None, None, Some(note)) => ChangeResult::Skipped { why: note.clone() },
                _ => ChangeResult::Ok,
            },
        }
    }
}

fn user_attributes(names: &Names<'_>, operation: &Operation) -> Vec<AttributeChange> {
    match operation {
        Operation::CreateUser {
            values, attributes, ..
        } => attributes
            .iter()
            .filter_map(|attribute| {
                let after = plan::value_text(values, attribute)?;
                Some(shown(&Change {
                    attribute: attribute.clone(),
                    before: None,
                    after: Some(after),
                }))
            })
            .collect(),
        Operation::AdoptUser { changes, .. } | Operation::UpdateUser { changes, .. } => {
            changes.iter().map(shown).collect()
        }
        Operation::ReactivateUser { changes, .. } => with_active(changes, false, true),
        Operation::DeactivateUser { changes, .. } => with_active(changes, true, false),
        Operation::SetManager {
            manager_external_id,
            before,
            ..
        } => vec![AttributeChange {
            attribute: Attribute::Manager.name(),
            before: before.as_ref().map(|id| names.by_target_id(id)),
            after: manager_external_id.as_ref().map(|id| names.manager(id)),
        }],
    }
}

/// A pause or reactivation: `active` before and after, then whatever else changes with it.
fn with_active(changes: &[Change], before: bool, after: bool) -> Vec<AttributeChange> {
    let active = Attribute::Active.name();
    let mut shown_changes: Vec<AttributeChange> = changes.iter().map(shown).collect();
    if !shown_changes.iter().any(|c| c.attribute == active) {
        shown_changes.insert(
            0,
            AttributeChange {
                attribute: active,
                before: Some(before.to_string()),
                after: Some(after.to_string()),
            },
        );
    }
    shown_changes
}

/// A change as people may read it: birth dates are said to change, never quoted.
pub(crate) fn shown(change: &Change) -> AttributeChange {
    let hidden = change.attribute == Attribute::BirthDate;
    let mask = |value: &Option<String>| match value {
        Some(_) if hidden => Some("(set)".to_string()),
        other => other.clone(),
    };
    AttributeChange {
        attribute: change.attribute.name(),
        before: mask(&change.before),
        after: mask(&change.after),
    }
}

fn group_name(names: &Names<'_>, operation: &GroupOperation) -> String {
    match operation {
        GroupOperation::CreateGroup { display_name, .. }
        | GroupOperation::RetireGroup { display_name, .. } => display_name.clone(),
        other => names.group(other.external_id()),
    }
}

fn group_attributes(names: &Names<'_>, operation: &GroupOperation) -> Vec<AttributeChange> {
    let change = |attribute: &str, before: Option<String>, after: Option<String>| {
        vec![AttributeChange {
            attribute: attribute.to_string(),
            before,
            after,
        }]
    };
    let people = |ids: &[ExternalId]| {
        let named: Vec<String> = ids
            .iter()
            .map(|id| match names.user(id) {
                (name, Some(email)) => format!("{name} <{email}>"),
                (name, None) => name,
            })
            .collect();
        Some(named.join(", "))
    };
    match operation {
        GroupOperation::CreateGroup { .. } | GroupOperation::RetireGroup { .. } => Vec::new(),
        GroupOperation::RenameGroup { before, after, .. } => {
            change("displayName", Some(before.clone()), Some(after.clone()))
        }
        GroupOperation::MoveGroup { before, after, .. } => change(
            "parent",
            before.as_ref().map(|p| names.group(p)),
            after.as_ref().map(|p| names.group(p)),
        ),
        GroupOperation::AddMembers { users, .. } => change("joined", None, people(users)),
        GroupOperation::RemoveMembers { users, others, .. } if users.is_empty() => {
            let named: Vec<String> = others.iter().map(|id| names.by_target_id(id)).collect();
            change("left", None, Some(named.join(", ")))
        }
        GroupOperation::RemoveMembers { users, .. } => change("left", None, people(users)),
        GroupOperation::SetGroupManagers { managers, .. } => {
            change("managers now", None, people(managers))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::current::TargetUser;

    #[test]
    fn accounts_a_server_names_by_id_are_named_for_people() {
        let other = TargetUser {
            id: "25dd7225".into(),
            external_id: None,
            values: UserValues {
                given_name: "Other".into(),
                family_name: "Person".into(),
                user_name: "clash@example.se".into(),
                ..UserValues::default()
            },
            manager_id: None,
        };
        let current = Current {
            users: vec![other],
            ..Current::default()
        };
        let desired = Desired::default();
        let names = Names {
            desired: &desired,
            current: &current,
        };
        assert_eq!(
            names.name_target_ids("PATCH /Users/25dd7225: userName taken by user 25dd7225."),
            "PATCH /Users/25dd7225: userName taken by user Other Person <clash@example.se> \
             (25dd7225)."
        );
    }
}
