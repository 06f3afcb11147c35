//! The architecture, checked: which top-level module (stage) may use which. Every
//! `crate::STAGE` (and `super::` climbing out of a stage) in non-test code under src/ must be
//! an edge of [`STAGES`]; a new one fails here with its file:line and the rule it breaks.
//! Test code (`#[cfg(test)]` items, `mod tests;` files) may reach anywhere and is skipped.
//!
//! Data flows one way: spec → desired → plan → render, apply; observe reads the host into
//! the model; model is plain data and depends on nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Each stage, the stages it may use, and why. This table is the documentation of the
/// layering: change it with the design, not to make a new edge pass.
const STAGES: &[(&str, &[&str], &str)] = &[
    ("model", &[], "plain data and the rules about it (identity, ownership, roles, API version); no I/O, no stage"),
    ("spec", &["model"], "YAML → validated model pieces; every error of a spec is found here"),
    (
        "desired",
        &["model", "spec"],
        "validated spec → the whole desired state: role defaults, prerequisites, origins, persistence files",
    ),
    ("netlink", &["model", "fault"], "kernel clients (rtnetlink, generic netlink); fault injection in test builds"),
    ("target_root", &[], "file I/O beneath `/` or `--root`, never through a symlink"),
    ("rundir", &[], "the checked runtime directory and its records"),
    ("observe", &["model", "netlink", "target_root", "rundir"], "read-only readers: host → observed model"),
    (
        "plan",
        &["model", "spec", "desired"],
        "pure diff into ordered typed changes; saved plans re-validate their spec text (spec, desired)",
    ),
    ("lint", &["model", "spec", "desired"], "check's rules over the resolved spec and facts; they never write"),
    (
        "render",
        &["model", "desired", "plan", "lint", "apply", "observe", "lock"],
        "every word a user reads: plans, findings, apply reports, a spec's summary, snapshots, lock waits",
    ),
    ("interrupt", &[], "the SIGINT/SIGTERM flag apply checks"),
    ("fault", &[], "test-only fault injection"),
    ("netns", &[], "entering a network namespace"),
    ("lock", &["model", "plan", "rundir"], "per-namespace and persistence-files locks"),
    (
        "apply",
        &["model", "plan", "netlink", "observe", "target_root", "rundir", "interrupt", "fault"],
        "carries out a plan's changes, rolls back, re-reads and verifies",
    ),
    (
        "import",
        &["model", "spec", "desired", "plan"],
        "a live host's state, ipvsadm-save or keepalived.conf → spec YAML (reading the host and printing are cli's)",
    ),
    (
        "cli",
        &[
            "model",
            "spec",
            "desired",
            "observe",
            "plan",
            "render",
            "apply",
            "lint",
            "import",
            "lock",
            "netns",
            "rundir",
            "interrupt",
            "fault",
            "netlink",
            "target_root",
        ],
        "the commands: wires every stage together",
    ),
    ("main", &["cli"], "the binary"),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    PathSep,
    Punct(char),
}

/// Rust source as identifiers, `::` and punctuation with their line, without comments,
/// strings and character literals (whose text is no dependency).
fn tokens(source: &str) -> Vec<(Token<'_>, usize)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let skip_to = |from: usize, end: usize, line: &mut usize| {
        *line += bytes[from..end].iter().filter(|&&b| b == b'\n').count();
        end
    };
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &source[i..];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let (mut depth, mut j) = (0usize, i);
            loop {
                if source[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if source[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            i = skip_to(i, j, &mut line);
        } else if let Some(hashes) = raw_string_start(rest) {
            let open = rest.find('"').unwrap() + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = i + open + rest[open..].find(&close).expect("raw string ends") + close.len();
            i = skip_to(i, end, &mut line);
        } else if c == b'"' || rest.starts_with("b\"") {
            let mut j = i + if c == b'"' { 1 } else { 2 };
            while bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = skip_to(i, j + 1, &mut line);
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{7f}') or a lifetime ('a).
            if bytes[i + 1] == b'\\' {
                i += 3 + source[i + 3..].find('\'').unwrap() + 1;
            } else {
                let width = rest[1..].chars().next().unwrap().len_utf8();
                i += if bytes.get(i + 1 + width) == Some(&b'\'') { width + 2 } else { 1 };
            }
        } else if c == b'_' || c.is_ascii_alphabetic() {
            let end = rest.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(rest.len());
            out.push((Token::Ident(&rest[..end]), line));
            i += end;
        } else if rest.starts_with("::") {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            let c = rest.chars().next().unwrap();
            out.push((Token::Punct(c), line));
            i += c.len_utf8();
        }
    }
    out
}

/// The number of `#` of a raw string (`r"`, `r#"`, `br"` …) starting here.
fn raw_string_start(text: &str) -> Option<usize> {
    let after = text.strip_prefix("br").or_else(|| text.strip_prefix('r'))?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// A use of another top-level module, and where.
struct Use {
    line: usize,
    stage: String,
}

/// The top-level modules one file uses outside test code, and the files it declares as
/// test-only (`#[cfg(test)] mod tests;`).
fn uses(source: &str, module_depth: usize) -> (Vec<Use>, Vec<String>) {
    let tokens = tokens(source);
    let (mut found, mut test_modules) = (Vec::new(), Vec::new());
    // The depth of inline `mod x { … }` blocks: how far `super::` may climb inside them.
    let mut inline_modules: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let at = |k: usize| tokens.get(k).map(|t| t.0);
        if is_cfg_test(&tokens[i..]) {
            let item = i + 7;
            if let (Some(Token::Ident("mod")), Some(Token::Ident(name)), Some(Token::Punct(';'))) =
                (at(item), at(item + 1), at(item + 2))
            {
                test_modules.push(name.to_string());
            }
            i = end_of_item(&tokens, item);
            continue;
        }
        match tokens[i].0 {
            Token::Ident("mod") if matches!(at(i + 2), Some(Token::Punct('{'))) => inline_modules.push(braces + 1),
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => {
                if inline_modules.last() == Some(&braces) {
                    inline_modules.pop();
                }
                braces -= 1;
            }
            Token::Ident(root @ ("crate" | "lvs_converge" | "super")) if at(i + 1) == Some(Token::PathSep) => {
                let line = tokens[i].1;
                let mut k = i;
                if root == "super" {
                    // Only a `super::` chain that climbs to the crate root names a stage.
                    let mut climbs = 0;
                    while at(k) == Some(Token::Ident("super")) && at(k + 1) == Some(Token::PathSep) {
                        climbs += 1;
                        k += 2;
                    }
                    if climbs < module_depth + inline_modules.len() {
                        i = k;
                        continue;
                    }
                } else {
                    k += 2;
                }
                match at(k) {
                    Some(Token::Ident(stage)) => found.push(Use { line, stage: stage.to_string() }),
                    Some(Token::Punct('{')) => {
                        let mut depth = 0;
                        let mut element_start = true;
                        while let Some(token) = at(k) {
                            match token {
                                Token::Punct('{') => depth += 1,
                                Token::Punct('}') => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                Token::Punct(',') if depth == 1 => element_start = true,
                                Token::Ident(stage) if depth == 1 && element_start => {
                                    found.push(Use { line: tokens[k].1, stage: stage.to_string() });
                                    element_start = false;
                                }
                                _ => element_start = false,
                            }
                            k += 1;
                        }
                        // Past the group's `}`, which closes no block.
                        k += 1;
                    }
                    _ => {}
                }
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found.retain(|u| u.stage != "self");
    (found, test_modules)
}

/// `#[cfg(test)]` exactly (`cfg(any(test, …))` code is built outside tests too).
fn is_cfg_test(tokens: &[(Token, usize)]) -> bool {
    let expected = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg"),
        Token::Punct('('),
        Token::Ident("test"),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    tokens.len() >= expected.len() && tokens.iter().zip(expected).all(|(have, want)| have.0 == want)
}

/// The index after the item starting at `start`: after its `;`, or after the block its
/// first `{` opens (a `;` inside `(…)` or `[…]`, as in `[u8; 4]`, ends nothing).
fn end_of_item(tokens: &[(Token, usize)], start: usize) -> usize {
    let (mut nesting, mut braces) = (0i32, 0i32);
    for (k, (token, _)) in tokens.iter().enumerate().skip(start) {
        match token {
            Token::Punct('(' | '[') => nesting += 1,
            Token::Punct(')' | ']') => nesting -= 1,
            Token::Punct(';') if nesting == 0 && braces == 0 => return k + 1,
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => {
                braces -= 1;
                if braces == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn rust_files(directory: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The stage a file belongs to (`src/plan/ipvs.rs` → plan) and how deep its module is
/// below the crate root (`super::` climbs that many levels to reach the root).
fn stage_of(relative: &Path) -> (String, usize) {
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let stage = parts[0].trim_end_matches(".rs").to_string();
    let mut depth = parts.len();
    if parts.last().is_some_and(|last| last == "mod.rs") {
        depth -= 1;
    }
    (stage, depth)
}

/// Every use of a stage the table does not allow, as `file:line: message`.
fn violations(src: &Path) -> Vec<String> {
    let allowed: BTreeMap<&str, (BTreeSet<&str>, &str)> =
        STAGES.iter().map(|(stage, uses, why)| (*stage, (uses.iter().copied().collect(), *why))).collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut parsed = Vec::new();
    let mut test_only = BTreeSet::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let relative = path.strip_prefix(src).unwrap().to_path_buf();
        let (stage, depth) = stage_of(&relative);
        let (found, test_modules) = uses(&source, depth);
        let directory = match relative.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => relative.parent().unwrap().to_path_buf(),
            _ => relative.with_extension(""),
        };
        for name in test_modules {
            test_only.insert(directory.join(format!("{name}.rs")));
            test_only.insert(directory.join(&name).join("mod.rs"));
        }
        parsed.push((relative, stage, found));
    }
    let mut problems = Vec::new();
    for (relative, stage, found) in parsed {
        if stage == "lib" || test_only.contains(&relative) {
            continue;
        }
        let Some((uses, why)) = allowed.get(stage.as_str()) else {
            problems.push(format!("src/{}: stage `{stage}` has no row in STAGES", relative.display()));
            continue;
        };
        for Use { line, stage: used } in found {
            if used != stage && !uses.contains(used.as_str()) {
                let mut message = format!("src/{}:{line}: `{stage}` uses `{used}`", relative.display());
                let may = if uses.is_empty() {
                    "nothing".to_string()
                } else {
                    uses.iter().copied().collect::<Vec<_>>().join(", ")
                };
                let _ = write!(message, ", but `{stage}` may use only: {may} ({why})");
                problems.push(message);
            }
        }
    }
    problems
}

#[test]
fn every_stage_uses_only_the_stages_the_table_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(problems.is_empty(), "edges between stages that STAGES does not allow:\n{}", problems.join("\n"));
}

#[test]
fn the_table_names_only_known_stages() {
    let stages: BTreeSet<&str> = STAGES.iter().map(|(stage, _, _)| *stage).collect();
    for (stage, uses, _) in STAGES {
        for used in *uses {
            assert!(stages.contains(used), "`{stage}` may use `{used}`, which has no row");
            assert_ne!(stage, used, "a stage always uses itself");
        }
    }
}

/// The scanner itself: what counts as a use, and what does not.
#[test]
fn uses_are_found_in_code_and_not_in_comments_strings_or_tests() {
    let source = r##"
//! Links to [`crate::plan`] in docs are no dependency.
use crate::model::HostState;
use crate::{observe, plan::Plan};
/* crate::apply in a comment */
const TEXT: &str = "crate::apply in a string";
const RAW: &str = r#"crate::apply "in" a raw string"#;
const BRACE: char = '{';
const QUOTE: char = '\'';
fn f<'a>(x: &'a str) -> usize { super::super::lint::count(x) + super::sibling::g() }
#[cfg(test)]
mod tests {
    use crate::apply;
}
#[cfg(test)]
const SIZES: [u8; 2] = [crate::import::A, 0];
#[cfg(test)]
mod live_tests;
pub mod inline {
    fn g() { super::super::super::render::h() }
}
fn after() { crate::rundir::now() }
"##;
    let (found, test_modules) = uses(source, 2);
    let names: Vec<(usize, &str)> = found.iter().map(|u| (u.line, u.stage.as_str())).collect();
    assert_eq!(
        names,
        [(3, "model"), (4, "observe"), (4, "plan"), (10, "lint"), (20, "render"), (22, "rundir")],
        "uses found"
    );
    assert_eq!(test_modules, ["live_tests"]);
}
