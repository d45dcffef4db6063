//! A JSON tree that borrows its text from the answer it was read from. A page of Flex records
//! is read into it and then into typed records: one allocation per object and per list, where
//! `serde_json::Value` makes one per key and per text as well.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// One JSON value. Texts without escapes point into the answer; others are owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in the order they came.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    /// Reads a whole answer.
    pub fn parse(body: &'a [u8]) -> serde_json::Result<Json<'a>> {
        serde_json::from_slice(body)
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }

    /// What the value is, for a message: `a text`, `a list`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a text",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }
}

impl<'a> Object<'a> {
    /// The value of `key` spelled exactly; the last one when a key comes twice, as
    /// `serde_json` keeps it.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` spelled exactly, or else in any ASCII case: the spelling first in
    /// byte order (whatever the order of the members), and its last value if it came twice.
    pub fn get_ignoring_case(&self, key: &str) -> Option<&Json<'a>> {
        self.get(key).or_else(|| {
            self.0
                .iter()
                .rev()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .min_by(|(a, _), (b, _)| a.cmp(b))
                .map(|(_, v)| v)
        })
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the value of `key` spelled exactly (its last occurrence), leaving `Null`.
    pub fn take(&mut self, key: &str) -> Option<Json<'a>> {
        let (_, value) = self.0.iter_mut().rev().find(|(k, _)| k == key)?;
        Some(std::mem::replace(value, Json::Null))
    }
}

/// Feeds the value to a hasher by walking it: equal values hash equally.
impl Hash for Json<'_> {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        match self {
            Json::Null => 0u8.hash(hasher),
            Json::Bool(b) => (1u8, b).hash(hasher),
            Json::Number(n) => (2u8, n).hash(hasher),
            Json::String(text) => (3u8, text.as_ref()).hash(hasher),
            Json::Array(items) => {
                (4u8, items.len()).hash(hasher);
                items.iter().for_each(|item| item.hash(hasher));
            }
            Json::Object(object) => {
                (5u8, object.len()).hash(hasher);
                for (key, item) in object.iter() {
                    key.hash(hasher);
                    item.hash(hasher);
                }
            }
        }
    }
}

/// The tree as a `serde_json::Value`, every text copied.
impl From<&Json<'_>> for Value {
    fn from(json: &Json<'_>) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(text) => Value::String(text.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(Value::from).collect()),
            Json::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text.to_string())))
    }

    fn visit_string<E>(self, text: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(Object(members)))
    }
}

/// A key, borrowed from the answer when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a key")
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_without_escapes_are_borrowed_and_the_tree_reads_as_serde_json_does() {
        let body = br#"{"Id": "e1", "Name": "Ann \"Lo\"", "N": [1, -2, 1.5, true, null], "O": {}}"#;
        let json = Json::parse(body).unwrap();
        let object = json.as_object().unwrap();
        assert!(matches!(
            object.get("Id"),
            Some(Json::String(Cow::Borrowed("e1")))
        ));
        assert!(matches!(
            object.get("Name"),
            Some(Json::String(Cow::Owned(_)))
        ));
        let value: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(Value::from(&json), value);
    }

    #[test]
    fn a_key_sent_twice_reads_as_its_last_value_and_other_cases_are_found() {
        let json = Json::parse(br#"{"id": 1, "ID": 2, "Id": 3, "Id": 4}"#).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.get("Id"), Some(&Json::Number(4.into())));
        assert_eq!(
            object.get_ignoring_case("iD"),
            Some(&Json::Number(2.into())),
            "the first in byte order"
        );
        let twice = Json::parse(br#"{"ID": 1, "id": 2, "ID": 3}"#).unwrap();
        assert_eq!(
            twice.as_object().unwrap().get_ignoring_case("Id"),
            Some(&Json::Number(3.into())),
            "its last value"
        );
        assert_eq!(object.get("iD"), None);
    }

    #[test]
    fn equal_values_hash_equally_and_different_ones_do_not() {
        let state = std::hash::RandomState::new();
        let one = |value: Value| {
            let text = value.to_string();
            let json = Json::parse(text.as_bytes()).unwrap();
            std::hash::BuildHasher::hash_one(&state, &json)
        };
        assert_eq!(one(json!({"a": [1, "x"]})), one(json!({"a": [1, "x"]})));
        assert_ne!(one(json!({"a": [1, "x"]})), one(json!({"a": ["1", "x"]})));
        assert_ne!(one(json!(["ab", "c"])), one(json!(["a", "bc"])));
    }
}
