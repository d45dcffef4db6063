//! The schemas each profile advertises, their RFC 7643 JSON, and validation of incoming
//! resources against them (undeclared attributes, types, canonical values, required ones).

use std::str::FromStr;

use serde_json::{Map, Value, json};

use super::error::ScimError;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const WT_USER: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";
pub const WT_GROUP: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";
pub const GENDERS: &[&str] = &["None", "Male", "Female", "NonBinary"];

/// Which surface the emulator shows: Winningtemp's documented one, or that plus extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    Documented,
    Extended,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Documented => "documented",
            Profile::Extended => "extended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SCIM profile {0:?} (expected \"documented\" or \"extended\")")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        match s.trim().to_ascii_lowercase().as_str() {
            "documented" => Ok(Profile::Documented),
            "extended" => Ok(Profile::Extended),
            _ => Err(UnknownProfile(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::DateTime => "dateTime",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
        }
    }
}

/// One attribute definition (RFC 7643 section 7).
#[derive(Debug, Clone)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub read_only: bool,
    pub unique_server: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    pub sub: Vec<Attr>,
}

impl Attr {
    fn new(name: &'static str, kind: Kind, description: &'static str) -> Attr {
        Attr {
            name,
            kind,
            multi: false,
            required: false,
            case_exact: false,
            read_only: false,
            unique_server: false,
            canonical: &[],
            reference_types: &[],
            description,
            sub: Vec::new(),
        }
    }
    fn string(name: &'static str, description: &'static str) -> Attr {
        Attr::new(name, Kind::String, description)
    }
    fn boolean(name: &'static str, description: &'static str) -> Attr {
        Attr::new(name, Kind::Boolean, description)
    }
    fn date_time(name: &'static str, description: &'static str) -> Attr {
        Attr::new(name, Kind::DateTime, description)
    }
    fn reference(name: &'static str, types: &'static [&'static str]) -> Attr {
        Attr {
            reference_types: types,
            ..Attr::new(name, Kind::Reference, "URI of the referenced resource")
        }
    }
    fn complex(name: &'static str, description: &'static str, sub: Vec<Attr>) -> Attr {
        Attr {
            sub,
            ..Attr::new(name, Kind::Complex, description)
        }
    }
    fn multi(self) -> Attr {
        Attr {
            multi: true,
            ..self
        }
    }
    fn required(self) -> Attr {
        Attr {
            required: true,
            ..self
        }
    }
    fn case_exact(self) -> Attr {
        Attr {
            case_exact: true,
            ..self
        }
    }
    fn read_only(self) -> Attr {
        Attr {
            read_only: true,
            ..self
        }
    }
    fn unique(self) -> Attr {
        Attr {
            unique_server: true,
            ..self
        }
    }
    fn canonical(self, values: &'static [&'static str]) -> Attr {
        Attr {
            canonical: values,
            ..self
        }
    }

    pub fn sub_attr(&self, name: &str) -> Option<&Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), json!(self.name));
        map.insert("type".into(), json!(self.kind.as_str()));
        map.insert("multiValued".into(), json!(self.multi));
        map.insert("description".into(), json!(self.description));
        map.insert("required".into(), json!(self.required));
        if matches!(self.kind, Kind::String | Kind::Reference) {
            map.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical.is_empty() {
            map.insert("canonicalValues".into(), json!(self.canonical));
        }
        if !self.reference_types.is_empty() {
            map.insert("referenceTypes".into(), json!(self.reference_types));
        }
        let mutability = if self.read_only {
            "readOnly"
        } else {
            "readWrite"
        };
        map.insert("mutability".into(), json!(mutability));
        map.insert("returned".into(), json!("default"));
        if self.kind != Kind::Complex {
            let uniqueness = if self.unique_server { "server" } else { "none" };
            map.insert("uniqueness".into(), json!(uniqueness));
        }
        if !self.sub.is_empty() {
            let sub: Vec<Value> = self.sub.iter().map(Attr::to_json).collect();
            map.insert("subAttributes".into(), Value::Array(sub));
        }
        Value::Object(map)
    }
}

/// One schema: its URN, name and attributes.
#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: Vec<Attr>,
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        let attrs: Vec<Value> = self.attrs.iter().map(Attr::to_json).collect();
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attrs,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            },
        })
    }
}

fn external_id() -> Attr {
    Attr::string(
        "externalId",
        "Identifier of the resource in the provisioning client",
    )
    .case_exact()
}

fn user_schema() -> SchemaDef {
    SchemaDef {
        id: USER,
        name: "User",
        description: "User Account",
        attrs: vec![
            Attr::string(
                "userName",
                "Unique identifier for the User, used to sign in",
            )
            .required()
            .unique(),
            Attr::complex(
                "name",
                "The components of the user's name",
                vec![
                    Attr::string("givenName", "Given name"),
                    Attr::string("familyName", "Family name"),
                ],
            ),
            Attr::string("displayName", "Name shown to end-users"),
            Attr::complex(
                "emails",
                "Email addresses for the user",
                vec![
                    Attr::string("value", "Email address"),
                    Attr::string("type", "work, home or other")
                        .canonical(&["work", "home", "other"]),
                    Attr::boolean("primary", "The primary address"),
                ],
            )
            .multi(),
            Attr::boolean("active", "Whether the user may sign in and take surveys"),
            external_id(),
        ],
    }
}

fn group_schema() -> SchemaDef {
    SchemaDef {
        id: GROUP,
        name: "Group",
        description: "Group",
        attrs: vec![
            Attr::string("displayName", "Name of the group").required(),
            Attr::complex(
                "members",
                "Members of the group",
                vec![
                    Attr::string("value", "id of the member").case_exact(),
                    Attr::reference("$ref", &["User", "Group"]),
                    Attr::string("display", "Name of the member").read_only(),
                    Attr::string("type", "User or Group").canonical(&["User", "Group"]),
                ],
            )
            .multi(),
            external_id(),
        ],
    }
}

fn enterprise_user_schema() -> SchemaDef {
    SchemaDef {
        id: ENTERPRISE_USER,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attrs: vec![
            Attr::string("employeeNumber", "Numeric or alphanumeric employee number"),
            Attr::string("department", "Name of a department"),
            Attr::complex(
                "manager",
                "The user's manager",
                vec![
                    Attr::string("value", "id of the manager's User").case_exact(),
                    Attr::reference("$ref", &["User"]),
                    Attr::string("displayName", "Name of the manager").read_only(),
                ],
            ),
        ],
    }
}

fn wt_user_schema() -> SchemaDef {
    SchemaDef {
        id: WT_USER,
        name: "WinningtempUser",
        description: "Winningtemp user attributes used to slice survey results",
        attrs: vec![
            Attr::string("gender", "Gender")
                .case_exact()
                .canonical(GENDERS),
            Attr::date_time("birthDate", "Birthday"),
            Attr::boolean("excludeFromSurveys", "Keep the user out of surveys"),
            Attr::date_time("employmentStartDate", "First day of employment"),
            Attr::date_time("employmentEndDate", "Last day of employment"),
        ],
    }
}

fn wt_group_schema() -> SchemaDef {
    SchemaDef {
        id: WT_GROUP,
        name: "WinningtempGroup",
        description: "Winningtemp group attributes",
        attrs: vec![
            Attr::string("parentExternalId", "externalId of the parent group").case_exact(),
        ],
    }
}

/// Attributes every resource has but no schema lists: `id` and `meta`.
fn common_attrs() -> Vec<Attr> {
    vec![
        Attr::string("id", "Server identifier")
            .case_exact()
            .read_only(),
        Attr::complex(
            "meta",
            "Resource metadata",
            vec![
                Attr::string("resourceType", "User or Group").case_exact(),
                Attr::date_time("created", "When created"),
                Attr::date_time("lastModified", "When last changed"),
                Attr::reference("location", &["uri"]),
                Attr::string("version", "Weak version").case_exact(),
            ],
        )
        .read_only(),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
}

/// A resource type as one profile shows it: the core schema and the declared extensions.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    pub kind: ResourceKind,
    pub profile: Profile,
    pub core: SchemaDef,
    pub extensions: Vec<SchemaDef>,
    common: Vec<Attr>,
}

/// Where an attribute path lands: the extension URN holding it (None for core), the
/// canonical attribute name, the canonical sub-attribute, and the definitions.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    pub container: Option<&'static str>,
    pub attr: &'a Attr,
    pub sub: Option<&'a Attr>,
}

impl Resolved<'_> {
    /// The definition of what the path points at: the sub-attribute if any, else the attribute.
    pub fn leaf(&self) -> &Attr {
        self.sub.unwrap_or(self.attr)
    }

    /// The path in canonical spelling, for messages.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(urn) = self.container {
            s.push_str(urn);
            s.push(':');
        }
        s.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub.name);
        }
        s
    }
}

impl ResourceSchema {
    pub fn new(profile: Profile, kind: ResourceKind) -> ResourceSchema {
        let (core, extensions) = match (kind, profile) {
            (ResourceKind::User, Profile::Documented) => (user_schema(), vec![]),
            (ResourceKind::User, Profile::Extended) => (
                user_schema(),
                vec![enterprise_user_schema(), wt_user_schema()],
            ),
            (ResourceKind::Group, Profile::Documented) => (group_schema(), vec![]),
            (ResourceKind::Group, Profile::Extended) => (group_schema(), vec![wt_group_schema()]),
        };
        ResourceSchema {
            kind,
            profile,
            core,
            extensions,
            common: common_attrs(),
        }
    }

    pub fn extension(&self, urn: &str) -> Option<&SchemaDef> {
        self.extensions
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// The ResourceType resource (RFC 7643 section 6).
    pub fn resource_type_json(&self, base_url: &str) -> Value {
        let extensions: Vec<Value> = self
            .extensions
            .iter()
            .map(|e| json!({"schema": e.id, "required": false}))
            .collect();
        let name = self.kind.name();
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": format!("/{}", self.kind.endpoint()),
            "description": self.core.description,
            "schema": self.core.id,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{name}"),
            },
        })
    }

    /// Resolves `[urn:]name[.sub]`, case-insensitively, including `id` and `meta.*`.
    pub fn resolve(
        &self,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<Resolved<'_>> {
        let (container, attr) = match urn {
            Some(urn) if urn.eq_ignore_ascii_case(self.core.id) => (None, self.core.attr(name)?),
            Some(urn) => {
                let ext = self.extension(urn)?;
                (Some(ext.id), ext.attr(name)?)
            }
            None => {
                let attr = self.core.attr(name).or_else(|| {
                    self.common
                        .iter()
                        .find(|a| a.name.eq_ignore_ascii_case(name))
                })?;
                (None, attr)
            }
        };
        let sub = match sub {
            Some(sub) => Some(attr.sub_attr(sub)?),
            None => None,
        };
        Some(Resolved {
            container,
            attr,
            sub,
        })
    }

    /// Validates a client-supplied resource and returns it in canonical form: declared attributes
    /// only, canonical names, nulls and empty values dropped, `id` and `meta` ignored, and
    /// `schemas` recomputed from what is present.
    pub fn normalize(&self, input: &Value) -> Result<Map<String, Value>, ScimError> {
        let Value::Object(input) = input else {
            return Err(ScimError::invalid_syntax(format!(
                "a {} must be a JSON object",
                self.kind.name()
            )));
        };
        let mut out = Map::new();
        for (key, value) in input {
            if key.eq_ignore_ascii_case("schemas") {
                self.check_schemas(value)?;
            } else if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
                continue;
            } else if let Some(ext) = self.extension(key) {
                if let Some(v) = normalize_extension(ext, value)? {
                    out.insert(ext.id.to_string(), v);
                }
            } else if let Some(attr) = self.core.attr(key) {
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
        let mut schemas = vec![Value::String(self.core.id.to_string())];
        for ext in &self.extensions {
            if out.contains_key(ext.id) {
                schemas.push(Value::String(ext.id.to_string()));
            }
        }
        out.insert("schemas".to_string(), Value::Array(schemas));
        Ok(out)
    }

    fn check_schemas(&self, value: &Value) -> Result<(), ScimError> {
        let Value::Array(items) = value else {
            return Err(ScimError::invalid_syntax(
                "schemas must be an array of URIs",
            ));
        };
        for item in items {
            let Some(urn) = item.as_str() else {
                return Err(ScimError::invalid_syntax(
                    "schemas must be an array of URIs",
                ));
            };
            if !urn.eq_ignore_ascii_case(self.core.id) && self.extension(urn).is_none() {
                return Err(ScimError::invalid_syntax(format!(
                    "schema {urn} is not declared for {} in the {} profile",
                    self.kind.name(),
                    self.profile.as_str()
                )));
            }
        }
        Ok(())
    }

    pub fn to_schema_json(&self, base_url: &str) -> Vec<Value> {
        std::iter::once(&self.core)
            .chain(self.extensions.iter())
            .map(|s| s.to_json(base_url))
            .collect()
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
        let Some(attr) = ext.attr(key) else {
            return Err(ScimError::invalid_syntax(format!(
                "attribute {}:{key} is not declared",
                ext.id
            )));
        };
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
        (Kind::String | Kind::Reference, Value::String(s)) => {
            if !attr.canonical.is_empty() && !attr.canonical.contains(&s.as_str()) {
                return Err(ScimError::invalid_value(format!(
                    "{path} must be one of {}, got {s:?}",
                    attr.canonical.join(", ")
                )));
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

/// ServiceProviderConfig (RFC 7643 section 5).
pub fn service_provider_config(base_url: &str, max_results: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://www.winningtemp.com/",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued by Winningtemp",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_profile_rejects_extensions_and_unknown_attributes() {
        let schema = ResourceSchema::new(Profile::Documented, ResourceKind::User);
        let err = schema
            .normalize(&json!({"userName": "a@x.se", "nickName": "A"}))
            .unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(super::super::error::ScimType::InvalidSyntax)
        );
        assert!(err.detail.contains("nickName"), "{}", err.detail);
        let err = schema
            .normalize(&json!({"userName": "a@x.se", WT_USER: {"gender": "Male"}}))
            .unwrap_err();
        assert!(err.detail.contains(WT_USER), "{}", err.detail);
    }

    #[test]
    fn normalize_canonicalises_names_and_checks_types() {
        let schema = ResourceSchema::new(Profile::Extended, ResourceKind::User);
        let out = schema
            .normalize(&json!({
                "USERNAME": "a@x.se",
                "Name": {"GivenName": "A"},
                "active": null,
                WT_USER: {"gender": "Female", "birthDate": "1980-02-03T00:00:00Z"},
            }))
            .unwrap();
        assert_eq!(out["userName"], "a@x.se");
        assert_eq!(out["name"]["givenName"], "A");
        assert!(!out.contains_key("active"));
        assert_eq!(out["schemas"], json!([USER, WT_USER]));

        for bad in [
            json!({"userName": "a", "active": "true"}),
            json!({"userName": "a", WT_USER: {"gender": "male"}}),
            json!({"userName": "a", WT_USER: {"birthDate": "1980-02-03"}}),
            json!({"userName": "a", "emails": {"value": "a@x.se"}}),
            json!({"active": true}),
        ] {
            let err = schema.normalize(&bad).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidValue),
                "{bad}"
            );
        }
    }

    #[test]
    fn profile_parses_case_insensitively() {
        assert_eq!("Extended".parse::<Profile>(), Ok(Profile::Extended));
        assert_eq!("documented".parse::<Profile>(), Ok(Profile::Documented));
        assert!("full".parse::<Profile>().is_err());
    }
}
