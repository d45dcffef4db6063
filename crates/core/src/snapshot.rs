//! A full read of the Flex source for the configured companies, before any judgement.
//!
//! Values that the map step must validate (dates, gender, employment type) stay as the text the
//! API sent, so that a finding can quote them. Texts that many records repeat (an employee's id
//! on each of their periods and default accounts, dates, dimension and account ids) are
//! [`SharedText`], so that the reader can hold each once.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A text that many records repeat, held once and shared. One pointer wide, where `Arc<str>`
/// is two: at 100,000 employees the default accounts alone hold about two million of them.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedText(Arc<Box<str>>);

impl SharedText {
    /// Whether the two are one copy of the text, not two equal ones.
    pub fn is_held_once_with(&self, other: &SharedText) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedText {
    fn from(text: &str) -> SharedText {
        SharedText(Arc::new(text.into()))
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> SharedText {
        SharedText(Arc::new(text.into_boxed_str()))
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedText, D::Error> {
        String::deserialize(deserializer).map(SharedText::from)
    }
}

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

/// One Flex employee record. A person employed by two companies has two records. Its own
/// texts are boxed (no spare capacity, a pointer narrower than `String`): a read holds 100,000.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEmployee {
    /// Flex `Id` (GUID as text). Becomes the Winningtemp external id.
    pub id: String,
    /// Flex `CompanyId` (GUID as text).
    pub company_id: SharedText,
    pub first_name: Option<Box<str>>,
    pub last_name: Option<Box<str>>,
    pub email_work: Option<Box<str>>,
    /// `DateOfBirth` as sent, e.g. `1990-03-12T00:00:00`.
    pub date_of_birth: Option<Box<str>>,
    /// `Gender` as sent: `"1"`, `"2"`, `"0"`, or a text value.
    pub gender: Option<Box<str>>,
    pub manager_id: Option<Box<str>>,
    pub employment_number: Option<Box<str>>,
    /// `Employment.EmploymentType` as sent: `"0"`, `"1"`, or a text such as `"Extern personal"`.
    pub employment_type: Option<SharedText>,
    /// Every other scalar field of the record, by its PascalCase name (`City`, `Country`, ...),
    /// as text; used by configured extra mappings and group levels.
    pub fields: BTreeMap<String, String>,
}

/// One Flex employment period. `to` = None is open-ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePeriod {
    pub id: Option<String>,
    pub employee_id: SharedText,
    pub from: Option<SharedText>,
    pub to: Option<SharedText>,
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
    pub employee_id: SharedText,
    pub dimension_id: SharedText,
    pub account_id: Option<SharedText>,
    pub account_code: Option<SharedText>,
    pub from: Option<SharedText>,
    pub to: Option<SharedText>,
}
