//! Winningtemp segments: each configured category gives a user at most one value, with a
//! stable external id (category and normalised value, or the account code where the source is
//! a dimension, so a renamed account keeps its id). Users without a value are reported per
//! category.

use std::collections::BTreeMap;

use crate::desired::{DesiredSegment, DesiredUser, UserSegment};
use crate::finding::{Finding, FindingKind, Severity};
use crate::groups::normalise;
use crate::ids::ExternalId;
use crate::mapping::{AccountPart, SegmentSource, Source, ValueMapping};
use crate::snapshot::SourceEmployee;

use super::value::Values;

/// How many users a finding names before it counts the rest.
const NAMED: usize = 10;

/// The user's segments by category; the categories without a value come back apart.
pub(super) fn user_segments(
    values: &Values,
    employee: &SourceEmployee,
    segments: &[SegmentSource],
) -> (BTreeMap<String, UserSegment>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut empty = Vec::new();
    for segment in segments {
        let mapping = ValueMapping {
            key: segment.key.clone(),
            source: segment.source.clone(),
            transforms: segment.transforms.clone(),
            attribute: None,
            column: None,
            builtin: None,
        };
        let Some(name) = values.value(employee, &mapping) else {
            empty.push(segment.category.clone());
            continue;
        };
        let key = match &segment.source {
            Source::Dimension {
                name: dimension,
                part: AccountPart::Name,
            } => {
                let code = Source::Dimension {
                    name: dimension.clone(),
                    part: AccountPart::Code,
                };
                values
                    .source(employee, &code)
                    .unwrap_or_else(|| name.clone())
            }
            _ => name.clone(),
        };
        let segment_value = UserSegment {
            external_id: segment_id(&segment.category, &key),
            name,
        };
        found.insert(segment.category.clone(), segment_value);
    }
    (found, empty)
}

/// `seg:<category>=<value>`, both normalised, with `%`, `=` and `/` escaped.
pub fn segment_id(category: &str, key: &str) -> ExternalId {
    let part = |text: &str| {
        normalise(text)
            .replace('%', "%25")
            .replace('=', "%3D")
            .replace('/', "%2F")
    };
    ExternalId::new(format!("seg:{}={}", part(category), part(key)))
}

/// Every segment value the users have, by external id.
pub(super) fn catalogue(
    users: &BTreeMap<ExternalId, Box<DesiredUser>>,
    segments: &[SegmentSource],
) -> BTreeMap<ExternalId, DesiredSegment> {
    let columns: BTreeMap<&str, &str> = segments
        .iter()
        .map(|s| (s.category.as_str(), s.column.as_str()))
        .collect();
    let mut all = BTreeMap::new();
    for user in users.values() {
        for (category, segment) in &user.values.segments {
            all.entry(segment.external_id.clone())
                .or_insert_with(|| DesiredSegment {
                    external_id: segment.external_id.clone(),
                    category: category.clone(),
                    name: segment.name.clone(),
                    column: columns
                        .get(category.as_str())
                        .copied()
                        .unwrap_or(category)
                        .to_string(),
                });
        }
    }
    all
}

/// One finding per category some users have no value in, naming them.
pub(super) fn empty_findings(
    empty: &BTreeMap<String, Vec<String>>,
    segments: &[SegmentSource],
) -> Vec<Finding> {
    segments
        .iter()
        .filter_map(|segment| {
            let users = empty.get(&segment.category)?;
            let named: Vec<&str> = users.iter().take(NAMED).map(String::as_str).collect();
            let more = users.len().saturating_sub(NAMED);
            let mut list = named.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            Some(Finding {
                record: segment.key.clone(),
                field: segment.category.clone(),
                kind: FindingKind::SegmentEmpty,
                problem: format!(
                    "{} user(s) have no value for segment '{}' ({}): {list}",
                    users.len(),
                    segment.category,
                    segment.source.describe()
                ),
                action: "they have no segment in this category".to_string(),
                severity: Severity::Notice,
                name: None,
                email: None,
            })
        })
        .collect()
}
