//! A real Docker daemon (`dockerd` 20.10, Debian's docker.io) for
//! compatibility tests: started on a data root the test owns, with a
//! private socket, exec root, pid file and an empty config file, and never
//! touching the host network (no bridge, no iptables, no forwarding).
//! Stopped by its own pid (SIGTERM, then waited for, so it unmounts what it
//! mounted) on `stop` or drop; any mount it left under its paths is
//! unmounted. Nothing else is ever signalled.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Daemon;

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// The `dockerd` binary, when installed.
pub fn dockerd_bin() -> Option<PathBuf> {
    which(&["dockerd"])
}

/// A `docker` client (any version that speaks API 1.41).
pub fn docker_bin() -> Option<PathBuf> {
    which(&["docker"])
}

impl Daemon {
    /// Paths only, like [`Daemon::new`], but on an existing data root (one
    /// a dockerd wrote, say) that outlives this handle.
    pub fn on_data_root(data_root: &Path) -> Self {
        let mut d = Daemon::new();
        d.data_root = data_root.to_path_buf();
        d
    }

    /// Stops the daemon with SIGTERM and waits until it has exited.
    pub fn stop_and_wait(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let code = self.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(0), "daemon did not stop: {}", self.log_text());
    }
}

pub struct Dockerd {
    /// Socket, exec root, pid file, config and log (not the data root).
    pub dir: tempfile::TempDir,
    pub data_root: PathBuf,
    pub socket: PathBuf,
    docker: PathBuf,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts dockerd on `data_root` and waits until it answers. `Err` is
    /// the reason it cannot run here (not installed, no docker client,
    /// failed to start), for the caller to print as a SKIP.
    pub fn start(data_root: &Path) -> Result<Dockerd, String> {
        let Some(bin) = dockerd_bin() else {
            return Err("dockerd is not installed".into());
        };
        let Some(docker) = docker_bin() else {
            return Err("no docker client installed".into());
        };
        if !nix::unistd::geteuid().is_root() {
            return Err("dockerd needs root".into());
        }
        // Short: containerd's sockets live under the exec root and a unix
        // socket path holds at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("be-dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, "{}").unwrap();
        let socket = dir.path().join("d.sock");
        let log_path = dir.path().join("dockerd.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&bin)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(data_root)
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("--config-file")
            .arg(&config)
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--storage-driver=overlay2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut d = Dockerd {
            dir,
            data_root: data_root.to_path_buf(),
            socket,
            docker,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = d.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                d.child = None;
                return Err(format!(
                    "dockerd exited at start with {st}: {}",
                    tail(&d.log_text(), 2000)
                ));
            }
            if d.socket.exists() && d.docker(&["version"]).status.success() {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dockerd not ready after 60 s: {}",
                    tail(&d.log_text(), 2000)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Runs the docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs the docker client and returns its stdout, failing the test
    /// (with dockerd's log) when it does not succeed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}{}\ndockerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log_text(), 4000)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGTERM and wait (dockerd stops its containerd and unmounts its
    /// layers on the way out), then unmount anything still mounted under
    /// our paths.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for p in [self.data_root.clone(), self.dir.path().to_path_buf()] {
            unmount_under(&p);
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Unmounts (lazily, deepest first) every mount point under `dir`.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// The layer tars of a `docker save` archive, in manifest order.
pub fn saved_layers(archive: &[u8]) -> (serde_json::Value, Vec<Vec<u8>>) {
    let mut files = std::collections::HashMap::new();
    let mut ar = tar::Archive::new(archive);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        files.insert(name, v);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(files.get("manifest.json").expect("no manifest.json")).unwrap();
    let layers = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| files.remove(l.as_str().unwrap()).expect("layer missing"))
        .collect();
    (manifest, layers)
}

/// The `docker` client on PATH, for tests that drive our daemon with it
/// (they skip, saying so, when there is none).
pub fn docker_client() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|p| p.join("docker"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Daemon {
    /// Runs the `docker` client `docker` against this daemon's socket,
    /// with a private config dir and no pinned API version: (exit code,
    /// stdout, stderr).
    pub fn run_docker(&self, docker: &str, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(docker)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}
