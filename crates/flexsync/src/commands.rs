//! What each command does: load the configuration, run, print, and give the exit code.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use serde_json::Value;

use flexsync_core::guard::Allowance;
use flexsync_core::outcome::RunKind;
use flexsync_emulators::knobs::Faults;

use crate::cli::{Cli, Command, ConfigArgs, EmulateCommand, FaultArgs};
use crate::config::{Config, Source};
use crate::run::{self, Ends, Mode, Outcome, RunFailure, sync_and_report};
use crate::terminal::{printable, show};

/// Runs the command and returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    // A daemon's log is its record of the runs: say what each run did unless told otherwise.
    // Commands say warnings, and each retry (a host that is slow to answer is never silent).
    let default = if cli.quiet {
        "error"
    } else if matches!(cli.command, Command::Daemon { .. }) {
        "info"
    } else {
        "warn,flexsync_http=info,flexsync::progress=info"
    };
    let log_format = cli.log_format;
    init_logging(cli.verbose, default, log_format);
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
            let error = printable(&format!("{:#}", failure.error));
            match log_format {
                // A log collector reads one JSON object a line, the last word included.
                crate::cli::LogFormat::Json => {
                    tracing::error!(outcome = failure.outcome().label(), "{error}")
                }
                crate::cli::LogFormat::Text => eprintln!("error: {error}"),
            }
            failure.outcome().exit_code()
        }
    }
}

/// Logs go to stderr, as text for people or as one JSON object a line for log collectors.
fn init_logging(verbose: u8, quiet: &str, format: crate::cli::LogFormat) {
    let default = match verbose {
        0 => quiet,
        1 => "info,flexsync=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEXSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        crate::cli::LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

async fn dispatch(command: Command) -> Result<Outcome, RunFailure> {
    match command {
        Command::Plan { config, json, on } => {
            plan_or_sync(&source(config)?, Mode::Plan, Allowance::default(), json, on).await
        }
        Command::Sync {
            config,
            allow_pauses,
            allow_source_drop,
            allow_group_retirements,
            retry_held,
            json,
        } => {
            let allowance = Allowance {
                deactivations: allow_pauses,
                source_drop: allow_source_drop,
                group_retirements: allow_group_retirements,
                retry_held,
            };
            plan_or_sync(&source(config)?, Mode::Sync, allowance, json, None).await
        }
        Command::Check { config } => check(&source(config)?).await,
        Command::Daemon {
            config: Some(config),
            tenants: None,
        } => crate::daemon::run(&config).await,
        Command::Daemon {
            tenants: Some(dir), ..
        } => crate::daemon::tenants::run(&dir).await,
        Command::Daemon { .. } => Err(RunFailure::usage(anyhow::anyhow!(
            "daemon: give --config FILE or --tenants DIR"
        ))),
        Command::Explain { config, who } => {
            let config = load_warned(&source(config)?)?;
            let ends = Ends::connect(&config)?;
            let result = run::run(
                &config,
                &ends,
                Mode::Plan,
                Allowance::default(),
                run::today(&config),
            )
            .await?;
            let store = config.open_state().map_err(RunFailure::usage)?;
            let past = |external_id: &str| match store.changes_of(external_id) {
                Ok(changes) => changes,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the person's past changes");
                    Vec::new()
                }
            };
            let lookup = crate::plan_view::Lookup {
                today: run::today(&config),
                starter_lead_days: config.mapping.starter_lead_days,
                past: &past,
                tz: &TimeZone::system(),
            };
            match crate::plan_view::explain(&result, &who, &lookup) {
                Ok(text) => {
                    show(&text);
                    Ok(Outcome::Done)
                }
                Err(problem) => Err(RunFailure::usage(anyhow::anyhow!(problem))),
            }
        }
        Command::Approve { config, run, by } => approve(&source(config)?, run, by),
        Command::Export { config, who } => export(&source(config)?, &who),
        Command::Forget { config, who, yes } => forget(&source(config)?, &who, yes),
        Command::History {
            config,
            limit,
            run,
            who,
        } => history(&source(config)?, HistoryQuery { limit, run, who }),
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
        Command::Bench {
            employees,
            large,
            seed,
            latency_ms,
            concurrency,
            profile,
            no_bulk,
            dir,
        } => {
            crate::bench::run(crate::bench::BenchOptions {
                employees,
                large,
                seed,
                latency_ms,
                concurrency,
                profile,
                bulk: !no_bulk,
                dir,
            })
            .await
        }
        Command::BenchMeasure { out, command } => {
            let code = crate::bench::run_and_record(&out, &command).map_err(RunFailure::usage)?;
            std::process::exit(code)
        }
    }
}

/// The configuration the flags name.
fn source(args: ConfigArgs) -> Result<Source, RunFailure> {
    match (args.config, args.tenant, args.tenants) {
        (Some(path), None, _) => Ok(Source::File(path)),
        (None, Some(name), Some(dir)) => Ok(Source::Tenant { dir, name }),
        (None, None, Some(dir)) => {
            let names = crate::config::tenants::names(&dir).map_err(RunFailure::usage)?;
            Err(RunFailure::usage(anyhow::anyhow!(
                "--tenants {}: say which tenant with --tenant NAME, one of: {}",
                dir.display(),
                names.join(", ")
            )))
        }
        _ => Err(RunFailure::usage(anyhow::anyhow!(
            "give --config FILE, or --tenant NAME with --tenants DIR"
        ))),
    }
}

async fn plan_or_sync(
    source: &Source,
    mode: Mode,
    allowance: Allowance,
    json: bool,
    on: Option<jiff::civil::Date>,
) -> Result<Outcome, RunFailure> {
    let config = load_warned(source)?;
    let today = run::today(&config);
    let day = on.unwrap_or(today);
    if day != today && !json {
        show(&format!(
            "plan for {day} (today is {today}): what a sync on that day would do, from what Flex \
             holds dated ahead and what Winningtemp holds now; nothing is written\n"
        ));
    }
    let result = match mode {
        Mode::Sync => {
            let synced = sync_and_report(&config, allowance).await;
            for delivery in &synced.deliveries {
                if let Some(error) = &delivery.error {
                    eprintln!("warning: could not send the {}: {error}", delivery.channel);
                }
            }
            synced.result?
        }
        Mode::Plan => {
            let ends = Ends::connect(&config)?;
            run::run(&config, &ends, mode, allowance, day).await?
        }
    };
    if json {
        let document = serde_json::json!({
            "day": day,
            "report": result.report,
            "plan": result.plan,
            "group_plan": result.group_plan,
        });
        show(&format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ));
    } else {
        if mode == Mode::Plan {
            show(&crate::plan_view::render(
                &result.plan,
                &result.desired,
                &result.current,
                200,
            ));
            show(&crate::plan_view::render_groups(
                &result.group_plan,
                &result.desired,
                &result.current,
                100,
            ));
        }
        show(&result.report.render());
        if let Some(path) = &result.report_path {
            println!(
                "  report: {} (and {} to read in a browser)",
                path.display(),
                path.with_extension("html").display()
            );
        }
    }
    Ok(result.outcome)
}

/// Loads the configuration and prints its warnings (TLS off, secrets open to others, ...).
fn load_warned(source: &Source) -> Result<Config, RunFailure> {
    let config = source.load().map_err(RunFailure::usage)?;
    for warning in &config.warnings {
        eprintln!("warning: {}", printable(warning));
    }
    Ok(config)
}

/// `flexsync check` lists the configuration's warnings among its problems.
async fn check(source: &Source) -> Result<Outcome, RunFailure> {
    let config = source.load().map_err(RunFailure::usage)?;
    crate::check::check(&config).await
}

fn history(source: &Source, query: HistoryQuery) -> Result<Outcome, RunFailure> {
    // Only the state store and the reports are read: no secret needs to be in the environment
    // (but a PostgreSQL store's password).
    let records = source.records().map_err(RunFailure::usage)?;
    let store = records.open().map_err(RunFailure::usage)?;
    if let Some(run) = query.run {
        let record = store
            .run(flexsync_state::RunId(run))
            .map_err(RunFailure::usage)?;
        let (outcome, interrupted) = match record {
            Some(record) if record.kind == RunKind::Sync => (record.outcome, record.interrupted()),
            Some(_) => {
                return Err(RunFailure::usage(anyhow::anyhow!(
                    "run #{run} is a plan: plans change nothing and record no changes"
                )));
            }
            None => {
                let syncs = store
                    .runs_of_kind(RunKind::Sync, usize::MAX)
                    .map_err(RunFailure::usage)?;
                let held = match (syncs.last(), syncs.first()) {
                    (Some(oldest), Some(newest)) => {
                        format!("it holds syncs #{} to #{}", oldest.id, newest.id)
                    }
                    _ => "it holds no sync yet".to_string(),
                };
                return Err(RunFailure::usage(anyhow::anyhow!(
                    "no run #{run} in {}: {held}",
                    records.state_path.display()
                )));
            }
        };
        let changes = store
            .changes_of_run(flexsync_state::RunId(run))
            .map_err(RunFailure::usage)?;
        show(&crate::history_view::run_changes(
            run,
            outcome,
            &changes,
            &TimeZone::system(),
        ));
        let findings = report_findings(&records.report_dir, run);
        show(&crate::history_view::run_findings(
            findings.as_deref(),
            interrupted,
        ));
        return Ok(Outcome::Done);
    }
    if let Some(who) = &query.who {
        let changes = store.all_changes().map_err(RunFailure::usage)?;
        let lines = crate::history_view::person_changes(who, &changes, &TimeZone::system())
            .map_err(|problem| RunFailure::usage(anyhow::anyhow!(problem)))?;
        show(&lines);
        return Ok(Outcome::Done);
    }
    // Plans are not recorded (older stores may hold some; they are left out).
    let runs = store
        .runs_of_kind(RunKind::Sync, query.limit)
        .map_err(RunFailure::usage)?;
    let reach = crate::history_view::Reach {
        oldest: store.oldest_run_started().map_err(RunFailure::usage)?,
        keep_days: records.keep_days,
    };
    show(&crate::history_view::run_table(
        &runs,
        &reach,
        &TimeZone::system(),
    ));
    Ok(Outcome::Done)
}

/// What `flexsync history` was asked.
struct HistoryQuery {
    limit: usize,
    run: Option<i64>,
    who: Option<String>,
}

/// The findings of run `run`, from its JSON report; `None` when the report is gone.
fn report_findings(dir: &Path, run: i64) -> Option<Vec<flexsync_core::finding::Finding>> {
    let text = std::fs::read_to_string(dir.join(format!("run-{run:06}.json"))).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(report.get("findings")?.clone()).ok()
}

/// `flexsync approve RUN`: records the approval of run RUN's refused plan (who and when).
fn approve(source: &Source, run: i64, by: Option<String>) -> Result<Outcome, RunFailure> {
    let records = source.records().map_err(RunFailure::usage)?;
    let store = records.open().map_err(RunFailure::usage)?;
    let usage = |text: String| RunFailure::usage(anyhow::anyhow!(text));
    let Some(refused) = store
        .refusal(flexsync_state::RunId(run))
        .map_err(RunFailure::usage)?
    else {
        return Err(usage(format!(
            "run #{run} was not refused by a guard: there is nothing to approve (see `flexsync history`)"
        )));
    };
    if let Some((by, at)) = &refused.approved {
        let used = match &refused.used {
            Some((run, _)) => format!("; run #{run} went through on it"),
            None => "; the next sync with the same plan goes through on it".to_string(),
        };
        return Err(usage(format!(
            "run #{run}'s plan was approved already, by {by} at {at}{used}"
        )));
    }
    if let Some(later) = store
        .last_successful_run()
        .map_err(RunFailure::usage)?
        .filter(|later| later.id.0 > run)
    {
        return Err(usage(format!(
            "sync #{} went through after run #{run} was refused: its plan is history; see what \
             the next sync would do with `flexsync plan`",
            later.id
        )));
    }
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|name| !name.trim().is_empty())
        .or_else(login_name)
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| usage("cannot tell who you are: give --by NAME".to_string()))?;
    let at = jiff::Timestamp::now();
    if !store
        .approve(flexsync_state::RunId(run), &by, at)
        .map_err(RunFailure::usage)?
    {
        return Err(usage(format!("run #{run}'s plan was approved meanwhile")));
    }
    let counts = refused
        .refusal
        .counts
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    println!(
        "approved by {by} at {at}: the plan refused in run #{run} by guard {} ({})",
        refused.refusal.guard, refused.refusal.problem
    );
    println!("  planned: {counts}");
    println!(
        "  the next sync carries out exactly this plan once (plan {}); a plan that changed \
         since is refused again",
        refused.refusal.plan_id
    );
    Ok(Outcome::Done)
}

/// The name of the user running this process, as `id -un` says (containers and services often
/// have no `USER`).
fn login_name() -> Option<String> {
    let out = std::process::Command::new("id").arg("-un").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The state store and where reports are kept, for the commands that read nothing else.
fn records_and_store(
    source: &Source,
) -> Result<(crate::config::Records, flexsync_state::StateStore), RunFailure> {
    let records = source.records().map_err(RunFailure::usage)?;
    let store = records.open().map_err(RunFailure::usage)?;
    Ok((records, store))
}

fn export(source: &Source, who: &str) -> Result<Outcome, RunFailure> {
    let (records, store) = records_and_store(source)?;
    let usage = |problem: String| RunFailure::usage(anyhow::anyhow!(problem));
    let external_id = crate::person::resolve(&store, who).map_err(usage)?;
    let held = crate::person::export(&store, &records, &external_id).map_err(usage)?;
    show(&format!(
        "{}\n",
        serde_json::to_string_pretty(&held).unwrap_or_default()
    ));
    Ok(Outcome::Done)
}

fn forget(source: &Source, who: &str, yes: bool) -> Result<Outcome, RunFailure> {
    let (records, store) = records_and_store(source)?;
    let usage = |problem: String| RunFailure::usage(anyhow::anyhow!(problem));
    let external_id = crate::person::resolve(&store, who).map_err(usage)?;
    if !yes {
        let held = crate::person::export(&store, &records, &external_id).map_err(usage)?;
        let rows: usize = held["state_store"].as_object().map_or(0, |tables| {
            tables
                .values()
                .filter_map(Value::as_array)
                .map(Vec::len)
                .sum()
        });
        let reports = held["reports_naming_them"].as_array().map_or(0, Vec::len);
        show(&format!(
            "{external_id}: {rows} rows in the state store and {reports} reports name them; \
             run again with --yes to remove them (see `flexsync export` for what they hold)\n"
        ));
        return Ok(Outcome::Done);
    }
    let forgotten = crate::person::forget(&store, &records, &external_id).map_err(usage)?;
    let removed: Vec<String> = forgotten
        .removed
        .iter()
        .map(|(table, count)| format!("{table} {count}"))
        .collect();
    show(&format!(
        "{external_id} forgotten: rows removed ({}); {} reports rewritten without their name, \
         email and id. If they are still in Flex, the next sync finds their account again by its \
         external id.\n",
        removed.join(", "),
        forgotten.reports.len()
    ));
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
            bulk_max_operations,
            bulk_max_payload_size,
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
                bulk: flexsync_emulators::scim::bulk::Limits {
                    max_operations: bulk_max_operations.max(1),
                    max_payload_size: bulk_max_payload_size.max(1),
                },
            };
            let state = flexsync_emulators::scim::ScimEmulator::new(options);
            flexsync_emulators::scim::serve(listener, state, shutdown).await?;
        }
    }
    Ok(Outcome::Done)
}
