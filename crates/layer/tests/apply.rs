#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Extraction results and byte-exact reassembly.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::*;
use layer::{ApplyOptions, LayerError, TarSplitError};
use tar::EntryType;

const CAP_NET_BIND: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

fn ft(mode: u32) -> u32 {
    mode & libc::S_IFMT
}

#[test]
fn full_layer_extracts_types_modes_owners_times_xattrs_and_whiteouts() {
    let mut t = TarBuilder::new();
    t.dir("d/", 0o1777, 1000, 1000, 1_000_000_000)
        .file_owned("d/f", 0o4755, 1001, 1002, 1_500_000_000, b"hello")
        .file_owned("d/g", 0o6750, 3, 4, 1_500_000_001, b"setgid")
        .link(EntryType::Symlink, "d/s", "f", 5, 6, 1_234_567_890)
        .link(EntryType::Link, "d/h", "d/f", 1001, 1002, 1_500_000_000)
        .device(EntryType::Char, "dev/null", 0o666, 1, 3)
        .device(EntryType::Block, "dev/loop0", 0o660, 7, 0)
        .device(EntryType::Fifo, "run/fifo", 0o600, 0, 0)
        .file_owned("etc/.wh.passwd", 0o644, 7, 8, 1, b"")
        .dir("opt/", 0o755, 0, 0, 1_000_000_000)
        .file("opt/.wh..wh..opq", 0o644, b"")
        .pax(&[
            ("mtime", b"1700000000.123456789"),
            ("SCHILY.xattr.user.foo", b"bar"),
            ("SCHILY.xattr.security.capability", CAP_NET_BIND),
        ])
        .ustar_file("bin/ping", 0o755, b"ping!")
        .file("e", 0o600, b"");
    let tar = t.finish();
    let a = roundtrip(&tar);
    let d = &a.dest;
    let stats = a.result.as_ref().unwrap();

    let st = lstat(&d.join("d"));
    assert_eq!(ft(st.st_mode), libc::S_IFDIR);
    assert_eq!(st.st_mode & 0o7777, 0o1777);
    assert_eq!((st.st_uid, st.st_gid), (1000, 1000));
    assert_eq!(st.st_mtime, 1_000_000_000, "dir mtime fixed up at the end");

    let st = lstat(&d.join("d/f"));
    assert_eq!(ft(st.st_mode), libc::S_IFREG);
    // The hard link's header (mode 0777) is applied to the shared inode
    // last, as Docker does.
    assert_eq!(st.st_mode & 0o7777, 0o777);
    assert_eq!((st.st_uid, st.st_gid), (1001, 1002));
    assert_eq!(st.st_mtime, 1_500_000_000);
    assert_eq!(st.st_nlink, 2);
    assert_eq!(std::fs::read(d.join("d/f")).unwrap(), b"hello");
    assert_eq!(lstat(&d.join("d/h")).st_ino, st.st_ino);

    let st = lstat(&d.join("d/g"));
    assert_eq!(
        st.st_mode & 0o7777,
        0o6750,
        "setuid/setgid kept after chown"
    );
    assert_eq!((st.st_uid, st.st_gid), (3, 4));

    let st = lstat(&d.join("d/s"));
    assert_eq!(ft(st.st_mode), libc::S_IFLNK);
    assert_eq!((st.st_uid, st.st_gid), (5, 6));
    assert_eq!(st.st_mtime, 1_234_567_890);
    assert_eq!(
        std::fs::read_link(d.join("d/s")).unwrap(),
        std::path::Path::new("f")
    );

    let m = std::fs::symlink_metadata(d.join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(m.mode() & 0o7777, 0o666);
    let m = std::fs::symlink_metadata(d.join("dev/loop0")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(7, 0));
    assert_eq!(m.mode() & 0o7777, 0o660);
    assert!(std::fs::symlink_metadata(d.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    // Implicit parents: 0755, root.
    let st = lstat(&d.join("dev"));
    assert_eq!(st.st_mode & 0o7777, 0o755);
    assert_eq!((st.st_uid, st.st_gid), (0, 0));

    // Whiteout: 0/0 char device named without the prefix, mode 0.
    let m = std::fs::symlink_metadata(d.join("etc/passwd")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert_eq!(m.mode() & 0o7777, 0);
    assert_eq!((m.uid(), m.gid()), (7, 8));
    assert!(!d.join("etc/.wh.passwd").exists());
    // Opaque directory.
    assert_eq!(
        lgetxattr(&d.join("opt"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert!(!d.join("opt/.wh..wh..opq").exists());

    let st = lstat(&d.join("bin/ping"));
    assert_eq!(
        (st.st_mtime, st.st_mtime_nsec),
        (1_700_000_000, 123_456_789)
    );
    assert_eq!(
        lgetxattr(&d.join("bin/ping"), "user.foo"),
        Some(b"bar".to_vec())
    );
    assert_eq!(
        lgetxattr(&d.join("bin/ping"), "security.capability"),
        Some(CAP_NET_BIND.to_vec())
    );

    // Size as Docker's directory.Size: f (5, once for f and h) + g (6) +
    // symlink (1) + ping (5).
    assert_eq!(stats.size, 17);
    assert_eq!(stats.whiteouts, 1);
    assert_eq!(stats.opaque_dirs, 1);
    assert_eq!(stats.replaced, 0);
}

#[test]
fn tar_split_records_whiteouts_and_empty_entries_without_payload() {
    let mut t = TarBuilder::new();
    t.file("a/.wh.b", 0o644, b"").file("a/c", 0o644, b"xy");
    let a = roundtrip(&t.finish());
    let json = tar_split_json(&a.tar_split);
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(
        lines[1],
        "{\"type\":1,\"name\":\"a/.wh.b\",\"payload\":null,\"position\":1}"
    );
    assert!(lines[3].starts_with("{\"type\":1,\"name\":\"a/c\",\"size\":2,\"payload\":\""));
    assert_eq!(
        *lines.last().unwrap(),
        "{\"type\":2,\"payload\":\"\",\"position\":5}"
    );
}

#[test]
fn roundtrip_gnu_long_names_and_long_link_targets() {
    let long_dir = "d".repeat(90);
    let long = format!("{long_dir}/{}", "n".repeat(200));
    let mut t = TarBuilder::new();
    t.file(&long, 0o644, b"long name content");
    t.link(
        EntryType::Symlink,
        &format!("{long_dir}/sym"),
        &"t".repeat(300),
        0,
        0,
        1,
    );
    let tar = t.finish();
    let a = roundtrip(&tar);
    assert_eq!(
        std::fs::read(a.dest.join(&long)).unwrap(),
        b"long name content"
    );
    assert_eq!(
        std::fs::read_link(a.dest.join(format!("{long_dir}/sym")))
            .unwrap()
            .as_os_str()
            .len(),
        300
    );
}

#[test]
fn roundtrip_pax_long_names_and_link_paths() {
    let long = format!("{}/{}", "p".repeat(150), "q".repeat(150));
    let mut t = TarBuilder::new();
    t.pax(&[("path", long.as_bytes())])
        .ustar_file("truncated", 0o644, b"pax");
    let target = format!("{}/target", "x".repeat(200));
    t.pax(&[("linkpath", target.as_bytes()), ("path", b"lnk")]);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(EntryType::Symlink);
    h.set_path("ignored").unwrap();
    h.set_link_name("ignored").unwrap();
    h.set_cksum();
    t.b.append(&h, &[][..]).unwrap();
    let tar = t.finish();
    let a = roundtrip(&tar);
    assert_eq!(std::fs::read(a.dest.join(&long)).unwrap(), b"pax");
    assert_eq!(
        std::fs::read_link(a.dest.join("lnk")).unwrap(),
        std::path::Path::new(&target)
    );
    assert!(!a.dest.join("truncated").exists());
}

#[test]
fn roundtrip_hard_links() {
    let mut t = TarBuilder::new();
    t.file("a", 0o644, b"shared")
        .link(EntryType::Link, "b", "a", 0, 0, 1)
        .link(EntryType::Link, "sub/c", "./a", 0, 0, 1);
    let a = roundtrip(&t.finish());
    let ino = lstat(&a.dest.join("a")).st_ino;
    assert_eq!(lstat(&a.dest.join("b")).st_ino, ino);
    assert_eq!(lstat(&a.dest.join("sub/c")).st_ino, ino);
    assert_eq!(lstat(&a.dest.join("a")).st_nlink, 3);
    assert_eq!(a.result.as_ref().unwrap().size, 6);
}

#[test]
fn hard_link_to_a_symlink_links_the_symlink_itself() {
    let mut t = TarBuilder::new();
    t.link(EntryType::Symlink, "s", "/etc/passwd", 0, 0, 1)
        .link(EntryType::Link, "h", "s", 0, 0, 1);
    let a = roundtrip(&t.finish());
    let s = lstat(&a.dest.join("s"));
    let h = lstat(&a.dest.join("h"));
    assert_eq!(ft(h.st_mode), libc::S_IFLNK);
    assert_eq!(h.st_ino, s.st_ino);
    assert_ne!(h.st_ino, lstat(std::path::Path::new("/etc/passwd")).st_ino);
}

#[test]
fn roundtrip_symlinks() {
    let mut t = TarBuilder::new();
    t.link(EntryType::Symlink, "abs", "/usr/bin/env", 0, 0, 1)
        .link(EntryType::Symlink, "a/b/rel", "../../x", 0, 0, 1)
        .link(EntryType::Symlink, "dangling", "nowhere", 0, 0, 1);
    let a = roundtrip(&t.finish());
    assert_eq!(
        std::fs::read_link(a.dest.join("a/b/rel")).unwrap(),
        std::path::Path::new("../../x")
    );
}

#[test]
fn roundtrip_empty_files() {
    let mut t = TarBuilder::new();
    t.file("e1", 0o644, b"").file("d/e2", 0o600, b"");
    let a = roundtrip(&t.finish());
    assert_eq!(std::fs::metadata(a.dest.join("d/e2")).unwrap().len(), 0);
    assert_eq!(a.result.as_ref().unwrap().size, 0);
}

#[test]
fn roundtrip_large_files() {
    let big: Vec<u8> = (0..(5u32 << 20) + 123)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut t = TarBuilder::new();
    t.file("big", 0o644, &big).file("after", 0o644, b"z");
    let a = roundtrip(&t.finish());
    assert_eq!(std::fs::read(a.dest.join("big")).unwrap(), big);
    assert_eq!(a.result.as_ref().unwrap().size, big.len() as u64 + 1);
}

#[test]
fn roundtrip_non_utf8_names() {
    let mut t = TarBuilder::new();
    t.file(os(b"caf\xe9"), 0o644, b"latin1")
        .file(os(b"d\xff/x"), 0o644, b"in bad dir");
    let a = roundtrip(&t.finish());
    assert_eq!(
        std::fs::read(a.dest.join(os(b"caf\xe9"))).unwrap(),
        b"latin1"
    );
    let json = tar_split_json(&a.tar_split);
    assert!(json.contains("\"name_raw\":\"Y2Fm6Q==\""), "{json}");
}

#[test]
fn roundtrip_files_with_xattrs() {
    let mut t = TarBuilder::new();
    t.pax(&[
        ("SCHILY.xattr.user.one", b"1"),
        ("SCHILY.xattr.user.bin", b"\x00\n\xff"),
    ])
    .ustar_file("x", 0o644, b"data");
    t.pax(&[("SCHILY.xattr.user.dir", b"d")]);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(EntryType::Directory);
    h.set_path("dir/").unwrap();
    h.set_mode(0o755);
    h.set_cksum();
    t.b.append(&h, &[][..]).unwrap();
    let a = roundtrip(&t.finish());
    assert_eq!(
        lgetxattr(&a.dest.join("x"), "user.one"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        lgetxattr(&a.dest.join("x"), "user.bin"),
        Some(b"\x00\n\xff".to_vec())
    );
    assert_eq!(
        lgetxattr(&a.dest.join("dir"), "user.dir"),
        Some(b"d".to_vec())
    );
}

#[test]
fn roundtrip_devices() {
    let mut t = TarBuilder::new();
    t.device(EntryType::Char, "c", 0o620, 136, 5)
        .device(EntryType::Block, "b", 0o600, 259, 1_048_575)
        .device(EntryType::Fifo, "p", 0o644, 0, 0);
    let a = roundtrip(&t.finish());
    let m = std::fs::symlink_metadata(a.dest.join("b")).unwrap();
    assert_eq!(m.rdev(), rustix::fs::makedev(259, 1_048_575));
}

#[test]
fn trailing_data_after_the_archive_is_kept_in_the_tar_split() {
    let mut t = TarBuilder::new();
    t.file("a", 0o644, b"1");
    let mut tar = t.finish();
    tar.extend_from_slice(&[0u8; 9216]);
    tar.extend_from_slice(b"garbage after the end");
    roundtrip(&tar);
}

#[test]
fn root_entry_is_skipped() {
    let mut t = TarBuilder::new();
    t.dir("./", 0o700, 5, 5, 1).file("./a", 0o644, b"1");
    let a = roundtrip(&t.finish());
    assert_ne!(lstat(&a.dest).st_mode & 0o777, 0o700);
}

#[test]
fn file_over_implicit_directory_replaces_it() {
    let mut t = TarBuilder::new();
    t.file("d/inner", 0o644, b"x")
        .file("d", 0o644, b"now a file");
    let a = apply(&t.finish());
    let stats = a.result.unwrap();
    assert_eq!(stats.replaced, 1);
    assert_eq!(std::fs::read(a.dest.join("d")).unwrap(), b"now a file");
}

#[test]
fn directory_over_implicit_directory_merges_and_takes_metadata() {
    let mut t = TarBuilder::new();
    t.file("d/inner", 0o644, b"x")
        .dir("d/", 0o711, 42, 43, 1_000);
    let a = roundtrip(&t.finish());
    let st = lstat(&a.dest.join("d"));
    assert_eq!(st.st_mode & 0o7777, 0o711);
    assert_eq!((st.st_uid, st.st_gid, st.st_mtime), (42, 43, 1_000));
    assert!(a.dest.join("d/inner").exists());
    assert_eq!(a.result.unwrap().replaced, 0);
}

#[test]
fn file_after_its_whiteout_replaces_the_whiteout() {
    let mut t = TarBuilder::new();
    t.file(".wh.a", 0o644, b"").file("a", 0o644, b"back");
    let a = roundtrip(&t.finish());
    assert_eq!(std::fs::read(a.dest.join("a")).unwrap(), b"back");
    assert_eq!(a.result.unwrap().replaced, 1);
}

#[test]
fn whiteout_of_an_existing_entry_is_refused() {
    let mut t = TarBuilder::new();
    t.file("a", 0o644, b"").file(".wh.a", 0o644, b"");
    let a = apply(&t.finish());
    assert!(matches!(
        a.result,
        Err(LayerError::WhiteoutTargetExists { .. })
    ));
}

#[test]
fn dir_over_file_and_file_over_dir_are_duplicates_as_in_docker() {
    for (first, second) in [("x", "x/"), ("x/", "x")] {
        let mut t = TarBuilder::new();
        if first.ends_with('/') {
            t.dir(first, 0o755, 0, 0, 1).file(second, 0o644, b"f");
        } else {
            t.file(first, 0o644, b"f").dir(second, 0o755, 0, 0, 1);
        }
        let a = apply(&t.finish());
        assert!(
            matches!(
                a.result,
                Err(LayerError::Tar(TarSplitError::DuplicatePath { .. }))
            ),
            "{first} then {second}: {:?}",
            a.result
        );
    }
}

#[test]
fn owners_are_left_alone_without_chown() {
    let mut t = TarBuilder::new();
    t.file_owned("a", 0o644, 1234, 5678, 1, b"x");
    let mut opts = ApplyOptions::default();
    opts.chown = false;
    let a = apply_with(&t.finish(), &opts);
    a.result.unwrap();
    let st = lstat(&a.dest.join("a"));
    assert_eq!((st.st_uid, st.st_gid), (0, 0));
}

#[test]
fn destination_must_be_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x"), b"").unwrap();
    let r = layer::apply_layer(
        &end_blocks()[..],
        tmp.path(),
        std::io::sink(),
        &ApplyOptions::default(),
    );
    assert!(matches!(r, Err(LayerError::DestNotEmpty { .. })));
}

#[test]
fn sync_layer_succeeds_on_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    layer::sync_layer(tmp.path()).unwrap();
}

#[test]
fn verify_reports_modified_and_missing_files() {
    let mut t = TarBuilder::new();
    t.file("a", 0o644, b"original").file("b", 0o644, b"other");
    let a = roundtrip(&t.finish());
    std::fs::write(a.dest.join("a"), b"tampered").unwrap();
    assert!(matches!(
        layer::verify_layer(&a.tar_split[..], &a.dest),
        Err(TarSplitError::ChecksumMismatch { ref name, .. }) if name == "a"
    ));
    std::fs::write(a.dest.join("a"), b"short").unwrap();
    assert!(matches!(
        layer::verify_layer(&a.tar_split[..], &a.dest),
        Err(TarSplitError::SizeMismatch {
            expected: 8,
            actual: 5,
            ..
        })
    ));
    std::fs::remove_file(a.dest.join("a")).unwrap();
    assert!(matches!(
        layer::verify_layer(&a.tar_split[..], &a.dest),
        Err(TarSplitError::OpenFile { .. })
    ));
    // A FIFO where a file should be is not opened.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        a.dest.join("a"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert!(matches!(
        layer::verify_layer(&a.tar_split[..], &a.dest),
        Err(TarSplitError::NotRegularFile { .. })
    ));
}
