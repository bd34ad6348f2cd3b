//! The API client: HTTP/1.1 over the daemon's unix socket (or tcp), with
//! API version negotiation.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use api::version::DEFAULT_VERSION;
use api::ApiVersion;

/// Where the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(String),
    Tcp(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{p}"),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

pub const DEFAULT_HOST: &str = "unix:///var/run/balena-engine.sock";

/// Errors talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "Cannot connect to the balenaEngine daemon at {host}. Is the balena-engine daemon running?"
    )]
    Connect { host: String },
    #[error("unable to parse docker host `{0}`")]
    BadHost(String),
    #[error("error during connect: {0}")]
    Transport(String),
    /// The daemon answered with an error status and Docker's body.
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("error decoding response from daemon: {0}")]
    Decode(String),
}

/// Parses `-H` / `DOCKER_HOST` for a client.
pub fn parse_host(s: &str) -> Result<Host, ClientError> {
    let s = s.trim();
    if let Some(p) = s.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(ClientError::BadHost(s.to_string()));
        }
        return Ok(Host::Unix(p.to_string()));
    }
    if let Some(a) = s.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        if a.is_empty() {
            return Err(ClientError::BadHost(s.to_string()));
        }
        let a = if a.contains(':') {
            a.to_string()
        } else {
            format!("{a}:2375")
        };
        return Ok(Host::Tcp(a));
    }
    if s.starts_with('/') {
        return Ok(Host::Unix(s.to_string()));
    }
    Err(ClientError::BadHost(s.to_string()))
}

/// Any connected stream.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// A response read whole.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// A client for one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    /// Fixed by `DOCKER_API_VERSION`, or negotiated on first use.
    version: Option<ApiVersion>,
    pinned: bool,
}

impl Client {
    pub fn new(host: Host, pinned: Option<ApiVersion>) -> Self {
        Self {
            host,
            version: pinned,
            pinned: pinned.is_some(),
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version requests use (after [`Client::negotiate`]).
    pub fn version(&self) -> ApiVersion {
        self.version.unwrap_or(DEFAULT_VERSION)
    }

    /// Pings the daemon and settles on the older of its API version and
    /// ours, as the Docker CLI does. A pinned version is left alone.
    pub async fn negotiate(&mut self) -> Result<(), ClientError> {
        if self.pinned {
            return Ok(());
        }
        let resp = self.raw(Method::GET, "/_ping", None).await?;
        let server = resp
            .headers
            .get("API-Version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        self.version = Some(ApiVersion::negotiate(DEFAULT_VERSION, server));
        Ok(())
    }

    /// A request under the negotiated `/vX.Y` prefix; error statuses
    /// become [`ClientError::Daemon`].
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        if self.version.is_none() {
            self.negotiate().await?;
        }
        let full = format!("/v{}{}", self.version(), path);
        let resp = self.raw(method, &full, body).await?;
        if resp.status.is_client_error() || resp.status.is_server_error() {
            let message = serde_json::from_slice::<api::ErrorBody>(&resp.body)
                .map(|b| b.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&resp.body).trim().to_string());
            return Err(ClientError::Daemon {
                status: resp.status,
                message,
            });
        }
        Ok(resp)
    }

    pub async fn get(&mut self, path: &str) -> Result<Response, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// One request on a fresh connection, path as given, body read whole.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        let ct = body.as_ref().map(|_| "application/json");
        let body = Full::new(Bytes::from(body.unwrap_or_default()))
            .map_err(|never| match never {})
            .boxed();
        let resp = self.send(method, path, body, ct, &[]).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A request under the negotiated prefix with a streamed body and a
    /// streamed answer; error statuses become [`ClientError::Daemon`].
    pub async fn stream(
        &mut self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        self.stream_with_headers(method, path, body, content_type, None)
            .await
    }

    /// [`Client::stream`] with one extra request header.
    pub async fn stream_with_headers(
        &mut self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        header: Option<(&str, &str)>,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        if self.version.is_none() {
            self.negotiate().await?;
        }
        let full = format!("/v{}{}", self.version(), path);
        let resp = self
            .send(method, &full, body, content_type, header.as_slice())
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            let message = serde_json::from_slice::<api::ErrorBody>(&body)
                .map(|b| b.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(ClientError::Daemon { status, message });
        }
        Ok(resp)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let connect_err = || ClientError::Connect {
            host: self.host.to_string(),
        };
        let stream: Box<dyn Io> = match &self.host {
            Host::Unix(p) => Box::new(
                tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|_| connect_err())?,
            ),
            Host::Tcp(a) => Box::new(
                tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|_| connect_err())?,
            ),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "api.moby.localhost")
            .header(
                http::header::USER_AGENT,
                format!("balena-engine-cli/{}", api::version::ENGINE_VERSION),
            );
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body)
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }
}

/// The connection of an attach or exec start: the raw stream after
/// `101 Switching Protocols`, or (from daemons that answer `200`) the
/// response body, which carries output only.
pub enum Hijacked {
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
    Body(hyper::body::Incoming),
}

impl Client {
    /// `POST path` asking for the connection (`Upgrade: tcp`), as the
    /// docker CLI's attach and exec start do.
    pub async fn hijack(
        &mut self,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Hijacked, ClientError> {
        if self.version.is_none() {
            self.negotiate().await?;
        }
        let full = format!("/v{}{}", self.version(), path);
        let ct = body.as_ref().map(|_| "application/json");
        let body = Full::new(Bytes::from(body.unwrap_or_default()))
            .map_err(|never| match never {})
            .boxed();
        let resp = self
            .send(
                Method::POST,
                &full,
                body,
                ct,
                &[("Upgrade", "tcp"), ("Connection", "Upgrade")],
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::SWITCHING_PROTOCOLS {
            let up = hyper::upgrade::on(resp)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            return Ok(Hijacked::Upgraded(TokioIo::new(up)));
        }
        if status.is_client_error() || status.is_server_error() {
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            let message = serde_json::from_slice::<api::ErrorBody>(&body)
                .map(|b| b.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(ClientError::Daemon { status, message });
        }
        Ok(Hijacked::Body(resp.into_body()))
    }
}

/// A request body: whole or streamed.
pub type ReqBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A request body streamed from a file or stdin.
pub fn reader_body(mut r: impl tokio::io::AsyncRead + Send + Unpin + 'static) -> ReqBody {
    use tokio::io::AsyncReadExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        loop {
            let mut buf = vec![0u8; 256 << 10];
            match r.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|r| (r.map(hyper::body::Frame::data), rx))
    });
    http_body_util::StreamBody::new(stream).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse() {
        assert_eq!(
            parse_host(DEFAULT_HOST).unwrap(),
            Host::Unix("/var/run/balena-engine.sock".into())
        );
        assert_eq!(
            parse_host("tcp://1.2.3.4").unwrap(),
            Host::Tcp("1.2.3.4:2375".into())
        );
        assert_eq!(parse_host("tcp://h:1").unwrap(), Host::Tcp("h:1".into()));
        assert_eq!(parse_host("/x.sock").unwrap(), Host::Unix("/x.sock".into()));
        assert!(parse_host("ssh://x").is_err());
        assert!(parse_host("unix://").is_err());
    }

    #[test]
    fn pinned_version_is_used() {
        let c = Client::new(Host::Unix("/x".into()), Some(ApiVersion::new(1, 30)));
        assert_eq!(c.version(), ApiVersion::new(1, 30));
    }

    /// Serves canned answers on a unix socket: `/_ping` with the given
    /// API-Version header, and for anything else echoes the request path.
    async fn peer(api_version: &'static str) -> (tempfile::TempDir, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.sock");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split(' ').nth(1).unwrap_or("").to_string();
                    let body = if path == "/_ping" {
                        "OK".to_string()
                    } else {
                        format!("{{\"path\":\"{path}\"}}")
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nAPI-Version: {api_version}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        (dir, path.display().to_string())
    }

    #[tokio::test]
    async fn negotiation_downgrades_to_an_older_daemon() {
        let (_d, path) = peer("1.38").await;
        let mut c = Client::new(Host::Unix(path), None);
        let r = c.get("/info").await.unwrap();
        assert_eq!(c.version(), ApiVersion::new(1, 38));
        assert_eq!(
            r.json::<serde_json::Value>().unwrap()["path"],
            "/v1.38/info"
        );
    }

    #[tokio::test]
    async fn negotiation_keeps_our_version_with_a_newer_daemon() {
        let (_d, path) = peer("1.47").await;
        let mut c = Client::new(Host::Unix(path), None);
        let r = c.get("/info").await.unwrap();
        assert_eq!(c.version(), DEFAULT_VERSION);
        assert_eq!(
            r.json::<serde_json::Value>().unwrap()["path"],
            "/v1.41/info"
        );
    }

    #[tokio::test]
    async fn connect_errors_say_how_to_fix_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.sock").display().to_string();
        let mut c = Client::new(Host::Unix(p.clone()), None);
        let e = c.get("/version").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Cannot connect to the balenaEngine daemon at unix://{p}. Is the balena-engine daemon running?")
        );
    }
}
