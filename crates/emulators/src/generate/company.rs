//! One company of a generated document: its record, its dimensions with their accounts, and its
//! employees with their employment periods and default accounts.

use serde_json::Map;

use super::day::Day;
use super::document::{
    Account, AccountDistribution, AccountRef, Company, Document, Employment,
    EmploymentDefaultAccount, EmploymentPeriod, Owner,
};
use super::names::COMPANIES;
use super::org::{Org, Slot, build_org};
use super::people::{Kind, Person, employment_periods, new_person, work_emails};
use super::rng::Rng;
use super::share;

/// Shares of a company's employees, per mille.
const LEAVERS: usize = 40;
const FUTURE_STARTERS: usize = 20;
const REHIRES: usize = 10;
const EXTERNALS: usize = 30;

pub struct CompanyInput<'a> {
    pub index: usize,
    /// Index into [`COMPANIES`].
    pub catalog: usize,
    pub size: usize,
    pub instance_id: &'a str,
}

impl CompanyInput<'_> {
    /// The company's name and email domain; catalog names come round again numbered.
    fn name_and_domain(&self) -> (String, String) {
        let cycle = self.index / COMPANIES.len();
        let base = &COMPANIES[self.catalog];
        if cycle == 0 {
            return (base.name.to_string(), base.domain.to_string());
        }
        let (stem, tld) = base.domain.split_once('.').unwrap_or((base.domain, "se"));
        (
            format!("{} {}", base.name, cycle + 1),
            format!("{stem}{}.{tld}", cycle + 1),
        )
    }
}

/// Adds one company and everything that belongs to it to `document`.
pub fn generate_company(
    company: &CompanyInput,
    today: Day,
    rng: &mut Rng,
    ids: &mut Rng,
    document: &mut Document,
) {
    let (name, domain) = company.name_and_domain();
    let founded = Day::from_ymd(1970 + rng.between(0, 29), 1 + rng.between(0, 11), 1);
    let company_id = ids.guid();
    document.companies.push(Company {
        id: company_id.clone(),
        company_number: 1010 + 10 * company.index as u64,
        name,
        organization_number: organization_number(rng),
        extra: Map::new(),
    });

    let org = build_org(company.size, rng);
    let dimensions = Dimensions::new(&org, ids);
    document
        .account_distributions
        .extend(dimensions.distributions(&org, &company_id, founded));

    let employee_ids: Vec<String> = org.slots.iter().map(|_| ids.guid()).collect();
    let kinds = employment_kinds(&org, rng);
    let people: Vec<Person> = kinds.iter().map(|_| new_person(rng, today)).collect();
    let periods: Vec<Vec<(Day, Option<Day>)>> = people
        .iter()
        .zip(&kinds)
        .map(|(person, &kind)| employment_periods(kind, person.birth, founded, today, rng))
        .collect();
    let emails = work_emails(&people, &domain, rng);

    // Employment numbers follow the hiring order.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by_key(|&i| (periods[i].first().map(|p| p.0), i));
    for (rank, &i) in order.iter().enumerate() {
        let slot = &org.slots[i];
        let owner = Owner {
            instance: company.instance_id,
            company: &company_id,
            employee: &employee_ids[i],
        };
        document.employees.push(people[i].employee(
            owner,
            emails[i].clone(),
            slot.manager.map(|m| employee_ids[m].clone()),
            org.offices[slot.office].city.to_string(),
            Employment::new((rank + 1).to_string(), kinds[i] == Kind::External),
        ));
        for &(from, to) in &periods[i] {
            let period = EmploymentPeriod::new(ids.guid(), owner, from, to);
            document.employment_periods.push(period);
        }
        let start = periods[i].last().map_or(today, |p| p.0);
        for account in dimensions.accounts_of(slot) {
            let row = EmploymentDefaultAccount::open(ids.guid(), owner, account, start);
            document.employment_default_accounts.push(row);
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

/// What happens to each slot's employment: leavers, future starters, rehires and externals
/// are drawn among those with a manager and without reports; everyone else is current.
fn employment_kinds(org: &Org, rng: &mut Rng) -> Vec<Kind> {
    let size = org.slots.len();
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
    kinds
}

/// The ids of a company's dimensions "Kontor", "Avdelning" and "Team", and of the accounts of
/// its offices, departments and teams, with their codes.
struct Dimensions {
    kontor: String,
    avdelning: String,
    team: String,
    offices: Vec<(String, String)>,
    departments: Vec<(String, String)>,
    teams: Vec<(String, String)>,
}

impl Dimensions {
    fn new(org: &Org, ids: &mut Rng) -> Dimensions {
        let kontor = ids.guid();
        let avdelning = ids.guid();
        let team = ids.guid();
        let mut accounts = |codes: Vec<String>| -> Vec<(String, String)> {
            codes.into_iter().map(|code| (ids.guid(), code)).collect()
        };
        let offices = accounts(org.offices.iter().map(|o| o.code.to_string()).collect());
        let departments = accounts(org.departments.iter().map(|d| d.code.to_string()).collect());
        let teams = accounts(org.teams.iter().map(|t| t.code.to_string()).collect());
        Dimensions {
            kontor,
            avdelning,
            team,
            offices,
            departments,
            teams,
        }
    }

    /// The three dimensions with their accounts, active since the company was founded.
    fn distributions(&self, org: &Org, company_id: &str, founded: Day) -> [AccountDistribution; 3] {
        let dimension = |id: &str, name: &str, accounts: &[(String, String)], names: Vec<&str>| {
            AccountDistribution {
                id: id.to_string(),
                company_id: company_id.to_string(),
                name: name.to_string(),
                accounts: accounts
                    .iter()
                    .zip(names)
                    .map(|((id, code), name)| Account {
                        id: id.clone(),
                        code: code.clone(),
                        name: name.to_string(),
                        active_from_date: founded.iso(),
                        active_tom_date: None,
                        extra: Map::new(),
                    })
                    .collect(),
                extra: Map::new(),
            }
        };
        [
            dimension(
                &self.kontor,
                "Kontor",
                &self.offices,
                org.offices.iter().map(|o| o.city).collect(),
            ),
            dimension(
                &self.avdelning,
                "Avdelning",
                &self.departments,
                org.departments.iter().map(|d| d.department.name).collect(),
            ),
            dimension(
                &self.team,
                "Team",
                &self.teams,
                org.teams.iter().map(|t| t.name).collect(),
            ),
        ]
    }

    /// The accounts a slot carries: its office, and its department and team if it has them.
    fn accounts_of(&self, slot: &Slot) -> Vec<AccountRef<'_>> {
        fn account<'a>(dimension: &'a str, (id, code): &'a (String, String)) -> AccountRef<'a> {
            AccountRef {
                dimension,
                account: id,
                code,
            }
        }
        let mut accounts = vec![account(&self.kontor, &self.offices[slot.office])];
        if let Some(d) = slot.department {
            accounts.push(account(&self.avdelning, &self.departments[d]));
        }
        if let Some(t) = slot.team {
            accounts.push(account(&self.team, &self.teams[t]));
        }
        accounts
    }
}
