#![no_main]

use libfuzzer_sys::fuzz_target;
use sts_broker::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = fuzzing::saml(data) {
        panic!("saml: {broken}");
    }
});
