#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Replays the committed fuzz corpus through the fuzz target's entry function.

#[test]
fn json_line_corpus_replays_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/json_line");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let _ = logger::parse_json_line(&data);
        n += 1;
    }
    assert!(n >= 5);
    let big = vec![b'"'; (1 << 20) + 1];
    assert!(logger::parse_json_line(&big).is_err());
}
