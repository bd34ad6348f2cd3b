//! json-file reader: rotated files in order, tail from the end, since/until,
//! follow across rotations (by polling; no threads).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::writer::numbered;
use crate::config::JsonFileOpts;
use crate::timefmt::parse_rfc3339;
use crate::{LogEntry, LogError, LogIter, ReadConfig, Stream};

/// Longest accepted json-file line; Docker's lines are at most ~100 KiB
/// (16 KiB of `\u00XX` escapes), so anything larger is corruption.
pub(crate) const MAX_LINE: usize = 1 << 20;
const READ_CHUNK: usize = 8 * 1024;
/// How often a follower looks for new data, rotation and `stop`.
const POLL: Duration = Duration::from_millis(100);
/// Polls with the log path gone and our file deleted before following ends.
const GONE_POLLS: u32 = 10;

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(default)]
    log: String,
    #[serde(default, borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

fn parse_line(line: &[u8]) -> Result<LogEntry, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line of {} bytes exceeds {MAX_LINE}", line.len()));
    }
    let raw: RawLine<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let stream = match &*raw.stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => return Err(format!("unknown stream {other:?}")),
    };
    let time = parse_rfc3339(raw.time.as_bytes()).map_err(|r| format!("bad time: {r}"))?;
    let line = raw.log.into_bytes();
    Ok(LogEntry {
        stream,
        partial: !line.ends_with(b"\n"),
        line,
        time,
    })
}

/// Parses one json-file line (without its final `'\n'`) as written by
/// Docker or this crate. Lines over 1 MiB are refused without parsing.
pub fn parse_json_line(line: &[u8]) -> Result<LogEntry, LogError> {
    if line.len() > MAX_LINE {
        return Err(LogError::LineTooLong {
            source_name: "json-file line".to_owned(),
            max: MAX_LINE,
        });
    }
    parse_line(line).map_err(|reason| LogError::BadLine {
        source_name: "json-file line".to_owned(),
        reason,
    })
}

enum Next {
    Line(Vec<u8>),
    TooLong,
    Eof,
}

/// Bounded line reader over one log file.
struct LineReader {
    file: File,
    path: PathBuf,
    ident: (u64, u64),
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    pending: Vec<u8>,
    overflow: bool,
}

impl LineReader {
    fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        Ok(LineReader {
            file,
            path: path.to_owned(),
            ident: (md.dev(), md.ino()),
            buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            pending: Vec::new(),
            overflow: false,
        })
    }

    fn seek(&mut self, pos: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(pos))?;
        self.start = 0;
        self.end = 0;
        self.pending.clear();
        self.overflow = false;
        Ok(())
    }

    /// Offset of the next byte `next` will look at.
    fn position(&mut self) -> io::Result<u64> {
        let fd_pos = self.file.stream_position()?;
        Ok(fd_pos - (self.end - self.start) as u64 - self.pending.len() as u64)
    }

    fn next(&mut self) -> io::Result<Next> {
        loop {
            if self.start < self.end {
                let chunk = &self.buf[self.start..self.end];
                if let Some(q) = chunk.iter().position(|&b| b == b'\n') {
                    self.start += q + 1;
                    if self.overflow || self.pending.len() + q > MAX_LINE {
                        self.overflow = false;
                        self.pending = Vec::new();
                        return Ok(Next::TooLong);
                    }
                    self.pending.extend_from_slice(&chunk[..q]);
                    return Ok(Next::Line(std::mem::take(&mut self.pending)));
                }
                if !self.overflow {
                    if self.pending.len() + chunk.len() > MAX_LINE {
                        self.overflow = true;
                        self.pending = Vec::new();
                    } else {
                        self.pending.extend_from_slice(chunk);
                    }
                }
                self.start = self.end;
            }
            let n = loop {
                match self.file.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            if n == 0 {
                return Ok(Next::Eof);
            }
            self.start = 0;
            self.end = n;
        }
    }

    /// An unterminated last line, when the file is finished for good.
    fn take_rest(&mut self) -> Option<Next> {
        if self.overflow {
            self.overflow = false;
            return Some(Next::TooLong);
        }
        if self.pending.is_empty() {
            None
        } else {
            Some(Next::Line(std::mem::take(&mut self.pending)))
        }
    }
}

/// Start offset for the last `n` lines of the first `size` bytes of `f`,
/// and how many lines were found (fewer than `n` if the file is short).
/// Reads backwards in 8 KiB blocks.
fn tail_start(f: &File, size: u64, n: usize) -> io::Result<(u64, usize)> {
    if n == 0 {
        return Ok((size, 0));
    }
    if size == 0 {
        return Ok((0, 0));
    }
    let mut buf = [0u8; READ_CHUNK];
    let mut end = size;
    f.read_exact_at(&mut buf[..1], size - 1)?;
    if buf[0] == b'\n' {
        end -= 1;
    }
    let mut count = 0usize;
    while end > 0 {
        let start = end.saturating_sub(READ_CHUNK as u64);
        let len = (end - start) as usize;
        f.read_exact_at(&mut buf[..len], start)?;
        for i in (0..len).rev() {
            if buf[i] == b'\n' {
                count += 1;
                if count == n {
                    return Ok((start + i as u64 + 1, n));
                }
            }
        }
        end = start;
    }
    Ok((0, count + 1))
}

fn open_optional(path: &Path) -> Result<Option<LineReader>, LogError> {
    match LineReader::open(path) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("opening log file", path, e)),
    }
}

/// Opens the current file and the rotated ones (oldest first) consistently:
/// retried if a rotation happened in between.
fn snapshot(
    path: &Path,
    max_file: usize,
) -> Result<(Vec<LineReader>, Option<LineReader>), LogError> {
    let mut attempt = 0;
    loop {
        let live = open_optional(path)?;
        let mut rotated = Vec::new();
        for i in (1..max_file).rev() {
            if let Some(r) = open_optional(&numbered(path, i))? {
                rotated.push(r);
            }
        }
        let raced = live
            .as_ref()
            .is_some_and(|l| rotated.iter().any(|r| r.ident == l.ident));
        attempt += 1;
        if !raced || attempt >= 5 {
            return Ok((rotated, live));
        }
    }
}

pub(crate) fn read(
    opts: &BTreeMap<String, String>,
    path: &Path,
    rc: ReadConfig,
    stop: Box<dyn Fn() -> bool + Send>,
) -> Result<LogIter, LogError> {
    let jf = JsonFileOpts::parse(opts)?;
    let (mut rotated, mut live) = snapshot(path, jf.max_file)?;
    let io_err = |p: &Path, e| LogError::io("reading log file", p, e);
    match rc.tail {
        None => {}
        Some(n) => {
            let mut remaining = n;
            let mut keep_from = rotated.len();
            if let Some(l) = live.as_mut() {
                let size = l.file.metadata().map_err(|e| io_err(&l.path, e))?.len();
                let (off, found) =
                    tail_start(&l.file, size, remaining).map_err(|e| io_err(&l.path, e))?;
                l.seek(off).map_err(|e| io_err(&l.path, e))?;
                remaining -= found;
            }
            while remaining > 0 && keep_from > 0 {
                let r = &mut rotated[keep_from - 1];
                let size = r.file.metadata().map_err(|e| io_err(&r.path, e))?.len();
                let (off, found) =
                    tail_start(&r.file, size, remaining).map_err(|e| io_err(&r.path, e))?;
                r.seek(off).map_err(|e| io_err(&r.path, e))?;
                remaining -= found;
                keep_from -= 1;
            }
            rotated.drain(..keep_from);
        }
    }
    Ok(Box::new(JsonFileIter {
        path: path.to_owned(),
        max_file: jf.max_file,
        queue: rotated.into(),
        live,
        rc,
        stop,
        done: false,
        rotating: false,
        gone_polls: 0,
    }))
}

struct JsonFileIter {
    path: PathBuf,
    max_file: usize,
    /// Finished files still to read, oldest first.
    queue: VecDeque<LineReader>,
    /// The file the writer appends to (as of our last look).
    live: Option<LineReader>,
    rc: ReadConfig,
    stop: Box<dyn Fn() -> bool + Send>,
    done: bool,
    /// The log path now names a different file; drain `live` then switch.
    rotating: bool,
    gone_polls: u32,
}

enum Step {
    Yield(Result<LogEntry, LogError>),
    Skip,
    End,
}

impl JsonFileIter {
    fn handle(&self, item: Next, path: &Path) -> Step {
        let line = match item {
            Next::Eof => return Step::Skip,
            Next::TooLong => {
                return Step::Yield(Err(LogError::LineTooLong {
                    source_name: path.display().to_string(),
                    max: MAX_LINE,
                }))
            }
            Next::Line(l) => l,
        };
        // A power cut can leave NUL padding where an unfinished write was.
        let first = line.iter().position(|&b| b != 0).unwrap_or(line.len());
        let body = &line[first..];
        if body.is_empty() {
            return Step::Skip;
        }
        let entry = match parse_line(body) {
            Ok(e) => e,
            Err(reason) => {
                return Step::Yield(Err(LogError::BadLine {
                    source_name: path.display().to_string(),
                    reason,
                }))
            }
        };
        if self.rc.since.is_some_and(|s| entry.time < s) {
            return Step::Skip;
        }
        if self.rc.until.is_some_and(|u| entry.time > u) {
            return Step::End;
        }
        let wanted = match entry.stream {
            Stream::Stdout => self.rc.stdout,
            Stream::Stderr => self.rc.stderr,
        };
        if wanted {
            Step::Yield(Ok(entry))
        } else {
            Step::Skip
        }
    }

    /// The log path names a new file: queue rotated files written since our
    /// old one and continue with the new file from its start.
    fn switch_after_rotation(&mut self) -> Result<bool, LogError> {
        let Some(new_live) = open_optional(&self.path)? else {
            return Ok(false);
        };
        if let Some(old) = self.live.take() {
            let mut found = None;
            for i in 1..self.max_file.max(2) {
                if let Ok(md) = std::fs::metadata(numbered(&self.path, i)) {
                    if (md.dev(), md.ino()) == old.ident {
                        found = Some(i);
                        break;
                    }
                }
            }
            if let Some(k) = found {
                for i in (1..k).rev() {
                    if let Some(r) = open_optional(&numbered(&self.path, i))? {
                        self.queue.push_back(r);
                    }
                }
            }
        }
        self.live = Some(new_live);
        Ok(true)
    }

    /// Called at EOF of the live file while following. Returns false to end.
    fn poll(&mut self) -> Result<bool, LogError> {
        if (self.stop)() {
            return Ok(false);
        }
        if let Some(u) = self.rc.until {
            if SystemTime::now() > u + Duration::from_secs(1) {
                return Ok(false);
            }
        }
        if self.rotating || self.live.is_none() {
            if self.switch_after_rotation()? {
                self.rotating = false;
                self.gone_polls = 0;
                return Ok(true);
            }
        } else if let Some(live) = self.live.as_mut() {
            match std::fs::metadata(&self.path) {
                Ok(md) if (md.dev(), md.ino()) != live.ident => {
                    // Re-read the old file to its end before switching.
                    self.rotating = true;
                    self.gone_polls = 0;
                    return Ok(true);
                }
                Ok(md) => {
                    self.gone_polls = 0;
                    let pos = live
                        .position()
                        .map_err(|e| LogError::io("reading log file", &self.path, e))?;
                    if md.len() < pos {
                        live.seek(0)
                            .map_err(|e| LogError::io("reading log file", &self.path, e))?;
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let deleted = live.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
                    if deleted {
                        self.gone_polls += 1;
                        if self.gone_polls > GONE_POLLS {
                            return Ok(false);
                        }
                    }
                }
                Err(e) => return Err(LogError::io("checking log file", &self.path, e)),
            }
        }
        std::thread::sleep(POLL);
        Ok(true)
    }

    fn step(&mut self) -> Step {
        if let Some(r) = self.queue.front_mut() {
            let item = match r.next() {
                Ok(Next::Eof) => match r.take_rest() {
                    Some(rest) => rest,
                    None => {
                        self.queue.pop_front();
                        return Step::Skip;
                    }
                },
                Ok(item) => item,
                Err(e) => return Step::Yield(Err(LogError::io("reading log file", &r.path, e))),
            };
            let path = r.path.clone();
            return self.handle(item, &path);
        }
        let next = match self.live.as_mut() {
            Some(l) => l
                .next()
                .map_err(|e| LogError::io("reading log file", &l.path, e)),
            None => Ok(Next::Eof),
        };
        match next {
            Err(e) => Step::Yield(Err(e)),
            Ok(Next::Eof) => {
                if !self.rc.follow {
                    let rest = self.live.take().and_then(|mut l| l.take_rest());
                    return match rest {
                        Some(item) => {
                            let path = self.path.clone();
                            self.handle(item, &path)
                        }
                        None => Step::End,
                    };
                }
                match self.poll() {
                    Ok(true) => Step::Skip,
                    Ok(false) => Step::End,
                    Err(e) => Step::Yield(Err(e)),
                }
            }
            Ok(item) => {
                let path = self.path.clone();
                self.handle(item, &path)
            }
        }
    }
}

impl Iterator for JsonFileIter {
    type Item = Result<LogEntry, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Step::Skip => {}
                Step::End => self.done = true,
                Step::Yield(Ok(e)) => return Some(Ok(e)),
                Step::Yield(Err(e)) => {
                    // Malformed lines are reported and skipped; I/O errors end reading.
                    if matches!(e, LogError::Io { .. }) {
                        self.done = true;
                    }
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    #[test]
    fn parses_docker_line() {
        let e = parse_json_line(
            br#"{"log":"a\u003cb\n","stream":"stderr","attrs":{"x":"y"},"time":"2026-11-22T05:40:00.123456789Z"}"#,
        )
        .unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.line, b"a<b\n");
        assert!(!e.partial);
        assert_eq!(
            e.time,
            UNIX_EPOCH + Duration::new(1_795_326_000, 123_456_789)
        );
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse_json_line(b"{").is_err());
        assert!(
            parse_json_line(br#"{"log":"x","stream":"stdin","time":"2026-11-22T05:40:00Z"}"#)
                .is_err()
        );
        assert!(parse_json_line(br#"{"log":"x","stream":"stdout"}"#).is_err());
        let big = vec![b' '; MAX_LINE + 1];
        assert!(matches!(
            parse_json_line(&big),
            Err(LogError::LineTooLong { .. })
        ));
    }

    #[test]
    fn tail_start_counts_lines_from_end() {
        let mut f = tempfile::tempfile().unwrap();
        let mut data = Vec::new();
        for i in 0..5000 {
            data.extend_from_slice(format!("line{i}\n").as_bytes());
        }
        f.write_all(&data).unwrap();
        let size = data.len() as u64;
        let (off, n) = tail_start(&f, size, 3).unwrap();
        assert_eq!(n, 3);
        assert_eq!(&data[off as usize..], b"line4997\nline4998\nline4999\n");
        assert_eq!(tail_start(&f, size, 10_000).unwrap(), (0, 5000));
        assert_eq!(tail_start(&f, size, 0).unwrap(), (size, 0));
    }

    #[test]
    fn line_reader_bounds_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let mut data = vec![b'a'; MAX_LINE + 10];
        data.extend_from_slice(b"\nok\nrest");
        std::fs::write(&p, &data).unwrap();
        let mut r = LineReader::open(&p).unwrap();
        assert!(matches!(r.next().unwrap(), Next::TooLong));
        assert!(matches!(r.next().unwrap(), Next::Line(l) if l == b"ok"));
        assert!(matches!(r.next().unwrap(), Next::Eof));
        assert!(matches!(r.take_rest(), Some(Next::Line(l)) if l == b"rest"));
    }
}
