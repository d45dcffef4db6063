//! PATCH (RFC 7644 section 3.5.2): parsing a PatchOp request and applying its operations to a
//! stored resource body. The caller validates the result against the schema afterwards.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, CompareOp, Filter};
use super::schema::{Attr, Kind, ResourceSchema};
use super::validate::is_schemas_member;

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// A parsed PATCH path: `attrPath`, `attrPath[filter]` or `attrPath[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
struct PatchPath {
    attr: AttrPath,
    filter: Option<Filter>,
    sub_after_filter: Option<String>,
}

fn parse_path(text: &str) -> Result<PatchPath, ScimError> {
    let bad = |why: String| {
        ScimError::bad_request(
            ScimType::InvalidPath,
            format!("bad PATCH path {text:?}: {why}"),
        )
    };
    let text = text.trim();
    let Some(open) = text.find('[') else {
        return Ok(PatchPath {
            attr: AttrPath::parse(text).map_err(bad)?,
            filter: None,
            sub_after_filter: None,
        });
    };
    let Some(close) = text.rfind(']').filter(|c| *c > open) else {
        return Err(bad("missing ']'".to_string()));
    };
    let attr = AttrPath::parse(&text[..open]).map_err(bad)?;
    if attr.sub.is_some() {
        return Err(bad(
            "a value filter follows the attribute, not a sub-attribute".into(),
        ));
    }
    let filter = Filter::parse(&text[open + 1..close])?;
    let rest = &text[close + 1..];
    let sub_after_filter = match rest {
        "" => None,
        _ => match rest.strip_prefix('.') {
            Some(sub) if !sub.is_empty() && !sub.contains(['.', '[', ']']) => Some(sub.to_string()),
            _ => return Err(bad(format!("unexpected {rest:?} after the filter"))),
        },
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub_after_filter,
    })
}

/// Reads a PatchOp body: the PatchOp `schemas`, and `Operations` with ops in any case.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax("a PatchOp must be a JSON object"));
    };
    let get = |name: &str| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let declares_patch_op = get("schemas").and_then(Value::as_array).is_some_and(|s| {
        s.iter()
            .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP)))
    });
    if !declares_patch_op {
        return Err(ScimError::invalid_syntax(format!(
            "a PatchOp must list {PATCH_OP} in schemas"
        )));
    }
    let Some(Value::Array(operations)) = get("Operations") else {
        return Err(ScimError::invalid_syntax(
            "a PatchOp needs an Operations array",
        ));
    };
    if operations.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty"));
    }
    let mut ops = Vec::new();
    for (i, operation) in operations.iter().enumerate() {
        let Value::Object(operation) = operation else {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] is not an object"
            )));
        };
        let field = |name: &str| {
            operation
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let op = match field("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(op) if op == "add" => OpKind::Add,
            Some(op) if op == "replace" => OpKind::Replace,
            Some(op) if op == "remove" => OpKind::Remove,
            other => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{i}].op must be add, replace or remove, got {other:?}"
                )));
            }
        };
        let path = match field("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{i}].path must be a string, got {other}"
                )));
            }
        };
        let value = field("value").cloned();
        if op != OpKind::Remove && value.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] ({op:?}) needs a value"
            )));
        }
        ops.push(PatchOp { op, path, value });
    }
    Ok(ops)
}

/// Applies `ops` in order to `resource` (canonical attribute names).
pub fn apply(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    ops: &[PatchOp],
) -> Result<(), ScimError> {
    for op in ops {
        let value = op.value.as_ref().unwrap_or(&Value::Null);
        match &op.path {
            Some(path) => apply_path(schema, resource, op.op, path, value)?,
            None => apply_without_path(schema, resource, op.op, value)?,
        }
    }
    Ok(())
}

fn apply_without_path(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    op: OpKind,
    value: &Value,
) -> Result<(), ScimError> {
    if op == OpKind::Remove {
        return Err(ScimError::bad_request(
            ScimType::NoTarget,
            "remove needs a path",
        ));
    }
    let Value::Object(values) = value else {
        return Err(ScimError::invalid_syntax(
            "without a path, value must be an object of attributes",
        ));
    };
    for (key, v) in values {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(attrs) = v else {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    ext.id
                )));
            };
            for (name, v) in attrs {
                if is_schemas_member(ext, name, v)? {
                    continue;
                }
                apply_path(schema, resource, op, &format!("{}:{name}", ext.id), v)?;
            }
        } else {
            apply_path(schema, resource, op, key, v)?;
        }
    }
    Ok(())
}

fn apply_path(
    schema: &ResourceSchema,
    resource: &mut Map<String, Value>,
    op: OpKind,
    text: &str,
    value: &Value,
) -> Result<(), ScimError> {
    if let Some(ext) = schema.extension(text.trim()) {
        let id = ext.id;
        return match op {
            OpKind::Remove => {
                resource.remove(id);
                Ok(())
            }
            _ => apply_without_path(
                schema,
                resource,
                op,
                &Value::Object([(id.to_string(), value.clone())].into_iter().collect()),
            ),
        };
    }
    let path = parse_path(text)?;
    let Some(resolved) = schema.resolve(
        path.attr.urn.as_deref(),
        &path.attr.name,
        path.attr.sub.as_deref(),
    ) else {
        return Err(ScimError::invalid_syntax(format!(
            "attribute {text} is not declared by the {} schema in the {} profile",
            schema.kind.name(),
            schema.profile.as_str()
        )));
    };
    let attr = resolved.attr;
    if attr.is_read_only() || resolved.sub.is_some_and(Attr::is_read_only) {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("{} is read-only", resolved.display()),
        ));
    }
    let container = match resolved.container {
        Some(urn) => {
            let entry = resource
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry.as_object_mut() {
                Some(map) => map,
                None => return Err(ScimError::invalid_value(format!("{urn} must be an object"))),
            }
        }
        None => resource,
    };
    match path.filter {
        Some(filter) => {
            let sub = match &path.sub_after_filter {
                Some(name) => Some(attr.sub_attr(name).ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "attribute {}.{name} is not declared",
                        attr.name
                    ))
                })?),
                None => None,
            };
            apply_filtered(container, attr, &filter, sub, op, value)
        }
        None => match resolved.sub {
            Some(sub) => apply_sub(container, attr, sub, op, value),
            None => apply_whole(container, attr, op, value),
        },
    }
}

/// `name.givenName`, `manager.value`, `emails.value` (every value of a multi-valued attribute).
fn apply_sub(
    container: &mut Map<String, Value>,
    attr: &Attr,
    sub: &Attr,
    op: OpKind,
    value: &Value,
) -> Result<(), ScimError> {
    let slot = container.entry(attr.name.to_string()).or_insert_with(|| {
        if attr.multi {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    match slot {
        Value::Array(items) => {
            if items.is_empty() && op != OpKind::Remove {
                items.push(Value::Object(Map::new()));
            }
            for item in items.iter_mut() {
                set_sub(item, sub, op, value);
            }
        }
        other => set_sub(other, sub, op, value),
    }
    Ok(())
}

fn set_sub(item: &mut Value, sub: &Attr, op: OpKind, value: &Value) {
    if !item.is_object() {
        *item = Value::Object(Map::new());
    }
    if let Some(map) = item.as_object_mut() {
        match op {
            OpKind::Remove => {
                map.remove(sub.name);
            }
            OpKind::Add | OpKind::Replace => {
                map.insert(sub.name.to_string(), value.clone());
            }
        }
    }
}

fn apply_whole(
    container: &mut Map<String, Value>,
    attr: &Attr,
    op: OpKind,
    value: &Value,
) -> Result<(), ScimError> {
    match op {
        OpKind::Remove if attr.multi && !value.is_null() => {
            let Some(Value::Array(items)) = container.get_mut(attr.name) else {
                return Ok(());
            };
            let doomed = as_list(value);
            items.retain(|item| !doomed.iter().any(|d| same_value(attr, item, d)));
            Ok(())
        }
        OpKind::Remove => {
            container.remove(attr.name);
            Ok(())
        }
        OpKind::Add if attr.multi => {
            let slot = container
                .entry(attr.name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(items) = slot {
                for new in as_list(value) {
                    let new = canonical_keys(attr, &new);
                    if !items.iter().any(|item| same_value(attr, item, &new)) {
                        items.push(new);
                    }
                }
            }
            Ok(())
        }
        OpKind::Replace if attr.multi => {
            let items = as_list(value)
                .iter()
                .map(|v| canonical_keys(attr, v))
                .collect();
            container.insert(attr.name.to_string(), Value::Array(items));
            Ok(())
        }
        OpKind::Add | OpKind::Replace if attr.kind == Kind::Complex => {
            let Value::Object(values) = value else {
                container.insert(attr.name.to_string(), value.clone());
                return Ok(());
            };
            let slot = container
                .entry(attr.name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            merge(attr, slot, values);
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            container.insert(attr.name.to_string(), value.clone());
            Ok(())
        }
    }
}

/// `emails[type eq "work"].value`, `members[value eq "id"]`.
fn apply_filtered(
    container: &mut Map<String, Value>,
    attr: &Attr,
    filter: &Filter,
    sub: Option<&Attr>,
    op: OpKind,
    value: &Value,
) -> Result<(), ScimError> {
    if !attr.multi || attr.kind != Kind::Complex {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            format!("{} is not a multi-valued complex attribute", attr.name),
        ));
    }
    filter.check_element(attr)?;
    let slot = container
        .entry(attr.name.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(vec![slot.take()]);
    }
    let Value::Array(items) = slot else {
        return Ok(());
    };
    if op == OpKind::Remove && sub.is_none() {
        items.retain(|item| !filter.matches_element(attr, item));
        return Ok(());
    }
    let mut matched = false;
    for item in items
        .iter_mut()
        .filter(|item| filter.matches_element(attr, item))
    {
        matched = true;
        match (sub, value) {
            (Some(sub), _) => set_sub(item, sub, op, value),
            (None, Value::Object(values)) => merge(attr, item, values),
            (None, _) => {
                return Err(ScimError::invalid_value(format!(
                    "{}[...] takes an object value",
                    attr.name
                )));
            }
        }
    }
    if matched || op == OpKind::Remove {
        return Ok(());
    }
    // Nothing matched: create the value the filter describes, as Azure-style clients expect.
    let Some(mut new) = equalities(filter) else {
        return Err(ScimError::bad_request(
            ScimType::NoTarget,
            format!("no value of {} matches the filter", attr.name),
        ));
    };
    match (sub, value) {
        (Some(sub), _) => set_sub(&mut new, sub, op, value),
        (None, Value::Object(values)) => merge(attr, &mut new, values),
        (None, _) => {}
    }
    items.push(canonical_keys(attr, &new));
    Ok(())
}

/// The object a filter of `a eq x [and b eq y ...]` describes, if it is that simple.
fn equalities(filter: &Filter) -> Option<Value> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub.is_none() && !value.is_null() => {
            let mut map = Map::new();
            map.insert(path.name.clone(), value.clone());
            Some(Value::Object(map))
        }
        Filter::And(a, b) => {
            let (Value::Object(mut a), Value::Object(b)) = (equalities(a)?, equalities(b)?) else {
                return None;
            };
            a.extend(b);
            Some(Value::Object(a))
        }
        _ => None,
    }
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn merge(attr: &Attr, slot: &mut Value, values: &Map<String, Value>) {
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Some(map) = slot.as_object_mut() {
        for (key, v) in values {
            let name = attr.sub_attr(key).map_or(key.as_str(), |s| s.name);
            map.insert(name.to_string(), v.clone());
        }
    }
}

/// Sub-attribute keys in their declared spelling; unknown keys stay for validation to report.
fn canonical_keys(attr: &Attr, value: &Value) -> Value {
    match value {
        Value::Object(map) if attr.kind == Kind::Complex => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let name = attr.sub_attr(k).map_or(k.as_str(), |s| s.name);
                    (name.to_string(), v.clone())
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// References to resources (group members and managers) are the same when their `value` is;
/// other values when equal.
fn same_value(attr: &Attr, a: &Value, b: &Value) -> bool {
    if attr.references_resources() {
        let id = |v: &Value| v.get("value").cloned();
        return id(a).is_some() && id(a) == id(b);
    }
    canonical_keys(attr, a) == canonical_keys(attr, b)
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER, Profile, ResourceKind, WT_USER};
    use super::super::validate::Source;
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "userName": "a@x.se",
            "name": {"givenName": "Anna", "familyName": "Berg"},
            "active": true,
            "emails": [{"value": "a@x.se", "type": "work", "primary": true}],
            "externalId": "E1",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn patch(
        profile: Profile,
        kind: ResourceKind,
        start: Map<String, Value>,
        ops: Value,
    ) -> Result<Map<String, Value>, ScimError> {
        let schema = ResourceSchema::new(profile, kind);
        let ops = parse_request(&json!({"schemas": [PATCH_OP], "Operations": ops}))?;
        let mut resource = start;
        apply(&schema, &mut resource, &ops)?;
        schema.normalize(&Value::Object(resource), Source::Patched)
    }

    fn patch_user(ops: Value) -> Result<Map<String, Value>, ScimError> {
        patch(Profile::Extended, ResourceKind::User, user(), ops)
    }

    #[test]
    fn ops_in_any_case_with_simple_paths() {
        let out = patch_user(json!([
            {"op": "Replace", "path": "active", "value": false},
            {"op": "REPLACE", "path": "name.givenName", "value": "Annie"},
            {"op": "add", "path": "displayName", "value": "Annie Berg"},
            {"op": "remove", "path": "externalId"},
        ]))
        .unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(
            out["name"],
            json!({"givenName": "Annie", "familyName": "Berg"})
        );
        assert_eq!(out["displayName"], "Annie Berg");
        assert!(!out.contains_key("externalId"));
    }

    #[test]
    fn value_filter_paths_update_or_create_the_matching_value() {
        let out = patch_user(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x.se"},
        ]))
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "new@x.se", "type": "work", "primary": true}])
        );

        let out = patch_user(json!([
            {"op": "add", "path": "emails[type eq \"home\"].value", "value": "home@x.se"},
        ]))
        .unwrap();
        assert_eq!(
            out["emails"][1],
            json!({"type": "home", "value": "home@x.se"})
        );

        let err = patch_user(json!([
            {"op": "replace", "path": "emails[value co \"zzz\"].value", "value": "b@x.se"},
        ]))
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn extension_paths_and_no_path_values_with_urn_keys() {
        let out = patch_user(json!([
            {"op": "replace", "path": format!("{ENTERPRISE_USER}:manager"), "value": {"value": "m1"}},
            {"op": "add", "path": format!("{WT_USER}:gender"), "value": "Female"},
        ]))
        .unwrap();
        assert_eq!(out[ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
        assert_eq!(out[WT_USER]["gender"], "Female");
        assert_eq!(
            out["schemas"],
            json!([super::super::schema::USER, ENTERPRISE_USER, WT_USER])
        );

        let out = patch_user(json!([{"op": "replace", "value": {
            "active": false,
            "name": {"familyName": "Ek"},
            "name.givenName": "Ann",
            ENTERPRISE_USER: {"manager": {"value": "m2"}, "department": "Ekonomi"},
            format!("{WT_USER}:excludeFromSurveys"): true,
        }}]))
        .unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(out["name"], json!({"givenName": "Ann", "familyName": "Ek"}));
        assert_eq!(
            out[ENTERPRISE_USER],
            json!({"manager": {"value": "m2"}, "department": "Ekonomi"})
        );
        assert_eq!(out[WT_USER]["excludeFromSurveys"], true);

        let out = patch_user(json!([
            {"op": "add", "path": format!("{ENTERPRISE_USER}:manager"), "value": {"value": "m1"}},
            {"op": "remove", "path": format!("{ENTERPRISE_USER}:manager")},
        ]))
        .unwrap();
        assert!(!out.contains_key(ENTERPRISE_USER));
    }

    #[test]
    fn undeclared_attributes_and_bad_types_are_rejected() {
        let err = patch_user(json!([{"op": "add", "path": "nickName", "value": "A"}])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        assert!(err.detail.contains("nickName"), "{}", err.detail);

        let err = patch(
            Profile::Documented,
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "value": {ENTERPRISE_USER: {"department": "x"}}}]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        assert!(err.detail.contains(ENTERPRISE_USER), "{}", err.detail);

        let err =
            patch_user(json!([{"op": "replace", "path": "active", "value": "False"}])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));

        let err = patch_user(
            json!([{"op": "replace", "path": format!("{WT_USER}:gender"), "value": "M"}]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));

        let err = patch_user(json!([{"op": "replace", "path": "id", "value": "x"}])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
    }

    #[test]
    fn request_shape_is_checked() {
        let no_schema =
            parse_request(&json!({"Operations": [{"op": "add", "path": "active", "value": true}]}));
        assert_eq!(
            no_schema.unwrap_err().scim_type,
            Some(ScimType::InvalidSyntax)
        );
        let bad_op = parse_request(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "merge", "value": {}}]}),
        );
        assert_eq!(bad_op.unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        let no_value = parse_request(
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "active"}]}),
        );
        assert_eq!(
            no_value.unwrap_err().scim_type,
            Some(ScimType::InvalidSyntax)
        );
        let remove_everything = patch_user(json!([{"op": "remove"}]));
        assert_eq!(
            remove_everything.unwrap_err().scim_type,
            Some(ScimType::NoTarget)
        );
    }

    #[test]
    fn group_members_add_remove_and_replace() {
        let group = json!({"displayName": "G", "members": [{"value": "u1"}, {"value": "u2"}]})
            .as_object()
            .cloned()
            .unwrap();
        let out = patch(
            Profile::Documented,
            ResourceKind::Group,
            group.clone(),
            json!([
                {"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]},
                {"op": "remove", "path": "members[value eq \"u1\"]"},
            ]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "u2"}, {"value": "u3"}]));

        let out = patch(
            Profile::Documented,
            ResourceKind::Group,
            group.clone(),
            json!([{"op": "remove", "path": "members", "value": [{"value": "u2"}]}]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "u1"}]));

        let out = patch(
            Profile::Documented,
            ResourceKind::Group,
            group,
            json!([
                {"op": "replace", "path": "members", "value": [{"value": "u9"}]},
                {"op": "replace", "value": {"displayName": "H", "externalId": "g-1"}},
            ]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "u9"}]));
        assert_eq!(out["displayName"], "H");
        assert_eq!(out["externalId"], "g-1");
    }
}
