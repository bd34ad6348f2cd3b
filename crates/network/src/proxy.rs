//! The `balena-engine-proxy` applet: docker-proxy's command line and
//! behaviour, IPv4.
//!
//! ```text
//! balena-engine-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
//!     -container-ip 172.17.0.2 -container-port 80
//! ```
//!
//! It binds the host address, reports on fd 3 when that is a pipe (`0\n`
//! once listening, `1\n<error>` when not; see
//! [`portmap::start_proxy`](crate::portmap::start_proxy)), then forwards
//! until SIGTERM or SIGINT (exit 0):
//!
//! - TCP: each accepted connection gets a connection to the container and
//!   a copy each way; an end-of-stream on one side is passed on as a
//!   half-close. A failed connection is logged and closed, nothing more.
//! - UDP: one socket to the container per client address, dropped after
//!   90 s without traffic either way (docker-proxy counts only replies),
//!   at most 1024 of them (the least recently active is dropped first).
//!
//! One thread: a tokio current-thread runtime and local tasks; the UDP
//! reply tasks share one datagram buffer.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use nix::sys::socket::{sockopt, Backlog, SockFlag};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::portmap::{bind_socket, PortError, Proto};

/// docker-proxy's UDP connection-tracking timeout.
const UDP_IDLE: Duration = Duration::from_secs(90);
/// The largest UDP payload over IPv4 (docker-proxy's buffer).
const UDP_BUF: usize = 65507;
/// Client addresses tracked at once.
const UDP_MAX_FLOWS: usize = 1024;
/// Per direction and TCP connection.
const TCP_BUF: usize = 32 * 1024;
/// Go's default TCP keep-alive period, on both sides of a connection.
const TCP_KEEPALIVE_SECS: u32 = 15;

const NAME: &str = "balena-engine-proxy";

/// Errors of the applet: its command line and its start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    #[error("flag: help requested")]
    Help,
    #[error("flag provided but not defined: -{name}")]
    UndefinedFlag { name: String },
    #[error("flag needs an argument: -{name}")]
    MissingValue { name: String },
    #[error("bad flag syntax: {arg}")]
    BadSyntax { arg: String },
    #[error("invalid value \"{value}\" for flag -{name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: &'static str,
    },
    #[error("unsupported protocol {proto}")]
    UnsupportedProto { proto: String },
    #[error("invalid {what} {value:?}: not an IPv4 address")]
    InvalidAddress { what: &'static str, value: String },
    #[error("invalid {what} {value}")]
    InvalidPort { what: &'static str, value: i64 },
    #[error(transparent)]
    Bind(#[from] PortError),
    #[error("start the async runtime")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    #[error("install signal handlers")]
    Signals {
        #[source]
        source: std::io::Error,
    },
}

impl ProxyError {
    /// Command-line errors: exit status 2 with the usage, as Go's `flag`.
    fn is_usage(&self) -> bool {
        matches!(
            self,
            ProxyError::UndefinedFlag { .. }
                | ProxyError::MissingValue { .. }
                | ProxyError::BadSyntax { .. }
                | ProxyError::InvalidValue { .. }
        )
    }
}

/// The command line as Go's `flag` package leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flags {
    proto: String,
    host_ip: String,
    host_port: i64,
    container_ip: String,
    container_port: i64,
}

/// What to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    proto: Proto,
    host: SocketAddrV4,
    container: SocketAddrV4,
}

/// Parses docker-proxy's flags with Go's `flag` rules: `-name value`,
/// `-name=value`, `--name ...`; parsing stops at `--` or at the first
/// argument that is not a flag (left over arguments are ignored, as
/// docker-proxy does); the last of a repeated flag wins.
fn parse_flags(args: &[String]) -> Result<Flags, ProxyError> {
    let mut flags = Flags {
        proto: "tcp".into(),
        host_ip: String::new(),
        host_port: -1,
        container_ip: String::new(),
        container_port: -1,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) else {
            break;
        };
        let body = match body.strip_prefix('-') {
            Some("") => break,
            Some(b) => b,
            None => body,
        };
        if body.starts_with('-') || body.starts_with('=') {
            return Err(ProxyError::BadSyntax { arg: arg.clone() });
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if !matches!(
            name,
            "proto" | "host-ip" | "host-port" | "container-ip" | "container-port"
        ) {
            if name == "h" || name == "help" {
                return Err(ProxyError::Help);
            }
            return Err(ProxyError::UndefinedFlag { name: name.into() });
        }
        let value = match inline {
            Some(v) => v,
            None => rest
                .next()
                .cloned()
                .ok_or_else(|| ProxyError::MissingValue { name: name.into() })?,
        };
        match name {
            "proto" => flags.proto = value,
            "host-ip" => flags.host_ip = value,
            "container-ip" => flags.container_ip = value,
            "host-port" => flags.host_port = parse_go_int(name, &value)?,
            _ => flags.container_port = parse_go_int(name, &value)?,
        }
    }
    Ok(flags)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal,
/// `0x`/`0o`/`0b` or a leading `0` for octal.
fn parse_go_int(name: &str, value: &str) -> Result<i64, ProxyError> {
    let invalid = |reason| ProxyError::InvalidValue {
        name: name.into(),
        value: value.into(),
        reason,
    };
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(invalid("parse error"));
    }
    let magnitude = i128::from_str_radix(body, radix).map_err(|_| invalid("value out of range"))?;
    let n = if negative { -magnitude } else { magnitude };
    i64::try_from(n).map_err(|_| invalid("value out of range"))
}

/// Checks the flags' values.
fn config_from(flags: &Flags) -> Result<Config, ProxyError> {
    let proto = match flags.proto.as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(ProxyError::UnsupportedProto {
                proto: other.into(),
            })
        }
    };
    let ip = |what, value: &str| {
        value
            .parse::<Ipv4Addr>()
            .map_err(|_| ProxyError::InvalidAddress {
                what,
                value: value.into(),
            })
    };
    let host_ip = if flags.host_ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip("host ip", &flags.host_ip)?
    };
    let container_ip = ip("container ip", &flags.container_ip)?;
    let port = |what, value: i64, min: i64| {
        if (min..=65535).contains(&value) {
            u16::try_from(value).map_err(|_| ProxyError::InvalidPort { what, value })
        } else {
            Err(ProxyError::InvalidPort { what, value })
        }
    };
    Ok(Config {
        proto,
        host: SocketAddrV4::new(host_ip, port("host port", flags.host_port, 0)?),
        container: SocketAddrV4::new(
            container_ip,
            port("container port", flags.container_port, 1)?,
        ),
    })
}

/// Go's `flag.PrintDefaults` for docker-proxy's flags.
fn usage() -> String {
    format!(
        "Usage of {NAME}:\n  \
         -container-ip string\n    \tcontainer ip\n  \
         -container-port int\n    \tcontainer port (default -1)\n  \
         -host-ip string\n    \thost ip\n  \
         -host-port int\n    \thost port (default -1)\n  \
         -proto string\n    \tproxy protocol (default \"tcp\")\n"
    )
}

/// The applet's entry point; `args` excludes argv[0]. Returns the exit
/// status.
pub fn main(args: Vec<String>) -> i32 {
    ignore_sigpipe();
    let mut status = take_status_pipe();
    let config = match parse_flags(&args).and_then(|f| config_from(&f)) {
        Ok(c) => c,
        Err(ProxyError::Help) => {
            eprint!("{}", usage());
            return 0;
        }
        Err(e) => {
            report(&mut status, &e.to_string());
            eprintln!("{e}");
            if e.is_usage() {
                eprint!("{}", usage());
                return 2;
            }
            return 1;
        }
    };
    raise_nofile_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            let e = ProxyError::Runtime { source };
            report(&mut status, &e.to_string());
            eprintln!("{NAME}: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, serve(config, status)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            1
        }
    }
}

/// Binds, reports, forwards until a stop signal.
async fn serve(config: Config, mut status: Option<File>) -> Result<(), ProxyError> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = signal(SignalKind::terminate())
        .and_then(|t| signal(SignalKind::interrupt()).map(|i| (t, i)));
    let (mut term, mut int) = match signals {
        Ok(s) => s,
        Err(source) => {
            let e = ProxyError::Signals { source };
            report(&mut status, &e.to_string());
            return Err(e);
        }
    };
    let forward = match bind(config) {
        Ok(f) => f,
        Err(e) => {
            report(&mut status, &e.to_string());
            return Err(e);
        }
    };
    if let Some(mut pipe) = status.take() {
        let _ = pipe.write_all(b"0\n");
    }
    let run = async {
        match forward {
            Frontend::Tcp(listener) => run_tcp(listener, config).await,
            Frontend::Udp(socket) => run_udp(Rc::new(socket), config).await,
        }
    };
    tokio::select! {
        () = run => Ok(()),
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    }
}

enum Frontend {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind(config: Config) -> Result<Frontend, ProxyError> {
    let fd = bind_socket(
        config.proto,
        config.host,
        SockFlag::SOCK_NONBLOCK,
        Backlog::MAXCONN,
    )?;
    let wrap = |source| ProxyError::Runtime { source };
    Ok(match config.proto {
        Proto::Tcp => {
            Frontend::Tcp(TcpListener::from_std(std::net::TcpListener::from(fd)).map_err(wrap)?)
        }
        Proto::Udp => {
            Frontend::Udp(UdpSocket::from_std(std::net::UdpSocket::from(fd)).map_err(wrap)?)
        }
    })
}

/// Writes `1\n<message>` to the status pipe, once.
fn report(status: &mut Option<File>, message: &str) {
    if let Some(mut pipe) = status.take() {
        let _ = write!(pipe, "1\n{message}");
    }
}

/// fd 3, when it is a pipe: the status pipe of docker-proxy's protocol.
/// Run by hand, fd 3 may be anything else, and is left alone.
fn take_status_pipe() -> Option<File> {
    let stat = nix::sys::stat::fstat(3).ok()?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    // SAFETY: fd 3 is open (fstat succeeded) and is the pipe our parent
    // passed; nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    Some(File::from(fd))
}

/// A write to a closed connection must be an error, not the end of the
/// process (however we were started).
fn ignore_sigpipe() {
    // SAFETY: installs SIG_IGN, no handler code; nothing else in the
    // applet depends on SIGPIPE's disposition.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
}

/// Raises the soft open-files limit to the hard one (Go does this for
/// every program since 1.19): each TCP connection holds two descriptors.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max
    {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}

async fn run_tcp(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::task::spawn_local(forward_tcp(client, config.container));
            }
            Err(e) => {
                eprintln!("{NAME}: accept on tcp/{}: {e}", config.host);
                // Out of descriptors or memory: give connections in flight
                // a moment to finish instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn forward_tcp(mut client: TcpStream, backend: SocketAddrV4) {
    let mut server = match TcpStream::connect(backend).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{NAME}: can't forward traffic to backend tcp/{backend}: {e}");
            return;
        }
    };
    tune_tcp(&client);
    tune_tcp(&server);
    // Copies both ways; an EOF on one side shuts down writing on the
    // other, and the copy goes on the other way until it ends too.
    let _ =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, TCP_BUF, TCP_BUF).await;
}

/// As Go's net package: no Nagle delay, keep-alive every 15 s.
fn tune_tcp(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_fd();
    let _ = nix::sys::socket::setsockopt(&fd, sockopt::KeepAlive, &true);
    let _ = nix::sys::socket::setsockopt(&fd, sockopt::TcpKeepIdle, &TCP_KEEPALIVE_SECS);
    let _ = nix::sys::socket::setsockopt(&fd, sockopt::TcpKeepInterval, &TCP_KEEPALIVE_SECS);
}

/// One client address's socket towards the container.
struct Flow {
    socket: UdpSocket,
    last: Cell<Instant>,
    task: RefCell<Option<tokio::task::AbortHandle>>,
}

type FlowTable = Rc<RefCell<HashMap<SocketAddr, Rc<Flow>>>>;

async fn run_udp(listener: Rc<UdpSocket>, config: Config) {
    let flows: FlowTable = Rc::default();
    let reply_buf = Rc::new(RefCell::new(vec![0u8; UDP_BUF]));
    let mut buf = vec![0u8; UDP_BUF];
    loop {
        let (n, client) = match listener.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{NAME}: read on udp/{}: {e}", config.host);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let existing = flows.borrow().get(&client).cloned();
        let flow = match existing {
            Some(f) => f,
            None => match open_flow(config.container).await {
                Ok(socket) => {
                    let flow = Rc::new(Flow {
                        socket,
                        last: Cell::new(Instant::now()),
                        task: RefCell::new(None),
                    });
                    evict_if_full(&flows, UDP_MAX_FLOWS);
                    flows.borrow_mut().insert(client, flow.clone());
                    let task = tokio::task::spawn_local(reply_loop(
                        flow.clone(),
                        listener.clone(),
                        client,
                        flows.clone(),
                        reply_buf.clone(),
                    ));
                    *flow.task.borrow_mut() = Some(task.abort_handle());
                    flow
                }
                Err(e) => {
                    eprintln!(
                        "{NAME}: can't proxy a datagram to udp/{}: {e}",
                        config.container
                    );
                    continue;
                }
            },
        };
        flow.last.set(Instant::now());
        if let Err(e) = flow.socket.send(&buf[..n]).await {
            eprintln!(
                "{NAME}: can't proxy a datagram to udp/{}: {e}",
                config.container
            );
        }
    }
}

async fn open_flow(backend: SocketAddrV4) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).await?;
    socket.connect(backend).await?;
    Ok(socket)
}

/// Drops the least recently active flow when the table holds `max`.
fn evict_if_full(flows: &FlowTable, max: usize) {
    let mut table = flows.borrow_mut();
    if table.len() < max {
        return;
    }
    let oldest = table
        .iter()
        .min_by_key(|(_, f)| f.last.get())
        .map(|(addr, _)| *addr);
    if let Some(flow) = oldest.and_then(|addr| table.remove(&addr)) {
        if let Some(task) = flow.task.borrow_mut().take() {
            task.abort();
        }
    }
}

/// Sends the container's datagrams back to the client until the flow has
/// been idle for [`UDP_IDLE`].
async fn reply_loop(
    flow: Rc<Flow>,
    listener: Rc<UdpSocket>,
    client: SocketAddr,
    flows: FlowTable,
    buf: Rc<RefCell<Vec<u8>>>,
) {
    loop {
        let idle_until = flow.last.get() + UDP_IDLE;
        tokio::select! {
            () = tokio::time::sleep_until(idle_until) => {
                if flow.last.get() + UDP_IDLE <= Instant::now() {
                    break;
                }
            }
            ready = flow.socket.readable() => {
                if ready.is_err() {
                    break;
                }
                // The buffer is shared by every flow; it is never held
                // across an await.
                let mut buf = buf.borrow_mut();
                match flow.socket.try_recv(&mut buf) {
                    Ok(n) => {
                        flow.last.set(Instant::now());
                        // UDP: a datagram the socket cannot take now is dropped.
                        let _ = listener.try_send_to(&buf[..n], client);
                    }
                    // Nothing listens in the container (yet): an ICMP
                    // error for an earlier datagram. Keep the flow.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                    Err(_) => break,
                }
            }
        }
    }
    let mut table = flows.borrow_mut();
    if table.get(&client).is_some_and(|f| Rc::ptr_eq(f, &flow)) {
        table.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn flags(s: &str) -> Result<Flags, ProxyError> {
        parse_flags(&args(s))
    }

    #[test]
    fn flags_accept_go_syntaxes() {
        let want = Flags {
            proto: "udp".into(),
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
            container_ip: "172.17.0.2".into(),
            container_port: 80,
        };
        for line in [
            "-proto udp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
            "-proto=udp -host-ip=0.0.0.0 -host-port=8080 -container-ip=172.17.0.2 -container-port=80",
            "--proto udp --host-ip=0.0.0.0 --host-port 0x1f90 -container-ip 172.17.0.2 --container-port=+80",
            "-proto tcp -proto udp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80 -- -bogus",
            "-proto udp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80 extra -bogus",
        ] {
            assert_eq!(flags(line).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn flags_default_like_docker_proxy() {
        let f = flags("").unwrap();
        assert_eq!(f.proto, "tcp");
        assert_eq!(f.host_port, -1);
        assert_eq!(f.container_port, -1);
        // Parsing stops at a lone "-".
        assert_eq!(flags("- -bogus").unwrap(), f);
    }

    #[test]
    fn flag_errors_are_gos() {
        let cases = [
            ("-bogus 1", "flag provided but not defined: -bogus"),
            ("--bogus=1", "flag provided but not defined: -bogus"),
            ("-host-port", "flag needs an argument: -host-port"),
            ("---proto tcp", "bad flag syntax: ---proto"),
            ("-=tcp", "bad flag syntax: -=tcp"),
            (
                "-host-port 80x",
                "invalid value \"80x\" for flag -host-port: parse error",
            ),
            (
                "-container-port 99999999999999999999",
                "invalid value \"99999999999999999999\" for flag -container-port: value out of range",
            ),
        ];
        for (line, msg) in cases {
            let e = flags(line).unwrap_err();
            assert_eq!(e.to_string(), msg, "{line}");
            assert!(e.is_usage());
        }
        assert!(matches!(flags("-h"), Err(ProxyError::Help)));
        assert!(matches!(flags("--help"), Err(ProxyError::Help)));
    }

    #[test]
    fn go_ints_take_base_prefixes() {
        assert_eq!(parse_go_int("p", "010").unwrap(), 8);
        assert_eq!(parse_go_int("p", "0b101").unwrap(), 5);
        assert_eq!(parse_go_int("p", "0o17").unwrap(), 15);
        assert_eq!(parse_go_int("p", "-1").unwrap(), -1);
        assert_eq!(parse_go_int("p", "0").unwrap(), 0);
        for bad in ["", "-", "0x", "09", "1_000", " 1"] {
            assert!(parse_go_int("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_checks_values() {
        let ok = config_from(
            &flags("-proto udp -host-port 53 -container-ip 172.17.0.2 -container-port 53").unwrap(),
        )
        .unwrap();
        assert_eq!(ok.proto, Proto::Udp);
        assert_eq!(ok.host, "0.0.0.0:53".parse().unwrap());
        assert_eq!(ok.container, "172.17.0.2:53".parse().unwrap());
        let cases = [
            (
                "-proto sctp -host-port 1 -container-ip 1.2.3.4 -container-port 1",
                "unsupported protocol sctp",
            ),
            (
                "-host-ip ::1 -host-port 1 -container-ip 1.2.3.4 -container-port 1",
                "invalid host ip \"::1\": not an IPv4 address",
            ),
            (
                "-host-port 1 -container-port 1",
                "invalid container ip \"\": not an IPv4 address",
            ),
            (
                "-container-ip 1.2.3.4 -container-port 1",
                "invalid host port -1",
            ),
            (
                "-host-port 65536 -container-ip 1.2.3.4 -container-port 1",
                "invalid host port 65536",
            ),
            (
                "-host-port 1 -container-ip 1.2.3.4 -container-port 0",
                "invalid container port 0",
            ),
        ];
        for (line, msg) in cases {
            let e = config_from(&flags(line).unwrap()).unwrap_err();
            assert_eq!(e.to_string(), msg, "{line}");
            assert!(!e.is_usage());
        }
    }

    #[test]
    fn usage_lists_flags_like_go() {
        let u = usage();
        assert!(u.starts_with(
            "Usage of balena-engine-proxy:\n  -container-ip string\n    \tcontainer ip\n"
        ));
        assert!(u.ends_with("  -proto string\n    \tproxy protocol (default \"tcp\")\n"));
    }

    #[test]
    fn full_flow_table_drops_the_least_recently_active() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let flows: FlowTable = Rc::default();
            let now = Instant::now();
            let mut tasks = Vec::new();
            for (port, age) in [(1u16, 5u64), (2, 50), (3, 1)] {
                let flow = Rc::new(Flow {
                    socket: open_flow(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9))
                        .await
                        .unwrap(),
                    last: Cell::new(now - Duration::from_secs(age)),
                    task: RefCell::new(None),
                });
                let task = tokio::task::spawn_local(std::future::pending::<()>());
                *flow.task.borrow_mut() = Some(task.abort_handle());
                tasks.push(task);
                flows
                    .borrow_mut()
                    .insert(SocketAddr::from(([127, 0, 0, 1], port)), flow);
            }
            evict_if_full(&flows, 4);
            assert_eq!(flows.borrow().len(), 3);
            evict_if_full(&flows, 3);
            let mut left: Vec<u16> = flows.borrow().keys().map(|a| a.port()).collect();
            left.sort();
            assert_eq!(left, [1, 3]);
            let aborted = tasks.remove(1).await.unwrap_err();
            assert!(aborted.is_cancelled());
            assert!(tasks.iter().all(|t| !t.is_finished()));
        });
    }
}
