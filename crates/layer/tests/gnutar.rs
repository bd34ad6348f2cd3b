#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Cross-check with GNU tar: archives it writes of a generated tree, in
//! POSIX (PAX) and GNU formats, must apply and reassemble byte for byte.

mod common;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

fn set_mtime(p: &Path, secs: i64) {
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 250_000_000,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &ts,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn make_tree(root: &Path) {
    let long_dir = root.join(format!("dir/{}", "l".repeat(120)));
    std::fs::create_dir_all(&long_dir).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::write(root.join("dir/a.txt"), b"alpha\n").unwrap();
    std::fs::write(long_dir.join("f".repeat(140)), b"deep and long\n").unwrap();
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 11) as u8)
        .collect();
    std::fs::write(root.join("dir/big.bin"), &big).unwrap();
    std::fs::write(root.join("dir/empty"), b"").unwrap();
    std::fs::write(root.join(os(b"caf\xe9")), b"latin-1 name").unwrap();
    std::fs::write(root.join("we&ird <name>"), b"escaped in JSON").unwrap();
    symlink("a.txt", root.join("dir/link")).unwrap();
    symlink("/usr/bin", root.join("abs")).unwrap();
    symlink("t".repeat(150), root.join("longlink")).unwrap();
    std::fs::hard_link(root.join("dir/a.txt"), root.join("dir/hard")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    let suid = root.join("dir/suid");
    std::fs::write(&suid, b"#!/bin/sh\n").unwrap();
    rustix::fs::chown(
        &suid,
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(1000)),
    )
    .unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    rustix::fs::setxattr(
        root.join("dir/a.txt"),
        "user.test",
        b"hello",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    for p in walk(root) {
        set_mtime(&root.join(p), 1_650_000_000);
    }
}

fn gnu_tar(format: &str) -> Option<Vec<u8>> {
    if Command::new("tar").arg("--version").output().is_err() {
        eprintln!("GNU tar not found; skipping");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src);
    let out = tmp.path().join("out.tar");
    let mut cmd = Command::new("tar");
    cmd.arg(format!("--format={format}"));
    if format == "posix" {
        cmd.arg("--xattrs").arg("--xattrs-include=user.*");
    }
    let st = cmd
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    Some(std::fs::read(out).unwrap())
}

fn check_tree(d: &Path) {
    assert_eq!(std::fs::read(d.join("dir/a.txt")).unwrap(), b"alpha\n");
    assert_eq!(
        std::fs::metadata(d.join("dir/big.bin")).unwrap().len(),
        3 << 20
    );
    assert_eq!(
        lstat(&d.join("dir/hard")).st_ino,
        lstat(&d.join("dir/a.txt")).st_ino
    );
    assert_eq!(
        std::fs::read_link(d.join("longlink"))
            .unwrap()
            .as_os_str()
            .len(),
        150
    );
    let m = std::fs::symlink_metadata(d.join("null")).unwrap();
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
    let m = std::fs::symlink_metadata(d.join("dir/suid")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 1000, 1000));
    assert_eq!(m.mtime(), 1_650_000_000);
    assert_eq!(
        std::fs::read(d.join(os(b"caf\xe9"))).unwrap(),
        b"latin-1 name"
    );
}

#[test]
fn gnu_tar_posix_format_roundtrips_byte_exactly() {
    let Some(tar) = gnu_tar("posix") else { return };
    let a = roundtrip(&tar);
    check_tree(&a.dest);
    assert_eq!(
        lgetxattr(&a.dest.join("dir/a.txt"), "user.test"),
        Some(b"hello".to_vec())
    );
    // PAX mtime with sub-second precision is applied.
    assert_eq!(lstat(&a.dest.join("dir/a.txt")).st_mtime_nsec, 250_000_000);
    let json = tar_split_json(&a.tar_split);
    assert!(json.contains("we\\u0026ird \\u003cname\\u003e"));
}

#[test]
fn gnu_tar_gnu_format_roundtrips_byte_exactly() {
    let Some(tar) = gnu_tar("gnu") else { return };
    let a = roundtrip(&tar);
    check_tree(&a.dest);
}
