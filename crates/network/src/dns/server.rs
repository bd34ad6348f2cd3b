//! The sockets side of the DNS server: the UDP loop, the TCP listener and
//! its connections, and forwarding to the upstream servers.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, timeout_at, Instant};
use tracing::debug;

use super::{
    decide, is_truncated, random_u16, response_matches, set_id, try_next_upstream, Decision,
    DnsConfig, DnsError, DnsSockets, ForwardRequest, Resolver, Transport, UDP_MAX,
};

/// Queries served on one TCP connection before it is closed (as the Go
/// server Docker uses).
const TCP_QUERIES_PER_CONNECTION: usize = 128;
/// Pause after a failed accept (out of descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A running server. Dropping it stops serving (the tasks are aborted and
/// the sockets closed by the runtime); [`DnsServer::shutdown`] also waits
/// for that.
#[derive(Debug)]
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Stops serving and waits until the sockets are closed.
    pub async fn shutdown(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            // A cancelled task's error is the expected outcome.
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Shared {
    resolver: Arc<dyn Resolver>,
    config: DnsConfig,
    forwards: Arc<Semaphore>,
}

pub(super) fn spawn(
    sockets: DnsSockets,
    resolver: Arc<dyn Resolver>,
    config: DnsConfig,
) -> Result<DnsServer, DnsError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
    let udp = UdpSocket::from_std(sockets.udp).map_err(|source| DnsError::Register {
        proto: "udp",
        source,
    })?;
    let tcp = TcpListener::from_std(sockets.tcp).map_err(|source| DnsError::Register {
        proto: "tcp",
        source,
    })?;
    let forwards = Arc::new(Semaphore::new(
        config.max_forwards.min(Semaphore::MAX_PERMITS),
    ));
    let shared = Arc::new(Shared {
        resolver,
        config,
        forwards,
    });
    Ok(DnsServer {
        tasks: vec![
            runtime.spawn(serve_udp(Arc::new(udp), Arc::clone(&shared))),
            runtime.spawn(serve_tcp(tcp, shared)),
        ],
    })
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; UDP_MAX];
    // Owned here so that aborting this task aborts the forwards too.
    let mut forwards = JoinSet::new();
    loop {
        let received = socket.recv_from(&mut buf).await;
        while forwards.try_join_next().is_some() {}
        let (len, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                debug!(%error, "dns: udp receive");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let query = buf.get(..len).unwrap_or_default();
        match decide(query, &*shared.resolver, Transport::Udp) {
            Decision::Drop => {}
            Decision::Reply(reply) => send(&socket, &reply, peer).await,
            Decision::Forward(request) => {
                let Ok(permit) = Arc::clone(&shared.forwards).try_acquire_owned() else {
                    let refused = request.error_reply(ResponseCode::Refused);
                    send(&socket, &refused, peer).await;
                    continue;
                };
                let query = query.to_vec();
                let socket = Arc::clone(&socket);
                let shared = Arc::clone(&shared);
                forwards.spawn(async move {
                    let reply = forward(&query, &request, &shared.config).await;
                    drop(permit);
                    send(&socket, &reply, peer).await;
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer).await {
        debug!(%error, %peer, "dns: udp send");
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task closes the connections too.
    let mut connections = JoinSet::new();
    loop {
        let accepted = listener.accept().await;
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, _)) if connections.len() < shared.config.max_tcp_connections => {
                connections.spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Over the cap: closing at once lets the client give up early.
            Ok((stream, peer)) => {
                debug!(%peer, "dns: too many tcp connections");
                drop(stream);
            }
            Err(error) => {
                debug!(%error, "dns: tcp accept");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let idle = shared.config.tcp_idle_timeout;
    for _ in 0..TCP_QUERIES_PER_CONNECTION {
        let Some(query) = timeout(idle, read_framed(&mut stream))
            .await
            .ok()
            .and_then(Result::ok)
        else {
            return;
        };
        let reply = match decide(&query, &*shared.resolver, Transport::Tcp) {
            Decision::Drop => continue,
            Decision::Reply(reply) => reply,
            Decision::Forward(request) => {
                let permit = Arc::clone(&shared.forwards).acquire_owned();
                match timeout(shared.config.forward_timeout, permit).await {
                    Ok(Ok(_permit)) => forward(&query, &request, &shared.config).await,
                    _ => request.error_reply(ResponseCode::Refused),
                }
            }
        };
        let Some(framed) = frame(&reply) else {
            return;
        };
        if !matches!(timeout(idle, stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// One length-prefixed message (at most 65535 bytes by construction).
async fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}

fn frame(message: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(message.len()).ok()?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    Some(framed)
}

/// Relays `query` to the upstreams in turn and returns the reply for the
/// client: the first usable answer, else SERVFAIL. Runs in the daemon's
/// network namespace (the sockets are created here, on the runtime).
async fn forward(query: &[u8], request: &ForwardRequest, config: &DnsConfig) -> Vec<u8> {
    let question = request.question_of(query);
    for &upstream in request.upstreams() {
        let id = random_u16();
        let mut message = query.to_vec();
        set_id(&mut message, id);
        let exchange = Exchange {
            upstream,
            message: &message,
            id,
            question,
            wait: config.forward_timeout,
        };
        let response = match exchange.udp().await {
            Ok(Some(response)) => Ok(response),
            Ok(None) => exchange.tcp().await,
            Err(error) => Err(error),
        };
        match response {
            Ok(response) if !try_next_upstream(&response) => return request.relay(response),
            Ok(_) => debug!(%upstream, "dns: upstream failed the query"),
            Err(error) => debug!(%error, %upstream, "dns: forward"),
        }
    }
    request.error_reply(ResponseCode::ServFail)
}

/// One query to one upstream server.
struct Exchange<'a> {
    upstream: SocketAddr,
    /// The query with `id`.
    message: &'a [u8],
    id: u16,
    /// The query's question section, to match the response with.
    question: &'a [u8],
    wait: Duration,
}

impl Exchange<'_> {
    /// The answer over UDP from a fresh socket; `None` when it is truncated
    /// or larger than our buffer (ask again over TCP).
    async fn udp(&self) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + self.wait;
        let local = match self.upstream {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(self.upstream).await?;
        timeout_at(deadline, socket.send(self.message)).await??;
        // One byte more than we accept tells an oversized answer apart.
        let mut buf = vec![0u8; UDP_MAX + 1];
        loop {
            let len = timeout_at(deadline, socket.recv(&mut buf)).await??;
            let response = buf.get(..len).unwrap_or_default();
            // Anything else is stale or spoofed: keep waiting.
            if !response_matches(response, self.id, self.question) {
                continue;
            }
            if len > UDP_MAX || is_truncated(response) {
                return Ok(None);
            }
            return Ok(Some(response.to_vec()));
        }
    }

    /// The answer over TCP.
    async fn tcp(&self) -> io::Result<Vec<u8>> {
        let framed = frame(self.message).ok_or(io::ErrorKind::InvalidInput)?;
        timeout(self.wait, async {
            let mut stream = TcpStream::connect(self.upstream).await?;
            stream.write_all(&framed).await?;
            loop {
                let response = read_framed(&mut stream).await?;
                if response_matches(&response, self.id, self.question) {
                    return Ok(response);
                }
            }
        })
        .await?
    }
}
