//! A list query, from GET parameters (RFC 7644 section 3.4.2) or from the body of a POST to
//! `/.search`, `/Users/.search` or `/Groups/.search` (section 3.4.3): filter, paging and the
//! attributes to return. Sorting is not offered (`sort.supported` is false): `sortBy` and
//! `sortOrder` are read and ignored.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::project::Projection;

pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Members a SearchRequest may have (case-insensitive).
const MEMBERS: &[&str] = &[
    "schemas",
    "attributes",
    "excludedAttributes",
    "filter",
    "sortBy",
    "sortOrder",
    "startIndex",
    "count",
];

/// What a list request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub filter: Option<String>,
    /// 1-based; values below 1 are read as 1.
    pub start_index: usize,
    /// `None` when not given; negative values are read as 0.
    pub count: Option<usize>,
    pub projection: Projection,
}

impl ListQuery {
    /// From the query parameters of a GET (names in any case; the last of a repeated one wins).
    pub fn from_params(params: &[(String, String)]) -> Result<ListQuery, ScimError> {
        Ok(ListQuery {
            filter: param(params, "filter")
                .filter(|f| !f.trim().is_empty())
                .map(str::to_string),
            start_index: start_index(number_param(params, "startIndex")?),
            count: count(number_param(params, "count")?),
            projection: projection_from_params(params)?,
        })
    }

    /// From a SearchRequest body.
    pub fn from_body(body: &Value) -> Result<ListQuery, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        if let Some(key) = body
            .keys()
            .find(|k| !MEMBERS.iter().any(|m| m.eq_ignore_ascii_case(k)))
        {
            return Err(ScimError::invalid_syntax(format!(
                "{key} is not a member of a SearchRequest"
            )));
        }
        let declares = member(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST))
                })
            });
        if !declares {
            return Err(ScimError::invalid_syntax(format!(
                "a SearchRequest must list {SEARCH_REQUEST} in schemas"
            )));
        }
        let filter = match member(body, "filter") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) if f.trim().is_empty() => None,
            Some(Value::String(f)) => Some(f.clone()),
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "filter must be a string, got {other}"
                )));
            }
        };
        for name in ["sortBy", "sortOrder"] {
            if member(body, name).is_some_and(|v| !v.is_string() && !v.is_null()) {
                return Err(ScimError::invalid_value(format!("{name} must be a string")));
            }
        }
        let attributes = strings(body, "attributes")?;
        let excluded = strings(body, "excludedAttributes")?;
        Ok(ListQuery {
            filter,
            start_index: start_index(number_member(body, "startIndex")?),
            count: count(number_member(body, "count")?),
            projection: Projection::from_lists(&attributes, &excluded)?,
        })
    }
}

/// `attributes` and `excludedAttributes` from query parameters (comma-separated).
pub fn projection_from_params(params: &[(String, String)]) -> Result<Projection, ScimError> {
    let list = |name| {
        param(params, name)
            .map(str::to_string)
            .into_iter()
            .collect()
    };
    let (attributes, excluded): (Vec<String>, Vec<String>) =
        (list("attributes"), list("excludedAttributes"));
    Projection::from_lists(&attributes, &excluded)
}

fn start_index(given: Option<i64>) -> usize {
    given.map_or(1, |n| usize::try_from(n.max(1)).unwrap_or(usize::MAX))
}

fn count(given: Option<i64>) -> Option<usize> {
    given.map(|n| usize::try_from(n.max(0)).unwrap_or(usize::MAX))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number_param(params: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    match param(params, name) {
        None => Ok(None),
        Some(v) => {
            v.trim().parse::<i64>().map(Some).map_err(|_| {
                ScimError::invalid_value(format!("{name} must be an integer, got {v:?}"))
            })
        }
    }
}

fn member<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn number_member(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, ScimError> {
    match member(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer, got {v}"))),
    }
}

fn strings(body: &Map<String, Value>, name: &str) -> Result<Vec<String>, ScimError> {
    let not_strings = || ScimError::invalid_value(format!("{name} must be an array of strings"));
    match member(body, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect(),
        Some(_) => Err(not_strings()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::ScimType;
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters() {
        let q = ListQuery::from_params(&pairs(&[
            ("filter", "userName eq \"a\""),
            ("STARTINDEX", "0"),
            ("count", "-3"),
            ("attributes", "userName, name.givenName"),
        ]))
        .unwrap();
        assert_eq!(q.filter.as_deref(), Some("userName eq \"a\""));
        assert_eq!((q.start_index, q.count), (1, Some(0)));
        assert_eq!(
            q.projection,
            Projection::Only(vec!["userName".into(), "name.givenName".into()])
        );
        let bad = ListQuery::from_params(&pairs(&[("count", "ten")]));
        assert_eq!(bad.unwrap_err().scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn search_request_bodies() {
        let q = ListQuery::from_body(&json!({
            "schemas": [SEARCH_REQUEST],
            "excludedAttributes": ["members"],
            "filter": "displayName sw \"E\"",
            "sortBy": "displayName",
            "startIndex": 2,
            "count": 10,
        }))
        .unwrap();
        assert_eq!(q.projection, Projection::Except(vec!["members".into()]));
        assert_eq!((q.start_index, q.count), (2, Some(10)));

        for (bad, scim_type) in [
            (json!({"filter": "x pr"}), ScimType::InvalidSyntax),
            (
                json!({"schemas": [SEARCH_REQUEST], "where": "x"}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"schemas": [SEARCH_REQUEST], "count": "10"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [SEARCH_REQUEST], "attributes": "a"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [SEARCH_REQUEST], "filter": 3}),
                ScimType::InvalidValue,
            ),
            (json!([SEARCH_REQUEST]), ScimType::InvalidSyntax),
        ] {
            let err = ListQuery::from_body(&bad).unwrap_err();
            assert_eq!(err.scim_type, Some(scim_type), "{bad}");
        }
    }
}
