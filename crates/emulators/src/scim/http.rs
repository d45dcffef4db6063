//! The axum routes under `/api/scim`: discovery, Users and Groups, `.search`, `/Bulk`,
//! bearer-token auth, SCIM error bodies, `attributes`/`excludedAttributes` on every answer that
//! carries resources, and the shared test knobs on every matched route.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};

use super::bulk;
use super::error::ScimError;
use super::filter::Filter;
use super::patch;
use super::project::Projection;
use super::schema::{Profile, ResourceKind, ResourceSchema, service_provider_config};
use super::search::{ListQuery, projection_from_params};
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
        .route("/Users/.search", search(&[ResourceKind::User]))
        .route("/Users/{id}", item(ResourceKind::User))
        .route("/Groups", collection(ResourceKind::Group))
        .route("/Groups/.search", search(&[ResourceKind::Group]))
        .route("/Groups/{id}", item(ResourceKind::Group))
        .route(
            "/.search",
            search(&[ResourceKind::User, ResourceKind::Group]),
        )
        .route("/Bulk", post(run_bulk))
        .route_layer(from_fn_with_state(state.clone(), respell))
        .route_layer(from_fn_with_state(state.clone(), auth))
        .route_layer(from_fn_with_state(knobs, knobs::apply))
        .with_state(state);
    Router::new().nest("/api/scim", api).fallback(unknown_path)
}

/// `GET` (search) and `POST` (create) on `/Users` or `/Groups`.
fn collection(kind: ResourceKind) -> MethodRouter<ScimEmulator> {
    get(move |s: State<ScimEmulator>, q: Params| list(s, kind, q))
        .post(move |s: State<ScimEmulator>, q: Params, b: Bytes| create(s, kind, q, b))
}

/// `POST` of a SearchRequest on `/.search` (every kind) or `/Users/.search`, `/Groups/.search`.
fn search(kinds: &'static [ResourceKind]) -> MethodRouter<ScimEmulator> {
    post(move |s: State<ScimEmulator>, b: Bytes| search_post(s, kinds, b))
}

/// `GET`, `PUT`, `PATCH` and `DELETE` on `/Users/{id}` or `/Groups/{id}`.
fn item(kind: ResourceKind) -> MethodRouter<ScimEmulator> {
    get(move |s: State<ScimEmulator>, p: Path<String>, q: Params| read(s, kind, p, q))
        .put(
            move |s: State<ScimEmulator>, p: Path<String>, q: Params, b: Bytes| {
                replace(s, kind, p, q, b)
            },
        )
        .patch(
            move |s: State<ScimEmulator>, p: Path<String>, q: Params, b: Bytes| {
                modify(s, kind, p, q, b)
            },
        )
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
    let resources =
        path.contains("/Users") || path.contains("/Groups") || path.ends_with("/.search");
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

/// RFC 7644 section 4: a discovery endpoint given a `filter` SHOULD answer 403.
fn no_filter(params: &[(String, String)]) -> Result<(), ScimError> {
    match params.iter().any(|(k, _)| k.eq_ignore_ascii_case("filter")) {
        true => Err(ScimError::forbidden(
            "discovery endpoints take no filter (RFC 7644 section 4)",
        )),
        false => Ok(()),
    }
}

async fn service_provider(State(state): State<ScimEmulator>, Query(params): Params) -> Answer {
    no_filter(&params)?;
    let options = state.options();
    Ok(ok(&service_provider_config(
        &base_url(&state),
        options.max_results,
        (options.profile == Profile::Extended).then_some(options.bulk),
    )))
}

async fn resource_types(State(state): State<ScimEmulator>, Query(params): Params) -> Answer {
    no_filter(&params)?;
    let base = base_url(&state);
    let types: Vec<Value> = resource_schemas(&state)
        .iter()
        .map(|r| r.resource_type_json(&base))
        .collect();
    let total = types.len();
    Ok(ok(&list_response(types, total, 1)))
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

async fn schemas(State(state): State<ScimEmulator>, Query(params): Params) -> Answer {
    no_filter(&params)?;
    let schemas = all_schemas(&state);
    let total = schemas.len();
    Ok(ok(&list_response(schemas, total, 1)))
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

type Answer = Result<Response, ScimError>;

async fn list(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Query(params): Params,
) -> Answer {
    let query = ListQuery::from_params(&params)?;
    Ok(ok(&list_page(&state, &[kind], &query)?))
}

async fn search_post(
    State(state): State<ScimEmulator>,
    kinds: &'static [ResourceKind],
    body: Bytes,
) -> Answer {
    let query = ListQuery::from_body(&parse_body(&body)?)?;
    Ok(ok(&list_page(&state, kinds, &query)?))
}

/// One page of the resources of `kinds` (in that order, each in creation order) matching the
/// filter. With several kinds, a kind whose schema cannot hold the filter's attributes has no
/// matches; a filter no kind can hold is an error.
fn list_page(
    state: &ScimEmulator,
    kinds: &[ResourceKind],
    query: &ListQuery,
) -> Result<Value, ScimError> {
    let max = state.options().max_results;
    let count = query.count.map_or(max, |c| c.min(max));
    let store = state.store();
    let filter = query.filter.as_deref().map(Filter::parse).transpose()?;
    let mut searched = Vec::new();
    let mut refused = None;
    for &kind in kinds {
        match filter.as_ref().map(|f| f.check(store.schema(kind))) {
            Some(Err(error)) => {
                refused.get_or_insert(error);
            }
            _ => searched.push(kind),
        }
    }
    if let (true, Some(error)) = (searched.is_empty(), refused) {
        return Err(error);
    }
    let project =
        |kind: ResourceKind, resource| query.projection.apply(store.schema(kind), resource);
    if let [kind] = searched[..] {
        let page = store.list(kind, filter.as_ref(), query.start_index, count);
        let resources = page.resources.into_iter().map(|r| project(kind, r));
        return Ok(list_response(
            resources.collect(),
            page.total,
            page.start_index,
        ));
    }
    let matches: Vec<(ResourceKind, Value)> = searched
        .iter()
        .flat_map(|&kind| {
            let page = store.list(kind, filter.as_ref(), 1, usize::MAX);
            page.resources.into_iter().map(move |r| (kind, r))
        })
        .collect();
    let total = matches.len();
    let resources = matches
        .into_iter()
        .skip(query.start_index - 1)
        .take(count)
        .map(|(kind, r)| project(kind, r))
        .collect();
    Ok(list_response(resources, total, query.start_index))
}

/// A resource answered as the request's `attributes`/`excludedAttributes` ask.
fn projected(
    state: &ScimEmulator,
    kind: ResourceKind,
    projection: &Projection,
    resource: Value,
) -> Value {
    projection.apply(state.store().schema(kind), resource)
}

fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

async fn create(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Query(params): Params,
    body: Bytes,
) -> Answer {
    let projection = projection_from_params(&params)?;
    let resource = state
        .store()
        .create(kind, &parse_body(&body)?, jiff::Timestamp::now(), true)?;
    let location = resource
        .pointer("/meta/location")
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok());
    let mut response = scim_json(
        StatusCode::CREATED,
        &projected(&state, kind, &projection, resource),
    );
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn read(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
) -> Answer {
    let projection = projection_from_params(&params)?;
    let resource = state.store().get(kind, &id)?;
    Ok(ok(&projected(&state, kind, &projection, resource)))
}

async fn replace(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Answer {
    let projection = projection_from_params(&params)?;
    let resource = state
        .store()
        .replace(kind, &id, &parse_body(&body)?, jiff::Timestamp::now())?;
    Ok(ok(&projected(&state, kind, &projection, resource)))
}

async fn modify(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Answer {
    let projection = projection_from_params(&params)?;
    let operations = patch::parse_request(&parse_body(&body)?)?;
    let resource = state
        .store()
        .patch(kind, &id, &operations, jiff::Timestamp::now())?;
    if state.options().patch_returns_no_content {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(ok(&projected(&state, kind, &projection, resource)))
}

/// `POST /Bulk`: extended profile only (the documented one answers 501, as its
/// ServiceProviderConfig says `bulk.supported` false).
async fn run_bulk(State(state): State<ScimEmulator>, request: Request) -> Answer {
    if state.options().profile != Profile::Extended {
        return Err(ScimError::not_implemented(
            "bulk operations are not supported in the documented profile",
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limits = state.options().bulk;
    let refused = |error: ScimError| {
        if error.status == 413 {
            state.bulk_stats_mut().refused += 1;
        }
        error
    };
    if let Some(size) = declared.filter(|size| *size > limits.max_payload_size) {
        return Err(refused(bulk::too_large(size, limits)));
    }
    let body: Body = request.into_body();
    let bytes = axum::body::to_bytes(body, limits.max_payload_size)
        .await
        .map_err(|_| refused(bulk::too_large(limits.max_payload_size + 1, limits)))?;
    let parsed = bulk::parse(&bytes, limits).map_err(refused)?;
    state.bulk_stats_mut().ran(&parsed, bytes.len());
    let answer = bulk::run(&mut state.store(), &parsed, jiff::Timestamp::now());
    Ok(ok(&answer))
}

async fn remove(
    State(state): State<ScimEmulator>,
    kind: ResourceKind,
    Path(id): Path<String>,
) -> Answer {
    state.store().delete(kind, &id, jiff::Timestamp::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
