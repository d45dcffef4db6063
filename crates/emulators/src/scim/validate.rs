//! Validation of client-supplied resources against a profile's schemas (RFC 7643 sections 2, 3
//! and 7): declared attributes only, each value of its declared type, canonical values, URIs in
//! references, at most one `primary`, read-only values ignored, required ones present, and a
//! `schemas` that lists what the body holds.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{Attr, Kind, ResourceSchema, SchemaDef};

/// Where a resource body comes from, which decides how its `schemas` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A POST or PUT body (or a bulk operation's `data`): `schemas`, when given, must list the
    /// core schema and every extension the body holds (RFC 7643 section 3).
    Request,
    /// A stored body after PATCH operations; its `schemas` is recomputed.
    Patched,
}

impl ResourceSchema {
    /// Validates a resource and returns it in canonical form: declared attributes only, canonical
    /// names, nulls and empty values dropped, read-only values (`id`, `meta`, `members.display`)
    /// ignored as RFC 7644 section 3.5.1 says, and `schemas` recomputed from what is present.
    pub fn normalize(
        &self,
        input: &Value,
        source: Source,
    ) -> Result<Map<String, Value>, ScimError> {
        let Value::Object(input) = input else {
            return Err(ScimError::invalid_syntax(format!(
                "a {} must be a JSON object",
                self.kind.name()
            )));
        };
        let mut out = Map::new();
        let mut listed = None;
        for (key, value) in input {
            if key.eq_ignore_ascii_case("schemas") {
                listed = Some(self.check_schemas(value)?);
            } else if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
                continue;
            } else if let Some(ext) = self.extension(key) {
                if let Some(v) = normalize_extension(ext, value)? {
                    out.insert(ext.id.to_string(), v);
                }
            } else if let Some(attr) = self.core.attr(key) {
                if attr.is_read_only() {
                    continue;
                }
                if let Some(v) = normalize_value(attr, value, attr.name)? {
                    out.insert(attr.name.to_string(), v);
                }
            } else if key.to_ascii_lowercase().starts_with("urn:") {
                return Err(ScimError::invalid_syntax(format!(
                    "extension {key} is not declared for {} in the {} profile",
                    self.kind.name(),
                    self.profile.as_str()
                )));
            } else {
                return Err(ScimError::invalid_syntax(format!(
                    "attribute {key} is not declared by the {} schema in the {} profile",
                    self.kind.name(),
                    self.profile.as_str()
                )));
            }
        }
        for attr in self.core.attrs.iter().filter(|a| a.required) {
            if !out.contains_key(attr.name) {
                return Err(ScimError::invalid_value(format!(
                    "required attribute {} is missing",
                    attr.name
                )));
            }
        }
        if let (Source::Request, Some(listed)) = (source, listed) {
            self.check_listed(&listed, &out)?;
        }
        let mut schemas = vec![Value::String(self.core.id.to_string())];
        for ext in &self.extensions {
            if out.contains_key(ext.id) {
                schemas.push(Value::String(ext.id.to_string()));
            }
        }
        out.insert("schemas".to_string(), Value::Array(schemas));
        Ok(out)
    }

    /// The canonical URNs a `schemas` value lists; each must be declared for this resource type.
    fn check_schemas(&self, value: &Value) -> Result<Vec<&'static str>, ScimError> {
        let not_uris = || ScimError::invalid_syntax("schemas must be an array of URIs");
        let Value::Array(items) = value else {
            return Err(not_uris());
        };
        let mut listed = Vec::new();
        for item in items {
            let urn = item.as_str().ok_or_else(not_uris)?;
            if urn.eq_ignore_ascii_case(self.core.id) {
                listed.push(self.core.id);
            } else if let Some(ext) = self.extension(urn) {
                listed.push(ext.id);
            } else {
                return Err(ScimError::invalid_syntax(format!(
                    "schema {urn} is not declared for {} in the {} profile",
                    self.kind.name(),
                    self.profile.as_str()
                )));
            }
        }
        Ok(listed)
    }

    /// RFC 7643 section 3: `schemas` names the core schema and each extension present.
    fn check_listed(
        &self,
        listed: &[&'static str],
        body: &Map<String, Value>,
    ) -> Result<(), ScimError> {
        if !listed.contains(&self.core.id) {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must list the core schema {}",
                self.core.id
            )));
        }
        for ext in &self.extensions {
            if body.contains_key(ext.id) && !listed.contains(&ext.id) {
                return Err(ScimError::invalid_syntax(format!(
                    "the body holds {0} attributes, so schemas must list {0}",
                    ext.id
                )));
            }
        }
        Ok(())
    }
}

/// Whether `key` is a `schemas` member inside an extension object (some clients repeat the
/// extension's URN there); any other URN in it is an error.
pub fn is_schemas_member(ext: &SchemaDef, key: &str, value: &Value) -> Result<bool, ScimError> {
    if !key.eq_ignore_ascii_case("schemas") {
        return Ok(false);
    }
    let names_only_ext = value.as_array().is_some_and(|items| {
        items
            .iter()
            .all(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ext.id)))
    });
    if names_only_ext {
        Ok(true)
    } else {
        Err(ScimError::invalid_syntax(format!(
            "schemas inside {0} may only name {0}",
            ext.id
        )))
    }
}

fn normalize_extension(ext: &SchemaDef, value: &Value) -> Result<Option<Value>, ScimError> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{} must be an object",
                ext.id
            )));
        }
    };
    let mut out = Map::new();
    for (key, v) in map {
        if is_schemas_member(ext, key, v)? {
            continue;
        }
        let Some(attr) = ext.attr(key) else {
            return Err(ScimError::invalid_syntax(format!(
                "attribute {}:{key} is not declared",
                ext.id
            )));
        };
        if attr.is_read_only() {
            continue;
        }
        let path = format!("{}:{}", ext.id, attr.name);
        if let Some(v) = normalize_value(attr, v, &path)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Checks one attribute value (all its values if multi-valued); `None` means unassigned.
pub fn normalize_value(attr: &Attr, value: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !attr.multi {
        return normalize_single(attr, value, path);
    }
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!(
            "{path} is multi-valued and must be an array"
        )));
    };
    let mut out = Vec::new();
    for item in items {
        if let Some(v) = normalize_single(attr, item, path)? {
            out.push(v);
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "{path}: at most one value may be primary (RFC 7643 section 2.4), got {primaries}"
        )));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn normalize_single(attr: &Attr, value: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| {
        ScimError::invalid_value(format!("{path} must be {expected}, got {value}"))
    };
    match (attr.kind, value) {
        (_, Value::Null) => Ok(None),
        (Kind::Boolean, Value::Bool(_)) => Ok(Some(value.clone())),
        (Kind::Boolean, _) => Err(wrong("a JSON boolean")),
        (Kind::String, Value::String(s)) => {
            if !attr.canonical.is_empty() && !attr.canonical.contains(&s.as_str()) {
                return Err(ScimError::invalid_value(format!(
                    "{path} must be one of {}, got {s:?}",
                    attr.canonical.join(", ")
                )));
            }
            Ok(Some(value.clone()))
        }
        (Kind::Reference, Value::String(s)) => {
            if !is_uri(s) {
                return Err(wrong("a URI (RFC 7643 section 2.3.7)"));
            }
            Ok(Some(value.clone()))
        }
        (Kind::String | Kind::Reference, _) => Err(wrong("a string")),
        (Kind::DateTime, Value::String(s)) => {
            if parse_date_time(s).is_none() {
                return Err(wrong("an xsd:dateTime such as 2024-01-31T00:00:00Z"));
            }
            Ok(Some(value.clone()))
        }
        (Kind::DateTime, _) => Err(wrong("an xsd:dateTime string")),
        (Kind::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, v) in map {
                let Some(sub) = attr.sub_attr(key) else {
                    return Err(ScimError::invalid_syntax(format!(
                        "attribute {path}.{key} is not declared"
                    )));
                };
                if sub.is_read_only() {
                    continue;
                }
                let sub_path = format!("{path}.{}", sub.name);
                if let Some(v) = normalize_single(sub, v, &sub_path)? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        (Kind::Complex, _) => Err(wrong("an object")),
    }
}

/// An absolute URI with a scheme, or a relative reference (RFC 3986), without spaces or the
/// characters a URI never holds unescaped.
fn is_uri(s: &str) -> bool {
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(c);
    if s.is_empty() || s.chars().any(forbidden) {
        return false;
    }
    match s.split_once(':') {
        Some((scheme, rest)) if !scheme.contains(['/', '?', '#']) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
        }
        _ => true,
    }
}

/// Parses an xsd:dateTime: with a UTC offset or `Z`, or a civil date-time without one.
pub fn parse_date_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    if !s.contains('T') {
        return None;
    }
    let civil = s.parse::<jiff::civil::DateTime>().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::super::error::ScimType;
    use super::super::schema::{
        ENTERPRISE_USER, GROUP, Profile, ResourceKind, USER, WT_GROUP, WT_USER,
    };
    use super::*;
    use serde_json::json;

    fn users(profile: Profile) -> ResourceSchema {
        ResourceSchema::new(profile, ResourceKind::User)
    }

    #[test]
    fn documented_profile_rejects_extensions_and_unknown_attributes() {
        let schema = users(Profile::Documented);
        let err = schema
            .normalize(
                &json!({"userName": "a@x.se", "nickName": "A"}),
                Source::Request,
            )
            .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        assert!(err.detail.contains("nickName"), "{}", err.detail);
        let err = schema
            .normalize(
                &json!({"userName": "a@x.se", WT_USER: {"gender": "Male"}}),
                Source::Request,
            )
            .unwrap_err();
        assert!(err.detail.contains(WT_USER), "{}", err.detail);
    }

    #[test]
    fn normalize_canonicalises_names_and_checks_types() {
        let schema = users(Profile::Extended);
        let out = schema
            .normalize(
                &json!({
                    "USERNAME": "a@x.se",
                    "Name": {"GivenName": "A"},
                    "active": null,
                    WT_USER: {"gender": "Female", "birthDate": "1980-02-03T00:00:00Z"},
                }),
                Source::Request,
            )
            .unwrap();
        assert_eq!(out["userName"], "a@x.se");
        assert_eq!(out["name"]["givenName"], "A");
        assert!(!out.contains_key("active"));
        assert_eq!(out["schemas"], json!([USER, WT_USER]));

        for bad in [
            json!({"userName": "a", "active": "true"}),
            json!({"userName": "a", WT_USER: {"gender": "male"}}),
            json!({"userName": "a", WT_USER: {"birthDate": "1980-02-03"}}),
            json!({"userName": "a", WT_USER: {"birthDate": "3a57b8c1-79ab-4c3d-9e8f-1234"}}),
            json!({"userName": "a", WT_USER: {"birthDate": "1980-02-30T00:00:00Z"}}),
            json!({"userName": "a", WT_USER: {"birthDate": 19800203}}),
            json!({"userName": "a", "emails": {"value": "a@x.se"}}),
            json!({"userName": ["a"]}),
            json!({"userName": "a", "name": "A B"}),
            json!({"userName": "a", ENTERPRISE_USER: {"manager": {"$ref": "not a uri"}}}),
            json!({"userName": "a", "emails": [
                {"value": "a@x.se", "primary": true},
                {"value": "b@x.se", "primary": true},
            ]}),
            json!({"active": true}),
        ] {
            let err = schema.normalize(&bad, Source::Request).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{bad}");
            assert_eq!(err.status, 400, "{bad}");
        }
    }

    #[test]
    fn schemas_must_list_the_core_schema_and_each_extension_present() {
        let schema = users(Profile::Extended);
        for bad in [
            json!({"schemas": [WT_USER], "userName": "a", WT_USER: {"gender": "Male"}}),
            json!({"schemas": [USER], "userName": "a", WT_USER: {"gender": "Male"}}),
            json!({"schemas": [USER, GROUP], "userName": "a"}),
            json!({"schemas": USER, "userName": "a"}),
        ] {
            let err = schema.normalize(&bad, Source::Request).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax), "{bad}");
        }
        // A patched body is not held to the schemas it had before the patch.
        let patched = json!({"schemas": [USER], "userName": "a", WT_USER: {"gender": "Male"}});
        let out = schema.normalize(&patched, Source::Patched).unwrap();
        assert_eq!(out["schemas"], json!([USER, WT_USER]));
        // Listing an extension without attributes, or no schemas at all, is fine.
        for good in [
            json!({"schemas": [USER, ENTERPRISE_USER], "userName": "a"}),
            json!({"userName": "a", WT_USER: {"gender": "Male"}}),
        ] {
            schema.normalize(&good, Source::Request).unwrap();
        }
    }

    #[test]
    fn read_only_values_are_ignored_and_extension_schemas_tolerated() {
        let groups = ResourceSchema::new(Profile::Extended, ResourceKind::Group);
        let out = groups
            .normalize(
                &json!({
                    "displayName": "G",
                    "members": [{"value": "u1", "display": "Anna", "$ref": "https://x/Users/u1"}],
                    WT_GROUP: {
                        "schemas": [WT_GROUP],
                        "managers": [{"value": "u1", "display": "Anna"}],
                    },
                }),
                Source::Request,
            )
            .unwrap();
        assert_eq!(
            out["members"],
            json!([{"value": "u1", "$ref": "https://x/Users/u1"}])
        );
        assert_eq!(out[WT_GROUP], json!({"managers": [{"value": "u1"}]}));
        let err = groups
            .normalize(
                &json!({"displayName": "G", WT_GROUP: {"schemas": [USER]}}),
                Source::Request,
            )
            .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn uris() {
        for good in [
            "https://x.se/api/scim/Users/1",
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "/Users/1",
            "Users/1",
        ] {
            assert!(is_uri(good), "{good}");
        }
        for bad in ["", "not a uri", "1http:x", "https:", "a\"b"] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}
