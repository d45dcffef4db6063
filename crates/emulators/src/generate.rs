//! The synthetic Flex data generator: a realistic Swedish organisation in the emulator's data-file
//! format (`flex-hrm-api.md` section 4), and a working week of HR changes on top of it.
//!
//! Everything is drawn from the seed with a small SplitMix64 generator and dates are plain day
//! numbers computed from `today`, so one seed yields the same document forever.

mod names;

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde_json::{Value, json};

use names::{
    BRANCH_DEPARTMENTS, COMPANIES, DEPARTMENTS, Department, FEMALE, HEAD_OFFICE_CHOICES,
    HEAD_OFFICE_DEPARTMENTS, LAST, LEDNING, MALE, OFFICES, Office,
};

/// The `Instance` (customer number) of generated documents.
pub const DEMO_INSTANCE: &str = "5257";
/// The one API user of generated documents; it may read every company.
pub const DEMO_USERNAME: &str = "flexsync";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Most direct reports anyone gets.
const MAX_SPAN: usize = 10;
const MAX_OFFICES: usize = 8;
/// Departments per office, besides the head office's "Ledning".
const MAX_DEPARTMENTS: usize = 9;

/// Shares of a company's employees, per mille.
const LEAVERS: usize = 40;
const FUTURE_STARTERS: usize = 20;
const REHIRES: usize = 10;
const EXTERNALS: usize = 30;
const MISSING_EMAIL: usize = 5;
const DUPLICATE_EMAIL: usize = 3;

/// Independent random streams, so that ids do not shift when the data draws change.
const STREAM_DATA: u64 = 0x6461_7461;
const STREAM_IDS: u64 = 0x6964_7300_0000_0000;
const STREAM_CHANGES: u64 = 0x7765_656b;
const STREAM_CHANGE_IDS: u64 = 0x7765_656b_6964_0000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub employees: usize,
    pub seed: u64,
    /// The day the data is "as of": leavers, future starters and ages are relative to it.
    pub today: Date,
    /// None: 1 up to 1500 employees, then about 1 per 3000, at most 4.
    pub companies: Option<usize>,
}

impl GenerateOptions {
    /// The number of companies to generate (always at least one).
    pub fn company_count(&self) -> usize {
        match self.companies {
            Some(count) => count.max(1),
            None => (self.employees.saturating_add(1500) / 3000).clamp(1, 4),
        }
    }
}

/// Generates one Flex emulator data file: companies, employees, employment periods, the
/// dimensions "Kontor", "Avdelning" and "Team" with their accounts, and default accounts.
pub fn generate(options: &GenerateOptions) -> Value {
    let today = Day::from_date(options.today);
    let mut rng = Rng::new(options.seed, STREAM_DATA);
    let mut ids = Rng::new(options.seed, STREAM_IDS);
    let instance_id = ids.guid();
    let company_count = options.company_count();
    let weights: Vec<usize> = (0..company_count)
        .map(|c| [10, 7, 5, 4].get(c).copied().unwrap_or(3))
        .collect();
    let sizes = split(options.employees, &weights);
    let first_name = rng.below(COMPANIES.len());
    let mut out = Output {
        employees: Vec::with_capacity(options.employees),
        periods: Vec::with_capacity(options.employees + options.employees / 50),
        default_accounts: Vec::with_capacity(options.employees * 3),
        ..Output::default()
    };
    for (c, &size) in sizes.iter().enumerate() {
        let company = CompanyInput {
            index: c,
            catalog: (first_name + c) % COMPANIES.len(),
            size,
            instance_id: &instance_id,
        };
        generate_company(&company, today, &mut rng, &mut ids, &mut out);
    }
    // Moved in as they are: `json!` would copy every record once more.
    let mut document = serde_json::Map::new();
    document.insert("Instance".into(), json!(DEMO_INSTANCE));
    document.insert(
        "ApiUsers".into(),
        json!([{"Username": DEMO_USERNAME, "Password": DEMO_PASSWORD, "CompanyIds": null}]),
    );
    document.insert("Companies".into(), Value::Array(out.companies));
    document.insert("Employees".into(), Value::Array(out.employees));
    document.insert("EmploymentPeriods".into(), Value::Array(out.periods));
    document.insert(
        "AccountDistributions".into(),
        Value::Array(out.distributions),
    );
    document.insert(
        "EmploymentDefaultAccounts".into(),
        Value::Array(out.default_accounts),
    );
    Value::Object(document)
}

#[derive(Default)]
struct Output {
    companies: Vec<Value>,
    employees: Vec<Value>,
    periods: Vec<Value>,
    distributions: Vec<Value>,
    default_accounts: Vec<Value>,
}

struct CompanyInput<'a> {
    index: usize,
    /// Index into [`COMPANIES`].
    catalog: usize,
    size: usize,
    instance_id: &'a str,
}

/// What happens to one employee's employment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Current,
    Leaver,
    FutureStarter,
    Rehire,
    External,
}

struct Person {
    gender: Option<u8>,
    first: &'static str,
    last: &'static str,
    birth: Day,
}

fn generate_company(
    company: &CompanyInput,
    today: Day,
    rng: &mut Rng,
    ids: &mut Rng,
    out: &mut Output,
) {
    let cycle = company.index / COMPANIES.len();
    let base = &COMPANIES[company.catalog];
    let (name, domain) = if cycle == 0 {
        (base.name.to_string(), base.domain.to_string())
    } else {
        let (stem, tld) = base.domain.split_once('.').unwrap_or((base.domain, "se"));
        (
            format!("{} {}", base.name, cycle + 1),
            format!("{stem}{}.{tld}", cycle + 1),
        )
    };
    let founded = Day::from_ymd(1970 + rng.between(0, 29), 1 + rng.between(0, 11), 1);
    let company_id = ids.guid();
    out.companies.push(json!({
        "Id": company_id,
        "CompanyNumber": 1010 + 10 * company.index,
        "Name": name,
        "OrganizationNumber": organization_number(rng),
    }));

    let org = build_org(company.size, rng);
    let size = org.slots.len();

    // Dimensions and their accounts.
    let kontor_id = ids.guid();
    let avdelning_id = ids.guid();
    let team_id = ids.guid();
    let office_accounts: Vec<(String, &str)> = org
        .offices
        .iter()
        .map(|office| (ids.guid(), office.code))
        .collect();
    let department_accounts: Vec<(String, String)> = org
        .departments
        .iter()
        .map(|d| (ids.guid(), d.code.to_string()))
        .collect();
    let team_accounts: Vec<(String, String)> = org
        .teams
        .iter()
        .map(|t| (ids.guid(), t.code.to_string()))
        .collect();
    let account = |id: &str, code: &str, name: &str| {
        json!({
            "Id": id,
            "Code": code,
            "Name": name,
            "ActiveFromDate": founded.iso(),
            "ActiveTomDate": null,
        })
    };
    let dimension = |id: &str, name: &str, accounts: Vec<Value>| {
        json!({
            "Id": id,
            "CompanyId": company_id,
            "Name": name,
            "Accounts": accounts,
        })
    };
    out.distributions.push(dimension(
        &kontor_id,
        "Kontor",
        org.offices
            .iter()
            .zip(&office_accounts)
            .map(|(office, (id, code))| account(id, code, office.city))
            .collect(),
    ));
    out.distributions.push(dimension(
        &avdelning_id,
        "Avdelning",
        org.departments
            .iter()
            .zip(&department_accounts)
            .map(|(d, (id, code))| account(id, code, d.department.name))
            .collect(),
    ));
    out.distributions.push(dimension(
        &team_id,
        "Team",
        org.teams
            .iter()
            .zip(&team_accounts)
            .map(|(t, (id, code))| account(id, code, t.name))
            .collect(),
    ));

    // Who is who, and what happens to them.
    let employee_ids: Vec<String> = (0..size).map(|_| ids.guid()).collect();
    let mut has_reports = vec![false; size];
    for slot in &org.slots {
        if let Some(manager) = slot.manager {
            has_reports[manager] = true;
        }
    }
    let mut leaves: Vec<usize> = (0..size)
        .filter(|&i| !has_reports[i] && org.slots[i].manager.is_some())
        .collect();
    rng.shuffle(&mut leaves);
    let mut kinds = vec![Kind::Current; size];
    let mut unassigned = leaves.into_iter();
    for (kind, rate) in [
        (Kind::Leaver, LEAVERS),
        (Kind::FutureStarter, FUTURE_STARTERS),
        (Kind::Rehire, REHIRES),
        (Kind::External, EXTERNALS),
    ] {
        for i in unassigned.by_ref().take(share(size, rate)) {
            kinds[i] = kind;
        }
    }

    let people: Vec<Person> = (0..size).map(|_| new_person(rng, today)).collect();
    let periods: Vec<Vec<(Day, Option<Day>)>> = people
        .iter()
        .zip(&kinds)
        .map(|(person, &kind)| employment_periods(kind, person.birth, founded, today, rng))
        .collect();

    let mut taken = BTreeSet::new();
    let mut emails: Vec<Option<String>> = people
        .iter()
        .map(|p| Some(unique_email(p.first, p.last, &domain, &mut taken)))
        .collect();
    let mut others: Vec<usize> = (1..size).collect();
    rng.shuffle(&mut others);
    let missing = share(size, MISSING_EMAIL).min(others.len());
    let duplicated = share(size, DUPLICATE_EMAIL).min(others.len() - missing);
    let (odd, plain) = others.split_at(missing + duplicated);
    for &i in &odd[..missing] {
        emails[i] = None;
    }
    for &i in &odd[missing..] {
        let source = plain
            .get(rng.below(plain.len()))
            .and_then(|&s| emails[s].clone());
        if let Some(address) = source {
            emails[i] = Some(email_variant(&address, rng));
        }
    }

    // Employment numbers follow the hiring order.
    let mut order: Vec<usize> = (0..size).collect();
    order.sort_by_key(|&i| (periods[i].first().map(|p| p.0), i));

    for (rank, &i) in order.iter().enumerate() {
        let slot = &org.slots[i];
        let person = &people[i];
        let id = &employee_ids[i];
        out.employees.push(json!({
            "Id": id,
            "InstanceId": company.instance_id,
            "CompanyId": company_id,
            "FirstName": person.first,
            "LastName": person.last,
            "Name": format!("{} {}", person.first, person.last),
            "DateOfBirth": person.birth.iso(),
            "Gender": person.gender,
            "EmailWork": emails[i],
            "EmailPrivate": null,
            "ImmediateManagerEmployeeId": slot.manager.map(|m| employee_ids[m].clone()),
            "City": org.offices[slot.office].city,
            "Country": "SE",
            "IsInAuditProcess": false,
            "Employment": {
                "EmploymentNumber": (rank + 1).to_string(),
                "EmploymentType": u8::from(kinds[i] == Kind::External),
            },
        }));
        for &(from, to) in &periods[i] {
            out.periods.push(json!({
                "Id": ids.guid(),
                "InstanceId": company.instance_id,
                "CompanyId": company_id,
                "EmployeeId": id,
                "FromDate": from.iso(),
                "ToDate": to.map(Day::iso),
                "EmploymentTypeId": null,
                "TitleId": null,
            }));
        }
        let start = periods[i].last().map_or(today, |p| p.0);
        let mut rows = vec![(
            &kontor_id,
            &office_accounts[slot.office].0,
            office_accounts[slot.office].1.to_string(),
        )];
        if let Some(d) = slot.department {
            rows.push((
                &avdelning_id,
                &department_accounts[d].0,
                department_accounts[d].1.clone(),
            ));
        }
        if let Some(t) = slot.team {
            rows.push((&team_id, &team_accounts[t].0, team_accounts[t].1.clone()));
        }
        for (dimension_id, account_id, code) in rows {
            out.default_accounts.push(json!({
                "Id": ids.guid(),
                "InstanceId": company.instance_id,
                "CompanyId": company_id,
                "EmployeeId": id,
                "AccountDistributionId": dimension_id,
                "AccountId": account_id,
                "AccountCode": code,
                "FromDate": start.iso(),
                "TomDate": null,
            }));
        }
    }
}

/// A Swedish organisation number (`556xxx-xxxx`) with a valid Luhn check digit.
fn organization_number(rng: &mut Rng) -> String {
    let mut digits = vec![5, 5, 6];
    digits.extend((0..6).map(|_| rng.below(10)));
    let sum: usize = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let v = if i % 2 == 0 { d * 2 } else { d };
            v / 10 + v % 10
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    let text: String = digits.iter().map(|d| d.to_string()).collect();
    format!("{}-{}", &text[..6], &text[6..])
}

fn new_person(rng: &mut Rng, today: Day) -> Person {
    let gender = match rng.below(1000) {
        0..485 => Some(1),
        485..970 => Some(2),
        970..995 => Some(0),
        _ => None,
    };
    let female = match gender {
        Some(1) => false,
        Some(2) => true,
        _ => rng.below(2) == 0,
    };
    let first = rng.common(if female { FEMALE } else { MALE });
    let last = rng.common(LAST);
    let oldest = Day::from_ymd(1960, 1, 1);
    let youngest = Day::from_ymd(2005, 12, 31)
        .min(today.add_years(-19))
        .max(oldest);
    let birth = Day(rng.between(oldest.0, youngest.0));
    Person {
        gender,
        first,
        last,
        birth,
    }
}

/// The employment periods of one person, oldest first.
fn employment_periods(
    kind: Kind,
    birth: Day,
    founded: Day,
    today: Day,
    rng: &mut Rng,
) -> Vec<(Day, Option<Day>)> {
    let earliest = founded
        .max(birth.add_years(18))
        .max(Day::from_ymd(1995, 1, 1));
    match kind {
        Kind::Current | Kind::External => vec![(rng.recent(earliest, today.plus(-1)), None)],
        Kind::Leaver => {
            let end = today.plus(-1 - rng.between(0, 364));
            let start = rng.recent(earliest, end.plus(-30));
            vec![(start, Some(end))]
        }
        Kind::FutureStarter => vec![(today.plus(rng.between(1, 60)), None)],
        Kind::Rehire => {
            let current = today.plus(-1 - rng.between(0, 999));
            let ended = current.plus(-30 - rng.between(0, 699));
            let first = rng.recent(earliest, ended.plus(-90));
            vec![(first, Some(ended)), (current, None)]
        }
    }
}

/// `first.last@domain`, ASCII-folded, numbered (`first.last2@`) when the address is taken.
fn unique_email(first: &str, last: &str, domain: &str, taken: &mut BTreeSet<String>) -> String {
    let local = format!("{}.{}", fold(first), fold(last));
    let mut address = format!("{local}@{domain}");
    let mut number = 2;
    while taken.contains(&address) {
        address = format!("{local}{number}@{domain}");
        number += 1;
    }
    taken.insert(address.clone());
    address
}

/// Lowercase ASCII for an email address: å, ä -> a, ö -> o, é -> e; other marks dropped.
fn fold(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            'å' | 'ä' | 'á' | 'à' => Some('a'),
            'ö' | 'ø' | 'ó' => Some('o'),
            'é' | 'è' | 'ë' => Some('e'),
            'ü' => Some('u'),
            'a'..='z' | '0'..='9' | '-' => Some(c),
            _ => None,
        })
        .collect()
}

/// Another employee's address as a careless hand would type it again.
fn email_variant(address: &str, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => address.to_string(),
        1 => {
            let (local, domain) = address.split_once('@').unwrap_or((address, ""));
            let local: Vec<String> = local.split('.').map(capitalise).collect();
            format!("{}@{domain}", local.join("."))
        }
        _ => format!(" {address} "),
    }
}

fn capitalise(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `total * per_mille / 1000`, rounded.
fn share(total: usize, per_mille: usize) -> usize {
    (total * per_mille + 500) / 1000
}

/// Splits `total` into parts proportional to `weights` (largest remainder first).
fn split(total: usize, weights: &[usize]) -> Vec<usize> {
    let sum: usize = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<usize> = weights.iter().map(|w| total * w / sum).collect();
    let rest = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(total * weights[i] % sum), i));
    for &i in order.iter().take(rest) {
        parts[i] += 1;
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// The organisation: offices, departments, teams, and who reports to whom.

#[derive(Default)]
struct Org {
    offices: Vec<&'static Office>,
    departments: Vec<DepartmentUnit>,
    teams: Vec<TeamUnit>,
    slots: Vec<Slot>,
}

struct DepartmentUnit {
    department: &'static Department,
    /// Office number (1-based) times 100 plus the department's catalog number.
    code: usize,
}

struct TeamUnit {
    name: &'static str,
    /// The department's code times 10 plus the team's catalog number.
    code: usize,
}

/// One employee's place: indexes into the org's offices, departments and teams.
struct Slot {
    office: usize,
    department: Option<usize>,
    team: Option<usize>,
    manager: Option<usize>,
}

impl Org {
    fn add_slot(&mut self, office: usize, department: Option<usize>, team: Option<usize>) -> usize {
        self.slots.push(Slot {
            office,
            department,
            team,
            manager: None,
        });
        self.slots.len() - 1
    }

    fn add_slots(&mut self, count: usize, office: usize, department: usize) -> Vec<usize> {
        (0..count)
            .map(|_| self.add_slot(office, Some(department), None))
            .collect()
    }

    fn add_department(&mut self, office: usize, catalog: usize) -> usize {
        self.departments.push(DepartmentUnit {
            department: &DEPARTMENTS[catalog],
            code: (office + 1) * 100 + catalog + 1,
        });
        self.departments.len() - 1
    }

    /// `fixed` report to `head` directly; `free` are hung below within the span limit.
    fn attach(&mut self, head: usize, fixed: &[usize], free: &[usize], rng: &mut Rng) {
        for &report in fixed {
            self.slots[report].manager = Some(head);
        }
        let room = MAX_SPAN.saturating_sub(fixed.len()).max(1);
        self.hang(head, free, room, rng);
    }

    /// Puts `people` under `head`, at most `room` directly; beyond that in chunks, each led by its
    /// first member, so that neighbours (same department, same team) share a manager.
    fn hang(&mut self, head: usize, people: &[usize], room: usize, rng: &mut Rng) {
        if people.len() <= room {
            for &p in people {
                self.slots[p].manager = Some(head);
            }
            return;
        }
        let chunk_size = 6 + rng.below(5);
        let chunks = people.len().div_ceil(chunk_size).clamp(room.min(3), room);
        let sizes = split(people.len(), &vec![1; chunks]);
        let mut rest = people;
        for size in sizes {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            if let Some((&lead, members)) = chunk.split_first() {
                self.slots[lead].manager = Some(head);
                self.hang(lead, members, MAX_SPAN, rng);
            }
        }
    }
}

/// Lays out `size` people: one top manager (in "Ledning" at the head office), office heads when
/// there are several offices, department heads, team leads, and everyone else.
fn build_org(size: usize, rng: &mut Rng) -> Org {
    let mut org = Org::default();
    let office_count = ((size.isqrt() + 2) / 5).clamp(1, MAX_OFFICES);
    let head_office = rng.below(HEAD_OFFICE_CHOICES);
    let mut branches: Vec<usize> = (0..OFFICES.len()).filter(|&o| o != head_office).collect();
    rng.shuffle(&mut branches);
    org.offices = std::iter::once(head_office)
        .chain(branches)
        .take(office_count)
        .map(|o| &OFFICES[o])
        .collect();
    let weights: Vec<usize> = (0..office_count)
        .map(|k| {
            if k == 0 {
                40 + rng.below(20)
            } else {
                10 + rng.below(30)
            }
        })
        .collect();
    let office_sizes = split(size, &weights);

    let mut top = None;
    let mut office_heads = Vec::new();
    let mut management = Vec::new();
    for (k, &office_size) in office_sizes.iter().enumerate() {
        let mut budget = office_size;
        if k == 0 {
            let ledning = org.add_department(0, LEDNING);
            if budget > 0 {
                budget -= 1;
                top = Some(org.add_slot(0, Some(ledning), None));
            }
            let members = (budget / 4).min(1 + size / 500).min(4);
            budget -= members;
            management = org.add_slots(members, 0, ledning);
        }
        let office_head = if office_count == 1 {
            top
        } else if budget > 0 {
            budget -= 1;
            let head = org.add_slot(k, None, None);
            office_heads.push(head);
            Some(head)
        } else {
            None
        };
        let departments = pick_departments(k == 0, budget, rng);
        let weights: Vec<usize> = departments.iter().map(|_| 1 + rng.below(4)).collect();
        let mut department_heads = Vec::new();
        for (&catalog, &people) in departments.iter().zip(&split(budget, &weights)) {
            department_heads.extend(build_department(&mut org, k, catalog, people, rng));
        }
        if let Some(head) = office_head.or(top) {
            let free = if office_count == 1 {
                management.clone()
            } else {
                Vec::new()
            };
            org.attach(head, &department_heads, &free, rng);
        }
    }
    if let (Some(top), true) = (top, office_count > 1) {
        org.attach(top, &office_heads, &management, rng);
    }
    org
}

/// The departments (catalog indexes) an office with `people` employees has, in code order.
fn pick_departments(head_office: bool, people: usize, rng: &mut Rng) -> Vec<usize> {
    let order = if head_office {
        HEAD_OFFICE_DEPARTMENTS
    } else {
        BRANCH_DEPARTMENTS
    };
    let count = (people / 12).clamp(1, MAX_DEPARTMENTS).min(order.len());
    let (core, rest) = order.split_at(2.min(order.len()));
    let mut rest = rest.to_vec();
    rng.shuffle(&mut rest);
    let mut picked: Vec<usize> = core.iter().copied().chain(rest).take(count).collect();
    picked.sort_unstable();
    picked
}

/// Adds a department of `people` (its head first), split into teams when big enough; returns
/// the head.
fn build_department(
    org: &mut Org,
    office: usize,
    catalog: usize,
    people: usize,
    rng: &mut Rng,
) -> Option<usize> {
    let department = org.add_department(office, catalog);
    if people == 0 {
        return None;
    }
    let head = org.add_slot(office, Some(department), None);
    let members = people - 1;
    let names = DEPARTMENTS[catalog].teams;
    let team_count = if members >= 7 {
        (members / 7).min(names.len())
    } else {
        0
    };
    let mut chosen: Vec<usize> = (0..names.len()).collect();
    rng.shuffle(&mut chosen);
    chosen.truncate(team_count);
    chosen.sort_unstable();
    let unteamed = if chosen.is_empty() {
        members
    } else {
        members * (5 + rng.below(21)) / 100
    };
    let weights: Vec<usize> = chosen.iter().map(|_| 2 + rng.below(3)).collect();
    let team_sizes = split(members - unteamed, &weights);
    let department_code = org.departments[department].code;
    let mut leads = Vec::new();
    for (&t, &team_size) in chosen.iter().zip(&team_sizes) {
        org.teams.push(TeamUnit {
            name: names[t],
            code: department_code * 10 + t + 1,
        });
        let team = Some(org.teams.len() - 1);
        if team_size == 0 {
            continue;
        }
        let lead = org.add_slot(office, Some(department), team);
        let mates: Vec<usize> = (1..team_size)
            .map(|_| org.add_slot(office, Some(department), team))
            .collect();
        org.hang(lead, &mates, MAX_SPAN, rng);
        leads.push(lead);
    }
    let free = org.add_slots(unteamed, office, department);
    org.attach(head, &leads, &free, rng);
    Some(head)
}

// ---------------------------------------------------------------------------------------------
// A working week of HR changes.

/// Applies a working week of HR changes to a generated document and returns one sentence per
/// change, naming the employee id: `count` new hires (period, default accounts and manager
/// copied from a colleague's place) and `count` leavers (their period ends yesterday), then one
/// each of: surname change, work email change, manager change, team/department move (the old
/// default accounts end yesterday, new ones start today) and department rename (the account's
/// `Name` changes, its `Code` stays). A change that finds nobody fitting is left out.
pub fn apply_changes(document: &mut Value, seed: u64, today: Date, count: usize) -> Vec<String> {
    let today = Day::from_date(today);
    let mut week = Week::read(document, today);
    let mut rng = Rng::new(seed, STREAM_CHANGES);
    let mut ids = Rng::new(
        seed ^ (week.staff.len() as u64).rotate_left(32),
        STREAM_CHANGE_IDS,
    );
    let mut said = Vec::new();

    // Those who can leave or change without touching anyone else: active, not external, with a
    // manager and without reports.
    let mut pool: Vec<usize> = (0..week.staff.len())
        .filter(|&i| {
            let s = &week.staff[i];
            week.active.contains(&s.id)
                && !s.external
                && s.manager.is_some()
                && !week.managers.contains(&s.id)
        })
        .collect();
    rng.shuffle(&mut pool);
    let mut pool = pool.into_iter();

    let leavers: Vec<usize> = pool
        .by_ref()
        .filter(|&i| week.open_period.contains_key(&week.staff[i].id))
        .take(count)
        .collect();
    for &i in &leavers {
        said.extend(week.leave(document, i, today));
    }
    let leaving: BTreeSet<usize> = leavers.iter().copied().collect();
    let colleagues: Vec<usize> = (0..week.staff.len())
        .filter(|&i| {
            let s = &week.staff[i];
            week.active.contains(&s.id)
                && !s.external
                && s.manager.is_some()
                && !leaving.contains(&i)
        })
        .collect();
    for _ in 0..count {
        if let Some(&colleague) = colleagues.get(rng.below(colleagues.len())) {
            said.push(week.hire(document, colleague, today, &mut rng, &mut ids));
        }
    }
    if let Some(i) = pool.next() {
        said.push(week.change_surname(document, i, &mut rng));
    }
    if let Some(i) = pool.by_ref().find(|&i| week.staff[i].email.is_some()) {
        said.push(week.change_email(document, i));
    }
    if let Some(i) = pool.next() {
        said.extend(week.change_manager(document, i, &mut rng));
    }
    if let Some(i) = pool.next() {
        said.extend(week.move_employee(document, i, &leaving, today, &mut rng, &mut ids));
    }
    said.extend(week.rename_department(document, &mut rng));
    said
}

/// One employee record as `apply_changes` needs it.
struct Staff {
    /// Position in `Employees`.
    index: usize,
    id: String,
    company: String,
    first: String,
    last: String,
    email: Option<String>,
    manager: Option<String>,
    external: bool,
    instance: Value,
    city: Value,
}

/// An employee's default account valid today.
#[derive(Clone)]
struct Place {
    /// Position in `EmploymentDefaultAccounts`.
    row: usize,
    dimension: String,
    account: String,
    code: Value,
}

impl Place {
    /// A default-account row that gives `employee` this place from `from` on.
    fn row_for(
        &self,
        row_id: String,
        employee: &str,
        company: &str,
        instance: &Value,
        from: Day,
    ) -> Value {
        json!({
            "Id": row_id,
            "InstanceId": instance,
            "CompanyId": company,
            "EmployeeId": employee,
            "AccountDistributionId": self.dimension,
            "AccountId": self.account,
            "AccountCode": self.code,
            "FromDate": from.iso(),
            "TomDate": null,
        })
    }
}

/// What `apply_changes` reads from the document before changing it.
struct Week {
    staff: Vec<Staff>,
    /// Employee ids with a period covering today.
    active: BTreeSet<String>,
    /// Employee ids named as someone's manager.
    managers: BTreeSet<String>,
    /// Employee id -> position in `EmploymentPeriods` of the period covering today.
    open_period: BTreeMap<String, usize>,
    /// Employee id -> default accounts valid today, in document order.
    places: BTreeMap<String, Vec<Place>>,
    /// Company id -> the highest numeric employment number.
    numbers: BTreeMap<String, u64>,
    /// Work email addresses in use, trimmed and lowercase.
    emails: BTreeSet<String>,
    /// Company id -> the domain of its work email addresses.
    domains: BTreeMap<String, String>,
    /// Company id -> company number.
    company_numbers: BTreeMap<String, String>,
    /// Dimension id -> dimension name.
    dimensions: BTreeMap<String, String>,
    /// (dimension id, account id) -> (code, name).
    accounts: BTreeMap<(String, String), (String, String)>,
}

impl Week {
    fn read(document: &Value, today: Day) -> Week {
        let today = today.text();
        let started = |from: Option<&str>| from.is_none_or(|f| day_part(f) <= today.as_str());
        let not_ended = |to: Option<&str>| to.is_none_or(|t| day_part(t) >= today.as_str());

        let mut active = BTreeSet::new();
        let mut open_period = BTreeMap::new();
        for (i, period) in list(document, "EmploymentPeriods").iter().enumerate() {
            let from = text(period, "FromDate");
            let covers = from.is_some() && started(from) && not_ended(text(period, "ToDate"));
            if let (Some(employee), true) = (text(period, "EmployeeId"), covers) {
                active.insert(employee.to_string());
                open_period.insert(employee.to_string(), i);
            }
        }
        let mut places: BTreeMap<String, Vec<Place>> = BTreeMap::new();
        for (i, row) in list(document, "EmploymentDefaultAccounts")
            .iter()
            .enumerate()
        {
            let valid = started(text(row, "FromDate")) && not_ended(text(row, "TomDate"));
            let place = (
                text(row, "EmployeeId"),
                text(row, "AccountDistributionId"),
                text(row, "AccountId"),
            );
            if let ((Some(employee), Some(dimension), Some(account)), true) = (place, valid) {
                places.entry(employee.to_string()).or_default().push(Place {
                    row: i,
                    dimension: dimension.to_string(),
                    account: account.to_string(),
                    code: row.get("AccountCode").cloned().unwrap_or(Value::Null),
                });
            }
        }
        let mut dimensions = BTreeMap::new();
        let mut accounts = BTreeMap::new();
        for dimension in list(document, "AccountDistributions") {
            let Some(dimension_id) = text(dimension, "Id") else {
                continue;
            };
            let name = text(dimension, "Name").unwrap_or_default();
            dimensions.insert(dimension_id.to_string(), name.to_string());
            for account in list(dimension, "Accounts") {
                if let Some(account_id) = text(account, "Id") {
                    let code = text(account, "Code").unwrap_or_default().to_string();
                    let name = text(account, "Name").unwrap_or_default().to_string();
                    accounts.insert(
                        (dimension_id.to_string(), account_id.to_string()),
                        (code, name),
                    );
                }
            }
        }
        let company_numbers = list(document, "Companies")
            .iter()
            .filter_map(|c| {
                let number = c.get("CompanyNumber").map(|n| match n {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                Some((text(c, "Id")?.to_string(), number?))
            })
            .collect();

        let mut week = Week {
            staff: Vec::new(),
            active,
            managers: BTreeSet::new(),
            open_period,
            places,
            numbers: BTreeMap::new(),
            emails: BTreeSet::new(),
            domains: BTreeMap::new(),
            company_numbers,
            dimensions,
            accounts,
        };
        for (index, employee) in list(document, "Employees").iter().enumerate() {
            let Some(id) = text(employee, "Id") else {
                continue;
            };
            let company = text(employee, "CompanyId").unwrap_or_default().to_string();
            let employment = match employee.get("Employment") {
                Some(Value::Array(items)) => items.first(),
                other => other,
            };
            let kind = employment.and_then(|e| e.get("EmploymentType"));
            let external = match kind {
                Some(Value::Number(n)) => n.as_i64() == Some(1),
                Some(Value::String(s)) => s.trim() == "1" || s.to_lowercase().contains("extern"),
                _ => false,
            };
            let number = employment
                .and_then(|e| e.get("EmploymentNumber"))
                .and_then(|n| match n {
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    other => other.as_u64(),
                });
            if let Some(number) = number {
                let highest = week.numbers.entry(company.clone()).or_insert(0);
                *highest = (*highest).max(number);
            }
            let email = text(employee, "EmailWork").map(str::to_string);
            if let Some(address) = &email {
                let address = address.trim().to_lowercase();
                if let Some((_, domain)) = address.split_once('@') {
                    week.domains
                        .entry(company.clone())
                        .or_insert_with(|| domain.to_string());
                }
                week.emails.insert(address);
            }
            let manager = text(employee, "ImmediateManagerEmployeeId").map(str::to_string);
            if let Some(manager) = &manager {
                week.managers.insert(manager.clone());
            }
            week.staff.push(Staff {
                index,
                id: id.to_string(),
                company,
                first: text(employee, "FirstName").unwrap_or_default().to_string(),
                last: text(employee, "LastName").unwrap_or_default().to_string(),
                email,
                manager,
                external,
                instance: employee.get("InstanceId").cloned().unwrap_or(Value::Null),
                city: employee.get("City").cloned().unwrap_or(Value::Null),
            });
        }
        week
    }

    fn leave(&self, document: &mut Value, i: usize, today: Day) -> Option<String> {
        let s = &self.staff[i];
        let &period = self.open_period.get(&s.id)?;
        let yesterday = today.plus(-1);
        set(
            document,
            "EmploymentPeriods",
            period,
            "ToDate",
            json!(yesterday.iso()),
        );
        Some(format!(
            "Employee {} ({} {}) leaves: the employment period ends {}",
            s.id,
            s.first,
            s.last,
            yesterday.text()
        ))
    }

    fn hire(
        &mut self,
        document: &mut Value,
        colleague: usize,
        today: Day,
        rng: &mut Rng,
        ids: &mut Rng,
    ) -> String {
        let c = &self.staff[colleague];
        let (company, manager, instance, city) = (
            c.company.clone(),
            c.manager.clone(),
            c.instance.clone(),
            c.city.clone(),
        );
        let domain = c
            .email
            .as_deref()
            .and_then(|e| {
                e.trim()
                    .to_lowercase()
                    .split_once('@')
                    .map(|(_, d)| d.to_string())
            })
            .or_else(|| self.domains.get(&company).cloned())
            .unwrap_or_else(|| "example.se".to_string());
        let places = self.places.get(&c.id).cloned().unwrap_or_default();

        let person = new_person(rng, today);
        let id = ids.guid();
        let email = unique_email(person.first, person.last, &domain, &mut self.emails);
        let number = self.numbers.entry(company.clone()).or_insert(0);
        *number += 1;
        let start = today.plus(-rng.between(0, 4));
        push(
            document,
            "Employees",
            json!({
                "Id": id,
                "InstanceId": instance,
                "CompanyId": company,
                "FirstName": person.first,
                "LastName": person.last,
                "Name": format!("{} {}", person.first, person.last),
                "DateOfBirth": person.birth.iso(),
                "Gender": person.gender,
                "EmailWork": email,
                "EmailPrivate": null,
                "ImmediateManagerEmployeeId": manager,
                "City": city,
                "Country": "SE",
                "IsInAuditProcess": false,
                "Employment": {"EmploymentNumber": number.to_string(), "EmploymentType": 0},
            }),
        );
        push(
            document,
            "EmploymentPeriods",
            json!({
                "Id": ids.guid(),
                "InstanceId": instance,
                "CompanyId": company,
                "EmployeeId": id,
                "FromDate": start.iso(),
                "ToDate": null,
                "EmploymentTypeId": null,
                "TitleId": null,
            }),
        );
        for place in places {
            push(
                document,
                "EmploymentDefaultAccounts",
                place.row_for(ids.guid(), &id, &company, &instance, start),
            );
        }
        format!(
            "Employee {id} ({} {}) is hired in company {}, starting {}, manager {}",
            person.first,
            person.last,
            self.company_numbers
                .get(&company)
                .map_or(company.as_str(), String::as_str),
            start.text(),
            manager.as_deref().unwrap_or("none")
        )
    }

    fn change_surname(&self, document: &mut Value, i: usize, rng: &mut Rng) -> String {
        let s = &self.staff[i];
        let mut last = rng.common(LAST);
        if last == s.last {
            last = LAST
                .iter()
                .copied()
                .find(|&l| l != s.last)
                .unwrap_or("Nyström");
        }
        set(document, "Employees", s.index, "LastName", json!(last));
        set(
            document,
            "Employees",
            s.index,
            "Name",
            json!(format!("{} {last}", s.first)),
        );
        format!(
            "Employee {} ({} {}) changes surname to {last}",
            s.id, s.first, s.last
        )
    }

    fn change_email(&mut self, document: &mut Value, i: usize) -> String {
        let s = &self.staff[i];
        let old = s.email.clone().unwrap_or_default();
        let domain = old
            .trim()
            .to_lowercase()
            .split_once('@')
            .map_or_else(|| "example.se".to_string(), |(_, d)| d.to_string());
        let new = unique_email(&s.first, &s.last, &domain, &mut self.emails);
        set(document, "Employees", s.index, "EmailWork", json!(new));
        format!(
            "Employee {} ({} {}) changes work email from {} to {new}",
            s.id,
            s.first,
            s.last,
            old.trim()
        )
    }

    fn change_manager(&self, document: &mut Value, i: usize, rng: &mut Rng) -> Option<String> {
        let s = &self.staff[i];
        let candidates: Vec<&Staff> = self
            .staff
            .iter()
            .filter(|m| {
                m.company == s.company
                    && m.id != s.id
                    && Some(&m.id) != s.manager.as_ref()
                    && self.managers.contains(&m.id)
                    && self.active.contains(&m.id)
            })
            .collect();
        let new = candidates.get(rng.below(candidates.len()))?;
        set(
            document,
            "Employees",
            s.index,
            "ImmediateManagerEmployeeId",
            json!(new.id),
        );
        Some(format!(
            "Employee {} ({} {}) gets a new manager: {} ({} {}), was {}",
            s.id,
            s.first,
            s.last,
            new.id,
            new.first,
            new.last,
            s.manager.as_deref().unwrap_or("none")
        ))
    }

    /// Moves an employee to a colleague's team or department (same office where possible): the
    /// old default accounts end yesterday, the colleague's start today, and the colleague's
    /// manager becomes theirs.
    fn move_employee(
        &self,
        document: &mut Value,
        i: usize,
        leaving: &BTreeSet<usize>,
        today: Day,
        rng: &mut Rng,
        ids: &mut Rng,
    ) -> Option<String> {
        let s = &self.staff[i];
        let places_of = |id: &str| -> BTreeMap<&str, &Place> {
            self.places
                .get(id)
                .into_iter()
                .flatten()
                .map(|p| (p.dimension.as_str(), p))
                .collect()
        };
        fn account<'a>(places: &BTreeMap<&str, &'a Place>, dimension: &str) -> Option<&'a str> {
            places.get(dimension).map(|p| p.account.as_str())
        }
        let mine = places_of(&s.id);
        let office = self.places.get(&s.id)?.first()?.dimension.as_str();
        let mut candidates: Vec<usize> = (0..self.staff.len())
            .filter(|&c| {
                c != i
                    && !leaving.contains(&c)
                    && self.staff[c].company == s.company
                    && self.active.contains(&self.staff[c].id)
            })
            .collect();
        rng.shuffle(&mut candidates);
        let fitting = |&c: &usize| {
            let theirs = places_of(&self.staff[c].id);
            let differs = mine
                .keys()
                .chain(theirs.keys())
                .any(|d| account(&mine, d) != account(&theirs, d));
            (!theirs.is_empty() && differs).then_some((c, theirs))
        };
        let (c, theirs) = candidates
            .iter()
            .filter_map(fitting)
            .find(|(_, theirs)| account(&mine, office) == account(theirs, office))
            .or_else(|| candidates.iter().filter_map(fitting).next())?;
        let colleague = &self.staff[c];

        let yesterday = today.plus(-1);
        let mut dimensions: Vec<&str> = Vec::new();
        for place in [&colleague.id, &s.id]
            .into_iter()
            .flat_map(|id| self.places.get(id.as_str()).into_iter().flatten())
        {
            if !dimensions.contains(&place.dimension.as_str()) {
                dimensions.push(&place.dimension);
            }
        }
        let describe = |dimension: &str, place: &Place| {
            let (code, name) = self
                .accounts
                .get(&(dimension.to_string(), place.account.clone()))
                .cloned()
                .unwrap_or_default();
            let dimension_name = self.dimensions.get(dimension).cloned().unwrap_or_default();
            format!("{dimension_name} {name} ({code})")
        };
        let mut moves = Vec::new();
        for dimension in dimensions {
            if account(&mine, dimension) == account(&theirs, dimension) {
                continue;
            }
            if let Some(old) = mine.get(dimension) {
                set(
                    document,
                    "EmploymentDefaultAccounts",
                    old.row,
                    "TomDate",
                    json!(yesterday.iso()),
                );
            }
            match theirs.get(dimension) {
                Some(new) => {
                    moves.push(format!("into {}", describe(dimension, new)));
                    push(
                        document,
                        "EmploymentDefaultAccounts",
                        new.row_for(ids.guid(), &s.id, &s.company, &s.instance, today),
                    );
                }
                None => {
                    if let Some(old) = mine.get(dimension) {
                        moves.push(format!("out of {}", describe(dimension, old)));
                    }
                }
            }
        }
        let mut sentence = format!(
            "Employee {} ({} {}) moves {}",
            s.id,
            s.first,
            s.last,
            moves.join(", ")
        );
        let new_manager = colleague
            .manager
            .as_ref()
            .filter(|&m| *m != s.id && Some(m) != s.manager.as_ref());
        if let Some(manager) = new_manager {
            set(
                document,
                "Employees",
                s.index,
                "ImmediateManagerEmployeeId",
                json!(manager),
            );
            sentence.push_str(&format!("; manager now {manager}"));
        }
        Some(sentence)
    }

    /// Renames one department account that somebody active carries; its code stays.
    fn rename_department(&self, document: &mut Value, rng: &mut Rng) -> Option<String> {
        let in_use: BTreeSet<(String, String)> = self
            .places
            .iter()
            .filter(|(employee, _)| self.active.contains(*employee))
            .flat_map(|(_, places)| places)
            .filter(|p| {
                self.dimensions
                    .get(&p.dimension)
                    .is_some_and(|name| name.eq_ignore_ascii_case("Avdelning"))
            })
            .map(|p| (p.dimension.clone(), p.account.clone()))
            .collect();
        let in_use: Vec<(String, String)> = in_use.into_iter().collect();
        let (dimension_id, account_id) = in_use.get(rng.below(in_use.len()))?;
        let (code, old) = self
            .accounts
            .get(&(dimension_id.clone(), account_id.clone()))?;
        let new = DEPARTMENTS
            .iter()
            .find(|d| d.name == old)
            .map_or_else(|| format!("{old} (ny)"), |d| d.renamed.to_string());
        let dimensions = document.get_mut("AccountDistributions")?.as_array_mut()?;
        let dimension = dimensions
            .iter_mut()
            .find(|d| text(d, "Id") == Some(dimension_id.as_str()))?;
        let company = text(dimension, "CompanyId").unwrap_or_default().to_string();
        let account = dimension
            .get_mut("Accounts")?
            .as_array_mut()?
            .iter_mut()
            .find(|a| text(a, "Id") == Some(account_id.as_str()))?;
        account
            .as_object_mut()?
            .insert("Name".to_string(), json!(new));
        Some(format!(
            "Account {code} in Avdelning of company {} is renamed from {old} to {new} (code kept)",
            self.company_numbers
                .get(&company)
                .map_or(company.as_str(), String::as_str)
        ))
    }
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `YYYY-MM-DD` of a Flex date such as `2021-09-01T00:00:00`.
fn day_part(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

fn push(document: &mut Value, key: &str, item: Value) {
    if let Some(items) = document.get_mut(key).and_then(Value::as_array_mut) {
        items.push(item);
    }
}

fn set(document: &mut Value, key: &str, index: usize, field: &str, new: Value) {
    if let Some(object) = document
        .get_mut(key)
        .and_then(|items| items.get_mut(index))
        .and_then(Value::as_object_mut)
    {
        object.insert(field.to_string(), new);
    }
}

// ---------------------------------------------------------------------------------------------
// Days and random numbers.

/// A civil date as days since 1970-01-01 (proleptic Gregorian), so date arithmetic cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Day(i64);

impl Day {
    fn from_date(date: Date) -> Day {
        Day::from_ymd(
            i64::from(date.year()),
            i64::from(date.month()),
            i64::from(date.day()),
        )
    }

    /// After Howard Hinnant's `days_from_civil`.
    fn from_ymd(year: i64, month: i64, day: i64) -> Day {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Day(era * 146_097 + day_of_era - 719_468)
    }

    /// After Howard Hinnant's `civil_from_days`.
    fn ymd(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    fn plus(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// The same day of the month `years` later (the 29th-31st become the 28th).
    fn add_years(self, years: i64) -> Day {
        let (year, month, day) = self.ymd();
        Day::from_ymd(year + years, month, day.min(28))
    }

    /// `YYYY-MM-DD`.
    fn text(self) -> String {
        let (year, month, day) = self.ymd();
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// As Flex writes dates: `YYYY-MM-DDT00:00:00`.
    fn iso(self) -> String {
        format!("{}T00:00:00", self.text())
    }
}

/// SplitMix64: small, fast and fixed, so a seed gives the same data on every machine forever.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi` (`lo` when the range is empty).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let width = u128::from(hi.abs_diff(lo)) + 1;
        lo + ((u128::from(self.next()) * width) >> 64) as i64
    }

    /// A day in `earliest..=latest`, more likely near `latest`.
    fn recent(&mut self, earliest: Day, latest: Day) -> Day {
        let a = self.between(earliest.0, latest.0);
        let b = self.between(earliest.0, latest.0);
        Day(a.max(b).min(latest.0))
    }

    /// An item, more likely from the front of the list.
    fn common<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len()).min(self.below(items.len()));
        items.get(i).copied().unwrap_or_default()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A random (version 4 shaped) GUID in lowercase.
    fn guid(&mut self) -> String {
        let high = (self.next() & !0xF000) | 0x4000;
        let low = (self.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use std::time::Instant;

    const TODAY: Date = date(2025, 6, 16);

    fn options(employees: usize, seed: u64) -> GenerateOptions {
        GenerateOptions {
            employees,
            seed,
            today: TODAY,
            companies: None,
        }
    }

    fn items<'a>(document: &'a Value, key: &str) -> &'a Vec<Value> {
        document[key].as_array().expect(key)
    }

    fn s<'a>(value: &'a Value, key: &str) -> &'a str {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {value}"))
    }

    fn today() -> String {
        Day::from_date(TODAY).text()
    }

    /// Employee id -> its periods as (from, to) `YYYY-MM-DD` texts, in document order.
    fn periods(document: &Value) -> BTreeMap<String, Vec<(String, Option<String>)>> {
        let mut out: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
        for p in items(document, "EmploymentPeriods") {
            out.entry(s(p, "EmployeeId").to_string())
                .or_default()
                .push((
                    day_part(s(p, "FromDate")).to_string(),
                    p["ToDate"].as_str().map(|t| day_part(t).to_string()),
                ));
        }
        out
    }

    fn active_ids(document: &Value) -> BTreeSet<String> {
        let today = today();
        periods(document)
            .into_iter()
            .filter(|(_, ps)| {
                ps.iter()
                    .any(|(f, t)| *f <= today && t.as_ref().is_none_or(|t| *t >= today))
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Checks the manager tree of every company and returns the largest span of control.
    fn check_tree(document: &Value) -> usize {
        let employees = items(document, "Employees");
        let by_id: BTreeMap<&str, &Value> = employees.iter().map(|e| (s(e, "Id"), e)).collect();
        assert_eq!(by_id.len(), employees.len(), "employee ids are unique");
        let mut tops: BTreeMap<&str, usize> = BTreeMap::new();
        let mut spans: BTreeMap<&str, usize> = BTreeMap::new();
        for e in employees {
            match e["ImmediateManagerEmployeeId"].as_str() {
                None => *tops.entry(s(e, "CompanyId")).or_default() += 1,
                Some(m) => {
                    let manager = by_id.get(m).unwrap_or_else(|| panic!("manager {m} exists"));
                    assert_eq!(s(manager, "CompanyId"), s(e, "CompanyId"), "same company");
                    *spans.entry(m).or_default() += 1;
                }
            }
            let mut current = e;
            let mut steps = 0;
            while let Some(m) = current["ImmediateManagerEmployeeId"].as_str() {
                current = by_id[m];
                steps += 1;
                assert!(steps <= employees.len(), "cycle above {}", s(e, "Id"));
            }
        }
        let staffed: BTreeSet<&str> = employees.iter().map(|e| s(e, "CompanyId")).collect();
        for company in &staffed {
            assert_eq!(tops.get(company), Some(&1), "one top in {company}");
        }
        assert_eq!(tops.len(), staffed.len());
        spans.values().copied().max().unwrap_or(0)
    }

    fn normalised(email: &str) -> String {
        email.trim().to_lowercase()
    }

    fn is_guid(text: &str) -> bool {
        text.len() == 36
            && text.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
            })
    }

    fn is_flex_date(text: &str) -> bool {
        let bytes = text.as_bytes();
        text.len() == 19
            && text.ends_with("T00:00:00")
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && text[..4]
                .chars()
                .chain(text[5..7].chars())
                .chain(text[8..10].chars())
                .all(|c| c.is_ascii_digit())
    }

    #[test]
    fn same_seed_gives_the_same_document_and_another_seed_another() {
        let first = serde_json::to_string(&generate(&options(300, 42))).unwrap();
        let again = serde_json::to_string(&generate(&options(300, 42))).unwrap();
        let other = generate(&options(300, 43));
        assert_eq!(first, again);
        assert_ne!(first, serde_json::to_string(&other).unwrap());
        let first: Value = serde_json::from_str(&first).unwrap();
        assert_ne!(
            items(&first, "Employees")[0]["Id"],
            items(&other, "Employees")[0]["Id"]
        );
    }

    #[test]
    fn company_count_follows_the_size_rule() {
        let count = |employees, companies| {
            GenerateOptions {
                employees,
                seed: 1,
                today: TODAY,
                companies,
            }
            .company_count()
        };
        assert_eq!(count(0, None), 1);
        assert_eq!(count(1500, None), 1);
        assert_eq!(count(4499, None), 1);
        assert_eq!(count(4500, None), 2);
        assert_eq!(count(10_000, None), 3);
        assert_eq!(count(100_000, None), 4);
        assert_eq!(count(10, Some(0)), 1);
        assert_eq!(count(10, Some(3)), 3);
        let document = generate(&options(6000, 5));
        let numbers: Vec<i64> = items(&document, "Companies")
            .iter()
            .map(|c| c["CompanyNumber"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, vec![1010, 1020]);
        check_tree(&document);
    }

    #[test]
    fn the_mix_of_employees_is_roughly_as_specified_for_2000() {
        let today = today();
        let year_ago = Day::from_date(TODAY).plus(-365).text();
        let in_60_days = Day::from_date(TODAY).plus(60).text();
        let mut variants = 0;
        for seed in [1, 2, 3] {
            let document = generate(&options(2000, seed));
            let employees = items(&document, "Employees");
            assert_eq!(employees.len(), 2000);
            assert_eq!(items(&document, "Companies").len(), 1);
            let periods = periods(&document);
            let (mut leavers, mut future, mut rehires) = (0, 0, 0);
            for ps in periods.values() {
                let ended = |t: &Option<String>| t.as_ref().is_some_and(|t| *t < today);
                match ps.as_slice() {
                    [(_, to)] if ended(to) && to.as_deref() >= Some(year_ago.as_str()) => {
                        leavers += 1
                    }
                    [(from, None)] if *from > today && *from <= in_60_days => future += 1,
                    [(_, Some(end)), (start, None)] if *end < *start && *start <= today => {
                        rehires += 1
                    }
                    [(from, None)] => assert!(*from <= today),
                    other => panic!("unexpected periods {other:?}"),
                }
            }
            assert_eq!(periods.len(), 2000, "everyone has periods");
            assert!((60..=100).contains(&leavers), "leavers {leavers}");
            assert!((30..=50).contains(&future), "future starters {future}");
            assert!((14..=26).contains(&rehires), "rehires {rehires}");

            let count = |f: &dyn Fn(&Value) -> bool| employees.iter().filter(|e| f(e)).count();
            let externals = count(&|e| e["Employment"]["EmploymentType"] == 1);
            assert!((45..=75).contains(&externals), "externals {externals}");
            let men_and_women = count(&|e| e["Gender"] == 1 || e["Gender"] == 2);
            let unknown = count(&|e| e["Gender"] == 0);
            let null = count(&|e| e["Gender"].is_null());
            assert!(men_and_women >= 1900, "genders 1 and 2: {men_and_women}");
            assert!((20..=90).contains(&unknown), "gender 0: {unknown}");
            assert!((2..=25).contains(&null), "gender null: {null}");
            assert!(count(&|e| e["Gender"] == 1) > 800 && count(&|e| e["Gender"] == 2) > 800);

            let missing = count(&|e| e["EmailWork"].is_null());
            assert!((5..=20).contains(&missing), "missing email {missing}");
            let mut by_address: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for e in employees {
                if let Some(address) = e["EmailWork"].as_str() {
                    by_address
                        .entry(normalised(address))
                        .or_default()
                        .push(address);
                }
            }
            let shared: Vec<&Vec<&str>> = by_address.values().filter(|a| a.len() > 1).collect();
            assert!(
                (3..=20).contains(&shared.len()),
                "duplicates {}",
                shared.len()
            );
            variants += shared
                .iter()
                .flat_map(|a| a.iter())
                .filter(|a| normalised(a) != **a)
                .count();

            let company = s(&items(&document, "Companies")[0], "Name");
            let domain = COMPANIES.iter().find(|c| c.name == company).unwrap().domain;
            let domain = format!("@{domain}");
            let mut numbers = BTreeSet::new();
            for e in employees {
                let birth = s(e, "DateOfBirth");
                assert!(
                    ("1960-01-01".."2006-01-01").contains(&birth),
                    "born {birth}"
                );
                assert!(!s(e, "City").is_empty() && s(e, "Country") == "SE");
                assert_eq!(e["IsInAuditProcess"], false);
                assert!(numbers.insert(s(&e["Employment"], "EmploymentNumber").to_string()));
                if let Some(address) = e["EmailWork"].as_str() {
                    let address = normalised(address);
                    assert!(address.ends_with(&domain), "{address}");
                    assert!(
                        address.chars().all(|c| c.is_ascii_lowercase()
                            || c.is_ascii_digit()
                            || ".-@".contains(c)),
                        "{address}"
                    );
                }
            }
        }
        assert!(variants > 0, "some duplicates differ in case or spaces");
    }

    #[test]
    fn the_manager_tree_has_one_top_per_company_and_spans_within_ten() {
        for (employees, companies) in [(2000, None), (5000, None), (300, Some(3)), (57, None)] {
            let document = generate(&GenerateOptions {
                employees,
                seed: 9,
                today: TODAY,
                companies,
            });
            let span = check_tree(&document);
            assert!((3..=MAX_SPAN).contains(&span), "largest span {span}");
        }
    }

    #[test]
    fn managers_mostly_sit_with_their_reports() {
        let document = generate(&options(2000, 4));
        let employees = items(&document, "Employees");
        let office_and_department = place_by_employee(&document);
        let by_id: BTreeMap<&str, &Value> = employees.iter().map(|e| (s(e, "Id"), e)).collect();
        let (mut same_office, mut same_department, mut reports) = (0, 0, 0);
        let mut spans: BTreeMap<&str, usize> = BTreeMap::new();
        for e in employees {
            if let Some(m) = e["ImmediateManagerEmployeeId"].as_str() {
                reports += 1;
                *spans.entry(m).or_default() += 1;
                let mine = &office_and_department[s(e, "Id")];
                let theirs = &office_and_department[s(by_id[m], "Id")];
                same_office += usize::from(mine.get("Kontor") == theirs.get("Kontor"));
                same_department += usize::from(mine.get("Avdelning") == theirs.get("Avdelning"));
            }
        }
        assert!(
            same_office * 100 >= reports * 95,
            "{same_office} of {reports} share an office"
        );
        assert!(
            same_department * 100 >= reports * 80,
            "{same_department} of {reports} share a department"
        );
        let typical = spans.values().filter(|&&n| (3..=10).contains(&n)).count();
        assert!(
            typical * 100 >= spans.len() * 70,
            "{typical} of {} spans in 3-10",
            spans.len()
        );
    }

    /// Employee id -> dimension name -> account code.
    fn place_by_employee(document: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
        let names: BTreeMap<&str, &str> = items(document, "AccountDistributions")
            .iter()
            .map(|d| (s(d, "Id"), s(d, "Name")))
            .collect();
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in items(document, "EmploymentDefaultAccounts") {
            if row["TomDate"].is_null() {
                let previous = out
                    .entry(s(row, "EmployeeId").to_string())
                    .or_default()
                    .insert(
                        names[s(row, "AccountDistributionId")].to_string(),
                        s(row, "AccountCode").to_string(),
                    );
                assert!(previous.is_none(), "one open row per dimension");
            }
        }
        out
    }

    #[test]
    fn dimensions_repeat_department_names_under_offices_with_unique_codes() {
        let document = generate(&options(2000, 6));
        let employees = items(&document, "Employees");
        let company = s(&items(&document, "Companies")[0], "Id");
        let dimensions = items(&document, "AccountDistributions");
        let names: Vec<&str> = dimensions.iter().map(|d| s(d, "Name")).collect();
        assert_eq!(names, ["Kontor", "Avdelning", "Team"]);
        let mut accounts = BTreeMap::new();
        for d in dimensions {
            assert_eq!(s(d, "CompanyId"), company);
            let mut codes = BTreeSet::new();
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for a in items(d, "Accounts") {
                assert!(
                    codes.insert(s(a, "Code")),
                    "code {} unique in {}",
                    s(a, "Code"),
                    s(d, "Name")
                );
                *names.entry(s(a, "Name")).or_default() += 1;
                assert!(is_flex_date(s(a, "ActiveFromDate")) && a["ActiveTomDate"].is_null());
                accounts.insert((s(d, "Id"), s(a, "Id")), s(a, "Code"));
            }
            if s(d, "Name") == "Avdelning" {
                let repeated = names.values().filter(|&&n| n >= 2).count();
                assert!(
                    repeated >= 3,
                    "department names under several offices: {names:?}"
                );
                assert!(
                    codes.iter().all(|c| c.parse::<u32>().is_ok()),
                    "numeric codes"
                );
            }
            if s(d, "Name") == "Kontor" {
                assert!(
                    codes.len() >= 3
                        && codes.contains("STO")
                            | codes.contains("GBG")
                            | codes.contains("MMA")
                            | codes.contains("UPP")
                );
            }
        }

        let periods = periods(&document);
        for row in items(&document, "EmploymentDefaultAccounts") {
            let key = (s(row, "AccountDistributionId"), s(row, "AccountId"));
            assert_eq!(
                accounts.get(&key),
                Some(&s(row, "AccountCode")),
                "row refers to its account"
            );
            let start = &periods[s(row, "EmployeeId")].last().unwrap().0;
            assert_eq!(day_part(s(row, "FromDate")), start);
        }
        let places = place_by_employee(&document);
        let with = |dimension: &str| {
            places
                .values()
                .filter(|p| p.contains_key(dimension))
                .count()
        };
        assert_eq!(with("Kontor"), employees.len());
        let teams = with("Team");
        assert!(
            teams * 100 >= employees.len() * 50 && teams < employees.len(),
            "{teams} in teams"
        );
        let no_department = employees.len() - with("Avdelning");
        assert!(
            (1..=40).contains(&no_department),
            "{no_department} without department"
        );
    }

    const TOP_KEYS: &[&str] = &[
        "AccountDistributions",
        "ApiUsers",
        "Companies",
        "Employees",
        "EmploymentDefaultAccounts",
        "EmploymentPeriods",
        "Instance",
    ];
    const COMPANY_KEYS: &[&str] = &["CompanyNumber", "Id", "Name", "OrganizationNumber"];
    const EMPLOYEE_KEYS: &[&str] = &[
        "City",
        "CompanyId",
        "Country",
        "DateOfBirth",
        "EmailPrivate",
        "EmailWork",
        "Employment",
        "FirstName",
        "Gender",
        "Id",
        "ImmediateManagerEmployeeId",
        "InstanceId",
        "IsInAuditProcess",
        "LastName",
        "Name",
    ];
    const PERIOD_KEYS: &[&str] = &[
        "CompanyId",
        "EmployeeId",
        "EmploymentTypeId",
        "FromDate",
        "Id",
        "InstanceId",
        "TitleId",
        "ToDate",
    ];
    const DIMENSION_KEYS: &[&str] = &["Accounts", "CompanyId", "Id", "Name"];
    const ACCOUNT_KEYS: &[&str] = &["ActiveFromDate", "ActiveTomDate", "Code", "Id", "Name"];
    const DEFAULT_ACCOUNT_KEYS: &[&str] = &[
        "AccountCode",
        "AccountDistributionId",
        "AccountId",
        "CompanyId",
        "EmployeeId",
        "FromDate",
        "Id",
        "InstanceId",
        "TomDate",
    ];

    /// The keys of an object, sorted, to compare with the lists above.
    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The parts of the data file as the API documents them: a document that deserialises into
    /// these reads as the small example (`crates/testkit/fixtures/flex-small.json`) does.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct DataFile {
        instance: String,
        api_users: Vec<ApiUser>,
        companies: Vec<serde_json::Map<String, Value>>,
        employees: Vec<Employee>,
        employment_periods: Vec<serde_json::Map<String, Value>>,
        account_distributions: Vec<serde_json::Map<String, Value>>,
        employment_default_accounts: Vec<serde_json::Map<String, Value>>,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct ApiUser {
        username: String,
        password: String,
        company_ids: Option<Vec<String>>,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Employee {
        id: String,
        company_id: String,
        first_name: String,
        last_name: String,
        date_of_birth: String,
        gender: Option<u8>,
        email_work: Option<String>,
        immediate_manager_employee_id: Option<String>,
        is_in_audit_process: bool,
        employment: Employment,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Employment {
        employment_number: String,
        employment_type: u8,
    }

    #[test]
    fn the_document_has_the_shape_of_the_shared_example() {
        let document = generate(&options(120, 8));
        let file: DataFile = serde_json::from_value(document.clone()).unwrap();
        assert_eq!(file.instance, DEMO_INSTANCE);
        assert_eq!(file.api_users.len(), 1);
        assert_eq!(file.api_users[0].username, DEMO_USERNAME);
        assert_eq!(file.api_users[0].password, DEMO_PASSWORD);
        assert!(file.api_users[0].company_ids.is_none());
        assert_eq!(file.employees.len(), 120);
        let served = crate::flex::FlexData::from_value(document.clone()).unwrap();
        assert_eq!(served.instance, DEMO_INSTANCE);
        assert_eq!(served.employees.len(), 120);
        assert_eq!(served.account_distributions.len(), 3);

        assert_eq!(keys(&document), TOP_KEYS);
        let all = |key: &str| items(&document, key).iter();
        assert!(all("Companies").all(|v| keys(v) == COMPANY_KEYS));
        assert!(all("Employees").all(|v| keys(v) == EMPLOYEE_KEYS));
        assert!(
            all("Employees")
                .all(|v| keys(&v["Employment"]) == ["EmploymentNumber", "EmploymentType"])
        );
        assert!(all("EmploymentPeriods").all(|v| keys(v) == PERIOD_KEYS));
        assert!(all("AccountDistributions").all(|v| keys(v) == DIMENSION_KEYS));
        assert!(
            all("AccountDistributions")
                .flat_map(|d| items(d, "Accounts"))
                .all(|v| keys(v) == ACCOUNT_KEYS)
        );
        assert!(all("EmploymentDefaultAccounts").all(|v| keys(v) == DEFAULT_ACCOUNT_KEYS));

        for e in all("Employees") {
            for key in ["Id", "InstanceId", "CompanyId"] {
                assert!(is_guid(s(e, key)), "{key} {}", e[key]);
            }
            assert!(is_flex_date(s(e, "DateOfBirth")));
            assert_eq!(
                s(e, "Name"),
                format!("{} {}", s(e, "FirstName"), s(e, "LastName"))
            );
        }
        for p in all("EmploymentPeriods") {
            assert!(is_guid(s(p, "Id")) && is_flex_date(s(p, "FromDate")));
            assert!(p["ToDate"].is_null() || is_flex_date(s(p, "ToDate")));
        }
        for c in all("Companies") {
            let number: String = s(c, "OrganizationNumber")
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            assert_eq!(number.len(), 10);
            let luhn: u32 = number
                .chars()
                .rev()
                .enumerate()
                .map(|(i, d)| {
                    let d = d.to_digit(10).unwrap() * if i % 2 == 1 { 2 } else { 1 };
                    d / 10 + d % 10
                })
                .sum();
            assert_eq!(luhn % 10, 0, "organisation number {number}");
        }
    }

    #[test]
    fn tiny_organisations_are_valid() {
        let empty = generate(&options(0, 3));
        assert_eq!(keys(&empty), TOP_KEYS);
        assert_eq!(items(&empty, "Companies").len(), 1);
        assert!(items(&empty, "Employees").is_empty());
        assert!(items(&empty, "EmploymentPeriods").is_empty());
        assert_eq!(items(&empty, "AccountDistributions").len(), 3);
        assert!(!items(&items(&empty, "AccountDistributions")[0], "Accounts").is_empty());

        for employees in 1..=12 {
            for seed in 0..4 {
                let document = generate(&options(employees, seed));
                assert_eq!(items(&document, "Employees").len(), employees);
                check_tree(&document);
                let places = place_by_employee(&document);
                assert_eq!(
                    places.values().filter(|p| p.contains_key("Kontor")).count(),
                    employees
                );
            }
        }
        for (employees, companies) in [(4, 3), (2, 4), (1, 2)] {
            let document = generate(&GenerateOptions {
                employees,
                seed: 1,
                today: TODAY,
                companies: Some(companies),
            });
            assert_eq!(items(&document, "Companies").len(), companies);
            assert_eq!(items(&document, "Employees").len(), employees);
            check_tree(&document);
        }
    }

    #[test]
    fn email_addresses_are_folded_and_numbered() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
            "asa.oberg@nordvik.se"
        );
        assert_eq!(
            unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
            "asa.oberg2@nordvik.se"
        );
        assert_eq!(
            unique_email("Åsa", "Öberg", "nordvik.se", &mut taken),
            "asa.oberg3@nordvik.se"
        );
        assert_eq!(
            unique_email("Désirée", "Sjödén", "x.se", &mut taken),
            "desiree.sjoden@x.se"
        );
        assert_eq!(
            unique_email("Anna-Karin", "Märtensson", "x.se", &mut taken),
            "anna-karin.martensson@x.se"
        );
    }

    #[test]
    fn day_numbers_agree_with_jiff() {
        let mut day = date(1959, 1, 1);
        let first = Day::from_date(day);
        for offset in 0..30_000 {
            assert_eq!(Day(first.0 + offset).text(), day.to_string());
            assert_eq!(Day::from_date(day), Day(first.0 + offset));
            day = day.tomorrow().unwrap();
        }
        assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
        assert_eq!(Day::from_ymd(2024, 2, 29).add_years(1).text(), "2025-02-28");
    }

    /// Per employee id: the employee record, its periods and its default-account rows.
    fn records(document: &Value) -> BTreeMap<String, Vec<Value>> {
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in items(document, "Employees") {
            out.entry(s(e, "Id").to_string())
                .or_default()
                .push(e.clone());
        }
        for key in ["EmploymentPeriods", "EmploymentDefaultAccounts"] {
            for row in items(document, key) {
                out.entry(s(row, "EmployeeId").to_string())
                    .or_default()
                    .push(row.clone());
            }
        }
        out
    }

    fn subject(sentence: &str) -> Option<&str> {
        sentence
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .find(|word| is_guid(word))
    }

    #[test]
    fn apply_changes_changes_what_it_says() {
        let before = generate(&options(400, 7));
        let mut after = before.clone();
        let said = apply_changes(&mut after, 11, TODAY, 3);
        let mut again = before.clone();
        assert_eq!(
            apply_changes(&mut again, 11, TODAY, 3),
            said,
            "deterministic"
        );
        assert_eq!(again, after);
        assert_eq!(said.len(), 3 + 3 + 5, "{said:#?}");

        let (old, new) = (records(&before), records(&after));
        let changed: BTreeSet<&String> = new
            .keys()
            .filter(|id| old.get(*id) != new.get(*id))
            .collect();
        let subjects: BTreeSet<&str> = said.iter().filter_map(|line| subject(line)).collect();
        assert_eq!(
            subjects.len(),
            said.len() - 1,
            "every sentence but the rename names one employee: {said:#?}"
        );
        assert_eq!(
            changed
                .iter()
                .map(|id| id.as_str())
                .collect::<BTreeSet<_>>(),
            subjects
        );

        let employee = |document: &Value, id: &str| {
            items(document, "Employees")
                .iter()
                .find(|e| s(e, "Id") == id)
                .cloned()
                .unwrap()
        };
        let active_before = active_ids(&before);
        let active_after = active_ids(&after);
        let yesterday = Day::from_date(TODAY).plus(-1).text();
        for line in &said {
            let Some(id) = subject(line) else {
                continue;
            };
            let after_record = employee(&after, id);
            if line.contains(" leaves") {
                assert!(
                    active_before.contains(id) && !active_after.contains(id),
                    "{line}"
                );
                assert!(line.contains(&yesterday));
            } else if line.contains(" is hired") {
                assert!(!old.contains_key(id) && active_after.contains(id), "{line}");
                let manager = s(&after_record, "ImmediateManagerEmployeeId");
                assert!(line.contains(manager) && active_after.contains(manager));
                assert_eq!(place_by_employee(&after)[id].len(), new[id].len() - 2);
            } else if line.contains("changes surname") {
                let old_name = s(&employee(&before, id), "LastName").to_string();
                assert_ne!(s(&after_record, "LastName"), old_name);
                assert!(line.ends_with(s(&after_record, "LastName")), "{line}");
            } else if line.contains("changes work email") {
                let address = s(&after_record, "EmailWork");
                assert!(line.ends_with(address), "{line}");
                let holders = items(&after, "Employees")
                    .iter()
                    .filter(|e| {
                        e["EmailWork"].as_str().map(normalised) == Some(normalised(address))
                    })
                    .count();
                assert_eq!(holders, 1);
            } else if line.contains("new manager") {
                let manager = s(&after_record, "ImmediateManagerEmployeeId");
                assert_ne!(employee(&before, id)["ImmediateManagerEmployeeId"], manager);
                assert!(line.contains(manager));
            } else if line.contains(" moves into ") {
                assert_ne!(
                    place_by_employee(&before)[id],
                    place_by_employee(&after)[id],
                    "{line}"
                );
            } else {
                panic!("unexpected sentence {line}");
            }
        }

        let accounts = |document: &Value| -> Vec<(String, String)> {
            items(document, "AccountDistributions")
                .iter()
                .flat_map(|d| items(d, "Accounts"))
                .map(|a| (s(a, "Code").to_string(), s(a, "Name").to_string()))
                .collect()
        };
        let renamed: Vec<((String, String), (String, String))> = accounts(&before)
            .into_iter()
            .zip(accounts(&after))
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(renamed.len(), 1, "{renamed:?}");
        let ((old_code, old_name), (new_code, new_name)) = &renamed[0];
        assert_eq!(old_code, new_code);
        let line = said.iter().find(|l| l.contains("renamed")).unwrap();
        assert!(
            line.contains(old_code.as_str())
                && line.contains(old_name.as_str())
                && line.contains(new_name.as_str()),
            "{line}"
        );

        check_tree(&after);
    }

    #[test]
    fn apply_changes_on_an_empty_document_changes_nothing() {
        let mut document = generate(&options(0, 1));
        let before = document.clone();
        assert!(apply_changes(&mut document, 1, TODAY, 3).is_empty());
        assert_eq!(document, before);
        let mut nothing = Value::Null;
        assert!(apply_changes(&mut nothing, 1, TODAY, 3).is_empty());
    }

    /// Run with `cargo test -p flexsync-emulators --release -- --ignored --nocapture timing`.
    #[test]
    #[ignore]
    fn timing_of_large_documents() {
        for employees in [10_000, 100_000] {
            let started = Instant::now();
            let document = generate(&options(employees, 1));
            let generated = started.elapsed();
            let text = serde_json::to_string(&document).unwrap();
            println!(
                "generate({employees}): {generated:?}, serialised {} MB in {:?} more",
                text.len() / 1_000_000,
                started.elapsed() - generated
            );
        }
    }
}
