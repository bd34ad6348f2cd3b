//! Small serde helpers shared by the JSON models: Go's `encoding/json`
//! accepts `null` for strings, slices and maps (leaving the zero value),
//! and Docker's `strslice` accepts a string where a list is expected.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::Deserialize;

/// Deserializes `null` as the type's default.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string map whose `null` values read as empty strings (Go leaves them "").
pub(crate) fn string_map<'de, D>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let m = Option::<BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
    Ok(m.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }))
}

/// Docker's `strslice.StrSlice`: a list of strings, or one string, or null.
pub(crate) fn str_slice<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct StrSliceVisitor;

    impl<'de> Visitor<'de> for StrSliceVisitor {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string, a list of strings, or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(StrSliceVisitor)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![v.to_owned()]))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<Option<String>>()? {
                out.push(s.unwrap_or_default());
            }
            Ok(Some(out))
        }
    }

    deserializer.deserialize_option(StrSliceVisitor)
}

/// A Go `map[string]struct{}` (`Volumes`, `ExposedPorts`) read as a set of
/// keys; the values are ignored.
pub(crate) fn key_set<'de, D>(deserializer: D) -> Result<Option<BTreeSet<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let m = Option::<BTreeMap<String, de::IgnoredAny>>::deserialize(deserializer)?;
    Ok(m.map(|m| m.into_keys().collect()))
}

/// Writes a set of keys as a Go `map[string]struct{}`: `{"k":{}}`.
pub(crate) fn serialize_key_set<S>(
    set: &Option<BTreeSet<String>>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
{
    match set {
        None => serializer.serialize_none(),
        Some(set) => {
            let mut map = serializer.serialize_map(Some(set.len()))?;
            for k in set {
                map.serialize_entry(k, &BTreeMap::<String, String>::new())?;
            }
            map.end()
        }
    }
}

/// Records only whether a key was present (even with `null`).
pub(crate) fn present<'de, D>(deserializer: D) -> Result<bool, D::Error>
where
    D: Deserializer<'de>,
{
    de::IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}
