//! Container helpers over the raw API: a probe image, create/start/wait,
//! logs demultiplexed from Docker's 8-byte frame headers, and hijacked
//! attach/exec streams.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{images, raw, Daemon, Raw};

/// The tag of the test image [`load_probe_image`] loads.
pub const IMAGE: &str = "ctest:latest";

/// The applets linked into /bin.
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "usleep", "id", "grep", "hostname", "ls", "touch", "stat",
    "mount", "head", "wc", "env", "stty", "true", "false", "readlink", "dd", "tail", "ps", "kill",
    "sed", "awk", "cut", "tr", "test", "tty", "rm", "chmod", "printf", "pwd", "seq", "wget", "nc",
    "nslookup", "ip", "ping", "httpd", "mkdir", "timeout",
];

/// A small probe program baked into the test image that reports from
/// inside as `key=value` lines.
pub const PROBE: &str = r#"#!/bin/sh
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "hostname=$(hostname)"
for k in CapEff CapBnd Seccomp NoNewPrivs; do
  echo "$k=$(sed -n "s/^$k:[[:space:]]*//p" /proc/self/status)"
done
echo "kcore=$(stat -c %F /proc/kcore 2>&1)"
echo "keys=$(stat -c %F /proc/keys 2>&1)"
echo "procsys_opts=$(awk '$2=="/proc/sys"{print $4}' /proc/mounts | tail -n 1)"
echo "procsys_touch=$(touch /proc/sys/kernel/shmmax 2>&1 && echo ok)"
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "shm=$(awk '$2=="/dev/shm"{print $4}' /proc/mounts | tail -n 1)"
echo "rootopts=$(awk '$2=="/"{print $4}' /proc/mounts | tail -n 1)"
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
echo "nproc=$(ulimit -u 2>&1)"
echo "memlimit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max 2>/dev/null)"
for f in hosts hostname resolv.conf; do
  if test -f /etc/$f; then echo "etc_$f=yes"; else echo "etc_$f=no"; fi
done
"#;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n";

/// The test image archive: busybox with applet links, users and groups,
/// and `/probe`.
pub fn probe_archive() -> Vec<u8> {
    let bb = std::fs::read(images::BUSYBOX)
        .expect("busybox-static must be installed (scripts/deps.sh test)");
    let links: Vec<(String, String)> = APPLETS
        .iter()
        .map(|a| (format!("bin/{a}"), "->busybox".to_string()))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("bin/", b""),
        ("bin/busybox", &bb),
        ("bin/probe", PROBE.as_bytes()),
        ("probe", b"->/bin/probe"),
        ("etc/", b""),
        ("etc/passwd", PASSWD.as_bytes()),
        ("etc/group", GROUP.as_bytes()),
        ("tmp/", b""),
        ("home/", b""),
        ("home/app/", b""),
    ];
    for (p, t) in &links {
        entries.push((p, t.as_bytes()));
    }
    let layers = vec![images::layer(&entries)];
    let cfg = images::config(&layers, &[("img", "ctest")], "2024-01-02T03:04:05Z");
    images::archive(&layers, &cfg, &[IMAGE])
}

/// Loads the test image into `d`.
pub fn load_probe_image(d: &Daemon) {
    super::load_archive(d, &probe_archive());
}

/// A daemon with the test image loaded.
pub fn daemon() -> Daemon {
    let d = Daemon::new().start(&[]);
    load_probe_image(&d);
    d
}

/// One API call with an optional JSON body.
pub fn api(d: &Daemon, method: &str, path: &str, body: Option<Value>) -> Raw {
    let b = body.map(|v| serde_json::to_vec(&v).unwrap());
    raw(&d.socket, method, path, b.as_deref())
}

/// The `message` of an error answer.
pub fn message(r: &Raw) -> String {
    r.json()["message"].as_str().unwrap_or_default().to_string()
}

/// `POST /containers/create?name=`: the raw answer. `cfg` is merged over
/// `{"Image": IMAGE}`.
pub fn try_create(d: &Daemon, name: &str, cfg: Value) -> Raw {
    let mut body = json!({ "Image": IMAGE });
    for (k, v) in cfg.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    api(
        d,
        "POST",
        &format!("/containers/create?name={name}"),
        Some(body),
    )
}

/// Creates a container; returns its id.
pub fn create(d: &Daemon, name: &str, cfg: Value) -> String {
    let r = try_create(d, name, cfg);
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// Starts a container (204 expected).
pub fn start(d: &Daemon, id: &str) {
    let r = api(d, "POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 204, "start: {} {}", r.text(), d.log_text());
}

/// Waits for the container to stop; its exit code.
pub fn wait(d: &Daemon, id: &str) -> i64 {
    wait_cond(d, id, "")
}

pub fn wait_cond(d: &Daemon, id: &str, cond: &str) -> i64 {
    let r = api(
        d,
        "POST",
        &format!("/containers/{id}/wait?condition={cond}"),
        None,
    );
    assert_eq!(r.status, 200, "wait: {}", r.text());
    r.json()["StatusCode"].as_i64().unwrap()
}

pub fn inspect(d: &Daemon, id: &str) -> Value {
    let r = api(d, "GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.status, 200, "inspect: {}", r.text());
    r.json()
}

/// Splits Docker's multiplexed stream into (stdout, stderr).
pub fn demux(mut b: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        assert!(b.len() >= 8 + n, "short frame");
        match b[0] {
            1 => out.extend_from_slice(&b[8..8 + n]),
            2 => err.extend_from_slice(&b[8..8 + n]),
            s => panic!("bad stream byte {s}"),
        }
        b = &b[8 + n..];
    }
    assert!(b.is_empty(), "trailing bytes {b:?}");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// `GET /containers/{id}/logs?stdout=1&stderr=1&<extra>`, demultiplexed.
pub fn logs(d: &Daemon, id: &str, extra: &str) -> (String, String) {
    let r = api(
        d,
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1&{extra}"),
        None,
    );
    assert_eq!(r.status, 200, "logs: {}", r.text());
    demux(&r.body)
}

/// Creates, starts and waits: (id, exit code, stdout, stderr).
pub fn run(d: &Daemon, name: &str, cfg: Value) -> (String, i64, String, String) {
    let id = create(d, name, cfg);
    start(d, &id);
    let code = wait(d, &id);
    let (o, e) = logs(d, &id, "");
    (id, code, o, e)
}

/// Runs `/probe` with `host` as HostConfig (and `extra` merged into the
/// config); its key=value report.
pub fn probe(d: &Daemon, name: &str, host: Value, extra: Value) -> BTreeMap<String, String> {
    let mut cfg = json!({ "Cmd": ["/probe"], "HostConfig": host });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    let (_, code, out, err) = run(d, name, cfg);
    assert_eq!(code, 0, "probe failed: {out}{err}");
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Polls `f` until it is true or `secs` pass.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

/// A hijacked connection: the request is sent with `Upgrade: tcp`; the
/// 101 head has been read.
pub struct Hijacked {
    pub s: UnixStream,
    pub head: String,
}

/// Sends `method path` with `Upgrade: tcp` and reads the answer's head.
/// Returns the raw answer instead when it is not a 101.
pub fn hijack(socket: &Path, method: &str, path: &str, body: &[u8]) -> Result<Hijacked, Raw> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    // Byte by byte so nothing after the head is consumed.
    let mut h = Vec::new();
    let mut b = [0u8; 1];
    while !h.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap();
        assert!(
            n == 1,
            "eof in response head: {:?}",
            String::from_utf8_lossy(&h)
        );
        h.push(b[0]);
    }
    let head = String::from_utf8_lossy(&h).into_owned();
    if head.starts_with("HTTP/1.1 101") {
        return Ok(Hijacked { s, head });
    }
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = rest;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = super::dechunk(&body);
    }
    Err(Raw {
        status,
        headers: Vec::new(),
        body,
    })
}

impl Hijacked {
    /// The next frame, or None at end of stream.
    pub fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 8];
        if self.s.read_exact(&mut h).is_err() {
            return None;
        }
        let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let mut p = vec![0u8; n];
        self.s.read_exact(&mut p).unwrap();
        Some((h[0], p))
    }

    /// Reads frames until `pred` holds on the stdout collected so far.
    pub fn read_stdout_until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let mut out = Vec::new();
        while let Some((k, p)) = self.frame() {
            if k == 1 {
                out.extend_from_slice(&p);
            }
            if pred(&String::from_utf8_lossy(&out)) {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Everything until end of stream, raw.
    pub fn rest(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = self.s.read_to_end(&mut v);
        v
    }
}

/// Creates an exec; its id.
pub fn exec_create(d: &Daemon, id: &str, cfg: Value) -> String {
    let r = api(d, "POST", &format!("/containers/{id}/exec"), Some(cfg));
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// `GET /exec/{id}/json` once it stopped running.
pub fn exec_inspect_done(d: &Daemon, eid: &str) -> Value {
    let mut v = Value::Null;
    wait_until(10, "exec to finish", || {
        v = api(d, "GET", &format!("/exec/{eid}/json"), None).json();
        v["Running"] == json!(false)
    });
    v
}

/// Runs `cmd` in the container (attached, not hijacked): (stdout,
/// stderr, exit code). `extra` is merged into the exec config.
pub fn exec(d: &Daemon, id: &str, cmd: &[&str], extra: Value) -> (String, String, i64) {
    let mut cfg = json!({ "Cmd": cmd, "AttachStdout": true, "AttachStderr": true });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    let eid = exec_create(d, id, cfg);
    let r = api(
        d,
        "POST",
        &format!("/exec/{eid}/start"),
        Some(json!({ "Detach": false, "Tty": false })),
    );
    assert_eq!(r.status, 200, "exec start: {}", r.text());
    let (o, e) = demux(&r.body);
    let v = exec_inspect_done(d, &eid);
    (o, e, v["ExitCode"].as_i64().unwrap())
}

/// Whether a process exists.
pub fn alive(pid: i64) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// A cgroup v1 file of a container, or the v2 equivalent.
pub fn cgroup_file(id: &str, controller: &str, v1: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/sys/fs/cgroup/{controller}/balena/{id}/{v1}"))
}

pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Follows `GET /events?<query>` on a thread; each event arrives on the
/// channel. The thread ends when the daemon closes the stream or the test
/// drops the receiver (then the socket goes with the thread at the next
/// event).
pub fn follow_events(d: &Daemon, query: &str) -> std::sync::mpsc::Receiver<Value> {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    write!(
        s,
        "GET /v1.41/events{query} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = std::io::BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "events: {status}");
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
        {
            chunked = true;
        }
        if h == "\r\n" || h.is_empty() {
            break;
        }
    }
    assert!(chunked, "events are streamed chunked");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                return;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                return;
            };
            if n == 0 {
                return;
            }
            let mut chunk = vec![0u8; n + 2];
            if r.read_exact(&mut chunk).is_err() {
                return;
            }
            pending.extend_from_slice(&chunk[..n]);
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                let v: Value = serde_json::from_slice(&line).unwrap();
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The events `GET /events?<query>` answers; the query must end the
/// stream (an `until`).
pub fn events_window(d: &Daemon, query: &str) -> Vec<Value> {
    let r = api(d, "GET", &format!("/events?{query}"), None);
    assert_eq!(r.status, 200, "events: {}", r.text());
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
