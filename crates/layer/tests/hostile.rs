#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile layers: each must be refused with a clear error, and nothing may
//! appear outside the destination. The destination sits at
//! `<tmp>/sandbox/a/b/dest` so that `../..` escapes land somewhere this
//! test can see; names that would escape to the host use a unique name
//! under /tmp that is checked not to exist.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use layer::{apply_layer, ApplyOptions, LayerError, TarSplitError};

fn unique(tag: &str) -> String {
    format!("layer-hostile-{}-{tag}", std::process::id())
}

/// Applies `tar` and returns the error; asserts nothing was created in the
/// sandbox outside `dest`.
fn refused(tar: impl Read) -> LayerError {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("sandbox/a/b/dest");
    std::fs::create_dir_all(&dest).unwrap();
    let r = apply_layer(tar, &dest, std::io::sink(), &ApplyOptions::default());
    let outside: Vec<PathBuf> = walk(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with("sandbox/a/b/dest"))
        .filter(|p| {
            ![
                Path::new("sandbox"),
                Path::new("sandbox/a"),
                Path::new("sandbox/a/b"),
            ]
            .contains(&p.as_path())
        })
        .collect();
    assert!(outside.is_empty(), "created outside dest: {outside:?}");
    match r {
        Ok(s) => panic!("hostile layer accepted: {s:?}"),
        Err(e) => e,
    }
}

fn tar_of(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v = parts.concat();
    v.extend_from_slice(&end_blocks());
    v
}

#[test]
fn dot_dot_path_is_refused() {
    let tar = tar_of(&[raw_header(b"../../etc/x", b'0', 3), padded(b"bad")]);
    let e = refused(&tar[..]);
    assert!(
        matches!(e, LayerError::DotDot { ref name } if name == "../../etc/x"),
        "{e}"
    );
}

#[test]
fn dot_dot_inside_a_path_is_refused() {
    let tar = tar_of(&[raw_header(b"x/../../../y", b'5', 0)]);
    assert!(matches!(refused(&tar[..]), LayerError::DotDot { .. }));
}

#[test]
fn absolute_path_is_refused() {
    let host = format!("/tmp/{}", unique("abs"));
    let tar = tar_of(&[raw_header(host.as_bytes(), b'0', 3), padded(b"bad")]);
    let e = refused(&tar[..]);
    assert!(matches!(e, LayerError::AbsolutePath { .. }), "{e}");
    assert!(!Path::new(&host).exists());
}

#[test]
fn write_through_symlink_to_root_is_refused() {
    let host = format!("/tmp/{}", unique("root"));
    let mut t = TarBuilder::new();
    t.link(tar::EntryType::Symlink, "a", "/", 0, 0, 1);
    t.raw(&raw_header(format!("a{host}/x").as_bytes(), b'0', 3))
        .raw(&padded(b"bad"));
    let e = refused(&t.finish()[..]);
    assert!(matches!(e, LayerError::SymlinkInPath { .. }), "{e}");
    assert!(!Path::new(&host).exists());
    assert!(!Path::new("/etc/x").exists());
}

#[test]
fn symlink_to_parent_of_root_is_refused() {
    let tar = tar_of(&[
        raw_header_with_link(b"a", b'2', b"../.."),
        raw_header(b"a/x", b'0', 3),
        padded(b"bad"),
    ]);
    let e = refused(&tar[..]);
    assert!(
        matches!(e, LayerError::SymlinkEscape { ref target, .. } if target == "../.."),
        "{e}"
    );
}

#[test]
fn hard_link_to_outside_file_is_refused() {
    let passwd_links = lstat(Path::new("/etc/passwd")).st_nlink;
    let tar = tar_of(&[raw_header_with_link(b"p", b'1', b"../../../etc/passwd")]);
    let e = refused(&tar[..]);
    assert!(matches!(e, LayerError::HardLinkEscape { .. }), "{e}");
    assert_eq!(lstat(Path::new("/etc/passwd")).st_nlink, passwd_links);
}

#[test]
fn hard_link_to_absolute_path_is_refused() {
    let tar = tar_of(&[raw_header_with_link(b"p", b'1', b"/etc/passwd")]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::HardLinkEscape { .. }
    ));
}

#[test]
fn hard_link_to_a_symlink_pointing_outside_is_refused() {
    let tar = tar_of(&[
        raw_header_with_link(b"s", b'2', b"../../../../../etc/passwd"),
        raw_header_with_link(b"h", b'1', b"s"),
    ]);
    let e = refused(&tar[..]);
    assert!(matches!(e, LayerError::SymlinkEscape { .. }), "{e}");
}

#[test]
fn hard_link_through_a_symlinked_directory_is_refused() {
    let passwd_links = lstat(Path::new("/etc/passwd")).st_nlink;
    let tar = tar_of(&[
        raw_header_with_link(b"etc", b'2', b"/etc"),
        raw_header_with_link(b"p", b'1', b"etc/passwd"),
    ]);
    let e = refused(&tar[..]);
    assert!(matches!(e, LayerError::SymlinkInPath { .. }), "{e}");
    assert_eq!(lstat(Path::new("/etc/passwd")).st_nlink, passwd_links);
}

#[test]
fn hard_link_to_missing_target_is_refused() {
    let tar = tar_of(&[raw_header_with_link(b"h", b'1', b"nope/x")]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::HardLinkTargetMissing { .. }
    ));
    let tar = tar_of(&[raw_header_with_link(b"h", b'1', b"nope")]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::HardLinkTargetMissing { .. }
    ));
}

#[test]
fn hard_link_to_a_directory_is_refused() {
    let tar = tar_of(&[
        raw_header(b"d/", b'5', 0),
        raw_header_with_link(b"h", b'1', b"d"),
    ]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::Fs { op: "link", .. }
    ));
}

#[test]
fn entries_through_a_file_are_refused() {
    let tar = tar_of(&[
        raw_header(b"f", b'0', 1),
        padded(b"1"),
        raw_header(b"f/d/", b'5', 0),
    ]);
    let e = refused(&tar[..]);
    assert!(
        matches!(e, LayerError::NotADirectory { ref name } if name == "f/d/"),
        "{e}"
    );
}

#[test]
fn oversized_pax_header_is_refused_without_reading_it() {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/big").unwrap();
    h.set_size(100 << 20);
    h.set_cksum();
    let stream =
        std::io::Cursor::new(h.as_bytes().to_vec()).chain(std::io::repeat(b'9').take(100 << 20));
    let mut counted = Counted(stream, 0);
    let e = refused(&mut counted);
    assert!(
        matches!(
            e,
            LayerError::Tar(TarSplitError::HeaderDataTooLarge {
                size: 104_857_600,
                limit: 1_048_576,
                ..
            })
        ),
        "{e}"
    );
    assert!(counted.1 < 1 << 20, "read {} bytes", counted.1);
}

#[test]
fn oversized_gnu_long_name_is_refused() {
    let tar = tar_of(&[raw_header(b"././@LongLink", b'L', 2 << 20)]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::Tar(TarSplitError::HeaderDataTooLarge { typeflag: 'L', .. })
    ));
}

#[test]
fn absurd_file_size_is_refused_without_allocating() {
    let mut h = raw_header(b"huge", b'0', 0);
    // base-256 size 2^62
    h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    let mut t = tar::Header::new_gnu();
    t.as_mut_bytes().copy_from_slice(&h);
    t.set_cksum();
    let mut tar = t.as_bytes().to_vec();
    tar.extend_from_slice(&[7u8; 4096]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::Tar(TarSplitError::UnexpectedEof {
            what: "file content",
            ..
        })
    ));
    // Negative size.
    h[124..136].copy_from_slice(&[0xff; 12]);
    t.as_mut_bytes().copy_from_slice(&h);
    t.set_cksum();
    assert!(matches!(
        refused(t.as_bytes().as_slice()),
        LayerError::Tar(TarSplitError::BadHeader { .. })
    ));
}

#[test]
fn device_node_through_a_symlink_is_refused() {
    let host = format!("/tmp/{}", unique("dev"));
    let mut t = TarBuilder::new();
    t.link(tar::EntryType::Symlink, "l", "/tmp", 0, 0, 1);
    let name = format!("l/{}", unique("dev"));
    t.device(tar::EntryType::Char, &name, 0o666, 1, 3);
    let e = refused(&t.finish()[..]);
    assert!(matches!(e, LayerError::SymlinkInPath { .. }), "{e}");
    assert!(!Path::new(&host).exists());
}

#[test]
fn writing_over_a_symlink_with_the_same_name_is_a_duplicate() {
    let host = format!("/tmp/{}", unique("final"));
    let mut t = TarBuilder::new();
    t.link(tar::EntryType::Symlink, "a", &host, 0, 0, 1)
        .file("a", 0o644, b"bad");
    let e = refused(&t.finish()[..]);
    assert!(matches!(
        e,
        LayerError::Tar(TarSplitError::DuplicatePath { .. })
    ));
    assert!(!Path::new(&host).exists());
}

#[test]
fn malformed_whiteouts_are_refused() {
    for name in [&b".wh."[..], b".wh..", b"d/.wh..."] {
        let tar = tar_of(&[raw_header(name, b'0', 0)]);
        assert!(
            matches!(refused(&tar[..]), LayerError::InvalidWhiteout { .. }),
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    let tar = tar_of(&[raw_header(b".wh.x", b'0', 1), padded(b"1")]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::WhiteoutWithContent { .. }
    ));
}

#[test]
fn invalid_owner_is_refused() {
    let mut t = TarBuilder::new();
    t.pax(&[("uid", b"4294967295")]).ustar_file("a", 0o644, b"");
    assert!(matches!(
        refused(&t.finish()[..]),
        LayerError::InvalidOwner { .. }
    ));
}

#[test]
fn unsupported_types_are_refused() {
    let tar = tar_of(&[raw_header(b"c", b'7', 0)]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::UnsupportedType { typeflag: '7', .. }
    ));
}

#[test]
fn root_entry_that_is_not_a_directory_is_refused() {
    let tar = tar_of(&[raw_header(b"./", b'2', 0)]);
    assert!(matches!(
        refused(&tar[..]),
        LayerError::RootNotDirectory { .. }
    ));
}

struct Counted<R>(R, u64);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1 += n as u64;
        Ok(n)
    }
}
