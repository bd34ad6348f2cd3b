#![no_main]
//! Arbitrary bytes as a layer tar: must not panic, must not create
//! anything outside the destination, and an accepted layer must reassemble
//! to the same diff id.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let scratch = SCRATCH.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    layer::fuzzing::apply_bytes(data, scratch.path());
});
