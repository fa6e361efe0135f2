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
///
/// Keys many requests have in common (a caller's own, built once per session) can be shared
/// rather than copied ([`Context::share`]): they sit over the request's own keys, which never
/// repeat one of them, and a change to one of them copies the shared keys first.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: HashMap<Box<str>, ContextValue, foldhash::quality::RandomState>,
    /// Shared keys, none of which is also in `entries`.
    shared: Option<Arc<Context>>,
}

impl PartialEq for Context {
    fn eq(&self, other: &Context) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get_lower(k) == Some(v))
    }
}

impl Eq for Context {}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// An empty context with room for `n` keys: a request's context is built key by key, and
    /// growing it as it goes costs a rehash each time.
    pub fn with_capacity(n: usize) -> Context {
        Context {
            entries: HashMap::with_capacity_and_hasher(
                n,
                foldhash::quality::RandomState::default(),
            ),
            shared: None,
        }
    }

    /// Sets a single-valued key (replacing any earlier value).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.insert_value(key, ContextValue::Single(value.into()));
    }

    /// Sets a key to a single or multi value.
    pub fn insert_value(&mut self, key: &str, value: ContextValue) {
        let key: Box<str> = key.to_ascii_lowercase().into();
        self.unshare(&key);
        self.entries.insert(key, value);
    }

    /// Adds a value to a multi-valued key, creating it when absent.
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        let key: Box<str> = key.to_ascii_lowercase().into();
        let earlier = self.unshare(&key);
        let entry = self
            .entries
            .entry(key)
            .or_insert_with(|| earlier.unwrap_or_else(|| ContextValue::Multi(Vec::new())));
        match entry {
            ContextValue::Multi(v) => v.push(value.into()),
            ContextValue::Single(s) => {
                *entry = ContextValue::Multi(vec![std::mem::take(s), value.into()]);
            }
        }
    }

    /// Sets every key of `keys` over this context's, replacing earlier values as
    /// [`Context::insert_value`] would, sharing them rather than copying when it can.
    pub fn share(&mut self, keys: &Arc<Context>) {
        if self.shared.is_some() || keys.shared.is_some() {
            for (key, value) in keys.iter() {
                self.insert_value(key, value.clone());
            }
            return;
        }
        self.entries.retain(|k, _| !keys.entries.contains_key(k));
        self.shared = Some(Arc::clone(keys));
    }

    /// Takes `key` (lower-cased) out of the shared keys, copying them first, so it can be
    /// changed in `entries`; returns its value.
    fn unshare(&mut self, key: &str) -> Option<ContextValue> {
        let shared = self.shared.as_mut()?;
        if !shared.entries.contains_key(key) {
            return None;
        }
        Arc::make_mut(shared).entries.remove(key)
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
        if let Some(shared) = &self.shared
            && let Some(value) = shared.entries.get(key)
        {
            return Some(value);
        }
        self.entries.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len() + self.shared.as_ref().map_or(0, |s| s.entries.len())
    }

    /// Keys (lower-cased) and values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.shared
            .iter()
            .flat_map(|s| s.entries.iter())
            .chain(self.entries.iter())
            .map(|(k, v)| (&**k, v))
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
    fn shared_keys_sit_over_own_keys_and_copy_on_change() {
        let mut caller = Context::new();
        caller.insert("aws:PrincipalArn", "arn:aws:iam::1:role/r");
        caller.insert("aws:TagKeys", "a");
        let caller = Arc::new(caller);
        let mut c = Context::new();
        c.insert("aws:SourceIp", "10.0.0.1");
        c.insert("AWS:principalarn", "forged");
        c.share(&caller);
        // As if each shared key had been inserted: it replaces the request's own.
        assert_eq!(
            c.get("aws:PrincipalArn").unwrap().single(),
            Some("arn:aws:iam::1:role/r")
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c.iter().count(), 3);
        let mut copied = Context::new();
        copied.insert("aws:SourceIp", "10.0.0.1");
        copied.insert("aws:PrincipalArn", "arn:aws:iam::1:role/r");
        copied.insert("aws:TagKeys", "a");
        assert_eq!(c, copied);
        // Changing a shared key changes this context only.
        c.insert("aws:principalarn", "other");
        c.push("aws:TagKeys", "b");
        assert_eq!(c.get("aws:PrincipalArn").unwrap().single(), Some("other"));
        assert_eq!(c.get("aws:tagkeys").unwrap().values(), ["a", "b"]);
        assert_eq!(c.len(), 3);
        assert_eq!(
            caller.get("aws:PrincipalArn").unwrap().single(),
            Some("arn:aws:iam::1:role/r")
        );
        assert_eq!(caller.get("aws:TagKeys").unwrap().single(), Some("a"));
        // A context that already shares keys takes more by copying.
        let mut more = Context::new();
        more.insert("aws:SourceIdentity", "alice");
        c.share(&Arc::new(more));
        assert_eq!(c.get("aws:SourceIdentity").unwrap().single(), Some("alice"));
        assert_eq!(c.len(), 4);
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
