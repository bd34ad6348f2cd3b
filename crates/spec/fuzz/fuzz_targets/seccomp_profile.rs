#![no_main]
//! Docker-format seccomp profile conversion must never panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spec::fuzz_seccomp_profile(data);
});
