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
/// otherwise). `None`, after saying so once, when it is absent: a clone of the project alone
/// still runs the rest of the suite.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STS_BROKER_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    let path = root.join(sub);
    if path.exists() {
        Some(path)
    } else {
        println!(
            "conformance data {} not found; skipping (set STS_BROKER_TESTDATA)",
            path.display()
        );
        None
    }
}
