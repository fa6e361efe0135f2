//! Token buckets, as the generic cell rate algorithm (GCRA, ITU-T I.371): a bucket of `burst`
//! tokens refilled at `rate` per second is one number, the *theoretical arrival time* (TAT) of
//! the next request, so a check is a comparison and an update is one stored integer — in this
//! process ([`keyed`]) or in Redis, whose script does the same arithmetic.
//!
//! Pure: the time is an argument (microseconds since the Unix epoch), nothing here reads a
//! clock or does I/O. A bucket that is absent and one that is full are the same thing (TAT 0),
//! so forgetting a bucket can only give tokens back, never take them away.

pub mod keyed;

/// Slowest rate accepted, in tokens per second (one per 1000 seconds).
pub const MIN_RATE: f64 = 0.001;
/// Fastest rate accepted, in tokens per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Largest bucket accepted.
pub const MAX_BURST: u32 = 1_000_000;

const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// The client an address stands for, as limits count clients: an IPv4 address (an
/// IPv4-mapped IPv6 one included) alone, an IPv6 address by its /64, since one host is
/// routinely given a whole /64 and could otherwise count as 2^64 clients.
pub fn client(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            std::net::IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// One limit: a bucket of `burst` tokens refilled every `interval_us` microseconds.
///
/// Within the accepted ranges, `interval_us * burst` is at most 10^15 µs: sums with a
/// present-day time stay below 2^53, exact in Redis's Lua doubles as in `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    interval_us: u64,
    burst: u32,
}

impl Limit {
    /// `rate` tokens per second into a bucket of `burst`; `None` when either is out of range
    /// ([`MIN_RATE`]..=[`MAX_RATE`], 1..=[`MAX_BURST`]) or not a number.
    pub fn new(rate: f64, burst: u32) -> Option<Limit> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) || !(1..=MAX_BURST).contains(&burst) {
            return None;
        }
        let interval = (MICROS_PER_SECOND / rate).round();
        // In range by the checks above: 1 ≤ interval ≤ 10^9.
        let interval_us = if interval >= 1.0 { interval as u64 } else { 1 };
        Some(Limit { interval_us, burst })
    }

    /// Microseconds between two tokens.
    pub fn interval_us(&self) -> u64 {
        self.interval_us
    }

    /// Tokens a full bucket holds.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How far ahead of now the TAT may run: the whole bucket's worth of intervals.
    fn tolerance_us(&self) -> u64 {
        self.interval_us.saturating_mul(u64::from(self.burst))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A token was there. Taking it leaves the bucket at `tat`, which is worth keeping for
    /// `keep_us` (after that the bucket is full again, the same as absent).
    Allow { tat: u64, keep_us: u64 },
    /// The bucket is empty; the next token comes in `retry_after_us`.
    Refuse { retry_after_us: u64 },
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }
}

/// Whether the bucket whose TAT is `tat` (0: absent or full) has a token at `now_us`, and its
/// TAT once that token is taken. The caller stores the new TAT to take it, or does not to only
/// look (peek). The store's Lua script for shared buckets does the same arithmetic.
pub fn check(limit: &Limit, tat: u64, now_us: u64) -> Verdict {
    let next = tat.max(now_us).saturating_add(limit.interval_us);
    let ahead = next - now_us;
    let tolerance = limit.tolerance_us();
    if ahead > tolerance {
        Verdict::Refuse {
            retry_after_us: ahead - tolerance,
        }
    } else {
        Verdict::Allow {
            tat: next,
            keep_us: ahead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_64s() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(client(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client(ip("2001:db8:0:1::1")), ip("2001:db8:0:1::"));
        assert_eq!(
            client(ip("2001:db8:0:1:ffff:ffff:ffff:ffff")),
            client(ip("2001:db8:0:1::2"))
        );
        assert_ne!(client(ip("2001:db8:0:1::1")), client(ip("2001:db8:0:2::1")));
    }

    const SECOND: u64 = 1_000_000;
    /// An arbitrary present-day time.
    const T0: u64 = 1_780_000_000 * SECOND;

    /// Takes as many tokens as the bucket gives at `now`, storing each new TAT.
    fn drain(limit: &Limit, tat: &mut u64, now: u64) -> u32 {
        let mut taken = 0;
        while let Verdict::Allow { tat: next, .. } = check(limit, *tat, now) {
            *tat = next;
            taken += 1;
        }
        taken
    }

    #[test]
    fn limits_refuse_what_is_out_of_range() {
        assert!(Limit::new(0.0, 10).is_none());
        assert!(Limit::new(-1.0, 10).is_none());
        assert!(Limit::new(f64::NAN, 10).is_none());
        assert!(Limit::new(f64::INFINITY, 10).is_none());
        assert!(Limit::new(MAX_RATE * 2.0, 10).is_none());
        assert!(Limit::new(10.0, 0).is_none());
        assert!(Limit::new(10.0, MAX_BURST + 1).is_none());
        let l = Limit::new(MAX_RATE, MAX_BURST).unwrap();
        assert_eq!(l.interval_us(), 1);
        let l = Limit::new(MIN_RATE, MAX_BURST).unwrap();
        assert_eq!(l.interval_us(), 1000 * SECOND);
        // The largest tolerance plus a present-day time is exact as a double (Redis's Lua).
        assert!(T0 + l.tolerance_us() < (1u64 << 53));
        assert_eq!(Limit::new(100.0, 200).unwrap().interval_us(), 10_000);
        assert_eq!(Limit::new(3.0, 1).unwrap().interval_us(), 333_333);
    }

    #[test]
    fn a_full_bucket_gives_its_burst_at_once_then_refuses() {
        let limit = Limit::new(1.0, 3).unwrap();
        let mut tat = 0;
        assert_eq!(drain(&limit, &mut tat, T0), 3);
        assert_eq!(tat, T0 + 3 * SECOND);
        assert_eq!(
            check(&limit, tat, T0),
            Verdict::Refuse {
                retry_after_us: SECOND
            }
        );
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_beyond_the_burst() {
        let limit = Limit::new(2.0, 4).unwrap();
        let mut tat = 0;
        assert_eq!(drain(&limit, &mut tat, T0), 4);
        // Half a second: one token (2 per second).
        assert_eq!(drain(&limit, &mut tat, T0 + SECOND / 2), 1);
        // A quarter second later: none yet.
        assert_eq!(drain(&limit, &mut tat, T0 + SECOND * 3 / 4), 0);
        // An hour later: the bucket is full, not 7,200 tokens.
        assert_eq!(drain(&limit, &mut tat, T0 + 3600 * SECOND), 4);
    }

    #[test]
    fn looking_takes_nothing() {
        let limit = Limit::new(1.0, 1).unwrap();
        let tat = 0;
        for _ in 0..10 {
            assert!(check(&limit, tat, T0).is_allowed());
        }
        let Verdict::Allow { tat, keep_us } = check(&limit, tat, T0) else {
            panic!("a full bucket refused");
        };
        // Once taken, the state is worth keeping until the token is back.
        assert_eq!(keep_us, SECOND);
        assert!(!check(&limit, tat, T0).is_allowed());
        assert!(check(&limit, tat, T0 + keep_us).is_allowed());
    }

    #[test]
    fn a_stored_time_ahead_of_this_clock_only_delays() {
        // Another replica's clock ran ahead: its TAT is in our future. We refuse until it is
        // near, never give more than the burst.
        let limit = Limit::new(10.0, 2).unwrap();
        let ahead = T0 + 5 * SECOND;
        assert!(!check(&limit, ahead, T0).is_allowed());
        // One interval before it, one token; at it, the full burst, never more.
        let mut tat = ahead;
        assert_eq!(drain(&limit, &mut tat, ahead - SECOND / 10), 1);
        let mut tat = ahead;
        assert_eq!(drain(&limit, &mut tat, ahead), 2);
    }

    #[test]
    fn fractional_rates_refill_slowly() {
        let limit = Limit::new(0.5, 1).unwrap();
        let mut tat = 0;
        assert_eq!(drain(&limit, &mut tat, T0), 1);
        assert_eq!(drain(&limit, &mut tat, T0 + SECOND), 0);
        assert_eq!(drain(&limit, &mut tat, T0 + 2 * SECOND), 1);
    }
}
