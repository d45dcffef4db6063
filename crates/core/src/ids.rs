//! The two kinds of id that travel through a run, as types so that one is never passed for the
//! other:
//! - [`ExternalId`]: an id on the source's side, as the target stores it in `externalId`: a Flex
//!   `Id` for users, a path key (e.g. `grp:1010/kontor=100`) for groups.
//! - [`TargetId`]: the target's own `id` of a user or group (the SCIM server assigns it).
//!
//! Both serialize as the bare string, borrow as `str` (so maps keyed by them can be searched
//! with a `&str`) and compare with string types. The text is shared, not copied, when an id is
//! cloned: a run hands each id to many maps and lists.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(Arc::from(id.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0.to_string()
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name(Arc::from(""))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                String::deserialize(deserializer).map($name::new)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(Arc::from(id))
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> $name {
                $name(Arc::from(id.as_str()))
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(Arc::from(id))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &*self.0 == other.as_str()
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == &*other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == &*other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self.as_str() == &*other.0
            }
        }
    };
}

string_id!(
    /// An id on the source's side, as the target stores it in `externalId`: a Flex `Id` for a
    /// user, a path key such as `grp:1010/kontor=100` for a group.
    ExternalId
);

string_id!(
    /// The target's own `id` of a user or group, assigned by the SCIM server.
    TargetId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    #[test]
    fn ids_serialize_as_bare_strings() {
        let id = ExternalId::new("grp:1010/kontor=100");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""grp:1010/kontor=100""#
        );
        let back: ExternalId = serde_json::from_str(r#""grp:1010/kontor=100""#).unwrap();
        assert_eq!(back, id);

        let target: TargetId = serde_json::from_str(r#""2819c223""#).unwrap();
        assert_eq!(target, "2819c223");
        assert_eq!(serde_json::to_string(&target).unwrap(), r#""2819c223""#);
    }

    #[test]
    fn maps_keyed_by_ids_serialize_like_maps_keyed_by_strings() {
        let typed: BTreeMap<ExternalId, TargetId> =
            BTreeMap::from([("1".into(), "t-1".into()), ("2".into(), "t-2".into())]);
        let plain: BTreeMap<String, String> = BTreeMap::from([
            ("1".to_string(), "t-1".to_string()),
            ("2".to_string(), "t-2".to_string()),
        ]);
        let text = serde_json::to_string(&typed).unwrap();
        assert_eq!(text, serde_json::to_string(&plain).unwrap());
        let back: BTreeMap<ExternalId, TargetId> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, typed);
    }

    #[test]
    fn maps_and_sets_are_searched_with_a_str() {
        let links: BTreeMap<ExternalId, TargetId> = BTreeMap::from([("a".into(), "t-a".into())]);
        assert_eq!(links.get("a").map(TargetId::as_str), Some("t-a"));
        assert!(links.contains_key("a"));
        assert!(!links.contains_key("b"));

        let created: BTreeSet<TargetId> = BTreeSet::from(["t-a".into()]);
        assert!(created.contains("t-a"));

        let hashed: HashMap<ExternalId, u32> = HashMap::from([(ExternalId::from("x"), 1)]);
        assert_eq!(hashed.get("x"), Some(&1));
    }

    #[test]
    fn ids_compare_and_show_as_their_text() {
        let id = ExternalId::from(String::from("1010"));
        assert_eq!(id, "1010");
        assert_eq!(id, *"1010");
        assert_eq!(id, "1010".to_string());
        assert_eq!("1010", id);
        assert_eq!(id.to_string(), "1010");
        assert_eq!(id.len(), 4);
        assert_eq!(id.as_ref() as &str, "1010");
        assert_eq!(id.clone().into_string(), "1010");
        let mut ids = vec![ExternalId::from("b"), ExternalId::from("a")];
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(TargetId::default().as_str(), "");
    }
}
