//! Shows a daemon's JSON message stream (pull, push, load) as the Docker
//! CLI does: live progress bars, one line per id, on a terminal; plain
//! status lines otherwise (progress updates are dropped).

use std::collections::HashMap;
use std::io::Write;

use api::progress::{progress_string, JsonMessage};

/// Renders messages as they arrive.
pub struct Display<W: Write> {
    out: W,
    terminal: bool,
    /// Line of each id, counted from the first id line.
    lines: HashMap<String, usize>,
    count: usize,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, terminal: bool) -> Self {
        Self {
            out,
            terminal,
            lines: HashMap::new(),
            count: 0,
        }
    }

    /// Shows one message; returns the daemon's error if it carries one.
    pub fn show(&mut self, m: &JsonMessage) -> Result<(), String> {
        if let Some(e) = m
            .error
            .as_ref()
            .or(m.error_detail.as_ref().map(|d| &d.message))
        {
            return Err(e.clone());
        }
        let has_progress = m
            .progress_detail
            .as_ref()
            .is_some_and(|p| p.current > 0 || p.total > 0);
        let _ = if self.terminal {
            self.show_terminal(m, has_progress)
        } else {
            self.show_plain(m, has_progress)
        };
        Ok(())
    }

    fn line_text(m: &JsonMessage, bar: bool) -> String {
        let mut s = String::new();
        if let Some(id) = &m.id {
            s.push_str(id);
            s.push_str(": ");
        }
        if let Some(st) = &m.stream {
            s.push_str(st);
            return s;
        }
        s.push_str(m.status.as_deref().unwrap_or(""));
        if bar {
            if let Some(p) = &m.progress_detail {
                s.push(' ');
                s.push_str(&progress_string(p.current, p.total));
            }
        }
        s
    }

    fn show_plain(&mut self, m: &JsonMessage, has_progress: bool) -> std::io::Result<()> {
        if has_progress && m.stream.is_none() {
            return Ok(());
        }
        let t = Self::line_text(m, false);
        if m.stream.is_some() {
            write!(self.out, "{t}")?;
        } else {
            writeln!(self.out, "{t}")?;
        }
        self.out.flush()
    }

    fn show_terminal(&mut self, m: &JsonMessage, has_progress: bool) -> std::io::Result<()> {
        let Some(id) = m.id.clone().filter(|_| m.stream.is_none()) else {
            let t = Self::line_text(m, has_progress);
            if m.stream.is_some() {
                write!(self.out, "{t}")?;
            } else {
                writeln!(self.out, "{t}")?;
            }
            return self.out.flush();
        };
        let text = Self::line_text(m, has_progress);
        match self.lines.get(&id) {
            None => {
                self.lines.insert(id, self.count);
                self.count += 1;
                writeln!(self.out, "{text}")?;
            }
            Some(&line) => {
                let up = self.count - line;
                // Up to the id's line, clear it, write, and come back down.
                write!(self.out, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")?;
            }
        }
        self.out.flush()
    }
}

/// Splits a byte stream into JSON messages (one object per line; Docker
/// may also send them back to back).
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn feed(&mut self, data: &[u8]) -> Vec<Result<JsonMessage, String>> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<JsonMessage>();
        let mut consumed = 0;
        loop {
            match de.next() {
                Some(Ok(m)) => {
                    consumed = de.byte_offset();
                    out.push(Ok(m));
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    out.push(Err(format!("invalid message from daemon: {e}")));
                    consumed = self.buf.len();
                    break;
                }
                None => break,
            }
        }
        self.buf.drain(..consumed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_drops_progress_and_keeps_statuses() {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, false);
        d.show(&JsonMessage::status("Pulling fs layer", Some("abc")))
            .unwrap();
        d.show(&JsonMessage::progress("Downloading", "abc", 5, 10))
            .unwrap();
        d.show(&JsonMessage::status("Pull complete", Some("abc")))
            .unwrap();
        d.show(&JsonMessage {
            stream: Some("Loaded image: a:b\n".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "abc: Pulling fs layer\nabc: Pull complete\nLoaded image: a:b\n"
        );
    }

    #[test]
    fn errors_are_returned() {
        let mut d = Display::new(Vec::new(), false);
        assert_eq!(d.show(&JsonMessage::error("boom")).unwrap_err(), "boom");
    }

    #[test]
    fn terminal_output_rewrites_the_id_line() {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, true);
        d.show(&JsonMessage::status("Pulling fs layer", Some("a")))
            .unwrap();
        d.show(&JsonMessage::status("Pulling fs layer", Some("b")))
            .unwrap();
        d.show(&JsonMessage::progress("Downloading", "a", 1, 2))
            .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with(
                "a: Pulling fs layer\nb: Pulling fs layer\n\x1b[2A\r\x1b[2Ka: Downloading ["
            ),
            "{s:?}"
        );
        assert!(s.ends_with("\r\x1b[2B"));
    }

    #[test]
    fn decoder_handles_split_and_joined_objects() {
        let mut d = Decoder::default();
        assert!(d.feed(b"{\"status\":\"a\"}\r\n{\"sta").len() == 1);
        let r = d.feed(b"tus\":\"b\"}{\"status\":\"c\"}");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].as_ref().unwrap().status.as_deref(), Some("c"));
    }
}
