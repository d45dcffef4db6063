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
