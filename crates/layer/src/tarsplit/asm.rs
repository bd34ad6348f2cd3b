//! Rebuilding a layer tar from its tar-split and the extracted files
//! (Go's `asm.WriteOutputTarStream` with a `pathFileGetter`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use rustix::fs::{FileType, OFlags};
use sha2::{Digest as _, Sha256};

use super::codec::{go_clean, Entry, Unpacker};
use super::{TarSplitError, CRC64};
use crate::sys;

const COPY_BUF: usize = 64 << 10;

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Opens the regular file `name` of the layer for reading. The type is
/// checked on an `O_PATH` descriptor first so that a device node or FIFO
/// in the layer is never opened (opening some devices has side effects,
/// and a FIFO would block); the file is then resolved again for reading
/// (reopening the `O_PATH` descriptor would need `/proc`) and must be the
/// same inode.
pub(crate) fn open_content(
    root: BorrowedFd<'_>,
    name: &[u8],
) -> Result<(File, u64), TarSplitError> {
    let open_err = |source: std::io::Error| TarSplitError::OpenFile {
        name: lossy(name),
        source,
    };
    // Go opens filepath.Join(root, name): the name cleaned lexically
    // (trailing slashes and `..` resolved) before the file system sees it.
    // Cleaning it as a rooted path keeps `..` from climbing out.
    let mut rooted = Vec::with_capacity(name.len() + 1);
    rooted.push(b'/');
    rooted.extend_from_slice(name);
    let cleaned = go_clean(&rooted);
    let rel: &[u8] = match &cleaned[1..] {
        b"" => b".",
        r => r,
    };
    let p = sys::open_in_root(root, rel, OFlags::PATH).map_err(open_err)?;
    let st = rustix::fs::fstat(&p).map_err(|e| open_err(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(TarSplitError::NotRegularFile { name: lossy(name) });
    }
    let fd = sys::open_in_root(
        root,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
    )
    .map_err(open_err)?;
    let st2 = rustix::fs::fstat(&fd).map_err(|e| open_err(e.into()))?;
    if (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino) {
        return Err(TarSplitError::NotRegularFile { name: lossy(name) });
    }
    let size = u64::try_from(st2.st_size).unwrap_or(0);
    Ok((File::from(fd), size))
}

/// Replays uncompressed tar-split JSON lines against `layer_root`.
pub(crate) fn assemble_json(
    tar_split: impl BufRead,
    layer_root: &Path,
    mut out: impl Write,
) -> Result<u64, TarSplitError> {
    let root = File::open(layer_root).map_err(|source| TarSplitError::LayerRoot {
        path: layer_root.to_path_buf(),
        source,
    })?;
    let mut up = Unpacker::new(tar_split);
    let mut buf = vec![0u8; COPY_BUF];
    let mut written: u64 = 0;
    let write_err = |source| TarSplitError::WriteOutput { source };
    while let Some(e) = up.next_entry()? {
        match e {
            Entry::Segment(p) => {
                out.write_all(&p).map_err(write_err)?;
                written += p.len() as u64;
            }
            Entry::File { size: 0, .. } => {}
            Entry::File { name, size, crc } => {
                let expected: [u8; 8] = crc
                    .as_deref()
                    .and_then(|c| c.try_into().ok())
                    .ok_or_else(|| TarSplitError::BadChecksumField { name: lossy(&name) })?;
                let (mut f, actual) = open_content(root.as_fd(), &name)?;
                if actual != size {
                    return Err(TarSplitError::SizeMismatch {
                        name: lossy(&name),
                        expected: size,
                        actual,
                    });
                }
                let mut digest = CRC64.digest();
                let mut remaining = size;
                while remaining > 0 {
                    let want = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let n = match f.read(&mut buf[..want]) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(source) => {
                            return Err(TarSplitError::ReadFile {
                                name: lossy(&name),
                                source,
                            })
                        }
                    };
                    if n == 0 {
                        return Err(TarSplitError::SizeMismatch {
                            name: lossy(&name),
                            expected: size,
                            actual: size - remaining,
                        });
                    }
                    digest.update(&buf[..n]);
                    out.write_all(&buf[..n]).map_err(write_err)?;
                    remaining -= n as u64;
                    written += n as u64;
                }
                let got = digest.finalize().to_be_bytes();
                if got != expected {
                    return Err(TarSplitError::ChecksumMismatch {
                        name: lossy(&name),
                        expected: u64::from_be_bytes(expected),
                        actual: u64::from_be_bytes(got),
                    });
                }
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(written)
}

/// Rebuilds the original layer tar from a `tar-split.json.gz` stream and
/// the extracted layer directory, writing it to `out`; returns its length.
///
/// File names are resolved inside `layer_root` as in a chroot; each file
/// must be a regular file of the recorded size and CRC-64. On error, `out`
/// has received a prefix of the tar and must be discarded.
pub fn assemble(
    tar_split: impl Read,
    layer_root: &Path,
    out: impl Write,
) -> Result<u64, TarSplitError> {
    assemble_json(
        BufReader::new(MultiGzDecoder::new(tar_split)),
        layer_root,
        out,
    )
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reassembles the layer into a SHA-256 hasher and returns its diff id as
/// `sha256:<64 hex digits>` (the form of `layerdb/sha256/<chain>/diff`),
/// for comparison with the recorded one.
pub fn verify_layer(tar_split: impl Read, layer_root: &Path) -> Result<String, TarSplitError> {
    let mut h = HashWriter(Sha256::new());
    assemble(tar_split, layer_root, &mut h)?;
    Ok(format!("sha256:{:x}", h.0.finalize()))
}
