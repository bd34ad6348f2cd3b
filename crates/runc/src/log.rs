//! Error reporting in runc's (logrus) formats.
//!
//! Without `--log`, runc writes `time="…" level=error msg="…"` (or the JSON form) to
//! stderr. With `--log FILE` the formatted line goes to the file and the bare message to
//! stderr. containerd-style callers parse the JSON form from the log file. logrus's exact
//! quoting rules are small, so they are written by hand here rather than pulling a logging stack.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Output format of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Where and how errors are reported.
#[derive(Debug, Clone)]
pub(crate) struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    pub(crate) fn new(file: Option<PathBuf>, format: &str) -> Self {
        let format = if format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        Self { file, format }
    }

    /// Reports an error like runc's `fatal()`.
    pub(crate) fn error(&self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            eprintln!("{msg}");
        }
    }

    /// Writes a warning (only to the log destination).
    pub(crate) fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    fn write(&self, level: &str, msg: &str) {
        let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let line = format_line(self.format, level, msg, &now);
        match &self.file {
            Some(path) => {
                let opened = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o644)
                    .open(path);
                if let Ok(mut f) = opened {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

/// Formats one log line, newline-terminated.
pub(crate) fn format_line(format: LogFormat, level: &str, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Json => {
            // logrus's JSONFormatter sorts keys: level, msg, time.
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        }
        LogFormat::Text => format!(
            "time={} level={} msg={}\n",
            quote_if_needed(time),
            level,
            quote_if_needed(msg)
        ),
    }
}

/// logrus's TextFormatter quotes a value unless it only has `[A-Za-z0-9-._/@^+]`; it
/// always quotes when the value has none of those (so we mirror it: quote when any other char).
fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_line_matches_logrus() {
        let l = format_line(
            LogFormat::Text,
            "error",
            "container does not exist",
            "2026-11-22T05:44:42Z",
        );
        assert_eq!(
            l,
            "time=\"2026-11-22T05:44:42Z\" level=error msg=\"container does not exist\"\n"
        );
    }

    #[test]
    fn json_line_matches_logrus() {
        let l = format_line(LogFormat::Json, "error", "a \"b\"", "T");
        assert_eq!(
            l,
            "{\"level\":\"error\",\"msg\":\"a \\\"b\\\"\",\"time\":\"T\"}\n"
        );
    }

    #[test]
    fn plain_words_are_not_quoted() {
        assert_eq!(quote_if_needed("abc-1.2"), "abc-1.2");
        assert_eq!(quote_if_needed(""), "\"\"");
        assert_eq!(quote_if_needed("a\nb"), "\"a\\nb\"");
    }
}
