//! `attributes` and `excludedAttributes` (RFC 7644 section 3.4.2.5): which attributes of a
//! resource an answer carries, honouring each attribute's `returned`.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::AttrPath;
use super::schema::{Attr, ResourceSchema, Returned};

/// The attributes an answer carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Projection {
    /// Every attribute returned by default.
    #[default]
    Default,
    /// `attributes`: these (and those returned always) only.
    Only(Vec<String>),
    /// `excludedAttributes`: all returned by default but these.
    Except(Vec<String>),
}

/// What a path names once resolved against one resource type: a whole extension, or an
/// attribute (in the core schema when `container` is `None`) and perhaps one sub-attribute.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Extension(&'static str),
    Attr {
        container: Option<&'static str>,
        name: &'static str,
        sub: Option<&'static str>,
    },
}

/// How much of one attribute a list of targets names.
#[derive(Debug, PartialEq)]
enum Named {
    Nothing,
    Whole,
    Subs(Vec<&'static str>),
}

impl Projection {
    /// From the two mutually exclusive lists; each entry may itself be comma-separated.
    pub fn from_lists(attributes: &[String], excluded: &[String]) -> Result<Projection, ScimError> {
        let split = |items: &[String]| -> Result<Vec<String>, ScimError> {
            let mut paths = Vec::new();
            for item in items {
                for path in item.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    check_path(path)?;
                    paths.push(path.to_string());
                }
            }
            Ok(paths)
        };
        let (only, except) = (split(attributes)?, split(excluded)?);
        match (only.is_empty(), except.is_empty()) {
            (true, true) => Ok(Projection::Default),
            (false, true) => Ok(Projection::Only(only)),
            (true, false) => Ok(Projection::Except(except)),
            (false, false) => Err(ScimError::invalid_value(
                "attributes and excludedAttributes are mutually exclusive (RFC 7644 3.4.2.5)",
            )),
        }
    }

    /// The resource as this projection shows it; `resource` is a stored resource, rendered.
    pub fn apply(&self, schema: &ResourceSchema, resource: Value) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let targets = match self {
            Projection::Default => Vec::new(),
            Projection::Only(paths) | Projection::Except(paths) => {
                paths.iter().filter_map(|p| resolve(schema, p)).collect()
            }
        };
        let mut out = Map::new();
        for (key, value) in map {
            if key == "schemas" {
                out.insert(key, value);
            } else if let Some(ext) = schema.extension(&key) {
                let Value::Object(attrs) = value else {
                    continue;
                };
                let kept: Map<String, Value> = attrs
                    .into_iter()
                    .filter_map(|(name, v)| {
                        let attr = ext.attr(&name)?;
                        let v = self.pick(&targets, Some(ext.id), attr, v)?;
                        Some((name, v))
                    })
                    .collect();
                if !kept.is_empty() {
                    out.insert(key, Value::Object(kept));
                }
            } else if let Some(attr) = schema.core_or_common(&key) {
                if let Some(v) = self.pick(&targets, None, attr, value) {
                    out.insert(key, v);
                }
            } else {
                out.insert(key, value);
            }
        }
        let present: Vec<Value> = std::iter::once(schema.core.id)
            .chain(
                schema
                    .extensions
                    .iter()
                    .map(|e| e.id)
                    .filter(|id| out.contains_key(*id)),
            )
            .map(|id| Value::String(id.to_string()))
            .collect();
        if out.contains_key("schemas") {
            out.insert("schemas".to_string(), Value::Array(present));
        }
        Value::Object(out)
    }

    fn pick(
        &self,
        targets: &[Target],
        container: Option<&'static str>,
        attr: &Attr,
        value: Value,
    ) -> Option<Value> {
        match attr.returned {
            Returned::Never => return None,
            Returned::Always => return Some(value),
            Returned::Default | Returned::Request => {}
        }
        let named = named(targets, container, attr);
        match self {
            Projection::Default => (attr.returned == Returned::Default).then_some(value),
            Projection::Only(_) => match named {
                Named::Nothing => None,
                Named::Whole => Some(value),
                Named::Subs(subs) => keep_subs(attr, value, |name| subs.contains(&name)),
            },
            Projection::Except(_) => match named {
                _ if attr.returned == Returned::Request => None,
                Named::Nothing => Some(value),
                Named::Whole => None,
                Named::Subs(subs) => keep_subs(attr, value, |name| !subs.contains(&name)),
            },
        }
    }
}

/// A path must look like one (`[urn:]name[.sub]` or an extension URN); whether the resource
/// type declares it is not checked, as with a root search it may name another type's attribute.
fn check_path(path: &str) -> Result<(), ScimError> {
    AttrPath::parse(path).map(|_| ()).map_err(|why| {
        ScimError::invalid_value(format!("attributes and excludedAttributes: {why}"))
    })
}

fn resolve(schema: &ResourceSchema, path: &str) -> Option<Target> {
    if let Some(ext) = schema.extension(path) {
        return Some(Target::Extension(ext.id));
    }
    let path = AttrPath::parse(path).ok()?;
    let resolved = schema.resolve(path.urn.as_deref(), &path.name, path.sub.as_deref())?;
    Some(Target::Attr {
        container: resolved.container,
        name: resolved.attr.name,
        sub: resolved.sub.map(|s| s.name),
    })
}

fn named(targets: &[Target], container: Option<&'static str>, attr: &Attr) -> Named {
    let mut subs = Vec::new();
    for target in targets {
        match *target {
            Target::Extension(id) if container == Some(id) => return Named::Whole,
            Target::Attr {
                container: c,
                name,
                sub,
            } if c == container && name == attr.name => match sub {
                None => return Named::Whole,
                Some(sub) => subs.push(sub),
            },
            _ => {}
        }
    }
    if subs.is_empty() {
        Named::Nothing
    } else {
        Named::Subs(subs)
    }
}

/// The sub-attributes `keep` accepts (and those returned always) of a complex value or of
/// each of its values; `None` when nothing is left.
fn keep_subs(attr: &Attr, value: Value, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let one = |item: Value| -> Option<Value> {
        let Value::Object(map) = item else {
            return Some(item);
        };
        let kept: Map<String, Value> = map
            .into_iter()
            .filter(|(name, _)| {
                attr.sub_attr(name).is_some_and(|sub| {
                    sub.returned == Returned::Always
                        || (sub.returned != Returned::Never && keep(sub.name))
                })
            })
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(one).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => one(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{ENTERPRISE_USER, Profile, ResourceKind, USER, WT_USER};
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER, ENTERPRISE_USER, WT_USER],
            "id": "u1",
            "userName": "a@x.se",
            "name": {"givenName": "Anna", "familyName": "Berg"},
            "emails": [{"value": "a@x.se", "type": "work", "primary": true}],
            "meta": {"resourceType": "User", "version": "W/\"1\""},
            ENTERPRISE_USER: {"manager": {"value": "m1"}, "department": "Ekonomi"},
            WT_USER: {"gender": "Female"},
        })
    }

    fn project(attributes: &[&str], excluded: &[&str]) -> Value {
        let schema = ResourceSchema::new(Profile::Extended, ResourceKind::User);
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Projection::from_lists(&owned(attributes), &owned(excluded))
            .unwrap()
            .apply(&schema, user())
    }

    #[test]
    fn attributes_keep_the_named_ones_and_id() {
        assert_eq!(
            project(&["userName,name.givenName"], &[]),
            json!({
                "schemas": [USER],
                "id": "u1",
                "userName": "a@x.se",
                "name": {"givenName": "Anna"},
            })
        );
        assert_eq!(
            project(
                &[&format!("{ENTERPRISE_USER}:manager"), "EMAILS.VALUE"],
                &[]
            ),
            json!({
                "schemas": [USER, ENTERPRISE_USER],
                "id": "u1",
                "emails": [{"value": "a@x.se"}],
                ENTERPRISE_USER: {"manager": {"value": "m1"}},
            })
        );
        assert_eq!(
            project(&[WT_USER], &[])[WT_USER],
            json!({"gender": "Female"})
        );
    }

    #[test]
    fn excluded_attributes_drop_the_named_ones_but_never_id() {
        let out = project(&[], &["name", "id", "emails.type", ENTERPRISE_USER]);
        assert_eq!(out["id"], "u1");
        assert!(out.get("name").is_none(), "{out}");
        assert!(out.get(ENTERPRISE_USER).is_none(), "{out}");
        assert_eq!(out["emails"], json!([{"value": "a@x.se", "primary": true}]));
        assert_eq!(out["schemas"], json!([USER, WT_USER]));
        assert_eq!(out["meta"]["resourceType"], "User");
    }

    #[test]
    fn unknown_names_are_ignored_and_both_lists_at_once_refused() {
        assert_eq!(project(&[], &["nickName"]), user());
        let both = Projection::from_lists(&["a".to_string()], &["b".to_string()]);
        assert_eq!(
            both.unwrap_err().scim_type,
            Some(super::super::error::ScimType::InvalidValue)
        );
        let bad = Projection::from_lists(&["name..x".to_string()], &[]);
        assert!(bad.is_err());
    }
}
