//! The plan: desired + current + memory -> an ordered list of typed operations, each with a
//! reason. Pure: the same inputs always give the same plan, and planning against the state a
//! plan produces gives an empty plan.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::current::{Attribute, Current, Memory, TargetUser};
use crate::desired::{Desired, DesiredUser, Skipped, UserValues};
use crate::ids::{ExternalId, TargetId};
use crate::kind::OperationKind;

/// One attribute that will change, shown as text for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: Attribute,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A typed operation against the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a user, linked to `manager_external_id` in the same request (the manager
    /// exists by then: managers come first).
    CreateUser {
        external_id: ExternalId,
        values: UserValues,
        /// Attributes to send (those the target supports).
        attributes: Vec<Attribute>,
        manager_external_id: Option<ExternalId>,
    },
    /// Take over an existing account with the same userName and no externalId: set the
    /// externalId and the attributes in `changes`.
    AdoptUser {
        target_id: TargetId,
        external_id: ExternalId,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Change the attributes listed in `changes` to their values in `values`.
    UpdateUser {
        target_id: TargetId,
        external_id: ExternalId,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Pause a user (active = false), in the same request as any other changes (a leaver's
    /// end date): `values` holds them when `changes` is not empty.
    DeactivateUser {
        target_id: TargetId,
        external_id: ExternalId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values: Option<UserValues>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
    },
    /// Make a paused user active again, with any other changes.
    ReactivateUser {
        target_id: TargetId,
        external_id: ExternalId,
        values: UserValues,
        changes: Vec<Change>,
    },
    /// Link (or unlink, when `manager_external_id` is None) a user's manager. `target_id` is
    /// None when the user is created in this run; the writer resolves both ids when it gets here.
    SetManager {
        target_id: Option<TargetId>,
        external_id: ExternalId,
        manager_external_id: Option<ExternalId>,
        /// The target id of the manager the user has now.
        before: Option<TargetId>,
    },
}

impl Operation {
    /// The external id of the user the operation is about.
    pub fn external_id(&self) -> &ExternalId {
        match self {
            Operation::CreateUser { external_id, .. }
            | Operation::AdoptUser { external_id, .. }
            | Operation::UpdateUser { external_id, .. }
            | Operation::DeactivateUser { external_id, .. }
            | Operation::ReactivateUser { external_id, .. }
            | Operation::SetManager { external_id, .. } => external_id,
        }
    }

    /// Whether the operation takes a user from active to paused: a pause, or an adoption or
    /// update whose changes include `active: true -> false`. Guards count these.
    pub fn pauses(&self) -> bool {
        let sets_inactive = |changes: &[Change]| {
            changes
                .iter()
                .any(|c| c.attribute == Attribute::Active && c.after.as_deref() == Some("false"))
        };
        match self {
            Operation::DeactivateUser { .. } => true,
            Operation::AdoptUser { changes, .. }
            | Operation::UpdateUser { changes, .. }
            | Operation::ReactivateUser { changes, .. } => sets_inactive(changes),
            Operation::CreateUser { .. } | Operation::SetManager { .. } => false,
        }
    }

    /// A short name for counting and reports: `create`, `adopt`, `update`, ...
    pub fn kind(&self) -> OperationKind {
        match self {
            Operation::CreateUser { .. } => OperationKind::Create,
            Operation::AdoptUser { .. } => OperationKind::Adopt,
            Operation::UpdateUser { .. } => OperationKind::Update,
            Operation::DeactivateUser { .. } => OperationKind::Pause,
            Operation::ReactivateUser { .. } => OperationKind::Reactivate,
            Operation::SetManager { .. } => OperationKind::SetManager,
        }
    }
}

/// An operation and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub operation: Operation,
    pub reason: String,
}

/// A value the source has but the target cannot hold, counted per attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotSent {
    pub attribute: Attribute,
    pub users: usize,
}

/// A desired user the plan cannot act on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub external_id: ExternalId,
    pub problem: String,
}

/// A user who moved between configured companies: the account of their old Flex record is
/// re-keyed to the new one instead of being paused and replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The new Flex `Id`.
    pub external_id: ExternalId,
    /// The Flex `Id` the account carried until now.
    pub previous_external_id: ExternalId,
    pub target_id: TargetId,
}

/// Options of the plan that come from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanSettings {
    /// Winningtemp's KeepInactive rule: a user paused in the target is never made active again
    /// (other values are still updated); such users are listed in [`Plan::kept_paused`].
    pub keep_paused: bool,
}

/// The ordered operations of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub not_sent: Vec<NotSent>,
    pub conflicts: Vec<Conflict>,
    /// Target users with an external id we no longer see in Flex, left alone because their Flex
    /// record is still there but was skipped for a data-quality finding.
    pub held: Vec<ExternalId>,
    /// Manager links that cannot be made yet (the manager is not in the target and will not be
    /// created in this run); they are planned again on every run until they can be.
    pub waiting: Vec<Conflict>,
    /// Users active in Flex but paused in the target, left paused by `keep_paused`.
    #[serde(default)]
    pub kept_paused: Vec<ExternalId>,
    /// Accounts re-keyed because their person moved between configured companies.
    #[serde(default)]
    pub moves: Vec<Move>,
}

impl Plan {
    /// Steps per kind, for summaries.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for step in &self.steps {
            *counts.entry(step.operation.kind().as_str()).or_insert(0) += 1;
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The attributes compared and written besides `active`, `manager` and the extras, in a fixed
/// order.
const FIXED_ATTRIBUTES: [Attribute; 10] = [
    Attribute::UserName,
    Attribute::Email,
    Attribute::GivenName,
    Attribute::FamilyName,
    Attribute::Gender,
    Attribute::BirthDate,
    Attribute::ExcludeFromSurveys,
    Attribute::EmploymentStart,
    Attribute::EmploymentEnd,
    Attribute::Segments,
];

/// The attributes compared and written besides `active` and `manager`, in a fixed order.
fn value_attributes(values: &UserValues) -> Vec<Attribute> {
    let mut attributes = FIXED_ATTRIBUTES.to_vec();
    attributes.extend(values.extra.keys().cloned().map(Attribute::Extra));
    attributes
}

/// Whether `values` holds a value for `attribute` (what [`value_text`] tells, without the text).
fn has_value(values: &UserValues, attribute: &Attribute) -> bool {
    match attribute {
        Attribute::UserName | Attribute::GivenName | Attribute::FamilyName | Attribute::Active => {
            true
        }
        Attribute::Email => values.email.is_some(),
        Attribute::Gender => values.gender.is_some(),
        Attribute::BirthDate => values.birth_date.is_some(),
        Attribute::ExcludeFromSurveys => values.exclude_from_surveys.is_some(),
        Attribute::EmploymentStart => values.employment_start.is_some(),
        Attribute::EmploymentEnd => values.employment_end.is_some(),
        Attribute::Manager => false,
        Attribute::Segments => !values.segments.is_empty(),
        Attribute::Extra(path) => values.extra.contains_key(path),
    }
}

/// Whether the target holds every value the plan compares exactly as desired, compared as
/// typed values without building their text: the common case of a user who did not change.
/// Users it does not call identical go through [`changes`], which may still find nothing (a
/// user name in another case, an attribute the target does not hold).
fn identical(desired: &UserValues, target: &UserValues) -> bool {
    desired.user_name == target.user_name
        && desired.email == target.email
        && desired.given_name == target.given_name
        && desired.family_name == target.family_name
        && desired.gender == target.gender
        && desired.birth_date == target.birth_date
        && desired.exclude_from_surveys == target.exclude_from_surveys
        && desired.employment_start == target.employment_start
        && desired.employment_end == target.employment_end
        && desired.extra == target.extra
        && shown_segments(desired).eq(shown_segments(target))
}

/// A user's segments as people see them: category and segment name.
fn shown_segments(values: &UserValues) -> impl Iterator<Item = (&String, &String)> {
    let segments = values.segments.iter();
    segments.map(|(category, segment)| (category, &segment.name))
}

/// An attribute's value as text, for comparing and for people. `None` = no value.
pub fn value_text(values: &UserValues, attribute: &Attribute) -> Option<String> {
    match attribute {
        Attribute::UserName => Some(values.user_name.clone()),
        Attribute::Email => values.email.clone(),
        Attribute::GivenName => Some(values.given_name.clone()),
        Attribute::FamilyName => Some(values.family_name.clone()),
        Attribute::Gender => values.gender.map(|g| g.as_str().to_string()),
        Attribute::BirthDate => values.birth_date.map(|d| d.to_string()),
        Attribute::ExcludeFromSurveys => values.exclude_from_surveys.map(|b| b.to_string()),
        Attribute::EmploymentStart => values.employment_start.map(|d| d.to_string()),
        Attribute::EmploymentEnd => values.employment_end.map(|d| d.to_string()),
        Attribute::Active => Some(values.active.to_string()),
        Attribute::Manager => None,
        Attribute::Segments => (!values.segments.is_empty()).then(|| {
            let shown: Vec<String> = values
                .segments
                .iter()
                .map(|(category, segment)| format!("{category}: {}", segment.name))
                .collect();
            shown.join("; ")
        }),
        Attribute::Extra(path) => values.extra.get(path).cloned(),
    }
}

/// Emails and user names are compared without regard to case.
fn same_value(attribute: &Attribute, desired: &Option<String>, current: &Option<String>) -> bool {
    match attribute {
        Attribute::UserName | Attribute::Email => {
            desired.as_deref().map(str::to_lowercase) == current.as_deref().map(str::to_lowercase)
        }
        _ => desired == current,
    }
}

/// The supported attributes whose desired value differs from the target's.
fn changes(current: &Current, desired: &UserValues, target: &UserValues) -> Vec<Change> {
    if identical(desired, target) {
        return Vec::new();
    }
    let mut attributes = value_attributes(desired);
    // An extra mapping whose Flex field went blank has no desired value, but the target's old
    // value must still go: compare every extra the target holds for us.
    for attribute in &current.capabilities.attributes {
        if matches!(attribute, Attribute::Extra(_)) && !attributes.contains(attribute) {
            attributes.push(attribute.clone());
        }
    }
    attributes
        .into_iter()
        .filter(|attribute| current.capabilities.supports(attribute))
        .filter_map(|attribute| {
            let after = value_text(desired, &attribute);
            let before = value_text(target, &attribute);
            if after.is_none() && before.is_none() || same_value(&attribute, &after, &before) {
                return None;
            }
            Some(Change {
                attribute,
                before,
                after,
            })
        })
        .collect()
}

/// `text` in lower case, borrowed when it is already (as user names nearly always are).
fn lower_case(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// Where each target user can be found. Where a server holds two accounts with one external id
/// or user name, the one with the lowest id is found, always. The maps by id and by user name
/// are built on first use: an unchanged sync never needs them.
struct TargetIndex<'a> {
    users: &'a [TargetUser],
    by_external_id: HashMap<&'a str, &'a TargetUser>,
    by_id: OnceCell<HashMap<&'a str, &'a TargetUser>>,
    by_user_name: OnceCell<HashMap<Cow<'a, str>, &'a TargetUser>>,
}

/// Keeps `user` under `key` unless a user with a lower id is there already.
fn keep_lowest<'a, K: Eq + std::hash::Hash>(
    map: &mut HashMap<K, &'a TargetUser>,
    key: K,
    user: &'a TargetUser,
) {
    map.entry(key)
        .and_modify(|kept| {
            if user.id < kept.id {
                *kept = user;
            }
        })
        .or_insert(user);
}

impl<'a> TargetIndex<'a> {
    fn new(current: &'a Current) -> TargetIndex<'a> {
        let mut by_external_id = HashMap::with_capacity(current.users.len());
        for user in &current.users {
            if let Some(external_id) = user.external_id.as_deref() {
                keep_lowest(&mut by_external_id, external_id, user);
            }
        }
        TargetIndex {
            users: &current.users,
            by_external_id,
            by_id: OnceCell::new(),
            by_user_name: OnceCell::new(),
        }
    }

    fn by_id(&self) -> &HashMap<&'a str, &'a TargetUser> {
        self.by_id.get_or_init(|| {
            let users = self.users.iter();
            users.map(|user| (user.id.as_str(), user)).collect()
        })
    }

    fn by_user_name(&self) -> &HashMap<Cow<'a, str>, &'a TargetUser> {
        self.by_user_name.get_or_init(|| {
            let mut by_user_name = HashMap::with_capacity(self.users.len());
            for user in self.users {
                keep_lowest(&mut by_user_name, lower_case(&user.values.user_name), user);
            }
            by_user_name
        })
    }

    /// The target user that is this desired user: by external id, then by our remembered link.
    fn linked(&self, desired: &DesiredUser, memory: &Memory) -> Option<&'a TargetUser> {
        self.by_external_id
            .get(desired.external_id.as_str())
            .copied()
            .or_else(|| {
                let target_id = memory.links.get(&desired.external_id)?;
                let user = self.by_id().get(target_id.as_str()).copied()?;
                // A remembered link is only trusted while the account carries no other external id.
                match &user.external_id {
                    Some(other) if other != &desired.external_id => None,
                    _ => Some(user),
                }
            })
    }

    /// The account of `user`'s old Flex record when the person moved between configured
    /// companies: it holds their userName under an external id that is no longer a desired user,
    /// and it is the same person (see [`same_person`]).
    fn moved_from(&self, desired: &Desired, user: &DesiredUser) -> Option<&'a TargetUser> {
        let holder = self
            .by_user_name()
            .get(&lower_case(&user.values.user_name))
            .copied()?;
        let old = holder.external_id.as_deref()?;
        let moved = old != user.external_id
            && !desired.users.contains_key(old)
            && same_person(&user.values, &holder.values);
        moved.then_some(holder)
    }

    /// The target id that a desired manager has now, if it exists in the target.
    fn manager_target_id<'m>(
        &'m self,
        external_id: &str,
        memory: &'m Memory,
    ) -> Option<&'m TargetId> {
        self.by_external_id
            .get(external_id)
            .map(|u| &u.id)
            .or_else(|| {
                let id = memory.links.get(external_id)?;
                self.by_id().contains_key(id.as_str()).then_some(id)
            })
    }
}

/// The same given and family name (ignoring case and surrounding spaces), and the same birth
/// date when both have one.
fn same_person(desired: &UserValues, target: &UserValues) -> bool {
    let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    same(&desired.given_name, &target.given_name)
        && same(&desired.family_name, &target.family_name)
        && match (desired.birth_date, target.birth_date) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Works out the operations that take the target from `current` to `desired`.
pub fn plan(
    desired: &Desired,
    current: &Current,
    memory: &Memory,
    settings: &PlanSettings,
) -> Plan {
    let mut planner = Planner::new(desired, current, memory, settings);
    // Managers before their reports, so that most links go in the create request itself.
    let mut ordered: Vec<&DesiredUser> = desired.users.values().map(|user| &**user).collect();
    ordered
        .sort_by(|a, b| (a.manager_depth, &a.external_id).cmp(&(b.manager_depth, &b.external_id)));
    for user in ordered {
        planner.user(user);
    }
    planner.leavers();
    planner.finish()
}

/// A plan being worked out: the inputs, and the steps and notes found so far.
struct Planner<'a> {
    desired: &'a Desired,
    current: &'a Current,
    memory: &'a Memory,
    index: TargetIndex<'a>,
    /// The target holds managers.
    manage_managers: bool,
    keep_paused: bool,
    /// Target users that belong to a desired user; the rest may be leavers.
    claimed: HashSet<&'a str>,
    adopts: Vec<Step>,
    creates: Vec<Step>,
    updates: Vec<Step>,
    managers: Vec<Step>,
    deactivations: Vec<Step>,
    conflicts: Vec<Conflict>,
    waiting: Vec<Conflict>,
    kept_paused: Vec<ExternalId>,
    moves: Vec<Move>,
    held: Vec<ExternalId>,
}

impl<'a> Planner<'a> {
    fn new(
        desired: &'a Desired,
        current: &'a Current,
        memory: &'a Memory,
        settings: &PlanSettings,
    ) -> Planner<'a> {
        Planner {
            desired,
            current,
            memory,
            index: TargetIndex::new(current),
            manage_managers: current.capabilities.supports(&Attribute::Manager),
            keep_paused: settings.keep_paused,
            claimed: HashSet::with_capacity(current.users.len()),
            adopts: Vec::new(),
            creates: Vec::new(),
            updates: Vec::new(),
            managers: Vec::new(),
            deactivations: Vec::new(),
            conflicts: Vec::new(),
            waiting: Vec::new(),
            kept_paused: Vec::new(),
            moves: Vec::new(),
            held: Vec::new(),
        }
    }

    /// The values to write to `target` for `user`: `active` stays false when the keep-paused
    /// rule holds a paused account, and the user is then listed in `kept_paused`.
    fn values(&mut self, user: &'a DesiredUser, target: &TargetUser) -> Cow<'a, UserValues> {
        let mut values = Cow::Borrowed(&user.values);
        if self.keep_paused && values.active && !target.values.active {
            values.to_mut().active = false;
            self.kept_paused.push(user.external_id.clone());
        }
        values
    }

    /// A manager can be linked once they exist in the target: now, or after this run's creates.
    fn linkable(&self, manager: &str) -> bool {
        self.index.manager_target_id(manager, self.memory).is_some()
            || self.desired.users.get(manager).is_some_and(|m| {
                // Created, adopted or re-keyed in this run: only managers active in Flex are.
                let holder = self
                    .index
                    .by_user_name()
                    .get(&lower_case(&m.values.user_name));
                let free = holder
                    .is_none_or(|t| t.external_id.as_deref().is_none_or(|e| e == m.external_id));
                m.values.active && (free || self.index.moved_from(self.desired, m).is_some())
            })
    }

    /// The steps for one desired user.
    fn user(&mut self, user: &'a DesiredUser) {
        let linkable = user
            .manager_external_id
            .as_deref()
            .is_none_or(|m| !self.manage_managers || self.linkable(m));
        if let Some(manager) = user.manager_external_id.as_deref()
            && self.manage_managers
            && !linkable
        {
            self.waiting.push(Conflict {
                external_id: user.external_id.clone(),
                problem: format!(
                    "manager {manager} is not in the target and is not active in Flex: \
                         linked once they are"
                ),
            });
        }
        let manage_managers = self.manage_managers && linkable;
        match self.index.linked(user, self.memory) {
            Some(target) => self.linked(user, target, manage_managers),
            None => self.unlinked(user, manage_managers),
        }
    }

    /// A user whose account is known: by its externalId, or by our remembered link.
    fn linked(&mut self, user: &'a DesiredUser, target: &'a TargetUser, manage_managers: bool) {
        self.claimed.insert(&target.id);
        let values = self.values(user, target);
        let diff = changes(self.current, &values, &target.values);
        let relinked = target.external_id.as_deref() != Some(user.external_id.as_str());
        if relinked {
            let reason = "our remembered account lost its externalId: set it again";
            let values = values.into_owned();
            self.adopts
                .push(adopt(target, user, values, diff, reason.into()));
        } else if !diff.is_empty() || values.active != target.values.active {
            let written = self.memory.written.get(&user.external_id);
            let reason = crate::drift::update_reason(&diff, written);
            let flipped_by_hand =
                crate::drift::lifecycle_drift(values.active, written).map(|flip| {
                    if diff.is_empty() {
                        flip
                    } else {
                        format!("{flip}; {reason}")
                    }
                });
            push_lifecycle(
                &mut self.updates,
                &mut self.deactivations,
                user,
                values,
                target,
                Diff {
                    changes: diff,
                    reason,
                    flipped_by_hand,
                },
            );
        }
        if manage_managers {
            self.link_manager(user, target);
        }
    }

    /// A user with no known account: adopt one that carries its userName, take over its old
    /// account after a move between companies, report a taken userName, or create it.
    fn unlinked(&mut self, user: &'a DesiredUser, manage_managers: bool) {
        let external_id = &user.external_id;
        let holder = self
            .index
            .by_user_name()
            .get(&lower_case(&user.values.user_name))
            .copied();
        if holder.is_none() && user.values.active && self.moved_account(user, manage_managers) {
            return;
        }
        match holder {
            // Never adopt an account only to pause it: accounts without an externalId are not
            // ours until someone active in Flex claims them.
            Some(target) if target.external_id.is_none() && !user.values.active => {}
            Some(target)
                if target.external_id.is_none() && !self.claimed.contains(target.id.as_str()) =>
            {
                let reason = format!(
                    "an account named {} exists without externalId: adopt it",
                    user.values.user_name
                );
                self.adopt(user, target, reason, manage_managers);
            }
            Some(target)
                if user.values.active
                    && !self.claimed.contains(target.id.as_str())
                    && self.index.moved_from(self.desired, user).is_some() =>
            {
                let previous = target.external_id.clone().unwrap_or_default();
                let reason = format!("moved between companies: {previous} -> {external_id}");
                self.moves.push(Move {
                    external_id: external_id.clone(),
                    previous_external_id: previous,
                    target_id: target.id.clone(),
                });
                self.adopt(user, target, reason, manage_managers);
            }
            // Someone paused in Flex needs no account, so a taken userName is no conflict.
            Some(_) if !user.values.active => {}
            Some(target) => self.conflicts.push(Conflict {
                external_id: external_id.clone(),
                problem: format!(
                    "userName {} is taken by target user {} (externalId {}){}",
                    user.values.user_name,
                    target.id,
                    target.external_id.as_deref().unwrap_or("none"),
                    match target.external_id.as_deref() {
                        Some(old) if !self.desired.users.contains_key(old) =>
                            "; not taken as a move between companies: names or birth date differ",
                        _ => "",
                    },
                ),
            }),
            None if user.values.active => self.create(user, manage_managers),
            None => {}
        }
    }

    /// Takes over the account of the person's record in another configured company (the same
    /// person by `[companies] same_person`, e.g. by employment number with a new work email).
    fn moved_account(&mut self, user: &'a DesiredUser, manage_managers: bool) -> bool {
        let external_id = &user.external_id;
        let old = self
            .desired
            .same_person
            .iter()
            .filter(|(_, kept)| *kept == external_id)
            .find_map(|(old, _)| self.index.by_external_id.get(old.as_str()).copied())
            .filter(|target| !self.claimed.contains(target.id.as_str()));
        let Some(target) = old else {
            return false;
        };
        let previous = target.external_id.clone().unwrap_or_default();
        let reason = format!(
            "moved between companies: {previous} -> {external_id} (the same person by \
             [companies] same_person)"
        );
        self.moves.push(Move {
            external_id: external_id.clone(),
            previous_external_id: previous,
            target_id: target.id.clone(),
        });
        self.adopt(user, target, reason, manage_managers);
        true
    }

    /// Takes over `target` for `user`, with its changes and manager link.
    fn adopt(
        &mut self,
        user: &'a DesiredUser,
        target: &'a TargetUser,
        reason: String,
        manage_managers: bool,
    ) {
        self.claimed.insert(&target.id);
        let values = self.values(user, target);
        let diff = changes(self.current, &values, &target.values);
        self.adopts
            .push(adopt(target, user, values.into_owned(), diff, reason));
        if manage_managers {
            self.link_manager(user, target);
        }
    }

    fn link_manager(&mut self, user: &DesiredUser, target: &TargetUser) {
        let step = manager_step(user, Some(target), &self.index, self.memory).map(|mut step| {
            if step.reason == NO_MANAGER
                && let Some(why) = unsynced_manager(self.desired, &user.external_id)
            {
                step.reason = format!("the manager Flex names is not synced: {why}");
            }
            step
        });
        self.managers.extend(step);
    }

    /// Creates `user`. Its manager exists by the time it is created (managers come first:
    /// found, adopted or created earlier in this run), so the link goes in the request. A
    /// manager whose own create fails is linked by a later run's plan.
    fn create(&mut self, user: &DesiredUser, manage_managers: bool) {
        let attributes = create_attributes(self.current, &user.values);
        let manager_external_id = if manage_managers {
            user.manager_external_id.clone()
        } else {
            None
        };
        self.creates.push(Step {
            operation: Operation::CreateUser {
                external_id: user.external_id.clone(),
                values: user.values.clone(),
                attributes,
                manager_external_id,
            },
            reason: "active in Flex, not in the target".into(),
        });
    }

    /// Accounts no desired user claimed: paused when their person left, held when their Flex
    /// record has findings but the person is still employed, reported when they duplicate a
    /// managed account. Accounts without an externalId are never touched.
    fn leavers(&mut self) {
        let mut leavers: Vec<&TargetUser> = self
            .current
            .users
            .iter()
            .filter(|u| !self.claimed.contains(u.id.as_str()))
            .collect();
        leavers.sort_by(|a, b| a.id.cmp(&b.id));
        for target in leavers {
            let Some(external_id) = target.external_id.as_ref() else {
                continue;
            };
            let out_of_scope = self.desired.out_of_scope.get(external_id);
            let reason = if let Some(scoped) = out_of_scope {
                format!("out of scope: {}", scoped.rule)
            } else if let Some(user) = self.desired.users.get(external_id) {
                // A second account carrying a managed user's externalId: reported, and paused
                // along with its twin when the person leaves.
                self.conflicts.push(Conflict {
                    external_id: external_id.clone(),
                    problem: format!(
                        "target user {} carries the same externalId as the account flexsync \
                         manages",
                        target.id
                    ),
                });
                if user.values.active {
                    continue;
                }
                "a duplicate account of someone who left".to_string()
            } else if let Some(skipped) = self.desired.skipped.get(external_id) {
                if *skipped == Skipped::Employed {
                    self.held.push(external_id.clone());
                    continue;
                }
                "no employment period covers today (its Flex record has findings)".to_string()
            } else {
                "no longer in Flex".to_string()
            };
            if target.values.active {
                self.deactivations.push(Step {
                    operation: Operation::DeactivateUser {
                        target_id: target.id.clone(),
                        external_id: external_id.clone(),
                        values: None,
                        changes: Vec::new(),
                    },
                    reason,
                });
            }
        }
    }

    /// The steps in their order: adoptions, creates, updates, manager links, pauses.
    fn finish(self) -> Plan {
        let mut steps = self.adopts;
        steps.extend(self.creates);
        steps.extend(self.updates);
        steps.extend(self.managers);
        steps.extend(self.deactivations);
        Plan {
            steps,
            not_sent: not_sent(self.desired, self.current),
            conflicts: self.conflicts,
            held: self.held,
            waiting: self.waiting,
            kept_paused: self.kept_paused,
            moves: self.moves,
        }
    }
}

fn active_change(active: bool) -> Change {
    Change {
        attribute: Attribute::Active,
        before: Some((!active).to_string()),
        after: Some(active.to_string()),
    }
}

/// Sets the externalId of `target` to `user`'s, with every change (including `active`).
fn adopt(
    target: &TargetUser,
    user: &DesiredUser,
    values: UserValues,
    mut diff: Vec<Change>,
    reason: String,
) -> Step {
    if values.active != target.values.active {
        diff.push(active_change(values.active));
    }
    Step {
        operation: Operation::AdoptUser {
            target_id: target.id.clone(),
            external_id: user.external_id.clone(),
            values,
            changes: diff,
        },
        reason,
    }
}

/// Update, reactivate or pause a user that is linked already. `values` are the values to
/// write: `user`'s, with `active` false where the keep-paused rule holds the account.
/// The changes an update makes, and why (a change in Flex, or drift in the target).
struct Diff {
    changes: Vec<Change>,
    reason: String,
    /// Set when `active` was flipped by hand in the target since flexsync wrote it.
    flipped_by_hand: Option<String>,
}

fn push_lifecycle(
    updates: &mut Vec<Step>,
    deactivations: &mut Vec<Step>,
    user: &DesiredUser,
    values: Cow<'_, UserValues>,
    target: &TargetUser,
    diff: Diff,
) {
    let Diff {
        changes: diff,
        reason: update_reason,
        flipped_by_hand,
    } = diff;
    let external_id = user.external_id.clone();
    let target_id = target.id.clone();
    match (values.active, target.values.active) {
        (true, false) => updates.push(Step {
            operation: Operation::ReactivateUser {
                target_id,
                external_id,
                values: values.into_owned(),
                changes: diff,
            },
            reason: flipped_by_hand.unwrap_or_else(|| "employed and in scope in Flex again".into()),
        }),
        (false, true) => deactivations.push(Step {
            operation: Operation::DeactivateUser {
                target_id,
                external_id,
                values: (!diff.is_empty()).then(|| values.into_owned()),
                changes: diff,
            },
            reason: flipped_by_hand.unwrap_or_else(|| "no employment period covers today".into()),
        }),
        (desired_active, _) => {
            if !diff.is_empty() {
                let reason = if user.values.active && !desired_active {
                    format!("{update_reason}; kept paused (keep_paused)")
                } else {
                    update_reason
                };
                updates.push(Step {
                    operation: Operation::UpdateUser {
                        target_id,
                        external_id,
                        values: values.into_owned(),
                        changes: diff,
                    },
                    reason,
                });
            }
        }
    }
}

/// The reason for unlinking a manager when Flex names none.
const NO_MANAGER: &str = "no manager in Flex";

/// Why the manager Flex names for `external_id` is not linked, from the map's finding on it (a
/// manager out of scope, unknown, the person themselves, or in a cycle), if there is one.
fn unsynced_manager(desired: &Desired, external_id: &ExternalId) -> Option<String> {
    use crate::finding::FindingKind::*;
    desired
        .findings
        .iter()
        .find(|f| {
            f.record == external_id.as_str()
                && matches!(
                    f.kind,
                    ManagerOutOfScope | UnknownManager | SelfManager | ManagerCycle
                )
        })
        .map(|f| f.problem.clone())
}

/// A `SetManager` step when the user's manager in the target is not the desired one.
fn manager_step(
    user: &DesiredUser,
    target: Option<&TargetUser>,
    index: &TargetIndex<'_>,
    memory: &Memory,
) -> Option<Step> {
    let before = target.and_then(|t| t.manager_id.as_ref());
    let wanted = user.manager_external_id.as_deref();
    let wanted_id = wanted.and_then(|m| index.manager_target_id(m, memory));
    let reason = match (wanted, wanted_id, before) {
        (None, _, None) => return None,
        (None, _, Some(_)) => NO_MANAGER,
        (Some(_), Some(id), Some(now)) if id == now => return None,
        (Some(_), Some(_), _) => "manager changed in Flex",
        (Some(_), None, _) => "link the manager once both users exist",
    };
    Some(Step {
        operation: Operation::SetManager {
            target_id: target.map(|t| t.id.clone()),
            external_id: user.external_id.clone(),
            manager_external_id: wanted.map(ExternalId::from),
            before: before.cloned(),
        },
        reason: reason.into(),
    })
}

/// The supported attributes with a value, for a create request.
fn create_attributes(current: &Current, values: &UserValues) -> Vec<Attribute> {
    let mut attributes: Vec<Attribute> = value_attributes(values)
        .into_iter()
        .filter(|a| current.capabilities.supports(a) && has_value(values, a))
        .collect();
    attributes.push(Attribute::Active);
    attributes
}

/// Mapped values the target does not advertise, counted per attribute.
fn not_sent(desired: &Desired, current: &Current) -> Vec<NotSent> {
    let supports = |attribute: &Attribute| current.capabilities.supports(attribute);
    let unsupported: Vec<&Attribute> = FIXED_ATTRIBUTES.iter().filter(|a| !supports(a)).collect();
    let supported_extras: BTreeSet<&str> = current
        .capabilities
        .attributes
        .iter()
        .filter_map(|attribute| match attribute {
            Attribute::Extra(path) => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let mut counts: BTreeMap<Attribute, usize> = BTreeMap::new();
    let mut count = |attribute: &Attribute| match counts.get_mut(attribute) {
        Some(users) => *users += 1,
        None => {
            counts.insert(attribute.clone(), 1);
        }
    };
    for user in desired.users.values() {
        for attribute in &unsupported {
            if has_value(&user.values, attribute) {
                count(attribute);
            }
        }
        for path in user.values.extra.keys() {
            if !supported_extras.contains(path.as_str()) {
                count(&Attribute::Extra(path.clone()));
            }
        }
        if user.manager_external_id.is_some() && !supports(&Attribute::Manager) {
            count(&Attribute::Manager);
        }
    }
    counts
        .into_iter()
        .map(|(attribute, users)| NotSent { attribute, users })
        .collect()
}

#[cfg(test)]
mod tests;
