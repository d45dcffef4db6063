//! `flexsync check`: reads both ends without writing and lists, all at once, every problem that
//! would stop or mislead a sync, each with the configuration key to fix; then notes that would
//! not (data findings, values the target cannot hold). Problems make it exit 2.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::Context;

use flexsync_core::finding::Severity;
use flexsync_core::group_plan::display_names;
use flexsync_core::mapping::DisplayName;
use flexsync_core::outcome::Outcome;
use flexsync_core::snapshot::SourceCompany;
use flexsync_flex::FlexRead;

use crate::config::Config;
use crate::run::{self, Ends, RunFailure};

/// What `check` found: problems (exit 2) and notes.
#[derive(Debug, Default)]
pub struct Findings {
    /// `(configuration key, what is wrong)`.
    pub problems: Vec<(String, String)>,
    pub notes: Vec<String>,
}

impl Findings {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push((key.to_string(), message.into()));
    }

    /// The closing lists, problems first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.problems.is_empty() {
            let _ = writeln!(out, "no problems found");
        } else {
            let _ = writeln!(
                out,
                "{} problem(s) to fix before syncing:",
                self.problems.len()
            );
        }
        for (key, message) in &self.problems {
            let _ = writeln!(out, "  ! {key}: {message}");
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "notes:");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  - {note}");
        }
        out
    }
}

pub async fn check(config: &Config) -> Result<Outcome, RunFailure> {
    let ends = Ends::connect(config)?;
    let mut found = Findings::default();
    // Warnings (TLS off, a secret file others can read) do not stop a sync: they are printed as
    // every command prints them, and noted.
    for warning in &config.warnings {
        eprintln!("warning: {}", crate::terminal::printable(warning));
        found.notes.push(format!("warning: {warning}"));
    }
    // An end that cannot be reached is a problem like any other: the rest is still checked.
    let mut unreachable = false;
    let read = match check_flex(config, &ends, &mut found).await {
        Ok(read) => Some(read),
        Err(failure) => {
            unreachable = true;
            found.problem("flex", format!("{:#}", failure.error));
            None
        }
    };
    let flat = match check_scim(config, &ends, &mut found).await {
        Ok(flat) => flat,
        Err(failure) => {
            unreachable = true;
            found.problem("winningtemp", format!("{:#}", failure.error));
            false
        }
    };
    if let Some(read) = &read {
        check_data(config, read, flat, &mut found);
    }
    if let Some(files) = &config.files
        && let Some(problem) = crate::file_writer::reachable(&files.destination).await
    {
        found.problem("files", problem);
    }
    if let Some(problem) = state_problem(config) {
        unreachable = true;
        found.problem("state", problem);
    }
    crate::terminal::show(&found.render());
    Ok(if unreachable {
        Outcome::Unreachable
    } else if found.problems.is_empty() {
        Outcome::Done
    } else {
        Outcome::Usage
    })
}

/// Why the state store cannot be used, if it cannot. A SQLite file not made yet is not made
/// here: its folder must exist. A PostgreSQL store is opened (its schema made if missing, as
/// the first sync would).
fn state_problem(config: &Config) -> Option<String> {
    if let flexsync_state::Location::File(path) = &config.state
        && !path.exists()
    {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty())?;
        return (!folder.is_dir()).then(|| {
            format!(
                "the state store {} cannot be made: its folder {} does not exist",
                path.display(),
                folder.display()
            )
        });
    }
    config.open_state().err().map(|error| error.to_string())
}

/// What the Flex data says about the configuration: the effective mapping, the scope, flat
/// group names, and the data's own findings.
fn check_data(config: &Config, read: &FlexRead, flat: bool, found: &mut Findings) {
    let today = run::today(config);
    crate::terminal::show(&effective_mapping(config, read, today));
    let desired = run::plan::map(config, read, today);
    if !desired.out_of_scope.is_empty() {
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for scoped in desired.out_of_scope.values() {
            *by_rule.entry(scoped.rule.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = by_rule
            .iter()
            .map(|(rule, n)| format!("{rule}: {n}"))
            .collect();
        found.notes.push(format!(
            "the scoping rules leave {} of {} Flex records out ({})",
            desired.out_of_scope.len(),
            desired.source_records,
            counts.join(", ")
        ));
    }
    let scope = flexsync_core::source_check::scope_gaps(&read.snapshot, &config.mapping, today);
    for gap in scope.problems {
        found.problem(&gap.key, gap.problem);
    }
    found.notes.extend(scope.notes);
    if flat && !desired.groups.is_empty() {
        flat_names(config, &desired, found);
    }
    let left_out = desired
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Skipped)
        .count();
    if !desired.findings.is_empty() {
        found.notes.push(format!(
            "the Flex data has {} findings ({left_out} records would not be synced): `flexsync \
             plan` lists them by person",
            desired.findings.len()
        ));
    }
}

/// Flex: the companies the API user sees, configured ones it does not, and what the
/// configuration names that the data lacks. Returns the read of the companies that exist.
async fn check_flex(
    config: &Config,
    ends: &Ends,
    found: &mut Findings,
) -> Result<FlexRead, RunFailure> {
    let listed = ends
        .flex
        .companies()
        .await
        .map_err(|error| flex_failure(ends, error))?;
    crate::terminal::show(&format!(
        "Flex: reached; the API user sees {} compan{}\n",
        listed.len(),
        if listed.len() == 1 { "y" } else { "ies" }
    ));
    for company in &listed {
        crate::terminal::show(&format!("  {}\n", label(company)));
    }
    let (known, unknown) = ends.flex.match_companies(&listed);
    for reference in unknown {
        let seen: Vec<String> = listed.iter().map(label).collect();
        found.problem(
            "flex.companies",
            format!(
                "company {reference} is not one the API user sees (it sees: {})",
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join("; ")
                }
            ),
        );
    }
    let read = ends
        .flex
        .read_these(known)
        .await
        .map_err(|error| flex_failure(ends, error))?;
    for gap in flexsync_core::source_check::missing_sources(
        &read.snapshot,
        &config.groups,
        &config.mapping,
    ) {
        found.problem(&gap.key, gap.problem);
    }
    Ok(read)
}

/// Every built-in and configured value: source, targets, how many employees in scope get a
/// value, and up to three examples (personal ones masked).
fn effective_mapping(config: &Config, read: &FlexRead, today: jiff::civil::Date) -> String {
    let uses =
        flexsync_core::map::effective::effective_mapping(&read.snapshot, &config.mapping, today);
    let personal = personal_words(&read.snapshot);
    let mut out = String::from("Effective mapping (employees in scope with a value):\n");
    for used in uses {
        let targets = if used.targets.is_empty() {
            String::new()
        } else {
            format!(" -> {}", used.targets.join(", "))
        };
        // A configured value built from names or emails (a concat, say) is masked too.
        let examples: Vec<String> = used
            .examples
            .iter()
            .map(|example| {
                let folded = crate::history_view::fold(example);
                let names_someone = folded
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|word| personal.contains(word));
                if names_someone {
                    flexsync_core::map::effective::mask(example)
                } else {
                    example.clone()
                }
            })
            .collect();
        let examples = if examples.is_empty() {
            String::new()
        } else {
            format!("; e.g. {}", examples.join(", "))
        };
        let _ = writeln!(
            out,
            "  {} <- {}{targets}: {} of {}{examples}",
            used.name, used.source, used.with_value, used.in_scope
        );
    }
    out
}

/// The words of the employees' first and last names and email user parts (folded, three letters
/// or more): an example holding one of them names a person.
fn personal_words(snapshot: &flexsync_core::snapshot::Snapshot) -> BTreeSet<String> {
    snapshot
        .employees
        .iter()
        .flat_map(|e| {
            let email = e
                .email_work
                .as_deref()
                .and_then(|m| m.split('@').next())
                .map(str::to_string);
            let name = |part: &Option<Box<str>>| part.as_deref().map(str::to_string);
            [name(&e.first_name), name(&e.last_name), email]
        })
        .flatten()
        .flat_map(|text| {
            crate::history_view::fold(&text)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|word| word.chars().count() >= 3)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A failed Flex read, naming the address and the settings to check, as a sync does.
fn flex_failure(ends: &Ends, error: flexsync_flex::FlexError) -> RunFailure {
    RunFailure::unreachable(anyhow::anyhow!(
        "Flex at {}: {error} (check: {})",
        flexsync_http::bare(ends.flex.base_url()),
        error.settings_to_check()
    ))
}

/// "1010 Ekdala AB (guid)".
fn label(company: &SourceCompany) -> String {
    format!(
        "{} {} ({})",
        company.number.map(|n| n.to_string()).unwrap_or_default(),
        company.name.as_deref().unwrap_or(""),
        company.id
    )
}

/// Winningtemp: what the SCIM server can hold. Returns whether its groups are flat while a
/// tree is configured.
async fn check_scim(
    config: &Config,
    ends: &Ends,
    found: &mut Findings,
) -> Result<bool, RunFailure> {
    let Some(scim) = &ends.scim else {
        crate::terminal::show("Winningtemp SCIM: not configured (file channel only)\n");
        return Ok(false);
    };
    let info = scim
        .discover()
        .await
        .with_context(|| {
            format!(
                "Winningtemp SCIM at {} (check: winningtemp.scim_url, and winningtemp.token_env \
                 or token_file)",
                scim.base_url()
            )
        })
        .map_err(RunFailure::unreachable)?;
    let caps = config.attribute_map().capabilities(&info);
    let names: Vec<String> = caps.attributes.iter().map(|a| a.name()).collect();
    for (key, attribute) in mapped_attributes(config) {
        if !caps.supports(&flexsync_core::current::Attribute::Extra(attribute.clone())) {
            found.notes.push(format!(
                "{key}: the SCIM server does not advertise {attribute}: its values will not be \
                 sent (the report counts them under \"not sent\")"
            ));
        }
    }
    let mut out = format!(
        "Winningtemp SCIM: reached\n  user attributes we can write: {}\n",
        names.join(", ")
    );
    let tree = !config.groups.levels.is_empty() || config.groups.company_top;
    let groups =
        flexsync_winningtemp::groups::group_capabilities(&info, &config.group_parent_attribute);
    if tree {
        let yes_no = |held: bool| if held { "yes" } else { "no" };
        let _ = writeln!(
            out,
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
    crate::terminal::show(&out);
    Ok(tree && !groups.parent)
}

/// The SCIM attributes configured values go to, with their keys.
fn mapped_attributes(config: &Config) -> Vec<(String, String)> {
    let extra = config
        .mapping
        .extra
        .iter()
        .enumerate()
        .map(|(index, extra)| {
            (
                format!("mapping.extra[{}]", index + 1),
                extra.target_attribute.trim().to_string(),
            )
        });
    let values = config.mapping.values.iter().filter_map(|mapping| {
        let attribute = mapping.attribute.as_ref()?;
        Some((mapping.key.clone(), attribute.trim().to_string()))
    });
    extra.chain(values).collect()
}

/// On a flat target, group names that would repeat (people could not tell them apart), and
/// the names `groups.display = "auto"` gives by path instead.
fn flat_names(config: &Config, desired: &flexsync_core::desired::Desired, found: &mut Findings) {
    let names = display_names(desired, config.groups.display, true);
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for group in desired.groups.values() {
        by_name
            .entry(names[&group.external_id].as_str())
            .or_default()
            .push(group.path.join(" > "));
    }
    let repeated: Vec<String> = by_name
        .iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(name, paths)| format!("'{name}' x{} ({})", paths.len(), paths.join(", ")))
        .collect();
    let by_path = desired
        .groups
        .values()
        .filter(|g| names[&g.external_id] != g.display_name)
        .count();
    if config.groups.display == DisplayName::Auto && by_path > 0 {
        found.notes.push(format!(
            "the SCIM server keeps groups flat: {by_path} groups whose names repeat are named by \
             their path (groups.display = \"auto\")"
        ));
    }
    if repeated.is_empty() {
        return;
    }
    let fix = if config.groups.display == DisplayName::Label {
        "set groups.display = \"auto\" (the default) or \"full_path\""
    } else {
        "give the levels values that tell the groups apart"
    };
    found.problem(
        "groups.display",
        format!(
            "the SCIM server keeps groups flat and {} group names would repeat: {}; {fix}",
            repeated.len(),
            repeated.join("; ")
        ),
    );
}
