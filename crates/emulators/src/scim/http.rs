//! The axum routes under `/api/scim`: discovery, Users and Groups, bearer-token auth, SCIM
//! error bodies, and the shared test knobs on every matched route.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use super::error::ScimError;
use super::filter::Filter;
use super::patch;
use super::schema::{ResourceKind, ResourceSchema, service_provider_config};
use super::{AnswerCase, ScimEmulator};
use crate::knobs;

const SCIM_JSON: &str = "application/scim+json";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

type Params = Query<Vec<(String, String)>>;

/// The whole application: everything nested under `/api/scim`.
pub fn router(state: ScimEmulator) -> Router {
    let knobs = state.knobs();
    let api = Router::new()
        .route("/ServiceProviderConfig", get(service_provider))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_by_id))
        .route("/Users", collection(ResourceKind::User))
        .route("/Users/{id}", item(ResourceKind::User))
        .route("/Groups", collection(ResourceKind::Group))
        .route("/Groups/{id}", item(ResourceKind::Group))
        .route_layer(from_fn_with_state(state.clone(), respell))
        .route_layer(from_fn_with_state(state.clone(), auth))
        .route_layer(from_fn_with_state(knobs, knobs::apply))
        .with_state(state);
    Router::new().nest("/api/scim", api).fallback(unknown_path)
}

/// `GET` (search) and `POST` (create) on `/Users` or `/Groups`.
fn collection(kind: ResourceKind) -> MethodRouter<ScimEmulator> {
    get(move |s: State<ScimEmulator>, q: Params| list(s, kind, q))
        .post(move |s: State<ScimEmulator>, b: Bytes| create(s, kind, b))
}

/// `GET`, `PUT`, `PATCH` and `DELETE` on `/Users/{id}` or `/Groups/{id}`.
fn item(kind: ResourceKind) -> MethodRouter<ScimEmulator> {
    get(move |s: State<ScimEmulator>, p: Path<String>| read(s, kind, p))
        .put(move |s: State<ScimEmulator>, p: Path<String>, b: Bytes| replace(s, kind, p, b))
        .patch(move |s: State<ScimEmulator>, p: Path<String>, b: Bytes| modify(s, kind, p, b))
        .delete(move |s: State<ScimEmulator>, p: Path<String>| remove(s, kind, p))
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = scim_json(status, &self.body());
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

fn ok(body: &Value) -> Response {
    scim_json(StatusCode::OK, body)
}

fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

async fn auth(State(state): State<ScimEmulator>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if token != Some(state.options().token.as_str()) {
        return ScimError::unauthorized().into_response();
    }
    next.run(request).await
}

/// Answers Users and Groups with attribute names spelled as `ScimOptions::answer_case` says.
async fn respell(State(state): State<ScimEmulator>, request: Request, next: Next) -> Response {
    let case = state.options().answer_case;
    let path = request.uri().path();
    let resources = path.contains("/Users") || path.contains("/Groups");
    let response = next.run(request).await;
    if case == AnswerCase::AsDeclared || !resources {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ScimError::internal("could not read the answer to respell it").into_response();
    };
    let Ok(document) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let respelled = case.respell(document).to_string();
    Response::from_parts(parts, axum::body::Body::from(respelled))
}

async fn unknown_path(request: Request) -> Response {
    ScimError::not_found(format!("no endpoint at {}", request.uri().path())).into_response()
}

fn base_url(state: &ScimEmulator) -> String {
    state.store().base_url().to_string()
}

fn resource_schemas(state: &ScimEmulator) -> [ResourceSchema; 2] {
    let profile = state.options().profile;
    [
        ResourceSchema::new(profile, ResourceKind::User),
        ResourceSchema::new(profile, ResourceKind::Group),
    ]
}

async fn service_provider(State(state): State<ScimEmulator>) -> Response {
    ok(&service_provider_config(
        &base_url(&state),
        state.options().max_results,
    ))
}

async fn resource_types(State(state): State<ScimEmulator>) -> Response {
    let base = base_url(&state);
    let types: Vec<Value> = resource_schemas(&state)
        .iter()
        .map(|r| r.resource_type_json(&base))
        .collect();
    let total = types.len();
    ok(&list_response(types, total, 1))
}

async fn resource_type(State(state): State<ScimEmulator>, Path(id): Path<String>) -> Response {
    let base = base_url(&state);
    match resource_schemas(&state)
        .iter()
        .find(|r| r.kind.name().eq_ignore_ascii_case(&id))
    {
        Some(r) => ok(&r.resource_type_json(&base)),
        None => ScimError::not_found(format!("resource type {id} not found")).into_response(),
    }
}

fn all_schemas(state: &ScimEmulator) -> Vec<Value> {
    let base = base_url(state);
    resource_schemas(state)
        .iter()
        .flat_map(|r| r.to_schema_json(&base))
        .collect()
}

async fn schemas(State(state): State<ScimEmulator>) -> Response {
    let schemas = all_schemas(&state);
    let total = schemas.len();
    ok(&list_response(schemas, total, 1))
}

async fn schema_by_id(State(state): State<ScimEmulator>, Path(id): Path<String>) -> Response {
    let found = all_schemas(&state).into_iter().find(|s| {
        s.get("id")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case(&id))
    });
    match found {
        Some(schema) => ok(&schema),
        None => ScimError::not_found(format!("schema {id} not found")).into_response(),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number(params: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    match param(params, name) {
        None => Ok(None),
        Some(v) => {
            v.trim().parse::<i64>().map(Some).map_err(|_| {
                ScimError::invalid_value(format!("{name} must be an integer, got {v:?}"))
            })
        }
    }
}

type Answer = Result<Response, ScimError>;

async fn list(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Query(params): Params,
) -> Answer {
    Ok(ok(&list_page(&state, kind, &params)?))
}

fn list_page(
    state: &ScimEmulator,
    kind: ResourceKind,
    params: &[(String, String)],
) -> Result<Value, ScimError> {
    let max = state.options().max_results;
    let start_index = number(params, "startIndex")?.unwrap_or(1).max(1);
    let count =
        number(params, "count")?.map_or(max, |c| usize::try_from(c.max(0)).unwrap_or(0).min(max));
    let store = state.store();
    let filter = match param(params, "filter") {
        Some(text) if !text.trim().is_empty() => {
            let filter = Filter::parse(text)?;
            filter.check(store.schema(kind))?;
            Some(filter)
        }
        _ => None,
    };
    let start = usize::try_from(start_index).unwrap_or(usize::MAX);
    let page = store.list(kind, filter.as_ref(), start, count);
    Ok(list_response(page.resources, page.total, page.start_index))
}

fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

async fn create(State(state): State<ScimEmulator>, kind: ResourceKind, body: Bytes) -> Answer {
    let resource = state
        .store()
        .create(kind, &parse_body(&body)?, jiff::Timestamp::now(), true)?;
    let mut response = scim_json(StatusCode::CREATED, &resource);
    let location = resource
        .pointer("/meta/location")
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok());
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn read(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
) -> Answer {
    Ok(ok(&state.store().get(kind, &id)?))
}

async fn replace(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let resource = state
        .store()
        .replace(kind, &id, &parse_body(&body)?, jiff::Timestamp::now())?;
    Ok(ok(&resource))
}

async fn modify(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let operations = patch::parse_request(&parse_body(&body)?)?;
    let resource = state
        .store()
        .patch(kind, &id, &operations, jiff::Timestamp::now())?;
    if state.options().patch_returns_no_content {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(ok(&resource))
}

async fn remove(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
) -> Answer {
    state.store().delete(kind, &id, jiff::Timestamp::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
