//! Tolerant reading of Flex API JSON: page envelopes and the API objects, turned into the
//! snapshot types of `flexsync-core` without ever failing a whole list for one odd record.
//!
//! Keys match case-insensitively (PascalCase or camelCase), every field may be missing or null,
//! ids and enums may come as numbers or text, and a field of the wrong shape is skipped and
//! reported as a [`FieldProblem`] while the rest of the record is kept.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use flexsync_core::snapshot::{
    SharedText, SourceAccount, SourceCompany, SourceDefaultAccount, SourceDimension,
    SourceEmployee, SourcePeriod,
};

use crate::json::{Json, Object};

/// One page of a list, whatever envelope it came in; its records borrow from the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<'a> {
    pub items: Vec<Json<'a>>,
    /// `TotalItemCount`, when the envelope carries one.
    pub total: Option<u64>,
}

/// Reads a list answer: `{"Items": [...], "TotalItemCount": n}` (any key case), an object whose
/// only array property holds the items, or a bare array. The items are moved, not copied.
pub fn parse_page(body: Json<'_>) -> Result<Page<'_>, String> {
    match body {
        Json::Array(items) => Ok(Page { items, total: None }),
        Json::Object(mut object) => {
            let total = field(&object, "TotalItemCount").and_then(as_count);
            let key = match items_key(&object) {
                Some(key) => key,
                None => {
                    // A key sent twice counts once.
                    let keys: std::collections::BTreeSet<&str> = object
                        .iter()
                        .filter(|(_, v)| v.is_array())
                        .map(|(k, _)| k)
                        .collect();
                    let mut arrays = keys.into_iter();
                    match (arrays.next(), arrays.next()) {
                        (Some(key), None) => key.to_string(),
                        (None, _) => return Err("the answer holds no list of items".to_string()),
                        (Some(_), Some(_)) => {
                            return Err("the answer holds several lists and no \"Items\"".into());
                        }
                    }
                }
            };
            let items = match object.take(&key) {
                Some(Json::Array(items)) => items,
                Some(Json::Null) | None => Vec::new(),
                Some(other) => {
                    return Err(format!("\"Items\" is {}, not a list", other.kind()));
                }
            };
            Ok(Page { items, total })
        }
        other => Err(format!("the answer is {}, not a list", other.kind())),
    }
}

/// The key that holds the items: `Items` in any case (the first in byte order).
fn items_key(object: &Object<'_>) -> Option<String> {
    if object.contains_key("Items") {
        return Some("Items".to_string());
    }
    object
        .iter()
        .map(|(key, _)| key)
        .filter(|key| key.eq_ignore_ascii_case("Items"))
        .min()
        .map(str::to_string)
}

/// A field of one record that could not be read as it is; the field is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// PascalCase field name, e.g. `FirstName` or `Employment.EmploymentType`.
    pub field: String,
    pub problem: String,
}

/// What reading one record gave: the record, unless it lacked what identifies it, and the
/// problems met on the way. `missing` names the identifying field that was absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub record: Result<T, Missing>,
    pub problems: Vec<FieldProblem>,
}

/// Why a record was dropped: it had no usable value for the named field, or it was no object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Field(&'static str),
    NotAnObject(&'static str),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Field(name) => write!(f, "no {name}"),
            Missing::NotAnObject(kind) => write!(f, "the record is {kind}, not an object"),
        }
    }
}

/// Collects the problems of one record while its fields are read.
struct Reader<'a> {
    map: &'a Object<'a>,
    prefix: &'static str,
    problems: Vec<FieldProblem>,
}

impl<'a> Reader<'a> {
    fn new(map: &'a Object<'a>, prefix: &'static str) -> Self {
        Reader {
            map,
            prefix,
            problems: Vec::new(),
        }
    }

    /// A scalar field as text; `None` when missing, null, or of the wrong shape (reported).
    fn text(&mut self, name: &str) -> Option<String> {
        self.scalar(name).map(Cow::into_owned)
    }

    /// [`Reader::text`], borrowed from the answer where it can be.
    fn scalar(&mut self, name: &str) -> Option<Cow<'a, str>> {
        let value = field(self.map, name)?;
        match scalar_text(value) {
            Ok(text) => text,
            Err(shape) => {
                self.problems.push(FieldProblem {
                    field: format!("{}{name}", self.prefix),
                    problem: format!("expected a text or number, found {shape}; skipped"),
                });
                None
            }
        }
    }

    /// A field that must be a JSON string (names, emails, dates); a number or other shape is
    /// reported and skipped.
    fn string(&mut self, name: &str) -> Option<String> {
        let value = field(self.map, name)?;
        match value {
            Json::Null => None,
            Json::String(text) => Some(text.to_string()),
            other => {
                self.problems.push(FieldProblem {
                    field: format!("{}{name}", self.prefix),
                    problem: format!("expected a text, found {}; skipped", other.kind()),
                });
                None
            }
        }
    }

    /// An identifier: text or number, not empty.
    fn id(&mut self, name: &str) -> Option<String> {
        self.scalar_id(name).map(Cow::into_owned)
    }

    /// [`Reader::id`], borrowed from the answer where it can be.
    fn scalar_id(&mut self, name: &str) -> Option<Cow<'a, str>> {
        let text = self.scalar(name)?;
        let trimmed = match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
            Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
        };
        (!trimmed.is_empty()).then_some(trimmed)
    }

    /// [`Reader::text`], held once in `texts` however many records carry it.
    fn shared(&mut self, name: &str, texts: &mut SharedTexts) -> Option<SharedText> {
        self.scalar(name).map(|text| texts.share(&text))
    }

    /// [`Reader::id`], held once in `texts`.
    fn shared_id(&mut self, name: &str, texts: &mut SharedTexts) -> Option<SharedText> {
        self.scalar_id(name).map(|id| texts.share(&id))
    }
}

/// Texts that many records repeat (an employee's id on each of their periods and default
/// accounts, dates, dimension and account ids), each held once for one list.
#[derive(Debug, Default)]
pub struct SharedTexts(HashSet<SharedText>);

impl SharedTexts {
    /// The one copy of `text`.
    pub fn share(&mut self, text: &str) -> SharedText {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared = SharedText::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

/// Reads one company. Drops it when it has no `Id`.
pub fn company(value: &Json<'_>) -> Parsed<SourceCompany> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let id = r.id("Id");
    let number = match r.text("CompanyNumber") {
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                r.problems.push(FieldProblem {
                    field: "CompanyNumber".to_string(),
                    problem: "not a whole number; skipped".to_string(),
                });
                None
            }
        },
        None => None,
    };
    let name = r.text("Name");
    finish(r, id.ok_or(Missing::Field("Id")), |id| SourceCompany {
        id,
        number,
        name,
    })
}

/// The fields of an employee that have their own place in [`SourceEmployee`]; every other
/// scalar field goes into `fields`.
const EMPLOYEE_KNOWN: [&str; 9] = [
    "Id",
    "CompanyId",
    "FirstName",
    "LastName",
    "EmailWork",
    "DateOfBirth",
    "Gender",
    "ImmediateManagerEmployeeId",
    "Employment",
];

/// Which of the fields without a place of their own a read keeps in `fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeptFields {
    /// Every scalar field (what `check` lists).
    #[default]
    All,
    /// Only these, by name ignoring ASCII case: `City`, or `Employment.Title` for a field of
    /// the employment.
    Named(Vec<String>),
}

impl KeptFields {
    /// Whether the field `key` under `prefix` (`""` or `"Employment."`) is kept.
    fn keeps(&self, prefix: &str, key: &str) -> bool {
        let KeptFields::Named(names) = self else {
            return true;
        };
        names.iter().any(|name| {
            name.len() == prefix.len() + key.len()
                && name
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                && name
                    .get(prefix.len()..)
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
        })
    }
}

/// Reads one employee. `company_id` is used when the record does not say its company; only
/// the `kept` fields go into `fields`.
pub fn employee(
    value: &Json<'_>,
    company_id: &str,
    kept: &KeptFields,
    texts: &mut SharedTexts,
) -> Parsed<SourceEmployee> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let id = r.id("Id");
    let company = r.shared_id("CompanyId", texts);
    let company = company.unwrap_or_else(|| texts.share(company_id));
    let first_name = r.string("FirstName");
    let last_name = r.string("LastName");
    let email_work = r.string("EmailWork");
    let date_of_birth = r.string("DateOfBirth");
    let gender = r.text("Gender");
    let manager_id = r.id("ImmediateManagerEmployeeId");

    let mut fields = scalar_fields(map, "", &EMPLOYEE_KNOWN, kept);
    let (employment_number, employment_type) = match employment(map, &mut r.problems) {
        Some(employment) => {
            let mut e = Reader::new(employment, "Employment.");
            let number = e.text("EmploymentNumber");
            let kind = e.text("EmploymentType");
            r.problems.append(&mut e.problems);
            fields.extend(scalar_fields(
                employment,
                "Employment.",
                &["EmploymentNumber", "EmploymentType"],
                kept,
            ));
            (number, kind)
        }
        // Some shapes carry the employment on the employee itself.
        None => {
            let number = r.text("EmploymentNumber");
            let kind = r.text("EmploymentType");
            fields.remove("EmploymentNumber");
            fields.remove("EmploymentType");
            (number, kind)
        }
    };

    finish(r, id.ok_or(Missing::Field("Id")), |id| SourceEmployee {
        id,
        company_id: company,
        first_name: first_name.map(String::into_boxed_str),
        last_name: last_name.map(String::into_boxed_str),
        email_work: email_work.map(String::into_boxed_str),
        date_of_birth: date_of_birth.map(String::into_boxed_str),
        gender: gender.map(String::into_boxed_str),
        manager_id: manager_id.map(String::into_boxed_str),
        employment_number: employment_number.map(String::into_boxed_str),
        employment_type: employment_type.map(|kind| texts.share(&kind)),
        fields,
    })
}

/// `Employment` as an object or a list of objects (the first is taken).
fn employment<'a, 'b>(
    map: &'b Object<'a>,
    problems: &mut Vec<FieldProblem>,
) -> Option<&'b Object<'a>> {
    match field(map, "Employment")? {
        Json::Object(employment) => Some(employment),
        Json::Array(list) => {
            let objects: Vec<&Object<'a>> = list.iter().filter_map(Json::as_object).collect();
            if objects.len() != list.len() || objects.len() > 1 {
                problems.push(FieldProblem {
                    field: "Employment".to_string(),
                    problem: format!(
                        "a list of {} entries where one employment was expected; the first \
                         employment is used",
                        list.len()
                    ),
                });
            }
            objects.first().copied()
        }
        Json::Null => None,
        other => {
            problems.push(FieldProblem {
                field: "Employment".to_string(),
                problem: format!("expected an object, found {}; skipped", other.kind()),
            });
            None
        }
    }
}

/// Reads one employment period, with the `kept` fields. Drops it when it names no employee.
pub fn period(
    value: &Json<'_>,
    kept: &KeptFields,
    texts: &mut SharedTexts,
) -> Parsed<SourcePeriod> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let id = r.id("Id");
    let employee_id = r.shared_id("EmployeeId", texts);
    let from = r.shared("FromDate", texts);
    let to = r.shared("ToDate", texts);
    let fields = scalar_fields(map, "", &["Id", "EmployeeId", "FromDate", "ToDate"], kept);
    finish(
        r,
        employee_id.ok_or(Missing::Field("EmployeeId")),
        |employee_id| SourcePeriod {
            id,
            employee_id,
            from,
            to,
            fields,
        },
    )
}

/// Reads one dimension (`AccountDistribution`) without its accounts, which are read apart.
pub fn dimension(value: &Json<'_>, company_id: &str) -> Parsed<SourceDimension> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let id = r.id("Id");
    let company = r.id("CompanyId").unwrap_or_else(|| company_id.to_string());
    let name = r.text("Name");
    if name.is_none() {
        r.problems.push(FieldProblem {
            field: "Name".to_string(),
            problem: "missing; the dimension has no name".to_string(),
        });
    }
    finish(r, id.ok_or(Missing::Field("Id")), |id| SourceDimension {
        id,
        company_id: company,
        name: name.unwrap_or_default(),
        accounts: Vec::new(),
    })
}

/// Reads one account of a dimension. Drops it without `Id` or without `Code` (the code is the
/// stable key of a group).
pub fn account(value: &Json<'_>) -> Parsed<SourceAccount> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let id = r.id("Id");
    let code = r.id("Code");
    let name = r.text("Name");
    let key = match (id, code) {
        (Some(id), Some(code)) => Ok((id, code)),
        (None, _) => Err(Missing::Field("Id")),
        (_, None) => Err(Missing::Field("Code")),
    };
    finish(r, key, |(id, code)| SourceAccount { id, code, name })
}

/// Reads one default account (`EmploymentDefaultAccount`). Drops it when it names no employee
/// or no dimension.
pub fn default_account(value: &Json<'_>, texts: &mut SharedTexts) -> Parsed<SourceDefaultAccount> {
    let Some(map) = value.as_object() else {
        return not_an_object(value);
    };
    let mut r = Reader::new(map, "");
    let employee_id = r.shared_id("EmployeeId", texts);
    let dimension_id = r.shared_id("AccountDistributionId", texts);
    let account_id = r.shared_id("AccountId", texts);
    let account_code = r.shared_id("AccountCode", texts);
    let from = r.shared("FromDate", texts);
    let to = r
        .shared("TomDate", texts)
        .or_else(|| r.shared("ToDate", texts));
    let key = match (employee_id, dimension_id) {
        (Some(e), Some(d)) => Ok((e, d)),
        (None, _) => Err(Missing::Field("EmployeeId")),
        (_, None) => Err(Missing::Field("AccountDistributionId")),
    };
    finish(r, key, |(employee_id, dimension_id)| SourceDefaultAccount {
        employee_id,
        dimension_id,
        account_id,
        account_code,
        from,
        to,
    })
}

/// The record's `Id` (or `EmployeeId`), for naming a record in a warning.
pub fn record_label(value: &Json<'_>) -> Option<String> {
    let map = value.as_object()?;
    ["Id", "EmployeeId"]
        .iter()
        .find_map(|name| field(map, name).and_then(|v| scalar_text(v).ok().flatten()))
        .map(Cow::into_owned)
}

/// The server's `Message` from an error body, if it sent one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value = Json::parse(body).ok()?;
    let text = match &value {
        Json::Object(map) => field(map, "Message").and_then(Json::as_str)?,
        Json::String(text) => text,
        _ => return None,
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // Whole: the caller scrubs secrets from it before cutting it short.
    Some(text.to_string())
}

fn finish<K, T>(r: Reader<'_>, key: Result<K, Missing>, build: impl FnOnce(K) -> T) -> Parsed<T> {
    Parsed {
        record: key.map(build),
        problems: r.problems,
    }
}

fn not_an_object<T>(value: &Json<'_>) -> Parsed<T> {
    Parsed {
        record: Err(Missing::NotAnObject(value.kind())),
        problems: Vec::new(),
    }
}

/// A key of an object: the exact name first, then any case.
pub fn field<'a, 'b>(map: &'b Object<'a>, name: &str) -> Option<&'b Json<'a>> {
    map.get_ignoring_case(name)
}

/// A scalar as text: `Ok(None)` for null, `Err(shape)` for a list or an object.
fn scalar_text<'b>(value: &'b Json<'_>) -> Result<Option<Cow<'b, str>>, &'static str> {
    match value {
        Json::Null => Ok(None),
        Json::String(text) => Ok(Some(Cow::Borrowed(text))),
        Json::Bool(b) => Ok(Some(Cow::Owned(b.to_string()))),
        Json::Number(n) => Ok(Some(Cow::Owned(number_text(n)))),
        other => Err(other.kind()),
    }
}

/// Whole numbers sent as `1.0` read as `1`, so that `Gender` and `EmploymentType` compare.
fn number_text(n: &serde_json::Number) -> String {
    if n.is_f64()
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 1e15
    {
        return format!("{}", f as i64);
    }
    n.to_string()
}

/// Every non-null scalar field not in `known` and `kept`, by PascalCase name with `prefix`.
fn scalar_fields(
    map: &Object<'_>,
    prefix: &str,
    known: &[&str],
    kept: &KeptFields,
) -> BTreeMap<String, String> {
    // A key sent twice keeps its last value; the spellings are then taken in byte order.
    let members: BTreeMap<&str, &Json<'_>> = map
        .iter()
        .filter(|(key, _)| !known.iter().any(|k| k.eq_ignore_ascii_case(key)))
        .filter(|(key, _)| kept.keeps(prefix, key))
        .collect();
    let mut out = BTreeMap::new();
    for (key, value) in members {
        let Ok(Some(text)) = scalar_text(value) else {
            continue;
        };
        let name = format!("{prefix}{}", pascal_case(key));
        // When a key comes in two spellings, the PascalCase one wins.
        if !out.contains_key(&name) || key == pascal_case(key) {
            out.insert(name, text.into_owned());
        }
    }
    out
}

fn pascal_case(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn as_count(value: &Json<'_>) -> Option<u64> {
    match value {
        Json::Number(n) => n.as_u64(),
        Json::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Runs `read` on the value as it would come in an answer.
    fn from_answer<R>(value: &Value, read: impl FnOnce(&Json<'_>) -> R) -> R {
        let text = value.to_string();
        read(&Json::parse(text.as_bytes()).unwrap())
    }

    /// [`super::parse_page`] on the value as an answer, the items as `serde_json` values.
    fn parse_page(value: &Value) -> Result<(Vec<Value>, Option<u64>), String> {
        let text = value.to_string();
        let page = super::parse_page(Json::parse(text.as_bytes()).unwrap())?;
        Ok((page.items.iter().map(Value::from).collect(), page.total))
    }

    fn employee(value: &Value, company_id: &str, kept: &KeptFields) -> Parsed<SourceEmployee> {
        from_answer(value, |json| {
            super::employee(json, company_id, kept, &mut SharedTexts::default())
        })
    }

    fn period(value: &Value, kept: &KeptFields) -> Parsed<SourcePeriod> {
        from_answer(value, |json| {
            super::period(json, kept, &mut SharedTexts::default())
        })
    }

    fn dimension(value: &Value, company_id: &str) -> Parsed<SourceDimension> {
        from_answer(value, |json| super::dimension(json, company_id))
    }

    fn account(value: &Value) -> Parsed<SourceAccount> {
        from_answer(value, super::account)
    }

    fn default_account(value: &Value) -> Parsed<SourceDefaultAccount> {
        from_answer(value, |json| {
            super::default_account(json, &mut SharedTexts::default())
        })
    }

    fn company(value: &Value) -> Parsed<SourceCompany> {
        from_answer(value, super::company)
    }

    fn record_label(value: &Value) -> Option<String> {
        from_answer(value, super::record_label)
    }

    #[test]
    fn page_envelopes_in_every_accepted_shape() {
        let pascal = json!({"PageIndex": 0, "PageSize": 2, "TotalItemCount": 3, "Items": [1, 2]});
        assert_eq!(
            parse_page(&pascal).unwrap(),
            (vec![json!(1), json!(2)], Some(3))
        );
        let camel = json!({"totalItemCount": "3", "items": [1]});
        assert_eq!(parse_page(&camel).unwrap(), (vec![json!(1)], Some(3)));
        let only_array = json!({"Count": 1, "Employees": [{"Id": "a"}]});
        assert_eq!(parse_page(&only_array).unwrap().0.len(), 1);
        let bare = json!([{"Id": "a"}, {"Id": "b"}]);
        assert_eq!(parse_page(&bare).unwrap().0.len(), 2);
        assert_eq!(parse_page(&bare).unwrap().1, None);
        let null_items = json!({"TotalItemCount": 0, "Items": null});
        assert!(parse_page(&null_items).unwrap().0.is_empty());
    }

    #[test]
    fn page_envelopes_that_hold_no_list_are_refused() {
        assert!(parse_page(&json!({"Message": "hi"})).is_err());
        assert!(parse_page(&json!({"A": [], "B": []})).is_err());
        assert!(parse_page(&json!({"Items": "x"})).is_err());
        assert!(parse_page(&json!("text")).is_err());
        assert!(parse_page(&Value::Null).is_err());
    }

    #[test]
    fn employee_in_pascal_case_keeps_every_field() {
        let value = json!({
            "Id": "e1", "CompanyId": "c1", "FirstName": "Sara", "LastName": "Nilsson",
            "Name": "Sara Nilsson", "DateOfBirth": "1981-02-14T00:00:00", "Gender": 2,
            "EmailWork": "sara@example.se", "EmailPrivate": null,
            "ImmediateManagerEmployeeId": null, "City": "Uppsala", "IsInAuditProcess": false,
            "Employment": {"EmploymentNumber": "A1", "EmploymentType": 0, "Title": "Chef"}
        });
        let parsed = employee(&value, "other", &KeptFields::All);
        assert!(parsed.problems.is_empty());
        let e = parsed.record.unwrap();
        assert_eq!(e.id, "e1");
        assert_eq!(&*e.company_id, "c1");
        assert_eq!(e.first_name.as_deref(), Some("Sara"));
        assert_eq!(e.date_of_birth.as_deref(), Some("1981-02-14T00:00:00"));
        assert_eq!(e.gender.as_deref(), Some("2"));
        assert_eq!(e.manager_id, None);
        assert_eq!(e.employment_number.as_deref(), Some("A1"));
        assert_eq!(e.employment_type.as_deref(), Some("0"));
        let keys: Vec<&str> = e.fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["City", "Employment.Title", "IsInAuditProcess", "Name"],
            "null fields and the fields with their own place are left out"
        );
        assert_eq!(e.fields["IsInAuditProcess"], "false");
    }

    #[test]
    fn a_read_for_a_sync_keeps_only_the_named_fields() {
        let value = json!({
            "Id": "e1", "City": "Lund", "Country": "SE", "costCenter": "100",
            "Employment": {"EmploymentNumber": "7", "Title": "Chef", "Grade": "3"}
        });
        let kept = KeptFields::Named(vec![
            "city".into(),
            "CostCenter".into(),
            "Employment.TITLE".into(),
        ]);
        let e = employee(&value, "c1", &kept).record.unwrap();
        let keys: Vec<&str> = e.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["City", "CostCenter", "Employment.Title"]);
        assert_eq!(
            e.employment_number.as_deref(),
            Some("7"),
            "own places are always read"
        );
        let p = period(
            &json!({"EmployeeId": "e1", "Title": "Chef", "Grade": "3"}),
            &kept,
        );
        assert!(
            p.record.unwrap().fields.is_empty(),
            "no period field is named"
        );
    }

    #[test]
    fn employee_in_camel_case_with_odd_shapes() {
        let value = json!({
            "id": 42, "firstName": "Ali", "gender": "Man", "dateOfBirth": "1990-12-12T00:00:00.000+01:00",
            "immediateManagerEmployeeId": "m1", "city": "Lund",
            "employment": [{"employmentNumber": 7, "employmentType": "Extern personal"}]
        });
        let parsed = employee(&value, "c9", &KeptFields::All);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let e = parsed.record.unwrap();
        assert_eq!(e.id, "42");
        assert_eq!(
            &*e.company_id, "c9",
            "the company read falls in when the record names none"
        );
        assert_eq!(e.gender.as_deref(), Some("Man"));
        assert_eq!(
            e.date_of_birth.as_deref(),
            Some("1990-12-12T00:00:00.000+01:00")
        );
        assert_eq!(e.manager_id.as_deref(), Some("m1"));
        assert_eq!(e.employment_number.as_deref(), Some("7"));
        assert_eq!(e.employment_type.as_deref(), Some("Extern personal"));
        assert_eq!(e.fields.get("City").map(String::as_str), Some("Lund"));
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_skipped_and_the_record_kept() {
        let value = json!({
            "Id": "e1", "FirstName": {"x": 1}, "LastName": "Berg", "Gender": [1],
            "Employment": "full time"
        });
        let parsed = employee(&value, "c1", &KeptFields::All);
        let e = parsed.record.unwrap();
        assert_eq!(e.first_name, None);
        assert_eq!(e.gender, None);
        assert_eq!(e.last_name.as_deref(), Some("Berg"));
        let fields: Vec<&str> = parsed.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["FirstName", "Gender", "Employment"]);
    }

    #[test]
    fn names_emails_and_dates_must_be_text_but_ids_and_codes_may_be_numbers() {
        let value = json!({
            "Id": 17, "FirstName": 42, "LastName": true, "EmailWork": 1.5,
            "DateOfBirth": 19900312, "Gender": 2
        });
        let parsed = employee(&value, "c1", &KeptFields::All);
        let e = parsed.record.unwrap();
        assert_eq!(e.id, "17");
        assert_eq!(e.gender.as_deref(), Some("2"));
        assert_eq!(
            (e.first_name, e.last_name, e.email_work),
            (None, None, None)
        );
        assert_eq!(e.date_of_birth, None);
        let fields: Vec<&str> = parsed.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["FirstName", "LastName", "EmailWork", "DateOfBirth"]
        );
    }

    #[test]
    fn records_without_their_key_are_dropped() {
        assert_eq!(
            employee(&json!({"FirstName": "X"}), "c", &KeptFields::All).record,
            Err(Missing::Field("Id"))
        );
        assert_eq!(
            employee(&json!({"Id": "  "}), "c", &KeptFields::All).record,
            Err(Missing::Field("Id"))
        );
        assert_eq!(
            employee(&json!("e1"), "c", &KeptFields::All).record,
            Err(Missing::NotAnObject("a text"))
        );
        assert_eq!(
            period(&json!({"Id": "p"}), &KeptFields::All).record,
            Err(Missing::Field("EmployeeId"))
        );
        assert_eq!(
            account(&json!({"Id": "a"})).record,
            Err(Missing::Field("Code"))
        );
        assert_eq!(
            default_account(&json!({"EmployeeId": "e"})).record,
            Err(Missing::Field("AccountDistributionId"))
        );
    }

    #[test]
    fn periods_accounts_and_default_accounts() {
        let p = period(&json!({"id": "p1", "employeeId": "e1", "fromDate": "2020-01-01T00:00:00", "toDate": null}), &KeptFields::All)
            .record
            .unwrap();
        assert_eq!(&*p.employee_id, "e1");
        assert_eq!(p.from.as_deref(), Some("2020-01-01T00:00:00"));
        assert_eq!(p.to, None);
        let a = account(&json!({"Id": "a1", "Code": 200, "Name": "Ekonomi"}))
            .record
            .unwrap();
        assert_eq!(a.code, "200");
        let d = default_account(&json!({
            "EmployeeId": "e1", "AccountDistributionId": "d1", "AccountId": "a1",
            "AccountCode": "200", "FromDate": "2021-09-01T00:00:00", "TomDate": "2022-01-01T00:00:00"
        }))
        .record
        .unwrap();
        assert_eq!(d.to.as_deref(), Some("2022-01-01T00:00:00"));
        assert_eq!(d.account_code.as_deref(), Some("200"));
        let c = company(&json!({"Id": "c1", "CompanyNumber": "1010", "Name": "AB"}))
            .record
            .unwrap();
        assert_eq!(c.number, Some(1010));
    }

    #[test]
    fn a_key_sent_twice_keeps_its_last_value() {
        let text = br#"{"Id": "e1", "city": "a", "city": "b", "Unit": "x", "Unit": null,
                        "Employees": [{"Id": "e1"}], "Employees": [{"Id": "e2"}]}"#;
        let json = Json::parse(text).unwrap();
        let e = super::employee(&json, "c1", &KeptFields::All, &mut SharedTexts::default())
            .record
            .unwrap();
        assert_eq!(e.fields.get("City").map(String::as_str), Some("b"));
        assert_eq!(e.fields.get("Unit"), None, "its last value is null");
        let page = super::parse_page(json).unwrap();
        assert_eq!(
            page.items.len(),
            1,
            "one list, sent twice, is not two lists"
        );
    }

    #[test]
    fn texts_repeated_across_records_are_held_once() {
        let mut texts = SharedTexts::default();
        let a = json!({"EmployeeId": "e1", "AccountDistributionId": "d1", "AccountCode": 200,
                       "FromDate": "2021-09-01T00:00:00"});
        let b = json!({"EmployeeId": " e1 ", "AccountDistributionId": "d1", "AccountCode": "200",
                       "FromDate": "2021-09-01T00:00:00"});
        let [a, b] = [a, b].map(|value| {
            from_answer(&value, |json| super::default_account(json, &mut texts))
                .record
                .unwrap()
        });
        assert_eq!(
            a, b,
            "ids are trimmed, and numbers read as text, before they are shared"
        );
        assert!(a.employee_id.is_held_once_with(&b.employee_id));
        assert!(a.dimension_id.is_held_once_with(&b.dimension_id));
        let from = |d: &SourceDefaultAccount| d.from.clone().unwrap();
        assert!(from(&a).is_held_once_with(&from(&b)));
    }

    #[test]
    fn whole_numbers_sent_as_decimals_read_as_whole_numbers() {
        let e = employee(&json!({"Id": "e", "Gender": 1.0}), "c", &KeptFields::All)
            .record
            .unwrap();
        assert_eq!(e.gender.as_deref(), Some("1"));
    }

    #[test]
    fn parsing_never_panics_on_any_shape() {
        let shapes = [
            json!(null),
            json!(true),
            json!(1.5),
            json!("x"),
            json!([]),
            json!({}),
            json!([null, {"a": []}]),
            json!({"Items": {}}),
        ];
        for a in &shapes {
            let mut record = serde_json::Map::new();
            for key in [
                "Id",
                "CompanyId",
                "Employment",
                "EmployeeId",
                "Code",
                "AccountDistributionId",
                "CompanyNumber",
                "Items",
                "TotalItemCount",
            ] {
                record.insert(key.to_string(), a.clone());
            }
            let record = Value::Object(record);
            for value in [a, &record] {
                let _ = parse_page(value);
                let _ = employee(value, "c", &KeptFields::All);
                let _ = period(value, &KeptFields::All);
                let _ = dimension(value, "c");
                let _ = account(value);
                let _ = default_account(value);
                let _ = company(value);
                let _ = record_label(value);
            }
        }
    }

    #[test]
    fn error_messages_are_read_from_json_bodies_only() {
        assert_eq!(
            error_message(br#"{"Message": "nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(br#"{"message": "x"}"#).as_deref(), Some("x"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
