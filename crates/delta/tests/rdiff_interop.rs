#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Interoperability with librsync's `rdiff` (Debian package `rdiff`).
//! Skips, printing why, when `rdiff` is not on PATH.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use delta::{delta, patch, write_signature, HashKind, Signature, SignatureParams};

fn have_rdiff() -> bool {
    match Command::new("rdiff").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIPPED: `rdiff` is not on PATH (apt-get install rdiff)");
            false
        }
    }
}

fn rdiff(args: &[&str], paths: &[&Path]) {
    let mut cmd = Command::new("rdiff");
    cmd.args(args).args(paths);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "rdiff {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hash_arg(h: HashKind) -> &'static str {
    match h {
        HashKind::Blake2 => "blake2",
        HashKind::Md4 => "md4",
    }
}

fn rdiff_signature(dir: &Path, basis: &Path, p: SignatureParams) -> Vec<u8> {
    let sig = dir.join("rdiff.sig");
    let _ = fs::remove_file(&sig);
    let b = p.block_len.to_string();
    let s = p.strong_len.to_string();
    rdiff(
        &[
            "-H",
            hash_arg(p.hash),
            "-R",
            "rollsum",
            "-b",
            &b,
            "-S",
            &s,
            "signature",
        ],
        &[basis, &sig],
    );
    fs::read(sig).unwrap()
}

#[test]
fn signatures_are_byte_identical_to_rdiff() {
    if !have_rdiff() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let basis_path = dir.path().join("basis");
    let params = [
        SignatureParams::default(),
        SignatureParams {
            hash: HashKind::Md4,
            block_len: 512,
            strong_len: 16,
        },
        SignatureParams {
            hash: HashKind::Blake2,
            block_len: 100,
            strong_len: 8,
        },
    ];
    for (name, basis, _) in common::cases() {
        fs::write(&basis_path, &basis).unwrap();
        for p in params {
            let theirs = rdiff_signature(dir.path(), &basis_path, p);
            let mut ours = Vec::new();
            write_signature(&basis[..], p, &mut ours, 2).unwrap();
            assert!(ours == theirs, "{name} {p:?}: signature differs from rdiff");
            // And rdiff's signature reads back to the same thing.
            let mut again = Vec::new();
            Signature::read(&theirs[..])
                .unwrap()
                .write_to(&mut again)
                .unwrap();
            assert!(
                again == theirs,
                "{name}: re-serialized rdiff signature differs"
            );
        }
    }
}

#[test]
fn deltas_interoperate_with_rdiff_both_ways() {
    if !have_rdiff() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (basis_path, new_path) = (dir.path().join("basis"), dir.path().join("new"));
    let (ours_path, theirs_path) = (
        dir.path().join("ours.delta"),
        dir.path().join("theirs.delta"),
    );
    let out_path = dir.path().join("out");
    let sig_path = dir.path().join("rdiff.sig");
    println!(
        "{:<24} {:>9} {:>12} {:>12} {:>10}",
        "case", "new", "ours", "rdiff", "identical"
    );
    for (name, basis, new) in common::cases() {
        fs::write(&basis_path, &basis).unwrap();
        fs::write(&new_path, &new).unwrap();
        let p = SignatureParams::default();
        let sig_bytes = rdiff_signature(dir.path(), &basis_path, p);
        fs::write(&sig_path, &sig_bytes).unwrap();
        let sig = Signature::read(&sig_bytes[..]).unwrap();

        // Our delta, applied by rdiff.
        let mut ours = Vec::new();
        delta(&sig, &new[..], &mut ours, 2).unwrap();
        fs::write(&ours_path, &ours).unwrap();
        let _ = fs::remove_file(&out_path);
        rdiff(&["patch"], &[&basis_path, &ours_path, &out_path]);
        assert!(
            fs::read(&out_path).unwrap() == new,
            "{name}: rdiff patch of our delta differs"
        );

        // rdiff's delta, applied by us.
        let _ = fs::remove_file(&theirs_path);
        rdiff(&["delta"], &[&sig_path, &new_path, &theirs_path]);
        let theirs = fs::read(&theirs_path).unwrap();
        let mut out = Vec::new();
        patch(Cursor::new(&basis[..]), &theirs[..], &mut out).unwrap();
        assert!(out == new, "{name}: our patch of rdiff's delta differs");

        println!(
            "{name:<24} {:>9} {:>12} {:>12} {:>10}",
            new.len(),
            ours.len(),
            theirs.len(),
            ours == theirs
        );
        assert!(
            ours.len() <= theirs.len(),
            "{name}: our delta ({}) is larger than rdiff's ({})",
            ours.len(),
            theirs.len()
        );
    }
}
