//! The daemon's pages for people: the status page at `/` (health and the last runs, linking
//! their reports) and the reports at `/reports/run-NNNNNN.html|json`, read only from the report
//! folder and only by such a name. Off loopback both ask for the bearer token of
//! `daemon.status_token_file`, and are closed when none is configured.

use std::fmt::Write as _;
use std::path::PathBuf;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use flexsync_state::RunRecord;

use crate::html::escape;

/// How many runs the status page lists.
pub const RUNS_LISTED: usize = 30;

/// What the pages read, and who may read them.
#[derive(Debug, Clone)]
pub struct Site {
    pub report_dir: PathBuf,
    /// The tenant whose pages these are (`daemon --tenants`), served under `/tenants/{name}`.
    pub tenant: Option<String>,
    /// The token asked for when `guarded`.
    pub token: Option<SecretString>,
    /// The daemon listens off loopback: the pages ask for the token.
    pub guarded: bool,
}

impl Site {
    /// The pages of a daemon with these `[daemon]` settings: guarded off loopback by its token.
    pub fn of_daemon(
        settings: &crate::config::DaemonSettings,
        report_dir: PathBuf,
        tenant: Option<String>,
    ) -> Site {
        Site {
            report_dir,
            tenant,
            token: settings.status_token.clone(),
            guarded: !settings.listen.ip().is_loopback(),
        }
    }

    /// Where the pages are served: `` (the root) or `/tenants/{name}`.
    pub fn base(&self) -> String {
        self.tenant
            .as_ref()
            .map_or_else(String::new, |name| format!("/tenants/{name}"))
    }

    /// None when the request may read the pages; else the answer refusing it.
    pub fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        if !self.guarded {
            return None;
        }
        let Some(token) = &self.token else {
            return Some(
                (
                    StatusCode::FORBIDDEN,
                    "the daemon listens off loopback and daemon.status_token_file is not set: \
                     the status page and the reports are closed\n",
                )
                    .into_response(),
            );
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if same(
            given.trim().as_bytes(),
            token.expose_secret().trim().as_bytes(),
        ) {
            return None;
        }
        Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "the status page and the reports ask for the bearer token of \
                 daemon.status_token_file\n",
            )
                .into_response(),
        )
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The content type of a report the pages may serve: `run-<digits>.html` or `.json`, nothing
/// else (no other name, no path).
pub fn report_type(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("run-")?;
    let (digits, extension) = rest.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match extension {
        "html" => Some("text/html; charset=utf-8"),
        "json" => Some("application/json"),
        _ => None,
    }
}

/// The status page: health, reason and remedy, the next run, and the last runs with links to
/// the reports that exist.
pub fn status_page(site: &Site, health: &Value, runs: &[RunRecord]) -> String {
    let title = match &site.tenant {
        Some(name) => format!("flexsync: {}", escape(name)),
        None => "flexsync".to_string(),
    };
    let mut out = page_head(&title);
    if site.tenant.is_some() {
        out.push_str("<p><a href=\"/\">All tenants</a></p>\n");
    }
    let text = |v: &Value| v.as_str().map(escape).unwrap_or_else(|| "-".to_string());
    let _ = writeln!(
        out,
        "<p>Status: <strong>{}</strong></p>",
        text(&health["status"])
    );
    if health.get("reason").is_some() {
        let _ = writeln!(out, "<p>Why: {}</p>", text(&health["reason"]));
        let _ = writeln!(out, "<p>What to do: {}</p>", text(&health["remedy"]));
    }
    let _ = writeln!(out, "<p>Next run: {}</p>", text(&health["next_run"]));
    out.push_str(
        "<h2>Last runs</h2>\n<table border=\"1\" cellpadding=\"4\" style=\"border-collapse: collapse\">\n\
         <tr><th>Run</th><th>Kind</th><th>Started</th><th>Finished</th><th>Outcome</th>\
         <th>Summary</th><th>Report</th></tr>\n",
    );
    for run in runs {
        let _ = writeln!(
            out,
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            run.id,
            escape(&run.kind.to_string()),
            escape(&run.started.to_string()),
            run.finished
                .map_or("-".to_string(), |t| escape(&t.to_string())),
            run.ending(),
            escape(&summary(run)),
            links(site, run.id.0),
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// The start of a page, its title the heading too.
fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif\">\n<h1>{title}</h1>\n"
    )
}

/// One tenant on the overview of `daemon --tenants`.
pub struct TenantRow {
    pub name: String,
    /// The tenant's `/healthz` document.
    pub health: Value,
    /// The daemon holding the tenant's lease, when daemons share the tenants.
    pub holder: Option<String>,
}

/// Whether the daemons share the tenants through leases, as the overview shows it.
pub enum Leases {
    /// One daemon runs every tenant.
    None,
    Shared,
    /// The lease database does not answer: this daemon takes no tenant until it does.
    Unreachable(String),
}

/// The overview of `daemon --tenants` at `/`: each tenant's status, why and what to do, its
/// last and next run, who holds its lease, and a link to its own status page.
pub fn tenants_page(rows: &[TenantRow], leases: &Leases) -> String {
    let mut out = page_head("flexsync tenants");
    if let Leases::Unreachable(error) = leases {
        let _ = writeln!(
            out,
            "<p><strong>Cannot reach the lease database: {}</strong>; this daemon takes no \
             tenant until it can.</p>",
            escape(error)
        );
    }
    let leased = !matches!(leases, Leases::None);
    let attention = rows
        .iter()
        .filter(|row| row.health["status"] != "ok")
        .count();
    let _ = writeln!(
        out,
        "<p>{} tenants, {attention} needing attention.</p>",
        rows.len()
    );
    out.push_str(
        "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse: collapse\">\n\
         <tr><th>Tenant</th><th>Status</th><th>Why, and what to do</th><th>Last run</th>\
         <th>Next run</th>",
    );
    if leased {
        out.push_str("<th>Run by</th>");
    }
    out.push_str("</tr>\n");
    let text = |v: &Value| v.as_str().map(escape).unwrap_or_else(|| "-".to_string());
    for row in rows {
        let health = &row.health;
        let why = if health.get("reason").is_some() {
            format!("{}; {}", text(&health["reason"]), text(&health["remedy"]))
        } else {
            String::new()
        };
        let last = &health["last_run"];
        let last = if last.is_null() {
            "-".to_string()
        } else {
            format!(
                "#{} {} at {}",
                last["id"],
                text(&last["outcome"]),
                text(&last["finished"])
            )
        };
        let name = escape(&row.name);
        let _ = write!(
            out,
            "<tr><td><a href=\"/tenants/{name}\">{name}</a></td><td>{}</td><td>{why}</td>\
             <td>{last}</td><td>{}</td>",
            text(&health["status"]),
            text(&health["next_run"]),
        );
        if leased {
            let holder = row.holder.as_deref().map_or("-".to_string(), escape);
            let _ = write!(out, "<td>{holder}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// Links to the run's HTML and JSON reports, those that exist.
fn links(site: &Site, id: i64) -> String {
    ["html", "json"]
        .iter()
        .map(|extension| format!("run-{id:06}.{extension}"))
        .filter(|name| site.report_dir.join(name).is_file())
        .map(|name| format!("<a href=\"{}/reports/{name}\">{name}</a>", site.base()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `planned create 4; done create 4`, from the run's summary.
fn summary(run: &RunRecord) -> String {
    let Some(summary) = &run.summary else {
        return String::new();
    };
    let counts = |key: &str| {
        summary[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|text| !text.is_empty())
    };
    let mut parts = Vec::new();
    for (key, label) in [
        ("planned", "planned"),
        ("succeeded", "done"),
        ("failed", "failed"),
    ] {
        if let Some(text) = counts(key) {
            parts.push(format!("{label} {text}"));
        }
    }
    if let Some(guard) = summary["refused"].as_str() {
        parts.push(format!("refused by {guard}"));
    }
    if let Some(error) = summary["error"].as_str() {
        parts.push(error.to_string());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_reports_are_served() {
        assert_eq!(report_type("run-000042.json"), Some("application/json"));
        assert_eq!(report_type("run-7.html"), Some("text/html; charset=utf-8"));
        for name in [
            "run-.json",
            "run-12.txt",
            "run-12.json.tmp",
            "run-1a.json",
            "../flexsync.db",
            "run-1/../../x.json",
            "flexsync.db",
            "run-12",
        ] {
            assert_eq!(report_type(name), None, "{name}");
        }
    }

    fn site(guarded: bool, token: Option<&str>) -> Site {
        Site {
            report_dir: PathBuf::from("reports"),
            tenant: None,
            token: token.map(|t| SecretString::from(t.to_string())),
            guarded,
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn off_loopback_without_a_token_file_the_pages_are_closed() {
        assert!(
            site(false, None).refuse(&HeaderMap::new()).is_none(),
            "loopback: open"
        );
        let closed = site(true, None).refuse(&bearer("anything")).unwrap();
        assert_eq!(closed.status(), StatusCode::FORBIDDEN);
        let guarded = site(true, Some("t0ken"));
        assert_eq!(
            guarded.refuse(&HeaderMap::new()).unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        assert!(guarded.refuse(&bearer("t0ken")).is_none());
    }

    #[test]
    fn the_tenants_overview_says_who_needs_attention_why_and_who_runs_them() {
        let rows = [
            TenantRow {
                name: "acme".into(),
                health: serde_json::json!({"status": "ok", "next_run": "2026-12-01T01:00:00+01:00",
                    "last_run": {"id": 4, "outcome": "done", "finished": "2026-11-30T01:00:09+01:00"}}),
                holder: Some("node-a pid 7 since 2026-11-30T00:00:00Z".into()),
            },
            TenantRow {
                name: "globex".into(),
                health: serde_json::json!({"status": "attention", "reason": "Flex <down>",
                    "remedy": "check [flex] base_url", "last_run": null, "next_run": null}),
                holder: None,
            },
        ];
        let page = tenants_page(&rows, &Leases::Shared);
        assert!(page.contains("2 tenants, 1 needing attention"), "{page}");
        assert!(
            page.contains("#4 done at 2026-11-30T01:00:09+01:00"),
            "{page}"
        );
        assert!(
            page.contains("Flex &lt;down&gt;; check [flex] base_url"),
            "{page}"
        );
        assert!(page.contains("<td>node-a pid 7 since"), "{page}");
        assert!(page.contains("<th>Run by</th>"), "{page}");
        assert!(!tenants_page(&rows, &Leases::None).contains("Run by"));
        let cut_off = tenants_page(&rows, &Leases::Unreachable("connection closed".into()));
        assert!(
            cut_off.contains("Cannot reach the lease database: connection closed"),
            "{cut_off}"
        );
    }

    #[test]
    fn a_token_is_compared_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"ab", b"abc"));
    }
}
