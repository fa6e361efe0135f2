//! A JSON tree that keeps object keys in document order and refuses duplicate keys.
//!
//! `serde_json::Value` keeps the last of two equal keys, which silently drops a condition
//! (`{"StringEquals": {...}, "StringEquals": {...}}` would lose the first `sub` check). Policies
//! are parsed into this tree instead; a duplicate key is a hard error carrying its line and column.
//!
//! Linear in the document: duplicates are found with a hash set, nesting is bounded.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Deepest nesting a policy document may have; real policies need 6.
const MAX_DEPTH: usize = 32;

/// A JSON value whose objects are ordered lists of unique keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses `text`, rejecting duplicate keys, trailing characters and excessive nesting.
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = DepthSeed(0).deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    /// The name of this value's JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Scalar values as IAM reads them: strings as is, numbers and booleans in their JSON text.
    pub fn as_scalar_text(&self) -> Option<String> {
        match self {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

struct DepthSeed(usize);

impl<'de> de::DeserializeSeed<'de> for DepthSeed {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        if self.0 > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "document nests deeper than {MAX_DEPTH} levels"
            )));
        }
        deserializer.deserialize_any(JsonVisitor(self.0))
    }
}

struct JsonVisitor(usize);

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(DepthSeed(self.0 + 1))? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate key \"{}\"",
                    key.chars().take(64).collect::<String>()
                )));
            }
            let value = map.next_value_seed(DepthSeed(self.0 + 1))?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        DepthSeed(0).deserialize(deserializer)
    }
}

use de::DeserializeSeed as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let j = Json::parse(r#"{"b":1,"a":[true,null,"x"]}"#).unwrap();
        let Json::Object(entries) = j else {
            panic!("object")
        };
        assert_eq!(entries[0].0, "b");
        assert_eq!(entries[1].0, "a");
    }

    #[test]
    fn rejects_duplicate_keys_with_position() {
        let err = Json::parse("{\"Condition\": {\n \"StringEquals\": {},\n \"StringEquals\": {}}}")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("duplicate key \"StringEquals\""), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn many_keys_are_checked_in_linear_time() {
        // 100,000 distinct keys: quadratic checking would take minutes.
        let body: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":0")).collect();
        let text = format!("{{{}}}", body.join(","));
        let Json::Object(entries) = Json::parse(&text).unwrap() else {
            panic!("object")
        };
        assert_eq!(entries.len(), 100_000);
        let dup = format!("{{{},\"k0\":1}}", body.join(","));
        assert!(
            Json::parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("duplicate key \"k0\"")
        );
    }

    #[test]
    fn keys_differing_in_case_are_not_duplicates() {
        assert!(Json::parse(r#"{"a":1,"A":2}"#).is_ok());
    }

    #[test]
    fn rejects_trailing_garbage_and_deep_nesting() {
        assert!(Json::parse("{} x").is_err());
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert!(
            Json::parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("nests deeper")
        );
    }

    #[test]
    fn scalar_text_matches_iam_reading() {
        assert_eq!(Json::Bool(true).as_scalar_text().as_deref(), Some("true"));
        assert_eq!(
            Json::parse("12.5").unwrap().as_scalar_text().as_deref(),
            Some("12.5")
        );
        assert_eq!(Json::Null.as_scalar_text(), None);
    }
}
