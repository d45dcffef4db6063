//! One user per person: records sharing a work email (and, when configured, an employment
//! number across companies) are one person; one record is kept and the others are skipped with
//! a finding that names the rule that decided.

use foldhash::{HashMap, HashMapExt, HashSet};
use jiff::civil::Date;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{Finding, FindingKind, Severity};
use crate::ids::ExternalId;
use crate::mapping::{PersonKey, Prefer, SamePerson};
use crate::snapshot::SourceCompany;

use super::{Candidate, finding};

/// The companies by trimmed id, to rank records by `prefer` and to name them.
pub(super) type Companies<'a> = BTreeMap<&'a str, &'a SourceCompany>;

/// The record kept in a skipped record's place (the same person in Winningtemp).
#[derive(Debug)]
pub(super) struct KeptBy {
    pub(super) id: ExternalId,
    /// The kept record is in another company than the skipped one.
    pub(super) other_company: bool,
}

/// Keeps one record per person. Returns the kept records and, by each skipped record's id, the
/// record kept in its place.
pub(super) fn one_per_person(
    candidates: Vec<Candidate>,
    settings: &SamePerson,
    companies: &Companies,
    findings: &mut Vec<Finding>,
) -> (Vec<Candidate>, BTreeMap<ExternalId, KeptBy>) {
    let mut kept_by = BTreeMap::new();
    let (mut kept, by_email) = shared(candidates, |c| Some(c.user.values.user_name.as_str()));
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
    let (mut rest, by_number) = shared(kept, |c| c.employment_number.as_deref());
    for (number, records) in by_number {
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

/// Splits the candidates into those alone with their key (or without one), in their order, and
/// the groups of two or more that share a key, by key. Most people have one record, so only the
/// few that share one are moved into groups.
fn shared(
    mut candidates: Vec<Candidate>,
    key: impl Fn(&Candidate) -> Option<&str>,
) -> (Vec<Candidate>, BTreeMap<String, Vec<Candidate>>) {
    let mut counts: HashMap<&str, u32> = HashMap::with_capacity(candidates.len());
    for candidate in &candidates {
        if let Some(key) = key(candidate) {
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    let keys: HashSet<String> = counts
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(key, _)| key.to_string())
        .collect();
    let mut groups: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    // Taken out in place: the candidates left are those alone, in their order, in the list
    // they came in (a second list of them all would double what is held).
    let sharing = candidates.extract_if(.., |c| key(c).is_some_and(|k| keys.contains(k)));
    for candidate in sharing {
        if let Some(key) = key(&candidate) {
            groups.entry(key.to_string()).or_default().push(candidate);
        }
    }
    (candidates, groups)
}

/// The one record of a group that is kept; the others get a finding.
fn choose(
    mut records: Vec<Candidate>,
    settings: &SamePerson,
    companies: &Companies,
    shared: &str,
    findings: &mut Vec<Finding>,
    kept_by: &mut BTreeMap<ExternalId, KeptBy>,
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
                !c.user.values.active,
                first.is_none(),
                first,
                c.user.external_id.clone(),
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
        let kept = KeptBy {
            id: winner.user.external_id.clone(),
            other_company: loser.company != winner.company,
        };
        kept_by.insert(loser.user.external_id, kept);
    }
    Some(winner)
}

/// Sorts first the record `prefer` wants: the one whose employment covers the day (a company
/// order never gives an active person's account to a record that left), then by company order
/// when given, then the latest start, then the lowest Id.
fn preference(
    c: &Candidate,
    prefer: &Prefer,
    companies: &Companies,
) -> (bool, usize, Reverse<Option<Date>>, ExternalId) {
    (
        !c.user.values.active,
        rank(c, prefer, companies),
        Reverse(c.last_start),
        c.user.external_id.clone(),
    )
}

fn rank(c: &Candidate, prefer: &Prefer, companies: &Companies) -> usize {
    match prefer {
        Prefer::CurrentEmployment => 0,
        Prefer::Companies(order) => order
            .iter()
            .position(|wanted| is_company(companies, &c.company, wanted))
            .unwrap_or(order.len()),
    }
}

/// Whether the company `id` is the one `wanted` names (by id, number or name).
pub(crate) fn is_company(companies: &Companies, id: &str, wanted: &str) -> bool {
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
            &loser.user.external_id,
            "EmailWork",
            FindingKind::DuplicateEmail,
            format!("{shared} is also on employee {}", winner.user.external_id),
            &format!(
                "skipped; employee {} keeps the email",
                winner.user.external_id
            ),
            Severity::Skipped,
        );
    }
    let prefer = &settings.prefer;
    let why = if winner.user.values.active && !loser.user.values.active {
        "its employment covers the day"
    } else if rank(winner, prefer, companies) < rank(loser, prefer, companies) {
        "its company comes first"
    } else if winner.last_start != loser.last_start {
        "it started latest"
    } else {
        "the lowest Id"
    };
    finding(
        &loser.user.external_id,
        "CompanyId",
        FindingKind::SamePerson,
        format!(
            "the same person as employee {} in company {} ({shared} on both)",
            winner.user.external_id,
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

#[cfg(test)]
mod tests {
    use crate::mapping::{MappingSettings, Prefer, SamePerson};
    use crate::snapshot::{Snapshot, SourceCompany, SourceEmployee, SourcePeriod};
    use jiff::civil::date;

    fn record(
        id: &str,
        company: &str,
        from: &str,
        to: Option<&str>,
    ) -> (SourceEmployee, SourcePeriod) {
        let employee = SourceEmployee {
            id: id.into(),
            company_id: company.into(),
            first_name: Some("Anna".into()),
            last_name: Some("Berg".into()),
            email_work: Some("anna@example.se".into()),
            ..SourceEmployee::default()
        };
        let period = SourcePeriod {
            employee_id: id.into(),
            from: Some(from.into()),
            to: to.map(Into::into),
            ..SourcePeriod::default()
        };
        (employee, period)
    }

    fn kept(records: Vec<(SourceEmployee, SourcePeriod)>, prefer: Prefer) -> (Vec<String>, String) {
        let company = |id: &str, number| SourceCompany {
            id: id.into(),
            number: Some(number),
            name: Some(format!("Bolag {number}")),
        };
        let (employees, periods) = records.into_iter().unzip();
        let snapshot = Snapshot {
            companies: vec![company("c1", 100), company("c2", 200)],
            employees,
            periods,
            ..Snapshot::default()
        };
        let settings = MappingSettings {
            people: SamePerson {
                prefer,
                ..SamePerson::default()
            },
            ..MappingSettings::default()
        };
        let desired = crate::map::map(&snapshot, &settings, date(2025, 6, 1));
        let users = desired.users.keys().map(|id| id.to_string()).collect();
        let finding = desired
            .findings
            .iter()
            .find(|f| f.kind == "same_person")
            .map(|f| f.action.clone())
            .unwrap_or_default();
        (users, finding)
    }

    #[test]
    fn the_current_employment_wins_then_the_company_order_then_the_latest_start() {
        let both = || {
            vec![
                record("a", "c1", "2020-01-01", None),
                record("b", "c2", "2024-01-01", None),
            ]
        };
        let (users, why) = kept(both(), Prefer::CurrentEmployment);
        assert_eq!(users, ["b"]);
        assert!(
            why.ends_with("(companies.prefer = \"current_employment\": it started latest)"),
            "{why}"
        );

        let order = Prefer::Companies(vec!["Bolag 100".into()]);
        let (users, why) = kept(both(), order.clone());
        assert_eq!(users, ["a"]);
        assert!(why.ends_with(": its company comes first)"), "{why}");

        // The preferred company's record has ended: the person keeps their active account.
        let left = vec![
            record("a", "c1", "2020-01-01", Some("2024-12-31")),
            record("b", "c2", "2025-01-01", None),
        ];
        let (users, why) = kept(left, order);
        assert_eq!(users, ["b"]);
        assert!(why.ends_with(": its employment covers the day)"), "{why}");
    }
}
