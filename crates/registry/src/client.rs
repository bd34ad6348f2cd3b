//! The public client: manifests and blobs for pulls, uploads, mounts and
//! manifest puts for pushes.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::auth::Auth;
use crate::blob_stream::BlobStream;
use crate::config::{Endpoint, RegistryConfig};
use crate::error::{BoxError, Op, RegistryError};
use crate::reference::{
    is_digest_reference, sha256_digest, validate_digest, validate_reference, validate_repository,
    Hasher,
};
use crate::transport::{
    content_length, header_str, read_limited, Body, Ctx, Inner, ReadError, Response,
};
use crate::url::{resolve, with_query};

/// Largest manifest accepted (as Docker and containerd).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A fetched manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body, exactly as served.
    pub bytes: Bytes,
    /// The `Content-Type` the registry gave (empty if none).
    pub content_type: String,
    /// `sha256:<hex>` of the body.
    pub digest: String,
}

/// The answer to a cross-repository mount.
#[derive(Debug)]
pub enum MountOutcome {
    /// The registry linked the blob into the repository (201).
    Mounted,
    /// The registry did not mount (202) and opened an upload instead:
    /// upload into it with [`Client::upload_to`].
    NotMounted(UploadSession),
}

/// An open blob upload (the registry's upload URL).
#[derive(Debug, Clone)]
pub struct UploadSession {
    registry: String,
    repository: String,
    location: Uri,
}

impl UploadSession {
    /// The registry's upload URL.
    pub fn location(&self) -> String {
        self.location.to_string()
    }
}

/// How a blob body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMethod {
    /// One streamed `PATCH`, then `PUT ?digest=` (Docker's way). The
    /// digest and size are checked before the upload is committed.
    #[default]
    Streamed,
    /// A single `PUT ?digest=` carrying the body.
    Monolithic,
}

/// Docker Registry HTTP API v2 client. Cheap to clone: clones share the
/// connection pool, the token cache and the remembered HTTP fallbacks.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

fn is_schema1(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        ct,
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
            | "application/vnd.docker.distribution.manifest.v1+json"
            | "application/json"
            | ""
    )
}

fn media_type(value: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(value).map_err(|_| RegistryError::InvalidMediaType {
        media_type: value.chars().take(200).collect(),
    })
}

impl Client {
    /// A client with this configuration (validated here).
    pub fn new(config: RegistryConfig) -> Result<Client, RegistryError> {
        Ok(Client {
            inner: Arc::new(Inner::new(config)?),
        })
    }

    /// Where pulls from `registry` (`host[:port]`, `docker.io` for Docker
    /// Hub) go, in the order they are tried. Pushes use the same list
    /// without mirrors.
    pub async fn endpoints(&self, registry: &str) -> Result<Vec<Endpoint>, RegistryError> {
        self.inner.endpoints(registry, false).await
    }

    /// Bytes read from all sockets so far (headers, bodies, TLS records).
    pub fn wire_bytes_received(&self) -> u64 {
        self.inner
            .wire_received
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn too_large(registry: &str, repository: &str, what: String, limit: u64) -> RegistryError {
        RegistryError::TooLarge {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            what,
            limit,
        }
    }

    async fn read_body(
        &self,
        ctx: &Ctx<'_>,
        resp: Response,
        limit: u64,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        if content_length(&resp.headers).is_some_and(|l| l > limit) {
            return Err(Self::too_large(
                ctx.registry,
                ctx.repository,
                what.to_owned(),
                limit,
            ));
        }
        let host = resp
            .url
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        read_limited(resp.body, limit, self.inner.config.io_timeout, &host)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => {
                    Self::too_large(ctx.registry, ctx.repository, what.to_owned(), limit)
                }
                ReadError::Failed(e) => e,
            })
    }

    /// Fetches a manifest by tag or digest, sending `accept` as Accept
    /// headers. By digest, the body must hash to it; by tag, the digest is
    /// computed and checked against `Docker-Content-Digest` when present.
    pub async fn get_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        accept: &[&str],
        auth: &Auth,
    ) -> Result<Fetched, RegistryError> {
        validate_repository(repository)?;
        validate_reference(reference)?;
        let mut headers = HeaderMap::new();
        for a in accept {
            headers.append(ACCEPT, media_type(a)?);
        }
        let ctx = Ctx {
            registry,
            repository,
            scopes: vec![pull_scope(repository)],
            auth,
        };
        let path = format!("/v2/{repository}/manifests/{reference}");
        let headers = &headers;
        self.on_pull_endpoints(registry, |ep| {
            let (ctx, path) = (&ctx, &path);
            async move {
                self.get_manifest_at(&ep, ctx, path, headers.clone(), reference)
                    .await
            }
        })
        .await
    }

    /// Runs `attempt` on each pull endpoint in turn (Docker Hub mirrors
    /// first): a mirror's failure moves on to the next endpoint; the
    /// registry's own answer is final.
    async fn on_pull_endpoints<T, F, Fut>(
        &self,
        registry: &str,
        mut attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let mut last = None;
        for ep in self.inner.endpoints(registry, false).await? {
            let mirror = ep.mirror;
            let host = ep.host.clone();
            match attempt(ep).await {
                Ok(v) => return Ok(v),
                Err(e) if mirror => {
                    tracing::warn!(mirror = %host, error = %e, "mirror failed, trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::InvalidRegistry {
            registry: registry.to_owned(),
        }))
    }

    async fn get_manifest_at(
        &self,
        ep: &Endpoint,
        ctx: &Ctx<'_>,
        path: &str,
        headers: HeaderMap,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let url = self.inner.url(ep, path)?;
        let resp = self
            .inner
            .send(ctx, Method::GET, url, headers, Body::Empty, true)
            .await?;
        if !resp.status.is_success() {
            return Err(self
                .inner
                .error_from(ctx, &Op::PullManifest { reference }, resp)
                .await);
        }
        let content_type = header_str(&resp.headers, &CONTENT_TYPE)
            .unwrap_or("")
            .trim()
            .to_owned();
        let announced = resp
            .headers
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self
            .read_body(
                ctx,
                resp,
                MAX_MANIFEST_SIZE,
                &format!("manifest {reference}"),
            )
            .await?;
        let digest = sha256_digest(&bytes);
        let mismatch = |expected: &str| RegistryError::DigestMismatch {
            registry: ctx.registry.to_owned(),
            repository: ctx.repository.to_owned(),
            what: format!("manifest {reference}"),
            expected: expected.to_owned(),
            actual: digest.clone(),
        };
        if is_digest_reference(reference) {
            if digest != reference {
                return Err(mismatch(reference));
            }
        } else if let Some(a) = announced {
            // schema1 digests cover the payload without signatures
            if a.starts_with("sha256:") && a != digest && !is_schema1(&content_type) {
                return Err(mismatch(&a));
            }
        }
        Ok(Fetched {
            bytes,
            content_type,
            digest,
        })
    }

    /// Fetches a small blob (an image config) whole, at most `max_size`
    /// bytes, and checks its digest.
    pub async fn get_blob_bytes(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        max_size: u64,
        auth: &Auth,
    ) -> Result<Bytes, RegistryError> {
        validate_repository(repository)?;
        validate_digest(digest)?;
        let ctx = Ctx {
            registry,
            repository,
            scopes: vec![pull_scope(repository)],
            auth,
        };
        let path = format!("/v2/{repository}/blobs/{digest}");
        let bytes = self
            .on_pull_endpoints(registry, |ep| {
                let (ctx, path) = (&ctx, &path);
                async move {
                    let url = self.inner.url(&ep, path)?;
                    let resp = self
                        .inner
                        .send(ctx, Method::GET, url, HeaderMap::new(), Body::Empty, true)
                        .await?;
                    if !resp.status.is_success() {
                        return Err(self
                            .inner
                            .error_from(ctx, &Op::PullBlob { digest }, resp)
                            .await);
                    }
                    self.read_body(ctx, resp, max_size, &format!("blob {digest}"))
                        .await
                }
            })
            .await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                what: format!("blob {digest}"),
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// A resumable download of a blob (see [`BlobStream`]). Nothing is sent
    /// until the first [`BlobStream::next`].
    pub fn blob_stream(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        expected_size: Option<u64>,
        auth: &Auth,
    ) -> Result<BlobStream, RegistryError> {
        validate_repository(repository)?;
        validate_digest(digest)?;
        crate::config::validate_host(registry)?;
        Ok(BlobStream::new(
            self.clone(),
            registry,
            repository,
            digest,
            expected_size,
            auth,
        ))
    }

    fn push_ctx<'a>(
        &self,
        registry: &'a str,
        repository: &'a str,
        auth: &'a Auth,
    ) -> Result<Ctx<'a>, RegistryError> {
        validate_repository(repository)?;
        Ok(Ctx {
            registry,
            repository,
            scopes: vec![push_scope(repository)],
            auth,
        })
    }

    async fn push_endpoint(&self, registry: &str) -> Result<Endpoint, RegistryError> {
        self.inner
            .endpoints(registry, true)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| RegistryError::InvalidRegistry {
                registry: registry.to_owned(),
            })
    }

    /// Checks credentials against the registry (`docker login`): `GET /v2/`
    /// answering a 401 challenge with `auth` (for token registries, the
    /// token server judges the credentials). Ok means they were accepted.
    pub async fn login(&self, registry: &str, auth: &Auth) -> Result<(), RegistryError> {
        crate::config::validate_host(registry)?;
        let ctx = Ctx {
            registry,
            repository: "",
            scopes: Vec::new(),
            auth,
        };
        let ep = self.push_endpoint(registry).await?;
        let url = self.inner.url(&ep, "/v2/")?;
        let resp = self
            .inner
            .send(&ctx, Method::GET, url, HeaderMap::new(), Body::Empty, true)
            .await?;
        if resp.status.is_success() {
            return Ok(());
        }
        Err(self
            .inner
            .error_from(&ctx, &Op::Push { what: "login" }, resp)
            .await)
    }

    /// Whether the repository has the blob (HEAD), with its size. Uses the
    /// push scope: it is asked before uploads.
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        auth: &Auth,
    ) -> Result<Option<u64>, RegistryError> {
        validate_digest(digest)?;
        let ctx = self.push_ctx(registry, repository, auth)?;
        let ep = self.push_endpoint(registry).await?;
        let url = self
            .inner
            .url(&ep, &format!("/v2/{repository}/blobs/{digest}"))?;
        let resp = self
            .inner
            .send(&ctx, Method::HEAD, url, HeaderMap::new(), Body::Empty, true)
            .await?;
        match resp.status {
            s if s.is_success() => Ok(Some(content_length(&resp.headers).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self
                .inner
                .error_from(&ctx, &Op::Push { what: "blob check" }, resp)
                .await),
        }
    }

    fn session_from(
        &self,
        registry: &str,
        repository: &str,
        resp: &Response,
    ) -> Result<UploadSession, RegistryError> {
        let host = resp
            .url
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let location = header_str(&resp.headers, &LOCATION)
            .and_then(|l| resolve(&resp.url, l))
            .ok_or_else(|| RegistryError::Protocol {
                host,
                reason: "upload response without a usable Location".into(),
            })?;
        Ok(UploadSession {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            location,
        })
    }

    /// Asks the registry to link a blob from another repository of the same
    /// registry (`POST ?mount=&from=`).
    pub async fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        from_repository: &str,
        auth: &Auth,
    ) -> Result<MountOutcome, RegistryError> {
        validate_digest(digest)?;
        validate_repository(from_repository)?;
        let mut ctx = self.push_ctx(registry, repository, auth)?;
        ctx.scopes.push(pull_scope(from_repository));
        let ep = self.push_endpoint(registry).await?;
        let path = with_query(
            &format!("/v2/{repository}/blobs/uploads/"),
            &[("mount", digest), ("from", from_repository)],
        );
        let url = self.inner.url(&ep, &path)?;
        let resp = self
            .inner
            .send(
                &ctx,
                Method::POST,
                url,
                HeaderMap::new(),
                Body::Empty,
                false,
            )
            .await?;
        match resp.status {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => Ok(MountOutcome::NotMounted(
                self.session_from(registry, repository, &resp)?,
            )),
            _ => Err(self
                .inner
                .error_from(&ctx, &Op::Push { what: "blob mount" }, resp)
                .await),
        }
    }

    /// Opens an upload (`POST /v2/<name>/blobs/uploads/`).
    pub async fn start_upload(
        &self,
        registry: &str,
        repository: &str,
        auth: &Auth,
    ) -> Result<UploadSession, RegistryError> {
        let ctx = self.push_ctx(registry, repository, auth)?;
        let ep = self.push_endpoint(registry).await?;
        let url = self
            .inner
            .url(&ep, &format!("/v2/{repository}/blobs/uploads/"))?;
        let resp = self
            .inner
            .send(
                &ctx,
                Method::POST,
                url,
                HeaderMap::new(),
                Body::Empty,
                false,
            )
            .await?;
        if resp.status != StatusCode::ACCEPTED {
            return Err(self
                .inner
                .error_from(
                    &ctx,
                    &Op::Push {
                        what: "upload start",
                    },
                    resp,
                )
                .await);
        }
        self.session_from(registry, repository, &resp)
    }

    /// Uploads a blob of `size` bytes with the given digest: opens an upload
    /// and streams `body` into it ([`UploadMethod::Streamed`]).
    pub async fn upload_blob<S>(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        size: u64,
        body: S,
        auth: &Auth,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        validate_digest(digest)?;
        let session = self.start_upload(registry, repository, auth).await?;
        self.upload_to(session, digest, size, body, UploadMethod::Streamed, auth)
            .await
    }

    /// Streams `body` into an open upload and commits it under `digest`.
    /// The body must yield exactly `size` bytes hashing to `digest`.
    pub async fn upload_to<S>(
        &self,
        session: UploadSession,
        digest: &str,
        size: u64,
        body: S,
        method: UploadMethod,
        auth: &Auth,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        validate_digest(digest)?;
        let registry = session.registry.as_str();
        let repository = session.repository.as_str();
        let ctx = self.push_ctx(registry, repository, auth)?;
        let state = Arc::new(Mutex::new(UploadState::default()));
        let upload = UploadBody {
            stream: Box::pin(body),
            state: state.clone(),
            size,
            sent: 0,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        let body = Body::Once(Some(upload.boxed_unsync()));
        let (method_http, url) = match method {
            UploadMethod::Streamed => (Method::PATCH, session.location.clone()),
            UploadMethod::Monolithic => (Method::PUT, commit_url(&session, digest)?),
        };
        let sent = self
            .inner
            .send(&ctx, method_http, url, headers, body, false)
            .await;
        // A failing body surfaces as a transport error; report its cause.
        let (actual, count, body_error, wrong_size) = {
            let mut st = match state.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            (
                std::mem::take(&mut st.hasher).finish(),
                st.count,
                st.error.take(),
                st.wrong_size,
            )
        };
        if let Some(source) = body_error {
            return Err(RegistryError::UploadBody {
                digest: digest.to_owned(),
                source,
            });
        }
        if wrong_size || (sent.is_ok() && count != size) {
            return Err(RegistryError::SizeMismatch {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                digest: digest.to_owned(),
                expected: size,
                actual: count,
            });
        }
        let resp = sent?;
        if !resp.status.is_success() {
            return Err(self
                .inner
                .error_from(
                    &ctx,
                    &Op::Push {
                        what: "blob upload",
                    },
                    resp,
                )
                .await);
        }
        if actual != digest {
            if method == UploadMethod::Streamed {
                // best effort: drop the uncommitted upload
                if let Ok(s) = self.session_from(registry, repository, &resp) {
                    let _ = self
                        .inner
                        .send(
                            &ctx,
                            Method::DELETE,
                            s.location,
                            HeaderMap::new(),
                            Body::Empty,
                            false,
                        )
                        .await;
                }
            }
            return Err(RegistryError::DigestMismatch {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                what: "uploaded blob".into(),
                expected: digest.to_owned(),
                actual,
            });
        }
        if method == UploadMethod::Monolithic {
            return Ok(());
        }
        let next = self.session_from(registry, repository, &resp)?;
        let url = commit_url(&next, digest)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        let resp = self
            .inner
            .send(&ctx, Method::PUT, url, headers, Body::Empty, false)
            .await?;
        if !resp.status.is_success() {
            return Err(self
                .inner
                .error_from(
                    &ctx,
                    &Op::Push {
                        what: "blob commit",
                    },
                    resp,
                )
                .await);
        }
        Ok(())
    }

    /// Puts a manifest under a tag or digest; returns its digest.
    pub async fn put_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        content_type: &str,
        bytes: Bytes,
        auth: &Auth,
    ) -> Result<String, RegistryError> {
        validate_reference(reference)?;
        let ctx = self.push_ctx(registry, repository, auth)?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Self::too_large(
                registry,
                repository,
                "manifest".into(),
                MAX_MANIFEST_SIZE,
            ));
        }
        let digest = sha256_digest(&bytes);
        if is_digest_reference(reference) && reference != digest {
            return Err(RegistryError::DigestMismatch {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                what: "manifest".into(),
                expected: reference.to_owned(),
                actual: digest,
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, media_type(content_type)?);
        let ep = self.push_endpoint(registry).await?;
        let url = self
            .inner
            .url(&ep, &format!("/v2/{repository}/manifests/{reference}"))?;
        let resp = self
            .inner
            .send(&ctx, Method::PUT, url, headers, Body::Full(bytes), false)
            .await?;
        if !resp.status.is_success() {
            return Err(self
                .inner
                .error_from(
                    &ctx,
                    &Op::Push {
                        what: "manifest put",
                    },
                    resp,
                )
                .await);
        }
        if let Some(announced) = resp
            .headers
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
        {
            if announced.starts_with("sha256:") && announced != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: registry.to_owned(),
                    repository: repository.to_owned(),
                    what: "manifest put".into(),
                    expected: digest,
                    actual: announced.to_owned(),
                });
            }
        }
        Ok(digest)
    }
}

fn commit_url(session: &UploadSession, digest: &str) -> Result<Uri, RegistryError> {
    with_query(&session.location.to_string(), &[("digest", digest)])
        .parse()
        .map_err(|_| RegistryError::Protocol {
            host: session.registry.clone(),
            reason: "bad upload location".into(),
        })
}

#[derive(Default)]
struct UploadState {
    hasher: Hasher,
    count: u64,
    error: Option<std::io::Error>,
    /// The body yielded more or fewer bytes than declared.
    wrong_size: bool,
}

/// The caller's stream as a request body, hashing and counting what goes
/// out and refusing to send more than `size` bytes.
struct UploadBody {
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    state: Arc<Mutex<UploadState>>,
    size: u64,
    sent: u64,
}

impl http_body::Body for UploadBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match this.stream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let mut st = match this.state.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                st.count += chunk.len() as u64;
                this.sent += chunk.len() as u64;
                if this.sent > this.size {
                    st.wrong_size = true;
                    return Poll::Ready(Some(Err(
                        "upload body is longer than its declared size".into()
                    )));
                }
                st.hasher.update(&chunk);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => {
                let msg = e.to_string();
                let mut st = match this.state.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                st.error = Some(e);
                Poll::Ready(Some(Err(msg.into())))
            }
            Poll::Ready(None) => {
                if this.sent != this.size {
                    let mut st = match this.state.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    st.wrong_size = true;
                    return Poll::Ready(Some(Err(
                        "upload body is shorter than its declared size".into()
                    )));
                }
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema1_types_skip_the_digest_cross_check() {
        assert!(is_schema1(
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        ));
        assert!(is_schema1(""));
        assert!(!is_schema1("application/vnd.oci.image.manifest.v1+json"));
        assert!(!is_schema1(
            "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"
        ));
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_and_futures_can_move_across_threads() {
        let c = Client::new(RegistryConfig::default()).unwrap();
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let auth = Auth::Anonymous;
        let mut s = c
            .blob_stream("localhost:5000", "a", d, None, &auth)
            .unwrap();
        assert_send(&s);
        assert_send(&s.next());
        assert_send(&c.get_manifest("localhost:5000", "a", "latest", &[], &auth));
        assert_send(&c.get_blob_bytes("localhost:5000", "a", d, 1, &auth));
        let body = futures_util::stream::iter(Vec::<Result<Bytes, std::io::Error>>::new());
        assert_send(&c.upload_blob("localhost:5000", "a", d, 0, body, &auth));
        assert_send(&c.put_manifest("localhost:5000", "a", "t", "x/y", Bytes::new(), &auth));
    }

    #[test]
    fn bad_arguments_are_rejected_before_any_request() {
        let c = Client::new(RegistryConfig::default()).unwrap();
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let a = Auth::Anonymous;
        assert!(matches!(
            c.blob_stream("localhost:5000", "A", d, None, &a),
            Err(RegistryError::InvalidRepository { .. })
        ));
        assert!(matches!(
            c.blob_stream("localhost:5000", "a", "sha256:00", None, &a),
            Err(RegistryError::InvalidDigest { .. })
        ));
        assert!(matches!(
            c.blob_stream("bad/host", "a", d, None, &a),
            Err(RegistryError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            Client::new(RegistryConfig {
                mirrors: vec!["nope".into()],
                ..RegistryConfig::default()
            }),
            Err(RegistryError::InvalidConfig { .. })
        ));
    }

    #[tokio::test]
    async fn manifest_requests_validate_inputs() {
        let c = Client::new(RegistryConfig::default()).unwrap();
        let a = Auth::Anonymous;
        let err = c
            .get_manifest("localhost:5000", "a", "../x", &[], &a)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidReference { .. }),
            "{err:?}"
        );
        let err = c
            .get_manifest("localhost:5000", "a", "t", &["bad\nvalue"], &a)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidMediaType { .. }),
            "{err:?}"
        );
        let big = Bytes::from(vec![b' '; MAX_MANIFEST_SIZE as usize + 1]);
        let err = c
            .put_manifest("localhost:5000", "a", "t", "x/y", big, &a)
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn scopes_use_docker_grammar() {
        assert_eq!(pull_scope("a/b"), "repository:a/b:pull");
        assert_eq!(push_scope("a/b"), "repository:a/b:pull,push");
    }

    #[test]
    fn commit_url_keeps_the_upload_state() {
        let s = UploadSession {
            registry: "r".into(),
            repository: "a".into(),
            location: "http://h:1/v2/a/blobs/uploads/u?_state=xy".parse().unwrap(),
        };
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            commit_url(&s, d).unwrap().to_string(),
            format!(
                "http://h:1/v2/a/blobs/uploads/u?_state=xy&digest=sha256%3A{}",
                &d[7..]
            )
        );
    }
}
