#![no_main]
//! passwd/group parsing and --user resolution must never panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spec::fuzz_user_db(data);
});
