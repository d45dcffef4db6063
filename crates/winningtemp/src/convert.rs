//! The one conversion between the core's user values and SCIM users, both ways, through the
//! attribute table. Every read matches attribute names without regard to case (RFC 7643 2.1).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use flexsync_core::current::{Attribute, TargetUser};
use flexsync_core::desired::{Gender, UserSegment, UserValues};
use flexsync_core::ids::{ExternalId, TargetId};
use flexsync_scim::{Email, Name, PatchOperation, ScimUser, USER_SCHEMA};

use crate::attributes::AttributeMap;

/// A date as the `dateTime` Winningtemp stores (midnight UTC).
fn date_time(date: jiff::civil::Date) -> String {
    format!("{date}T00:00:00Z")
}

/// The date part of a `dateTime` (or of a bare date).
fn parse_date(value: &Value) -> Option<jiff::civil::Date> {
    value.as_str()?.get(..10)?.parse().ok()
}

/// The JSON value an attribute is sent as; None where the value is empty (the attribute is then
/// removed, or left out of a create). The manager travels as a target id, see [`manager_value`].
pub fn wire_value(attribute: &Attribute, values: &UserValues) -> Option<Value> {
    Some(match attribute {
        Attribute::UserName => json!(values.user_name),
        Attribute::Email => {
            let email = values.email.as_ref()?;
            json!([{"value": email, "type": "work", "primary": true}])
        }
        Attribute::GivenName => json!(values.given_name),
        Attribute::FamilyName => json!(values.family_name),
        Attribute::Active => json!(values.active),
        Attribute::Gender => json!(values.gender?.as_str()),
        Attribute::BirthDate => json!(date_time(values.birth_date?)),
        Attribute::ExcludeFromSurveys => json!(values.exclude_from_surveys?),
        Attribute::EmploymentStart => json!(date_time(values.employment_start?)),
        Attribute::EmploymentEnd => json!(date_time(values.employment_end?)),
        Attribute::Manager => return None,
        Attribute::Segments => {
            if values.segments.is_empty() {
                return None;
            }
            let list: Vec<Value> = values
                .segments
                .iter()
                .map(|(category, segment)| {
                    json!({
                        "category": category,
                        "value": segment.name,
                        "externalId": segment.external_id,
                    })
                })
                .collect();
            Value::Array(list)
        }
        Attribute::Extra(path) => json!(values.extra.get(path)?),
    })
}

/// The enterprise `manager` value pointing at a target id.
pub fn manager_value(manager_id: &TargetId) -> Value {
    json!({ "value": manager_id })
}

/// Reads one extension-held attribute's wire value into `values`.
fn read_value(attribute: &Attribute, value: &Value, values: &mut UserValues) {
    match attribute {
        Attribute::Gender => values.gender = value.as_str().and_then(Gender::parse),
        Attribute::BirthDate => values.birth_date = parse_date(value),
        Attribute::ExcludeFromSurveys => values.exclude_from_surveys = value.as_bool(),
        Attribute::EmploymentStart => values.employment_start = parse_date(value),
        Attribute::EmploymentEnd => values.employment_end = parse_date(value),
        Attribute::Segments => values.segments = segments(value),
        Attribute::Extra(path) => {
            if let Some(text) = value.as_str() {
                values.extra.insert(path.clone(), text.to_string());
            }
        }
        // Core attributes come from the typed fields, the manager from its own reader.
        Attribute::UserName
        | Attribute::Email
        | Attribute::GivenName
        | Attribute::FamilyName
        | Attribute::Active
        | Attribute::Manager => {}
    }
}

/// The `segments` list read back: category -> segment; entries without a category or value
/// are left out. Sub-attribute names match without regard to case.
fn segments(value: &Value) -> BTreeMap<String, UserSegment> {
    let text = |entry: &serde_json::Map<String, Value>, name: &str| {
        entry
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    let mut out = BTreeMap::new();
    for entry in value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        if let (Some(category), Some(name)) = (text(entry, "category"), text(entry, "value")) {
            let external_id = ExternalId::new(text(entry, "externalId").unwrap_or_default());
            out.insert(category, UserSegment { external_id, name });
        }
    }
    out
}

/// A SCIM user as core values, reading only the attributes we map; None without a server id.
pub fn target_user(map: &AttributeMap, user: &ScimUser) -> Option<TargetUser> {
    let id = TargetId::from(user.id.clone()?);
    let name = user.name.as_ref();
    let mut values = UserValues {
        user_name: user.user_name.clone(),
        email: user.primary_email().map(str::to_string),
        given_name: name.and_then(|n| n.given_name.clone()).unwrap_or_default(),
        family_name: name.and_then(|n| n.family_name.clone()).unwrap_or_default(),
        active: user.active.unwrap_or(true),
        ..UserValues::default()
    };
    for (attribute, location) in map.rows().filter(|(_, l)| !l.is_core()) {
        if let Some(value) = user.extension_attribute(&location.schema, &location.path) {
            read_value(&attribute, value, &mut values);
        }
    }
    let manager = map.location(&Attribute::Manager);
    let manager_id = user
        .extension_attribute(&manager.schema, &manager.path)
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(key, _)| key.eq_ignore_ascii_case("value")))
        .and_then(|(_, value)| value.as_str())
        .map(TargetId::from);
    Some(TargetUser {
        id,
        external_id: user.external_id.as_deref().map(ExternalId::from),
        values,
        manager_id,
    })
}

/// The body of a create: core values, every listed attribute that has a value, and the manager
/// when the server holds managers.
pub fn new_user(
    map: &AttributeMap,
    external_id: &ExternalId,
    values: &UserValues,
    attributes: &[Attribute],
    manager_id: Option<&TargetId>,
) -> ScimUser {
    let mut schemas: BTreeSet<String> = BTreeSet::from([USER_SCHEMA.to_string()]);
    let mut extensions: BTreeMap<String, Value> = BTreeMap::new();
    let mut put = |schema: String, path: String, value: Value| {
        schemas.insert(schema.clone());
        let entry = extensions.entry(schema).or_insert_with(|| json!({}));
        if let Some(object) = entry.as_object_mut() {
            object.insert(path, value);
        }
    };
    let mut user = ScimUser {
        external_id: Some(external_id.to_string()),
        user_name: values.user_name.clone(),
        name: Some(Name {
            given_name: Some(values.given_name.clone()),
            family_name: Some(values.family_name.clone()),
            formatted: None,
        }),
        active: Some(values.active),
        ..ScimUser::default()
    };
    for attribute in attributes {
        let location = map.location(attribute);
        if location.is_core() {
            if *attribute == Attribute::Email
                && let Some(email) = &values.email
            {
                user.emails = vec![Email {
                    value: email.clone(),
                    kind: Some("work".into()),
                    primary: Some(true),
                }];
            }
            continue;
        }
        if let Some(value) = wire_value(attribute, values) {
            put(location.schema, location.path, value);
        }
    }
    if let Some(manager_id) = manager_id {
        let location = map.location(&Attribute::Manager);
        put(location.schema, location.path, manager_value(manager_id));
    }
    user.schemas = schemas.into_iter().collect();
    user.extensions = extensions;
    user
}

/// One `replace` per changed attribute (a `remove` where the new value is empty). The manager
/// is linked by its own step.
pub fn change_ops<'a>(
    map: &AttributeMap,
    values: &UserValues,
    attributes: impl Iterator<Item = &'a Attribute>,
) -> Vec<PatchOperation> {
    attributes
        .filter(|a| **a != Attribute::Manager)
        .map(|attribute| {
            let path = map.location(attribute).patch_path();
            match wire_value(attribute, values) {
                Some(value) => PatchOperation::replace(&path, value),
                None => PatchOperation::remove(&path),
            }
        })
        .collect()
}

/// The PATCH that links a user to a manager, or unlinks them.
pub fn manager_op(map: &AttributeMap, manager_id: Option<&TargetId>) -> PatchOperation {
    let path = map.location(&Attribute::Manager).patch_path();
    match manager_id {
        Some(id) => PatchOperation::replace(&path, manager_value(id)),
        None => PatchOperation::remove(&path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::current::Capabilities;
    use flexsync_scim::ENTERPRISE_USER_SCHEMA;
    use flexsync_scim::wire::canonical_keys;
    use jiff::civil::date;

    const WT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";

    fn map() -> AttributeMap {
        AttributeMap {
            user_extension: WT.into(),
            extra: vec![format!("{WT}:department")],
        }
    }

    fn values() -> UserValues {
        UserValues {
            user_name: "anna.svensson@example.se".into(),
            email: Some("anna.svensson@example.se".into()),
            given_name: "Anna".into(),
            family_name: "Svensson".into(),
            gender: Some(Gender::Female),
            birth_date: Some(date(1985, 4, 2)),
            exclude_from_surveys: Some(false),
            employment_start: Some(date(2020, 1, 1)),
            employment_end: Some(date(2026, 12, 31)),
            active: true,
            extra: BTreeMap::from([(format!("{WT}:department"), "Ekonomi".to_string())]),
            columns: BTreeMap::new(),
            segments: BTreeMap::new(),
        }
    }

    /// Every key of a JSON document (extension URNs and attribute names alike) in upper case.
    fn shout(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(key, inner)| (key.to_uppercase(), shout(inner)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(shout).collect()),
            other => other,
        }
    }

    fn round_trip(transform: fn(Value) -> Value) {
        let map = map();
        let mut all: Vec<Attribute> = map.rows().map(|(a, _)| a).collect();
        all.retain(|a| *a != Attribute::Manager);
        let sent = new_user(&map, &"E1".into(), &values(), &all, Some(&"m-1".into()));
        let mut body = serde_json::to_value(&sent).unwrap_or_default();
        body["id"] = json!("t-1");
        let answered: ScimUser =
            serde_json::from_value(canonical_keys(transform(body))).unwrap_or_default();
        let back = target_user(&map, &answered);
        let expected = TargetUser {
            id: "t-1".into(),
            external_id: Some("E1".into()),
            values: values(),
            manager_id: Some("m-1".into()),
        };
        assert_eq!(back, Some(expected));
    }

    #[test]
    fn values_survive_the_round_trip_through_a_scim_user() {
        round_trip(|body| body);
    }

    #[test]
    fn values_survive_a_server_that_answers_in_other_cases() {
        round_trip(shout);
    }

    #[test]
    fn a_create_carries_only_the_listed_attributes_that_have_values() {
        let map = map();
        let mut values = values();
        values.birth_date = None;
        let attributes: Vec<Attribute> = Capabilities::core()
            .attributes
            .into_iter()
            .chain([Attribute::BirthDate, Attribute::Gender])
            .collect();
        let user = new_user(&map, &"E1".into(), &values, &attributes, None);
        let body = serde_json::to_value(&user).unwrap_or_default();
        assert_eq!(body[WT], json!({ "gender": "Female" }));
        assert!(body.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(body["emails"][0]["value"], "anna.svensson@example.se");
    }

    #[test]
    fn an_emptied_value_is_removed_and_others_replaced() {
        let map = map();
        let mut values = values();
        values.employment_end = None;
        let ops = change_ops(
            &map,
            &values,
            [
                Attribute::EmploymentEnd,
                Attribute::GivenName,
                Attribute::Manager,
            ]
            .iter(),
        );
        let ops = serde_json::to_value(&ops).unwrap_or_default();
        assert_eq!(
            ops,
            json!([
                {"op": "remove", "path": format!("{WT}:employmentEndDate")},
                {"op": "replace", "path": "name.givenName", "value": "Anna"},
            ])
        );
    }
}
