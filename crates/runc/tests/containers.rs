#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real containers (needs root, cgroup v1/hybrid, /bin/busybox static). The applet is run
//! as a subprocess (`runc-test`) so libcontainer's clone never happens in the
//! multi-threaded test harness.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_runc-test");

struct Env {
    dir: PathBuf,
    root: PathBuf,
    bundle: PathBuf,
    cgroup_parent: String,
    ids: Vec<String>,
}

impl Env {
    fn new(name: &str) -> Option<Self> {
        if !nix::unistd::Uid::effective().is_root() || !Path::new("/bin/busybox").exists() {
            eprintln!("skipping: needs root and /bin/busybox");
            return None;
        }
        let tag = format!("runc-it-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for a in ["sh", "sleep", "cat", "echo", "id", "true", "false"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        let env = Self {
            root: dir.join("state"),
            dir,
            bundle,
            cgroup_parent: tag,
            ids: Vec::new(),
        };
        let out = Command::new(BIN)
            .arg("spec")
            .current_dir(&env.bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "spec: {out:?}");
        Some(env)
    }

    fn id(&mut self, base: &str) -> String {
        let id = format!("{base}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    fn config(&self, id: &str, args: &[&str]) {
        let p = self.bundle.join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = args.iter().map(|s| s.to_string()).collect();
        c["linux"]["cgroupsPath"] = format!("/{}/{id}", self.cgroup_parent).into();
        std::fs::write(&p, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    fn runc(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// For commands whose container inherits our stdio (create, run -d): pipes would
    /// stay open as long as the container lives, so give it a file instead.
    fn runc_detached(&self, args: &[&str]) -> std::process::ExitStatus {
        let log = self.dir.join("detached.out");
        let f = std::fs::File::create(&log).unwrap();
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        status
    }

    fn bundle(&self) -> &str {
        self.bundle.to_str().unwrap()
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.runc(&["state", id]);
        assert!(out.status.success(), "state: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait_status(&self, id: &str, want: &str) -> serde_json::Value {
        for _ in 0..100 {
            let s = self.state(id);
            if s["status"] == want {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{id} never reached {want}");
    }

    /// Asserts nothing is left: state dir, cgroup dirs, mounts.
    fn assert_clean(&self) {
        for id in &self.ids {
            assert!(!self.root.join(id).exists(), "state dir of {id} left");
        }
        for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
            let d = entry.unwrap().path().join(&self.cgroup_parent);
            assert!(!d.exists(), "cgroup dir left: {}", d.display());
        }
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mi.contains(self.bundle.to_str().unwrap()),
            "mount of the bundle left"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.runc(&["delete", "--force", id]);
        }
        for entry in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten() {
            let d = entry.unwrap().path().join(&self.cgroup_parent);
            for id in &self.ids {
                let _ = std::fs::remove_dir(d.join(id));
            }
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn run_returns_the_container_exit_code() {
    let Some(mut env) = Env::new("run") else {
        return;
    };
    let id = env.id("run");
    env.config(&id, &["sh", "-c", "echo hello; exit 3"]);
    let out = env.runc(&["run", "-b", env.bundle(), &id]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    env.assert_clean();
}

#[test]
fn create_start_state_kill_delete_sequence() {
    let Some(mut env) = Env::new("life") else {
        return;
    };
    let id = env.id("life");
    env.config(&id, &["sleep", "1000"]);
    assert!(env
        .runc_detached(&["create", "--bundle", env.bundle(), &id])
        .success());

    let s = env.state(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["ociVersion"], "1.0.2-dev");
    assert_eq!(s["bundle"], env.bundle());
    assert_eq!(s["rootfs"], format!("{}/rootfs", env.bundle()));
    assert_eq!(s["owner"], "");
    assert!(s["pid"].as_i64().unwrap() > 0);
    assert!(s["created"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");

    let out = env.runc(&["start", &id]);
    assert!(out.status.success(), "{out:?}");
    let s = env.state(&id);
    assert_eq!(s["status"], "running");
    let pid = s["pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    let out = env.runc(&["start", &id]);
    assert_eq!(out.status.code(), Some(1));

    let out = env.runc(&["delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("that is not stopped: running"));

    let out = env.runc(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "{out:?}");
    let s = env.wait_status(&id, "stopped");
    assert_eq!(s["pid"], 0);

    let out = env.runc(&["delete", &id]);
    assert!(out.status.success(), "{out:?}");
    let out = env.runc(&["state", &id]);
    assert_eq!(out.status.code(), Some(1));
    env.assert_clean();
}

#[test]
fn exec_list_ps_pause_resume_and_force_delete() {
    let Some(mut env) = Env::new("exec") else {
        return;
    };
    let id = env.id("exec");
    env.config(&id, &["sleep", "1000"]);
    assert!(env
        .runc_detached(&["run", "-d", "-b", env.bundle(), &id])
        .success());
    env.wait_status(&id, "running");

    let out = env.runc(&[
        "exec",
        "-e",
        "X=42",
        &id,
        "sh",
        "-c",
        "echo $X; id -u; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n0\n");
    let out = env.runc(&["exec", "--user", "1000:1000", &id, "id"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("uid=1000 gid=1000"));

    let out = env.runc(&["list"]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID"), "{table}");
    for col in ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col));
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id) && row.contains("running") && row.ends_with("root"));
    let out = env.runc(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["owner"], "root");
    let out = env.runc(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{id}\n"));

    let init = env.state(&id)["pid"].as_i64().unwrap();
    let out = env.runc(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![init]);
    let out = env.runc(&["ps", &id]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.lines().next().unwrap().contains("PID"));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("sleep 1000"));

    assert!(env.runc(&["pause", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "paused");
    let out = env.runc(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(env.runc(&["resume", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "running");

    let out = env.runc(&["delete", "--force", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !Path::new(&format!("/proc/{init}/cgroup")).exists() || {
            // pid may be reused by an unrelated process; it must not be our sleep
            std::fs::read_to_string(format!("/proc/{init}/cmdline"))
                .map(|c| !c.contains("sleep"))
                .unwrap_or(true)
        }
    );
    env.assert_clean();
}

#[test]
fn unknown_container_reports_runc_error() {
    let Some(env) = Env::new("unknown") else {
        return;
    };
    for cmd in [
        vec!["state", "nope"],
        vec!["kill", "nope"],
        vec!["start", "nope"],
        vec!["delete", "nope"],
    ] {
        let out = env.runc(&cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("level=error msg=\"container does not exist\""),
            "{err}"
        );
    }
    let log = env.dir.join("log.json");
    let out = Command::new(BIN)
        .args(["--root", env.root.to_str().unwrap(), "--log"])
        .arg(&log)
        .args(["--log-format", "json", "state", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "container does not exist\n"
    );
    let line: serde_json::Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
    assert_eq!(env.runc(&["delete", "-f", "nope"]).status.code(), Some(0));
}
