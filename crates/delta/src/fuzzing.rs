//! Entry points for the fuzz targets, also replayed over the committed
//! corpus by `tests/fuzz_corpus.rs`. Not a stable API.

use std::io::{self, Cursor, Read, Seek, SeekFrom};

use crate::{delta, patch, Signature};

/// Patcher target: the first two bytes (little-endian) give the basis
/// length, capped at what follows; the basis comes next, the delta after it.
/// Must never panic; the output goes to a sink.
pub fn patch_entry(data: &[u8]) {
    let (len, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let (basis, delta_bytes) = rest.split_at(len.min(rest.len()));
    let _ = patch(Cursor::new(basis), delta_bytes, io::sink());
}

/// Signature-reader target: parses `data` as a signature (small block
/// limit). If it parses, re-serializing must reproduce `data` exactly, and
/// a delta of `data` against it must be a valid delta for a basis of the
/// size the signature describes. Panics only on those invariant failures.
pub fn signature_entry(data: &[u8]) {
    let Ok(sig) = Signature::read_with_limit(data, 1 << 16) else {
        return;
    };
    let mut written = Vec::new();
    if sig.write_to(&mut written).is_ok() {
        assert_eq!(written, data, "signature re-serialization differs");
    }
    let mut d = Vec::new();
    if delta(&sig, data, &mut d, 2).is_ok() {
        let basis = Zeros {
            len: sig.block_count() * u64::from(sig.params().block_len),
            pos: 0,
        };
        let r = patch(basis, &d[..], io::sink());
        assert!(r.is_ok(), "generated delta does not apply: {r:?}");
    }
}

/// A basis of `len` zero bytes that allocates nothing.
struct Zeros {
    len: u64,
    pos: u64,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        buf[..n].fill(0);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Zeros {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = match pos {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}
