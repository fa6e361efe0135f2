//! The request side of an evaluation: who asks, for which action on which resource, and the
//! condition keys that describe the request.
//!
//! Condition key names are case-insensitive (IAM User Guide, "Condition element"), so keys are
//! stored lower-cased; values keep their case and are strings, read by each operator in its own
//! type when a condition needs them.

use std::collections::HashMap;
use std::sync::Arc;

use super::arn::Arn;
use super::discovery::Discovery;
use super::principal::Principal;

/// A condition key's value in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    Single(String),
    /// A multi-valued key such as `aws:TagKeys`; only the set qualifiers iterate it element-wise.
    Multi(Vec<String>),
}

impl ContextValue {
    /// The value when it is single-valued.
    pub fn single(&self) -> Option<&str> {
        match self {
            ContextValue::Single(s) => Some(s),
            ContextValue::Multi(_) => None,
        }
    }

    /// All values, one for a single-valued key.
    pub fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(s) => std::slice::from_ref(s),
            ContextValue::Multi(v) => v,
        }
    }
}

/// Condition keys of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: HashMap<Box<str>, ContextValue>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets a single-valued key (replacing any earlier value).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.insert_value(key, ContextValue::Single(value.into()));
    }

    /// Sets a key to a single or multi value.
    pub fn insert_value(&mut self, key: &str, value: ContextValue) {
        self.entries.insert(key.to_ascii_lowercase().into(), value);
    }

    /// Adds a value to a multi-valued key, creating it when absent.
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        let entry = self
            .entries
            .entry(key.to_ascii_lowercase().into())
            .or_insert_with(|| ContextValue::Multi(Vec::new()));
        match entry {
            ContextValue::Multi(v) => v.push(value.into()),
            ContextValue::Single(s) => {
                *entry = ContextValue::Multi(vec![std::mem::take(s), value.into()]);
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.get_lower(&key.to_ascii_lowercase())
        } else {
            self.get_lower(key)
        }
    }

    /// Looks up an already lower-cased key (the compiled form policies use).
    pub fn get_lower(&self, key: &str) -> Option<&ContextValue> {
        self.entries.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys (lower-cased) and values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }
}

/// The resource a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    name: String,
    /// The account that owns the resource, when known (for same- vs cross-account decisions).
    account: Option<String>,
}

impl Resource {
    /// A resource named by ARN (or `*` for actions that take none); its owner is the ARN's account.
    pub fn new(name: impl Into<String>) -> Resource {
        let name = name.into();
        let account = Arn::parse(&name)
            .map(|a| a.account)
            .filter(|a| !a.is_empty() && !a.contains(['*', '?']))
            .map(str::to_owned);
        Resource { name, account }
    }

    /// Sets the owning account explicitly (S3 bucket ARNs, for one, carry none).
    pub fn with_account(mut self, account: impl Into<String>) -> Resource {
        self.account = Some(account.into());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> Option<Arn<'_>> {
        Arn::parse(&self.name)
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

/// One authorization question: may `principal` perform `action` on `resource`, given `context`?
#[derive(Debug, Clone)]
pub struct Request {
    pub principal: Principal,
    action: String,
    action_lower: String,
    pub resource: Resource,
    pub context: Context,
    wildcard_only: bool,
    /// The discovery evaluation option; `None` (the default) evaluates as IAM does.
    discovery: Option<Arc<Discovery>>,
}

impl Request {
    pub fn new(
        principal: Principal,
        action: &str,
        resource: Resource,
        context: Context,
    ) -> Request {
        Request {
            principal,
            action: action.to_owned(),
            action_lower: action.to_ascii_lowercase(),
            resource,
            context,
            wildcard_only: false,
            discovery: None,
        }
    }

    /// Marks the action as one that takes no resource (`Resource: "*"` only), so a `*` resource
    /// in the request is literal rather than "some resource".
    pub fn with_wildcard_only_action(mut self, yes: bool) -> Request {
        self.wildcard_only = yes;
        self
    }

    pub fn wildcard_only_action(&self) -> bool {
        self.wildcard_only
    }

    /// Evaluates conditions in discovery mode (see [`Discovery`]): not IAM's answer, but whether
    /// the request could be allowed when some condition keys are unknown.
    pub fn with_discovery(mut self, discovery: impl Into<Arc<Discovery>>) -> Request {
        self.discovery = Some(discovery.into());
        self
    }

    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_deref()
    }

    /// The action as the caller named it, e.g. `sts:AssumeRoleWithWebIdentity`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The lower-cased action, the form action patterns are compiled to.
    pub fn action_lower(&self) -> &str {
        &self.action_lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let mut c = Context::new();
        c.insert("aws:PrincipalTag/Team", "Blue");
        assert_eq!(
            c.get("AWS:principaltag/team").and_then(|v| v.single()),
            Some("Blue")
        );
        assert!(c.contains("aws:principaltag/TEAM"));
        assert!(!c.contains("aws:principaltag/dept"));
    }

    #[test]
    fn push_builds_multi_values() {
        let mut c = Context::new();
        c.push("aws:TagKeys", "a");
        c.push("aws:tagkeys", "b");
        assert_eq!(c.get("aws:TagKeys").unwrap().values(), ["a", "b"]);
        assert_eq!(c.get("aws:TagKeys").unwrap().single(), None);
    }

    #[test]
    fn resource_account_comes_from_arn() {
        assert_eq!(
            Resource::new("arn:aws:iam::123456789012:role/R").account(),
            Some("123456789012")
        );
        assert_eq!(Resource::new("arn:aws:s3:::bucket").account(), None);
        assert_eq!(
            Resource::new("arn:aws:s3:::bucket")
                .with_account("111122223333")
                .account(),
            Some("111122223333")
        );
    }
}
