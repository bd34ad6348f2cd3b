//! librsync-compatible binary deltas for balenaEngine image deltas.
//!
//! balenaEngine computes image deltas with librsync's formats: a signature
//! of the basis (rollsum weak sums, BLAKE2b strong sums, 512-byte blocks),
//! a delta of the target against that signature, and a patch step that
//! rebuilds the target from the basis. This crate produces and consumes
//! those formats byte-compatibly with `rdiff` (librsync 2.3):
//!
//! - [`write_signature`] / [`Signature::generate`]: signatures, byte-identical
//!   to `rdiff -H blake2 -R rollsum -b 512 -S 32 signature`, streaming.
//! - [`Signature::read`]: a bounded, validating signature reader (MD4 too).
//! - [`delta()`]: streaming delta generation with bounded memory, optionally
//!   on several threads with identical output.
//! - [`patch()`]: a streaming, validating patcher with fixed memory.
//!
//! ```
//! use std::io::Cursor;
//! use delta::{delta, patch, Signature, SignatureParams};
//!
//! let basis = b"the quick brown fox jumps over the lazy dog".repeat(100);
//! let mut new = basis.clone();
//! new.splice(1000..1000, b"inserted".iter().copied());
//!
//! let sig = Signature::generate(&basis[..], SignatureParams::default(), 1)?;
//! let mut d = Vec::new();
//! let stats = delta(&sig, &new[..], &mut d, 2)?;
//! assert!(stats.delta_bytes < new.len() as u64);
//!
//! let mut out = Vec::new();
//! patch(Cursor::new(&basis[..]), &d[..], &mut out)?;
//! assert_eq!(out, new);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout:
//! - `rollsum`: librsync's rolling weak checksum.
//! - `ops`: magic numbers, opcodes, command encoding and decoding.
//! - `signature`: signature parameters, generation, reading, writing, match index.
//! - `delta`: delta generation.
//! - `patch`: delta application.
//! - `util`: I/O and thread helpers.
//! - `fuzzing`: entry points shared by the fuzz targets and the corpus test.
//!
//! This crate must not: touch the file system or network itself (it only
//! uses `std::io` traits; threads come from `std::thread::scope`), use an
//! async runtime, panic or allocate by an untrusted length on bad input, or
//! change the wire formats.

mod delta;
mod ops;
mod patch;
mod rollsum;
mod signature;
mod util;

#[doc(hidden)]
pub mod fuzzing;

pub use crate::delta::{delta, DeltaError, DeltaStats, MAX_LITERAL};
pub use crate::patch::{patch, PatchError, PatchStats};
pub use crate::signature::{
    default_threads, write_signature, HashKind, Signature, SignatureError, SignatureParams,
    DEFAULT_MAX_BLOCKS, MAX_BLOCK_LEN,
};

/// The delta magic number (`RS_DELTA_MAGIC`, 0x72730236).
pub const DELTA_MAGIC: u32 = ops::DELTA_MAGIC;

pub(crate) const DELTA_MAGIC_BYTES: [u8; 4] = ops::DELTA_MAGIC.to_be_bytes();
