//! The scoping rules: which employee records are in scope at all, and which rule put one out.

use jiff::civil::Date;

use crate::mapping::{MappingSettings, Scope, ScopeRule, ScopeTest, Source};
use crate::snapshot::{Snapshot, SourceEmployee};

use super::people::{employment_kind, nfc};
use super::value::Values;

/// The key of the rule that puts the employee out of scope (`scope.exclude[1]`, or
/// `scope.include` when include rules are given and none matches), or None when in scope.
pub fn out_of_scope(values: &Values, employee: &SourceEmployee, scope: &Scope) -> Option<String> {
    if !scope.include.is_empty() && !scope.include.iter().any(|r| matches(values, employee, r)) {
        return Some("scope.include".to_string());
    }
    scope
        .exclude
        .iter()
        .find(|rule| matches(values, employee, rule))
        .map(|rule| rule.key.clone())
}

/// How far one scoping rule reaches over the source: how many records it matches on its own
/// (whatever the other rules do), and which of its listed values no record has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReach {
    /// `scope.include[1]`, `scope.exclude[2]`.
    pub key: String,
    pub include: bool,
    pub matched: usize,
    pub unmatched_values: Vec<String>,
    /// The rule names companies, which are known for certain: a value naming none is a mistake.
    pub names_companies: bool,
}

/// [`RuleReach`] of every rule, include rules first.
pub fn reach(snapshot: &Snapshot, settings: &MappingSettings, today: Date) -> Vec<RuleReach> {
    let values = Values::new(snapshot, settings, today);
    let employees: Vec<&SourceEmployee> = snapshot
        .employees
        .iter()
        .filter(|e| !e.id.trim().is_empty())
        .collect();
    let include = settings.scope.include.iter().map(|rule| (true, rule));
    let exclude = settings.scope.exclude.iter().map(|rule| (false, rule));
    include
        .chain(exclude)
        .map(|(include, rule)| {
            let matched = employees
                .iter()
                .filter(|e| matches(&values, e, rule))
                .count();
            let unmatched_values = match &rule.test {
                ScopeTest::Equals(wanted) => wanted
                    .iter()
                    .filter(|value| {
                        let one = ScopeRule {
                            test: ScopeTest::Equals(vec![(*value).clone()]),
                            ..rule.clone()
                        };
                        !employees.iter().any(|e| matches(&values, e, &one))
                    })
                    .cloned()
                    .collect(),
                ScopeTest::Matches(_) => Vec::new(),
            };
            RuleReach {
                key: rule.key.clone(),
                include,
                matched,
                unmatched_values,
                names_companies: rule.source == Source::Company,
            }
        })
        .collect()
}

/// Whether one rule matches the employee.
pub fn matches(values: &Values, employee: &SourceEmployee, rule: &ScopeRule) -> bool {
    let candidates = candidates(values, employee, &rule.source);
    match &rule.test {
        ScopeTest::Equals(wanted) => {
            let fold = |text: &str| fold(&rule.source, text);
            candidates
                .iter()
                .any(|value| wanted.iter().any(|w| fold(w) == fold(value)))
        }
        ScopeTest::Matches(pattern) => values
            .pattern(pattern)
            .is_some_and(|regex| candidates.iter().any(|value| regex.is_match(value))),
    }
}

/// The texts a rule compares: the source's value; a company also by its number and id.
fn candidates(values: &Values, employee: &SourceEmployee, source: &Source) -> Vec<String> {
    let mut texts: Vec<String> = values.source(employee, source).into_iter().collect();
    if *source == Source::Company {
        texts.push(employee.company_id.trim().to_string());
        if let Some(number) = values.company(employee).and_then(|c| c.number) {
            texts.push(number.to_string());
        }
    }
    texts
}

/// Values compare trimmed, in NFC, ignoring case; employment types by their one spelling.
fn fold(source: &Source, text: &str) -> String {
    match source {
        Source::Field(name) if name.to_ascii_lowercase().ends_with("employmenttype") => {
            employment_kind(text)
        }
        _ => nfc(text.trim()).to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{MappingSettings, Scope};
    use crate::snapshot::{Snapshot, SourceCompany};
    use jiff::civil::date;

    fn rule(key: &str, source: Source, test: ScopeTest) -> ScopeRule {
        ScopeRule {
            key: key.into(),
            source,
            test,
        }
    }

    #[test]
    fn rules_match_companies_by_name_number_or_id_and_types_by_their_spelling() {
        let snapshot = Snapshot {
            companies: vec![SourceCompany {
                id: "c-guid".into(),
                number: Some(1010),
                name: Some("Ekdala AB".into()),
            }],
            employees: vec![SourceEmployee {
                id: "e1".into(),
                company_id: "c-guid".into(),
                email_work: Some("anna@ekdala.se".into()),
                employment_type: Some("Extern personal".into()),
                ..SourceEmployee::default()
            }],
            ..Snapshot::default()
        };
        let settings = MappingSettings::default();
        let values = Values::new(&snapshot, &settings, date(2025, 1, 1));
        let employee = &snapshot.employees[0];
        let company = |wanted: &str| {
            let test = ScopeTest::Equals(vec![wanted.into()]);
            matches(&values, employee, &rule("r", Source::Company, test))
        };
        assert!(company(" ekdala ab "));
        assert!(company("1010"));
        assert!(company("c-guid"));
        assert!(!company("2020"));
        let kind = Source::Field("Employment.EmploymentType".into());
        let external = ScopeTest::Equals(vec!["1".into()]);
        assert!(matches(&values, employee, &rule("r", kind, external)));

        let scope = |include: Vec<ScopeRule>, exclude: Vec<ScopeRule>| {
            let settings = MappingSettings {
                scope: Scope { include, exclude },
                ..MappingSettings::default()
            };
            let values = Values::new(&snapshot, &settings, date(2025, 1, 1));
            out_of_scope(&values, employee, &settings.scope)
        };
        let email = |pattern: &str| {
            rule(
                "scope.include[1]",
                Source::Field("EmailWork".into()),
                ScopeTest::Matches(pattern.into()),
            )
        };
        assert_eq!(scope(vec![email("@ekdala\\.se$")], vec![]), None);
        assert_eq!(
            scope(vec![email("@other\\.se$")], vec![]),
            Some("scope.include".into())
        );
        let company_rule = rule(
            "scope.exclude[2]",
            Source::Company,
            ScopeTest::Equals(vec!["1010".into()]),
        );
        assert_eq!(
            scope(vec![email("ekdala")], vec![company_rule]),
            Some("scope.exclude[2]".into())
        );
    }

    #[test]
    fn reach_counts_each_rule_on_its_own_and_names_values_no_record_has() {
        let employee = |id: &str, kind: &str| SourceEmployee {
            id: id.into(),
            company_id: "c".into(),
            employment_type: Some(kind.into()),
            ..SourceEmployee::default()
        };
        let snapshot = Snapshot {
            companies: vec![SourceCompany {
                id: "c".into(),
                number: Some(1010),
                name: Some("Ekdala AB".into()),
            }],
            employees: vec![employee("e1", "Timanställd"), employee("e2", "Tillsvidare")],
            ..Snapshot::default()
        };
        let kind = Source::Field("Employment.EmploymentType".into());
        let settings = MappingSettings {
            scope: Scope {
                include: vec![rule(
                    "scope.include[1]",
                    Source::Company,
                    ScopeTest::Equals(vec!["Ekdala".into(), "1010".into()]),
                )],
                exclude: vec![
                    rule(
                        "scope.exclude[1]",
                        kind.clone(),
                        ScopeTest::Equals(vec!["timanställd".into(), "Praktikant".into()]),
                    ),
                    rule(
                        "scope.exclude[2]",
                        kind,
                        ScopeTest::Equals(vec!["Timanställd".into()]),
                    ),
                ],
            },
            ..MappingSettings::default()
        };
        let reach = reach(&snapshot, &settings, date(2025, 1, 1));
        let summary: Vec<(&str, bool, usize, Vec<&str>, bool)> = reach
            .iter()
            .map(|r| {
                let values = r.unmatched_values.iter().map(String::as_str).collect();
                (
                    r.key.as_str(),
                    r.include,
                    r.matched,
                    values,
                    r.names_companies,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("scope.include[1]", true, 2, vec!["Ekdala"], true),
                ("scope.exclude[1]", false, 1, vec!["Praktikant"], false),
                ("scope.exclude[2]", false, 1, vec![], false),
            ]
        );
    }
}
