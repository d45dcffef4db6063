//! The scoping rules: which employee records are in scope at all, and which rule put one out.

use crate::mapping::{Scope, ScopeRule, ScopeTest, Source};
use crate::snapshot::SourceEmployee;

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
}
