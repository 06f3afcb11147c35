//! The command line is the only part of the program that meets the terminal: it alone knows
//! clap, and it alone writes to stdout and stderr. The core below it takes plain values and
//! returns data; render turns data into words and returns them; the command line prints.
//! These checks read the source, so a new `eprintln!` in the core fails here, not in review.

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
/// that `offends`.
fn offenders(allowed: &[&str], offends: fn(&str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let skipped: Vec<PathBuf> = COMMAND_LINE.iter().chain(allowed).map(|path| root.join(path)).collect();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &skipped, &mut files);
    let test_only = test_only_modules(&files);
    let mut found = Vec::new();
    for path in &files {
        if test_only.iter().any(|module| path.starts_with(module)) {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        for ((number, code), line) in non_test_code(&source).lines().enumerate().zip(source.lines()) {
            if offends(code) {
                let shown = path.strip_prefix(root).unwrap_or(path).display();
                found.push(format!("{shown}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

fn rust_files(path: &Path, skipped: &[PathBuf], files: &mut Vec<PathBuf>) {
    if skipped.iter().any(|skip| skip == path) {
        return;
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), skipped, files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
}

/// The files (`x.rs`) and folders (`x/`) of modules declared `#[cfg(test)] mod x;`.
fn test_only_modules(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut modules = Vec::new();
    for file in files {
        let code = blank_comments_and_literals(&std::fs::read_to_string(file).unwrap());
        // A module's children live beside mod.rs, lib.rs and main.rs, and under x/ for x.rs.
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let children = match stem {
            "mod" | "lib" | "main" => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        for (at, _) in code.match_indices("#[cfg(test)]") {
            let item = code[at + "#[cfg(test)]".len()..].trim_start();
            let declaration = item.split(';').next().unwrap_or_default();
            let words: Vec<&str> = declaration.split_whitespace().collect();
            if let [.., "mod", name] = words[..] {
                if !declaration.contains('{') {
                    modules.push(children.join(format!("{name}.rs")));
                    modules.push(children.join(name));
                }
            }
        }
    }
    modules
}

/// `source` with comments, the contents of string and character literals, and every item
/// under `#[cfg(test)]` blanked out; lines stay where they were.
fn non_test_code(source: &str) -> String {
    let mut code: Vec<u8> = blank_comments_and_literals(source).into_bytes();
    let attribute = b"#[cfg(test)]";
    let mut at = 0;
    while let Some(found) = find(&code[at..], attribute) {
        let start = at + found;
        let end = item_end(&code, start + attribute.len());
        blank(&mut code[start..end]);
        at = end;
    }
    String::from_utf8(code).unwrap()
}

/// Where the item that starts at `from` ends: after its `;`, or after the `}` that closes
/// its first `{`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    for (offset, byte) in code[from..].iter().enumerate() {
        match byte {
            b';' if depth == 0 => return from + offset + 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return from + offset + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Spaces for everything but newlines.
fn blank(bytes: &mut [u8]) {
    for byte in bytes.iter_mut().filter(|b| **b != b'\n') {
        *byte = b' ';
    }
}

/// `source` with comments and the insides of string and character literals turned into
/// spaces (newlines kept), so that neither braces nor words in them count as code.
fn blank_comments_and_literals(source: &str) -> String {
    let mut code = source.as_bytes().to_vec();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let end = if rest.starts_with(b"//") {
            at + rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            at + block_comment_len(rest)
        } else if let Some(len) = raw_string_len(rest) {
            at + len
        } else if rest[0] == b'"' {
            at + quoted_len(rest, b'"')
        } else if rest[0] == b'\'' && (rest.get(1) == Some(&b'\\') || rest.get(2) == Some(&b'\'')) {
            // A character literal; a lone quote is a lifetime.
            at + quoted_len(rest, b'\'')
        } else {
            at += 1;
            continue;
        };
        blank(&mut code[at..end]);
        at = end;
    }
    String::from_utf8(code).expect("only ASCII was replaced")
}

/// The length of the (possibly nested) block comment `text` starts with.
fn block_comment_len(text: &[u8]) -> usize {
    let mut depth = 0;
    let mut at = 0;
    while at < text.len() {
        if text[at..].starts_with(b"/*") {
            depth += 1;
            at += 2;
        } else if text[at..].starts_with(b"*/") {
            depth -= 1;
            at += 2;
            if depth == 0 {
                return at;
            }
        } else {
            at += 1;
        }
    }
    text.len()
}

/// The length of the raw string (`r"…"`, `r#"…"#`, `br"…"`) `text` starts with, if it does.
fn raw_string_len(text: &[u8]) -> Option<usize> {
    let prefix = if text.starts_with(b"br") {
        2
    } else if text.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = text[prefix..].iter().take_while(|b| **b == b'#').count();
    if text.get(prefix + hashes) != Some(&b'"') {
        return None;
    }
    let closing: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
    let body = prefix + hashes + 1;
    Some(find(&text[body..], &closing).map_or(text.len(), |end| body + end + closing.len()))
}

/// The length of the literal `text` starts with, up to its closing `quote` (escapes skipped).
fn quoted_len(text: &[u8], quote: u8) -> usize {
    let mut at = 1;
    while at < text.len() {
        match text[at] {
            b'\\' => at += 2,
            byte if byte == quote => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

/// The whole identifiers in `code`, each with what follows it.
fn identifiers(code: &str) -> impl Iterator<Item = (&str, &str)> {
    fn identifier(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }
    code.match_indices(identifier).filter_map(move |(at, _)| {
        let starts = !code[..at].chars().next_back().is_some_and(identifier);
        let len = code[at..].find(|c: char| !identifier(c)).unwrap_or(code.len() - at);
        starts.then(|| (&code[at..at + len], &code[at + len..]))
    })
}

/// Whether `code` names clap (`clap::…`, `use clap`), not inside another word.
fn names_clap(code: &str) -> bool {
    identifiers(code).any(|(word, _)| word == "clap")
}

/// Whether `code` writes to the terminal: a printing macro, or stdout/stderr taken.
fn prints(code: &str) -> bool {
    identifiers(code).any(|(word, after)| match word {
        "print" | "println" | "eprint" | "eprintln" | "dbg" => after.starts_with('!'),
        "stdout" | "stderr" => after.trim_start().starts_with('('),
        _ => false,
    })
}

#[test]
fn the_checks_see_code_and_only_code() {
    assert!(names_clap("use clap::ValueEnum;") && names_clap("#[derive(clap::Args)]"));
    assert!(!names_clap("let clapping = 1;") && !names_clap("fn reclap()"));
    for code in ["eprintln!(\"x\");", "print!(\"{x}\")", "let _ = writeln!(std::io::stderr(), \"x\");", "dbg!(x)"] {
        assert!(prints(code), "{code}");
    }
    for code in ["let println_count = 1;", "fn stdout_of(child: &Child)", "sprintln!(x)", "Stdio::inherit()"] {
        assert!(!prints(code), "{code}");
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

fn after_the_tests() {
    eprintln!("core code");
}
"#####;
    let code = non_test_code(source);
    let printing: Vec<usize> =
        code.lines().enumerate().filter(|(_, line)| prints(line)).map(|(number, _)| number + 1).collect();
    assert_eq!(printing, [16], "only the core's own eprintln! counts:\n{code}");
    assert_eq!(code.lines().count(), source.lines().count(), "lines keep their numbers");
}
