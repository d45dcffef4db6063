//! `flexsync demo`: a generated Flex organisation, both emulators on loopback ports, a full sync,
//! a week of HR changes, and a second and third sync, each printed as it happens.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use flexsync_core::guard::Allowance;
use flexsync_emulators::generate::{self, GenerateOptions};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::{flex, scim};

use crate::cli::ProfileArg;
use crate::config::Config;
use crate::run::{self, Ends, Mode, Outcome, RunFailure, RunResult};

const DEMO_TOKEN: &str = "demo-scim-token";

fn failure(error: anyhow::Error) -> RunFailure {
    RunFailure::usage(error)
}

pub async fn run(
    employees: usize,
    seed: u64,
    profile: ProfileArg,
    dir: Option<PathBuf>,
) -> Result<Outcome, RunFailure> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("flexsync-demo-{}", std::process::id()))
    });
    // The demo starts from an empty Winningtemp: a state store left by an earlier demo would
    // remember accounts the new emulator does not have.
    if dir.join("flexsync.db").exists() {
        return Err(failure(anyhow::anyhow!(
            "{} holds an earlier demo (flexsync.db): give an empty or new --dir, or remove that \
             folder first",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(failure)?;
    let today = jiff::Zoned::now()
        .with_time_zone(
            jiff::tz::TimeZone::get("Europe/Stockholm").unwrap_or(jiff::tz::TimeZone::UTC),
        )
        .date();

    println!("== flexsync demo: {employees} employees, seed {seed}, SCIM profile {profile:?}");
    println!("   working folder: {}", dir.display());
    let mut demo = Demo::set_up(employees, seed, profile, dir, today).await?;
    let mut exit = Outcome::Done;
    exit = worst(exit, demo.first_sync().await?);
    demo.show_group_tree().await?;
    demo.week_in_hr()?;
    let planned = demo.show_plan().await?;
    exit = worst(exit, demo.second_sync(&planned).await?);
    exit = worst(exit, demo.third_sync().await?);
    demo.finish().await;
    Ok(exit)
}

/// The demo's world: its folder, the Flex data behind the emulator, both emulators, and the
/// configuration a sync reads.
struct Demo {
    dir: PathBuf,
    seed: u64,
    today: jiff::civil::Date,
    clock: Instant,
    document: serde_json::Value,
    data_path: PathBuf,
    flex_server: flex::RunningFlex,
    scim_server: scim::RunningScim,
    config: Config,
}

impl Demo {
    /// Generates the organisation, starts both emulators and writes the configuration.
    async fn set_up(
        employees: usize,
        seed: u64,
        profile: ProfileArg,
        dir: PathBuf,
        today: jiff::civil::Date,
    ) -> Result<Demo, RunFailure> {
        let clock = Instant::now();
        let document = generate::generate(&GenerateOptions {
            employees,
            seed,
            today,
            companies: None,
        });
        let data_path = dir.join("flex-data.json");
        let data = write_flex_data(&data_path, &document).map_err(failure)?;
        println!(
            "   generated Flex data in {:.1}s: {}",
            clock.elapsed().as_secs_f64(),
            data_path.display()
        );
        let (flex_server, scim_server) = start_emulators(data, profile).await?;
        let config = write_config(&dir, &document, &flex_server, &scim_server)?;
        Ok(Demo {
            dir,
            seed,
            today,
            clock,
            document,
            data_path,
            flex_server,
            scim_server,
            config,
        })
    }

    async fn first_sync(&self) -> Result<Outcome, RunFailure> {
        println!("\n== sync 1: everything is new");
        self.sync(Allowance::default()).await
    }

    async fn show_group_tree(&self) -> Result<(), RunFailure> {
        let first = self.plan().await?;
        let tree = crate::tree_view::render_tree(&first.desired);
        println!("\n== the group tree built from Kontor > Avdelning > Team (first 40 lines):");
        for line in tree.lines().take(40) {
            println!("   {line}");
        }
        println!(
            "   ({} groups; delivered with their parents in outbox/wt_groups.csv)",
            first.desired.groups.len()
        );
        Ok(())
    }

    /// Changes the generated organisation as a week in HR would, and serves the new data.
    fn week_in_hr(&mut self) -> Result<(), RunFailure> {
        let changes =
            generate::apply_changes(&mut self.document, self.seed.wrapping_add(1), self.today, 8);
        let data = write_flex_data(&self.data_path, &self.document).map_err(failure)?;
        self.flex_server.set_data(data);
        println!("\n== a week in HR: {} changes in Flex", changes.len());
        for change in &changes {
            println!("   * {change}");
        }
        Ok(())
    }

    async fn show_plan(&self) -> Result<RunResult, RunFailure> {
        println!("\n== plan: what sync 2 will do");
        let planned = self.plan().await?;
        print!(
            "{}",
            crate::plan_view::render(&planned.plan, &planned.desired, &planned.current, 40)
        );
        print!(
            "{}",
            crate::plan_view::render_groups(
                &planned.group_plan,
                &planned.desired,
                &planned.current,
                20
            )
        );
        Ok(planned)
    }

    /// The week's changes; when a guard refuses them, the operator lets the pauses through once.
    async fn second_sync(&self, planned: &RunResult) -> Result<Outcome, RunFailure> {
        println!("\n== sync 2: the changes");
        let second = self.sync(Allowance::default()).await?;
        if second != Outcome::Refused {
            return Ok(second);
        }
        let pauses = planned.report.planned.get("pause").copied().unwrap_or(0);
        println!(
            "\n== the guard stopped a large share of pauses; the operator has reviewed the plan\n   \
             and lets it through once: flexsync sync --allow-pauses {pauses}"
        );
        let allowance = Allowance {
            deactivations: Some(pauses),
            ..Allowance::default()
        };
        self.sync(allowance).await
    }

    async fn third_sync(&self) -> Result<Outcome, RunFailure> {
        println!("\n== sync 3: nothing changed, so nothing is written");
        self.sync(Allowance::default()).await
    }

    async fn finish(self) {
        println!(
            "\n== done in {:.1}s. State, reports and data are in {}",
            self.clock.elapsed().as_secs_f64(),
            self.dir.display()
        );
        let _ = self.flex_server.shutdown().await;
        let _ = self.scim_server.shutdown().await;
    }

    /// A plan run: what a sync would do now, nothing written.
    async fn plan(&self) -> Result<RunResult, RunFailure> {
        let ends = Ends::connect(&self.config)?;
        run::run(
            &self.config,
            &ends,
            Mode::Plan,
            Allowance::default(),
            self.today,
        )
        .await
    }

    async fn sync(&self, allowance: Allowance) -> Result<Outcome, RunFailure> {
        sync(&self.config, self.today, &self.scim_server, allowance).await
    }
}

fn write_flex_data(path: &Path, document: &serde_json::Value) -> anyhow::Result<flex::FlexData> {
    let text = serde_json::to_string_pretty(document)?;
    std::fs::write(path, &text)?;
    Ok(flex::FlexData::from_json(&text)?)
}

async fn start_emulators(
    data: flex::FlexData,
    profile: ProfileArg,
) -> Result<(flex::RunningFlex, scim::RunningScim), RunFailure> {
    let flex_server = flex::start(data, Faults::default())
        .await
        .context("cannot start the Flex emulator")
        .map_err(failure)?;
    let scim_server = scim::start(scim::ScimOptions {
        token: DEMO_TOKEN.to_string(),
        profile: profile.into(),
        faults: Faults::default(),
        patch_returns_no_content: false,
        max_results: 200,
        answer_case: Default::default(),
        bulk: Default::default(),
    })
    .await
    .context("cannot start the SCIM emulator")
    .map_err(failure)?;
    println!("   Flex emulator:  {}/webapi/api", flex_server.base_url());
    println!("   SCIM emulator:  {}", scim_server.base_url());
    Ok((flex_server, scim_server))
}

/// Writes `flexsync.toml` and its two secret files into `dir`, and loads it as a sync would.
fn write_config(
    dir: &Path,
    document: &serde_json::Value,
    flex_server: &flex::RunningFlex,
    scim_server: &scim::RunningScim,
) -> Result<Config, RunFailure> {
    let companies = company_numbers(document);
    let config_text = format!(
        r#"# Written by `flexsync demo`: the same file shape a real sync uses.
[flex]
base_url = "{flex_url}"
username = "{user}"
password_file = "flex-password.txt"
instance = "{instance}"
companies = [{companies}]

[winningtemp]
scim_url = "{scim_url}"
token_file = "scim-token.txt"

[state]
path = "flexsync.db"

[groups]
levels = [{{ dimension = "Kontor" }}, {{ dimension = "Avdelning" }}, {{ dimension = "Team" }}]

[files]
dir = "outbox"
"#,
        flex_url = flex_server.base_url(),
        user = generate::DEMO_USERNAME,
        instance = generate::DEMO_INSTANCE,
        companies = companies.join(", "),
        scim_url = scim_server.base_url(),
    );
    let config_path = dir.join("flexsync.toml");
    let written: anyhow::Result<()> = (|| {
        write_secret(&dir.join("flex-password.txt"), generate::DEMO_PASSWORD)?;
        write_secret(&dir.join("scim-token.txt"), DEMO_TOKEN)?;
        std::fs::create_dir_all(dir.join("outbox"))?;
        std::fs::write(&config_path, config_text)?;
        Ok(())
    })();
    written.map_err(failure)?;
    let config = Config::load(&config_path).map_err(failure)?;
    println!("   configuration:  {}", config_path.display());
    Ok(config)
}

/// One sync, its report, and the SCIM requests it caused by kind.
async fn sync(
    config: &Config,
    today: jiff::civil::Date,
    scim_server: &scim::RunningScim,
    allowance: Allowance,
) -> Result<Outcome, RunFailure> {
    scim_server.knobs.reset_counters();
    let ends = Ends::connect(config)?;
    let result = run::run(config, &ends, Mode::Sync, allowance, today).await?;
    let path = result
        .report_path
        .clone()
        .context("cannot write the report")
        .map_err(failure)?;
    print!("{}", result.report.render());
    let counters = scim_server.knobs.counters();
    let by_kind: Vec<String> = counters.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("  SCIM requests by kind: {}", by_kind.join(", "));
    println!(
        "  writes the SCIM server saw: {}",
        scim_server
            .knobs
            .count_methods(&["POST", "PATCH", "PUT", "DELETE"])
    );
    println!(
        "  report: {} (and {} to read in a browser)",
        path.display(),
        path.with_extension("html").display()
    );
    Ok(result.outcome)
}

fn worst(a: Outcome, b: Outcome) -> Outcome {
    if b.exit_code() > a.exit_code() { b } else { a }
}

/// The company numbers of a generated Flex document, for `flex.companies`.
pub(crate) fn company_numbers(document: &serde_json::Value) -> Vec<String> {
    document["Companies"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| c["CompanyNumber"].as_i64())
                .map(|n| n.to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Writes a secret file readable by its owner only.
pub(crate) fn write_secret(path: &std::path::Path, value: &str) -> anyhow::Result<()> {
    std::fs::write(path, value)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
