//! What a configuration asks of the Flex data that the data does not have: dimensions and
//! fields named by group levels or mappings that no company or employee has. `check` lists
//! them, each with the configuration key to fix, before a sync could be misled by them.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::groups::normalise;
use crate::map::value::field;
use crate::mapping::{GroupLevel, GroupSettings, MappingSettings, Source};
use crate::snapshot::{Snapshot, SourceCompany};

/// One thing the configuration names that the source lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The configuration key to fix, e.g. `groups.levels[0]`.
    pub key: String,
    pub problem: String,
}

/// How many names a gap lists of what there is instead.
const SHOWN: usize = 25;

/// Every dimension or field the group levels and extra mappings name that the source lacks.
pub fn missing_sources(
    snapshot: &Snapshot,
    groups: &GroupSettings,
    mapping: &MappingSettings,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let fields = fields_with_values(snapshot);
    for (index, level) in groups.levels.iter().enumerate() {
        let key = format!("groups.levels[{index}]");
        match level {
            GroupLevel::Dimension(name) => {
                for company in &snapshot.companies {
                    if let Some(problem) = missing_dimension(snapshot, company, name) {
                        gaps.push(Gap {
                            key: key.clone(),
                            problem,
                        });
                    }
                }
            }
            GroupLevel::Field(name) => {
                if !fields.with_values.contains(name.as_str()) {
                    gaps.push(Gap {
                        key,
                        problem: missing_field(name, &fields),
                    });
                }
            }
        }
    }
    if let crate::mapping::Prefer::Companies(order) = &mapping.people.prefer {
        let companies = snapshot
            .companies
            .iter()
            .map(|company| (company.id.trim(), company))
            .collect();
        for wanted in order {
            let known = snapshot
                .companies
                .iter()
                .any(|c| crate::map::same_person::is_company(&companies, &c.id, wanted));
            if !known {
                let read: Vec<String> = snapshot
                    .companies
                    .iter()
                    .map(|c| match (c.number, &c.name) {
                        (Some(number), Some(name)) => format!("{number} {name}"),
                        (Some(number), None) => number.to_string(),
                        _ => c.id.clone(),
                    })
                    .collect();
                gaps.push(Gap {
                    key: "companies.prefer".to_string(),
                    problem: format!(
                        "'{wanted}' is not one of the companies read (flex.companies: {})",
                        listed(read.iter().map(String::as_str))
                    ),
                });
            }
        }
    }
    for (index, extra) in mapping.extra.iter().enumerate() {
        if !fields.with_values.contains(extra.source_field.as_str()) {
            gaps.push(Gap {
                key: format!("mapping.extra[{}].field", index + 1),
                problem: missing_field(&extra.source_field, &fields),
            });
        }
    }
    for (key, source) in mapping.sources() {
        gaps.extend(source_gaps(snapshot, key, source, &fields));
    }
    gaps
}

/// What the scoping rules find in the source: problems that would mislead a sync, and notes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScopeGaps {
    /// An include rule that matches no record, a company that is none of those read, or rules
    /// that leave every record out.
    pub problems: Vec<Gap>,
    /// An exclude rule that matches no record (it may have nothing to do yet), and listed values
    /// no record has.
    pub notes: Vec<String>,
}

/// [`ScopeGaps`] of the configured rules over the source on `today`.
pub fn scope_gaps(snapshot: &Snapshot, mapping: &MappingSettings, today: Date) -> ScopeGaps {
    let mut gaps = ScopeGaps::default();
    let scope = &mapping.scope;
    if scope.include.is_empty() && scope.exclude.is_empty() {
        return gaps;
    }
    let companies: Vec<String> = snapshot.companies.iter().map(company_label).collect();
    for rule in crate::map::scope::reach(snapshot, mapping, today) {
        let key = rule.key.clone();
        if rule.names_companies {
            for value in &rule.unmatched_values {
                gaps.problems.push(Gap {
                    key: key.clone(),
                    problem: format!(
                        "company '{value}' is none of the companies read (by name, number or \
                         id): {}",
                        listed(companies.iter().map(String::as_str))
                    ),
                });
            }
        } else if !rule.unmatched_values.is_empty() && rule.matched > 0 {
            gaps.notes.push(format!(
                "{key}: no Flex record has {}",
                quoted(&rule.unmatched_values)
            ));
        }
        if rule.matched == 0 && rule.include {
            gaps.problems.push(Gap {
                key,
                problem: "matches no Flex record, so no one it names is synced: check its \
                          values against the Flex data"
                    .to_string(),
            });
        } else if rule.matched == 0 && !rule.names_companies {
            gaps.notes.push(format!(
                "{key} matches no Flex record ({}): check its values against the Flex data, \
                 unless it has nothing to do yet",
                quoted(&rule.unmatched_values)
            ));
        }
    }
    let values = crate::map::value::Values::new(snapshot, mapping, today);
    let records: Vec<_> = snapshot
        .employees
        .iter()
        .filter(|e| !e.id.trim().is_empty())
        .collect();
    let left_out = records
        .iter()
        .filter(|e| crate::map::scope::out_of_scope(&values, e, scope).is_some())
        .count();
    if !records.is_empty() && left_out == records.len() {
        gaps.problems.push(Gap {
            key: "scope".to_string(),
            problem: format!(
                "the scoping rules leave all {left_out} Flex records out: no one would be synced"
            ),
        });
    }
    gaps
}

fn quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    quoted.join(", ")
}

fn company_label(company: &SourceCompany) -> String {
    match (company.number, &company.name) {
        (Some(number), Some(name)) => format!("{number} {name}"),
        (Some(number), None) => number.to_string(),
        (None, Some(name)) => name.clone(),
        (None, None) => company.id.clone(),
    }
}

/// What a configured source names that the data lacks.
fn source_gaps(snapshot: &Snapshot, key: &str, source: &Source, fields: &FieldsRead) -> Vec<Gap> {
    let gap = |problem| Gap {
        key: key.to_string(),
        problem,
    };
    match source {
        Source::Dimension { name, .. } => snapshot
            .companies
            .iter()
            .filter_map(|company| missing_dimension(snapshot, company, name))
            .map(gap)
            .collect(),
        Source::Field(name) => {
            let found = snapshot.employees.iter().any(|e| field(e, name).is_some());
            if found {
                vec![]
            } else {
                vec![gap(missing_field(name, fields))]
            }
        }
        Source::Period(name) => {
            let dated = ["fromdate", "todate"].contains(&name.to_ascii_lowercase().as_str());
            let found = dated
                || snapshot.periods.iter().any(|p| {
                    p.fields
                        .iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
                });
            if found {
                vec![]
            } else {
                let mut names: BTreeSet<&str> = BTreeSet::new();
                for period in &snapshot.periods {
                    names.extend(period.fields.keys().map(String::as_str));
                }
                vec![gap(format!(
                    "no employment period has a value in a field named '{name}'; period fields: \
                     FromDate, ToDate{}",
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", listed(names.into_iter()))
                    }
                ))]
            }
        }
        Source::Constant(_) | Source::Company => vec![],
    }
}

/// The employee fields a read holds values in, and whether it kept every field or only those
/// the configuration names.
struct FieldsRead<'a> {
    with_values: BTreeSet<&'a str>,
    named_only: bool,
}

/// Fields at least one employee has a value in.
fn fields_with_values(snapshot: &Snapshot) -> FieldsRead<'_> {
    let with_values = snapshot
        .employees
        .iter()
        .flat_map(|e| e.fields.iter())
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    FieldsRead {
        with_values,
        named_only: snapshot.named_fields_only,
    }
}

fn missing_field(name: &str, fields: &FieldsRead) -> String {
    let problem =
        format!("no employee has a value in a field named '{name}' (names are case-sensitive)");
    if fields.named_only {
        return format!(
            "{problem}; this read kept only the fields the configuration names, \
             `flexsync check` lists every field there is"
        );
    }
    format!(
        "{problem}; fields with values: {}",
        listed(fields.with_values.iter().copied())
    )
}

/// `None` when `company` has a dimension called `name` (case and spacing aside).
fn missing_dimension(snapshot: &Snapshot, company: &SourceCompany, name: &str) -> Option<String> {
    let own: Vec<&str> = snapshot
        .dimensions
        .iter()
        .filter(|d| d.company_id == company.id)
        .map(|d| d.name.as_str())
        .collect();
    if own.iter().any(|d| normalise(d) == normalise(name)) {
        return None;
    }
    let label = match (company.number, &company.name) {
        (Some(number), Some(title)) => format!("{number} {title}"),
        (Some(number), None) => number.to_string(),
        _ => company.id.clone(),
    };
    Some(format!(
        "company {label} has no dimension named '{name}'; its dimensions: {}",
        listed(own.into_iter())
    ))
}

/// "A, B, C", the first few, or "none".
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return "none".to_string();
    }
    let mut text = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{ExtraMapping, Transform};
    use crate::snapshot::{SourceDimension, SourceEmployee};

    fn snapshot() -> Snapshot {
        let company = SourceCompany {
            id: "c1".into(),
            number: Some(1010),
            name: Some("Ekdala AB".into()),
        };
        let dimension = |name: &str| SourceDimension {
            id: name.into(),
            company_id: "c1".into(),
            name: name.into(),
            accounts: Vec::new(),
        };
        Snapshot {
            companies: vec![company],
            employees: vec![SourceEmployee {
                id: "e1".into(),
                fields: [("City".to_string(), "Uppsala".to_string())]
                    .into_iter()
                    .collect(),
                ..SourceEmployee::default()
            }],
            dimensions: vec![dimension("Kontor"), dimension("Avdelning")],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_preferred_company_that_is_not_read_is_a_gap() {
        let mapping = MappingSettings {
            people: crate::mapping::SamePerson {
                prefer: crate::mapping::Prefer::Companies(vec!["1010".into(), "9999".into()]),
                ..crate::mapping::SamePerson::default()
            },
            ..MappingSettings::default()
        };
        let gaps = missing_sources(&snapshot(), &GroupSettings::default(), &mapping);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].key, "companies.prefer");
        assert!(
            gaps[0]
                .problem
                .starts_with("'9999' is not one of the companies read")
        );
    }

    #[test]
    fn levels_and_mappings_naming_nothing_are_gaps_with_their_keys() {
        let groups = GroupSettings {
            levels: vec![
                GroupLevel::Dimension("kontor".into()),
                GroupLevel::Dimension("Kontoret".into()),
                GroupLevel::Field("City".into()),
                GroupLevel::Field("Stad".into()),
            ],
            ..GroupSettings::default()
        };
        let mapping = MappingSettings {
            extra: vec![ExtraMapping {
                source_field: "Region".into(),
                target_attribute: "x".into(),
            }],
            ..MappingSettings::default()
        };
        let gaps = missing_sources(&snapshot(), &groups, &mapping);
        let keys: Vec<&str> = gaps.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "groups.levels[1]",
                "groups.levels[3]",
                "mapping.extra[1].field"
            ]
        );
        assert_eq!(
            gaps[0].problem,
            "company 1010 Ekdala AB has no dimension named 'Kontoret'; its dimensions: Kontor, \
             Avdelning"
        );
        assert!(gaps[1].problem.contains("'Stad'"), "{}", gaps[1].problem);
        assert!(gaps[1].problem.ends_with("fields with values: City"));
    }

    #[test]
    fn configured_values_and_scope_rules_naming_nothing_are_gaps_with_their_keys() {
        use crate::mapping::{AccountPart, Scope, ScopeRule, ScopeTest, ValueMapping};
        let value = |key: &str, source: Source, transforms: Vec<Transform>| ValueMapping {
            key: key.into(),
            source,
            transforms,
            attribute: None,
            column: Some("X".into()),
            builtin: None,
        };
        let rule = |key: &str, source: Source| ScopeRule {
            key: key.into(),
            source,
            test: ScopeTest::Equals(vec!["x".into()]),
        };
        let mapping = MappingSettings {
            values: vec![
                value("mapping.values[1]", Source::Field("city".into()), vec![]),
                value(
                    "mapping.values[2]",
                    Source::Field("Id".into()),
                    vec![Transform::Concat {
                        sources: vec![Source::Field("Region".into())],
                        separator: " ".into(),
                    }],
                ),
                value("mapping.values[3]", Source::Period("Title".into()), vec![]),
                value(
                    "mapping.values[4]",
                    Source::Period("FromDate".into()),
                    vec![],
                ),
            ],
            scope: Scope {
                include: vec![rule("scope.include[1]", Source::Company)],
                exclude: vec![rule(
                    "scope.exclude[1]",
                    Source::Dimension {
                        name: "Avdelningen".into(),
                        part: AccountPart::Code,
                    },
                )],
            },
            ..MappingSettings::default()
        };
        let gaps = missing_sources(&snapshot(), &GroupSettings::default(), &mapping);
        let keys: Vec<&str> = gaps.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(
            keys,
            ["mapping.values[2]", "mapping.values[3]", "scope.exclude[1]"]
        );
        assert!(gaps[0].problem.contains("'Region'"), "{}", gaps[0].problem);
        assert!(gaps[1].problem.contains("period fields: FromDate, ToDate"));
        assert!(gaps[2].problem.contains("no dimension named 'Avdelningen'"));
    }
}
