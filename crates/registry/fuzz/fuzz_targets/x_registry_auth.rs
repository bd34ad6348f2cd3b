#![no_main]
//! Arbitrary bytes through registry::fuzzing::x_registry_auth: must not panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    registry::fuzzing::x_registry_auth(data);
});
