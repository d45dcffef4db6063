//! SCIM Bulk (RFC 7644 section 3.7), the pure part: the advertised limits, one operation as it
//! travels in a BulkRequest, how many queued operations fit one request, and which result of a
//! BulkResponse answers which operation.

use serde_json::{Map, Value, json};

use crate::discovery::ServerInfo;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// What one BulkRequest may carry, as the server advertises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    pub max_operations: usize,
    pub max_payload_size: usize,
}

impl BulkLimits {
    /// The limits of a server that advertises Bulk with both limits set; `None` otherwise
    /// (RFC 7643 section 5 requires both).
    pub fn advertised(info: &ServerInfo) -> Option<BulkLimits> {
        let size = |n: Option<u64>| n.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0);
        match (
            info.bulk,
            size(info.bulk_max_operations),
            size(info.bulk_max_payload_size),
        ) {
            (true, Some(max_operations), Some(max_payload_size)) => Some(BulkLimits {
                max_operations,
                max_payload_size,
            }),
            _ => None,
        }
    }

    /// Whether one operation of `size` bytes fits a request on its own.
    pub fn fits(&self, size: usize) -> bool {
        envelope_size() + size <= self.max_payload_size
    }

    /// How many of the operations (serialized sizes, in queue order) the next request takes:
    /// as many as fit both limits, at least one (an operation too large alone is not queued).
    pub fn take(&self, sizes: impl IntoIterator<Item = usize>) -> usize {
        let mut total = envelope_size();
        let mut taken = 0;
        for size in sizes {
            let added = size + usize::from(taken > 0);
            if taken == self.max_operations || (taken > 0 && total + added > self.max_payload_size)
            {
                break;
            }
            total += added;
            taken += 1;
        }
        taken
    }
}

const ENVELOPE_HEAD: &str =
    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[";
const ENVELOPE_TAIL: &str = "]}";

fn envelope_size() -> usize {
    ENVELOPE_HEAD.len() + ENVELOPE_TAIL.len()
}

/// A BulkRequest body of serialized operations; `failOnErrors` is left out, so each operation
/// stands alone.
pub fn request_body<'a>(operations: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = ENVELOPE_HEAD.as_bytes().to_vec();
    for (i, operation) in operations.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(operation);
    }
    body.extend_from_slice(ENVELOPE_TAIL.as_bytes());
    body
}

/// One write as a Bulk operation: `path` relative to the SCIM root (`/Users/abc`), `data` the
/// body the single request would carry, `bulk_id` for a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOperation {
    pub method: String,
    pub path: String,
    pub bulk_id: Option<String>,
    pub data: Option<Vec<u8>>,
}

impl BulkOperation {
    /// The operation as JSON bytes, its data copied in as sent alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = json!({"method": self.method, "path": self.path});
        if let (Some(id), Value::Object(map)) = (&self.bulk_id, &mut head) {
            map.insert("bulkId".into(), json!(id));
        }
        let mut bytes = head.to_string().into_bytes();
        if let Some(data) = &self.data {
            bytes.pop();
            bytes.extend_from_slice(b",\"data\":");
            bytes.extend_from_slice(data);
            bytes.push(b'}');
        }
        bytes
    }
}

/// One result of a BulkResponse, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkResult {
    pub method: Option<String>,
    pub bulk_id: Option<String>,
    pub location: Option<String>,
    pub status: Option<u16>,
    pub response: Option<Value>,
}

fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// `"201"`, `201` or `{"code": 201}` (seen in SCIM 1.1 servers).
fn status_of(value: &Value) -> Option<u16> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::Object(map) => member(map, "code").and_then(status_of),
        _ => None,
    }
}

/// The results of a BulkResponse body, in the order the server listed them.
pub fn read_results(body: &Value) -> Result<Vec<BulkResult>, String> {
    let Some(Value::Array(items)) = body.as_object().and_then(|m| member(m, "Operations")) else {
        return Err("a BulkResponse needs an Operations array".into());
    };
    Ok(items
        .iter()
        .filter_map(Value::as_object)
        .map(|item| {
            let text = |name| {
                member(item, name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            BulkResult {
                method: text("method"),
                bulk_id: text("bulkId"),
                location: text("location"),
                status: member(item, "status").and_then(status_of),
                response: member(item, "response").filter(|r| !r.is_null()).cloned(),
            }
        })
        .collect())
}

/// For each operation sent, the index of the result that answers it: a POST by its bulkId;
/// any other by its place when the answer lists every operation in order, else by method and
/// location. Each result answers one operation at most.
pub fn match_results(sent: &[BulkOperation], results: &[BulkResult]) -> Vec<Option<usize>> {
    let mut used = vec![false; results.len()];
    let same_method = |r: &BulkResult, op: &BulkOperation| {
        r.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&op.method))
    };
    let in_order = results.len() == sent.len();
    sent.iter()
        .enumerate()
        .map(|(i, op)| {
            let found = match &op.bulk_id {
                Some(id) => results
                    .iter()
                    .position(|r| r.bulk_id.as_deref() == Some(id.as_str())),
                None if in_order
                    && results[i].bulk_id.is_none()
                    && same_method(&results[i], op) =>
                {
                    Some(i)
                }
                None => results.iter().enumerate().position(|(j, r)| {
                    !used[j]
                        && r.bulk_id.is_none()
                        && same_method(r, op)
                        && r.location.as_deref().is_some_and(|l| l.ends_with(&op.path))
                }),
            };
            let found = found.filter(|j| !used[*j]);
            if let Some(j) = found {
                used[j] = true;
            }
            found
        })
        .collect()
}

/// The id a `location` ends with (`https://x/scim/Users/abc` -> `abc`).
pub fn id_from_location(location: &str) -> Option<&str> {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str, bulk_id: Option<&str>) -> BulkOperation {
        BulkOperation {
            method: method.into(),
            path: path.into(),
            bulk_id: bulk_id.map(str::to_string),
            data: Some(br#"{"userName":"a"}"#.to_vec()),
        }
    }

    #[test]
    fn an_operation_carries_its_data_as_sent_and_the_body_is_valid_json() {
        let post = op("POST", "/Users", Some("b1"));
        let delete = BulkOperation {
            data: None,
            ..op("DELETE", "/Users/x", None)
        };
        let body = request_body([post.to_bytes().as_slice(), delete.to_bytes().as_slice()]);
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["schemas"][0], BULK_REQUEST);
        assert_eq!(value["Operations"][0]["data"]["userName"], "a");
        assert_eq!(value["Operations"][0]["bulkId"], "b1");
        assert_eq!(
            value["Operations"][1],
            json!({"method": "DELETE", "path": "/Users/x"})
        );
        assert!(value.get("failOnErrors").is_none());
    }

    #[test]
    fn a_request_takes_what_fits_both_limits_and_its_size_is_exact() {
        let limits = BulkLimits {
            max_operations: 3,
            max_payload_size: envelope_size() + 10 + 1 + 10,
        };
        assert_eq!(limits.take([10, 10, 10, 10]), 2, "the payload limit");
        assert_eq!(limits.take([5, 5, 5, 5]), 3, "the operation limit");
        assert_eq!(limits.take([10]), 1);
        assert_eq!(limits.take([]), 0);
        assert!(limits.fits(20) && !limits.fits(22));
        let sized = [
            op("POST", "/Users", Some("b1")),
            op("POST", "/Users", Some("b2")),
        ];
        let bytes: Vec<Vec<u8>> = sized.iter().map(BulkOperation::to_bytes).collect();
        let body = request_body(bytes.iter().map(Vec::as_slice));
        let exact = BulkLimits {
            max_operations: 10,
            max_payload_size: body.len(),
        };
        assert_eq!(exact.take(bytes.iter().map(Vec::len)), 2);
        let short = BulkLimits {
            max_payload_size: body.len() - 1,
            ..exact
        };
        assert_eq!(short.take(bytes.iter().map(Vec::len)), 1);
    }

    #[test]
    fn results_are_matched_by_bulk_id_place_or_location() {
        let sent = [
            op("POST", "/Users", Some("b1")),
            op("PATCH", "/Users/u2", None),
            op("POST", "/Users", Some("b3")),
            op("DELETE", "/Groups/g4", None),
        ];
        let result = |method: &str, bulk_id: Option<&str>, location: Option<&str>| BulkResult {
            method: Some(method.into()),
            bulk_id: bulk_id.map(str::to_string),
            location: location.map(str::to_string),
            status: Some(200),
            response: None,
        };
        let shuffled = [
            result("DELETE", None, Some("https://x/scim/Groups/g4")),
            result("POST", Some("b3"), None),
            result("PATCH", None, Some("https://x/scim/Users/u2")),
        ];
        assert_eq!(
            match_results(&sent, &shuffled),
            vec![None, Some(2), Some(1), Some(0)]
        );
        let in_order = [
            result("POST", Some("b1"), None),
            result("PATCH", None, None),
            result("POST", Some("b3"), None),
            result("DELETE", None, None),
        ];
        assert_eq!(
            match_results(&sent, &in_order),
            vec![Some(0), Some(1), Some(2), Some(3)]
        );
    }

    #[test]
    fn results_are_read_with_any_spelling_of_status() {
        let body = json!({"schemas": ["x"], "Operations": [
            {"method": "POST", "bulkId": "b1", "location": "https://x/Users/9", "status": "201"},
            {"method": "PATCH", "status": 400, "response": {"scimType": "invalidValue"}},
            {"method": "DELETE", "status": {"code": "204"}},
        ]});
        let results = read_results(&body).unwrap();
        let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Some(201), Some(400), Some(204)]);
        assert_eq!(
            results[1].response,
            Some(json!({"scimType": "invalidValue"}))
        );
        assert!(read_results(&json!({"status": "200"})).is_err());
        assert_eq!(id_from_location("https://x/scim/Users/9"), Some("9"));
        assert_eq!(id_from_location("https://x/scim/Users/9/"), Some("9"));
    }
}
