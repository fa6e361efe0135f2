//! From JSON text to a compiled [`Policy`]: the syntax checks IAM reports as
//! "Syntax errors in policy.", each with a precise description and JSON path, then compilation
//! of every pattern and condition. Kind-specific rules live in `validate`.

use super::PolicyType;
use super::condition::{Condition, Operator};
use super::document::{ActionPattern, Clause, Effect, Policy, ResourcePattern, Statement, Version};
use super::error::{PolicyError, aws_message};
use super::issue::Issue;
use super::json::Json;
use super::principal::{PrincipalSet, PrincipalType};
use super::validate;

/// Largest policy text accepted at all (IAM's own limits are smaller and depend on the kind).
pub const MAX_POLICY_BYTES: usize = 128 * 1024;

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Parses, validates for its type and compiles a policy document.
pub fn parse(text: &str, policy_type: PolicyType) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::new(
            Issue::PolicySizeExceedsMaximum,
            aws_message::TOO_LARGE,
            format!(
                "the document is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                text.len()
            ),
            "",
        ));
    }
    let json = Json::parse(text).map_err(|e| {
        PolicyError::syntax(Issue::JsonSyntaxError, format!("invalid JSON: {e}"), "")
    })?;
    let policy = compile(&json)?;
    validate::check(&json, &policy, policy_type)?;
    Ok(policy)
}

fn compile(json: &Json) -> Result<Policy, PolicyError> {
    let Json::Object(entries) = json else {
        return Err(PolicyError::syntax(
            Issue::DataTypeMismatch,
            format!("a policy must be a JSON object, not {}", json.type_name()),
            "",
        ));
    };
    let mut version = None;
    let mut id = None;
    let mut statements = None;
    for (key, value) in entries {
        match key.as_str() {
            "Version" => {
                version = Some(match value {
                    Json::String(v) if v == "2012-10-17" => Version::V2012_10_17,
                    Json::String(v) if v == "2008-10-17" => Version::V2008_10_17,
                    other => {
                        return Err(PolicyError::syntax(
                            Issue::InvalidVersion,
                            format!(
                                "Version must be \"2012-10-17\" or \"2008-10-17\", not {}",
                                describe(other)
                            ),
                            "Version",
                        ));
                    }
                })
            }
            "Id" => match value {
                Json::String(s) => id = Some(s.clone()),
                other => {
                    return Err(PolicyError::syntax(
                        Issue::DataTypeMismatch,
                        format!("Id must be a string, not {}", other.type_name()),
                        "Id",
                    ));
                }
            },
            "Statement" => statements = Some(value),
            other => {
                return Err(PolicyError::syntax(
                    Issue::InvalidPolicyElement,
                    format!("unknown element \"{other}\" (a policy has Version, Id and Statement)"),
                    other,
                ));
            }
        }
    }
    let substitute = version == Some(Version::V2012_10_17);
    let statements = match statements {
        None => {
            return Err(PolicyError::syntax(
                Issue::MissingStatement,
                "the policy has no Statement",
                "",
            ));
        }
        Some(object @ Json::Object(_)) => vec![statement(object, 0, "Statement", substitute)?],
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| statement(s, i, &format!("Statement[{i}]"), substitute))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(PolicyError::syntax(
                Issue::DataTypeMismatch,
                format!(
                    "Statement must be an object or a list of objects, not {}",
                    other.type_name()
                ),
                "Statement",
            ));
        }
    };
    Ok(Policy {
        version: version.unwrap_or(Version::V2008_10_17),
        version_given: version.is_some(),
        id,
        statements,
    })
}

fn statement(
    json: &Json,
    index: usize,
    path: &str,
    substitute: bool,
) -> Result<Statement, PolicyError> {
    let Json::Object(entries) = json else {
        return Err(PolicyError::syntax(
            Issue::DataTypeMismatch,
            format!("a statement must be an object, not {}", json.type_name()),
            path,
        ));
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    if let Some((key, _)) = entries
        .iter()
        .find(|(k, _)| !STATEMENT_KEYS.contains(&k.as_str()))
    {
        return Err(PolicyError::syntax(
            Issue::InvalidPolicyElement,
            format!(
                "unknown element \"{key}\" (a statement has Sid, Effect, Principal, NotPrincipal, \
                 Action, NotAction, Resource, NotResource and Condition)"
            ),
            format!("{path}.{key}"),
        ));
    }
    for (a, b) in [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ] {
        if get(a).is_some() && get(b).is_some() {
            return Err(PolicyError::syntax(
                Issue::UnsupportedElementCombination,
                format!("a statement cannot have both {a} and {b}"),
                path,
            ));
        }
    }
    let sid = match get("Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(PolicyError::syntax(
                Issue::DataTypeMismatch,
                format!("Sid must be a string, not {}", other.type_name()),
                format!("{path}.Sid"),
            ));
        }
    };
    let effect = match get("Effect") {
        None => {
            return Err(PolicyError::syntax(
                Issue::MissingEffect,
                "the statement has no Effect",
                path,
            ));
        }
        Some(Json::String(e)) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(Json::String(e)) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(other) => {
            return Err(PolicyError::syntax(
                Issue::InvalidEffect,
                format!(
                    "Effect must be \"Allow\" or \"Deny\", not {}",
                    describe(other)
                ),
                format!("{path}.Effect"),
            ));
        }
    };
    let action = clause(&get, "Action", "NotAction", |v| {
        strings(v, false, &format!("{path}.Action")).map(|items| {
            items
                .iter()
                .map(|s| ActionPattern::new(s))
                .collect::<Vec<_>>()
        })
    })?;
    let resource = clause(&get, "Resource", "NotResource", |v| {
        strings(v, true, &format!("{path}.Resource")).map(|items| {
            items
                .iter()
                .map(|s| ResourcePattern::new(s, substitute))
                .collect::<Vec<_>>()
        })
    })?;
    let principal = clause(&get, "Principal", "NotPrincipal", |v| {
        principal_set(v, &format!("{path}.Principal"))
    })?;
    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c, &format!("{path}.Condition"), substitute)?,
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn clause<'j, T>(
    get: &impl Fn(&str) -> Option<&'j Json>,
    is: &str,
    not: &str,
    compile: impl Fn(&'j Json) -> Result<T, PolicyError>,
) -> Result<Option<Clause<T>>, PolicyError> {
    Ok(match (get(is), get(not)) {
        (Some(v), _) => Some(Clause::Is(compile(v)?)),
        (None, Some(v)) => Some(Clause::Not(compile(v)?)),
        (None, None) => None,
    })
}

/// A string or a list of strings; `allow_null` skips `null` list items (IAM accepts them in
/// `Resource` lists).
fn strings(json: &Json, allow_null: bool, path: &str) -> Result<Vec<String>, PolicyError> {
    match json {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => out.push(s.clone()),
                    Json::Null if allow_null => {}
                    other => {
                        return Err(PolicyError::syntax(
                            Issue::DataTypeMismatch,
                            format!("list items must be strings, not {}", other.type_name()),
                            format!("{path}[{i}]"),
                        ));
                    }
                }
            }
            Ok(out)
        }
        other => Err(PolicyError::syntax(
            Issue::DataTypeMismatch,
            format!(
                "must be a string or a list of strings, not {}",
                other.type_name()
            ),
            path,
        )),
    }
}

fn principal_set(json: &Json, path: &str) -> Result<PrincipalSet, PolicyError> {
    match json {
        Json::String(s) if s == "*" => Ok(PrincipalSet {
            everyone: true,
            entries: Vec::new(),
        }),
        // A bare ARN or account id reads as `{"AWS": ...}`.
        Json::String(s) => {
            principal_value(None, s, path)?;
            Ok(PrincipalSet {
                everyone: false,
                entries: vec![(PrincipalType::Aws, s.clone())],
            })
        }
        Json::Object(entries) => {
            let mut set = PrincipalSet {
                everyone: false,
                entries: Vec::new(),
            };
            for (key, value) in entries {
                let Some(kind) = PrincipalType::from_name(key) else {
                    return Err(PolicyError::syntax(
                        Issue::InvalidPrincipalKey,
                        format!(
                            "unknown principal type \"{key}\" (expected AWS, Federated, Service or CanonicalUser)"
                        ),
                        format!("{path}.{key}"),
                    ));
                };
                let key_path = format!("{path}.{key}");
                for v in strings(value, false, &key_path)? {
                    principal_value(Some(key), &v, &key_path)?;
                    if kind == PrincipalType::Aws && v == "*" {
                        set.everyone = true;
                    }
                    set.entries.push((kind, v));
                }
            }
            Ok(set)
        }
        other => Err(PolicyError::syntax(
            Issue::InvalidPrincipalFormat,
            format!(
                "Principal must be \"*\", an ARN or an object such as {{\"AWS\": ...}}, not {}",
                describe(other)
            ),
            path,
        )),
    }
}

/// A principal is compared as written, so one with white space around it is refused rather
/// than trimmed: `" *"` must not read as `"*"` in one place (the engine's wildcard) and as
/// something else in another. IAM refuses it as an invalid principal too.
fn principal_value(kind: Option<&str>, value: &str, path: &str) -> Result<(), PolicyError> {
    if value.trim() == value {
        return Ok(());
    }
    let written = format!("\"{}\"", value.escape_debug());
    let named = match kind {
        Some(kind) => format!("\"{kind}\":{written}"),
        None => written.clone(),
    };
    Err(PolicyError::new(
        Issue::InvalidPrincipalFormat,
        &format!("Invalid principal in policy: {named}"),
        format!(
            "the principal {written} begins or ends with white space; write it without (\"*\" \
             for everyone, or an account id or ARN)"
        ),
        path,
    ))
}

fn conditions(json: &Json, path: &str, substitute: bool) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(blocks) = json else {
        return Err(PolicyError::syntax(
            Issue::DataTypeMismatch,
            format!("Condition must be an object, not {}", json.type_name()),
            path,
        ));
    };
    let mut out = Vec::new();
    for (op_name, block) in blocks {
        let op_path = format!("{path}.{op_name}");
        let Json::Object(keys) = block else {
            return Err(PolicyError::syntax(
                Issue::DataTypeMismatch,
                format!(
                    "the value of condition operator {op_name} must be an object of condition keys, not {}",
                    block.type_name()
                ),
                op_path,
            ));
        };
        let Some(operator) = Operator::parse(op_name) else {
            if keys.is_empty() {
                // IAM accepts (and ignores) an unknown operator with no keys; `lint` reports it.
                continue;
            }
            return Err(PolicyError::syntax(
                Issue::InvalidConditionOperator,
                format!("unknown condition operator \"{op_name}\""),
                op_path,
            ));
        };
        for (key, values) in keys {
            let key_path = format!("{op_path}.{key}");
            let raw = condition_values(values, &key_path)?;
            out.push(Condition::new(operator, key, raw, substitute));
        }
    }
    Ok(out)
}

/// Condition values: a scalar or a list of scalars (strings, numbers, booleans).
fn condition_values(json: &Json, path: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |j: &Json, p: &str| {
        j.as_scalar_text().ok_or_else(|| {
            PolicyError::syntax(
                Issue::DataTypeMismatch,
                format!(
                    "condition values must be strings, numbers or booleans, not {}",
                    j.type_name()
                ),
                p,
            )
        })
    };
    match json {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, j)| scalar(j, &format!("{path}[{i}]")))
            .collect(),
        other => Ok(vec![scalar(other, path)?]),
    }
}

fn describe(json: &Json) -> String {
    match json {
        Json::String(s) => format!("\"{s}\""),
        other => other.type_name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> PolicyError {
        parse(text, PolicyType::Resource).unwrap_err()
    }

    fn doc(statement: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#)
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let cases: &[(String, &str, &str)] = &[
            ("not json".into(), "invalid JSON", ""),
            ("[]".into(), "must be a JSON object", ""),
            (r#"{"Version":"2012-10-17"}"#.into(), "no Statement", ""),
            (
                r#"{"Version":"2013-10-17","Statement":[]}"#.into(),
                "Version must be",
                "Version",
            ),
            (
                r#"{"Version":"2012-10-17","Id":[],"Statement":[]}"#.into(),
                "Id must be a string",
                "Id",
            ),
            (
                r#"{"Version":"2012-10-17","Extra":1,"Statement":[]}"#.into(),
                "unknown element \"Extra\"",
                "Extra",
            ),
            (doc(r#""x""#), "Statement must be an object", "Statement"),
            (
                doc(r#"["x"]"#),
                "statement must be an object",
                "Statement[0]",
            ),
            (
                doc(r#"{"Action":"s3:*","Resource":"*"}"#),
                "no Effect",
                "Statement",
            ),
            (
                doc(r#"{"Effect":"Maybe","Action":"s3:*","Resource":"*"}"#),
                "Effect must be",
                "Statement.Effect",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","NotAction":"c:d","Resource":"*"}"#),
                "both Action and NotAction",
                "Statement",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"*"}"#),
                "both Resource and NotResource",
                "Statement",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Principal":"*","NotPrincipal":"*"}"#),
                "both Principal and NotPrincipal",
                "Statement",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":{},"Resource":"*"}"#),
                "string or a list of strings",
                "Statement.Action",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":["a:b",1],"Resource":"*"}"#),
                "list items must be strings",
                "Statement.Action[1]",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Sid":1}"#),
                "Sid must be a string",
                "Statement.Sid",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Bogus":1}"#),
                "unknown element \"Bogus\"",
                "Statement.Bogus",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Principal":{"Users":"x"}}"#),
                "unknown principal type",
                "Statement.Principal.Users",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Principal":7}"#),
                "Principal must be",
                "Statement.Principal",
            ),
            (
                doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":[]}"#),
                "Condition must be an object",
                "Statement.Condition",
            ),
            (
                doc(
                    r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":"x"}}"#,
                ),
                "must be an object of condition keys",
                "Statement.Condition.StringEquals",
            ),
            (
                doc(
                    r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEqual":{"k":"v"}}}"#,
                ),
                "unknown condition operator \"StringEqual\"",
                "Statement.Condition.StringEqual",
            ),
            (
                doc(
                    r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}"#,
                ),
                "strings, numbers or booleans",
                "Statement.Condition.StringEquals.k",
            ),
            (
                doc(
                    r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"k":[null]}}}"#,
                ),
                "strings, numbers or booleans",
                "Statement.Condition.StringEquals.k[0]",
            ),
        ];
        for (text, detail, path) in cases {
            let e = err(text);
            assert_eq!(e.aws_message, aws_message::SYNTAX, "{text}");
            assert_eq!(e.code(), "MalformedPolicyDocument");
            assert!(e.detail.contains(detail), "{text}: {}", e.detail);
            assert_eq!(e.path, *path, "{text}");
        }
    }

    #[test]
    fn principals_with_white_space_are_refused_not_trimmed() {
        for (principal, named, path) in [
            (r#"" *""#, r#"" *""#, "Statement.Principal"),
            ("\"*\\t\"", r#""*\t""#, "Statement.Principal"),
            (
                r#"{"AWS":" *"}"#,
                r#""AWS":" *""#,
                "Statement.Principal.AWS",
            ),
            (
                r#"{"AWS":["111122223333","arn:aws:iam::999988887777:root "]}"#,
                r#""AWS":"arn:aws:iam::999988887777:root ""#,
                "Statement.Principal.AWS",
            ),
            (
                r#"{"Federated":" accounts.google.com"}"#,
                r#""Federated":" accounts.google.com""#,
                "Statement.Principal.Federated",
            ),
        ] {
            for element in ["Principal", "NotPrincipal"] {
                let text = doc(&format!(
                    r#"{{"Effect":"Deny","{element}":{principal},"Action":"sts:AssumeRole"}}"#
                ));
                let e = parse(&text, PolicyType::Trust).unwrap_err();
                assert_eq!(e.issue, Issue::InvalidPrincipalFormat, "{text}");
                assert_eq!(e.code(), "MalformedPolicyDocument");
                assert_eq!(
                    e.aws_message,
                    format!("Invalid principal in policy: {named}"),
                    "{text}"
                );
                assert!(e.detail.contains("white space"), "{}", e.detail);
                assert_eq!(e.path, path, "{text}");
            }
        }
        // Exactly "*" is everyone, in either form.
        for principal in [r#""*""#, r#"{"AWS":"*"}"#] {
            let text = doc(&format!(
                r#"{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}"#
            ));
            let p = parse(&text, PolicyType::Trust).unwrap();
            assert!(
                p.statements[0]
                    .principal
                    .as_ref()
                    .unwrap()
                    .inner()
                    .is_everyone()
            );
        }
    }

    #[test]
    fn duplicate_condition_blocks_are_rejected_not_merged() {
        let text = doc(
            r#"{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":"*","Condition":{
                "StringEquals":{"issuer:sub":"repo:acme/app:ref:refs/heads/main"},
                "StringEquals":{"issuer:aud":"sts.amazonaws.com"}}}"#,
        );
        let e = err(&text);
        assert!(
            e.detail.contains("duplicate key \"StringEquals\""),
            "{}",
            e.detail
        );
        assert!(e.detail.contains("line 3"), "{}", e.detail);
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let text = format!(r#"{{"Id":"{}"}}"#, "x".repeat(MAX_POLICY_BYTES));
        assert_eq!(err(&text).aws_message, aws_message::TOO_LARGE);
    }

    #[test]
    fn compiles_every_element() {
        let p = parse(
            &doc(r#"[{"Sid":"A","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"],"Federated":"arn:aws:iam::111122223333:saml-provider/x"},
                "NotAction":"iam:*","NotResource":["arn:aws:s3:::secret",null],
                "Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":3600},"Bool":{"aws:SecureTransport":true}}},
              {"Effect":"Deny","NotPrincipal":"arn:aws:iam::111122223333:root","Action":"*"}]"#),
            PolicyType::Resource,
        )
        .unwrap();
        assert_eq!(p.version, Version::V2012_10_17);
        let s = &p.statements[0];
        assert_eq!(s.sid.as_deref(), Some("A"));
        assert!(s.action.as_ref().unwrap().is_not());
        assert_eq!(s.resource.as_ref().unwrap().inner().len(), 1);
        assert_eq!(s.principal.as_ref().unwrap().inner().entries.len(), 3);
        assert_eq!(s.conditions[0].raw_values, ["3600"]);
        assert_eq!(s.conditions[1].raw_values, ["true"]);
        assert!(p.statements[1].principal.as_ref().unwrap().is_not());
        assert_eq!(p.statements[1].index, 1);
    }

    #[test]
    fn missing_version_is_2008_and_keeps_variables_literal() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}"}}"#,
            PolicyType::Resource,
        )
        .unwrap();
        assert_eq!(p.version, Version::V2008_10_17);
        assert!(!p.version_given);
    }
}
