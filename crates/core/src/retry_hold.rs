//! Records that keep failing: when each may be tried again (growing intervals), which are held
//! back for the report, and taking their steps out of a plan until then. Pure: `now` is an input.
//!
//! After `n` failures in a row a record is next tried at `last_at + min(base * 2^(n-1), max)`.
//! After `hold_after` failures it is held: still tried, at the `max` interval, and listed in every
//! report until it succeeds. A write the server refused for its content (a permanent failure) or
//! because another resource holds its value (a conflict) is held at once, until what we would
//! send changes; retrying the same request sooner cannot help. Pauses are never deferred: a leaver's account is closed on the
//! first run that can, whatever failed before, because leaving a leaver active is the worse harm
//! and a pause is a single request.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ids::ExternalId;
use crate::kind::OperationKind;
use crate::plan::{Operation, Plan, Step};

/// What kind of failure a write met, which decides when it is tried again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The server was busy, failing or out of reach: tried again after growing intervals.
    #[default]
    Retryable,
    /// The server refused what we sent: held until what we would send changes.
    Permanent,
    /// Another resource holds the value: held until what we would send changes, for a person
    /// to settle.
    Conflict,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::Permanent => "permanent",
            FailureClass::Conflict => "conflict",
        }
    }

    pub fn parse(name: &str) -> Option<FailureClass> {
        [
            FailureClass::Retryable,
            FailureClass::Permanent,
            FailureClass::Conflict,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// A record whose writes failed on earlier runs, as the state store remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    pub external_id: ExternalId,
    /// Failed runs in a row (reset by a success).
    pub count: u32,
    /// When the last failure happened.
    pub last_at: Timestamp,
    /// The last failure's class.
    pub class: FailureClass,
    /// The step that failed last: its kind and [`Step::fingerprint`].
    pub failed_step: Option<FailedStep>,
}

/// Which step of a record failed: a held record's step of the same kind is tried again as soon
/// as what it would send differs; its other steps wait with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedStep {
    pub kind: OperationKind,
    pub fingerprint: u64,
}

impl FailedStep {
    pub fn of(step: &Step) -> FailedStep {
        FailedStep {
            kind: step.operation.kind(),
            fingerprint: step.fingerprint(),
        }
    }
}

impl Step {
    /// A stable fingerprint of what the step would send (FNV-1a over its JSON form): a held
    /// step whose fingerprint changed is tried again at once.
    pub fn fingerprint(&self) -> u64 {
        let text = serde_json::to_string(&self.operation).unwrap_or_default();
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

/// How long to wait before trying a failing record again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldPolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub base: SignedDuration,
    /// The longest wait, and the wait of held records.
    pub max: SignedDuration,
    /// After this many failures in a row a record is held and listed in every report.
    pub hold_after: u32,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            base: SignedDuration::from_hours(1),
            max: SignedDuration::from_hours(7 * 24),
            hold_after: 5,
        }
    }
}

/// Why a failing record's steps may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HoldState {
    /// Failed fewer than `hold_after` times; next tried at `next_try` (in the future).
    NotYet { next_try: Timestamp },
    /// Failed `since_count` times in a row (at least `hold_after`): listed in every report, and
    /// tried again at `next_try` (which may be now or past: then it is tried in this run).
    Held {
        since_count: u32,
        next_try: Timestamp,
        /// The class of the last failure.
        class: FailureClass,
        /// For a permanent failure or a conflict: the step that failed. A step of its kind that
        /// would send something else is tried at once.
        failed_step: Option<FailedStep>,
    },
}

impl HoldState {
    pub fn next_try(&self) -> Timestamp {
        match self {
            HoldState::NotYet { next_try } | HoldState::Held { next_try, .. } => *next_try,
        }
    }

    pub fn is_held(&self) -> bool {
        matches!(self, HoldState::Held { .. })
    }
}

/// The wait after `count` failures in a row: `min(base * 2^(count-1), max)`; zero for none.
pub fn retry_interval(count: u32, policy: &HoldPolicy) -> SignedDuration {
    if count == 0 {
        return SignedDuration::ZERO;
    }
    let mut interval = policy.base;
    // 64 doublings overflow any duration: the loop ends at `max` or on overflow.
    for _ in 1..count.min(64) {
        if interval >= policy.max {
            break;
        }
        interval = interval.checked_mul(2).unwrap_or(policy.max);
    }
    interval.min(policy.max)
}

/// The records that wait: not yet due (with their next try) or held (always listed). A record
/// due now and not held is not in the map. Where a record appears twice, its latest failure
/// counts.
pub fn held_back(
    failures: &[RecordFailure],
    now: Timestamp,
    policy: &HoldPolicy,
) -> BTreeMap<ExternalId, HoldState> {
    let mut latest: BTreeMap<&ExternalId, &RecordFailure> = BTreeMap::new();
    for failure in failures.iter().filter(|f| f.count > 0) {
        let entry = latest.entry(&failure.external_id).or_insert(failure);
        if (failure.last_at, failure.count) > (entry.last_at, entry.count) {
            *entry = failure;
        }
    }
    let mut waits = BTreeMap::new();
    for (external_id, failure) in latest {
        let at_once = failure.class != FailureClass::Retryable;
        let held = failure.count >= policy.hold_after || at_once;
        let interval = if held {
            policy.max
        } else {
            retry_interval(failure.count, policy)
        };
        let next_try = failure
            .last_at
            .checked_add(interval)
            .unwrap_or(Timestamp::MAX);
        let state = if held {
            HoldState::Held {
                since_count: failure.count,
                next_try,
                class: failure.class,
                failed_step: failure.failed_step.filter(|_| at_once),
            }
        } else if next_try > now {
            HoldState::NotYet { next_try }
        } else {
            continue;
        };
        waits.insert(external_id.clone(), state);
    }
    waits
}

/// A step taken out of this run's plan because its record waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    pub external_id: ExternalId,
    pub kind: OperationKind,
    pub next_try: Timestamp,
    pub held: bool,
    /// The class of the failure that holds it back.
    pub class: FailureClass,
}

/// Removes the steps of records whose next try is after `now`, except pauses (see the module
/// notes), and returns what was removed, in plan order.
pub fn defer(
    plan: &mut Plan,
    waits: &BTreeMap<ExternalId, HoldState>,
    now: Timestamp,
) -> Vec<Deferred> {
    let mut deferred = Vec::new();
    plan.steps.retain(|step| {
        if matches!(step.operation, Operation::DeactivateUser { .. }) {
            return true;
        }
        let external_id = step.operation.external_id();
        let Some(wait) = waits.get(external_id) else {
            return true;
        };
        let (class, changed) = match wait {
            HoldState::NotYet { .. } => (FailureClass::Retryable, false),
            HoldState::Held {
                class, failed_step, ..
            } => (
                *class,
                failed_step.is_some_and(|failed| {
                    failed.kind == step.operation.kind() && failed.fingerprint != step.fingerprint()
                }),
            ),
        };
        if wait.next_try() <= now || changed {
            return true;
        }
        deferred.push(Deferred {
            external_id: external_id.clone(),
            kind: step.operation.kind(),
            next_try: wait.next_try(),
            held: wait.is_held(),
            class,
        });
        false
    });
    deferred
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;
    use proptest::prelude::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    const HOUR: i64 = 3600;

    fn failure(id: &str, count: u32, last_at: Timestamp) -> RecordFailure {
        RecordFailure {
            external_id: id.into(),
            count,
            last_at,
            class: FailureClass::Retryable,
            failed_step: None,
        }
    }

    fn step(operation: Operation) -> Step {
        Step {
            operation,
            reason: "test".into(),
        }
    }

    fn update(id: &str) -> Step {
        step(Operation::UpdateUser {
            target_id: format!("t-{id}").into(),
            external_id: id.into(),
            values: Default::default(),
            changes: Vec::new(),
        })
    }

    fn pause(id: &str) -> Step {
        step(Operation::DeactivateUser {
            target_id: format!("t-{id}").into(),
            external_id: id.into(),
            values: None,
            changes: Vec::new(),
        })
    }

    #[test]
    fn intervals_double_from_the_base_up_to_the_max() {
        let policy = HoldPolicy::default();
        let hours: Vec<i64> = (0..=10)
            .map(|n| retry_interval(n, &policy).as_secs() / HOUR)
            .collect();
        assert_eq!(hours, [0, 1, 2, 4, 8, 16, 32, 64, 128, 168, 168]);
        assert_eq!(retry_interval(u32::MAX, &policy), policy.max);
    }

    #[test]
    fn a_record_waits_until_its_next_try_and_is_free_after() {
        let policy = HoldPolicy::default();
        let failures = [failure("a", 3, at(0))];
        // Third failure: next try four hours later.
        let waits = held_back(&failures, at(4 * HOUR - 1), &policy);
        assert_eq!(
            waits.get("a"),
            Some(&HoldState::NotYet {
                next_try: at(4 * HOUR)
            })
        );
        assert!(held_back(&failures, at(4 * HOUR), &policy).is_empty());
    }

    #[test]
    fn after_hold_after_failures_a_record_is_held_and_stays_listed() {
        let policy = HoldPolicy::default();
        let failures = [failure("a", 5, at(0)), failure("b", 4, at(0))];
        let soon = held_back(&failures, at(HOUR), &policy);
        assert_eq!(
            soon.get("a"),
            Some(&HoldState::Held {
                since_count: 5,
                next_try: at(168 * HOUR),
                class: FailureClass::Retryable,
                failed_step: None,
            })
        );
        assert!(matches!(soon.get("b"), Some(HoldState::NotYet { .. })));
        // Long after: b is due and free; a is due, tried, and still listed as held.
        let later = held_back(&failures, at(1000 * HOUR), &policy);
        assert_eq!(later.keys().collect::<Vec<_>>(), ["a"]);
        assert!(later["a"].is_held());
    }

    #[test]
    fn a_permanent_failure_is_held_at_once_until_the_step_changes() {
        let policy = HoldPolicy::default();
        let refused = update("a");
        let failures = [RecordFailure {
            class: FailureClass::Permanent,
            failed_step: Some(FailedStep::of(&refused)),
            ..failure("a", 1, at(0))
        }];
        let waits = held_back(&failures, at(HOUR), &policy);
        assert!(waits["a"].is_held(), "{waits:?}");
        assert_eq!(waits["a"].next_try(), at(168 * HOUR));

        // The same request again waits; a changed one is tried at once.
        let mut same = Plan {
            steps: vec![refused.clone()],
            ..Plan::default()
        };
        let deferred = defer(&mut same, &waits, at(HOUR));
        assert_eq!(deferred.len(), 1);
        assert_eq!(deferred[0].class, FailureClass::Permanent);
        assert!(deferred[0].held);
        let mut changed_step = refused;
        if let Operation::UpdateUser { values, .. } = &mut changed_step.operation {
            values.given_name = "Anna".into();
        }
        let mut changed = Plan {
            steps: vec![changed_step],
            ..Plan::default()
        };
        assert!(defer(&mut changed, &waits, at(HOUR)).is_empty());
        assert_eq!(changed.steps.len(), 1);
    }

    #[test]
    fn another_kind_of_step_of_a_held_record_waits_with_it() {
        let policy = HoldPolicy::default();
        let refused = update("a");
        let failures = [RecordFailure {
            class: FailureClass::Permanent,
            failed_step: Some(FailedStep::of(&refused)),
            ..failure("a", 1, at(0))
        }];
        let waits = held_back(&failures, at(HOUR), &policy);
        let link = step(Operation::SetManager {
            target_id: Some("t-a".into()),
            external_id: "a".into(),
            manager_external_id: Some("m".into()),
            before: None,
        });
        let mut plan = Plan {
            steps: vec![link],
            ..Plan::default()
        };
        let deferred = defer(&mut plan, &waits, at(HOUR));
        assert_eq!(deferred.len(), 1, "{deferred:?}");
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn a_conflict_is_held_at_once_but_a_retryable_failure_is_not() {
        let policy = HoldPolicy::default();
        let failures = [
            RecordFailure {
                class: FailureClass::Conflict,
                ..failure("a", 1, at(0))
            },
            failure("b", 1, at(0)),
        ];
        let waits = held_back(&failures, at(HOUR / 2), &policy);
        assert!(waits["a"].is_held());
        assert!(!waits["b"].is_held());
    }

    #[test]
    fn the_latest_failure_of_a_record_counts() {
        let policy = HoldPolicy::default();
        let failures = [failure("a", 1, at(0)), failure("a", 2, at(10 * HOUR))];
        let waits = held_back(&failures, at(10 * HOUR), &policy);
        assert_eq!(waits["a"].next_try(), at(12 * HOUR));
    }

    #[test]
    fn defer_removes_waiting_steps_but_never_a_pause() {
        let mut plan = Plan {
            steps: vec![update("a"), update("b"), pause("a"), update("c")],
            ..Plan::default()
        };
        let waits: BTreeMap<ExternalId, HoldState> = [
            (
                "a".into(),
                HoldState::NotYet {
                    next_try: at(2 * HOUR),
                },
            ),
            (
                "c".into(),
                HoldState::Held {
                    since_count: 7,
                    next_try: at(HOUR),
                    class: FailureClass::Retryable,
                    failed_step: None,
                },
            ),
        ]
        .into_iter()
        .collect();
        let deferred = defer(&mut plan, &waits, at(HOUR));
        assert_eq!(
            deferred,
            [Deferred {
                external_id: "a".into(),
                kind: OperationKind::Update,
                next_try: at(2 * HOUR),
                held: false,
                class: FailureClass::Retryable,
            }]
        );
        // c is held but due now: it is tried.
        let left: Vec<_> = plan
            .steps
            .iter()
            .map(|s| {
                (
                    s.operation.kind().as_str(),
                    s.operation.external_id().as_str(),
                )
            })
            .collect();
        assert_eq!(left, [("update", "b"), ("pause", "a"), ("update", "c")]);
    }

    proptest! {
        #[test]
        fn waits_grow_with_failures_and_never_pass_the_max(
            count in 1u32..80,
            base_minutes in 1i64..600,
            max_hours in 1i64..400,
            hold_after in 1u32..20,
        ) {
            let policy = HoldPolicy {
                base: SignedDuration::from_mins(base_minutes),
                max: SignedDuration::from_hours(max_hours),
                hold_after,
            };
            let this = retry_interval(count, &policy);
            let next = retry_interval(count + 1, &policy);
            prop_assert!(this <= next);
            prop_assert!(next <= policy.max);
            prop_assert!(this >= policy.base.min(policy.max));

            let failures = [failure("a", count, at(0))];
            let just_before = at(0).checked_add(this).unwrap() - SignedDuration::from_secs(1);
            let waits = held_back(&failures, just_before, &policy);
            prop_assert_eq!(waits.get("a").is_some_and(HoldState::is_held), count >= hold_after);
            let wait = waits.get("a").map(HoldState::next_try);
            let expected = if count >= hold_after { policy.max } else { this };
            prop_assert_eq!(wait, Some(at(0).checked_add(expected).unwrap()));
        }
    }
}
