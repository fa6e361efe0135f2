//! `[signin]` checked: how many failed sign-ins lock a user, and for how long (see
//! docs/operations.md, "Signing in with a password").

use std::time::Duration;

use super::check::Checker;
use super::file::SignInSection;

/// `max_failures`' range and default.
pub const MAX_FAILURES: std::ops::RangeInclusive<i64> = 1..=100;
pub const DEFAULT_MAX_FAILURES: u32 = 5;
/// `lockout_seconds`' range (a minute to a day) and default (15 minutes).
pub const LOCKOUT_SECONDS: std::ops::RangeInclusive<i64> = 60..=86_400;
pub const DEFAULT_LOCKOUT_SECONDS: u64 = 900;

/// The checked `[signin]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignIn {
    /// Failed sign-ins (and wrong old passwords given to `ChangePassword`) within `lockout`
    /// that lock a user.
    pub max_failures: u32,
    /// How long a lock lasts, and the window failures are counted in.
    pub lockout: Duration,
}

impl Default for SignIn {
    fn default() -> SignIn {
        SignIn {
            max_failures: DEFAULT_MAX_FAILURES,
            lockout: Duration::from_secs(DEFAULT_LOCKOUT_SECONDS),
        }
    }
}

impl Checker<'_> {
    pub(super) fn signin(&mut self, raw: Option<&SignInSection>) -> SignIn {
        let mut out = SignIn::default();
        let Some(raw) = raw else {
            return out;
        };
        if let Some(n) = raw.max_failures {
            match u32::try_from(n) {
                Ok(v) if MAX_FAILURES.contains(&n) => out.max_failures = v,
                _ => {
                    let line = self.key_line("[signin]", "max_failures");
                    self.issue(
                        line,
                        format!(
                            "[signin] max_failures must be {} to {} (got {n})",
                            MAX_FAILURES.start(),
                            MAX_FAILURES.end()
                        ),
                    );
                }
            }
        }
        if let Some(s) = raw.lockout_seconds {
            match u64::try_from(s) {
                Ok(v) if LOCKOUT_SECONDS.contains(&s) => out.lockout = Duration::from_secs(v),
                _ => {
                    let line = self.key_line("[signin]", "lockout_seconds");
                    self.issue(
                        line,
                        format!(
                            "[signin] lockout_seconds must be {} to {} (got {s})",
                            LOCKOUT_SECONDS.start(),
                            LOCKOUT_SECONDS.end()
                        ),
                    );
                }
            }
        }
        out
    }
}
