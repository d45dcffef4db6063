//! `/Bulk` (RFC 7644 section 3.7), served in the extended profile: up to [`Limits`] operations
//! and bytes (by default [`MAX_OPERATIONS`] and [`MAX_PAYLOAD_SIZE`]; both advertised, 413
//! beyond), `bulkId:`
//! references between operations (a POST runs before the first operation that names its
//! bulkId; results keep the request's order), and `failOnErrors`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::patch;
use super::schema::ResourceKind;
use super::store::Store;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Operations one request may carry (`bulk.maxOperations`) by default.
pub const MAX_OPERATIONS: usize = 100;
/// Bytes one request may carry (`bulk.maxPayloadSize`) by default.
pub const MAX_PAYLOAD_SIZE: usize = 1_048_576;

/// What one BulkRequest may carry: advertised, and answered 413 beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: usize,
    pub max_payload_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: MAX_OPERATIONS,
            max_payload_size: MAX_PAYLOAD_SIZE,
        }
    }
}
const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_uppercase().as_str() {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// What the emulator's `/Bulk` has served, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkStats {
    /// Requests run (refused ones are not).
    pub requests: u64,
    /// Operations in the requests run.
    pub operations: u64,
    /// The most operations one request carried.
    pub most_operations: usize,
    /// The largest body of a request run, in bytes.
    pub largest_payload: usize,
    /// Requests answered 413 (over `maxOperations` or `maxPayloadSize`).
    pub refused: u64,
}

impl BulkStats {
    pub fn ran(&mut self, request: &BulkRequest, size: usize) {
        self.requests += 1;
        self.operations += request.operations.len() as u64;
        self.most_operations = self.most_operations.max(request.operations.len());
        self.largest_payload = self.largest_payload.max(size);
    }
}

/// One operation as sent; `method` is `None` when it was missing or unknown.
#[derive(Debug, Clone, PartialEq)]
struct Operation {
    method: Option<Method>,
    bulk_id: Option<String>,
    path: Option<String>,
    data: Option<Value>,
    /// Why the operation cannot run, found while reading it.
    invalid: Option<ScimError>,
}

/// A parsed BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    operations: Vec<Operation>,
    fail_on_errors: Option<u64>,
}

fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Reads a BulkRequest body; a request that is malformed as a whole is an error, an operation
/// that is malformed fails alone when its turn comes.
pub fn parse(body: &[u8], limits: Limits) -> Result<BulkRequest, ScimError> {
    if body.len() > limits.max_payload_size {
        return Err(too_large(body.len(), limits));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest must be a JSON object",
        ));
    };
    let declares = member(&body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
    if !declares {
        return Err(ScimError::invalid_syntax(format!(
            "a BulkRequest must list {BULK_REQUEST} in schemas"
        )));
    }
    let fail_on_errors = match member(&body, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "failOnErrors must be an integer of at least 1, got {v}"
                )));
            }
        },
    };
    let Some(Value::Array(items)) = member(&body, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest needs an Operations array",
        ));
    };
    if items.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty"));
    }
    if items.len() > limits.max_operations {
        return Err(ScimError::payload_too_large(format!(
            "the number of operations ({}) exceeds the maxOperations ({})",
            items.len(),
            limits.max_operations
        )));
    }
    let operations = items.iter().map(read_operation).collect();
    Ok(BulkRequest {
        operations,
        fail_on_errors,
    })
}

/// The 413 for a body of `size` bytes.
pub fn too_large(size: usize, limits: Limits) -> ScimError {
    ScimError::payload_too_large(format!(
        "the size of the bulk request ({size} bytes) exceeds the maxPayloadSize ({})",
        limits.max_payload_size
    ))
}

fn read_operation(item: &Value) -> Operation {
    let mut op = Operation {
        method: None,
        bulk_id: None,
        path: None,
        data: None,
        invalid: None,
    };
    let Value::Object(map) = item else {
        op.invalid = Some(ScimError::invalid_syntax("an operation must be an object"));
        return op;
    };
    let text = |name| {
        member(map, name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    op.method = text("method").as_deref().and_then(Method::parse);
    op.bulk_id = text("bulkId");
    op.path = text("path");
    op.data = member(map, "data").filter(|d| !d.is_null()).cloned();
    op.invalid = match (op.method, &op.path, &op.bulk_id, &op.data) {
        (None, ..) => Some("method must be POST, PUT, PATCH or DELETE"),
        (_, None, ..) => Some("path is required"),
        (Some(Method::Post), _, None, _) => Some("a POST needs a bulkId"),
        (Some(Method::Post | Method::Put | Method::Patch), _, _, None) => {
            Some("data is required for POST, PUT and PATCH")
        }
        (_, _, Some(id), _) if id.is_empty() => Some("bulkId must not be empty"),
        _ => None,
    }
    .map(ScimError::invalid_syntax);
    op
}

/// The bulkIds an operation names in its path or data.
fn references(op: &Operation) -> Vec<String> {
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                    found.push(id.to_string());
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            Value::Object(map) => map.values().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for segment in op.path.iter().flat_map(|p| p.split('/')) {
        if let Some(id) = segment.strip_prefix(BULK_ID_PREFIX) {
            found.push(id.to_string());
        }
    }
    if let Some(data) = &op.data {
        walk(data, &mut found);
    }
    found
}

/// Runs the request against the store and returns the BulkResponse.
pub fn run(store: &mut Store, request: &BulkRequest, now: Timestamp) -> Value {
    let ops = &request.operations;
    // The first POST with each bulkId creates it; a later POST reusing it fails.
    let mut creators: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.method == Some(Method::Post)
            && let Some(id) = op.bulk_id.as_deref()
        {
            creators.entry(id).or_insert(i);
        }
    }
    let order = plan(ops, &creators);
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    let mut errors = 0u64;
    for i in order {
        if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let Some(op) = ops.get(i) else {
            continue;
        };
        let outcome = run_one(store, op, i, &creators, &created, &results, now);
        let mut result = Map::new();
        if let Some(method) = op.method {
            result.insert("method".into(), json!(method.as_str()));
        }
        if let Some(id) = &op.bulk_id {
            result.insert("bulkId".into(), json!(id));
        }
        match outcome {
            Ok(done) => {
                if let (Some(bulk_id), Some(new_id)) = (&op.bulk_id, &done.created_id)
                    && creators.get(bulk_id.as_str()) == Some(&i)
                {
                    created.insert(bulk_id.clone(), new_id.clone());
                }
                if let Some(location) = done.location {
                    result.insert("location".into(), json!(location));
                }
                if let Some(version) = done.version {
                    result.insert("version".into(), json!(version));
                }
                result.insert("status".into(), json!(done.status.to_string()));
            }
            Err(error) => {
                errors += 1;
                if op.method != Some(Method::Post)
                    && let Some(path) = &op.path
                {
                    result.insert("location".into(), json!(location(store, path)));
                }
                result.insert("status".into(), json!(error.status.to_string()));
                result.insert("response".into(), error.body());
            }
        }
        results.insert(i, Value::Object(result));
    }
    json!({
        "schemas": [BULK_RESPONSE],
        "Operations": results.into_values().collect::<Vec<_>>(),
    })
}

/// Request order, except that a POST runs before the first operation naming its bulkId (a
/// depth-first walk without recursion; a cycle leaves its last link to fail unresolved).
fn plan(ops: &[Operation], creators: &BTreeMap<&str, usize>) -> Vec<usize> {
    let deps = |i: usize| -> Vec<usize> {
        ops.get(i)
            .map(references)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| creators.get(id.as_str()).copied())
            .filter(|d| *d != i)
            .collect()
    };
    let mut order = Vec::with_capacity(ops.len());
    let mut done = vec![false; ops.len()];
    let mut on_path = vec![false; ops.len()];
    for root in 0..ops.len() {
        if done[root] {
            continue;
        }
        on_path[root] = true;
        let mut stack = vec![(root, deps(root), 0usize)];
        while let Some((index, list, next)) = stack.last_mut() {
            let index = *index;
            match list.get(*next).copied() {
                Some(dep) => {
                    *next += 1;
                    if !done[dep] && !on_path[dep] {
                        on_path[dep] = true;
                        stack.push((dep, deps(dep), 0));
                    }
                }
                None => {
                    stack.pop();
                    on_path[index] = false;
                    done[index] = true;
                    order.push(index);
                }
            }
        }
    }
    order
}

struct Done {
    status: u16,
    location: Option<String>,
    version: Option<String>,
    created_id: Option<String>,
}

fn run_one(
    store: &mut Store,
    op: &Operation,
    index: usize,
    creators: &BTreeMap<&str, usize>,
    created: &BTreeMap<String, String>,
    results: &BTreeMap<usize, Value>,
    now: Timestamp,
) -> Result<Done, ScimError> {
    if let Some(invalid) = &op.invalid {
        return Err(invalid.clone());
    }
    let (Some(method), Some(path)) = (op.method, op.path.as_deref()) else {
        return Err(ScimError::invalid_syntax("method and path are required"));
    };
    if method == Method::Post
        && let Some(id) = op.bulk_id.as_deref()
        && creators.get(id) != Some(&index)
    {
        return Err(ScimError::invalid_value(format!(
            "bulkId {id} is used by an earlier POST of this request"
        )));
    }
    let resolve = |id: &str| -> Result<String, ScimError> {
        if let Some(new_id) = created.get(id) {
            return Ok(new_id.clone());
        }
        let why = match creators.get(id) {
            None => format!("no POST in this request has the bulkId {id}"),
            Some(i) if results.contains_key(i) => {
                format!("the POST with the bulkId {id} failed")
            }
            Some(_) => format!("the bulkId {id} is part of a circular reference"),
        };
        Err(ScimError::new(409, None, why))
    };
    let path = resolve_path(path, &resolve)?;
    let data = match &op.data {
        Some(data) => Some(resolve_value(data, &resolve)?),
        None => None,
    };
    let (kind, id) = route(&path)?;
    let data = data.unwrap_or(Value::Null);
    let (status, resource) = match (method, id) {
        (Method::Post, None) => (201, Some(store.create(kind, &data, now, true)?)),
        (Method::Put, Some(id)) => (200, Some(store.replace(kind, id, &data, now)?)),
        (Method::Patch, Some(id)) => {
            let ops = patch::parse_request(&data)?;
            (200, Some(store.patch(kind, id, &ops, now)?))
        }
        (Method::Delete, Some(id)) => {
            store.delete(kind, id, now)?;
            (204, None)
        }
        (method, _) => {
            return Err(ScimError::new(
                405,
                None,
                format!("{} is not allowed on {path}", method.as_str()),
            ));
        }
    };
    let text = |pointer: &str| {
        resource
            .as_ref()
            .and_then(|r| r.pointer(pointer))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Done {
        status,
        location: text("/meta/location").or_else(|| Some(location(store, &path))),
        version: text("/meta/version"),
        created_id: (method == Method::Post).then(|| text("/id")).flatten(),
    })
}

fn resolve_path(
    path: &str,
    resolve: &impl Fn(&str) -> Result<String, ScimError>,
) -> Result<String, ScimError> {
    let segments: Result<Vec<String>, ScimError> = path
        .split('/')
        .map(|s| match s.strip_prefix(BULK_ID_PREFIX) {
            Some(id) => resolve(id),
            None => Ok(s.to_string()),
        })
        .collect();
    Ok(segments?.join("/"))
}

fn resolve_value(
    value: &Value,
    resolve: &impl Fn(&str) -> Result<String, ScimError>,
) -> Result<Value, ScimError> {
    Ok(match value {
        Value::String(s) => match s.strip_prefix(BULK_ID_PREFIX) {
            Some(id) => Value::String(resolve(id)?),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve_value(i, resolve))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, resolve)?)))
                .collect::<Result<_, ScimError>>()?,
        ),
        other => other.clone(),
    })
}

/// `/Users`, `/Users/{id}`, `/Groups` or `/Groups/{id}`.
fn route(path: &str) -> Result<(ResourceKind, Option<&str>), ScimError> {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let kind = match segments.next() {
        Some("Users") => ResourceKind::User,
        Some("Groups") => ResourceKind::Group,
        _ => return Err(ScimError::not_found(format!("no endpoint at {path}"))),
    };
    match (segments.next(), segments.next()) {
        (None, _) => Ok((kind, None)),
        (Some(id), None) if !id.is_empty() => Ok((kind, Some(id))),
        _ => Err(ScimError::not_found(format!("no endpoint at {path}"))),
    }
}

fn location(store: &Store, path: &str) -> String {
    format!("{}/{}", store.base_url(), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::super::schema::Profile;
    use super::*;

    fn request(operations: Value, fail_on_errors: Option<u64>) -> BulkRequest {
        let mut body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
        if let Some(n) = fail_on_errors {
            body["failOnErrors"] = json!(n);
        }
        parse(body.to_string().as_bytes(), Limits::default()).unwrap()
    }

    fn statuses(response: &Value) -> Vec<&str> {
        response["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_group_may_name_users_created_later_in_the_request() {
        let mut store = Store::new(Profile::Extended);
        let t0 = Timestamp::UNIX_EPOCH;
        let response = run(
            &mut store,
            &request(
                json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {
                        "displayName": "G", "members": [{"value": "bulkId:u1"}],
                    }},
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": {"userName": "u1"}},
                    {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {
                        "schemas": [patch::PATCH_OP],
                        "Operations": [{"op": "add", "path": "members",
                                        "value": [{"value": "bulkId:u2"}]}],
                    }},
                    {"method": "POST", "path": "/Users", "bulkId": "u2",
                     "data": {"userName": "u2"}},
                ]),
                None,
            ),
            t0,
        );
        assert_eq!(
            statuses(&response),
            vec!["201", "201", "200", "201"],
            "{response}"
        );
        let group = &store.all(ResourceKind::Group)[0];
        let users = store.all(ResourceKind::User);
        assert_eq!(
            group["members"],
            json!([{"value": users[0]["id"]}, {"value": users[1]["id"]}])
        );
        assert_eq!(
            response["Operations"][0]["location"],
            group["meta"]["location"]
        );
        assert_eq!(response["Operations"][0]["bulkId"], "g");
    }

    #[test]
    fn fail_on_errors_stops_and_unresolved_references_conflict() {
        let mut store = Store::new(Profile::Extended);
        let t0 = Timestamp::UNIX_EPOCH;
        let ops = json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "A"}},
            {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {"displayName": "G", "members": [{"value": "bulkId:b"}]}},
            {"method": "DELETE", "path": "/Users/nobody"},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "c"}},
        ]);
        let all = run(&mut store, &request(ops.clone(), None), t0);
        assert_eq!(
            statuses(&all),
            vec!["201", "409", "409", "404", "201"],
            "{all}"
        );
        assert_eq!(all["Operations"][1]["response"]["scimType"], "uniqueness");
        assert!(all["Operations"][1].get("location").is_none());
        assert!(all["Operations"][2]["response"].get("scimType").is_none());

        let mut store = Store::new(Profile::Extended);
        let stopped = run(&mut store, &request(ops, Some(2)), t0);
        assert_eq!(statuses(&stopped), vec!["201", "409", "409"], "{stopped}");
        assert_eq!(store.all(ResourceKind::User).len(), 1);
    }

    #[test]
    fn cycles_duplicate_bulk_ids_and_bad_operations_fail_alone() {
        let mut store = Store::new(Profile::Extended);
        let t0 = Timestamp::UNIX_EPOCH;
        let response = run(
            &mut store,
            &request(
                json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "x",
                     "data": {"displayName": "X", "members": [{"value": "bulkId:y"}]}},
                    {"method": "POST", "path": "/Groups", "bulkId": "y",
                     "data": {"displayName": "Y", "members": [{"value": "bulkId:x"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "u"}},
                    {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "v"}},
                    {"method": "GET", "path": "/Users"},
                    {"method": "PUT", "path": "/Users", "data": {"userName": "w"}},
                    {"method": "POST", "path": "/Users"},
                    {"method": "POST", "path": "/Nothing", "bulkId": "n", "data": {}},
                ]),
                None,
            ),
            t0,
        );
        assert_eq!(
            statuses(&response),
            vec!["409", "409", "201", "400", "400", "405", "400", "404"],
            "{response}"
        );
    }

    #[test]
    fn limits_and_envelope() {
        let many: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
            .collect();
        let body = json!({"schemas": [BULK_REQUEST], "Operations": many}).to_string();
        assert_eq!(
            parse(body.as_bytes(), Limits::default())
                .unwrap_err()
                .status,
            413
        );
        let big = vec![b' '; MAX_PAYLOAD_SIZE + 1];
        assert_eq!(parse(&big, Limits::default()).unwrap_err().status, 413);
        for bad in [
            json!({"Operations": [{"method": "DELETE", "path": "/Users/1"}]}),
            json!({"schemas": [BULK_REQUEST], "Operations": []}),
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0,
                   "Operations": [{"method": "DELETE", "path": "/Users/1"}]}),
        ] {
            let err = parse(bad.to_string().as_bytes(), Limits::default()).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
        }
    }
}
