//! Merging objects from several sources into one desired state, remembering which source
//! each object's final version came from.

use std::collections::BTreeMap;

use crate::model::{HostState, ObjectId};

/// Adds `source`'s objects to `desired`, replacing objects with the same identity, and
/// records `origin` for each (or clears it: the spec's own declaration has no origin note).
pub fn merge(
    desired: &mut HostState,
    origins: &mut BTreeMap<ObjectId, String>,
    source: HostState,
    origin: Option<&str>,
) {
    for object in desired.overlay(source) {
        match origin {
            Some(origin) => {
                origins.insert(object, origin.to_string());
            }
            None => {
                origins.remove(&object);
            }
        }
    }
}
