#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Cursor;

use delta::{delta, patch, HashKind, Signature, SignatureParams};
use proptest::prelude::*;

fn round_trip(basis: &[u8], new: &[u8], params: SignatureParams, threads: usize) -> Vec<u8> {
    let sig = Signature::generate(basis, params, threads).unwrap();
    let mut d = Vec::new();
    let stats = delta(&sig, new, &mut d, threads).unwrap();
    assert_eq!(stats.input_bytes, new.len() as u64);
    assert_eq!(stats.literal_bytes + stats.copy_bytes, new.len() as u64);
    let mut out = Vec::new();
    let p = patch(Cursor::new(basis), &d[..], &mut out).unwrap();
    assert_eq!(p.delta_bytes, d.len() as u64);
    assert!(out == new, "round trip differs");
    d
}

#[test]
fn generated_pairs_round_trip() {
    for (name, basis, new) in common::cases() {
        for params in [
            SignatureParams::default(),
            SignatureParams {
                hash: HashKind::Md4,
                block_len: 64,
                strong_len: 8,
            },
            SignatureParams {
                hash: HashKind::Blake2,
                block_len: 4096,
                strong_len: 16,
            },
        ] {
            let one = round_trip(&basis, &new, params, 1);
            let two = round_trip(&basis, &new, params, 2);
            assert_eq!(one, two, "{name}: thread count changed the delta");
        }
    }
}

#[test]
fn equal_files_give_tiny_deltas() {
    for (name, basis, new) in common::cases() {
        if basis != new || basis.is_empty() {
            continue;
        }
        let d = round_trip(&basis, &new, SignatureParams::default(), 2);
        assert!(d.len() <= 4 + 17 + 1, "{name}: {} bytes", d.len());
    }
}

#[test]
fn small_edits_give_small_deltas() {
    let cases = common::cases();
    let (_, basis, new) = cases.iter().find(|c| c.0 == "scattered-edits").unwrap();
    let d = round_trip(basis, new, SignatureParams::default(), 1);
    // 29 one-byte edits, each costing at most one 512-byte block of literal
    // plus command overhead.
    assert!(d.len() < 29 * (512 + 16), "{} bytes", d.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_pairs_round_trip(
        basis in proptest::collection::vec(any::<u8>(), 0..3000),
        new in proptest::collection::vec(any::<u8>(), 0..3000),
        block_len in 1u32..300,
    ) {
        let params = SignatureParams { block_len, ..SignatureParams::default() };
        round_trip(&basis, &new, params, 1);
    }

    #[test]
    fn edited_copies_round_trip(
        basis in proptest::collection::vec(0u8..4, 0..6000),
        edits in proptest::collection::vec((any::<usize>(), 0usize..40, proptest::collection::vec(0u8..4, 0..40)), 0..8),
        block_len in prop_oneof![Just(16u32), Just(64), Just(512)],
    ) {
        // Low-entropy bytes make weak-sum collisions and repeated blocks common.
        let mut new = basis.clone();
        for (at, del, ins) in edits {
            let at = if new.is_empty() { 0 } else { at % new.len() };
            let end = (at + del).min(new.len());
            new.splice(at..end, ins);
        }
        let params = SignatureParams { block_len, ..SignatureParams::default() };
        let one = round_trip(&basis, &new, params, 1);
        let two = round_trip(&basis, &new, params, 2);
        prop_assert_eq!(one, two);
    }

    #[test]
    fn patch_never_panics_on_garbage(
        basis in proptest::collection::vec(any::<u8>(), 0..200),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut d = vec![0x72, 0x73, 0x02, 0x36];
        d.extend(body);
        let _ = patch(Cursor::new(&basis[..]), &d[..], std::io::sink());
    }

    #[test]
    fn signature_reader_never_panics_on_garbage(
        header in prop_oneof![Just(vec![0x72u8, 0x73, 0x01, 0x37]), Just(vec![0x72u8, 0x73, 0x01, 0x36])],
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut s = header;
        s.extend(body);
        delta::fuzzing::signature_entry(&s);
    }
}
