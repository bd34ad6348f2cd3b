//! json-file writer (`loggerutils/logfile.go` + `jsonfilelog.go`).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{extra_attributes, render_tag, JsonFileOpts};
use crate::jsonenc::{write_string, write_string_map};
use crate::timefmt::write_rfc3339nano;
use crate::{ContainerInfo, LogError, LogWriter, Message};

/// Docker creates log files 0640.
const LOG_FILE_MODE: u32 = 0o640;

/// Appends one json-file line (with its final `'\n'`) for `msg` to `out`.
pub(crate) fn encode_line(out: &mut Vec<u8>, msg: &Message, attrs: &[u8]) -> Result<(), LogError> {
    out.push(b'{');
    let mut first = true;
    if !msg.line.is_empty() {
        out.extend_from_slice(b"\"log\":");
        write_string(out, &msg.line, false);
        first = false;
    }
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(msg.stream.as_str().as_bytes());
    out.extend_from_slice(b"\",");
    if !attrs.is_empty() {
        out.extend_from_slice(b"\"attrs\":");
        out.extend_from_slice(attrs);
        out.push(b',');
    }
    out.extend_from_slice(b"\"time\":\"");
    write_rfc3339nano(out, msg.time)?;
    out.extend_from_slice(b"\"}\n");
    Ok(())
}

/// Appending writer for `<id>-json.log` with Docker's rotation scheme.
pub(crate) struct JsonFileWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    opts: JsonFileOpts,
    attrs: Vec<u8>,
    buf: Vec<u8>,
}

fn open_log(path: &Path, truncate: bool) -> Result<File, LogError> {
    let mut o = OpenOptions::new();
    o.create(true).mode(LOG_FILE_MODE);
    if truncate {
        o.write(true).truncate(true);
    } else {
        o.append(true);
    }
    o.open(path)
        .map_err(|e| LogError::io("opening log file", path, e))
}

pub(crate) fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl JsonFileWriter {
    pub(crate) fn open(
        opts: &BTreeMap<String, String>,
        info: &ContainerInfo,
        path: &Path,
    ) -> Result<Self, LogError> {
        let parsed = JsonFileOpts::parse(opts)?;
        let mut attrs = extra_attributes(opts, info, None)?;
        let tag = render_tag(opts, info, "")?;
        if !tag.is_empty() {
            attrs.insert("tag".to_owned(), tag);
        }
        let mut attr_json = Vec::new();
        if !attrs.is_empty() {
            write_string_map(&mut attr_json, &attrs);
        }
        let mut file = open_log(path, false)?;
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| LogError::io("seeking log file", path, e))?;
        Ok(JsonFileWriter {
            path: path.to_owned(),
            file: Some(file),
            size,
            opts: parsed,
            attrs: attr_json,
            buf: Vec::new(),
        })
    }

    /// Docker's `checkCapacityAndRotate` + `rotate`: shift `.N` files up,
    /// move the current file to `.1` (or unlink it when max-file is 1, as
    /// newer Moby does) and start a fresh file.
    fn rotate(&mut self) -> Result<(), LogError> {
        // Dropping the handle closes it; nothing to flush (writes are unbuffered).
        self.file = None;
        let max = self.opts.max_file;
        if max >= 2 {
            let oldest = numbered(&self.path, max - 1);
            match std::fs::remove_file(&oldest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io("removing oldest log file", oldest, e))
                }
                _ => {}
            }
            for i in (2..max).rev() {
                let from = numbered(&self.path, i - 1);
                let to = numbered(&self.path, i);
                match std::fs::rename(&from, &to) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(LogError::io("rotating log file", from, e))
                    }
                    _ => {}
                }
            }
            let to = numbered(&self.path, 1);
            std::fs::rename(&self.path, &to)
                .map_err(|e| LogError::io("rotating log file", &self.path, e))?;
        } else {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io("removing full log file", &self.path, e))
                }
                _ => {}
            }
        }
        self.file = Some(open_log(&self.path, true)?);
        self.size = 0;
        Ok(())
    }
}

impl LogWriter for JsonFileWriter {
    fn log(&mut self, msg: &Message) -> Result<(), LogError> {
        if self.file.is_none() {
            return Err(LogError::Closed);
        }
        self.buf.clear();
        encode_line(&mut self.buf, msg, &self.attrs)?;
        if let Some(cap) = self.opts.max_size {
            if self.size >= cap {
                self.rotate()?;
            }
        }
        let file = self.file.as_mut().ok_or(LogError::Closed)?;
        file.write_all(&self.buf)
            .map_err(|e| LogError::io("writing log entry to", &self.path, e))?;
        self.size += self.buf.len() as u64;
        // Don't keep a huge escape buffer around after one odd line.
        if self.buf.capacity() > 128 * 1024 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), LogError> {
        if let Some(f) = self.file.take() {
            f.sync_data()
                .map_err(|e| LogError::io("syncing log file", &self.path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stream;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn encodes_docker_line_byte_exact() {
        let msg = Message {
            stream: Stream::Stderr,
            line: b"hi \"there\"\n".to_vec(),
            time: UNIX_EPOCH + Duration::new(1_795_326_000, 123_456_789),
            partial: false,
        };
        let mut out = Vec::new();
        encode_line(&mut out, &msg, b"").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-22T05:40:00.123456789Z\"}\n"
        );
        let mut out = Vec::new();
        encode_line(&mut out, &msg, br#"{"a":"b"}"#).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stderr\",\"attrs\":{\"a\":\"b\"},\"time\":\"2026-11-22T05:40:00.123456789Z\"}\n"
        );
    }
}
