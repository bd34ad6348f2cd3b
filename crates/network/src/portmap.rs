//! Publishing container ports on the host, as libnetwork's portallocator
//! and portmapper do:
//!
//! - [`PortAllocator`]: the host ports in use per protocol and address,
//!   Docker's ephemeral range and its round-robin pick.
//! - [`start_proxy`] / [`stop_proxy`]: the userland proxy processes (our
//!   own binary as `balena-engine-proxy`, docker-proxy's command line and
//!   its readiness report on fd 3). A proxy runs in its own session and
//!   outlives the daemon, so published ports keep working while it
//!   restarts.
//! - [`reserve_port`]: Docker's "dummy proxy" for `--userland-proxy=false`:
//!   a bound socket that holds the port.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Docker's ephemeral port range, also the bounds any system range is
/// clamped to (libnetwork's portallocator).
pub const DEFAULT_PORT_RANGE: (u16, u16) = (49153, 60999);

/// argv[0] of the userland proxy processes.
pub const PROXY_ARG0: &str = "balena-engine-proxy";

/// The names a proxy process may carry in argv[0]; [`stop_proxy`] signals
/// only processes with one of them.
const PROXY_NAMES: [&str; 3] = [PROXY_ARG0, "balena-proxy", "docker-proxy"];

/// How long a proxy has to report (docker's portmapper: 16 s).
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(16);

/// How long [`stop_proxy`] waits after SIGTERM before SIGKILL.
const PROXY_STOP_GRACE: Duration = Duration::from_secs(5);

const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Errors of port publishing. Messages users see are Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    AlreadyAllocated { ip: Ipv4Addr, port: u16 },
    #[error("all ports are allocated")]
    AllAllocated { proto: Proto, ip: Ipv4Addr },
    #[error("invalid port range: {start}-{end}")]
    InvalidRange { start: u16, end: u16 },
    #[error("sctp port publishing is not supported")]
    SctpUnsupported,
    #[error("unsupported protocol {proto}")]
    UnknownProtocol { proto: String },
    /// A bind/listen failure, worded as Go's `net.Listen` error (what
    /// docker-proxy and the dummy proxy report).
    #[error("listen {proto}4 {addr}: {op}: {}", errno_text(*.errno))]
    Listen {
        proto: Proto,
        addr: SocketAddrV4,
        op: &'static str,
        errno: Errno,
    },
    #[error("create the userland proxy's status pipe")]
    ProxyPipe {
        #[source]
        source: std::io::Error,
    },
    #[error("start userland proxy {}", exe.display())]
    ProxySpawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The proxy reported a failure (`1\n<message>` on fd 3), or ended
    /// without reporting.
    #[error("Error starting userland proxy: {message}")]
    ProxyStart { message: String },
    #[error("Timed out proxy starting the userland proxy")]
    ProxyTimeout { pid: i32 },
    #[error("invalid proxy pid {pid}")]
    InvalidPid { pid: i32 },
    #[error("signal userland proxy {pid}")]
    ProxySignal {
        pid: i32,
        #[source]
        source: Errno,
    },
}

/// A transport protocol that can be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as iptables and Docker's port keys spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl FromStr for Proto {
    type Err = PortError;

    /// `tcp` or `udp`, any case; `sctp` is refused with its own message.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(PortError::SctpUnsupported),
            _ => Err(PortError::UnknownProtocol {
                proto: s.to_string(),
            }),
        }
    }
}

/// Go's text for an errno (`address already in use`): the C library's
/// description with a lowercase first letter.
pub(crate) fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The host ports handed out, per protocol and host address.
///
/// As Docker's portallocator: a specific port is taken or refused; a range
/// or the ephemeral range is searched round-robin from the port after the
/// last one it gave (kept per protocol, address and range). Unlike
/// Docker's, `0.0.0.0` and a specific address conflict on the same port
/// (Docker leaves that to the kernel's bind).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    begin: u16,
    end: u16,
    /// (protocol, port) → the host addresses holding it.
    holders: BTreeMap<(Proto, u16), Vec<Ipv4Addr>>,
    /// (protocol, address, range start, range end) → last port given.
    last: HashMap<(Proto, Ipv4Addr, u16, u16), u16>,
}

impl PortAllocator {
    /// The ephemeral range from `/proc/sys/net/ipv4/ip_local_port_range`,
    /// clamped to 49153–60999 as Docker does; 49153–60999 when the file
    /// cannot be read or makes no sense.
    pub fn from_system() -> Self {
        let text = std::fs::read_to_string(PORT_RANGE_FILE).ok();
        let (begin, end) = ephemeral_range(text.as_deref());
        Self::new_unchecked(begin, end)
    }

    /// An allocator over `begin..=end` (tests, or a configured range).
    pub fn with_range(begin: u16, end: u16) -> Result<Self, PortError> {
        if begin == 0 || begin > end {
            return Err(PortError::InvalidRange { start: begin, end });
        }
        Ok(Self::new_unchecked(begin, end))
    }

    fn new_unchecked(begin: u16, end: u16) -> Self {
        PortAllocator {
            begin,
            end,
            holders: BTreeMap::new(),
            last: HashMap::new(),
        }
    }

    /// The ephemeral range, inclusive.
    pub fn range(&self) -> (u16, u16) {
        (self.begin, self.end)
    }

    /// Hands out a host port: `want` is `None` (or `(0, 0)`) for one of
    /// the ephemeral range, `(p, p)` for port `p`, `(a, b)` for one of
    /// `a..=b`. `host_ip` `0.0.0.0` means every address.
    pub fn allocate(
        &mut self,
        proto: Proto,
        host_ip: Ipv4Addr,
        want: Option<(u16, u16)>,
    ) -> Result<u16, PortError> {
        let (start, end) = match want {
            None | Some((0, 0)) => (self.begin, self.end),
            Some((p, q)) if p == q => {
                self.reserve(proto, host_ip, p)?;
                return Ok(p);
            }
            Some((p, q)) if p == 0 || q < p => {
                return Err(PortError::InvalidRange { start: p, end: q })
            }
            Some(range) => range,
        };
        let key = (proto, host_ip, start, end);
        let mut port = self.last.get(&key).copied().unwrap_or(end);
        for _ in start..=end {
            port = if port >= end { start } else { port + 1 };
            if !self.conflicts(proto, host_ip, port) {
                self.take(proto, host_ip, port);
                self.last.insert(key, port);
                return Ok(port);
            }
        }
        Err(PortError::AllAllocated { proto, ip: host_ip })
    }

    /// Takes one given port (a published port restored on start, or a
    /// fixed `-p 8080:80`).
    pub fn reserve(&mut self, proto: Proto, host_ip: Ipv4Addr, port: u16) -> Result<(), PortError> {
        if port == 0 {
            return Err(PortError::InvalidRange { start: 0, end: 0 });
        }
        if self.conflicts(proto, host_ip, port) {
            return Err(PortError::AlreadyAllocated { ip: host_ip, port });
        }
        self.take(proto, host_ip, port);
        Ok(())
    }

    /// Gives a port back; `false` when it was not held for that address.
    pub fn release(&mut self, proto: Proto, host_ip: Ipv4Addr, port: u16) -> bool {
        let Some(ips) = self.holders.get_mut(&(proto, port)) else {
            return false;
        };
        let Some(i) = ips.iter().position(|ip| *ip == host_ip) else {
            return false;
        };
        ips.swap_remove(i);
        if ips.is_empty() {
            self.holders.remove(&(proto, port));
        }
        true
    }

    /// Whether taking `port` for `host_ip` would conflict: the same
    /// address, or `0.0.0.0` on either side.
    pub fn conflicts(&self, proto: Proto, host_ip: Ipv4Addr, port: u16) -> bool {
        match self.holders.get(&(proto, port)) {
            None => false,
            Some(ips) => {
                host_ip.is_unspecified()
                    || ips.iter().any(|ip| *ip == host_ip || ip.is_unspecified())
            }
        }
    }

    fn take(&mut self, proto: Proto, host_ip: Ipv4Addr, port: u16) {
        self.holders.entry((proto, port)).or_default().push(host_ip);
    }
}

/// The system range clamped to Docker's, or Docker's when there is none.
fn ephemeral_range(text: Option<&str>) -> (u16, u16) {
    let (lo, hi) = (
        u32::from(DEFAULT_PORT_RANGE.0),
        u32::from(DEFAULT_PORT_RANGE.1),
    );
    let parsed = text.and_then(|t| {
        let mut it = t.split_whitespace().map(str::parse::<u32>);
        match (it.next(), it.next()) {
            (Some(Ok(start)), Some(Ok(end))) => Some((start, end)),
            _ => None,
        }
    });
    match parsed {
        Some((start, end)) if start <= hi && end >= lo && start <= end => (
            u16::try_from(start.max(lo)).unwrap_or(DEFAULT_PORT_RANGE.0),
            u16::try_from(end.min(hi)).unwrap_or(DEFAULT_PORT_RANGE.1),
        ),
        _ => DEFAULT_PORT_RANGE,
    }
}

/// One published port served by a userland proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySpec {
    pub proto: Proto,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl ProxySpec {
    /// docker-proxy's command line (without argv[0]).
    pub fn args(&self) -> Vec<String> {
        vec![
            "-proto".into(),
            self.proto.to_string(),
            "-host-ip".into(),
            self.host_ip.to_string(),
            "-host-port".into(),
            self.host_port.to_string(),
            "-container-ip".into(),
            self.container_ip.to_string(),
            "-container-port".into(),
            self.container_port.to_string(),
        ]
    }
}

/// A running proxy process. Dropping it leaves the process running (it
/// must outlive the daemon); stop it with [`stop_proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyChild {
    pid: i32,
}

impl ProxyChild {
    /// The proxy's process id (record it to stop the proxy after a
    /// restart).
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// Starts a userland proxy from `exe` (the daemon's read-only view of its
/// own binary) as `balena-engine-proxy` with docker-proxy's command line,
/// in its own session, and waits up to 16 s for it to report on fd 3:
/// `0\n` once it listens, `1\n<error>` when it cannot.
///
/// Blocking; call it from a blocking thread.
pub fn start_proxy(exe: &Path, spec: &ProxySpec) -> Result<ProxyChild, PortError> {
    start_proxy_within(exe, spec, PROXY_START_TIMEOUT)
}

pub(crate) fn start_proxy_within(
    exe: &Path,
    spec: &ProxySpec,
    timeout: Duration,
) -> Result<ProxyChild, PortError> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| PortError::ProxyPipe { source: e.into() })?;
    // The child sets up its stdio (fds 0-2) before `pre_exec` runs: keep
    // the write end above them.
    let write_end = if write_end.as_raw_fd() < 3 {
        write_end
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| {
                let raw = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_DUPFD_CLOEXEC(3))
                    .map_err(std::io::Error::from)?;
                // SAFETY: `raw` was just returned by F_DUPFD_CLOEXEC and
                // nothing else owns it.
                Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
            })
            .map_err(|source| PortError::ProxyPipe { source })?
    } else {
        write_end
    };
    let status_fd = write_end.as_raw_fd();

    let mut cmd = Command::new(exe);
    cmd.arg0(PROXY_ARG0)
        .args(spec.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child_setup = move || -> std::io::Result<()> {
        if status_fd == 3 {
            // SAFETY: fcntl on a descriptor we own in the child; async-signal-safe.
            if unsafe { libc::fcntl(3, libc::F_SETFD, 0) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
        } else {
            // SAFETY: dup2 onto fd 3 in the child (clearing close-on-exec
            // on the copy); async-signal-safe.
            if unsafe { libc::dup2(status_fd, 3) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        // Its own session: no terminal signals, and nothing ties it to the
        // daemon's process group (no parent-death signal either).
        // SAFETY: setsid is async-signal-safe.
        if unsafe { libc::setsid() } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: `child_setup` only calls async-signal-safe functions and
    // allocates nothing, as required between fork and exec.
    unsafe {
        cmd.pre_exec(child_setup);
    }
    let mut child = cmd.spawn().map_err(|source| PortError::ProxySpawn {
        exe: exe.to_path_buf(),
        source,
    })?;
    drop(write_end);
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);

    match read_status(read_end, timeout) {
        Status::Ready => Ok(ProxyChild { pid }),
        Status::Failed(message) => {
            reap_bounded(&mut child);
            Err(PortError::ProxyStart { message })
        }
        Status::Silent => {
            let message = match reap_bounded(&mut child) {
                Some(status) => format!("proxy exited without reporting ({status})"),
                None => "proxy closed its status pipe without reporting".to_string(),
            };
            Err(PortError::ProxyStart { message })
        }
        Status::TimedOut => {
            let _ = child.kill();
            let _ = child.wait();
            Err(PortError::ProxyTimeout { pid })
        }
    }
}

enum Status {
    Ready,
    Failed(String),
    Silent,
    TimedOut,
}

/// Reads the proxy's report: `0\n`, or `1\n` and an error up to EOF.
fn read_status(read_end: OwnedFd, timeout: Duration) -> Status {
    const MAX: usize = 4096;
    let deadline = Instant::now() + timeout;
    let mut file = std::fs::File::from(read_end);
    let mut buf = Vec::new();
    loop {
        if buf.starts_with(b"0\n") {
            return Status::Ready;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Status::TimedOut;
        }
        let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, millis) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return Status::Silent,
        }
        let mut chunk = [0u8; 512];
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() >= MAX {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if buf.starts_with(b"0\n") {
        Status::Ready
    } else if let Some(msg) = buf.strip_prefix(b"1\n") {
        Status::Failed(String::from_utf8_lossy(msg).trim_end().to_string())
    } else if buf.is_empty() {
        Status::Silent
    } else {
        Status::Failed(String::from_utf8_lossy(&buf).trim_end().to_string())
    }
}

/// Waits up to 2 s for a child that reported failure to exit, then kills
/// it; returns how it ended.
fn reap_bounded(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                return child.wait().ok();
            }
            Err(_) => return None,
        }
    }
}

/// Stops a proxy: SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps
/// it when it is our child (also one that had already exited on its own).
/// A pid that is gone, or that now belongs to a process not named like a
/// proxy (a reused pid after a reboot), is left alone.
///
/// Blocking; call it from a blocking thread.
pub fn stop_proxy(pid: i32) -> Result<(), PortError> {
    stop_proxy_within(pid, PROXY_STOP_GRACE)
}

pub(crate) fn stop_proxy_within(pid: i32, grace: Duration) -> Result<(), PortError> {
    // Never 0 or negative: kill(2) would signal process groups.
    if pid <= 0 {
        return Err(PortError::InvalidPid { pid });
    }
    let target = Pid::from_raw(pid);
    if !is_proxy(pid) {
        // Gone, or a zombie of ours (no cmdline): reap if it is ours.
        let _ = waitpid(target, Some(WaitPidFlag::WNOHANG));
        return Ok(());
    }
    match kill(target, Signal::SIGTERM) {
        Ok(()) => {}
        Err(Errno::ESRCH) => {
            let _ = waitpid(target, Some(WaitPidFlag::WNOHANG));
            return Ok(());
        }
        Err(source) => return Err(PortError::ProxySignal { pid, source }),
    }
    let deadline = Instant::now() + grace;
    let mut ours = true;
    loop {
        if ours {
            match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                Ok(_) => return Ok(()),
                Err(_) => ours = false,
            }
        }
        if !ours && !is_proxy(pid) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if ours || is_proxy(pid) {
        match kill(target, Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => return Err(PortError::ProxySignal { pid, source }),
        }
    }
    if ours {
        let _ = waitpid(target, None);
    }
    Ok(())
}

/// Whether `/proc/<pid>/cmdline` names a proxy in argv[0] (a zombie or a
/// gone process has none).
fn is_proxy(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
    PROXY_NAMES.iter().any(|n| n.as_bytes() == name)
}

/// Docker's dummy proxy (`--userland-proxy=false`): binds the host port
/// (and listens, for TCP) so that a busy port is an error now and the port
/// stays ours while it is published. Close the descriptor to free it.
pub fn reserve_port(proto: Proto, host_ip: Ipv4Addr, port: u16) -> Result<OwnedFd, PortError> {
    let backlog = Backlog::new(16).unwrap_or(Backlog::MAXCONN);
    bind_socket(
        proto,
        SocketAddrV4::new(host_ip, port),
        SockFlag::empty(),
        backlog,
    )
}

/// A bound IPv4 socket (listening, for TCP) as Go's `net.Listen` makes
/// one (`SO_REUSEADDR` for TCP only), with Go's error wording.
pub(crate) fn bind_socket(
    proto: Proto,
    addr: SocketAddrV4,
    flags: SockFlag,
    backlog: Backlog,
) -> Result<OwnedFd, PortError> {
    let fail = |op: &'static str| {
        move |errno: Errno| PortError::Listen {
            proto,
            addr,
            op,
            errno,
        }
    };
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket::socket(
        AddressFamily::Inet,
        ty,
        flags | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail("socket"))?;
    if proto == Proto::Tcp {
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(fail("setsockopt"))?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(addr)).map_err(fail("bind"))?;
    if proto == Proto::Tcp {
        socket::listen(&fd, backlog).map_err(fail("listen"))?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

    #[test]
    fn proto_parses_and_prints() {
        assert_eq!("tcp".parse::<Proto>().unwrap(), Proto::Tcp);
        assert_eq!("UDP".parse::<Proto>().unwrap(), Proto::Udp);
        assert_eq!(Proto::Tcp.to_string(), "tcp");
        assert_eq!(Proto::Udp.to_string(), "udp");
        assert_eq!(
            "sctp".parse::<Proto>().unwrap_err().to_string(),
            "sctp port publishing is not supported"
        );
        assert_eq!(
            "icmp".parse::<Proto>().unwrap_err().to_string(),
            "unsupported protocol icmp"
        );
    }

    #[test]
    fn ephemeral_range_is_clamped_to_dockers() {
        assert_eq!(ephemeral_range(Some("32768\t60999\n")), (49153, 60999));
        assert_eq!(ephemeral_range(Some("50000 55000")), (50000, 55000));
        assert_eq!(ephemeral_range(Some("1024\t65535\n")), (49153, 60999));
        // Out of Docker's range entirely, reversed, or garbage: the default.
        assert_eq!(ephemeral_range(Some("1024\t2048")), DEFAULT_PORT_RANGE);
        assert_eq!(ephemeral_range(Some("61000\t65000")), DEFAULT_PORT_RANGE);
        assert_eq!(ephemeral_range(Some("55000\t50000")), DEFAULT_PORT_RANGE);
        assert_eq!(ephemeral_range(Some("x y")), DEFAULT_PORT_RANGE);
        assert_eq!(ephemeral_range(None), DEFAULT_PORT_RANGE);
        let (a, b) = PortAllocator::from_system().range();
        assert!(a >= 49153 && b <= 60999 && a <= b);
    }

    #[test]
    fn specific_port_is_taken_once() {
        let mut pa = PortAllocator::with_range(49153, 60999).unwrap();
        assert_eq!(
            pa.allocate(Proto::Tcp, ANY, Some((8080, 8080))).unwrap(),
            8080
        );
        let err = pa
            .allocate(Proto::Tcp, ANY, Some((8080, 8080)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // Another protocol is another space.
        assert_eq!(
            pa.allocate(Proto::Udp, ANY, Some((8080, 8080))).unwrap(),
            8080
        );
        assert!(pa.release(Proto::Tcp, ANY, 8080));
        assert!(!pa.release(Proto::Tcp, ANY, 8080));
        assert_eq!(
            pa.allocate(Proto::Tcp, ANY, Some((8080, 8080))).unwrap(),
            8080
        );
    }

    #[test]
    fn any_address_conflicts_with_specific_ones() {
        let mut pa = PortAllocator::with_range(49153, 60999).unwrap();
        pa.reserve(Proto::Tcp, LO, 80).unwrap();
        // Another specific address is fine; 0.0.0.0 is not.
        pa.reserve(Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 80)
            .unwrap();
        assert_eq!(
            pa.reserve(Proto::Tcp, ANY, 80).unwrap_err().to_string(),
            "Bind for 0.0.0.0:80 failed: port is already allocated"
        );
        pa.reserve(Proto::Tcp, ANY, 81).unwrap();
        assert_eq!(
            pa.reserve(Proto::Tcp, LO, 81).unwrap_err().to_string(),
            "Bind for 127.0.0.1:81 failed: port is already allocated"
        );
        assert!(pa.release(Proto::Tcp, LO, 80));
        assert!(pa.release(Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 80));
        pa.reserve(Proto::Tcp, ANY, 80).unwrap();
    }

    #[test]
    fn ephemeral_allocation_continues_from_the_last_one() {
        let mut pa = PortAllocator::with_range(50000, 50003).unwrap();
        let first: Vec<u16> = (0..3)
            .map(|_| pa.allocate(Proto::Tcp, ANY, None).unwrap())
            .collect();
        assert_eq!(first, [50000, 50001, 50002]);
        assert!(pa.release(Proto::Tcp, ANY, 50000));
        // Round-robin: 50003 next, then back to the freed 50000.
        assert_eq!(pa.allocate(Proto::Tcp, ANY, None).unwrap(), 50003);
        assert_eq!(pa.allocate(Proto::Tcp, ANY, Some((0, 0))).unwrap(), 50000);
        let err = pa.allocate(Proto::Tcp, ANY, None).unwrap_err();
        assert_eq!(err.to_string(), "all ports are allocated");
        // Skips ports held on 0.0.0.0 for a specific address too.
        assert!(pa.allocate(Proto::Tcp, LO, None).is_err());
        // The UDP space is separate.
        assert_eq!(pa.allocate(Proto::Udp, ANY, None).unwrap(), 50000);
    }

    #[test]
    fn range_allocation_has_its_own_cursor() {
        let mut pa = PortAllocator::with_range(50000, 50010).unwrap();
        pa.reserve(Proto::Tcp, ANY, 8001).unwrap();
        assert_eq!(
            pa.allocate(Proto::Tcp, ANY, Some((8000, 8002))).unwrap(),
            8000
        );
        assert_eq!(
            pa.allocate(Proto::Tcp, ANY, Some((8000, 8002))).unwrap(),
            8002
        );
        assert!(matches!(
            pa.allocate(Proto::Tcp, ANY, Some((8000, 8002))),
            Err(PortError::AllAllocated { .. })
        ));
        assert_eq!(pa.allocate(Proto::Tcp, ANY, None).unwrap(), 50000);
        for bad in [(0, 10), (10, 5)] {
            assert_eq!(
                pa.allocate(Proto::Tcp, ANY, Some(bad))
                    .unwrap_err()
                    .to_string(),
                format!("invalid port range: {}-{}", bad.0, bad.1)
            );
        }
        assert!(PortAllocator::with_range(10, 5).is_err());
        assert!(PortAllocator::with_range(0, 5).is_err());
    }

    #[test]
    fn proxy_spec_is_docker_proxys_command_line() {
        let spec = ProxySpec {
            proto: Proto::Tcp,
            host_ip: ANY,
            host_port: 8080,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 80,
        };
        assert_eq!(
            spec.args().join(" "),
            "-proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"
        );
    }

    #[test]
    fn reserve_port_holds_the_port_and_reports_busy_like_go() {
        let tcp = reserve_port(Proto::Tcp, LO, 0).unwrap();
        let bound: SockaddrIn = socket::getsockname(tcp.as_raw_fd()).unwrap();
        let port = bound.port();
        let err = reserve_port(Proto::Tcp, LO, port).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("listen tcp4 127.0.0.1:{port}: bind: address already in use")
        );
        // TCP listens: a connection is accepted by the kernel.
        assert!(std::net::TcpStream::connect((LO, port)).is_ok());
        drop(tcp);
        assert!(std::net::TcpStream::connect((LO, port)).is_err());

        let udp = reserve_port(Proto::Udp, LO, 0).unwrap();
        let port = socket::getsockname::<SockaddrIn>(udp.as_raw_fd())
            .unwrap()
            .port();
        let err = reserve_port(Proto::Udp, LO, port).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("listen udp4 127.0.0.1:{port}: bind: address already in use")
        );
    }

    #[test]
    fn start_proxy_reports_a_missing_executable() {
        let spec = ProxySpec {
            proto: Proto::Tcp,
            host_ip: LO,
            host_port: 1,
            container_ip: LO,
            container_port: 1,
        };
        let err = start_proxy(Path::new("/nonexistent/balena-engine"), &spec).unwrap_err();
        assert!(matches!(err, PortError::ProxySpawn { .. }), "{err}");
    }

    #[test]
    fn start_proxy_reads_failure_report_and_silence() {
        let spec = ProxySpec {
            proto: Proto::Udp,
            host_ip: LO,
            host_port: 1,
            container_ip: LO,
            container_port: 1,
        };
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            p
        };
        let fail = script(
            "fail",
            "printf '1\\nlisten udp4 127.0.0.1:1: bind: permission denied' >&3; exit 1",
        );
        let err = start_proxy(&fail, &spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error starting userland proxy: listen udp4 127.0.0.1:1: bind: permission denied"
        );
        let silent = script("silent", "exit 3");
        let err = start_proxy(&silent, &spec).unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");
        let slow = script("slow", "exec sleep 30");
        let t = Instant::now();
        let err = start_proxy_within(&slow, &spec, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, PortError::ProxyTimeout { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
        // The args and argv[0] reach the child; it runs in its own session.
        let ok = script(
            "ok",
            "echo \"$0 $*\" > \"$(dirname \"$0\")/args\"; cut -d' ' -f6 /proc/$$/stat > \"$(dirname \"$0\")/sid\"; printf '0\\n' >&3; exec 3>&-; exec sleep 30",
        );
        let child = start_proxy(&ok, &spec).unwrap();
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert!(
            args.ends_with(" -proto udp -host-ip 127.0.0.1 -host-port 1 -container-ip 127.0.0.1 -container-port 1\n"),
            "{args}"
        );
        let sid: i32 = std::fs::read_to_string(dir.path().join("sid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(sid, child.pid());
        // Not named like a proxy (a shell runs the script): stop_proxy
        // leaves it alone.
        stop_proxy(child.pid()).unwrap();
        assert!(kill(Pid::from_raw(child.pid()), None).is_ok());
        kill(Pid::from_raw(child.pid()), Signal::SIGKILL).unwrap();
        waitpid(Pid::from_raw(child.pid()), None).unwrap();
    }

    #[test]
    fn stop_proxy_refuses_group_pids_and_tolerates_gone_ones() {
        assert!(matches!(stop_proxy(0), Err(PortError::InvalidPid { .. })));
        assert!(matches!(stop_proxy(-1), Err(PortError::InvalidPid { .. })));
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        stop_proxy(pid).unwrap();
    }
}
