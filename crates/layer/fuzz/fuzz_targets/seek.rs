#![no_main]
//! A small layer built from the input, applied, then read through
//! `SeekableTar` and `ConcatSeek` with the seeks and reads the input
//! describes: every result must equal the same operation on the tar bytes.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let scratch = SCRATCH.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    let _ = layer::fuzzing::seek_bytes(data, scratch.path());
});
