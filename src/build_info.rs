//! Which build this is: the crate's version, the commit it was built from and the day, as
//! build.rs found them. `--version` prints them; saved plans carry [`TOOL_VERSION`], so a
//! plan is applied only by the build that made it (two builds of 0.1.0 from different
//! commits may serialise the state differently).

/// The crate's version (`0.1.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse --short=12 HEAD` of the source, the builder's `LVS_CONVERGE_COMMIT`, or
/// `unknown` (a tarball built without it).
pub const COMMIT: &str = env!("LVS_CONVERGE_COMMIT");
/// UTC day of the build (of `SOURCE_DATE_EPOCH` for reproducible builds), YYYY-MM-DD.
pub const BUILD_DATE: &str = env!("LVS_CONVERGE_BUILD_DATE");

const COMMIT_UNKNOWN: &str = "unknown";

/// The version with the commit as semver build metadata (`0.1.0+0123456789ab`); just the
/// version when the commit is unknown, which is what plans saved before issue 17 carry, so
/// such a build still reads them. Two builds of unknown commit take each other for one build
/// (a `+unknown` would do the same).
///
/// Limit: the commit is HEAD's, with no mark for uncommitted changes, so two builds of one
/// commit whose work trees differ (say, in how the state is serialised) accept each other's
/// plans. A `-dirty` mark would not tell two dirty trees apart either, and would make the
/// lab's check that the packaged binary names HEAD fail on every dirty tree; released builds
/// come from clean commits (or name theirs through `LVS_CONVERGE_COMMIT`).
pub const TOOL_VERSION: &str = if same(COMMIT, COMMIT_UNKNOWN) {
    VERSION
} else {
    concat!(env!("CARGO_PKG_VERSION"), "+", env!("LVS_CONVERGE_COMMIT"))
};

/// What `--version` prints after the name: `0.1.0 (commit 0123456789ab, built 2026-12-04)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LVS_CONVERGE_COMMIT"),
    ", built ",
    env!("LVS_CONVERGE_BUILD_DATE"),
    ")"
);

/// `==` on strings, usable in a const (str's own `eq` is not const).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_version_is_the_version_with_the_commit_when_known() {
        if COMMIT == COMMIT_UNKNOWN {
            assert_eq!(TOOL_VERSION, VERSION);
        } else {
            assert_eq!(TOOL_VERSION, format!("{VERSION}+{COMMIT}"));
        }
        assert!(VERSION_LINE.starts_with(&format!("{VERSION} (commit {COMMIT}, built ")), "{VERSION_LINE}");
    }

    #[test]
    fn the_build_date_is_a_calendar_day() {
        let parts: Vec<&str> = BUILD_DATE.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [4, 2, 2], "{BUILD_DATE}");
        assert!(parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())), "{BUILD_DATE}");
    }

    #[test]
    fn const_string_equality_compares_every_byte() {
        assert!(same("unknown", "unknown"));
        assert!(!same("unknown", "unknowm"));
        assert!(!same("unknown", "unknow"));
        assert!(same("", ""));
    }
}
