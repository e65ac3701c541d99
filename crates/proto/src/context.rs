//! The encryption context on the wire: a JSON object of strings.
//!
//! Duplicate keys are refused here. A JSON parser that kept the last value
//! would let two different requests mean the same context, and the context is
//! authenticated data.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An encryption context as received: keys sorted, no duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EncryptionContext(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for EncryptionContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EncryptionContext;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.contains_key(&k) {
                        return Err(de::Error::custom(format!(
                            "Duplicate key '{k}' in the encryption context"
                        )));
                    }
                    out.insert(k, v);
                }
                Ok(EncryptionContext(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(serde_json::from_str::<EncryptionContext>(r#"{"a":"1","a":"2"}"#).is_err());
        let c: EncryptionContext = serde_json::from_str(r#"{"b":"1","a":"2"}"#).unwrap();
        assert_eq!(c.0.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn non_string_values_are_refused() {
        assert!(serde_json::from_str::<EncryptionContext>(r#"{"a":1}"#).is_err());
    }
}
