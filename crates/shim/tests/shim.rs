#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: the shim (through the `shim-test-runner` binary) runs
//! real busybox containers. They need root, cgroups and /bin/busybox; run
//! with `--test-threads=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shim::proto::{self, ExitStatus, Ready, Reply, ShimConfig};

const CG_ROOT: &str = "/sys/fs/cgroup";

struct Opts {
    args: Vec<&'static str>,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    pid_ns: bool,
    memory: Option<i64>,
    /// Docker's default capabilities and seccomp profile.
    docker_security: bool,
}

impl Opts {
    fn new(args: &[&'static str]) -> Self {
        Opts {
            args: args.to_vec(),
            tty: false,
            open_stdin: false,
            stdin_once: false,
            pid_ns: true,
            memory: None,
            docker_security: false,
        }
    }
}

/// One shim and its container; cleans up everything on drop.
struct Harness {
    dir: tempfile::TempDir,
    id: String,
    state: PathBuf,
    cfg: ShimConfig,
    child: Child,
    stdout: Option<BufReader<std::process::ChildStdout>>,
    ready: Ready,
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(CG_ROOT).unwrap().flatten() {
        let p = e.path().join("shim-test").join(id);
        if p.exists() {
            v.push(p);
        }
    }
    v
}

fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("bundle/rootfs");
    for d in ["bin", "proc", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for l in [
        "sh", "echo", "cat", "sleep", "true", "false", "id", "stty", "tty", "kill", "yes", "head",
        "unshare",
    ] {
        symlink("busybox", root.join("bin").join(l)).unwrap();
    }
    root
}

fn start(o: Opts) -> Harness {
    let dir = tempfile::Builder::new()
        .prefix("shim-test-")
        .tempdir()
        .unwrap();
    let id: String = format!("t-{}", dir.path().file_name().unwrap().to_string_lossy())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    rootfs(dir.path());
    let mut ns = vec![
        json!({"type":"ipc"}),
        json!({"type":"uts"}),
        json!({"type":"mount"}),
        json!({"type":"network"}),
    ];
    if o.pid_ns {
        ns.push(json!({"type":"pid"}));
    }
    let mut linux = json!({
        "namespaces": ns,
        "cgroupsPath": format!("/shim-test/{id}"),
    });
    if let Some(m) = o.memory {
        linux["resources"] = json!({"memory": {"limit": m, "swap": m}});
    }
    if o.docker_security {
        let caps: Vec<String> = spec::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        let profile =
            spec::seccomp_profile(spec::DEFAULT_PROFILE_JSON, &caps, std::env::consts::ARCH)
                .unwrap();
        linux["seccomp"] = serde_json::to_value(profile).unwrap();
    }
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.tty,
            "user": {"uid": 0, "gid": 0},
            "args": o.args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "shimtest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        ],
        "linux": linux,
    });
    if o.docker_security {
        config["process"]["capabilities"] = docker_caps();
    }
    let bundle = dir.path().join("bundle");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cfg = ShimConfig {
        id: id.clone(),
        bundle,
        runtime_root: dir.path().join("runtime"),
        tty: o.tty,
        open_stdin: o.open_stdin,
        stdin_once: o.stdin_once,
        exit_file: dir.path().join("exit.json"),
        log: proto::LogSpec {
            driver: "json-file".into(),
            path: dir.path().join("ctr-json.log"),
            container_name: "/test".into(),
            image_name: "busybox".into(),
            image_id: "sha256:00".into(),
            ..Default::default()
        },
    };
    std::fs::write(
        state.join(proto::CONFIG_FILE),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let log = std::fs::File::create(state.join(proto::LOG_FILE)).unwrap();
    // SHIM_TEST_RUNNER points at another build of the runner (e.g. release,
    // to measure memory).
    let runner = std::env::var_os("SHIM_TEST_RUNNER")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_shim-test-runner").into());
    let mut child = Command::new(runner)
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ready: Ready =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
    Harness {
        dir,
        id,
        state,
        cfg,
        child,
        stdout: Some(stdout),
        ready,
    }
}

impl Harness {
    fn pid(&self) -> i32 {
        match self.ready {
            Ready::Ok { pid } => pid,
            Ready::Err { ref error } => panic!("create failed: {error}"),
        }
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.state.join(proto::SOCKET_FILE)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// Sends a request; returns the stream and the reply.
    fn send(&self, req: Value) -> (UnixStream, BufReader<UnixStream>, Reply) {
        let mut s = self.connect();
        let mut line = serde_json::to_vec(&req).unwrap();
        line.push(b'\n');
        s.write_all(&line).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        let reply: Reply =
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("bad reply {reply:?}: {e}"));
        (s, r, reply)
    }

    fn ok(&self, req: Value) -> Reply {
        let (_, _, r) = self.send(req.clone());
        assert_eq!(r.error, None, "request {req}");
        r
    }

    fn start_wait(&self) -> UnixStream {
        let mut s = self.connect();
        s.write_all(b"{\"op\":\"wait\"}\n").unwrap();
        s
    }

    /// Waits for the shim to exit and returns its code.
    fn shim_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "shim did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.cfg.log.path).unwrap_or_default()
    }

    fn assert_clean(&mut self) {
        assert_eq!(self.shim_exit(), 0);
        assert!(!self.state.join(proto::SOCKET_FILE).exists());
        assert!(!self.state.join("console.sock").exists());
        assert!(!self.cfg.runtime_root.join(&self.id).exists());
        assert_eq!(cgroup_dirs(&self.id), Vec::<PathBuf>::new());
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Ready::Ok { pid } = self.ready {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for d in cgroup_dirs(&self.id) {
            let _ = std::fs::remove_dir(&d);
        }
        let _ = std::fs::remove_dir_all(self.cfg.runtime_root.join(&self.id));
        let _ = &self.dir;
    }
}

fn finish_wait(s: UnixStream) -> ExitStatus {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad wait line {line:?}: {e}"))
}

/// Reads frames until `pred` holds on (stdout, stderr) or the stream ends.
fn read_frames(
    r: &mut impl Read,
    mut pred: impl FnMut(&str, &str) -> bool,
) -> (String, String, Option<ExitStatus>) {
    let (mut out, mut err, mut exit) = (String::new(), String::new(), None);
    loop {
        let mut h = [0u8; 8];
        if r.read_exact(&mut h).is_err() {
            break;
        }
        let (kind, len) = proto::parse_frame_header(&h);
        let mut data = vec![0; len];
        r.read_exact(&mut data).unwrap();
        match kind {
            proto::FRAME_STDOUT => out.push_str(&String::from_utf8_lossy(&data)),
            proto::FRAME_STDERR => err.push_str(&String::from_utf8_lossy(&data)),
            proto::FRAME_EXIT => {
                exit = Some(serde_json::from_slice(&data).unwrap());
                break;
            }
            k => panic!("unexpected frame kind {k}"),
        }
        if pred(&out, &err) {
            break;
        }
    }
    (out, err, exit)
}

#[test]
fn output_goes_to_log_and_attach_and_exit_code_is_recorded() {
    let mut h = start(Opts {
        open_stdin: true,
        ..Opts::new(&["sh", "-c", "read x; echo out-$x; echo err >&2; exit 3"])
    });
    let pid = h.pid();
    assert!(pid > 0);
    let st = h.ok(json!({"op":"state"})).state.unwrap();
    assert_eq!(st.status, "created");
    let (mut s, mut r, _) = h.send(json!({"op":"attach","stdin":true,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    s.write_all(b"hello\n").unwrap();
    let (out, err, _) = read_frames(&mut r, |o, e| o.contains("out-hello") && e.contains("err"));
    assert_eq!(out, "out-hello\n");
    assert_eq!(err, "err\n");
    let st = finish_wait(w);
    assert_eq!(st.exit_code, 3);
    assert!(!st.oom_killed);
    let file = shim::exit_status_from_file(&h.cfg.exit_file)
        .unwrap()
        .unwrap();
    assert_eq!(file, st);
    // The attach stream ends after the exit.
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    let log = h.log_text();
    assert!(
        log.contains(r#""log":"out-hello\n","stream":"stdout""#),
        "{log}"
    );
    assert!(log.contains(r#""log":"err\n","stream":"stderr""#), "{log}");
    h.assert_clean();
}

#[test]
fn stdin_once_closes_stdin_when_the_attach_input_ends() {
    let mut h = start(Opts {
        open_stdin: true,
        stdin_once: true,
        ..Opts::new(&["cat"])
    });
    let (mut s, mut r, _) = h.send(json!({"op":"attach","stdin":true,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    s.write_all(b"abc\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _, _) = read_frames(&mut r, |o, _| o.contains("abc"));
    assert_eq!(out, "abc\n");
    assert_eq!(finish_wait(w).exit_code, 0);
    h.assert_clean();
}

#[test]
fn input_is_ignored_without_open_stdin() {
    let mut h = start(Opts::new(&["sh", "-c", "read x; echo got-$x; exit 4"]));
    let (mut s, mut r, _) =
        h.send(json!({"op":"attach","stdin":true,"stdout":true,"stderr":false}));
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    s.write_all(b"ignored\n").unwrap();
    let (out, _, _) = read_frames(&mut r, |o, _| o.contains('\n'));
    assert_eq!(out, "got-\n");
    assert_eq!(finish_wait(w).exit_code, 4);
    h.assert_clean();
}

#[test]
fn sigterm_gives_143_and_kill_after_exit_is_refused() {
    let mut h = start(Opts {
        pid_ns: false,
        ..Opts::new(&["sleep", "1000"])
    });
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    assert_eq!(h.ok(json!({"op":"state"})).state.unwrap().status, "running");
    // An idle connection, used after the exit (the shim serves it while it
    // flushes).
    let mut idle = h.connect();
    h.ok(json!({"op":"kill","signal":15}));
    let st = finish_wait(w);
    assert_eq!(st.exit_code, 143);
    idle.write_all(b"{\"op\":\"kill\",\"signal\":9}\n").unwrap();
    let mut line = String::new();
    BufReader::new(idle).read_line(&mut line).unwrap();
    let reply: Reply = serde_json::from_str(&line).unwrap();
    assert_eq!(reply.error.as_deref(), Some("container not running"));
    h.assert_clean();
}

#[test]
fn processes_left_by_the_init_die_with_or_without_a_pid_namespace() {
    for pid_ns in [false, true] {
        let mut h = start(Opts {
            pid_ns,
            ..Opts::new(&["sh", "-c", "sleep 1000 & echo $!; exit 3"])
        });
        let (_s, mut r, _) =
            h.send(json!({"op":"attach","stdin":false,"stdout":true,"stderr":true}));
        let w = h.start_wait();
        h.ok(json!({"op":"start"}));
        let (out, _, _) = read_frames(&mut r, |o, _| o.contains('\n'));
        assert_eq!(finish_wait(w).exit_code, 3, "pid_ns {pid_ns}");
        // Without a pid namespace the kernel leaves the sleep running (and
        // shows its pid as ours): the shim kills it at the exit.
        if !pid_ns {
            let pid: i32 = out.trim().parse().unwrap();
            let gone = |p: i32| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map(|s| {
                        s.rsplit(')')
                            .next()
                            .unwrap_or("")
                            .trim_start()
                            .starts_with('Z')
                    })
                    .unwrap_or(true)
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while !gone(pid) {
                assert!(Instant::now() < deadline, "leftover sleep {pid} still runs");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        h.assert_clean();
    }
}

#[test]
fn tty_output_and_resize() {
    let mut h = start(Opts {
        tty: true,
        open_stdin: true,
        ..Opts::new(&["sh", "-c", "stty size; read x; stty size; exit 0"])
    });
    h.ok(json!({"op":"resize","height":30,"width":90}));
    let (mut s, mut r, _) = h.send(json!({"op":"attach","stdin":true,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    let (out, _, _) = read_frames(&mut r, |o, _| o.contains("30 90"));
    assert!(out.contains("30 90"), "{out:?}");
    h.ok(json!({"op":"resize","height":40,"width":100}));
    s.write_all(b"\n").unwrap();
    let (out, _, _) = read_frames(&mut r, |o, _| o.contains("40 100"));
    assert!(out.contains("40 100"), "{out:?}");
    assert_eq!(finish_wait(w).exit_code, 0);
    let log = h.log_text();
    assert!(log.contains("30 90"), "{log}");
    assert!(!log.contains("\"stderr\""), "{log}");
    h.assert_clean();
}

/// Docker's default capability sets.
fn docker_caps() -> Value {
    let caps = spec::DEFAULT_CAPS;
    json!({"bounding": caps, "effective": caps, "permitted": caps})
}

/// The status fields of `cat /proc/self/status` output.
fn status_fields(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| {
            [
                "Seccomp",
                "Seccomp_filters",
                "CapEff",
                "CapPrm",
                "CapBnd",
                "NoNewPrivs",
            ]
            .contains(k)
        })
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn docker_seccomp_and_capabilities_for_the_init_and_every_exec() {
    // Docker's default capabilities, as /proc shows them.
    const CAPS: &str = "00000000a80425fb";
    let mut h = start(Opts {
        docker_security: true,
        ..Opts::new(&["sh", "-c", "cat /proc/self/status; exec sleep 1000"])
    });
    let (_s, mut r, _) = h.send(json!({"op":"attach","stdin":false,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    let (out, _, _) = read_frames(&mut r, |o, _| {
        o.contains("NoNewPrivs") && o.contains("Seccomp_filters")
    });
    let init = status_fields(&out);
    assert_eq!(init["Seccomp"], "2", "{out}");
    assert_eq!(init["Seccomp_filters"], "1", "{out}");
    assert_eq!(init["CapEff"], CAPS);
    assert_eq!(init["CapPrm"], CAPS);
    assert_eq!(init["CapBnd"], CAPS);
    assert_eq!(init["NoNewPrivs"], "0");
    // libcontainer got the spec without the profile; the engine's bundle
    // is untouched.
    let rt: Value =
        serde_json::from_slice(&std::fs::read(h.state.join("runtime-bundle/config.json")).unwrap())
            .unwrap();
    assert!(rt["linux"].get("seccomp").is_none(), "{rt}");
    let ours: Value =
        serde_json::from_slice(&std::fs::read(h.cfg.bundle.join("config.json")).unwrap()).unwrap();
    assert!(ours["linux"].get("seccomp").is_some());

    // An exec gets the same filter and capabilities (libcontainer alone
    // would give it no filter).
    let mut p = process(&["cat", "/proc/self/status"], false);
    p["capabilities"] = docker_caps();
    let (_s, mut r, reply) = h.send(json!({
        "op":"exec","exec_id":"sec1","stdin":false, "process": p,
    }));
    assert_eq!(reply.error, None);
    let (out, _, exit) = read_frames(&mut r, |_, _| false);
    assert_eq!(exit.unwrap().exit_code, 0);
    assert_eq!(status_fields(&out), init, "{out}");

    // Denied by the profile, not by capabilities: `unshare -U` (a user
    // namespace needs no capability; Docker's profile refuses unshare
    // without CAP_SYS_ADMIN).
    let mut p = process(&["unshare", "-U", "true"], false);
    p["capabilities"] = docker_caps();
    let (_s, mut r, _) = h.send(json!({
        "op":"exec","exec_id":"sec2","stdin":false, "process": p,
    }));
    let (_, err, exit) = read_frames(&mut r, |_, _| false);
    assert_ne!(exit.unwrap().exit_code, 0, "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");

    let w = h.start_wait();
    h.ok(json!({"op":"kill","signal":9}));
    assert_eq!(finish_wait(w).exit_code, 137);
    h.assert_clean();
}

fn process(args: &[&str], terminal: bool) -> Value {
    json!({
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/bin"],
        "cwd": "/",
    })
}

#[test]
fn exec_streams_output_and_exit_code_and_pss_is_small() {
    let mut h = start(Opts::new(&["sleep", "1000"]));
    h.ok(json!({"op":"start"}));
    let (_s, mut r, reply) = h.send(json!({
        "op":"exec","exec_id":"e1","stdin":false,
        "process": process(&["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"], false),
    }));
    assert_eq!(reply.error, None);
    assert!(reply.pid.unwrap() > 0);
    let (out, err, exit) = read_frames(&mut r, |_, _| false);
    assert_eq!(out, "exec-out\n");
    assert_eq!(err, "exec-err\n");
    assert_eq!(exit.unwrap().exit_code, 5);
    assert!(!h.state.join("exec-e1.json").exists());

    // With a tty.
    let (_s, mut r, reply) = h.send(json!({
        "op":"exec","exec_id":"e2","stdin":false,
        "process": process(&["sh", "-c", "tty; exit 2"], true),
    }));
    assert_eq!(reply.error, None);
    let (out, _, exit) = read_frames(&mut r, |_, _| false);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert_eq!(exit.unwrap().exit_code, 2);

    // The workload gets a clean signal state (the shim blocks and ignores some).
    let (_s, mut r, _) = h.send(json!({
        "op":"exec","exec_id":"e5","stdin":false,
        "process": process(&["cat", "/proc/self/status"], false),
    }));
    let (out, _, _) = read_frames(&mut r, |_, _| false);
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");

    // With stdin: the connection's input, then its end of file.
    let (mut s, mut r, reply) = h.send(json!({
        "op":"exec","exec_id":"e4","stdin":true,
        "process": process(&["cat"], false),
    }));
    assert_eq!(reply.error, None);
    s.write_all(b"to-exec\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _, exit) = read_frames(&mut r, |_, _| false);
    assert_eq!(out, "to-exec\n");
    assert_eq!(exit.unwrap().exit_code, 0);

    // An exec whose connection goes away keeps running and is reaped.
    let (s, _r, reply) = h.send(json!({
        "op":"exec","exec_id":"e3","stdin":false,
        "process": process(&["sh", "-c", "sleep 0.3; echo late"], false),
    }));
    let epid = reply.pid.unwrap();
    drop(s);
    drop(_r);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{epid}")).exists() {
        assert!(Instant::now() < deadline, "exec not reaped");
        std::thread::sleep(Duration::from_millis(50));
    }

    let shim_pid = h.child.id();
    let rollup = std::fs::read_to_string(format!("/proc/{shim_pid}/smaps_rollup")).unwrap();
    let field = |name: &str| -> u64 {
        rollup
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse().ok())
            .unwrap()
    };
    let (pss, anon, rss) = (field("Pss:"), field("Pss_Anon:"), field("Rss:"));
    eprintln!("shim memory with a running container: Pss {pss} kB (anon {anon} kB), Rss {rss} kB");
    print_big_mappings(shim_pid);
    // The file-backed part is the binary, shared with the daemon and every
    // other shim in production; the anonymous part is the shim's own.
    assert!(anon < 1536, "shim anonymous PSS {anon} kB");

    let w = h.start_wait();
    h.ok(json!({"op":"kill","signal":9}));
    assert_eq!(finish_wait(w).exit_code, 137);
    h.assert_clean();
}

#[test]
fn missing_command_is_reported_like_docker_and_nothing_is_left() {
    let mut h = start(Opts::new(&["no-such-command"]));
    match &h.ready {
        Ready::Err { error } => assert!(
            error.contains(r#"exec: "no-such-command": executable file not found in $PATH"#),
            "{error}"
        ),
        r => panic!("unexpected {r:?}"),
    }
    assert_eq!(h.shim_exit(), 1);
    assert!(!h.state.join(proto::SOCKET_FILE).exists());
    assert!(!h.state.join("console.sock").exists());
    assert!(!h.cfg.runtime_root.join(&h.id).exists());
    assert_eq!(cgroup_dirs(&h.id), Vec::<PathBuf>::new());
}

#[test]
fn oom_kill_is_reported() {
    let mut h = start(Opts {
        memory: Some(8 * 1024 * 1024),
        ..Opts::new(&["sh", "-c", "x=a; while true; do x=$x$x; done"])
    });
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    let st = finish_wait(w);
    assert!(st.oom_killed, "{st:?}");
    assert_eq!(st.exit_code, 137);
    h.assert_clean();
}

#[test]
fn daemon_disconnect_and_signals_do_not_stop_the_container() {
    let mut h = start(Opts::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 15 ]; do echo line-$i; i=$((i+1)); sleep 0.1; done; exit 7",
    ]));
    let (s, r, _) = h.send(json!({"op":"attach","stdin":false,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    let w = h.start_wait();
    // The daemon goes away: its attach stream, its end of the shim's stdout,
    // and a signal to the shim (as if its process group were signalled).
    drop(s);
    drop(r);
    drop(h.stdout.take());
    let shim_pid = h.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &shim_pid])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("kill")
        .args(["-INT", &shim_pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(200));
    assert!(h.child.try_wait().unwrap().is_none(), "shim died");
    assert_eq!(finish_wait(w).exit_code, 7);
    assert!(h.log_text().contains("line-14"));
    h.assert_clean();
}

#[test]
fn malformed_request_gets_an_error() {
    let h = start(Opts::new(&["sleep", "1000"]));
    let mut s = h.connect();
    s.write_all(b"{\"op\":\"fly\"}\n").unwrap();
    let mut line = String::new();
    let mut r = BufReader::new(s);
    r.read_line(&mut line).unwrap();
    let reply: Reply = serde_json::from_str(&line).unwrap();
    assert!(reply.error.unwrap().contains("malformed request"));
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

/// Prints the mappings that hold more than 64 kB of PSS.
fn print_big_mappings(pid: u32) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut head = "";
    for l in smaps.lines() {
        if l.split_whitespace().next().is_some_and(|f| f.contains('-')) {
            head = l;
        } else if let Some(v) = l.strip_prefix("Anonymous:") {
            let kb: u64 = v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
            if kb >= 8 {
                eprintln!("  anon {kb:>6} kB  {head}");
            }
        }
    }
}

#[test]
fn a_slow_attach_client_slows_the_container_and_loses_nothing() {
    let mut h = start(Opts::new(&[
        "sh",
        "-c",
        "yes abcdefghi | head -c 3000000; echo done",
    ]));
    let (_s, mut r, _) = h.send(json!({"op":"attach","stdin":false,"stdout":true,"stderr":true}));
    h.ok(json!({"op":"start"}));
    std::thread::sleep(Duration::from_millis(1500));
    // Blocked on its output: still running.
    assert_eq!(h.ok(json!({"op":"state"})).state.unwrap().status, "running");
    let w = h.start_wait();
    let (out, err, _) = read_frames(&mut r, |_, _| false);
    assert_eq!(out.len(), 3_000_000 + 5);
    assert!(out.ends_with("i\ndone\n"));
    // `yes` died of SIGPIPE quietly: the workload's signals are reset.
    assert_eq!(err, "");
    assert_eq!(finish_wait(w).exit_code, 0);
    let lines = h.log_text().lines().count();
    assert_eq!(lines, 300_000 + 1);
    h.assert_clean();
}
