//! What the source checks (stage_edges, command_line_boundary) share: one Rust lexer and one
//! answer to "is this test code?", so that both checks see the same code and are fooled by
//! the same nothing.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    Ident(&'a str),
    PathSep,
    Punct(char),
    /// The text between the quotes of a string literal, escapes left as written: a string is
    /// no dependency, except where an attribute names a path in one (`#[serde(with = "…")]`).
    Str(&'a str),
}

/// Rust source as identifiers, `::`, punctuation and string literals with their line, without
/// comments and character literals.
pub fn tokens(source: &str) -> Vec<(Token<'_>, usize)> {
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
            while j < bytes.len() {
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
            let body = rest[open..].find(&close).expect("raw string ends");
            out.push((Token::Str(&rest[open..open + body]), line));
            i = skip_to(i, i + open + body + close.len(), &mut line);
        } else if c == b'"' || rest.starts_with("b\"") {
            let open = i + if c == b'"' { 1 } else { 2 };
            let mut j = open;
            while bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push((Token::Str(&source[open..j]), line));
            i = skip_to(i, j + 1, &mut line);
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{7f}') or a lifetime ('a).
            if bytes[i + 1] == b'\\' {
                i += 3 + source[i + 3..].find('\'').unwrap() + 1;
            } else {
                let width = rest[1..].chars().next().unwrap().len_utf8();
                if bytes.get(i + 1 + width) == Some(&b'\'') {
                    i += width + 2;
                } else {
                    // A lifetime: its name follows as an identifier.
                    out.push((Token::Punct('\''), line));
                    i += 1;
                }
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

/// `#[cfg(test)]` exactly (`cfg(any(test, …))` code is built outside tests too).
pub fn is_cfg_test(tokens: &[(Token, usize)]) -> bool {
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
pub fn end_of_item(tokens: &[(Token, usize)], start: usize) -> usize {
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

/// A file's tokens outside test code (every item under `#[cfg(test)]` left out), and the
/// modules it declares test-only (`#[cfg(test)] mod tests;`, whose files are test code).
pub fn non_test_tokens(source: &str) -> (Vec<(Token<'_>, usize)>, Vec<String>) {
    let all = tokens(source);
    let (mut code, mut test_modules) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < all.len() {
        if is_cfg_test(&all[i..]) {
            let mut item = i + 7;
            // Further outer attributes (`#[path = "…"]`, `#[allow(…)]`) belong to the same item.
            while all.get(item).map(|t| t.0) == Some(Token::Punct('#')) {
                item = end_of_attribute(&all, item);
            }
            let at = |k: usize| all.get(k).map(|t| t.0);
            let mut name = item;
            if at(name) == Some(Token::Ident("pub")) {
                name += 1;
                if at(name) == Some(Token::Punct('(')) {
                    name = end_of_attribute(&all, name - 1);
                }
            }
            if let (Some(Token::Ident("mod")), Some(Token::Ident(module)), Some(Token::Punct(';'))) =
                (at(name), at(name + 1), at(name + 2))
            {
                test_modules.push(module.to_string());
            }
            i = end_of_item(&all, item);
            continue;
        }
        code.push(all[i]);
        i += 1;
    }
    (code, test_modules)
}

/// The index after the attribute `#[…]` starting at `start` (or the group `(…)` after `start`).
fn end_of_attribute(tokens: &[(Token, usize)], start: usize) -> usize {
    let mut depth = 0;
    for (k, (token, _)) in tokens.iter().enumerate().skip(start + 1) {
        match token {
            Token::Punct('[' | '(' | '{') => depth += 1,
            Token::Punct(']' | ')' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Every `.rs` file under `directory`, sorted.
pub fn rust_files(directory: &Path) -> Vec<PathBuf> {
    fn walk(directory: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(directory, &mut out);
    out.sort();
    out
}

/// The files of modules declared `#[cfg(test)] mod x;` (x.rs, x/mod.rs and everything under
/// x/), as paths under `root` like the ones given.
pub fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut modules = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        let (_, test_modules) = non_test_tokens(&source);
        // A module's children live beside mod.rs, lib.rs and main.rs, and under x/ for x.rs.
        let children = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        for name in test_modules {
            modules.push(children.join(format!("{name}.rs")));
            modules.push(children.join(name));
        }
    }
    files.iter().filter(|file| modules.iter().any(|module| file.starts_with(module))).cloned().collect()
}
