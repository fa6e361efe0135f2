#![no_main]

use libfuzzer_sys::fuzz_target;
use sts_broker::fuzzing::Jwt;

static CHECKER: std::sync::OnceLock<Jwt> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let checker = CHECKER.get_or_init(|| match Jwt::new(include_bytes!("../keys/jwks.json")) {
        Ok(checker) => checker,
        Err(e) => panic!("the fixed key set does not load: {e}"),
    });
    if let Err(broken) = checker.check(data) {
        panic!("jwt: {broken}");
    }
});
