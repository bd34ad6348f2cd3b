//! Streaming delta generation against a loaded [`Signature`].
//!
//! Matching follows librsync 2.x: at each position the window of one block
//! (shorter only at the end of the input) is looked up by weak sum, then by
//! strong sum; a match emits a copy and skips the window, a miss emits one
//! literal byte and rolls the window on. Two deliberate differences, both
//! of which can only make deltas smaller: all blocks sharing a weak sum are
//! candidates (librsync does that too; upstream Go keeps one), and when the
//! block right after the previous copy has the same sums as the matched
//! block, it is used so the copies merge (librsync always uses the first
//! identical block, which splits runs of repeated content into many copies).
//! Literal runs are cut every [`MAX_LITERAL`] bytes (librsync: 64 KiB).
//!
//! Parallelism: the decision at a position depends only on the data, so
//! each round of input is split into segments scanned by separate threads,
//! and their match lists are spliced: the authoritative path from the
//! previous segment joins a worker's path at the first position the worker
//! also visited (any position not strictly inside one of its matches);
//! until then the main thread scans on by itself. The output is therefore
//! byte-identical for any thread count.

use std::io::{self, BufWriter, Read, Write};

use crate::ops::{encode_copy, encode_literal_header, OP_END};
use crate::rollsum::Rollsum;
use crate::signature::Signature;
use crate::util::run_parallel;
use crate::DELTA_MAGIC_BYTES;

/// Positions scanned per thread per round.
const SEGMENT: usize = 4 << 20;
/// Rounds smaller than this per thread are not split.
const MIN_SEGMENT: usize = 256 << 10;
/// Longest literal command emitted.
pub const MAX_LITERAL: usize = 1 << 20;

/// Errors from delta generation.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// Reading the new file failed.
    #[error("reading new file at offset {offset}")]
    ReadInput {
        /// Offset in the new file of the failed read.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the delta failed.
    #[error("writing delta at offset {offset}")]
    Write {
        /// Offset in the delta of the failed write.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A worker thread panicked (a bug, reported instead of propagated).
    #[error("delta worker thread panicked")]
    WorkerPanicked,
}

/// What a delta generation produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaStats {
    /// Bytes of new file read.
    pub input_bytes: u64,
    /// Bytes of delta written, including magic and end command.
    pub delta_bytes: u64,
    /// New-file bytes sent as literals.
    pub literal_bytes: u64,
    /// New-file bytes sent as copies from the basis.
    pub copy_bytes: u64,
    /// Literal commands written.
    pub literal_commands: u64,
    /// Copy commands written (after merging adjacent copies).
    pub copy_commands: u64,
}

/// Writes the librsync delta that turns the basis described by `sig` into
/// `new`. Memory is bounded (about `1 MiB + threads * 4 MiB + block_len`
/// besides the signature); `new` is read once, front to back. The output
/// does not depend on `threads`.
pub fn delta<R: Read, W: Write>(
    sig: &Signature,
    new: R,
    out: W,
    threads: usize,
) -> Result<DeltaStats, DeltaError> {
    let mut emitter = Emitter {
        out: BufWriter::with_capacity(64 << 10, out),
        sig,
        copy: None,
        stats: DeltaStats::default(),
    };
    emitter.write(&DELTA_MAGIC_BYTES)?;
    let input_bytes = Generator::new(sig, threads).run(new, &mut emitter)?;
    emitter.stats.input_bytes = input_bytes;
    emitter.finish()
}

/// Turns match decisions into delta commands.
struct Emitter<'s, W: Write> {
    out: BufWriter<W>,
    sig: &'s Signature,
    /// Pending copy `(basis offset, length)`, extended while contiguous.
    copy: Option<(u64, u64)>,
    stats: DeltaStats,
}

impl<W: Write> Emitter<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), DeltaError> {
        self.out
            .write_all(bytes)
            .map_err(|source| DeltaError::Write {
                offset: self.stats.delta_bytes,
                source,
            })?;
        self.stats.delta_bytes += bytes.len() as u64;
        Ok(())
    }

    fn flush_copy(&mut self) -> Result<(), DeltaError> {
        if let Some((pos, len)) = self.copy.take() {
            let mut cmd = [0u8; 17];
            let n = encode_copy(pos, len, &mut cmd);
            self.write(&cmd[..n])?;
            self.stats.copy_commands += 1;
        }
        Ok(())
    }

    fn literal(&mut self, data: &[u8]) -> Result<(), DeltaError> {
        if data.is_empty() {
            return Ok(());
        }
        self.flush_copy()?;
        let mut cmd = [0u8; 17];
        let n = encode_literal_header(data.len() as u64, &mut cmd);
        self.write(&cmd[..n])?;
        self.write(data)?;
        self.stats.literal_commands += 1;
        self.stats.literal_bytes += data.len() as u64;
        Ok(())
    }

    /// A window of `len` bytes matched `block` (the first block with its sums).
    fn matched(&mut self, block: u32, len: usize) -> Result<(), DeltaError> {
        let bl = self.sig.block_len() as u64;
        let len = len as u64;
        let mut pos = u64::from(block) * bl;
        self.stats.copy_bytes += len;
        if let Some((p, l)) = self.copy {
            let end = p + l;
            // Prefer an identical block that continues the pending copy.
            if end != pos && end % bl == 0 && self.sig.same_sums(end / bl, block) {
                pos = end;
            }
            if end == pos {
                self.copy = Some((p, l + len));
                return Ok(());
            }
        }
        self.flush_copy()?;
        self.copy = Some((pos, len));
        Ok(())
    }

    fn finish(mut self) -> Result<DeltaStats, DeltaError> {
        self.flush_copy()?;
        self.write(&[OP_END])?;
        let offset = self.stats.delta_bytes;
        self.out
            .flush()
            .map_err(|source| DeltaError::Write { offset, source })?;
        Ok(self.stats)
    }
}

/// Evaluates full windows one position at a time, keeping the rolling sum.
struct Scan<'a> {
    sig: &'a Signature,
    data: &'a [u8],
    bl: usize,
    pos: usize,
    sum: Option<Rollsum>,
}

impl<'a> Scan<'a> {
    fn new(sig: &'a Signature, data: &'a [u8], pos: usize) -> Self {
        Scan {
            sig,
            data,
            bl: sig.block_len(),
            pos,
            sum: None,
        }
    }

    /// Decides at `self.pos` (which must have a full window): on a match
    /// returns the block and skips the window, else moves on by one byte.
    #[inline]
    fn step(&mut self) -> Option<u32> {
        let (p, bl, data) = (self.pos, self.bl, self.data);
        let window = &data[p..p + bl];
        let sum = match self.sum {
            Some(s) => s,
            None => Rollsum::of(window),
        };
        if let Some(block) = self.sig.find(sum.digest(), window) {
            self.pos += bl;
            self.sum = None;
            return Some(block);
        }
        self.sum = data.get(p + bl).map(|&inp| {
            let mut s = sum;
            s.rotate(data[p], inp);
            s
        });
        self.pos += 1;
        None
    }
}

/// One worker's path through a segment: its matches and where it stopped.
struct SegmentScan {
    matches: Vec<(usize, u32)>,
    end: usize,
}

fn scan_segment(sig: &Signature, data: &[u8], start: usize, limit: usize) -> SegmentScan {
    let mut scan = Scan::new(sig, data, start);
    let mut matches = Vec::new();
    while scan.pos < limit {
        let p = scan.pos;
        if let Some(block) = scan.step() {
            matches.push((p, block));
        }
    }
    SegmentScan {
        matches,
        end: scan.pos,
    }
}

struct Generator<'s> {
    sig: &'s Signature,
    threads: usize,
    bl: usize,
    buf: Vec<u8>,
    /// Valid bytes in `buf`.
    filled: usize,
    /// Next undecided position in `buf`.
    cur: usize,
    /// Start of the pending literal run in `buf` (`lit <= cur`).
    lit: usize,
    /// New-file offset of `buf[0]`.
    base: u64,
}

impl<'s> Generator<'s> {
    fn new(sig: &'s Signature, threads: usize) -> Self {
        let threads = threads.max(1);
        let bl = sig.block_len();
        Generator {
            sig,
            threads,
            bl,
            buf: vec![0u8; MAX_LITERAL + threads * SEGMENT + bl],
            filled: 0,
            cur: 0,
            lit: 0,
            base: 0,
        }
    }

    fn run<R: Read, W: Write>(
        mut self,
        mut new: R,
        em: &mut Emitter<'_, W>,
    ) -> Result<u64, DeltaError> {
        let round = self.threads * SEGMENT;
        let mut eof = false;
        loop {
            // Keep only the pending literal and the undecided data.
            if self.lit > 0 {
                self.buf.copy_within(self.lit..self.filled, 0);
                self.filled -= self.lit;
                self.cur -= self.lit;
                self.base += self.lit as u64;
                self.lit = 0;
            }
            let target = (self.cur + round + self.bl - 1).min(self.buf.len());
            while !eof && self.filled < target {
                match new.read(&mut self.buf[self.filled..target]) {
                    Ok(0) => eof = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(DeltaError::ReadInput {
                            offset: self.base + self.filled as u64,
                            source,
                        })
                    }
                }
            }
            let full_end = (self.filled + 1).saturating_sub(self.bl);
            let round_end = full_end.min(self.cur + round);
            if round_end > self.cur {
                self.round(round_end, em)?;
            }
            if eof {
                self.tail(em)?;
                return Ok(self.base + self.filled as u64);
            }
        }
    }

    /// Decides every position in `[cur, round_end)` (all have full windows).
    fn round<W: Write>(
        &mut self,
        round_end: usize,
        em: &mut Emitter<'_, W>,
    ) -> Result<(), DeltaError> {
        let (sig, bl, start) = (self.sig, self.bl, self.cur);
        let data = &self.buf[..self.filled];
        let span = round_end - start;
        let nseg = if self.threads > 1 {
            self.threads.min(span / MIN_SEGMENT).max(1)
        } else {
            1
        };
        let bounds: Vec<usize> = (0..=nseg).map(|i| start + span * i / nseg).collect();
        let jobs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let scans = run_parallel(jobs, |(s, e)| scan_segment(sig, data, s, e))
            .map_err(|_| DeltaError::WorkerPanicked)?;

        let mut scans = scans.into_iter();
        let mut events = Vec::new();
        let mut cur = start;
        if let Some(first) = scans.next() {
            events = first.matches;
            cur = first.end;
        }
        for (i, worker) in scans.enumerate() {
            let limit = bounds[i + 2];
            let mut scan: Option<Scan<'_>> = None;
            while cur < limit {
                // `cur` is on the worker's path unless strictly inside one of
                // its matches; from a shared position the paths coincide.
                let k = worker.matches.partition_point(|&(p, _)| p < cur);
                let inside = k > 0 && cur < worker.matches[k - 1].0 + bl;
                if !inside {
                    events.extend_from_slice(&worker.matches[k..]);
                    cur = worker.end;
                    break;
                }
                let s = scan.get_or_insert_with(|| Scan::new(sig, data, cur));
                #[cfg(test)]
                tests::RESYNC_STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = s.pos;
                if let Some(block) = s.step() {
                    events.push((p, block));
                }
                cur = s.pos;
            }
        }

        for (p, block) in events {
            self.literals(p, true, em)?;
            em.matched(block, bl)?;
            self.lit = p + bl;
        }
        self.cur = cur;
        self.literals(cur, false, em)
    }

    /// Emits the pending literal run up to `to`: whole `MAX_LITERAL` pieces,
    /// and the remainder too if the run ends there.
    fn literals<W: Write>(
        &mut self,
        to: usize,
        run_ends: bool,
        em: &mut Emitter<'_, W>,
    ) -> Result<(), DeltaError> {
        while to - self.lit >= MAX_LITERAL {
            em.literal(&self.buf[self.lit..self.lit + MAX_LITERAL])?;
            self.lit += MAX_LITERAL;
        }
        if run_ends {
            em.literal(&self.buf[self.lit..to])?;
            self.lit = to;
        }
        Ok(())
    }

    /// At end of input: windows shrink from the front (librsync's flush).
    fn tail<W: Write>(&mut self, em: &mut Emitter<'_, W>) -> Result<(), DeltaError> {
        let end = self.filled;
        let mut p = self.cur;
        let mut sum: Option<Rollsum> = None;
        while p < end {
            let window = &self.buf[p..end];
            let s = sum.get_or_insert_with(|| Rollsum::of(window));
            if let Some(block) = self.sig.find(s.digest(), window) {
                self.literals(p, true, em)?;
                em.matched(block, end - p)?;
                self.lit = end;
                p = end;
                break;
            }
            s.rollout(self.buf[p]);
            p += 1;
        }
        self.cur = p;
        self.literals(end, true, em)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::patch;
    use crate::signature::SignatureParams;
    use std::io::Cursor;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Steps the main thread scanned because a worker's path was out of phase.
    pub(super) static RESYNC_STEPS: AtomicUsize = AtomicUsize::new(0);

    fn sample(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn sig_of(basis: &[u8], block_len: u32) -> Signature {
        let params = SignatureParams {
            block_len,
            ..SignatureParams::default()
        };
        Signature::generate(basis, params, 1).unwrap()
    }

    fn make(sig: &Signature, new: &[u8], threads: usize) -> (Vec<u8>, DeltaStats) {
        let mut out = Vec::new();
        let stats = delta(sig, new, &mut out, threads).unwrap();
        assert_eq!(stats.delta_bytes, out.len() as u64);
        (out, stats)
    }

    fn apply(basis: &[u8], d: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        patch(Cursor::new(basis), d, &mut out).unwrap();
        out
    }

    #[test]
    fn identical_file_is_one_copy() {
        let basis = sample(10_000, 1);
        let (d, stats) = make(&sig_of(&basis, 512), &basis, 1);
        // magic, copy(0, 10000) = 0x46 00 27 10, end
        assert_eq!(d, [0x72, 0x73, 0x02, 0x36, 0x46, 0x00, 0x27, 0x10, 0x00]);
        assert_eq!(stats.copy_commands, 1);
        assert_eq!(stats.literal_bytes, 0);
    }

    #[test]
    fn empty_new_file_is_magic_and_end() {
        let (d, _) = make(&sig_of(b"basis", 512), b"", 2);
        assert_eq!(d, [0x72, 0x73, 0x02, 0x36, 0x00]);
    }

    #[test]
    fn empty_basis_gives_only_literals() {
        let new = sample(100, 2);
        let (d, stats) = make(&sig_of(b"", 512), &new, 1);
        assert_eq!(d[4..6], [0x41, 100]);
        assert_eq!(d[6..106], new[..]);
        assert_eq!(d.len(), 107);
        assert_eq!(stats.literal_commands, 1);
    }

    #[test]
    fn short_last_block_matches_at_end() {
        let basis = sample(1000, 3);
        let mut new = b"xyz".to_vec();
        new.extend_from_slice(&basis);
        let (d, stats) = make(&sig_of(&basis, 512), &new, 1);
        assert_eq!(stats.literal_bytes, 3);
        assert_eq!(stats.copy_bytes, 1000);
        assert_eq!(stats.copy_commands, 1);
        assert_eq!(apply(&basis, &d), new);
    }

    #[test]
    fn repeated_blocks_merge_into_one_copy() {
        let basis = vec![0u8; 64 * 512];
        let new = vec![0u8; 40 * 512];
        let (d, stats) = make(&sig_of(&basis, 512), &new, 1);
        assert_eq!(
            stats.copy_commands, 1,
            "librsync would emit 40 copies of block 0"
        );
        assert_eq!(apply(&basis, &d), new);
    }

    #[test]
    fn long_literal_runs_are_cut() {
        let new = sample(2 * MAX_LITERAL + 10, 4);
        let (d, stats) = make(&sig_of(b"", 512), &new, 2);
        assert_eq!(stats.literal_commands, 3);
        assert_eq!(apply(b"", &d), new);
    }

    #[test]
    fn output_is_identical_for_any_thread_count() {
        // Several rounds and segments; repeated content makes the worker
        // paths start out of phase with the authoritative one.
        let mut basis = sample(3 << 20, 5);
        basis.extend(vec![0u8; 2 << 20]);
        basis.extend(sample(4 << 20, 6));
        let mut new = Vec::new();
        for (i, chunk) in basis.chunks(100_003).enumerate() {
            if i % 7 == 3 {
                new.extend_from_slice(b"inserted bytes");
            }
            if i % 11 != 5 {
                new.extend_from_slice(chunk);
            }
        }
        new.extend(vec![0u8; 3 << 20]);
        new.extend(sample(MAX_LITERAL + 5, 9));
        let sig = sig_of(&basis, 512);
        let (one, s1) = make(&sig, &new, 1);
        for t in [2, 3, 4] {
            let (d, s) = make(&sig, &new, t);
            assert_eq!(s, s1, "threads={t}");
            assert!(d == one, "threads={t} changed the output");
        }
        assert!(
            RESYNC_STEPS.load(Ordering::Relaxed) > 0,
            "out-of-phase splice not exercised"
        );
        assert_eq!(apply(&basis, &one), new);
    }
}
