//! Request execution: the pooled HTTP client, HTTPS → HTTP fallback for
//! insecure registries, challenge-driven authorization with one retry on
//! 401, redirects (registry credentials never leave the registry's origin),
//! token fetching and bounded body reads.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, LOCATION, USER_AGENT, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use crate::auth::{parse_token_response, usable, Auth, CachedToken, TokenCache, TokenKey};
use crate::challenge::{parse_www_authenticate, Challenge};
use crate::config::{
    host_only, is_docker_hub, split_host_port, validate_host, Endpoint, RegistryConfig, Resolved,
    Scheme, DOCKER_HUB_HOST,
};
use crate::connect::{is_handshake_failure, Connector};
use crate::error::{parse_error_body, response_error, BoxError, ErrorDetail, Op, RegistryError};
use crate::tls::TlsConfigs;
use crate::url::{origin, resolve, with_query};

pub(crate) type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

const MAX_REDIRECTS: usize = 10;
const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_TOKEN_BODY: usize = 1024 * 1024;
const MAX_CACHE: usize = 256;
/// Docker's OAuth client id.
const CLIENT_ID: &str = "docker";

/// A request body: replayable (empty, bytes) or one-shot (a stream).
pub(crate) enum Body {
    Empty,
    Full(Bytes),
    Once(Option<ReqBody>),
}

impl Body {
    fn replayable(&self) -> bool {
        !matches!(self, Body::Once(_))
    }

    fn take(&mut self) -> Option<ReqBody> {
        match self {
            Body::Empty => Some(Empty::new().map_err(|e| match e {}).boxed_unsync()),
            Body::Full(b) => Some(Full::new(b.clone()).map_err(|e| match e {}).boxed_unsync()),
            Body::Once(b) => b.take(),
        }
    }
}

/// Who is asking, for what: the registry and repository shown in errors,
/// the token scopes, the credentials.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) scopes: Vec<String>,
    pub(crate) auth: &'a Auth,
}

/// A response with the URL it finally came from.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Incoming,
    pub(crate) url: Uri,
}

pub(crate) struct Inner {
    pub(crate) config: RegistryConfig,
    resolved: Resolved,
    http: HttpClient<Connector, ReqBody>,
    tls: Arc<TlsConfigs>,
    /// Authorities that fell back to plain HTTP.
    http_fallback: Mutex<HashMap<String, ()>>,
    insecure: Mutex<HashMap<String, bool>>,
    challenges: Mutex<HashMap<String, Vec<Challenge>>>,
    tokens: TokenCache,
    pub(crate) wire_received: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, k: K, v: V) {
    if map.len() >= MAX_CACHE {
        map.clear();
    }
    map.insert(k, v);
}

fn host_of(uri: &Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

impl Inner {
    pub(crate) fn new(config: RegistryConfig) -> Result<Inner, RegistryError> {
        let resolved = Resolved::new(&config)?;
        let tls = Arc::new(TlsConfigs::new(config.certs_dir.clone()));
        let wire_received = Arc::new(AtomicU64::new(0));
        let connector = Connector {
            tls: tls.clone(),
            timeout: config.io_timeout,
            received: wire_received.clone(),
        };
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(8)
            .build(connector);
        Ok(Inner {
            config,
            resolved,
            http,
            tls,
            http_fallback: Mutex::new(HashMap::new()),
            insecure: Mutex::new(HashMap::new()),
            challenges: Mutex::new(HashMap::new()),
            tokens: TokenCache::default(),
            wire_received,
        })
    }

    /// Docker's insecure check for an authority, resolving names only when
    /// CIDRs are configured; cached.
    pub(crate) async fn is_insecure(&self, authority: &str) -> bool {
        if let Some(v) = lock(&self.insecure).get(authority) {
            return *v;
        }
        let v = match self.resolved.insecure_literal(authority) {
            Some(v) => v,
            None => {
                let host = host_only(authority).to_owned();
                let port = split_host_port(authority)
                    .and_then(|(_, p)| p)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(443u16);
                let lookup = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::net::lookup_host((host, port)),
                )
                .await;
                match lookup {
                    Ok(Ok(addrs)) => {
                        let ips: Vec<_> = addrs.map(|a| a.ip()).collect();
                        self.resolved.insecure_ips(&ips)
                    }
                    _ => false,
                }
            }
        };
        if v {
            self.tls.mark_insecure(authority);
        }
        bounded_insert(&mut lock(&self.insecure), authority.to_owned(), v);
        v
    }

    fn scheme_for(&self, authority: &str) -> Scheme {
        if lock(&self.http_fallback).contains_key(authority) {
            Scheme::Http
        } else {
            Scheme::Https
        }
    }

    /// Endpoints in preference order; mirrors only for Docker Hub pulls.
    pub(crate) async fn endpoints(
        &self,
        registry: &str,
        push: bool,
    ) -> Result<Vec<Endpoint>, RegistryError> {
        let host = validate_host(registry)?;
        let mut out = Vec::new();
        let hosts: Vec<(Option<Scheme>, String, bool)> = if is_docker_hub(&host) {
            let mut v: Vec<_> = if push {
                vec![]
            } else {
                self.resolved
                    .mirrors
                    .iter()
                    .map(|(s, h)| (Some(*s), h.clone(), true))
                    .collect()
            };
            v.push((None, DOCKER_HUB_HOST.to_owned(), false));
            v
        } else {
            vec![(None, host, false)]
        };
        for (fixed, host, mirror) in hosts {
            let insecure = self.is_insecure(&host).await;
            let scheme = match fixed {
                Some(Scheme::Http) => Scheme::Http,
                _ => self.scheme_for(&host),
            };
            out.push(Endpoint {
                host,
                scheme,
                mirror,
                insecure,
            });
        }
        Ok(out)
    }

    /// `scheme://host/path` for an endpoint, with the remembered scheme.
    pub(crate) fn url(&self, ep: &Endpoint, path_and_query: &str) -> Result<Uri, RegistryError> {
        let scheme = match ep.scheme {
            Scheme::Http => Scheme::Http,
            Scheme::Https => self.scheme_for(&ep.host),
        };
        format!("{}://{}{}", scheme.as_str(), ep.host, path_and_query)
            .parse()
            .map_err(|_| RegistryError::InvalidRegistry {
                registry: ep.host.clone(),
            })
    }

    /// One exchange, with the HTTPS → HTTP fallback for insecure hosts.
    async fn exchange(
        &self,
        method: &Method,
        url: &mut Uri,
        headers: &HeaderMap,
        body: &mut Body,
    ) -> Result<hyper::Response<Incoming>, RegistryError> {
        let mut fell_back = false;
        loop {
            let host = host_of(url);
            let req_body = body.take().ok_or_else(|| RegistryError::Protocol {
                host: host.clone(),
                reason: "request body cannot be sent twice".into(),
            })?;
            let mut req = Request::builder().method(method.clone()).uri(url.clone());
            if let Some(h) = req.headers_mut() {
                h.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
                if let Ok(ua) = HeaderValue::from_str(&self.config.user_agent) {
                    h.insert(USER_AGENT, ua);
                }
            }
            let req = req.body(req_body).map_err(|e| RegistryError::Protocol {
                host: host.clone(),
                reason: e.to_string(),
            })?;
            let sent = if body.replayable() {
                match tokio::time::timeout(self.config.io_timeout, self.http.request(req)).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(RegistryError::Timeout {
                            host,
                            secs: self.config.io_timeout.as_secs(),
                        })
                    }
                }
            } else {
                // Streaming uploads: the response comes after the whole
                // body, so no overall deadline.
                self.http.request(req).await
            };
            match sent {
                Ok(resp) => return Ok(resp),
                Err(e)
                    if !fell_back
                        && url.scheme_str() == Some("https")
                        && is_handshake_failure(&e)
                        && body.replayable()
                        && self.is_insecure(&host).await =>
                {
                    tracing::info!(host = %host, "TLS handshake failed with insecure registry, falling back to HTTP");
                    bounded_insert(&mut lock(&self.http_fallback), host.clone(), ());
                    let rest = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    *url = format!("http://{host}{rest}").parse().map_err(|_| {
                        RegistryError::InvalidRegistry {
                            registry: host.clone(),
                        }
                    })?;
                    fell_back = true;
                }
                Err(e) if e.is_connect() => {
                    return Err(RegistryError::Connect {
                        host,
                        source: Box::new(e),
                    })
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        host,
                        source: Box::new(e),
                    })
                }
            }
        }
    }

    /// Sends a registry request: authorizes it from known challenges,
    /// retries once on 401 with a fresh token, follows redirects when asked
    /// (credentials are dropped when the origin changes).
    pub(crate) async fn send(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        url: Uri,
        headers: HeaderMap,
        mut body: Body,
        follow_redirects: bool,
    ) -> Result<Response, RegistryError> {
        let mut url = url;
        let mut method = method;
        let mut registry_origin = origin(&url);
        let mut authz = self.authorization(&registry_origin, ctx, false).await?;
        let mut retried_auth = false;
        let mut hops = 0;
        loop {
            let mut h = headers.clone();
            let same_origin = origin(&url) == registry_origin;
            if let (Some((value, _)), true) = (&authz, same_origin) {
                h.insert(AUTHORIZATION, value.clone());
            }
            let resp = self.exchange(&method, &mut url, &h, &mut body).await?;
            if same_origin {
                // an insecure registry may have fallen back to HTTP
                registry_origin = origin(&url);
            }
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && same_origin && !retried_auth {
                let challenges = parse_www_authenticate(
                    resp.headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .map(|v| v.as_bytes()),
                );
                if !challenges.is_empty() {
                    bounded_insert(
                        &mut lock(&self.challenges),
                        registry_origin.clone(),
                        challenges,
                    );
                    let fresh = authz.as_ref().is_some_and(|(_, fresh)| *fresh);
                    if !fresh && body.replayable() {
                        if let Some(a) = self.authorization(&registry_origin, ctx, true).await? {
                            authz = Some(a);
                            retried_auth = true;
                            continue;
                        }
                    }
                }
            }
            if follow_redirects && status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                hops += 1;
                let host = host_of(&url);
                if hops > MAX_REDIRECTS {
                    return Err(RegistryError::Protocol {
                        host,
                        reason: "too many redirects".into(),
                    });
                }
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| resolve(&url, l))
                    .ok_or_else(|| RegistryError::Protocol {
                        host,
                        reason: format!("redirect {status} without a usable Location"),
                    })?;
                if status == StatusCode::SEE_OTHER {
                    method = Method::GET;
                    body = Body::Empty;
                }
                tracing::debug!(to = %origin(&next), "following redirect");
                url = next;
                continue;
            }
            let (parts, body) = resp.into_parts();
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
                url,
            });
        }
    }

    /// The Authorization header for an origin from its known challenges:
    /// Bearer (cached or fetched token, or the caller's registry token) is
    /// preferred over Basic. The flag says whether it is fresh (a retry
    /// would not change it).
    async fn authorization(
        &self,
        registry_origin: &str,
        ctx: &Ctx<'_>,
        force: bool,
    ) -> Result<Option<(HeaderValue, bool)>, RegistryError> {
        let challenges = match lock(&self.challenges).get(registry_origin) {
            Some(c) => c.clone(),
            None => return Ok(None),
        };
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            if let Auth::RegistryToken(t) = ctx.auth {
                return Ok(header_value(&format!("Bearer {t}")).map(|v| (v, true)));
            }
            let host = registry_origin.to_owned();
            let realm = bearer
                .param("realm")
                .ok_or_else(|| RegistryError::Protocol {
                    host: host.clone(),
                    reason: "bearer challenge without realm".into(),
                })?;
            let service = bearer.param("service").unwrap_or("");
            let key = TokenKey {
                realm: realm.to_owned(),
                service: service.to_owned(),
                scopes: ctx.scopes.clone(),
                credentials: ctx.auth.fingerprint(),
            };
            let slot = self.tokens.slot(&key);
            let mut cached = slot.lock().await;
            if !force {
                if let Some(t) = cached.as_ref().filter(|t| usable(t, Instant::now())) {
                    return Ok(header_value(&format!("Bearer {}", t.token)).map(|v| (v, false)));
                }
            }
            let token = self.fetch_token(ctx, realm, service).await?;
            let value = header_value(&format!("Bearer {}", token.token));
            *cached = Some(token);
            return Ok(value.map(|v| (v, true)));
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            if let Some((u, p)) = ctx.auth.basic_pair() {
                return Ok(header_value(&basic_header(u, p)).map(|v| (v, true)));
            }
        }
        Ok(None)
    }

    /// Gets a token from the realm: GET with Basic credentials (or none),
    /// or for an identity token POST `grant_type=refresh_token`, as Docker.
    async fn fetch_token(
        &self,
        ctx: &Ctx<'_>,
        realm: &str,
        service: &str,
    ) -> Result<CachedToken, RegistryError> {
        let bad_realm = || RegistryError::Protocol {
            host: ctx.registry.to_owned(),
            reason: format!(
                "invalid token realm {:?}",
                realm.chars().take(200).collect::<String>()
            ),
        };
        let realm_uri: Uri = realm.parse().map_err(|_| bad_realm())?;
        if !matches!(realm_uri.scheme_str(), Some("http" | "https"))
            || realm_uri.authority().is_none()
        {
            return Err(bad_realm());
        }
        self.is_insecure(&host_of(&realm_uri)).await;
        let mut headers = HeaderMap::new();
        let (method, mut url, mut body) = match ctx.auth {
            Auth::IdentityToken { token, .. } => {
                let scope = ctx.scopes.join(" ");
                let form = crate::url::query(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("service", service),
                    ("scope", &scope),
                    ("client_id", CLIENT_ID),
                ]);
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, realm_uri, Body::Full(Bytes::from(form)))
            }
            _ => {
                let mut pairs: Vec<(&str, &str)> = Vec::new();
                if !service.is_empty() {
                    pairs.push(("service", service));
                }
                for s in &ctx.scopes {
                    pairs.push(("scope", s));
                }
                if let Some((u, p)) = ctx.auth.basic_pair() {
                    pairs.push(("account", u));
                    if let Some(v) = header_value(&basic_header(u, p)) {
                        headers.insert(AUTHORIZATION, v);
                    }
                }
                let url: Uri = with_query(realm, &pairs).parse().map_err(|_| bad_realm())?;
                (Method::GET, url, Body::Empty)
            }
        };
        tracing::debug!(realm = %origin(&url), scopes = ?ctx.scopes, "fetching registry token");
        let resp = self
            .exchange(&method, &mut url, &headers, &mut body)
            .await?;
        let status = resp.status();
        let (parts, incoming) = resp.into_parts();
        let host = host_of(&url);
        if !status.is_success() {
            let r = Response {
                status,
                headers: parts.headers,
                body: incoming,
                url,
            };
            return Err(self.error_from(ctx, &Op::Token, r).await);
        }
        let bytes = read_limited(
            incoming,
            MAX_TOKEN_BODY as u64,
            self.config.io_timeout,
            &host,
        )
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => RegistryError::Protocol {
                host: host.clone(),
                reason: "token response too large".into(),
            },
            ReadError::Failed(e) => e,
        })?;
        let parsed = parse_token_response(&bytes).ok_or_else(|| RegistryError::Protocol {
            host: host.clone(),
            reason: "authorization server did not include a token in the response".into(),
        })?;
        Ok(CachedToken {
            token: parsed.token,
            expires: Instant::now() + parsed.expires_in,
        })
    }

    /// Turns a failure response into an error, reading (a bounded part of)
    /// its body and the bearer `error=` parameter, as distribution does.
    pub(crate) async fn error_from(
        &self,
        ctx: &Ctx<'_>,
        op: &Op<'_>,
        resp: Response,
    ) -> RegistryError {
        let status = resp.status.as_u16();
        let mut details: Vec<ErrorDetail> = Vec::new();
        if status == 401 {
            let challenges = parse_www_authenticate(
                resp.headers
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .map(|v| v.as_bytes()),
            );
            for c in challenges.iter().filter(|c| c.scheme == "bearer") {
                let (code, default) = match c.param("error") {
                    Some("invalid_token") => ("UNAUTHORIZED", "authentication required"),
                    Some("insufficient_scope") => {
                        ("DENIED", "requested access to the resource is denied")
                    }
                    _ => continue,
                };
                details.push(ErrorDetail {
                    code: code.into(),
                    message: c.param("error_description").unwrap_or(default).to_owned(),
                });
                break;
            }
        }
        let host = host_of(&resp.url);
        let timeout = self.config.io_timeout.min(Duration::from_secs(10));
        if let Ok(body) = read_limited(resp.body, MAX_ERROR_BODY as u64, timeout, &host).await {
            details.extend(parse_error_body(status, &body));
        }
        response_error(ctx.registry, ctx.repository, op, status, details)
    }
}

fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn basic_header(u: &str, p: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    )
}

pub(crate) enum ReadError {
    TooLarge,
    Failed(RegistryError),
}

/// Reads a whole body, failing past `limit` bytes and when nothing arrives
/// for `timeout`.
pub(crate) async fn read_limited(
    mut body: Incoming,
    limit: u64,
    timeout: Duration,
    host: &str,
) -> Result<Bytes, ReadError> {
    let mut out = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return Err(ReadError::Failed(RegistryError::Timeout {
                    host: host.to_owned(),
                    secs: timeout.as_secs(),
                }))
            }
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(e))) => {
                return Err(ReadError::Failed(RegistryError::Transport {
                    host: host.to_owned(),
                    source: Box::new(e),
                }))
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

/// The `Content-Length` of a response, if valid.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A header's value as text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
