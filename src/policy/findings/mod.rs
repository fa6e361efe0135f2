//! IAM Access Analyzer's `ValidatePolicy` as a pure function: a policy document and its type
//! in, findings out, each with Access Analyzer's finding type, issue code, details, link and
//! locations (a JSON path and the line/column span of the node it names), in the shapes of its
//! API (`ValidatePolicyFinding`).
//!
//! Sources: JSON that does not parse (`JSON_SYNTAX_ERROR` at the offending character); the
//! first error IAM refuses the document with ([`parse`](super::parse), `ERROR`; the rest of the
//! checks need a valid document); [`lint`](super::lint)'s warnings; and
//! [`checks`]. Unlike Access Analyzer it reports one error at most, knows no
//! service's actions, resources or condition keys, and writes English whatever the locale.

use serde::Serialize;

mod checks;

use super::PolicyType;
use super::error::{PathStep, PolicyError};
use super::issue::{FindingType, Issue};
use super::json::Json;
use super::lint::lint;
use super::parse::{MAX_POLICY_BYTES, parse};
use super::spanned::{self, Kind, Node, Position, Positions};

/// One finding, as `ValidatePolicyFinding` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub finding_details: String,
    pub finding_type: FindingType,
    pub issue_code: &'static str,
    pub learn_more_link: String,
    pub locations: Vec<Location>,
}

/// A place in the document: the path to a JSON node and the span of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: Vec<PathElement>,
    pub span: Span,
}

/// One step of a [`Location`]'s path. As Access Analyzer writes them: `value` enters the value
/// of an object's key, `index` an array's item, and `key` (last) names the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathElement {
    Index(usize),
    Key(String),
    Value(String),
    Substring { start: usize, length: usize },
}

/// `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

/// The findings for `text` used as `policy_type`, ordered by where they start in the text.
pub fn validate_policy(text: &str, policy_type: PolicyType) -> Vec<Finding> {
    if text.len() > MAX_POLICY_BYTES {
        let details = format!(
            "The policy is {} bytes; at most {MAX_POLICY_BYTES} are validated. We recommend that \
             you use several smaller policies.",
            text.len()
        );
        let origin = Position {
            line: 1,
            column: 0,
            offset: 0,
        };
        let span = Span {
            start: origin,
            end: origin,
        };
        let location = Location {
            path: Vec::new(),
            span,
        };
        return vec![finding(
            Issue::PolicySizeExceedsMaximum,
            FindingType::Error,
            details,
            vec![location],
        )];
    }
    let doc = Doc::new(text);
    if let Err(e) = Json::parse(text) {
        return vec![doc.syntax_error(&e)];
    }
    let policy = match parse(text, policy_type) {
        Ok(policy) => policy,
        Err(e) => return vec![doc.refused(&e)],
    };
    let mut out = Vec::new();
    if !policy.version_given {
        let details = "The policy has no Version, so it is read as version 2008-10-17, in which \
            policy variables such as ${aws:username} are plain text. We recommend that you specify \
            \"Version\": \"2012-10-17\".";
        out.push(finding(
            Issue::MissingVersion,
            Issue::MissingVersion.finding_type(),
            details.to_owned(),
            vec![doc.whole()],
        ));
    }
    for w in lint(&policy, policy_type) {
        let location = match w.statement {
            Some(i) => doc.in_statement(i, &w.at),
            None => doc.whole(),
        };
        out.push(finding(
            w.issue,
            w.issue.finding_type(),
            sentence(&w.message),
            vec![location],
        ));
    }
    for f in checks::run(&policy, policy_type) {
        let locations =
            f.at.iter()
                .map(|(i, steps)| doc.in_statement(*i, steps))
                .collect();
        out.push(finding(
            f.issue,
            f.issue.finding_type(),
            f.message,
            locations,
        ));
    }
    out.sort_by_key(|f| f.locations.first().map(|l| l.span.start.offset));
    out
}

fn finding(
    issue: Issue,
    finding_type: FindingType,
    details: String,
    locations: Vec<Location>,
) -> Finding {
    Finding {
        finding_details: details,
        finding_type,
        issue_code: issue.code(),
        learn_more_link: issue.learn_more_link(),
        locations,
    }
}

/// `text` with a capital first letter and a final period.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The document's text, its nodes and positions.
struct Doc<'t> {
    text: &'t str,
    root: Option<Node>,
    positions: Positions,
}

impl<'t> Doc<'t> {
    fn new(text: &'t str) -> Doc<'t> {
        Doc {
            text,
            root: spanned::parse(text),
            positions: Positions::new(text),
        }
    }

    fn location(&self, path: Vec<PathElement>, start: usize, end: usize) -> Location {
        Location {
            path,
            span: Span {
                start: self.positions.at(start),
                end: self.positions.at(end),
            },
        }
    }

    /// The whole document (the root value, without surrounding space).
    fn whole(&self) -> Location {
        match &self.root {
            Some(root) => self.location(Vec::new(), root.start, root.end),
            None => self.location(Vec::new(), 0, self.text.len()),
        }
    }

    /// `JSON_SYNTAX_ERROR` at the character the parser stopped at (the end, for text cut
    /// short).
    fn syntax_error(&self, e: &serde_json::Error) -> Finding {
        let byte = if e.is_eof() {
            self.text.len()
        } else {
            byte_offset(self.text, e.line(), e.column())
        };
        let end = self.text[byte..]
            .chars()
            .next()
            .map_or(byte, |c| byte + c.len_utf8());
        let location = self.location(Vec::new(), byte, end);
        let at = location.span.start;
        let message = e.to_string();
        let reason = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(reason, _)| reason);
        let details = format!(
            "Fix the JSON syntax error at index {} line {} column {}: {}.",
            at.offset,
            at.line,
            at.column,
            reason.trim_end_matches('.')
        );
        finding(
            Issue::JsonSyntaxError,
            FindingType::Error,
            details,
            vec![location],
        )
    }

    /// The error IAM refuses the document with, at the node its path names (the key itself for
    /// an unknown element, principal type or operator).
    fn refused(&self, e: &PolicyError) -> Finding {
        let at_key = matches!(
            e.issue,
            Issue::InvalidPolicyElement
                | Issue::InvalidPrincipalKey
                | Issue::InvalidConditionOperator
        );
        let location = match &self.root {
            Some(root) => {
                let mut path = Vec::new();
                let (start, end) = resolve(root, &e.path, at_key, &mut path);
                self.location(path, start, end)
            }
            None => self.whole(),
        };
        let mut details = e.aws_message.clone();
        if !e.detail.is_empty() && e.detail != e.aws_message {
            details = format!("{} {}", details, sentence(&e.detail));
        }
        finding(e.issue, FindingType::Error, details, vec![location])
    }

    /// Statement `index` (in a `Statement` list, or the one `Statement` object), then `steps`
    /// in it as far as they lead.
    fn in_statement(&self, index: usize, steps: &[PathStep]) -> Location {
        let Some(root) = &self.root else {
            return self.whole();
        };
        let Some(list) = root.entry("Statement") else {
            return self.whole();
        };
        let mut path = vec![PathElement::Value(list.key.clone())];
        let node = match &list.value.kind {
            Kind::Array(items) => match items.get(index) {
                Some(item) => {
                    path.push(PathElement::Index(index));
                    item
                }
                None => &list.value,
            },
            _ => &list.value,
        };
        let node = walk(node, steps, &mut path);
        self.location(path, node.start, node.end)
    }
}

/// The byte offset of serde_json's (1-based line, 1-based column in bytes); column 0 is the
/// start of the line.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let mut at = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Follows `steps` from `node` as far as they lead, recording the path taken.
fn walk<'n>(mut node: &'n Node, steps: &[PathStep], path: &mut Vec<PathElement>) -> &'n Node {
    for step in steps {
        match step {
            PathStep::Key(k) => match node.entry(k) {
                Some(entry) => {
                    path.push(PathElement::Value(entry.key.clone()));
                    node = &entry.value;
                }
                None => break,
            },
            PathStep::Index(i) => match node.item(*i) {
                Some(item) => {
                    path.push(PathElement::Index(*i));
                    node = item;
                }
                None => break,
            },
            PathStep::Text(t) => match &node.kind {
                Kind::Array(items) => {
                    let hit = items
                        .iter()
                        .position(|n| matches!(&n.kind, Kind::String(s) if s.trim() == t.trim()));
                    match hit.and_then(|i| items.get(i).map(|n| (i, n))) {
                        Some((i, item)) => {
                            path.push(PathElement::Index(i));
                            node = item;
                        }
                        None => break,
                    }
                }
                _ => break,
            },
        }
    }
    node
}

/// The span of what a [`PolicyError`] path (`Statement[1].Condition.StringEquals.k[0]`) names,
/// recording the path; as deep as the document matches it. Keys may hold `.` and `[`, so at
/// each object the longest key the rest of the path starts with is taken.
fn resolve(
    root: &Node,
    text_path: &str,
    at_key: bool,
    path: &mut Vec<PathElement>,
) -> (usize, usize) {
    let mut node = root;
    let mut rest = text_path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Some((digits, tail)) = after.split_once(']') else {
                break;
            };
            let Some(item) = digits
                .parse()
                .ok()
                .and_then(|i| node.item(i).map(|n| (i, n)))
            else {
                break;
            };
            path.push(PathElement::Index(item.0));
            node = item.1;
            rest = tail.strip_prefix('.').unwrap_or(tail);
            continue;
        }
        let Kind::Object(entries) = &node.kind else {
            break;
        };
        let entry = entries
            .iter()
            .filter(|e| {
                rest.strip_prefix(e.key.as_str())
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
            })
            .max_by_key(|e| e.key.len());
        let Some(entry) = entry else {
            break;
        };
        let tail = &rest[entry.key.len()..];
        if tail.is_empty() && at_key {
            path.push(PathElement::Key(entry.key.clone()));
            return (entry.key_start, entry.key_end);
        }
        path.push(PathElement::Value(entry.key.clone()));
        node = &entry.value;
        rest = tail.strip_prefix('.').unwrap_or(tail);
    }
    (node.start, node.end)
}

#[cfg(test)]
mod tests;
