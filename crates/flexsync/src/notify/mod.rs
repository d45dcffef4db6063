//! Telling people how a sync went: whether to (each channel's `when`), what to say (the email's
//! subject, text, HTML and the JSON report attached; the webhook's JSON summary), and the
//! outcome of saying it. The adapters in `flexsync-notify` do the sending. A message that cannot
//! be sent is logged and returned as a [`Delivery`] with its error; it never fails the run.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use flexsync_notify::email::{Attachment, Email};

use crate::changes::ChangeResult;
use crate::config::Config;
use crate::report::RunReport;
use crate::run::Outcome;

/// When a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// After every sync.
    Always,
    /// After a sync that changed something in Winningtemp, and after every problem.
    Changes,
    /// After a sync that was refused, failed, or had records failing.
    Problems,
}

impl When {
    /// Whether a sync that ended with `outcome` and `report` is worth a message.
    pub fn wants(self, outcome: Outcome, report: &RunReport) -> bool {
        let problem = outcome != Outcome::Done;
        match self {
            When::Always => true,
            When::Problems => problem,
            When::Changes => problem || changed(report),
        }
    }
}

/// Whether the sync changed anything: a step carried out, or files delivered with changes.
fn changed(report: &RunReport) -> bool {
    report.changes.iter().any(|c| c.result == ChangeResult::Ok)
        || report.succeeded.values().any(|n| *n > 0)
        || (report.delivery.as_ref().is_some_and(|d| d.error.is_none())
            && report
                .file_changes
                .values()
                .any(|d| !(d.added.is_empty() && d.changed.is_empty() && d.removed.is_empty())))
}

/// What came of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// The run the message was about.
    pub run: Option<i64>,
    /// When it was sent (or tried), RFC 3339.
    pub at: String,
    /// Why it did not go out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends what each configured channel wants to say about a finished sync; one [`Delivery`] per
/// message tried. Failures are logged here.
pub async fn after_sync(config: &Config, outcome: Outcome, report: &RunReport) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    if let Some(email) = &config.notify.email
        && email.when.wants(outcome, report)
    {
        let sent = flexsync_notify::email::send(&email.smtp, email_of(outcome, report)).await;
        deliveries.push(delivery("email", report, sent));
    }
    if let Some(hook) = &config.notify.webhook
        && hook.when.wants(outcome, report)
    {
        let sent = flexsync_notify::webhook::post(&hook.settings, &summary(outcome, report)).await;
        deliveries.push(delivery("webhook", report, sent));
    }
    deliveries
}

fn delivery(
    channel: &'static str,
    report: &RunReport,
    sent: Result<(), flexsync_notify::NotifyError>,
) -> Delivery {
    let error = sent.err().map(|error| error.to_string());
    match &error {
        Some(error) => {
            tracing::warn!(channel, run = ?report.run_id, "could not notify: {error}")
        }
        None => tracing::info!(channel, run = ?report.run_id, "notified"),
    }
    Delivery {
        channel,
        run: report.run_id,
        at: jiff::Timestamp::now().to_string(),
        error,
    }
}

/// How many rows each list of the email's HTML part shows; the report files have them all.
const MOST_ROWS_IN_EMAIL: usize = 200;

/// The largest JSON report attached to an email: base64 makes it about 6.8 MB, under the
/// 10 MB many mail servers take. A larger one (an initial sync of 100,000 writes about 130 MB)
/// stays in the report folder, and the email names it.
const MOST_ATTACHED_BYTES: u64 = 5_000_000;

/// The email: subject with outcome and counts, the summary as text and HTML (each list cut at
/// [`MOST_ROWS_IN_EMAIL`]), and the JSON report attached while it is small enough.
pub fn email_of(outcome: Outcome, report: &RunReport) -> Email {
    // Measured before it is made: a large report is never held whole for an email.
    let size = json_size(report);
    let mut text = text_body(outcome, report);
    let attachment = (size <= MOST_ATTACHED_BYTES).then(|| Attachment {
        filename: report_name(report),
        content_type: "application/json".to_string(),
        body: serde_json::to_vec_pretty(report).unwrap_or_default(),
    });
    if attachment.is_some() {
        text.push_str("\nThe whole report is attached as JSON.\n");
    } else {
        text.push_str(&format!(
            "\nThe whole report ({} MB) is too large to attach: see {} in the report folder.\n",
            size / 1_000_000,
            report_name(report)
        ));
    }
    Email {
        subject: subject(outcome, report),
        text,
        html: crate::report_page::render(report, MOST_ROWS_IN_EMAIL),
        attachments: attachment.into_iter().collect(),
    }
}

/// The bytes of the report as pretty JSON, counted as it is written, not kept.
fn json_size(report: &RunReport) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer_pretty(&mut count, report);
    count.0
}

/// `run-000042.json`, the report's name in the report folder.
fn report_name(report: &RunReport) -> String {
    format!("{}.json", report.file_stem())
}

/// E.g. `flexsync sync #42: done: create 3, update 1` or
/// `flexsync sync #43: REFUSED by guard deactivations: pause 60 planned`.
pub fn subject(outcome: Outcome, report: &RunReport) -> String {
    let run = report
        .run_id
        .map_or_else(|| "sync".to_string(), |id| format!("sync #{id}"));
    let what = match outcome {
        Outcome::Done => format!("done: {}", counts(&report.succeeded, "nothing to change")),
        Outcome::RecordFailures => format!(
            "{} failed, done: {}",
            report.failure_count(),
            counts(&report.succeeded, "nothing")
        ),
        Outcome::Refused => format!(
            "REFUSED by guard {}: {} planned, nothing written",
            report
                .refused
                .as_ref()
                .map_or("?", |refusal| refusal.guard.as_str()),
            counts(&report.planned, "nothing")
        ),
        Outcome::Unreachable => "FAILED: an end could not be reached, nothing written".into(),
        Outcome::Usage => "FAILED: flexsync could not run, nothing written".into(),
    };
    format!("flexsync {run}: {what}")
}

fn counts(counts: &BTreeMap<String, usize>, none: &str) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    if parts.is_empty() {
        none.to_string()
    } else {
        parts.join(", ")
    }
}

/// The plain-text part: the terminal summary, with why a failed run stopped.
pub fn text_body(outcome: Outcome, report: &RunReport) -> String {
    let mut text = format!("{}\n\n", subject(outcome, report));
    if let Some(error) = &report.error {
        text.push_str(&format!("The sync stopped: {error}\n\n"));
    }
    text.push_str(&report.render());
    if report.refused.is_some() {
        text.push_str(&planned_changes(report));
    }
    text
}

/// How many planned changes a refusal's text part names; the HTML part and the JSON have all.
const MAX_PLANNED: usize = 50;

/// A refused plan's changes, person by person, for whoever decides whether to approve it.
fn planned_changes(report: &RunReport) -> String {
    let mut text = String::from("\nWhat the refused plan would do (nothing was written):\n");
    for change in report.changes.iter().take(MAX_PLANNED) {
        let email = change
            .email
            .as_deref()
            .map_or(String::new(), |e| format!(" <{e}>"));
        text.push_str(&format!(
            "  {} {}{email} ({}): {}\n",
            change.action, change.name, change.external_id, change.reason
        ));
    }
    if report.changes.len() > MAX_PLANNED {
        text.push_str(&format!(
            "  ... {} more in the whole report\n",
            report.changes.len() - MAX_PLANNED
        ));
    }
    text
}

/// The webhook's document: outcome, counts, the refusal and its approve command, the people
/// changed (name, email, Flex id, action and result) and warnings.
pub fn summary(outcome: Outcome, report: &RunReport) -> Value {
    let changes: Vec<Value> = report
        .changes
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "email": c.email,
                "external_id": c.external_id,
                "action": c.action,
                "result": c.result,
            })
        })
        .collect();
    json!({
        "text": subject(outcome, report),
        "run_id": report.run_id,
        "outcome": outcome.label(),
        "started": report.started,
        "planned": report.planned,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "findings": report.findings.len(),
        "refused": report.refused,
        "approve_command": report.approve_command,
        "error": report.error,
        "changes": changes,
        "warnings": report.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeResult, NamedChange};
    use flexsync_core::ids::ExternalId;
    use flexsync_core::kind::OperationKind;

    fn report_of(changes: usize, reason: &str) -> RunReport {
        let change = |n: usize| NamedChange {
            external_id: ExternalId::new(format!("e{n:06}")),
            name: format!("Person {n:06}"),
            email: Some(format!("person{n}@example.se")),
            action: OperationKind::Create,
            attributes: Vec::new(),
            reason: reason.to_string(),
            result: ChangeResult::Ok,
        };
        RunReport {
            run_id: Some(7),
            changes: (0..changes).map(change).collect(),
            ..RunReport::default()
        }
    }

    #[test]
    fn an_email_lists_a_few_hundred_rows_and_attaches_a_small_report() {
        let email = email_of(Outcome::Done, &report_of(250, "new in Flex"));
        assert!(email.html.contains("Person 000199"));
        assert!(!email.html.contains("Person 000200"));
        assert!(email.html.contains("… and 50 more in the whole report"));
        assert_eq!(email.attachments.len(), 1);
        assert!(email.text.contains("attached as JSON"));
    }

    #[test]
    fn a_report_too_large_to_attach_is_named_instead() {
        // About 6 MB of JSON.
        let email = email_of(Outcome::Done, &report_of(6_000, &"x".repeat(1_000)));
        assert!(email.attachments.is_empty());
        assert!(
            email
                .text
                .contains("too large to attach: see run-000007.json")
        );
        assert!(email.html.len() < 1_000_000, "{} bytes", email.html.len());
    }
}
