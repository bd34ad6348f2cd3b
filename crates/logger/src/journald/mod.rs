//! The journald driver: native-protocol writer and `journalctl`-based reader.

mod reader;
mod writer;

pub(crate) use reader::read;
pub use writer::JournaldWriter;

/// Where systemd-journald listens for native-protocol datagrams.
pub(crate) const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
