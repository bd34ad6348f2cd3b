#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Helpers shared by the integration tests.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use layer::{apply_layer, assemble, verify_layer, ApplyOptions, ApplyStats, LayerError};
use sha2::{Digest, Sha256};

pub fn sha256_hex(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

/// Go's `formatPAXRecord`.
pub fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let mut size = k.len() + v.len() + 3;
    size += size.to_string().len();
    let mut r = format!("{size} {k}=").into_bytes();
    r.extend_from_slice(v);
    r.push(b'\n');
    if r.len() != size {
        let size = r.len();
        r = format!("{size} {k}=").into_bytes();
        r.extend_from_slice(v);
        r.push(b'\n');
    }
    r
}

/// A tar being built with the `tar` crate, plus raw helpers.
pub struct TarBuilder {
    pub b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    pub fn dir(&mut self, name: &str, mode: u32, uid: u64, gid: u64, mtime: u64) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, gid, mtime);
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    pub fn file(&mut self, name: impl AsRef<Path>, mode: u32, data: &[u8]) -> &mut Self {
        self.file_owned(name, mode, 0, 0, 1_600_000_000, data)
    }

    pub fn file_owned(
        &mut self,
        name: impl AsRef<Path>,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, uid, gid, mtime);
        h.set_size(data.len() as u64);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    pub fn link(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        target: &str,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = Self::header(kind, 0o777, uid, gid, mtime);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    pub fn device(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = Self::header(kind, mode, 0, 0, 1_600_000_000);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    /// A PAX `x` header with these records, applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders.0/entry").unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.b.append(&h, &data[..]).unwrap();
        self
    }

    /// A ustar entry whose header is written as is (used after `pax`).
    pub fn ustar_file(&mut self, short_name: &str, mode: u32, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(short_name).unwrap();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// Raw bytes appended as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        use std::io::Write;
        self.b.get_mut().write_all(bytes).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A GNU header block written field by field, for names the `tar` crate
/// refuses (absolute, `..`).
pub fn raw_header(name: &[u8], typeflag: u8, size: u64) -> Vec<u8> {
    raw_header_full(name, typeflag, size, b"")
}

/// A header-only link entry with an arbitrary target.
pub fn raw_header_with_link(name: &[u8], typeflag: u8, link: &[u8]) -> Vec<u8> {
    raw_header_full(name, typeflag, 0, link)
}

pub fn raw_header_full(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.as_old_mut().linkflag = [typeflag];
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Content plus padding to the next block.
pub fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

pub fn end_blocks() -> Vec<u8> {
    vec![0u8; 1024]
}

pub struct Applied {
    pub tmp: tempfile::TempDir,
    pub dest: PathBuf,
    pub tar_split: Vec<u8>,
    pub result: Result<ApplyStats, LayerError>,
}

/// Applies `tar` into a fresh `dest` under a temporary directory.
pub fn apply(tar: &[u8]) -> Applied {
    apply_with(tar, &ApplyOptions::default())
}

pub fn apply_with(tar: &[u8], opts: &ApplyOptions) -> Applied {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let mut tar_split = Vec::new();
    let result = apply_layer(tar, &dest, &mut tar_split, opts);
    Applied {
        tmp,
        dest,
        tar_split,
        result,
    }
}

/// Applies `tar`, then checks that reassembly gives it back byte for byte
/// and that `verify_layer` gives its sha256.
pub fn roundtrip(tar: &[u8]) -> Applied {
    let a = apply(tar);
    let stats = a.result.as_ref().expect("apply");
    assert_eq!(stats.diff_id, sha256_hex(tar));
    assert_eq!(stats.tar_bytes, tar.len() as u64);
    let mut out = Vec::new();
    let n = assemble(&a.tar_split[..], &a.dest, &mut out).expect("assemble");
    assert_eq!(n, tar.len() as u64);
    if out != tar {
        let pos = out.iter().zip(tar).position(|(a, b)| a != b);
        panic!(
            "reassembled tar differs (lengths {} vs {}, first difference at {:?})",
            out.len(),
            tar.len(),
            pos
        );
    }
    assert_eq!(
        verify_layer(&a.tar_split[..], &a.dest).unwrap(),
        sha256_hex(tar)
    );
    a
}

/// The uncompressed JSON lines of a tar-split.
pub fn tar_split_json(gz: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_string(&mut s)
        .unwrap();
    s
}

pub fn lstat(p: &Path) -> rustix::fs::Stat {
    rustix::fs::lstat(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

pub fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

/// Every path under `root` (recursively, not following symlinks), relative.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b)
}
