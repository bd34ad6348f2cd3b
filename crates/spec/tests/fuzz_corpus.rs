#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every committed fuzz corpus file through the fuzz entry points.

fn replay(target: &str, f: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        f(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus {dir:?}");
}

#[test]
fn seccomp_profile_corpus() {
    replay("seccomp_profile", spec::fuzz_seccomp_profile);
}

#[test]
fn user_db_corpus() {
    replay("user_db", spec::fuzz_user_db);
}
