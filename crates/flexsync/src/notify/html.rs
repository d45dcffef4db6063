//! The email's HTML body: a readable, escaped summary of the report (the terminal summary and a
//! table of every change, person by person). One function, so the full HTML report can take its
//! place.

use std::fmt::Write as _;

use crate::changes::{ChangeResult, NamedChange};
use crate::html::escape;
use crate::report::RunReport;

/// The HTML body for `report`.
pub fn html_body(report: &RunReport) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flexsync</title></head>\
         <body style=\"font-family: sans-serif\">\n",
    );
    let title = match report.run_id {
        Some(id) => format!("flexsync sync #{id}"),
        None => "flexsync sync".to_string(),
    };
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    if let Some(command) = &report.approve_command {
        let _ = writeln!(
            out,
            "<p><strong>Refused.</strong> To let exactly this plan through once: \
             <code>{}</code></p>",
            escape(command)
        );
    }
    if let Some(error) = &report.error {
        let _ = writeln!(
            out,
            "<p><strong>The sync stopped:</strong> {}</p>",
            escape(error)
        );
    }
    let _ = writeln!(out, "<pre>{}</pre>", escape(&report.render()));
    write_changes(&mut out, &report.changes);
    out.push_str("<p>The whole report is attached as JSON.</p>\n</body></html>\n");
    out
}

/// Every change as a table row: action, who, what changed, why and what came of it.
fn write_changes(out: &mut String, changes: &[NamedChange]) {
    if changes.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Changes</h2>\n<table border=\"1\" cellpadding=\"4\" style=\"border-collapse: collapse\">\n\
         <tr><th>Action</th><th>Name</th><th>Email</th><th>Flex id</th><th>Attributes</th>\
         <th>Reason</th><th>Result</th></tr>\n",
    );
    for change in changes {
        let attributes: Vec<String> = change
            .attributes
            .iter()
            .map(|a| {
                format!(
                    "{}: {} -> {}",
                    a.attribute,
                    a.before.as_deref().unwrap_or("(none)"),
                    a.after.as_deref().unwrap_or("(none)")
                )
            })
            .collect();
        let result = match &change.result {
            ChangeResult::Planned => "planned".to_string(),
            ChangeResult::Ok => "ok".to_string(),
            ChangeResult::Failed { error } => format!("failed: {error}"),
            ChangeResult::Skipped { why } => format!("skipped: {why}"),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(change.action.as_str()),
            escape(&change.name),
            escape(change.email.as_deref().unwrap_or("")),
            escape(change.external_id.as_str()),
            escape(&attributes.join("; ")),
            escape(&change.reason),
            escape(&result)
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::kind::OperationKind;

    #[test]
    fn names_are_escaped_and_every_change_is_a_row() {
        let report = RunReport {
            run_id: Some(42),
            changes: vec![NamedChange {
                external_id: "E1".into(),
                name: "Ann <b>O'Hara</b>".into(),
                email: Some("ann@example.se".into()),
                action: OperationKind::Create,
                attributes: Vec::new(),
                reason: "new in Flex".into(),
                result: ChangeResult::Ok,
            }],
            ..RunReport::default()
        };
        let html = html_body(&report);
        assert!(html.contains("<h1>flexsync sync #42</h1>"), "{html}");
        assert!(html.contains("Ann &lt;b&gt;O&#39;Hara&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>O'Hara"), "{html}");
        assert!(html.contains("<td>ann@example.se</td>"), "{html}");
        assert_eq!(html.matches("<tr><td>").count(), 1);
    }
}
