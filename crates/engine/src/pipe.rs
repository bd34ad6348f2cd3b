//! An in-memory pipe between two blocking threads, bounded to a few
//! chunks: a producer that writes (a rebuilt layer tar, a patcher) feeding
//! a consumer that reads (an archive writer, the layer applier), so no
//! layer is ever held whole in memory or spooled to disk.

use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

type Chunk = std::io::Result<Vec<u8>>;

/// The writing end. Dropping it ends the stream (the reader sees EOF).
pub struct PipeWriter(SyncSender<Chunk>);

/// The reading end.
pub struct PipeReader {
    rx: Receiver<Chunk>,
    cur: Vec<u8>,
    pos: usize,
}

/// A pipe holding at most `chunks` writes in flight.
pub fn pipe(chunks: usize) -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(chunks);
    (
        PipeWriter(tx),
        PipeReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
    )
}

impl PipeWriter {
    /// Ends the stream with an error the reader will see.
    pub fn fail(self, e: std::io::Error) {
        let _ = self.0.send(Err(e));
    }
}

impl Write for PipeWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(Ok(b.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe reader gone"))?;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(v)) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Runs `produce` on a new thread writing into a pipe and returns the
/// reading end; a producer error reaches the reader as a read error.
pub fn spawn_producer<F>(produce: F) -> PipeReader
where
    F: FnOnce(&mut std::io::BufWriter<&mut PipeWriter>) -> Result<(), String> + Send + 'static,
{
    let (mut w, r) = pipe(4);
    std::thread::spawn(move || {
        let result = {
            let mut bw = std::io::BufWriter::with_capacity(256 << 10, &mut w);
            let r = produce(&mut bw);
            let flushed = bw.flush().map_err(|e| e.to_string());
            r.and(flushed)
        };
        if let Err(e) = result {
            w.fail(std::io::Error::other(e));
        }
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_and_errors_arrive() {
        let mut r = spawn_producer(|w| {
            w.write_all(&[1u8; 300_000]).map_err(|e| e.to_string())?;
            Ok(())
        });
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, vec![1u8; 300_000]);
        let mut r = spawn_producer(|w| {
            w.write_all(b"partial").map_err(|e| e.to_string())?;
            Err("boom".into())
        });
        let mut v = Vec::new();
        let e = r.read_to_end(&mut v).unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }
}
