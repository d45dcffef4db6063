//! The Flex emulator's data file (`docs/flex-hrm-api.md` section 4): API objects kept as JSON values
//! so they are served exactly as the file holds them, and the indexes the routes look them up by.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum FlexDataError {
    #[error("could not read the Flex data file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the Flex data file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the Flex data file does not fit the format: {0}")]
    Shape(String),
}

/// One API user of the emulated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUser {
    pub username: String,
    pub password: String,
    /// Company GUIDs (or numbers, as text) this user may read; `None` = every company.
    pub company_ids: Option<Vec<String>>,
}

/// A parsed data file. Records stay JSON values: unknown keys are kept and served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlexData {
    pub instance: String,
    pub api_users: Vec<ApiUser>,
    pub companies: Vec<Value>,
    pub employees: Vec<Value>,
    pub employment_periods: Vec<Value>,
    /// Each with its nested `Accounts`.
    pub account_distributions: Vec<Value>,
    pub employment_default_accounts: Vec<Value>,
}

impl FlexData {
    pub fn load(path: impl AsRef<Path>) -> Result<FlexData, FlexDataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FlexDataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        FlexData::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<FlexData, FlexDataError> {
        FlexData::from_value(serde_json::from_str(text)?)
    }

    pub fn from_value(value: Value) -> Result<FlexData, FlexDataError> {
        let Value::Object(mut root) = value else {
            return Err(FlexDataError::Shape("the document is not an object".into()));
        };
        let instance = match get(&root, "Instance") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(FlexDataError::Shape("\"Instance\" is missing".into())),
        };
        let mut api_users = Vec::new();
        for (index, user) in list(&mut root, "ApiUsers")?.iter().enumerate() {
            api_users.push(api_user(user).ok_or_else(|| {
                FlexDataError::Shape(format!(
                    "ApiUsers[{index}] needs a Username, a Password and CompanyIds null or a list"
                ))
            })?);
        }
        Ok(FlexData {
            instance,
            api_users,
            companies: list(&mut root, "Companies")?,
            employees: list(&mut root, "Employees")?,
            employment_periods: list(&mut root, "EmploymentPeriods")?,
            account_distributions: list(&mut root, "AccountDistributions")?,
            employment_default_accounts: list(&mut root, "EmploymentDefaultAccounts")?,
        })
    }

    /// The data file this data was read from (unknown top-level keys are not kept).
    pub fn to_value(&self) -> Value {
        let users: Vec<Value> = self
            .api_users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "Username": u.username,
                    "Password": u.password,
                    "CompanyIds": u.company_ids,
                })
            })
            .collect();
        serde_json::json!({
            "Instance": self.instance,
            "ApiUsers": users,
            "Companies": self.companies,
            "Employees": self.employees,
            "EmploymentPeriods": self.employment_periods,
            "AccountDistributions": self.account_distributions,
            "EmploymentDefaultAccounts": self.employment_default_accounts,
        })
    }
}

fn api_user(value: &Value) -> Option<ApiUser> {
    let map = value.as_object()?;
    let username = get(map, "Username")?.as_str()?.to_string();
    let password = get(map, "Password")?.as_str()?.to_string();
    let company_ids = match get(map, "CompanyIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) => Some(ids.iter().filter_map(text).collect()),
        Some(_) => return None,
    };
    Some(ApiUser {
        username,
        password,
        company_ids,
    })
}

/// Takes the list `name` out of the document (no copy of its records).
fn list(root: &mut Map<String, Value>, name: &str) -> Result<Vec<Value>, FlexDataError> {
    let key = if root.contains_key(name) {
        Some(name.to_string())
    } else {
        root.keys()
            .find(|key| key.eq_ignore_ascii_case(name))
            .cloned()
    };
    match key.and_then(|key| root.remove(&key)) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            if let Some(index) = items.iter().position(|v| !v.is_object()) {
                return Err(FlexDataError::Shape(format!(
                    "{name}[{index}] is not an object"
                )));
            }
            Ok(items)
        }
        Some(_) => Err(FlexDataError::Shape(format!("{name} is not a list"))),
    }
}

/// A key of an object: the exact name first, then any case.
pub(crate) fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A field of a record as text (strings and numbers), for matching and sorting.
pub(crate) fn field_text(record: &Value, name: &str) -> Option<String> {
    record.as_object().and_then(|m| get(m, name)).and_then(text)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `Employment` object of an employee, also when it is sent as a one-element list.
pub(crate) fn employment(record: &Value) -> Option<&Value> {
    match record.as_object().and_then(|m| get(m, "Employment"))? {
        Value::Array(list) => list.first(),
        other => Some(other),
    }
}

/// The data, sorted and indexed the way the routes serve it. Each list is moved out of `data`
/// (one copy of every record) and sliced by company once, so a page costs what it holds.
#[derive(Debug, Default)]
pub(crate) struct Served {
    /// The instance, API users and account distributions; its other lists are moved out below.
    pub data: FlexData,
    /// Employees sorted by employment number, then `Id`.
    pub employees: Listed,
    /// Periods and default accounts sorted by their employee's order, then `Id`.
    pub periods: Listed,
    pub default_accounts: Listed,
    pub companies: Vec<Value>,
    /// Lowercase id -> company id (lowercase) of each employee.
    pub employee_company: BTreeMap<String, String>,
    /// Lowercase id -> position in `employees` (the first of that id).
    employee_at: BTreeMap<String, usize>,
}

/// One list in the order it is served, with the company (lowercase GUID) of each record.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub records: Vec<Value>,
    /// The company of `records[i]`, if it has one.
    pub owners: Vec<Option<String>>,
    /// Company -> the positions of its records, in order.
    pub by_company: BTreeMap<String, Vec<usize>>,
}

impl Listed {
    fn new(records: Vec<Value>, owner: impl Fn(&Value) -> Option<String>) -> Listed {
        let owners: Vec<Option<String>> = records.iter().map(owner).collect();
        let mut by_company: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (at, company) in owners.iter().enumerate() {
            if let Some(company) = company {
                by_company.entry(company.clone()).or_default().push(at);
            }
        }
        Listed {
            records,
            owners,
            by_company,
        }
    }

    /// The records of one company, in order.
    pub fn of(&self, company: &str) -> Vec<&Value> {
        self.by_company
            .get(company)
            .map(|at| at.iter().map(|&i| &self.records[i]).collect())
            .unwrap_or_default()
    }
}

impl Served {
    pub fn new(mut data: FlexData) -> Served {
        let mut employees = std::mem::take(&mut data.employees);
        employees.sort_by_cached_key(|e| {
            (
                employment(e).and_then(|x| field_text(x, "EmploymentNumber")),
                field_text(e, "Id"),
            )
        });
        let mut order: BTreeMap<String, usize> = BTreeMap::new();
        for (at, employee) in employees.iter().enumerate() {
            if let Some(id) = field_text(employee, "Id") {
                order.entry(id.to_ascii_lowercase()).or_insert(at);
            }
        }
        let by_employee = |mut records: Vec<Value>| {
            records.sort_by_cached_key(|r| {
                (
                    field_text(r, "EmployeeId")
                        .and_then(|id| order.get(&id.to_ascii_lowercase()).copied())
                        .unwrap_or(usize::MAX),
                    field_text(r, "Id"),
                )
            });
            records
        };
        let periods = by_employee(std::mem::take(&mut data.employment_periods));
        let default_accounts = by_employee(std::mem::take(&mut data.employment_default_accounts));
        let mut companies = std::mem::take(&mut data.companies);
        companies.sort_by_key(|c| {
            (
                c.as_object()
                    .and_then(|m| get(m, "CompanyNumber"))
                    .and_then(Value::as_i64),
                field_text(c, "Id"),
            )
        });
        let employee_company: BTreeMap<String, String> = employees
            .iter()
            .filter_map(|e| {
                Some((
                    field_text(e, "Id")?.to_ascii_lowercase(),
                    field_text(e, "CompanyId")?.to_ascii_lowercase(),
                ))
            })
            .collect();
        let owner = |record: &Value| company_of(&employee_company, record);
        Served {
            employees: Listed::new(employees, owner),
            periods: Listed::new(periods, owner),
            default_accounts: Listed::new(default_accounts, owner),
            data,
            companies,
            employee_company,
            employee_at: order,
        }
    }

    /// The company (lowercase GUID) a record belongs to: its `CompanyId`, or its employee's.
    pub fn company_of(&self, record: &Value) -> Option<String> {
        company_of(&self.employee_company, record)
    }

    pub fn company(&self, id: &str) -> Option<&Value> {
        self.companies
            .iter()
            .find(|c| field_text(c, "Id").is_some_and(|c| c.eq_ignore_ascii_case(id)))
    }

    pub fn company_by_number(&self, number: i64) -> Option<&Value> {
        self.companies.iter().find(|c| {
            c.as_object()
                .and_then(|m| get(m, "CompanyNumber"))
                .and_then(|n| n.as_i64().or_else(|| n.as_str()?.trim().parse().ok()))
                == Some(number)
        })
    }

    pub fn employee(&self, id: &str) -> Option<&Value> {
        let at = *self.employee_at.get(&id.to_ascii_lowercase())?;
        self.employees.records.get(at)
    }

    pub fn distribution(&self, id: &str) -> Option<&Value> {
        self.data
            .account_distributions
            .iter()
            .find(|d| field_text(d, "Id").is_some_and(|d| d.eq_ignore_ascii_case(id)))
    }
}

fn company_of(employee_company: &BTreeMap<String, String>, record: &Value) -> Option<String> {
    field_text(record, "CompanyId")
        .map(|c| c.to_ascii_lowercase())
        .or_else(|| {
            let employee = field_text(record, "EmployeeId")?.to_ascii_lowercase();
            employee_company.get(&employee).cloned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use flexsync_testkit::fixtures::FLEX_SMALL as EXAMPLE;

    #[test]
    fn reads_the_example_file_as_it_is() {
        let data = FlexData::from_json(EXAMPLE).unwrap();
        assert_eq!(data.instance, "1234");
        assert_eq!(data.api_users.len(), 1);
        assert_eq!(data.api_users[0].company_ids, None);
        assert_eq!(data.companies.len(), 1);
        assert_eq!(data.employees.len(), 4);
        assert_eq!(data.employment_periods.len(), 4);
        assert_eq!(data.account_distributions.len(), 2);
        assert_eq!(data.employment_default_accounts.len(), 8);
        let again = FlexData::from_value(data.to_value()).unwrap();
        assert_eq!(again, data);
    }

    #[test]
    fn refuses_files_that_do_not_fit() {
        assert!(matches!(
            FlexData::from_json("[]"),
            Err(FlexDataError::Shape(_))
        ));
        assert!(matches!(
            FlexData::from_json(r#"{"Employees": []}"#),
            Err(FlexDataError::Shape(_))
        ));
        assert!(matches!(
            FlexData::from_json(r#"{"Instance": "1", "Employees": {}}"#),
            Err(FlexDataError::Shape(_))
        ));
        assert!(matches!(
            FlexData::from_json(r#"{"Instance": "1", "Employees": [1]}"#),
            Err(FlexDataError::Shape(_))
        ));
        assert!(matches!(
            FlexData::from_json("{"),
            Err(FlexDataError::Json(_))
        ));
    }

    #[test]
    fn employees_are_served_by_employment_number_then_id() {
        let data = FlexData::from_json(
            r#"{"Instance": 7, "Employees": [
                {"Id": "b", "Employment": {"EmploymentNumber": "2"}},
                {"Id": "c", "Employment": [{"EmploymentNumber": "1"}]},
                {"Id": "a", "Employment": {"EmploymentNumber": "2"}}]}"#,
        )
        .unwrap();
        assert_eq!(data.instance, "7");
        let served = Served::new(data);
        let ids: Vec<String> = served
            .employees
            .records
            .iter()
            .filter_map(|e| field_text(e, "Id"))
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }
}
