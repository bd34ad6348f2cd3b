#![no_main]
//! Arbitrary bytes through registry::fuzzing::error_body: must not panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    registry::fuzzing::error_body(data);
});
