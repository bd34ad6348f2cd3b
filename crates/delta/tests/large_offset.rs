#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Copies from beyond 4 GiB (8-byte offsets) against a sparse basis file.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use delta::{delta, patch, HashKind, Signature, SignatureParams, MAX_BLOCK_LEN};

const FOUR_GIB: u64 = 1 << 32;
const BL: u64 = MAX_BLOCK_LEN as u64;
const MARKER: &[u8] = b"MARKER-BEYOND-4GIB";

/// Sparse basis: zeros, plus MARKER at 4 GiB + 16 MiB + 5.
fn sparse_basis(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let path = dir.join("basis");
    let len = FOUR_GIB + BL + 4096;
    let mut f = File::create(&path).unwrap();
    f.set_len(len).unwrap();
    f.seek(SeekFrom::Start(FOUR_GIB + BL + 5)).unwrap();
    f.write_all(MARKER).unwrap();
    (path, len)
}

#[test]
fn patch_copies_from_beyond_4gib() {
    let dir = tempfile::tempdir().unwrap();
    let (path, len) = sparse_basis(dir.path());
    let pos = FOUR_GIB + BL + 5;
    // magic, literal "<", copy(pos, len(MARKER)) with an 8-byte offset,
    // literal ">", copy of the last byte, end.
    let mut d = vec![0x72, 0x73, 0x02, 0x36, 0x01, b'<', 0x51];
    d.extend_from_slice(&pos.to_be_bytes());
    d.push(MARKER.len() as u8);
    d.extend_from_slice(&[0x01, b'>', 0x51]);
    d.extend_from_slice(&(len - 1).to_be_bytes());
    d.extend_from_slice(&[1, 0x00]);
    let mut out = Vec::new();
    let stats = patch(File::open(&path).unwrap(), &d[..], &mut out).unwrap();
    let mut want = b"<".to_vec();
    want.extend_from_slice(MARKER);
    want.extend_from_slice(b">\0");
    assert_eq!(out, want);
    assert_eq!(stats.copy_bytes, MARKER.len() as u64 + 1);

    // One byte past the end is rejected.
    let mut bad = vec![0x72, 0x73, 0x02, 0x36, 0x51];
    bad.extend_from_slice(&(len - 1).to_be_bytes());
    bad.extend_from_slice(&[2, 0x00]);
    let err = patch(File::open(&path).unwrap(), &bad[..], std::io::sink()).unwrap_err();
    assert!(
        matches!(err, delta::PatchError::CopyOutOfRange { basis_len, .. } if basis_len == len),
        "{err}"
    );
}

#[test]
fn generated_delta_uses_8_byte_offsets_beyond_4gib() {
    // A signature of 257 blocks of 16 MiB whose only real block, number 256
    // (at exactly 4 GiB), is 16 MiB of zeros; the others have sums no
    // window can match.
    let zeros = vec![0u8; BL as usize];
    let params = SignatureParams {
        block_len: MAX_BLOCK_LEN,
        ..SignatureParams::default()
    };
    let real = Signature::generate(&zeros[..], params, 2).unwrap();
    let mut real_bytes = Vec::new();
    real.write_to(&mut real_bytes).unwrap();
    let mut sig_bytes = vec![0x72, 0x73, 0x01, 0x37];
    sig_bytes.extend_from_slice(&MAX_BLOCK_LEN.to_be_bytes());
    sig_bytes.extend_from_slice(&32u32.to_be_bytes());
    for i in 0..256u32 {
        sig_bytes.extend_from_slice(&(0xdead_0000 + i).to_be_bytes());
        sig_bytes.extend_from_slice(&[i as u8; 32]);
    }
    sig_bytes.extend_from_slice(&real_bytes[12..]);
    let sig = Signature::read(&sig_bytes[..]).unwrap();
    assert_eq!(sig.params().hash, HashKind::Blake2);
    assert_eq!(sig.block_count(), 257);

    let mut d = Vec::new();
    delta(&sig, &zeros[..], &mut d, 2).unwrap();
    // copy(4 GiB, 16 MiB): opcode 0x53 = 8-byte offset, 4-byte length.
    let mut want = vec![0x72, 0x73, 0x02, 0x36, 0x53];
    want.extend_from_slice(&FOUR_GIB.to_be_bytes());
    want.extend_from_slice(&(BL as u32).to_be_bytes());
    want.push(0);
    assert_eq!(d, want);

    let dir = tempfile::tempdir().unwrap();
    let (path, _) = sparse_basis(dir.path());
    let mut out = Vec::new();
    patch(File::open(&path).unwrap(), &d[..], &mut out).unwrap();
    assert!(out == zeros);

    if Command::new("rdiff").arg("--version").output().is_ok() {
        let dpath = dir.path().join("delta");
        let opath = dir.path().join("out");
        std::fs::write(&dpath, &d).unwrap();
        let st = Command::new("rdiff")
            .arg("patch")
            .args([&path, &dpath, &opath])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(std::fs::read(&opath).unwrap() == zeros);
    } else {
        eprintln!("SKIPPED rdiff part: `rdiff` is not on PATH");
    }
}
