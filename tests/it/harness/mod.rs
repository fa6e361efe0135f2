//! Real parts for integration tests: a `redis-server` on a free loopback port, a loopback OIDC
//! identity provider serving discovery and JWKS with real RSA and EC keys, and the broker itself
//! listening on `127.0.0.1:0`, reached through the real AWS SDK.

pub mod broker;
pub mod durable_redis;
pub mod idp;
pub mod redis;
pub mod redis_topology;
pub mod saml;
pub mod signer;
