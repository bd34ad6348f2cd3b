//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong configuring, writing or reading container logs.
///
/// Validation messages reproduce Docker's texts so API clients see the same errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("logger: no log driver named '{driver}' is registered")]
    UnknownDriver { driver: String },
    #[error("unknown log opt '{opt}' for {driver} log driver")]
    UnknownOpt { opt: String, driver: &'static str },
    #[error("logger: logging mode not supported: {mode}")]
    InvalidMode { mode: String },
    #[error("logger: max-buffer-size option is only supported with 'mode=non-blocking'")]
    BufferSizeNeedsNonBlocking,
    #[error("error parsing option max-buffer-size: invalid size: '{value}'")]
    InvalidBufferSize { value: String },
    #[error("invalid value for option cache-disabled: {value}")]
    InvalidCacheDisabled { value: String },
    #[error("invalid size: '{value}'")]
    InvalidSize { value: String },
    #[error("max-size must be a positive number")]
    MaxSizeNotPositive,
    #[error("strconv.Atoi: parsing \"{value}\": invalid syntax")]
    InvalidMaxFile { value: String },
    #[error("max-file cannot be less than 1")]
    MaxFileTooSmall,
    #[error("strconv.ParseBool: parsing \"{value}\": invalid syntax")]
    InvalidBool { value: String },
    #[error("compress cannot be true when max-file is less than 2 or max-size is not set")]
    CompressNeedsRotation,
    #[error("compress=true is not supported by this engine's json-file log driver (rotated files are kept uncompressed)")]
    CompressUnsupported,
    #[error("error parsing regexp in log opt '{opt}'")]
    InvalidRegex {
        opt: &'static str,
        #[source]
        source: regex::Error,
    },
    #[error("template: log-tag: unsupported tag template {template:?}: {reason}")]
    InvalidTag {
        template: String,
        reason: &'static str,
    },
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write because the output file was closed")]
    Closed,
    #[error("time.MarshalJSON: year outside of range [0,9999]")]
    TimeOutOfRange,
    #[error("journald is not enabled on this host: cannot reach {path}")]
    JournalUnavailable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sending to journald socket {path}")]
    JournalSend {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journalctl not found: journald logs cannot be read on this host")]
    JournalctlMissing,
    #[error("running journalctl")]
    Journalctl {
        #[source]
        source: std::io::Error,
    },
    #[error("journalctl failed ({status}): {stderr}")]
    JournalctlFailed { status: String, stderr: String },
    #[error("malformed log line in {source_name}: {reason}")]
    BadLine { source_name: String, reason: String },
    #[error("log line in {source_name} is longer than {max} bytes")]
    LineTooLong { source_name: String, max: usize },
    #[error("configured logging driver does not support reading")]
    ReadNotSupported,
    #[error("failed to parse value as time or duration: {value:?}")]
    InvalidTimeArg { value: String },
    #[error("parsing time {value:?}: {reason}")]
    InvalidTime { value: String, reason: &'static str },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
