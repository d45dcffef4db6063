//! Configured values: a mapping's source read for one employee on the day (a field, a
//! dimension's account, the current employment period, the company or a constant), then its
//! transforms applied in order.

use jiff::civil::Date;
use regex::Regex;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::by_employee::ByEmployee;
use crate::groups::normalise;
use crate::mapping::{AccountPart, BuiltIn, MappingSettings, Source, Transform, ValueMapping};
use crate::snapshot::{
    Snapshot, SourceAccount, SourceCompany, SourceDefaultAccount, SourceDimension, SourceEmployee,
    SourcePeriod,
};

use super::dates::parse_date;
use super::people::{ExcludedTypes, clean, clean_borrowed, trim};

/// Whether `pattern` is a regular expression this engine accepts; the error says why not.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    Regex::new(pattern).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether `format` is a `strftime` format that can write a date; the error says why not.
pub fn check_date_format(format: &str) -> Result<(), String> {
    jiff::fmt::strtime::format(format, jiff::civil::date(2024, 1, 31))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads configured values out of one snapshot on one day. The indexes of default accounts
/// and periods are built on first use: most settings need neither.
pub struct Values<'a> {
    today: Date,
    settings: &'a MappingSettings,
    snapshot: &'a Snapshot,
    companies: BTreeMap<&'a str, &'a SourceCompany>,
    dimensions: BTreeMap<(&'a str, String), &'a SourceDimension>,
    defaults: OnceCell<ByEmployee<'a, SourceDefaultAccount>>,
    periods: OnceCell<ByEmployee<'a, SourcePeriod>>,
    patterns: BTreeMap<String, Regex>,
    excluded_types: ExcludedTypes,
}

impl<'a> Values<'a> {
    pub fn new(snapshot: &'a Snapshot, settings: &'a MappingSettings, today: Date) -> Values<'a> {
        let mut values = Values {
            today,
            settings,
            snapshot,
            companies: BTreeMap::new(),
            dimensions: BTreeMap::new(),
            defaults: OnceCell::new(),
            periods: OnceCell::new(),
            patterns: BTreeMap::new(),
            excluded_types: ExcludedTypes::new(&settings.exclude_employment_types),
        };
        for company in &snapshot.companies {
            values.companies.entry(company.id.trim()).or_insert(company);
        }
        for dimension in &snapshot.dimensions {
            let key = (dimension.company_id.trim(), normalise(&dimension.name));
            values.dimensions.entry(key).or_insert(dimension);
        }
        let rules = settings.scope.include.iter().chain(&settings.scope.exclude);
        let scope_patterns = rules.filter_map(|rule| match &rule.test {
            crate::mapping::ScopeTest::Matches(pattern) => Some(pattern.clone()),
            crate::mapping::ScopeTest::Equals(_) => None,
        });
        let transform_patterns = settings
            .values
            .iter()
            .flat_map(|m| &m.transforms)
            .filter_map(|t| match t {
                Transform::Replace { pattern, .. } => Some(pattern.clone()),
                _ => None,
            });
        for pattern in scope_patterns.chain(transform_patterns) {
            if let Ok(regex) = Regex::new(&pattern) {
                values.patterns.insert(pattern, regex);
            }
        }
        values
    }

    pub fn today(&self) -> Date {
        self.today
    }

    /// The employment types that exclude from surveys, as configured.
    pub fn excluded_types(&self) -> &ExcludedTypes {
        &self.excluded_types
    }

    /// The default accounts of the employee with this (trimmed) id, in source order.
    fn defaults_of(&self, employee_id: &str) -> &[&'a SourceDefaultAccount] {
        self.defaults
            .get_or_init(|| {
                ByEmployee::new(&self.snapshot.default_accounts, |d| trim(&d.employee_id))
            })
            .of(employee_id)
    }

    /// The employment periods of the employee with this (trimmed) id, in source order.
    pub fn periods_of(&self, employee_id: &str) -> &[&'a SourcePeriod] {
        self.periods
            .get_or_init(|| ByEmployee::new(&self.snapshot.periods, |p| trim(&p.employee_id)))
            .of(employee_id)
    }

    /// The compiled form of a pattern the settings hold (config checked them all).
    pub fn pattern(&self, pattern: &str) -> Option<&Regex> {
        self.patterns.get(pattern)
    }

    /// The text a built-in judges: the configured mapping's value when one replaces its
    /// source, else the Flex field it reads by default.
    pub fn builtin<'e>(
        &self,
        employee: &'e SourceEmployee,
        builtin: BuiltIn,
    ) -> Option<Cow<'e, str>> {
        match self
            .settings
            .values
            .iter()
            .find(|m| m.builtin == Some(builtin))
        {
            Some(mapping) => self.value(employee, mapping).map(Cow::Owned),
            None => clean_borrowed(default_field(employee, builtin)),
        }
    }

    /// A mapping's final value for an employee; blank is None.
    pub fn value(&self, employee: &SourceEmployee, mapping: &ValueMapping) -> Option<String> {
        let mut value = self.source(employee, &mapping.source);
        for transform in &mapping.transforms {
            value = self.apply(employee, transform, value);
        }
        clean(value.as_deref())
    }

    /// A source's value for an employee, trimmed and in NFC; blank is None.
    pub fn source(&self, employee: &SourceEmployee, source: &Source) -> Option<String> {
        match source {
            Source::Field(name) => field(employee, name),
            Source::Dimension { name, part } => {
                let account = self.account(employee, name)?;
                match part {
                    AccountPart::Code => clean(Some(&account.code)),
                    AccountPart::Name => clean(account.name.as_deref()),
                }
            }
            Source::Period(name) => self.period(employee, name),
            Source::Constant(text) => clean(Some(text)),
            Source::Company => {
                let company = self.company(employee)?;
                clean(company.name.as_deref())
            }
        }
    }

    pub fn company(&self, employee: &SourceEmployee) -> Option<&'a SourceCompany> {
        self.companies.get(employee.company_id.trim()).copied()
    }

    fn apply(
        &self,
        employee: &SourceEmployee,
        transform: &Transform,
        value: Option<String>,
    ) -> Option<String> {
        match transform {
            Transform::Default(text) => clean(value.as_deref()).or_else(|| clean(Some(text))),
            Transform::Concat { sources, separator } => {
                let others = sources.iter().map(|s| self.source(employee, s));
                let parts: Vec<String> = std::iter::once(value)
                    .chain(others)
                    .flatten()
                    .filter(|part| !part.trim().is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(separator))
            }
            _ => value.map(|text| self.apply_text(transform, text)),
        }
    }

    fn apply_text(&self, transform: &Transform, text: String) -> String {
        match transform {
            Transform::Trim => text.trim().to_string(),
            Transform::Lower => text.to_lowercase(),
            Transform::Upper => text.to_uppercase(),
            Transform::Title => title(&text),
            Transform::Map { values, default } => lookup(values, &text)
                .or(default.as_ref())
                .cloned()
                .unwrap_or(text),
            Transform::Date(format) => parse_date(text.trim())
                .and_then(|date| jiff::fmt::strtime::format(format.as_str(), date).ok())
                .unwrap_or(text),
            Transform::Replace { pattern, with } => match self.pattern(pattern) {
                Some(regex) => regex.replace_all(&text, with.as_str()).into_owned(),
                None => text,
            },
            Transform::Default(_) | Transform::Concat { .. } => text,
        }
    }

    /// The employee's default account on the day in the company's dimension called `name`.
    fn account(&self, employee: &SourceEmployee, name: &str) -> Option<&'a SourceAccount> {
        let key = (employee.company_id.trim(), normalise(name));
        let dimension = self.dimensions.get(&key)?;
        let dimension_id = dimension.id.trim();
        let date = |text: Option<&str>| clean(text).map(|t| parse_date(&t));
        let current = self
            .defaults_of(employee.id.trim())
            .iter()
            .filter(|default| default.dimension_id.trim() == dimension_id)
            .filter_map(|default| {
                let from = date(default.from.as_deref());
                let to = date(default.to.as_deref());
                let started = match from {
                    None => true,
                    Some(from) => from? <= self.today,
                };
                let running = match to {
                    None => true,
                    Some(to) => self.today <= to?,
                };
                (started && running).then_some((from.flatten(), *default))
            })
            .max_by_key(|(from, _)| *from)?
            .1;
        let by_id = clean(current.account_id.as_deref())
            .and_then(|id| dimension.accounts.iter().find(|a| a.id.trim() == id));
        by_id.or_else(|| {
            let code = normalise(current.account_code.as_deref()?);
            dimension
                .accounts
                .iter()
                .find(|a| !code.is_empty() && normalise(&a.code) == code)
        })
    }

    /// A value of the period that covers the day, else the next one, else the last one.
    fn period(&self, employee: &SourceEmployee, name: &str) -> Option<String> {
        let periods = self.periods_of(trim(&employee.id));
        let dated: Vec<(Date, Option<Date>, &SourcePeriod)> = periods
            .iter()
            .filter_map(|p| {
                let from = parse_date(&clean(p.from.as_deref())?)?;
                let to = clean(p.to.as_deref()).and_then(|t| parse_date(&t));
                Some((from, to, *p))
            })
            .collect();
        let covers = |(from, to, _): &&(Date, Option<Date>, &SourcePeriod)| {
            *from <= self.today && to.is_none_or(|to| self.today <= to)
        };
        let chosen = dated
            .iter()
            .find(covers)
            .or_else(|| {
                dated
                    .iter()
                    .filter(|(from, _, _)| *from > self.today)
                    .min_by_key(|(from, _, _)| *from)
            })
            .or_else(|| dated.iter().max_by_key(|(from, _, _)| *from))?;
        let period = chosen.2;
        if name.eq_ignore_ascii_case("FromDate") {
            return clean(period.from.as_deref());
        }
        if name.eq_ignore_ascii_case("ToDate") {
            return clean(period.to.as_deref());
        }
        lookup_ignoring_case(&period.fields, name)
    }
}

/// An employee field by its Flex name: the ones with their own place first, then the rest
/// (exact name, then ignoring ASCII case). `Employment.X` and `X` both find a nested field.
pub fn field(employee: &SourceEmployee, name: &str) -> Option<String> {
    let name = name.trim();
    let bare = name.strip_prefix("Employment.").unwrap_or(name);
    match OWN_FIELDS
        .iter()
        .find(|(own, _)| own.eq_ignore_ascii_case(bare))
    {
        Some((_, read)) => clean(read(employee)),
        None => lookup_ignoring_case(&employee.fields, name),
    }
}

/// The field a built-in reads when no mapping replaces its source (its
/// [`BuiltIn::default_field`], which has a place of its own).
fn default_field(employee: &SourceEmployee, builtin: BuiltIn) -> Option<&str> {
    match builtin {
        BuiltIn::UserName | BuiltIn::Email => employee.email_work.as_deref(),
        BuiltIn::GivenName => employee.first_name.as_deref(),
        BuiltIn::FamilyName => employee.last_name.as_deref(),
        BuiltIn::Gender => employee.gender.as_deref(),
        BuiltIn::BirthDate => employee.date_of_birth.as_deref(),
        BuiltIn::EmploymentType => employee.employment_type.as_deref(),
        BuiltIn::Manager => employee.manager_id.as_deref(),
    }
}

type Read = fn(&SourceEmployee) -> Option<&str>;

/// The fields a [`SourceEmployee`] keeps in a place of their own, by Flex name.
const OWN_FIELDS: [(&str, Read); 10] = [
    ("Id", |e| Some(e.id.as_str())),
    ("CompanyId", |e| Some(&e.company_id)),
    ("FirstName", |e| e.first_name.as_deref()),
    ("LastName", |e| e.last_name.as_deref()),
    ("EmailWork", |e| e.email_work.as_deref()),
    ("DateOfBirth", |e| e.date_of_birth.as_deref()),
    ("Gender", |e| e.gender.as_deref()),
    ("ImmediateManagerEmployeeId", |e| e.manager_id.as_deref()),
    ("EmploymentNumber", |e| e.employment_number.as_deref()),
    ("EmploymentType", |e| e.employment_type.as_deref()),
];

fn lookup_ignoring_case(fields: &BTreeMap<String, String>, name: &str) -> Option<String> {
    let value = fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    });
    clean(value.map(String::as_str))
}

/// A value table entry: the exact text, then ignoring case.
fn lookup<'t>(table: &'t BTreeMap<String, String>, text: &str) -> Option<&'t String> {
    let text = text.trim();
    table.get(text).or_else(|| {
        let lower = text.to_lowercase();
        table
            .iter()
            .find(|(key, _)| key.trim().to_lowercase() == lower)
            .map(|(_, value)| value)
    })
}

/// Each word (split at spaces and hyphens) with a capital first letter, the rest lower case.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c.is_whitespace() || c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn snapshot() -> Snapshot {
        let mut employee = SourceEmployee {
            id: "e1".into(),
            company_id: "c1".into(),
            first_name: Some("  anna-lena ".into()),
            last_name: Some("BERG".into()),
            email_work: Some("Anna@Ekdala.se".into()),
            gender: Some("K".into()),
            date_of_birth: Some("1990-03-12T00:00:00".into()),
            employment_number: Some("0042".into()),
            employment_type: Some("Timanställd".into()),
            ..SourceEmployee::default()
        };
        employee
            .fields
            .insert("City".into(), "Go\u{308}teborg".into());
        Snapshot {
            companies: vec![SourceCompany {
                id: "c1".into(),
                number: Some(7),
                name: Some("Ekdala AB".into()),
            }],
            employees: vec![employee],
            periods: vec![
                SourcePeriod {
                    employee_id: "e1".into(),
                    from: Some("2020-01-01".into()),
                    to: Some("2023-12-31".into()),
                    fields: [("Title".to_string(), "Junior".to_string())].into(),
                    ..SourcePeriod::default()
                },
                SourcePeriod {
                    employee_id: "e1".into(),
                    from: Some("2024-01-01".into()),
                    fields: [("Title".to_string(), "Senior".to_string())].into(),
                    ..SourcePeriod::default()
                },
            ],
            dimensions: vec![SourceDimension {
                id: "d1".into(),
                company_id: "c1".into(),
                name: "Kostnadsställe".into(),
                accounts: vec![
                    SourceAccount {
                        id: "a1".into(),
                        code: "100".into(),
                        name: Some("Ekonomi".into()),
                    },
                    SourceAccount {
                        id: "a2".into(),
                        code: "200".into(),
                        name: Some("IT".into()),
                    },
                ],
            }],
            default_accounts: vec![
                SourceDefaultAccount {
                    employee_id: "e1".into(),
                    dimension_id: "d1".into(),
                    account_id: Some("a1".into()),
                    from: Some("2020-01-01".into()),
                    to: Some("2024-12-31".into()),
                    ..SourceDefaultAccount::default()
                },
                SourceDefaultAccount {
                    employee_id: "e1".into(),
                    dimension_id: "d1".into(),
                    account_code: Some(" 200 ".into()),
                    from: Some("2025-01-01".into()),
                    ..SourceDefaultAccount::default()
                },
            ],
            named_fields_only: false,
        }
    }

    fn mapping(source: Source, transforms: Vec<Transform>) -> ValueMapping {
        ValueMapping {
            key: "mapping.values[1]".into(),
            source,
            transforms,
            attribute: Some("title".into()),
            column: None,
            builtin: None,
        }
    }

    fn value_of(source: Source, transforms: Vec<Transform>, today: Date) -> Option<String> {
        let snapshot = snapshot();
        let settings = MappingSettings {
            values: vec![mapping(source, transforms)],
            ..MappingSettings::default()
        };
        let values = Values::new(&snapshot, &settings, today);
        values.value(&snapshot.employees[0], &settings.values[0])
    }

    fn field_source(name: &str) -> Source {
        Source::Field(name.into())
    }

    const DAY: Date = date(2024, 6, 1);

    #[test]
    fn sources_read_fields_nested_fields_dimensions_periods_and_constants() {
        let v = |source| value_of(source, vec![], DAY);
        assert_eq!(v(field_source("city")), Some("G\u{f6}teborg".into()));
        assert_eq!(
            v(field_source("Employment.EmploymentNumber")),
            Some("0042".into())
        );
        assert_eq!(v(field_source("FirstName")), Some("anna-lena".into()));
        assert_eq!(v(field_source("Nothing")), None);
        let dimension = |part| Source::Dimension {
            name: "kostnadsställe".into(),
            part,
        };
        assert_eq!(v(dimension(AccountPart::Name)), Some("Ekonomi".into()));
        assert_eq!(v(dimension(AccountPart::Code)), Some("100".into()));
        assert_eq!(
            value_of(dimension(AccountPart::Name), vec![], date(2025, 2, 1)),
            Some("IT".into())
        );
        assert_eq!(v(Source::Period("title".into())), Some("Senior".into()));
        assert_eq!(
            value_of(Source::Period("Title".into()), vec![], date(2021, 1, 1)),
            Some("Junior".into())
        );
        assert_eq!(
            v(Source::Period("FromDate".into())),
            Some("2024-01-01".into())
        );
        assert_eq!(
            v(Source::Constant(" Sverige ".into())),
            Some("Sverige".into())
        );
        assert_eq!(v(Source::Company), Some("Ekdala AB".into()));
    }

    #[test]
    fn each_transform_does_its_one_thing() {
        let v = |name: &str, transforms| value_of(field_source(name), transforms, DAY);
        assert_eq!(v("LastName", vec![Transform::Lower]), Some("berg".into()));
        assert_eq!(
            v("City", vec![Transform::Upper]),
            Some("G\u{d6}TEBORG".into())
        );
        assert_eq!(
            v("FirstName", vec![Transform::Trim, Transform::Title]),
            Some("Anna-Lena".into())
        );
        let table = BTreeMap::from([
            ("k".to_string(), "Female".to_string()),
            ("M".to_string(), "Male".to_string()),
        ]);
        let map = |default: Option<&str>| Transform::Map {
            values: table.clone(),
            default: default.map(str::to_string),
        };
        assert_eq!(v("Gender", vec![map(None)]), Some("Female".into()));
        assert_eq!(v("City", vec![map(Some("None"))]), Some("None".into()));
        assert_eq!(v("City", vec![map(None)]), Some("G\u{f6}teborg".into()));
        assert_eq!(
            v("DateOfBirth", vec![Transform::Date("%d/%m/%Y".into())]),
            Some("12/03/1990".into())
        );
        assert_eq!(
            v("Missing", vec![Transform::Default("okänd".into())]),
            Some("okänd".into())
        );
        assert_eq!(
            v(
                "FirstName",
                vec![
                    Transform::Title,
                    Transform::Concat {
                        sources: vec![field_source("LastName"), field_source("Missing")],
                        separator: " ".into(),
                    }
                ]
            ),
            Some("Anna-Lena BERG".into())
        );
        assert_eq!(
            v(
                "EmailWork",
                vec![
                    Transform::Replace {
                        pattern: "@.*$".into(),
                        with: "@example.com".into(),
                    },
                    Transform::Lower
                ]
            ),
            Some("anna@example.com".into())
        );
        assert_eq!(
            v(
                "Employment.EmploymentNumber",
                vec![Transform::Replace {
                    pattern: "^0+(\\d)".into(),
                    with: "$1".into(),
                }]
            ),
            Some("42".into())
        );
    }

    #[test]
    fn a_builtin_reads_its_mapping_or_its_default_field() {
        let snapshot = snapshot();
        let mut settings = MappingSettings::default();
        let values = Values::new(&snapshot, &settings, DAY);
        let employee = &snapshot.employees[0];
        assert_eq!(
            values.builtin(employee, BuiltIn::UserName).as_deref(),
            Some("Anna@Ekdala.se")
        );
        let mut username = mapping(field_source("Employment.EmploymentNumber"), vec![]);
        username.builtin = Some(BuiltIn::UserName);
        username.transforms = vec![Transform::Concat {
            sources: vec![Source::Constant("ekdala.se".into())],
            separator: "@".into(),
        }];
        settings.values.push(username);
        let values = Values::new(&snapshot, &settings, DAY);
        assert_eq!(
            values.builtin(employee, BuiltIn::UserName).as_deref(),
            Some("0042@ekdala.se")
        );
    }

    #[test]
    fn patterns_and_formats_are_checked_with_a_reason() {
        assert!(check_pattern("@ekdala\\.se$").is_ok());
        assert!(check_pattern("(").unwrap_err().contains("unclosed"));
        assert!(check_date_format("%Y-%m-%d").is_ok());
        assert!(check_date_format("%Q").is_err());
    }
}
