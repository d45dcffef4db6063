//! A plan as a readable diff: one line per operation, with before and after values.

use std::fmt::Write as _;

use flexsync_core::desired::{Desired, DesiredUser, Skipped};
use flexsync_core::group_plan::{GroupOperation, GroupPlan};

use crate::changes::Names;
use crate::history_view::fold;
use crate::run::RunResult;
use flexsync_core::current::Current;
use flexsync_core::ids::ExternalId;
use flexsync_core::plan::{Change, Operation, Plan};

/// Each change as `attribute: before -> after`, birth dates never quoted.
fn changes_text(changes: &[Change]) -> String {
    changes
        .iter()
        .map(crate::changes::shown)
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.attribute,
                c.before.as_deref().unwrap_or("(none)"),
                c.after.as_deref().unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `+` create, `~` change, `-` pause, `>` manager link; each with the user's email and reason.
pub fn render(plan: &Plan, desired: &Desired, current: &Current, limit: usize) -> String {
    let mut out = String::new();
    let names = Names { desired, current };
    let who = |external_id: &str| match names.user(&ExternalId::from(external_id)) {
        (name, Some(email)) => format!("{name} <{email}> ({external_id})"),
        (name, None) => name,
    };
    // Pauses first: they are what an operator reviews before letting a refused plan through.
    let mut shown: Vec<_> = plan.steps.iter().collect();
    shown.sort_by_key(|step| !step.operation.pauses());
    for step in shown.iter().take(limit) {
        let line = match &step.operation {
            Operation::CreateUser {
                external_id,
                values,
                ..
            } => format!(
                "+ create   {}: {} {}",
                who(external_id),
                values.given_name,
                values.family_name
            ),
            Operation::AdoptUser {
                external_id,
                target_id,
                changes,
                ..
            } => format!(
                "~ adopt    {} = account {}; {}",
                who(external_id),
                current
                    .users
                    .iter()
                    .find(|u| &u.id == target_id)
                    .map_or_else(
                        || target_id.to_string(),
                        |u| format!("{} ({target_id})", u.values.user_name)
                    ),
                changes_text(changes)
            ),
            Operation::UpdateUser {
                external_id,
                changes,
                ..
            } => format!("~ update   {}: {}", who(external_id), changes_text(changes)),
            Operation::ReactivateUser {
                external_id,
                changes,
                ..
            } => format!(
                "+ resume   {}{}",
                who(external_id),
                if changes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", changes_text(changes))
                }
            ),
            Operation::DeactivateUser {
                external_id,
                changes,
                ..
            } => format!(
                "- pause    {}{}",
                who(external_id),
                if changes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", changes_text(changes))
                }
            ),
            Operation::SetManager {
                external_id,
                manager_external_id,
                ..
            } => format!(
                "> manager  {} -> {}",
                who(external_id),
                manager_external_id
                    .as_deref()
                    .map(who)
                    .unwrap_or_else(|| "(none)".into())
            ),
        };
        let _ = writeln!(out, "  {line}   [{}]", step.reason);
    }
    if shown.len() > limit {
        let mut hidden: std::collections::BTreeMap<&str, usize> = Default::default();
        for step in &shown[limit..] {
            *hidden.entry(step.operation.kind().as_str()).or_insert(0) += 1;
        }
        let hidden: Vec<String> = hidden.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  ... and {} more steps: {} (all of them: --json)",
            shown.len() - limit,
            hidden.join(", ")
        );
    }
    out
}

/// Group steps: `+` create, `~` rename or move, `>` members and managers, `-` retire.
pub fn render_groups(
    plan: &GroupPlan,
    desired: &Desired,
    current: &Current,
    limit: usize,
) -> String {
    let mut out = String::new();
    let names = Names { desired, current };
    let people = |sign: char, users: &[ExternalId]| {
        const SHOWN: usize = 5;
        let mut named: Vec<String> = users
            .iter()
            .take(SHOWN)
            .map(|id| match names.user(id) {
                (name, Some(email)) => format!("{name} <{email}>"),
                (name, None) => name,
            })
            .collect();
        if users.len() > SHOWN {
            named.push(format!("and {} more", users.len() - SHOWN));
        }
        format!("{sign}{} ({})", users.len(), named.join(", "))
    };
    let label = |external_id: &str| {
        desired
            .groups
            .get(external_id)
            .map(|g| g.path.join(" > "))
            .unwrap_or_else(|| external_id.to_string())
    };
    for step in plan.steps.iter().take(limit) {
        let line = match &step.operation {
            GroupOperation::CreateGroup { external_id, .. } => {
                format!("+ group    {}", label(external_id))
            }
            GroupOperation::RenameGroup { before, after, .. } => {
                format!("~ rename   group {before} -> {after}")
            }
            GroupOperation::MoveGroup {
                external_id,
                before,
                after,
                ..
            } => format!(
                "~ move     {}: parent {} -> {}",
                label(external_id),
                before.as_deref().map_or("(top)".to_string(), label),
                after.as_deref().map_or("(top)".to_string(), label)
            ),
            GroupOperation::AddMembers {
                external_id, users, ..
            } => format!("> members  {}: {}", label(external_id), people('+', users)),
            GroupOperation::RemoveMembers {
                external_id,
                users,
                others,
                ..
            } if users.is_empty() => format!(
                "> members  {}: -{} added by hand ({})",
                label(external_id),
                others.len(),
                others
                    .iter()
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            GroupOperation::RemoveMembers {
                external_id, users, ..
            } => format!("> members  {}: {}", label(external_id), people('-', users)),
            GroupOperation::SetGroupManagers {
                external_id,
                managers,
                ..
            } => {
                let names: Vec<String> = managers
                    .iter()
                    .map(|m| match desired.users.get(m) {
                        Some(user) => format!(
                            "{} {} <{}>",
                            user.values.given_name, user.values.family_name, user.values.user_name
                        ),
                        None => m.to_string(),
                    })
                    .collect();
                format!("> managers {}: {}", label(external_id), names.join(", "))
            }
            GroupOperation::RetireGroup { display_name, .. } => {
                format!("- retire   group {display_name}")
            }
        };
        let _ = writeln!(out, "  {line}   [{}]", step.reason);
    }
    if plan.steps.len() > limit {
        let _ = writeln!(
            out,
            "  ... and {} more group steps",
            plan.steps.len() - limit
        );
    }
    out
}

/// Who a name stands for: a desired user, or a Flex record left out for a finding.
enum Named<'a> {
    User(&'a flexsync_core::desired::DesiredUser),
    Record(String),
}

/// The one person whose name is `who` (case and accents aside): a whole name first, then a
/// part of one. Several matches are an error that lists them to choose from.
fn find_by_name<'a>(result: &'a RunResult, who: &str) -> Result<Option<Named<'a>>, String> {
    let wanted = fold(who);
    if wanted.is_empty() {
        return Ok(None);
    }
    let mut people: Vec<(String, String, Named<'a>)> = Vec::new();
    for user in result.desired.users.values() {
        let name = format!("{} {}", user.values.given_name, user.values.family_name);
        let label = format!(
            "{} <{}> ({})",
            name.trim(),
            user.values.user_name,
            user.external_id
        );
        people.push((fold(&name), label, Named::User(user)));
    }
    for finding in &result.desired.findings {
        let Some(name) = &finding.name else { continue };
        if people
            .iter()
            .any(|(_, label, _)| label.contains(finding.record.as_str()))
        {
            continue;
        }
        let email = finding.email.as_deref().unwrap_or("no work email");
        let label = format!(
            "{name} <{email}> ({}, not a user: see its findings)",
            finding.record
        );
        people.push((fold(name), label, Named::Record(finding.record.clone())));
    }
    // People the scoping rules leave out, named as Flex holds them.
    for (external_id, scoped) in &result.desired.out_of_scope {
        let email = scoped.email.as_deref().unwrap_or("no work email");
        let label = format!(
            "{} <{email}> ({external_id}, out of scope: {})",
            scoped.name, scoped.rule
        );
        people.push((
            fold(&scoped.name),
            label.clone(),
            Named::Record(external_id.to_string()),
        ));
        if let Some(email) = &scoped.email {
            people.push((fold(email), label, Named::Record(external_id.to_string())));
        }
    }
    let whole: Vec<usize> = (0..people.len())
        .filter(|i| people[*i].0 == wanted)
        .collect();
    let matches = if whole.is_empty() {
        (0..people.len())
            .filter(|i| people[*i].0.contains(&wanted))
            .collect()
    } else {
        whole
    };
    // One person can be listed twice (by name and by email): count them once.
    let mut matches = matches;
    matches.sort_by(|a, b| people[*a].1.cmp(&people[*b].1));
    matches.dedup_by(|a, b| people[*a].1 == people[*b].1);
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(people.swap_remove(*one).2)),
        several => {
            let mut labels: Vec<&str> = several.iter().map(|i| people[*i].1.as_str()).collect();
            labels.sort();
            labels.dedup();
            Err(format!(
                "{who}: {} people match; name one by work email or Flex id:\n  {}",
                labels.len(),
                labels.join("\n  ")
            ))
        }
    }
}

/// One person's way through map and plan, for `flexsync explain`: found by Flex id or by work
/// email (any case). None when nothing in this run knows them.
/// What `explain` knows besides the run: the day, the starter lead, and the person's past.
pub struct Lookup<'a> {
    pub today: jiff::civil::Date,
    pub starter_lead_days: u32,
    /// The changes the state store recorded for an external id, oldest first.
    pub past: &'a dyn Fn(&str) -> Vec<flexsync_state::StoredChange>,
    pub tz: &'a jiff::tz::TimeZone,
}

pub fn explain(result: &RunResult, who: &str, lookup: &Lookup<'_>) -> Result<String, String> {
    if who.trim().is_empty() {
        return Err("explain: give a name, a work email or a Flex employee id".to_string());
    }
    let wanted = who.trim().to_lowercase();
    let by_id = result
        .desired
        .users
        .values()
        .map(|user| &**user)
        .find(|u| u.external_id.to_lowercase() == wanted || u.values.user_name == wanted);
    let user = match by_id {
        Some(user) => Some(user),
        None => match find_by_name(result, who)? {
            Some(Named::User(user)) => Some(user),
            Some(Named::Record(record)) => return explain(result, &record, lookup),
            None => None,
        },
    };
    // A Flex id, or a finding's record (which can be a list position for a record without one).
    let external_id = user.map(|u| u.external_id.to_string()).or_else(|| {
        result
            .desired
            .findings
            .iter()
            .find(|f| f.record.to_lowercase() == wanted)
            .map(|f| f.record.clone())
            .or_else(|| {
                let scoped = result.desired.out_of_scope.keys();
                let id = scoped.into_iter().find(|id| id.to_lowercase() == wanted)?;
                Some(id.to_string())
            })
            .or_else(|| {
                // The email Winningtemp holds, for someone Flex no longer gives a usable one.
                let account = result.current.users.iter().find(|t| {
                    t.values.user_name.to_lowercase() == wanted
                        || t.external_id
                            .as_ref()
                            .is_some_and(|e| e.to_lowercase() == wanted)
                })?;
                account.external_id.as_ref().map(|e| e.to_string())
            })
    });
    let Some(external_id) = external_id else {
        return Err(format!(
            "{who}: no Flex employee record, user or finding has this id, work email or name"
        ));
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(result, &external_id));
    let findings: Vec<_> = result
        .desired
        .findings
        .iter()
        .filter(|f| f.record == external_id)
        .collect();
    if findings.is_empty() {
        let _ = writeln!(out, "  map:      no findings");
    }
    for finding in findings {
        let _ = writeln!(
            out,
            "  finding:  {} {} ({:?}): {}; {}",
            finding.field, finding.kind, finding.severity, finding.problem, finding.action
        );
    }
    match user {
        None => match result.desired.out_of_scope.get(external_id.as_str()) {
            Some(scoped) => {
                let _ = writeln!(
                    out,
                    "  desired:  not a Winningtemp user: out of scope ({})",
                    scoped.rule
                );
            }
            None => {
                let held = match result.desired.skipped.get(external_id.as_str()) {
                    Some(Skipped::Employed) => {
                        "held back for the findings above: the account is kept as it is"
                    }
                    Some(Skipped::NotEmployed) => {
                        "held back for the findings above, and not employed: the account is paused"
                    }
                    None => "see the findings above",
                };
                let _ = writeln!(out, "  desired:  not a Winningtemp user: {held}");
            }
        },
        Some(user) => {
            let v = &user.values;
            let _ = writeln!(
                out,
                "  desired:  {} {} <{}>, {}, gender {}, excluded from surveys {}, employed {} to {}",
                v.given_name,
                v.family_name,
                v.user_name,
                match (v.active, v.employment_start) {
                    (true, _) => "active",
                    (false, Some(start)) if start > lookup.today => "not active yet",
                    (false, _) => "paused",
                },
                v.gender.map_or("(none)", |g| g.as_str()),
                v.exclude_from_surveys.unwrap_or(false),
                v.employment_start.map_or("?".into(), |d| d.to_string()),
                v.employment_end.map_or("(open)".into(), |d| d.to_string()),
            );
            let manager = user.manager_external_id.as_ref().map_or_else(
                || "(none)".to_string(),
                |id| match result.desired.users.get(id) {
                    Some(m) => format!(
                        "{} {} <{}> ({id})",
                        m.values.given_name, m.values.family_name, m.values.user_name
                    ),
                    None => id.to_string(),
                },
            );
            let _ = writeln!(out, "  manager:  {manager}");
            let group = user
                .group
                .as_deref()
                .and_then(|g| result.desired.groups.get(g))
                .map(|g| g.path.join(" > "));
            let _ = writeln!(out, "  group:    {}", group.as_deref().unwrap_or("(none)"));
            if let Some(day) = starter_day(user, lookup) {
                let _ = writeln!(
                    out,
                    "  starts:   {}; the account is created on {day} (starter_lead_days = {})",
                    user.values
                        .employment_start
                        .map_or("?".into(), |d| d.to_string()),
                    lookup.starter_lead_days
                );
            }
        }
    }
    let target = result
        .current
        .users
        .iter()
        .find(|t| t.external_id.as_deref() == Some(external_id.as_str()));
    let _ = writeln!(
        out,
        "  target:   {}",
        target.map_or("no account with this externalId".to_string(), |t| format!(
            "account {} ({}, {})",
            t.id,
            t.values.user_name,
            if t.values.active { "active" } else { "paused" }
        ))
    );
    write_plan_lines(&mut out, result, &external_id);
    write_past(&mut out, &(lookup.past)(&external_id), lookup.tz);
    Ok(out)
}

/// "Anna Svensson <anna@example.se> (id)": the person as Flex, the findings or Winningtemp
/// name them, or the id alone when nothing does.
fn headline(result: &RunResult, external_id: &str) -> String {
    let desired = &result.desired;
    let from_user = desired.users.get(external_id).map(|u| {
        (
            format!("{} {}", u.values.given_name, u.values.family_name),
            Some(u.values.user_name.clone()),
        )
    });
    let from_scope = || {
        let scoped = desired.out_of_scope.get(external_id)?;
        Some((scoped.name.clone(), scoped.email.clone()))
    };
    let from_finding = || {
        let finding = desired.findings.iter().find(|f| f.record == external_id)?;
        Some((finding.name.clone()?, finding.email.clone()))
    };
    let from_target = || {
        let account = result
            .current
            .users
            .iter()
            .find(|t| t.external_id.as_deref() == Some(external_id))?;
        let v = &account.values;
        Some((
            format!("{} {}", v.given_name, v.family_name),
            Some(v.user_name.clone()),
        ))
    };
    let named = from_user
        .or_else(from_scope)
        .or_else(from_finding)
        .or_else(from_target)
        .filter(|(name, _)| !name.trim().is_empty());
    match named {
        Some((name, Some(email))) => format!("{} <{email}> ({external_id})", name.trim()),
        Some((name, None)) => format!("{} ({external_id})", name.trim()),
        None => external_id.to_string(),
    }
}

/// For a future starter with no account yet: the day the account is created.
fn starter_day(user: &DesiredUser, lookup: &Lookup<'_>) -> Option<jiff::civil::Date> {
    let start = user.values.employment_start?;
    if user.values.active || start <= lookup.today {
        return None;
    }
    let day = start
        .checked_sub(jiff::Span::new().days(i64::from(lookup.starter_lead_days)))
        .ok()?;
    Some(day.max(lookup.today))
}

/// What earlier syncs did to this person, from the state store.
fn write_past(out: &mut String, past: &[flexsync_state::StoredChange], tz: &jiff::tz::TimeZone) {
    if past.is_empty() {
        let _ = writeln!(out, "  history:  no earlier sync changed this person");
        return;
    }
    let text = crate::history_view::person_lines(past, tz);
    for line in text.lines() {
        let _ = writeln!(out, "  history:  {line}");
    }
}

/// The steps planned for one person, steps held back after failing, and notes on their links.
fn write_plan_lines(out: &mut String, result: &RunResult, external_id: &str) {
    let steps: Vec<_> = result
        .plan
        .steps
        .iter()
        .filter(|s| s.operation.external_id().as_str() == external_id)
        .collect();
    if steps.is_empty() {
        let _ = writeln!(out, "  plan:     nothing to do");
    }
    for step in steps {
        let _ = writeln!(
            out,
            "  plan:     {} [{}]",
            step.operation.kind(),
            step.reason
        );
    }
    for waiting in &result.report.deferred {
        if waiting.external_id == external_id {
            let _ = writeln!(
                out,
                "  waits:    {} {} after failing ({}); next try {} (or `sync --retry-held`)",
                waiting.kind,
                if waiting.held { "held" } else { "put off" },
                waiting.class.as_str(),
                waiting.next_try
            );
        }
    }
    for conflict in result.plan.conflicts.iter().chain(&result.plan.waiting) {
        if conflict.external_id == external_id {
            let _ = writeln!(out, "  note:     {}", conflict.problem);
        }
    }
}
