//! What each command does: load the configuration, run, print, and give the exit code.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use flexsync_core::guard::Allowance;
use flexsync_emulators::knobs::Faults;

use crate::cli::{Cli, Command, EmulateCommand, FaultArgs};
use crate::config::Config;
use crate::run::{self, Ends, Mode, Outcome, RunFailure, sync_and_report};
use crate::terminal::printable;

/// Runs the command and returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    // A daemon's log is its record of the runs: say what each run did unless told otherwise.
    let quiet = if matches!(cli.command, Command::Daemon { .. }) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return Outcome::Usage.exit_code();
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            eprintln!("error: {}", printable(&format!("{:#}", failure.error)));
            failure.outcome().exit_code()
        }
    }
}

fn init_logging(verbose: u8, quiet: &str) {
    let default = match verbose {
        0 => quiet,
        1 => "info,flexsync=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEXSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn dispatch(command: Command) -> Result<Outcome, RunFailure> {
    match command {
        Command::Plan { config, json } => {
            plan_or_sync(&config, Mode::Plan, Allowance::default(), json).await
        }
        Command::Sync {
            config,
            allow_deactivations,
            allow_source_drop,
            allow_group_retirements,
            retry_held,
            json,
        } => {
            let allowance = Allowance {
                deactivations: allow_deactivations,
                source_drop: allow_source_drop,
                group_retirements: allow_group_retirements,
                retry_held,
            };
            plan_or_sync(&config, Mode::Sync, allowance, json).await
        }
        Command::Check { config } => check(&config).await,
        Command::Daemon { config } => crate::daemon::run(&config).await,
        Command::Explain { config, who } => {
            let config = load_warned(&config)?;
            let ends = Ends::connect(&config)?;
            let result = run::run(
                &config,
                &ends,
                Mode::Plan,
                Allowance::default(),
                run::today(&config),
            )
            .await?;
            match crate::plan_view::explain(&result, &who) {
                Ok(text) => {
                    print!("{}", printable(&text));
                    Ok(Outcome::Done)
                }
                Err(problem) => Err(RunFailure::usage(anyhow::anyhow!(problem))),
            }
        }
        Command::History {
            config,
            limit,
            run,
            who,
        } => history(&config, limit, run, who.as_deref()),
        Command::Generate {
            employees,
            seed,
            out,
        } => generate(employees, seed, &out).map_err(RunFailure::usage),
        Command::Emulate { end } => emulate(end).await.map_err(RunFailure::usage),
        Command::Demo {
            employees,
            seed,
            profile,
            dir,
        } => crate::demo::run(employees, seed, profile, dir).await,
    }
}

async fn plan_or_sync(
    path: &Path,
    mode: Mode,
    allowance: Allowance,
    json: bool,
) -> Result<Outcome, RunFailure> {
    let config = load_warned(path)?;
    let (result, written) = match mode {
        Mode::Sync => sync_and_report(&config, allowance).await?,
        Mode::Plan => {
            let ends = Ends::connect(&config)?;
            let result = run::run(&config, &ends, mode, allowance, run::today(&config)).await?;
            (result, None)
        }
    };
    if json {
        let document = serde_json::json!({
            "report": result.report,
            "plan": result.plan,
            "group_plan": result.group_plan,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
    } else {
        if mode == Mode::Plan {
            print!(
                "{}",
                printable(&crate::plan_view::render(
                    &result.plan,
                    &result.desired,
                    &result.current,
                    200
                ))
            );
            print!(
                "{}",
                printable(&crate::plan_view::render_groups(
                    &result.group_plan,
                    &result.desired,
                    100
                ))
            );
        }
        print!("{}", printable(&result.report.render()));
        if let Some(path) = written {
            println!("  report: {}", path.display());
        }
    }
    Ok(result.outcome)
}

/// Loads the configuration and prints its warnings (TLS off, secrets open to others, ...).
fn load_warned(path: &Path) -> Result<Config, RunFailure> {
    let config = Config::load(path).map_err(RunFailure::usage)?;
    for warning in &config.warnings {
        eprintln!("warning: {}", printable(warning));
    }
    Ok(config)
}

async fn check(path: &Path) -> Result<Outcome, RunFailure> {
    let config = load_warned(path)?;
    let ends = Ends::connect(&config)?;
    let unreachable = RunFailure::unreachable;
    let companies = ends
        .flex
        .companies()
        .await
        .context("Flex")
        .map_err(unreachable)?;
    println!(
        "Flex: reached; the API user sees {} companies",
        companies.len()
    );
    for company in &companies {
        println!(
            "  {} {} ({})",
            company.number.map(|n| n.to_string()).unwrap_or_default(),
            company.name.as_deref().unwrap_or(""),
            company.id
        );
    }
    let Some(scim) = &ends.scim else {
        println!("Winningtemp SCIM: not configured (file channel only)");
        return Ok(Outcome::Done);
    };
    let info = scim
        .discover()
        .await
        .context("Winningtemp SCIM")
        .map_err(unreachable)?;
    let caps = config.attribute_map().capabilities(&info);
    println!("Winningtemp SCIM: reached");
    let names: Vec<String> = caps.attributes.iter().map(|a| a.name()).collect();
    println!("  user attributes we can write: {}", names.join(", "));
    if !config.groups.levels.is_empty() || config.groups.company_top {
        let groups =
            flexsync_winningtemp::groups::group_capabilities(&info, &config.group_parent_attribute);
        let yes_no = |held: bool| if held { "yes" } else { "no" };
        println!(
            "  groups: parent attribute {} ({}), group managers {}",
            yes_no(groups.parent),
            if groups.parent {
                "the tree is built over SCIM"
            } else {
                "groups are flat: place the tree by hand or deliver it as files"
            },
            yes_no(groups.managers)
        );
    }
    Ok(Outcome::Done)
}

fn history(
    path: &Path,
    limit: usize,
    run: Option<i64>,
    who: Option<&str>,
) -> Result<Outcome, RunFailure> {
    // Only the state store is read: no secret needs to be in the environment.
    let state_path = Config::state_path_of(path).map_err(RunFailure::usage)?;
    let store = flexsync_state::StateStore::open(&state_path).map_err(RunFailure::usage)?;
    if let Some(run) = run {
        let changes = store
            .changes_of_run(flexsync_state::RunId(run))
            .map_err(RunFailure::usage)?;
        print!(
            "{}",
            printable(&crate::history_view::run_changes(run, &changes))
        );
        return Ok(Outcome::Done);
    }
    if let Some(who) = who {
        let changes = store.all_changes().map_err(RunFailure::usage)?;
        print!(
            "{}",
            printable(&crate::history_view::person_changes(who, &changes))
        );
        return Ok(Outcome::Done);
    }
    let runs = store.runs(limit).map_err(RunFailure::usage)?;
    if runs.is_empty() {
        println!("no runs recorded in {}", state_path.display());
    }
    for run in runs {
        println!(
            "#{:<5} {:<5} {:<10} {}  {}",
            run.id.0,
            run.kind,
            run.outcome.map_or("unfinished", |o| o.label()),
            run.started,
            run.summary.map(|s| s.to_string()).unwrap_or_default()
        );
    }
    Ok(Outcome::Done)
}

fn generate(employees: usize, seed: u64, out: &Path) -> Result<Outcome> {
    let today = jiff::Zoned::now().date();
    let document =
        flexsync_emulators::generate::generate(&flexsync_emulators::generate::GenerateOptions {
            employees,
            seed,
            today,
            companies: None,
        });
    let text = serde_json::to_string_pretty(&document)?;
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {employees} employees (seed {seed}) to {}",
        out.display()
    );
    Ok(Outcome::Done)
}

fn faults(args: &FaultArgs) -> Faults {
    Faults {
        latency: Duration::from_millis(args.latency_ms),
        error_share: args.error_share.clamp(0.0, 1.0),
        retry_after_seconds: args.retry_after,
    }
}

async fn emulate(end: EmulateCommand) -> Result<Outcome> {
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match end {
        EmulateCommand::Flex {
            data,
            listen,
            faults: fault_args,
        } => {
            let data = flexsync_emulators::flex::FlexData::load(&data)
                .with_context(|| format!("cannot load {}", data.display()))?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "Flex emulator on http://{}/webapi/api",
                listener.local_addr()?
            );
            let state = flexsync_emulators::flex::FlexEmulator::new(data, faults(&fault_args));
            flexsync_emulators::flex::serve(listener, state, shutdown).await?;
        }
        EmulateCommand::Scim {
            listen,
            token,
            profile,
            faults: fault_args,
        } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "SCIM emulator on http://{}/api/scim",
                listener.local_addr()?
            );
            let options = flexsync_emulators::scim::ScimOptions {
                token,
                profile: profile.into(),
                faults: faults(&fault_args),
                patch_returns_no_content: false,
                max_results: 200,
                answer_case: Default::default(),
            };
            let state = flexsync_emulators::scim::ScimEmulator::new(options);
            flexsync_emulators::scim::serve(listener, state, shutdown).await?;
        }
    }
    Ok(Outcome::Done)
}
