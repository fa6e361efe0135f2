//! sts-broker: a self-hosted, AWS-STS-compatible identity token broker.
//!
//! The crate is a library with a thin binary. [`policy`] is the IAM policy engine every
//! authorization decision goes through; [`oidc`] verifies the OIDC tokens of
//! `AssumeRoleWithWebIdentity`; [`sigv4`] verifies AWS Signature Version 4 signatures; [`cli`]
//! holds the command implementations the binary dispatches to.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod iam;
pub mod keys;
pub mod oidc;
pub mod policy;
pub mod revocation;
pub mod saml;
pub mod session;
pub mod sigv4;
pub mod store;
pub mod sts;
pub mod totp;
// Added after the first release of this list; kept last so parallel additions merge.
pub mod admin;
pub mod audit;
pub mod authz;
pub mod iam_api;
