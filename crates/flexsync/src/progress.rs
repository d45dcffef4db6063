//! Progress of a run's long phases (reading Flex, reading Winningtemp, applying): a bar on a
//! terminal, and elsewhere (the daemon, CI, a pipe) a log line every few seconds, such as
//! "applying: 1,200 of 9,327 steps". Nothing is shown for a phase that ends quickly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress line is logged where there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);
/// How long a phase runs before its bar appears (short phases stay quiet).
const BAR_AFTER: Duration = Duration::from_millis(800);

/// What a phase counts: steps done of a known total, or a counter that only grows (requests).
pub enum Measure {
    Steps { done: Arc<AtomicU64>, total: u64 },
    Requests(Arc<flexsync_http::TransportStats>),
}

impl Measure {
    fn now(&self) -> (u64, Option<u64>) {
        match self {
            Measure::Steps { done, total } => (done.load(Ordering::Relaxed), Some(*total)),
            Measure::Requests(stats) => (stats.requests.load(Ordering::Relaxed), None),
        }
    }
}

/// One phase being watched; dropping it ends the watch.
pub struct Phase {
    watcher: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Phase {
    /// Starts watching `label` (e.g. "reading Flex") by `measure`.
    pub fn start(label: &'static str, measure: Measure) -> Phase {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = terminal.then(|| new_bar(label, &measure));
        let watched = bar.clone();
        let watcher = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut last_line = started;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (done, total) = measure.now();
                match &watched {
                    Some(bar) if started.elapsed() >= BAR_AFTER => {
                        bar.set_draw_target(ProgressDrawTarget::stderr());
                        bar.set_position(done);
                    }
                    Some(_) => {}
                    None if last_line.elapsed() >= LINE_EVERY => {
                        last_line = std::time::Instant::now();
                        tracing::info!(target: "flexsync::progress", "{}", line(label, done, total));
                    }
                    None => {}
                }
            }
        });
        Phase { watcher, bar }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.watcher.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn new_bar(label: &'static str, measure: &Measure) -> ProgressBar {
    let (bar, template) = match measure.now() {
        (_, Some(total)) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()),
            "{msg}: [{bar:30}] {human_pos} of {human_len} steps ({elapsed})",
        ),
        (_, None) => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            "{msg}: {spinner} {human_pos} requests ({elapsed})",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// "applying: 1,200 of 9,327 steps", "reading Flex: 48 requests".
pub fn line(label: &str, done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("{label}: {} of {} steps", grouped(done), grouped(total)),
        None => format!("{label}: {} requests", grouped(done)),
    }
}

/// 9327 -> "9,327".
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_people_count() {
        assert_eq!(
            line("applying", 1200, Some(9327)),
            "applying: 1,200 of 9,327 steps"
        );
        assert_eq!(line("reading Flex", 48, None), "reading Flex: 48 requests");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }
}
