//! How a run ended: one outcome for the exit code, the state store, the daemon's metrics and
//! the report.

use serde::{Deserialize, Serialize};

/// How a run ended. The process exit code is [`Outcome::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything planned was done (or, for a plan, the plan was made).
    Done,
    /// Done, but some records failed; they are listed and tried again later.
    RecordFailures,
    /// Usage or configuration error, or the state store could not be used.
    Usage,
    /// A guard refused the plan; nothing was written.
    Refused,
    /// An end could not be reached or read; nothing was written.
    Unreachable,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Done,
        Outcome::RecordFailures,
        Outcome::Refused,
        Outcome::Unreachable,
        Outcome::Usage,
    ];

    /// The process exit code: 0 done, 1 record failures, 2 usage, 3 refused, 4 unreachable.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done => 0,
            Outcome::RecordFailures => 1,
            Outcome::Usage => 2,
            Outcome::Refused => 3,
            Outcome::Unreachable => 4,
        }
    }

    /// The name used in the state store, logs, metrics and `/healthz`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::RecordFailures => "record_failures",
            Outcome::Usage => "usage",
            Outcome::Refused => "refused",
            Outcome::Unreachable => "unreachable",
        }
    }

    /// The outcome a name stands for.
    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.label() == name)
    }

    /// Whether the run got as far as writing (all of it, or all but some records).
    pub fn completed(self) -> bool {
        matches!(self, Outcome::Done | Outcome::RecordFailures)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What kind of run: a plan reads and plans; a sync also writes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    #[default]
    Plan,
    Sync,
}

impl RunKind {
    pub fn label(self) -> &'static str {
        match self {
            RunKind::Plan => "plan",
            RunKind::Sync => "sync",
        }
    }

    pub fn parse(name: &str) -> Option<RunKind> {
        [RunKind::Plan, RunKind::Sync]
            .into_iter()
            .find(|k| k.label() == name)
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones_and_names_parse_back() {
        let codes: Vec<i32> = Outcome::ALL.iter().map(|o| o.exit_code()).collect();
        assert_eq!(codes, [0, 1, 3, 4, 2]);
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.label()), Some(outcome));
        }
        assert_eq!(RunKind::parse("sync"), Some(RunKind::Sync));
        assert_eq!(RunKind::parse("Sync"), None);
    }
}
