//! The settings the map step takes from configuration.

use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraMapping {
    pub source_field: String,
    pub target_attribute: String,
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
        }
    }
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
