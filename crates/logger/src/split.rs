//! Splitting a container's output stream into log messages.

use std::time::SystemTime;

use crate::{Message, Stream};

/// Docker's copier buffer size: a line longer than this is logged as partial chunks.
pub(crate) const MAX_CHUNK: usize = 16 * 1024;

/// Splits a byte stream into messages like Docker's copier (`daemon/logger/copier.go`).
///
/// A message ends at `'\n'` (kept in [`Message::line`]). When 16 KiB
/// accumulate without a newline, they are emitted as a partial message; the
/// chunk that finally ends the line is not partial. All chunks of one long line
/// carry the first chunk's timestamp. Memory: at most 16 KiB per stream.
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
    partial_time: Option<SystemTime>,
}

impl LineSplitter {
    /// A splitter for one of the container's output streams.
    pub fn new(stream: Stream) -> Self {
        LineSplitter {
            stream,
            pending: Vec::new(),
            partial_time: None,
        }
    }

    fn emit(&mut self, now: SystemTime, partial: bool, out: &mut impl FnMut(Message)) {
        let time = match (self.partial_time, partial) {
            (Some(t), true) => t,
            (Some(t), false) => {
                self.partial_time = None;
                t
            }
            (None, true) => {
                self.partial_time = Some(now);
                now
            }
            (None, false) => now,
        };
        let line = std::mem::take(&mut self.pending);
        out(Message {
            stream: self.stream,
            line,
            time,
            partial,
        });
    }

    /// Feeds bytes read from the stream; complete messages go to `out`.
    pub fn push(&mut self, mut data: &[u8], now: SystemTime, out: &mut impl FnMut(Message)) {
        while !data.is_empty() {
            let space = MAX_CHUNK - self.pending.len();
            let window = &data[..data.len().min(space)];
            if let Some(q) = window.iter().position(|&b| b == b'\n') {
                self.pending.reserve_exact(q + 1);
                self.pending.extend_from_slice(&data[..=q]);
                self.emit(now, false, out);
                data = &data[q + 1..];
            } else if data.len() >= space {
                self.pending.extend_from_slice(window);
                self.emit(now, true, out);
                data = &data[space..];
            } else {
                self.pending.extend_from_slice(data);
                break;
            }
        }
    }

    /// Flushes a trailing unterminated line at end of stream (as a partial
    /// message, like Docker).
    pub fn finish(&mut self, now: SystemTime, out: &mut impl FnMut(Message)) {
        if !self.pending.is_empty() {
            self.emit(now, true, out);
        }
        self.partial_time = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn collect(chunks: &[&[u8]]) -> Vec<Message> {
        let mut s = LineSplitter::new(Stream::Stdout);
        let mut msgs = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let now = UNIX_EPOCH + Duration::from_secs(i as u64 + 1);
            s.push(c, now, &mut |m| msgs.push(m));
        }
        s.finish(UNIX_EPOCH + Duration::from_secs(100), &mut |m| msgs.push(m));
        msgs
    }

    #[test]
    fn splits_on_newlines_across_pushes() {
        let m = collect(&[b"a\nb", b"c\n\n", b"tail"]);
        let lines: Vec<_> = m.iter().map(|m| (m.line.clone(), m.partial)).collect();
        assert_eq!(
            lines,
            vec![
                (b"a\n".to_vec(), false),
                (b"bc\n".to_vec(), false),
                (b"\n".to_vec(), false),
                (b"tail".to_vec(), true)
            ]
        );
        assert_eq!(m[1].time, UNIX_EPOCH + Duration::from_secs(2));
    }

    #[test]
    fn long_line_becomes_16k_partials_sharing_first_timestamp() {
        let big = vec![b'x'; 20 * 1024];
        let m = collect(&[&big[..10_000], &big[10_000..], b"\n"]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].line.len(), MAX_CHUNK);
        assert!(m[0].partial);
        assert_eq!(m[1].line.len(), 20 * 1024 - MAX_CHUNK + 1);
        assert!(!m[1].partial);
        assert_eq!(m[0].time, UNIX_EPOCH + Duration::from_secs(2));
        assert_eq!(m[1].time, m[0].time);
    }

    #[test]
    fn exactly_16k_line_then_newline_gives_empty_final_chunk() {
        let big = vec![b'y'; MAX_CHUNK];
        let m = collect(&[&big, b"\n"]);
        assert_eq!(m.len(), 2);
        assert!(m[0].partial);
        assert_eq!(m[1].line, b"\n");
        let m = collect(&[&big[..MAX_CHUNK - 1], b"\n"]);
        assert_eq!(m.len(), 1);
        assert!(!m[0].partial);
    }
}
