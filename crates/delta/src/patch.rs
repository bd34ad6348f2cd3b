//! Streaming, validating application of librsync deltas.
//!
//! Memory is fixed (two 64 KiB buffers plus I/O buffers) whatever the delta
//! says: literal data is streamed in chunks and nothing is allocated from a
//! length read from the delta. Unlike upstream, copies that reach past the
//! end of the basis are errors, not silently short output.

use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::ops::{decode_op, Op, DELTA_MAGIC};
use crate::util::read_full;

const CHUNK: usize = 64 << 10;

/// Errors from applying a delta. Offsets are positions in the delta stream.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// Reading the delta failed.
    #[error("reading delta at offset {offset}")]
    ReadDelta {
        /// Delta offset of the failed read.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Seeking in or reading the basis failed.
    #[error("reading basis at offset {basis_offset} for the command at delta offset {offset}")]
    ReadBasis {
        /// Delta offset of the copy command.
        offset: u64,
        /// Basis offset being read.
        basis_offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("writing output at offset {output_offset}")]
    Write {
        /// Output offset of the failed write.
        output_offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The delta does not start with 0x72730236.
    #[error("bad delta magic {found:#010x} (expected 0x72730236)")]
    BadMagic {
        /// The magic found.
        found: u32,
    },
    /// Reserved opcode (above 0x54).
    #[error("unknown delta opcode {opcode:#04x} at offset {offset}")]
    UnknownOpcode {
        /// The opcode.
        opcode: u8,
        /// Its delta offset.
        offset: u64,
    },
    /// The delta ended before its end command.
    #[error("delta truncated in {what} at offset {offset}")]
    Truncated {
        /// Delta offset where the missing data was expected.
        offset: u64,
        /// What was being read.
        what: &'static str,
    },
    /// A copy's offset plus length overflows 64 bits.
    #[error(
        "copy of {len} bytes at basis offset {pos} overflows (command at delta offset {offset})"
    )]
    CopyOverflow {
        /// Delta offset of the command.
        offset: u64,
        /// Basis offset.
        pos: u64,
        /// Length.
        len: u64,
    },
    /// A copy reaches past the end of the basis.
    #[error("copy of {len} bytes at basis offset {pos} is outside the {basis_len}-byte basis (command at delta offset {offset})")]
    CopyOutOfRange {
        /// Delta offset of the command.
        offset: u64,
        /// Basis offset.
        pos: u64,
        /// Length.
        len: u64,
        /// Basis length.
        basis_len: u64,
    },
    /// The basis ended early while copying (it shrank during patching).
    #[error("basis ended at offset {basis_offset} during the copy at delta offset {offset}")]
    BasisShort {
        /// Delta offset of the command.
        offset: u64,
        /// Basis offset where data ran out.
        basis_offset: u64,
    },
}

/// What applying a delta did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatchStats {
    /// Bytes of delta consumed, up to and including the end command.
    pub delta_bytes: u64,
    /// Bytes written to the output.
    pub output_bytes: u64,
    /// Output bytes that came from literals.
    pub literal_bytes: u64,
    /// Output bytes copied from the basis.
    pub copy_bytes: u64,
    /// Commands applied, not counting the end command.
    pub commands: u64,
}

/// Applies `delta` to `basis`, streaming the result to `out`. Stops at the
/// end command without reading further. Accepts any valid librsync delta
/// (e.g. `rdiff delta` output); rejects bad magic, reserved opcodes, copies
/// outside the basis and truncation. On error, `out` has received a prefix
/// of the output and must be discarded.
pub fn patch<B: Read + Seek, D: Read, W: Write>(
    mut basis: B,
    delta: D,
    out: W,
) -> Result<PatchStats, PatchError> {
    let mut d = DeltaReader {
        inner: BufReader::with_capacity(CHUNK, delta),
        offset: 0,
    };
    let mut out = BufWriter::with_capacity(CHUNK, out);
    let mut stats = PatchStats::default();
    let mut buf = vec![0u8; CHUNK];

    let magic = d.read_be(4, "magic")?;
    if magic != u64::from(DELTA_MAGIC) {
        return Err(PatchError::BadMagic {
            found: magic as u32,
        });
    }
    let basis_err = |offset, basis_offset| {
        move |source| PatchError::ReadBasis {
            offset,
            basis_offset,
            source,
        }
    };
    let basis_len = basis.seek(SeekFrom::End(0)).map_err(basis_err(0, 0))?;
    // Where the basis reader is; `None` forces a seek.
    let mut basis_at: Option<u64> = None;

    loop {
        let cmd_offset = d.offset;
        let opcode = d.read_be(1, "opcode")? as u8;
        let op = decode_op(opcode).ok_or(PatchError::UnknownOpcode {
            opcode,
            offset: cmd_offset,
        })?;
        match op {
            Op::End => break,
            Op::LiteralImmediate(len) => literal(&mut d, &mut out, len, &mut buf, &mut stats)?,
            Op::Literal { len_width } => {
                let len = d.read_be(len_width, "literal length")?;
                literal(&mut d, &mut out, len, &mut buf, &mut stats)?;
            }
            Op::Copy {
                pos_width,
                len_width,
            } => {
                let pos = d.read_be(pos_width, "copy offset")?;
                let len = d.read_be(len_width, "copy length")?;
                let end = pos.checked_add(len).ok_or(PatchError::CopyOverflow {
                    offset: cmd_offset,
                    pos,
                    len,
                })?;
                if end > basis_len {
                    return Err(PatchError::CopyOutOfRange {
                        offset: cmd_offset,
                        pos,
                        len,
                        basis_len,
                    });
                }
                if basis_at != Some(pos) && len > 0 {
                    basis
                        .seek(SeekFrom::Start(pos))
                        .map_err(basis_err(cmd_offset, pos))?;
                }
                let mut at = pos;
                while at < end {
                    let want = ((end - at) as usize).min(buf.len());
                    let n = read_full(&mut basis, &mut buf[..want])
                        .map_err(basis_err(cmd_offset, at))?;
                    if n == 0 {
                        return Err(PatchError::BasisShort {
                            offset: cmd_offset,
                            basis_offset: at,
                        });
                    }
                    write_out(&mut out, &buf[..n], &mut stats)?;
                    at += n as u64;
                }
                if len > 0 {
                    basis_at = Some(end);
                }
                stats.copy_bytes += len;
            }
        }
        stats.commands += 1;
    }
    let output_offset = stats.output_bytes;
    out.flush().map_err(|source| PatchError::Write {
        output_offset,
        source,
    })?;
    stats.delta_bytes = d.offset;
    Ok(stats)
}

fn write_out<W: Write>(out: &mut W, data: &[u8], stats: &mut PatchStats) -> Result<(), PatchError> {
    out.write_all(data).map_err(|source| PatchError::Write {
        output_offset: stats.output_bytes,
        source,
    })?;
    stats.output_bytes += data.len() as u64;
    Ok(())
}

fn literal<D: Read, W: Write>(
    d: &mut DeltaReader<D>,
    out: &mut W,
    len: u64,
    buf: &mut [u8],
    stats: &mut PatchStats,
) -> Result<(), PatchError> {
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        d.read_exact(&mut buf[..want], "literal data")?;
        write_out(out, &buf[..want], stats)?;
        left -= want as u64;
    }
    stats.literal_bytes += len;
    Ok(())
}

/// The delta stream with its current offset, for error reports.
struct DeltaReader<R: Read> {
    inner: BufReader<R>,
    offset: u64,
}

impl<R: Read> DeltaReader<R> {
    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), PatchError> {
        let n = read_full(&mut self.inner, buf).map_err(|source| PatchError::ReadDelta {
            offset: self.offset,
            source,
        })?;
        self.offset += n as u64;
        if n < buf.len() {
            return Err(PatchError::Truncated {
                offset: self.offset,
                what,
            });
        }
        Ok(())
    }

    /// Reads a big-endian unsigned integer of `width` (1..=8) bytes.
    fn read_be(&mut self, width: usize, what: &'static str) -> Result<u64, PatchError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b[8 - width..], what)?;
        Ok(u64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const MAGIC: [u8; 4] = [0x72, 0x73, 0x02, 0x36];

    fn run(basis: &[u8], delta: &[u8]) -> Result<(Vec<u8>, PatchStats), PatchError> {
        let mut out = Vec::new();
        let stats = patch(Cursor::new(basis), delta, &mut out)?;
        Ok((out, stats))
    }

    fn with_magic(cmds: &[u8]) -> Vec<u8> {
        let mut d = MAGIC.to_vec();
        d.extend_from_slice(cmds);
        d
    }

    #[test]
    fn applies_literals_and_copies() {
        let basis = b"0123456789";
        // literal "ab", copy(2, 3), literal N1 "c", copy(0, 1) with 8-byte fields, end
        let d = with_magic(&[
            0x02, b'a', b'b', 0x45, 2, 3, 0x41, 1, b'c', 0x54, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 1, 0x00,
        ]);
        let (out, stats) = run(basis, &d).unwrap();
        assert_eq!(out, b"ab234c0");
        assert_eq!(stats.commands, 4);
        assert_eq!(stats.delta_bytes, d.len() as u64);
        assert_eq!(stats.literal_bytes, 3);
        assert_eq!(stats.copy_bytes, 4);
    }

    #[test]
    fn stops_at_end_command() {
        let mut d = with_magic(&[0x01, b'x', 0x00]);
        d.extend_from_slice(b"trailing garbage");
        let (out, stats) = run(b"", &d).unwrap();
        assert_eq!(out, b"x");
        assert_eq!(stats.delta_bytes, 7);
    }

    #[test]
    fn rejects_bad_magic() {
        let err = run(b"", &[0x72, 0x73, 0x01, 0x37, 0x00]).unwrap_err();
        assert!(
            matches!(err, PatchError::BadMagic { found: 0x7273_0137 }),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_opcode_with_offset() {
        let err = run(b"", &with_magic(&[0x01, b'x', 0x55])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::UnknownOpcode {
                    opcode: 0x55,
                    offset: 6
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_copy_past_basis_end() {
        let err = run(b"0123456789", &with_magic(&[0x45, 8, 3, 0x00])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::CopyOutOfRange {
                    offset: 4,
                    pos: 8,
                    len: 3,
                    basis_len: 10
                }
            ),
            "{err}"
        );
        let err = run(b"0123456789", &with_magic(&[0x45, 11, 0, 0x00])).unwrap_err();
        assert!(matches!(err, PatchError::CopyOutOfRange { .. }), "{err}");
        // Exactly up to the end is fine.
        assert_eq!(
            run(b"0123456789", &with_magic(&[0x45, 7, 3, 0x00]))
                .unwrap()
                .0,
            b"789"
        );
    }

    #[test]
    fn rejects_overflowing_copy() {
        let mut cmds = vec![0x54];
        cmds.extend_from_slice(&u64::MAX.to_be_bytes());
        cmds.extend_from_slice(&2u64.to_be_bytes());
        cmds.push(0);
        let err = run(b"abc", &with_magic(&cmds)).unwrap_err();
        assert!(
            matches!(err, PatchError::CopyOverflow { offset: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_truncation_everywhere() {
        let err = run(b"", &MAGIC[..2]).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "magic",
                    offset: 2
                }
            ),
            "{err}"
        );
        let err = run(b"", &MAGIC).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "opcode",
                    offset: 4
                }
            ),
            "{err}"
        );
        let err = run(b"", &with_magic(&[0x05, b'a', b'b'])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "literal data",
                    offset: 7
                }
            ),
            "{err}"
        );
        let err = run(b"", &with_magic(&[0x43, 0, 1])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "literal length",
                    ..
                }
            ),
            "{err}"
        );
        let err = run(b"abc", &with_magic(&[0x49, 0])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "copy offset",
                    ..
                }
            ),
            "{err}"
        );
        let err = run(b"abc", &with_magic(&[0x45, 0])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "copy length",
                    ..
                }
            ),
            "{err}"
        );
        let err = run(b"abc", &with_magic(&[0x45, 0, 1])).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "opcode",
                    offset: 7
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn huge_literal_length_does_not_allocate() {
        // Claims 2^63 bytes of literal; must fail on truncation, not allocate.
        let mut cmds = vec![0x44];
        cmds.extend_from_slice(&(1u64 << 63).to_be_bytes());
        cmds.extend_from_slice(b"only this");
        let err = run(b"", &with_magic(&cmds)).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::Truncated {
                    what: "literal data",
                    ..
                }
            ),
            "{err}"
        );
    }

    struct Shrinking<'a>(Cursor<&'a [u8]>);

    impl Read for Shrinking<'_> {
        fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl Seek for Shrinking<'_> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.0.seek(pos)
        }
    }

    #[test]
    fn basis_that_reads_short_is_an_error() {
        let err = patch(
            Shrinking(Cursor::new(b"abcdef")),
            &with_magic(&[0x45, 1, 2, 0])[..],
            io::sink(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::BasisShort {
                    offset: 4,
                    basis_offset: 1
                }
            ),
            "{err}"
        );
    }
}
