//! Who a role's trust policy lets in from outside (Access Analyzer's external-access findings
//! for roles): principals of accounts outside a zone of trust, everyone (`"*"`, or `Allow` with
//! `NotPrincipal`), and every subject of a public, multi-tenant OIDC identity provider (GitHub
//! Actions, GitLab, ...) when the statement does not pin the subject to an owner.
//!
//! Follows the engine's semantics ([`super::principal`], [`super::condition`]): a finding is
//! dropped only when the policy provably refuses it — the statement's own conditions restrict
//! the caller's account or organization to the zone, or an unconditioned `Deny` (or one whose
//! only conditions deny every account outside the zone) covers the principal and the actions.
//! Any other condition is taken as not restricting (as Access Analyzer takes unknown ones) and
//! named in the finding's reason. Also holds the public identity providers and the test of a
//! pinned subject that [`super::lint`] uses for `ValidatePolicy`. Pure.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use super::arn::{Arn, is_account_id};
use super::condition::{BaseOp, Condition, Family, SetQualifier};
use super::context::Context;
use super::document::{Clause, Effect, Policy, Statement};
use super::principal::{PrincipalSet, PrincipalType, names_account};

/// How a claim's condition values must pin it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// Only exact values (no wildcard, no policy variable) pin it: ids, owner names.
    Exact,
    /// Exact values, or a pattern whose text before its first wildcard holds this many
    /// complete segments (text ended by `/` or `:`): `repo:myorg/*` holds two (`repo`,
    /// `myorg`), `repo:*` and `repo:myorg*` one.
    Segments(usize),
}

/// What a public identity provider's tokens say about who they were issued to: the claims
/// that pin a subject to one owner, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdpRules {
    /// The claims (the condition key is `PROVIDER:CLAIM`), `sub` first.
    pub claims: &'static [(&'static str, Pin)],
    /// The claims a message names when none pins the subject.
    pub named: &'static [&'static str],
    /// When not empty, a `sub` value pins only if its first segment (the text before its
    /// first `:`) is one of these: the claims that name the owner, where a tenant can choose
    /// which claims its `sub` is made of.
    pub sub_owner_keys: &'static [&'static str],
}

impl IdpRules {
    /// The claims a message names, as condition keys of the provider at `path`:
    /// `P:sub, P:repository or P:repository_owner`.
    pub fn named_keys(&self, path: &str) -> String {
        let keys: Vec<String> = self.named.iter().map(|c| format!("{path}:{c}")).collect();
        match keys.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// Whether these are GitHub Actions' rules (whose finding has its own issue code).
    pub fn is_github(&self) -> bool {
        std::ptr::eq(self, &GITHUB)
    }
}

/// A `sub` of the form `KIND:OWNER...` (GitHub's `repo:org/repo:...`, GitLab's
/// `project_path:group/...`, Terraform Cloud's `organization:org:...`): the kind and the owner.
const OWNER_SUB: Pin = Pin::Segments(2);

/// GitHub Actions: `sub` is `repo:OWNER/REPO:...`, or a template of claims each organization
/// or repository chooses (`include_claim_keys`): `environment:production` or
/// `job_workflow_ref:myorg/...` can be any tenant's, so a `sub` pins only when it begins with
/// a claim naming the owner. `job_workflow_ref` names the reusable workflow, not the repository
/// calling it (any repository may call a public one), so it pins nothing.
static GITHUB: IdpRules = IdpRules {
    claims: &[
        ("sub", OWNER_SUB),
        ("repository", Pin::Segments(1)),
        ("repository_owner", Pin::Exact),
        ("repository_owner_id", Pin::Exact),
        ("repository_id", Pin::Exact),
    ],
    named: &["sub", "repository", "repository_owner"],
    sub_owner_keys: &[
        "repo",
        "repository",
        "repository_owner",
        "repository_owner_id",
        "repository_id",
    ],
};
/// GitLab: `sub` is `project_path:GROUP/PROJECT:ref_type:...`.
static GITLAB: IdpRules = IdpRules {
    claims: &[
        ("sub", OWNER_SUB),
        ("project_path", Pin::Segments(1)),
        ("namespace_path", Pin::Exact),
        ("namespace_id", Pin::Exact),
        ("project_id", Pin::Exact),
    ],
    named: &["sub", "project_path", "namespace_path"],
    sub_owner_keys: &[],
};
/// Terraform Cloud: `sub` is `organization:ORG:project:...`.
static TERRAFORM: IdpRules = IdpRules {
    claims: &[
        ("sub", OWNER_SUB),
        ("terraform_organization_name", Pin::Exact),
        ("terraform_organization_id", Pin::Exact),
    ],
    named: &["sub", "terraform_organization_name"],
    sub_owner_keys: &[],
};
/// CircleCI: `sub` is `org/ORG_ID/project/...` (the issuer names the organization too, but a
/// bare host trusts every organization's).
static CIRCLECI: IdpRules = IdpRules {
    claims: &[("sub", OWNER_SUB)],
    named: &["sub"],
    sub_owner_keys: &[],
};
/// Buildkite: `sub` is `organization:ORG:pipeline:PIPELINE:...`.
static BUILDKITE: IdpRules = IdpRules {
    claims: &[("sub", OWNER_SUB), ("organization_slug", Pin::Exact)],
    named: &["sub", "organization_slug"],
    sub_owner_keys: &["organization"],
};
/// Bitbucket: `sub` is `{REPOSITORY_UUID}:{STEP_UUID}`, pinned by its repository part.
static BITBUCKET: IdpRules = IdpRules {
    claims: &[("sub", Pin::Segments(1))],
    named: &["sub"],
    sub_owner_keys: &[],
};
static GOOGLE: IdpRules = IdpRules {
    claims: &[("sub", Pin::Exact), ("email", Pin::Exact)],
    named: &["sub", "email"],
    sub_owner_keys: &[],
};
/// An issuer an operator names as public (a GitHub Enterprise Server, a self-hosted GitLab, a
/// Buildkite-like service): its `sub` format is not known, so a pattern pins only when it holds
/// two complete segments (`repo:myorg/*`, `project_path:group/*`, `organization:acme:*`), never
/// one (`repo:*`, `organization:*`).
static ADDED: IdpRules = IdpRules {
    claims: &[("sub", OWNER_SUB)],
    named: &["sub"],
    sub_owner_keys: &[],
};

/// OIDC issuers shared by many tenants (host and path, as the provider's ARN names them): a
/// trust on one of them (or on a path under it, such as a GitHub Enterprise's issuer) must pin
/// the subject, or any repository, project or account on that platform can assume the role.
pub static PUBLIC_IDPS: [(&str, &IdpRules); 7] = [
    ("token.actions.githubusercontent.com", &GITHUB),
    ("gitlab.com", &GITLAB),
    ("accounts.google.com", &GOOGLE),
    ("app.terraform.io", &TERRAFORM),
    ("oidc.circleci.com", &CIRCLECI),
    ("api.bitbucket.org", &BITBUCKET),
    ("agent.buildkite.com", &BUILDKITE),
];

/// The public identity providers an analysis knows: [`PUBLIC_IDPS`], the issuers an operator
/// adds (with the two-segment rule of [`ADDED`]), and which issuers each configured provider
/// accepts tokens of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicIdps {
    extra: Vec<String>,
    /// Configured providers: their ARN, and the issuers (host and path) whose tokens they
    /// accept (their own and their `accepted_issuers`).
    providers: Vec<(String, Vec<String>)>,
}

impl PublicIdps {
    /// The built-in providers plus `extra` (issuers as host and path, `https://` and a final
    /// `/` dropped).
    pub fn with(extra: impl IntoIterator<Item = String>) -> PublicIdps {
        PublicIdps {
            extra: extra
                .into_iter()
                .map(|e| {
                    let e = e.strip_prefix("https://").unwrap_or(&e);
                    e.trim_end_matches('/').to_ascii_lowercase()
                })
                .collect(),
            providers: Vec::new(),
        }
    }

    /// Notes that the provider `arn` accepts tokens of `issuers` (URLs, or host and path): a
    /// provider is as public as the most public issuer it accepts, whatever its ARN says.
    /// Each is compared by host and path (scheme, port and a final `/` dropped).
    pub fn with_provider(mut self, arn: &str, issuers: impl IntoIterator<Item = String>) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|i| {
                let rest = i
                    .strip_prefix("https://")
                    .or_else(|| i.strip_prefix("http://"))
                    .unwrap_or(&i)
                    .trim_end_matches('/');
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let host = match host.rsplit_once(':') {
                    Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => host,
                };
                format!("{host}{path}")
            })
            .collect();
        self.providers.push((arn.to_owned(), issuers));
        self
    }

    /// The rules of the public provider a provider path (`HOST/PATH`) belongs to.
    pub fn find(&self, path: &str) -> Option<&'static IdpRules> {
        if let Some((_, rules)) = PUBLIC_IDPS.iter().find(|(i, _)| under(path, i)) {
            return Some(rules);
        }
        self.extra.iter().any(|i| under(path, i)).then_some(&ADDED)
    }

    /// The public issuers whose tokens the `Federated` entry `entry` (of provider path `path`)
    /// lets in, each with its rules: the path's own, then, for a configured provider, each
    /// other issuer it accepts (one entry per set of rules).
    pub fn accepted<'a>(&'a self, entry: &str, path: &'a str) -> Vec<(&'a str, &'static IdpRules)> {
        let configured = self
            .providers
            .iter()
            .filter(|(arn, _)| arn == entry)
            .flat_map(|(_, issuers)| issuers.iter().map(String::as_str));
        let mut out: Vec<(&str, &'static IdpRules)> = Vec::new();
        for issuer in std::iter::once(path).chain(configured) {
            if let Some(rules) = self.find(issuer)
                && !out.iter().any(|(_, r)| std::ptr::eq(*r, rules))
            {
                out.push((issuer, rules));
            }
        }
        out
    }
}

/// Whether `path` is `issuer` or a path below it (hosts compared without case).
fn under(path: &str, issuer: &str) -> bool {
    match (path.get(..issuer.len()), path.get(issuer.len()..)) {
        (Some(head), Some(rest)) => {
            head.eq_ignore_ascii_case(issuer) && (rest.is_empty() || rest.starts_with('/'))
        }
        _ => false,
    }
}

/// The provider path (`HOST/PATH`, the prefix of its condition keys) a `Federated` entry names:
/// an `oidc-provider` ARN's, or a built-in provider's host. `None` for SAML providers.
pub fn oidc_path(entry: &str) -> Option<&str> {
    match Arn::parse(entry) {
        Some(arn) => arn
            .resource
            .strip_prefix("oidc-provider/")
            .filter(|_| arn.service == "iam"),
        None => Some(entry),
    }
}

/// The statement's `Federated` entries that name a public provider's OIDC provider, each with
/// its path and the provider's rules.
pub fn public_providers<'s>(
    statement: &'s Statement,
    idps: &PublicIdps,
) -> Vec<(&'s str, &'s str, &'static IdpRules)> {
    let Some(Clause::Is(set)) = &statement.principal else {
        return Vec::new();
    };
    set.entries
        .iter()
        .filter(|(kind, _)| *kind == PrincipalType::Federated)
        .filter_map(|(_, value)| {
            let path = oidc_path(value)?;
            Some((value.as_str(), path, idps.find(path)?))
        })
        .collect()
}

/// Whether the statement's actions include `sts:AssumeRoleWithWebIdentity`.
pub fn allows_web_identity(statement: &Statement) -> bool {
    allows(statement, WEB_IDENTITY)
}

/// Whether a condition of the statement pins the subject of the provider at `path` to an
/// owner: a positive string condition (no `IfExists`, no `ForAllValues`) on one of the rules'
/// claims, every value of which pins it ([`Pin`]).
pub fn pins_subject(statement: &Statement, path: &str, rules: &IdpRules) -> bool {
    statement.conditions.iter().any(|c| {
        let Some(claim) = c
            .key_lower()
            .strip_prefix(&path.to_ascii_lowercase())
            .and_then(|k| k.strip_prefix(':'))
        else {
            return false;
        };
        let Some((_, pin)) = rules.claims.iter().find(|(name, _)| *name == claim) else {
            return false;
        };
        let owner_keys = if claim == "sub" {
            rules.sub_owner_keys
        } else {
            &[]
        };
        restricts(c)
            && matches!(
                c.operator.base.family(),
                Family::String | Family::StringIgnoreCase | Family::StringLike
            )
            && c.raw_values
                .iter()
                .all(|v| value_pins(c, v, *pin, owner_keys))
    })
}

/// A condition that holds only for requests whose key has one of its values: positive, not
/// `Null`, not `IfExists` (which holds when the key is missing) and not `ForAllValues` (which
/// holds for an empty set).
fn restricts(c: &Condition) -> bool {
    !c.operator.base.is_negated()
        && c.operator.base != BaseOp::Null
        && !c.operator.if_exists
        && c.operator.qualifier != Some(SetQualifier::ForAllValues)
        && !c.raw_values.is_empty()
}

/// The text of a condition value before its first wildcard or policy variable, and whether
/// that is all of it.
fn literal_prefix<'v>(c: &Condition, value: &'v str) -> (&'v str, bool) {
    let wild = c.operator.base.takes_wildcards();
    let end = value
        .char_indices()
        .find(|&(i, ch)| (wild && matches!(ch, '*' | '?')) || value[i..].starts_with("${"))
        .map(|(i, _)| i);
    match end {
        Some(i) => (&value[..i], false),
        None => (value, true),
    }
}

/// Whether a value pins the claim: by `pin`, and when `owner_keys` is not empty, beginning with
/// one of them written out (`repo:...`, not `environment:...` or `re*:...`).
fn value_pins(c: &Condition, value: &str, pin: Pin, owner_keys: &[&str]) -> bool {
    let (prefix, exact) = literal_prefix(c, value);
    if !owner_keys.is_empty()
        && !prefix
            .split_once(':')
            .is_some_and(|(key, _)| owner_keys.iter().any(|k| k.eq_ignore_ascii_case(key)))
    {
        return false;
    }
    if exact {
        return true;
    }
    let Pin::Segments(needed) = pin else {
        return false;
    };
    // Pieces followed by a separator are complete; the last one is not.
    let mut pieces: Vec<&str> = prefix.split(['/', ':']).collect();
    pieces.pop();
    pieces.iter().filter(|p| !p.is_empty()).count() >= needed
}

const ASSUME_ROLE: &str = "sts:assumerole";
const WEB_IDENTITY: &str = "sts:assumerolewithwebidentity";
const SAML: &str = "sts:assumerolewithsaml";

fn allows(statement: &Statement, action: &str) -> bool {
    match &statement.action {
        Some(Clause::Is(patterns)) => patterns.iter().any(|p| p.matches(action)),
        Some(Clause::Not(patterns)) => !patterns.iter().any(|p| p.matches(action)),
        None => false,
    }
}

/// The accounts and organizations whose principals are not external.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneOfTrust {
    pub accounts: BTreeSet<String>,
    /// `o-...` ids, matched against `aws:PrincipalOrgID`.
    pub organizations: BTreeSet<String>,
}

impl ZoneOfTrust {
    fn holds_account(&self, account: &str) -> bool {
        self.accounts.contains(account)
    }
}

/// The kinds of external access, each with a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExternalKind {
    /// A principal (account, root, user or role) of an account outside the zone.
    ExternalAccount,
    /// `"*"` or `{"AWS": "*"}`: every principal of every account.
    AnyPrincipal,
    /// `Allow` with `NotPrincipal`: everyone not listed.
    NotPrincipalAllow,
    /// A public identity provider's tokens, whatever their subject.
    PublicIdpAnySubject,
    /// An `AWS` entry whose account cannot be told (neither an account id nor an IAM ARN).
    UnrecognizedPrincipal,
}

impl ExternalKind {
    pub fn code(self) -> &'static str {
        match self {
            ExternalKind::ExternalAccount => "external_account",
            ExternalKind::AnyPrincipal => "any_principal",
            ExternalKind::NotPrincipalAllow => "not_principal_allow",
            ExternalKind::PublicIdpAnySubject => "public_idp_any_subject",
            ExternalKind::UnrecognizedPrincipal => "unrecognized_principal",
        }
    }
}

/// One way in from outside: what kind, the principal as the policy names it, the `Allow`
/// statement granting it (its index), and why it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccess {
    pub kind: ExternalKind,
    pub principal: String,
    pub statement: usize,
    pub reason: String,
}

/// Who a candidate finding is, for matching it against `Deny` statements.
enum Who<'a> {
    /// Every caller not in the zone (`*`, `NotPrincipal`).
    Anyone,
    Account {
        entry: &'a str,
        account: &'a str,
    },
    Unrecognized(&'a str),
    Provider(&'a str),
}

/// Every way `policy`, the trust policy of the role `role_arn`, lets a principal outside `zone`
/// (or any subject of a public provider) assume the role: one finding per statement, kind and
/// principal, however often the statement lists it.
pub fn external_access(
    policy: &Policy,
    role_arn: &str,
    zone: &ZoneOfTrust,
    idps: &PublicIdps,
) -> Vec<ExternalAccess> {
    let role_account = Arn::parse(role_arn).map_or("", |a| a.account);
    let mut out = Vec::new();
    for st in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        let assume: Vec<&str> = [ASSUME_ROLE, WEB_IDENTITY, SAML]
            .into_iter()
            .filter(|a| allows(st, a))
            .collect();
        if assume.is_empty() {
            continue;
        }
        let limit = zone_limit(&st.conditions, zone);
        if limit == Limit::InZone {
            continue;
        }
        let mut found: Vec<(ExternalKind, String, Who<'_>, Vec<&str>, String)> = Vec::new();
        match &st.principal {
            // `"*"`, or an `AWS` entry of `"*"`: the engine lets every caller in, web
            // identities of any provider included.
            Some(Clause::Is(set)) if set.is_everyone() => found.push((
                ExternalKind::AnyPrincipal,
                "*".to_owned(),
                Who::Anyone,
                assume.clone(),
                "the statement allows every principal (\"*\"): any AWS account and any \
                 identity provider's callers"
                    .to_owned(),
            )),
            Some(Clause::Is(set)) => {
                for (kind, value) in &set.entries {
                    match kind {
                        PrincipalType::Aws if assume.contains(&ASSUME_ROLE) => {
                            match account_of(value) {
                                Some(a) if zone.holds_account(a) => {}
                                Some(account) => found.push((
                                    ExternalKind::ExternalAccount,
                                    value.clone(),
                                    Who::Account {
                                        entry: value,
                                        account,
                                    },
                                    vec![ASSUME_ROLE],
                                    format!(
                                        "account {account} is outside the zone of trust{}",
                                        if value == account || value.ends_with(":root") {
                                            " (every principal its own policies allow)"
                                        } else {
                                            ""
                                        }
                                    ),
                                )),
                                None => found.push((
                                    ExternalKind::UnrecognizedPrincipal,
                                    value.clone(),
                                    Who::Unrecognized(value),
                                    vec![ASSUME_ROLE],
                                    "the principal names no account this analysis can tell \
                                     (neither an account id nor an IAM or STS ARN)"
                                        .to_owned(),
                                )),
                            }
                        }
                        PrincipalType::Federated if assume.contains(&WEB_IDENTITY) => {
                            let Some(path) = oidc_path(value) else {
                                continue;
                            };
                            // A role trusts only its own account's providers (as in IAM).
                            let other_account = Arn::parse(value).is_some_and(|a| {
                                !a.account.is_empty() && a.account != role_account
                            });
                            if other_account {
                                continue;
                            }
                            // Every public issuer the provider takes tokens of must be pinned
                            // (the condition keys are the provider's path's).
                            let Some((issuer, rules)) = idps
                                .accepted(value, path)
                                .into_iter()
                                .find(|(_, rules)| !pins_subject(st, path, rules))
                            else {
                                continue;
                            };
                            let public = if issuer == path {
                                format!("{path} is a public identity provider")
                            } else {
                                format!(
                                    "{path} accepts the tokens of {issuer}, a public identity \
                                     provider,"
                                )
                            };
                            found.push((
                                ExternalKind::PublicIdpAnySubject,
                                value.clone(),
                                Who::Provider(value),
                                vec![WEB_IDENTITY],
                                format!(
                                    "{public} and no condition on {} pins an owner, so any of \
                                     its users, repositories or projects can assume the role",
                                    rules.named_keys(path)
                                ),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Some(Clause::Not(set)) => found.push((
                ExternalKind::NotPrincipalAllow,
                "*".to_owned(),
                Who::Anyone,
                assume.clone(),
                format!(
                    "Allow with NotPrincipal allows every principal except {}",
                    listed(set)
                ),
            )),
            None => {}
        }
        let mut seen = HashSet::new();
        for (kind, principal, who, actions, mut reason) in found {
            if !seen.insert((kind, principal.clone())) {
                continue;
            }
            let mut conditioned_denies = Vec::new();
            if policy.statements.iter().any(|d| {
                d.effect == Effect::Deny
                    && denies(d, &who, &actions, role_arn, zone, &mut conditioned_denies)
            }) {
                continue;
            }
            if let Limit::Outside(what) = &limit {
                let _ = write!(reason, "; its conditions allow {what}");
            }
            let others: Vec<String> = st
                .conditions
                .iter()
                .filter(|c| !(is_zone_key(c.key_lower()) && restricts(c)))
                .map(|c| format!("{} {}", c.operator, c.key))
                .collect();
            if !others.is_empty() {
                let _ = write!(
                    reason,
                    "; its other conditions ({}) are not taken as limiting who may assume it",
                    others.join(", ")
                );
            }
            if !conditioned_denies.is_empty() {
                let _ = write!(
                    reason,
                    "; {} may refuse it under conditions this analysis does not take as proof",
                    conditioned_denies.join(", ")
                );
            }
            out.push(ExternalAccess {
                kind,
                principal,
                statement: st.index,
                reason,
            });
        }
    }
    out
}

/// The entries of a `NotPrincipal`, for a message.
fn listed(set: &PrincipalSet) -> String {
    if set.is_everyone() {
        return "everyone (\"*\")".to_owned();
    }
    set.entries
        .iter()
        .map(|(k, v)| format!("{} {v}", k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The account an `AWS` entry names: an account id, or the account of an IAM or STS ARN.
fn account_of(entry: &str) -> Option<&str> {
    if is_account_id(entry) {
        return Some(entry);
    }
    Arn::parse(entry)
        .filter(|a| matches!(a.service, "iam" | "sts") && is_account_id(a.account))
        .map(|a| a.account)
}

/// What a statement's conditions say about the caller's account.
#[derive(Debug, PartialEq, Eq)]
enum Limit {
    /// Some condition holds only for callers of accounts or organizations in the zone (and
    /// never for a caller without the key, such as a web identity).
    InZone,
    /// A condition limits the accounts, to some outside the zone (described).
    Outside(String),
    None,
}

/// Condition keys naming the caller's (or a service caller's source) account or organization.
const ZONE_KEYS: [&str; 4] = [
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalarn",
];

fn is_zone_key(key_lower: &str) -> bool {
    ZONE_KEYS.contains(&key_lower)
}

fn zone_limit(conditions: &[Condition], zone: &ZoneOfTrust) -> Limit {
    let mut outside = Vec::new();
    for c in conditions
        .iter()
        .filter(|c| is_zone_key(c.key_lower()) && restricts(c))
    {
        if c.raw_values.iter().all(|v| value_in_zone(c, v, zone)) {
            return Limit::InZone;
        }
        outside.push(format!(
            "{} {} {}",
            c.key,
            c.operator,
            c.raw_values.join(", ")
        ));
    }
    if outside.is_empty() {
        Limit::None
    } else {
        Limit::Outside(outside.join(" and "))
    }
}

/// Whether every caller a condition value (of a zone key) matches is in the zone. Only a value
/// without a policy variable proves it: a variable the request cannot resolve makes the
/// comparison fail (a negated operator as much as a positive one), and the caller may choose
/// what one resolves to.
fn value_in_zone(c: &Condition, value: &str, zone: &ZoneOfTrust) -> bool {
    if value.contains("${") {
        return false;
    }
    let (literal, exact) = literal_prefix(c, value);
    let string = matches!(
        c.operator.base.family(),
        Family::String | Family::StringIgnoreCase | Family::StringLike
    );
    match c.key_lower() {
        "aws:principalaccount" | "aws:sourceaccount" => {
            string && exact && zone.holds_account(literal)
        }
        "aws:principalorgid" => string && exact && zone.organizations.contains(literal),
        // An ARN's account part, written without a wildcard.
        _ => {
            (string || c.operator.base.family() == Family::Arn)
                && Arn::parse(value).is_some_and(|a| {
                    is_account_id(a.account)
                        && zone.holds_account(a.account)
                        && literal.len() >= value.len() - a.resource.len()
                })
        }
    }
}

/// Whether the `Deny` statement `d` refuses every caller `who` names for all of `actions` on
/// the role; a `Deny` that would but for conditions it cannot prove is noted in `conditioned`.
fn denies(
    d: &Statement,
    who: &Who<'_>,
    actions: &[&str],
    role_arn: &str,
    zone: &ZoneOfTrust,
    conditioned: &mut Vec<String>,
) -> bool {
    if !actions.iter().all(|a| allows(d, a)) || !on_role(d, role_arn) {
        return false;
    }
    let principal = match &d.principal {
        Some(Clause::Is(set)) if set.is_everyone() => true,
        Some(Clause::Is(set)) => set.entries.iter().any(|(kind, value)| match who {
            Who::Anyone => false,
            // The entry itself, or the whole account as the engine names one (an account id
            // or `arn:PARTITION:iam::ACCOUNT:root`, not an STS ARN or `...:x:root`).
            Who::Account { entry, account } => {
                *kind == PrincipalType::Aws && (value == entry || names_account(value, account))
            }
            Who::Unrecognized(entry) => *kind == PrincipalType::Aws && value == entry,
            Who::Provider(entry) => *kind == PrincipalType::Federated && value == entry,
        }),
        // Everyone except those listed, who escape only by being named themselves (an `AWS`
        // entry of `"*"` names, and so excludes, every caller).
        Some(Clause::Not(set)) => {
            !set.is_everyone()
                && match who {
                    Who::Anyone => set.entries.iter().all(|(kind, value)| {
                        *kind == PrincipalType::Aws
                            && account_of(value).is_some_and(|a| zone.holds_account(a))
                    }),
                    Who::Account { account, .. } => set.entries.iter().all(|(kind, value)| {
                        *kind == PrincipalType::Aws
                            && account_of(value).is_some_and(|a| a != *account)
                    }),
                    // It may be one of the listed principals under another name.
                    Who::Unrecognized(_) => false,
                    Who::Provider(entry) => set.entries.iter().all(|(_, value)| value != entry),
                }
        }
        None => false,
    };
    if !principal {
        return false;
    }
    if d.conditions.is_empty() || d.conditions.iter().all(|c| denies_outside_zone(c, zone)) {
        return true;
    }
    conditioned.push(d.label());
    false
}

/// Whether the `Deny` statement applies to the role (no `Resource`, or one matching its ARN).
/// A pattern with a policy variable proves nothing: the request supplies its value (a session
/// name, a tag), so the caller may choose one that does not match.
fn on_role(d: &Statement, role_arn: &str) -> bool {
    let arn = Arn::parse(role_arn);
    let ctx = Context::default();
    match &d.resource {
        None => true,
        Some(Clause::Is(patterns)) => patterns
            .iter()
            .any(|p| !p.is_dynamic() && p.matches(role_arn, arn.as_ref(), &ctx)),
        Some(Clause::Not(_)) => false,
    }
}

/// A `Deny` condition that holds for every caller outside the zone: a negated comparison of the
/// caller's account or organization with values all in the zone (a caller without the key, such
/// as a web identity, is refused too).
fn denies_outside_zone(c: &Condition, zone: &ZoneOfTrust) -> bool {
    let negated_equality = matches!(
        c.operator.base,
        BaseOp::StringNotEquals
            | BaseOp::StringNotEqualsIgnoreCase
            | BaseOp::StringNotLike
            | BaseOp::ArnNotEquals
            | BaseOp::ArnNotLike
    );
    negated_equality
        && c.operator.qualifier.is_none()
        && matches!(
            c.key_lower(),
            "aws:principalaccount" | "aws:principalorgid" | "aws:principalarn"
        )
        && !c.raw_values.is_empty()
        && c.raw_values.iter().all(|v| value_in_zone(c, v, zone))
}

#[cfg(test)]
mod tests;
