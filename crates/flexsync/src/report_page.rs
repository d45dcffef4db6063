//! The run report as one self-contained HTML page (`run-NNNNNN.html` beside the JSON): the
//! outcome and counts first, then what needs attention, every change grouped by action, the
//! findings grouped by kind, and the group tree. No script and no request: the page's content
//! policy forbids loading anything.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use maud::{DOCTYPE, Markup, html};

use flexsync_core::finding::{Finding, FindingKind, Severity};
use flexsync_core::ids::ExternalId;
use flexsync_core::kind::OperationKind;
use flexsync_core::outcome::Outcome;

use crate::changes::{ChangeResult, NamedChange};
use crate::report::RunReport;
use crate::tree_view::TreeRow;

/// Nothing may be fetched; only the page's own style applies.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.45em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #d5d9e0;padding-bottom:.2em}
h3{font-size:1.02em;margin:1.2em 0 .4em}
.meta{color:#5a6472;margin:0 0 12px}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-weight:600;font-size:.9em}
.done,.ok{background:#dff3e4;color:#17622d}.record_failures,.skipped,.planned{background:#fff1cc;color:#7a5200}
.refused,.unreachable,.usage,.failed{background:#fde2e1;color:#8f1d17}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px 10px}
.card b{display:block;font-size:1.4em}
.attention{background:#fff;border-left:4px solid #c0392b;padding:6px 12px;border-radius:4px}
.attention li{margin:.35em 0}.calm{color:#17622d}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.95em}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid #e4e7ec}
th{background:#eef0f4}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8em;color:#5a6472;word-break:break-all}
.email{color:#34495e}.arrow{color:#5a6472}
ul.tree,ul.tree ul{list-style:none;padding-left:1.1em;margin:0}ul.tree{padding-left:0}
ul.tree li{border-left:1px solid #c5cad3;padding-left:.6em;margin:.15em 0}
.count{color:#5a6472;font-size:.9em}
footer{color:#5a6472;font-size:.85em;margin-top:2em}
@media (max-width:640px){
 table,thead,tbody,tr,td{display:block}thead{display:none}
 tr{border:1px solid #d5d9e0;border-radius:6px;margin:0 0 8px;background:#fff}
 td{border:0;padding:3px 8px}td[data-label]::before{content:attr(data-label) ': ';font-weight:600;color:#5a6472}
}
";

/// The page of one run's report, with at most `most_rows` rows in each list (changes of one
/// action, findings of one kind, each kind of attention); what is left out is counted.
pub fn render(report: &RunReport, most_rows: usize) -> String {
    let mut page = Vec::new();
    // Writing into memory cannot fail, and maud writes UTF-8.
    let _ = write_rows(report, &mut page, most_rows);
    String::from_utf8(page).unwrap_or_default()
}

/// Writes the whole page to `out` as it is made: the changes of a large run go row by row, so
/// the page is never held whole.
pub fn write(report: &RunReport, out: &mut impl Write) -> io::Result<()> {
    write_rows(report, out, usize::MAX)
}

fn write_rows(report: &RunReport, out: &mut impl Write, most_rows: usize) -> io::Result<()> {
    let title = format!("{} — {}", run_title(report), outcome_text(report));
    let head = html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta http-equiv="Content-Security-Policy" content=(POLICY);
        title { (title) }
        style { (maud::PreEscaped(STYLE)) }
    };
    let head = head.into_string();
    // The doctype opens the page; the rest of the head goes inside <html><head>.
    let (doctype, head) = head.split_at(DOCTYPE.0.len());
    out.write_all(doctype.as_bytes())?;
    out.write_all(b"<html lang=\"en\"><head>")?;
    out.write_all(head.as_bytes())?;
    out.write_all(b"</head><body><main>")?;
    for section in [header(report), attention(report, most_rows)] {
        out.write_all(section.into_string().as_bytes())?;
    }
    write_changes(report, out, most_rows)?;
    for section in [
        findings(report, most_rows),
        tree(report, most_rows),
        footer(report),
    ] {
        out.write_all(section.into_string().as_bytes())?;
    }
    out.write_all(b"</main></body></html>")
}

/// "flexsync sync #12", "flexsync plan".
fn run_title(report: &RunReport) -> String {
    match report.run_id {
        Some(id) => format!("flexsync {} #{id}", report.kind.label()),
        None => format!("flexsync {}", report.kind.label()),
    }
}

fn outcome_text(report: &RunReport) -> &'static str {
    match report.outcome {
        None => "in progress",
        Some(Outcome::Done) if report.dry_run => "planned, nothing written",
        Some(Outcome::Done) => "done",
        Some(Outcome::RecordFailures) => "done, with records failing",
        Some(Outcome::Refused) => "refused: nothing was written",
        Some(Outcome::Unreachable) => "stopped: an end could not be used",
        Some(Outcome::Usage) => "stopped: configuration or state store",
    }
}

fn header(report: &RunReport) -> Markup {
    let outcome = report.outcome.map_or("planned", |o| o.label());
    let count = |counts: &BTreeMap<String, usize>| counts.values().sum::<usize>();
    let left_out = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Skipped)
        .count();
    html! {
        h1 { (run_title(report)) " " span.badge.(outcome) { (outcome_text(report)) } }
        p.meta {
            "Started " (local_time(&report.started)) ", took "
            (format!("{:.1}", report.duration_ms as f64 / 1000.0)) " s"
        }
        div.cards {
            div.card { b { (report.source_records) } "Flex records" }
            div.card { b { (report.desired_users) } "users to hold (" (report.desired_active) " active)" }
            div.card { b { (report.target_users) } "users Winningtemp held" }
            div.card { b { (count(&report.planned)) } "changes planned" }
            @if !report.dry_run && report.refused.is_none() {
                div.card { b { (count(&report.succeeded)) } "changes done" }
                div.card { b { (count(&report.failed)) } "changes failed" }
            }
            div.card { b { (report.findings.len()) } "findings (" (left_out) " people left out)" }
            @if report.out_of_scope > 0 {
                div.card { b { (report.out_of_scope) } "out of scope (the scoping rules)" }
            }
        }
    }
}

/// A report's start in this machine's time zone, "2026-11-30 11:16:52 CET".
pub fn local_time(started: &str) -> String {
    match started.parse::<jiff::Timestamp>() {
        Ok(at) => at
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => started.to_string(),
    }
}

/// What a person must look at: refusals, errors, failures, held records, people left out.
fn attention(report: &RunReport, most_rows: usize) -> Markup {
    let changes = changes_by_id(report);
    let left_out: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Skipped)
        .collect();
    let delivery_error = report.delivery.as_ref().and_then(|d| d.error.as_deref());
    let calm = report.error.is_none()
        && report.refused.is_none()
        && report.failures.is_empty()
        && report.held_back.is_empty()
        && left_out.is_empty()
        && delivery_error.is_none()
        && report.conflicts.is_empty()
        && report.warnings.is_empty()
        && !report.tree_by_hand;
    html! {
        h2 { "Needs attention" }
        @if calm {
            p.calm { "Nothing needs attention." }
        } @else {
            ul.attention {
                @if let Some(error) = &report.error {
                    li { b { "The run stopped before it wrote anything: " } (error) }
                }
                @if let Some(refusal) = &report.refused {
                    li {
                        b { "Refused by guard " (refusal.guard) ": " } (refusal.problem)
                        br; "Nothing was written. To proceed: " (refusal.remedy)
                        @if let Some(command) = &report.approve_command {
                            br; "Or, once you have checked the changes below, let exactly this plan through once: "
                            code { (command) }
                        }
                    }
                }
                @for failure in report.failures.iter().take(most_rows) {
                    li {
                        b { "Failed " (failure.kind) ": " } (who_text(&changes, &failure.external_id, failure.kind))
                        " — " (failure.error_message().unwrap_or(""))
                    }
                }
                (more_items(report.failures.len(), most_rows, "failures"))
                @for external_id in report.held_back.iter().take(most_rows) {
                    li {
                        b { "Held: " } (who_text(&changes, external_id, held_kind(report, external_id)))
                        ": " (crate::report::held_reason(report, external_id))
                        " (or run sync --retry-held)"
                    }
                }
                (more_items(report.held_back.len(), most_rows, "held"))
                @for finding in left_out.iter().take(most_rows) {
                    li { b { "Left out: " } (finding.who()) " — " (finding.field) ": " (finding.problem) }
                }
                (more_items(left_out.len(), most_rows, "left out"))
                @for conflict in report.conflicts.iter().take(most_rows) {
                    li { b { "Conflict: " } (conflict.external_id) " — " (conflict.problem) }
                }
                (more_items(report.conflicts.len(), most_rows, "conflicts"))
                @if let Some(error) = delivery_error {
                    li { b { "Files not delivered: " } (error) }
                }
                @if report.tree_by_hand {
                    li { "The SCIM server holds no group parent: groups are flat; place the tree by hand in Winningtemp or deliver it as files." }
                }
                @for warning in &report.warnings {
                    li { b { "Warning: " } (warning) }
                }
            }
        }
    }
}

fn held_kind(report: &RunReport, external_id: &ExternalId) -> OperationKind {
    report
        .deferred
        .iter()
        .find(|d| &d.external_id == external_id)
        .map_or(OperationKind::Update, |d| d.kind)
}

/// The run's named changes by external id, in report order: found once, not searched for
/// each failure (a run where every write fails has as many failures as changes).
fn changes_by_id(report: &RunReport) -> HashMap<&str, Vec<&NamedChange>> {
    let mut by_id: HashMap<&str, Vec<&NamedChange>> = HashMap::new();
    for change in &report.changes {
        by_id
            .entry(change.external_id.as_str())
            .or_default()
            .push(change);
    }
    by_id
}

/// "Anna Svensson <anna@example.se> (id)" for a step, from the run's named changes.
fn who_text(
    changes: &HashMap<&str, Vec<&NamedChange>>,
    external_id: &ExternalId,
    kind: OperationKind,
) -> String {
    let of_person = changes
        .get(external_id.as_str())
        .map_or(&[][..], Vec::as_slice);
    let change = of_person
        .iter()
        .find(|c| c.action == kind)
        .or_else(|| of_person.first())
        .copied();
    match change {
        Some(NamedChange {
            name,
            email: Some(email),
            ..
        }) => format!("{name} <{email}> ({external_id})"),
        Some(change) if change.name != external_id.as_str() => {
            format!("{} ({external_id})", change.name)
        }
        _ => external_id.to_string(),
    }
}

/// The order actions are shown in: what takes people away first, creations after updates,
/// then the groups.
const ACTION_ORDER: [OperationKind; 13] = [
    OperationKind::Pause,
    OperationKind::Reactivate,
    OperationKind::Update,
    OperationKind::Adopt,
    OperationKind::SetManager,
    OperationKind::Create,
    OperationKind::RetireGroup,
    OperationKind::CreateGroup,
    OperationKind::RenameGroup,
    OperationKind::MoveGroup,
    OperationKind::RemoveMembers,
    OperationKind::AddMembers,
    OperationKind::SetGroupManagers,
];

/// What an action is called on the page (the report's own word beside it).
fn action_title(action: OperationKind) -> &'static str {
    match action {
        OperationKind::Pause => "Paused",
        OperationKind::Reactivate => "Reactivated",
        OperationKind::Update => "Updated",
        OperationKind::Adopt => "Existing accounts taken over",
        OperationKind::SetManager => "Manager changed",
        OperationKind::Create => "Created",
        OperationKind::RetireGroup => "Groups retired",
        OperationKind::CreateGroup => "Groups created",
        OperationKind::RenameGroup => "Groups renamed",
        OperationKind::MoveGroup => "Groups moved in the tree",
        OperationKind::RemoveMembers => "Left a group",
        OperationKind::AddMembers => "Joined a group",
        OperationKind::SetGroupManagers => "Group managers changed",
    }
}

/// Every change, grouped by action (pauses first), people in name order, with a line of
/// counts that links to each group.
fn write_changes(report: &RunReport, out: &mut impl Write, most_rows: usize) -> io::Result<()> {
    let mut by_action: BTreeMap<OperationKind, Vec<&NamedChange>> = BTreeMap::new();
    for change in &report.changes {
        by_action.entry(change.action).or_default().push(change);
    }
    for list in by_action.values_mut() {
        list.sort_by(|a, b| (&a.name, &a.external_id).cmp(&(&b.name, &b.external_id)));
    }
    let put_off = report.deferred.len();
    let shown: Vec<(OperationKind, &Vec<&NamedChange>)> = ACTION_ORDER
        .iter()
        .filter_map(|action| by_action.get(action).map(|list| (*action, list)))
        .collect();
    let summary = html! {
        h2 {
            "Changes (" (report.changes.len() - put_off)
            @if put_off > 0 { ", and " (put_off) " put off" }
            ")"
        }
        @if shown.is_empty() {
            p { "No change: Winningtemp already matched Flex." }
        } @else {
            p.meta {
                @for (action, list) in &shown {
                    a href=(format!("#{}", action.as_str())) { (action_title(*action)) " " (list.len()) }
                    " · "
                }
            }
        }
    };
    out.write_all(summary.into_string().as_bytes())?;
    for (action, list) in &shown {
        let heading = html! {
            h3 id=(action.as_str()) { (action_title(*action)) " (" (list.len()) ") " span.id { (action.as_str()) } }
            thead { tr { th { "Who" } th { "What changed" } th { "Why" } th { "Result" } } }
        };
        let heading = heading.into_string();
        let (title, columns) = heading.split_at(heading.find("<thead>").unwrap_or(heading.len()));
        out.write_all(title.as_bytes())?;
        out.write_all(b"<table>")?;
        out.write_all(columns.as_bytes())?;
        out.write_all(b"<tbody>")?;
        for change in list.iter().take(most_rows) {
            let row = html! {
                tr {
                    td data-label="Who" { (person(&change.name, change.email.as_deref(), change.external_id.as_str())) }
                    td data-label="What changed" { (attributes(change)) }
                    td data-label="Why" { (change.reason) }
                    td data-label="Result" { (result(&change.result)) }
                }
            };
            out.write_all(row.into_string().as_bytes())?;
        }
        out.write_all(more_rows(list.len(), most_rows).into_string().as_bytes())?;
        out.write_all(b"</tbody></table>")?;
    }
    Ok(())
}

/// The row that counts what a list left out, when it left anything out.
fn more_rows(listed: usize, most_rows: usize) -> Markup {
    html! {
        @if listed > most_rows {
            tr { td colspan="4" { "… and " (listed - most_rows) " more in the whole report" } }
        }
    }
}

/// The line that counts the items of one kind a list of attention left out.
fn more_items(listed: usize, most_rows: usize, what: &str) -> Markup {
    html! {
        @if listed > most_rows {
            li { "… and " (listed - most_rows) " more " (what) " in the whole report" }
        }
    }
}

/// A change's attributes: before and after for an update, the values set for a creation
/// (on one line, they are many).
fn attributes(change: &NamedChange) -> Markup {
    if !crate::changes::shows_before(change.action) {
        let lines = change.attribute_lines();
        return html! { (lines.join(" · ")) };
    }
    html! {
        @for attribute in &change.attributes {
            div {
                b { (attribute.attribute) } ": "
                (attribute.before.as_deref().unwrap_or("(none)"))
                span.arrow { " → " }
                (attribute.after.as_deref().unwrap_or("(none)"))
            }
        }
    }
}

/// Name, email and id, one under the other. A group shows its path; its key is kept for a
/// pointer's hover.
fn person(name: &str, email: Option<&str>, id: &str) -> Markup {
    let group = id.starts_with(flexsync_core::groups::PATH_PREFIX)
        || id.starts_with(flexsync_core::groups::NAME_PREFIX);
    html! {
        div title=(id) { b { (name) } }
        @if let Some(email) = email { div.email { (email) } }
        @if name != id && !group { div.id { (id) } }
    }
}

fn result(result: &ChangeResult) -> Markup {
    match result {
        ChangeResult::Planned => html! { span.badge.planned { "planned" } },
        ChangeResult::Ok => html! { span.badge.ok { "ok" } },
        ChangeResult::Failed { error } => html! { span.badge.failed { "failed" } " " (error) },
        ChangeResult::Skipped { why } => html! { span.badge.skipped { "skipped" } " " (why) },
    }
}

/// Findings grouped by kind, people named.
fn findings(report: &RunReport, most_rows: usize) -> Markup {
    let mut by_kind: BTreeMap<FindingKind, Vec<&Finding>> = BTreeMap::new();
    for finding in &report.findings {
        by_kind.entry(finding.kind).or_default().push(finding);
    }
    html! {
        h2 { "Findings in the Flex data (" (report.findings.len()) ")" }
        @if by_kind.is_empty() { p { "None." } }
        @for (kind, list) in &by_kind {
            h3 { (kind) " (" (list.len()) ")" }
            table {
                thead { tr { th { "Who" } th { "Field" } th { "Problem" } th { "What was done" } } }
                tbody {
                    @for finding in list.iter().take(most_rows) {
                        tr {
                            td data-label="Who" {
                                (person(finding.name.as_deref().unwrap_or(&finding.record),
                                        finding.email.as_deref(), &finding.record))
                            }
                            td data-label="Field" { (finding.field) }
                            td data-label="Problem" { (finding.problem) }
                            td data-label="What was done" { (finding.action) }
                        }
                    }
                    (more_rows(list.len(), most_rows))
                }
            }
        }
    }
}

/// The group tree, nested as it is, with member counts and the run's changes to each group.
fn tree(report: &RunReport, most_rows: usize) -> Markup {
    if report.tree.is_empty() {
        return html! {};
    }
    let mut changed: BTreeMap<&str, Vec<OperationKind>> = BTreeMap::new();
    for change in &report.changes {
        if change.action.is_group() {
            changed
                .entry(change.external_id.as_str())
                .or_default()
                .push(change.action);
        }
    }
    html! {
        h2 { "Group tree (" (report.tree.len()) " groups)" }
        // A start of an outline in pre-order is an outline too.
        ul.tree { (branch(&report.tree[..report.tree.len().min(most_rows)], 0, &changed)) }
        @if report.tree.len() > most_rows {
            p { "… and " (report.tree.len() - most_rows) " more groups in the whole report" }
        }
        @if report.outside_the_tree > 0 {
            p { (report.outside_the_tree) " active users sit in no group." }
        }
    }
}

/// The rows at `depth` from the start of `rows` (an outline in pre-order), each with its
/// children nested below it.
fn branch(rows: &[TreeRow], depth: usize, changed: &BTreeMap<&str, Vec<OperationKind>>) -> Markup {
    let mut at = 0;
    let mut items = Vec::new();
    while at < rows.len() && rows[at].depth >= depth {
        let row = &rows[at];
        let end = rows[at + 1..]
            .iter()
            .position(|r| r.depth <= row.depth)
            .map_or(rows.len(), |p| at + 1 + p);
        items.push((row, &rows[at + 1..end]));
        at = end;
    }
    html! {
        @for (row, below) in items {
            li {
                b { (row.name) } " "
                span.count { "(" (row.members) " direct, " (row.members_in_all) " in all)" }
                @for action in changed.get(row.external_id.as_str()).into_iter().flatten() {
                    " " span.badge.planned { (action) }
                }
                @if !below.is_empty() {
                    ul { (branch(below, row.depth + 1, changed)) }
                }
            }
        }
    }
}

fn footer(report: &RunReport) -> Markup {
    let requests: Vec<String> = report
        .requests
        .iter()
        .map(|(end, count)| format!("{end} {count}"))
        .collect();
    html! {
        footer {
            @if !report.deferred.is_empty() {
                p { (report.deferred.len()) " steps of records that failed lately wait for their next try." }
            }
            p { "HTTP requests: " (requests.join(", ")) }
            p { "The JSON report beside this page holds the same content for programs." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::AttributeChange;

    fn pause(name: &str) -> NamedChange {
        NamedChange {
            external_id: "e1".into(),
            name: name.into(),
            email: Some("anna@example.se".into()),
            action: OperationKind::Pause,
            attributes: vec![AttributeChange {
                attribute: "active".into(),
                before: Some("true".into()),
                after: Some("false".into()),
            }],
            reason: "no longer in Flex".into(),
            result: ChangeResult::Ok,
        }
    }

    #[test]
    fn names_are_escaped_and_nothing_is_fetched() {
        let report = RunReport {
            run_id: Some(7),
            outcome: Some(Outcome::Done),
            changes: vec![pause("<script>alert(1)</script> Svensson")],
            ..RunReport::default()
        };
        let page = render(&report, usize::MAX);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; Svensson"));
        assert!(page.contains("default-src 'none'"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(page.contains("Paused (1)"));
    }

    #[test]
    fn the_tree_nests_children_under_their_parent() {
        let row = |name: &str, depth| TreeRow {
            external_id: ExternalId::from(name),
            name: name.into(),
            depth,
            members: 1,
            members_in_all: 1,
        };
        let rows = [
            row("A", 0),
            row("A1", 1),
            row("A1x", 2),
            row("A2", 1),
            row("B", 0),
        ];
        let page = branch(&rows, 0, &BTreeMap::new()).into_string();
        let text: String = page
            .replace("<li>", "(")
            .replace("</li>", ")")
            .split('<')
            .map(|part| part.split_once('>').map_or(part, |(_, rest)| rest))
            .collect::<String>()
            .replace(" (1 direct, 1 in all)", "");
        assert_eq!(text, "(A(A1(A1x))(A2))(B)");
    }
}
