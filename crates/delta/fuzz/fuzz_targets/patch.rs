#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    delta::fuzzing::patch_entry(data);
});
