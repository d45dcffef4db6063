//! The settings the map step takes from configuration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How Flex records become users. The defaults are the built-in mapping the README's "What is synced" table lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSettings {
    /// Employment types (as number or text, compared case-insensitively) whose users are
    /// excluded from surveys. Default: `1`, `External personnel`, `Extern personal`.
    pub exclude_employment_types: Vec<String>,
    /// Extra mappings: Flex employee field (PascalCase, e.g. `City`) -> target attribute path.
    pub extra: Vec<ExtraMapping>,
    /// Future starters become active users this many days before their first day.
    pub starter_lead_days: u32,
    /// Values from any source, with transforms, to SCIM attributes, CSV columns or built-ins.
    #[serde(default)]
    pub values: Vec<ValueMapping>,
    /// Which employees are in scope at all.
    #[serde(default)]
    pub scope: Scope,
    /// How records of one person in two configured companies become one user.
    #[serde(default)]
    pub people: SamePerson,
    /// Winningtemp segments: each a category with its source; at most one value per user.
    #[serde(default)]
    pub segments: Vec<SegmentSource>,
}

/// One `[[segments]]` category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSource {
    /// `segments[1]`, for errors and findings.
    pub key: String,
    /// The category as Winningtemp shows it, e.g. `Ort`.
    pub category: String,
    pub source: Source,
    pub transforms: Vec<Transform>,
    /// The `wt_users.csv` column holding the user's segment id (default: the category).
    pub column: String,
}

/// `[companies]`: which records are one person, and which of them is synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamePerson {
    /// What makes two records one person; the work email always does.
    pub match_by: Vec<PersonKey>,
    pub prefer: Prefer,
}

impl Default for SamePerson {
    fn default() -> Self {
        SamePerson {
            match_by: vec![PersonKey::Email],
            prefer: Prefer::CurrentEmployment,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKey {
    Email,
    /// The same `Employment.EmploymentNumber` in two companies.
    EmploymentNumber,
}

/// Which record of one person in two companies is synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// The record whose employment covers the day, then the latest start.
    CurrentEmployment,
    /// The record of the company first in this list (numbers, names or ids); then as above.
    Companies(Vec<String>),
}

impl Prefer {
    /// The rule as the configuration writes it.
    pub fn describe(&self) -> String {
        match self {
            Prefer::CurrentEmployment => "companies.prefer = \"current_employment\"".to_string(),
            Prefer::Companies(order) => format!("companies.prefer = [{}]", order.join(", ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraMapping {
    pub source_field: String,
    pub target_attribute: String,
}

impl MappingSettings {
    /// Whether a configured mapping replaces the source of `builtin`.
    pub fn overrides(&self, builtin: BuiltIn) -> bool {
        self.values.iter().any(|m| m.builtin == Some(builtin))
    }

    /// Every source the settings read, with the configuration key that names it: value
    /// mappings (and the sources they concatenate), scope rules and segments.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &Source)> {
        let values = self.values.iter().flat_map(|m| {
            let concat = m.transforms.iter().flat_map(|t| match t {
                Transform::Concat { sources, .. } => sources.as_slice(),
                _ => &[],
            });
            std::iter::once(&m.source)
                .chain(concat)
                .map(|source| (m.key.as_str(), source))
        });
        let rules = self.scope.include.iter().chain(&self.scope.exclude);
        values
            .chain(rules.map(|r| (r.key.as_str(), &r.source)))
            .chain(self.segments.iter().map(|s| (s.key.as_str(), &s.source)))
    }
}

/// The Flex fields without a place of their own that a configuration reads: what a sync keeps
/// of each record (a read for `check` keeps every field, to list what there is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedFields {
    /// Employee fields, by the names the configuration gives (`City`, `Employment.Title`).
    pub employee: BTreeSet<String>,
    /// Employment period fields (`Title`, `EmploymentRate`).
    pub period: BTreeSet<String>,
}

impl NamedFields {
    /// The fields the mapping (extra mappings, value mappings, scope rules, segments) and the
    /// group levels read.
    pub fn of(mapping: &MappingSettings, groups: &GroupSettings) -> NamedFields {
        let mut named = NamedFields::default();
        named.employee.extend(
            mapping
                .extra
                .iter()
                .map(|e| e.source_field.trim().to_string()),
        );
        for (_, source) in mapping.sources() {
            match source {
                Source::Field(name) => named.employee.insert(name.trim().to_string()),
                Source::Period(name) => named.period.insert(name.trim().to_string()),
                Source::Dimension { .. } | Source::Constant(_) | Source::Company => false,
            };
        }
        for level in &groups.levels {
            if let GroupLevel::Field(name) = level {
                named.employee.insert(name.trim().to_string());
            }
        }
        named
    }
}

impl Default for MappingSettings {
    fn default() -> Self {
        MappingSettings {
            exclude_employment_types: vec![
                "1".to_string(),
                "External personnel".to_string(),
                "Extern personal".to_string(),
            ],
            extra: Vec::new(),
            starter_lead_days: 0,
            values: Vec::new(),
            scope: Scope::default(),
            people: SamePerson::default(),
            segments: Vec::new(),
        }
    }
}

/// One configured value: where it comes from, how it is transformed, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueMapping {
    /// The configuration key that defined it, e.g. `mapping.values[2]`, for errors and `check`.
    pub key: String,
    pub source: Source,
    pub transforms: Vec<Transform>,
    /// A SCIM attribute: core (`title`) or URN-qualified extension attribute.
    pub attribute: Option<String>,
    /// A column of `wt_users.csv`.
    pub column: Option<String>,
    /// A built-in value this mapping replaces the source of.
    pub builtin: Option<BuiltIn>,
}

impl ValueMapping {
    /// Where the value goes, for people to read: `builtin gender`, `attribute x`, `column y`.
    pub fn targets(&self) -> Vec<String> {
        let mut targets = Vec::new();
        if let Some(builtin) = self.builtin {
            targets.push(format!("builtin {}", builtin.name()));
        }
        if let Some(attribute) = &self.attribute {
            targets.push(format!("attribute {attribute}"));
        }
        if let Some(column) = &self.column {
            targets.push(format!("column {column}"));
        }
        targets
    }
}

/// Where a value is read from, for one employee on the sync day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A top-level or nested employee field by its Flex name (`City`, `Employment.EmploymentNumber`).
    Field(String),
    /// The name or code of the employee's default account in a dimension on the day.
    Dimension { name: String, part: AccountPart },
    /// A value of the employment period that covers the day (or the next one): `FromDate`,
    /// `ToDate`, or any other field of the period (`Title`, `EmploymentRate`, ...).
    Period(String),
    /// The same text for everyone.
    Constant(String),
    /// The employee's company: its name (scope rules also match its number and id).
    Company,
}

impl Source {
    /// The source as the configuration names it.
    pub fn describe(&self) -> String {
        match self {
            Source::Field(name) => format!("field {name}"),
            Source::Dimension { name, part } => format!("dimension {name} ({})", part.name()),
            Source::Period(name) => format!("period {name}"),
            Source::Constant(text) => format!("constant {text:?}"),
            Source::Company => "company".to_string(),
        }
    }
}

/// Which part of a dimension account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountPart {
    #[default]
    Name,
    Code,
}

impl AccountPart {
    pub fn name(self) -> &'static str {
        match self {
            AccountPart::Name => "name",
            AccountPart::Code => "code",
        }
    }
}

/// One step applied to a value, in the configured order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    Trim,
    Lower,
    Upper,
    /// Each word with a capital first letter and the rest lower case.
    Title,
    /// A value table (exact, then ignoring case); a value not in it becomes `default`, or is
    /// kept when there is no default.
    Map {
        values: std::collections::BTreeMap<String, String>,
        default: Option<String>,
    },
    /// Reads a date and writes it in a `strftime` format (e.g. `%d/%m/%Y`).
    Date(String),
    /// The text used when the value is empty.
    Default(String),
    /// The value followed by the other sources' values, the non-empty ones joined by `separator`.
    Concat {
        sources: Vec<Source>,
        separator: String,
    },
    /// Every match of a regular expression replaced (`$1` names a capture group).
    Replace {
        pattern: String,
        with: String,
    },
}

/// The built-in values a mapping may take the source of. The judging stays the same: a
/// user name must still be an email, a gender one of the known words, a date a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltIn {
    UserName,
    Email,
    GivenName,
    FamilyName,
    Gender,
    BirthDate,
    EmploymentType,
    Manager,
}

impl BuiltIn {
    pub const ALL: [BuiltIn; 8] = [
        BuiltIn::UserName,
        BuiltIn::Email,
        BuiltIn::GivenName,
        BuiltIn::FamilyName,
        BuiltIn::Gender,
        BuiltIn::BirthDate,
        BuiltIn::EmploymentType,
        BuiltIn::Manager,
    ];

    /// The name the configuration uses (`builtin = "gender"`).
    pub fn name(self) -> &'static str {
        match self {
            BuiltIn::UserName => "user_name",
            BuiltIn::Email => "email",
            BuiltIn::GivenName => "given_name",
            BuiltIn::FamilyName => "family_name",
            BuiltIn::Gender => "gender",
            BuiltIn::BirthDate => "birth_date",
            BuiltIn::EmploymentType => "employment_type",
            BuiltIn::Manager => "manager",
        }
    }

    pub fn parse(name: &str) -> Option<BuiltIn> {
        BuiltIn::ALL.into_iter().find(|b| b.name() == name.trim())
    }

    /// The Flex field the built-in reads when no mapping replaces its source.
    pub fn default_field(self) -> &'static str {
        match self {
            BuiltIn::UserName | BuiltIn::Email => "EmailWork",
            BuiltIn::GivenName => "FirstName",
            BuiltIn::FamilyName => "LastName",
            BuiltIn::Gender => "Gender",
            BuiltIn::BirthDate => "DateOfBirth",
            BuiltIn::EmploymentType => "Employment.EmploymentType",
            BuiltIn::Manager => "ImmediateManagerEmployeeId",
        }
    }

    /// Whether its values are personal and must be masked where people read examples.
    pub fn personal(self) -> bool {
        matches!(
            self,
            BuiltIn::UserName
                | BuiltIn::Email
                | BuiltIn::GivenName
                | BuiltIn::FamilyName
                | BuiltIn::BirthDate
        )
    }
}

/// Scoping rules: when any `include` rule is given, only employees matching one are in scope;
/// an employee matching any `exclude` rule is out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub include: Vec<ScopeRule>,
    pub exclude: Vec<ScopeRule>,
}

/// One scoping rule: a source and a test on its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRule {
    /// `scope.exclude[1]` (1-based, as people count), for the reason of a pause.
    pub key: String,
    pub source: Source,
    pub test: ScopeTest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeTest {
    /// The value equals one of these (trimmed, NFC, ignoring case).
    Equals(Vec<String>),
    /// A regular expression finds a match in the value.
    Matches(String),
}

/// How the group tree is built from organisational fields (see [`crate::groups`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// The levels, top-down; empty = no groups (unless `company_top`).
    pub levels: Vec<GroupLevel>,
    pub gap: GapRule,
    /// One top group per company, labelled with the company name.
    pub company_top: bool,
    pub naming: GroupNaming,
    /// The display name sent to the target.
    pub display: DisplayName,
    /// The most member ids in one add or remove operation.
    pub member_chunk: usize,
    /// A group we created is retired once it has been empty this many days (0: at once).
    /// Groups we did not create are never retired.
    pub retire_after_days: u32,
    /// Who may be a member of the groups flexsync created besides the users Flex places there.
    pub memberships: Memberships,
}

/// Winningtemp's membership update rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Memberships {
    /// flexsync adds and removes only the users it manages; members added by hand stay.
    #[default]
    Managed,
    /// The groups flexsync created hold exactly the users the source says.
    Overwrite,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            levels: Vec::new(),
            gap: GapRule::default(),
            company_top: false,
            naming: GroupNaming::default(),
            display: DisplayName::default(),
            member_chunk: 100,
            retire_after_days: 0,
            memberships: Memberships::Managed,
        }
    }
}

/// Where one level's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLevel {
    /// A Flex accounting dimension by name (e.g. `Kontor`): key = account code, label = name.
    Dimension(String),
    /// An employee field by its PascalCase name (e.g. `City`): key = normalised value.
    Field(String),
}

impl GroupLevel {
    pub fn name(&self) -> &str {
        match self {
            GroupLevel::Dimension(name) | GroupLevel::Field(name) => name,
        }
    }
}

/// What to do when a level above a user's lowest value is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapRule {
    /// The user sits in the group of the last level before the first empty one.
    #[default]
    StopAtFirstEmpty,
    /// Empty levels are left out of the path.
    Skip,
}

/// How a group's external id is derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupNaming {
    /// From the path of keys (company, then each level's key).
    #[default]
    Path,
    /// Compatibility with Winningtemp's standard integration: from the name alone, so groups
    /// with the same name anywhere merge (each merge is reported).
    NameOnly,
}

/// The display name a group gets in the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayName {
    /// The group's own label, but on a target that keeps groups flat, the path for labels that
    /// several groups share (people could not tell four "Ekonomi" groups apart).
    #[default]
    Auto,
    /// The group's own label, e.g. `Ekonomi`, always.
    Label,
    /// The labels from the top, e.g. `Stockholm / Ekonomi`, always.
    FullPath,
}
