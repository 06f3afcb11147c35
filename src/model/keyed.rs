//! Maps keyed by an object's own identity, serialized as plain lists.
//!
//! State is held in `BTreeMap`s so that lookups and ordering are deterministic, but JSON
//! cannot have structured keys and people read lists more easily, so on disk the map is the
//! list of its values, each carrying its own key.

use std::collections::BTreeMap;

/// An object that knows its identity.
pub trait Keyed {
    type Key: Ord + Clone + std::fmt::Display;
    fn key(&self) -> Self::Key;
}

pub type KeyedMap<T> = BTreeMap<<T as Keyed>::Key, T>;

/// Puts an object under its own key, replacing one with the same identity.
pub fn put<T: Keyed>(map: &mut KeyedMap<T>, item: T) {
    map.insert(item.key(), item);
}

/// Builds a map from items, returning the first duplicated key as the error.
pub fn collect_unique<T: Keyed>(items: impl IntoIterator<Item = T>) -> Result<KeyedMap<T>, T::Key> {
    let mut map = BTreeMap::new();
    for item in items {
        let key = item.key();
        if map.contains_key(&key) {
            return Err(key);
        }
        map.insert(key, item);
    }
    Ok(map)
}

pub mod as_list {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{collect_unique, Keyed, KeyedMap};

    pub fn serialize<T, S>(map: &KeyedMap<T>, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: Keyed + Serialize,
        S: Serializer,
    {
        serializer.collect_seq(map.values())
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<KeyedMap<T>, D::Error>
    where
        T: Keyed + Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let items = Vec::<T>::deserialize(deserializer)?;
        collect_unique(items).map_err(|key| D::Error::custom(format!("duplicate entry {key}")))
    }
}
