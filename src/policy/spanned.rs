//! Where each part of a policy document is: a JSON tree whose nodes carry their byte span in
//! the text, and positions (line, column, offset) as Access Analyzer reports them.
//!
//! Built only for text [`Json::parse`](super::json::Json::parse) accepted (so duplicate keys,
//! trailing text and deep nesting are already refused); it fails (`None`) rather than guess
//! on anything else. Linear in the text.

use serde::Serialize;

/// Deepest nesting followed; [`Json::parse`](super::json::Json::parse) refuses deeper.
const MAX_DEPTH: usize = 40;

/// A JSON value and the bytes it spans (`start..end`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Object(Vec<Entry>),
    Array(Vec<Node>),
    String(String),
    /// A number, `true`, `false` or `null`.
    Scalar,
}

/// An object's member: its key (decoded), the key's span (quotes included) and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_start: usize,
    pub key_end: usize,
    pub value: Node,
}

impl Node {
    /// The member named `key`: spelled exactly, else (condition operators are
    /// case-insensitive) the first spelled so ignoring ASCII case.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let Kind::Object(entries) = &self.kind else {
            return None;
        };
        entries
            .iter()
            .find(|e| e.key == key)
            .or_else(|| entries.iter().find(|e| e.key.eq_ignore_ascii_case(key)))
    }

    pub fn item(&self, index: usize) -> Option<&Node> {
        match &self.kind {
            Kind::Array(items) => items.get(index),
            _ => None,
        }
    }
}

/// Parses `text` into spanned nodes.
pub(crate) fn parse(text: &str) -> Option<Node> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    let node = p.value(0)?;
    p.space();
    (p.at == p.bytes.len()).then_some(node)
}

struct Parser<'t> {
    bytes: &'t [u8],
    text: &'t str,
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        let start = self.at;
        let kind =
            match self.bytes.get(self.at)? {
                b'{' => self.object(depth)?,
                b'[' => self.array(depth)?,
                b'"' => Kind::String(self.string()?.0),
                _ => {
                    while self.bytes.get(self.at).is_some_and(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
                    }) {
                        self.at += 1;
                    }
                    if self.at == start {
                        return None;
                    }
                    Kind::Scalar
                }
            };
        Some(Node {
            start,
            end: self.at,
            kind,
        })
    }

    fn object(&mut self, depth: usize) -> Option<Kind> {
        self.at += 1;
        let mut entries = Vec::new();
        self.space();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Some(Kind::Object(entries));
        }
        loop {
            self.space();
            let key_start = self.at;
            let (key, key_end) = self.string()?;
            self.space();
            if self.bytes.get(self.at) != Some(&b':') {
                return None;
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                key_start,
                key_end,
                value,
            });
            self.space();
            match self.bytes.get(self.at)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(Kind::Object(entries));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Kind> {
        self.at += 1;
        let mut items = Vec::new();
        self.space();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Some(Kind::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.space();
            match self.bytes.get(self.at)? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Kind::Array(items));
                }
                _ => return None,
            }
        }
    }

    /// A string at `self.at`, decoded, and the offset just past its closing quote.
    fn string(&mut self) -> Option<(String, usize)> {
        let start = self.at;
        if self.bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        loop {
            match self.bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        let end = i + 1;
        let decoded = serde_json::from_str::<String>(self.text.get(start..end)?).ok()?;
        self.at = end;
        Some((decoded, end))
    }
}

/// A place in the text as Access Analyzer counts it: `line` from 1, `column` from 0 within
/// the line, `offset` from 0 in the text; columns and offsets count characters (Unicode scalar
/// values), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
}

/// Converts byte offsets of one text into [`Position`]s.
#[derive(Debug)]
pub(crate) struct Positions {
    /// The character offset of every byte offset that starts a character (and of the end).
    chars_before: Vec<usize>,
    /// The character offset at which each line starts.
    line_starts: Vec<usize>,
}

impl Positions {
    pub fn new(text: &str) -> Positions {
        let mut chars_before = vec![0; text.len() + 1];
        let mut line_starts = vec![0];
        let mut count = 0;
        for (byte, c) in text.char_indices() {
            if let Some(slot) = chars_before.get_mut(byte) {
                *slot = count;
            }
            count += 1;
            if c == '\n' {
                line_starts.push(count);
            }
        }
        if let Some(last) = chars_before.last_mut() {
            *last = count;
        }
        Positions {
            chars_before,
            line_starts,
        }
    }

    /// The position of byte offset `byte` (clamped to the text's end).
    pub fn at(&self, byte: usize) -> Position {
        let last = self.chars_before.len().saturating_sub(1);
        let offset = self
            .chars_before
            .get(byte.min(last))
            .copied()
            .unwrap_or_default();
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let line_start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or_default();
        Position {
            line: line.max(1),
            column: offset - line_start,
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_spans() {
        let text = "{\"a\": [1, \"x\\\"y\"],\n \"b\": {\"c\": null}}";
        let root = parse(text).unwrap();
        assert_eq!((root.start, root.end), (0, text.len()));
        let a = root.entry("a").unwrap();
        assert_eq!(&text[a.key_start..a.key_end], "\"a\"");
        assert_eq!(&text[a.value.start..a.value.end], "[1, \"x\\\"y\"]");
        let x = a.value.item(1).unwrap();
        assert_eq!(x.kind, Kind::String("x\"y".into()));
        assert_eq!(&text[x.start..x.end], "\"x\\\"y\"");
        let c = root.entry("b").unwrap().value.entry("c").unwrap();
        assert_eq!(&text[c.value.start..c.value.end], "null");
        assert_eq!(c.value.kind, Kind::Scalar);
        assert!(root.entry("c").is_none());
        assert!(parse("{\"a\": 1} x").is_none());
        assert!(parse("[1,]").is_none());
        assert!(parse(&("[".repeat(50) + &"]".repeat(50))).is_none());
    }

    #[test]
    fn keys_are_found_ignoring_case_only_when_none_matches_exactly() {
        let root = parse(r#"{"stringequals": 1, "StringEquals": 2}"#).unwrap();
        assert_eq!(root.entry("StringEquals").unwrap().value.start, 36);
        assert_eq!(root.entry("STRINGEQUALS").unwrap().value.start, 17);
    }

    #[test]
    fn positions_count_lines_from_one_and_characters_from_zero() {
        let text = "{\n  \"é\": \"*\"\n}";
        let p = Positions::new(text);
        assert_eq!(
            p.at(0),
            Position {
                line: 1,
                column: 0,
                offset: 0
            }
        );
        let star = text.find("\"*\"").unwrap();
        assert_eq!(
            p.at(star),
            Position {
                line: 2,
                column: 7,
                offset: 9
            }
        );
        assert_eq!(p.at(text.len()).line, 3);
        assert_eq!(p.at(text.len() + 10).offset, 14);
    }
}
