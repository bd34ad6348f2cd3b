//! Extraction of a layer tar into an overlay2 `diff` directory, recording
//! its tar-split on the way (Docker's `layerStore.applyTar` with the
//! overlay2 driver's `ApplyDiff`: `archive.Unpack` with the overlay
//! whiteout converter, then `directory.Size`).
//!
//! Behaviour follows Docker's where it is sound and is stricter where
//! Docker relies on its chroot to stay safe:
//!
//! - names are cleaned (`./a//b/` is `a/b`); absolute names and names with
//!   a `..` component are refused (Docker strips the former and resolves
//!   the latter lexically);
//! - parents are resolved without following symlinks (see `crate::sys`);
//!   missing parents are created `0755` and owned by the caller (root);
//! - symlink targets that lexically leave the layer are refused (Docker's
//!   check); hard-link targets must be relative, `..`-free and exist;
//! - an entry over an existing one removes it first, except a directory
//!   over a directory, whose metadata is merged (Docker). Docker's tar-split
//!   recorder refuses two entries with the same cleaned name, so this only
//!   happens over implicitly created parents and over whiteouts;
//! - `.wh.NAME` becomes a 0/0 character device `NAME` (mode 0, owned as the
//!   whiteout entry), `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its
//!   directory; whiteouts with content are refused (their content could not
//!   be reassembled);
//! - ownership (`lchown`), then `SCHILY.xattr.*` attributes (`ENOTSUP` and
//!   `EPERM` ignored, as Docker does), then the mode including
//!   setuid/setgid/sticky (after chown, which clears them), then times
//!   (atime at least mtime; before 1970 clamped to 0); directory times are
//!   set again at the end (atime from the tar or 0, as Docker does);
//! - the root entry (`.`, `./`) is skipped when it is a directory; PAX
//!   global headers are ignored; other types (contiguous files, GNU volume
//!   headers, sparse files) are refused.
//!
//! On error the destination is left partly filled; the caller removes it.

mod tree;
mod writeback;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};

use crate::tarsplit::{Disassembler, Limits, TarSplitError};
use tree::Tree;

/// Options of [`apply_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Set owners from the tar (Docker's `!NoLchown`). Default true.
    pub chown: bool,
    /// Largest PAX / GNU long-name data accepted. Default 1 MiB.
    pub max_header_data: u64,
    /// Start writeback of regular files every this many bytes (0: never).
    /// Default 2 MiB, as balenaEngine.
    pub writeback_step: u64,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            chown: true,
            max_header_data: 1 << 20,
            writeback_step: 2 << 20,
        }
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ApplyStats {
    /// Layer size as Docker's overlay2 driver records it (`layerdb/.../size`):
    /// the sum of the sizes of all non-directory entries of the extracted
    /// directory (symlinks count their target length), each inode once.
    pub size: u64,
    /// `sha256:<hex>` of the whole tar stream as read (the diff id).
    pub diff_id: String,
    /// Length of the tar stream, trailing bytes included.
    pub tar_bytes: u64,
    /// Tar entries processed (PAX and GNU long-name headers not counted).
    pub entries: u64,
    /// Whiteouts created.
    pub whiteouts: u64,
    /// Directories marked opaque.
    pub opaque_dirs: u64,
    /// Existing entries removed to make room for a new one.
    pub replaced: u64,
    /// Extended attributes skipped because the file system refused them
    /// (`ENOTSUP`, `EPERM`).
    pub xattrs_ignored: u64,
}

/// Errors of layer extraction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The tar stream is invalid, or recording its tar-split failed.
    #[error("layer tar stream")]
    Tar(#[from] TarSplitError),
    /// The destination cannot be opened.
    #[error("opening layer destination {path}")]
    Dest {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The destination is not empty.
    #[error("layer destination {path} is not empty")]
    DestNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// An absolute entry name.
    #[error("tar entry {name:?} has an absolute path")]
    AbsolutePath {
        /// Entry name.
        name: String,
    },
    /// An entry name with a `..` component.
    #[error("tar entry {name:?} has a '..' component")]
    DotDot {
        /// Entry name.
        name: String,
    },
    /// A parent of the entry is a symlink.
    #[error("tar entry {name:?} would be written through a symlink")]
    SymlinkInPath {
        /// Entry name.
        name: String,
    },
    /// A parent of the entry is not a directory.
    #[error("a parent of tar entry {name:?} is not a directory")]
    NotADirectory {
        /// Entry name.
        name: String,
    },
    /// A symlink whose target leaves the layer.
    #[error("symlink {name:?} -> {target:?} points outside the layer")]
    SymlinkEscape {
        /// Entry name.
        name: String,
        /// Link target.
        target: String,
    },
    /// A hard link whose target is absolute or has a `..` component.
    #[error("hard link {name:?} -> {target:?} points outside the layer")]
    HardLinkEscape {
        /// Entry name.
        name: String,
        /// Link target.
        target: String,
    },
    /// A hard link whose target is not in the layer.
    #[error("hard link {name:?} -> {target:?}: target does not exist in the layer")]
    HardLinkTargetMissing {
        /// Entry name.
        name: String,
        /// Link target.
        target: String,
    },
    /// A malformed whiteout name.
    #[error("invalid whiteout {name:?}")]
    InvalidWhiteout {
        /// Entry name.
        name: String,
    },
    /// A whiteout entry with content.
    #[error("whiteout {name:?} has content")]
    WhiteoutWithContent {
        /// Entry name.
        name: String,
    },
    /// A whiteout for a name that already exists in this layer.
    #[error("whiteout {name:?}: the whited-out path already exists in the layer")]
    WhiteoutTargetExists {
        /// Entry name.
        name: String,
    },
    /// The root entry is not a directory.
    #[error("tar entry {name:?} names the layer root but is not a directory")]
    RootNotDirectory {
        /// Entry name.
        name: String,
    },
    /// An entry type that is not extracted.
    #[error("tar entry {name:?} has unsupported type {typeflag:?}")]
    UnsupportedType {
        /// Entry name.
        name: String,
        /// Its type flag.
        typeflag: char,
    },
    /// An owner that is not a valid Linux id.
    #[error("tar entry {name:?} has invalid owner {uid}:{gid}")]
    InvalidOwner {
        /// Entry name.
        name: String,
        /// Owner.
        uid: i64,
        /// Group.
        gid: i64,
    },
    /// Device numbers that do not fit.
    #[error("tar entry {name:?} has invalid device numbers {major},{minor}")]
    InvalidDevice {
        /// Entry name.
        name: String,
        /// Major.
        major: i64,
        /// Minor.
        minor: i64,
    },
    /// `noOverwriteDirNonDir`: a directory would replace a non-directory
    /// or the other way round (Docker's wording).
    #[error("{}", if *existing_dir { format!("cannot overwrite directory {name:?} with non-directory") } else { format!("cannot overwrite non-directory {name:?} with directory") })]
    OverwriteDirNonDir {
        /// Entry name.
        name: String,
        /// Whether the existing entry is the directory.
        existing_dir: bool,
    },
    /// A file system operation failed.
    #[error("{op} for tar entry {name:?}")]
    Fs {
        /// The operation.
        op: &'static str,
        /// Entry name.
        name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the gzip tar-split output failed.
    #[error("writing tar-split.json.gz")]
    TarSplitOutput {
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Computing the layer size failed.
    #[error("measuring layer size in {path}")]
    Size {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `syncfs` failed.
    #[error("syncfs of {path}")]
    Sync {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Hashes everything read through it.
struct HashReader<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Extracts the uncompressed layer tar `tar_stream` into the empty
/// directory `dest` (overlay2 format) and writes its tar-split, gzipped, to
/// `tar_split`. Reads the stream to its end (trailing bytes included, as
/// Docker does), so [`ApplyStats::diff_id`] is the layer's diff id.
///
/// Nothing is made durable: call [`sync_layer`] before recording the layer.
pub fn apply_layer(
    tar_stream: impl Read,
    dest: &Path,
    tar_split: impl Write,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    let mut tree = Tree::open(dest, opts)?;
    let mut hasher = Sha256::new();
    let limits = Limits {
        max_header_data: opts.max_header_data,
    };
    let gz = GzEncoder::new(tar_split, flate2::Compression::default());
    let mut dis = Disassembler::with_limits(
        HashReader {
            inner: tar_stream,
            hasher: &mut hasher,
        },
        gz,
        limits,
    );
    let mut entries = 0u64;
    while let Some(entry) = dis.next_entry()? {
        entries += 1;
        tree.apply_entry(&entry, &mut dis)?;
    }
    tree.fix_dir_times()?;
    let (gz, tar_bytes) = dis.finish()?;
    let mut out = gz
        .finish()
        .map_err(|source| LayerError::TarSplitOutput { source })?;
    out.flush()
        .map_err(|source| LayerError::TarSplitOutput { source })?;
    let mut stats = tree.into_stats()?;
    stats.entries = entries;
    stats.tar_bytes = tar_bytes;
    stats.diff_id = format!("sha256:{:x}", hasher.finalize());
    Ok(stats)
}

/// Options of [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Docker's `noOverwriteDirNonDir`: refuse to replace a directory by a
    /// non-directory and the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner of every entry (Docker's `copyUIDGID`); `None` keeps the tar's.
    pub owner: Option<(u32, u32)>,
    /// Largest PAX / GNU long-name data accepted. Default 1 MiB.
    pub max_header_data: u64,
    /// Start writeback every this many bytes (0: never). Default 2 MiB.
    pub writeback_step: u64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            no_overwrite_dir_non_dir: false,
            owner: None,
            max_header_data: 1 << 20,
            writeback_step: 2 << 20,
        }
    }
}

/// Extracts a tar into the live directory `dest` (Docker's `Untar`, as
/// `docker cp` into a container does): existing entries are replaced (a
/// directory over a directory is merged), `.wh.` names are plain files,
/// nothing is recorded. The same hostile-input rules as [`apply_layer`]
/// hold, relative to `dest`: no absolute names or `..`, nothing written
/// through a symlink, symlink and hard-link targets may not leave `dest`.
/// Returns the number of entries.
pub fn extract(
    tar_stream: impl Read,
    dest: std::os::fd::OwnedFd,
    opts: &ExtractOptions,
) -> Result<u64, LayerError> {
    let mut tree = Tree::live(dest, opts);
    let limits = Limits {
        max_header_data: opts.max_header_data,
    };
    let mut dis = Disassembler::with_limits(tar_stream, io::sink(), limits);
    let mut entries = 0u64;
    while let Some(entry) = dis.next_entry()? {
        entries += 1;
        tree.apply_entry(&entry, &mut dis)?;
    }
    tree.fix_dir_times()?;
    dis.finish()?;
    Ok(entries)
}

/// Makes everything written to the file system holding `dest` durable
/// (`syncfs`), as upstream's `sync()` after extraction but limited to that
/// file system.
pub fn sync_layer(dest: &Path) -> Result<(), LayerError> {
    let f = std::fs::File::open(dest).map_err(|source| LayerError::Sync {
        path: dest.to_path_buf(),
        source,
    })?;
    rustix::fs::syncfs(&f).map_err(|e| LayerError::Sync {
        path: dest.to_path_buf(),
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn apply(tar: &[u8]) -> (tempfile::TempDir, Result<ApplyStats, LayerError>) {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let r = apply_layer(tar, &dest, std::io::sink(), &ApplyOptions::default());
        (t, r)
    }

    #[test]
    fn without_openat2_layers_apply_and_symlinked_parents_are_refused() {
        crate::sys::FORCE_NO_OPENAT2.with(|f| f.set(true));
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "a/b/c", b"deep");
        file(&mut b, "a/b/d", b"deeper");
        symlink(&mut b, "a/l", "b");
        file(&mut b, "x/y", b"other dir");
        let (t, r) = apply(&b.into_inner().unwrap());
        let stats = r.unwrap();
        assert_eq!(stats.size, 4 + 6 + 1 + 9);
        assert_eq!(
            std::fs::read(t.path().join("dest/a/b/d")).unwrap(),
            b"deeper"
        );

        let mut b = tar::Builder::new(Vec::new());
        symlink(&mut b, "l", "/");
        file(&mut b, "l/tmp/layer-unit-no-openat2", b"bad");
        let (_t, r) = apply(&b.into_inner().unwrap());
        assert!(matches!(r, Err(LayerError::SymlinkInPath { .. })));
        assert!(!std::path::Path::new("/tmp/layer-unit-no-openat2").exists());
        crate::sys::FORCE_NO_OPENAT2.with(|f| f.set(false));
    }

    #[test]
    fn diff_id_and_length_cover_the_whole_stream() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "f", b"x");
        let mut tar = b.into_inner().unwrap();
        tar.extend_from_slice(b"trailing");
        let (_t, r) = apply(&tar);
        let stats = r.unwrap();
        assert_eq!(stats.tar_bytes, tar.len() as u64);
        assert_eq!(stats.diff_id, format!("sha256:{:x}", Sha256::digest(&tar)));
        assert_eq!(stats.entries, 1);
    }

    fn dir_fd(p: &Path) -> std::os::fd::OwnedFd {
        std::fs::File::open(p).unwrap().into()
    }

    #[test]
    fn live_extraction_keeps_existing_files_and_takes_whiteout_names_literally() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("kept"), b"k").unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, ".wh.x", b"");
        file(&mut b, "d/new", b"n");
        file(&mut b, "kept2", b"2");
        let tar = b.into_inner().unwrap();
        let opts = ExtractOptions {
            owner: Some((123, 456)),
            ..Default::default()
        };
        assert_eq!(extract(tar.as_slice(), dir_fd(t.path()), &opts).unwrap(), 3);
        assert_eq!(std::fs::read(t.path().join("kept")).unwrap(), b"k");
        assert!(t.path().join(".wh.x").is_file());
        let m = std::fs::metadata(t.path().join("d/new")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((m.uid(), m.gid()), (123, 456));
    }

    #[test]
    fn live_extraction_refuses_escapes_and_dir_non_dir_swaps_when_asked() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("out")).unwrap();
        std::fs::create_dir(t.path().join("dir")).unwrap();
        let refused = |tar: Vec<u8>, opts: &ExtractOptions| {
            extract(tar.as_slice(), dir_fd(t.path()), opts).unwrap_err()
        };
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "out/x", b"x");
        let e = refused(b.into_inner().unwrap(), &Default::default());
        assert!(matches!(e, LayerError::SymlinkInPath { .. }), "{e}");
        let mut b = tar::Builder::new(Vec::new());
        symlink(&mut b, "l", "../../etc");
        let e = refused(b.into_inner().unwrap(), &Default::default());
        assert!(matches!(e, LayerError::SymlinkEscape { .. }), "{e}");
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "dir", b"f");
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            ..Default::default()
        };
        let e = refused(b.into_inner().unwrap(), &opts);
        assert!(
            matches!(
                e,
                LayerError::OverwriteDirNonDir {
                    existing_dir: true,
                    ..
                }
            ),
            "{e}"
        );
        assert!(t.path().join("dir").is_dir());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
