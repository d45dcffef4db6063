//! The people of the generator: who they are, when they are employed and their work email
//! addresses, including the missing and carelessly duplicated ones.

use std::collections::BTreeSet;

use serde_json::Map;

use super::day::Day;
use super::document::{Employee, Employment, Owner};
use super::names::{FEMALE, LAST, MALE};
use super::rng::Rng;
use super::share;

/// Shares of a company's employees without a work email, and with another's, per mille.
const MISSING_EMAIL: usize = 5;
const DUPLICATE_EMAIL: usize = 3;

/// What happens to one employee's employment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Current,
    Leaver,
    FutureStarter,
    Rehire,
    External,
}

pub struct Person {
    pub gender: Option<u8>,
    pub first: &'static str,
    pub last: &'static str,
    pub birth: Day,
}

impl Person {
    /// This person's employee record.
    pub fn employee(
        &self,
        owner: Owner,
        email: Option<String>,
        manager: Option<String>,
        city: String,
        employment: Employment,
    ) -> Employee {
        Employee {
            id: owner.employee.to_string(),
            instance_id: owner.instance.to_string(),
            company_id: owner.company.to_string(),
            first_name: self.first.to_string(),
            last_name: self.last.to_string(),
            name: format!("{} {}", self.first, self.last),
            date_of_birth: self.birth.iso(),
            gender: self.gender,
            email_work: email,
            email_private: None,
            immediate_manager_employee_id: manager,
            city,
            country: "SE".to_string(),
            is_in_audit_process: false,
            employment,
            extra: Map::new(),
        }
    }
}

pub fn new_person(rng: &mut Rng, today: Day) -> Person {
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
pub fn employment_periods(
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

/// One work email per person at `domain`; a few (never the first person's) are missing or copy
/// another person's address.
pub fn work_emails(people: &[Person], domain: &str, rng: &mut Rng) -> Vec<Option<String>> {
    let size = people.len();
    let mut taken = BTreeSet::new();
    let mut emails: Vec<Option<String>> = people
        .iter()
        .map(|p| Some(unique_email(p.first, p.last, domain, &mut taken)))
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
    emails
}

/// `first.last@domain`, ASCII-folded, numbered (`first.last2@`) when the address is taken.
pub fn unique_email(first: &str, last: &str, domain: &str, taken: &mut BTreeSet<String>) -> String {
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
