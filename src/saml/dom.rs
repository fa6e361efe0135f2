//! A small, bounded, namespace-resolved XML tree for SAML documents, read with quick-xml.
//!
//! It refuses what SAML never needs and attacks rely on: document type declarations (so no
//! entities beyond XML's five, no billion laughs, no external references), nesting deeper than
//! [`MAX_DEPTH`], more than [`MAX_NODES`] nodes or more than [`MAX_ATTRIBUTES`] attributes on
//! one element (quick-xml's duplicate-attribute check compares each attribute with the
//! earlier ones, so the count must stay small), malformed or ambiguous markup (mismatched or
//! duplicated names, unbound prefixes). Comments and processing instructions are kept as nodes,
//! so a reader of a value can refuse an element whose text they interrupt.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use super::error::SamlError;

/// Deepest element nesting accepted. SAML responses nest about 8 deep.
pub const MAX_DEPTH: usize = 48;
/// Most nodes (elements, text, comments) accepted in one document.
pub const MAX_NODES: usize = 20_000;
/// Most attributes, namespace declarations included, on one element. SAML's have fewer than 12.
pub const MAX_ATTRIBUTES: usize = 64;

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    /// A comment or processing instruction: no data, but it splits text.
    Other,
}

/// An element with its namespace URI resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    /// Attributes other than namespace declarations: (namespace, local name, value).
    pub attributes: Vec<(Option<String>, String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    /// Is this `{namespace}name`?
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.name == name && self.namespace.as_deref() == Some(namespace)
    }

    /// An attribute without namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(ns, n, _)| ns.is_none() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) | Node::Other => None,
        })
    }

    /// Child elements named `{namespace}name`.
    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(namespace, name))
    }

    /// The only child named `{namespace}name`; `None` when absent, an error when repeated.
    pub fn only_child(&self, namespace: &str, name: &str) -> Result<Option<&Element>, SamlError> {
        let mut found = self.elements().filter(|e| e.is(namespace, name));
        let first = found.next();
        if found.next().is_some() {
            return Err(SamlError::Malformed(format!(
                "more than one {name} element"
            )));
        }
        Ok(first)
    }

    /// The element's text, which must be one uninterrupted run of characters: no child
    /// elements, comments or processing instructions (CVE-2017-11427 style truncation).
    pub fn text(&self) -> Result<String, SamlError> {
        let mut out = String::new();
        for c in &self.children {
            match c {
                Node::Text(t) => out.push_str(t),
                Node::Element(_) | Node::Other => {
                    return Err(SamlError::Malformed(format!(
                        "the {} element's value is interrupted by markup or a comment",
                        self.name
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Every element of the subtree (this one included) named `{namespace}name`.
    pub fn descendants_named<'a>(&'a self, namespace: &str, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if e.is(namespace, name) {
                out.push(e);
            }
            stack.extend(e.elements());
        }
        out
    }
}

/// Parses a whole document and returns its root element.
pub fn parse(xml: &str) -> Result<Element, SamlError> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    let bad = |e: &dyn std::fmt::Display| SamlError::Malformed(format!("not well-formed XML: {e}"));
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| bad(&e))?;
        let namespace = match ns {
            ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(SamlError::Malformed(format!(
                    "unbound namespace prefix {}",
                    String::from_utf8_lossy(&p)
                )));
            }
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(SamlError::TooComplex("too many XML nodes"));
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SamlError::TooComplex("XML nested too deeply"));
                }
                if root.is_some() {
                    return Err(SamlError::Malformed(
                        "content after the root element".into(),
                    ));
                }
                let mut element = Element {
                    namespace,
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                for (i, attr) in start.attributes().enumerate() {
                    if i == MAX_ATTRIBUTES {
                        return Err(SamlError::TooComplex("too many attributes on one element"));
                    }
                    let attr = attr.map_err(|e| bad(&e))?;
                    let key = attr.key.as_ref();
                    if key == b"xmlns" || key.starts_with(b"xmlns:") {
                        continue;
                    }
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    let ans = match ans {
                        ResolveResult::Bound(n) => {
                            Some(String::from_utf8_lossy(n.as_ref()).into_owned())
                        }
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(_) => {
                            return Err(SamlError::Malformed(
                                "unbound namespace prefix on an attribute".into(),
                            ));
                        }
                    };
                    let value = attr.unescape_value().map_err(|e| bad(&e))?.into_owned();
                    element.attributes.push((
                        ans,
                        String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value,
                    ));
                }
                stack.push(element);
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(SamlError::Malformed("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let t = text.decode().map_err(|e| bad(&e))?;
                push_text(&mut stack, &t)?;
            }
            Event::CData(data) => {
                let t = data.decode().map_err(|e| bad(&e))?;
                push_text(&mut stack, &t)?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c,
                    None => match &*r {
                        b"amp" => '&',
                        b"lt" => '<',
                        b"gt" => '>',
                        b"quot" => '"',
                        b"apos" => '\'',
                        _ => {
                            return Err(SamlError::Malformed(
                                "entity references are not allowed".into(),
                            ));
                        }
                    },
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Comment(_) | Event::PI(_) => {
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Other);
                }
            }
            Event::Decl(_) => {}
            Event::DocType(_) => {
                return Err(SamlError::Malformed(
                    "document type declarations are not allowed".into(),
                ));
            }
            Event::Empty(_) => {
                return Err(SamlError::Malformed("unexpected empty element".into()));
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(SamlError::Malformed(
            "the document ends inside an element".into(),
        ));
    }
    root.ok_or_else(|| SamlError::Malformed("no root element".into()))
}

/// Appends text to the open element, joining adjacent runs (text, references, CDATA).
fn push_text(stack: &mut [Element], text: &str) -> Result<(), SamlError> {
    let Some(parent) = stack.last_mut() else {
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(SamlError::Malformed("text outside the root element".into()));
    };
    if let Some(Node::Text(t)) = parent.children.last_mut() {
        t.push_str(text);
    } else {
        parent.children.push(Node::Text(text.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_and_references() {
        let root = parse(
            r#"<?xml version="1.0"?><p:a xmlns:p="urn:p" xmlns="urn:d" x="1&amp;2"><b>x&lt;y&#65;<![CDATA[z]]></b></p:a>"#,
        )
        .unwrap();
        assert!(root.is("urn:p", "a"));
        assert_eq!(root.attr("x"), Some("1&2"));
        let b = root.elements().next().unwrap();
        assert!(b.is("urn:d", "b"));
        assert_eq!(b.text().unwrap(), "x<yAz");
    }

    #[test]
    fn refuses_doctype_entities_depth_and_comments_in_values() {
        assert!(parse(r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#).is_err());
        assert!(parse("<a>&x;</a>").is_err());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(matches!(parse(&deep), Err(SamlError::TooComplex(_))));
        let root = parse("<a>ab<!-- c -->cd</a>").unwrap();
        assert!(root.text().is_err());
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<p:a/>").is_err());
        assert!(parse(r#"<a x="1" x="2"/>"#).is_err());
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn attributes_per_element_are_bounded() {
        let attrs = |n: usize| -> String { (0..n).map(|i| format!(" a{i}=\"\"")).collect() };
        assert!(parse(&format!("<a{}/>", attrs(MAX_ATTRIBUTES))).is_ok());
        // As many as a 100,000-character SAMLAssertion can hold.
        assert!(matches!(
            parse(&format!("<a{}/>", attrs(10_000))),
            Err(SamlError::TooComplex(_))
        ));
    }
}
