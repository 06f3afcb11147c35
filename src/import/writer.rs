//! A small YAML writer for imported specs: block style for the document's structure, flow
//! style (`{ address: 203.0.113.11, weight: 3 }`, `[ipip]`) for short leaves, and comments
//! before any item, which serde_yaml cannot write. The document itself comes from the spec
//! types' own `Serialize`, so field names and order are the spec's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv6Addr;

use serde_yaml::Value;

/// Longest indentation plus flow text before a collection is written in block style.
const FLOW_WIDTH: usize = 92;

/// Comments to write before items, keyed by the item's path: `ipvs.services[0]`,
/// `ipvs.services[0].realServers[1]`, `sysctls.net.ipv4.ip_forward`.
pub type Comments = BTreeMap<String, Vec<String>>;

/// `header` lines (without `# `) first, then the document.
pub fn write(header: &[String], document: &Value, comments: &Comments) -> String {
    let mut out = String::new();
    for line in header {
        push_comment(&mut out, 0, line);
    }
    match document {
        Value::Mapping(mapping) => write_mapping_entries(&mut out, mapping, 0, "", comments),
        other => {
            let _ = writeln!(out, "{}", flow(other));
        }
    }
    out
}

fn push_comment(out: &mut String, indent: usize, text: &str) {
    if text.is_empty() {
        let _ = writeln!(out, "{:indent$}#", "");
    }
    for line in text.lines() {
        let _ = writeln!(out, "{:indent$}#{}{}", "", if line.is_empty() { "" } else { " " }, printable(line));
    }
}

/// `text` with what YAML does not allow anywhere in a stream, comments included (control
/// characters but tab, and the non-characters), written as `\u{…}`: a note quoting a source
/// line must not make the spec unreadable.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if text.chars().all(allowed) {
        return text.into();
    }
    text.chars()
        .map(|c| if allowed(c) { c.to_string() } else { format!("\\u{{{:x}}}", u32::from(c)) })
        .collect::<String>()
        .into()
}

fn comments_for(out: &mut String, indent: usize, path: &str, comments: &Comments) {
    for text in comments.get(path).into_iter().flatten() {
        push_comment(out, indent, text);
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn write_mapping_entries(
    out: &mut String,
    mapping: &serde_yaml::Mapping,
    indent: usize,
    path: &str,
    comments: &Comments,
) {
    for (key, value) in mapping {
        let key_text = scalar(key);
        let entry_path = child_path(path, &key_text);
        comments_for(out, indent, &entry_path, comments);
        let _ = write!(out, "{:indent$}{key_text}:", "");
        write_value_after_key(out, value, indent, &entry_path, comments);
    }
}

/// After `key:` — inline when the value fits on the line, else nested below.
fn write_value_after_key(out: &mut String, value: &Value, indent: usize, path: &str, comments: &Comments) {
    let inline = match value {
        Value::Mapping(_) | Value::Sequence(_) if has_comments_below(path, comments) => None,
        _ => flow_within(value, indent),
    };
    match (value, inline) {
        (_, Some(text)) => {
            let _ = writeln!(out, " {text}");
        }
        (Value::Mapping(mapping), None) => {
            out.push('\n');
            write_mapping_entries(out, mapping, indent + 2, path, comments);
        }
        (Value::Sequence(items), None) => {
            out.push('\n');
            write_sequence_items(out, items, indent + 2, path, comments);
        }
        (_, None) => unreachable!("scalars always fit"),
    }
}

fn write_sequence_items(out: &mut String, items: &[Value], indent: usize, path: &str, comments: &Comments) {
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        comments_for(out, indent, &item_path, comments);
        match item {
            Value::Mapping(mapping) if !fits_flow(item, indent + 2) || has_comments_below(&item_path, comments) => {
                // `- first: …` then the other keys aligned under the first.
                let mut first = true;
                for (key, value) in mapping {
                    let key_text = scalar(key);
                    let entry_path = child_path(&item_path, &key_text);
                    if first {
                        let _ = write!(out, "{:indent$}- {key_text}:", "");
                        first = false;
                    } else {
                        comments_for(out, indent + 2, &entry_path, comments);
                        let _ = write!(out, "{:width$}{key_text}:", "", width = indent + 2);
                    }
                    write_value_after_key(out, value, indent + 2, &entry_path, comments);
                }
                if first {
                    let _ = writeln!(out, "{:indent$}- {{}}", "");
                }
            }
            _ => {
                let _ = writeln!(out, "{:indent$}- {}", "", flow(item));
            }
        }
    }
}

/// Looks only at the keys sorted right after each prefix: a scan of every key for every item
/// made importing large files quadratic.
fn has_comments_below(path: &str, comments: &Comments) -> bool {
    [format!("{path}."), format!("{path}[")].iter().any(|prefix| {
        comments
            .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(key, _)| key.starts_with(prefix.as_str()))
    })
}

/// `value` in flow style when it fits (scalars always do), computed once for the test and
/// the writing.
fn flow_within(value: &Value, indent: usize) -> Option<String> {
    if is_scalar(value) {
        return Some(flow(value));
    }
    if !nested_flow_ok(value) {
        return None;
    }
    let text = flow(value);
    (indent + text.len() <= FLOW_WIDTH).then_some(text)
}

/// Flow style only for collections of scalars or of small flow collections (never a list of
/// mappings: services and real servers read better one per line).
fn fits_flow(value: &Value, indent: usize) -> bool {
    nested_flow_ok(value) && indent + flow(value).len() <= FLOW_WIDTH
}

fn nested_flow_ok(value: &Value) -> bool {
    match value {
        Value::Mapping(mapping) => mapping.values().all(|v| match v {
            Value::Sequence(items) => items.iter().all(is_scalar),
            Value::Mapping(inner) => inner.values().all(is_scalar),
            _ => true,
        }),
        Value::Sequence(items) => items.iter().all(is_scalar),
        _ => true,
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Mapping(_) | Value::Sequence(_))
}

fn flow(value: &Value) -> String {
    match value {
        Value::Mapping(mapping) if mapping.is_empty() => "{}".into(),
        Value::Mapping(mapping) => {
            let entries: Vec<String> = mapping.iter().map(|(k, v)| format!("{}: {}", scalar(k), flow(v))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Sequence(items) => {
            let entries: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", entries.join(", "))
        }
        other => scalar(other),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Tagged(tagged) => flow(&tagged.value),
        Value::Mapping(_) | Value::Sequence(_) => flow(value),
    }
}

/// Plain when YAML reads it back as the same string, quoted otherwise (numbers, booleans,
/// IPv6 addresses, anything with YAML punctuation).
fn string(text: &str) -> String {
    if obviously_plain(text) {
        return text.to_string();
    }
    let plain_ok = !text.is_empty()
        && serde_yaml::from_str::<Value>(text).ok() == Some(Value::String(text.to_string()))
        && text.parse::<Ipv6Addr>().is_err()
        && !text.contains(": ")
        && !text.contains(" #")
        && !text
            .starts_with(['[', ']', '{', '}', ',', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '#', '-', '?'])
        && !text.ends_with(':')
        && !text.contains(['{', '}', '[', ']', ',']);
    if plain_ok {
        text.to_string()
    } else {
        serde_json::to_string(text).expect("strings serialize")
    }
}

/// Strings YAML reads back as themselves without asking a YAML parser, which costs buffers
/// of kilobytes per call: a word of letters, digits, `_`, `-`, `.` starting with a letter
/// that no YAML schema reads as a boolean, null or number, or a dotted IPv4 address.
fn obviously_plain(text: &str) -> bool {
    let word_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let starts_with_letter = text.starts_with(|c: char| c.is_ascii_alphabetic());
    let special = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "inf", "nan", "infinity"];
    let keyword = special.iter().any(|word| text.eq_ignore_ascii_case(word));
    let ipv4 = text.parse::<std::net::Ipv4Addr>().is_ok();
    ipv4 || (starts_with_letter && !keyword && text.chars().all(word_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn block_structure_flow_leaves_and_comments() {
        let document = yaml(
            "apiVersion: lvs-converge/v1\nkind: Host\nvips: [203.0.113.100]\nipvs:\n  services:\n    - address: \"2001:db8::100\"\n      port: 80\n      persistence: { timeout: 1h }\n      realServers:\n        - { address: 203.0.113.11, weight: 3 }\n        - { address: 203.0.113.12 }\n",
        );
        let comments = Comments::from([
            ("ipvs.services[0]".to_string(), vec!["from line 3".to_string()]),
            ("ipvs.services[0].realServers[1]".to_string(), vec!["HTTP_GET not converted".to_string()]),
        ]);
        let text = write(&["Imported".to_string()], &document, &comments);
        assert_eq!(
            text,
            "# Imported\napiVersion: lvs-converge/v1\nkind: Host\nvips: [203.0.113.100]\nipvs:\n  services:\n    # from line 3\n    - address: \"2001:db8::100\"\n      port: 80\n      persistence: { timeout: 1h }\n      realServers:\n        - { address: 203.0.113.11, weight: 3 }\n        # HTTP_GET not converted\n        - { address: 203.0.113.12 }\n"
        );
        assert_eq!(yaml(&text), document);
    }

    #[test]
    fn comments_with_control_characters_still_read_back() {
        let comments = Comments::from([("a".to_string(), vec!["bell\u{7} nul\u{0} esc\u{1b} ok\u{a0}".to_string()])]);
        let document = yaml("a: 1\nb: 2\n");
        let text = write(&["head\u{1}".to_string()], &document, &comments);
        assert!(text.contains("# bell\\u{7} nul\\u{0} esc\\u{1b} ok\u{a0}\n"), "{text}");
        assert!(text.starts_with("# head\\u{1}\n"), "{text}");
        assert_eq!(yaml(&text), document);
    }

    #[test]
    fn strings_that_yaml_would_retype_are_quoted() {
        for text in ["1", "true", "null", "2001:db8::1", "::1", "a: b", "x #y", "", "-1", "[a]", "1e3", "0x10"] {
            let written = string(text);
            assert_eq!(yaml(&format!("v: {written}"))["v"], Value::String(text.into()), "{text} → {written}");
        }
        for text in ["203.0.113.1", "wlc", "tunl0", "eth0.100", "lvs-converge", "Host", "a_b"] {
            assert!(obviously_plain(text), "{text}");
            assert_eq!(yaml(&format!("v: {text}"))["v"], Value::String(text.into()), "{text}");
        }
        for text in ["True", "NO", "n", "Inf", ".inf", "1.5", "0x10", "a b", "1e3", "2001:db8::1", "a:b", "~"] {
            assert!(!obviously_plain(text), "{text}");
        }
        assert_eq!(string("eth0:0"), "eth0:0");
        assert_eq!(string("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
    }
}
