//! Policy errors and warnings. Every error carries the stable AWS code
//! (`MalformedPolicyDocument`), the message IAM itself would give, and a precise description of
//! what is wrong and where.

use std::fmt;

use super::issue::Issue;

/// The AWS error code for every invalid policy.
pub const MALFORMED_POLICY_DOCUMENT: &str = "MalformedPolicyDocument";

/// IAM's messages, verbatim (they are what AWS SDK users search for).
pub mod aws_message {
    pub const SYNTAX: &str = "Syntax errors in policy.";
    pub const VERSION: &str = "Policy document must be version 2012-10-17 or greater.";
    pub const LEGACY: &str = "The policy failed legacy parsing";
    pub const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";
    pub const NO_ACTIONS: &str = "Policy statement must contain actions.";
    pub const NO_RESOURCES: &str = "Policy statement must contain resources.";
    pub const NO_VENDOR: &str =
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
    pub const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
    pub const TOO_LARGE: &str = "Policy document is too large.";
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// Which check failed, as Access Analyzer's issue code names it.
    pub issue: Issue,
    /// IAM's message for this class of error.
    pub aws_message: String,
    /// What exactly is wrong, in our words.
    pub detail: String,
    /// Where: a JSON path such as `Statement[1].Condition.StringEquals`, empty for the document.
    pub path: String,
}

impl PolicyError {
    pub fn new(
        issue: Issue,
        aws_message: &str,
        detail: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        PolicyError {
            issue,
            aws_message: aws_message.to_owned(),
            detail: detail.into(),
            path: path.into(),
        }
    }

    pub(crate) fn syntax(issue: Issue, detail: impl Into<String>, path: impl Into<String>) -> Self {
        PolicyError::new(issue, aws_message::SYNTAX, detail, path)
    }

    /// Always `MalformedPolicyDocument`.
    pub fn code(&self) -> &'static str {
        MALFORMED_POLICY_DOCUMENT
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.aws_message)?;
        if !self.detail.is_empty() && self.detail != self.aws_message {
            write!(f, " {}", self.detail)?;
        }
        if !self.path.is_empty() {
            write!(f, " (at {})", self.path)?;
        }
        Ok(())
    }
}

/// A finding that does not make the policy invalid but probably is not what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable identifier, e.g. `wildcard-in-string-equals`.
    pub code: &'static str,
    /// The same finding as Access Analyzer's issue code names it.
    pub issue: Issue,
    pub message: String,
    /// Statement index (0-based), when the warning belongs to one.
    pub statement: Option<usize>,
    pub sid: Option<String>,
    /// Where in the statement (or, without one, the document) the finding points, as far as
    /// the compiled policy knows: keys as written or as IAM spells them (operators), indexes.
    pub at: Vec<PathStep>,
}

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// The value of an object's key.
    Key(String),
    /// An array's item.
    Index(usize),
    /// The item of an array that is this string, or the value itself when it is this string
    /// (compiled lists skip `null` items, so their indexes may not be the document's).
    Text(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.statement, &self.sid) {
            (Some(i), Some(sid)) if !sid.is_empty() => {
                write!(f, "statement {} (Sid \"{sid}\"): ", i + 1)?
            }
            (Some(i), _) => write!(f, "statement {}: ", i + 1)?,
            (None, _) => {}
        }
        write!(f, "{} [{}]", self.message, self.code)
    }
}
