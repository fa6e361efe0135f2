//! The `Condition` element: operators, set qualifiers, `IfExists`, and how missing and
//! multi-valued keys behave (IAM User Guide, "Condition element" and "Multivalued context keys").
//!
//! Within a statement every condition must hold (AND across operators and keys); within one
//! condition any policy value may match (OR across values), negated operators requiring that
//! none does.

mod date;
mod operator;
mod values;

pub use operator::{BaseOp, Family, Operator, SetQualifier};

use super::context::{Context, ContextValue};
use values::Values;

/// One `operator: { key: values }` entry, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    /// The key as written in the policy.
    pub key: String,
    key_lower: String,
    /// The values as written (numbers and booleans in their JSON text).
    pub raw_values: Vec<String>,
    values: Values,
}

impl Condition {
    /// Compiles a condition; `substitute` enables policy variables (Version 2012-10-17).
    pub fn new(operator: Operator, key: &str, raw_values: Vec<String>, substitute: bool) -> Self {
        let values = Values::compile(operator.base, &raw_values, substitute);
        Condition {
            operator,
            key: key.to_owned(),
            key_lower: key.to_ascii_lowercase(),
            raw_values,
            values,
        }
    }

    /// The lower-cased key, the form the context stores.
    pub fn key_lower(&self) -> &str {
        &self.key_lower
    }

    /// Context keys this condition reads: its key (as written) and any variables in its values.
    pub fn referenced_keys(&self) -> Vec<String> {
        let mut keys = vec![self.key.clone()];
        if self.operator.base.takes_variables() {
            for raw in &self.raw_values {
                let t = super::variables::Template::new(raw, true);
                keys.extend(t.keys().map(str::to_owned));
            }
        }
        keys
    }

    /// The key's value in the request; an empty multi-valued key counts as absent.
    pub(crate) fn present<'c>(&self, ctx: &'c Context) -> Option<&'c ContextValue> {
        ctx.get_lower(&self.key_lower)
            .filter(|v| !matches!(v, ContextValue::Multi(m) if m.is_empty()))
    }

    /// Whether `f` holds for a context key named by a policy variable in the values.
    pub(crate) fn any_variable(&self, f: impl FnMut(&str) -> bool) -> bool {
        self.values.any_variable(f)
    }

    /// Whether the condition holds for the request context.
    pub fn evaluate(&self, ctx: &Context) -> bool {
        let base = self.operator.base;
        let present = self.present(ctx);
        if base == BaseOp::Null {
            return self.evaluate_null(present.is_some());
        }
        let Some(request) = present else {
            return self.evaluate_missing();
        };
        let values = request.values();
        match self.operator.qualifier {
            Some(SetQualifier::ForAllValues) => values.iter().all(|v| self.test_one(v, ctx)),
            Some(SetQualifier::ForAnyValue) => values.iter().any(|v| self.test_one(v, ctx)),
            // A single-valued operator needs a single-valued key: IAM requires a set operator for
            // multivalued keys, and without one the condition does not match (negated or not).
            None => match request {
                ContextValue::Single(v) => self.test_one(v, ctx),
                ContextValue::Multi(_) => false,
            },
        }
    }

    /// One request value against all policy values, in the operator's own sense.
    fn test_one(&self, request: &str, ctx: &Context) -> bool {
        let base = self.operator.base;
        let n = self.values.len();
        let request = &*self.values.prepare(request);
        if base.is_negated() {
            // Every policy value must compare cleanly and not match.
            (0..n).all(|i| self.values.compare(base, i, request, ctx) == Some(false))
        } else {
            (0..n).any(|i| self.values.compare(base, i, request, ctx) == Some(true))
        }
    }

    fn evaluate_missing(&self) -> bool {
        if self.operator.if_exists {
            return true;
        }
        match self.operator.qualifier {
            // "For all values" of an empty set is vacuously true; "for any" is false.
            Some(SetQualifier::ForAllValues) => true,
            Some(SetQualifier::ForAnyValue) => false,
            None => self.operator.base.is_negated(),
        }
    }

    fn evaluate_null(&self, present: bool) -> bool {
        match &self.values {
            Values::Null(wanted) => wanted.iter().any(|w| match w {
                Some(true) => !present,
                Some(false) => present,
                None => false,
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition::new(
            Operator::parse(op).unwrap(),
            key,
            values.iter().map(|s| s.to_string()).collect(),
            true,
        )
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, vs) in pairs {
            if vs.len() == 1 {
                c.insert(k, vs[0]);
            } else {
                c.insert_value(
                    k,
                    ContextValue::Multi(vs.iter().map(|s| s.to_string()).collect()),
                );
            }
        }
        c
    }

    #[test]
    fn missing_key_semantics() {
        let empty = Context::new();
        let cases = [
            ("StringEquals", false),
            ("StringNotEquals", true),
            ("StringLike", false),
            ("StringNotLike", true),
            ("StringEqualsIfExists", true),
            ("StringNotEqualsIfExists", true),
            ("NumericLessThan", false),
            ("NumericNotEquals", true),
            ("DateNotEquals", true),
            ("Bool", false),
            ("BoolIfExists", true),
            ("NotIpAddress", true),
            ("IpAddress", false),
            ("ArnNotLike", true),
            ("ForAllValues:StringEquals", true),
            ("ForAnyValue:StringEquals", false),
            ("ForAllValues:StringNotEquals", true),
            ("ForAnyValue:StringNotEquals", false),
        ];
        for (op, want) in cases {
            assert_eq!(cond(op, "k", &["1"]).evaluate(&empty), want, "{op}");
        }
    }

    #[test]
    fn null_tests_presence() {
        let with = ctx(&[("aws:TokenIssueTime", &["x"])]);
        let without = Context::new();
        assert!(cond("Null", "aws:TokenIssueTime", &["true"]).evaluate(&without));
        assert!(!cond("Null", "aws:TokenIssueTime", &["true"]).evaluate(&with));
        assert!(cond("Null", "aws:TokenIssueTime", &["false"]).evaluate(&with));
        assert!(!cond("Null", "aws:TokenIssueTime", &["false"]).evaluate(&without));
        // An empty multi-valued key counts as absent.
        let empty = ctx(&[]);
        let mut c = empty.clone();
        c.insert_value("aws:TagKeys", ContextValue::Multi(vec![]));
        assert!(cond("Null", "aws:TagKeys", &["true"]).evaluate(&c));
    }

    #[test]
    fn set_qualifiers() {
        let tags = ctx(&[("aws:TagKeys", &["env", "team"])]);
        assert!(
            cond(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                &["env", "team", "x"]
            )
            .evaluate(&tags)
        );
        assert!(!cond("ForAllValues:StringEquals", "aws:TagKeys", &["env"]).evaluate(&tags));
        assert!(cond("ForAnyValue:StringEquals", "aws:TagKeys", &["env"]).evaluate(&tags));
        assert!(!cond("ForAnyValue:StringEquals", "aws:TagKeys", &["x"]).evaluate(&tags));
        // ForAnyValue:StringNotEquals: some request value differs from every policy value.
        assert!(cond("ForAnyValue:StringNotEquals", "aws:TagKeys", &["env"]).evaluate(&tags));
        assert!(
            !cond(
                "ForAnyValue:StringNotEquals",
                "aws:TagKeys",
                &["env", "team"]
            )
            .evaluate(&tags)
        );
        // ForAllValues:StringNotEquals: no request value equals any policy value.
        assert!(!cond("ForAllValues:StringNotEquals", "aws:TagKeys", &["env"]).evaluate(&tags));
        assert!(cond("ForAllValues:StringNotEquals", "aws:TagKeys", &["x"]).evaluate(&tags));
        assert!(cond("ForAnyValue:StringLike", "aws:TagKeys", &["te*"]).evaluate(&tags));
    }

    #[test]
    fn unqualified_operators_on_multivalued_keys_do_not_match() {
        let amr = ctx(&[(
            "cognito-identity.amazonaws.com:amr",
            &["authenticated", "graph.facebook.com"],
        )]);
        let key = "cognito-identity.amazonaws.com:amr";
        assert!(!cond("StringEquals", key, &["authenticated"]).evaluate(&amr));
        assert!(!cond("StringNotEquals", key, &["unauthenticated"]).evaluate(&amr));
        assert!(cond("ForAnyValue:StringEquals", key, &["authenticated"]).evaluate(&amr));
    }

    #[test]
    fn keys_are_case_insensitive_and_values_or() {
        let c = ctx(&[(
            "token.actions.githubusercontent.com:sub",
            &["repo:org/app:ref:refs/heads/main"],
        )]);
        let k = "Token.Actions.GitHubUserContent.com:Sub";
        assert!(cond("StringLike", k, &["repo:other/*", "repo:org/app:*"]).evaluate(&c));
        assert!(!cond("StringLike", k, &["repo:other/*"]).evaluate(&c));
        assert!(!cond("StringNotLike", k, &["repo:other/*", "repo:org/*"]).evaluate(&c));
    }

    #[test]
    fn negated_operators_fail_closed_on_uncomparable_values() {
        let c = ctx(&[("aws:SourceIp", &["not-an-ip"]), ("n", &["x"])]);
        assert!(!cond("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8"]).evaluate(&c));
        assert!(!cond("NumericNotEquals", "n", &["1"]).evaluate(&c));
        assert!(!cond("StringNotEquals", "n", &["${aws:username}"]).evaluate(&c));
    }

    #[test]
    fn variables_resolve_against_the_request() {
        let c = ctx(&[
            ("aws:username", &["bob"]),
            ("s3:prefix", &["home/bob/docs"]),
        ]);
        assert!(cond("StringLike", "s3:prefix", &["home/${aws:username}/*"]).evaluate(&c));
        let c = ctx(&[
            ("aws:username", &["eve"]),
            ("s3:prefix", &["home/bob/docs"]),
        ]);
        assert!(!cond("StringLike", "s3:prefix", &["home/${aws:username}/*"]).evaluate(&c));
    }

    #[test]
    fn referenced_keys_include_variables() {
        let c = cond("StringLike", "s3:prefix", &["home/${aws:username}/*"]);
        assert_eq!(c.referenced_keys(), ["s3:prefix", "aws:username"]);
        let c = cond("StringEquals", "aws:PrincipalTag/Team", &["x"]);
        assert_eq!(c.referenced_keys(), ["aws:PrincipalTag/Team"]);
    }
}
