//! Shared test helpers.

use std::path::PathBuf;

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
