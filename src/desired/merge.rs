//! Merging objects from several sources into one desired state, remembering which source
//! each object's final version came from.

use std::collections::BTreeMap;

use crate::model::keyed::{Keyed, KeyedMap};
use crate::model::{HostState, ObjectId};
use crate::spec::host::Declared;

/// Adds `declared` to `desired`, replacing objects with the same identity, and records
/// `origin` for each (or clears it: the spec's own declaration has no origin note).
pub fn merge(
    desired: &mut HostState,
    origins: &mut BTreeMap<ObjectId, String>,
    declared: Declared,
    origin: Option<&str>,
) {
    let mut note = |key: ObjectId| match origin {
        Some(origin) => {
            origins.insert(key, origin.to_string());
        }
        None => {
            origins.remove(&key);
        }
    };
    for module in declared.modules {
        note(ObjectId::Module(module.clone()));
        desired.modules.insert(module);
    }
    for (key, value) in declared.sysctls {
        note(ObjectId::Sysctl(key.clone()));
        desired.sysctls.insert(key, value);
    }
    insert_all(&mut desired.links, declared.links, ObjectId::Link, &mut note);
    insert_all(&mut desired.addresses, declared.addresses, ObjectId::Address, &mut note);
    insert_all(&mut desired.routes, declared.routes, ObjectId::Route, &mut note);
}

fn insert_all<T: Keyed>(
    map: &mut KeyedMap<T>,
    items: Vec<T>,
    object: impl Fn(T::Key) -> ObjectId,
    note: &mut impl FnMut(ObjectId),
) {
    for item in items {
        note(object(item.key()));
        map.insert(item.key(), item);
    }
}
