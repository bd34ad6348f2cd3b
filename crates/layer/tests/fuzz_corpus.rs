#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays the committed fuzz corpora through the fuzz targets' entry
//! functions, so they run in plain `cargo test`.

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "empty corpus {}", dir.display());
    v
}

#[test]
fn apply_corpus_replays() {
    for (name, data) in corpus("apply") {
        let scratch = tempfile::tempdir().unwrap();
        eprintln!("apply corpus: {name}");
        layer::fuzzing::apply_bytes(&data, scratch.path());
    }
}

#[test]
fn tarsplit_corpus_replays() {
    let root = tempfile::tempdir().unwrap();
    layer::fuzzing::make_tarsplit_root(root.path()).unwrap();
    for (name, data) in corpus("tarsplit") {
        eprintln!("tarsplit corpus: {name}");
        layer::fuzzing::tarsplit_bytes(&data, root.path());
    }
}

#[test]
fn tarsplit_seed_ok_json_reassembles() {
    let root = tempfile::tempdir().unwrap();
    layer::fuzzing::make_tarsplit_root(root.path()).unwrap();
    let gz = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/tarsplit/ok.json.gz"),
    )
    .unwrap();
    let mut out = Vec::new();
    layer::assemble(&gz[..], root.path(), &mut out).unwrap();
    assert_eq!(out, b"HDRhelloworld");
}

#[test]
fn seek_corpus_replays() {
    let scratch = tempfile::tempdir().unwrap();
    for (name, data) in corpus("seek") {
        eprintln!("seek corpus: {name}");
        let checked = layer::fuzzing::seek_bytes(&data, scratch.path());
        // The seeds build valid layers, except the one with a duplicate.
        assert_eq!(checked, name != "dup-names", "{name}");
    }
}
