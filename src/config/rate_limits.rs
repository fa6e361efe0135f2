//! `[rate_limits]` checked: each limit's rate and burst in range, reported at the line of the
//! limit's table when not.

use super::check::{Checker, line_at};
use super::file::{LimitEntry, RateLimitsSection};
use crate::rate::{Limit, MAX_BURST, MAX_RATE, MIN_RATE};

/// The checked `[rate_limits]`: which limits apply, and where their buckets live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub per_source_ip: Option<Limit>,
    pub per_role: Option<Limit>,
    pub per_subject: Option<Limit>,
    /// Buckets in the store, shared by the replicas (else each replica has its own).
    pub shared: bool,
}

impl Checker<'_> {
    pub(super) fn rate_limits(&mut self, raw: Option<&RateLimitsSection>) -> RateLimits {
        let Some(raw) = raw else {
            return RateLimits::default();
        };
        RateLimits {
            per_source_ip: self.limit("per_source_ip", raw.per_source_ip.as_ref()),
            per_role: self.limit("per_role", raw.per_role.as_ref()),
            per_subject: self.limit("per_subject", raw.per_subject.as_ref()),
            shared: raw.shared,
        }
    }

    fn limit(&mut self, name: &str, raw: Option<&toml::Spanned<LimitEntry>>) -> Option<Limit> {
        let raw = raw?;
        let line = Some(line_at(self.text, raw.span().start));
        let LimitEntry { rate, burst } = *raw.get_ref();
        let mut ok = true;
        if !rate.is_finite() || !(MIN_RATE..=MAX_RATE).contains(&rate) {
            self.issue(
                line,
                format!(
                    "rate_limits.{name}.rate must be between {MIN_RATE} and {MAX_RATE} tokens \
                     per second (got {rate})"
                ),
            );
            ok = false;
        }
        let burst = match u32::try_from(burst) {
            Ok(b) if (1..=MAX_BURST).contains(&b) => b,
            _ => {
                self.issue(
                    line,
                    format!("rate_limits.{name}.burst must be 1 to {MAX_BURST} (got {burst})"),
                );
                return None;
            }
        };
        if !ok {
            return None;
        }
        Limit::new(rate, burst)
    }
}
