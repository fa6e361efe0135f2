//! Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP) for virtual MFA devices:
//! HMAC-SHA1, 30-second steps, 6 digits, the seed given as RFC 4648 base32 as authenticator apps
//! take it. Pure: the time is an argument. It does not remember used codes; refusing a replayed
//! code within its window is the caller's job (the matched step is returned for that).

use std::fmt;

use ring::hmac;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Seconds per time step (RFC 6238's default X).
pub const STEP_SECONDS: u64 = 30;
/// Digits of a virtual MFA code.
pub const DIGITS: u32 = 6;
/// Steps either side of the current one that are still accepted (clock drift, typing time).
pub const ALLOWED_DRIFT_STEPS: u64 = 1;
/// Steps either side of the current one searched for two consecutive codes when a device is
/// enabled or resynchronized ([`find_consecutive`]): five minutes of clock drift.
pub const RESYNC_WINDOW_STEPS: u64 = 10;

/// Why a code was not accepted or a seed not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the seed is not base32 of at least 10 bytes")]
    BadSeed,
    #[error("the code is not {DIGITS} digits")]
    Malformed,
    #[error("the code does not match")]
    Mismatch,
}

/// A decoded TOTP seed: wiped on drop, never printed.
#[derive(Clone)]
pub struct Seed(Zeroizing<Vec<u8>>);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

impl Seed {
    /// Decodes a base32 seed (either case; spaces, dashes and `=` padding ignored). RFC 4226
    /// asks for at least 128 bits and recommends 160; 80 bits (16 characters, what many
    /// authenticator setups print) is the least accepted here.
    pub fn from_base32(text: &str) -> Result<Seed, TotpError> {
        let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
        let mut buffer = 0u64;
        let mut bits = 0u32;
        for c in text.bytes() {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a',
                b'2'..=b'7' => c - b'2' + 26,
                b' ' | b'-' | b'=' => continue,
                _ => return Err(TotpError::BadSeed),
            };
            buffer = (buffer << 5) | u64::from(value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buffer >> bits) & 0xff) as u8);
            }
        }
        if out.len() < 10 {
            return Err(TotpError::BadSeed);
        }
        Ok(Seed(out))
    }

    /// A seed from raw bytes (tests, RFC vectors).
    pub fn from_bytes(bytes: &[u8]) -> Seed {
        Seed(Zeroizing::new(bytes.to_vec()))
    }
}

/// The RFC 4226 HOTP value for `counter`, `digits` long with leading zeros.
pub fn hotp(seed: &Seed, counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &seed.0);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let modulus = 10u64.checked_pow(digits).unwrap_or(u64::MAX);
    let width = digits as usize;
    format!("{:0width$}", u64::from(binary) % modulus)
}

/// The time step `now` falls in; times before 1970 count as step 0.
pub fn step(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp()).unwrap_or(0) / STEP_SECONDS
}

/// The code an authenticator shows at `now`, `digits` long.
pub fn code_with_digits(seed: &Seed, now: OffsetDateTime, digits: u32) -> String {
    hotp(seed, step(now), digits)
}

/// The 6-digit code an authenticator shows at `now`.
pub fn code_at(seed: &Seed, now: OffsetDateTime) -> String {
    code_with_digits(seed, now, DIGITS)
}

/// Checks a 6-digit `code` at `now`, accepting the neighbouring steps; returns the step that
/// matched. Every candidate is compared in constant time, and all of them are compared.
pub fn check(seed: &Seed, code: &str, now: OffsetDateTime) -> Result<u64, TotpError> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let current = step(now);
    let mut matched = None;
    for candidate in current.saturating_sub(ALLOWED_DRIFT_STEPS)..=current + ALLOWED_DRIFT_STEPS {
        let expected = hotp(seed, candidate, DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(candidate);
        }
    }
    matched.ok_or(TotpError::Mismatch)
}

/// Finds two consecutive codes, `first` then `second`, within [`RESYNC_WINDOW_STEPS`] of the
/// step of `now`: returns the step `second` matched (what the device showed last). Every
/// candidate pair is compared in constant time, and all of them are compared; of several
/// matches, the one nearest to `now` wins.
pub fn find_consecutive(
    seed: &Seed,
    first: &str,
    second: &str,
    now: OffsetDateTime,
) -> Result<u64, TotpError> {
    let digits = |c: &str| c.len() == DIGITS as usize && c.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(second) {
        return Err(TotpError::Malformed);
    }
    let current = step(now);
    let low = current.saturating_sub(RESYNC_WINDOW_STEPS);
    let high = current + RESYNC_WINDOW_STEPS;
    let mut matched: Option<u64> = None;
    let mut previous = hotp(seed, low, DIGITS);
    for candidate in low + 1..=high {
        let this = hotp(seed, candidate, DIGITS);
        let pair =
            previous.as_bytes().ct_eq(first.as_bytes()) & this.as_bytes().ct_eq(second.as_bytes());
        if bool::from(pair)
            && matched.is_none_or(|m| candidate.abs_diff(current) < m.abs_diff(current))
        {
            matched = Some(candidate);
        }
        previous = this;
    }
    matched.ok_or(TotpError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// RFC 6238 Appendix B, the SHA-1 column (seed "12345678901234567890", 8 digits).
    #[test]
    fn rfc6238_sha1_vectors() {
        let seed = Seed::from_bytes(b"12345678901234567890");
        for (unix, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_with_digits(&seed, at(unix), 8), code, "T = {unix}");
        }
    }

    /// RFC 4226 Appendix D, 6 digits.
    #[test]
    fn rfc4226_hotp_vectors() {
        let seed = Seed::from_bytes(b"12345678901234567890");
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(&seed, counter as u64, 6), *code);
        }
    }

    #[test]
    fn base32_seeds_decode_like_the_raw_bytes() {
        let raw = Seed::from_bytes(b"12345678901234567890");
        let b32 = Seed::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let spaced = Seed::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(code_at(&raw, at(59)), code_at(&b32, at(59)));
        assert_eq!(code_at(&raw, at(59)), code_at(&spaced, at(59)));
        assert_eq!(code_at(&raw, at(59)), "287082");
        assert_eq!(Seed::from_base32("GEZ1").unwrap_err(), TotpError::BadSeed);
        assert_eq!(
            Seed::from_base32("GEZDGNBV").unwrap_err(),
            TotpError::BadSeed
        );
        assert_eq!(format!("{b32:?}"), "Seed(<redacted>)");
    }

    #[test]
    fn check_accepts_one_step_either_side_and_nothing_else() {
        let seed = Seed::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        let now = at(1_700_000_015);
        let current = step(now);
        for (offset, accepted) in [
            (-60, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = code_at(&seed, at(1_700_000_015 + offset));
            let result = check(&seed, &code, now);
            if accepted {
                let matched = result.unwrap();
                assert!(matched.abs_diff(current) <= 1, "{offset}");
            } else if code != code_at(&seed, now) {
                assert_eq!(result, Err(TotpError::Mismatch), "{offset}");
            }
        }
        assert_eq!(check(&seed, "12345", now), Err(TotpError::Malformed));
        assert_eq!(check(&seed, "12345a", now), Err(TotpError::Malformed));
        assert_eq!(check(&seed, "1234567", now), Err(TotpError::Malformed));
    }

    #[test]
    fn consecutive_codes_are_found_within_the_wider_window_only() {
        let seed = Seed::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        let now = at(1_700_000_015);
        let current = step(now);
        let pair = |second_step: u64| {
            (
                hotp(&seed, second_step - 1, DIGITS),
                hotp(&seed, second_step, DIGITS),
            )
        };
        // The device in step, five minutes behind, five minutes ahead.
        for s in [
            current,
            current - RESYNC_WINDOW_STEPS + 1,
            current + RESYNC_WINDOW_STEPS,
        ] {
            let (a, b) = pair(s);
            assert_eq!(find_consecutive(&seed, &a, &b, now), Ok(s));
        }
        // One step further out, or the codes in the wrong order, or twice the same: refused.
        let (a, b) = pair(current + RESYNC_WINDOW_STEPS + 1);
        assert_eq!(
            find_consecutive(&seed, &a, &b, now),
            Err(TotpError::Mismatch)
        );
        let (a, b) = pair(current);
        assert_eq!(
            find_consecutive(&seed, &b, &a, now),
            Err(TotpError::Mismatch)
        );
        assert_eq!(
            find_consecutive(&seed, &b, &b, now),
            Err(TotpError::Mismatch)
        );
        assert_eq!(
            find_consecutive(&seed, "12345", &b, now),
            Err(TotpError::Malformed)
        );
        assert_eq!(
            find_consecutive(&seed, &a, "12345a", now),
            Err(TotpError::Malformed)
        );
    }
}
