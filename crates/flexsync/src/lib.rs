//! flexsync: keeps Winningtemp in step with Flex HRM. This crate is the program around the pure
//! core and the two ends' adapters: configuration, runs, the file channel, reports and the
//! command line.
//!
//! - [`cli`]: the command line's shape.
//! - [`config`]: the TOML file, checked into a `Config`.
//! - [`run`]: one run, read to report, and its exit code.
//! - [`check`]: `flexsync check`, every problem a sync would meet, each with its key.
//! - [`changes`]: every change of a run, naming the person or group.
//! - [`history_view`]: a run's changes, and one person's over time, from the state store.
//! - [`html`]: text made safe inside HTML.
//! - [`report`]: the run report (terminal and JSON).
//! - [`report_page`]: the run report as a self-contained HTML page.
//! - [`retention`]: pruning runs and reports older than `[report] keep_days`.
//! - [`person`]: `export` and `forget`, one person's data for a data-protection request.
//! - [`progress`]: bars or periodic lines for a run's long phases.
//! - [`plan_view`]: a plan as a readable diff.
//! - [`tree_view`]: the group tree as an outline.
//! - [`commands`]: what each command does.
//! - [`terminal`]: a command's output on stdout, ending quietly when the reader goes away.
//! - [`schedule`]: when the daemon's next run is due (pure).
//! - [`daemon`]: `flexsync daemon`: scheduled syncs, `/healthz`, `/livez`, `/metrics`, the
//!   status page and the reports; with `--tenants`, every tenant of a folder, alone or sharing
//!   them with other daemons through leases.
//! - [`notify`]: the email and webhook after each sync (what to say, and when).
//! - [`daemon_listener`]: the daemon's listener: a connection cap and a header timeout.
//! - [`metrics`]: the `/metrics` page's names, help texts and encoding.
//! - [`demo`]: `flexsync demo`, everything local.
//! - [`terminal`]: text made safe to print (no control characters).
//! - [`safe_write`]: files written through exclusive, unpredictable temporary names.
//! - [`file_writer`]: the CSV file channel (`wt_users.csv`, `wt_groups.csv`) to a folder or SFTP.

pub mod bench;
pub mod changes;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod daemon_listener;
pub mod demo;
pub mod file_writer;
pub mod history_view;
pub mod html;
pub mod metrics;
pub mod notify;
pub mod person;
pub mod plan_view;
pub mod progress;
pub mod report;
pub mod report_page;
pub mod retention;
pub mod run;
pub mod safe_write;
pub mod schedule;
pub mod terminal;
pub mod tree_view;
