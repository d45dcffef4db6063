//! Our own thin serde types for SCIM 2.0 messages (RFC 7643/7644). They keep every attribute
//! they do not model (extensions above all) in `extensions`, keyed as the server sent them.
//! Users, groups and list pages are read by [`crate::decode`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default)]
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Schema extensions by URN, and any other attribute we do not model, as sent.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Email {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Member {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl ScimUser {
    /// One attribute of a schema extension, e.g. (`...winningtemp:2.0:User`, `gender`).
    pub fn extension_attribute(&self, schema_urn: &str, name: &str) -> Option<&Value> {
        extension_attribute(&self.extensions, schema_urn, name)
    }

    /// The server id of the manager (`manager.value` in the enterprise extension).
    pub fn manager_id(&self) -> Option<&str> {
        self.extension_attribute(ENTERPRISE_USER_SCHEMA, "manager")?
            .get("value")?
            .as_str()
    }

    /// The primary email, or the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }

    /// Lists the core schema and every extension URN the user carries in `schemas`, as strict
    /// servers require.
    pub fn complete_schemas(&mut self) {
        complete_schemas(&mut self.schemas, USER_SCHEMA, &self.extensions);
    }
}

impl ScimGroup {
    pub fn extension_attribute(&self, schema_urn: &str, name: &str) -> Option<&Value> {
        extension_attribute(&self.extensions, schema_urn, name)
    }

    pub fn complete_schemas(&mut self) {
        complete_schemas(&mut self.schemas, GROUP_SCHEMA, &self.extensions);
    }
}

fn extension_attribute<'a>(
    extensions: &'a BTreeMap<String, Value>,
    schema_urn: &str,
    name: &str,
) -> Option<&'a Value> {
    let (_, body) = extensions
        .iter()
        .find(|(urn, _)| urn.eq_ignore_ascii_case(schema_urn))?;
    let object = body.as_object()?;
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn complete_schemas(schemas: &mut Vec<String>, core: &str, extensions: &BTreeMap<String, Value>) {
    let wanted = std::iter::once(core).chain(
        extensions
            .iter()
            .filter(|(key, value)| key.starts_with("urn:") && value.is_object())
            .map(|(key, _)| key.as_str()),
    );
    for urn in wanted {
        if !schemas.iter().any(|s| s.eq_ignore_ascii_case(urn)) {
            schemas.push(urn.to_string());
        }
    }
}

/// A page of a search (RFC 7644 §3.4.2). An empty page may omit `Resources`. Read by
/// [`crate::decode`], as are users, groups and their parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default)]
    pub total_results: Option<u64>,
    #[serde(default)]
    pub start_index: Option<u64>,
    #[serde(default)]
    pub items_per_page: Option<u64>,
    #[serde(rename = "Resources", alias = "resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    #[serde(alias = "Add", alias = "ADD")]
    Add,
    #[serde(alias = "Remove", alias = "REMOVE")]
    Remove,
    #[serde(alias = "Replace", alias = "REPLACE")]
    Replace,
}

/// A PATCH request body (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchOp {
    pub fn new(operations: Vec<PatchOperation>) -> PatchOp {
        PatchOp {
            schemas: vec![PATCH_OP_SCHEMA.to_string()],
            operations,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOperation {
    fn at_path(op: Op, path: impl Into<String>, value: Option<Value>) -> PatchOperation {
        PatchOperation {
            op,
            path: Some(path.into()),
            value,
        }
    }

    pub fn replace(path: impl Into<String>, value: Value) -> PatchOperation {
        PatchOperation::at_path(Op::Replace, path, Some(value))
    }

    pub fn add(path: impl Into<String>, value: Value) -> PatchOperation {
        PatchOperation::at_path(Op::Add, path, Some(value))
    }

    pub fn remove(path: impl Into<String>) -> PatchOperation {
        PatchOperation::at_path(Op::Remove, path, None)
    }

    /// Adds users to a group's `members` by server id.
    pub fn add_members<S: AsRef<str>>(ids: &[S]) -> PatchOperation {
        let members: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "value": id.as_ref() }))
            .collect();
        PatchOperation::add("members", Value::Array(members))
    }

    /// Removes one member by server id: path `members[value eq "id"]`.
    pub fn remove_member(id: &str) -> PatchOperation {
        PatchOperation::remove(format!("members[value eq {}]", quote_filter_value(id)))
    }

    /// Sets the enterprise `manager` to `{"value": id}`.
    pub fn set_manager(id: &str) -> PatchOperation {
        PatchOperation::replace(
            format!("{ENTERPRISE_USER_SCHEMA}:manager"),
            json!({ "value": id }),
        )
    }

    pub fn clear_manager() -> PatchOperation {
        PatchOperation::remove(format!("{ENTERPRISE_USER_SCHEMA}:manager"))
    }
}

/// SCIM attribute names are case-insensitive (RFC 7643 section 2.1), but our types read the
/// standard spelling: this renames any other spelling of the core and message attributes we read
/// (`UserName`, `EXTERNALID`, ...) to it, at every depth but inside extension objects (keyed by
/// their URN), which are matched without regard to case where they are read.
pub fn canonical_keys(mut value: Value) -> Value {
    canonicalise(&mut value);
    value
}

/// The attribute names [`canonical_keys`] spells the standard way.
pub(crate) const CANONICAL_NAMES: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "userName",
    "name",
    "givenName",
    "familyName",
    "formatted",
    "emails",
    "value",
    "type",
    "primary",
    "active",
    "displayName",
    "meta",
    "resourceType",
    "created",
    "lastModified",
    "location",
    "version",
    "members",
    "display",
    "Resources",
    "totalResults",
    "itemsPerPage",
    "startIndex",
    "status",
    "scimType",
    "detail",
];

/// Renames, in place, the keys that spell a standard name another way; the standard spelling
/// wins where both are sent. Most servers send the standard spelling, so most maps are left as
/// they are.
fn canonicalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let renames: Vec<(String, &str)> = map
                .keys()
                .filter(|key| !key.contains(':'))
                .filter_map(|key| {
                    let name = CANONICAL_NAMES
                        .iter()
                        .find(|name| name.eq_ignore_ascii_case(key))?;
                    (*name != key).then(|| (key.clone(), *name))
                })
                .collect();
            for (key, name) in renames {
                if let Some(inner) = map.remove(&key)
                    && !map.contains_key(name)
                {
                    map.insert(name.to_string(), inner);
                }
            }
            for (key, inner) in map.iter_mut() {
                if !key.contains(':') {
                    canonicalise(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonicalise),
        _ => {}
    }
}

/// A value as a filter string literal (a JSON string): quotes, backslashes and control
/// characters escaped.
pub fn quote_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `attribute eq "value"`, with the value escaped.
pub fn eq_filter(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", quote_filter_value(value))
}

/// A SCIM error body (RFC 7644 §3.12). `status` should be a string; some servers send a number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimErrorBody {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default)]
    pub status: Option<StatusValue>,
    #[serde(default)]
    pub scim_type: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusValue {
    Number(u16),
    Text(String),
}

impl StatusValue {
    pub fn code(&self) -> Option<u16> {
        match self {
            StatusValue::Number(n) => Some(*n),
            StatusValue::Text(t) => t.trim().parse().ok(),
        }
    }
}

// Discovery documents (RFC 7643 §5-7).

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    #[serde(default)]
    pub patch: Supported,
    #[serde(default)]
    pub bulk: BulkConfig,
    #[serde(default)]
    pub filter: FilterConfig,
    #[serde(default)]
    pub change_password: Supported,
    #[serde(default)]
    pub sort: Supported,
    #[serde(default)]
    pub etag: Supported,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supported {
    #[serde(default)]
    pub supported: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkConfig {
    #[serde(default)]
    pub supported: bool,
    #[serde(default)]
    pub max_operations: Option<u64>,
    #[serde(default)]
    pub max_payload_size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterConfig {
    #[serde(default)]
    pub supported: bool,
    #[serde(default)]
    pub max_results: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub schema_extensions: Vec<SchemaExtension>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaExtension {
    pub schema: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub attributes: Vec<SchemaAttribute>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaAttribute {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub mutability: Option<String>,
    #[serde(default)]
    pub sub_attributes: Vec<SchemaAttribute>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_are_read_whatever_their_case() {
        let raw = json!({
            "ID": "u1", "ExternalId": "e1", "USERNAME": "a@example.se",
            "Name": {"GivenName": "Anna", "familyname": "Berg"},
            "Emails": [{"Value": "a@example.se", "Primary": true}], "Active": false,
            "urn:x:Ext": {"Department": "HR"}
        });
        let user: ScimUser = serde_json::from_value(canonical_keys(raw)).unwrap();
        assert_eq!(user.id.as_deref(), Some("u1"));
        assert_eq!(user.external_id.as_deref(), Some("e1"));
        assert_eq!(user.user_name, "a@example.se");
        let name = user.name.unwrap();
        assert_eq!(name.given_name.as_deref(), Some("Anna"));
        assert_eq!(name.family_name.as_deref(), Some("Berg"));
        assert_eq!(user.emails[0].value, "a@example.se");
        assert_eq!(user.active, Some(false));
        // Extension objects keep their own spelling.
        assert_eq!(user.extensions["urn:x:Ext"]["Department"], "HR");
    }

    #[test]
    fn the_standard_spelling_wins_when_a_server_sends_two() {
        let raw = json!({"userName": "a@example.se", "UserName": "b@example.se", "X": 1});
        let keyed = canonical_keys(raw);
        assert_eq!(keyed, json!({"userName": "a@example.se", "X": 1}));
    }

    #[test]
    fn a_user_keeps_extension_and_unknown_attributes_through_a_round_trip() {
        let text = r#"{
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User"],
            "id": "u1", "externalId": "1001", "userName": "anna@example.se",
            "name": {"givenName": "Anna", "familyName": "Berg"},
            "emails": [{"value": "anna@example.se", "type": "work", "primary": true}],
            "active": true,
            "title": "Boss",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "u0"}},
            "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User": {"gender": "Female", "excludeFromSurveys": false}
        }"#;
        let user: ScimUser = serde_json::from_str(text).unwrap();
        assert_eq!(user.user_name, "anna@example.se");
        assert_eq!(user.manager_id(), Some("u0"));
        assert_eq!(user.primary_email(), Some("anna@example.se"));
        assert_eq!(
            user.extension_attribute(
                "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User",
                "GENDER"
            ),
            Some(&json!("Female"))
        );
        assert_eq!(user.extensions.get("title"), Some(&json!("Boss")));
        let again: Value = serde_json::to_value(&user).unwrap();
        let original: Value = serde_json::from_str(text).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn a_new_user_serialises_without_server_fields() {
        let mut user = ScimUser {
            user_name: "a@x.se".into(),
            external_id: Some("7".into()),
            ..ScimUser::default()
        };
        user.extensions.insert(
            ENTERPRISE_USER_SCHEMA.into(),
            json!({"manager": {"value": "m"}}),
        );
        user.complete_schemas();
        user.complete_schemas();
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "externalId": "7",
                "userName": "a@x.se",
                ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}
            })
        );
    }

    #[test]
    fn patch_ops_serialise_lower_case_with_the_patch_schema() {
        let body = PatchOp::new(vec![
            PatchOperation::replace("active", json!(false)),
            PatchOperation::set_manager("m1"),
            PatchOperation::remove_member("u\"2"),
            PatchOperation::add_members(&["u3"]),
        ]);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({
                "schemas": [PATCH_OP_SCHEMA],
                "Operations": [
                    {"op": "replace", "path": "active", "value": false},
                    {"op": "replace",
                     "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                     "value": {"value": "m1"}},
                    {"op": "remove", "path": "members[value eq \"u\\\"2\"]"},
                    {"op": "add", "path": "members", "value": [{"value": "u3"}]}
                ]
            })
        );
        let parsed: PatchOperation =
            serde_json::from_str(r#"{"op":"Replace","path":"active","value":true}"#).unwrap();
        assert_eq!(parsed.op, Op::Replace);
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(eq_filter("externalId", "1001"), r#"externalId eq "1001""#);
        assert_eq!(
            eq_filter("userName", r#"o"brien\x"#),
            r#"userName eq "o\"brien\\x""#
        );
        assert_eq!(quote_filter_value("a\nb\u{1}"), "\"a\\nb\\u0001\"");
        assert_eq!(quote_filter_value("Åsa Öberg"), "\"Åsa Öberg\"");
    }

    #[test]
    fn error_status_may_be_a_string_or_a_number() {
        let a: ScimErrorBody = serde_json::from_str(r#"{"status":"409"}"#).unwrap();
        let b: ScimErrorBody = serde_json::from_str(r#"{"status":409}"#).unwrap();
        let c: ScimErrorBody = serde_json::from_str(r#"{"status":"oops"}"#).unwrap();
        assert_eq!(a.status.and_then(|s| s.code()), Some(409));
        assert_eq!(b.status.and_then(|s| s.code()), Some(409));
        assert_eq!(c.status.and_then(|s| s.code()), None);
    }

    #[test]
    fn an_empty_page_may_omit_resources() {
        let page: ListResponse<ScimUser> =
            serde_json::from_str(r#"{"totalResults": 4, "startIndex": 9, "itemsPerPage": 0}"#)
                .unwrap();
        assert!(page.resources.is_empty());
        assert_eq!(page.total_results, Some(4));
    }
}
