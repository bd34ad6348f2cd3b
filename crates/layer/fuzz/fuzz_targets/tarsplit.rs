#![no_main]
//! Arbitrary bytes as a tar-split (plain JSON lines or gzip) replayed
//! against a small layer: must not panic, hang or open non-regular files.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let root = ROOT.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        layer::fuzzing::make_tarsplit_root(t.path()).expect("layer root");
        t
    });
    layer::fuzzing::tarsplit_bytes(data, root.path());
});
