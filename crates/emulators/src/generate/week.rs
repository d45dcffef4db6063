//! A working week of HR changes on a generated document: hires, leavers, and one each of a
//! surname change, a work email change, a manager change, a move and a department rename.

use std::collections::{BTreeMap, BTreeSet};

use super::day::{Day, day_part};
use super::document::{
    AccountRef, Document, Employee, Employment, EmploymentDefaultAccount, EmploymentPeriod, Owner,
};
use super::names::{DEPARTMENTS, LAST};
use super::people::{new_person, unique_email};
use super::rng::Rng;

/// Random streams of their own, so that a week does not depend on how the data was drawn.
const STREAM_CHANGES: u64 = 0x7765_656b;
const STREAM_CHANGE_IDS: u64 = 0x7765_656b_6964_0000;

/// Applies the week to `document` and returns one sentence per change (see
/// [`super::apply_changes`]).
pub fn apply(document: &mut Document, seed: u64, today: Day, count: usize) -> Vec<String> {
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

/// One employee record as the week needs it.
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
    instance: String,
    city: String,
}

/// An employee's default account valid today.
#[derive(Clone)]
struct Place {
    /// Position in `EmploymentDefaultAccounts`.
    row: usize,
    dimension: String,
    account: String,
    code: String,
}

impl Place {
    /// A default-account row that gives `owner` this place from `from` on.
    fn row_for(&self, row_id: String, owner: Owner, from: Day) -> EmploymentDefaultAccount {
        let account = AccountRef {
            dimension: &self.dimension,
            account: &self.account,
            code: &self.code,
        };
        EmploymentDefaultAccount::open(row_id, owner, account, from)
    }
}

/// Whether a row valid from `from` up to and including `to` covers `today` (all `YYYY-MM-DD`).
fn covers(today: &str, from: &str, to: Option<&str>) -> bool {
    day_part(from) <= today && to.is_none_or(|t| day_part(t) >= today)
}

/// What the week reads from the document before changing it.
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
    fn read(document: &Document, today: Day) -> Week {
        let today = today.text();
        let mut week = Week {
            staff: Vec::new(),
            active: BTreeSet::new(),
            managers: BTreeSet::new(),
            open_period: BTreeMap::new(),
            places: BTreeMap::new(),
            numbers: BTreeMap::new(),
            emails: BTreeSet::new(),
            domains: BTreeMap::new(),
            company_numbers: BTreeMap::new(),
            dimensions: BTreeMap::new(),
            accounts: BTreeMap::new(),
        };
        for (i, period) in document.employment_periods.iter().enumerate() {
            if covers(&today, &period.from_date, period.to_date.as_deref()) {
                week.active.insert(period.employee_id.clone());
                week.open_period.insert(period.employee_id.clone(), i);
            }
        }
        for (i, row) in document.employment_default_accounts.iter().enumerate() {
            if covers(&today, &row.from_date, row.tom_date.as_deref()) {
                let place = Place {
                    row: i,
                    dimension: row.account_distribution_id.clone(),
                    account: row.account_id.clone(),
                    code: row.account_code.clone(),
                };
                week.places
                    .entry(row.employee_id.clone())
                    .or_default()
                    .push(place);
            }
        }
        for dimension in &document.account_distributions {
            let id = &dimension.id;
            week.dimensions.insert(id.clone(), dimension.name.clone());
            for account in &dimension.accounts {
                let key = (id.clone(), account.id.clone());
                let value = (account.code.clone(), account.name.clone());
                week.accounts.insert(key, value);
            }
        }
        for company in &document.companies {
            let number = company.company_number.to_string();
            week.company_numbers.insert(company.id.clone(), number);
        }
        for (index, employee) in document.employees.iter().enumerate() {
            week.add_staff(index, employee);
        }
        week
    }

    fn add_staff(&mut self, index: usize, employee: &Employee) {
        let company = employee.company_id.clone();
        let employment = &employee.employment;
        if let Ok(number) = employment.employment_number.trim().parse::<u64>() {
            let highest = self.numbers.entry(company.clone()).or_insert(0);
            *highest = (*highest).max(number);
        }
        let email = employee.email_work.clone();
        if let Some(address) = &email {
            let address = address.trim().to_lowercase();
            if let Some((_, domain)) = address.split_once('@') {
                self.domains
                    .entry(company.clone())
                    .or_insert_with(|| domain.to_string());
            }
            self.emails.insert(address);
        }
        let manager = employee.immediate_manager_employee_id.clone();
        if let Some(manager) = &manager {
            self.managers.insert(manager.clone());
        }
        self.staff.push(Staff {
            index,
            id: employee.id.clone(),
            company,
            first: employee.first_name.clone(),
            last: employee.last_name.clone(),
            email,
            manager,
            external: employment.employment_type == 1,
            instance: employee.instance_id.clone(),
            city: employee.city.clone(),
        });
    }

    /// "Anna Svensson (id)" for a member of staff, the id alone for anyone else, or "none".
    fn named(&self, id: Option<&str>) -> String {
        match id {
            None => "none".to_string(),
            Some(id) => match self.staff.iter().find(|s| s.id == id) {
                Some(s) => format!("{} {} ({id})", s.first, s.last),
                None => id.to_string(),
            },
        }
    }

    fn company_number<'a>(&'a self, company: &'a str) -> &'a str {
        self.company_numbers
            .get(company)
            .map_or(company, String::as_str)
    }

    fn leave(&self, document: &mut Document, i: usize, today: Day) -> Option<String> {
        let s = &self.staff[i];
        let &period = self.open_period.get(&s.id)?;
        let yesterday = today.plus(-1);
        if let Some(period) = document.employment_periods.get_mut(period) {
            period.to_date = Some(yesterday.iso());
        }
        Some(format!(
            "{} {} ({}) leaves: the employment period ends {}",
            s.first,
            s.last,
            s.id,
            yesterday.text()
        ))
    }

    /// Hires someone into a colleague's place: company, manager, city and default accounts.
    fn hire(
        &mut self,
        document: &mut Document,
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
        let employment = Employment::new(number.to_string(), false);
        let start = today.plus(-rng.between(0, 4));
        let owner = Owner {
            instance: &instance,
            company: &company,
            employee: &id,
        };
        let employee = person.employee(owner, Some(email), manager.clone(), city, employment);
        document.employees.push(employee);
        let period = EmploymentPeriod::new(ids.guid(), owner, start, None);
        document.employment_periods.push(period);
        for place in places {
            let row = place.row_for(ids.guid(), owner, start);
            document.employment_default_accounts.push(row);
        }
        format!(
            "{} {} ({id}) is hired in company {}, starting {}, manager {}",
            person.first,
            person.last,
            self.company_number(&company),
            start.text(),
            self.named(manager.as_deref())
        )
    }

    fn change_surname(&self, document: &mut Document, i: usize, rng: &mut Rng) -> String {
        let s = &self.staff[i];
        let mut last = rng.common(LAST);
        if last == s.last {
            last = LAST
                .iter()
                .copied()
                .find(|&l| l != s.last)
                .unwrap_or("Nyström");
        }
        if let Some(employee) = document.employees.get_mut(s.index) {
            employee.last_name = last.to_string();
            employee.name = format!("{} {last}", s.first);
        }
        format!(
            "{} {} ({}) changes surname to {last}",
            s.first, s.last, s.id
        )
    }

    fn change_email(&mut self, document: &mut Document, i: usize) -> String {
        let s = &self.staff[i];
        let old = s.email.clone().unwrap_or_default();
        let domain = old
            .trim()
            .to_lowercase()
            .split_once('@')
            .map_or_else(|| "example.se".to_string(), |(_, d)| d.to_string());
        let new = unique_email(&s.first, &s.last, &domain, &mut self.emails);
        if let Some(employee) = document.employees.get_mut(s.index) {
            employee.email_work = Some(new.clone());
        }
        format!(
            "{} {} ({}) changes work email from {} to {new}",
            s.first,
            s.last,
            s.id,
            old.trim()
        )
    }

    fn set_manager(&self, document: &mut Document, i: usize, manager: &str) {
        if let Some(employee) = document.employees.get_mut(self.staff[i].index) {
            employee.immediate_manager_employee_id = Some(manager.to_string());
        }
    }

    fn change_manager(&self, document: &mut Document, i: usize, rng: &mut Rng) -> Option<String> {
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
        self.set_manager(document, i, &new.id);
        Some(format!(
            "{} {} ({}) gets a new manager: {} {} ({}), was {}",
            s.first,
            s.last,
            s.id,
            new.first,
            new.last,
            new.id,
            self.named(s.manager.as_deref())
        ))
    }

    /// An employee's places valid today, by dimension id.
    fn places_of(&self, id: &str) -> BTreeMap<&str, &Place> {
        self.places
            .get(id)
            .into_iter()
            .flatten()
            .map(|p| (p.dimension.as_str(), p))
            .collect()
    }

    /// A colleague in the same company whose places differ from employee `i`'s, from the same
    /// office when there is one, with the colleague's places.
    fn colleague_to_join(
        &self,
        i: usize,
        leaving: &BTreeSet<usize>,
        rng: &mut Rng,
    ) -> Option<(usize, BTreeMap<&str, &Place>)> {
        let s = &self.staff[i];
        let mine = self.places_of(&s.id);
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
            let theirs = self.places_of(&self.staff[c].id);
            let differs = mine
                .keys()
                .chain(theirs.keys())
                .any(|d| account(&mine, d) != account(&theirs, d));
            (!theirs.is_empty() && differs).then_some((c, theirs))
        };
        candidates
            .iter()
            .filter_map(fitting)
            .find(|(_, theirs)| account(&mine, office) == account(theirs, office))
            .or_else(|| candidates.iter().filter_map(fitting).next())
    }

    /// Moves an employee to a colleague's team or department (same office where possible): the
    /// old default accounts end yesterday, the colleague's start today, and the colleague's
    /// manager becomes theirs.
    fn move_employee(
        &self,
        document: &mut Document,
        i: usize,
        leaving: &BTreeSet<usize>,
        today: Day,
        rng: &mut Rng,
        ids: &mut Rng,
    ) -> Option<String> {
        let (c, theirs) = self.colleague_to_join(i, leaving, rng)?;
        let s = &self.staff[i];
        let colleague = &self.staff[c];
        let mine = self.places_of(&s.id);
        let owner = Owner {
            instance: &s.instance,
            company: &s.company,
            employee: &s.id,
        };
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
        let mut moves = Vec::new();
        for dimension in dimensions {
            if account(&mine, dimension) == account(&theirs, dimension) {
                continue;
            }
            if let Some(old) = mine.get(dimension)
                && let Some(row) = document.employment_default_accounts.get_mut(old.row)
            {
                row.tom_date = Some(yesterday.iso());
            }
            match theirs.get(dimension) {
                Some(new) => {
                    moves.push(format!("into {}", self.describe(new)));
                    let row = new.row_for(ids.guid(), owner, today);
                    document.employment_default_accounts.push(row);
                }
                None => {
                    if let Some(old) = mine.get(dimension) {
                        moves.push(format!("out of {}", self.describe(old)));
                    }
                }
            }
        }
        let mut sentence = format!(
            "{} {} ({}) moves {}",
            s.first,
            s.last,
            s.id,
            moves.join(", ")
        );
        let new_manager = colleague
            .manager
            .as_ref()
            .filter(|&m| *m != s.id && Some(m) != s.manager.as_ref());
        if let Some(manager) = new_manager {
            self.set_manager(document, i, manager);
            sentence.push_str(&format!("; manager now {}", self.named(Some(manager))));
        }
        Some(sentence)
    }

    /// "Avdelning Ekonomi (104)".
    fn describe(&self, place: &Place) -> String {
        let (code, name) = self
            .accounts
            .get(&(place.dimension.clone(), place.account.clone()))
            .cloned()
            .unwrap_or_default();
        let dimension_name = self
            .dimensions
            .get(&place.dimension)
            .cloned()
            .unwrap_or_default();
        format!("{dimension_name} {name} ({code})")
    }

    /// Renames one department account that somebody active carries; its code stays.
    fn rename_department(&self, document: &mut Document, rng: &mut Rng) -> Option<String> {
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
        let dimension = document
            .account_distributions
            .iter_mut()
            .find(|d| d.id == *dimension_id)?;
        let account = dimension
            .accounts
            .iter_mut()
            .find(|a| a.id == *account_id)?;
        account.name.clone_from(&new);
        Some(format!(
            "Account {code} in Avdelning of company {} is renamed from {old} to {new} (code kept)",
            self.company_number(&dimension.company_id)
        ))
    }
}

/// The account a set of places has in `dimension`.
fn account<'a>(places: &BTreeMap<&str, &'a Place>, dimension: &str) -> Option<&'a str> {
    places.get(dimension).map(|p| p.account.as_str())
}
