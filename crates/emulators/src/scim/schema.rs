//! The schemas each profile advertises: attribute definitions with their RFC 7643 `type`,
//! `mutability`, `returned` and `uniqueness`, the schema and resource type JSON, and path
//! resolution. Validation of incoming values is in [`super::validate`].

use std::str::FromStr;

use serde_json::{Map, Value, json};

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

/// RFC 7643 section 7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 section 7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Request,
    Never,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Default => "default",
            Returned::Request => "request",
            Returned::Never => "never",
        }
    }
}

/// RFC 7643 section 7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
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
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
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
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
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
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    fn always(self) -> Attr {
        Attr {
            returned: Returned::Always,
            ..self
        }
    }
    fn unique(self) -> Attr {
        Attr {
            uniqueness: Uniqueness::Server,
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

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }

    /// Whether the values of this attribute point at other resources (`value` names their id).
    pub fn references_resources(&self) -> bool {
        self.sub_attr("$ref").is_some_and(|r| {
            r.reference_types
                .iter()
                .any(|t| matches!(*t, "User" | "Group"))
        })
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
        map.insert("mutability".into(), json!(self.mutability.as_str()));
        map.insert("returned".into(), json!(self.returned.as_str()));
        if self.kind != Kind::Complex {
            map.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
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
            Attr::complex(
                "segments",
                "The user's segments, one per category, to slice survey results by",
                vec![
                    Attr::string("category", "The segment category, e.g. Ort"),
                    Attr::string("value", "The segment's name in its category"),
                    Attr::string("externalId", "The segment's stable id").case_exact(),
                ],
            )
            .multi(),
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
            Attr::complex(
                "managers",
                "The group's managers: a user's manager is the manager of the group the user \
                 belongs to",
                vec![
                    Attr::string("value", "id of the manager's User").case_exact(),
                    Attr::reference("$ref", &["User"]),
                    Attr::string("display", "Name of the manager").read_only(),
                ],
            )
            .multi(),
        ],
    }
}

/// Attributes every resource has but no schema lists: `id` and `meta`.
fn common_attrs() -> Vec<Attr> {
    vec![
        Attr::string("id", "Server identifier")
            .case_exact()
            .read_only()
            .always()
            .unique(),
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

    /// A core attribute, or `id` or `meta`, by name in any case.
    pub fn core_or_common(&self, name: &str) -> Option<&Attr> {
        self.core.attr(name).or_else(|| {
            self.common
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
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
            None => (None, self.core_or_common(name)?),
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

    pub fn to_schema_json(&self, base_url: &str) -> Vec<Value> {
        std::iter::once(&self.core)
            .chain(self.extensions.iter())
            .map(|s| s.to_json(base_url))
            .collect()
    }
}

/// ServiceProviderConfig (RFC 7643 section 5).
/// `bulk` is set in the extended profile, which serves `/Bulk` within those limits.
pub fn service_provider_config(
    base_url: &str,
    max_results: usize,
    bulk: Option<super::bulk::Limits>,
) -> Value {
    let (max_operations, max_payload) = bulk
        .map(|l| (l.max_operations, l.max_payload_size))
        .unwrap_or((0, 0));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://www.winningtemp.com/",
        "patch": {"supported": true},
        "bulk": {
            "supported": bulk.is_some(),
            "maxOperations": max_operations,
            "maxPayloadSize": max_payload,
        },
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
    fn profile_parses_case_insensitively() {
        assert_eq!("Extended".parse::<Profile>(), Ok(Profile::Extended));
        assert_eq!("documented".parse::<Profile>(), Ok(Profile::Documented));
        assert!("full".parse::<Profile>().is_err());
    }

    #[test]
    fn managers_are_advertised_in_the_extended_group_extension_only() {
        let extended = ResourceSchema::new(Profile::Extended, ResourceKind::Group);
        let managers = extended
            .resolve(Some(WT_GROUP), "Managers", Some("VALUE"))
            .map(|r| (r.attr.multi, r.attr.kind, r.leaf().name));
        assert_eq!(managers, Some((true, Kind::Complex, "value")));
        let json = extended.to_schema_json("http://x");
        let text = serde_json::to_string(&json).unwrap_or_default();
        assert!(text.contains("\"managers\""), "{text}");
        let documented = ResourceSchema::new(Profile::Documented, ResourceKind::Group);
        assert!(
            documented
                .resolve(Some(WT_GROUP), "managers", None)
                .is_none()
        );
    }
}
