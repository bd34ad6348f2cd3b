//! Test harness for registry tests, self-contained so it can move into the
//! project's shared harness:
//! - [`RegistryServer`]: Debian's `docker-registry` (installed on demand)
//!   on 127.0.0.1, anonymous, htpasswd, or token auth, optionally with TLS;
//!   killed by pid on drop.
//! - [`TokenServer`]: a small token server (hyper) issuing ES256 JWTs with
//!   an `x5c` header, signed by a key whose self-signed certificate the
//!   registry trusts through `auth.token.rootcertbundle`.
//! - [`FaultProxy`]: an HTTP-aware TCP proxy that cuts each connection
//!   after N response bytes and can strip `Range` request headers.
//!
//! Everything listens on 127.0.0.1 only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------- install

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The `docker-registry` binary, installed from Debian when missing (with a
/// temporary `policy-rc.d` so its service does not start; an existing
/// `policy-rc.d` is left alone).
pub fn docker_registry_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = find_in_path("docker-registry") {
            return Ok(p);
        }
        let created = if Path::new(POLICY_RC_D).exists() {
            false
        } else {
            std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n").map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            true
        };
        let status = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && apt-get install -y -qq docker-registry",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        if created {
            let _ = std::fs::remove_file(POLICY_RC_D);
        }
        match status {
            Ok(s) if s.success() => {}
            other => return Err(format!("installing docker-registry failed: {other:?}")),
        }
        find_in_path("docker-registry")
            .ok_or_else(|| "docker-registry not found after install".to_owned())
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- registry

/// How the registry authenticates.
pub enum AuthMode {
    Anonymous,
    /// Basic auth with these users (bcrypt htpasswd).
    Htpasswd(Vec<(String, String)>),
    /// Token auth through a [`TokenServer`] started for the registry.
    Token(TokenOptions),
}

/// Users of the token server.
#[derive(Clone, Default)]
pub struct TokenOptions {
    /// username → password.
    pub users: Vec<(String, String)>,
    /// refresh (identity) token → username.
    pub refresh_tokens: Vec<(String, String)>,
}

/// A running `docker-registry serve`.
pub struct RegistryServer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub port: u16,
    dir: tempfile::TempDir,
    pub token: Option<TokenServer>,
    /// PEM of the server certificate when TLS is on.
    pub tls_cert_pem: Option<String>,
}

impl RegistryServer {
    pub async fn start(mode: AuthMode) -> RegistryServer {
        Self::start_with(mode, false).await
    }

    /// Starts a registry; with `tls`, it serves HTTPS with a self-signed
    /// certificate for 127.0.0.1.
    pub async fn start_with(mode: AuthMode, tls: bool) -> RegistryServer {
        let bin = docker_registry_binary();
        let dir = tempfile::Builder::new()
            .prefix("registry-test-")
            .tempdir()
            .unwrap();
        let mut auth_yaml = String::new();
        let mut token = None;
        match mode {
            AuthMode::Anonymous => {}
            AuthMode::Htpasswd(users) => {
                let mut file = String::new();
                for (u, p) in users {
                    file.push_str(&format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()));
                }
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, file).unwrap();
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    path.display()
                );
            }
            AuthMode::Token(opts) => {
                let ts = TokenServer::start(opts).await;
                let bundle = dir.path().join("token-root.crt");
                std::fs::write(&bundle, &ts.cert_pem).unwrap();
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    ts.realm,
                    ts.service,
                    ts.issuer,
                    bundle.display()
                );
                token = Some(ts);
            }
        }
        let mut tls_yaml = String::new();
        let mut tls_cert_pem = None;
        if tls {
            let ck = rcgen::generate_simple_self_signed(vec![
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
            ])
            .unwrap();
            let cert = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            std::fs::write(&cert, ck.cert.pem()).unwrap();
            std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
            tls_yaml = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            tls_cert_pem = Some(ck.cert.pem());
        }
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: registry-test-secret\n{tls_yaml}{auth_yaml}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if up {
                return RegistryServer {
                    child,
                    host: format!("127.0.0.1:{port}"),
                    port,
                    dir,
                    token,
                    tls_cert_pem,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "docker-registry did not start on port {port}: {}",
                std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
            );
        }
        panic!("docker-registry did not start");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- http

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A whole body.
pub fn full(data: impl Into<Bytes>) -> TestBody {
    Full::new(data.into()).map_err(|e| match e {}).boxed()
}

/// A small HTTP/1.1 server on 127.0.0.1 running `handler` per request.
pub struct HttpServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start<F, Fut>(handler: F) -> HttpServer
    where
        F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = hyper::Response<TestBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        HttpServer { addr, task }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------- tokens

/// A token server for `auth.token`: `GET /token?service=&scope=` with
/// optional Basic credentials, and `POST /token` with
/// `grant_type=refresh_token` or `password`. Authenticated users get every
/// action they ask for; anonymous users get none.
pub struct TokenServer {
    pub addr: SocketAddr,
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub cert_pem: String,
    /// Token requests served (any outcome).
    pub requests: Arc<AtomicUsize>,
    _server: HttpServer,
}

struct TokenState {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    issuer: String,
    service: String,
    opts: TokenOptions,
    requests: Arc<AtomicUsize>,
    rng: SystemRandom,
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn decode_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |x: &str| {
                percent_encoding::percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

impl TokenState {
    fn jwt(&self, subject: &str, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (typ, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": typ,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{now}-{}", self.requests.load(Ordering::Relaxed)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self.key.sign(&self.rng, signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", b64url(sig.as_ref()))
    }

    fn check_basic(&self, header: Option<&str>) -> Result<Option<String>, ()> {
        let Some(h) = header else { return Ok(None) };
        let b = h.strip_prefix("Basic ").ok_or(())?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| ())?;
        let s = String::from_utf8(raw).map_err(|_| ())?;
        let (u, p) = s.split_once(':').ok_or(())?;
        if self.opts.users.iter().any(|(uu, pp)| uu == u && pp == p) {
            Ok(Some(u.to_owned()))
        } else {
            Err(())
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<TestBody> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let unauthorized = || {
            hyper::Response::builder()
                .status(401)
                .header("content-type", "application/json")
                .body(full(Bytes::from_static(
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#,
                )))
                .unwrap()
        };
        let (subject, scopes) = if req.method() == hyper::Method::POST {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: HashMap<String, String> = decode_form(&String::from_utf8_lossy(&body))
                .into_iter()
                .collect();
            let user = match form.get("grant_type").map(String::as_str) {
                Some("refresh_token") => self
                    .opts
                    .refresh_tokens
                    .iter()
                    .find(|(t, _)| Some(t) == form.get("refresh_token"))
                    .map(|(_, u)| u.clone()),
                Some("password") => self
                    .opts
                    .users
                    .iter()
                    .find(|(u, p)| {
                        Some(u) == form.get("username") && Some(p) == form.get("password")
                    })
                    .map(|(u, _)| u.clone()),
                _ => None,
            };
            let Some(user) = user else {
                return unauthorized();
            };
            let scopes: Vec<String> = form
                .get("scope")
                .map(|s| {
                    s.split(' ')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (user, scopes)
        } else {
            let query = decode_form(req.uri().query().unwrap_or(""));
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let user = match self.check_basic(auth) {
                Ok(u) => u,
                Err(()) => return unauthorized(),
            };
            let scopes: Vec<String> = query
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            match user {
                Some(u) => (u, scopes),
                None => (String::new(), vec![]),
            }
        };
        let token = self.jwt(&subject, &scopes);
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
        hyper::Response::builder()
            .header("content-type", "application/json")
            .body(full(body.to_string()))
            .unwrap()
    }
}

impl TokenServer {
    pub async fn start(opts: TokenOptions) -> TokenServer {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["token-signer".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "registry test token signer");
        let cert = params.self_signed(&key_pair).unwrap();
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(TokenState {
            key,
            cert_der: cert.der().to_vec(),
            issuer: "registry-test-issuer".into(),
            service: "registry-test".into(),
            opts,
            requests: requests.clone(),
            rng,
        });
        let st = state.clone();
        let server = HttpServer::start(move |req| st.clone().handle(req)).await;
        let addr = server.addr;
        TokenServer {
            addr,
            realm: format!("http://{addr}/token"),
            service: state.service.clone(),
            issuer: state.issuer.clone(),
            cert_pem: cert.pem(),
            requests,
            _server: server,
        }
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------- proxy

/// Faults injected by a [`FaultProxy`].
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    /// Close each connection after this many response bytes (head
    /// included).
    pub cut_after: Option<u64>,
    /// Stop cutting after this many cuts (`None`: cut every connection).
    pub max_cuts: Option<u64>,
    /// Remove `Range` from requests, so the registry answers 200.
    pub strip_range: bool,
}

/// What a [`FaultProxy`] saw.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub cuts: AtomicU64,
    pub response_bytes: AtomicU64,
    pub range_requests: AtomicU64,
    pub ranges_stripped: AtomicU64,
    pub tls_attempts: AtomicU64,
}

/// An HTTP-aware proxy on 127.0.0.1: one request per connection (it forces
/// `Connection: close`), optional `Range` stripping, and connection cuts
/// after N response bytes. A TLS ClientHello is answered by closing the
/// connection, as a plain-HTTP server would refuse it.
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

impl FaultProxy {
    pub async fn start(target: SocketAddr, opts: ProxyOptions) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ProxyStats::default());
        let st = stats.clone();
        let opts = Arc::new(opts);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    let _ = proxy_one(client, target, &opts, &st).await;
                });
            }
        });
        FaultProxy { addr, stats, task }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_one(
    mut client: TcpStream,
    target: SocketAddr,
    opts: &ProxyOptions,
    st: &ProxyStats,
) -> std::io::Result<()> {
    st.connections.fetch_add(1, Ordering::SeqCst);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf[0] == 0x16 {
            st.tls_attempts.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        if let Some(e) = find_head_end(&buf) {
            break e;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut out = String::new();
    for (i, line) in head.split("\r\n").filter(|l| !l.is_empty()).enumerate() {
        if i > 0 {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if name == "range" {
                st.range_requests.fetch_add(1, Ordering::SeqCst);
                if opts.strip_range {
                    st.ranges_stripped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            }
            if name == "connection" {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut upstream = TcpStream::connect(target).await?;
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(&buf[head_end..]).await?;
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let uploader = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
        let _ = uw.shutdown().await;
    });
    let budget = match opts.cut_after {
        Some(n)
            if opts
                .max_cuts
                .is_none_or(|m| st.cuts.load(Ordering::SeqCst) < m) =>
        {
            n
        }
        _ => u64::MAX,
    };
    let mut sent = 0u64;
    loop {
        let n = ur.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        let allowed = (n as u64).min(budget - sent) as usize;
        cw.write_all(&chunk[..allowed]).await?;
        sent += allowed as u64;
        st.response_bytes
            .fetch_add(allowed as u64, Ordering::SeqCst);
        if sent >= budget {
            st.cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    uploader.abort();
    let _ = cw.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- helpers

/// Deterministic pseudo-random bytes (xorshift), so blobs do not compress
/// or repeat.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
