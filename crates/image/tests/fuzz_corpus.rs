#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every committed fuzz corpus file through the fuzz targets' entry
//! functions, so the corpus runs in plain `cargo test`.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8]) -> Result<(), String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry_res in std::fs::read_dir(&dir).unwrap() {
        let path = entry_res.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(broken) = entry(&data) {
            panic!("{}: {broken}", path.display());
        }
        count += 1;
    }
    assert!(count > 0, "empty corpus in {}", dir.display());
}

#[test]
fn reference_corpus_replays() {
    replay("reference", image::fuzzing::reference);
}

#[test]
fn manifest_corpus_replays() {
    replay("manifest", image::fuzzing::manifest);
}

#[test]
fn config_corpus_replays() {
    replay("config", image::fuzzing::config);
}
