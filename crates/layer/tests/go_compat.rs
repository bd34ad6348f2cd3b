#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Compatibility with Go's tar-split, through a fixture derived by hand
//! from the Go code (see tests/fixtures/go-compat/make_fixture.py and its
//! docstring): `layer.tar` and the `tar-split.json.gz` Go's
//! `asm.NewInputTarStream` + `storage.NewJSONPacker` write for it.

mod common;

use common::*;

const TAR: &[u8] = include_bytes!("fixtures/go-compat/layer.tar");
const GO_TAR_SPLIT_GZ: &[u8] = include_bytes!("fixtures/go-compat/tar-split.json.gz");

#[test]
fn our_tar_split_is_line_for_line_what_go_writes() {
    let a = roundtrip(TAR);
    let ours = tar_split_json(&a.tar_split);
    let go = tar_split_json(GO_TAR_SPLIT_GZ);
    for (i, (o, g)) in ours.lines().zip(go.lines()).enumerate() {
        assert_eq!(o, g, "line {}", i + 1);
    }
    assert_eq!(ours, go);
}

#[test]
fn go_tar_split_reassembles_our_extraction() {
    let a = apply(TAR);
    a.result.unwrap();
    let mut out = Vec::new();
    layer::assemble(GO_TAR_SPLIT_GZ, &a.dest, &mut out).unwrap();
    assert_eq!(out, TAR);
    assert_eq!(
        layer::verify_layer(GO_TAR_SPLIT_GZ, &a.dest).unwrap(),
        sha256_hex(TAR)
    );
    assert_eq!(
        lgetxattr(
            &a.dest.join(format!("dir/pax-{}", "p".repeat(120))),
            "user.k"
        ),
        Some(b"v".to_vec())
    );
}
