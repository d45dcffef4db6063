//! One line of the benchmark's table per scenario, and the table as Markdown to paste.

use std::collections::BTreeMap;
use std::time::Duration;

use super::measure::Usage;

pub struct Row {
    name: String,
    usage: Usage,
    by_method: BTreeMap<String, u64>,
    minimum: u64,
    latency: Duration,
    concurrency: usize,
}

impl Row {
    /// `counters` are the emulators' requests keyed `"METHOD /route"`.
    pub fn new(
        name: String,
        usage: Usage,
        counters: [BTreeMap<String, u64>; 2],
        minimum: u64,
        latency: Duration,
        concurrency: usize,
    ) -> Row {
        let mut by_method = BTreeMap::new();
        for (route, count) in counters.iter().flatten() {
            let method = route.split(' ').next().unwrap_or(route).to_string();
            *by_method.entry(method).or_insert(0) += count;
        }
        Row {
            name,
            usage,
            by_method,
            minimum,
            latency,
            concurrency,
        }
    }

    pub fn requests(&self) -> u64 {
        self.by_method.values().sum()
    }

    /// The wall time the minimum takes with every slot busy: minimum x latency / concurrency.
    fn bound(&self) -> f64 {
        self.minimum as f64 * self.latency.as_secs_f64() / self.concurrency.max(1) as f64
    }
}

pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Scenario | Wall s | CPU s | Peak MB | Requests by method | Requests | Minimum | \
         Ratio | Latency bound s | Wall / bound |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let methods: Vec<String> = row
            .by_method
            .iter()
            .map(|(method, n)| format!("{method} {n}"))
            .collect();
        let bound = row.bound();
        let wall = row.usage.wall.as_secs_f64();
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.0} | {} | {} | {} | {:.2} | {:.2} | {} |\n",
            row.name,
            wall,
            row.usage.cpu.as_secs_f64(),
            row.usage.max_rss_kib as f64 / 1024.0,
            methods.join(", "),
            row.requests(),
            row.minimum,
            row.requests() as f64 / row.minimum.max(1) as f64,
            bound,
            if bound > 0.0 {
                format!("{:.1}", wall / bound)
            } else {
                "-".to_string()
            },
        ));
    }
    out
}
