//! Test harness: starts the real binary as a daemon on a private socket,
//! data root, exec root and pid file, and talks to it over the socket.
//! Every daemon is stopped by its pid when the handle drops, even when the
//! test fails; nothing else is ever signalled.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod ctr;
pub mod dockerd;
pub mod images;
pub mod proxy;
pub mod registry;

pub const BIN: &str = env!("CARGO_BIN_EXE_balena-engine");

/// A directory of role symlinks to the binary under test.
pub fn links(dir: &Path) -> PathBuf {
    links_to(dir, Path::new(BIN))
}

/// A directory of role symlinks to `target`.
pub fn links_to(dir: &Path, target: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in [
        "balena-engine",
        "balena",
        "balena-engine-daemon",
        "balenad",
        "balena-engine-runc",
        "balena-runc",
        "balena-engine-proxy",
        "balena-proxy",
    ] {
        let l = bin.join(name);
        if !l.exists() {
            std::os::unix::fs::symlink(target, &l).unwrap();
        }
    }
    bin
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub config_file: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// Networking tests: the daemon runs in this network namespace (made
    /// for the test), so its bridges, rules and published ports never
    /// touch the host's. Other daemons run in the host's namespace with
    /// the default bridge, iptables and forwarding off (pulls reach the
    /// test registry on the host's loopback).
    pub netns: Option<PathBuf>,
}

impl Daemon {
    /// Paths only; nothing started.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("be-test-")
            .tempdir()
            .unwrap();
        let bin = links(dir.path());
        let config_file = dir.path().join("daemon.json");
        std::fs::write(&config_file, "{}").unwrap();
        Self {
            netns: None,
            socket: dir.path().join("engine.sock"),
            pidfile: dir.path().join("engine.pid"),
            data_root: dir.path().join("root"),
            exec_root: dir.path().join("exec"),
            log: dir.path().join("daemon.log"),
            config_file,
            bin,
            dir,
            child: None,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The flags for our private paths, plus `extra`.
    pub fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-H".into(),
            self.host(),
            "--data-root".into(),
            self.data_root.display().to_string(),
            "--exec-root".into(),
            self.exec_root.display().to_string(),
            "--pidfile".into(),
            self.pidfile.display().to_string(),
            "--config-file".into(),
            self.config_file.display().to_string(),
        ];
        if self.netns.is_none() {
            a.extend(
                ["--bridge=none", "--iptables=false", "--ip-forward=false"]
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// Paths only, and a private network namespace for the daemon.
    pub fn new_networked() -> Self {
        let mut d = Self::new();
        let ns = d.dir.path().join("netns");
        network::netns::create(&ns).unwrap();
        d.netns = Some(ns);
        d
    }

    /// Paths only, with the role links pointing at a private copy of the
    /// binary (`<dir>/engine-copy`), so a test that attacks the binary
    /// cannot damage the build's.
    pub fn new_with_copy() -> Self {
        let mut d = Self::new();
        let copy = d.dir.path().join("engine-copy");
        std::fs::copy(BIN, &copy).unwrap();
        let _ = std::fs::remove_dir_all(&d.bin);
        d.bin = links_to(d.dir.path(), &copy);
        d
    }

    /// Starts the daemon and waits until it answers /_ping.
    pub fn start(mut self, extra: &[&str]) -> Self {
        self.spawn(extra);
        self
    }

    /// Starts the daemon again on the same paths (after it exited or was
    /// killed) and waits until it answers /_ping.
    pub fn restart(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "daemon still running");
        self.spawn(extra);
    }

    fn spawn(&mut self, extra: &[&str]) {
        // Keep earlier runs' logs: append.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(self.bin.join("balena-engine-daemon"));
        cmd.args(self.args(extra))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(ns) = &self.netns {
            network::netns::command_in(ns, &mut cmd).unwrap();
        }
        let child = cmd.spawn().unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Some(st) = c.try_wait().unwrap() {
                    panic!("daemon exited early with {st}: {}", self.log_text());
                }
            }
            if let Ok(r) = std::panic::catch_unwind(|| raw(&self.socket, "GET", "/_ping", None)) {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon not ready: {}", self.log_text());
    }

    /// Runs `f` on a thread inside the daemon's network namespace (sockets
    /// made there stay there).
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        network::netns::run_in(self.netns.as_ref().expect("a networked daemon"), f).unwrap()
    }

    /// Runs a command inside the daemon's network namespace.
    pub fn netns_cmd(&self, prog: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(prog);
        cmd.args(args);
        network::netns::command_in(self.netns.as_ref().expect("a networked daemon"), &mut cmd)
            .unwrap();
        cmd.output().unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap()
    }

    /// Signals the daemon this handle started (never anything else).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Waits for the daemon to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let c = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Some(st) = c.try_wait().unwrap() {
                self.child = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn get(&self, path: &str) -> Raw {
        raw(&self.socket, "GET", path, None)
    }

    /// Runs the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("balena-engine"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    }
}

/// Processes whose command line names `needle` (our private state dirs
/// make that unique to this test).
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A container's cgroup directories (engine's default parent `/balena`), in
/// every v1 controller or the v2 tree, where they exist.
pub fn container_cgroups(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    if root.join("cgroup.controllers").exists() {
        out.push(root.join("balena").join(id));
    } else {
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            out.push(e.path().join("balena").join(id));
        }
    }
    out.retain(|p| p.is_dir());
    out
}

impl Daemon {
    /// Removes every container through the API (containers outlive the
    /// daemon by design, so tests must not leave any behind).
    pub fn remove_all_containers(&self) {
        if !self.socket.exists() {
            return;
        }
        let Ok(r) =
            std::panic::catch_unwind(|| raw(&self.socket, "GET", "/containers/json?all=1", None))
        else {
            return;
        };
        if r.status != 200 {
            return;
        }
        let list: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                let path = format!("/containers/{id}?force=1");
                let _ = std::panic::catch_unwind(|| raw(&self.socket, "DELETE", &path, None));
            }
        }
    }

    /// Last resort after the daemon is gone: kill shims (and so their
    /// containers) started for this test's exec root, by pid, and unmount
    /// what is left under the data root.
    pub fn reap_leftovers(&self) {
        let exec = self.exec_root.display().to_string();
        // Containers of this daemon (ids from its exec root): kill what is
        // left in their cgroups (a container's init outlives a killed shim)
        // and remove the empty cgroups.
        let ids: Vec<String> = std::fs::read_dir(self.exec_root.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .chain(
                std::fs::read_dir(self.data_root.join("containers"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            )
            .filter(|n| n.len() == 64)
            .collect();
        for id in &ids {
            for base in container_cgroups(id) {
                let procs = std::fs::read_to_string(base.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        for pid in pids_mentioning(&exec) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let root = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in points {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        if !ids.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            for id in &ids {
                for base in container_cgroups(id) {
                    let _ = std::fs::remove_dir(base);
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all_containers();
        }
        self.stop_child();
        // Give killed shims a moment to clean up after their containers.
        if !pids_mentioning(&self.exec_root.display().to_string()).is_empty() {
            self.reap_leftovers();
            std::thread::sleep(Duration::from_millis(300));
        }
        self.reap_leftovers();
        // Container namespaces first (their files live in the exec root),
        // then the daemon's: the kernel drops bridges, veths and rules with
        // the last reference.
        for e in std::fs::read_dir(self.exec_root.join("netns"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = network::netns::remove(&e.path());
        }
        if let Some(ns) = &self.netns {
            let _ = network::netns::remove(ns);
        }
    }
}

impl Daemon {
    fn stop_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Process output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Loads a `docker save` archive through the CLI; returns its stdout.
pub fn load_archive(d: &Daemon, ar: &[u8]) -> String {
    let p = d
        .dir
        .path()
        .join(format!("ar-{}.tar", &images::sha256(ar)[7..19]));
    std::fs::write(&p, ar).unwrap();
    let out = d.cli(&["load", "-i", &p.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request written by hand, so tests see exactly what a
/// client on the wire sees.
pub fn raw(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> Raw {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or(b"");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}
