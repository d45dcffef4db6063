//! Data-protection requests for one person: `flexsync export` prints all that flexsync holds
//! about them (the state store's rows and the reports that name them); `flexsync forget`
//! removes it (the rows, and their name, email and id from the kept reports).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use flexsync_state::StateStore;

use crate::config::Records;
use crate::history_view::fold;

/// What `forget` replaces a person's name, email and id with in the reports.
const FORGOTTEN: &str = "(forgotten)";

/// The external id `who` stands for: a Flex id the store knows, or the one person whose name or
/// email the recorded changes carry.
pub fn resolve(store: &StateStore, who: &str) -> Result<String, String> {
    let wanted = fold(who);
    if wanted.is_empty() {
        return Err("give a Flex id, a work email or a name".to_string());
    }
    let changes = store.all_changes().map_err(|e| e.to_string())?;
    let mut ids: Vec<&str> = changes
        .iter()
        .filter(|s| {
            fold(s.change.external_id.as_str()) == wanted
                || fold(&s.change.name) == wanted
                || s.change.email.as_deref().is_some_and(|e| fold(e) == wanted)
        })
        .map(|s| s.change.external_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => Ok(who.trim().to_string()),
        many => Err(format!(
            "{} people match {who:?} ({}); give the Flex id",
            many.len(),
            many.join(", ")
        )),
    }
}

/// Everything about `external_id`: the store's rows and the reports that name them.
pub fn export(store: &StateStore, records: &Records, external_id: &str) -> Result<Value, String> {
    let rows = store.person_rows(external_id).map_err(|e| e.to_string())?;
    let reports: Vec<String> = reports_naming(&records.report_dir, &[external_id.to_string()])
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Ok(json!({
        "external_id": external_id,
        "state_store": rows,
        "reports_naming_them": reports,
    }))
}

/// What `forget` did.
pub struct Forgotten {
    pub removed: flexsync_state::person::Removed,
    pub reports: Vec<PathBuf>,
}

/// Removes `external_id`'s rows from the store, and their id, names and emails from the
/// reports.
pub fn forget(
    store: &StateStore,
    records: &Records,
    external_id: &str,
) -> Result<Forgotten, String> {
    // The names and emails they had, from the store, before the rows go.
    let rows = store.person_rows(external_id).map_err(|e| e.to_string())?;
    let mut words = vec![external_id.to_string()];
    for change in rows["changes"].as_array().into_iter().flatten() {
        for key in ["name", "email"] {
            if let Some(text) = change[key].as_str().filter(|t| t.len() > 2) {
                words.push(text.to_string());
            }
        }
    }
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    let removed = store.forget(external_id).map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    for path in reports_naming(&records.report_dir, &words) {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let html = path.extension().is_some_and(|e| e == "html");
        let mut redacted = text;
        for word in &words {
            let spelled = if html {
                maud::html! { (word) }.into_string()
            } else {
                serde_json::to_string(word)
                    .map(|quoted| quoted.trim_matches('"').to_string())
                    .unwrap_or_else(|_| word.clone())
            };
            redacted = redacted.replace(&spelled, FORGOTTEN);
        }
        crate::safe_write::write_atomically(&path, redacted.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        reports.push(path);
    }
    Ok(Forgotten { removed, reports })
}

/// The reports (`run-*.json`, `run-*.html`) that contain any of `words`.
fn reports_naming(dir: &Path, words: &[String]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| crate::report::is_report_file(&n))
        })
        .filter(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|text| words.iter().any(|w| text.contains(w.as_str())))
        })
        .collect();
    found.sort();
    found
}
