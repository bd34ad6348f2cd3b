#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every committed fuzz corpus file through the fuzz entry points.

use std::fs;
use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        entry(&fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

#[test]
fn patch_corpus_replays() {
    replay("patch", delta::fuzzing::patch_entry);
}

#[test]
fn signature_corpus_replays() {
    replay("signature", delta::fuzzing::signature_entry);
}
