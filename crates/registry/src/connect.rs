//! The connector under hyper's pooled client: TCP with a timeout, then TLS
//! with the per-host configuration. Hand-written rather than taken from
//! hyper-rustls because the TLS configuration differs per registry (certs.d,
//! insecure hosts) and a failed handshake must be told apart from a failed
//! TCP connect (it triggers the HTTPS → HTTP fallback).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::tls::TlsConfigs;

/// Connection failures, by stage.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("bad url {uri}")]
    BadUri { uri: String },
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to {host}")]
    Tcp {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("connecting to {host} timed out")]
    Timeout { host: String },
    #[error("TLS handshake with {host} failed")]
    Handshake {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("TLS setup for {host} failed")]
    TlsSetup {
        host: String,
        #[source]
        source: crate::error::RegistryError,
    },
}

/// TCP or TLS over TCP, counting bytes read.
pub(crate) enum Stream {
    Plain(TcpStream, Arc<AtomicU64>),
    Tls(
        Box<tokio_rustls::client::TlsStream<TcpStream>>,
        Arc<AtomicU64>,
    ),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let (res, counter) = match self.get_mut() {
            Stream::Plain(s, c) => (Pin::new(s).poll_read(cx, buf), c),
            Stream::Tls(s, c) => (Pin::new(s.as_mut()).poll_read(cx, buf), c),
        };
        let n = buf.filled().len().saturating_sub(before);
        counter.fetch_add(n as u64, Ordering::Relaxed);
        res
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s, _) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s, _) => s.is_write_vectored(),
            Stream::Tls(s, _) => s.is_write_vectored(),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) tls: Arc<TlsConfigs>,
    pub(crate) timeout: Duration,
    pub(crate) received: Arc<AtomicU64>,
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectError>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<Stream, ConnectError> {
        let bad = || ConnectError::BadUri {
            uri: uri.to_string(),
        };
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad()),
        };
        let authority = uri
            .authority()
            .ok_or_else(bad)?
            .as_str()
            .to_ascii_lowercase();
        let host = uri.host().ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = tokio::time::timeout(self.timeout, tcp_connect(&host, port))
            .await
            .map_err(|_| ConnectError::Timeout {
                host: authority.clone(),
            })??;
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(Stream::Plain(tcp, self.received));
        }
        let tls_configs = self.tls.clone();
        let auth2 = authority.clone();
        let config = tokio::task::spawn_blocking(move || tls_configs.config_for(&auth2))
            .await
            .map_err(|e| ConnectError::Handshake {
                host: authority.clone(),
                source: io::Error::other(e),
            })?
            .map_err(|source| ConnectError::TlsSetup {
                host: authority.clone(),
                source,
            })?;
        let name = ServerName::try_from(host.clone()).map_err(|_| bad())?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let handshake = tokio::time::timeout(self.timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| ConnectError::Timeout {
                host: authority.clone(),
            })?;
        let stream = handshake.map_err(|source| ConnectError::Handshake {
            host: authority.clone(),
            source,
        })?;
        Ok(Stream::Tls(Box::new(stream), self.received))
    }
}

async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no addresses");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(ConnectError::Tcp {
        host: format!("{host}:{port}"),
        source: last,
    })
}

/// Whether an error from hyper's client is a failed TLS handshake (so an
/// insecure registry may be retried over plain HTTP).
pub(crate) fn is_handshake_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ConnectError::Handshake { .. }) = e.downcast_ref::<ConnectError>() {
            return true;
        }
        cur = e.source();
    }
    false
}
