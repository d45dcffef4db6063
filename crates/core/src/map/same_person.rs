//! One user per person: records sharing a work email (and, when configured, an employment
//! number across companies) are one person; one record is kept and the others are skipped with
//! a finding that names the rule that decided.

use jiff::civil::Date;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{Finding, FindingKind, Severity};
use crate::mapping::{PersonKey, Prefer, SamePerson};
use crate::snapshot::SourceCompany;

use super::{Candidate, finding};

/// The companies by trimmed id, to rank records by `prefer` and to name them.
pub(super) type Companies<'a> = BTreeMap<&'a str, &'a SourceCompany>;

/// Keeps one record per person. Returns the kept records and, for each skipped record, the
/// record kept in its place (the same person in Winningtemp).
pub(super) fn one_per_person(
    candidates: Vec<Candidate>,
    settings: &SamePerson,
    companies: &Companies,
    findings: &mut Vec<Finding>,
) -> (Vec<Candidate>, BTreeMap<String, String>) {
    let mut kept_by = BTreeMap::new();
    let by_email = group(candidates, |c| Some(c.values.user_name.clone()));
    let mut kept = Vec::new();
    for (email, records) in by_email {
        let field = format!("EmailWork '{email}'");
        kept.extend(choose(
            records,
            settings,
            companies,
            &field,
            findings,
            &mut kept_by,
        ));
    }
    if !settings.match_by.contains(&PersonKey::EmploymentNumber) {
        return (kept, kept_by);
    }
    let (numbered, mut rest): (Vec<Candidate>, Vec<Candidate>) = kept
        .into_iter()
        .partition(|c| c.employment_number.is_some());
    for (number, records) in group(numbered, |c| c.employment_number.clone()) {
        let spans_companies = records
            .iter()
            .map(|c| &c.company)
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
        if spans_companies {
            let field = format!("EmploymentNumber '{number}'");
            rest.extend(choose(
                records,
                settings,
                companies,
                &field,
                findings,
                &mut kept_by,
            ));
        } else {
            rest.extend(records);
        }
    }
    (rest, kept_by)
}

fn group(
    candidates: Vec<Candidate>,
    key: impl Fn(&Candidate) -> Option<String>,
) -> BTreeMap<String, Vec<Candidate>> {
    let mut groups: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for candidate in candidates {
        if let Some(key) = key(&candidate) {
            groups.entry(key).or_default().push(candidate);
        }
    }
    groups
}

/// The one record of a group that is kept; the others get a finding.
fn choose(
    mut records: Vec<Candidate>,
    settings: &SamePerson,
    companies: &Companies,
    shared: &str,
    findings: &mut Vec<Finding>,
    kept_by: &mut BTreeMap<String, String>,
) -> Option<Candidate> {
    let one_company = records
        .iter()
        .map(|c| &c.company)
        .collect::<BTreeSet<_>>()
        .len()
        == 1;
    if one_company {
        // Duplicates inside one company: the active one, then the one employed earliest.
        records.sort_by_key(|c| {
            let first = c.first_start;
            (
                !c.values.active,
                first.is_none(),
                first,
                c.external_id.clone(),
            )
        });
    } else {
        records.sort_by_key(|c| preference(c, &settings.prefer, companies));
    }
    let mut records = records.into_iter();
    let winner = records.next()?;
    for loser in records {
        findings.push(loser_finding(
            &loser,
            &winner,
            one_company,
            settings,
            companies,
            shared,
        ));
        kept_by.insert(loser.external_id, winner.external_id.clone());
    }
    Some(winner)
}

/// Sorts first the record `prefer` wants: by company order when given, then the one whose
/// employment covers the day, then the latest start, then the lowest Id.
fn preference(
    c: &Candidate,
    prefer: &Prefer,
    companies: &Companies,
) -> (usize, bool, Reverse<Option<Date>>, String) {
    let rank = match prefer {
        Prefer::CurrentEmployment => 0,
        Prefer::Companies(order) => order
            .iter()
            .position(|wanted| is_company(companies, &c.company, wanted))
            .unwrap_or(order.len()),
    };
    (
        rank,
        !c.values.active,
        Reverse(c.last_start),
        c.external_id.clone(),
    )
}

fn is_company(companies: &Companies, id: &str, wanted: &str) -> bool {
    let wanted = wanted.trim();
    if id.eq_ignore_ascii_case(wanted) {
        return true;
    }
    companies.get(id).is_some_and(|company| {
        company.number.is_some_and(|n| n.to_string() == wanted)
            || company
                .name
                .as_deref()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case(wanted))
    })
}

fn company_label(companies: &Companies, id: &str) -> String {
    match companies.get(id) {
        Some(company) => match (company.number, company.name.as_deref()) {
            (Some(number), Some(name)) => format!("{number} {name}"),
            (None, Some(name)) => name.to_string(),
            (Some(number), None) => number.to_string(),
            (None, None) => id.to_string(),
        },
        None => id.to_string(),
    }
}

fn loser_finding(
    loser: &Candidate,
    winner: &Candidate,
    one_company: bool,
    settings: &SamePerson,
    companies: &Companies,
    shared: &str,
) -> Finding {
    if one_company {
        return finding(
            &loser.external_id,
            "EmailWork",
            FindingKind::DuplicateEmail,
            format!("{shared} is also on employee {}", winner.external_id),
            &format!("skipped; employee {} keeps the email", winner.external_id),
            Severity::Skipped,
        );
    }
    let why = match &settings.prefer {
        Prefer::Companies(order)
            if order
                .iter()
                .any(|w| is_company(companies, &winner.company, w)) =>
        {
            "its company comes first".to_string()
        }
        _ if winner.values.active && !loser.values.active => {
            "its employment covers the day".to_string()
        }
        _ => "it started latest".to_string(),
    };
    finding(
        &loser.external_id,
        "CompanyId",
        FindingKind::SamePerson,
        format!(
            "the same person as employee {} in company {} ({shared} on both)",
            winner.external_id,
            company_label(companies, &winner.company),
        ),
        &format!(
            "skipped; the record in company {} is synced ({}: {why})",
            company_label(companies, &winner.company),
            settings.prefer.describe(),
        ),
        Severity::Notice,
    )
}
