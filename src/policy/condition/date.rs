//! Date values for the `Date*` operators: ISO 8601 (date, date-time, with or without offset and
//! fraction) or epoch time. Epoch values up to 10^11 are seconds (`aws:EpochTime`), larger ones
//! milliseconds (year 5138 in seconds is not a date anyone writes in a policy).

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

const SECONDS_CUTOFF: i128 = 100_000_000_000;

/// Milliseconds since the Unix epoch, or `None` when `text` is not a date.
pub fn parse_millis(text: &str) -> Option<i128> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i128 = text.parse().ok()?;
        return Some(if n < SECONDS_CUTOFF { n * 1000 } else { n });
    }
    let dt = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(text, &Iso8601::DEFAULT).map(|d| d.assume_utc()))
        .or_else(|_| Date::parse(text, &Iso8601::DEFAULT).map(|d| d.midnight().assume_utc()))
        .ok()?;
    Some(dt.unix_timestamp_nanos() / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let jan1 = Some(1_704_067_200_000);
        assert_eq!(parse_millis("2024-01-01"), jan1);
        assert_eq!(parse_millis("2024-01-01T00:00:00Z"), jan1);
        assert_eq!(parse_millis("2024-01-01T00:00:00.000Z"), jan1);
        assert_eq!(parse_millis("2024-01-01T01:00:00+01:00"), jan1);
        assert_eq!(parse_millis("2024-01-01T00:00:00"), jan1);
        assert_eq!(parse_millis("1704067200"), jan1);
        assert_eq!(parse_millis("1704067200000"), jan1);
        assert_eq!(parse_millis("1704067200001"), Some(1_704_067_200_001));
        assert_eq!(parse_millis("not a date"), None);
        assert_eq!(parse_millis(""), None);
        assert_eq!(parse_millis("2024-13-01"), None);
    }
}
