//! Encodings every layer shares: AWS's timestamps, base32 ids, and request text shortened for
//! messages.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An RFC 3339 timestamp in UTC, as AWS writes them (`2026-12-06T06:00:00Z`).
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// RFC 4648 base32 without padding, upper case: the alphabet of AWS access key ids.
pub fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// At most 64 characters of request-supplied text, for error messages.
pub fn shorten(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_z() {
        let t = OffsetDateTime::from_unix_timestamp(1_572_640_007).unwrap();
        assert_eq!(timestamp(t), "2019-11-01T20:26:47Z");
    }

    #[test]
    fn base32_is_rfc4648_without_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn shortening_keeps_64_characters() {
        assert_eq!(shorten("short"), "short");
        assert_eq!(shorten(&"é".repeat(70)).chars().count(), 64);
    }
}
