//! The local cache of revocations: hash maps consulted on every authenticated request. Pure: no
//! I/O, no clock (times are arguments), no async. Merging is monotonic — an entry only ever
//! revokes more — so entries may arrive in any order, twice, or both by message and by resync.

use std::collections::HashMap;

use super::{Entry, Rule};

/// Why a session or token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Revoked {
    #[error("the session was revoked")]
    Session,
    #[error("the session's subject was revoked")]
    Subject,
    #[error("the session's role was revoked")]
    Role,
    #[error("the session's IAM user was revoked")]
    User,
    /// The long-term access key the session was created with was deactivated or deleted.
    #[error("the session's access key was deactivated or deleted")]
    AccessKey,
    /// The web identity token or SAML assertion (the session's identity proof) was revoked.
    #[error("the identity token or assertion was revoked")]
    Proof,
    /// The cache has not heard from the store for too long to be trusted: fail closed.
    #[error("revocations could not be confirmed with the store")]
    Unconfirmed,
}

/// Sessions issued at or before `issued_up_to` are revoked; the cut-off is kept until
/// `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    issued_up_to: i64,
    expires_at: i64,
}

impl Cut {
    /// Both the later cut-off and the later expiry: never revokes less than either did.
    fn merge(&mut self, other: Cut) {
        self.issued_up_to = self.issued_up_to.max(other.issued_up_to);
        self.expires_at = self.expires_at.max(other.expires_at);
    }
}

/// What one session looks like to the index.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    pub access_key_id: &'a str,
    pub role_arn: Option<&'a str>,
    /// The IAM user the session belongs to or was created by.
    pub user_arn: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub issued_at: i64,
    /// Digest of the identity proof (web identity token, SAML assertion) it was issued for.
    pub proof_sha256: Option<&'a str>,
    /// When that proof was issued (`iat`, `IssueInstant`).
    pub proof_issued_at: Option<i64>,
    /// The long-term access key it was created with, and that key's generation then.
    pub long_term_key: Option<(&'a str, i64)>,
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Access key id → until when it is kept.
    sessions: HashMap<String, i64>,
    /// Provider ARN → subject → cut-off.
    subjects: HashMap<String, HashMap<String, Cut>>,
    /// Role ARN → cut-off.
    roles: HashMap<String, Cut>,
    /// User ARN → cut-off.
    users: HashMap<String, Cut>,
    /// Long-term access key id → cut-off on the key's generation (not a time): sessions
    /// created at a generation up to it are revoked.
    keys: HashMap<String, Cut>,
    /// Long-term access key id → cut-off on the issue time of the sessions created with it
    /// (the configuration file's keys, whose generation never moves).
    key_times: HashMap<String, Cut>,
    /// Hex SHA-256 of a web identity token or SAML assertion → until when it is kept.
    tokens: HashMap<String, i64>,
}

impl Index {
    pub fn apply(&mut self, entry: &Entry) {
        match &entry.rule {
            Rule::Session { access_key_id } => {
                let until = self.sessions.entry(access_key_id.clone()).or_default();
                *until = (*until).max(entry.expires_at);
            }
            Rule::Subject {
                provider,
                subject,
                issued_up_to,
            } => {
                let cut = Cut {
                    issued_up_to: *issued_up_to,
                    expires_at: entry.expires_at,
                };
                self.subjects
                    .entry(provider.clone())
                    .or_default()
                    .entry(subject.clone())
                    .and_modify(|c| c.merge(cut))
                    .or_insert(cut);
            }
            Rule::Role {
                role_arn,
                issued_up_to,
            } => {
                let cut = Cut {
                    issued_up_to: *issued_up_to,
                    expires_at: entry.expires_at,
                };
                self.roles
                    .entry(role_arn.clone())
                    .and_modify(|c| c.merge(cut))
                    .or_insert(cut);
            }
            Rule::User {
                user_arn,
                issued_up_to,
            } => {
                let cut = Cut {
                    issued_up_to: *issued_up_to,
                    expires_at: entry.expires_at,
                };
                self.users
                    .entry(user_arn.clone())
                    .and_modify(|c| c.merge(cut))
                    .or_insert(cut);
            }
            Rule::AccessKey {
                access_key_id,
                generation_up_to,
                issued_up_to,
            } => {
                let (cuts, up_to) = match issued_up_to {
                    Some(t) => (&mut self.key_times, *t),
                    None => (&mut self.keys, *generation_up_to),
                };
                let cut = Cut {
                    issued_up_to: up_to,
                    expires_at: entry.expires_at,
                };
                cuts.entry(access_key_id.clone())
                    .and_modify(|c| c.merge(cut))
                    .or_insert(cut);
            }
            Rule::WebIdentityToken { sha256 } | Rule::SamlAssertion { sha256 } => {
                let until = self.tokens.entry(sha256.clone()).or_default();
                *until = (*until).max(entry.expires_at);
            }
        }
    }

    /// Drops what expired at or before `now`: every session it covered has ended.
    pub fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, until| *until > now);
        self.tokens.retain(|_, until| *until > now);
        self.roles.retain(|_, cut| cut.expires_at > now);
        self.users.retain(|_, cut| cut.expires_at > now);
        self.keys.retain(|_, cut| cut.expires_at > now);
        self.key_times.retain(|_, cut| cut.expires_at > now);
        for subjects in self.subjects.values_mut() {
            subjects.retain(|_, cut| cut.expires_at > now);
        }
        self.subjects.retain(|_, subjects| !subjects.is_empty());
    }

    /// Whether it holds a rule for a web identity token or SAML assertion by digest.
    pub fn has_proof_rules(&self) -> bool {
        !self.tokens.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
            && self.subjects.is_empty()
            && self.roles.is_empty()
            && self.users.is_empty()
            && self.keys.is_empty()
            && self.key_times.is_empty()
            && self.tokens.is_empty()
    }

    /// Entries held (a subject or role counts once, whatever its cut-offs).
    pub fn len(&self) -> usize {
        self.sessions.len()
            + self.tokens.len()
            + self.roles.len()
            + self.users.len()
            + self.keys.len()
            + self.key_times.len()
            + self.subjects.values().map(HashMap::len).sum::<usize>()
    }

    /// Whether a session is revoked: by its access key or its identity proof, or by a cut-off
    /// for its role or user at or after its issue time, or for its subject at or after the
    /// issue time of its proof (or of the session, whichever is earlier). No allocation.
    pub fn check(&self, s: &SessionFacts<'_>) -> Result<(), Revoked> {
        if self.sessions.contains_key(s.access_key_id) {
            return Err(Revoked::Session);
        }
        if let Some(proof) = s.proof_sha256
            && self.tokens.contains_key(proof)
        {
            return Err(Revoked::Proof);
        }
        let covers = |cut: Option<&Cut>| cut.is_some_and(|c| s.issued_at <= c.issued_up_to);
        if let Some(role) = s.role_arn
            && covers(self.roles.get(role))
        {
            return Err(Revoked::Role);
        }
        if let Some(user) = s.user_arn
            && covers(self.users.get(user))
        {
            return Err(Revoked::User);
        }
        if let Some((key, generation)) = s.long_term_key
            && self
                .keys
                .get(key)
                .is_some_and(|c| generation <= c.issued_up_to)
        {
            return Err(Revoked::AccessKey);
        }
        if let Some((key, _)) = s.long_term_key
            && covers(self.key_times.get(key))
        {
            return Err(Revoked::AccessKey);
        }
        if let (Some(provider), Some(subject)) = (s.provider, s.subject) {
            let issued = s
                .proof_issued_at
                .map_or(s.issued_at, |p| p.min(s.issued_at));
            if self.subject_cut_covers(provider, subject, issued) {
                return Err(Revoked::Subject);
            }
        }
        Ok(())
    }

    /// Whether an identity proof (web identity token, SAML assertion) may still be exchanged:
    /// not revoked itself, and not issued (`iat`, `IssueInstant`) at or before a revocation of
    /// its subject.
    pub fn check_proof(
        &self,
        provider: &str,
        subject: &str,
        issued_at: i64,
        sha256: &str,
    ) -> Result<(), Revoked> {
        if self.tokens.contains_key(sha256) {
            return Err(Revoked::Proof);
        }
        if self.subject_cut_covers(provider, subject, issued_at) {
            return Err(Revoked::Subject);
        }
        Ok(())
    }

    fn subject_cut_covers(&self, provider: &str, subject: &str, issued_at: i64) -> bool {
        self.subjects
            .get(provider)
            .and_then(|subjects| subjects.get(subject))
            .is_some_and(|c| issued_at <= c.issued_up_to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rule: Rule, expires_at: i64) -> Entry {
        Entry {
            rule,
            revoked_at: 100,
            expires_at,
        }
    }

    fn session<'a>(
        akid: &'a str,
        role: &'a str,
        subject: &'a str,
        issued_at: i64,
    ) -> SessionFacts<'a> {
        SessionFacts {
            access_key_id: akid,
            role_arn: Some(role),
            user_arn: None,
            provider: Some("p"),
            subject: Some(subject),
            issued_at,
            proof_sha256: None,
            proof_issued_at: None,
            long_term_key: None,
        }
    }

    #[test]
    fn each_rule_revokes_what_it_names_and_nothing_else() {
        let mut index = Index::default();
        assert!(index.is_empty());
        index.apply(&entry(
            Rule::Session {
                access_key_id: "ASIA1".into(),
            },
            1000,
        ));
        index.apply(&entry(
            Rule::Role {
                role_arn: "r".into(),
                issued_up_to: 100,
            },
            1000,
        ));
        index.apply(&entry(
            Rule::Subject {
                provider: "p".into(),
                subject: "alice".into(),
                issued_up_to: 200,
            },
            1000,
        ));
        let cases = [
            (session("ASIA1", "other", "bob", 500), Err(Revoked::Session)),
            (session("ASIA2", "r", "bob", 100), Err(Revoked::Role)),
            (session("ASIA2", "r", "bob", 101), Ok(())),
            (
                session("ASIA2", "other", "alice", 200),
                Err(Revoked::Subject),
            ),
            (session("ASIA2", "other", "alice", 201), Ok(())),
            (session("ASIA2", "other", "bob", 0), Ok(())),
        ];
        for (facts, want) in cases {
            assert_eq!(index.check(&facts), want, "{facts:?}");
        }
        // The same subject under another provider is someone else.
        let elsewhere = SessionFacts {
            provider: Some("q"),
            ..session("ASIA3", "x", "alice", 0)
        };
        assert_eq!(index.check(&elsewhere), Ok(()));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn tokens_are_refused_by_digest_or_when_issued_before_their_subject_was_revoked() {
        let mut index = Index::default();
        assert!(!index.has_proof_rules());
        index.apply(&entry(
            Rule::WebIdentityToken {
                sha256: "abc".into(),
            },
            1000,
        ));
        index.apply(&entry(
            Rule::Subject {
                provider: "p".into(),
                subject: "alice".into(),
                issued_up_to: 200,
            },
            1000,
        ));
        assert!(index.has_proof_rules());
        assert_eq!(
            index.check_proof("p", "bob", 500, "abc"),
            Err(Revoked::Proof)
        );
        assert_eq!(index.check_proof("p", "bob", 500, "def"), Ok(()));
        assert_eq!(
            index.check_proof("p", "alice", 200, "def"),
            Err(Revoked::Subject)
        );
        assert_eq!(index.check_proof("p", "alice", 201, "def"), Ok(()));
        // Sessions issued for a revoked proof are refused too (its siblings), and a session
        // issued after a subject's cut for a proof issued before it.
        let sibling = SessionFacts {
            proof_sha256: Some("abc"),
            ..session("ASIA9", "r", "bob", 900)
        };
        assert_eq!(index.check(&sibling), Err(Revoked::Proof));
        let late = SessionFacts {
            proof_issued_at: Some(150),
            ..session("ASIA8", "r", "alice", 900)
        };
        assert_eq!(index.check(&late), Err(Revoked::Subject));
        let fresh = SessionFacts {
            proof_issued_at: Some(201),
            ..session("ASIA8", "r", "alice", 900)
        };
        assert_eq!(index.check(&fresh), Ok(()));
    }

    #[test]
    fn merging_keeps_the_later_cut_off_and_expiry_in_any_order() {
        let early = entry(
            Rule::Role {
                role_arn: "r".into(),
                issued_up_to: 100,
            },
            5000,
        );
        let late = entry(
            Rule::Role {
                role_arn: "r".into(),
                issued_up_to: 300,
            },
            4000,
        );
        for order in [[&early, &late], [&late, &early]] {
            let mut index = Index::default();
            for e in order {
                index.apply(e);
                index.apply(e);
            }
            assert_eq!(
                index.roles.get("r"),
                Some(&Cut {
                    issued_up_to: 300,
                    expires_at: 5000
                })
            );
        }
    }

    #[test]
    fn a_key_rule_revokes_the_generations_up_to_its_cut_only() {
        let mut index = Index::default();
        index.apply(&entry(
            Rule::AccessKey {
                access_key_id: "AKIA1".into(),
                generation_up_to: 0,
                issued_up_to: None,
            },
            1000,
        ));
        let made_with = |key: &'static str, generation: i64| SessionFacts {
            long_term_key: Some((key, generation)),
            ..session("ASIA5", "r", "s", 900)
        };
        assert_eq!(index.check(&made_with("AKIA1", 0)), Err(Revoked::AccessKey));
        // Made active again: the next generation's sessions work; another key's too.
        assert_eq!(index.check(&made_with("AKIA1", 1)), Ok(()));
        assert_eq!(index.check(&made_with("AKIA2", 0)), Ok(()));
        // Deactivated again later: the later cut wins whatever the order.
        index.apply(&entry(
            Rule::AccessKey {
                access_key_id: "AKIA1".into(),
                generation_up_to: 1,
                issued_up_to: None,
            },
            2000,
        ));
        index.apply(&entry(
            Rule::AccessKey {
                access_key_id: "AKIA1".into(),
                generation_up_to: 0,
                issued_up_to: None,
            },
            1000,
        ));
        assert_eq!(index.check(&made_with("AKIA1", 1)), Err(Revoked::AccessKey));
        assert_eq!(index.check(&made_with("AKIA1", 2)), Ok(()));
        index.prune(1500);
        assert_eq!(index.len(), 1);
        index.prune(2000);
        assert!(index.is_empty());
    }

    #[test]
    fn a_file_key_rule_revokes_the_sessions_issued_up_to_its_cut_only() {
        let mut index = Index::default();
        index.apply(&entry(
            Rule::AccessKey {
                access_key_id: "AKIA1".into(),
                generation_up_to: i64::MAX,
                issued_up_to: Some(1000),
            },
            5000,
        ));
        let made_with = |key: &'static str, issued_at: i64| SessionFacts {
            long_term_key: Some((key, 0)),
            ..session("ASIA5", "r", "s", issued_at)
        };
        assert_eq!(
            index.check(&made_with("AKIA1", 1000)),
            Err(Revoked::AccessKey)
        );
        // Listed again later: its new sessions work; another key's always did.
        assert_eq!(index.check(&made_with("AKIA1", 1001)), Ok(()));
        assert_eq!(index.check(&made_with("AKIA2", 900)), Ok(()));
        assert_eq!(index.len(), 1);
        index.prune(5000);
        assert!(index.is_empty());
    }

    #[test]
    fn a_file_key_rule_reads_as_before_without_its_time() {
        // What a build without `issued_up_to` wrote reads as a generation rule, and a rule
        // with it is written so that such a build ends every session of the key.
        let old = r#"{"kind":"AccessKey","access_key_id":"AKIA1","generation_up_to":3}"#;
        let rule: Rule = serde_json::from_str(old).unwrap();
        assert_eq!(
            rule,
            Rule::AccessKey {
                access_key_id: "AKIA1".into(),
                generation_up_to: 3,
                issued_up_to: None,
            }
        );
        assert_eq!(serde_json::to_string(&rule).unwrap(), old);
        let new = Rule::AccessKey {
            access_key_id: "AKIA1".into(),
            generation_up_to: i64::MAX,
            issued_up_to: Some(1000),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(
            text.contains(&format!("\"generation_up_to\":{}", i64::MAX)),
            "{text}"
        );
    }

    #[test]
    fn pruning_drops_only_what_expired() {
        let mut index = Index::default();
        index.apply(&entry(
            Rule::Session {
                access_key_id: "old".into(),
            },
            150,
        ));
        index.apply(&entry(
            Rule::Session {
                access_key_id: "live".into(),
            },
            250,
        ));
        index.apply(&entry(
            Rule::Subject {
                provider: "p".into(),
                subject: "s".into(),
                issued_up_to: 100,
            },
            150,
        ));
        index.prune(150);
        assert_eq!(index.len(), 1);
        assert!(index.subjects.is_empty());
        assert_eq!(
            index.check(&session("live", "r", "s", 0)),
            Err(Revoked::Session)
        );
    }
}
