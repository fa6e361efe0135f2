//! Shared test helpers.

use std::path::PathBuf;

use serde_json::Value;
use sts_broker::policy::ContextValue;

/// A context value as the suites write it: a string is single-valued, an array multi-valued,
/// anything else its JSON text.
pub fn context_value(v: &Value) -> ContextValue {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    match v {
        Value::Array(items) => ContextValue::Multi(items.iter().map(text).collect()),
        other => ContextValue::Single(text(other)),
    }
}

/// The public conformance data (`../shared/testdata` unless `STS_BROKER_TESTDATA` says
/// otherwise). `None` when it is absent, unless CI requires it ([`locate`]): a clone of the
/// project alone still runs the rest of the suite.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STS_BROKER_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    let required =
        std::env::var("STS_BROKER_REQUIRE_TESTDATA").is_ok_and(|v| !v.is_empty() && v != "0");
    match locate(&root, sub, required) {
        Ok(found) => found,
        Err(missing) => panic!("{missing}"),
    }
}

/// Skips so far in this test process.
static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `root/sub` when it exists. Missing: an error when `required` (CI sets
/// `STS_BROKER_REQUIRE_TESTDATA=1`, so a broken layout cannot pass unnoticed), else `None`
/// after a line on the real stderr (not captured by the test harness, so a passing run shows
/// how many conformance suites it skipped).
pub fn locate(
    root: &std::path::Path,
    sub: &str,
    required: bool,
) -> Result<Option<PathBuf>, String> {
    let path = root.join(sub);
    if path.exists() {
        return Ok(Some(path));
    }
    if required {
        return Err(format!(
            "conformance data {} not found and STS_BROKER_REQUIRE_TESTDATA is set",
            path.display()
        ));
    }
    let n = SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let line = format!(
        "SKIPPED conformance suite #{n}: {} not found (set STS_BROKER_TESTDATA)\n",
        path.display()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    Ok(None)
}

#[test]
fn missing_conformance_data_fails_when_required_and_is_skipped_otherwise() {
    let empty = tempfile::tempdir().unwrap();
    let missing = locate(empty.path(), "sigv4", true).unwrap_err();
    assert!(missing.contains("STS_BROKER_REQUIRE_TESTDATA"), "{missing}");
    assert_eq!(locate(empty.path(), "sigv4", false), Ok(None));
    std::fs::create_dir(empty.path().join("sigv4")).unwrap();
    assert_eq!(
        locate(empty.path(), "sigv4", true),
        Ok(Some(empty.path().join("sigv4")))
    );
}
