//! The command line (commands, flags and their help), as the README documents it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "flexsync",
    version,
    about = "Keeps Winningtemp in step with Flex HRM"
)]
pub struct Cli {
    /// Log more (-v: flexsync's debug lines, -vv: everything at debug). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log errors only (the summary and reports are still written).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// `text` for people, `json` (one object a line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Which configuration a command reads: a file, or one tenant of a tenants folder.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(long, required_unless_present_any = ["tenant", "tenants"], conflicts_with = "tenant")]
    pub config: Option<PathBuf>,
    /// A tenant of the --tenants folder (its file NAME.toml, its own state and reports).
    #[arg(long, value_name = "NAME", requires = "tenants")]
    pub tenant: Option<String>,
    /// The tenants folder, as `flexsync daemon --tenants` reads it.
    #[arg(long, value_name = "DIR", env = "FLEXSYNC_TENANTS")]
    pub tenants: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything local: generated Flex data, both emulators, a full sync, changes, a second sync.
    Demo {
        #[arg(long, default_value_t = 250)]
        employees: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The SCIM emulator's profile.
        #[arg(long, value_enum, default_value_t = ProfileArg::Extended)]
        profile: ProfileArg,
        /// Keep the emulators, state and reports in this folder (default: a temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show what a sync would do; nothing is written.
    Plan {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the plan and report as JSON.
        #[arg(long)]
        json: bool,
        /// Plan as a sync on this day would (YYYY-MM-DD): starters, leavers, moves and scope
        /// changes dated ahead in Flex, against what the target holds now.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
        on: Option<jiff::civil::Date>,
    },
    /// Carry out the plan.
    Sync {
        #[command(flatten)]
        config: ConfigArgs,
        /// Let up to N pauses through for this run, whatever the guard thresholds say.
        #[arg(long = "allow-pauses", alias = "allow-deactivations", value_name = "N")]
        allow_pauses: Option<usize>,
        /// Let a source that shrank more than the guard allows through, for this run.
        #[arg(long)]
        allow_source_drop: bool,
        /// Let up to N group retirements through for this run.
        #[arg(long, value_name = "N")]
        allow_group_retirements: Option<usize>,
        /// Try the records held after failing in this run (once the cause is mended in
        /// Winningtemp, or by an upgrade of flexsync).
        #[arg(long)]
        retry_held: bool,
        /// Print the report, the plan and the group plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read both ends without writing and list every problem a sync would meet, each with the
    /// configuration key to fix (exit 2 when there is one), and what the target supports.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// One person's way through map and plan: their Flex record's findings, the values and group
    /// they map to, the account they match in Winningtemp, and what a sync would do to it.
    Explain {
        #[command(flatten)]
        config: ConfigArgs,
        /// A name (case and accents aside), a work email or a Flex employee id.
        who: String,
    },
    /// Run `sync` on the configured schedule until stopped (SIGTERM or Ctrl-C), serving
    /// /healthz and /metrics; with --tenants, every tenant of the folder on its own schedule.
    Daemon {
        #[arg(long, required_unless_present = "tenants", conflicts_with = "tenants")]
        config: Option<PathBuf>,
        /// A folder with one configuration per tenant (NAME.toml) and, optionally, the
        /// process-wide [daemon] section in _daemon.toml.
        #[arg(long, value_name = "DIR")]
        tenants: Option<PathBuf>,
    },
    /// Let the plan a guard refused in run RUN through once: the next sync (or scheduled run)
    /// carries it out if its plan is still exactly the same, and no other.
    Approve {
        #[command(flatten)]
        config: ConfigArgs,
        /// The refused run's number, as the refusal and `history` show it.
        run: i64,
        /// Who approves (recorded with the time); default: the user running the command.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// All that flexsync holds about one person, as JSON: the state store's rows and the
    /// reports that name them (for a data-protection request). Reads only the state store.
    Export {
        #[command(flatten)]
        config: ConfigArgs,
        /// A Flex employee id, or a name or work email the recorded changes carry.
        who: String,
    },
    /// Removes one person's data: their rows in the state store, and their name, email and id
    /// from the kept reports. Without --yes, only says what it would remove.
    Forget {
        #[command(flatten)]
        config: ConfigArgs,
        /// A Flex employee id, or a name or work email the recorded changes carry.
        who: String,
        /// Remove it.
        #[arg(long)]
        yes: bool,
    },
    /// Past runs from the state store.
    History {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print the changes of run N, person by person.
        #[arg(long, value_name = "N", conflicts_with = "who")]
        run: Option<i64>,
        /// Print one person's changes over time: a name, an email or a Flex id.
        #[arg(long, value_name = "TEXT")]
        who: Option<String>,
    },
    /// Write a synthetic Flex data file.
    Generate {
        #[arg(long)]
        employees: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure syncs against both emulators with added latency: wall and CPU time, requests
    /// by method against the fewest possible, and peak memory, per scenario, as a table.
    Bench {
        /// Employees of the organisation synced first, unchanged and 1% changed (0: none).
        #[arg(long, default_value_t = 10_000)]
        employees: usize,
        /// Employees of the large organisation: plan, initial and unchanged (0: none).
        #[arg(long, default_value_t = 100_000)]
        large: usize,
        #[arg(long, default_value_t = 11)]
        seed: u64,
        /// Added to every answer of both emulators.
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        /// Requests in flight at each end, and the sync's concurrency.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// The SCIM emulator's profile.
        #[arg(long, value_enum, default_value_t = ProfileArg::Extended)]
        profile: ProfileArg,
        /// Sync with `[winningtemp] bulk = false`: every write its own request, even where the
        /// SCIM emulator advertises Bulk.
        #[arg(long)]
        no_bulk: bool,
        /// Keep state, reports and logs in this folder (default: a temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Runs COMMAND and writes its CPU time and peak memory to OUT (used by `bench`).
    #[command(hide = true)]
    BenchMeasure {
        #[arg(long)]
        out: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run an emulator until interrupted.
    Emulate {
        #[command(subcommand)]
        end: EmulateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum EmulateCommand {
    /// The Flex HRM Web API, serving a data file.
    Flex {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        #[command(flatten)]
        faults: FaultArgs,
    },
    /// Winningtemp's SCIM 2.0 API.
    Scim {
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        #[arg(long, env = "FLEXSYNC_EMULATOR_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, value_enum, default_value_t = ProfileArg::Documented)]
        profile: ProfileArg,
        /// Operations one `/Bulk` request may carry (extended profile), advertised as
        /// `bulk.maxOperations`.
        #[arg(long, default_value_t = flexsync_emulators::scim::bulk::MAX_OPERATIONS)]
        bulk_max_operations: usize,
        /// Bytes one `/Bulk` request may carry, advertised as `bulk.maxPayloadSize`.
        #[arg(long, default_value_t = flexsync_emulators::scim::bulk::MAX_PAYLOAD_SIZE)]
        bulk_max_payload_size: usize,
        #[command(flatten)]
        faults: FaultArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered 429/503 (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub error_share: f64,
    /// `Retry-After` seconds sent with injected errors.
    #[arg(long, default_value_t = 1)]
    pub retry_after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    Documented,
    Extended,
}

impl From<ProfileArg> for flexsync_emulators::scim::Profile {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Documented => flexsync_emulators::scim::Profile::Documented,
            ProfileArg::Extended => flexsync_emulators::scim::Profile::Extended,
        }
    }
}

/// A day given on the command line, `YYYY-MM-DD`.
fn parse_day(text: &str) -> Result<jiff::civil::Date, String> {
    text.trim()
        .parse::<jiff::civil::Date>()
        .map_err(|_| format!("{text:?} is not a day as YYYY-MM-DD"))
}
