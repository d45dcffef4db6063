//! The daemon's `/metrics` page: its figures at one moment, encoded by `prometheus-client` in
//! Prometheus' text format (version 0.0.4). The daemon owns the figures; this module owns their
//! names, help texts and types.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeMetric, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// What the page shows. A gauge that is `None` is listed (help and type) without a sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Scheduled syncs since the daemon started, by outcome label, every outcome listed.
    pub runs: Vec<(&'static str, u64)>,
    /// Unix seconds.
    pub last_run: Option<i64>,
    pub last_success: Option<i64>,
    pub last_completed: Option<i64>,
    pub last_duration: Option<Duration>,
    /// The last run's operations by kind: carried out, and failed.
    pub operations: Vec<(String, u64, u64)>,
    pub findings: Option<u64>,
    /// Records held after failing, listed in the last run's report.
    pub held: Option<u64>,
    pub next_run: Option<i64>,
}

/// The page for `figures`.
pub fn render(figures: Figures) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(figures));
    let mut page = String::new();
    // Writing into a `String` does not fail, and neither does the collector below.
    if let Err(error) = prometheus_text::encode(&mut page, &registry) {
        tracing::error!(%error, "could not render /metrics");
    }
    page
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A counter's `_total` is added by the encoder.
        let mut runs = encoder.encode_descriptor(
            "flexsync_runs",
            "Scheduled syncs since the daemon started, by outcome.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, count) in &self.runs {
            ConstCounter::new(*count).encode(runs.encode_family(&[("outcome", *outcome)])?)?;
        }
        gauge(
            &mut encoder,
            "flexsync_last_run_timestamp_seconds",
            "When the last sync finished, in Unix seconds (at start: the last the state store remembers).",
            self.last_run,
        )?;
        gauge(
            &mut encoder,
            "flexsync_last_success_timestamp_seconds",
            "When the last sync that ended done (exit 0) finished, in Unix seconds (kept across restarts).",
            self.last_success,
        )?;
        gauge(
            &mut encoder,
            "flexsync_last_completed_timestamp_seconds",
            "When the last sync that applied its plan (exit 0, or 1 with some records failing) \
             finished, in Unix seconds (kept across restarts).",
            self.last_completed,
        )?;
        gauge(
            &mut encoder,
            "flexsync_last_run_duration_seconds",
            "How long the last scheduled sync took.",
            // To the millisecond.
            self.last_duration.map(|d| d.as_millis() as f64 / 1000.0),
        )?;
        let mut operations = encoder.encode_descriptor(
            "flexsync_last_run_operations",
            "Operations of the last scheduled sync, by kind and result.",
            None,
            MetricType::Gauge,
        )?;
        for (kind, ok, failed) in &self.operations {
            for (result, count) in [("ok", ok), ("failed", failed)] {
                let labels = [("kind", kind.as_str()), ("result", result)];
                ConstGauge::new(*count).encode(operations.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut encoder,
            "flexsync_last_run_findings",
            "Findings on Flex records in the last scheduled sync.",
            self.findings,
        )?;
        gauge(
            &mut encoder,
            "flexsync_last_run_held_records",
            "Records held after failing in the last scheduled sync (they need a person).",
            self.held,
        )?;
        gauge(
            &mut encoder,
            "flexsync_next_run_timestamp_seconds",
            "When the next scheduled sync is due, in Unix seconds (absent while one runs).",
            self.next_run,
        )
    }
}

/// A gauge without labels; its sample is left out while the value is unknown.
fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    match value {
        Some(value) => ConstGauge::new(value).encode(metric),
        None => Ok(()),
    }
}

/// Several tenants' pages as one: each sample gets the label `tenant`, and each metric's `HELP`
/// and `TYPE` lines come once, before all tenants' samples of it.
pub fn by_tenant(pages: &[(String, String)]) -> String {
    let mut families: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for (tenant, page) in pages {
        let mut current: Option<usize> = None;
        for line in page.lines() {
            if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
            {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                let index = match families.iter().position(|(n, _, _)| *n == name) {
                    Some(index) => index,
                    None => {
                        families.push((name, Vec::new(), Vec::new()));
                        families.len() - 1
                    }
                };
                if !families[index].1.iter().any(|l| l == line) {
                    families[index].1.push(line.to_string());
                }
                current = Some(index);
            } else if let Some(index) = current.filter(|_| !line.starts_with('#')) {
                families[index].2.push(with_tenant(line, tenant));
            }
        }
    }
    let mut out = String::new();
    for (_, comments, samples) in families {
        for line in comments.iter().chain(&samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `name{a="b"} 1` -> `name{tenant="t",a="b"} 1`; `name 1` -> `name{tenant="t"} 1`.
fn with_tenant(sample: &str, tenant: &str) -> String {
    let label = format!("tenant=\"{}\"", escape_label(tenant));
    match sample.find(['{', ' ']) {
        Some(at) if sample[at..].starts_with('{') => {
            let rest = &sample[at + 1..];
            let sep = if rest.starts_with('}') { "" } else { "," };
            format!("{}{{{label}{sep}{rest}", &sample[..at])
        }
        Some(at) => format!("{}{{{label}}}{}", &sample[..at], &sample[at..]),
        None => sample.to_string(),
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenants_share_one_help_and_type_per_metric_and_each_sample_names_its_tenant() {
        let page = |n: u64| {
            super::render(super::Figures {
                runs: vec![("done", n)],
                last_run: Some(1_000 + n as i64),
                ..super::Figures::default()
            })
        };
        let merged = super::by_tenant(&[("acme".into(), page(1)), ("globex".into(), page(2))]);
        assert_eq!(
            merged.matches("# TYPE flexsync_runs_total counter").count(),
            1,
            "{merged}"
        );
        let runs = "flexsync_runs_total{tenant=\"acme\",outcome=\"done\"} 1\n\
                    flexsync_runs_total{tenant=\"globex\",outcome=\"done\"} 2\n";
        assert!(merged.contains(runs), "{merged}");
        assert!(
            merged.contains("flexsync_last_run_timestamp_seconds{tenant=\"globex\"} 1002\n"),
            "{merged}"
        );
    }

    use super::*;

    #[test]
    fn a_page_in_prometheus_text_format() {
        let page = render(Figures {
            runs: vec![("done", 2), ("refused", 0)],
            last_run: Some(1_774_742_412),
            last_duration: Some(Duration::from_millis(12_345)),
            operations: vec![("create".into(), 3, 1)],
            ..Figures::default()
        });
        assert_eq!(
            page,
            "# HELP flexsync_runs_total Scheduled syncs since the daemon started, by outcome.\n\
             # TYPE flexsync_runs_total counter\n\
             flexsync_runs_total{outcome=\"done\"} 2\n\
             flexsync_runs_total{outcome=\"refused\"} 0\n\
             # HELP flexsync_last_run_timestamp_seconds When the last sync finished, in Unix seconds (at start: the last the state store remembers).\n\
             # TYPE flexsync_last_run_timestamp_seconds gauge\n\
             flexsync_last_run_timestamp_seconds 1774742412\n\
             # HELP flexsync_last_success_timestamp_seconds When the last sync that ended done (exit 0) finished, in Unix seconds (kept across restarts).\n\
             # TYPE flexsync_last_success_timestamp_seconds gauge\n\
             # HELP flexsync_last_completed_timestamp_seconds When the last sync that applied its plan (exit 0, or 1 with some records failing) finished, in Unix seconds (kept across restarts).\n\
             # TYPE flexsync_last_completed_timestamp_seconds gauge\n\
             # HELP flexsync_last_run_duration_seconds How long the last scheduled sync took.\n\
             # TYPE flexsync_last_run_duration_seconds gauge\n\
             flexsync_last_run_duration_seconds 12.345\n\
             # HELP flexsync_last_run_operations Operations of the last scheduled sync, by kind and result.\n\
             # TYPE flexsync_last_run_operations gauge\n\
             flexsync_last_run_operations{kind=\"create\",result=\"ok\"} 3\n\
             flexsync_last_run_operations{kind=\"create\",result=\"failed\"} 1\n\
             # HELP flexsync_last_run_findings Findings on Flex records in the last scheduled sync.\n\
             # TYPE flexsync_last_run_findings gauge\n\
             # HELP flexsync_last_run_held_records Records held after failing in the last scheduled sync (they need a person).\n\
             # TYPE flexsync_last_run_held_records gauge\n\
             # HELP flexsync_next_run_timestamp_seconds When the next scheduled sync is due, in Unix seconds (absent while one runs).\n\
             # TYPE flexsync_next_run_timestamp_seconds gauge\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let page = render(Figures {
            operations: vec![("a\"b\\c\nd".into(), 1, 0)],
            ..Figures::default()
        });
        assert!(
            page.contains(
                "flexsync_last_run_operations{kind=\"a\\\"b\\\\c\\nd\",result=\"ok\"} 1\n"
            ),
            "{page}"
        );
    }
}
