//! keepalived.conf read the way keepalived 2.x's `lib/parser.c` reads it, before any keyword
//! means anything: comments, `include` (globbed relative to the including file's directory),
//! `$NAME=value` definitions and their `$NAME`/`${NAME}` uses, words and braces, the block
//! tree. Each statement keeps the file and line it came from.
//!
//! Where keepalived reads a line differently from what it looks like, the import does what
//! keepalived does and says so: a line indented with non-breaking spaces (U+00A0, pasted
//! from web pages) starts with a keyword keepalived does not know, so the line is ignored
//! and a `{` on it opens no block (a `}` still closes one); a `}` that closes no block is
//! ignored. What keepalived would make of the file only on a given host (`@id` lines,
//! `$_INSTANCE`, `$_RANDOM`, `~SEQ`) is an error naming the line, as is a NUL byte (the
//! written YAML must read back).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::import::ImportError;

/// How deep `include`s may nest. keepalived itself has no limit: an include cycle recurses
/// until it runs out of file descriptors.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Expansions of one line before it is taken as a definition loop (`$A=$B`, `$B=$A`).
const MAX_EXPANSIONS: usize = 64;

/// Where a statement was read: the file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: usize,
    /// The file given to import, not one it includes.
    pub main: bool,
}

impl Origin {
    /// `line 12` in the imported file, `conf.d/web.conf:12` in one it includes.
    pub fn line_ref(&self) -> String {
        if self.main {
            format!("line {}", self.line)
        } else {
            self.to_string()
        }
    }

    fn error(&self, message: String, hint: Option<&str>) -> ImportError {
        ImportError::Parse { file: self.file.to_string(), line: self.line, message, hint: hint.map(str::to_string) }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One `keyword args…` statement, with its block if it opens one.
#[derive(Debug, Clone)]
pub struct Node {
    pub origin: Origin,
    pub words: Vec<String>,
    pub children: Option<Vec<Node>>,
}

impl Node {
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    pub fn arg(&self, index: usize) -> Option<&str> {
        self.words.get(index + 1).map(String::as_str)
    }
}

/// The statements of a keepalived.conf and its includes, and what reading them noticed.
#[derive(Debug, Default)]
pub struct Lexed {
    pub nodes: Vec<Node>,
    pub messages: Vec<String>,
}

/// Reads `text` (the file named `file`) and everything it includes.
pub fn read(text: &str, file: &str) -> Result<Lexed, ImportError> {
    let mut reader = Reader::default();
    let including: Vec<PathBuf> = std::fs::canonicalize(file).into_iter().collect();
    reader.file(text, file, true, &including)?;
    let Reader { lines, mut messages, .. } = reader;
    let nodes = tree(lines, &mut messages)?;
    Ok(Lexed { nodes, messages })
}

/// A line after comments, definitions and includes are dealt with: words and braces.
struct Line {
    origin: Origin,
    tokens: Vec<String>,
}

#[derive(Default)]
struct Reader {
    lines: Vec<Line>,
    definitions: HashMap<String, String>,
    messages: Vec<String>,
}

impl Reader {
    /// `including`: the files being read, outermost first (canonical paths), for the cycle
    /// check.
    fn file(&mut self, text: &str, name: &str, main: bool, including: &[PathBuf]) -> Result<(), ImportError> {
        let file: Arc<str> = name.into();
        let directory = match Path::new(name).parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => {
                self.messages.push(format!(
                    "{name}:1: the file starts with a UTF-8 byte order mark: import skips it; keepalived 2.x \
                     reads it as part of the first keyword, does not know that keyword and ignores its line \
                     (and the block it opens): remove the mark"
                ));
                rest
            }
            None => text,
        };
        let mut non_breaking = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let origin = Origin { file: file.clone(), line: index + 1, main };
            if raw.contains('\0') {
                return Err(origin.error(
                    "a NUL byte: keepalived reads the line only up to it, and a spec cannot hold it".into(),
                    Some("remove the NUL bytes (`tr -d '\\000' < FILE`) and import again"),
                ));
            }
            let mut text = decomment(raw);
            if text.is_empty() {
                continue;
            }
            if text.starts_with('@') {
                return Err(origin.error(
                    format!("`{}`: a line for one host only (keepalived's --config-id, by default the host name)", first_word(&text)),
                    Some("keep the lines meant for the host being imported without their `@id ` prefix, delete the others, and import again"),
                ));
            }
            if text.starts_with('$') {
                if let Some((name, value)) = definition(&text) {
                    if value.ends_with('\\') {
                        return Err(origin.error(
                            format!("`${name}` is a multi-line definition, which import does not expand"),
                            Some("write the definition's lines where it is used and import again"),
                        ));
                    }
                    self.definitions.insert(name, value);
                    continue;
                }
            }
            if text.starts_with('~') {
                return Err(origin.error(
                    format!("`{}`: keepalived's ~SEQ line generator is not expanded by import", first_word(&text)),
                    Some("write out the lines it generates and import again"),
                ));
            }
            text = self.expand(text, &directory, &origin)?;
            let tokens = tokens(&text);
            if tokens.len() == 2 && tokens[0] == "include" {
                self.include(&tokens[1], &directory, &origin, including)?;
                continue;
            }
            match tokens.first() {
                Some(first) if first.starts_with(|c: char| c.is_whitespace() && !c.is_ascii()) => {
                    non_breaking.push(origin.line);
                    let kept = keepalived_reading_of_unknown_keyword(tokens);
                    if !kept.is_empty() {
                        self.lines.push(Line { origin, tokens: kept });
                    }
                }
                Some(_) => self.lines.push(Line { origin, tokens }),
                None => {}
            }
        }
        if !non_breaking.is_empty() {
            let lines: Vec<String> = non_breaking.iter().map(usize::to_string).collect();
            self.messages.push(format!(
                "{name}: line{} {} start with a non-breaking space (U+00A0): keepalived 2.x reads it as part \
                 of the keyword, does not know that keyword and ignores the line (a `{{` on it opens no block, \
                 a `}}` still closes one); import does the same: indent with spaces or tabs",
                if lines.len() == 1 { "" } else { "s" },
                lines.join(", ")
            ));
        }
        Ok(())
    }

    /// `$NAME`, `${NAME}` replaced by their definitions, as often as the result holds more.
    fn expand(&self, mut text: String, directory: &Path, origin: &Origin) -> Result<String, ImportError> {
        for _ in 0..MAX_EXPANSIONS {
            if !text.contains('$') {
                return Ok(text);
            }
            let (expanded, replaced) = self.expand_once(&text, directory, origin)?;
            if !replaced {
                return Ok(text);
            }
            if expanded.starts_with('@') {
                return Err(origin.error(
                    "a definition expands to an `@id` line, for one host only".into(),
                    Some("expand the definition by hand for the host being imported"),
                ));
            }
            text = expanded;
        }
        Err(origin.error(
            format!("definitions still expand after {MAX_EXPANSIONS} rounds: they refer to each other"),
            Some("check the `$NAME=` lines this line uses"),
        ))
    }

    fn expand_once(&self, text: &str, directory: &Path, origin: &Origin) -> Result<(String, bool), ImportError> {
        let mut out = String::with_capacity(text.len());
        let mut replaced = false;
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            match reference(after) {
                Some((name, used)) => {
                    let value = match name {
                        _ if self.definitions.contains_key(name) => self.definitions[name].clone(),
                        "_PWD" => std::fs::canonicalize(directory)
                            .unwrap_or_else(|_| directory.to_path_buf())
                            .display()
                            .to_string(),
                        "_INSTANCE" | "_RANDOM" => {
                            return Err(origin.error(
                                format!("`${name}` has a value only in a running keepalived"),
                                Some("write the value meant for the host being imported and import again"),
                            ))
                        }
                        _ => {
                            // keepalived leaves an undefined `$NAME` as it is.
                            out.push('$');
                            rest = after;
                            continue;
                        }
                    };
                    out.push_str(&value);
                    replaced = true;
                    rest = &after[used..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok((out, replaced))
    }

    fn include(
        &mut self,
        pattern: &str,
        directory: &Path,
        origin: &Origin,
        including: &[PathBuf],
    ) -> Result<(), ImportError> {
        let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { directory.join(pattern) };
        let matches = glob(&full.to_string_lossy());
        if matches.is_empty() {
            self.messages
                .push(format!("{origin}: `include {pattern}` matches no file: keepalived reads nothing for it"));
            return Ok(());
        }
        if including.len() >= MAX_INCLUDE_DEPTH {
            return Err(origin.error(
                format!("`include {pattern}` nests includes more than {MAX_INCLUDE_DEPTH} deep"),
                Some("flatten the includes"),
            ));
        }
        for path in matches {
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            if metadata.is_dir() {
                continue;
            }
            if !metadata.is_file() || executable(&metadata) {
                self.messages.push(format!(
                    "{origin}: `include {pattern}`: {} skipped, as keepalived skips what is not a regular \
                     non-executable file",
                    path.display()
                ));
                continue;
            }
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if including.contains(&canonical) {
                return Err(origin.error(
                    format!("`include {pattern}` includes {} again while it is being read: a cycle", path.display()),
                    Some("remove the include that leads back"),
                ));
            }
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                    origin.error(
                        format!("`include {pattern}`: {} is not UTF-8 text", path.display()),
                        Some("convert it to UTF-8 (iconv -f latin1 -t utf-8)"),
                    )
                })?,
                Err(error) => {
                    self.messages.push(format!(
                        "{origin}: `include {pattern}`: {} cannot be read ({error}); keepalived skips it too",
                        path.display()
                    ));
                    continue;
                }
            };
            let mut nested = including.to_vec();
            nested.push(canonical);
            self.file(&text, &path.display().to_string(), false, &nested)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

fn first_word(text: &str) -> &str {
    text.split([' ', '\t']).next().unwrap_or(text)
}

/// `$NAME=value` (blanks after `=` skipped; keepalived takes `$NAME =` for a keyword): the
/// name and the value.
fn definition(text: &str) -> Option<(String, String)> {
    let body = text.strip_prefix('$')?;
    if !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let name_end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    let value = body[name_end..].strip_prefix('=')?;
    Some((body[..name_end].to_string(), value.trim_start_matches([' ', '\t']).to_string()))
}

/// After a `$`: the name it refers to and how many bytes the reference takes, for `NAME`
/// followed by a space, tab, `,`, `)` or the end, and for `{NAME}`.
fn reference(after: &str) -> Option<(&str, usize)> {
    let (body, braced) = match after.strip_prefix('{') {
        Some(body) => (body, true),
        None => (after, false),
    };
    if !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    let next = body[end..].chars().next();
    if braced {
        (next == Some('}')).then_some((&body[..end], end + 2))
    } else {
        matches!(next, None | Some(' ' | '\t' | ',' | ')')).then_some((&body[..end], end))
    }
}

/// keepalived's `decomment()`: leading spaces and tabs, `#`/`!` comments outside quotes
/// (`\#` and `\!` are the characters themselves), trailing blanks.
fn decomment(raw: &str) -> String {
    let text = raw.trim_start_matches([' ', '\t']);
    if !text.contains(['"', '\\', '#', '!']) {
        return text.trim_end_matches([' ', '\t']).to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => {
                quoted = !quoted;
                out.push(ch);
            }
            '\\' if !quoted && matches!(chars.peek(), Some('#' | '!')) => out.push(chars.next().expect("peeked")),
            '#' | '!' if !quoted => break,
            _ => out.push(ch),
        }
    }
    out.truncate(out.trim_end_matches([' ', '\t']).len());
    out
}

/// keepalived's words: split at ASCII white space only (a non-breaking space is part of a
/// word), a `"quoted string"` is one word without its quotes, `{` and `}` outside quotes are
/// words of their own.
fn tokens(text: &str) -> Vec<String> {
    if !text.contains('"') {
        // The common case, without building words a character at a time.
        let mut tokens = Vec::new();
        for word in text.split([' ', '\t', '\x0b', '\x0c', '\r']).filter(|word| !word.is_empty()) {
            let mut rest = word;
            while let Some(brace) = rest.find(['{', '}']) {
                if brace > 0 {
                    tokens.push(rest[..brace].to_string());
                }
                tokens.push(rest[brace..brace + 1].to_string());
                rest = &rest[brace + 1..];
            }
            if !rest.is_empty() {
                tokens.push(rest.to_string());
            }
        }
        return tokens;
    }
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for ch in text.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            _ if quoted => current.push(ch),
            '{' | '}' => {
                if started {
                    tokens.push(std::mem::take(&mut current));
                    started = false;
                }
                tokens.push(ch.to_string());
            }
            ' ' | '\t' | '\x0b' | '\x0c' | '\r' => {
                if started {
                    tokens.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            _ => {
                current.push(ch);
                started = true;
            }
        }
    }
    if started {
        tokens.push(current);
    }
    tokens
}

/// A line whose first word keepalived does not know: the words before its first brace are
/// ignored, and so is that brace if it is a `{` (keepalived: "Unexpected '{' - ignoring");
/// what follows the brace is read as a line of its own.
fn keepalived_reading_of_unknown_keyword(tokens: Vec<String>) -> Vec<String> {
    let Some(brace) = tokens.iter().position(|t| t == "{" || t == "}") else {
        return Vec::new();
    };
    let skip = if tokens[brace] == "{" { brace + 1 } else { brace };
    tokens.into_iter().skip(skip).collect()
}

/// Builds the block tree. A `{` opens a block for the statement before it on the same line,
/// or, alone at the start of a line, for the previous statement.
fn tree(lines: Vec<Line>, messages: &mut Vec<String>) -> Result<Vec<Node>, ImportError> {
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    let mut open: Vec<Origin> = Vec::new();
    for Line { origin, tokens } in lines {
        let mut statement: Vec<String> = Vec::new();
        for word in tokens {
            match word.as_str() {
                "{" => {
                    let level = stack.last_mut().expect("root level");
                    if !statement.is_empty() {
                        level.push(Node {
                            origin: origin.clone(),
                            words: std::mem::take(&mut statement),
                            children: None,
                        });
                    }
                    if level.last().is_none_or(|node| node.children.is_some()) {
                        return Err(origin.error("`{` without a keyword before it".into(), None));
                    }
                    open.push(origin.clone());
                    stack.push(Vec::new());
                }
                "}" => {
                    if !statement.is_empty() {
                        let level = stack.last_mut().expect("level");
                        level.push(Node {
                            origin: origin.clone(),
                            words: std::mem::take(&mut statement),
                            children: None,
                        });
                    }
                    if stack.len() == 1 {
                        messages.push(format!(
                            "{origin}: `}}` closes no block: keepalived ignores it (\"Unknown keyword '}}'\"); \
                             check the braces above this line"
                        ));
                        continue;
                    }
                    let children = stack.pop().expect("nested level");
                    open.pop();
                    let parent = stack.last_mut().expect("parent level").last_mut().expect("block owner");
                    parent.children = Some(children);
                }
                _ => statement.push(word),
            }
        }
        if !statement.is_empty() {
            stack.last_mut().expect("level").push(Node { origin, words: statement, children: None });
        }
    }
    if let Some(origin) = open.last() {
        return Err(origin.error("block opened here is never closed".into(), Some("add the missing `}`")));
    }
    Ok(stack.pop().expect("root"))
}

/// The paths `pattern` names, as glob(3) with GLOB_BRACE finds them: `*`, `?`, `[…]` in
/// any component, `{a,b}` alternatives; sorted within each alternative; names starting with
/// `.` only when the pattern's component does.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for alternative in braces(pattern) {
        let absolute = alternative.starts_with('/');
        let mut paths = vec![if absolute { PathBuf::from("/") } else { PathBuf::new() }];
        for component in alternative.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for base in &paths {
                if !component.contains(['*', '?', '[']) {
                    next.push(base.join(component));
                    continue;
                }
                let listing = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
                let Ok(entries) = std::fs::read_dir(listing) else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .filter(|name| (!name.starts_with('.') || component.starts_with('.')) && wildcard(component, name))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|name| base.join(name)));
            }
            paths = next;
        }
        found.extend(paths.into_iter().filter(|path| !path.as_os_str().is_empty() && path.exists()));
    }
    found
}

/// `{a,b}` alternatives, outermost first (no nesting inside an alternative's expansion is
/// lost: each alternative is expanded again).
fn braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else { return vec![pattern.to_string()] };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (index, ch) in pattern[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + index);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + index),
            _ => {}
        }
    }
    let Some(close) = close else { return vec![pattern.to_string()] };
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    bounds.windows(2).flat_map(|pair| braces(&format!("{head}{}{tail}", &pattern[pair[0] + 1..pair[1]]))).collect()
}

/// fnmatch(3) without flags: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`.
fn wildcard(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&pattern[p..], name[n]),
            Some(c) => (*c == name[n]).then_some(1),
            None => None,
        };
        match step {
            Some(width) => {
                p += width;
                n += 1;
            }
            None => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// A `[…]` class at the start of `pattern` against `ch`: the class's width when it matches.
fn class(pattern: &[char], ch: char) -> Option<usize> {
    let mut index = 1;
    let negated = matches!(pattern.get(index), Some('!' | '^'));
    if negated {
        index += 1;
    }
    let mut matched = false;
    let mut first = true;
    while let Some(&c) = pattern.get(index) {
        if c == ']' && !first {
            return (matched != negated).then_some(index + 1);
        }
        if pattern.get(index + 1) == Some(&'-') && pattern.get(index + 2).is_some_and(|e| *e != ']') {
            matched |= (c..=pattern[index + 2]).contains(&ch);
            index += 3;
        } else {
            matched |= c == ch;
            index += 1;
        }
        first = false;
    }
    // No closing `]`: a literal `[`.
    (ch == '[').then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        let lexed = read(text, "k.conf").unwrap();
        fn walk(nodes: &[Node], out: &mut Vec<Vec<String>>) {
            for node in nodes {
                out.push(node.words.clone());
                walk(node.children.as_deref().unwrap_or_default(), out);
            }
        }
        let mut out = Vec::new();
        walk(&lexed.nodes, &mut out);
        out
    }

    #[test]
    fn comments_quotes_and_braces_as_keepalived_reads_them() {
        assert_eq!(
            words("a \"b c\" \\#d # e\nx{y}\n"),
            vec![vec!["a".to_string(), "b c".into(), "#d".into()], vec!["x".into()], vec!["y".into()]]
        );
    }

    #[test]
    fn definitions_expand_where_keepalived_expands_them() {
        let text = "$VIP=10.0.0.1\n$PORT= 80\nvirtual_server $VIP ${PORT} { a $VIPX $VIP,x }\n";
        assert_eq!(
            words(text),
            vec![
                vec!["virtual_server".to_string(), "10.0.0.1".into(), "80".into()],
                vec!["a".into(), "$VIPX".into(), "10.0.0.1,x".into()]
            ]
        );
        let error = read("$A=$B\n$B=$A\nx $A\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:3: definitions still expand"), "{error}");
        let error = read("\n@lb1 virtual_server 10.0.0.1 80 {\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:2: `@lb1`: a line for one host only"), "{error}");
        let error = read("x $_RANDOM\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:1: `$_RANDOM` has a value only"), "{error}");
    }

    #[test]
    fn non_breaking_indentation_is_an_unknown_keyword_to_keepalived() {
        let text = "vs {\n a 1\n\u{a0}\u{a0}rs 2 {\n\u{a0}\u{a0}\u{a0}w 3\n\u{a0}\u{a0}}\n b 4\n}\n";
        let lexed = read(text, "k.conf").unwrap();
        // rs's `{` opened nothing, so its `}` closed vs; b is at the top, the last `}` stray.
        assert_eq!(lexed.nodes.len(), 2, "{:?}", lexed.nodes);
        assert_eq!(lexed.nodes[0].children.as_ref().unwrap().len(), 1);
        assert_eq!(lexed.nodes[1].words, vec!["b".to_string(), "4".into()]);
        let messages = lexed.messages.join("\n");
        assert!(messages.contains("k.conf: lines 3, 4, 5 start with a non-breaking space"), "{messages}");
        assert!(messages.contains("k.conf:7: `}` closes no block"), "{messages}");
    }

    #[test]
    fn byte_order_mark_is_skipped_and_said_nul_is_refused() {
        let lexed = read("\u{feff}a 1\n", "k.conf").unwrap();
        assert_eq!(lexed.nodes[0].words, vec!["a".to_string(), "1".into()]);
        assert!(lexed.messages[0].starts_with("k.conf:1: the file starts with a UTF-8 byte order mark"));
        let error = read("a 1\nb\0 2\n", "k.conf").unwrap_err().to_string();
        assert!(error.starts_with("k.conf:2: a NUL byte"), "{error}");
    }

    #[test]
    fn glob_patterns() {
        assert!(wildcard("*.conf", "web.conf"));
        assert!(!wildcard("*.conf", "web.conf.bak"));
        assert!(wildcard("w?b[0-9].c*", "web1.conf"));
        assert!(!wildcard("[!w]*", "web"));
        assert_eq!(braces("a/{b,c}/d{1,2}"), vec!["a/b/d1", "a/b/d2", "a/c/d1", "a/c/d2"]);
    }
}
