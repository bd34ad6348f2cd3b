//! tar-split: what Docker keeps to rebuild a layer's tar byte for byte.
//!
//! The format is Go's `github.com/vbatts/tar-split` (`tar/storage`,
//! `tar/asm`) as Docker writes it to `layerdb/sha256/<chain>/tar-split.json.gz`:
//! gzip of JSON lines, one per stream piece, in order. Raw segments
//! (`"type":2`) hold every byte that is not file content (header blocks,
//! PAX and GNU long-name data, padding, end blocks, trailing bytes); file
//! entries (`"type":1`) name a file of the extracted layer and give its size
//! and CRC-64 (ISO polynomial, as Go's `hash/crc64`, big-endian). See
//! [`codec`](self) for the exact JSON rules.

mod asm;
mod codec;
mod disasm;
mod header;
mod seek;

use std::path::PathBuf;

pub(crate) use asm::assemble_json;
pub use asm::{assemble, verify_layer};
pub use disasm::{Disassembler, Limits, TarEntry};
pub use header::Timestamp;
pub use seek::{ConcatSeek, SeekError, SeekableTar};

/// CRC-64 as Go's `crc64.MakeTable(crc64.ISO)` computes it (slice-by-16
/// tables: 32 KiB, about 4x faster than byte-wise on file content).
pub(crate) static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_GO_ISO);

/// Errors of tar parsing, tar-split encoding and reassembly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TarSplitError {
    /// Reading the tar stream failed.
    #[error("reading the tar stream at offset {offset}")]
    Read {
        /// Stream offset.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The tar stream ended in the middle of something.
    #[error("tar stream ends inside the {what} at offset {offset}")]
    UnexpectedEof {
        /// Stream offset.
        offset: u64,
        /// What was being read.
        what: &'static str,
    },
    /// A header block or PAX record is malformed.
    #[error("invalid tar header at offset {offset}: {reason}")]
    BadHeader {
        /// Offset of the header block.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// PAX or GNU long-name data larger than the limit.
    #[error("tar header entry '{typeflag}' at offset {offset} has {size} bytes of data, more than the limit of {limit}")]
    HeaderDataTooLarge {
        /// Offset of the header block.
        offset: u64,
        /// Its type flag.
        typeflag: char,
        /// Its data size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A tar feature the tar-split format cannot represent faithfully.
    #[error("unsupported tar entry {name:?} at offset {offset}: {reason}")]
    Unsupported {
        /// Offset of the header block.
        offset: u64,
        /// Entry name.
        name: String,
        /// What is unsupported.
        reason: &'static str,
    },
    /// Two entries with the same cleaned path (Go's `ErrDuplicatePath`).
    #[error("duplicate path {name:?} in layer (duplicates of file paths are not supported)")]
    DuplicatePath {
        /// Entry name.
        name: String,
    },
    /// A previous error left the disassembler in an unknown state.
    #[error("tar stream already failed")]
    Poisoned,
    /// Writing the tar-split output failed.
    #[error("writing tar-split")]
    WriteTarSplit {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the tar-split failed (including gzip errors).
    #[error("reading tar-split line {line}")]
    ReadTarSplit {
        /// Line number.
        line: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A tar-split line is not a valid entry.
    #[error("invalid tar-split JSON on line {line}")]
    Json {
        /// Line number.
        line: u64,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A tar-split line is longer than the limit.
    #[error("tar-split line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// A tar-split entry has an unknown type.
    #[error("tar-split line {line} has unknown entry type {ty}")]
    UnknownEntryType {
        /// Line number.
        line: u64,
        /// The type.
        ty: i64,
    },
    /// A tar-split entry has invalid values.
    #[error("invalid tar-split entry on line {line}: {reason}")]
    BadEntry {
        /// Line number.
        line: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The layer directory cannot be opened.
    #[error("opening layer directory {path}")]
    LayerRoot {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file named by the tar-split cannot be opened.
    #[error("opening layer file {name:?}")]
    OpenFile {
        /// File name from the tar-split.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file named by the tar-split is not a regular file.
    #[error("layer file {name:?} is not a regular file")]
    NotRegularFile {
        /// File name from the tar-split.
        name: String,
    },
    /// A file entry has content but no 8-byte checksum.
    #[error("tar-split entry {name:?} has no valid CRC-64 payload")]
    BadChecksumField {
        /// File name from the tar-split.
        name: String,
    },
    /// A layer file does not have the recorded size.
    #[error("layer file {name:?} has {actual} bytes, the tar-split says {expected}")]
    SizeMismatch {
        /// File name from the tar-split.
        name: String,
        /// Recorded size.
        expected: u64,
        /// Size found.
        actual: u64,
    },
    /// A layer file does not have the recorded checksum.
    #[error("layer file {name:?} has CRC-64 {actual:016x}, the tar-split says {expected:016x}")]
    ChecksumMismatch {
        /// File name from the tar-split.
        name: String,
        /// Recorded CRC-64.
        expected: u64,
        /// CRC-64 found.
        actual: u64,
    },
    /// Reading a layer file failed.
    #[error("reading layer file {name:?}")]
    ReadFile {
        /// File name from the tar-split.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the reassembled tar failed.
    #[error("writing the reassembled tar")]
    WriteOutput {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_go_iso_check_value() {
        // crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO))
        assert_eq!(CRC64.checksum(b"123456789"), 0xb909_56c7_75a4_1001);
        assert_eq!(CRC64.checksum(b""), 0);
    }
}
