//! Time formatting and parsing in Go's formats.
//!
//! Hand-written because the formats are Go-specific: `time.RFC3339Nano` trims
//! trailing zeros of the fraction (and the dot), and Docker's `--since/--until`
//! accept truncated layouts ("2006-01-02T15", "2006-01-02Z07:00") and Go
//! duration strings that no crate parses the same way. The calendar
//! arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`.
//! Timestamps without a zone are read as UTC (the device's local zone on
//! balenaOS).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::LogError;

const NANOS: i128 = 1_000_000_000;

pub(crate) fn to_unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

pub(crate) fn from_unix_nanos(n: i128) -> SystemTime {
    let mag = n.unsigned_abs();
    let d = Duration::new((mag / NANOS as u128) as u64, (mag % NANOS as u128) as u32);
    if n >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_num(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    let mut v = v;
    while v > 0 {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = digits.len().saturating_sub(width).min(i);
    out.extend_from_slice(&digits[start..]);
}

/// Appends `t` in UTC as Go's `time.RFC3339Nano` (quoted when `quoted`).
pub(crate) fn write_rfc3339nano(out: &mut Vec<u8>, t: SystemTime) -> Result<(), LogError> {
    let n = to_unix_nanos(t);
    let secs = n.div_euclid(NANOS) as i64;
    let frac = n.rem_euclid(NANOS) as u64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil_from_days(days);
    if !(0..10_000).contains(&y) {
        return Err(LogError::TimeOutOfRange);
    }
    push_num(out, y as u64, 4);
    out.push(b'-');
    push_num(out, u64::from(m), 2);
    out.push(b'-');
    push_num(out, u64::from(d), 2);
    out.push(b'T');
    push_num(out, sod / 3600, 2);
    out.push(b':');
    push_num(out, sod / 60 % 60, 2);
    out.push(b':');
    push_num(out, sod % 60, 2);
    if frac != 0 {
        let mut f = frac;
        let mut width = 9;
        while f.is_multiple_of(10) {
            f /= 10;
            width -= 1;
        }
        out.push(b'.');
        push_num(out, f, width);
    }
    out.push(b'Z');
    Ok(())
}

/// Formats `t` as Go's RFC3339Nano in UTC.
#[cfg(test)]
pub(crate) fn format_rfc3339nano(t: SystemTime) -> Result<String, LogError> {
    let mut v = Vec::with_capacity(32);
    write_rfc3339nano(&mut v, t)?;
    Ok(String::from_utf8_lossy(&v).into_owned())
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let part = self.s.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
}

/// Which zone handling a layout wants.
#[derive(Clone, Copy, PartialEq)]
enum Zone {
    Required,
    Forbidden,
}

/// Parses `YYYY-MM-DD[THH[:MM[:SS[.frac]]]][Z|±HH:MM]` with Go's range checks.
fn parse_layout(s: &[u8], zone: Zone, need_seconds: bool) -> Result<SystemTime, &'static str> {
    let mut c = Cursor { s, i: 0 };
    let y = c.digits(4).ok_or("bad year")?;
    if !c.eat(b'-') {
        return Err("bad date");
    }
    let mo = c.digits(2).ok_or("bad month")?;
    if !c.eat(b'-') {
        return Err("bad date");
    }
    let d = c.digits(2).ok_or("bad day")?;
    if !(1..=12).contains(&mo) {
        return Err("month out of range");
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d < 1 || d > mdays[(mo - 1) as usize] {
        return Err("day out of range");
    }
    let (mut h, mut mi, mut sec, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut have_seconds = false;
    if c.eat(b'T') {
        h = c.digits(2).ok_or("bad hour")?;
        if c.eat(b':') {
            mi = c.digits(2).ok_or("bad minute")?;
            if c.eat(b':') {
                sec = c.digits(2).ok_or("bad second")?;
                have_seconds = true;
                if c.eat(b'.') {
                    let mut n = 0;
                    let mut count = 0;
                    while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                        if count < 9 {
                            nanos = nanos * 10 + u32::from(b - b'0');
                        }
                        count += 1;
                        n += 1;
                        c.i += 1;
                    }
                    if n == 0 {
                        return Err("bad fraction");
                    }
                    for _ in count.min(9)..9 {
                        nanos *= 10;
                    }
                }
            }
        }
        if h > 23 || mi > 59 || sec > 59 {
            return Err("hour, minute or second out of range");
        }
    }
    if need_seconds && !have_seconds {
        return Err("missing seconds");
    }
    let mut offset: i64 = 0;
    match c.peek() {
        None => {
            if zone == Zone::Required {
                return Err("missing time zone");
            }
        }
        Some(_) if zone == Zone::Forbidden => return Err("extra text"),
        Some(b'Z') => c.i += 1,
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2).ok_or("bad zone")?;
            if !c.eat(b':') {
                return Err("bad zone");
            }
            let om = c.digits(2).ok_or("bad zone")?;
            if oh > 23 || om > 59 {
                return Err("zone out of range");
            }
            offset = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                offset = -offset;
            }
        }
        Some(_) => return Err("bad zone"),
    }
    if c.i != s.len() {
        return Err("extra text");
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset;
    Ok(from_unix_nanos(
        i128::from(secs) * NANOS + i128::from(nanos),
    ))
}

/// Parses an RFC 3339 timestamp as found in json-file `time` fields.
pub(crate) fn parse_rfc3339(s: &[u8]) -> Result<SystemTime, &'static str> {
    parse_layout(s, Zone::Required, true)
}

/// Parses a Go duration string (`"1h30m"`, `"1.5s"`, `"-10m"`) into signed nanoseconds.
fn parse_go_duration(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    if &b[i..] == b"0" {
        return Some(0);
    }
    if i == b.len() {
        return None;
    }
    let mut total: i128 = 0;
    while i < b.len() {
        let start = i;
        let mut int: i128 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            int = int.checked_mul(10)?.checked_add(i128::from(b[i] - b'0'))?;
            i += 1;
        }
        let int_digits = i - start;
        let mut frac: i128 = 0;
        let mut scale: i128 = 1;
        let mut frac_digits = 0;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                if scale < 1_000_000_000_000_000 {
                    frac = frac * 10 + i128::from(b[i] - b'0');
                    scale *= 10;
                }
                frac_digits += 1;
                i += 1;
            }
        }
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
        let ustart = i;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit: i128 = match &s[ustart..i] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS,
            "m" => 60 * NANOS,
            "h" => 3600 * NANOS,
            _ => return None,
        };
        let v = int.checked_mul(unit)?.checked_add(frac * unit / scale)?;
        total = total.checked_add(v)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    Some(if neg { -total } else { total })
}

/// Docker's `parseTimestamp`: `"<seconds>[.<fraction>]"`.
fn parse_unix(value: &str) -> Option<i128> {
    let (s, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = s.parse().ok()?;
    let mut nanos: i128 = 0;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 18 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i128 = f.parse().ok()?;
        nanos = if f.len() <= 9 {
            n * 10i128.pow(9 - f.len() as u32)
        } else {
            n / 10i128.pow(f.len() as u32 - 9)
        };
    }
    Some(i128::from(secs) * NANOS + nanos)
}

/// Parses a `docker logs --since/--until` argument the way the Docker CLI and
/// daemon do together (`api/types/time.GetTimestamp` then `ParseTimestamps`):
/// a Go duration relative to `now` (truncated to whole seconds), an RFC 3339
/// timestamp or truncated form of it (`2006-01-02`, `2006-01-02T15:04`, with
/// or without zone; no zone means UTC), or unix seconds with optional fraction.
pub fn parse_time_arg(value: &str, now: SystemTime) -> Result<SystemTime, LogError> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let t = to_unix_nanos(now) - d;
            return Ok(from_unix_nanos(t.div_euclid(NANOS) * NANOS));
        }
    }
    let local = !(value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3);
    let zone = if local {
        Zone::Forbidden
    } else {
        Zone::Required
    };
    let need_seconds = value.contains('.');
    match parse_layout(value.as_bytes(), zone, need_seconds) {
        Ok(t) => Ok(t),
        Err(reason) => {
            if value.contains('-') {
                return Err(LogError::InvalidTime {
                    value: value.to_owned(),
                    reason,
                });
            }
            parse_unix(value)
                .map(from_unix_nanos)
                .ok_or_else(|| LogError::InvalidTimeArg {
                    value: value.to_owned(),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> SystemTime {
        from_unix_nanos(i128::from(secs) * NANOS + i128::from(nanos))
    }

    #[test]
    fn rfc3339nano_trims_trailing_zeros_like_go() {
        assert_eq!(
            format_rfc3339nano(at(1_795_326_000, 123_456_789)).unwrap(),
            "2026-11-22T05:40:00.123456789Z"
        );
        assert_eq!(
            format_rfc3339nano(at(1_795_326_000, 120_000_000)).unwrap(),
            "2026-11-22T05:40:00.12Z"
        );
        assert_eq!(
            format_rfc3339nano(at(1_795_326_000, 0)).unwrap(),
            "2026-11-22T05:40:00Z"
        );
        assert_eq!(
            format_rfc3339nano(at(0, 1)).unwrap(),
            "1970-01-01T00:00:00.000000001Z"
        );
        assert_eq!(
            format_rfc3339nano(at(951_782_400, 0)).unwrap(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn rfc3339_parse_round_trips_and_honours_offsets() {
        let t = at(1_795_326_000, 123_456_789);
        assert_eq!(parse_rfc3339(b"2026-11-22T05:40:00.123456789Z").unwrap(), t);
        assert_eq!(
            parse_rfc3339(b"2026-11-22T06:40:00.123456789+01:00").unwrap(),
            t
        );
        assert_eq!(
            parse_rfc3339(b"2026-11-22T05:40:00Z").unwrap(),
            at(1_795_326_000, 0)
        );
        assert!(parse_rfc3339(b"2026-11-22T05:40:00").is_err());
        assert!(parse_rfc3339(b"2026-02-30T05:40:00Z").is_err());
        assert!(parse_rfc3339(b"2026-11-22T25:40:00Z").is_err());
    }

    #[test]
    fn time_arg_accepts_docker_forms() {
        let now = at(1_800_000_000, 500_000_000);
        assert_eq!(
            parse_time_arg("10m", now).unwrap(),
            at(1_800_000_000 - 600, 0)
        );
        assert_eq!(
            parse_time_arg("1h30m", now).unwrap(),
            at(1_800_000_000 - 5400, 0)
        );
        assert_eq!(parse_time_arg("1.5s", now).unwrap(), at(1_799_999_999, 0));
        assert_eq!(
            parse_time_arg("1600000000.123", now).unwrap(),
            at(1_600_000_000, 123_000_000)
        );
        assert_eq!(
            parse_time_arg("1600000000", now).unwrap(),
            at(1_600_000_000, 0)
        );
        assert_eq!(parse_time_arg("0", now).unwrap(), at(0, 0));
        assert_eq!(
            parse_time_arg("2020-09-13", now).unwrap(),
            at(1_599_955_200, 0)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T12:26:40Z", now).unwrap(),
            at(1_600_000_000, 0)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T12:26:40.5Z", now).unwrap(),
            at(1_600_000_000, 500_000_000)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T14:26:40+02:00", now).unwrap(),
            at(1_600_000_000, 0)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T12:26", now).unwrap(),
            at(1_600_000_000 - 40, 0)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T12", now).unwrap(),
            at(1_600_000_000 - 26 * 60 - 40, 0)
        );
        assert_eq!(
            parse_time_arg("2020-09-13T12:26:40.123456789123", now).unwrap(),
            at(1_600_000_000, 123_456_789)
        );
    }

    #[test]
    fn time_arg_rejects_garbage_with_docker_text() {
        let now = at(1_800_000_000, 0);
        assert_eq!(
            parse_time_arg("yesterday", now).unwrap_err().to_string(),
            "failed to parse value as time or duration: \"yesterday\""
        );
        assert!(matches!(
            parse_time_arg("2020-13-01", now),
            Err(LogError::InvalidTime { .. })
        ));
        assert!(parse_time_arg("10x", now).is_err());
        assert!(parse_time_arg("", now).is_err());
        assert!(parse_time_arg("1.", now).is_err());
    }

    #[test]
    fn go_duration_parses_units_and_signs() {
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("-1h"), Some(-3600 * NANOS));
        assert_eq!(
            parse_go_duration("2h45m3.5s"),
            Some((9903 * NANOS) + NANOS / 2)
        );
        assert_eq!(parse_go_duration("1µs"), Some(1000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("h"), None);
    }
}
