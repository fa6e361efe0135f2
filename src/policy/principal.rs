//! Principals: the caller of a request, and the `Principal` / `NotPrincipal` element that names
//! who a resource-based (or trust) policy applies to (IAM JSON policy reference, "Principal").

use super::arn::{Arn, is_account_id};

/// Identity providers IAM knows without an `oidc-provider` resource; they are named by host.
const BUILT_IN_PROVIDERS: [&str; 4] = [
    "accounts.google.com",
    "graph.facebook.com",
    "www.amazon.com",
    "cognito-identity.amazonaws.com",
];

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM identity: the account root, a user, a role, a role session or a federated user.
    Aws(AwsPrincipal),
    /// A web-identity or SAML provider (`arn:aws:iam::ACCT:oidc-provider/HOST`,
    /// `arn:aws:iam::ACCT:saml-provider/NAME`) or a built-in one such as `accounts.google.com`.
    Federated { provider: String },
    /// An AWS service, e.g. `ec2.amazonaws.com`.
    Service(String),
    /// Unauthenticated callers.
    Anonymous,
}

/// An IAM identity with the ARNs it can be named by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsPrincipal {
    /// The caller's own ARN (for a role session, the session ARN).
    pub arn: String,
    pub account: String,
    pub kind: AwsKind,
    /// For a role session: the role's ARN (path included when known).
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsKind {
    Root,
    User,
    Role,
    AssumedRole,
    FederatedUser,
}

impl Principal {
    /// Reads a caller from its ARN, provider ARN, account id, service name or `*`/`anonymous`.
    pub fn parse(text: &str) -> Option<Principal> {
        if text == "*" || text.eq_ignore_ascii_case("anonymous") {
            return Some(Principal::Anonymous);
        }
        if is_account_id(text) {
            return Some(Principal::Aws(AwsPrincipal {
                arn: format!("arn:aws:iam::{text}:root"),
                account: text.to_owned(),
                kind: AwsKind::Root,
                role_arn: None,
            }));
        }
        let Some(arn) = Arn::parse(text) else {
            if BUILT_IN_PROVIDERS.contains(&text) {
                return Some(Principal::Federated {
                    provider: text.to_owned(),
                });
            }
            return (text.contains('.') && !text.contains(char::is_whitespace))
                .then(|| Principal::Service(text.to_owned()));
        };
        let account = arn.account.to_owned();
        let (kind, role_arn) = match (arn.service, arn.resource.split_once('/')) {
            ("iam", _) if arn.resource == "root" => (AwsKind::Root, None),
            ("iam", Some(("user", _))) => (AwsKind::User, None),
            ("iam", Some(("role", _))) => (AwsKind::Role, None),
            ("iam", Some(("oidc-provider" | "saml-provider", _))) => {
                return Some(Principal::Federated {
                    provider: text.to_owned(),
                });
            }
            ("sts", Some(("assumed-role", rest))) => {
                let role = rest.split_once('/').map_or(rest, |(role, _)| role);
                (
                    AwsKind::AssumedRole,
                    Some(format!("arn:{}:iam::{account}:role/{role}", arn.partition)),
                )
            }
            ("sts", Some(("federated-user", _))) => (AwsKind::FederatedUser, None),
            _ => return None,
        };
        Some(Principal::Aws(AwsPrincipal {
            arn: text.to_owned(),
            account,
            kind,
            role_arn,
        }))
    }

    /// A role session whose role ARN (with its path) is known.
    pub fn assumed_role(session_arn: &str, role_arn: &str) -> Option<Principal> {
        match Principal::parse(session_arn)? {
            Principal::Aws(mut p) if p.kind == AwsKind::AssumedRole => {
                p.role_arn = Some(role_arn.to_owned());
                Some(Principal::Aws(p))
            }
            _ => None,
        }
    }

    /// The account the caller belongs to, when it has one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Aws(p) => Some(&p.account),
            Principal::Federated { provider } => Arn::parse(provider)
                .map(|a| a.account)
                .filter(|a| !a.is_empty()),
            Principal::Service(_) | Principal::Anonymous => None,
        }
    }

    /// The ARN or name the caller is known by.
    pub fn name(&self) -> &str {
        match self {
            Principal::Aws(p) => &p.arn,
            Principal::Federated { provider } => provider,
            Principal::Service(s) => s,
            Principal::Anonymous => "anonymous",
        }
    }

    /// `aws:PrincipalArn`: the role (not the session) for role sessions.
    pub fn principal_arn(&self) -> &str {
        match self {
            Principal::Aws(p) => p.role_arn.as_deref().unwrap_or(&p.arn),
            other => other.name(),
        }
    }
}

/// What a `Principal` element's entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    Aws,
    Federated,
    Service,
    CanonicalUser,
}

impl PrincipalType {
    pub fn from_name(name: &str) -> Option<PrincipalType> {
        match name {
            "AWS" => Some(PrincipalType::Aws),
            "Federated" => Some(PrincipalType::Federated),
            "Service" => Some(PrincipalType::Service),
            "CanonicalUser" => Some(PrincipalType::CanonicalUser),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// How a `Principal` element names the caller, strongest first. The distinction matters: an
/// account-level grant only delegates to the account's own identity policies, and only a grant
/// naming the caller itself reaches past a permissions boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    /// The caller's own ARN (user, role, role session, federated user, provider or service).
    Exact,
    /// `"*"` or `{"AWS": "*"}`.
    Wildcard,
    /// A federated-user session named through its user ARN.
    SessionUser,
    /// A role session named through its role's ARN.
    SessionRole,
    /// The caller's account (`123456789012` or `arn:aws:iam::123456789012:root`).
    Account,
}

/// The compiled value of a `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalSet {
    /// `"*"`, or an `AWS` entry of `"*"`.
    pub everyone: bool,
    pub entries: Vec<(PrincipalType, String)>,
}

impl PrincipalSet {
    /// Whether the set names every caller: `"*"`, or an `AWS` entry of `"*"` (which
    /// [`entry_match`] takes as a wildcard for callers of every kind, web identities included).
    pub fn is_everyone(&self) -> bool {
        self.everyone
            || self
                .entries
                .iter()
                .any(|(kind, value)| *kind == PrincipalType::Aws && value == "*")
    }

    /// The strongest way any entry names the caller.
    pub fn classify(&self, caller: &Principal) -> Option<PrincipalMatch> {
        if self.is_everyone() {
            return Some(PrincipalMatch::Wildcard);
        }
        self.entries
            .iter()
            .filter_map(|(kind, value)| entry_match(*kind, value, caller))
            .min()
    }

    /// `NotPrincipal`: the caller is excluded only when an entry names the caller itself (its
    /// own ARN, or for a role session its role). An account entry excludes only the account's
    /// root: IAM documents that a `Deny` with `NotPrincipal` must list the caller's own ARN.
    pub fn excludes(&self, caller: &Principal) -> bool {
        if self.is_everyone() {
            return true;
        }
        self.entries
            .iter()
            .filter_map(|(kind, value)| entry_match(*kind, value, caller))
            .any(|m| match m {
                PrincipalMatch::Account => {
                    matches!(caller, Principal::Aws(p) if p.kind == AwsKind::Root)
                }
                _ => true,
            })
    }
}

fn entry_match(kind: PrincipalType, value: &str, caller: &Principal) -> Option<PrincipalMatch> {
    if kind == PrincipalType::Aws && value == "*" {
        return Some(PrincipalMatch::Wildcard);
    }
    match (kind, caller) {
        (PrincipalType::Aws, Principal::Aws(p)) => {
            if value == p.arn {
                Some(PrincipalMatch::Exact)
            } else if names_account(value, &p.account) {
                Some(if p.kind == AwsKind::Root {
                    PrincipalMatch::Exact
                } else {
                    PrincipalMatch::Account
                })
            } else if p.kind == AwsKind::AssumedRole
                && p.role_arn
                    .as_deref()
                    .is_some_and(|r| value == r || same_role(value, r))
            {
                Some(PrincipalMatch::SessionRole)
            } else if p.kind == AwsKind::FederatedUser && federated_user_named(value, p) {
                Some(PrincipalMatch::SessionUser)
            } else {
                None
            }
        }
        (PrincipalType::Federated, Principal::Federated { provider }) => {
            (value == provider).then_some(PrincipalMatch::Exact)
        }
        (PrincipalType::Service, Principal::Service(service)) => {
            (value == service).then_some(PrincipalMatch::Exact)
        }
        _ => None,
    }
}

/// Whether an AWS principal entry is an account (id or root ARN) equal to `account`.
pub(crate) fn names_account(value: &str, account: &str) -> bool {
    if is_account_id(value) {
        return value == account;
    }
    Arn::parse(value)
        .is_some_and(|a| a.service == "iam" && a.resource == "root" && a.account == account)
}

/// `arn:aws:iam::ACCT:user/NAME` names the federated-user session `federated-user/NAME`.
fn federated_user_named(value: &str, p: &AwsPrincipal) -> bool {
    let (Some(v), Some(c)) = (Arn::parse(value), Arn::parse(&p.arn)) else {
        return false;
    };
    v.service == "iam"
        && v.account == c.account
        && v.resource.strip_prefix("user/") == c.resource.strip_prefix("federated-user/")
}

/// Role ARNs name the same role when their account and final name agree (a session ARN carries
/// no path, so `role/path/R` and `role/R` are the same role).
fn same_role(a: &str, b: &str) -> bool {
    fn name<'a>(arn: &Arn<'a>) -> Option<&'a str> {
        arn.resource
            .strip_prefix("role/")
            .and_then(|r| r.rsplit('/').next())
    }
    match (Arn::parse(a), Arn::parse(b)) {
        (Some(x), Some(y)) => {
            x.service == "iam"
                && y.service == "iam"
                && x.account == y.account
                && name(&x).is_some()
                && name(&x) == name(&y)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entries: &[(PrincipalType, &str)]) -> PrincipalSet {
        PrincipalSet {
            everyone: false,
            entries: entries.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    #[test]
    fn parses_callers() {
        let user = Principal::parse("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!(user.account(), Some("111122223333"));
        let session = Principal::parse("arn:aws:sts::111122223333:assumed-role/App/s1").unwrap();
        assert_eq!(
            session.principal_arn(),
            "arn:aws:iam::111122223333:role/App"
        );
        let oidc = Principal::parse(
            "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
        )
        .unwrap();
        assert!(matches!(oidc, Principal::Federated { .. }));
        assert_eq!(oidc.account(), Some("111122223333"));
        assert_eq!(
            Principal::parse("ec2.amazonaws.com"),
            Some(Principal::Service("ec2.amazonaws.com".into()))
        );
        assert_eq!(Principal::parse("*"), Some(Principal::Anonymous));
        assert_eq!(
            Principal::parse("accounts.google.com"),
            Some(Principal::Federated {
                provider: "accounts.google.com".into()
            })
        );
        assert!(Principal::parse("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn aws_entries_match_accounts_arns_and_role_sessions() {
        let session = Principal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/App/s1",
            "arn:aws:iam::111122223333:role/team/App",
        )
        .unwrap();
        for value in [
            "111122223333",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:role/team/App",
            "arn:aws:sts::111122223333:assumed-role/App/s1",
            "*",
        ] {
            assert!(
                set(&[(PrincipalType::Aws, value)])
                    .classify(&session)
                    .is_some(),
                "{value}"
            );
        }
        for value in [
            "444455556666",
            "arn:aws:iam::111122223333:role/Other",
            "arn:aws:sts::111122223333:assumed-role/App/s2",
        ] {
            assert!(
                set(&[(PrincipalType::Aws, value)])
                    .classify(&session)
                    .is_none(),
                "{value}"
            );
        }
    }

    #[test]
    fn federated_and_service_entries_match_exactly() {
        let p = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";
        let caller = Principal::parse(p).unwrap();
        assert_eq!(
            set(&[(PrincipalType::Federated, p)]).classify(&caller),
            Some(PrincipalMatch::Exact)
        );
        assert_eq!(
            set(&[(PrincipalType::Aws, "111122223333")]).classify(&caller),
            None
        );
        assert_eq!(set(&[(PrincipalType::Service, p)]).classify(&caller), None);
        let svc = Principal::Service("ec2.amazonaws.com".into());
        assert!(
            set(&[(PrincipalType::Service, "ec2.amazonaws.com")])
                .classify(&svc)
                .is_some()
        );
        assert!(
            set(&[(PrincipalType::Service, "lambda.amazonaws.com")])
                .classify(&svc)
                .is_none()
        );
    }

    #[test]
    fn match_strength() {
        let session = Principal::parse("arn:aws:sts::111122223333:assumed-role/App/s1").unwrap();
        let s = set(&[
            (PrincipalType::Aws, "111122223333"),
            (PrincipalType::Aws, "arn:aws:iam::111122223333:role/App"),
        ]);
        assert_eq!(s.classify(&session), Some(PrincipalMatch::SessionRole));
        let s = set(&[(PrincipalType::Aws, "arn:aws:iam::111122223333:root")]);
        assert_eq!(s.classify(&session), Some(PrincipalMatch::Account));
        let root = Principal::parse("111122223333").unwrap();
        assert_eq!(s.classify(&root), Some(PrincipalMatch::Exact));
    }

    #[test]
    fn not_principal_excludes_only_named_callers() {
        let user = Principal::parse("arn:aws:iam::111122223333:user/bob").unwrap();
        assert!(set(&[(PrincipalType::Aws, "arn:aws:iam::111122223333:user/bob")]).excludes(&user));
        assert!(!set(&[(PrincipalType::Aws, "111122223333")]).excludes(&user));
        assert!(
            !set(&[(PrincipalType::Aws, "arn:aws:iam::111122223333:user/eve")]).excludes(&user)
        );
        assert!(
            !set(&[(PrincipalType::Aws, "arn:aws:iam::111122223333:user/bob")])
                .excludes(&Principal::Anonymous)
        );
    }
}
