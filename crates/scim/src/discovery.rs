//! What a SCIM server says it supports, built purely from its discovery documents
//! (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::wire::{
    GROUP_SCHEMA, ListResponse, ResourceType, Schema, SchemaAttribute, ServiceProviderConfig,
    USER_SCHEMA,
};

/// Attributes of the core schemas assumed when the server serves no `/Schemas`.
const ASSUMED_USER_ATTRIBUTES: &[&str] = &[
    "userName",
    "name",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "displayName",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "active",
];
const ASSUMED_GROUP_ATTRIBUTES: &[&str] = &["displayName", "members", "members.value"];
/// Common attributes of every resource (RFC 7643 §3.1), never listed in a schema.
const COMMON_ATTRIBUTES: &[&str] = &["id", "externalId", "meta"];

/// The server's abilities as the sync needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    pub patch: bool,
    pub filter: bool,
    pub filter_max_results: Option<u64>,
    pub bulk: bool,
    pub bulk_max_operations: Option<u64>,
    pub bulk_max_payload_size: Option<u64>,
    pub etag: bool,
    pub sort: bool,
    /// Extension URNs of the User and Group resource types, sorted.
    pub user_extensions: Vec<String>,
    pub group_extensions: Vec<String>,
    /// False when the server serves no `/Schemas`: core attributes are then assumed.
    pub schemas_served: bool,
    /// Lower-cased schema URN -> lower-cased attribute paths (`name`, `name.givenname`).
    attributes: BTreeMap<String, BTreeSet<String>>,
}

impl ServerInfo {
    /// Builds the picture from the three documents; `schemas` is `None` when the server has
    /// no `/Schemas` endpoint.
    pub fn from_documents(
        config: &ServiceProviderConfig,
        resource_types: &[ResourceType],
        schemas: Option<&[Schema]>,
    ) -> ServerInfo {
        let mut attributes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        match schemas {
            Some(schemas) => {
                for schema in schemas {
                    let paths = attributes
                        .entry(schema.id.to_ascii_lowercase())
                        .or_default();
                    collect_paths(&schema.attributes, "", paths);
                }
            }
            None => {
                for (urn, assumed) in [
                    (USER_SCHEMA, ASSUMED_USER_ATTRIBUTES),
                    (GROUP_SCHEMA, ASSUMED_GROUP_ATTRIBUTES),
                ] {
                    attributes
                        .entry(urn.to_ascii_lowercase())
                        .or_default()
                        .extend(assumed.iter().map(|a| a.to_ascii_lowercase()));
                }
            }
        }
        for core in [USER_SCHEMA, GROUP_SCHEMA] {
            attributes
                .entry(core.to_ascii_lowercase())
                .or_default()
                .extend(COMMON_ATTRIBUTES.iter().map(|a| a.to_ascii_lowercase()));
        }
        ServerInfo {
            patch: config.patch.supported,
            filter: config.filter.supported,
            filter_max_results: config.filter.max_results,
            bulk: config.bulk.supported,
            bulk_max_operations: config.bulk.max_operations,
            bulk_max_payload_size: config.bulk.max_payload_size,
            etag: config.etag.supported,
            sort: config.sort.supported,
            user_extensions: extensions_of(resource_types, USER_SCHEMA, "User"),
            group_extensions: extensions_of(resource_types, GROUP_SCHEMA, "Group"),
            schemas_served: schemas.is_some(),
            attributes,
        }
    }

    /// Whether the server declares `path` (e.g. `name.givenName`, `manager.value`, `gender`)
    /// in the schema `schema_urn`. Names compare case-insensitively, as SCIM says.
    pub fn supports_attribute(&self, schema_urn: &str, path: &str) -> bool {
        self.attributes
            .get(&schema_urn.to_ascii_lowercase())
            .is_some_and(|paths| paths.contains(&path.to_ascii_lowercase()))
    }

    pub fn has_user_extension(&self, schema_urn: &str) -> bool {
        contains_ignore_case(&self.user_extensions, schema_urn)
    }

    pub fn has_group_extension(&self, schema_urn: &str) -> bool {
        contains_ignore_case(&self.group_extensions, schema_urn)
    }
}

fn contains_ignore_case(list: &[String], wanted: &str) -> bool {
    list.iter().any(|s| s.eq_ignore_ascii_case(wanted))
}

fn collect_paths(attributes: &[SchemaAttribute], prefix: &str, out: &mut BTreeSet<String>) {
    for attribute in attributes {
        let path = format!("{prefix}{}", attribute.name.to_ascii_lowercase());
        collect_paths(&attribute.sub_attributes, &format!("{path}."), out);
        out.insert(path);
    }
}

fn extensions_of(resource_types: &[ResourceType], core: &str, name: &str) -> Vec<String> {
    let found = resource_types
        .iter()
        .find(|rt| rt.schema.eq_ignore_ascii_case(core))
        .or_else(|| resource_types.iter().find(|rt| rt.name == name));
    let mut urns: Vec<String> = found
        .map(|rt| {
            rt.schema_extensions
                .iter()
                .map(|e| e.schema.clone())
                .collect()
        })
        .unwrap_or_default();
    urns.sort();
    urns.dedup();
    urns
}

/// The items of a discovery list, served as a ListResponse or as a bare JSON array.
pub fn list_items<T: serde::de::DeserializeOwned>(body: Value) -> Result<Vec<T>, String> {
    match body {
        Value::Array(_) => serde_json::from_value(body).map_err(|e| e.to_string()),
        Value::Object(_) => serde_json::from_value::<ListResponse<T>>(body)
            .map(|page| page.resources)
            .map_err(|e| e.to_string()),
        _ => Err("expected a list response or a JSON array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ENTERPRISE_USER_SCHEMA;

    const WT_USER: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";
    const WT_GROUP: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";

    fn recorded(name: &str) -> Value {
        let text = match name {
            "config" => include_str!("../tests/fixtures/scim2-server/ServiceProviderConfig.json"),
            "types" => include_str!("../tests/fixtures/scim2-server/ResourceTypes.json"),
            _ => include_str!("../tests/fixtures/scim2-server/Schemas.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_the_recorded_scim2_server_documents() {
        let config: ServiceProviderConfig = serde_json::from_value(recorded("config")).unwrap();
        let types: Vec<ResourceType> = list_items(recorded("types")).unwrap();
        let schemas: Vec<Schema> = list_items(recorded("schemas")).unwrap();
        let info = ServerInfo::from_documents(&config, &types, Some(&schemas));

        assert!(info.patch && info.filter && info.bulk && info.etag);
        assert_eq!(info.filter_max_results, Some(1000));
        assert_eq!(info.bulk_max_operations, Some(1000));
        assert_eq!(info.user_extensions, vec![ENTERPRISE_USER_SCHEMA, WT_USER]);
        assert_eq!(info.group_extensions, vec![WT_GROUP]);
        assert!(info.has_user_extension(WT_USER));
        assert!(info.supports_attribute(USER_SCHEMA, "name.givenName"));
        assert!(info.supports_attribute(USER_SCHEMA, "externalId"));
        assert!(info.supports_attribute(ENTERPRISE_USER_SCHEMA, "manager.value"));
        assert!(info.supports_attribute(WT_USER, "birthdate"));
        assert!(info.supports_attribute(WT_USER, "excludeFromSurveys"));
        assert!(info.supports_attribute(WT_GROUP, "parentExternalId"));
        assert!(!info.supports_attribute(WT_USER, "shoeSize"));
        assert!(!info.supports_attribute(USER_SCHEMA, "name.nickname"));
        assert!(!info.supports_attribute("urn:example:unknown", "gender"));
    }

    #[test]
    fn bare_arrays_and_no_schemas_fall_back_to_core_attributes() {
        let config: ServiceProviderConfig =
            serde_json::from_str(r#"{"patch":{"supported":true},"filter":{"supported":false}}"#)
                .unwrap();
        let types: Vec<ResourceType> = list_items(serde_json::json!([
            {"id": "User", "name": "User", "endpoint": "/Users", "schema": USER_SCHEMA,
             "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": false}]},
            {"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": GROUP_SCHEMA}
        ]))
        .unwrap();
        let info = ServerInfo::from_documents(&config, &types, None);

        assert!(info.patch);
        assert!(!info.filter && !info.bulk);
        assert!(!info.schemas_served);
        assert_eq!(info.user_extensions, vec![ENTERPRISE_USER_SCHEMA]);
        assert!(info.group_extensions.is_empty());
        assert!(info.supports_attribute(USER_SCHEMA, "userName"));
        assert!(info.supports_attribute(USER_SCHEMA, "emails.primary"));
        assert!(info.supports_attribute(GROUP_SCHEMA, "members"));
        assert!(!info.supports_attribute(ENTERPRISE_USER_SCHEMA, "manager.value"));
    }

    #[test]
    fn a_list_that_is_neither_object_nor_array_is_refused() {
        assert!(list_items::<ResourceType>(Value::String("x".into())).is_err());
    }
}
