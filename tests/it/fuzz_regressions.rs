//! Replays the fuzz targets' committed inputs through the same entry points the targets call
//! (`sts_broker::fuzzing`): the seed corpora (`fuzz/seeds/<target>/`) and every minimized input
//! that once crashed, hung or broke an invariant (`fuzz/regressions/<target>/`). Each must be
//! handled without a panic and with every invariant kept; a few seeds also pin their verdict.

use std::path::{Path, PathBuf};

use sts_broker::fuzzing::{self, Jwt, Outcome};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every committed input of `target`, with its path.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, run: impl Fn(&[u8]) -> Outcome) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no committed inputs for {target}");
    for (path, bytes) in inputs {
        if let Err(broken) = run(&bytes) {
            panic!("{}: {broken}", path.display());
        }
    }
}

#[test]
fn sts_query_inputs() {
    replay("sts_query", fuzzing::sts_query);
}

#[test]
fn sigv4_inputs() {
    replay("sigv4", fuzzing::sigv4);
}

#[test]
fn policy_inputs() {
    replay("policy", fuzzing::policy);
}

#[test]
fn jwt_inputs() {
    let checker = Jwt::new(&std::fs::read(fuzz_dir().join("keys/jwks.json")).unwrap()).unwrap();
    replay("jwt", |data| checker.check(data));
}

#[test]
fn saml_inputs() {
    replay("saml", fuzzing::saml);
}

#[test]
fn routes_inputs() {
    replay("routes", fuzzing::routes);
}

#[test]
fn config_inputs() {
    replay("config", fuzzing::config);
}

/// The committed seeds reach the deep end of their targets: SigV4 seeds verify, the valid token
/// verifies and the forged ones do not.
#[test]
fn seeds_reach_verification() {
    for name in [
        "post-sts-form",
        "get-objects-query",
        "presigned-gci",
        "session-token-header",
    ] {
        let bytes = std::fs::read(fuzz_dir().join("seeds/sigv4").join(name)).unwrap();
        assert!(fuzzing::sigv4_verifies(&bytes), "{name} does not verify");
    }
    let checker = Jwt::new(&std::fs::read(fuzz_dir().join("keys/jwks.json")).unwrap()).unwrap();
    let token =
        |name: &str| std::fs::read_to_string(fuzz_dir().join("seeds/jwt").join(name)).unwrap();
    assert_eq!(
        checker.verify(&token("valid")).as_deref(),
        Some("repo:org/app:ref:refs/heads/main")
    );
    assert_eq!(
        checker.verify(&token("aud-array")).as_deref(),
        Some("alice")
    );
    for name in ["expired", "alg-none", "hs256", "wrong-aud", "float-exp"] {
        assert_eq!(checker.verify(&token(name)), None, "{name} verified");
    }
}

/// Found by the route property test: a captured value spelling another variable's name
/// (`%7Bkey%7D`) was substituted again, so `/objects/%7Bkey%7D/secret` was authorized as
/// `arn:aws:s3:::secret/secret` while the upstream serves bucket `{key}`.
#[test]
fn a_captured_variable_name_stays_text() {
    let route = sts_broker::routes::Route::compile(
        "GET",
        "/objects/{bucket}/{key+}",
        "s3:GetObject",
        "arn:aws:s3:::{bucket}/{key}",
    )
    .unwrap();
    let path = sts_broker::routes::path::check("/objects/%7Bkey%7D/secret").unwrap();
    let target = route.matches("GET", &path).unwrap();
    assert_eq!(target.resource, "arn:aws:s3:::{key}/secret");
}
