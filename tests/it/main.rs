//! The integration test binary: one process, modules per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod assume_role;
mod caller_identity;
mod cli;
mod config;
mod harness;
mod key_rotation;
mod policy_conditions;
mod policy_core_engine;
mod policy_moto;
mod query_api;
mod revocation;
mod saml;
mod saml_conformance;
mod serve;
mod sigv4_suites;
mod support;
mod web_identity;
// Added later; kept last so parallel additions merge.
mod admin;
mod audit;
mod authorization_message;
mod authorize;
mod ext_authz;
mod iam_simulate;
