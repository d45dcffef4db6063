//! Where each mapped value lives on Winningtemp's SCIM side: one table, used for capabilities,
//! reading, writing and PATCH paths.

use flexsync_core::current::{Attribute, Capabilities};
use flexsync_scim::{ENTERPRISE_USER_SCHEMA, ServerInfo, USER_SCHEMA};

/// The schema an attribute of the table lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// The RFC 7643 core User schema.
    Core,
    /// The RFC 7643 enterprise User extension.
    Enterprise,
    /// The configured Winningtemp user extension (`[winningtemp] user_extension`).
    UserExtension,
}

/// Every built-in attribute, its schema and its attribute path there. Extra mappings carry their
/// schema in their own path (`urn:...:User:department`).
const TABLE: &[(Attribute, Home, &str)] = &[
    (Attribute::UserName, Home::Core, "userName"),
    (Attribute::Email, Home::Core, "emails"),
    (Attribute::GivenName, Home::Core, "name.givenName"),
    (Attribute::FamilyName, Home::Core, "name.familyName"),
    (Attribute::Active, Home::Core, "active"),
    (Attribute::Manager, Home::Enterprise, "manager"),
    (Attribute::Gender, Home::UserExtension, "gender"),
    (Attribute::BirthDate, Home::UserExtension, "birthDate"),
    (
        Attribute::ExcludeFromSurveys,
        Home::UserExtension,
        "excludeFromSurveys",
    ),
    (
        Attribute::EmploymentStart,
        Home::UserExtension,
        "employmentStartDate",
    ),
    (
        Attribute::EmploymentEnd,
        Home::UserExtension,
        "employmentEndDate",
    ),
    (Attribute::Segments, Home::UserExtension, "segments"),
];

/// Where one attribute lives: its schema's URN and its path within that schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub schema: String,
    pub path: String,
}

impl Location {
    /// Whether the attribute is in the core User schema (sent bare, read from typed fields).
    pub fn is_core(&self) -> bool {
        self.schema.eq_ignore_ascii_case(USER_SCHEMA)
    }

    /// The PATCH path: core attributes bare, extension ones URN-qualified.
    pub fn patch_path(&self) -> String {
        if self.is_core() {
            self.path.clone()
        } else {
            format!("{}:{}", self.schema, self.path)
        }
    }
}

/// The attribute table with this deployment's user extension URN filled in.
#[derive(Debug, Clone)]
pub struct AttributeMap {
    /// The URN of the extension holding gender, birthDate, excludeFromSurveys and dates.
    pub user_extension: String,
    /// The extra mappings' target paths (`urn:...:User:department`).
    pub extra: Vec<String>,
}

impl AttributeMap {
    /// Where an attribute lives.
    pub fn location(&self, attribute: &Attribute) -> Location {
        if let Attribute::Extra(path) = attribute {
            return split_urn(path);
        }
        let (home, path) = TABLE
            .iter()
            .find(|(row, _, _)| row == attribute)
            .map_or((Home::Core, ""), |(_, home, path)| (*home, *path));
        let schema = match home {
            Home::Core => USER_SCHEMA.to_string(),
            Home::Enterprise => ENTERPRISE_USER_SCHEMA.to_string(),
            Home::UserExtension => self.user_extension.clone(),
        };
        Location {
            schema,
            path: path.to_string(),
        }
    }

    /// Every attribute this deployment maps, built-in ones first, with where it lives.
    pub fn rows(&self) -> impl Iterator<Item = (Attribute, Location)> + '_ {
        TABLE
            .iter()
            .map(|(attribute, _, _)| attribute.clone())
            .chain(self.extra.iter().cloned().map(Attribute::Extra))
            .map(|attribute| {
                let location = self.location(&attribute);
                (attribute, location)
            })
    }

    /// The attributes to ask for when reading users: `externalId` and every mapped attribute
    /// (extension ones URN-qualified); `id` always comes back.
    pub fn read_attributes(&self) -> Vec<String> {
        let mut names = vec!["externalId".to_string()];
        for (_, location) in self.rows() {
            let name = match location.path.split_once('.') {
                Some((parent, _)) if location.is_core() => parent.to_string(),
                _ => location.patch_path(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The attributes the server advertises, in core terms. The core ones are always there.
    pub fn capabilities(&self, info: &ServerInfo) -> Capabilities {
        let mut caps = Capabilities::core();
        for (attribute, location) in self.rows() {
            if !location.is_core() && info.supports_attribute(&location.schema, &location.path) {
                caps.attributes.insert(attribute);
            }
        }
        caps
    }
}

/// `urn:...:User:department` -> (`urn:...:User`, `department`); a bare path is core.
fn split_urn(path: &str) -> Location {
    if path.starts_with("urn:")
        && let Some((schema, attribute)) = path.rsplit_once(':')
    {
        return Location {
            schema: schema.to_string(),
            path: attribute.to_string(),
        };
    }
    Location {
        schema: USER_SCHEMA.to_string(),
        path: path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";

    fn map() -> AttributeMap {
        AttributeMap {
            user_extension: WT.into(),
            extra: vec![format!("{WT}:department")],
        }
    }

    #[test]
    fn every_built_in_attribute_has_a_row() {
        let all = [
            Attribute::UserName,
            Attribute::Email,
            Attribute::GivenName,
            Attribute::FamilyName,
            Attribute::Gender,
            Attribute::BirthDate,
            Attribute::ExcludeFromSurveys,
            Attribute::EmploymentStart,
            Attribute::EmploymentEnd,
            Attribute::Active,
            Attribute::Manager,
            Attribute::Segments,
        ];
        for attribute in all {
            assert!(
                TABLE.iter().any(|(row, _, _)| *row == attribute),
                "{attribute:?}"
            );
        }
        assert_eq!(TABLE.len(), 12);
    }

    #[test]
    fn paths_are_bare_for_core_and_qualified_for_extensions() {
        let map = map();
        assert_eq!(
            map.location(&Attribute::GivenName).patch_path(),
            "name.givenName"
        );
        assert_eq!(
            map.location(&Attribute::BirthDate).patch_path(),
            format!("{WT}:birthDate")
        );
        assert_eq!(
            map.location(&Attribute::Manager).patch_path(),
            format!("{ENTERPRISE_USER_SCHEMA}:manager")
        );
        assert_eq!(
            map.location(&Attribute::Extra(format!("{WT}:department"))),
            Location {
                schema: WT.into(),
                path: "department".into()
            }
        );
    }

    #[test]
    fn users_are_read_with_every_mapped_attribute_and_nothing_else() {
        assert_eq!(
            map().read_attributes(),
            [
                "externalId".to_string(),
                "userName".into(),
                "emails".into(),
                "name".into(),
                "active".into(),
                format!("{ENTERPRISE_USER_SCHEMA}:manager"),
                format!("{WT}:gender"),
                format!("{WT}:birthDate"),
                format!("{WT}:excludeFromSurveys"),
                format!("{WT}:employmentStartDate"),
                format!("{WT}:employmentEndDate"),
                format!("{WT}:segments"),
                format!("{WT}:department"),
            ]
        );
    }
}
