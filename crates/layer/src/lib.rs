//! Layer applier and tar-split for the `store` crate of balenaEngine-in-Rust.
//!
//! A layer arrives as an uncompressed tar stream. [`apply_layer`] extracts it
//! into an empty staging directory in the overlay2 on-disk format (whiteouts
//! as 0/0 character devices, opaque directories marked with
//! `trusted.overlay.opaque=y`) and, from the same pass over the stream,
//! records the `tar-split.json.gz` that Docker/balenaEngine keep beside every
//! layer. [`assemble`] replays a tar-split against an extracted layer to
//! rebuild the original tar byte for byte, and [`verify_layer`] does so into
//! a SHA-256 hasher to recompute the diff id (an `fsck`).
//!
//! # Layout
//!
//! - [`tarsplit`]: the tar-split format, byte-compatible with Go's
//!   `github.com/vbatts/tar-split` as Docker writes it: the JSON-lines
//!   codec, the [`Disassembler`] (a reader adapter that parses the tar stream
//!   and records it), [`assemble`] and [`verify_layer`], and
//!   [`SeekableTar`] / [`ConcatSeek`] (random access to the original tars
//!   of one layer or of an image, the basis stream of binary deltas).
//! - [`apply`]: [`apply_layer`] (overlay2 extraction, hostile-input checks,
//!   early writeback) and [`sync_layer`].
//!
//! # What this crate must not do
//!
//! - Write, create, remove or chown anything outside the destination
//!   directory, whatever the tar says: every path is resolved beneath the
//!   destination without following symlinks, and everything is created with
//!   `*at` system calls relative to directory descriptors.
//! - Panic or allocate without bound on untrusted input: PAX and GNU
//!   long-name data are capped ([`ApplyOptions::max_header_data`]) and file
//!   content is streamed.
//! - `fsync` each file (too slow on SD cards): files start asynchronous
//!   writeback as they are written, and the caller makes the whole layer
//!   durable once with [`sync_layer`].
//! - Record anything in a layer store: that is the caller's job (transaction,
//!   `diff`, `size`, `cache-id` files).

pub mod apply;
mod sys;
pub mod tarsplit;

pub use apply::{
    apply_layer, extract, sync_layer, ApplyOptions, ApplyStats, ExtractOptions, LayerError,
};
pub use tarsplit::{
    assemble, verify_layer, ConcatSeek, Disassembler, Limits, SeekError, SeekableTar, TarEntry,
    TarSplitError, Timestamp,
};

/// Entry points shared by the fuzz targets and the corpus-replay tests.
///
/// Not part of the stable API.
#[doc(hidden)]
pub mod fuzzing;
