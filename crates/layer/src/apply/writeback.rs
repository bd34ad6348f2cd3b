//! Early writeback of extracted files (balenaEngine's `EagerFileWriter`).
//!
//! Every `step` bytes written, the last `step` bytes are handed to the
//! block layer with `sync_file_range(SYNC_FILE_RANGE_WRITE)`, and the whole
//! file again when it is closed. This starts writeback without waiting for
//! it, so dirty page cache stays small on boards with little memory and the
//! final `syncfs` has little left to do; it is not a durability guarantee
//! (that is [`sync_layer`](super::sync_layer)'s job), so its errors are
//! ignored as upstream does (the data is still in the page cache and the
//! final `syncfs` reports write-back errors).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// Starts asynchronous writeback of `len` bytes at `offset` (0/0: the
/// whole file). rustix has no `sync_file_range`, hence libc.
fn start_writeback(file: &File, offset: u64, len: u64) {
    let off = libc::off64_t::try_from(offset).unwrap_or(libc::off64_t::MAX);
    let len = libc::off64_t::try_from(len).unwrap_or(libc::off64_t::MAX);
    // SAFETY: sync_file_range only reads its integer arguments; the file
    // descriptor is owned by `file`, which outlives the call.
    let _ =
        unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
}

/// A file writer that starts writeback every `step` bytes and on finish.
pub(crate) struct EagerWriter {
    file: File,
    step: u64,
    written: u64,
    synced: u64,
}

impl EagerWriter {
    pub(crate) fn new(file: File, step: u64) -> Self {
        EagerWriter {
            file,
            step,
            written: 0,
            synced: 0,
        }
    }

    /// Starts writeback of the whole file and gives it back.
    pub(crate) fn finish(self) -> File {
        if self.written > 0 && self.step > 0 {
            start_writeback(&self.file, 0, 0);
        }
        self.file
    }
}

impl Write for EagerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.step > 0 {
            while self.written - self.synced > self.step {
                start_writeback(&self.file, self.synced, self.step);
                self.synced += self.step;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn eager_writer_writes_everything_and_tracks_steps() {
        let t = tempfile::tempfile().unwrap();
        let mut w = EagerWriter::new(t, 4096);
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(3000) {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(w.written, 20_000);
        assert_eq!(w.synced, 16_384);
        let mut f = w.finish();
        use std::io::Seek;
        f.rewind().unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }
}
