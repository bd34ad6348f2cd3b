#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `balena-engine-proxy` applet as a process, started and stopped the
//! way the engine does it (`portmap::start_proxy` / `stop_proxy`), against
//! echo servers on 127.0.0.1. Loopback only.
//!
//! The applet is this test binary itself: a constructor (run by the C
//! library before `main`, so before the test harness parses arguments)
//! calls `network::proxy::main` when argv[0] is `balena-engine-proxy`.
//! That is what `start_proxy` sets, so no other binary has to be built.
//!
//! Measurements (ignored by default):
//! `cargo test --release -p network --test proxy -- --ignored --nocapture`;
//! set `PROXY_BENCH_EXE=/path/to/balena-engine` to measure that binary's
//! applet instead of this one.

use std::ffi::{c_char, c_int, CStr};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use network::portmap::{start_proxy, stop_proxy, PortError, Proto, ProxyChild, ProxySpec};

extern "C" fn proxy_applet_hook(
    argc: c_int,
    argv: *const *const c_char,
    _env: *const *const c_char,
) {
    if argv.is_null() || argc < 1 {
        return;
    }
    let args: Vec<String> = (0..argc as usize)
        .map(|i| {
            // SAFETY: the C library passes the process's argc and argv to
            // `.init_array` functions: argc valid, NUL-terminated strings.
            unsafe { CStr::from_ptr(*argv.add(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if args[0].rsplit('/').next() == Some("balena-engine-proxy") {
        std::process::exit(network::proxy::main(args[1..].to_vec()));
    }
}

#[used]
#[link_section = ".init_array"]
static PROXY_APPLET_HOOK: extern "C" fn(c_int, *const *const c_char, *const *const c_char) =
    proxy_applet_hook;

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn applet_exe() -> PathBuf {
    std::env::current_exe().unwrap()
}

/// Stops the proxy by pid when the test ends, even on failure.
struct Proxy(ProxyChild);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = stop_proxy(self.0.pid());
    }
}

fn free_port(proto: Proto) -> u16 {
    match proto {
        Proto::Tcp => TcpListener::bind((LO, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        Proto::Udp => UdpSocket::bind((LO, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    }
}

fn spec(proto: Proto, host_port: u16, container_port: u16) -> ProxySpec {
    ProxySpec {
        proto,
        host_ip: LO,
        host_port,
        container_ip: LO,
        container_port,
    }
}

fn start(proto: Proto, container_port: u16) -> (Proxy, u16) {
    start_with(&applet_exe(), proto, container_port)
}

fn start_with(exe: &std::path::Path, proto: Proto, container_port: u16) -> (Proxy, u16) {
    let mut last = None;
    for _ in 0..5 {
        let port = free_port(proto);
        match start_proxy(exe, &spec(proto, port, container_port)) {
            Ok(child) => return (Proxy(child), port),
            // Someone took the port in between: try another.
            Err(e) => last = Some(e),
        }
    }
    panic!("proxy did not start: {last:?}");
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect((LO, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn tcp_data_flows_both_ways_and_client_half_close_reaches_the_container() {
    let backend = TcpListener::bind((LO, 0)).unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut c, _) = backend.accept().unwrap();
            let mut got = Vec::new();
            // Ends only if the proxy passes the client's half-close on.
            c.read_to_end(&mut got).unwrap();
            let reply = format!("got {} bytes: {}", got.len(), String::from_utf8_lossy(&got));
            c.write_all(reply.as_bytes()).unwrap();
        }
    });
    let (proxy, port) = start(Proto::Tcp, backend_port);
    for msg in ["hello", "again"] {
        let mut c = connect(port);
        c.write_all(msg.as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, format!("got 5 bytes: {msg}"));
    }
    server.join().unwrap();
    drop(proxy);
}

#[test]
fn tcp_container_half_close_keeps_the_client_direction_open() {
    let backend = TcpListener::bind((LO, 0)).unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = backend.accept().unwrap();
        c.write_all(b"banner").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        got
    });
    let (_proxy, port) = start(Proto::Tcp, backend_port);
    let mut c = connect(port);
    let mut banner = Vec::new();
    c.read_to_end(&mut banner).unwrap();
    assert_eq!(banner, b"banner");
    // The container stopped writing, not reading.
    c.write_all(b"late data").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), b"late data");
}

#[test]
fn tcp_unreachable_container_closes_the_connection_but_not_the_proxy() {
    let backend_port = free_port(Proto::Tcp);
    let (_proxy, port) = start(Proto::Tcp, backend_port);
    let mut c = connect(port);
    let mut buf = Vec::new();
    // Closed (EOF or reset), not hung.
    let _ = c.read_to_end(&mut buf);
    assert!(buf.is_empty());
    // The container comes up: the next connection goes through.
    let backend = TcpListener::bind((LO, backend_port)).unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = backend.accept().unwrap();
        c.write_all(b"up").unwrap();
    });
    let mut c = connect(port);
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "up");
    server.join().unwrap();
}

#[test]
fn udp_datagrams_flow_both_ways_per_client() {
    let backend = UdpSocket::bind((LO, 0)).unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    backend
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let server = std::thread::spawn(move || {
        let mut sources = Vec::new();
        let mut buf = [0u8; 65536];
        for _ in 0..4 {
            let (n, from) = backend.recv_from(&mut buf).unwrap();
            sources.push(from);
            let reply = String::from_utf8_lossy(&buf[..n]).to_uppercase();
            backend.send_to(reply.as_bytes(), from).unwrap();
        }
        sources
    });
    let (_proxy, port) = start(Proto::Udp, backend_port);
    let clients: Vec<UdpSocket> = (0..2)
        .map(|_| {
            let s = UdpSocket::bind((LO, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.connect((LO, port)).unwrap();
            s
        })
        .collect();
    for round in 0..2 {
        for (i, c) in clients.iter().enumerate() {
            let msg = format!("ping {i} {round}");
            c.send(msg.as_bytes()).unwrap();
            let mut buf = [0u8; 64];
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], msg.to_uppercase().as_bytes());
        }
    }
    let sources = server.join().unwrap();
    // One flow (one source port towards the container) per client, kept
    // between datagrams.
    assert_eq!(sources[0], sources[2]);
    assert_eq!(sources[1], sources[3]);
    assert_ne!(sources[0], sources[1]);
}

#[test]
fn udp_large_datagram_passes_whole() {
    let backend = UdpSocket::bind((LO, 0)).unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let (n, from) = backend.recv_from(&mut buf).unwrap();
        backend.send_to(&buf[..n], from).unwrap();
        n
    });
    let (_proxy, port) = start(Proto::Udp, backend_port);
    let c = UdpSocket::bind((LO, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big: Vec<u8> = (0..65507u32).map(|i| (i % 251) as u8).collect();
    c.send_to(&big, (LO, port)).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = c.recv_from(&mut buf).unwrap();
    assert_eq!(server.join().unwrap(), 65507);
    assert_eq!(&buf[..n], &big[..]);
}

#[test]
fn busy_host_port_is_reported_through_fd3() {
    let taken = TcpListener::bind((LO, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = start_proxy(&applet_exe(), &spec(Proto::Tcp, port, 80)).unwrap_err();
    assert!(matches!(err, PortError::ProxyStart { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
        )
    );
    let taken = UdpSocket::bind((LO, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = start_proxy(&applet_exe(), &spec(Proto::Udp, port, 53)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Error starting userland proxy: listen udp4 127.0.0.1:{port}: bind: address already in use"
        )
    );
}

#[test]
fn proxy_runs_in_its_own_session_named_balena_engine_proxy() {
    let (proxy, _port) = start(Proto::Tcp, 9);
    let pid = proxy.0.pid();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    assert_eq!(argv[0], b"balena-engine-proxy");
    assert_eq!(argv[1], b"-proto");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let sid: i32 = after_comm.split(' ').nth(3).unwrap().parse().unwrap();
    assert_eq!(sid, pid);
    // One thread.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("\nThreads:\t1\n"), "{status}");
}

#[test]
fn sigterm_stops_it_with_status_0_and_frees_the_port() {
    let (proxy, port) = start(Proto::Tcp, 9);
    let pid = nix::unistd::Pid::from_raw(proxy.0.pid());
    std::mem::forget(proxy);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = nix::sys::wait::waitpid(pid, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
    TcpListener::bind((LO, port)).unwrap();

    // stop_proxy: the same, and the process is reaped.
    let (proxy, port) = start(Proto::Udp, 9);
    let pid = proxy.0.pid();
    stop_proxy(pid).unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    UdpSocket::bind((LO, port)).unwrap();
    // Again: already gone.
    stop_proxy(pid).unwrap();
    std::mem::forget(proxy);
}

#[test]
fn bad_command_lines_exit_like_docker_proxy() {
    let run = |args: &[&str]| {
        let out = Command::new(applet_exe())
            .arg0("balena-engine-proxy")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["-bogus", "1"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("flag provided but not defined: -bogus\nUsage of balena-engine-proxy:\n"),
        "{err}"
    );
    let (code, err) = run(&["-h"]);
    assert_eq!(code, Some(0));
    assert!(err.starts_with("Usage of balena-engine-proxy:\n"), "{err}");
    let (code, err) = run(&[
        "-proto",
        "sctp",
        "-host-port",
        "1",
        "-container-ip",
        "127.0.0.1",
        "-container-port",
        "1",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "unsupported protocol sctp\n");
    // And through start_proxy, the message arrives on fd 3.
    let err = start_proxy(
        &applet_exe(),
        &ProxySpec {
            proto: Proto::Tcp,
            host_ip: LO,
            host_port: 1,
            container_ip: Ipv4Addr::UNSPECIFIED,
            container_port: 0,
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error starting userland proxy: invalid container port 0"
    );
}

/// Proportional set size and resident size of a process, in KiB.
fn pss_rss_kib(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}

/// Sends `total` bytes to `port` and waits for the sink to count them.
fn transfer(port: u16, total: u64) -> Duration {
    let chunk = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut c = TcpStream::connect((LO, port)).unwrap();
    let mut sent = 0u64;
    while sent < total {
        c.write_all(&chunk).unwrap();
        sent += chunk.len() as u64;
    }
    c.shutdown(Shutdown::Write).unwrap();
    let mut ack = [0u8; 8];
    c.read_exact(&mut ack).unwrap();
    assert_eq!(u64::from_le_bytes(ack), total);
    t.elapsed()
}

#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn measure_idle_memory_and_tcp_throughput() {
    let exe = std::env::var_os("PROXY_BENCH_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(applet_exe);
    let sink = TcpListener::bind((LO, 0)).unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in sink.incoming() {
            let mut c = c.unwrap();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let mut n = 0u64;
                loop {
                    match c.read(&mut buf).unwrap() {
                        0 => break,
                        k => n += k as u64,
                    }
                }
                c.write_all(&n.to_le_bytes()).unwrap();
            });
        }
    });
    let (proxy, port) = start_with(&exe, Proto::Tcp, sink_port);
    let (udp_proxy, _) = start_with(&exe, Proto::Udp, 53);
    std::thread::sleep(Duration::from_millis(200));
    let (pss, rss) = pss_rss_kib(proxy.0.pid());
    let (upss, urss) = pss_rss_kib(udp_proxy.0.pid());
    println!("exe: {}", exe.display());
    println!("idle tcp proxy: PSS {pss} KiB, RSS {rss} KiB");
    println!("idle udp proxy: PSS {upss} KiB, RSS {urss} KiB");
    const GIB: u64 = 1 << 30;
    let _ = transfer(sink_port, GIB / 8);
    let direct = transfer(sink_port, GIB);
    let proxied = transfer(port, GIB);
    let mbps = |d: Duration| (GIB as f64 / (1 << 20) as f64) / d.as_secs_f64();
    println!(
        "1 GiB direct: {:.2} s ({:.0} MiB/s); through the proxy: {:.2} s ({:.0} MiB/s)",
        direct.as_secs_f64(),
        mbps(direct),
        proxied.as_secs_f64(),
        mbps(proxied)
    );
    let (pss, rss) = pss_rss_kib(proxy.0.pid());
    println!("tcp proxy after the transfer: PSS {pss} KiB, RSS {rss} KiB");
}
