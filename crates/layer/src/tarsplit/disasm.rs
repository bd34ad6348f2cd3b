//! The [`Disassembler`]: parses a tar stream and records its tar-split
//! while handing each entry's content to the caller.
//!
//! The framing (which bytes are headers, padding, content) is done here by
//! hand because the `tar` crate's `Archive` neither exposes the raw bytes of
//! headers, PAX/GNU long-name blocks and padding nor bounds the PAX and
//! long-name data it reads into memory. Segments are cut exactly where Go's
//! `asm.NewInputTarStream` cuts them: one segment per entry holding the
//! previous entry's padding and all of this entry's header blocks (PAX and
//! GNU long-name blocks with their data), then the file entry, and at the
//! end the end-of-archive blocks, the trailing bytes in 1 MiB chunks and a
//! final empty segment (what Go writes when the last read of the stream
//! returns no data; behind Go's gzip reader that read can be merged with
//! the previous one, and Go then writes no empty segment: both reassemble
//! the same).
//!
//! Where Go's output cannot be reassembled, this records something that
//! can: a link, device, directory or FIFO header with a non-zero size field
//! is recorded without size (Go records the size and the CRC of nothing,
//! and its assembler would then copy the whole link target); the bytes of
//! a stream that ends inside the last padding are kept (Go drops them).
//! Sparse files are refused (Go records their expanded content).

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};

use super::codec::Packer;
use super::header::{self, cstr, padding, Header, Timestamp, BLOCK};
use super::{TarSplitError, CRC64};

/// Caps applied while parsing an untrusted tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest data of a PAX (`x`, `g`) or GNU long-name (`L`, `K`) header
    /// entry, which is held in memory. Default 1 MiB (Go's
    /// `maxSpecialFileSize`).
    pub max_header_data: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_data: 1 << 20,
        }
    }
}

/// Size of the chunks in which bytes after the end of the archive are
/// recorded (Go's `paddingChunkSize`).
const TRAILING_CHUNK: usize = 1 << 20;

/// One tar entry, after PAX records and GNU long names are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TarEntry {
    /// The name as recorded in the tar (not cleaned; may end in `/`).
    pub name: Vec<u8>,
    /// Hard link or symlink target.
    pub link_name: Vec<u8>,
    /// The type flag; the old `\0` regular-file flag is reported as `b'0'`,
    /// or as `b'5'` when the name ends in `/` (as Go does).
    pub typeflag: u8,
    /// Bytes of content that follow (0 for header-only types: links,
    /// devices, directories, FIFOs, whatever their header says).
    pub size: u64,
    /// Mode field (permission, setuid/setgid/sticky bits and possibly more).
    pub mode: i64,
    /// Owner.
    pub uid: i64,
    /// Group.
    pub gid: i64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time, when the tar has one (PAX `atime`, GNU/STAR fields).
    pub atime: Option<Timestamp>,
    /// Device major number.
    pub dev_major: i64,
    /// Device minor number.
    pub dev_minor: i64,
    /// Extended attributes from `SCHILY.xattr.*` PAX records.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl TarEntry {
    /// The entry type.
    pub fn entry_type(&self) -> tar::EntryType {
        tar::EntryType::new(self.typeflag)
    }
}

/// Go's `isHeaderOnlyType`: these types never have a data section, whatever
/// their size field says.
fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

struct Current {
    name: Vec<u8>,
    size: u64,
    remaining: u64,
    crc: crc::Digest<'static, u64, crc::Table<16>>,
}

/// Reads a tar stream entry by entry, writing its tar-split (uncompressed
/// JSON lines) to `W` as it goes.
///
/// Call [`next_entry`](Self::next_entry) for each entry, read its content
/// through [`Read`] (content left unread is read and recorded on the next
/// call), and call [`finish`](Self::finish) at the end, which also records
/// whatever follows the end-of-archive blocks. Every byte read from the
/// stream ends up either in a raw segment or as file content, so replaying
/// the tar-split against the extracted files gives back the same stream.
pub struct Disassembler<R: Read, W: Write> {
    src: BufReader<R>,
    packer: Packer<W>,
    limits: Limits,
    raw: Vec<u8>,
    pad: u64,
    cur: Option<Current>,
    offset: u64,
    done: bool,
    failed: bool,
    scratch: Vec<u8>,
}

impl<R: Read, W: Write> Disassembler<R, W> {
    /// Starts disassembling `src`, writing JSON lines to `tar_split`.
    pub fn new(src: R, tar_split: W) -> Self {
        Self::with_limits(src, tar_split, Limits::default())
    }

    /// As [`new`](Self::new), with explicit limits.
    pub fn with_limits(src: R, tar_split: W, limits: Limits) -> Self {
        Disassembler {
            src: BufReader::with_capacity(64 << 10, src),
            packer: Packer::new(tar_split),
            limits,
            raw: Vec::new(),
            pad: 0,
            cur: None,
            offset: 0,
            done: false,
            failed: false,
            scratch: Vec::new(),
        }
    }

    /// Bytes of the tar stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Advances to the next entry (skipping and recording whatever content
    /// of the current one was not read). `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>, TarSplitError> {
        if self.failed {
            return Err(TarSplitError::Poisoned);
        }
        if self.done {
            return Ok(None);
        }
        let r = self.next_entry_inner();
        match &r {
            Err(_) => self.failed = true,
            Ok(None) => self.done = true,
            Ok(Some(_)) => {}
        }
        r
    }

    /// Reads content of the current entry; 0 at its end.
    pub fn read_content(&mut self, buf: &mut [u8]) -> Result<usize, TarSplitError> {
        if self.failed {
            return Err(TarSplitError::Poisoned);
        }
        let r = self.read_content_inner(buf);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// Reads to the end of the archive and of the stream, records the rest
    /// and returns the tar-split writer and the number of bytes of the
    /// stream.
    pub fn finish(mut self) -> Result<(W, u64), TarSplitError> {
        while self.next_entry()?.is_some() {}
        // Go reads what follows the end blocks until EOF and records each
        // read as a segment, the last one (the read that returns EOF) empty.
        // Segments are cut every TRAILING_CHUNK bytes; the buffer only grows
        // when there are trailing bytes (usually none, or GNU tar's record
        // padding of a few KiB).
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(64 << 10, 0);
        let mut chunk = Vec::new();
        loop {
            let want = buf.len().min(TRAILING_CHUNK - chunk.len());
            let n = self.try_read_full(&mut buf[..want])?;
            chunk.extend_from_slice(&buf[..n]);
            if chunk.len() == TRAILING_CHUNK {
                self.packer.add_segment(&chunk)?;
                chunk.clear();
            } else if n < want {
                self.packer.add_segment(&chunk)?;
                if !chunk.is_empty() {
                    self.packer.add_segment(&[])?;
                }
                break;
            }
        }
        let offset = self.offset;
        Ok((self.packer.into_inner(), offset))
    }

    fn read_content_inner(&mut self, buf: &mut [u8]) -> Result<usize, TarSplitError> {
        let Some(cur) = self.cur.as_mut() else {
            return Ok(0);
        };
        if cur.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(cur.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = loop {
            match self.src.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(TarSplitError::Read {
                        offset: self.offset,
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Err(TarSplitError::UnexpectedEof {
                offset: self.offset,
                what: "file content",
            });
        }
        cur.crc.update(&buf[..n]);
        cur.remaining -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }

    /// Go's `tryReadFull`: fills `buf` unless EOF comes first.
    fn try_read_full(&mut self, buf: &mut [u8]) -> Result<usize, TarSplitError> {
        let mut n = 0;
        while n < buf.len() {
            match self.src.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TarSplitError::Read {
                        offset: self.offset + n as u64,
                        source,
                    })
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Reads `len` bytes (at most `limits.max_header_data`) of header data
    /// into the current raw segment and returns them.
    fn read_header_data(&mut self, len: u64, what: &'static str) -> Result<Vec<u8>, TarSplitError> {
        let size = usize::try_from(len).unwrap_or(usize::MAX);
        let mut data = vec![0u8; size];
        let n = self.try_read_full(&mut data)?;
        if n < size {
            return Err(TarSplitError::UnexpectedEof {
                offset: self.offset,
                what,
            });
        }
        self.raw.extend_from_slice(&data);
        Ok(data)
    }

    fn finish_current(&mut self) -> Result<(), TarSplitError> {
        let Some(cur) = self.cur.as_ref() else {
            return Ok(());
        };
        if cur.remaining > 0 {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.resize(64 << 10, 0);
            let r = loop {
                match self.read_content_inner(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            };
            self.scratch = buf;
            r?;
        }
        if let Some(cur) = self.cur.take() {
            let content = (cur.size > 0).then(|| (cur.size, cur.crc.finalize()));
            self.packer.add_file(&cur.name, content)?;
        }
        Ok(())
    }

    fn flush_raw(&mut self) -> Result<(), TarSplitError> {
        if !self.raw.is_empty() {
            self.packer.add_segment(&self.raw)?;
            self.raw.clear();
        }
        Ok(())
    }

    fn next_entry_inner(&mut self) -> Result<Option<TarEntry>, TarSplitError> {
        self.finish_current()?;
        let r = self.read_headers()?;
        // The raw bytes read so far form the segment before this entry's
        // content (or the end-of-archive segment).
        self.flush_raw()?;
        let Some(entry) = r else { return Ok(None) };
        self.packer.claim_name(&entry.name)?;
        self.cur = Some(Current {
            name: entry.name.clone(),
            size: entry.size,
            remaining: entry.size,
            crc: CRC64.digest(),
        });
        Ok(Some(entry))
    }

    /// Go's `Reader.next`, with raw accounting.
    fn read_headers(&mut self) -> Result<Option<TarEntry>, TarSplitError> {
        let mut pax: Option<header::PaxRecords> = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            // Padding of the previous data section. A stream that ends
            // inside it is taken as ended, as Go does; unlike Go, the bytes
            // that were there are kept, so the tar still reassembles.
            let mut block = [0u8; BLOCK];
            let pad = usize::try_from(self.pad).unwrap_or(0);
            self.pad = 0;
            let n = self.try_read_full(&mut block[..pad])?;
            self.raw.extend_from_slice(&block[..n]);
            if n < pad {
                return Ok(None);
            }

            let start = self.offset;
            let n = self.try_read_full(&mut block)?;
            if n == 0 {
                return Ok(None);
            }
            if n < BLOCK {
                return Err(TarSplitError::UnexpectedEof {
                    offset: self.offset,
                    what: "header block",
                });
            }
            self.raw.extend_from_slice(&block);
            if block.iter().all(|b| *b == 0) {
                let n = self.try_read_full(&mut block)?;
                if n == 0 {
                    return Ok(None);
                }
                if n < BLOCK {
                    return Err(TarSplitError::UnexpectedEof {
                        offset: self.offset,
                        what: "end-of-archive block",
                    });
                }
                self.raw.extend_from_slice(&block);
                if block.iter().all(|b| *b == 0) {
                    return Ok(None);
                }
                return Err(TarSplitError::BadHeader {
                    offset: start,
                    reason: "zero block followed by a non-zero block",
                });
            }

            let mut hdr =
                header::parse_header(&block).map_err(|reason| TarSplitError::BadHeader {
                    offset: start,
                    reason,
                })?;
            if hdr.size < 0 {
                return Err(TarSplitError::BadHeader {
                    offset: start,
                    reason: "negative size",
                });
            }
            match hdr.typeflag {
                b'x' | b'g' | b'L' | b'K' => {
                    let size = hdr.size.unsigned_abs();
                    if size > self.limits.max_header_data {
                        return Err(TarSplitError::HeaderDataTooLarge {
                            offset: start,
                            typeflag: char::from(hdr.typeflag),
                            size,
                            limit: self.limits.max_header_data,
                        });
                    }
                    let data = self.read_header_data(size, "extended header data")?;
                    self.pad = padding(size);
                    match hdr.typeflag {
                        b'x' | b'g' => {
                            let recs = header::parse_pax(&data).map_err(|reason| {
                                TarSplitError::BadHeader {
                                    offset: start,
                                    reason,
                                }
                            })?;
                            if hdr.typeflag == b'x' {
                                pax = Some(recs);
                                continue;
                            }
                            // A global header is returned as an entry of its
                            // own (Go records it as a file entry without
                            // content); only `path` is applied to it.
                            header::merge_pax(&mut hdr, &recs).map_err(|reason| {
                                TarSplitError::BadHeader {
                                    offset: start,
                                    reason,
                                }
                            })?;
                            return Ok(Some(TarEntry {
                                name: hdr.name,
                                link_name: Vec::new(),
                                typeflag: b'g',
                                size: 0,
                                mode: 0,
                                uid: 0,
                                gid: 0,
                                mtime: Timestamp::default(),
                                atime: None,
                                dev_major: 0,
                                dev_minor: 0,
                                xattrs: BTreeMap::new(),
                            }));
                        }
                        b'L' => long_name = Some(cstr(&data).to_vec()),
                        _ => long_link = Some(cstr(&data).to_vec()),
                    }
                    continue;
                }
                _ => return self.finish_header(hdr, start, pax, long_name, long_link),
            }
        }
    }

    fn finish_header(
        &mut self,
        mut hdr: Header,
        start: u64,
        pax: Option<header::PaxRecords>,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
    ) -> Result<Option<TarEntry>, TarSplitError> {
        let bad = |reason| TarSplitError::BadHeader {
            offset: start,
            reason,
        };
        let (xattrs, sparse) = match &pax {
            Some(recs) => header::merge_pax(&mut hdr, recs).map_err(bad)?,
            None => (BTreeMap::new(), false),
        };
        if let Some(n) = long_name.filter(|n| !n.is_empty()) {
            hdr.name = n;
        }
        if let Some(l) = long_link.filter(|l| !l.is_empty()) {
            hdr.linkname = l;
        }
        if hdr.typeflag == 0 {
            hdr.typeflag = if hdr.name.ends_with(b"/") { b'5' } else { b'0' };
        }
        if sparse || hdr.typeflag == b'S' {
            // Go expands sparse files when reading and records the expanded
            // content, which then cannot be reassembled into the original
            // tar; refuse them.
            return Err(TarSplitError::Unsupported {
                offset: start,
                name: String::from_utf8_lossy(&hdr.name).into_owned(),
                reason: "sparse files",
            });
        }
        if hdr.size < 0 {
            return Err(bad("negative size"));
        }
        let size = if header_only(hdr.typeflag) {
            0
        } else {
            hdr.size.unsigned_abs()
        };
        self.pad = padding(size);
        Ok(Some(TarEntry {
            name: hdr.name,
            link_name: hdr.linkname,
            typeflag: hdr.typeflag,
            size,
            mode: hdr.mode,
            uid: hdr.uid,
            gid: hdr.gid,
            mtime: hdr.mtime,
            atime: hdr.atime,
            dev_major: hdr.devmajor,
            dev_minor: hdr.devminor,
            xattrs,
        }))
    }
}

impl<R: Read, W: Write> Read for Disassembler<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_content(buf).map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tarsplit::codec::{Entry, Unpacker};

    type Disassembled = (Vec<TarEntry>, Vec<Vec<u8>>, Vec<Entry>);

    fn disassemble(tar: &[u8]) -> Result<Disassembled, TarSplitError> {
        let mut d = Disassembler::new(tar, Vec::new());
        let mut entries = Vec::new();
        let mut contents = Vec::new();
        while let Some(e) = d.next_entry()? {
            let mut c = Vec::new();
            let mut buf = [0u8; 100];
            loop {
                let n = d.read_content(&mut buf)?;
                if n == 0 {
                    break;
                }
                c.extend_from_slice(&buf[..n]);
            }
            entries.push(e);
            contents.push(c);
        }
        let (json, n) = d.finish()?;
        assert_eq!(n, tar.len() as u64);
        let mut u = Unpacker::new(&json[..]);
        let mut recs = Vec::new();
        while let Some(e) = u.next_entry().unwrap() {
            recs.push(e);
        }
        Ok((entries, contents, recs))
    }

    /// Replays records against the contents by name, as assembly does.
    fn replay(recs: &[Entry], files: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in recs {
            match r {
                Entry::Segment(p) => out.extend_from_slice(p),
                Entry::File { name, size, .. } if *size > 0 => {
                    let (_, c) = files.iter().find(|(n, _)| n == name).unwrap();
                    out.extend_from_slice(c);
                }
                Entry::File { .. } => {}
            }
        }
        out
    }

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "d/", &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(5);
        b.append_data(&mut h, "d/f", &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        let long = format!("d/{}", "x".repeat(150));
        b.append_link(&mut h, &long, "f").unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn records_segments_and_file_entries_in_go_order() {
        let tar = sample_tar();
        let (entries, contents, recs) = disassemble(&tar).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].name, b"d/f");
        assert_eq!(contents[1], b"hello");
        assert_eq!(entries[2].name.len(), 152);
        assert_eq!(entries[2].link_name, b"f");
        // seg(dir hdr), file(d/), seg(f hdr), file(d/f), seg(pad + L hdr +
        // name + pad + hdr), file(long), seg(end blocks), seg("").
        let kinds: Vec<_> = recs
            .iter()
            .map(|r| match r {
                Entry::Segment(p) => format!("s{}", p.len()),
                Entry::File { size, .. } => format!("f{size}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["s512", "f0", "s512", "f5", "s2043", "f0", "s1024", "s0"]
        );
        let Entry::File { crc, .. } = &recs[3] else {
            panic!()
        };
        assert_eq!(
            crc.as_deref(),
            Some(&CRC64.checksum(b"hello").to_be_bytes()[..])
        );
        let files = vec![(b"d/f".to_vec(), b"hello".to_vec())];
        assert_eq!(replay(&recs, &files), tar);
    }

    #[test]
    fn unread_content_is_skipped_and_still_recorded() {
        let tar = sample_tar();
        let mut d = Disassembler::new(&tar[..], Vec::new());
        while d.next_entry().unwrap().is_some() {}
        let (json, _) = d.finish().unwrap();
        let mut u = Unpacker::new(&json[..]);
        let mut recs = Vec::new();
        while let Some(e) = u.next_entry().unwrap() {
            recs.push(e);
        }
        let files = vec![(b"d/f".to_vec(), b"hello".to_vec())];
        assert_eq!(replay(&recs, &files), tar);
    }

    #[test]
    fn trailing_bytes_after_end_blocks_are_recorded() {
        let mut tar = sample_tar();
        tar.extend_from_slice(&[0u8; 8192]);
        tar.extend_from_slice(b"junk");
        let (_, _, recs) = disassemble(&tar).unwrap();
        let n = recs.len();
        assert_eq!(
            recs[n - 2],
            Entry::Segment(tar[tar.len() - 8196..].to_vec())
        );
        assert_eq!(recs[n - 1], Entry::Segment(Vec::new()));
        let files = vec![(b"d/f".to_vec(), b"hello".to_vec())];
        assert_eq!(replay(&recs, &files), tar);
    }

    #[test]
    fn trailing_bytes_are_cut_in_one_mib_segments() {
        let mut tar = sample_tar();
        let base = tar.len();
        tar.extend((0..TRAILING_CHUNK + 10).map(|i| (i % 7) as u8));
        let (_, _, recs) = disassemble(&tar).unwrap();
        let n = recs.len();
        assert_eq!(
            recs[n - 3],
            Entry::Segment(tar[base..base + TRAILING_CHUNK].to_vec())
        );
        assert_eq!(
            recs[n - 2],
            Entry::Segment(tar[base + TRAILING_CHUNK..].to_vec())
        );
        assert_eq!(recs[n - 1], Entry::Segment(Vec::new()));
    }

    #[test]
    fn archive_without_end_blocks_or_with_one_is_accepted() {
        let tar = sample_tar();
        let (e, _, _) = disassemble(&tar[..tar.len() - 1024]).unwrap();
        assert_eq!(e.len(), 3);
        let (e, _, _) = disassemble(&tar[..tar.len() - 512]).unwrap();
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn truncated_streams_are_refused() {
        let tar = sample_tar();
        // Inside the first file's content (header at 512..1024, content
        // 1024..1029).
        assert!(matches!(
            disassemble(&tar[..1026]),
            Err(TarSplitError::UnexpectedEof {
                what: "file content",
                ..
            })
        ));
        assert!(matches!(
            disassemble(&tar[..100]),
            Err(TarSplitError::UnexpectedEof {
                what: "header block",
                ..
            })
        ));
    }

    #[test]
    fn zero_block_then_data_is_refused() {
        let mut tar = vec![0u8; 512];
        tar.extend_from_slice(&sample_tar());
        assert!(matches!(
            disassemble(&tar),
            Err(TarSplitError::BadHeader { offset: 0, .. })
        ));
    }

    #[test]
    fn oversized_pax_header_is_refused_before_reading_it() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(100 << 20);
        h.set_cksum();
        let tar = h.as_bytes().to_vec();
        assert!(matches!(
            disassemble(&tar),
            Err(TarSplitError::HeaderDataTooLarge {
                typeflag: 'x',
                size: 104_857_600,
                ..
            })
        ));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        for name in ["a", "./a"] {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            b.append_data(&mut h, name, &[][..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        assert!(matches!(
            disassemble(&tar),
            Err(TarSplitError::DuplicatePath { .. })
        ));
    }

    #[test]
    fn header_only_types_have_no_content_even_with_a_size() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path("l").unwrap();
        h.set_link_name("t").unwrap();
        h.set_size(700);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[0u8; 1024]);
        let (e, c, recs) = disassemble(&tar).unwrap();
        assert_eq!(e[0].size, 0);
        assert!(c[0].is_empty());
        assert_eq!(
            recs[1],
            Entry::File {
                name: b"l".to_vec(),
                size: 0,
                crc: None
            }
        );
    }

    #[test]
    fn sparse_entries_are_refused() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_path("s").unwrap();
        h.set_size(0);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[0u8; 1024]);
        assert!(matches!(
            disassemble(&tar),
            Err(TarSplitError::Unsupported { .. })
        ));
    }

    #[test]
    fn errors_are_sticky() {
        let tar = vec![1u8; 512];
        let mut d = Disassembler::new(&tar[..], Vec::new());
        assert!(matches!(
            d.next_entry(),
            Err(TarSplitError::BadHeader { .. })
        ));
        assert!(matches!(d.next_entry(), Err(TarSplitError::Poisoned)));
    }
}
