//! How `import` names what it read, for the header of the spec it writes.

/// The live host, and its network namespace when `--netns` chose one.
pub fn live_host_source(netns: Option<&str>) -> String {
    match netns {
        Some(name) => format!("the live host (network namespace {name})"),
        None => "the live host".to_string(),
    }
}
