//! `cargo bench -p flexsync --bench map_plan`: the CPU of map and plan for the generator's
//! organisation (100,000 employees, seed 11; `FLEXSYNC_BENCH_EMPLOYEES` sets another size),
//! against an empty target (the initial sync) and against one that holds it all (unchanged).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use flexsync_core::current::{Capabilities, Current, Memory, TargetUser};
use flexsync_core::desired::Desired;
use flexsync_core::group_plan::{GroupCapabilities, TargetGroup, plan_groups};
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_core::mapping::{GroupLevel, GroupSettings, MappingSettings, NamedFields};
use flexsync_core::plan::{PlanSettings, plan};
use flexsync_core::snapshot::Snapshot;
use flexsync_emulators::generate::{GenerateOptions, generate};
use flexsync_flex::json::Json;
use flexsync_flex::wire::{self, KeptFields, SharedTexts};

fn main() -> Result<(), serde_json::Error> {
    let employees = std::env::var("FLEXSYNC_BENCH_EMPLOYEES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let today = jiff::civil::date(2026, 11, 30);
    let document = generate(&GenerateOptions {
        employees,
        seed: 11,
        today,
        companies: None,
    });
    let groups = GroupSettings {
        levels: ["Kontor", "Avdelning", "Team"]
            .map(|d| GroupLevel::Dimension(d.to_string()))
            .to_vec(),
        ..GroupSettings::default()
    };
    let mapping = MappingSettings::default();
    let text = serde_json::to_vec(&document)?;
    drop(document);
    let document = Json::parse(&text)?;
    let snapshot = snapshot(&document, &NamedFields::of(&mapping, &groups));
    println!("map and plan of {employees} employees (best of 3)");
    let desired = best_of_3("map, users only", || {
        flexsync_core::map::map(&snapshot, &mapping, today)
    });
    let mut placed = Vec::new();
    best_of_3("map with the group tree", || {
        let mut desired = flexsync_core::map::map(&snapshot, &mapping, today);
        let (started, cpu) = (Instant::now(), cpu_seconds());
        flexsync_core::groups::build_groups(&snapshot, &groups, today, &mut desired);
        placed.push((started.elapsed().as_secs_f64(), cpu_seconds() - cpu));
        // Dropped outside the measure, as the other steps' results are.
        desired
    });
    let best = |of: fn(&(f64, f64)) -> f64| placed.iter().map(of).fold(f64::MAX, f64::min);
    println!(
        "    of which the tree alone: {:.3} s wall, {:.3} s CPU",
        best(|p| p.0),
        best(|p| p.1)
    );
    let mut desired = desired;
    flexsync_core::groups::build_groups(&snapshot, &groups, today, &mut desired);
    let empty = Current {
        capabilities: capabilities(),
        ..Current::default()
    };
    let caps = GroupCapabilities {
        parent: true,
        managers: false,
    };
    let memory = Memory::default();
    let steps = best_of_3("plan, initial", || {
        let users = plan(&desired, &empty, &memory, &PlanSettings::default());
        let groups = plan_groups(
            &desired,
            &[],
            &BTreeMap::new(),
            &BTreeSet::new(),
            caps,
            &groups,
        );
        (users, groups)
    });
    let steps = steps.0.steps.len() + steps.1.steps.len();
    println!("  initial plan: {steps} steps");
    let (current, target_groups, ids) = held(&desired);
    let created: BTreeSet<ExternalId> = desired.groups.keys().cloned().collect();
    let steps = best_of_3("plan, unchanged", || {
        let users = plan(&desired, &current, &memory, &PlanSettings::default());
        let groups = plan_groups(&desired, &target_groups, &ids, &created, caps, &groups);
        (users, groups)
    });
    let steps = steps.0.steps.len() + steps.1.steps.len();
    println!("  unchanged plan: {steps} steps");
    Ok(())
}

/// Runs `work` three times and prints the best wall time and the best CPU time of the process
/// (the machine may be shared: CPU time is the steadier figure). What `work` returns is dropped
/// outside the measure.
fn best_of_3<T>(what: &str, mut work: impl FnMut() -> T) -> T {
    let (out, mut wall, mut cpu) = timed(&mut work);
    for _ in 0..2 {
        let (_, w, c) = timed(&mut work);
        wall = wall.min(w);
        cpu = cpu.min(c);
    }
    println!("  {what}: {wall:.3} s wall, {cpu:.3} s CPU");
    out
}

fn timed<T>(work: &mut impl FnMut() -> T) -> (T, f64, f64) {
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let out = work();
    (out, started.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

/// User and system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |usage| {
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        seconds(usage.user_time()) + seconds(usage.system_time())
    })
}

/// The generated document read as the Flex client reads it for a sync, company by company,
/// keeping the fields the configuration names.
fn snapshot(document: &Json<'_>, named: &NamedFields) -> Snapshot {
    let employee_fields = KeptFields::Named(named.employee.iter().cloned().collect());
    let period_fields = KeptFields::Named(named.period.iter().cloned().collect());
    let object = document.as_object();
    let list = |key: &str| match object.and_then(|o| o.get(key)) {
        Some(Json::Array(items)) => items.as_slice(),
        _ => &[],
    };
    let company_of = |record: &Json<'_>| {
        let id = record.as_object().and_then(|o| o.get("CompanyId"));
        id.and_then(Json::as_str).unwrap_or_default().to_string()
    };
    let mut snapshot = Snapshot::default();
    let mut texts = SharedTexts::default();
    for company in list("Companies") {
        snapshot.companies.extend(wire::company(company).record);
    }
    for employee in list("Employees") {
        let company = company_of(employee);
        snapshot
            .employees
            .extend(wire::employee(employee, &company, &employee_fields, &mut texts).record);
    }
    for period in list("EmploymentPeriods") {
        snapshot
            .periods
            .extend(wire::period(period, &period_fields, &mut texts).record);
    }
    for dimension in list("AccountDistributions") {
        let company = company_of(dimension);
        if let Ok(mut typed) = wire::dimension(dimension, &company).record {
            let accounts = dimension.as_object().and_then(|o| o.get("Accounts"));
            if let Some(Json::Array(accounts)) = accounts {
                for account in accounts {
                    typed.accounts.extend(wire::account(account).record);
                }
            }
            snapshot.dimensions.push(typed);
        }
    }
    for default in list("EmploymentDefaultAccounts") {
        snapshot
            .default_accounts
            .extend(wire::default_account(default, &mut texts).record);
    }
    snapshot
}

fn capabilities() -> Capabilities {
    use flexsync_core::current::Attribute;
    let mut caps = Capabilities::core();
    caps.attributes.extend([
        Attribute::Gender,
        Attribute::BirthDate,
        Attribute::EmploymentStart,
        Attribute::EmploymentEnd,
        Attribute::Manager,
    ]);
    caps
}

fn target_id(external: &ExternalId) -> TargetId {
    TargetId::new(format!("t-{}", external.as_str()))
}

/// A target that holds every desired user and group as desired.
fn held(desired: &Desired) -> (Current, Vec<TargetGroup>, BTreeMap<ExternalId, TargetId>) {
    let users = desired
        .users
        .values()
        .map(|user| TargetUser {
            id: target_id(&user.external_id),
            external_id: Some(user.external_id.clone()),
            values: user.values.clone(),
            manager_id: user.manager_external_id.as_ref().map(target_id),
        })
        .collect();
    let groups = desired
        .groups
        .values()
        .map(|group| TargetGroup {
            id: target_id(&group.external_id),
            external_id: Some(group.external_id.clone()),
            display_name: group.display_name.clone(),
            parent_external_id: group.parent_external_id.clone(),
            members: group.members.iter().map(target_id).collect(),
            managers: BTreeSet::new(),
        })
        .collect();
    let ids = desired
        .users
        .keys()
        .map(|external| (external.clone(), target_id(external)))
        .collect();
    (
        Current {
            users,
            capabilities: capabilities(),
        },
        groups,
        ids,
    )
}
