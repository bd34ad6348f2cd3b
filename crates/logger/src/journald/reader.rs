//! Reading journald logs by running `journalctl -o json`.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::SystemTime;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Deserialize;

use crate::jsonfile::MAX_LINE;
use crate::timefmt::{from_unix_nanos, to_unix_nanos};
use crate::{ContainerInfo, LogEntry, LogError, LogIter, ReadConfig, Stream};

/// How long one wait for journalctl output may block before `stop` is checked.
const WAIT_MS: u16 = 250;

fn journal_time_arg(t: SystemTime) -> String {
    let n = to_unix_nanos(t).max(0);
    let micros = n / 1000;
    format!("@{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// The `journalctl` arguments for `rc`.
pub(crate) fn journalctl_args(id: &str, rc: &ReadConfig) -> Vec<String> {
    let mut args: Vec<String> = ["-o", "json", "--all", "--no-pager"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if let Some(s) = rc.since {
        args.push(format!("--since={}", journal_time_arg(s)));
    }
    if let Some(u) = rc.until {
        args.push(format!("--until={}", journal_time_arg(u)));
    }
    match rc.tail {
        Some(n) => args.push(format!("--lines={n}")),
        None => args.push("--no-tail".to_owned()),
    }
    if rc.follow {
        args.push("--follow".to_owned());
    }
    args.push(format!("CONTAINER_ID_FULL={id}"));
    args
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JournalValue {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Deserialize)]
struct JournalRecord {
    #[serde(rename = "MESSAGE")]
    message: Option<JournalValue>,
    #[serde(rename = "PRIORITY")]
    priority: Option<String>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: String,
    #[serde(rename = "CONTAINER_PARTIAL_MESSAGE")]
    partial: Option<String>,
}

/// Parses one line of `journalctl -o json` output.
pub(crate) fn parse_journal_line(line: &[u8]) -> Result<LogEntry, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line of {} bytes exceeds {MAX_LINE}", line.len()));
    }
    let r: JournalRecord = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let micros: i128 = r
        .realtime
        .parse()
        .map_err(|_| format!("bad __REALTIME_TIMESTAMP {:?}", r.realtime))?;
    let partial = r.partial.as_deref() == Some("true");
    let mut bytes = match r.message {
        Some(JournalValue::Text(s)) => s.into_bytes(),
        Some(JournalValue::Bytes(b)) => b,
        None => Vec::new(),
    };
    if !partial {
        bytes.push(b'\n');
    }
    Ok(LogEntry {
        stream: if r.priority.as_deref() == Some("3") {
            Stream::Stderr
        } else {
            Stream::Stdout
        },
        line: bytes,
        time: from_unix_nanos(micros * 1000),
        partial,
    })
}

pub(crate) fn read(
    info: &ContainerInfo,
    rc: ReadConfig,
    stop: Box<dyn Fn() -> bool + Send>,
    journalctl: &str,
) -> Result<LogIter, LogError> {
    if rc.tail == Some(0) && !rc.follow {
        return Ok(Box::new(std::iter::empty()));
    }
    let mut child = Command::new(journalctl)
        .args(journalctl_args(&info.id, &rc))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                LogError::JournalctlMissing
            } else {
                LogError::Journalctl { source: e }
            }
        })?;
    let stdout = child.stdout.take();
    Ok(Box::new(JournalIter {
        child: Some(child),
        stdout,
        buf: Vec::new(),
        scan: 0,
        rc,
        stop,
        done: false,
    }))
}

struct JournalIter {
    child: Option<Child>,
    stdout: Option<ChildStdout>,
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no newline.
    scan: usize,
    rc: ReadConfig,
    stop: Box<dyn Fn() -> bool + Send>,
    done: bool,
}

impl JournalIter {
    fn finish(&mut self) -> Option<LogError> {
        self.done = true;
        self.stdout = None;
        let mut child = self.child.take()?;
        let _ = child.kill();
        let status = child.wait().ok()?;
        if status.success() || status.code().is_none() {
            return None;
        }
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.by_ref().take(4096).read_to_string(&mut err);
        }
        Some(LogError::JournalctlFailed {
            status: status.to_string(),
            stderr: err.trim().to_owned(),
        })
    }

    /// Next complete output line, or None at EOF/stop.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, LogError> {
        loop {
            if let Some(q) = self.buf[self.scan..].iter().position(|&b| b == b'\n') {
                let end = self.scan + q;
                let line = self.buf[..end].to_vec();
                self.buf.drain(..=end);
                self.scan = 0;
                return Ok(Some(line));
            }
            self.scan = self.buf.len();
            if self.buf.len() > MAX_LINE {
                return Err(LogError::LineTooLong {
                    source_name: "journalctl output".to_owned(),
                    max: MAX_LINE,
                });
            }
            let Some(out) = self.stdout.as_mut() else {
                return Ok(None);
            };
            let ready = {
                let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(WAIT_MS)) {
                    Ok(n) => n > 0,
                    Err(nix::errno::Errno::EINTR) => false,
                    Err(e) => return Err(LogError::Journalctl { source: e.into() }),
                }
            };
            if (self.stop)() {
                return Ok(None);
            }
            if !ready {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let n = match out.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LogError::Journalctl { source: e }),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Iterator for JournalIter {
    type Item = Result<LogEntry, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return self.finish().map(Err),
                Err(e) => {
                    let _ = self.finish();
                    return Some(Err(e));
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry = match parse_journal_line(&line) {
                Ok(e) => e,
                Err(reason) => {
                    return Some(Err(LogError::BadLine {
                        source_name: "journalctl output".to_owned(),
                        reason,
                    }))
                }
            };
            if self.rc.since.is_some_and(|s| entry.time < s) {
                continue;
            }
            if self.rc.until.is_some_and(|u| entry.time > u) {
                let _ = self.finish();
                return None;
            }
            let wanted = match entry.stream {
                Stream::Stdout => self.rc.stdout,
                Stream::Stderr => self.rc.stderr,
            };
            if wanted {
                return Some(Ok(entry));
            }
        }
        None
    }
}

impl Drop for JournalIter {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn parses_string_and_byte_array_messages() {
        let e = parse_journal_line(
            br#"{"MESSAGE":"hello","PRIORITY":"3","__REALTIME_TIMESTAMP":"1600000000123456"}"#,
        )
        .unwrap();
        assert_eq!(e.line, b"hello\n");
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(
            e.time,
            UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_000)
        );
        let e = parse_journal_line(
            br#"{"MESSAGE":[104,255],"PRIORITY":"6","__REALTIME_TIMESTAMP":"1","CONTAINER_PARTIAL_MESSAGE":"true"}"#,
        )
        .unwrap();
        assert_eq!(e.line, b"h\xff");
        assert!(e.partial);
        assert_eq!(e.stream, Stream::Stdout);
        assert!(parse_journal_line(br#"{"MESSAGE":"x"}"#).is_err());
    }

    #[test]
    fn builds_journalctl_arguments() {
        let rc = ReadConfig {
            since: Some(UNIX_EPOCH + Duration::new(1_600_000_000, 5_000)),
            until: None,
            tail: Some(5),
            follow: true,
            stdout: true,
            stderr: true,
        };
        assert_eq!(
            journalctl_args("abc", &rc),
            vec![
                "-o",
                "json",
                "--all",
                "--no-pager",
                "--since=@1600000000.000005",
                "--lines=5",
                "--follow",
                "CONTAINER_ID_FULL=abc"
            ]
        );
    }

    fn fake_journalctl(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("journalctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn rc(follow: bool) -> ReadConfig {
        ReadConfig {
            since: None,
            until: None,
            tail: None,
            follow,
            stdout: true,
            stderr: false,
        }
    }

    #[test]
    fn reads_entries_from_journalctl_output() {
        let dir = tempfile::tempdir().unwrap();
        let prog = fake_journalctl(
            dir.path(),
            r#"echo '{"MESSAGE":"one","PRIORITY":"6","__REALTIME_TIMESTAMP":"1000000"}'
echo '{"MESSAGE":"err","PRIORITY":"3","__REALTIME_TIMESTAMP":"2000000"}'
echo '{"MESSAGE":[116,119,111],"PRIORITY":"6","__REALTIME_TIMESTAMP":"3000000"}'"#,
        );
        let info = ContainerInfo::default();
        let got: Vec<_> = read(&info, rc(false), Box::new(|| false), &prog)
            .unwrap()
            .map(|e| e.unwrap().line)
            .collect();
        assert_eq!(got, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
    }

    #[test]
    fn follow_stops_promptly_and_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let prog = fake_journalctl(dir.path(), "exec sleep 30");
        let t0 = std::time::Instant::now();
        let mut it = read(
            &ContainerInfo::default(),
            rc(true),
            Box::new(move || t0.elapsed() > Duration::from_millis(300)),
            &prog,
        )
        .unwrap();
        assert!(it.next().is_none());
        assert!(t0.elapsed() < Duration::from_secs(2));

        let prog = fake_journalctl(dir.path(), "echo 'Failed to open journal' >&2; exit 1");
        let items: Vec<_> = read(
            &ContainerInfo::default(),
            rc(false),
            Box::new(|| false),
            &prog,
        )
        .unwrap()
        .collect();
        assert_eq!(items.len(), 1);
        assert!(items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("Failed to open journal"));

        let e = read(
            &ContainerInfo::default(),
            rc(false),
            Box::new(|| false),
            "/nonexistent/journalctl",
        )
        .err()
        .unwrap();
        assert!(matches!(e, LogError::JournalctlMissing));
    }
}
