//! sts-broker: a self-hosted, AWS-STS-compatible identity token broker.
//!
//! Layers, each using only those below it (checked by `tests/it/layers.rs`):
//! - leaves: [`clock`], [`secret`], [`encoding`], [`random`];
//! - pure cores: [`policy`], [`sigv4`], [`saml`], [`oidc`], [`session`], [`totp`], [`routes`],
//!   [`rate`];
//! - domain: [`iam`], [`config`];
//! - infrastructure: [`store`], [`keys`], [`revocation`], [`audit`], [`listener`] (the
//!   listeners' accept loop);
//! - the core: [`broker`], the state and services every front door shares;
//! - front doors: [`query`] (STS's and IAM's Query API), [`authz`] (resource servers),
//!   [`admin_api`], [`metrics`] (Prometheus);
//! - on top: [`app`] (HTTP), [`cli`] and the binary.

pub mod admin_api;
pub mod analyzer;
pub mod app;
pub mod audit;
pub mod authz;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod encoding;
#[doc(hidden)]
pub mod fuzzing;
pub mod iam;
pub mod keys;
pub mod listener;
pub mod logs;
pub mod metrics;
pub mod oidc;
pub mod policy;
pub mod query;
pub mod random;
pub mod rate;
pub mod revocation;
pub mod routes;
pub mod saml;
pub mod secret;
pub mod session;
pub mod signin;
pub mod sigv4;
pub mod store;
pub mod totp;
pub mod workers;
