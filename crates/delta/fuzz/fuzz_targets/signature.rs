#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    delta::fuzzing::signature_entry(data);
});
