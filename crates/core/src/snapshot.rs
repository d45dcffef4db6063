//! A full read of the Flex source for the configured companies, before any judgement.
//!
//! Values that the map step must validate (dates, gender, employment type) stay as the text the
//! API sent, so that a finding can quote them. Texts that many records repeat (an employee's id
//! on each of their periods and default accounts, dates, dimension and account ids) are
//! `Arc<str>`, so that the reader can hold each once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything one run read from Flex. Built by the Flex client; consumed by [`crate::map`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub companies: Vec<SourceCompany>,
    pub employees: Vec<SourceEmployee>,
    pub periods: Vec<SourcePeriod>,
    pub dimensions: Vec<SourceDimension>,
    pub default_accounts: Vec<SourceDefaultAccount>,
    /// The read kept only the employee and period fields the configuration names (a sync's
    /// read), not every field Flex sent (a read for `check`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named_fields_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCompany {
    /// Flex company GUID.
    pub id: String,
    pub number: Option<i64>,
    pub name: Option<String>,
}

/// One Flex employee record. A person employed by two companies has two records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEmployee {
    /// Flex `Id` (GUID as text). Becomes the Winningtemp external id.
    pub id: String,
    /// Flex `CompanyId` (GUID as text).
    pub company_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_work: Option<String>,
    /// `DateOfBirth` as sent, e.g. `1990-03-12T00:00:00`.
    pub date_of_birth: Option<String>,
    /// `Gender` as sent: `"1"`, `"2"`, `"0"`, or a text value.
    pub gender: Option<String>,
    pub manager_id: Option<String>,
    pub employment_number: Option<String>,
    /// `Employment.EmploymentType` as sent: `"0"`, `"1"`, or a text such as `"Extern personal"`.
    pub employment_type: Option<String>,
    /// Every other scalar field of the record, by its PascalCase name (`City`, `Country`, ...),
    /// as text; used by configured extra mappings and group levels.
    pub fields: BTreeMap<String, String>,
}

/// One Flex employment period. `to` = None is open-ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePeriod {
    pub id: Option<String>,
    pub employee_id: Arc<str>,
    pub from: Option<Arc<str>>,
    pub to: Option<Arc<str>>,
    /// Every other scalar field of the period (`Title`, `EmploymentRate`, ...), as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// An accounting dimension (`AccountDistribution`) and its accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDimension {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub accounts: Vec<SourceAccount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAccount {
    pub id: String,
    pub code: String,
    pub name: Option<String>,
}

/// An employee's dated value in one dimension (`EmploymentDefaultAccount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDefaultAccount {
    pub employee_id: Arc<str>,
    pub dimension_id: Arc<str>,
    pub account_id: Option<Arc<str>>,
    pub account_code: Option<Arc<str>>,
    pub from: Option<Arc<str>>,
    pub to: Option<Arc<str>>,
}
