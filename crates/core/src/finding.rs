//! Data-quality findings: a record the map step could not take as it is, and what it did instead.

use serde::{Deserialize, Serialize};

/// How a finding affected the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The record was left out of the desired state.
    Skipped,
    /// The record was taken, without the value named.
    Degraded,
    /// Worth knowing; nothing was lost.
    Notice,
}

/// What kind of finding, as reports and `--json` name it (`missing_email`, `duplicate_id`, ...).
/// Declared in the order of those names, so findings sort as they always have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    #[serde(rename = "birth_date_before_1900")]
    BirthDateBefore1900,
    BirthDateInFuture,
    DuplicateEmail,
    DuplicateId,
    GroupDimensionMissing,
    GroupGap,
    GroupNameMerged,
    GroupNone,
    InvalidDate,
    InvalidEmail,
    ManagerCycle,
    ManagerMerged,
    ManagerOutOfScope,
    MissingDate,
    MissingEmail,
    MissingId,
    MissingName,
    NoEmploymentPeriod,
    OverlappingPeriods,
    PeriodEndBeforeStart,
    SamePerson,
    SegmentEmpty,
    SelfManager,
    UnknownAccount,
    UnknownEmploymentType,
    UnknownGender,
    UnknownManager,
    UnreadableField,
    UnreadableRecord,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::BirthDateBefore1900 => "birth_date_before_1900",
            FindingKind::BirthDateInFuture => "birth_date_in_future",
            FindingKind::DuplicateEmail => "duplicate_email",
            FindingKind::DuplicateId => "duplicate_id",
            FindingKind::GroupDimensionMissing => "group_dimension_missing",
            FindingKind::GroupGap => "group_gap",
            FindingKind::GroupNameMerged => "group_name_merged",
            FindingKind::GroupNone => "group_none",
            FindingKind::InvalidDate => "invalid_date",
            FindingKind::InvalidEmail => "invalid_email",
            FindingKind::ManagerCycle => "manager_cycle",
            FindingKind::ManagerMerged => "manager_merged",
            FindingKind::ManagerOutOfScope => "manager_out_of_scope",
            FindingKind::MissingDate => "missing_date",
            FindingKind::MissingEmail => "missing_email",
            FindingKind::MissingId => "missing_id",
            FindingKind::MissingName => "missing_name",
            FindingKind::NoEmploymentPeriod => "no_employment_period",
            FindingKind::OverlappingPeriods => "overlapping_periods",
            FindingKind::PeriodEndBeforeStart => "period_end_before_start",
            FindingKind::SamePerson => "same_person",
            FindingKind::SegmentEmpty => "segment_empty",
            FindingKind::SelfManager => "self_manager",
            FindingKind::UnknownAccount => "unknown_account",
            FindingKind::UnknownEmploymentType => "unknown_employment_type",
            FindingKind::UnknownGender => "unknown_gender",
            FindingKind::UnknownManager => "unknown_manager",
            FindingKind::UnreadableField => "unreadable_field",
            FindingKind::UnreadableRecord => "unreadable_record",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FindingKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One finding, always naming the record and the field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// The Flex employee `Id` (or another record id) the finding is about.
    pub record: String,
    /// The Flex field, e.g. `EmailWork`.
    pub field: String,
    pub kind: FindingKind,
    /// What is wrong, for people.
    pub problem: String,
    /// What was done about it.
    pub action: String,
    pub severity: Severity,
    /// The person's first and last name, when the record has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The record's work email as Flex holds it, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Finding {
    /// The person the finding is about as people read it: "Anna Svensson <anna@example.se>
    /// (id)", the name and id, or the id alone.
    pub fn who(&self) -> String {
        match (&self.name, &self.email) {
            (Some(name), Some(email)) => format!("{name} <{email}> ({})", self.record),
            (Some(name), None) => format!("{name} ({})", self.record),
            _ => self.record.clone(),
        }
    }

    /// Names the person each finding is about, from the Flex records by `Id`.
    pub fn name_people(findings: &mut [Finding], employees: &[crate::snapshot::SourceEmployee]) {
        // Names are made for the people findings name, not for everyone read.
        let by_id: std::collections::HashMap<&str, &crate::snapshot::SourceEmployee> =
            employees.iter().map(|e| (e.id.trim(), e)).collect();
        let name_of = |id: &str| by_id.get(id).map(|e| full_name(e));
        for finding in findings.iter_mut().filter(|f| f.name.is_none()) {
            finding.problem = name_mentions(&finding.problem, &name_of);
            finding.action = name_mentions(&finding.action, &name_of);
            let Some(employee) = by_id.get(finding.record.as_str()) else {
                continue;
            };
            let name = full_name(employee);
            finding.name = (!name.is_empty()).then_some(name);
            finding.email = work_email(employee);
        }
    }
}

fn full_name(employee: &crate::snapshot::SourceEmployee) -> String {
    [&employee.first_name, &employee.last_name]
        .iter()
        .filter_map(|part| part.as_deref().map(str::trim))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn work_email(employee: &crate::snapshot::SourceEmployee) -> Option<String> {
    employee
        .email_work
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
}

/// Employee ids in a finding's text become "Anna Svensson (<id>)": "manager <id> is ..." reads
/// "manager Anna Svensson (<id>) is ...".
fn name_mentions(text: &str, name_of: &impl Fn(&str) -> Option<String>) -> String {
    text.split(' ')
        .map(|word| {
            let id = word.trim_end_matches([',', ';', ':', ')', '.']);
            match name_of(id) {
                Some(name) if !name.is_empty() => {
                    format!("{name} ({id}){}", &word[id.len()..])
                }
                _ => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_and_employees_mentioned_by_id_are_named() {
        let names = |id: &str| (id == "m-1").then(|| "Lars Arvidsson".to_string());
        assert_eq!(
            name_mentions("manager m-1 is not a user; employee m-1, (m-1) m-2", &names),
            "manager Lars Arvidsson (m-1) is not a user; employee Lars Arvidsson (m-1), (m-1) m-2"
        );
    }

    #[test]
    fn kinds_serialize_as_their_names_in_name_order() {
        let kinds = [
            FindingKind::BirthDateBefore1900,
            FindingKind::DuplicateId,
            FindingKind::UnreadableRecord,
        ];
        for kind in kinds {
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::String(kind.as_str().into()))
            );
        }
        assert!(
            kinds
                .windows(2)
                .all(|w| w[0].as_str() < w[1].as_str() && w[0] < w[1])
        );
    }
}
