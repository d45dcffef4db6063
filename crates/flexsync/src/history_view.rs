//! `flexsync history --run N` and `--who TEXT`: the changes the state store keeps, as lines
//! people read (names and emails beside the ids).

use std::fmt::Write as _;

use flexsync_state::StoredChange;

/// One change on one line: action, who, what, why, and what came of it.
fn line(stored: &StoredChange) -> String {
    let change = &stored.change;
    let who = match &change.email {
        Some(email) => format!("{} <{email}> ({})", change.name, change.external_id),
        None => format!("{} ({})", change.name, change.external_id),
    };
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
    format!("{:<18} {who}: {reason} [{result}]", change.action)
}

/// The changes of run `run`.
pub fn run_changes(run: i64, changes: &[StoredChange]) -> String {
    let mut out = String::new();
    match changes.first() {
        None => {
            let _ = writeln!(out, "run #{run}: no changes recorded");
        }
        Some(first) => {
            let _ = writeln!(
                out,
                "run #{run}, started {}: {} changes",
                first.started,
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

/// Every change to the person (or group) `who` names, oldest first, with its run and date.
pub fn person_changes(who: &str, changes: &[StoredChange]) -> String {
    let wanted = fold(who);
    let matching: Vec<&StoredChange> = changes
        .iter()
        .filter(|stored| {
            let change = &stored.change;
            fold(&change.name).contains(&wanted)
                || change.email.as_deref().is_some_and(|e| fold(e) == wanted)
                || fold(change.external_id.as_str()) == wanted
        })
        .collect();
    let mut out = String::new();
    if matching.is_empty() {
        let _ = writeln!(out, "{who}: no recorded change names this person");
    }
    for stored in matching {
        let _ = writeln!(
            out,
            "#{:<5} {}  {}",
            stored.run.0,
            stored.started,
            line(stored)
        );
    }
    out
}
