//! Why the daemon needs attention after a run, and what to do about it: one reason and one
//! remedy per outcome, from a fresh run's report or, after a restart, from the state store.

use flexsync_state::{RunRecord, StateStore};

use crate::report::RunReport;
use crate::run::{Outcome, approve_command};

/// A run that needs a person: what happened, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub reason: String,
    pub remedy: String,
}

impl Attention {
    /// The commands it suggests name the configuration (`--config F`, or `--tenants DIR
    /// --tenant NAME`), so they can be run as written from anywhere.
    pub fn naming(self, flags: Option<&str>) -> Attention {
        let Some(flags) = flags else { return self };
        let name = |text: String| {
            ["plan", "sync", "check", "explain", "history"]
                .iter()
                .fold(text, |text, command| name_in(&text, command, flags))
        };
        Attention {
            reason: name(self.reason),
            remedy: name(self.remedy),
        }
    }
}

/// `text` with each `` `flexsync COMMAND`` or `` `flexsync COMMAND --option`` followed by
/// `flags`, unless they follow already.
fn name_in(text: &str, command: &str, flags: &str) -> String {
    let quoted = format!("`flexsync {command}");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&quoted) {
        let (before, from) = rest.split_at(at + quoted.len());
        out.push_str(before);
        let named = from.starts_with(&format!(" {flags}"));
        if !named && (from.starts_with('`') || from.starts_with(" --")) {
            out.push(' ');
            out.push_str(flags);
        }
        rest = from;
    }
    out.push_str(rest);
    out
}

/// The attention a run that ended with `outcome` needs (none when it went through). `report`
/// is there when the run got as far as a plan; `error` when it stopped before.
pub fn attention(
    id: Option<i64>,
    outcome: Outcome,
    report: Option<&RunReport>,
    error: Option<&str>,
) -> Option<Attention> {
    let run = id.map_or_else(|| "the last run".to_string(), |id| format!("run #{id}"));
    let error = error
        .map(str::to_string)
        .or_else(|| report.and_then(|r| r.error.clone()))
        .unwrap_or_else(|| "see the daemon's log".to_string());
    match outcome {
        Outcome::Done => None,
        Outcome::Refused => {
            let refusal = report.and_then(|r| r.refused.as_ref());
            let problem = refusal.map_or("a guard refused the plan".to_string(), |r| {
                format!("guard {}: {}", r.guard, r.problem)
            });
            let approve = report.and_then(|r| r.approve_command.clone());
            Some(refused(
                &run,
                &problem,
                approve.as_deref(),
                refusal.map(|r| r.remedy.as_str()),
            ))
        }
        Outcome::RecordFailures => {
            let failed = report.map_or(0, RunReport::failure_count);
            Some(record_failures(&run, failed))
        }
        Outcome::Unreachable => Some(Attention {
            reason: format!("{run} could not reach or write to an end: {error}"),
            remedy: "check that Flex and Winningtemp answer at the configured URLs with the \
                     configured credentials; nothing was written, and the next scheduled run \
                     tries again"
                .to_string(),
        }),
        Outcome::Usage => Some(Attention {
            reason: format!("{run} could not run: {error}"),
            remedy: "check the configuration and the state store (see the daemon's log); the \
                     next scheduled run tries again"
                .to_string(),
        }),
    }
}

fn refused(run: &str, problem: &str, approve: Option<&str>, remedy: Option<&str>) -> Attention {
    let mut text = "review `flexsync plan`".to_string();
    if let Some(approve) = approve {
        text.push_str(&format!(
            ", then `{approve}` lets exactly this plan through once at the next run"
        ));
    }
    if let Some(remedy) = remedy {
        text.push_str(&format!(" (or: {remedy})"));
    }
    Attention {
        reason: format!("{run} was refused by {problem}; nothing was written"),
        remedy: text,
    }
}

fn record_failures(run: &str, failed: usize) -> Attention {
    Attention {
        reason: format!("{run} went through but {failed} steps failed"),
        remedy: "see the run's report for who and why; failing records are tried again on \
                 later runs, and held ones wait until their cause is mended in Winningtemp \
                 (then `flexsync sync --retry-held`)"
            .to_string(),
    }
}

/// The attention a stored run needs, after a restart: from its summary and, for a refusal, the
/// refusal the store keeps.
pub fn attention_of_stored(
    store: &StateStore,
    run: &RunRecord,
    config_flags: Option<&str>,
) -> Option<Attention> {
    stored_attention(store, run, config_flags).map(|attention| attention.naming(config_flags))
}

fn stored_attention(
    store: &StateStore,
    run: &RunRecord,
    config_flags: Option<&str>,
) -> Option<Attention> {
    let outcome = run.outcome?;
    let summary = run.summary.clone().unwrap_or_default();
    let number = |value: &serde_json::Value| {
        value
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum::<u64>())
    };
    match outcome {
        Outcome::Refused => {
            let stored = store.refusal(run.id).ok().flatten();
            let problem = stored.as_ref().map_or("a guard".to_string(), |r| {
                format!("guard {}: {}", r.refusal.guard, r.refusal.problem)
            });
            let approve = approve_command(run.id.0, config_flags);
            Some(refused(
                &format!("run #{}", run.id),
                &problem,
                Some(&approve),
                stored.as_ref().map(|r| r.refusal.remedy.as_str()),
            ))
        }
        Outcome::RecordFailures => Some(record_failures(
            &format!("run #{}", run.id),
            usize::try_from(number(&summary["failed"])).unwrap_or(usize::MAX),
        )),
        _ => attention(
            Some(run.id.0),
            outcome,
            None,
            summary.get("error").and_then(|e| e.as_str()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_commands_name_the_tenant() {
        let attention = refused(
            "run #9",
            "guard source_drop: 25% fewer",
            Some("flexsync approve 9 --tenants t --tenant acme"),
            Some("run `flexsync sync --allow-source-drop` once"),
        )
        .naming(Some("--tenants t --tenant acme"))
        .naming(Some("--tenants t --tenant acme"));
        assert_eq!(
            attention.remedy,
            "review `flexsync plan --tenants t --tenant acme`, then `flexsync approve 9 --tenants \
             t --tenant acme` lets exactly this plan through once at the next run (or: run \
             `flexsync sync --tenants t --tenant acme --allow-source-drop` once)"
        );
    }
}
