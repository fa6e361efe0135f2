//! The compiled policy grammar (IAM JSON policy reference, "Grammar of the IAM JSON policy
//! language"). Illegal combinations cannot be written: `Action | NotAction` is one enum, an
//! effect is `Allow` or `Deny`, and every pattern is compiled when the policy is parsed.

use super::arn::ArnPattern;
use super::condition::Condition;
use super::context::Context;
use super::glob::Glob;
use super::principal::PrincipalSet;
use super::variables::Template;

/// The policy language version. Variables are substituted only in `2012-10-17` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2008_10_17,
    V2012_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008_10_17 => "2008-10-17",
            Version::V2012_10_17 => "2012-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// An element and its `Not` form: `Action`/`NotAction`, `Resource`/`NotResource`,
/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause<T> {
    Is(T),
    Not(T),
}

impl<T> Clause<T> {
    pub fn inner(&self) -> &T {
        match self {
            Clause::Is(t) | Clause::Not(t) => t,
        }
    }

    pub fn is_not(&self) -> bool {
        matches!(self, Clause::Not(_))
    }
}

/// An action pattern such as `s3:Get*`, matched case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPattern {
    pub raw: String,
    glob: Glob,
}

impl ActionPattern {
    pub fn new(raw: &str) -> ActionPattern {
        ActionPattern {
            raw: raw.to_owned(),
            glob: Glob::new(&raw.to_ascii_lowercase()),
        }
    }

    /// `action_lower` must already be lower-cased.
    pub fn matches(&self, action_lower: &str) -> bool {
        self.glob.matches(action_lower)
    }
}

/// A resource pattern such as `arn:aws:s3:::bucket/${aws:username}/*`, matched case-sensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePattern {
    pub raw: String,
    compiled: ResourceMatcher,
}

#[derive(Debug, Clone, PartialEq)]
enum ResourceMatcher {
    Static(ArnPattern),
    Dynamic(Template),
}

impl ResourcePattern {
    pub fn new(raw: &str, substitute: bool) -> ResourcePattern {
        let template = Template::new(raw, substitute);
        let compiled = if template.is_dynamic() {
            ResourceMatcher::Dynamic(template)
        } else {
            ResourceMatcher::Static(ArnPattern::from_tokens(template.static_tokens()))
        };
        ResourcePattern {
            raw: raw.to_owned(),
            compiled,
        }
    }

    /// Whether the pattern holds a policy variable, so what it matches depends on the request.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.compiled, ResourceMatcher::Dynamic(_))
    }

    pub fn matches(
        &self,
        resource: &str,
        arn: Option<&super::arn::Arn<'_>>,
        ctx: &Context,
    ) -> bool {
        match &self.compiled {
            ResourceMatcher::Static(p) => p.matches(resource, arn),
            ResourceMatcher::Dynamic(t) => t
                .tokens(ctx)
                .is_some_and(|tokens| ArnPattern::from_tokens(tokens).matches(resource, arn)),
        }
    }

    /// The pattern as wildcard tokens with variables resolved (`None` when one cannot be).
    pub(crate) fn tokens(&self, ctx: &Context) -> Option<Vec<super::glob::Token>> {
        match &self.compiled {
            ResourceMatcher::Static(_) => Some(super::glob::tokenize(&self.raw)),
            ResourceMatcher::Dynamic(t) => t.tokens(ctx),
        }
    }

    pub fn is_wildcard(&self) -> bool {
        matches!(self.compiled, ResourceMatcher::Static(ArnPattern::Any))
    }
}

/// One statement, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the policy's `Statement` list (0-based).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Clause<PrincipalSet>>,
    /// `None` only in documents that validation would reject; such statements match nothing.
    pub action: Option<Clause<Vec<ActionPattern>>>,
    pub resource: Option<Clause<Vec<ResourcePattern>>>,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// A label for messages: `Sid "x"` or `statement #2` (1-based, as people count).
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) if !sid.is_empty() => format!("statement {} (Sid \"{sid}\")", self.index + 1),
            _ => format!("statement {}", self.index + 1),
        }
    }
}

/// A parsed and compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: Version,
    /// Whether the document stated its `Version` (IAM treats a missing one as 2008-10-17).
    pub version_given: bool,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}
