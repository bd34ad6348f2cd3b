#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use logger::{
    open_writer, parse_time_arg, read, validate, ContainerInfo, LineSplitter, LogEntry, LogError,
    Message, ReadConfig, Stream,
};

fn info() -> ContainerInfo {
    ContainerInfo {
        id: "a".repeat(64),
        name: "web".into(),
        image_name: "busybox".into(),
        image_id: "sha256:1234".into(),
        labels: [("app".to_owned(), "demo".to_owned())]
            .into_iter()
            .collect(),
        env: vec!["MODE=<x>".into()],
        daemon_name: "balena-engine".into(),
    }
}

fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn t(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn msg(line: &str, secs: u64) -> Message {
    Message {
        stream: Stream::Stdout,
        line: line.as_bytes().to_vec(),
        time: t(secs, 0),
        partial: false,
    }
}

fn all() -> ReadConfig {
    ReadConfig {
        since: None,
        until: None,
        tail: None,
        follow: false,
        stdout: true,
        stderr: true,
    }
}

fn read_lines(cfg: &logger::LogConfig, path: &Path, rc: ReadConfig) -> Vec<String> {
    read(cfg, &info(), path, rc, Box::new(|| false))
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().line).unwrap())
        .collect()
}

#[test]
fn writes_byte_exact_docker_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let cfg = validate("json-file", &BTreeMap::new()).unwrap();
    let mut w = open_writer(&cfg, &info(), &path).unwrap();
    let mut split = LineSplitter::new(Stream::Stdout);
    let mut msgs = Vec::new();
    let now = t(1_795_326_000, 123_456_789);
    split.push(b"a <b> & \"c\"\n", now, &mut |m| msgs.push(m));
    split.push(
        b"bad \xff\xe2\x82 utf8 \t\x01 \xe2\x80\xa8 \xc3\xa9\n",
        now,
        &mut |m| msgs.push(m),
    );
    let long = vec![b'z'; 20 * 1024];
    split.push(&long, t(1_795_326_001, 0), &mut |m| msgs.push(m));
    split.push(b"\n", t(1_795_326_002, 0), &mut |m| msgs.push(m));
    split.push(b"no newline", t(1_795_326_003, 500_000_000), &mut |m| {
        msgs.push(m)
    });
    split.finish(t(1_795_326_003, 500_000_000), &mut |m| msgs.push(m));
    let mut err = LineSplitter::new(Stream::Stderr);
    err.push(b"oops\r\n", t(1_795_326_004, 100), &mut |m| msgs.push(m));
    for m in &msgs {
        w.log(m).unwrap();
    }
    w.close().unwrap();

    let got = std::fs::read_to_string(&path).unwrap();
    let ts = "2026-11-22T05:40:00.123456789Z";
    let mut want = String::new();
    want += &format!(
        "{{\"log\":\"a \\u003cb\\u003e \\u0026 \\\"c\\\"\\n\",\"stream\":\"stdout\",\"time\":\"{ts}\"}}\n"
    );
    want += &format!(
        "{{\"log\":\"bad \\ufffd\\ufffd\\ufffd utf8 \\u0009\\u0001 \\u2028 \u{e9}\\n\",\"stream\":\"stdout\",\"time\":\"{ts}\"}}\n"
    );
    want += &format!(
        "{{\"log\":\"{}\",\"stream\":\"stdout\",\"time\":\"2026-11-22T05:40:01Z\"}}\n",
        "z".repeat(16 * 1024)
    );
    want += &format!(
        "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T05:40:01Z\"}}\n",
        "z".repeat(4 * 1024)
    );
    want += "{\"log\":\"no newline\",\"stream\":\"stdout\",\"time\":\"2026-11-22T05:40:03.5Z\"}\n";
    want += "{\"log\":\"oops\\r\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-22T05:40:04.0000001Z\"}\n";
    assert_eq!(got, want);

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");

    // Read back: partials come back as-is.
    let entries: Vec<LogEntry> = read(&cfg, &info(), &path, all(), Box::new(|| false))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[0].line, b"a <b> & \"c\"\n");
    assert!(entries[2].partial);
    assert_eq!(entries[2].line.len(), 16 * 1024);
    assert!(!entries[3].partial);
    assert!(entries[4].partial);
    assert_eq!(entries[5].stream, Stream::Stderr);
    assert_eq!(entries[5].time, t(1_795_326_004, 100));
}

#[test]
fn writes_attrs_for_labels_env_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let cfg = validate(
        "json-file",
        &opts(&[
            ("labels", "app"),
            ("env", "MODE"),
            ("tag", "{{.Name}}/{{.ID}}"),
        ]),
    )
    .unwrap();
    let mut w = open_writer(&cfg, &info(), &path).unwrap();
    w.log(&msg("x\n", 1_795_326_000)).unwrap();
    w.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"attrs\":{\"MODE\":\"\\u003cx\\u003e\",\"app\":\"demo\",\"tag\":\"web/aaaaaaaaaaaa\"},\"time\":\"2026-11-22T05:40:00Z\"}\n"
    );
    assert!(matches!(w.log(&msg("y\n", 1)), Err(LogError::Closed)));
}

fn write_rotating(path: &Path, n: u64) -> logger::LogConfig {
    let cfg = validate("json-file", &opts(&[("max-size", "1k"), ("max-file", "3")])).unwrap();
    let mut w = open_writer(&cfg, &info(), path).unwrap();
    for i in 0..n {
        w.log(&msg(&format!("line {i:03}\n"), 1_000_000 + i))
            .unwrap();
    }
    w.close().unwrap();
    cfg
}

#[test]
fn rotates_with_max_size_and_max_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    // Each line is 69 bytes; 1k = 1000 bytes (go-units decimal), rotation
    // happens once a file reaches 1000 bytes, so 15 lines per file.
    let cfg = write_rotating(&path, 60);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["c-json.log", "c-json.log.1", "c-json.log.2"]);
    for n in &names {
        let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
        assert_eq!(len, 15 * 69, "{n}");
    }
    let lines = read_lines(&cfg, &path, all());
    let last = lines.last().unwrap();
    assert_eq!(last, "line 059\n");
    let first: u32 = lines[0][5..8].parse().unwrap();
    assert_eq!(lines.len() as u32, 60 - first);
    assert_eq!(lines.len(), 45);
}

#[test]
fn tail_since_until_across_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let cfg = write_rotating(&path, 60);
    let rc = |tail, since, until| ReadConfig {
        tail,
        since,
        until,
        ..all()
    };
    // tail reaching into .2 from the current file
    let got = read_lines(&cfg, &path, rc(Some(20), None, None));
    let want: Vec<String> = (40..60).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(got, want);
    assert_eq!(
        read_lines(&cfg, &path, rc(Some(0), None, None)),
        Vec::<String>::new()
    );
    assert_eq!(
        read_lines(&cfg, &path, rc(Some(1000), None, None)).len(),
        45
    );
    // since/until select a window across files
    let got = read_lines(
        &cfg,
        &path,
        rc(None, Some(t(1_000_030, 0)), Some(t(1_000_035, 0))),
    );
    let want: Vec<String> = (30..=35).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(got, want);
    // tail first, then since (Docker's order)
    let got = read_lines(&cfg, &path, rc(Some(5), Some(t(1_000_057, 0)), None));
    assert_eq!(got, vec!["line 057\n", "line 058\n", "line 059\n"]);
    // stream filter
    let none = ReadConfig {
        stdout: false,
        ..all()
    };
    assert!(read_lines(&cfg, &path, none).is_empty());
}

#[test]
fn follow_picks_up_appends_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let cfg = validate("json-file", &opts(&[("max-size", "1k"), ("max-file", "3")])).unwrap();
    let mut w = open_writer(&cfg, &info(), &path).unwrap();
    w.log(&msg("first\n", 1)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let rc = ReadConfig {
        follow: true,
        tail: Some(1),
        ..all()
    };
    let mut it = read(
        &cfg,
        &info(),
        &path,
        rc,
        Box::new(move || s2.load(Ordering::SeqCst)),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for e in it.by_ref() {
            tx.send(String::from_utf8(e.unwrap().line).unwrap())
                .unwrap();
        }
    });
    let recv = || rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(recv(), "first\n");
    w.log(&msg("second\n", 2)).unwrap();
    assert_eq!(recv(), "second\n");
    // Write enough to rotate twice quickly; the follower must see every line in order.
    for i in 0..40 {
        w.log(&msg(&format!("rot {i:02}\n"), 3 + i)).unwrap();
    }
    for i in 0..40 {
        assert_eq!(recv(), format!("rot {i:02}\n"));
    }
    assert!(std::fs::metadata(dir.path().join("c-json.log.2")).is_ok());
    w.log(&msg("after\n", 100)).unwrap();
    assert_eq!(recv(), "after\n");
    let t0 = std::time::Instant::now();
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert!(t0.elapsed() < Duration::from_millis(500));
}

#[test]
fn follow_ends_when_log_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let cfg = validate("json-file", &BTreeMap::new()).unwrap();
    let mut w = open_writer(&cfg, &info(), &path).unwrap();
    w.log(&msg("only\n", 1)).unwrap();
    w.close().unwrap();
    let rc = ReadConfig {
        follow: true,
        ..all()
    };
    let mut it = read(&cfg, &info(), &path, rc, Box::new(|| false)).unwrap();
    assert_eq!(it.next().unwrap().unwrap().line, b"only\n");
    std::fs::remove_file(&path).unwrap();
    let t0 = std::time::Instant::now();
    assert!(it.next().is_none());
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn malformed_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    std::fs::write(
        &path,
        b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2020-01-01T00:00:00Z\"}\ngarbage\n\0\0\0{\"log\":\"b\\n\",\"stream\":\"stdout\",\"time\":\"2020-01-01T00:00:01Z\"}\n{\"log\":\"trunc",
    )
    .unwrap();
    let cfg = validate("json-file", &BTreeMap::new()).unwrap();
    let items: Vec<_> = read(&cfg, &info(), &path, all(), Box::new(|| false))
        .unwrap()
        .collect();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].as_ref().unwrap().line, b"a\n");
    assert!(matches!(items[1], Err(LogError::BadLine { .. })));
    assert_eq!(items[2].as_ref().unwrap().line, b"b\n");
    assert!(items[3].is_err());
}

#[test]
fn none_driver_drops_and_refuses_reading() {
    let cfg = validate("none", &BTreeMap::new()).unwrap();
    let mut w = open_writer(&cfg, &info(), Path::new("/nonexistent/x")).unwrap();
    w.log(&msg("x\n", 1)).unwrap();
    w.close().unwrap();
    let e = read(
        &cfg,
        &info(),
        Path::new("/nonexistent/x"),
        all(),
        Box::new(|| false),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "configured logging driver does not support reading"
    );
}

#[test]
fn time_args_feed_read_config() {
    let now = t(1_800_000_000, 0);
    assert_eq!(
        parse_time_arg("1h", now).unwrap(),
        t(1_800_000_000 - 3600, 0)
    );
    assert_eq!(
        parse_time_arg("2027-01-15T08:00:00Z", now).unwrap(),
        t(1_800_000_000, 0)
    );
}
