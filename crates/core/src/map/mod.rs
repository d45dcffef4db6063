//! The map step: snapshot + settings + day -> desired state and findings. Pure: no clock, no I/O.
//!
//! Every text value is taken trimmed and in Unicode NFC (names also with inner spaces collapsed);
//! work emails compare in NFC and lower case. Ids are compared exactly, trimmed.
//!
//! Order of judgement: each record on its own ([`people`], [`dates`]), then duplicate ids and
//! emails across records, then manager links ([`managers`]) among the users that remain.

pub mod dates;
pub mod effective;
pub mod managers;
pub mod people;
pub(crate) mod same_person;
pub mod scope;
pub mod segments;
pub mod value;

#[cfg(test)]
pub(crate) mod tests;

use foldhash::HashMap;
use jiff::civil::Date;
use std::collections::BTreeMap;

use crate::desired::{Desired, DesiredUser, ScopedOut, Skipped, UserValues};
use crate::finding::{Finding, FindingKind, Severity};
use crate::ids::ExternalId;
use crate::mapping::{BuiltIn, MappingSettings};
use crate::snapshot::{Snapshot, SourceEmployee, SourcePeriod};

use dates::{Span, employment_on, merge_spans, overlaps, parse_date};
use managers::ManagerProblem;
use people::{BirthProblem, EmailProblem, clean, clean_borrowed, words};

const MANAGER_FIELD: &str = "ImmediateManagerEmployeeId";

/// Turns one full read of Flex into the users Winningtemp should have on `today`.
pub fn map(snapshot: &Snapshot, settings: &MappingSettings, today: Date) -> Desired {
    let mut findings = Vec::new();
    let values = value::Values::new(snapshot, settings, today);

    let records = unique_records(&snapshot.employees, &mut findings);
    // Every record's id, in order: a manager may be a record that is not a user.
    let record_ids: Vec<&str> = records.iter().map(|(_, e)| e.id.trim()).collect();
    let mut candidates = Vec::with_capacity(records.len());
    let mut out_of_scope = BTreeMap::new();
    for (id, employee) in records {
        if let Some(rule) = scope::out_of_scope(&values, employee, &settings.scope) {
            let name = [&employee.first_name, &employee.last_name]
                .iter()
                .filter_map(|part| part.as_deref().map(str::trim))
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let email = employee.email_work.as_deref().map(str::trim);
            out_of_scope.insert(
                ExternalId::from(id.as_str()),
                ScopedOut {
                    rule,
                    name,
                    email: email.filter(|e| !e.is_empty()).map(str::to_string),
                },
            );
            continue;
        }
        let raw_user_name = values.builtin(employee, BuiltIn::UserName);
        match people::user_name(raw_user_name.as_deref()) {
            Ok(user_name) => {
                let own_periods = values.periods_of(id.as_str());
                let record = candidate(id, user_name, employee, own_periods, &values, settings);
                candidates.push(record);
            }
            Err(problem) => findings.push(email_finding(&id, problem)),
        }
    }
    let companies: same_person::Companies = snapshot
        .companies
        .iter()
        .map(|company| (company.id.trim(), company))
        .collect();
    let (candidates, kept_by) =
        same_person::one_per_person(candidates, &settings.people, &companies, &mut findings);
    let same_person = kept_by
        .iter()
        .filter(|(_, kept)| kept.other_company)
        .map(|(skipped, kept)| (skipped.clone(), kept.id.clone()))
        .collect();

    // In id order: the manager links below are places in this list.
    let mut candidates = candidates;
    candidates.sort_by(|a, b| a.user.external_id.cmp(&b.user.external_id));
    let places: HashMap<&str, usize> = candidates
        .iter()
        .enumerate()
        .map(|(place, c)| (c.user.external_id.as_str(), place))
        .collect();
    let mut managers: managers::Managers = vec![None; candidates.len()];
    for (place, candidate) in candidates.iter().enumerate() {
        let id = candidate.user.external_id.as_str();
        let named = candidate.manager_id.as_deref();
        let merged = named.and_then(|named| Some((named, &kept_by.get(named)?.id)));
        let manager = merged.map_or(named, |(_, kept)| Some(kept.as_str()));
        match managers::resolve(id, manager, &places, &record_ids) {
            Ok(None) => {}
            Ok(Some(manager)) => {
                if let Some((named, kept)) = merged {
                    findings.push(finding(
                        id,
                        MANAGER_FIELD,
                        FindingKind::ManagerMerged,
                        format!(
                            "manager {named} was skipped: employee {kept} has the same EmailWork"
                        ),
                        &format!("linked to {kept} instead, who has the same work email"),
                        Severity::Notice,
                    ));
                }
                managers[place] = Some(manager);
            }
            Err(problem) => findings.push(manager_finding(id, problem)),
        }
    }
    for cycle in managers::break_cycles(&mut managers) {
        let ids: Vec<&str> = cycle
            .iter()
            .map(|at| candidates[*at].user.external_id.as_str())
            .collect();
        findings.push(cycle_finding(&ids));
    }
    let depths = managers::depths(&managers);

    // Records skipped for a finding still tell whether the person works here today.
    let skipped = record_ids
        .iter()
        .filter(|id| !places.contains_key(**id) && !out_of_scope.contains_key(**id))
        .map(|id| {
            let own = values.periods_of(id);
            let spans = merge_spans(spans(id, own, &mut Vec::new()));
            let employed = employment_on(&spans, today, settings.starter_lead_days).active;
            let state = if employed {
                Skipped::Employed
            } else {
                Skipped::NotEmployed
            };
            (ExternalId::from(*id), state)
        })
        .collect();
    let ids: Vec<ExternalId> = candidates
        .iter()
        .map(|c| c.user.external_id.clone())
        .collect();
    let mut users = Vec::with_capacity(candidates.len());
    let mut segment_gaps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (place, candidate) in candidates.into_iter().enumerate() {
        findings.extend(candidate.findings);
        for category in candidate.segment_gaps {
            let id = candidate.user.external_id.to_string();
            segment_gaps.entry(category).or_default().push(id);
        }
        let mut user = candidate.user;
        user.manager_external_id = managers[place].map(|manager| ids[manager].clone());
        user.manager_depth = depths[place];
        users.push((user.external_id.clone(), user));
    }
    // Built from the whole list: its nodes are full, where users added one by one would leave
    // them half empty.
    let users = BTreeMap::from_iter(users);

    for ids in segment_gaps.values_mut() {
        ids.sort_unstable();
    }
    findings.extend(segments::empty_findings(&segment_gaps, &settings.segments));
    findings.sort();
    Desired {
        segments: segments::catalogue(&users, &settings.segments),
        users,
        findings,
        groups: std::collections::BTreeMap::new(),
        source_records: snapshot.employees.len(),
        skipped,
        out_of_scope,
        same_person,
    }
}

fn finding(
    record: &str,
    field: &str,
    kind: FindingKind,
    problem: String,
    action: &str,
    severity: Severity,
) -> Finding {
    Finding {
        record: record.to_string(),
        field: field.to_string(),
        kind,
        problem,
        action: action.to_string(),
        severity,
        name: None,
        email: None,
    }
}

/// The records to judge, by trimmed `Id`, in id order: a record without an `Id` is skipped, and
/// of records sharing an `Id` the first is kept.
fn unique_records<'a>(
    employees: &'a [SourceEmployee],
    findings: &mut Vec<Finding>,
) -> Vec<(ExternalId, &'a SourceEmployee)> {
    let mut listed: Vec<(&str, usize)> = Vec::with_capacity(employees.len());
    for (index, employee) in employees.iter().enumerate() {
        let id = employee.id.trim();
        if id.is_empty() {
            let email = clean(employee.email_work.as_deref()).unwrap_or_else(|| "none".into());
            findings.push(finding(
                &format!("employees[{index}]"),
                "Id",
                FindingKind::MissingId,
                format!("employee record {index} has no Id (EmailWork: {email})"),
                "skipped",
                Severity::Skipped,
            ));
        } else {
            listed.push((id, index));
        }
    }
    // Stable: of the records sharing an id, the first listed comes first. The Flex client lists
    // employees in id order already, which costs this sort one pass.
    listed.sort_by_key(|(id, _)| *id);
    let mut records = Vec::with_capacity(listed.len());
    let mut kept: Option<(&str, usize)> = None;
    for (id, index) in listed {
        match kept {
            Some((kept_id, first)) if kept_id == id => findings.push(finding(
                id,
                "Id",
                FindingKind::DuplicateId,
                format!("employee records {first} and {index} share this Id"),
                &format!("kept record {first}, skipped record {index}"),
                Severity::Skipped,
            )),
            _ => {
                kept = Some((id, index));
                records.push((ExternalId::from(id), &employees[index]));
            }
        }
    }
    records
}

/// A record that can become a user, before duplicate emails and managers are settled.
#[derive(Debug)]
struct Candidate {
    /// The user it becomes, boxed from the start: the list of candidates is then small, and
    /// the users are moved, not copied, into the desired state.
    user: Box<DesiredUser>,
    manager_id: Option<String>,
    /// The earliest start of any usable employment period.
    first_start: Option<Date>,
    /// The latest start of any usable employment period.
    last_start: Option<Date>,
    /// Flex `CompanyId`, trimmed.
    company: String,
    /// The segment categories the record has no value in.
    segment_gaps: Vec<String>,
    /// `Employment.EmploymentNumber`, trimmed, when it has one.
    employment_number: Option<String>,
    findings: Vec<Finding>,
}

/// Why a record has no usable work email; the record is skipped.
fn email_finding(id: &str, problem: EmailProblem) -> Finding {
    let (kind, problem) = match problem {
        EmailProblem::Missing => (
            FindingKind::MissingEmail,
            "EmailWork is missing".to_string(),
        ),
        EmailProblem::NotAnEmail(text) => (
            FindingKind::InvalidEmail,
            format!(
                "EmailWork '{text}' is not an email address (one '@', text on both sides, no spaces)"
            ),
        ),
    };
    finding(id, "EmailWork", kind, problem, "skipped", Severity::Skipped)
}

/// Judges the rest of one record, once its work email has given a user name.
fn candidate(
    id: ExternalId,
    user_name: String,
    employee: &SourceEmployee,
    periods: &[&SourcePeriod],
    values: &value::Values,
    settings: &MappingSettings,
) -> Candidate {
    let today = values.today();
    let raw = |builtin| values.builtin(employee, builtin);
    let mut findings = Vec::new();
    let given_name = name(
        &id,
        "FirstName",
        raw(BuiltIn::GivenName).as_deref(),
        &mut findings,
    );
    let family_name = name(
        &id,
        "LastName",
        raw(BuiltIn::FamilyName).as_deref(),
        &mut findings,
    );
    let email = match raw(BuiltIn::Email) {
        Some(text) if settings.overrides(BuiltIn::Email) => match people::user_name(Some(&text)) {
            Ok(email) => Some(email),
            Err(_) => {
                findings.push(finding(
                    &id,
                    "email",
                    FindingKind::InvalidEmail,
                    format!("the mapped email '{text}' is not an email address"),
                    "taken without email",
                    Severity::Degraded,
                ));
                None
            }
        },
        _ => Some(user_name.clone()),
    };

    let gender = match people::gender(raw(BuiltIn::Gender).as_deref()) {
        Ok(gender) => Some(gender),
        Err(text) => {
            findings.push(finding(
                &id,
                "Gender",
                FindingKind::UnknownGender,
                format!("Gender '{text}' is not a known value (1, 2, 0, Man, Kvinna, Male, Female, Woman)"),
                "taken without gender",
                Severity::Degraded,
            ));
            None
        }
    };

    let birth_date = match people::birth_date(raw(BuiltIn::BirthDate).as_deref(), today) {
        Ok(date) => date,
        Err(problem) => {
            let (kind, problem) = match problem {
                BirthProblem::Unparseable => (
                    FindingKind::InvalidDate,
                    "DateOfBirth is not a date (YYYY-MM-DD)",
                ),
                BirthProblem::InTheFuture => {
                    (FindingKind::BirthDateInFuture, "DateOfBirth is after today")
                }
                BirthProblem::Before1900 => (
                    FindingKind::BirthDateBefore1900,
                    "DateOfBirth is before 1900",
                ),
            };
            findings.push(finding(
                &id,
                "DateOfBirth",
                kind,
                problem.to_string(),
                "taken without birthday",
                Severity::Degraded,
            ));
            None
        }
    };

    let raw_type = raw(BuiltIn::EmploymentType);
    let employment_type = people::employment_type(raw_type.as_deref(), values.excluded_types());
    if employment_type.unknown {
        let text = clean(raw_type.as_deref()).unwrap_or_default();
        findings.push(finding(
            &id,
            "EmploymentType",
            FindingKind::UnknownEmploymentType,
            format!(
                "EmploymentType '{text}' is not a known type (0/Anställd/Employee, \
                 1/Extern personal/External personnel)"
            ),
            "not excluded from surveys",
            Severity::Notice,
        ));
    }

    let spans = spans(&id, periods, &mut findings);
    if let Some(finding) = overlap_finding(&id, &spans) {
        findings.push(finding);
    }
    let spans = merge_spans(spans);
    let employment = employment_on(&spans, today, settings.starter_lead_days);
    if employment.span.is_none() {
        findings.push(finding(
            &id,
            "EmploymentPeriods",
            FindingKind::NoEmploymentPeriod,
            "the employee has no usable employment period".to_string(),
            "taken as inactive, without employment dates",
            Severity::Degraded,
        ));
    }

    let (extra, columns) = configured(employee, values, settings);
    let (user_segments, segment_gaps) =
        segments::user_segments(values, employee, &settings.segments);
    let values = UserValues {
        email,
        user_name,
        given_name,
        family_name,
        gender,
        birth_date,
        exclude_from_surveys: Some(employment_type.exclude_from_surveys),
        employment_start: employment.span.map(|span| span.from),
        employment_end: employment.span.and_then(|span| span.to),
        active: employment.active,
        extra,
        columns,
        segments: user_segments,
    };
    Candidate {
        user: Box::new(DesiredUser {
            external_id: id,
            values,
            manager_external_id: None,
            manager_depth: 0,
            group: None,
        }),
        segment_gaps,
        manager_id: raw(BuiltIn::Manager).map(|id| id.into_owned()),
        first_start: spans.first().map(|span| span.from),
        last_start: spans.iter().map(|span| span.from).max(),
        company: employee.company_id.trim().to_string(),
        employment_number: clean(employee.employment_number.as_deref()),
        findings,
    }
}

/// The configured values of a record, as SCIM attributes and as users-file columns: the old
/// one-to-one extras go to both (their column named after the attribute, as they always were);
/// a `[[mapping.values]]` entry goes to the targets it names and no other.
fn configured(
    employee: &SourceEmployee,
    values: &value::Values,
    settings: &MappingSettings,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut extra = people::extra(&employee.fields, &settings.extra);
    let mut columns = extra.clone();
    for mapping in &settings.values {
        if mapping.attribute.is_none() && mapping.column.is_none() {
            continue;
        }
        let Some(text) = values.value(employee, mapping) else {
            continue;
        };
        if let Some(attribute) = &mapping.attribute {
            extra.insert(attribute.trim().to_string(), text.clone());
        }
        if let Some(column) = &mapping.column {
            columns.insert(column.trim().to_string(), text);
        }
    }
    (extra, columns)
}

/// A name trimmed, with inner spaces collapsed, in NFC; blank or missing is `""` with a finding.
fn name(id: &str, field: &str, value: Option<&str>, findings: &mut Vec<Finding>) -> String {
    match words(value) {
        Some(text) => text,
        None => {
            findings.push(finding(
                id,
                field,
                FindingKind::MissingName,
                format!("{field} is missing"),
                "taken with an empty name",
                Severity::Degraded,
            ));
            String::new()
        }
    }
}

/// The usable spans of one employee's periods; each period that cannot be used gets a finding.
fn spans(id: &str, periods: &[&SourcePeriod], findings: &mut Vec<Finding>) -> Vec<Span> {
    let mut spans = Vec::new();
    for period in periods {
        // Named only when something is wrong with it.
        let label = || match clean(period.id.as_deref()) {
            Some(period_id) => format!("employment period {period_id}"),
            None => "an employment period without Id".to_string(),
        };
        let mut ignore = |field: &str, kind: FindingKind, problem: String| {
            findings.push(finding(
                id,
                field,
                kind,
                problem,
                "period ignored",
                Severity::Degraded,
            ));
        };
        let from = match clean_borrowed(period.from.as_deref()) {
            None => {
                ignore(
                    "FromDate",
                    FindingKind::MissingDate,
                    format!("{} has no FromDate", label()),
                );
                continue;
            }
            Some(text) => match parse_date(&text) {
                Some(date) => date,
                None => {
                    ignore(
                        "FromDate",
                        FindingKind::InvalidDate,
                        format!("{} has FromDate '{text}', not a date", label()),
                    );
                    continue;
                }
            },
        };
        let to = match clean_borrowed(period.to.as_deref()) {
            None => None,
            Some(text) => match parse_date(&text) {
                Some(date) => Some(date),
                None => {
                    ignore(
                        "ToDate",
                        FindingKind::InvalidDate,
                        format!("{} has ToDate '{text}', not a date", label()),
                    );
                    continue;
                }
            },
        };
        if let Some(to) = to.filter(|to| *to < from) {
            ignore(
                "ToDate",
                FindingKind::PeriodEndBeforeStart,
                format!("{} ends ({to}) before it starts ({from})", label()),
            );
            continue;
        }
        spans.push(Span { from, to });
    }
    spans
}

/// Names the employment periods that overlap (they are merged, which may hide a data error);
/// periods that follow each other without a gap are normal and not reported.
fn overlap_finding(id: &str, spans: &[Span]) -> Option<Finding> {
    let pairs = overlaps(spans);
    if pairs.is_empty() {
        return None;
    }
    let shown = |span: &Span| match span.to {
        Some(to) => format!("{} to {to}", span.from),
        None => format!("{} onwards", span.from),
    };
    let listed: Vec<String> = pairs
        .iter()
        .map(|(a, b)| format!("{} overlaps {}", shown(a), shown(b)))
        .collect();
    Some(finding(
        id,
        "EmploymentPeriods",
        FindingKind::OverlappingPeriods,
        format!("employment periods overlap: {}", listed.join("; ")),
        "merged into one employment",
        Severity::Notice,
    ))
}

fn manager_finding(id: &str, problem: ManagerProblem) -> Finding {
    let (kind, problem) = match problem {
        ManagerProblem::Itself => (
            FindingKind::SelfManager,
            "the employee is named as their own manager".to_string(),
        ),
        ManagerProblem::OutOfScope(manager) => (
            FindingKind::ManagerOutOfScope,
            format!("manager {manager} is in the source but is not a user of this sync"),
        ),
        ManagerProblem::Unknown(manager) => (
            FindingKind::UnknownManager,
            format!("manager {manager} is not in the source"),
        ),
    };
    finding(
        id,
        MANAGER_FIELD,
        kind,
        problem,
        "synced without a manager",
        Severity::Degraded,
    )
}

fn cycle_finding(cycle: &[&str]) -> Finding {
    let lowest = cycle.first().copied().unwrap_or_default();
    let mut path = cycle.join(" -> ");
    path.push_str(" -> ");
    path.push_str(lowest);
    finding(
        lowest,
        MANAGER_FIELD,
        FindingKind::ManagerCycle,
        format!("managers form a cycle: {path}"),
        "synced without a manager (the cycle is broken at its lowest Id)",
        Severity::Degraded,
    )
}
