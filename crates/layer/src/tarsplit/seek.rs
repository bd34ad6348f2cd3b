//! Random access to a layer's original tar without rebuilding it:
//! [`SeekableTar`] indexes a tar-split once and then serves any byte range
//! of the tar [`assemble`](super::assemble) would produce, reading file
//! content from the extracted layer on demand; [`ConcatSeek`] joins several
//! such streams (an image's layers, bottom to top) into the one seekable
//! basis stream binary deltas are computed and applied against.
//!
//! # The index
//!
//! The tar is cut into contiguous segments, kept sorted by their offset in
//! the tar; a segment's length is the distance to the next one. Each
//! segment is one 16-byte record ([`Seg`]): its offset plus a tagged word
//! saying where its bytes come from:
//!
//! - raw bytes (headers, PAX and GNU long-name data, trailing bytes): an
//!   offset into one shared byte arena;
//! - zeros: runs of at least [`ZERO_RUN_MIN`] zero bytes inside raw
//!   segments (the unused parts of header blocks, the padding after file
//!   content, the end blocks) are not stored at all;
//! - file content: an index into a table of 16-byte file records (CRC-64
//!   and the place of the tar-split name in a second arena).
//!
//! Adjacent segments of the same kind are merged; files without content
//! (size 0, directories, links, devices) take no record at all.
//!
//! Memory per regular file is therefore 16 bytes per segment (about 8: the
//! previous file's padding and the header block split into 6 or 7 raw and
//! zero segments, plus one for the content), 16 bytes of file record, the
//! name, and the non-zero bytes of its header block (about 100): measured
//! at 268 bytes a file for 10,000 small files named like
//! `usr/lib/pkg000/file-00000.txt` (the `memory_per_small_file` test),
//! against 855 bytes when every raw byte is kept. Directories, links and
//! empty files cost only their header's raw bytes and segments (about
//! 100 bytes). Opening also holds the tar-split reader's duplicate-name set
//! (16 bytes a file, plus hash-set overhead) until it returns.
//!
//! # Reading files
//!
//! A file is opened when a read first needs it, with the same resolution
//! as `assemble` (inside the layer root as in a chroot, `openat2` with
//! `RESOLVE_IN_ROOT`, regular files only), and stays open for the following
//! reads until a read needs another file: at most one file descriptor
//! besides the layer root's is open at a time. On opening, the file's size
//! must be the recorded one. Reads that cover a file contiguously from its
//! first to its last byte (any full sequential read, and any sequence of
//! reads each starting where the previous one ended) also check its CRC-64;
//! reads starting in the middle of a file are not checked (that would need
//! reading the file from its start), which is why a diff id check of the
//! final result stays necessary. A file whose checksum failed keeps failing.
//!
//! Errors of `read` are `io::Error`s carrying a [`TarSplitError`]
//! (`SizeMismatch`, `ChecksumMismatch`, `OpenFile`, `NotRegularFile`,
//! `ReadFile`), which `get_ref()` / `into_inner()` and a downcast recover;
//! seeking before the start gives an `InvalidInput` error carrying a
//! [`SeekError`].

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use rustix::fs::{Mode, OFlags};

use super::asm::open_content;
use super::codec::{Entry, Unpacker};
use super::{TarSplitError, CRC64};

/// Zero runs at least this long inside raw segments are not stored. Eliding
/// a run in the middle of raw bytes costs two more 16-byte records.
pub(crate) const ZERO_RUN_MIN: usize = 48;

const TAG_SHIFT: u32 = 62;
const VALUE_MASK: u64 = (1 << TAG_SHIFT) - 1;
const TAG_RAW: u64 = 0;
const TAG_ZERO: u64 = 1;
const TAG_FILE: u64 = 2;

/// Errors of positioning in a [`SeekableTar`] or a [`ConcatSeek`]; they
/// reach the caller inside an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeekError {
    /// `SeekFrom::End` or `SeekFrom::Current` went before the start (or
    /// past 2^64).
    #[error("seek by {delta} from offset {base} leaves the range of offsets")]
    BadPosition {
        /// The offset the seek is relative to.
        base: u64,
        /// The requested displacement.
        delta: i64,
    },
    /// The parts of a [`ConcatSeek`] add up to more than 2^64 bytes.
    #[error("concatenated stream is longer than 2^64 bytes at part {part}")]
    TooLong {
        /// Index of the part that overflowed.
        part: usize,
    },
    /// A part of a [`ConcatSeek`] ended before the length it reported.
    #[error("part {part} ended at its offset {offset}, before its length {len}")]
    PartTooShort {
        /// Index of the part.
        part: usize,
        /// Offset in the part where it returned end of file.
        offset: u64,
        /// Its length when the concatenation was built.
        len: u64,
    },
}

/// One segment: its offset in the tar and a tagged word (top two bits:
/// raw, zero or file; the rest: arena offset or file index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    start: u64,
    aux: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Raw { arena: usize },
    Zero,
    File { index: usize },
}

impl Seg {
    // Values are arena offsets and table indices, so they come from
    // `usize`, are far below 2^62 and convert back losslessly.
    fn new(start: u64, kind: Kind) -> Seg {
        let aux = match kind {
            Kind::Raw { arena } => (TAG_RAW << TAG_SHIFT) | (arena as u64 & VALUE_MASK),
            Kind::Zero => TAG_ZERO << TAG_SHIFT,
            Kind::File { index } => (TAG_FILE << TAG_SHIFT) | (index as u64 & VALUE_MASK),
        };
        Seg { start, aux }
    }

    fn kind(self) -> Kind {
        let v = (self.aux & VALUE_MASK) as usize;
        match self.aux >> TAG_SHIFT {
            TAG_RAW => Kind::Raw { arena: v },
            TAG_ZERO => Kind::Zero,
            _ => Kind::File { index: v },
        }
    }
}

/// A file with content: its CRC-64 and where its tar-split name is in the
/// name arena (size is the length of its segment).
#[derive(Clone, Copy, Debug)]
struct FileRec {
    crc: u64,
    name_off: u32,
    name_len: u32,
}

/// The index under construction.
#[derive(Default)]
struct Index {
    segs: Vec<Seg>,
    arena: Vec<u8>,
    names: Vec<u8>,
    files: Vec<FileRec>,
    len: u64,
}

impl Index {
    fn last_kind(&self) -> Option<Kind> {
        self.segs.last().map(|s| s.kind())
    }

    fn grow(&mut self, n: u64, line: u64) -> Result<u64, TarSplitError> {
        let start = self.len;
        self.len = start.checked_add(n).ok_or(TarSplitError::BadEntry {
            line,
            reason: "the tar would be longer than 2^64 bytes",
        })?;
        Ok(start)
    }

    fn push_bytes(&mut self, p: &[u8], line: u64) -> Result<(), TarSplitError> {
        if p.is_empty() {
            return Ok(());
        }
        let start = self.grow(p.len() as u64, line)?;
        // The last raw segment's bytes are always at the end of the arena,
        // so a raw segment following it just extends it.
        if !matches!(self.last_kind(), Some(Kind::Raw { .. })) {
            let arena = self.arena.len();
            self.segs.push(Seg::new(start, Kind::Raw { arena }));
        }
        self.arena.extend_from_slice(p);
        Ok(())
    }

    fn push_zeros(&mut self, n: usize, line: u64) -> Result<(), TarSplitError> {
        if n == 0 {
            return Ok(());
        }
        let start = self.grow(n as u64, line)?;
        if self.last_kind() != Some(Kind::Zero) {
            self.segs.push(Seg::new(start, Kind::Zero));
        }
        Ok(())
    }

    /// A raw segment, its long zero runs elided.
    fn push_raw(&mut self, p: &[u8], line: u64) -> Result<(), TarSplitError> {
        let mut literal = 0;
        let mut i = 0;
        while i < p.len() {
            if p[i] != 0 {
                i += 1;
                continue;
            }
            let run = p[i..].iter().take_while(|b| **b == 0).count();
            // A short run right after a zero segment just extends it.
            if run >= ZERO_RUN_MIN || (i == 0 && self.last_kind() == Some(Kind::Zero)) {
                self.push_bytes(&p[literal..i], line)?;
                self.push_zeros(run, line)?;
                literal = i + run;
            }
            i += run;
        }
        self.push_bytes(&p[literal..], line)
    }

    fn push_file(
        &mut self,
        name: &[u8],
        size: u64,
        crc: u64,
        line: u64,
    ) -> Result<(), TarSplitError> {
        let too_big = TarSplitError::BadEntry {
            line,
            reason: "file names take more than 4 GiB",
        };
        let name_off = u32::try_from(self.names.len()).map_err(|_| too_big)?;
        let name_len = u32::try_from(name.len()).map_err(|_| TarSplitError::BadEntry {
            line,
            reason: "file name longer than 4 GiB",
        })?;
        let start = self.grow(size, line)?;
        let index = self.files.len();
        self.names.extend_from_slice(name);
        self.files.push(FileRec {
            crc,
            name_off,
            name_len,
        });
        self.segs.push(Seg::new(start, Kind::File { index }));
        Ok(())
    }

    fn shrink(&mut self) {
        self.segs.shrink_to_fit();
        self.arena.shrink_to_fit();
        self.names.shrink_to_fit();
        self.files.shrink_to_fit();
    }
}

/// The open file of a [`SeekableTar`].
struct OpenFile {
    index: usize,
    file: File,
}

/// CRC-64 of a file being read contiguously from its start.
struct CrcRun {
    index: usize,
    next: u64,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
}

/// A layer's original tar as a `Read + Seek` stream, rebuilt on demand
/// from its tar-split and extracted directory without holding the tar in
/// memory or writing it anywhere. Reading it from offset 0 to the end gives
/// exactly what [`assemble`](super::assemble) writes.
///
/// Seeking past the end is allowed; reads there return 0 bytes.
pub struct SeekableTar {
    root: OwnedFd,
    segs: Vec<Seg>,
    arena: Vec<u8>,
    names: Vec<u8>,
    files: Vec<FileRec>,
    len: u64,
    pos: u64,
    /// The segment of the last read (sequential reads skip the search).
    hint: usize,
    open: Option<OpenFile>,
    crc: Option<CrcRun>,
    /// Files whose CRC-64 did not match: (index, CRC-64 found).
    bad: Vec<(usize, u64)>,
}

impl fmt::Debug for SeekableTar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeekableTar")
            .field("len", &self.len)
            .field("pos", &self.pos)
            .field("segments", &self.segs.len())
            .field("files", &self.files.len())
            .field("raw_bytes", &self.arena.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish_non_exhaustive()
    }
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn to_io(e: TarSplitError) -> io::Error {
    let kind = match &e {
        TarSplitError::OpenFile { source, .. } | TarSplitError::ReadFile { source, .. } => {
            source.kind()
        }
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

/// The offset `from` designates, given the current offset and the length.
fn resolve(from: SeekFrom, pos: u64, len: u64) -> io::Result<u64> {
    let (base, delta) = match from {
        SeekFrom::Start(p) => return Ok(p),
        SeekFrom::End(d) => (len, d),
        SeekFrom::Current(d) => (pos, d),
    };
    base.checked_add_signed(delta).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            SeekError::BadPosition { base, delta },
        )
    })
}

impl SeekableTar {
    /// Indexes a `tar-split.json.gz` stream for the layer extracted in
    /// `layer_root`. The whole tar-split is read and checked here (JSON,
    /// duplicate names, checksum fields); the layer's files are only opened
    /// by reads.
    pub fn open(tar_split_gz: impl Read, layer_root: &Path) -> Result<SeekableTar, TarSplitError> {
        Self::open_json(
            BufReader::new(MultiGzDecoder::new(tar_split_gz)),
            layer_root,
        )
    }

    /// [`SeekableTar::open`] on uncompressed tar-split JSON lines.
    pub(crate) fn open_json(
        tar_split: impl BufRead,
        layer_root: &Path,
    ) -> Result<SeekableTar, TarSplitError> {
        let root = rustix::fs::open(
            layer_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| TarSplitError::LayerRoot {
            path: layer_root.to_path_buf(),
            source: e.into(),
        })?;
        let mut ix = Index::default();
        let mut up = Unpacker::new(tar_split);
        // Entry count, used as the line number in errors (they are the same
        // unless the tar-split has blank lines).
        let mut line = 0u64;
        while let Some(e) = up.next_entry()? {
            line += 1;
            match e {
                Entry::Segment(p) => ix.push_raw(&p, line)?,
                Entry::File { size: 0, .. } => {}
                Entry::File { name, size, crc } => {
                    let crc: [u8; 8] = crc
                        .as_deref()
                        .and_then(|c| c.try_into().ok())
                        .ok_or_else(|| TarSplitError::BadChecksumField { name: lossy(&name) })?;
                    ix.push_file(&name, size, u64::from_be_bytes(crc), line)?;
                }
            }
        }
        ix.shrink();
        Ok(SeekableTar {
            root,
            segs: ix.segs,
            arena: ix.arena,
            names: ix.names,
            files: ix.files,
            len: ix.len,
            pos: 0,
            hint: 0,
            open: None,
            crc: None,
            bad: Vec::new(),
        })
    }

    /// Length of the tar in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the tar is empty (a tar-split without entries).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes the index holds (capacities of its tables; the allocator's
    /// own overhead and the fixed-size struct are not counted).
    pub fn heap_bytes(&self) -> usize {
        self.segs.capacity() * std::mem::size_of::<Seg>()
            + self.arena.capacity()
            + self.names.capacity()
            + self.files.capacity() * std::mem::size_of::<FileRec>()
            + self.bad.capacity() * std::mem::size_of::<(usize, u64)>()
    }

    fn seg_end(&self, i: usize) -> u64 {
        self.segs.get(i + 1).map_or(self.len, |s| s.start)
    }

    /// The segment holding `pos` (which must be below `len`).
    fn find(&mut self, pos: u64) -> usize {
        for i in [self.hint, self.hint + 1] {
            if let Some(s) = self.segs.get(i) {
                if s.start <= pos && pos < self.seg_end(i) {
                    self.hint = i;
                    return i;
                }
            }
        }
        let i = self
            .segs
            .partition_point(|s| s.start <= pos)
            .saturating_sub(1);
        self.hint = i;
        i
    }

    fn name(&self, rec: FileRec) -> &[u8] {
        let start = rec.name_off as usize;
        &self.names[start..start + rec.name_len as usize]
    }

    /// The file of entry `index`, opened if it is not the open one.
    fn file(&mut self, index: usize, size: u64) -> Result<&File, TarSplitError> {
        let open = match self.open.take() {
            Some(o) if o.index == index => o,
            other => {
                // Close the previous file before opening the next one.
                drop(other);
                let name = self.name(self.files[index]);
                let (file, actual) = open_content(self.root.as_fd(), name)?;
                if actual != size {
                    return Err(TarSplitError::SizeMismatch {
                        name: lossy(name),
                        expected: size,
                        actual,
                    });
                }
                OpenFile { index, file }
            }
        };
        Ok(&self.open.insert(open).file)
    }

    /// Reads from file entry `index` (of `size` bytes) at `off` into `out`
    /// (not empty, not past the end of the file).
    fn read_file(
        &mut self,
        index: usize,
        size: u64,
        off: u64,
        out: &mut [u8],
    ) -> Result<usize, TarSplitError> {
        let rec = self.files[index];
        if let Some(&(_, actual)) = self.bad.iter().find(|(i, _)| *i == index) {
            return Err(TarSplitError::ChecksumMismatch {
                name: lossy(self.name(rec)),
                expected: rec.crc,
                actual,
            });
        }
        let f = self.file(index, size)?;
        let n = loop {
            match f.read_at(out, off) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TarSplitError::ReadFile {
                        name: lossy(self.name(rec)),
                        source,
                    })
                }
            }
        };
        if n == 0 {
            // Truncated after it was opened.
            self.open = None;
            return Err(TarSplitError::SizeMismatch {
                name: lossy(self.name(rec)),
                expected: size,
                actual: off,
            });
        }
        self.check_crc(index, size, off, &out[..n])?;
        Ok(n)
    }

    /// Feeds `data`, read from file `index` at `off`, to the running CRC-64
    /// if the file has been read contiguously from its start so far.
    fn check_crc(
        &mut self,
        index: usize,
        size: u64,
        off: u64,
        data: &[u8],
    ) -> Result<(), TarSplitError> {
        let mut run = match self.crc.take() {
            Some(r) if r.index == index && r.next == off => r,
            _ if off == 0 => CrcRun {
                index,
                next: 0,
                digest: CRC64.digest(),
            },
            _ => return Ok(()),
        };
        run.digest.update(data);
        run.next += data.len() as u64;
        if run.next < size {
            self.crc = Some(run);
            return Ok(());
        }
        let actual = run.digest.finalize();
        let rec = self.files[index];
        if actual != rec.crc {
            self.bad.push((index, actual));
            return Err(TarSplitError::ChecksumMismatch {
                name: lossy(self.name(rec)),
                expected: rec.crc,
                actual,
            });
        }
        Ok(())
    }

    /// Reads from the segment at `self.pos` (below `len`) into `out` (not
    /// empty); returns a positive count.
    fn read_segment(&mut self, out: &mut [u8]) -> Result<usize, TarSplitError> {
        let pos = self.pos;
        let i = self.find(pos);
        let seg = self.segs[i];
        let off = pos - seg.start;
        let left = self.seg_end(i) - pos;
        let n = usize::try_from(left).map_or(out.len(), |l| l.min(out.len()));
        let out = &mut out[..n];
        match seg.kind() {
            Kind::Raw { arena } => {
                // Raw segments live in the arena, so `off` fits a usize.
                let at = arena + off as usize;
                out.copy_from_slice(&self.arena[at..at + n]);
                Ok(n)
            }
            Kind::Zero => {
                out.fill(0);
                Ok(n)
            }
            Kind::File { index } => {
                let size = self.seg_end(i) - seg.start;
                self.read_file(index, size, off, out)
            }
        }
    }
}

impl Read for SeekableTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() && self.pos < self.len {
            match self.read_segment(&mut buf[filled..]) {
                Ok(n) => {
                    filled += n;
                    self.pos += n as u64;
                }
                // Return what was read; the error comes again on the next
                // read, which starts where it happened.
                Err(_) if filled > 0 => break,
                Err(e) => return Err(to_io(e)),
            }
        }
        Ok(filled)
    }
}

impl Seek for SeekableTar {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        self.pos = resolve(from, self.pos, self.len)?;
        Ok(self.pos)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

/// Several `Read + Seek` streams as one: the concatenation of their
/// contents, each taken from its start to the length it had when the
/// `ConcatSeek` was built. For a delta basis, the parts are the image's
/// [`SeekableTar`]s, bottom layer first.
///
/// A read does not cross from one part into the next (it returns a short
/// count at the boundary). Seeking past the end is allowed; reads there
/// return 0 bytes.
#[derive(Debug)]
pub struct ConcatSeek<R> {
    parts: Vec<R>,
    /// Offset of each part in the concatenation.
    starts: Vec<u64>,
    len: u64,
    pos: u64,
    /// The part whose cursor is known, and where it is.
    at: Option<(usize, u64)>,
}

impl<R: Read + Seek> ConcatSeek<R> {
    /// Joins `parts`, measuring each with `seek(SeekFrom::End(0))`.
    pub fn new(mut parts: Vec<R>) -> io::Result<ConcatSeek<R>> {
        let mut starts = Vec::with_capacity(parts.len());
        let mut len = 0u64;
        for (part, r) in parts.iter_mut().enumerate() {
            let l = r.seek(SeekFrom::End(0))?;
            starts.push(len);
            len = len.checked_add(l).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, SeekError::TooLong { part })
            })?;
        }
        Ok(ConcatSeek {
            parts,
            starts,
            len,
            pos: 0,
            at: None,
        })
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the total length is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parts, in order.
    pub fn into_parts(self) -> Vec<R> {
        self.parts
    }
}

impl<R: Read + Seek> Read for ConcatSeek<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        // The last part starting at or before `pos`: it is not empty, as
        // the next start (or the end) is beyond `pos`.
        let part = self
            .starts
            .partition_point(|s| *s <= self.pos)
            .saturating_sub(1);
        let start = self.starts[part];
        let end = self.starts.get(part + 1).copied().unwrap_or(self.len);
        let inner = self.pos - start;
        let r = &mut self.parts[part];
        if self.at.take() != Some((part, inner)) {
            r.seek(SeekFrom::Start(inner))?;
        }
        let want = usize::try_from(end - self.pos).map_or(buf.len(), |l| l.min(buf.len()));
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                SeekError::PartTooShort {
                    part,
                    offset: inner,
                    len: end - start,
                },
            ));
        }
        self.at = Some((part, inner + n as u64));
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for ConcatSeek<R> {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        self.pos = resolve(from, self.pos, self.len)?;
        Ok(self.pos)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn json_line_segment(payload: &[u8]) -> String {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(payload);
        format!("{{\"type\":2,\"payload\":\"{b}\",\"position\":0}}\n")
    }

    fn json_line_file(name: &str, data: &[u8]) -> String {
        use base64::Engine as _;
        let crc =
            base64::engine::general_purpose::STANDARD.encode(CRC64.checksum(data).to_be_bytes());
        format!(
            "{{\"type\":1,\"name\":\"{name}\",\"size\":{},\"payload\":\"{crc}\",\"position\":0}}\n",
            data.len()
        )
    }

    fn read_all(r: &mut impl Read) -> Vec<u8> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn streams_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<SeekableTar>();
        send::<ConcatSeek<SeekableTar>>();
    }

    #[test]
    fn seg_packs_kind_and_value_in_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Seg>(), 16);
        assert_eq!(std::mem::size_of::<FileRec>(), 16);
        for k in [
            Kind::Raw { arena: 0 },
            Kind::Raw { arena: 123_456 },
            Kind::Zero,
            Kind::File { index: 0 },
            Kind::File { index: 99 },
        ] {
            assert_eq!(Seg::new(7, k).kind(), k);
        }
    }

    #[test]
    fn long_zero_runs_are_not_stored_and_neighbours_merge() {
        let mut ix = Index::default();
        let mut p = vec![1u8; 10];
        p.extend(vec![0; ZERO_RUN_MIN]);
        p.extend([2, 0, 3]);
        p.extend(vec![0; ZERO_RUN_MIN - 1]);
        ix.push_raw(&p, 1).unwrap();
        // A short run right after a zero segment extends it.
        ix.push_raw(&[0, 0, 4], 2).unwrap();
        assert_eq!(
            ix.segs,
            [
                Seg::new(0, Kind::Raw { arena: 0 }),
                Seg::new(10, Kind::Zero),
                Seg::new(10 + ZERO_RUN_MIN as u64, Kind::Raw { arena: 10 }),
            ]
        );
        assert_eq!(ix.arena.len(), 10 + 3 + ZERO_RUN_MIN - 1 + 3);
        let mut ix = Index::default();
        ix.push_raw(&[0; 600], 1).unwrap();
        ix.push_raw(&[0, 0, 5], 2).unwrap();
        assert_eq!(
            ix.segs,
            [
                Seg::new(0, Kind::Zero),
                Seg::new(602, Kind::Raw { arena: 0 })
            ]
        );
        assert_eq!(ix.arena, [5]);
        assert_eq!(ix.len, 603);
    }

    #[test]
    fn reads_raw_zero_and_file_segments_across_boundaries() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"hello").unwrap();
        let mut head = b"HDR".to_vec();
        head.extend([0u8; 100]);
        let json =
            json_line_segment(&head) + &json_line_file("a", b"hello") + &json_line_segment(b"END");
        let mut want = head.clone();
        want.extend(b"helloEND");
        let mut st = SeekableTar::open_json(json.as_bytes(), t.path()).unwrap();
        assert_eq!(st.len(), want.len() as u64);
        assert_eq!(read_all(&mut st), want);
        for start in 0..want.len() {
            for len in [1, 2, 7, 200] {
                st.seek(SeekFrom::Start(start as u64)).unwrap();
                let mut buf = vec![0u8; len];
                let n = st.read(&mut buf).unwrap();
                let end = (start + len).min(want.len());
                assert_eq!(&buf[..n], &want[start..end], "at {start} len {len}");
            }
        }
    }

    #[test]
    fn negative_seeks_fail_and_past_end_reads_return_nothing() {
        let t = tempfile::tempdir().unwrap();
        let json = json_line_segment(b"abc");
        let mut st = SeekableTar::open_json(json.as_bytes(), t.path()).unwrap();
        let e = st.seek(SeekFrom::End(-4)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<SeekError>()),
            Some(SeekError::BadPosition { base: 3, delta: -4 })
        ));
        assert_eq!(st.seek(SeekFrom::Current(10)).unwrap(), 10);
        assert_eq!(st.read(&mut [0u8; 4]).unwrap(), 0);
        assert_eq!(st.seek(SeekFrom::End(-1)).unwrap(), 2);
        assert_eq!(read_all(&mut st), b"c");
    }

    #[test]
    fn bad_checksum_field_and_overflowing_sizes_are_refused_at_open() {
        let t = tempfile::tempdir().unwrap();
        let json = "{\"type\":1,\"name\":\"a\",\"size\":3,\"payload\":null}\n";
        assert!(matches!(
            SeekableTar::open_json(json.as_bytes(), t.path()),
            Err(TarSplitError::BadChecksumField { .. })
        ));
        let big = format!(
            "{{\"type\":1,\"name\":\"a\",\"size\":{m},\"payload\":\"AAAAAAAAAAA=\"}}\n\
             {{\"type\":1,\"name\":\"b\",\"size\":{m},\"payload\":\"AAAAAAAAAAA=\"}}\n\
             {{\"type\":1,\"name\":\"c\",\"size\":{m},\"payload\":\"AAAAAAAAAAA=\"}}\n",
            m = i64::MAX
        );
        assert!(matches!(
            SeekableTar::open_json(big.as_bytes(), t.path()),
            Err(TarSplitError::BadEntry { line: 3, .. })
        ));
        assert!(matches!(
            SeekableTar::open_json(&b""[..], &t.path().join("missing")),
            Err(TarSplitError::LayerRoot { .. })
        ));
    }

    #[test]
    fn concat_joins_parts_and_skips_empty_ones() {
        let parts = vec![
            Cursor::new(b"".to_vec()),
            Cursor::new(b"abc".to_vec()),
            Cursor::new(b"".to_vec()),
            Cursor::new(b"de".to_vec()),
        ];
        let mut c = ConcatSeek::new(parts).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(read_all(&mut c), b"abcde");
        c.seek(SeekFrom::Start(2)).unwrap();
        let mut b = [0u8; 3];
        assert_eq!(c.read(&mut b).unwrap(), 1);
        assert_eq!(&b[..1], b"c");
        assert_eq!(c.read(&mut b).unwrap(), 2);
        assert_eq!(&b[..2], b"de");
        assert_eq!(c.read(&mut b).unwrap(), 0);
        assert_eq!(c.seek(SeekFrom::End(-5)).unwrap(), 0);
        assert!(c.seek(SeekFrom::Current(-1)).is_err());
        assert_eq!(c.seek(SeekFrom::Current(100)).unwrap(), 100);
        assert_eq!(c.read(&mut b).unwrap(), 0);
    }

    /// A part that is shorter than it said.
    struct Liar(Cursor<Vec<u8>>);

    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Seek for Liar {
        fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
            match from {
                SeekFrom::End(0) => Ok(10),
                f => self.0.seek(f),
            }
        }
    }

    #[test]
    fn concat_reports_a_part_shorter_than_its_length() {
        let mut c = ConcatSeek::new(vec![Liar(Cursor::new(b"abc".to_vec()))]).unwrap();
        let mut v = Vec::new();
        let e = c.read_to_end(&mut v).unwrap_err();
        assert_eq!(v, b"abc");
        assert!(matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<SeekError>()),
            Some(SeekError::PartTooShort {
                part: 0,
                offset: 3,
                len: 10
            })
        ));
    }
}
