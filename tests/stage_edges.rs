//! The architecture, checked: which top-level module (stage) may use which. Every
//! `crate::STAGE` (and `super::` climbing out of a stage, and a path in a `#[serde(with = "…")]`
//! string) in non-test code under src/ must be an edge of [`STAGES`]; a new one fails here with
//! its file:line and the rule it breaks. What would hide a use from this reading is an error
//! of its own: a glob of the crate root (`crate::*`, `super::*` at the root) and an alias of it
//! (`crate as x`). So is an `impl` whose type's stage could rely on it without the edge showing
//! (render's `Display for plan::Change` used by plan's `to_string()`).
//! Test code (`#[cfg(test)]` items, `mod tests;` files) may reach anywhere and is skipped.
//!
//! The table is checked too: it has no cycle, and it allows no edge the code does not use.
//!
//! Data flows one way: spec → desired → plan → render, apply; observe reads the host into
//! the model; model is plain data and depends on nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod common;

use common::Token;

/// Each stage, the stages it may use, and why. This table is the documentation of the
/// layering: change it with the design, not to make a new edge pass.
const STAGES: &[(&str, &[&str], &str)] = &[
    ("model", &[], "plain data and the rules about it (identity, ownership, roles, API version); no I/O, no stage"),
    ("build_info", &[], "which build this is: version, commit and build day, as build.rs found them"),
    ("civil_date", &[], "calendar dates from Unix time (import's header; build.rs includes it for the build day)"),
    ("spec", &["model"], "YAML → validated model pieces; every error of a spec is found here"),
    (
        "desired",
        &["model", "spec"],
        "validated spec → the whole desired state: role defaults, prerequisites, origins, persistence files",
    ),
    (
        "netlink",
        &["model", "fault"],
        "kernel clients (rtnetlink, generic netlink); their fault points (fault-injection feature)",
    ),
    ("target_root", &[], "file I/O beneath `/` or `--root`, never through a symlink"),
    ("rundir", &[], "the checked runtime directory and its records"),
    ("observe", &["model", "netlink", "target_root", "rundir"], "read-only readers: host → observed model"),
    (
        "plan",
        &["model", "spec", "desired", "build_info"],
        "pure diff into ordered typed changes; saved plans re-validate their spec text (spec, desired) and name the build that made them (build_info)",
    ),
    ("lint", &["model", "spec", "desired"], "check's rules over the resolved spec and facts; they never write"),
    (
        "render",
        &["model", "desired", "plan", "lint", "apply", "observe", "lock", "converge", "agent"],
        "every word a user reads: plans, findings, apply reports, a spec's summary, snapshots, lock waits, the agent's log",
    ),
    ("interrupt", &[], "the SIGINT/SIGTERM flag apply checks"),
    ("fault", &[], "fault injection for tests: LVS_CONVERGE_FAULT, read only with the fault-injection feature"),
    ("netns", &[], "entering a network namespace"),
    ("lock", &["model", "plan", "rundir"], "per-namespace and persistence-files locks"),
    (
        "apply",
        &["model", "plan", "netlink", "observe", "target_root", "rundir", "interrupt", "fault"],
        "carries out a plan's changes, rolls back, re-reads and verifies",
    ),
    (
        "converge",
        &["model", "spec", "desired", "observe", "plan", "apply", "lock", "interrupt"],
        "one converge run, shared by `apply -f` and the agent: lock, resolve, observe, overlay health, plan, apply, verify",
    ),
    (
        "agent",
        &["model", "spec", "desired", "observe", "plan", "apply", "lock", "rundir", "converge"],
        "the long-running loop: converge runs, health probes and rise/fall, signals, systemd notify, health records, metrics; tells events, never prints",
    ),
    (
        "import",
        &["model", "spec", "desired", "plan", "civil_date"],
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
            "build_info",
            "converge",
            "agent",
        ],
        "the commands: wires every stage together",
    ),
    ("main", &["cli"], "the binary"),
];

/// A use of another top-level module, and where.
#[derive(Debug)]
struct Use {
    line: usize,
    stage: String,
}

/// What one file's non-test code says about stages: the stages it uses, and the constructs
/// that would hide a use from this scanner (a glob or an alias of the crate root), which are
/// errors in their own right.
#[derive(Debug, Default)]
struct Scan {
    uses: Vec<Use>,
    hidden: Vec<(usize, String)>,
}

/// The `#[serde(…)]` keys whose string value is a path into the crate.
const SERDE_PATH_KEYS: [&str; 9] = [
    "with",
    "serialize_with",
    "deserialize_with",
    "default",
    "skip_serializing_if",
    "from",
    "try_from",
    "into",
    "remote",
];

/// The stages `code` (non-test tokens of one file) uses; `module_depth` is how far `super::`
/// climbs to reach the crate root from the file's module.
fn scan(code: &[(Token, usize)], module_depth: usize) -> Scan {
    let mut found = Scan::default();
    // The depth of inline `mod x { … }` blocks: how far `super::` may climb inside them.
    let mut inline_modules: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    // The index of the `)` that ends the `#[serde(…)]` being read.
    let mut serde_ends_at = 0;
    let mut i = 0;
    while i < code.len() {
        let at = |k: usize| code.get(k).map(|t| t.0);
        let depth = module_depth + inline_modules.len();
        match code[i].0 {
            Token::Punct('#')
                if at(i + 1) == Some(Token::Punct('['))
                    && at(i + 2) == Some(Token::Ident("serde"))
                    && at(i + 3) == Some(Token::Punct('(')) =>
            {
                serde_ends_at = common::end_of_item(code, i + 3);
            }
            Token::Str(text)
                if i < serde_ends_at
                    && at(i - 1) == Some(Token::Punct('='))
                    && matches!(at(i - 2), Some(Token::Ident(key)) if SERDE_PATH_KEYS.contains(&key)) =>
            {
                // A path in a string is still a path: read it as code, on the attribute's line.
                let line = code[i].1;
                let inner: Vec<(Token, usize)> = common::tokens(text).into_iter().map(|(t, _)| (t, line)).collect();
                let Scan { uses, hidden } = scan(&inner, depth);
                found.uses.extend(uses);
                found.hidden.extend(hidden);
            }
            Token::Ident("mod") if matches!(at(i + 2), Some(Token::Punct('{'))) => inline_modules.push(braces + 1),
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => {
                if inline_modules.last() == Some(&braces) {
                    inline_modules.pop();
                }
                braces = braces.saturating_sub(1);
            }
            Token::Ident(root @ ("crate" | "lvs_converge" | "super"))
                if at(i + 1) == Some(Token::Ident("as")) && (root != "super" || depth <= 1) =>
            {
                found.hidden.push((code[i].1, "`crate as …` hides which stage a path names".to_string()));
            }
            Token::Ident(root @ ("crate" | "lvs_converge" | "super")) if at(i + 1) == Some(Token::PathSep) => {
                let line = code[i].1;
                let mut k = i;
                if root == "super" {
                    // Only a `super::` chain that climbs to the crate root names a stage.
                    let mut climbs = 0;
                    while at(k) == Some(Token::Ident("super")) && at(k + 1) == Some(Token::PathSep) {
                        climbs += 1;
                        k += 2;
                    }
                    if at(k) == Some(Token::Ident("super")) && at(k + 1) == Some(Token::Ident("as")) {
                        climbs += 1;
                        if climbs >= depth {
                            found.hidden.push((
                                line,
                                "`super as …` at the crate root hides which stage a path names".to_string(),
                            ));
                        }
                    }
                    if climbs < depth {
                        i = k;
                        continue;
                    }
                } else {
                    k += 2;
                }
                match at(k) {
                    Some(Token::Ident(stage)) => found.uses.push(Use { line, stage: stage.to_string() }),
                    Some(Token::Punct('*')) => found.hidden.push((line, glob_at_root())),
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
                                Token::Punct('*') if depth == 1 && element_start => {
                                    found.hidden.push((code[k].1, glob_at_root()));
                                    element_start = false;
                                }
                                Token::Ident("self") if depth == 1 && at(k + 1) == Some(Token::Ident("as")) => {
                                    found.hidden.push((
                                        code[k].1,
                                        "`crate::{self as …}` hides which stage a path names".to_string(),
                                    ));
                                    element_start = false;
                                }
                                Token::Ident(stage) if depth == 1 && element_start => {
                                    found.uses.push(Use { line: code[k].1, stage: stage.to_string() });
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
    found.uses.retain(|u| u.stage != "self");
    found
}

fn glob_at_root() -> String {
    "a glob of the crate root (`crate::*`, `super::*` at the root) hides which stages it uses".to_string()
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

/// One non-test source file of a stage.
struct SourceFile {
    relative: PathBuf,
    stage: String,
    depth: usize,
    source: String,
}

/// Every non-test file under `src` but lib.rs, which only declares the stages.
fn stage_files(src: &Path) -> Vec<SourceFile> {
    let files = common::rust_files(src);
    let test_only = common::test_only_files(&files);
    let mut out = Vec::new();
    for path in files.iter().filter(|path| !test_only.contains(*path)) {
        let relative = path.strip_prefix(src).unwrap().to_path_buf();
        let (stage, depth) = stage_of(&relative);
        if stage != "lib" {
            out.push(SourceFile { relative, stage, depth, source: std::fs::read_to_string(path).unwrap() });
        }
    }
    out
}

fn allowed() -> BTreeMap<&'static str, (BTreeSet<&'static str>, &'static str)> {
    STAGES.iter().map(|(stage, uses, why)| (*stage, (uses.iter().copied().collect(), *why))).collect()
}

/// Every use of a stage the table does not allow, and every construct that hides one, as
/// `file:line: message`; and the edges really used (stage → stages).
fn violations(src: &Path) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let allowed = allowed();
    let mut problems = Vec::new();
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in stage_files(src) {
        let SourceFile { relative, stage, depth, source } = &file;
        let Some((uses, why)) = allowed.get(stage.as_str()) else {
            problems.push(format!("src/{}: stage `{stage}` has no row in STAGES", relative.display()));
            continue;
        };
        let (code, _) = common::non_test_tokens(source);
        let Scan { uses: found, hidden } = scan(&code, *depth);
        for (line, why) in hidden {
            problems.push(format!("src/{}:{line}: {why}", relative.display()));
        }
        for Use { line, stage: used_stage } in found {
            if &used_stage == stage {
                continue;
            }
            used.entry(stage.clone()).or_default().insert(used_stage.clone());
            if !uses.contains(used_stage.as_str()) {
                let mut message = format!("src/{}:{line}: `{stage}` uses `{used_stage}`", relative.display());
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
    (problems, used)
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_stage_uses_only_the_stages_the_table_allows() {
    let (problems, _) = violations(&src());
    assert!(problems.is_empty(), "edges between stages that STAGES does not allow:\n{}", problems.join("\n"));
}

/// An allowed edge no code uses is a door left open: the table says what the code does.
#[test]
fn every_edge_the_table_allows_is_used() {
    let (_, used) = violations(&src());
    let unused = unused_edges(&used);
    assert!(unused.is_empty(), "STAGES allows edges no non-test code uses; remove them:\n{}", unused.join("\n"));
}

fn unused_edges(used: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut unused = Vec::new();
    for (stage, uses, _) in STAGES {
        for allowed in *uses {
            if !used.get(*stage).is_some_and(|edges| edges.contains(*allowed)) {
                unused.push(format!("{stage} → {allowed}"));
            }
        }
    }
    unused
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

/// The stages in an order where each comes after every stage it may use, or the stages
/// left on a cycle.
fn topological_order(table: &[(&'static str, &[&'static str], &str)]) -> Result<Vec<&'static str>, Vec<&'static str>> {
    let mut left: BTreeMap<&str, BTreeSet<&str>> =
        table.iter().map(|(stage, uses, _)| (*stage, uses.iter().copied().collect())).collect();
    let mut order = Vec::new();
    while !left.is_empty() {
        let ready: Vec<&str> = left.iter().filter(|(_, uses)| uses.is_empty()).map(|(stage, _)| *stage).collect();
        if ready.is_empty() {
            return Err(left.keys().copied().collect());
        }
        for stage in ready {
            left.remove(stage);
            for uses in left.values_mut() {
                uses.remove(stage);
            }
            order.push(stage);
        }
    }
    Ok(order)
}

/// Data flows one way: a back edge added to the table (to make a new use pass) is a cycle.
#[test]
fn the_table_has_no_cycle() {
    if let Err(cycle) = topological_order(STAGES) {
        panic!("the stages {cycle:?} use each other in a cycle; data flows one way");
    }
    let with_a_back_edge: &[(&str, &[&str], &str)] =
        &[("model", &["plan"], ""), ("plan", &["model"], ""), ("render", &["plan"], "")];
    assert_eq!(topological_order(with_a_back_edge), Err(vec!["model", "plan", "render"]));
    let layered: &[(&str, &[&str], &str)] = &[("render", &["plan"], ""), ("plan", &["model"], ""), ("model", &[], "")];
    assert_eq!(topological_order(layered), Ok(vec!["model", "plan", "render"]));
}

/// The stages each stage may reach through the table, itself included.
fn reachable() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let allowed = allowed();
    let mut reach = BTreeMap::new();
    for (stage, _, _) in STAGES {
        let mut seen = BTreeSet::from([*stage]);
        let mut todo = vec![*stage];
        while let Some(next) = todo.pop() {
            for used in allowed.get(next).map(|(uses, _)| uses.clone()).unwrap_or_default() {
                if seen.insert(used) {
                    todo.push(used);
                }
            }
        }
        reach.insert(*stage, seen);
    }
    reach
}

/// A `use` declaration's bindings: the name it brings in (None for a glob) and its full path.
fn use_bindings<'a>(
    code: &[(Token<'a>, usize)],
    k: &mut usize,
    prefix: &[&'a str],
    out: &mut Vec<(Option<&'a str>, Vec<&'a str>)>,
) {
    let at = |k: usize| code.get(k).map(|t| t.0);
    let mut path = prefix.to_vec();
    if at(*k) == Some(Token::PathSep) {
        *k += 1;
    }
    loop {
        match at(*k) {
            Some(Token::Ident(segment)) => {
                path.push(segment);
                *k += 1;
                if at(*k) == Some(Token::PathSep) {
                    *k += 1;
                    continue;
                }
                let binding = if at(*k) == Some(Token::Ident("as")) {
                    *k += 2;
                    code[*k - 1].0
                } else {
                    Token::Ident(segment)
                };
                let name = match binding {
                    Token::Ident("self") => path.get(path.len().wrapping_sub(2)).copied(),
                    Token::Ident(name) => Some(name),
                    _ => None,
                };
                if path.last() == Some(&"self") {
                    path.pop();
                }
                out.push((name, path));
                return;
            }
            Some(Token::Punct('*')) => {
                *k += 1;
                out.push((None, path));
                return;
            }
            Some(Token::Punct('{')) => {
                *k += 1;
                while !matches!(at(*k), Some(Token::Punct('}')) | None) {
                    use_bindings(code, k, &path, out);
                    if at(*k) == Some(Token::Punct(',')) {
                        *k += 1;
                    }
                }
                *k += 1;
                return;
            }
            _ => return,
        }
    }
}

/// The stage a path (as written in `file`) starts in, or None for another crate's.
fn stage_of_path(path: &[&str], file: &SourceFile, imports: &BTreeMap<&str, Option<String>>) -> Option<String> {
    match path.first().copied()? {
        "crate" | "lvs_converge" => path.get(1).map(|s| s.to_string()),
        "self" => Some(file.stage.clone()),
        "super" => {
            let climbs = path.iter().take_while(|s| **s == "super").count();
            if climbs >= file.depth {
                path.get(climbs).map(|s| s.to_string())
            } else {
                Some(file.stage.clone())
            }
        }
        first => imports.get(first).cloned().flatten(),
    }
}

/// The primary path of a type as written (`&'a mut crate::plan::Change<T>` → crate, plan, Change).
fn type_path<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    let mut k = 0;
    loop {
        match tokens.get(k) {
            Some(Token::Punct('&')) | Some(Token::Ident("mut" | "dyn")) | Some(Token::PathSep) => k += 1,
            Some(Token::Punct('\'')) => k += 2,
            _ => break,
        }
    }
    let mut path = Vec::new();
    while let Some(Token::Ident(segment)) = tokens.get(k) {
        path.push(*segment);
        if tokens.get(k + 1) != Some(&Token::PathSep) {
            break;
        }
        k += 2;
    }
    path
}

/// An `impl` block and the stages its trait and type are defined in.
#[derive(Debug)]
struct Impl {
    line: usize,
    written: String,
    owners: Vec<String>,
}

/// The `impl` items of one file, each with the stages that define its trait and its type.
fn impls(file: &SourceFile, defined: &BTreeMap<String, BTreeSet<String>>) -> Vec<Impl> {
    let (code, _) = common::non_test_tokens(&file.source);
    let at = |k: usize| code.get(k).map(|t| t.0);
    let mut imports: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut globs = BTreeSet::new();
    for (i, (token, _)) in code.iter().enumerate() {
        if *token == Token::Ident("use") {
            let mut bindings = Vec::new();
            use_bindings(&code, &mut (i + 1), &[], &mut bindings);
            for (name, path) in bindings {
                let stage = stage_of_path(&path, file, &imports);
                match name {
                    Some(name) => {
                        imports.insert(name, stage);
                    }
                    None => globs.extend(stage),
                }
            }
        }
    }
    let owner = |path: &[&str]| -> Option<String> {
        match path {
            [] => None,
            [name] => imports.get(name).cloned().flatten().or_else(|| {
                let stages = defined.get(*name)?;
                if stages.contains(&file.stage) {
                    Some(file.stage.clone())
                } else {
                    globs.iter().find(|glob| stages.contains(*glob)).cloned()
                }
            }),
            _ => stage_of_path(path, file, &imports),
        }
    };
    let mut found = Vec::new();
    for (i, (token, line)) in code.iter().enumerate() {
        // An item `impl`, not `impl Trait` in a type (`-> impl Iterator`, `x: impl Fn()`).
        let item = i == 0
            || matches!(
                at(i - 1),
                Some(Token::Punct('}' | ';' | '{' | ']')) | Some(Token::Ident("unsafe" | "default"))
            );
        if *token != Token::Ident("impl") || !item {
            continue;
        }
        let mut k = i + 1;
        if at(k) == Some(Token::Punct('<')) {
            let mut angles = 0;
            while let Some(token) = at(k) {
                match token {
                    Token::Punct('<') => angles += 1,
                    Token::Punct('>') if at(k - 1) != Some(Token::Punct('-')) => angles -= 1,
                    _ => {}
                }
                k += 1;
                if angles == 0 {
                    break;
                }
            }
        }
        let (mut first, mut second, mut angles, mut after_for) = (Vec::new(), Vec::new(), 0, false);
        while let Some(token) = at(k) {
            match token {
                Token::Punct('{') | Token::Ident("where") if angles == 0 => break,
                Token::Ident("for") if angles == 0 => after_for = true,
                Token::Punct('<') => angles += 1,
                Token::Punct('>') if at(k - 1) != Some(Token::Punct('-')) => angles -= 1,
                _ => {}
            }
            if token != Token::Ident("for") || angles != 0 {
                if after_for { &mut second } else { &mut first }.push(token);
            }
            k += 1;
        }
        // As with Rust's orphan rule: a type or trait of the impl's own stage anywhere in the
        // header (`Applier for plan::X`, `From<CliArg> for render::Format`) means code elsewhere
        // can use the impl only by naming that stage, an edge the table sees.
        let local = first.iter().chain(&second).any(|token| match token {
            Token::Ident(name) => owner(&[name]).as_deref() == Some(file.stage.as_str()),
            _ => false,
        });
        let (trait_path, type_tokens) = if after_for { (type_path(&first), second) } else { (Vec::new(), first) };
        let self_type = type_path(&type_tokens);
        let owners =
            if local { Vec::new() } else { [owner(&trait_path), owner(&self_type)].into_iter().flatten().collect() };
        let written = if after_for {
            format!("impl {} for {}", trait_path.join("::"), self_type.join("::"))
        } else {
            format!("impl {}", self_type.join("::"))
        };
        found.push(Impl { line: *line, written, owners });
    }
    found
}

/// The names each stage defines (struct, enum, union, trait, type): name → stages.
fn definitions(files: &[SourceFile]) -> BTreeMap<String, BTreeSet<String>> {
    let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let (code, _) = common::non_test_tokens(&file.source);
        for pair in code.windows(2) {
            if let (Token::Ident("struct" | "enum" | "union" | "trait" | "type"), Token::Ident(name)) =
                (pair[0].0, pair[1].0)
            {
                defined.entry(name.to_string()).or_default().insert(file.stage.clone());
            }
        }
    }
    defined
}

/// Every `impl` whose trait or type is defined in a stage that may not use the impl's stage:
/// code there would rely on the impl (a `Display` of plan's `Change` written in render makes
/// plan's `change.to_string()` depend on render) without the table seeing the edge.
fn impl_violations(files: &[SourceFile]) -> Vec<String> {
    let defined = definitions(files);
    let reach = reachable();
    let mut problems = Vec::new();
    for file in files {
        for Impl { line, written, owners } in impls(file, &defined) {
            for owner in owners {
                let may_use = reach.get(owner.as_str()).is_some_and(|stages| stages.contains(file.stage.as_str()));
                if owner != file.stage && !may_use {
                    problems.push(format!(
                        "src/{}:{line}: `{written}` in `{}`, but `{owner}` defines it and may not use `{}`",
                        file.relative.display(),
                        file.stage,
                        file.stage
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_impl_lives_where_its_users_may_reach_it() {
    let problems = impl_violations(&stage_files(&src()));
    assert!(
        problems.is_empty(),
        "impls written in a stage their type's or trait's stage may not use:\n{}",
        problems.join("\n")
    );
}

fn sample_file(stage: &str, relative: &str, source: &str) -> SourceFile {
    let relative = PathBuf::from(relative);
    let depth = stage_of(&relative).1;
    SourceFile { relative, stage: stage.to_string(), depth, source: source.to_string() }
}

#[test]
fn impls_of_another_stages_types_are_found() {
    let plan = sample_file("plan", "plan/mod.rs", "pub enum Change { A }\npub struct Action;\npub trait Describe {}\n");
    let render = sample_file(
        "render",
        "render/change/mod.rs",
        r#"
use std::fmt;
use crate::plan::{self, Action};
use super::super::plan::Describe as Said;
pub struct Words;
impl fmt::Display for crate::plan::Change { }
impl<'a> fmt::Display for &'a Action { }
impl plan::Change { fn words(&self) -> String { todo!() } }
impl Said for u8 {}
impl Said for Words {}
impl fmt::Display for Words { }
impl From<Words> for Action { }
fn shown() -> impl fmt::Display { Words }
#[cfg(test)]
impl fmt::Debug for Action {}
"#,
    );
    let model = sample_file("model", "model/mod.rs", "use crate::plan::Describe;\nimpl Describe for u8 {}\n");
    let problems = impl_violations(&[plan, render, model]);
    let lines: Vec<&str> = problems.iter().map(|p| p.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "src/render/change/mod.rs:6",
            "src/render/change/mod.rs:7",
            "src/render/change/mod.rs:8",
            "src/render/change/mod.rs:9"
        ],
        "{problems:#?}"
    );
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
#[cfg(test)]
#[path = "elsewhere.rs"]
pub(crate) mod more_tests;
fn qualified() { <crate::desired::Files as Default>::default(); ::lvs_converge::netns::enter(); }
#[derive(Serialize)]
struct S {
    #[serde(default, with = "super::super::import::as_list", skip_serializing_if = "crate::lock::none")]
    field: u8,
    #[serde(rename = "crate::apply is a name here")]
    named: u8,
}
"##;
    let (code, test_modules) = common::non_test_tokens(source);
    let found = scan(&code, 2);
    let names: Vec<(usize, &str)> = found.uses.iter().map(|u| (u.line, u.stage.as_str())).collect();
    assert_eq!(
        names,
        [
            (3, "model"),
            (4, "observe"),
            (4, "plan"),
            (10, "lint"),
            (20, "render"),
            (22, "rundir"),
            (26, "desired"),
            (26, "netns"),
            (29, "import"),
            (29, "lock")
        ],
        "uses found"
    );
    assert!(found.hidden.is_empty(), "{:?}", found.hidden);
    assert_eq!(test_modules, ["live_tests", "more_tests"]);
}

/// A glob or an alias of the crate root would let any stage in unseen: each is an error.
#[test]
fn globs_and_aliases_of_the_crate_root_are_errors() {
    let source = r#"
use super::*;
use crate::*;
use crate::{model, *};
use crate as root;
use crate::{self as top};
use super as up;
fn f() { root::plan::x() }
use super::model::*;
"#;
    let (code, _) = common::non_test_tokens(source);
    let found = scan(&code, 1);
    let lines: Vec<usize> = found.hidden.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7], "{:?}", found.hidden);
    // One level down, `super::*` is the parent module's glob, not the root's.
    assert!(scan(&common::non_test_tokens("use super::*;").0, 2).hidden.is_empty());
}
