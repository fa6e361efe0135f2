//! Random bytes for secrets, ids and nonces, from AWS-LC's generator: a per-thread DRBG seeded
//! and reseeded from the kernel, so minting a session or a request id makes no system call
//! (ring's `SystemRandom` asks the kernel on every fill).

/// The generator failed: nothing random can be trusted, the caller refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random generator failed")]
pub struct RandomError;

/// Fills `dest` with random bytes.
pub fn fill(dest: &mut [u8]) -> Result<(), RandomError> {
    aws_lc_rs::rand::fill(dest).map_err(|_| RandomError)
}

/// Random bytes drawn ahead for request ids, per thread: each draw from the generator costs
/// a key schedule and a hardware-random read whatever its size, about 2% of a web identity
/// call's CPU when drawn per request.
const ID_BYTES_AHEAD: usize = 64 * 16;

thread_local! {
    /// Bytes drawn for request ids and how many of them are used.
    static ID_BYTES: std::cell::RefCell<(usize, [u8; ID_BYTES_AHEAD])> =
        const { std::cell::RefCell::new((ID_BYTES_AHEAD, [0; ID_BYTES_AHEAD])) };
}

/// A fresh request id: a random (version 4) UUID, as AWS's request ids look. A label, not a
/// secret, so its bytes may be drawn ahead; the same bytes are never used twice.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    ID_BYTES.with_borrow_mut(|(used, ahead)| {
        if *used == ahead.len() {
            // Should the generator ever fail, an all-zero UUID still answers the request (and
            // `fill` failing means minting will refuse anyway); the next id asks it again.
            if fill(ahead).is_err() {
                return;
            }
            *used = 0;
        }
        bytes.copy_from_slice(&ahead[*used..*used + 16]);
        // Used bytes are not kept.
        ahead[*used..*used + 16].fill(0);
        *used += 16;
    });
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        // Across several draws of bytes ahead.
        let ids: Vec<String> = (0..3 * ID_BYTES_AHEAD / 16 + 1)
            .map(|_| request_id())
            .collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in ids {
            let parsed = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(id.len(), 36);
        }
    }

    #[test]
    fn fills_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
