//! The command line is the only part of the program that meets the terminal: it alone knows
//! clap, and it alone writes to stdout and stderr. The core below it takes plain values and
//! returns data; render turns data into words and returns them; the command line prints.
//! These checks read the source, so a new `eprintln!` in the core fails here, not in review.

mod common;

use common::Token;
use std::path::{Path, PathBuf};

/// The command line's own files, where clap and printing belong.
const COMMAND_LINE: [&str; 2] = ["src/cli.rs", "src/cli"];

/// Files outside the command line that may print, and why.
const MAY_PRINT: [(&str, &str); 1] = [(
    "src/fault.rs",
    "fault injection is a test harness that says on stderr what it does to the process it is about to kill or fail; its rules are read only with the fault-injection feature (and in unit tests), so in other builds no rule acts and it prints nothing",
)];

#[test]
fn only_the_command_line_knows_clap() {
    let found = offenders(&[], names_clap);
    assert!(found.is_empty(), "clap belongs to src/cli.rs and src/cli/; the core takes plain types: {found:#?}");
}

#[test]
fn only_the_command_line_prints() {
    let may_print: Vec<&str> = MAY_PRINT.iter().map(|(path, _why)| *path).collect();
    let found = offenders(&may_print, prints);
    assert!(
        found.is_empty(),
        "only src/cli.rs and src/cli/ write to stdout and stderr; the core returns data, render returns words \
         (return them, or tell the caller through a callback as lock::Waiting does): {found:#?}"
    );
}

/// `file:line: code` of every line of non-test code outside the command line (and `allowed`)
/// where `offends` finds something.
fn offenders(allowed: &[&str], offends: fn(&[(Token, usize)]) -> Vec<usize>) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let skipped: Vec<PathBuf> = COMMAND_LINE.iter().chain(allowed).map(|path| root.join(path)).collect();
    let files = common::rust_files(&root.join("src"));
    let test_only = common::test_only_files(&files);
    let mut found = Vec::new();
    for path in &files {
        if test_only.contains(path) || skipped.iter().any(|skip| path.starts_with(skip)) {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        let (code, _) = common::non_test_tokens(&source);
        let lines: Vec<&str> = source.lines().collect();
        let mut numbers = offends(&code);
        numbers.dedup();
        for number in numbers {
            let shown = path.strip_prefix(root).unwrap_or(path).display();
            found.push(format!("{shown}:{number}: {}", lines[number - 1].trim()));
        }
    }
    found
}

/// The lines where `code` names clap (`clap::…`, `use clap`), not inside another word.
fn names_clap(code: &[(Token, usize)]) -> Vec<usize> {
    code.iter().filter(|(token, _)| *token == Token::Ident("clap")).map(|(_, line)| *line).collect()
}

/// The lines where `code` writes to the terminal: a printing macro, or stdout/stderr taken.
fn prints(code: &[(Token, usize)]) -> Vec<usize> {
    code.windows(2)
        .enumerate()
        .filter(|(at, pair)| match (pair[0].0, pair[1].0) {
            (Token::Ident("print" | "println" | "eprint" | "eprintln" | "dbg"), Token::Punct('!')) => true,
            // `.stdout(…)` is a method: it sets up a child's output (`Command::stdout`), it
            // does not write to ours.
            (Token::Ident("stdout" | "stderr"), Token::Punct('(')) => *at == 0 || code[at - 1].0 != Token::Punct('.'),
            _ => false,
        })
        .map(|(_, pair)| pair[0].1)
        .collect()
}

#[test]
fn the_checks_see_code_and_only_code() {
    let lines = |check: fn(&[(Token, usize)]) -> Vec<usize>, source: &str| check(&common::non_test_tokens(source).0);
    assert_eq!(lines(names_clap, "use clap::ValueEnum;\n#[derive(clap::Args)]"), [1, 2]);
    assert!(lines(names_clap, "let clapping = 1;\nfn reclap()").is_empty());
    for code in ["eprintln!(\"x\");", "print!(\"{x}\")", "let _ = writeln!(std::io::stderr(), \"x\");", "dbg!(x)"] {
        assert_eq!(lines(prints, code), [1], "{code}");
    }
    for code in [
        "let println_count = 1;",
        "fn stdout_of(child: &Child)",
        "sprintln!(x)",
        "Stdio::inherit()",
        "command.stdout(Stdio::null()).stderr(Stdio::null())",
    ] {
        assert!(lines(prints, code).is_empty(), "{code}");
    }

    let source = r#####"
fn core() {
    let said = "eprintln!(\"in a string\")"; // eprintln!("in a comment")
    let raw = r#"println!("in a raw string") }"#;
    let brace = '{';
    /* eprintln!("in a /* nested */ block comment") */
    fn lifetime<'a>(x: &'a str) -> &'a str { x }
}

#[cfg(test)]
mod tests {
    fn helper() { let close = '}'; println!("test code"); }
}

#[cfg(test)]
#[allow(unused)]
fn attributed_helper() { println!("test code too"); }

fn after_the_tests() {
    eprintln!("core code");
}
"#####;
    assert_eq!(lines(prints, source), [20], "only the core's own eprintln! counts");
}
