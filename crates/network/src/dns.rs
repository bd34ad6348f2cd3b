//! The embedded DNS server Docker runs at 127.0.0.11 for containers on
//! user-defined networks (libnetwork's `resolver.go`).
//!
//! The engine binds the sockets with [`bind_local`] from a thread that has
//! entered the container's network namespace (sockets keep the namespace
//! they were created in), redirects 127.0.0.11:53 to [`DnsSockets::udp_port`]
//! and [`DnsSockets::tcp_port`] there, and serves them with [`spawn`] on the
//! daemon's tokio runtime. Names come from a [`Resolver`] the engine supplies.
//!
//! Behaviour, as Docker's:
//! - A for a local name: the addresses (shuffled), TTL 600. AAAA or MX for a
//!   local name: NOERROR with no answers, so the client does not look further.
//!   PTR for `d.c.b.a.in-addr.arpa` of a local address: the name, TTL 600.
//! - Anything else goes to the upstream servers (at most three, in order, 4 s
//!   each); SERVFAIL and REFUSED from one try the next; nothing usable gives
//!   SERVFAIL (as current moby; Docker 20.10 left the client waiting). No
//!   upstreams (internal networks) gives SERVFAIL at once.
//! - A query with other than one question (or more than one answer or
//!   authority record, or more than two additional ones) gets FORMERR, an
//!   opcode other than QUERY gets NOTIMP, an unparsable message FORMERR; a
//!   message shorter than a header, or a response, gets nothing.
//! - Replies carry the request id, copy RD and CD, set RA on answers; UDP
//!   replies fit the client's size (512, or its EDNS size up to 4096), trimming
//!   answers and setting TC.
//!
//! Departures from Docker:
//! - Queries are forwarded from the daemon's network namespace, not the
//!   container's: the forwarding sockets are created on the daemon's runtime.
//!   Resolvers on the host's loopback (systemd-resolved at 127.0.0.53,
//!   dnsmasq at 127.0.0.1) therefore work, where Docker had to drop them from
//!   the list and fall back to 8.8.8.8; a container on an internal network
//!   gets no upstreams from the engine instead.
//! - Forwarding always asks over UDP first and retries over TCP when the
//!   answer is truncated (or larger than 4096 bytes), then fits the answer to
//!   the client: clients that never retry over TCP (musl before 1.2.4) get the
//!   records that fit instead of an empty truncated answer.
//! - Each forward uses a fresh socket and a random id, and only a reply with
//!   that id and the same question is accepted (Docker relayed any reply).
//! - A PTR question that is not under `in-addr.arpa` is forwarded (Docker
//!   dropped it); NOTIFY gets NOTIMP (Docker forwarded it); replies to an
//!   EDNS query carry an OPT record (RFC 6891; Docker sent none).
//! - Not done: SRV for swarm services, the `ndots` special case, and IPv6
//!   records for local names (the engine gives containers IPv4 only).
//!
//! Bounds: UDP messages of 4096 bytes, TCP messages of 65535 bytes with an
//! idle timeout per read or write and at most 128 queries per connection,
//! [`DnsConfig::max_tcp_connections`] connections and
//! [`DnsConfig::max_forwards`] forwards in flight per server (REFUSED above).

mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

pub use server::DnsServer;

/// The address Docker's embedded DNS listens on in a container.
pub const LOCAL_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// TTL of local answers (Docker's `respTTL`).
const LOCAL_TTL: u32 = 600;
/// Largest UDP message received or sent, and the size advertised in EDNS.
const UDP_MAX: usize = 4096;
/// The UDP size every client accepts (RFC 1035).
const UDP_MIN: usize = 512;
/// Largest message over TCP (two-byte length prefix).
const TCP_MAX: usize = 65535;
const HEADER_LEN: usize = 12;
/// Upstreams tried per query (Docker's `maxExtDNS`).
const MAX_UPSTREAMS: usize = 3;

/// Where the server's names come from: the engine's view of the networks
/// the asking container is connected to. Called on the runtime's threads for
/// every query, so it must answer from memory without blocking.
pub trait Resolver: Send + Sync + 'static {
    /// A records for `name` (lowercase, no trailing dot) as the asking
    /// container sees it; `None` = not a local name (forward it).
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// Reverse lookup for an address on the container's networks; `None` =
    /// forward.
    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String>;
    /// Servers to forward other queries to (the host's resolvers; empty =
    /// answer SERVFAIL, e.g. for containers on internal networks only).
    fn upstreams(&self) -> Vec<SocketAddr>;
}

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("dns: bind {proto} socket on {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("dns: no tokio runtime to serve on")]
    NoRuntime,
    #[error("dns: register {proto} socket with the runtime: {source}")]
    Register {
        proto: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The server's two sockets, bound and nonblocking, not yet served. They
/// stay in the network namespace they were bound in.
#[derive(Debug)]
pub struct DnsSockets {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    udp_port: u16,
    tcp_port: u16,
}

impl DnsSockets {
    /// The UDP port chosen by the kernel.
    pub fn udp_port(&self) -> u16 {
        self.udp_port
    }

    /// The TCP port chosen by the kernel (independent of the UDP port).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }
}

/// Binds [`LOCAL_ADDR`]`:0` (UDP and TCP) in the calling thread's network
/// namespace.
pub fn bind_local() -> Result<DnsSockets, DnsError> {
    bind(LOCAL_ADDR)
}

/// Binds `addr:0` (UDP and TCP) in the calling thread's network namespace;
/// any loopback address does for tests.
pub fn bind(addr: Ipv4Addr) -> Result<DnsSockets, DnsError> {
    let want = SocketAddr::from((addr, 0));
    let bind_err = |proto| {
        move |source| DnsError::Bind {
            proto,
            addr: want,
            source,
        }
    };
    let udp = std::net::UdpSocket::bind(want).map_err(bind_err("udp"))?;
    udp.set_nonblocking(true).map_err(bind_err("udp"))?;
    let udp_port = udp.local_addr().map_err(bind_err("udp"))?.port();
    let tcp = std::net::TcpListener::bind(want).map_err(bind_err("tcp"))?;
    tcp.set_nonblocking(true).map_err(bind_err("tcp"))?;
    let tcp_port = tcp.local_addr().map_err(bind_err("tcp"))?.port();
    Ok(DnsSockets {
        udp,
        tcp,
        udp_port,
        tcp_port,
    })
}

/// Limits and timeouts of a server; [`Default`] is what the engine uses.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Wait for one upstream server, per attempt (UDP, then TCP when
    /// truncated). Docker's 4 s.
    pub forward_timeout: Duration,
    /// Wait for a TCP client's next read or write before closing (8 s, as
    /// the Go server Docker uses).
    pub tcp_idle_timeout: Duration,
    /// Forwarded queries in flight (UDP and TCP together); more get REFUSED.
    pub max_forwards: usize,
    /// Open TCP connections; more are closed at once.
    pub max_tcp_connections: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            forward_timeout: Duration::from_secs(4),
            tcp_idle_timeout: Duration::from_secs(8),
            max_forwards: 128,
            max_tcp_connections: 16,
        }
    }
}

/// Serves `sockets` on the current tokio runtime with the default
/// [`DnsConfig`] until the returned handle is dropped or shut down.
pub fn spawn(sockets: DnsSockets, resolver: Arc<dyn Resolver>) -> Result<DnsServer, DnsError> {
    spawn_with(sockets, resolver, DnsConfig::default())
}

/// [`spawn`] with explicit limits.
pub fn spawn_with(
    sockets: DnsSockets,
    resolver: Arc<dyn Resolver>,
    config: DnsConfig,
) -> Result<DnsServer, DnsError> {
    server::spawn(sockets, resolver, config)
}

/// What to do with one query message received over UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not a local name: relay the query to the upstream servers.
    Forward,
    /// Send nothing.
    Drop,
}

/// The pure core of the server, for tests and fuzzing: what to do with one
/// query message arriving over UDP.
pub fn answer(query: &[u8], resolver: &dyn Resolver) -> Answer {
    match decide(query, resolver, Transport::Udp) {
        Decision::Reply(reply) => Answer::Reply(reply),
        Decision::Forward(_) => Answer::Forward,
        Decision::Drop => Answer::Drop,
    }
}

/// The host's resolvers from the text of a `resolv.conf`: every
/// `nameserver <ip>` line (IPv4 or IPv6, port 53), in order. Comments (`#`,
/// `;`) are ignored; malformed lines and IPv6 addresses with a zone are
/// skipped.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let (Some(addr), None) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            servers.push(SocketAddr::new(ip, 53));
        }
    }
    servers
}

/// The transport a query came in on, which sets the reply's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// [`answer`] with what forwarding needs.
#[derive(Debug)]
pub(crate) enum Decision {
    Reply(Vec<u8>),
    Forward(ForwardRequest),
    Drop,
}

/// A query to relay upstream, with what is needed to check and fit the
/// upstream's reply.
#[derive(Debug)]
pub(crate) struct ForwardRequest {
    request: Metadata,
    question: Query,
    edns: bool,
    /// Where the question section lies in the raw query.
    question_bytes: Range<usize>,
    transport: Transport,
    /// Largest reply the client accepts.
    limit: usize,
    upstreams: Vec<SocketAddr>,
}

impl ForwardRequest {
    /// The servers to try, in order.
    pub(crate) fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// The question section of `query`, the message this request came from.
    pub(crate) fn question_of<'q>(&self, query: &'q [u8]) -> &'q [u8] {
        query.get(self.question_bytes.clone()).unwrap_or_default()
    }

    /// An error reply with the question (Go's `SetRcode`: RD and CD copied,
    /// RA not set).
    pub(crate) fn error_reply(&self, rcode: ResponseCode) -> Vec<u8> {
        let mut message = reply_to(&self.request, &self.question, self.edns);
        message.metadata.recursion_available = false;
        message.metadata.response_code = rcode;
        encode_or_servfail(&message, &self.request)
    }

    /// The upstream's reply `response` (already checked against the query)
    /// made into the client's: its id, fitted to the client's size.
    pub(crate) fn relay(&self, mut response: Vec<u8>) -> Vec<u8> {
        set_id(&mut response, self.request.id);
        if response.len() <= self.limit {
            return response;
        }
        if let Ok(message) = Message::from_vec(&response) {
            if let Some(fitted) = encode_fitted(message, self.limit, self.transport) {
                return fitted;
            }
        }
        // Unparsable and too big: an empty truncated answer sends the
        // client to TCP.
        let mut message = reply_to(&self.request, &self.question, self.edns);
        message.metadata.truncation = true;
        encode_or_servfail(&message, &self.request)
    }
}

pub(crate) fn decide(msg: &[u8], resolver: &dyn Resolver, transport: Transport) -> Decision {
    let Some(header) = RawHeader::parse(msg) else {
        // Too short to answer; any reply could be used for amplification.
        return Decision::Drop;
    };
    if header.is_response() {
        return Decision::Drop;
    }
    if header.opcode() != 0 {
        return Decision::Reply(header.error_reply(ResponseCode::NotImp));
    }
    if header.questions != 1
        || header.answers > 1
        || header.authorities > 1
        || header.additionals > 2
    {
        return Decision::Reply(header.error_reply(ResponseCode::FormErr));
    }
    let (Ok(message), Some(question_end)) = (Message::from_vec(msg), question_end(msg)) else {
        return Decision::Reply(header.error_reply(ResponseCode::FormErr));
    };
    let Some(question) = message.queries.first() else {
        return Decision::Reply(header.error_reply(ResponseCode::FormErr));
    };
    let edns = message.edns.is_some();
    let limit = match transport {
        Transport::Udp => usize::from(message.max_payload()).clamp(UDP_MIN, UDP_MAX),
        Transport::Tcp => TCP_MAX,
    };
    if question.query_class() == DNSClass::IN {
        if let Some(answers) = local_answers(question, resolver) {
            let mut reply = reply_to(&message.metadata, question, edns);
            reply.answers = answers;
            return Decision::Reply(
                encode_fitted(reply, limit, transport)
                    .unwrap_or_else(|| header.error_reply(ResponseCode::ServFail)),
            );
        }
    }
    let mut upstreams = resolver.upstreams();
    upstreams.truncate(MAX_UPSTREAMS);
    let request = ForwardRequest {
        request: message.metadata,
        question: question.clone(),
        edns,
        question_bytes: HEADER_LEN..question_end,
        transport,
        limit,
        upstreams,
    };
    if request.upstreams.is_empty() {
        return Decision::Reply(request.error_reply(ResponseCode::ServFail));
    }
    Decision::Forward(request)
}

/// The answer records for a local name, or `None` to forward.
fn local_answers(question: &Query, resolver: &dyn Resolver) -> Option<Vec<Record>> {
    let name = question.name();
    match question.query_type() {
        RecordType::A => {
            let mut ips = resolver.lookup_v4(&lookup_key(name)?)?;
            shuffle(&mut ips);
            Some(
                ips.into_iter()
                    .map(|ip| Record::from_rdata(name.clone(), LOCAL_TTL, RData::A(A(ip))))
                    .collect(),
            )
        }
        // A local name without IPv6, or without mail: NOERROR, no records
        // (an "implicit MX" for mail clients, RFC 5321 5.1).
        RecordType::AAAA | RecordType::MX => {
            resolver.lookup_v4(&lookup_key(name)?)?;
            Some(Vec::new())
        }
        RecordType::PTR => {
            let host = resolver.lookup_ptr(arpa_v4(name)?)?;
            let host = host.trim_end_matches('.');
            if host.is_empty() {
                return None;
            }
            let mut target = Name::from_ascii(host).ok()?;
            target.set_fqdn(true);
            Some(vec![Record::from_rdata(
                name.clone(),
                LOCAL_TTL,
                RData::PTR(PTR(target)),
            )])
        }
        _ => None,
    }
}

/// `name` as the resolver is asked: lowercase, dot-separated, no trailing
/// dot. `None` for the root and for labels with bytes no container name has.
fn lookup_key(name: &Name) -> Option<String> {
    let mut key = String::with_capacity(name.len());
    for label in name.iter() {
        if !key.is_empty() {
            key.push('.');
        }
        for &byte in label {
            if !byte.is_ascii_graphic() || byte == b'.' {
                return None;
            }
            key.push(char::from(byte.to_ascii_lowercase()));
        }
    }
    (!key.is_empty()).then_some(key)
}

/// The address of `d.c.b.a.in-addr.arpa` (any case), octets in canonical
/// decimal.
fn arpa_v4(name: &Name) -> Option<Ipv4Addr> {
    let mut labels = name.iter();
    let mut octets = [0u8; 4];
    for slot in octets.iter_mut().rev() {
        *slot = decimal_octet(labels.next()?)?;
    }
    let in_addr = labels.next()?;
    let arpa = labels.next()?;
    let done = labels.next().is_none();
    (done && in_addr.eq_ignore_ascii_case(b"in-addr") && arpa.eq_ignore_ascii_case(b"arpa"))
        .then(|| Ipv4Addr::from(octets))
}

fn decimal_octet(label: &[u8]) -> Option<u8> {
    let canonical = matches!(label, [b'0'] | [b'1'..=b'9', ..]) && label.len() <= 3;
    if !canonical || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(label).ok()?.parse().ok()
}

/// The skeleton of every reply: the request's id, RD and CD, RA set, the
/// question, and an OPT record when the query had one.
fn reply_to(request: &Metadata, question: &Query, edns: bool) -> Message {
    let mut message = Message::response(request.id, OpCode::Query);
    message.metadata = Metadata::response_from_request(request);
    message.metadata.recursion_available = true;
    message.add_query(question.clone());
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(UDP_MAX as u16);
        message.set_edns(opt);
    }
    message
}

/// Encodes `message` in at most `limit` bytes: when too big, drops the
/// authority and additional records and as many answers as needed (TC set on
/// UDP, as Docker's `truncateResp`). `None` if not even the question fits.
fn encode_fitted(mut message: Message, limit: usize, transport: Transport) -> Option<Vec<u8>> {
    if let Ok(bytes) = message.to_vec() {
        if bytes.len() <= limit {
            return Some(bytes);
        }
    }
    let answers = std::mem::take(&mut message.answers);
    message.authorities.clear();
    message.additionals.clear();
    message.metadata.truncation = transport == Transport::Udp;
    // Binary search for the most answers that fit.
    let (mut low, mut high) = (0, answers.len());
    let mut best = None;
    while low <= high {
        let mid = low + (high - low) / 2;
        message.answers = answers.get(..mid).unwrap_or_default().to_vec();
        match message.to_vec() {
            Ok(bytes) if bytes.len() <= limit => {
                best = Some(bytes);
                low = mid + 1;
            }
            _ if mid == 0 => break,
            _ => high = mid - 1,
        }
    }
    best
}

fn encode_or_servfail(message: &Message, request: &Metadata) -> Vec<u8> {
    message.to_vec().unwrap_or_else(|_| {
        RawHeader {
            id: request.id,
            flags: u16::from(request.recursion_desired) << 8,
            ..RawHeader::default()
        }
        .error_reply(ResponseCode::ServFail)
    })
}

/// Where the question section of a one-question message ends.
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut decoder = BinDecoder::new(msg.get(HEADER_LEN..)?);
    Query::read(&mut decoder).ok()?;
    Some(HEADER_LEN + decoder.index())
}

/// The fixed header, read without parsing the rest (which may be garbage).
#[derive(Debug, Default, Clone, Copy)]
struct RawHeader {
    id: u16,
    flags: u16,
    questions: u16,
    answers: u16,
    authorities: u16,
    additionals: u16,
}

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_CD: u16 = 0x0010;

impl RawHeader {
    fn parse(msg: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*msg.get(2 * i)?, *msg.get(2 * i + 1)?]))
        };
        Some(Self {
            id: word(0)?,
            flags: word(1)?,
            questions: word(2)?,
            answers: word(3)?,
            authorities: word(4)?,
            additionals: word(5)?,
        })
    }

    fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    fn opcode(&self) -> u16 {
        (self.flags >> 11) & 0xf
    }

    fn rcode(&self) -> u16 {
        self.flags & 0xf
    }

    /// A header-only error reply, as the Go server Docker uses: the id, RD and
    /// CD copied, the opcode kept only for NOTIMP.
    fn error_reply(&self, rcode: ResponseCode) -> Vec<u8> {
        let opcode = if rcode == ResponseCode::NotImp {
            self.opcode()
        } else {
            0
        };
        let flags =
            FLAG_QR | opcode << 11 | self.flags & (FLAG_RD | FLAG_CD) | u16::from(rcode.low());
        let mut reply = Vec::with_capacity(HEADER_LEN);
        reply.extend_from_slice(&self.id.to_be_bytes());
        reply.extend_from_slice(&flags.to_be_bytes());
        reply.resize(HEADER_LEN, 0);
        reply
    }
}

/// Whether `response` answers the query sent with `id` and `question` (its
/// raw question section): a response with that id and either the same
/// question (names compared without case) or none (some servers' errors).
pub(crate) fn response_matches(response: &[u8], id: u16, question: &[u8]) -> bool {
    let Some(header) = RawHeader::parse(response) else {
        return false;
    };
    if header.id != id || !header.is_response() {
        return false;
    }
    match header.questions {
        0 => true,
        1 => response
            .get(HEADER_LEN..HEADER_LEN + question.len())
            .is_some_and(|echoed| echoed.eq_ignore_ascii_case(question)),
        _ => false,
    }
}

/// Whether an upstream's response says to try the next server.
pub(crate) fn try_next_upstream(response: &[u8]) -> bool {
    RawHeader::parse(response).is_none_or(|header| {
        let rcode = header.rcode();
        rcode == u16::from(ResponseCode::ServFail.low())
            || rcode == u16::from(ResponseCode::Refused.low())
    })
}

/// Whether a response has the TC bit set.
pub(crate) fn is_truncated(response: &[u8]) -> bool {
    RawHeader::parse(response).is_some_and(|header| header.flags & FLAG_TC != 0)
}

pub(crate) fn set_id(msg: &mut [u8], id: u16) {
    if let Some(head) = msg.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}

/// A random 16-bit number from hickory's thread-local CSPRNG (a new query
/// message draws its id from it).
pub(crate) fn random_u16() -> u16 {
    Message::query().metadata.id
}

/// Fisher-Yates, so repeated lookups spread over containers sharing an alias.
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = usize::from(random_u16()) % (i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::MessageType;

    struct Fixed;

    impl Resolver for Fixed {
        fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
            match name {
                "web" | "web.mynet" => Some(vec![Ipv4Addr::new(172, 18, 0, 2)]),
                "db" => Some(vec![
                    Ipv4Addr::new(172, 18, 0, 3),
                    Ipv4Addr::new(172, 19, 0, 3),
                ]),
                "many" => Some((1..=100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect()),
                _ => None,
            }
        }
        fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String> {
            (ip == Ipv4Addr::new(172, 18, 0, 2)).then(|| "web.mynet".to_string())
        }
        fn upstreams(&self) -> Vec<SocketAddr> {
            vec![SocketAddr::from(([192, 0, 2, 1], 53))]
        }
    }

    struct Internal;

    impl Resolver for Internal {
        fn lookup_v4(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
            None
        }
        fn lookup_ptr(&self, _: Ipv4Addr) -> Option<String> {
            None
        }
        fn upstreams(&self) -> Vec<SocketAddr> {
            Vec::new()
        }
    }

    fn query(id: u16, name: &str, rtype: RecordType) -> Message {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        message
    }

    fn reply(answer: Answer) -> Message {
        match answer {
            Answer::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn ask(message: &Message) -> Answer {
        answer(&message.to_vec().unwrap(), &Fixed)
    }

    fn addresses(message: &Message) -> Vec<Ipv4Addr> {
        let mut ips: Vec<_> = message
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::A(a) => a.0,
                other => panic!("not an A record: {other:?}"),
            })
            .collect();
        ips.sort();
        ips
    }

    #[test]
    fn a_for_local_name_answers_with_ttl_600_and_request_id() {
        let reply = reply(ask(&query(0x4242, "web.", RecordType::A)));
        assert_eq!(reply.metadata.id, 0x4242);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.recursion_desired);
        assert!(reply.metadata.recursion_available);
        assert!(!reply.metadata.authoritative);
        assert_eq!(reply.queries.len(), 1);
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].ttl, 600);
        assert_eq!(reply.answers[0].name, Name::from_ascii("web.").unwrap());
        assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
        assert!(reply.edns.is_none());
    }

    #[test]
    fn rd_clear_in_query_is_clear_in_reply() {
        let mut q = query(7, "web.", RecordType::A);
        q.metadata.recursion_desired = false;
        let reply = reply(ask(&q));
        assert!(!reply.metadata.recursion_desired);
        assert!(reply.metadata.recursion_available);
    }

    #[test]
    fn lookup_ignores_case_and_answer_keeps_the_query_case() {
        let reply = reply(ask(&query(1, "WeB.MyNet.", RecordType::A)));
        assert_eq!(addresses(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
        assert!(reply.answers[0]
            .name
            .eq_case(&Name::from_ascii("WeB.MyNet.").unwrap()));
    }

    #[test]
    fn a_with_several_addresses_answers_all_of_them() {
        let reply = reply(ask(&query(1, "db.", RecordType::A)));
        assert_eq!(
            addresses(&reply),
            vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 19, 0, 3)]
        );
    }

    #[test]
    fn aaaa_for_local_name_is_noerror_without_answers() {
        let reply = reply(ask(&query(9, "web.", RecordType::AAAA)));
        assert_eq!(reply.metadata.id, 9);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
        assert_eq!(reply.queries[0].query_type(), RecordType::AAAA);
    }

    #[test]
    fn mx_for_local_name_is_noerror_without_answers() {
        let reply = reply(ask(&query(9, "web.", RecordType::MX)));
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn ptr_for_container_address_answers_its_name() {
        let reply = reply(ask(&query(3, "2.0.18.172.IN-ADDR.arpa.", RecordType::PTR)));
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].ttl, 600);
        assert_eq!(
            reply.answers[0].data,
            RData::PTR(PTR(Name::from_ascii("web.mynet.").unwrap()))
        );
    }

    #[test]
    fn ptr_for_other_or_malformed_addresses_is_forwarded() {
        for name in [
            "3.0.18.172.in-addr.arpa.",
            "02.0.18.172.in-addr.arpa.",
            "0.18.172.in-addr.arpa.",
            "1.2.0.18.172.in-addr.arpa.",
            "2.0.18.172.in-addr.example.",
            "web.",
        ] {
            assert_eq!(
                ask(&query(3, name, RecordType::PTR)),
                Answer::Forward,
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_names_and_other_types_are_forwarded() {
        assert_eq!(
            ask(&query(1, "example.com.", RecordType::A)),
            Answer::Forward
        );
        assert_eq!(
            ask(&query(1, "example.com.", RecordType::AAAA)),
            Answer::Forward
        );
        assert_eq!(ask(&query(1, "web.", RecordType::TXT)), Answer::Forward);
        assert_eq!(ask(&query(1, ".", RecordType::NS)), Answer::Forward);
    }

    #[test]
    fn other_class_is_forwarded() {
        let mut q = query(1, "web.", RecordType::A);
        q.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(ask(&q), Answer::Forward);
    }

    #[test]
    fn forward_without_upstreams_is_servfail_with_the_question() {
        let bytes = query(77, "example.com.", RecordType::A).to_vec().unwrap();
        let reply = reply(answer(&bytes, &Internal));
        assert_eq!(reply.metadata.id, 77);
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert!(reply.metadata.recursion_desired);
        assert!(!reply.metadata.recursion_available);
        assert_eq!(reply.queries.len(), 1);
    }

    #[test]
    fn two_questions_are_formerr_with_the_id() {
        let mut q = query(0xbeef, "web.", RecordType::A);
        q.add_query(Query::query(
            Name::from_ascii("db.").unwrap(),
            RecordType::A,
        ));
        let reply = reply(ask(&q));
        assert_eq!(reply.metadata.id, 0xbeef);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        assert!(reply.queries.is_empty());
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn no_question_is_formerr() {
        let q = Message::new(5, MessageType::Query, OpCode::Query);
        assert_eq!(reply(ask(&q)).metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn garbage_after_the_header_is_formerr() {
        let mut bytes = query(0x0102, "web.", RecordType::A).to_vec().unwrap();
        bytes.truncate(15);
        let reply = reply(answer(&bytes, &Fixed));
        assert_eq!(reply.metadata.id, 0x0102);
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn short_messages_and_responses_are_dropped() {
        assert_eq!(answer(&[], &Fixed), Answer::Drop);
        assert_eq!(answer(&[0; 11], &Fixed), Answer::Drop);
        let mut response = query(1, "web.", RecordType::A);
        response.metadata.message_type = MessageType::Response;
        assert_eq!(ask(&response), Answer::Drop);
    }

    #[test]
    fn other_opcodes_are_notimp() {
        let mut q = query(11, "web.", RecordType::SOA);
        q.metadata.op_code = OpCode::Notify;
        let reply = reply(ask(&q));
        assert_eq!(reply.metadata.id, 11);
        assert_eq!(reply.metadata.op_code, OpCode::Notify);
        assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    }

    #[test]
    fn edns_query_gets_an_opt_record() {
        let mut q = query(1, "web.", RecordType::A);
        let mut opt = Edns::new();
        opt.set_max_payload(1232);
        q.set_edns(opt);
        let reply = reply(ask(&q));
        assert_eq!(reply.edns.as_ref().map(Edns::max_payload), Some(4096));
        assert_eq!(reply.answers.len(), 1);
    }

    #[test]
    fn udp_reply_is_trimmed_to_512_with_tc() {
        let bytes = ask(&query(1, "many.", RecordType::A));
        let Answer::Reply(bytes) = bytes else {
            panic!("no reply")
        };
        assert!(bytes.len() <= 512, "{}", bytes.len());
        let reply = Message::from_vec(&bytes).unwrap();
        assert!(reply.metadata.truncation);
        assert!(!reply.answers.is_empty() && reply.answers.len() < 100);
    }

    #[test]
    fn udp_reply_uses_the_edns_size() {
        let mut q = query(1, "many.", RecordType::A);
        let mut opt = Edns::new();
        opt.set_max_payload(4096);
        q.set_edns(opt);
        let reply = reply(ask(&q));
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 100);
    }

    #[test]
    fn tcp_reply_is_not_trimmed() {
        let bytes = query(1, "many.", RecordType::A).to_vec().unwrap();
        let Decision::Reply(reply) = decide(&bytes, &Fixed, Transport::Tcp) else {
            panic!("no reply")
        };
        let reply = Message::from_vec(&reply).unwrap();
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 100);
    }

    #[test]
    fn forward_request_carries_question_and_limit() {
        let bytes = query(1, "example.com.", RecordType::A).to_vec().unwrap();
        let Decision::Forward(request) = decide(&bytes, &Fixed, Transport::Udp) else {
            panic!("not forwarded")
        };
        assert_eq!(request.limit, 512);
        assert_eq!(request.upstreams(), Fixed.upstreams().as_slice());
        assert_eq!(request.question_of(&bytes), &bytes[12..]);
    }

    #[test]
    fn relay_restores_the_client_id_and_fits_the_client() {
        let bytes = query(0x1111, "big.example.", RecordType::A)
            .to_vec()
            .unwrap();
        let Decision::Forward(request) = decide(&bytes, &Fixed, Transport::Udp) else {
            panic!("not forwarded")
        };
        let mut upstream = query(0x9999, "big.example.", RecordType::A);
        upstream.metadata.message_type = MessageType::Response;
        for i in 0..200u8 {
            upstream.add_answer(Record::from_rdata(
                Name::from_ascii("big.example.").unwrap(),
                60,
                RData::A(A(Ipv4Addr::new(10, 1, 0, i))),
            ));
        }
        let relayed = request.relay(upstream.to_vec().unwrap());
        assert!(relayed.len() <= 512);
        let relayed = Message::from_vec(&relayed).unwrap();
        assert_eq!(relayed.metadata.id, 0x1111);
        assert!(relayed.metadata.truncation);
        assert!(!relayed.answers.is_empty());

        let small = request.relay(vec![0x99, 0x99, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(small, vec![0x11, 0x11, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn response_must_match_id_and_question() {
        let q = query(0x0a0b, "example.com.", RecordType::A)
            .to_vec()
            .unwrap();
        let question = &q[12..];
        let mut r = query(0x0a0b, "EXAMPLE.com.", RecordType::A);
        r.metadata.message_type = MessageType::Response;
        let r = r.to_vec().unwrap();
        assert!(response_matches(&r, 0x0a0b, question));
        assert!(!response_matches(&r, 0x0a0c, question));
        assert!(
            !response_matches(&q, 0x0a0b, question),
            "a query is no response"
        );
        let mut other = query(0x0a0b, "example.org.", RecordType::A);
        other.metadata.message_type = MessageType::Response;
        assert!(!response_matches(
            &other.to_vec().unwrap(),
            0x0a0b,
            question
        ));
        let no_question = [0x0a, 0x0b, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(response_matches(&no_question, 0x0a0b, question));
        assert!(!response_matches(&no_question[..11], 0x0a0b, question));
    }

    #[test]
    fn servfail_and_refused_try_the_next_upstream() {
        let with_rcode = |rcode: u8| [0, 0, 0x81, 0x80 | rcode, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(try_next_upstream(&with_rcode(2)));
        assert!(try_next_upstream(&with_rcode(5)));
        assert!(!try_next_upstream(&with_rcode(0)));
        assert!(!try_next_upstream(&with_rcode(3)));
        assert!(is_truncated(&[0, 0, 0x83, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn resolv_conf_nameservers_in_order() {
        let text = "# generated\n\
                    search lan\n\
                    nameserver 127.0.0.53\n\
                    nameserver\t2001:db8::1  # comment\n\
                    ;nameserver 10.0.0.1\n\
                    nameserver 10.0.0.2 extra\n\
                    nameserver fe80::1%eth0\n\
                    nameserver 999.1.1.1\n\
                    nameserver\n\
                    options ndots:2\n\
                    nameserver 8.8.8.8";
        assert_eq!(
            upstreams_from_resolv_conf(text),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                "8.8.8.8:53".parse().unwrap(),
            ]
        );
        assert!(upstreams_from_resolv_conf("").is_empty());
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut items: Vec<u32> = (0..50).collect();
        shuffle(&mut items);
        items.sort_unstable();
        assert_eq!(items, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dns_answer");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let _ = answer(&data, &Fixed);
            n += 1;
        }
        assert!(n >= 5, "corpus {dir:?} has {n} files");
    }
}
