//! Secrets as types: never printed, compared in constant time, wiped from memory when dropped.
//! [`SecretAccessKey`] and [`SessionToken`] are distinct so one cannot be passed for the other;
//! [`Secret`] holds any other secret string (an admin listener's shared secret, a password).

use std::fmt;

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            pub fn new(value: String) -> $name {
                $name(Zeroizing::new(value))
            }

            /// The secret itself, for the one place that must send or use it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &$name) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// A secret string of no more specific kind.
    Secret
);
secret_type!(
    /// The secret half of an access key: what SigV4 signatures are keyed with.
    SecretAccessKey
);
secret_type!(
    /// A session token, minted by the broker or presented by a caller.
    SessionToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG".to_owned());
        let t = SessionToken::new("FwoGZXIvYXdzE".to_owned());
        assert_eq!(format!("{s:?}"), "SecretAccessKey(<redacted>)");
        assert_eq!(format!("{t:?}"), "SessionToken(<redacted>)");
        assert_eq!(
            format!("{:?}", Secret::new("x".into())),
            "Secret(<redacted>)"
        );
    }

    #[test]
    fn equality_compares_the_values() {
        assert_eq!(Secret::new("a".into()), Secret::new("a".into()));
        assert_ne!(Secret::new("a".into()), Secret::new("b".into()));
    }
}
