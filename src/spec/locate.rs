//! Where each field of a YAML document stands, so that errors found after parsing (duplicate
//! services, mismatched families …) can point at file, line and column like syntax errors do.
//!
//! serde_yaml forgets positions once it has built values; yaml-rust2's event parser keeps
//! them. Paths use serde_yaml's notation (`ipvs.services[0].port`) so both kinds of error
//! read the same.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Field path → position of the value at that path.
#[derive(Debug, Default, Clone)]
pub struct PositionIndex {
    positions: HashMap<String, Position>,
    /// Field path → position of the key where it is set again (a mapping with a key
    /// twice), for serde_yaml's `duplicate field`, which it places at the mapping.
    repeated_keys: HashMap<String, Position>,
}

impl PositionIndex {
    /// Indexes `text`. A document that doesn't parse yields an empty index: serde_yaml reports
    /// the syntax error with its own position.
    pub fn build(text: &str) -> Self {
        #[cfg(test)]
        BUILDS.with(|builds| builds.set(builds.get() + 1));
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut recorder, false);
        PositionIndex { positions: recorder.positions, repeated_keys: recorder.repeated_keys }
    }

    /// Where the key of `path` stands the second time its mapping sets it, if it does.
    pub fn repeated_key(&self, path: &str) -> Option<Position> {
        self.repeated_keys.get(path).copied()
    }

    /// Position of `path`, or of its closest recorded ancestor (a defaulted field has no node
    /// of its own; its parent mapping is the next best place to point at).
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut candidate = path;
        loop {
            if let Some(position) = self.positions.get(candidate) {
                return Some(*position);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Indexes this thread has built: a whole second parse each, which a run without errors
    /// or findings must not pay.
    static BUILDS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many position indexes this thread has built so far.
#[cfg(test)]
pub(crate) fn builds() -> usize {
    BUILDS.with(|builds| builds.get())
}

/// Where the document first nests mappings and sequences more than `limit` (< 255) deep, if
/// it does. Reads one event at a time and stops there, so a deep document costs no more than
/// `limit` levels of it. Other syntax errors end the look: the parser proper reports them.
pub fn deeper_than(text: &str, limit: usize) -> Option<Position> {
    if depth_bound(text) <= limit {
        return None;
    }
    let position = |mark: &Marker| Position { line: mark.line(), column: mark.col() + 1 };
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return None,
            Ok((Event::MappingStart(..) | Event::SequenceStart(..), mark)) => {
                depth += 1;
                if depth > limit {
                    return Some(position(&mark));
                }
            }
            Ok((Event::MappingEnd | Event::SequenceEnd, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
            // The scanner reads ahead; past 255 flow levels it gives up before any event
            // shows the depth.
            Err(error) if error.info() == "recursion limit exceeded" => return Some(position(error.marker())),
            Err(_) => return None,
        }
    }
}

/// A nesting depth no collection of `text` exceeds, found without a parser (one pass, no
/// allocation) so that ordinary specs skip the event stream. A block collection inside
/// another starts further right, except a sequence at its key's indentation (once per
/// indentation), so block depth is at most 2 × (column + 1), where the column is past any
/// `- ` and `? ` indicators; each flow level opens a bracket. Quotes and comments only add.
fn depth_bound(text: &str) -> usize {
    let mut widest = 0;
    let (mut brackets, mut most_brackets) = (0usize, 0usize);
    for line in text.lines() {
        widest = widest.max(line.find(|c: char| !matches!(c, ' ' | '-' | '?')).unwrap_or(0));
        for byte in line.bytes() {
            match byte {
                b'[' | b'{' => {
                    brackets += 1;
                    most_brackets = most_brackets.max(brackets);
                }
                b']' | b'}' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
    }
    2 * (widest + 1) + most_brackets
}

enum Frame {
    /// `unlocated` holds where the mapping starts until its first key is seen: a block
    /// mapping's start event is marked at the first key's colon, so the key itself is the
    /// place to point at.
    Mapping {
        path: String,
        pending_key: Option<String>,
        unlocated: Option<Marker>,
    },
    Sequence {
        path: String,
        next_index: usize,
    },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
    repeated_keys: HashMap<String, Position>,
}

impl Recorder {
    /// Path of the node that starts at `mark`, or `None` when it is a mapping key (which it
    /// records as the pending key instead, and as the mapping's position if it is the first).
    fn enter_node(&mut self, key_text: Option<&str>, mark: Marker) -> Option<String> {
        if let Some(Frame::Mapping { path, pending_key: None, unlocated: unlocated @ Some(_) }) = self.stack.last_mut()
        {
            *unlocated = None;
            let path = path.clone();
            self.record(&path, mark);
        }
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next_index }) => {
                let child = format!("{path}[{next_index}]");
                *next_index += 1;
                Some(child)
            }
            Some(Frame::Mapping { path, pending_key, .. }) => match pending_key.take() {
                None => {
                    let key = key_text.unwrap_or("?").to_string();
                    // The first value of a key is recorded before the mapping's next key is
                    // read: a recorded path here is a key set twice.
                    let key_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    if self.positions.contains_key(&key_path) {
                        let at = Position { line: mark.line(), column: mark.col() + 1 };
                        self.repeated_keys.entry(key_path).or_insert(at);
                    }
                    *pending_key = Some(key);
                    None
                }
                Some(key) if path.is_empty() => Some(key),
                Some(key) => Some(format!("{path}.{key}")),
            },
        }
    }

    fn record(&mut self, path: &str, mark: Marker) {
        self.positions.entry(path.to_string()).or_insert(Position { line: mark.line(), column: mark.col() + 1 });
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => {
                if let Some(path) = self.enter_node(Some(&text), mark) {
                    self.record(&path, mark);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.enter_node(None, mark) {
                    self.record(&path, mark);
                }
            }
            Event::MappingStart(..) => {
                // A collection used as a mapping key is exotic; index its contents under "?".
                let path = self.enter_node(None, mark).unwrap_or_else(|| "?".to_string());
                self.stack.push(Frame::Mapping { path, pending_key: None, unlocated: Some(mark) });
            }
            Event::SequenceStart(..) => {
                let path = self.enter_node(None, mark).unwrap_or_else(|| "?".to_string());
                self.record(&path, mark);
                self.stack.push(Frame::Sequence { path, next_index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                // An empty mapping has no key to point at: its start will do.
                if let Some(Frame::Mapping { path, unlocated: Some(start), .. }) = self.stack.pop() {
                    self.record(&path, start);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_fields_and_falls_back_to_parents() {
        let text =
            "apiVersion: v1\nipvs:\n  services:\n    - port: 80\n      realServers:\n        - address: 10.0.0.1\n";
        let index = PositionIndex::build(text);
        assert_eq!(index.find("apiVersion"), Some(Position { line: 1, column: 13 }));
        assert_eq!(index.find("ipvs.services[0].port"), Some(Position { line: 4, column: 13 }));
        assert_eq!(index.find("ipvs.services[0].realServers[0].address"), Some(Position { line: 6, column: 20 }));
        // `weight` is absent: point at the real server it belongs to.
        assert_eq!(index.find("ipvs.services[0].realServers[0].weight"), index.find("ipvs.services[0].realServers[0]"));
        assert_eq!(index.find("nothing.here"), None);
        // A block mapping is where its first key is (the parser marks it at the colon).
        assert_eq!(index.find("ipvs.services[0]"), Some(Position { line: 4, column: 7 }));
        assert_eq!(index.find("ipvs"), Some(Position { line: 3, column: 3 }));
        // An empty flow mapping has no key: its brace.
        assert_eq!(PositionIndex::build("a: {}\n").find("a"), Some(Position { line: 1, column: 4 }));
    }

    #[test]
    fn finds_a_key_set_twice_where_it_is_set_again() {
        let text = "kind: Host\nipvs:\n  services:\n    - port: 80\n      address: x\n      port: 81\nkind: Cluster\n";
        let index = PositionIndex::build(text);
        assert_eq!(index.repeated_key("ipvs.services[0].port"), Some(Position { line: 6, column: 7 }));
        assert_eq!(index.repeated_key("kind"), Some(Position { line: 7, column: 1 }));
        assert_eq!(index.repeated_key("ipvs.services[0].address"), None);
        // The first one keeps its place.
        assert_eq!(index.find("ipvs.services[0].port"), Some(Position { line: 4, column: 13 }));
    }

    #[test]
    fn finds_where_nesting_passes_the_limit() {
        assert_eq!(deeper_than("a: [[1]]\n", 3), None);
        assert_eq!(deeper_than("a: [[[1]]]\n", 3), Some(Position { line: 1, column: 6 }));
        assert_eq!(deeper_than("a:\n  - - - x\n", 3), Some(Position { line: 2, column: 7 }));
        // Past 255 flow levels the scanner stops first; that is still too deep.
        let flow = format!("a: {}{}\n", "[".repeat(300), "]".repeat(300));
        assert!(deeper_than(&flow, 64).is_some());
        // A syntax error is left to the parser proper.
        assert_eq!(deeper_than("a: b: c\n", 1), None);
    }

    /// The shortcut never lets through what the event stream would refuse.
    #[test]
    fn depth_bound_is_at_least_the_depth() {
        let documents = [
            "a:\n- b:\n  - c:\n    - d:\n      - e\n",
            "a:\n b:\n  c:\n   d: 1\n",
            "- - - - - x\n",
            "- a: [{b: [c]}]\n  d:\n  - ? - e\n    : f\n",
            "a: |\n  [[[[\n",
        ];
        for text in documents {
            let bound = depth_bound(text);
            let mut parser = Parser::new_from_str(text);
            let (mut depth, mut deepest) = (0usize, 0usize);
            while let Ok((event, _)) = parser.next_token() {
                match event {
                    Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                    Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                    Event::StreamEnd => break,
                    _ => {}
                }
                deepest = deepest.max(depth);
            }
            assert!(deepest >= 1 && bound >= deepest, "bound {bound} < depth {deepest}:\n{text}");
        }
    }
}
