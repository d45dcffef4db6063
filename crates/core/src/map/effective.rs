//! The effective mapping, for `flexsync check`: every built-in and configured value with its
//! source, how many employees in scope get a value from it, and up to three distinct examples
//! (personal values masked).

use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};

use crate::mapping::{BuiltIn, MappingSettings, Source, ValueMapping};
use crate::snapshot::{Snapshot, SourceEmployee};

use super::scope::out_of_scope;
use super::value::{Values, field};

/// One line of the effective mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingUse {
    /// `user_name`, `mapping.values[2]`, `mapping.extra[1]`.
    pub name: String,
    /// Where the value comes from, with the number of transforms.
    pub source: String,
    /// Where it goes.
    pub targets: Vec<String>,
    /// Employees in scope with a value.
    pub with_value: usize,
    /// Employees in scope.
    pub in_scope: usize,
    /// Up to three distinct values, masked where personal.
    pub examples: Vec<String>,
}

/// Fields whose values name or identify a person; their examples are masked.
const PERSONAL_WORDS: [&str; 8] = [
    "name", "email", "mail", "birth", "phone", "mobile", "address", "personal",
];

pub fn effective_mapping(
    snapshot: &Snapshot,
    settings: &MappingSettings,
    today: Date,
) -> Vec<MappingUse> {
    let values = Values::new(snapshot, settings, today);
    let mut seen = BTreeSet::new();
    let employees: Vec<&SourceEmployee> = snapshot
        .employees
        .iter()
        .filter(|e| !e.id.trim().is_empty() && seen.insert(e.id.trim()))
        .filter(|e| out_of_scope(&values, e, &settings.scope).is_none())
        .collect();
    let mut uses = Vec::new();
    for builtin in BuiltIn::ALL {
        let mapping = settings.values.iter().find(|m| m.builtin == Some(builtin));
        let source = match mapping {
            Some(m) => describe(m),
            None => format!("field {}", builtin.default_field()),
        };
        let personal = builtin.personal() || mapping.is_some_and(personal_mapping);
        let texts = employees
            .iter()
            .map(|e| values.builtin(e, builtin).map(|text| text.into_owned()));
        uses.push(summarise(builtin.name(), source, vec![], personal, texts));
    }
    for (index, extra) in settings.extra.iter().enumerate() {
        let personal = personal_name(&extra.source_field);
        let texts = employees.iter().map(|e| field(e, &extra.source_field));
        let source = format!("field {}", extra.source_field);
        let targets = vec![format!("attribute {}", extra.target_attribute)];
        let name = format!("mapping.extra[{}]", index + 1);
        uses.push(summarise(&name, source, targets, personal, texts));
    }
    for mapping in settings.values.iter().filter(|m| m.builtin.is_none()) {
        let texts = employees.iter().map(|e| values.value(e, mapping));
        let personal = personal_mapping(mapping);
        let targets = mapping.targets();
        uses.push(summarise(
            &mapping.key,
            describe(mapping),
            targets,
            personal,
            texts,
        ));
    }
    for segment in &settings.segments {
        let mapping = ValueMapping {
            key: segment.key.clone(),
            source: segment.source.clone(),
            transforms: segment.transforms.clone(),
            attribute: None,
            column: Some(segment.column.clone()),
            builtin: None,
        };
        let texts = employees.iter().map(|e| values.value(e, &mapping));
        let targets = vec![format!("segment {}", segment.category)];
        let personal = personal_mapping(&mapping);
        let source = describe(&mapping);
        uses.push(summarise(&segment.key, source, targets, personal, texts));
    }
    uses
}

fn summarise(
    name: &str,
    source: String,
    targets: Vec<String>,
    personal: bool,
    texts: impl Iterator<Item = Option<String>>,
) -> MappingUse {
    let mut in_scope = 0;
    let mut with_value = 0;
    let mut examples = BTreeMap::new();
    for text in texts {
        in_scope += 1;
        let Some(text) = text else { continue };
        with_value += 1;
        if examples.len() < 3 {
            let shown = if personal { mask(&text) } else { text.clone() };
            examples.entry(text).or_insert(shown);
        }
    }
    MappingUse {
        name: name.to_string(),
        source,
        targets,
        with_value,
        in_scope,
        examples: examples.into_values().collect(),
    }
}

fn describe(mapping: &ValueMapping) -> String {
    match mapping.transforms.len() {
        0 => mapping.source.describe(),
        n => format!("{}, {n} transform(s)", mapping.source.describe()),
    }
}

fn personal_mapping(mapping: &ValueMapping) -> bool {
    mapping.builtin.is_some_and(BuiltIn::personal)
        || match &mapping.source {
            Source::Field(name) | Source::Period(name) => personal_name(name),
            _ => false,
        }
}

fn personal_name(field: &str) -> bool {
    let lower = field.to_lowercase();
    PERSONAL_WORDS.iter().any(|word| lower.contains(word))
}

/// The first character, then `*` for each of the rest (at most eight), e.g. `A*******`.
pub fn mask(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(String::from).unwrap_or_default();
    let rest = chars.count().clamp(1, 8);
    format!("{first}{}", "*".repeat(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Scope, ScopeRule, ScopeTest, Transform};
    use jiff::civil::date;

    fn employee(id: &str, email: &str, city: &str, kind: &str) -> SourceEmployee {
        let mut employee = SourceEmployee {
            id: id.into(),
            email_work: Some(email.into()),
            employment_type: Some(kind.into()),
            ..SourceEmployee::default()
        };
        if !city.is_empty() {
            employee.fields.insert("City".into(), city.into());
        }
        employee
    }

    #[test]
    fn counts_values_in_scope_and_masks_personal_examples() {
        let snapshot = Snapshot {
            employees: vec![
                employee("1", "anna@x.se", "Umeå", "0"),
                employee("2", "bo@x.se", "", "0"),
                employee("3", "cia@x.se", "Lund", "0"),
                employee("4", "dan@x.se", "Umeå", "Timanställd"),
            ],
            ..Snapshot::default()
        };
        let settings = MappingSettings {
            values: vec![ValueMapping {
                key: "mapping.values[1]".into(),
                source: Source::Field("City".into()),
                transforms: vec![Transform::Upper],
                attribute: None,
                column: Some("Ort".into()),
                builtin: None,
            }],
            scope: Scope {
                include: vec![],
                exclude: vec![ScopeRule {
                    key: "scope.exclude[1]".into(),
                    source: Source::Field("Employment.EmploymentType".into()),
                    test: ScopeTest::Equals(vec!["timanställd".into()]),
                }],
            },
            ..MappingSettings::default()
        };
        let uses = effective_mapping(&snapshot, &settings, date(2025, 1, 1));
        let city = uses.iter().find(|u| u.name == "mapping.values[1]").unwrap();
        assert_eq!((city.with_value, city.in_scope), (2, 3));
        assert_eq!(city.examples, ["LUND", "UMEÅ"]);
        assert_eq!(city.source, "field City, 1 transform(s)");
        assert_eq!(city.targets, ["column Ort"]);
        let user_name = uses.iter().find(|u| u.name == "user_name").unwrap();
        assert_eq!(user_name.source, "field EmailWork");
        assert_eq!(user_name.examples, ["a********", "b******", "c*******"]);
        assert_eq!(uses.iter().filter(|u| u.name == "gender").count(), 1);
    }
}
