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

/// A fresh request id: a random (version 4) UUID, as AWS's request ids look.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    // A request id is a label, not a secret: should the generator ever fail, an all-zero UUID
    // still answers the request (and `fill` failing means minting will refuse anyway).
    let _ = fill(&mut bytes);
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
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        for id in [a, b] {
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
