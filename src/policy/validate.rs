//! Kind-specific validation of a compiled policy: IAM's `MalformedPolicyDocument` checks, in
//! IAM's own phase order so the first failing phase decides the message ([`check`]). Follows
//! IAM's policy validation as observed from AWS and reproduced by moto
//! (`moto/iam/policy_validation.py`), differing from moto where AWS does (noted on each item).
//! It does not repeat `parse`'s syntax checks, does not look up services, actions or condition
//! keys (that is `lint`), and never rewrites a document.

use std::collections::HashMap;

use super::PolicyType;
use super::condition::{Family, Operator};
use super::document::{Policy, Version};
use super::error::{PolicyError, aws_message as msg};
use super::issue::Issue;
use super::json::Json;

/// AWS's text for a principal in a policy that cannot have one (moto words it differently).
const NO_PRINCIPAL: &str = "Policy document should not specify a principal.";
const RESOURCE_VENDOR: &str = "Resource vendor must be fully qualified and cannot contain regexes.";
const IAM_PATH: &str = "IAM resource path must either be \"*\" or start with user/, \
    federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, \
    sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.";
const IAM_PREFIXES: &str = "user/ federated-user/ role/ group/ instance-profile/ mfa/ \
    server-certificate/ policy/ sms-mfa/ saml-provider/ oidc-provider/ report/ access-report/";
/// Valid partitions, as AWS has them (moto knows `aws` and `*` only).
const PARTITIONS: &str = "aws aws-cn aws-us-gov aws-iso aws-iso-b aws-iso-e aws-iso-f aws-eusc *";

/// One statement as written, with its JSON path (`Statement` or `Statement[i]`).
struct Raw<'j> {
    path: String,
    fields: &'j [(String, Json)],
}

impl<'j> Raw<'j> {
    fn get(&self, key: &str) -> Option<&'j Json> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }
}

fn fail<T>(
    issue: Issue,
    message: &str,
    detail: String,
    path: impl Into<String>,
) -> Result<T, PolicyError> {
    Err(PolicyError::new(issue, message, detail, path))
}

/// Identity, boundary and session policies: IAM's identity rules, Version included.
fn identity_style(t: PolicyType) -> bool {
    matches!(
        t,
        PolicyType::Identity | PolicyType::PermissionsBoundary | PolicyType::Session
    )
}

/// Applies the rules for `policy_type` to a document `parse` has already compiled, in IAM's
/// phase order: version; legacy parsing of Effect, Date values and resources; unique Sids;
/// actions present; resource ARN format; action prefixes; resources present.
///
/// Identity, permissions-boundary and session policies get every rule (sessions may omit
/// `Version`); the other kinds accept `2008-10-17` or no `Version`, and only SCPs also need a
/// `Resource`. Trust statements must name a principal; identity-style and SCP statements must
/// not. An empty `Statement` list is refused for the kinds IAM stores (identity, boundary,
/// session, trust); elsewhere it allows nothing.
pub(crate) fn check(
    json: &Json,
    policy: &Policy,
    policy_type: PolicyType,
) -> Result<(), PolicyError> {
    let statements = statements(json, policy_type)?;
    let no_principal = identity_style(policy_type) || policy_type == PolicyType::Scp;
    principals(&statements, policy_type, no_principal)?;
    if identity_style(policy_type) {
        version(policy, policy_type)?;
    }
    let deferred = legacy(&statements)?;
    unique_sids(&statements)?;
    present(&statements, "Action", Issue::MissingAction, msg::NO_ACTIONS)?;
    if let Some(err) = deferred {
        return Err(err);
    }
    for key in ["Action", "NotAction"] {
        for st in &statements {
            for (action, path) in strings_of(st, key) {
                action_prefix(action, &path)?;
            }
        }
    }
    if no_principal {
        present(
            &statements,
            "Resource",
            Issue::MissingResource,
            msg::NO_RESOURCES,
        )?;
    }
    Ok(())
}

/// The statements in order. An empty list is the one syntax error `parse` leaves to us; only
/// the kinds IAM stores refuse it (for other services' kinds it is a policy allowing nothing).
fn statements(json: &Json, policy_type: PolicyType) -> Result<Vec<Raw<'_>>, PolicyError> {
    let Json::Object(top) = json else {
        return Err(PolicyError::syntax(
            Issue::DataTypeMismatch,
            "a policy must be a JSON object",
            "",
        ));
    };
    match top.iter().find(|(k, _)| k == "Statement").map(|(_, v)| v) {
        Some(Json::Array(items)) if items.is_empty() => {
            if identity_style(policy_type) || policy_type == PolicyType::Trust {
                let detail = "the Statement list is empty; a policy needs a statement";
                return Err(PolicyError::syntax(
                    Issue::MissingStatement,
                    detail,
                    "Statement",
                ));
            }
            Ok(Vec::new())
        }
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| statement(format!("Statement[{i}]"), item))
            .collect(),
        Some(other) => Ok(vec![statement("Statement".to_owned(), other)?]),
        None => Err(PolicyError::syntax(
            Issue::MissingStatement,
            "the policy has no Statement",
            "",
        )),
    }
}

fn statement(path: String, json: &Json) -> Result<Raw<'_>, PolicyError> {
    match json {
        Json::Object(fields) => Ok(Raw { path, fields }),
        other => {
            let detail = format!("a statement must be an object, not {}", other.type_name());
            Err(PolicyError::syntax(Issue::DataTypeMismatch, detail, path))
        }
    }
}

/// Trust statements must name who may assume the role; identity-style ones must name no one.
fn principals(statements: &[Raw], t: PolicyType, forbidden: bool) -> Result<(), PolicyError> {
    for st in statements {
        let key = ["Principal", "NotPrincipal"]
            .into_iter()
            .find(|k| st.get(k).is_some());
        match key {
            None if t == PolicyType::Trust => {
                let detail = "a trust policy statement must name a Principal".to_owned();
                return fail(
                    Issue::MissingPrincipal,
                    msg::SYNTAX,
                    detail,
                    st.path.clone(),
                );
            }
            Some(key) if forbidden => {
                let detail = format!(
                    "{} policies cannot have a {key}; only resource-based and trust policies do",
                    t.name()
                );
                let issue = if t == PolicyType::Scp {
                    Issue::ScpSyntaxErrorPrincipal
                } else {
                    Issue::UnsupportedPrincipal
                };
                return fail(issue, NO_PRINCIPAL, detail, st.at(key));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `2012-10-17` is required; session policies may omit `Version`.
fn version(policy: &Policy, t: PolicyType) -> Result<(), PolicyError> {
    let name = t.name();
    match (policy.version_given, policy.version) {
        (true, Version::V2012_10_17) => Ok(()),
        (false, _) if t == PolicyType::Session => Ok(()),
        (false, _) => {
            let detail = format!("no Version; {name} policies need \"Version\": \"2012-10-17\"");
            fail(Issue::MissingVersion, msg::VERSION, detail, "")
        }
        (true, v) => {
            let detail = format!(
                "Version is \"{}\"; {name} policies need \"2012-10-17\"",
                v.as_str()
            );
            fail(Issue::InvalidVersion, msg::VERSION, detail, "Version")
        }
    }
}

/// "The policy failed legacy parsing": exact Effect and Date values over every statement, then
/// the resources. Returns the resource-format error IAM reports later (the last one found).
fn legacy(statements: &[Raw]) -> Result<Option<PolicyError>, PolicyError> {
    for st in statements {
        // `parse` has made sure Effect is a string matching allow or deny in any case.
        if let Some(Json::String(e)) = st.get("Effect")
            && e != "Allow"
            && e != "Deny"
        {
            let detail = format!("Effect must be exactly \"Allow\" or \"Deny\" (found \"{e}\")");
            return fail(Issue::InvalidEffect, msg::LEGACY, detail, st.at("Effect"));
        }
        dates(st)?;
    }
    let mut deferred = None;
    for key in ["Resource", "NotResource"] {
        for st in statements {
            let Some(value) = st.get(key) else { continue };
            let mut resources = strings_of(st, key);
            resources.sort_by(|a, b| b.0.cmp(a.0)); // IAM checks a list in descending order.
            for (resource, path) in resources {
                if let Some((issue, message, detail)) = resource_format(resource) {
                    deferred = Some(PolicyError::new(issue, &message, detail, path));
                }
            }
            if deferred.is_none() {
                legacy_resource(value, &st.at(key))?;
            }
        }
    }
    Ok(deferred)
}

/// Every value under a `Date*` operator must be a date IAM's legacy parser reads. As AWS (unlike
/// moto): numbers are accepted as condition values (`"NumericLessThan": {"s3:max-keys": 10}`)
/// and epoch-second numbers as `Date*` values, and an unknown condition operator with an empty
/// object is accepted (`parse` skips it).
fn dates(st: &Raw) -> Result<(), PolicyError> {
    let Some(Json::Object(operators)) = st.get("Condition") else {
        return Ok(());
    };
    for (op, block) in operators {
        let is_date = Operator::parse(op).is_some_and(|o| o.base.family() == Family::Date);
        let (true, Json::Object(keys)) = (is_date, block) else {
            continue;
        };
        for (key, values) in keys {
            let path = format!("{}.Condition.{op}.{key}", st.path);
            match values {
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        date(item, format!("{path}[{i}]"))?;
                    }
                }
                single => date(single, path)?,
            }
        }
    }
    Ok(())
}

fn date(value: &Json, path: String) -> Result<(), PolicyError> {
    let text = match value {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        other => {
            let detail = format!(
                "a date must be a string or a number, not {}",
                other.type_name()
            );
            return fail(Issue::TypeMismatchDate, msg::LEGACY, detail, path);
        }
    };
    if date_value(&text) {
        return Ok(());
    }
    let detail =
        format!("\"{text}\" is not an ISO 8601 date (2024-01-31T12:00:00Z) or epoch seconds");
    fail(Issue::TypeMismatchDate, msg::LEGACY, detail, path)
}

/// IAM's legacy date reading: ISO 8601 when there is a `T` or a `-`, else epoch seconds.
fn date_value(s: &str) -> bool {
    let lower = s.to_lowercase();
    if lower.contains('t') || s.contains('-') {
        iso8601(&lower)
    } else {
        int_in(s, 0, i128::from(i64::MAX))
    }
}

/// The legacy ISO 8601 reader, quirks included: one-digit hours, only `Z` or `+hh` offsets, and
/// anything after a third `:` in the time ignored.
fn iso8601(d: &str) -> bool {
    let (date, time) = d.split_once('t').unwrap_or((d, ""));
    let (sign, unsigned) = date
        .strip_prefix('-')
        .map_or(("", date), |rest| ("-", rest));
    let parts: Vec<&str> = unsigned.split('-').collect();
    let [year, rest @ ..] = parts.as_slice() else {
        return false;
    };
    let time: Vec<&str> = time.split(':').collect();
    int_in(&format!("{sign}{year}"), -292_275_054, 292_278_993)
        && rest.len() <= 2
        && rest.first().is_none_or(|m| int_in(m, 1, 12))
        && rest.get(1).is_none_or(|d| int_in(d, 1, 31))
        && time
            .first()
            .is_none_or(|h| h.is_empty() || int_in(h, 0, 23))
        && time.get(1).is_none_or(|m| int_in(m, 0, 59))
        && time.get(2).is_none_or(|s| seconds(s))
}

fn seconds(s: &str) -> bool {
    let sec = match (s.split_once('z'), s.split_once('+')) {
        (Some((sec, "")), _) => sec,
        (Some(_), _) => return false,
        (None, Some((sec, hours))) if hours.chars().count() == 2 && int_in(hours, 0, 23) => sec,
        (None, Some(_)) => return false,
        (None, None) => s,
    };
    match sec.split_once('.') {
        Some((whole, frac)) => int_in(whole, 0, 59) && int_in(frac, 0, 999_999_999),
        None => int_in(sec, 0, 59),
    }
}

/// Whether `s` reads as an integer in `lo..=hi` the way Python's `int()` reads it (surrounding
/// whitespace, one sign, `_` between digits).
fn int_in(s: &str, lo: i128, hi: i128) -> bool {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.split('_').any(str::is_empty) {
        return false; // empty, or `_` not between two digits
    }
    let digit = |n: i128, c: char| n.checked_mul(10)?.checked_add(i128::from(c.to_digit(10)?));
    let n = digits.chars().filter(|c| *c != '_').try_fold(0, digit);
    n.is_some_and(|n| (lo..=hi).contains(&if negative { -n } else { n }))
}

/// The legacy resource reader: an empty field needs the full six-field form, and a single
/// resource needs a service.
fn legacy_resource(value: &Json, path: &str) -> Result<(), PolicyError> {
    let short = |r: &str| r != "*" && r.matches(':').count() < 5 && r.contains("::");
    let why = |r: &str, what: &str| format!("resource \"{r}\" has {what}");
    const SHORT: &str = "an empty field but fewer than six fields";
    match value {
        Json::String(r) if short(r) => {
            fail(Issue::MissingArnField, msg::LEGACY, why(r, SHORT), path)
        }
        Json::String(r) if r != "*" && r.split(':').nth(2).is_none_or(str::is_empty) => fail(
            Issue::MissingArnField,
            msg::LEGACY,
            why(r, "an empty service field"),
            path,
        ),
        Json::Array(items) => match items.iter().enumerate().find_map(|(i, item)| match item {
            Json::String(r) if short(r) => Some((i, r)),
            _ => None,
        }) {
            Some((i, r)) => fail(
                Issue::MissingArnField,
                msg::LEGACY,
                why(r, SHORT),
                format!("{path}[{i}]"),
            ),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The resource-format error for one resource, as its issue, IAM's message and our detail, if
/// any.
/// `arn:aws:iam::ACCOUNT:root` is a valid IAM resource, as on AWS (not to moto).
fn resource_format(r: &str) -> Option<(Issue, String, String)> {
    if r == "*" {
        return None;
    }
    let Some((_, rest)) = r.split_once(':') else {
        let detail = format!("\"{r}\" is not an ARN (arn:partition:service:region:account:id)");
        return Some((
            Issue::InvalidArnPrefix,
            format!("Resource {r} must be in ARN format or \"*\"."),
            detail,
        ));
    };
    let (partition, rest) = rest
        .split_once(':')
        .map_or((rest, None), |(p, r)| (p, Some(r)));
    if !PARTITIONS.split(' ').any(|p| p == partition) {
        // IAM echoes the resource as a six-field ARN, `*` standing in for missing fields.
        let p: Vec<&str> = rest.unwrap_or("").split(':').collect();
        let present = |i: usize, f: &&str| i > 0 || p.len() > 1 || !f.is_empty();
        let field = |i: usize| p.get(i).copied().filter(|f| present(i, f)).unwrap_or("*");
        let last = p
            .get(3..)
            .filter(|t| !t.is_empty())
            .map_or("*".into(), |t| t.join(":"));
        let arn = format!(
            "arn:{partition}:{}:{}:{}:{last}",
            field(0),
            field(1),
            field(2)
        );
        let message = format!("Partition \"{partition}\" is not valid for resource \"{arn}\".");
        return Some((
            Issue::InvalidPartition,
            message,
            format!("\"{partition}\" is not one of {PARTITIONS}"),
        ));
    }
    let Some(rest) = rest else {
        let detail = format!("\"{r}\" has no service after its partition");
        return Some((Issue::MissingArnField, RESOURCE_VENDOR.to_owned(), detail));
    };
    let (service, after_service) = rest.split_once(':').unwrap_or((rest, ""));
    let resource_id = after_service.splitn(3, ':').nth(2).unwrap_or("");
    let regional = !after_service.starts_with(':');
    if service == "iam" && regional {
        let message = format!("IAM resource {r} cannot contain region information.");
        return Some((
            Issue::ArnRegionNotAllowed,
            message,
            format!("\"{r}\" names a region, but IAM is global"),
        ));
    }
    if service == "s3" && regional && !resource_id.starts_with("accesspoint/") {
        let message = format!("Resource {r} can not contain region information.");
        let detail = format!("\"{r}\" names a region; of S3 ARNs only access points have one");
        return Some((Issue::ArnRegionNotAllowed, message, detail));
    }
    let known = |id: &str| id == "root" || IAM_PREFIXES.split(' ').any(|p| id.starts_with(p));
    if service == "iam" && !known(resource_id) {
        let detail = format!("\"{resource_id}\" in \"{r}\" is not root or an IAM resource path");
        return Some((Issue::InvalidArnResource, IAM_PATH.to_owned(), detail));
    }
    None
}

/// Statement IDs that are not empty must be unique (compared exactly).
fn unique_sids(statements: &[Raw]) -> Result<(), PolicyError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for st in statements {
        let Some(Json::String(sid)) = st.get("Sid") else {
            continue;
        };
        if let Some(first) = seen.insert(sid, &st.path).filter(|_| !sid.is_empty()) {
            let detail = format!("Sid \"{sid}\" is used by {first} and {}", st.path);
            return fail(
                Issue::UniqueSidsRequired,
                msg::DUPLICATE_SID,
                detail,
                st.at("Sid"),
            );
        }
    }
    Ok(())
}

/// Every statement has `is` or `Not{is}`, and a list form is not empty.
fn present(statements: &[Raw], is: &str, issue: Issue, message: &str) -> Result<(), PolicyError> {
    let not = &format!("Not{is}");
    for st in statements {
        match (st.get(is), st.get(not)) {
            (None, None) => {
                return fail(
                    issue,
                    message,
                    format!("the statement has no {is} or {not}"),
                    st.path.clone(),
                );
            }
            (Some(Json::Array(a)), _) if a.is_empty() => {
                return fail(issue, message, format!("{is} is empty"), st.at(is));
            }
            (None, Some(Json::Array(a))) if a.is_empty() => {
                return fail(issue, message, format!("{not} is empty"), st.at(not));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The strings of a string-or-list element, each with its path; `null` items are skipped.
fn strings_of<'j>(st: &Raw<'j>, key: &str) -> Vec<(&'j str, String)> {
    let path = st.at(key);
    match st.get(key) {
        Some(Json::String(s)) => vec![(s.as_str(), path)],
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Json::String(s) => Some((s.as_str(), format!("{path}[{i}]"))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An action is `vendor:name` (or `*`), the vendor made of letters, digits, `-` and `.`.
fn action_prefix(action: &str, path: &str) -> Result<(), PolicyError> {
    let parts: Vec<&str> = action.split(':').collect();
    let vendor = parts.first().copied().unwrap_or("");
    if parts.len() == 1 && vendor != "*" {
        let detail = format!("action \"{action}\" has no service prefix (as in \"s3:GetObject\")");
        return fail(Issue::InvalidAction, msg::NO_VENDOR, detail, path);
    }
    if parts.len() > 2 {
        let detail = format!(
            "action \"{action}\" has {} colons, not one",
            parts.len() - 1
        );
        return fail(Issue::InvalidAction, msg::ONE_COLON, detail, path);
    }
    let vendor_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if vendor != "*" && !vendor.chars().all(vendor_char) {
        let detail = format!("service prefix \"{vendor}\" may hold only letters, digits, - and .");
        let message = format!("Vendor {vendor} is not valid");
        return fail(Issue::InvalidServiceInAction, &message, detail, path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse;

    const OK: &str = r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#;

    fn kind(name: &str) -> PolicyType {
        let all = [
            PolicyType::Identity,
            PolicyType::PermissionsBoundary,
            PolicyType::Session,
            PolicyType::Scp,
            PolicyType::Trust,
            PolicyType::Resource,
        ];
        all.into_iter().find(|t| format!("{t:?}") == name).unwrap()
    }

    /// `kind | IAM's message or ok | path or - | Statement`, `OK` standing for a valid body.
    const CASES: &[&str] = &[
        "Identity | Syntax errors in policy. | Statement | []",
        "Trust | Syntax errors in policy. | Statement | []",
        "Scp | ok | - | []",
        r#"Trust | Syntax errors in policy. | Statement | {"Effect":"Allow","Action":"sts:AssumeRole"}"#,
        r#"Trust | ok | - | {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
        r#"Identity | Policy document should not specify a principal. | Statement[1].Principal | [{OK},{"Principal":"*",OK}]"#,
        r#"PermissionsBoundary | Policy document should not specify a principal. | Statement.NotPrincipal | {"NotPrincipal":"*",OK}"#,
        r#"Session | Policy document should not specify a principal. | Statement.Principal | {"Principal":"*",OK}"#,
        r#"Scp | Policy document should not specify a principal. | Statement.Principal | {"Principal":"*",OK}"#,
        r#"Resource | ok | - | {"Principal":"*",OK}"#,
        r#"Identity | The policy failed legacy parsing | Statement.Effect | {"Effect":"allow","Action":"s3:*","Resource":"*"}"#,
        r#"Trust | The policy failed legacy parsing | Statement.Effect | {"Effect":"deny","Principal":"*","Action":"sts:AssumeRole"}"#,
        r#"Identity | The policy failed legacy parsing | Statement.Condition.DateLessThanIfExists.k[2] | {OK,"Condition":{"DateLessThanIfExists":{"k":["2020-01-01",1500000000,"x"]}}}"#,
        r#"Identity | ok | - | {OK,"Condition":{"NumericLessThan":{"s3:max-keys":10}}}"#,
        r#"Identity | The policy failed legacy parsing | Statement.Resource | {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws::::b"}"#,
        r#"Identity | The policy failed legacy parsing | Statement.NotResource[1] | {"Effect":"Allow","Action":"s3:*","NotResource":["*","arn:aws:s3::b"]}"#,
        r#"Resource | Statement IDs (SID) in a single policy must be unique. | Statement[3].Sid | [{"Sid":"a",OK},{"Sid":"",OK},{"Sid":"",OK},{"Sid":"a",OK}]"#,
        r#"Scp | Policy statement must contain actions. | Statement[0] | [{"Effect":"Deny","Resource":"*"}]"#,
        r#"Identity | Policy statement must contain actions. | Statement.Action | {"Effect":"Deny","Action":[],"Resource":"*"}"#,
        r#"Identity | Policy statement must contain actions. | Statement | {"Effect":"Allow","Resource":"bucket"}"#,
        r#"Identity | Partition "error" is not valid for resource "arn:error:s3:::b". | Statement.Resource[0] | {"Effect":"Allow","Action":"s:3:x","Resource":["arn:error:s3:::b","arn:error:s3::b"]}"#,
        r#"Identity | ok | - | {"Effect":"Allow","Action":"s3:*","Resource":["arn:aws-cn:s3:::b","arn:aws:iam::123456789012:root"]}"#,
        r#"Identity | Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. | Statement.Action[1] | {"Effect":"Allow","Action":["s3:*",""],"Resource":"*"}"#,
        r#"Identity | Actions/Condition can contain only one colon. | Statement.NotAction | {"Effect":"Allow","NotAction":"s3:a:b","Resource":"*"}"#,
        r#"Identity | Vendor a a is not valid | Statement.Action | {"Effect":"Allow","Action":"a a:ListBucket","Resource":"*"}"#,
        r#"Identity | ok | - | {"Effect":"Allow","Action":["*","iam: x ","s3-s.x:Get*",":x"],"Resource":"*"}"#,
        r#"Identity | Policy statement must contain resources. | Statement[1] | [{OK},{"Effect":"Allow","Action":"s3:*"}]"#,
        r#"Session | Policy statement must contain resources. | Statement.Resource | {"Effect":"Allow","Action":"s3:*","Resource":[]}"#,
        r#"Scp | Policy statement must contain resources. | Statement | {"Effect":"Allow","Action":"s3:*"}"#,
        r#"Resource | ok | - | {"Effect":"Allow","Principal":"*","Action":"s3:*"}"#,
    ];

    #[test]
    fn each_phase_and_kind_rule() {
        for case in CASES {
            let [t, message, path, statement] = case.splitn(4, " | ").collect::<Vec<_>>()[..]
            else {
                panic!("malformed case {case}");
            };
            let text =
                format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#).replace("OK", OK);
            match parse(&text, kind(t)) {
                Ok(_) => assert_eq!(message, "ok", "{case}"),
                Err(e) => assert_eq!(
                    (e.aws_message.as_str(), e.path.as_str()),
                    (message, path),
                    "{case}"
                ),
            }
        }
    }

    #[test]
    fn details_say_what_is_wrong() {
        let detail = |t: &str, statement: &str| {
            let text = format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#);
            parse(&text.replace("OK", OK), kind(t)).unwrap_err().detail
        };
        let effect = detail(
            "Identity",
            r#"{"Effect":"allow","Action":"s3:*","Resource":"*"}"#,
        );
        assert_eq!(
            effect,
            r#"Effect must be exactly "Allow" or "Deny" (found "allow")"#
        );
        let trust = detail("Trust", r#"{"Effect":"Allow","Action":"sts:AssumeRole"}"#);
        assert_eq!(trust, "a trust policy statement must name a Principal");
        let sid = detail("Identity", r#"[{"Sid":"a",OK},{"Sid":"a",OK}]"#);
        assert_eq!(sid, r#"Sid "a" is used by Statement[0] and Statement[1]"#);
    }

    #[test]
    fn version_rules_depend_on_the_kind() {
        let with = |version: &str| format!(r#"{{{version}"Statement":{{"Principal":"*",{OK}}}}}"#);
        let (missing, old) = (with(""), with(r#""Version":"2008-10-17","#));
        for t in [PolicyType::Identity, PolicyType::PermissionsBoundary] {
            let no_principal = missing.replace(r#""Principal":"*","#, "");
            assert_eq!(
                parse(&no_principal, t).unwrap_err().aws_message,
                msg::VERSION
            );
        }
        let old_session = old.replace(r#""Principal":"*","#, "");
        let err = parse(&old_session, PolicyType::Session).unwrap_err();
        assert_eq!(
            (err.aws_message.as_str(), err.path.as_str()),
            (msg::VERSION, "Version")
        );
        assert!(
            parse(
                &missing.replace(r#""Principal":"*","#, ""),
                PolicyType::Session
            )
            .is_ok()
        );
        for t in [PolicyType::Resource, PolicyType::Rcp, PolicyType::Endpoint] {
            assert!(
                parse(&missing, t).is_ok() && parse(&old, t).is_ok(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn legacy_dates_and_python_integers() {
        let good = [
            "2017-07-01T00:00:00Z",
            "01T",
            "2016-12-13t2:00:00.593194+23",
            "-292275054",
        ];
        for good in good
            .into_iter()
            .chain(["1500000000", "2016-12-13T21:20:37.5+00:00"])
        {
            assert!(date_value(good), "{good}");
        }
        let bad = [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.5+1",
            "2016-12-13t2:00:00.1999999999+10",
        ];
        for bad in bad
            .into_iter()
            .chain(["9223372036854775808", "2020-01-01T10:00:00-05:00", ""])
        {
            assert!(!date_value(bad), "{bad}");
        }
        assert!(int_in(" +1_0 ", 10, 10));
        assert!(!int_in("1__0", 0, 100) && !int_in("_1", 0, 9) && !int_in("-+1", -9, 9));
        assert!(!int_in(
            "99999999999999999999999999999999999999999",
            0,
            i128::MAX
        ));
    }

    #[test]
    fn resource_format_messages() {
        let cases = [
            ("bucket", r#"Resource bucket must be in ARN format or "*"."#),
            (
                "a:b:c:d:e:f:g:h",
                r#"Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h"."#,
            ),
            (
                "a:bsd",
                r#"Partition "bsd" is not valid for resource "arn:bsd:*:*:*:*"."#,
            ),
            ("arn:aws", RESOURCE_VENDOR),
            (
                "arn:aws:iam:eu-west-1::user/x",
                "IAM resource arn:aws:iam:eu-west-1::user/x cannot contain region information.",
            ),
            (
                "arn:aws:s3:eu-west-1::b",
                "Resource arn:aws:s3:eu-west-1::b can not contain region information.",
            ),
            ("arn:aws:iam::123456789012:thing/x", IAM_PATH),
        ];
        for (r, message) in cases {
            assert_eq!(resource_format(r).unwrap().1, message, "{r}");
        }
        let ok = [
            "*",
            "arn:aws-us-gov:iam::1:root",
            "arn:aws-eusc:ec2:*:*:*",
            "arn:aws:s3:r:1:accesspoint/a",
        ];
        for r in ok {
            assert!(resource_format(r).is_none(), "{r}");
        }
    }
}
