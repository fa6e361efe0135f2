//! sts-broker: a self-hosted, AWS-STS-compatible identity token broker.
//!
//! The crate is a library with a thin binary. [`policy`] is the IAM policy engine every
//! authorization decision goes through; [`oidc`] verifies the OIDC tokens of
//! `AssumeRoleWithWebIdentity`, [`saml`] the SAML responses of `AssumeRoleWithSAML`; [`sigv4`]
//! verifies AWS Signature Version 4 signatures; [`sts`] serves the STS Query API, [`iam_api`]
//! IAM's simulation actions, [`authz`] resource servers' authorization questions and
//! [`admin_api`] operators' revocations, all through [`admin`]'s policy-checked authentication;
//! [`revocation`] keeps every replica's view of revoked sessions current; [`cli`] holds the
//! command implementations the binary dispatches to.

pub mod admin;
pub mod admin_api;
pub mod app;
pub mod audit;
pub mod authz;
pub mod authz_audit;
pub mod cli;
pub mod clock;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod iam;
pub mod iam_api;
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
