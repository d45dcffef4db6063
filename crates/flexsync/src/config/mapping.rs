//! `[mapping]`: employment types left out, starters' lead time, and extra attributes.

use anyhow::{Result, bail};

use flexsync_core::mapping::{ExtraMapping, MappingSettings};

use super::raw::RawMapping;

/// The longest lead time for starters: a year, and a day for leap years.
const MAX_LEAD_DAYS: u32 = 366;

pub(super) fn mapping_settings(raw: RawMapping) -> Result<MappingSettings> {
    let mut mapping = MappingSettings::default();
    if let Some(types) = raw.exclude_employment_types {
        mapping.exclude_employment_types = types;
    }
    mapping.starter_lead_days = raw.starter_lead_days.unwrap_or(0);
    if mapping.starter_lead_days > MAX_LEAD_DAYS {
        bail!(
            "mapping.starter_lead_days: {} is more than {MAX_LEAD_DAYS} days",
            mapping.starter_lead_days
        );
    }
    for extra in &raw.extra {
        if !is_extension_attribute(&extra.attribute) {
            bail!(
                "mapping.extra: {:?} must be an extension attribute with its schema, e.g. \
                 urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                extra.attribute
            );
        }
    }
    mapping.extra = raw
        .extra
        .into_iter()
        .map(|e| ExtraMapping {
            source_field: e.field,
            target_attribute: e.attribute,
        })
        .collect();
    Ok(mapping)
}

/// `urn:<schema>:<name>`, both parts non-empty.
fn is_extension_attribute(attribute: &str) -> bool {
    attribute
        .strip_prefix("urn:")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(schema, name)| !schema.is_empty() && !name.is_empty())
}
