//! `flexsync history`: the runs as a table, `--run N` one run's changes and findings, and
//! `--who TEXT` one person's changes over time, from what the state store and the reports keep,
//! as lines people read (names and emails beside the ids).

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use flexsync_core::finding::Finding;
use flexsync_core::outcome::Outcome;
use flexsync_state::{RunRecord, StoredChange};

/// What the table of runs says about how far back it reaches.
pub struct Reach {
    /// When the oldest run the store holds started.
    pub oldest: Option<jiff::Timestamp>,
    pub keep_days: u32,
}

/// The syncs as a table: local start time, outcome, counts and duration.
pub fn run_table(runs: &[RunRecord], reach: &Reach, tz: &TimeZone) -> String {
    let mut out = String::new();
    let back_to = reach.oldest.map_or("no run yet".to_string(), |at| {
        format!("back to {}", local(at, tz))
    });
    let _ = writeln!(
        out,
        "history {back_to}; runs and reports older than {} days are pruned ([report] keep_days)",
        reach.keep_days
    );
    let _ = writeln!(
        out,
        "{:>6}  {:<19}  {:<4}  {:<15}  {:>7}  {:>6}  {:>6}  {:>8}  {:>7}",
        "run",
        "started (local)",
        "kind",
        "outcome",
        "planned",
        "done",
        "failed",
        "findings",
        "took"
    );
    for run in runs {
        let count = |key: &str| summary_count(run, key);
        let took = run.finished.map_or("-".to_string(), |end| {
            format!("{:.1} s", end.duration_since(run.started).as_secs_f64())
        });
        let _ = writeln!(
            out,
            "{:>6}  {:<19}  {:<4}  {:<15}  {:>7}  {:>6}  {:>6}  {:>8}  {:>7}",
            format!("#{}", run.id),
            local(run.started, tz),
            run.kind.label(),
            run.ending(),
            count("planned"),
            count("succeeded"),
            count("failed"),
            count("findings"),
            took
        );
    }
    out
}

/// A number from a run's summary: a count, or the sum of a map of counts; "-" when absent.
fn summary_count(run: &RunRecord, key: &str) -> String {
    let Some(value) = run.summary.as_ref().and_then(|s| s.get(key)) else {
        return "-".to_string();
    };
    match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Object(map) => map
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum::<u64>()
            .to_string(),
        _ => "-".to_string(),
    }
}

/// "2026-11-30 11:16:52" in `tz`.
fn local(at: jiff::Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The findings of a run, from its report, people named.
pub fn run_findings(findings: Option<&[Finding]>, interrupted: bool) -> String {
    let mut out = String::new();
    match findings {
        None if interrupted => {
            let _ = writeln!(
                out,
                "findings: none known: the run was interrupted (its process stopped) before it \
                 wrote its report"
            );
        }
        None => {
            let _ = writeln!(out, "findings: the run's report is gone (pruned or moved)");
        }
        Some(findings) => {
            let _ = writeln!(out, "findings: {}", findings.len());
            for finding in findings {
                let who = finding.who();
                let _ = writeln!(
                    out,
                    "  {:<18} {who} {}: {} ({})",
                    finding.kind.as_str(),
                    finding.field,
                    finding.problem,
                    finding.action
                );
            }
        }
    }
    out
}

/// One change on one line: action, who, what, why, and what came of it.
fn line(stored: &StoredChange) -> String {
    let change = &stored.change;
    let who = who_is(change);
    let reason = change.detail["reason"].as_str().unwrap_or("");
    let result = match change.result.as_str() {
        "failed" => format!(
            "failed: {}",
            change.detail["result"]["error"].as_str().unwrap_or("")
        ),
        "skipped" => format!(
            "skipped: {}",
            change.detail["result"]["why"].as_str().unwrap_or("")
        ),
        other => other.to_string(),
    };
    format!(
        "{:<18} {who}: {reason}{} [{result}]",
        change.action,
        attributes(change)
    )
}

/// "; members: (none) -> Anna Svensson <anna@example.se>": what changed, for all but creations
/// (whose every value is new).
fn attributes(change: &flexsync_state::ChangeRow) -> String {
    if matches!(change.action.as_str(), "create" | "create_group") {
        return String::new();
    }
    let Some(list) = change.detail["attributes"].as_array() else {
        return String::new();
    };
    let before_matters = flexsync_core::kind::OperationKind::parse(&change.action)
        .is_none_or(crate::changes::shows_before);
    list.iter()
        .map(|a| {
            let value = |key: &str| a[key].as_str().map(str::to_string);
            let attribute = crate::changes::AttributeChange {
                attribute: a["attribute"].as_str().unwrap_or("?").to_string(),
                before: value("before"),
                after: value("after"),
            };
            format!(
                "; {}",
                crate::changes::attribute_line(&attribute, before_matters)
            )
        })
        .collect()
}

/// The changes of run `run`; a refused run's are what it would have done.
pub fn run_changes(
    run: i64,
    outcome: Option<Outcome>,
    changes: &[StoredChange],
    tz: &TimeZone,
) -> String {
    let mut out = String::new();
    let refused = outcome == Some(Outcome::Refused);
    match changes.first() {
        None => {
            let _ = writeln!(out, "run #{run}: no changes recorded");
        }
        Some(first) if refused => {
            let _ = writeln!(
                out,
                "run #{run}, started {}: refused by a guard, nothing was written; it would have \
                 made {} changes",
                local(first.started, tz),
                changes.len()
            );
        }
        Some(first) => {
            let _ = writeln!(
                out,
                "run #{run}, started {}: {} changes",
                local(first.started, tz),
                changes.len()
            );
        }
    }
    for stored in changes {
        let _ = writeln!(out, "  {}", line(stored));
    }
    out
}

/// Lower case, accents dropped, spaces collapsed, for matching names as people type them:
/// "Åsa  Öberg" -> "asa oberg".
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let plain: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every change to the person (or group) `who` names (a name, an email or a Flex id, case and
/// accents aside), oldest first, with its run and date. A person is followed by their Flex id,
/// so changes made under an earlier name or email are theirs too. Several people matching is an
/// error that lists them to choose from.
pub fn person_changes(
    who: &str,
    changes: &[StoredChange],
    tz: &TimeZone,
) -> Result<String, String> {
    let wanted = fold(who);
    if wanted.is_empty() {
        return Err("--who: give a name, an email or a Flex id".to_string());
    }
    let matches = |change: &flexsync_state::ChangeRow| {
        fold(&change.name).contains(&wanted)
            || change.email.as_deref().is_some_and(|e| fold(e) == wanted)
            || fold(change.external_id.as_str()) == wanted
    };
    // Who each matching id is now: their latest name and email.
    let mut people: std::collections::BTreeMap<&str, &flexsync_state::ChangeRow> =
        std::collections::BTreeMap::new();
    for stored in changes.iter().filter(|s| matches(&s.change)) {
        people.insert(stored.change.external_id.as_str(), &stored.change);
    }
    if people.len() > 1 {
        let listed: Vec<String> = changes
            .iter()
            .rev()
            .filter(|s| people.contains_key(s.change.external_id.as_str()))
            .map(|s| who_is(&s.change))
            .fold(Vec::new(), |mut seen, line| {
                if !seen.contains(&line) {
                    seen.push(line);
                }
                seen
            });
        return Err(format!(
            "{} people match {who:?}: {}; give a fuller name, an email or a Flex id",
            people.len(),
            listed.join("; ")
        ));
    }
    let Some(external_id) = people.keys().next() else {
        return Ok(format!("{who}: no recorded change names this person\n"));
    };
    let theirs: Vec<StoredChange> = changes
        .iter()
        .filter(|s| s.change.external_id.as_str() == *external_id)
        .cloned()
        .collect();
    Ok(person_lines(&theirs, tz))
}

/// "Anna Svensson <anna@example.se> (id)".
fn who_is(change: &flexsync_state::ChangeRow) -> String {
    match &change.email {
        Some(email) => format!("{} <{email}> ({})", change.name, change.external_id),
        None => format!("{} ({})", change.name, change.external_id),
    }
}

/// One line per change, with its run and local date.
pub fn person_lines(changes: &[StoredChange], tz: &TimeZone) -> String {
    let mut out = String::new();
    for stored in changes {
        let _ = writeln!(
            out,
            "#{:<5} {}  {}",
            stored.run.0,
            local(stored.started, tz),
            line(stored)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::outcome::RunKind;
    use flexsync_state::RunId;

    fn run(id: i64, seconds: i64, outcome: Outcome, summary: serde_json::Value) -> RunRecord {
        let started: jiff::Timestamp = "2026-11-30T01:00:00Z".parse().unwrap();
        RunRecord {
            id: RunId(id),
            kind: RunKind::Sync,
            started,
            finished: Some(started + jiff::SignedDuration::from_millis(seconds)),
            outcome: Some(outcome),
            summary: Some(summary),
        }
    }

    #[test]
    fn the_table_says_how_long_a_run_took_and_which_were_interrupted() {
        let runs = [
            run(2, 33_700, Outcome::Done, serde_json::json!({})),
            run(
                1,
                1_250,
                Outcome::Unreachable,
                RunRecord::interrupted_summary(),
            ),
        ];
        let reach = Reach {
            oldest: None,
            keep_days: 90,
        };
        let table = run_table(&runs, &reach, &TimeZone::UTC);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[2].contains("done") && lines[2].ends_with("33.7 s"),
            "{table}"
        );
        assert!(
            lines[3].contains("interrupted") && lines[3].ends_with("1.2 s"),
            "{table}"
        );
    }
}
