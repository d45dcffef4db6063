//! What carrying out one step of a plan came to: its outcome, the typed error of a failed write
//! (with the class that decides when it is tried again), and the journal that records both.

use futures::future::BoxFuture;
use serde::{Serialize, Serializer};

use flexsync_core::group_plan::GroupStep;
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::kind::OperationKind;
use flexsync_core::plan::Step;
use flexsync_core::retry_hold::FailureClass;
use flexsync_scim::ScimError;

/// Why a write failed: the class decides the retry schedule; status and `scimType` say what the
/// server answered, when it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    pub class: FailureClass,
    pub status: Option<u16>,
    pub scim_type: Option<String>,
    pub message: String,
}

impl ApplyError {
    /// The server refused our credentials (401, 403): a setting of the run, not the record's.
    pub fn is_refused_token(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }

    /// A failure found on our side, before or after the request (say, an answer without an id):
    /// it will not mend itself.
    pub fn permanent(message: impl Into<String>) -> ApplyError {
        ApplyError {
            class: FailureClass::Permanent,
            status: None,
            scim_type: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApplyError {}

impl From<ScimError> for ApplyError {
    fn from(error: ScimError) -> ApplyError {
        let (status, scim_type) = match &error {
            ScimError::Status {
                status, scim_type, ..
            } => (Some(*status), scim_type.clone()),
            _ => (None, None),
        };
        ApplyError {
            class: class_of(&error),
            status,
            scim_type,
            message: error.to_string(),
        }
    }
}

/// The class of a SCIM error. A busy or unreachable server, a refused token (a setting, not the
/// record) and a resource not found (deleted by hand: the next run observes it and plans anew)
/// are retried on the usual schedule; a value the server refuses is permanent until what we send
/// changes; a value taken by another resource is a conflict for a person to settle.
fn class_of(error: &ScimError) -> FailureClass {
    if error.is_retryable() {
        return FailureClass::Retryable;
    }
    if error.is_uniqueness() {
        return FailureClass::Conflict;
    }
    match error {
        ScimError::Status { status, .. } => match status {
            401 | 403 | 404 | 408 | 425 => FailureClass::Retryable,
            _ => FailureClass::Permanent,
        },
        ScimError::Ambiguous { .. } => FailureClass::Conflict,
        ScimError::Transport { .. } | ScimError::Decode { .. } | ScimError::Partial { .. } => {
            FailureClass::Retryable
        }
        ScimError::Settings(_) => FailureClass::Permanent,
    }
}

/// The outcome of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub external_id: ExternalId,
    pub kind: OperationKind,
    pub target_id: Option<TargetId>,
    /// None when it succeeded.
    #[serde(serialize_with = "error_message")]
    pub error: Option<ApplyError>,
    /// The failure's class (`retryable`, `permanent`, `conflict`), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<FailureClass>,
    /// Set when the step found the work already done (e.g. an account that exists).
    pub note: Option<String>,
}

impl StepOutcome {
    /// An outcome with nothing filled in yet.
    pub fn new(external_id: impl Into<ExternalId>, kind: OperationKind) -> StepOutcome {
        StepOutcome {
            external_id: external_id.into(),
            kind,
            target_id: None,
            error: None,
            error_class: None,
            note: None,
        }
    }

    /// Records a failure.
    pub fn fail(&mut self, error: ApplyError) {
        self.error_class = Some(error.class);
        self.error = Some(error);
    }

    /// The failure's message, if it failed.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.message.as_str())
    }
}

fn error_message<S: Serializer>(error: &Option<ApplyError>, s: S) -> Result<S::Ok, S::Error> {
    match error {
        Some(error) => s.serialize_some(&error.message),
        None => s.serialize_none(),
    }
}

/// An intent being recorded: its id once it is committed, or why it could not be.
pub type IntentRecorded<'a> = BoxFuture<'a, Result<i64, String>>;

/// Called before each write (to record its intent) and after it (to record the outcome). A write
/// is made only once its intent is recorded: a journal may commit the intents pending together
/// at once, and answers each when it is committed. A write whose intent cannot be recorded is
/// not made: `intent` answers why, and the appliers stop. An outcome is handed over in order
/// after its intent; it need not be recorded when the call returns.
pub trait Journal: Send + Sync {
    /// Hands the intent over at once (so intents and outcomes keep the order of the calls).
    fn intent(&self, step: &Step) -> IntentRecorded<'_>;
    fn outcome(&self, intent: i64, step: &Step, outcome: &StepOutcome);
    fn group_intent(&self, step: &GroupStep) -> IntentRecorded<'_>;
    fn group_outcome(&self, intent: i64, outcome: &StepOutcome);
}

/// Whether the journal has failed in this run: once it has, no further write is made.
#[derive(Debug, Default)]
pub struct Halt(std::sync::Mutex<Option<String>>);

impl Halt {
    /// Why writing stopped, if it did.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|r| r.clone())
    }

    /// Records the first failure of the journal.
    pub fn stop(&self, reason: &str) {
        if let Ok(mut held) = self.0.lock() {
            held.get_or_insert_with(|| reason.to_string());
        }
    }

    /// The error of a write that was not made because the journal could not record it.
    pub fn unwritten(&self) -> ApplyError {
        ApplyError {
            class: FailureClass::Retryable,
            status: None,
            scim_type: None,
            message: format!(
                "not written: the state store could not record the intent ({}); the next run \
                 plans it again",
                self.reason().unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, scim_type: Option<&str>) -> ApplyError {
        ApplyError::from(ScimError::Status {
            status,
            scim_type: scim_type.map(str::to_string),
            detail: "no".into(),
            resource: "POST /Users".into(),
        })
    }

    #[test]
    fn a_busy_server_is_retried_a_refused_value_is_permanent_a_taken_one_a_conflict() {
        assert_eq!(status(503, None).class, FailureClass::Retryable);
        assert_eq!(status(429, None).class, FailureClass::Retryable);
        assert_eq!(status(401, None).class, FailureClass::Retryable);
        assert_eq!(
            status(400, Some("invalidValue")).class,
            FailureClass::Permanent
        );
        assert_eq!(status(404, None).class, FailureClass::Retryable);
        assert_eq!(status(422, None).class, FailureClass::Permanent);
        assert_eq!(status(409, None).class, FailureClass::Conflict);
        assert_eq!(
            status(400, Some("uniqueness")).class,
            FailureClass::Conflict
        );
        let error = status(400, Some("invalidValue"));
        assert_eq!(error.status, Some(400));
        assert_eq!(error.scim_type.as_deref(), Some("invalidValue"));
    }

    #[test]
    fn an_outcome_serializes_its_error_as_the_message_with_its_class() {
        let mut outcome = StepOutcome::new("E1", OperationKind::Create);
        outcome.fail(status(400, Some("invalidValue")));
        let json = serde_json::to_value(&outcome).unwrap_or_default();
        assert_eq!(
            json["error"],
            "POST /Users: the server answered 400 (invalidValue): no"
        );
        assert_eq!(json["error_class"], "permanent");
    }
}
