#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = image::fuzzing::manifest(data) {
        panic!("invariant broken: {broken}");
    }
});
