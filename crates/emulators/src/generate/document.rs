//! The Flex data document as typed records, in the emulator's data-file format
//! (`flex-hrm-api.md` section 4): what `generate` builds and `apply_changes` edits. Keys a record
//! does not name are kept in its `extra` and written back as they came.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::day::Day;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Document {
    pub instance: String,
    #[serde(default)]
    pub api_users: Vec<ApiUser>,
    #[serde(default)]
    pub companies: Vec<Company>,
    #[serde(default)]
    pub employees: Vec<Employee>,
    #[serde(default)]
    pub employment_periods: Vec<EmploymentPeriod>,
    /// The dimensions, each with its accounts.
    #[serde(default)]
    pub account_distributions: Vec<AccountDistribution>,
    #[serde(default)]
    pub employment_default_accounts: Vec<EmploymentDefaultAccount>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Document {
    /// The document as JSON (serialising cannot fail: every map key is a string).
    pub fn into_value(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiUser {
    pub username: String,
    pub password: String,
    /// `None`: every company.
    pub company_ids: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Company {
    pub id: String,
    pub company_number: u64,
    pub name: String,
    pub organization_number: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Employee {
    pub id: String,
    pub instance_id: String,
    pub company_id: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub date_of_birth: String,
    /// 1 man, 2 woman, 0 unknown.
    pub gender: Option<u8>,
    pub email_work: Option<String>,
    pub email_private: Option<String>,
    pub immediate_manager_employee_id: Option<String>,
    pub city: String,
    pub country: String,
    pub is_in_audit_process: bool,
    pub employment: Employment,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Employment {
    pub employment_number: String,
    /// 1: external.
    pub employment_type: u8,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Employment {
    pub fn new(number: String, external: bool) -> Employment {
        Employment {
            employment_number: number,
            employment_type: u8::from(external),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EmploymentPeriod {
    pub id: String,
    pub instance_id: String,
    pub company_id: String,
    pub employee_id: String,
    pub from_date: String,
    pub to_date: Option<String>,
    pub employment_type_id: Option<String>,
    pub title_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmploymentPeriod {
    pub fn new(id: String, owner: Owner, from: Day, to: Option<Day>) -> EmploymentPeriod {
        EmploymentPeriod {
            id,
            instance_id: owner.instance.to_string(),
            company_id: owner.company.to_string(),
            employee_id: owner.employee.to_string(),
            from_date: from.iso(),
            to_date: to.map(Day::iso),
            employment_type_id: None,
            title_id: None,
            extra: Map::new(),
        }
    }
}

/// A dimension ("Kontor", "Avdelning", "Team") of one company.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountDistribution {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub accounts: Vec<Account>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub id: String,
    pub code: String,
    pub name: String,
    pub active_from_date: String,
    pub active_tom_date: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An employee's account in one dimension from `FromDate` up to and including `TomDate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EmploymentDefaultAccount {
    pub id: String,
    pub instance_id: String,
    pub company_id: String,
    pub employee_id: String,
    pub account_distribution_id: String,
    pub account_id: String,
    pub account_code: String,
    pub from_date: String,
    pub tom_date: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmploymentDefaultAccount {
    /// `owner`'s row for `account`, open from `from` on.
    pub fn open(
        id: String,
        owner: Owner,
        account: AccountRef,
        from: Day,
    ) -> EmploymentDefaultAccount {
        EmploymentDefaultAccount {
            id,
            instance_id: owner.instance.to_string(),
            company_id: owner.company.to_string(),
            employee_id: owner.employee.to_string(),
            account_distribution_id: account.dimension.to_string(),
            account_id: account.account.to_string(),
            account_code: account.code.to_string(),
            from_date: from.iso(),
            tom_date: None,
            extra: Map::new(),
        }
    }
}

/// The instance, company and employee an employee's records belong to.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub instance: &'a str,
    pub company: &'a str,
    pub employee: &'a str,
}

/// One account of one dimension, as a default-account row names it.
#[derive(Debug, Clone, Copy)]
pub struct AccountRef<'a> {
    pub dimension: &'a str,
    pub account: &'a str,
    pub code: &'a str,
}
