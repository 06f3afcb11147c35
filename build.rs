//! Build identity: which commit and on which day this binary was built, for `--version` and
//! for saved plans (a plan made by another build is refused: see src/build_info.rs).
//!
//! Sets two compile-time variables for the crate:
//! - `LVS_CONVERGE_COMMIT`: `git rev-parse --short=12 HEAD` of this source tree; an
//!   `LVS_CONVERGE_COMMIT` given to the build wins (a tarball has no .git); `unknown` when
//!   there is neither. Uncommitted changes are not marked (see `TOOL_VERSION` in
//!   src/build_info.rs for why, and what that lets through).
//! - `LVS_CONVERGE_BUILD_DATE`: the UTC date (YYYY-MM-DD) of `SOURCE_DATE_EPOCH` when set
//!   (reproducible builds, as Debian's tooling sets it), else of this build.
//!
//! It re-runs only when HEAD moves (.git/HEAD or the branch it points to) or one of those
//! variables changes, not on every build: a rebuild after editing a source file keeps the date
//! of the build script's last run, which is the day the commit was first built here.

use std::path::{Path, PathBuf};
use std::process::Command;

// The crate's own date arithmetic: a build script cannot use the crate it builds.
#[path = "src/civil_date.rs"]
mod civil_date;

fn main() {
    println!("cargo:rerun-if-env-changed=LVS_CONVERGE_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let commit = match std::env::var("LVS_CONVERGE_COMMIT") {
        Ok(given) if !given.trim().is_empty() => checked_commit(given.trim()),
        _ => git_commit(&manifest_dir).unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=LVS_CONVERGE_COMMIT={commit}");
    println!("cargo:rustc-env=LVS_CONVERGE_BUILD_DATE={}", build_date());
}

/// A commit given by the builder becomes semver build metadata (`0.1.0+COMMIT`), so it may
/// hold only what that allows; anything else fails the build here rather than making
/// saved plans that name a version no tool could parse.
fn checked_commit(given: &str) -> String {
    if given.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return given.to_string();
    }
    panic!(
        "LVS_CONVERGE_COMMIT={given:?} is not a commit id: only letters, digits, '-' and '.' may follow the '+' of a version\n  hint: give the commit's hash (git rev-parse --short=12 HEAD), or unset LVS_CONVERGE_COMMIT"
    );
}

/// The short commit of HEAD, when this source tree is itself a git work tree (not a tarball
/// unpacked inside some other repository, whose commit would be a lie). Registers HEAD and
/// the branch it names for re-runs.
fn git_commit(manifest_dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).current_dir(manifest_dir).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != manifest_dir.canonicalize().ok()? {
        return None;
    }
    // `--git-path` answers for worktrees too (HEAD in the worktree's own directory, the
    // branch and packed-refs in the common one). The branch is watched through its
    // directory (cargo scans a directory's files), which also sees its file come back after
    // `git gc` packed it. Only paths that exist are watched: cargo re-runs the script on
    // every build for a missing one (packed-refs often is).
    let branch_directory = git(&["symbolic-ref", "-q", "HEAD"])
        .and_then(|branch| Some(Path::new(&branch).parent()?.to_string_lossy().into_owned()));
    let watched = ["HEAD".to_string(), "packed-refs".to_string()].into_iter().chain(branch_directory);
    for name in watched {
        let Some(path) = git(&["rev-parse", "--git-path", &name]) else { continue };
        let path = manifest_dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// YYYY-MM-DD (UTC) of `SOURCE_DATE_EPOCH`, or of now.
fn build_date() -> String {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => epoch.trim().parse::<i64>().unwrap_or_else(|_| {
            panic!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds since 1970-01-01 UTC\n  hint: set it to `git log -1 --format=%ct`, or unset it")
        }),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0),
    };
    let (year, month, day) = civil_date::civil_from_days(seconds.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}
