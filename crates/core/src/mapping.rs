//! The settings the map step takes from configuration.

use serde::{Deserialize, Serialize};

/// How Flex records become users. The defaults are the mapping of DEVELOPERS.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSettings {
    /// Employment types (as number or text, compared case-insensitively) whose users are
    /// excluded from surveys. Default: `1`, `External personnel`, `Extern personal`.
    pub exclude_employment_types: Vec<String>,
    /// Extra mappings: Flex employee field (PascalCase, e.g. `City`) -> target attribute path.
    pub extra: Vec<ExtraMapping>,
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
        }
    }
}
