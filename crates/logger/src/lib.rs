//! Container log drivers for balenaEngine-in-Rust: the writer side (runs in
//! the tiny single-threaded per-container shim) and the reader side (runs in
//! the daemon on a blocking thread). Formats, option names and error texts
//! follow Docker/balenaEngine v20.10 so existing tooling keeps working.
//!
//! Layout:
//! - `config`: driver names, option validation ([`validate`]), tag templates, extra attributes.
//! - `split`: [`LineSplitter`], Docker's copier line/partial splitting.
//! - `jsonenc`: Go-compatible JSON string escaping.
//! - `timefmt`: Go time formats and [`parse_time_arg`].
//! - `jsonfile`: json-file writer (rotation) and reader (tail, follow, rotation).
//! - `journald`: native journal protocol writer and `journalctl`-based reader.
//! - `error`: [`LogError`].
//!
//! This crate must not: spawn threads or use async (the shim is
//! single-threaded and tiny), fsync per line (SD cards), hold more than one
//! line (16 KiB plus escaping) in memory per writer, or allocate on the
//! strength of lengths read from log files (lines over 1 MiB are errors).
//! `compress=true` for json-file is refused (rotated files stay plain).

mod config;
mod error;
mod journald;
mod jsonenc;
mod jsonfile;
mod split;
mod timefmt;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

pub use config::{validate, Driver, LogConfig};
pub use error::LogError;
pub use journald::JournaldWriter;
pub use jsonfile::parse_json_line;
pub use split::LineSplitter;
pub use timefmt::parse_time_arg;

/// Which output stream of the container a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Docker's name for the stream (`"stdout"` / `"stderr"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One message produced by [`LineSplitter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub stream: Stream,
    /// The bytes, including the trailing `'\n'` unless `partial`.
    pub line: Vec<u8>,
    pub time: SystemTime,
    /// A 16 KiB chunk of a longer line, or an unterminated line at end of stream.
    pub partial: bool,
}

/// What the log drivers need to know about the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full 64-hex container ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    pub image_name: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    /// `KEY=value` strings.
    pub env: Vec<String>,
    /// `"balena-engine"`.
    pub daemon_name: String,
}

/// The writing half of a log driver.
pub trait LogWriter {
    /// Records one message. Never fsyncs.
    fn log(&mut self, msg: &Message) -> Result<(), LogError>;
    /// Flushes to stable storage where that applies and closes; later `log` calls fail.
    fn close(&mut self) -> Result<(), LogError>;
}

/// Opens the writer for `cfg`. `json_path` is the json-file log path
/// (`<container dir>/<id>-json.log`); other drivers ignore it.
pub fn open_writer(
    cfg: &LogConfig,
    info: &ContainerInfo,
    json_path: &Path,
) -> Result<Box<dyn LogWriter>, LogError> {
    match cfg.driver {
        Driver::JsonFile => Ok(Box::new(jsonfile::JsonFileWriter::open(
            &cfg.opts, info, json_path,
        )?)),
        Driver::Journald => Ok(Box::new(JournaldWriter::open(
            &cfg.opts,
            info,
            Path::new(journald::JOURNAL_SOCKET),
        )?)),
        Driver::None => Ok(Box::new(NullWriter)),
    }
}

/// The `none` driver: drops everything.
struct NullWriter;

impl LogWriter for NullWriter {
    fn log(&mut self, _msg: &Message) -> Result<(), LogError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), LogError> {
        Ok(())
    }
}

/// What to read (`docker logs` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadConfig {
    /// Skip entries before this time.
    pub since: Option<SystemTime>,
    /// Stop at the first entry after this time.
    pub until: Option<SystemTime>,
    /// Only the last N lines (counted over both streams, like Docker); `None` = all.
    pub tail: Option<usize>,
    /// Keep waiting for new entries.
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// One entry read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    /// The bytes, including the trailing `'\n'` unless `partial`.
    pub line: Vec<u8>,
    pub time: SystemTime,
    pub partial: bool,
}

/// A boxed stream of log entries.
pub type LogIter = Box<dyn Iterator<Item = Result<LogEntry, LogError>> + Send>;

/// Reads a container's logs. With `follow`, the iterator blocks for new
/// entries until `stop` returns true (checked at least every 250 ms), the
/// `until` time passes, or the log is removed. Malformed lines are yielded
/// as `Err` items and reading continues; I/O errors end the iteration.
pub fn read(
    cfg: &LogConfig,
    info: &ContainerInfo,
    json_path: &Path,
    rc: ReadConfig,
    stop: Box<dyn Fn() -> bool + Send>,
) -> Result<LogIter, LogError> {
    match cfg.driver {
        Driver::JsonFile => jsonfile::read(&cfg.opts, json_path, rc, stop),
        Driver::Journald => journald::read(info, rc, stop, "journalctl"),
        Driver::None => Err(LogError::ReadNotSupported),
    }
}
