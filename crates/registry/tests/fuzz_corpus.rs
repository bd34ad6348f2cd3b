#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays the committed fuzz corpora through the fuzz targets' entry
//! functions, so they run in plain `cargo test`.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for path in files {
        eprintln!("{target}: {}", path.display());
        f(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn www_authenticate_corpus_replays() {
    replay("www_authenticate", registry::fuzzing::www_authenticate);
}

#[test]
fn error_body_corpus_replays() {
    replay("error_body", registry::fuzzing::error_body);
}

#[test]
fn x_registry_auth_corpus_replays() {
    replay("x_registry_auth", registry::fuzzing::x_registry_auth);
}
