#![no_main]
//! Arbitrary bytes through registry::fuzzing::www_authenticate: must not panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    registry::fuzzing::www_authenticate(data);
});
