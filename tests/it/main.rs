//! The integration test binary: one process, modules per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod admin;
mod admin_revoke;
mod analyze;
mod analyzer;
mod assume_role;
mod audit;
mod authorization_message;
mod authorize;
mod caller_identity;
mod cli;
mod config;
mod connections;
mod credential_report;
mod deploy;
mod docs_tour;
mod ext_authz;
mod front_door;
mod fuzz_regressions;
mod harness;
mod iam_access_keys;
mod iam_export;
mod iam_mfa;
mod iam_passwords;
mod iam_policies;
mod iam_providers;
mod iam_roles;
mod iam_simulate;
mod iam_store;
mod iam_users;
mod idp_faults;
mod key_rotation;
mod layers;
mod metrics;
mod policy_conditions;
mod policy_core_engine;
mod policy_findings;
mod policy_moto;
mod properties;
mod query_api;
mod reload;
mod revocation;
mod role_sessions;
mod saml;
mod saml_conformance;
mod serve;
mod shared_state;
mod signin;
mod sigv4_suites;
mod store_faults;
mod store_lanes;
mod support;
mod throttling;
mod topologies;
mod web_identity;
