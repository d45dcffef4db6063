//! The routes of the emulated Flex Web API: authentication, per-company access, filters, paging
//! and the injected page faults.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use super::data::{ApiUser, Listed, Served, employment, field_text, get as get_field};
use super::{FlexEmulator, ListStyle, PageFaultKind};
use crate::knobs;

/// Resource names used by the page-fault knob.
pub const EMPLOYEES: &str = "employees";
pub const EMPLOYMENT_PERIODS: &str = "employmentperiods";
pub const COMPANIES: &str = "companies";
pub const ACCOUNT_DISTRIBUTIONS: &str = "accountdistributions";
pub const ACCOUNTS: &str = "accounts";
pub const DEFAULT_ACCOUNTS: &str = "employmentdefaultaccounts";

const MAX_PAGE_SIZE: i64 = 1000;

/// The API under both `/webapi/api` and `/api`.
pub fn router(emulator: FlexEmulator) -> Router {
    let api = Router::new()
        .route("/employees", get(employees))
        .route("/employees/{id}", get(employee))
        .route("/employees/{id}/employmentperiods", get(employee_periods))
        .route("/employmentperiods", get(employment_periods))
        .route("/companies", get(companies))
        .route("/companies/{id}", get(company))
        .route("/instance/{instance}/companies", get(instance_companies))
        .route(
            "/companies/{id}/accountdistributions",
            get(account_distributions),
        )
        .route("/accountdistributions/{id}/accounts", get(accounts))
        .route("/employmentdefaultaccounts", get(default_accounts))
        .route_layer(axum::middleware::from_fn_with_state(
            emulator.knobs(),
            knobs::apply,
        ))
        .with_state(emulator);
    Router::new()
        .nest("/webapi/api", api.clone())
        .nest("/api", api)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
}

/// An error answer: `{"Message": "..."}`, with `WWW-Authenticate` on 401.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "Message": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Flex HRM\""),
            );
        }
        response
    }
}

type Answer = Result<Response, ApiError>;

/// What every request starts with: the emulator, its data, the authenticated caller, and the
/// query with lowercase keys. Extracting it answers 401 or 400 before any handler runs.
struct Call {
    emulator: FlexEmulator,
    served: Arc<Served>,
    user: ApiUser,
    params: BTreeMap<String, String>,
}

impl FromRequestParts<FlexEmulator> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        emulator: &FlexEmulator,
    ) -> Result<Call, ApiError> {
        let query = Query::<Vec<(String, String)>>::from_request_parts(parts, emulator).await;
        let served = emulator.served();
        let user = authenticate(&served, &parts.headers)?;
        let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let params = pairs
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Ok(Call {
            emulator: emulator.clone(),
            served,
            user,
            params,
        })
    }
}

impl Call {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// May the caller read the company with this (lowercase) GUID?
    fn may_read(&self, company_id: &str) -> bool {
        let Some(allowed) = &self.user.company_ids else {
            return true;
        };
        let number = self
            .served
            .company(company_id)
            .and_then(|c| field_text(c, "CompanyNumber"));
        allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(company_id) || number.as_deref() == Some(a.trim()))
    }

    fn check_company(&self, company_id: &str) -> Result<(), ApiError> {
        if self.may_read(company_id) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the API user may not read this company",
            ))
        }
    }

    /// The `companyId` filter, checked: `None` when absent.
    fn company_filter(&self) -> Result<Option<String>, ApiError> {
        match self.param("companyid") {
            None => Ok(None),
            Some(id) => {
                let id = guid(id, "companyId")?;
                self.check_company(&id)?;
                Ok(Some(id))
            }
        }
    }

    /// The records of `company` (or of every company this user may read), by reference: only
    /// the page served is ever copied.
    fn of_company<'r>(&self, list: &'r Listed, company: Option<&str>) -> Vec<&'r Value> {
        if let Some(company) = company {
            return list.of(company);
        }
        let mut readable: BTreeMap<&str, bool> = BTreeMap::new();
        list.records
            .iter()
            .zip(&list.owners)
            .filter(|(_, owner)| match owner {
                None => true,
                Some(owner) => *readable
                    .entry(owner)
                    .or_insert_with(|| self.may_read(owner)),
            })
            .map(|(record, _)| record)
            .collect()
    }
}

fn authenticate(served: &Served, headers: &HeaderMap) -> Result<ApiUser, ApiError> {
    let refuse = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid credentials");
    let instance = served.data.instance.as_str();
    let header_instance = match headers.get("instance") {
        Some(value) => Some(value.to_str().map_err(|_| refuse())?.trim()),
        None => None,
    };
    if header_instance.is_some_and(|h| h != instance) {
        return Err(refuse());
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refuse)?;
    let (scheme, token) = authorization.trim().split_once(' ').ok_or_else(refuse)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refuse());
    }
    let token = token.trim();
    let user = |name: &str, password: &str| {
        served
            .data
            .api_users
            .iter()
            .find(|u| u.username == name && u.password == password)
            .cloned()
    };
    let full = |text: &str| {
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(i), Some(name), Some(password)) if i == instance => user(name, password),
            _ => None,
        }
    };
    // Base64 never holds ':', so a token with one is the literal form.
    if token.contains(':') {
        return full(token).ok_or_else(refuse);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(refuse)?;
    if let Some(found) = full(&decoded) {
        return Ok(found);
    }
    if header_instance.is_none() {
        return Err(refuse());
    }
    let (name, password) = decoded.split_once(':').ok_or_else(refuse)?;
    user(name, password).ok_or_else(refuse)
}

/// A GUID parameter, lowercased; 400 when it is not one.
fn guid(text: &str, name: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let ok = text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(format!("{name} is not a valid GUID")))
    }
}

fn number_param(call: &Call, name: &str, key: &str) -> Result<Option<i64>, ApiError> {
    match call.param(key) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number"))),
    }
}

/// One page of `items` in the envelope, or the fault injected for this page.
fn page(call: &Call, resource: &str, items: Vec<&Value>) -> Answer {
    let emulator = &call.emulator;
    let index = number_param(call, "pageIndex", "pageindex")?.unwrap_or(0);
    let size = number_param(call, "pageSize", "pagesize")?.unwrap_or(20);
    if index < 0 {
        return Err(ApiError::bad_request("pageIndex must not be negative"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::bad_request(format!(
            "pageSize must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let total = items.len();
    let all: Vec<Value> = if emulator.list_style() == ListStyle::Unpaged {
        items.iter().map(|v| (*v).clone()).collect()
    } else {
        Vec::new()
    };
    let fault = emulator
        .page_fault()
        .filter(|f| f.resource.eq_ignore_ascii_case(resource) && i64::from(f.page_index) == index)
        .map(|f| f.kind);
    let mut start = usize::try_from(index.saturating_mul(size)).unwrap_or(usize::MAX);
    if fault == Some(PageFaultKind::Shifted) {
        start = start.saturating_sub(1);
    }
    let mut slice: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(0))
        .cloned()
        .collect();
    if fault == Some(PageFaultKind::Fail) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("injected failure of page {index}"),
        ));
    }
    if fault == Some(PageFaultKind::Short) {
        slice.pop();
    }
    let body = match emulator.list_style() {
        ListStyle::Envelope => json!({
            "PageIndex": index,
            "PageSize": size,
            "TotalItemCount": total,
            "Items": slice,
        }),
        ListStyle::CamelCase => json!({
            "pageIndex": index,
            "pageSize": size,
            "totalItemCount": total,
            "items": slice,
        }),
        ListStyle::BareArray => Value::Array(slice),
        ListStyle::Unpaged => Value::Array(all),
    };
    match fault {
        Some(PageFaultKind::NotJson) => Ok((
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Service temporarily unavailable</body></html>",
        )
            .into_response()),
        Some(PageFaultKind::Truncated) => {
            let text = body.to_string();
            let cut = text.len() / 2;
            let cut = (0..=cut)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            Ok((
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(text[..cut].to_string()),
            )
                .into_response())
        }
        _ => Ok(Json(body).into_response()),
    }
}

async fn employees(call: Call) -> Answer {
    let mut company = call.company_filter()?;
    if let Some(number) = number_param(&call, "companynumber", "companynumber")? {
        let id = match call.served.company_by_number(number) {
            Some(c) => field_text(c, "Id").map(|id| id.to_ascii_lowercase()),
            None => None,
        };
        match id {
            Some(id) => {
                call.check_company(&id)?;
                if company.as_ref().is_some_and(|c| *c != id) {
                    return page(&call, EMPLOYEES, Vec::new());
                }
                company = Some(id);
            }
            None => return page(&call, EMPLOYEES, Vec::new()),
        }
    }
    let number = call.param("employmentnumber");
    let email = call.param("email");
    let kind = number_param(&call, "employmentType", "employmenttype")?;
    let audit = match call.param("isinauditprocess") {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<bool>()
                .map_err(|_| ApiError::bad_request("isInAuditProcess must be true or false"))?,
        ),
    };
    let since = match call.param("modifiedsince") {
        None => None,
        Some(text) => Some(civil(text).ok_or_else(|| {
            ApiError::bad_request("modifiedSince must be a date-time like 2024-01-31T00:00:00")
        })?),
    };
    let mut items = call.of_company(&call.served.employees, company.as_deref());
    items.retain(|e| {
        let employment = employment(e);
        number.is_none_or(|n| {
            employment
                .and_then(|x| field_text(x, "EmploymentNumber"))
                .as_deref()
                == Some(n)
        }) && email.is_none_or(|m| {
            field_text(e, "EmailWork").is_some_and(|w| w.eq_ignore_ascii_case(m.trim()))
        }) && kind.is_none_or(|k| employment.and_then(employment_type) == Some(k))
            && audit.is_none_or(|a| {
                e.as_object()
                    .and_then(|m| get_field(m, "IsInAuditProcess"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    == a
            })
            && since.is_none_or(|since| modified(e).is_none_or(|m| m >= since))
    });
    page(&call, EMPLOYEES, items)
}

/// `EmploymentType` as its number, also when sent as text (Swedish or English).
fn employment_type(employment: &Value) -> Option<i64> {
    let text = field_text(employment, "EmploymentType")?;
    let text = text.trim().to_lowercase();
    match text.as_str() {
        "anställd" | "employee" => Some(0),
        "extern personal" | "external personnel" => Some(1),
        other => other.parse().ok(),
    }
}

/// When the record was last changed, if it says.
fn modified(record: &Value) -> Option<jiff::civil::DateTime> {
    ["Modified", "ModifiedDate", "LastModified"]
        .iter()
        .find_map(|name| field_text(record, name))
        .and_then(|text| civil(&text))
}

fn civil(text: &str) -> Option<jiff::civil::DateTime> {
    let text = text.trim();
    let head = text.get(..19).unwrap_or(text);
    head.parse::<jiff::civil::DateTime>().ok().or_else(|| {
        Some(
            text.get(..10)?
                .parse::<jiff::civil::Date>()
                .ok()?
                .to_datetime(jiff::civil::Time::midnight()),
        )
    })
}

/// The employee with this id, if the caller may read it.
fn find_employee(call: &Call, id: &str) -> Result<Value, ApiError> {
    let id = guid(id, "id")?;
    let employee = call
        .served
        .employee(&id)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no employee with this id"))?;
    if let Some(company) = call.served.company_of(&employee) {
        call.check_company(&company)?;
    }
    Ok(employee)
}

async fn employee(Path(id): Path<String>, call: Call) -> Answer {
    Ok(Json(find_employee(&call, &id)?).into_response())
}

async fn employee_periods(Path(id): Path<String>, call: Call) -> Answer {
    find_employee(&call, &id)?;
    let id = guid(&id, "id")?;
    let items = of_employee(&call.served.periods.records, Some(&id));
    page(&call, EMPLOYMENT_PERIODS, items)
}

fn of_employee<'r>(
    records: impl IntoIterator<Item = &'r Value>,
    employee: Option<&str>,
) -> Vec<&'r Value> {
    records
        .into_iter()
        .filter(|r| {
            employee.is_none_or(|e| {
                field_text(r, "EmployeeId").is_some_and(|id| id.eq_ignore_ascii_case(e))
            })
        })
        .collect()
}

/// The lists filtered by `companyId` and `employeeId`.
fn employee_records(call: Call, resource: &str, pick: fn(&Served) -> &Listed) -> Answer {
    let company = call.company_filter()?;
    let employee = match call.param("employeeid") {
        Some(id) => Some(guid(id, "employeeId")?),
        None => None,
    };
    let items = call.of_company(pick(&call.served), company.as_deref());
    let items = of_employee(items, employee.as_deref());
    page(&call, resource, items)
}

async fn employment_periods(call: Call) -> Answer {
    employee_records(call, EMPLOYMENT_PERIODS, |s| &s.periods)
}

async fn default_accounts(call: Call) -> Answer {
    employee_records(call, DEFAULT_ACCOUNTS, |s| &s.default_accounts)
}

async fn companies(call: Call) -> Answer {
    page(&call, COMPANIES, call.served.companies.iter().collect())
}

async fn instance_companies(Path(instance): Path<String>, call: Call) -> Answer {
    if instance.trim() != call.served.data.instance {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such instance"));
    }
    companies(call).await
}

/// The company with this id, if the caller may read it.
fn find_company(call: &Call, id: &str) -> Result<Value, ApiError> {
    let id = guid(id, "id")?;
    let company = call
        .served
        .company(&id)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no company with this id"))?;
    call.check_company(&id)?;
    Ok(company)
}

async fn company(Path(id): Path<String>, call: Call) -> Answer {
    Ok(Json(find_company(&call, &id)?).into_response())
}

async fn account_distributions(Path(id): Path<String>, call: Call) -> Answer {
    find_company(&call, &id)?;
    let id = guid(&id, "id")?;
    let items: Vec<Value> = call
        .served
        .data
        .account_distributions
        .iter()
        .filter(|d| field_text(d, "CompanyId").is_some_and(|c| c.eq_ignore_ascii_case(&id)))
        .map(|d| {
            let mut d = d.clone();
            if let Some(map) = d.as_object_mut() {
                map.retain(|key, _| !key.eq_ignore_ascii_case("Accounts"));
            }
            d
        })
        .collect();
    page(&call, ACCOUNT_DISTRIBUTIONS, items.iter().collect())
}

async fn accounts(Path(id): Path<String>, call: Call) -> Answer {
    let id = guid(&id, "id")?;
    let distribution = call.served.distribution(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no account distribution with this id",
        )
    })?;
    if let Some(company) = field_text(&distribution, "CompanyId") {
        call.check_company(&company.to_ascii_lowercase())?;
    }
    let items = distribution
        .as_object()
        .and_then(|m| get_field(m, "Accounts"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    page(&call, ACCOUNTS, items.iter().collect())
}
