//! The embedded DNS server over real sockets, on the host's loopback only:
//! the server on 127.0.0.1 (or 127.0.0.11), fake upstream servers on
//! 127.0.0.1, clients on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use network::dns::{self, DnsConfig, DnsServer, Resolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Counts live heap bytes, for the memory measurement.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Names {
    upstreams: Vec<SocketAddr>,
}

impl Resolver for Names {
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        (name == "web").then(|| vec![Ipv4Addr::new(172, 18, 0, 2)])
    }
    fn lookup_ptr(&self, _: Ipv4Addr) -> Option<String> {
        None
    }
    fn upstreams(&self) -> Vec<SocketAddr> {
        self.upstreams.clone()
    }
}

struct Server {
    _server: DnsServer,
    udp: SocketAddr,
    tcp: SocketAddr,
}

fn serve(upstreams: Vec<SocketAddr>, config: DnsConfig) -> Server {
    let sockets = dns::bind(Ipv4Addr::LOCALHOST).unwrap();
    let udp = SocketAddr::from((Ipv4Addr::LOCALHOST, sockets.udp_port()));
    let tcp = SocketAddr::from((Ipv4Addr::LOCALHOST, sockets.tcp_port()));
    let server = dns::spawn_with(sockets, Arc::new(Names { upstreams }), config).unwrap();
    Server {
        _server: server,
        udp,
        tcp,
    }
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message.to_vec().unwrap()
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

async fn ask_udp(server: SocketAddr, query: &[u8]) -> Message {
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    client.send_to(query, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, from) = tokio::time::timeout(Duration::from_secs(10), client.recv_from(&mut buf))
        .await
        .expect("no udp reply")
        .unwrap();
    assert_eq!(from, server);
    Message::from_vec(&buf[..len]).unwrap()
}

async fn ask_tcp(stream: &mut TcpStream, query: &[u8]) -> Message {
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len))
        .await
        .expect("no tcp reply")
        .unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    Message::from_vec(&reply).unwrap()
}

/// How a fake upstream answers.
#[derive(Clone, Copy)]
enum Upstream {
    /// One A record over UDP and TCP.
    Answer,
    /// Never answers.
    Silent,
    /// TC and no answers over UDP; three A records over TCP.
    TruncateUdp,
    /// SERVFAIL to everything.
    ServFail,
}

const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

fn upstream_reply(query: &[u8], mode: Upstream, tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(query.queries.iter().cloned());
    let name = query.queries.first()?.name().clone();
    let record = |i: u8| {
        let ip = Ipv4Addr::new(93, 184, 216, 34 + i);
        Record::from_rdata(name.clone(), 300, RData::A(A(ip)))
    };
    match (mode, tcp) {
        (Upstream::Silent, _) => return None,
        (Upstream::Answer, _) => {
            reply.add_answer(record(0));
        }
        (Upstream::TruncateUdp, false) => reply.metadata.truncation = true,
        (Upstream::TruncateUdp, true) => {
            reply.add_answers((0..3).map(record));
        }
        (Upstream::ServFail, _) => reply.metadata.response_code = ResponseCode::ServFail,
    }
    reply.to_vec().ok()
}

/// A fake upstream on 127.0.0.1, UDP and TCP on the same port.
async fn fake_upstream(mode: Upstream) -> (SocketAddr, JoinHandle<()>, JoinHandle<()>) {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, peer) = udp.recv_from(&mut buf).await.unwrap();
            if let Some(reply) = upstream_reply(&buf[..len], mode, false) {
                udp.send_to(&reply, peer).await.unwrap();
            }
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = tcp.accept().await.unwrap();
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await.unwrap();
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut query).await.unwrap();
                if let Some(reply) = upstream_reply(&query, mode, true) {
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    stream.write_all(&framed).await.unwrap();
                }
            });
        }
    });
    (addr, udp_task, tcp_task)
}

fn quick() -> DnsConfig {
    DnsConfig {
        forward_timeout: Duration::from_millis(300),
        ..DnsConfig::default()
    }
}

#[tokio::test]
async fn udp_query_for_local_name_is_answered() {
    let server = serve(Vec::new(), DnsConfig::default());
    let reply = ask_udp(server.udp, &query(0x1234, "web.")).await;
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.recursion_available);
    assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(reply.answers[0].ttl, 600);
}

#[tokio::test]
async fn tcp_queries_for_local_name_are_answered_on_one_connection() {
    let server = serve(Vec::new(), DnsConfig::default());
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    for id in [1, 2] {
        let reply = ask_tcp(&mut stream, &query(id, "WEB.")).await;
        assert_eq!(reply.metadata.id, id);
        assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    }
}

#[tokio::test]
async fn bind_local_serves_on_127_0_0_11() {
    let sockets = dns::bind_local().unwrap();
    let addr = SocketAddr::from((dns::LOCAL_ADDR, sockets.udp_port()));
    let _server = dns::spawn(sockets, Arc::new(Names { upstreams: vec![] })).unwrap();
    let reply = ask_udp(addr, &query(5, "web.")).await;
    assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
}

#[tokio::test]
async fn unknown_name_is_forwarded_and_the_answer_relayed() {
    let (upstream, _u, _t) = fake_upstream(Upstream::Answer).await;
    let server = serve(vec![upstream], quick());
    let reply = ask_udp(server.udp, &query(0x7777, "example.com.")).await;
    assert_eq!(reply.metadata.id, 0x7777);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&reply), vec![UPSTREAM_IP]);

    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let reply = ask_tcp(&mut stream, &query(0x8888, "example.com.")).await;
    assert_eq!(reply.metadata.id, 0x8888);
    assert_eq!(addresses(&reply), vec![UPSTREAM_IP]);
}

#[tokio::test]
async fn upstream_timeout_gives_servfail() {
    let (upstream, _u, _t) = fake_upstream(Upstream::Silent).await;
    let server = serve(vec![upstream], quick());
    let started = Instant::now();
    let reply = ask_udp(server.udp, &query(0x5151, "example.com.")).await;
    assert_eq!(reply.metadata.id, 0x5151);
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(reply.queries.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn failing_upstream_is_skipped_for_the_next() {
    let (failing, _fu, _ft) = fake_upstream(Upstream::ServFail).await;
    let (good, _gu, _gt) = fake_upstream(Upstream::Answer).await;
    let server = serve(vec![failing, good], quick());
    let reply = ask_udp(server.udp, &query(9, "example.com.")).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&reply), vec![UPSTREAM_IP]);
}

#[tokio::test]
async fn no_upstreams_gives_servfail() {
    let server = serve(Vec::new(), quick());
    let reply = ask_udp(server.udp, &query(3, "example.com.")).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn truncated_upstream_udp_answer_is_retried_over_tcp() {
    let (upstream, _u, _t) = fake_upstream(Upstream::TruncateUdp).await;
    let server = serve(vec![upstream], quick());
    let reply = ask_udp(server.udp, &query(0x4444, "big.example.")).await;
    assert_eq!(reply.metadata.id, 0x4444);
    assert!(!reply.metadata.truncation);
    assert_eq!(addresses(&reply).len(), 3);
}

#[tokio::test]
async fn tcp_connections_over_the_cap_are_closed() {
    let config = DnsConfig {
        max_tcp_connections: 1,
        ..DnsConfig::default()
    };
    let server = serve(Vec::new(), config);
    let mut first = TcpStream::connect(server.tcp).await.unwrap();
    ask_tcp(&mut first, &query(1, "web.")).await;
    let mut second = TcpStream::connect(server.tcp).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    // The first connection still works.
    ask_tcp(&mut first, &query(2, "web.")).await;
}

#[tokio::test]
async fn shutdown_closes_the_sockets() {
    let sockets = dns::bind(Ipv4Addr::LOCALHOST).unwrap();
    let tcp = SocketAddr::from((Ipv4Addr::LOCALHOST, sockets.tcp_port()));
    let server = dns::spawn(sockets, Arc::new(Names { upstreams: vec![] })).unwrap();
    server.shutdown().await;
    assert!(TcpStream::connect(tcp).await.is_err());
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let sockets = dns::bind(Ipv4Addr::LOCALHOST).unwrap();
    let err = dns::spawn(sockets, Arc::new(Names { upstreams: vec![] })).unwrap_err();
    assert!(matches!(err, dns::DnsError::NoRuntime), "{err}");
}

/// Measurement, not a check: run with
/// `cargo test --release -p network --test dns -- --ignored --nocapture measure`.
#[test]
#[ignore]
fn measure_udp_latency_for_a_local_name() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let server = serve(Vec::new(), DnsConfig::default());
    // A blocking client on its own thread, as a container's resolver is.
    let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    client.connect(server.udp).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 512];
    let mut times = Vec::with_capacity(10_000);
    for i in 0..11_000u32 {
        let q = query(i as u16, "web.");
        let start = Instant::now();
        client.send(&q).unwrap();
        let len = client.recv(&mut buf).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(buf[..2], (i as u16).to_be_bytes());
        assert!(len > 12);
        if i >= 1_000 {
            times.push(elapsed);
        }
    }
    times.sort();
    let pct = |p: usize| times[times.len() * p / 100];
    println!(
        "udp local-name latency over {} queries: median {:?}, p99 {:?}, max {:?}",
        times.len(),
        pct(50),
        pct(99),
        times[times.len() - 1]
    );
}

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn slab_kib() -> i64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// Measurement, not a check (see above).
#[test]
#[ignore]
fn measure_memory_per_instance() {
    const N: usize = 1000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    // Warm the runtime up first.
    let warm = serve(Vec::new(), DnsConfig::default());
    runtime.block_on(ask_udp(warm.udp, &query(1, "web.")));
    std::thread::sleep(Duration::from_millis(200));
    let (heap0, rss0, slab0) = (LIVE.load(Ordering::Relaxed), rss_kib(), slab_kib());
    let mut servers = Vec::with_capacity(N);
    for _ in 0..N {
        servers.push(serve(Vec::new(), DnsConfig::default()));
    }
    // Let every server reach its first receive and accept.
    runtime.block_on(async {
        for server in &servers {
            ask_udp(server.udp, &query(1, "web.")).await;
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (heap1, rss1, slab1) = (LIVE.load(Ordering::Relaxed), rss_kib(), slab_kib());
    println!(
        "per instance over {N}: heap {} B, rss {} KiB, kernel slab ~{} KiB (system-wide, noisy)",
        (heap1 - heap0) / N as isize,
        (rss1 - rss0) as f64 / N as f64,
        (slab1 - slab0) as f64 / N as f64,
    );
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    println!("{sockstat}");
    drop(servers);
}
