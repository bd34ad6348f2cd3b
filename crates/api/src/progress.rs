//! Docker's streamed JSON messages (`jsonmessage.JSONMessage`): pull, push,
//! load and delta progress, one JSON object per line.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// One line of a progress stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(
        default,
        rename = "progressDetail",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        default,
        rename = "errorDetail",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<ErrorDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// `{"status": S}` or, with an id, `{"status": S, "id": ID}`.
    pub fn status(status: impl Into<String>, id: Option<&str>) -> Self {
        Self {
            status: Some(status.into()),
            id: id.map(str::to_string),
            ..Default::default()
        }
    }

    /// A progress update with Docker's bar text and `progressDetail`.
    pub fn progress(status: impl Into<String>, id: &str, current: i64, total: i64) -> Self {
        Self {
            status: Some(status.into()),
            id: Some(id.to_string()),
            progress_detail: Some(ProgressDetail {
                current,
                total,
                start: 0,
            }),
            progress: Some(progress_string(current, total)),
            ..Default::default()
        }
    }

    /// The final error of a stream that had already started.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error_detail: Some(ErrorDetail {
                code: 0,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }

    /// The line, newline-terminated, as Docker streams it.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        v.push(b'\r');
        v.push(b'\n');
        v
    }
}

/// Decimal unit names (`units.HumanSize`).
pub const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
/// Binary unit names (`units.BytesSize`).
pub const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go's `units.CustomSize("%.<digits>g%s", n, base, names)`: divide by
/// `base` until below it, then print with `digits` significant digits and
/// no trailing zeros.
pub fn format_units(n: f64, base: f64, names: &[&str; 9], digits: i32) -> String {
    let mut v = n;
    let mut i = 0;
    while v >= base && i < names.len() - 1 {
        v /= base;
        i += 1;
    }
    let shown = if v == 0.0 {
        "0".to_string()
    } else {
        let int_digits = v.abs().log10().floor() as i32 + 1;
        let decimals = (digits - int_digits).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    format!("{shown}{}", names[i])
}

/// Go's `units.HumanSize`: decimal units, four significant digits.
pub fn human_size(n: f64) -> String {
    format_units(n, 1000.0, &DECIMAL_UNITS, 4)
}

/// Docker's progress text as a daemon renders it (no terminal: width 200,
/// so the bar is always drawn): `[=====>      ]  1.2MB/3.4MB`.
pub fn progress_string(current: i64, total: i64) -> String {
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human_size(current as f64));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let numbers = if current > total {
        format!("{:>8}", human_size(current as f64))
    } else {
        format!(
            "{:>8}/{}",
            human_size(current as f64),
            human_size(total as f64)
        )
    };
    bar + &numbers
}

/// Go's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = ((s as f64) / 3600.0 + 0.5) as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(human_size(32_000_000.0), "32MB");
    }

    #[test]
    fn progress_bar_matches_docker() {
        assert_eq!(
            progress_string(500, 1000),
            format!("[{}>{}]     500B/1kB", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(progress_string(0, 0), "");
        assert_eq!(progress_string(2000, 0), "     2kB");
    }

    #[test]
    fn messages_serialise_like_docker() {
        let m = JsonMessage::status("Pulling fs layer", Some("abc"));
        assert_eq!(
            String::from_utf8(m.to_line()).unwrap(),
            "{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\r\n"
        );
        let e = JsonMessage::error("boom");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"errorDetail": {"message": "boom"}, "error": "boom"})
        );
        let p = JsonMessage::progress("Downloading", "abc", 1, 2);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v["progressDetail"],
            serde_json::json!({"current": 1, "total": 2})
        );
    }

    #[test]
    fn durations_follow_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(21 * 86400), "3 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }
}
