//! `flexsync bench`: both emulators with added latency, the generated organisation, and each
//! scenario run as a measured `flexsync` child process, printed as a table to paste.

mod measure;
mod minimum;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::{flex, scim};

use crate::cli::ProfileArg;
use crate::run::{Outcome, RunFailure};

pub use measure::run_and_record;
use table::Row;

const TOKEN: &str = "bench-scim-token";

/// What to run: the sizes, the seed, and how slow and how wide the ends are.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub employees: usize,
    /// The large organisation (plan, initial and unchanged); 0 leaves it out.
    pub large: usize,
    pub seed: u64,
    pub latency_ms: u64,
    pub concurrency: usize,
    pub profile: ProfileArg,
    /// `[winningtemp] bulk`: Bulk where the SCIM emulator advertises it.
    pub bulk: bool,
    pub dir: Option<PathBuf>,
}

pub async fn run(options: BenchOptions) -> Result<Outcome, RunFailure> {
    let dir = options.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("flexsync-bench-{}", std::process::id()))
    });
    println!(
        "== flexsync bench: seed {}, {} ms added latency, {} requests in flight, SCIM profile {:?}, \
         bulk {}",
        options.seed, options.latency_ms, options.concurrency, options.profile, options.bulk
    );
    println!("   working folder: {}", dir.display());
    let mut rows = Vec::new();
    if options.employees > 0 {
        let mut world = World::set_up(&options, options.employees, &dir).await?;
        rows.push(world.scenario("initial", &[]).await?);
        rows.push(world.scenario("unchanged", &[]).await?);
        let changes = world.change_one_percent()?;
        rows.push(
            world
                .scenario(&format!("1% changed ({changes} changes)"), &[])
                .await?,
        );
        world.finish().await;
    }
    if options.large > 0 {
        let mut world = World::set_up(&options, options.large, &dir).await?;
        rows.push(world.plan_scenario().await?);
        rows.push(world.scenario("initial", &[]).await?);
        rows.push(world.scenario("unchanged", &[]).await?);
        world.finish().await;
    }
    println!();
    print!("{}", table::render(&rows));
    Ok(Outcome::Done)
}

fn failure(error: anyhow::Error) -> RunFailure {
    RunFailure::usage(error)
}

/// One organisation: its folder, data, both emulators, and the configuration a sync reads.
struct World {
    dir: PathBuf,
    employees: usize,
    seed: u64,
    today: jiff::civil::Date,
    latency: Duration,
    concurrency: usize,
    document: serde_json::Value,
    flex_server: flex::RunningFlex,
    scim_server: scim::RunningScim,
    config_path: PathBuf,
    runs: usize,
}

impl World {
    async fn set_up(
        options: &BenchOptions,
        employees: usize,
        parent: &Path,
    ) -> Result<World, RunFailure> {
        let dir = parent.join(format!("org-{employees}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot empty {}", dir.display()))
                .map_err(failure)?;
        }
        std::fs::create_dir_all(dir.join("reports"))
            .with_context(|| format!("cannot create {}", dir.display()))
            .map_err(failure)?;
        let today = jiff::Zoned::now()
            .with_time_zone(
                jiff::tz::TimeZone::get("Europe/Stockholm").unwrap_or(jiff::tz::TimeZone::UTC),
            )
            .date();
        let document = generate::generate(&GenerateOptions {
            employees,
            seed: options.seed,
            today,
            companies: None,
        });
        let faults = Faults {
            latency: Duration::from_millis(options.latency_ms),
            ..Faults::default()
        };
        let data = flex_data(&document).map_err(failure)?;
        let flex_server = flex::start(data, faults.clone())
            .await
            .context("cannot start the Flex emulator")
            .map_err(failure)?;
        let scim_server = scim::start(scim::ScimOptions {
            token: TOKEN.to_string(),
            profile: options.profile.into(),
            faults,
            ..scim::ScimOptions::default()
        })
        .await
        .context("cannot start the SCIM emulator")
        .map_err(failure)?;
        let config_path =
            write_config(&dir, &document, &flex_server, &scim_server, options).map_err(failure)?;
        println!("\n== {employees} employees: {}", dir.display());
        Ok(World {
            dir,
            employees,
            seed: options.seed,
            today,
            latency: Duration::from_millis(options.latency_ms),
            concurrency: options.concurrency,
            document,
            flex_server,
            scim_server,
            config_path,
            runs: 0,
        })
    }

    /// A sync as a measured child process, with what it asked of both ends.
    async fn scenario(&mut self, name: &str, extra: &[&str]) -> Result<Row, RunFailure> {
        let mut args = vec![
            "sync".to_string(),
            "--config".to_string(),
            self.config_path.display().to_string(),
            format!("--allow-pauses={}", self.employees),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let row = self.measured(name, args, true).await?;
        Ok(row)
    }

    /// Read, map and plan against the empty target, nothing written.
    async fn plan_scenario(&mut self) -> Result<Row, RunFailure> {
        let args = vec![
            "plan".to_string(),
            "--config".to_string(),
            self.config_path.display().to_string(),
        ];
        self.measured("read, map and plan", args, false).await
    }

    async fn measured(
        &mut self,
        name: &str,
        args: Vec<String>,
        writes: bool,
    ) -> Result<Row, RunFailure> {
        self.runs += 1;
        let target_before = (
            self.scim_server.users().len(),
            self.scim_server.groups().len(),
        );
        self.flex_server.knobs.reset_counters();
        self.scim_server.knobs.reset_counters();
        let dir = self.dir.clone();
        let log = self.dir.join(format!("run-{}.log", self.runs));
        let shown = log.clone();
        let (usage, code) =
            tokio::task::spawn_blocking(move || measure::measure(&dir, &log, &args))
                .await
                .context("the measured run stopped")
                .map_err(failure)?
                .map_err(failure)?;
        let planned = if writes {
            minimum::planned_writes(&self.dir.join("reports")).map_err(failure)?
        } else {
            0
        };
        let scim_counters = self.scim_server.knobs.counters();
        let reads = minimum::reads(&self.document, target_before, &scim_counters);
        let row = Row::new(
            format!("{} {name}", self.employees),
            usage,
            [self.flex_server.knobs.counters(), scim_counters],
            reads + planned,
            self.latency,
            self.concurrency,
        );
        println!(
            "   {name}: exit {code}, {:.1} s, {} requests (log: {})",
            usage.wall.as_secs_f64(),
            row.requests(),
            shown.display()
        );
        Ok(row)
    }

    /// Hires and leavers for 1% of the employees, plus one each of the other changes.
    fn change_one_percent(&mut self) -> Result<usize, RunFailure> {
        let count = (self.employees / 200).max(1);
        let said = generate::apply_changes(
            &mut self.document,
            self.seed.wrapping_add(1),
            self.today,
            count,
        );
        let data = flex_data(&self.document).map_err(failure)?;
        self.flex_server.set_data(data);
        Ok(said.len())
    }

    async fn finish(self) {
        let _ = self.flex_server.shutdown().await;
        let _ = self.scim_server.shutdown().await;
    }
}

fn flex_data(document: &serde_json::Value) -> anyhow::Result<flex::FlexData> {
    let text = serde_json::to_string(document)?;
    Ok(flex::FlexData::from_json(&text)?)
}

/// Writes `flexsync.toml` and its two secret files into `dir`.
fn write_config(
    dir: &Path,
    document: &serde_json::Value,
    flex_server: &flex::RunningFlex,
    scim_server: &scim::RunningScim,
    options: &BenchOptions,
) -> anyhow::Result<PathBuf> {
    let companies = crate::demo::company_numbers(document);
    let text = format!(
        r#"# Written by `flexsync bench`.
[flex]
base_url = "{flex_url}"
username = "{user}"
password_file = "flex-password.txt"
instance = "{instance}"
companies = [{companies}]
max_concurrent = {concurrency}

[winningtemp]
scim_url = "{scim_url}"
token_file = "scim-token.txt"
max_concurrent = {concurrency}
bulk = {bulk}

[sync]
concurrency = {concurrency}

[state]
path = "flexsync.db"

[report]
dir = "reports"

[groups]
levels = [{{ dimension = "Kontor" }}, {{ dimension = "Avdelning" }}, {{ dimension = "Team" }}]
"#,
        flex_url = flex_server.base_url(),
        user = generate::DEMO_USERNAME,
        instance = generate::DEMO_INSTANCE,
        companies = companies.join(", "),
        scim_url = scim_server.base_url(),
        concurrency = options.concurrency,
        bulk = options.bulk,
    );
    crate::demo::write_secret(&dir.join("flex-password.txt"), generate::DEMO_PASSWORD)?;
    crate::demo::write_secret(&dir.join("scim-token.txt"), TOKEN)?;
    let path = dir.join("flexsync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}
