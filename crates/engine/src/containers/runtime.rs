//! Running containers through their shims: start, stop, kill, wait,
//! remove, attach streams, exit handling, and restore after a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::container::WaitResponse;
use shim::proto::{self, ExitStatus, Ready, Reply, Request, ShimConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::record::{Record, Status};
use super::{lock, now_rfc3339, Containers, Ctr, Snap};
use crate::EngineError;

/// How long a shim may take to create a container.
const SHIM_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A stream that arrives when the container starts (`None`: it will not).
pub type AttachFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<ShimStream>, EngineError>> + Send>,
>;

/// Which streams an attach wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOpts {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// An attach waiting for the container to start.
#[derive(Debug)]
pub struct PendingAttach {
    opts: AttachOpts,
    tx: tokio::sync::oneshot::Sender<Result<ShimStream, EngineError>>,
}

/// A connection to a shim after its reply line.
#[derive(Debug)]
pub struct ShimStream {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

fn shim_err(msg: impl std::fmt::Display) -> EngineError {
    EngineError::Conflict(format!("container shim: {msg}"))
}

/// Connects to a shim's socket. `sun_path` holds 107 bytes and
/// `<exec-root>/containers/<64-hex id>/shim.sock` takes 85 of them, so long
/// exec roots go through the directory: `/proc/self/fd/N/shim.sock` (the
/// shim binds through its directory too).
async fn connect(sock: &Path) -> std::io::Result<UnixStream> {
    use std::os::fd::AsRawFd;
    const SUN_PATH_MAX: usize = 107;
    let (Some(dir), Some(name)) = (sock.parent(), sock.file_name()) else {
        return UnixStream::connect(sock).await;
    };
    if sock.as_os_str().len() <= SUN_PATH_MAX {
        return UnixStream::connect(sock).await;
    }
    let d = std::fs::File::open(dir)?;
    let via = Path::new("/proc/self/fd")
        .join(d.as_raw_fd().to_string())
        .join(name);
    let s = UnixStream::connect(&via).await;
    drop(d);
    s
}

/// Connects to a shim and sends one request; returns the reply and the
/// connection (for streams).
pub async fn shim_call(sock: &Path, req: &Request) -> Result<(Reply, ShimStream), EngineError> {
    let s = connect(sock)
        .await
        .map_err(|e| shim_err(format!("connect {}: {e}", sock.display())))?;
    let (r, mut w) = s.into_split();
    let mut line = serde_json::to_vec(req).map_err(shim_err)?;
    line.push(b'\n');
    w.write_all(&line).await.map_err(shim_err)?;
    let mut reader = BufReader::new(r);
    let mut reply = String::new();
    reader.read_line(&mut reply).await.map_err(shim_err)?;
    if reply.is_empty() {
        return Err(shim_err("closed the connection"));
    }
    let reply: Reply = serde_json::from_str(&reply).map_err(shim_err)?;
    if let Some(e) = &reply.error {
        return Err(EngineError::Conflict(e.clone()));
    }
    Ok((reply, ShimStream { reader, writer: w }))
}

/// Waits for the exit line of a `wait` request.
async fn shim_wait(sock: &Path) -> Result<ExitStatus, EngineError> {
    let s = connect(sock)
        .await
        .map_err(|e| shim_err(format!("connect {}: {e}", sock.display())))?;
    let (r, mut w) = s.into_split();
    let mut line = serde_json::to_vec(&Request::Wait).map_err(shim_err)?;
    line.push(b'\n');
    w.write_all(&line).await.map_err(shim_err)?;
    let mut reader = BufReader::new(r);
    let mut reply = String::new();
    reader.read_line(&mut reply).await.map_err(shim_err)?;
    serde_json::from_str(&reply).map_err(|e| shim_err(format!("wait: {e}")))
}

/// `hostname`, `hosts` and `resolv.conf` for the container, as Docker
/// writes them: at create without addresses, at start with the
/// container's own address, `--add-host` and `--link` entries, and the
/// embedded DNS server on user-defined networks.
pub fn write_etc_files(
    rec: &Record,
    networks: Option<&crate::networks::Networks>,
) -> Result<(), EngineError> {
    let host_net = rec.host_config.network_mode == "host";
    let hostname = rec.config.hostname.clone().unwrap_or_default();
    let w = |p: &Path, data: &[u8]| {
        std::fs::write(p, data).map_err(|source| EngineError::Io {
            op: "write",
            path: p.to_path_buf(),
            source,
        })
    };
    w(&rec.hostname_path, format!("{hostname}\n").as_bytes())?;
    let hosts = if host_net {
        std::fs::read("/etc/hosts").unwrap_or_default()
    } else {
        let mut h = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for e in rec.host_config.extra_hosts.iter().flatten() {
            if let Some((name, ip)) = e.split_once(':') {
                h.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        if let Some(nets) = networks {
            // Legacy links on the default bridge: "ip\talias id name".
            for l in rec.host_config.links.iter().flatten() {
                let (target, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                if let Some((ip, id)) = nets.bridge_ip_of(target) {
                    let short = &id[..12.min(id.len())];
                    if alias == target {
                        h.push_str(&format!("{ip}\t{alias} {short}\n"));
                    } else {
                        h.push_str(&format!("{ip}\t{alias} {short} {target}\n"));
                    }
                }
            }
        }
        let primary = if rec.host_config.network_mode == "default" {
            "bridge"
        } else {
            rec.host_config.network_mode.as_str()
        };
        if let Some(ip) = rec
            .networks
            .get(primary)
            .map(|s| s.ip_address.as_str())
            .filter(|s| !s.is_empty())
        {
            match rec.config.domainname.as_deref().filter(|d| !d.is_empty()) {
                Some(d) => h.push_str(&format!("{ip}\t{hostname}.{d} {hostname}\n")),
                None => h.push_str(&format!("{ip}\t{hostname}\n")),
            }
        }
        h.into_bytes()
    };
    w(&rec.hosts_path, &hosts)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let embedded = networks.is_some_and(|n| n.uses_embedded_dns(rec));
    let text = if embedded {
        embedded_resolv_conf(&host_resolv, &rec.host_config)
    } else {
        resolv_conf(&host_resolv, host_net, &rec.host_config)
    };
    w(&rec.resolv_conf_path, text.as_bytes())
}

/// Docker's resolv.conf on user-defined networks: the embedded server,
/// the host's (or `--dns-search`) search domains, `ndots:0` plus the
/// host's (or `--dns-option`) options.
pub fn embedded_resolv_conf(host: &str, h: &api::container::HostConfig) -> String {
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("search") | Some("domain") => search = f.map(str::to_string).collect(),
            Some("options") => options.extend(f.map(str::to_string)),
            _ => {}
        }
    }
    if !h.dns_search.is_empty() {
        search = h.dns_search.iter().filter(|s| *s != ".").cloned().collect();
    }
    if !h.dns_options.is_empty() {
        options = h.dns_options.clone();
    }
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str("nameserver 127.0.0.11\n");
    out.push_str(&format!("options {}\n", options.join(" ")));
    out
}

/// Docker's resolv.conf for a container: the host's, without loopback
/// nameservers (unless on the host network), with Google's as the fallback,
/// and `--dns`, `--dns-search`, `--dns-option` replacing the host's.
pub fn resolv_conf(host: &str, host_net: bool, h: &api::container::HostConfig) -> String {
    let mut ns: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                if let Some(a) = f.next() {
                    let local = a.starts_with("127.") || a == "::1";
                    if host_net || !local {
                        ns.push(a.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = f.map(str::to_string).collect(),
            Some("options") => options.extend(f.map(str::to_string)),
            _ => {}
        }
    }
    if !h.dns.is_empty() {
        ns = h.dns.clone();
    }
    if !h.dns_search.is_empty() {
        search = h.dns_search.iter().filter(|s| *s != ".").cloned().collect();
    }
    if !h.dns_options.is_empty() {
        options = h.dns_options.clone();
    }
    if ns.is_empty() {
        ns = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for n in ns {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Parses a signal: a number, `KILL`, or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 && n <= 64 {
            return Ok(n);
        }
        return Err(EngineError::InvalidArgument(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| EngineError::InvalidArgument(format!("Invalid signal: {s}")))
}

fn stop_signal(rec: &Record) -> i32 {
    rec.config
        .stop_signal
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(libc::SIGTERM)
}

fn exit_from_start_error(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("cannot execute") {
        126
    } else {
        128
    }
}

impl Containers {
    fn state_dir(&self, id: &str) -> PathBuf {
        self.settings.exec_root.join(id)
    }

    fn socket(&self, id: &str) -> PathBuf {
        self.state_dir(id).join(proto::SOCKET_FILE)
    }

    fn exit_file(&self, id: &str) -> PathBuf {
        self.dir(id).join("exit.json")
    }

    /// Prepares the bundle and shim config. Blocking.
    fn prepare(&self, rec: &Record) -> Result<PathBuf, EngineError> {
        let id = &rec.id;
        let rootfs = self.store.mount_rw(id)?;
        let sd = self.state_dir(id);
        let _ = std::fs::remove_dir_all(&sd);
        let _ = std::fs::remove_dir_all(self.settings.runtime_root.join(id));
        let _ = std::fs::remove_file(self.exit_file(id));
        let bundle = sd.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(|source| EngineError::Io {
            op: "create directory",
            path: bundle.clone(),
            source,
        })?;
        write_etc_files(rec, Some(&self.networks))?;
        self.mount_volumes(rec, &rootfs)?;
        let spec = super::specmap::build(rec, &rootfs, &self.settings, Some(self))?;
        let cfg_path = bundle.join("config.json");
        let json = serde_json::to_vec(&spec)
            .map_err(|e| EngineError::Corrupt(format!("encode OCI spec: {e}")))?;
        std::fs::write(&cfg_path, json).map_err(|source| EngineError::Io {
            op: "write",
            path: cfg_path,
            source,
        })?;
        let h = &rec.host_config;
        let sc = ShimConfig {
            id: id.clone(),
            bundle: bundle.clone(),
            runtime_root: self.settings.runtime_root.clone(),
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
            exit_file: self.exit_file(id),
            log: proto::LogSpec {
                driver: h.log_config.kind.clone(),
                opts: h.log_config.config.clone(),
                path: rec.log_path.clone(),
                container_name: rec.name.trim_start_matches('/').to_string(),
                image_name: rec.config.image.clone().unwrap_or_default(),
                image_id: rec.image.clone(),
                labels: rec.config.labels.clone().unwrap_or_default(),
                env: rec.config.env.clone().unwrap_or_default(),
            },
        };
        let p = sd.join(proto::CONFIG_FILE);
        let json = serde_json::to_vec(&sc)
            .map_err(|e| EngineError::Corrupt(format!("encode shim config: {e}")))?;
        std::fs::write(&p, json).map_err(|source| EngineError::Io {
            op: "write",
            path: p,
            source,
        })?;
        Ok(sd)
    }

    /// Undoes `prepare` after a failed start or an exit. Blocking.
    fn teardown(&self, id: &str) {
        if let Err(e) = self.store.unmount_rw(id) {
            tracing::warn!(container = id, error = %e, "unmount rootfs");
        }
        let _ = std::fs::remove_dir_all(self.state_dir(id));
    }

    /// Undoes `prepare` and the container's networking; clears the run's
    /// addresses from its record.
    async fn teardown_all(self: &Arc<Self>, c: &Arc<Ctr>) {
        let this = self.clone();
        let rec = c.record();
        let id = c.id.clone();
        let nets = self.networks.clone();
        let rec2 = rec.clone();
        let t0 = std::time::Instant::now();
        let _ = tokio::task::spawn_blocking(move || {
            this.teardown(&id);
            this.unmount_volumes(&rec2);
            let t1 = std::time::Instant::now();
            nets.teardown(&rec2);
            t1.elapsed()
        })
        .await
        .map(|net| {
            tracing::debug!(container = %c.id, micros = t0.elapsed().as_micros() as u64,
                network_micros = net.as_micros() as u64, "torn down");
        });
        self.networks
            .endpoint_events("disconnect", &rec.id, &rec.networks);
        let _ = c.update(&self.settings.root, |r| {
            r.networks = crate::networks::Networks::cleared(&r.networks);
            r.net = Default::default();
        });
    }

    async fn spawn_shim(&self, state_dir: &Path) -> Result<i32, EngineError> {
        let exe = match &self.shim_exe {
            Some(e) => e.path(),
            None => std::env::current_exe().map_err(|source| EngineError::Io {
                op: "find executable",
                path: PathBuf::from("/proc/self/exe"),
                source,
            })?,
        };
        let log_path = state_dir.join(proto::LOG_FILE);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| EngineError::Io {
                op: "open",
                path: log_path,
                source,
            })?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg0(proto::SHIM_ARGV0)
            .arg(state_dir)
            .env_clear()
            .env("PATH", super::create::DEFAULT_PATH)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().map_err(|source| EngineError::Io {
            op: "start shim",
            path: state_dir.to_path_buf(),
            source,
        })?;
        let stdout = child.stdout.take();
        // The shim stays our child until it exits; reap it then.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let Some(stdout) = stdout else {
            return Err(shim_err("no stdout"));
        };
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        let read = stdout.read_line(&mut line);
        match tokio::time::timeout(SHIM_READY_TIMEOUT, read).await {
            Err(_) => Err(shim_err("timed out creating the container")),
            Ok(Err(e)) => Err(shim_err(e)),
            Ok(Ok(0)) => {
                let log =
                    std::fs::read_to_string(state_dir.join(proto::LOG_FILE)).unwrap_or_default();
                Err(shim_err(format!(
                    "exited before the container was created: {}",
                    log.lines().last().unwrap_or("")
                )))
            }
            Ok(Ok(_)) => match serde_json::from_str::<Ready>(&line) {
                Ok(Ready::Ok { pid }) => Ok(pid),
                Ok(Ready::Err { error }) => Err(EngineError::InvalidArgument(format!(
                    "OCI runtime create failed: {error}: unknown"
                ))),
                Err(e) => Err(shim_err(format!("bad ready line: {e}"))),
            },
        }
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let res = {
            let _op = c.op.lock().await;
            if !c.record().is_running() {
                self.reset_restarts(&c);
            }
            self.start_locked(&c).await
        };
        // Docker removes an AutoRemove container whose start failed (a
        // `run --rm` client waits for that).
        if matches!(&res, Err(e) if !matches!(e, EngineError::NotModified))
            && c.record().host_config.auto_remove
        {
            if let Err(e) = self.remove(&c.id, true, true).await {
                tracing::warn!(container = %c.id, error = %e, "auto-remove after a failed start");
            }
        }
        res
    }

    pub(super) async fn start_locked(self: &Arc<Self>, c: &Arc<Ctr>) -> Result<(), EngineError> {
        let rec = c.record();
        match rec.state.status {
            Status::Running | Status::Paused => return Err(EngineError::NotModified),
            Status::Removing | Status::Dead => {
                return Err(EngineError::Conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ))
            }
            _ => {}
        }
        // The container's first cgroup move waits for a kernel grace period
        // (~10 ms); start it now, while the bundle is prepared and the shim
        // starts (shim::prime_cgroup_moves).
        drop(tokio::task::spawn_blocking(shim::prime_cgroup_moves));
        // Networking first: the spec names the namespace it makes.
        let nets = self.networks.clone();
        let rec2 = rec.clone();
        let t0 = std::time::Instant::now();
        let setup = tokio::task::spawn_blocking(move || nets.setup(&rec2))
            .await
            .map_err(shim_err)?;
        tracing::debug!(container = %c.id, micros = t0.elapsed().as_micros() as u64, "network set up");
        let rec = match setup {
            Ok((networks, net)) => {
                let rec = c.update(&self.settings.root, |r| {
                    r.networks = networks;
                    r.net = net;
                    r.clone()
                })?;
                self.networks
                    .endpoint_events("connect", &rec.id, &rec.networks);
                rec
            }
            Err(e) => {
                self.record_start_error(c, &e.to_string());
                return Err(e);
            }
        };
        let this = self.clone();
        let rec2 = rec.clone();
        let prepared = tokio::task::spawn_blocking(move || this.prepare(&rec2))
            .await
            .map_err(shim_err)?;
        let sd = match prepared {
            Ok(sd) => sd,
            Err(e) => {
                self.teardown_all(c).await;
                self.record_start_error(c, &e.to_string());
                return Err(e);
            }
        };
        let pid = match self.spawn_shim(&sd).await {
            Ok(pid) => pid,
            Err(e) => {
                // The shim's own account (libcontainer's failing step) goes
                // to the daemon log before its directory is removed.
                if let Ok(log) = std::fs::read_to_string(sd.join(proto::LOG_FILE)) {
                    for line in log
                        .lines()
                        .rev()
                        .take(20)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                    {
                        tracing::warn!(container = %c.id, "shim: {line}");
                    }
                }
                self.teardown_all(c).await;
                self.record_start_error(c, &e.to_string());
                return Err(e);
            }
        };
        let sock = sd.join(proto::SOCKET_FILE);
        // Attaches made before start get their streams now, so they see the
        // first byte of output.
        let pending: Vec<PendingAttach> = std::mem::take(&mut *lock(&c.pending_attach));
        for p in pending {
            let r = shim_call(
                &sock,
                &Request::Attach {
                    stdin: p.opts.stdin,
                    stdout: p.opts.stdout,
                    stderr: p.opts.stderr,
                },
            )
            .await
            .map(|(_, s)| s);
            let _ = p.tx.send(r);
        }
        if let Err(e) = shim_call(&sock, &Request::Start).await {
            let killed = shim_call(
                &sock,
                &Request::Kill {
                    signal: 9,
                    all: true,
                },
            )
            .await;
            if killed.is_err() {
                // The shim cannot be reached: kill the init it made (still
                // its unreaped child, so the pid is its); the shim then
                // sees the exit and cleans up.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            self.record_start_error(c, &e.to_string());
            self.clone().monitor(c.clone(), sock);
            return Err(e);
        }
        let rec = c.update(&self.settings.root, |r| {
            r.state.status = Status::Running;
            r.state.pid = i64::from(pid);
            r.state.started_at = now_rfc3339();
            r.state.error.clear();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.manually_stopped = false;
            r.runs += 1;
            r.clone()
        })?;
        self.event(&rec, "start", &[]);
        c.tx.send_modify(|s| s.running = true);
        self.clone().monitor(c.clone(), sock);
        self.start_health(c);
        Ok(())
    }

    fn record_start_error(&self, c: &Ctr, msg: &str) {
        // Attaches waiting for this start end now (their clients see the
        // stream close), as Docker closes them when a start fails.
        for p in std::mem::take(&mut *lock(&c.pending_attach)) {
            let _ = p.tx.send(Err(EngineError::Conflict(msg.to_string())));
        }
        let code = exit_from_start_error(msg);
        let _ = c.update(&self.settings.root, |r| {
            r.state.error = msg.to_string();
            r.state.exit_code = code;
            if r.state.status != Status::Created {
                r.state.status = Status::Exited;
            }
        });
        // Waiters on next-exit learn that it will not run.
        c.tx.send_modify(|s| {
            s.exit_code = code;
            s.exits += 1;
        });
    }

    /// Follows a running container until it exits.
    fn monitor(self: Arc<Self>, c: Arc<Ctr>, sock: PathBuf) {
        tokio::spawn(async move {
            let status = match shim_wait(&sock).await {
                Ok(s) => s,
                Err(e) => {
                    // The shim is gone: it may have recorded the exit.
                    self.reap_orphans(&c).await;
                    let f = self.exit_file(&c.id);
                    match read_exit_file(&f) {
                        Ok(Some(s)) => s,
                        _ => ExitStatus {
                            exit_code: 255,
                            error: Some(format!("container shim lost: {e}")),
                            finished_at_ns: now_ns(),
                            ..Default::default()
                        },
                    }
                }
            };
            self.on_exit(&c, status, true).await;
        });
    }

    /// A container whose shim is gone: kills what is left of it and removes
    /// its cgroup (`cgroups::Paths::kill_and_remove`), so neither a restart
    /// nor the next start finds the old processes still running.
    async fn reap_orphans(&self, c: &Ctr) {
        let rel = super::specmap::cgroups_path(&self.settings, &c.record().host_config, &c.id);
        let paths = crate::cgroups::Paths::new(crate::cgroups::layout(), &rel);
        let _ = tokio::task::spawn_blocking(move || paths.kill_and_remove()).await;
    }

    async fn on_exit(self: &Arc<Self>, c: &Arc<Ctr>, st: ExitStatus, apply_policy: bool) {
        // exit.json stays until the next start: it is the durable copy of
        // this exit while the record below is written without a sync.
        self.stop_health(c);
        self.teardown_all(c).await;
        let restart_in = if apply_policy {
            self.restart_decision(c, i64::from(st.exit_code), st.finished_at_ns)
        } else {
            None
        };
        let finished = chrono::DateTime::from_timestamp_nanos(st.finished_at_ns)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let rec = c.update(&self.settings.root, |r| {
            r.state.status = if restart_in.is_some() {
                r.restart_count += 1;
                Status::Restarting
            } else {
                Status::Exited
            };
            r.state.pid = 0;
            r.state.exit_code = i64::from(st.exit_code);
            r.state.oom_killed = st.oom_killed;
            r.state.finished_at = finished;
            if let Some(e) = &st.error {
                r.state.error = e.clone();
            }
            r.clone()
        });
        let auto_remove = match &rec {
            Ok(rec) => {
                if st.oom_killed {
                    self.event(rec, "oom", &[]);
                }
                self.event(rec, "die", &[("exitCode", st.exit_code.to_string())]);
                rec.host_config.auto_remove
            }
            Err(_) => false,
        };
        c.tx.send_modify(|s| {
            s.running = false;
            s.exits += 1;
            s.exit_code = i64::from(st.exit_code);
        });
        if let Some(delay) = restart_in {
            self.schedule_restart(c, delay);
        }
        if auto_remove {
            let this = self.clone();
            let id = c.id.clone();
            tokio::spawn(async move {
                if let Err(e) = this.remove(&id, true, true).await {
                    tracing::warn!(container = %id, error = %e, "auto-remove");
                }
            });
        }
    }

    /// Finds running shims again after a daemon start; containers whose
    /// shim is gone get their recorded (or a lost) exit.
    pub async fn restore(self: &Arc<Self>) {
        for c in self.all() {
            let rec = c.record();
            if rec.state.status == Status::Restarting {
                // The daemon stopped during the backoff: the policy is
                // applied again below, as for every stopped container.
                let _ = c.update(&self.settings.root, |r| r.state.status = Status::Exited);
                continue;
            }
            if !rec.is_running() {
                continue;
            }
            let sock = self.socket(&c.id);
            match shim_call(&sock, &Request::State).await {
                Ok((reply, _)) if reply.state.as_ref().is_some_and(|s| s.status != "stopped") => {
                    tracing::info!(container = %c.id, "found running container");
                    self.hold_volumes(&rec);
                    let nets = self.networks.clone();
                    let rec2 = rec.clone();
                    if let Ok(Some(rt)) =
                        tokio::task::spawn_blocking(move || nets.restore_running(&rec2)).await
                    {
                        let _ = c.update(&self.settings.root, |r| r.net = rt);
                    }
                    self.clone().monitor(c.clone(), sock);
                    self.resume_health(&c);
                }
                _ => {
                    self.reap_orphans(&c).await;
                    let st = match read_exit_file(&self.exit_file(&c.id)) {
                        Ok(Some(s)) => s,
                        _ => ExitStatus {
                            exit_code: 255,
                            error: Some("container shim lost while the daemon was down".into()),
                            finished_at_ns: now_ns(),
                            ..Default::default()
                        },
                    };
                    tracing::info!(container = %c.id, code = st.exit_code, "container exited while the daemon was down");
                    self.on_exit(&c, st, false).await;
                }
            }
        }
        self.restart_at_daemon_start().await;
    }

    async fn signal(&self, c: &Ctr, sig: i32) -> Result<(), EngineError> {
        shim_call(
            &self.socket(&c.id),
            &Request::Kill {
                signal: sig,
                all: false,
            },
        )
        .await?;
        self.event(&c.record(), "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// Waits until the container's exit count passes `exits`.
    async fn wait_exit(c: &Ctr, exits: u64, limit: Option<Duration>) -> bool {
        let mut rx = c.tx.subscribe();
        let fut = rx.wait_for(|s| s.exits > exits || s.removed);
        match limit {
            Some(d) => tokio::time::timeout(d, fut).await.is_ok(),
            None => fut.await.is_ok(),
        }
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name: &str, signal: Option<&str>) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        if self.cancel_restarting(&c) {
            return Ok(());
        }
        if !c.record().is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let exits = c.tx.borrow().exits;
        if sig == libc::SIGKILL {
            let _ = c.update(&self.settings.root, |r| r.state.manually_stopped = true);
        }
        self.signal(&c, sig).await?;
        if sig == libc::SIGKILL {
            Self::wait_exit(&c, exits, Some(Duration::from_secs(10))).await;
        }
        Ok(())
    }

    /// `POST /containers/{id}/stop`.
    pub async fn stop(&self, name: &str, timeout: Option<i64>) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout).await
    }

    async fn stop_locked(&self, c: &Ctr, timeout: Option<i64>) -> Result<(), EngineError> {
        self.stop_signalled(c, timeout).await?;
        self.event(&c.record(), "stop", &[]);
        Ok(())
    }

    async fn stop_signalled(&self, c: &Ctr, timeout: Option<i64>) -> Result<(), EngineError> {
        if self.cancel_restarting(c) {
            return Ok(());
        }
        self.stop_process(c, timeout, true).await
    }

    /// Stops an unhealthy container to start it again (not a manual stop).
    pub(super) async fn stop_for_restart(&self, c: &Ctr) -> Result<(), EngineError> {
        self.stop_process(c, None, false).await
    }

    async fn stop_process(
        &self,
        c: &Ctr,
        timeout: Option<i64>,
        manual: bool,
    ) -> Result<(), EngineError> {
        let rec = c.record();
        if !rec.is_running() {
            return Err(EngineError::NotModified);
        }
        if manual {
            let _ = c.update(&self.settings.root, |r| r.state.manually_stopped = true);
        }
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let exits = c.tx.borrow().exits;
        let sig = stop_signal(&rec);
        if rec.state.status == Status::Paused {
            let _ = shim_call(&self.socket(&c.id), &Request::Resume).await;
        }
        if self.signal(c, sig).await.is_ok() && t != 0 {
            let limit = (t >= 0).then(|| Duration::from_secs(t as u64));
            if Self::wait_exit(c, exits, limit).await {
                return Ok(());
            }
        }
        let _ = self.signal(c, libc::SIGKILL).await;
        Self::wait_exit(c, exits, None).await;
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
    ) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, timeout).await {
            Ok(()) | Err(EngineError::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.reset_restarts(&c);
        self.start_locked(&c).await?;
        self.event(&c.record(), "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/wait`: registers now, resolves later.
    pub fn wait(
        &self,
        name: &str,
        condition: &str,
    ) -> Result<impl std::future::Future<Output = WaitResponse> + Send + 'static, EngineError> {
        let c = self.get(name)?;
        let mut rx = c.tx.subscribe();
        let now: Snap = rx.borrow().clone();
        let condition = match condition {
            "" | "not-running" => 0,
            "next-exit" => 1,
            "removed" => 2,
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid condition: \"{other}\""
                )))
            }
        };
        Ok(async move {
            let done = |s: &Snap| match condition {
                0 => !s.running || s.removed,
                1 => s.exits > now.exits || s.removed,
                _ => s.removed,
            };
            let code = match rx.wait_for(done).await {
                Ok(s) => s.exit_code,
                // The container went away with its sender.
                Err(_) => now.exit_code,
            };
            WaitResponse {
                status_code: code,
                error: None,
            }
        })
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status == Status::Removing {
            return Err(EngineError::Conflict(format!(
                "removal of container {} is already in progress",
                c.id
            )));
        }
        if rec.state.status == Status::Restarting {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            self.cancel_restarting(&c);
        }
        if rec.is_running() {
            if !force {
                let what = if rec.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            let exits = c.tx.borrow().exits;
            let _ = c.update(&self.settings.root, |r| r.state.manually_stopped = true);
            if rec.state.status == Status::Paused {
                let _ = shim_call(&self.socket(&c.id), &Request::Resume).await;
            }
            let _ = self.signal(&c, libc::SIGKILL).await;
            if !Self::wait_exit(&c, exits, Some(Duration::from_secs(30))).await {
                return Err(EngineError::Conflict(format!(
                    "could not kill running container {}, cannot remove",
                    c.id
                )));
            }
        }
        let _ = c.update(&self.settings.root, |r| r.state.status = Status::Removing);
        let id = c.id.clone();
        let dir = self.dir(&id);
        let store = self.store.clone();
        let sd = self.state_dir(&id);
        let res = tokio::task::spawn_blocking(move || {
            store.remove_rw_layer(&id)?;
            let _ = std::fs::remove_dir_all(&sd);
            std::fs::remove_dir_all(&dir).map_err(|source| EngineError::Io {
                op: "remove",
                path: dir,
                source,
            })
        })
        .await
        .map_err(shim_err)?;
        if let Err(e) = res {
            let _ = c.update(&self.settings.root, |r| {
                r.state.status = Status::Dead;
                r.state.error = e.to_string();
            });
            return Err(e);
        }
        {
            let mut t = lock(&self.table);
            t.by_id.remove(&c.id);
            if t.names.get(&rec.name).is_some_and(|i| *i == c.id) {
                t.names.remove(&rec.name);
            }
        }
        lock(&self.execs).retain(|_, e| e.container_id != c.id);
        self.release_volumes(&rec, volumes);
        self.event(&rec, "destroy", &[]);
        c.tx.send_modify(|s| s.removed = true);
        Ok(())
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<(), EngineError> {
        let c = self.get(name)?;
        if !c.record().is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        shim_call(
            &self.socket(&c.id),
            &Request::Resize {
                exec_id: None,
                height,
                width,
            },
        )
        .await
        .map(|_| ())
    }

    /// `POST /containers/{id}/pause` and `unpause`.
    pub async fn pause(&self, name: &str, pause: bool) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let rec = c.record();
        match (pause, rec.state.status) {
            (_, s) if !matches!(s, Status::Running | Status::Paused) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
            (true, Status::Paused) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            (false, Status::Running) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not paused",
                    c.id
                )))
            }
            _ => {}
        }
        let req = if pause {
            Request::Pause
        } else {
            Request::Resume
        };
        shim_call(&self.socket(&c.id), &req).await?;
        let rec = c.update(&self.settings.root, |r| {
            r.state.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
            r.clone()
        })?;
        self.event(&rec, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/attach`: registers the attach now (so a start
    /// that follows sees it) and returns the container's tty flag and a
    /// future for the stream (`None` when the container will not run).
    pub fn attach(
        &self,
        name: &str,
        opts: AttachOpts,
    ) -> Result<(bool, AttachFuture), EngineError> {
        let c = self.get(name)?;
        let rec = c.record();
        let tty = rec.config.tty.unwrap_or(false);
        match rec.state.status {
            Status::Running | Status::Paused => {
                let sock = self.socket(&c.id);
                Ok((
                    tty,
                    Box::pin(async move {
                        let (_, s) = shim_call(
                            &sock,
                            &Request::Attach {
                                stdin: opts.stdin,
                                stdout: opts.stdout,
                                stderr: opts.stderr,
                            },
                        )
                        .await?;
                        Ok(Some(s))
                    }),
                ))
            }
            Status::Created | Status::Exited | Status::Restarting => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                lock(&c.pending_attach).push(PendingAttach { opts, tx });
                Ok((
                    tty,
                    Box::pin(async move {
                        match rx.await {
                            Ok(r) => r.map(Some),
                            Err(_) => Ok(None),
                        }
                    }),
                ))
            }
            _ => Err(EngineError::Conflict(
                "You cannot attach to a stopped container, start it first".to_string(),
            )),
        }
    }
}

/// Reads the shim's durable exit record; `None` when absent.
pub fn read_exit_file(p: &Path) -> Result<Option<ExitStatus>, EngineError> {
    super::record::read_json(p)
}

/// Now in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// Bridges a shim stream to the API side: returns the API's end of a
/// duplex pipe. Shim frames become Docker's multiplexed frames (or raw
/// bytes with a tty); the API side's bytes become the process's stdin.
/// `on_exit` gets an exec's exit status.
pub fn relay(
    s: ShimStream,
    tty: bool,
    on_exit: Option<Box<dyn FnOnce(ExitStatus) + Send>>,
) -> tokio::io::DuplexStream {
    let (api_end, ours) = tokio::io::duplex(64 * 1024);
    let (mut our_r, mut our_w) = tokio::io::split(ours);
    let ShimStream {
        mut reader,
        mut writer,
    } = s;
    // stdin: API → shim.
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut our_r, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    // output: shim → API.
    tokio::spawn(async move {
        let mut on_exit = on_exit;
        let mut header = [0u8; 8];
        let mut buf = vec![0u8; proto::MAX_FRAME];
        loop {
            if reader.read_exact(&mut header).await.is_err() {
                break;
            }
            let (kind, len) = proto::parse_frame_header(&header);
            if len > proto::MAX_FRAME {
                break;
            }
            if reader.read_exact(&mut buf[..len]).await.is_err() {
                break;
            }
            match kind {
                proto::FRAME_EXIT => {
                    if let (Some(f), Ok(st)) = (
                        on_exit.take(),
                        serde_json::from_slice::<ExitStatus>(&buf[..len]),
                    ) {
                        f(st);
                    }
                }
                proto::FRAME_STDOUT | proto::FRAME_STDERR => {
                    let ok = if tty {
                        our_w.write_all(&buf[..len]).await.is_ok()
                    } else {
                        our_w
                            .write_all(&proto::frame_header(kind, len))
                            .await
                            .is_ok()
                            && our_w.write_all(&buf[..len]).await.is_ok()
                    };
                    if !ok {
                        // The client is gone; keep draining for the exit.
                        continue;
                    }
                }
                _ => {}
            }
        }
        let _ = our_w.shutdown().await;
    });
    api_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGHUP").unwrap(), 1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let h = api::container::HostConfig::default();
        let host = "nameserver 127.0.0.53\nsearch lan\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false, &h),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(host, true, &h),
            "search lan\nnameserver 127.0.0.53\noptions edns0\n"
        );
        let mut h = h;
        h.dns = vec!["1.1.1.1".into()];
        assert!(resolv_conf(host, false, &h).contains("nameserver 1.1.1.1\n"));
    }

    #[test]
    fn start_errors_map_to_dockers_exit_codes() {
        assert_eq!(
            exit_from_start_error("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(exit_from_start_error("permission denied"), 126);
    }
}
