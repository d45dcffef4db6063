//! Reading users, groups and list pages straight from a server's JSON, field by field.
//! Attribute names match without regard to case (RFC 7643 section 2.1): where a server sends
//! one name in two spellings, the standard one wins, and among others the first in byte order;
//! a key sent twice keeps its last value (though a standard name's earlier value is read too,
//! and fails the record if it is of the wrong type). These are the choices [`canonical_keys`]
//! makes on a whole tree, made while the text is read, so a page of users is never held as a
//! `serde_json::Value`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::wire::{
    CANONICAL_NAMES, Email, ListResponse, Member, Meta, Name, ScimGroup, ScimUser, canonical_keys,
};

/// Reads the members of an object. A key that spells one of `names` the standard way calls
/// `known` with that name. Another spelling is held back, and read only if the standard
/// spelling never comes: of several, the first in byte order. Any other key calls `other`.
fn read_members<'de, A: MapAccess<'de>>(
    mut map: A,
    names: &[&'static str],
    mut known: impl FnMut(&'static str, Attribute<'_, 'de, A>) -> Result<(), A::Error>,
    mut other: impl FnMut(Cow<'de, str>, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    debug_assert!(names.len() <= 64);
    let mut standard_read: u64 = 0;
    let mut held_back: Vec<(usize, Cow<'de, str>, Value)> = Vec::new();
    while let Some(Key(key)) = map.next_key()? {
        if let Some(index) = names.iter().position(|name| *name == key) {
            standard_read |= 1 << index;
            known(names[index], Attribute::Next(&mut map))?;
        } else if let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(&key)) {
            let value: Value = map.next_value()?;
            match held_back.iter_mut().find(|(held, _, _)| *held == index) {
                // The same spelling again keeps its last value, as a JSON object does.
                Some(held) if key <= held.1 => *held = (index, key, value),
                Some(_) => {}
                None => held_back.push((index, key, value)),
            }
        } else {
            other(key, &mut map)?;
        }
    }
    for (index, _, value) in held_back {
        if standard_read & (1 << index) == 0 {
            known(names[index], Attribute::Held(value, PhantomData))?;
        }
    }
    Ok(())
}

/// The value of a member: next in the map, or held back as a tree.
enum Attribute<'m, 'de, A> {
    Next(&'m mut A),
    Held(Value, PhantomData<&'de ()>),
}

impl<'de, A: MapAccess<'de>> Attribute<'_, 'de, A> {
    fn read<T: Deserialize<'de>>(self) -> Result<T, A::Error> {
        match self {
            Attribute::Next(map) => map.next_value(),
            Attribute::Held(value, _) => T::deserialize(value).map_err(de::Error::custom),
        }
    }
}

/// Skips a member that is not read.
fn skip<'de, A: MapAccess<'de>>(_: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// The members a type does not model, gathered as they come, and keyed at the end as
/// [`canonical_keys`] would key them: an extension (keyed by its URN) as sent, anything else
/// with standard names inside and as its key (of several spellings, the standard one, else the
/// first in byte order).
#[derive(Default)]
struct Unmodelled<'de>(Vec<(Cow<'de, str>, Value)>);

impl<'de> Unmodelled<'de> {
    fn keep<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A) -> Result<(), A::Error> {
        self.0.push((key, map.next_value()?));
        Ok(())
    }

    fn into_extensions(self) -> BTreeMap<String, Value> {
        // A key sent twice keeps its last value; the rest goes in byte order.
        let members: BTreeMap<Cow<'de, str>, Value> = self.0.into_iter().collect();
        let mut extensions = BTreeMap::new();
        let mut respelled = Vec::new();
        for (key, value) in members {
            if key.contains(':') {
                extensions.insert(key.into_owned(), value);
                continue;
            }
            let value = canonical_keys(value);
            match CANONICAL_NAMES
                .iter()
                .find(|n| n.eq_ignore_ascii_case(&key))
            {
                Some(name) if *name != key => respelled.push((*name, value)),
                _ => {
                    extensions.insert(key.into_owned(), value);
                }
            }
        }
        for (name, value) in respelled {
            extensions.entry(name.to_string()).or_insert(value);
        }
        extensions
    }
}

/// A key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an attribute name")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_string())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `Deserialize` for a type read from a JSON object by `$body`, with the object as `$map`.
macro_rules! read_from_object {
    ($type:ty, $what:literal, |$map:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$type, D::Error> {
                struct ObjectVisitor;
                impl<'de> Visitor<'de> for ObjectVisitor {
                    type Value = $type;

                    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                        formatter.write_str($what)
                    }

                    fn visit_map<A: MapAccess<'de>>(self, $map: A) -> Result<$type, A::Error> {
                        $body
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}

read_from_object!(ScimUser, "a SCIM user object", |map| {
    let mut user = ScimUser::default();
    let mut unmodelled = Unmodelled::default();
    read_members(
        map,
        &[
            "schemas",
            "id",
            "externalId",
            "userName",
            "name",
            "emails",
            "active",
            "displayName",
            "meta",
        ],
        |name, attribute| {
            match name {
                "schemas" => user.schemas = attribute.read()?,
                "id" => user.id = attribute.read()?,
                "externalId" => user.external_id = attribute.read()?,
                "userName" => user.user_name = attribute.read()?,
                "name" => user.name = attribute.read()?,
                "emails" => user.emails = attribute.read()?,
                "active" => user.active = attribute.read()?,
                "displayName" => user.display_name = attribute.read()?,
                _ => user.meta = attribute.read()?,
            }
            Ok(())
        },
        |key, map| unmodelled.keep(key, map),
    )?;
    user.extensions = unmodelled.into_extensions();
    Ok(user)
});

read_from_object!(ScimGroup, "a SCIM group object", |map| {
    let mut group = ScimGroup::default();
    let mut unmodelled = Unmodelled::default();
    read_members(
        map,
        &[
            "schemas",
            "id",
            "externalId",
            "displayName",
            "members",
            "meta",
        ],
        |name, attribute| {
            match name {
                "schemas" => group.schemas = attribute.read()?,
                "id" => group.id = attribute.read()?,
                "externalId" => group.external_id = attribute.read()?,
                "displayName" => group.display_name = attribute.read()?,
                "members" => group.members = attribute.read()?,
                _ => group.meta = attribute.read()?,
            }
            Ok(())
        },
        |key, map| unmodelled.keep(key, map),
    )?;
    group.extensions = unmodelled.into_extensions();
    Ok(group)
});

read_from_object!(Name, "a SCIM name", |map| {
    let mut name = Name::default();
    read_members(
        map,
        &["givenName", "familyName", "formatted"],
        |field, attribute| {
            match field {
                "givenName" => name.given_name = attribute.read()?,
                "familyName" => name.family_name = attribute.read()?,
                _ => name.formatted = attribute.read()?,
            }
            Ok(())
        },
        skip,
    )?;
    Ok(name)
});

read_from_object!(Email, "a SCIM email", |map| {
    let (mut value, mut kind, mut primary) = (None, None, None);
    read_members(
        map,
        &["value", "type", "primary"],
        |field, attribute| {
            match field {
                "value" => value = Some(attribute.read()?),
                "type" => kind = attribute.read()?,
                _ => primary = attribute.read()?,
            }
            Ok(())
        },
        skip,
    )?;
    let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
    Ok(Email {
        value,
        kind,
        primary,
    })
});

read_from_object!(Member, "a SCIM group member", |map| {
    let (mut value, mut display) = (None, None);
    read_members(
        map,
        &["value", "display"],
        |field, attribute| {
            match field {
                "value" => value = Some(attribute.read()?),
                _ => display = attribute.read()?,
            }
            Ok(())
        },
        skip,
    )?;
    let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
    Ok(Member { value, display })
});

read_from_object!(Meta, "a SCIM meta object", |map| {
    let mut meta = Meta::default();
    read_members(
        map,
        &[
            "resourceType",
            "created",
            "lastModified",
            "location",
            "version",
        ],
        |field, attribute| {
            match field {
                "resourceType" => meta.resource_type = attribute.read()?,
                "created" => meta.created = attribute.read()?,
                "lastModified" => meta.last_modified = attribute.read()?,
                "location" => meta.location = attribute.read()?,
                _ => meta.version = attribute.read()?,
            }
            Ok(())
        },
        skip,
    )?;
    Ok(meta)
});

/// A page of a search.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for ListResponse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ListResponse<T>, D::Error> {
        struct PageVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for PageVisitor<T> {
            type Value = ListResponse<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a SCIM list response")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ListResponse<T>, A::Error> {
                let mut page = ListResponse {
                    schemas: Vec::new(),
                    total_results: None,
                    start_index: None,
                    items_per_page: None,
                    resources: Vec::new(),
                };
                read_members(
                    map,
                    &[
                        "schemas",
                        "totalResults",
                        "startIndex",
                        "itemsPerPage",
                        "Resources",
                    ],
                    |field, attribute| {
                        match field {
                            "schemas" => page.schemas = attribute.read()?,
                            "totalResults" => page.total_results = attribute.read()?,
                            "startIndex" => page.start_index = attribute.read()?,
                            "itemsPerPage" => page.items_per_page = attribute.read()?,
                            _ => page.resources = attribute.read()?,
                        }
                        Ok(())
                    },
                    skip,
                )?;
                Ok(page)
            }
        }
        deserializer.deserialize_map(PageVisitor(PhantomData))
    }
}

/// A page of a list as the client reads it: its resources left as text, each to be read on
/// its own so that a bad one is named.
pub(crate) struct RawPage<'a> {
    pub total_results: Option<u64>,
    pub resources: Vec<&'a RawValue>,
}

impl<'de> Deserialize<'de> for RawPage<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawPage<'de>, D::Error> {
        struct PageVisitor;
        impl<'de> Visitor<'de> for PageVisitor {
            type Value = RawPage<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a SCIM list response")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPage<'de>, A::Error> {
                let mut total_results = None;
                let mut resources: Option<Vec<&'de RawValue>> = None;
                // Another spelling of `Resources` is kept as text, and read only if the
                // standard one never comes (`read_members` holds back a tree, which cannot
                // lend text).
                let mut other_spelling: Option<&'de RawValue> = None;
                read_members(
                    map,
                    &["totalResults"],
                    |_, attribute| {
                        total_results = attribute.read()?;
                        Ok(())
                    },
                    |key, map| {
                        if key == "Resources" {
                            resources = Some(map.next_value()?);
                        } else if key.eq_ignore_ascii_case("Resources") {
                            let raw: &'de RawValue = map.next_value()?;
                            other_spelling.get_or_insert(raw);
                        } else {
                            map.next_value::<IgnoredAny>()?;
                        }
                        Ok(())
                    },
                )?;
                let resources = match (resources, other_spelling) {
                    (Some(resources), _) => resources,
                    (None, Some(raw)) => {
                        serde_json::from_str(raw.get()).map_err(de::Error::custom)?
                    }
                    (None, None) => Vec::new(),
                };
                Ok(RawPage {
                    total_results,
                    resources,
                })
            }
        }
        deserializer.deserialize_map(PageVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_is_read_from_text_whatever_the_case_of_its_names() {
        let text = r#"{
            "ID": "u1", "ExternalId": "e1", "USERNAME": "a@example.se",
            "Name": {"GivenName": "Anna", "familyname": "Berg"},
            "Emails": [{"Value": "a@example.se", "Primary": true}], "Active": false,
            "urn:x:Ext": {"Department": "HR"}, "Groups": [{"Value": "g1"}]
        }"#;
        let user: ScimUser = serde_json::from_str(text).unwrap();
        assert_eq!(user.id.as_deref(), Some("u1"));
        assert_eq!(user.external_id.as_deref(), Some("e1"));
        assert_eq!(user.user_name, "a@example.se");
        let name = user.name.unwrap();
        assert_eq!(name.given_name.as_deref(), Some("Anna"));
        assert_eq!(name.family_name.as_deref(), Some("Berg"));
        assert_eq!(user.emails[0].value, "a@example.se");
        assert_eq!(user.active, Some(false));
        assert_eq!(user.extensions["urn:x:Ext"], json!({"Department": "HR"}));
        assert_eq!(
            user.extensions["Groups"],
            json!([{"value": "g1"}]),
            "an attribute not modelled keeps its key, with standard names inside"
        );
    }

    #[test]
    fn the_standard_spelling_wins_in_either_order_even_over_a_value_of_the_wrong_type() {
        for text in [
            r#"{"UserName": ["not", "text"], "userName": "a@example.se"}"#,
            r#"{"userName": "a@example.se", "USERNAME": 7}"#,
        ] {
            let user: ScimUser = serde_json::from_str(text).unwrap();
            assert_eq!(user.user_name, "a@example.se", "{text}");
        }
        let user: ScimUser =
            serde_json::from_str(r#"{"UserName": "a@x.se", "USERNAME": "b@x.se"}"#).unwrap();
        assert_eq!(
            user.user_name, "b@x.se",
            "among other spellings, the first in byte order"
        );
        let user: ScimUser =
            serde_json::from_str(r#"{"USERNAME": "a@x.se", "USERNAME": "b@x.se"}"#).unwrap();
        assert_eq!(
            user.user_name, "b@x.se",
            "a key sent twice keeps its last value"
        );
        let bad = serde_json::from_str::<ScimUser>(r#"{"UserName": 7}"#);
        assert!(bad.is_err(), "another spelling alone is read, and judged");
    }

    #[test]
    fn a_page_leaves_its_resources_as_text_whatever_the_case_of_its_names() {
        let text = r#"{"TOTALRESULTS": 2, "resources": [{"id": "a"}, {"id": "b"}], "x": 1}"#;
        let page: RawPage<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(page.total_results, Some(2));
        let texts: Vec<&str> = page.resources.iter().map(|r| r.get()).collect();
        assert_eq!(texts, [r#"{"id": "a"}"#, r#"{"id": "b"}"#]);
        let both = r#"{"resources": 5, "Resources": [{"id": "a"}]}"#;
        let page: RawPage<'_> = serde_json::from_str(both).unwrap();
        assert_eq!(page.resources.len(), 1, "the standard spelling wins");
    }
}
