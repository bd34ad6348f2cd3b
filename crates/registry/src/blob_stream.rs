//! The resumable blob download (balenaEngine's resilient pull): on a read
//! error it reconnects with `Range: bytes=N-` and goes on from byte N, so
//! the caller keeps feeding one decompressor and one digest verifier.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_RANGE, RANGE};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::auth::Auth;
use crate::client::{pull_scope, Client};
use crate::config::Endpoint;
use crate::error::{Op, RegistryError};
use crate::transport::{content_length, header_str, Body, Ctx};

/// What a [`BlobStream`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobEvent {
    /// The next bytes of the blob.
    Data(Bytes),
    /// The connection failed; the stream waits `in_secs` (rounded up)
    /// before reconnecting. Emitted before the wait, so the caller can show
    /// Docker's `Retrying in N seconds`.
    Retrying {
        /// Consecutive failures so far (1 for the first).
        attempt: u32,
        /// Seconds until the next attempt.
        in_secs: u64,
        /// What failed.
        error: String,
    },
    /// The registry ignored the range request and sent the blob from the
    /// start: discard everything received so far; data follows from byte 0.
    Restarted,
}

/// Backoff for consecutive failures: `unit * 2^(n-1)` capped at
/// `unit * 300`; progress resets it. Pure, so the schedule is testable.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    unit: Duration,
    max_attempts: u32,
    failures: u32,
}

/// The cap, in units (Docker's 5 minutes).
const BACKOFF_CAP: u64 = 300;

impl Backoff {
    pub(crate) fn new(unit: Duration, max_attempts: u32) -> Backoff {
        Backoff {
            unit,
            max_attempts,
            failures: 0,
        }
    }

    /// Records a failure: the delay before the next attempt, or `None` when
    /// `max_attempts` consecutive failures have been reached (0 = never).
    pub(crate) fn on_failure(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.max_attempts > 0 && self.failures >= self.max_attempts {
            return None;
        }
        let units = 1u64
            .checked_shl(self.failures - 1)
            .filter(|u| *u <= BACKOFF_CAP)
            .unwrap_or(BACKOFF_CAP);
        Some(
            self.unit
                .saturating_mul(u32::try_from(units).unwrap_or(u32::MAX)),
        )
    }

    pub(crate) fn on_progress(&mut self) {
        self.failures = 0;
    }

    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

enum State {
    Connect,
    Sleep(Instant),
    Body(Incoming),
}

/// A resumable download of one blob. Does not verify the digest: the
/// caller's verifier sees every byte exactly once (after a
/// [`BlobEvent::Restarted`], from the start again). Dropping it cancels the
/// download.
pub struct BlobStream {
    client: Client,
    registry: String,
    repository: String,
    digest: String,
    auth: Auth,
    total: Option<u64>,
    delivered: u64,
    /// The furthest offset ever delivered. Only getting past it counts as
    /// progress: a registry that ignores `Range` on a link that keeps
    /// breaking restarts from 0 forever, and must run out of attempts.
    high_water: u64,
    received: u64,
    backoff: Backoff,
    state: State,
    finished: bool,
}

/// A usable response: its body, whether it starts again from byte 0
/// although bytes were delivered, and the blob size it announces.
struct Opened {
    body: Incoming,
    restarted: bool,
    len: Option<u64>,
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, end, total))
}

/// The error and its causes on one line.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl BlobStream {
    pub(crate) fn new(
        client: Client,
        registry: &str,
        repository: &str,
        digest: &str,
        expected_size: Option<u64>,
        auth: &Auth,
    ) -> BlobStream {
        let cfg = &client.inner.config;
        let backoff = Backoff::new(cfg.backoff_unit, cfg.max_download_attempts);
        BlobStream {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            digest: digest.to_owned(),
            auth: auth.clone(),
            total: expected_size,
            delivered: 0,
            high_water: 0,
            received: 0,
            backoff,
            state: State::Connect,
            finished: false,
            client,
        }
    }

    /// Body bytes received from the network, including any discarded by a
    /// restart.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Bytes delivered since the start (or the last restart).
    pub fn offset(&self) -> u64 {
        self.delivered
    }

    /// The blob's size, once known (given, or from the first response).
    pub fn size(&self) -> Option<u64> {
        self.total
    }

    /// The digest being downloaded.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The next event; `None` once the blob has been delivered whole (or
    /// after an error). Cancel-safe: dropping the returned future loses no
    /// data (a half-made connection is simply made again).
    pub async fn next(&mut self) -> Option<Result<BlobEvent, RegistryError>> {
        loop {
            if self.finished {
                return None;
            }
            match &mut self.state {
                State::Sleep(deadline) => {
                    tokio::time::sleep_until(*deadline).await;
                    self.state = State::Connect;
                }
                State::Connect => {
                    if self.delivered > 0 && self.total == Some(self.delivered) {
                        self.finished = true;
                        return None;
                    }
                    match self.open().await {
                        Ok(Opened {
                            body,
                            restarted,
                            len,
                        }) => {
                            if let Some(len) = len {
                                match self.total {
                                    Some(t) if t != len => {
                                        return self.fail(RegistryError::SizeMismatch {
                                            registry: self.registry.clone(),
                                            repository: self.repository.clone(),
                                            digest: self.digest.clone(),
                                            expected: t,
                                            actual: len,
                                        })
                                    }
                                    _ => self.total = Some(len),
                                }
                            }
                            self.state = State::Body(body);
                            if restarted {
                                tracing::warn!(digest = %self.digest, offset = self.delivered, "registry ignored the range request; restarting the download");
                                self.delivered = 0;
                                return Some(Ok(BlobEvent::Restarted));
                            }
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                State::Body(body) => {
                    let timeout = self.client.inner.config.io_timeout;
                    let frame = tokio::time::timeout(timeout, body.frame()).await;
                    let host = self.registry.clone();
                    match frame {
                        Err(_) => {
                            return self.fail(RegistryError::Timeout {
                                host,
                                secs: timeout.as_secs(),
                            })
                        }
                        Ok(None) => {
                            if self.total.is_some_and(|t| self.delivered < t) {
                                return self.fail(RegistryError::Protocol {
                                    host,
                                    reason: format!(
                                        "body ended at byte {} of {:?}",
                                        self.delivered, self.total
                                    ),
                                });
                            }
                            self.finished = true;
                            return None;
                        }
                        Ok(Some(Err(e))) => {
                            return self.fail(RegistryError::Transport {
                                host,
                                source: Box::new(e),
                            })
                        }
                        Ok(Some(Ok(frame))) => {
                            let Ok(data) = frame.into_data() else {
                                continue;
                            };
                            if data.is_empty() {
                                continue;
                            }
                            let len = data.len() as u64;
                            self.received += len;
                            if let Some(t) = self.total {
                                if self.delivered + len > t {
                                    return self.fail(RegistryError::TooLarge {
                                        registry: self.registry.clone(),
                                        repository: self.repository.clone(),
                                        what: format!("blob {}", self.digest),
                                        limit: t,
                                    });
                                }
                            }
                            self.delivered += len;
                            if self.delivered > self.high_water {
                                self.high_water = self.delivered;
                                self.backoff.on_progress();
                            }
                            return Some(Ok(BlobEvent::Data(data)));
                        }
                    }
                }
            }
        }
    }

    fn fail(&mut self, e: RegistryError) -> Option<Result<BlobEvent, RegistryError>> {
        self.state = State::Connect;
        if !e.is_retryable() {
            self.finished = true;
            return Some(Err(e));
        }
        match self.backoff.on_failure() {
            None => {
                self.finished = true;
                Some(Err(RegistryError::RetriesExhausted {
                    registry: self.registry.clone(),
                    repository: self.repository.clone(),
                    digest: self.digest.clone(),
                    attempts: self.backoff.failures(),
                    source: Box::new(e),
                }))
            }
            Some(delay) => {
                let error = error_chain(&e);
                tracing::info!(digest = %self.digest, offset = self.delivered, attempt = self.backoff.failures(), error = %error, "blob download failed, will resume");
                self.state = State::Sleep(Instant::now() + delay);
                let in_secs = delay.as_millis().div_ceil(1000) as u64;
                Some(Ok(BlobEvent::Retrying {
                    attempt: self.backoff.failures(),
                    in_secs,
                    error,
                }))
            }
        }
    }

    async fn open(&self) -> Result<Opened, RegistryError> {
        let ctx = Ctx {
            registry: &self.registry,
            repository: &self.repository,
            scopes: vec![pull_scope(&self.repository)],
            auth: &self.auth,
        };
        let endpoints = self.client.inner.endpoints(&self.registry, false).await?;
        let mut last = None;
        for ep in &endpoints {
            match self.open_at(ep, &ctx).await {
                Ok(o) => return Ok(o),
                Err(e) if ep.mirror => {
                    tracing::warn!(mirror = %ep.host, error = %e, "mirror failed, trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::InvalidRegistry {
            registry: self.registry.clone(),
        }))
    }

    async fn open_at(&self, ep: &Endpoint, ctx: &Ctx<'_>) -> Result<Opened, RegistryError> {
        let inner = &self.client.inner;
        let path = format!("/v2/{}/blobs/{}", self.repository, self.digest);
        let mut use_range = self.delivered > 0;
        loop {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
            if use_range {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes={}-", self.delivered)) {
                    headers.insert(RANGE, v);
                }
            }
            let url = inner.url(ep, &path)?;
            let resp = inner
                .send(ctx, Method::GET, url, headers, Body::Empty, true)
                .await?;
            match resp.status {
                StatusCode::OK => {
                    let len = content_length(&resp.headers);
                    return Ok(Opened {
                        body: resp.body,
                        restarted: self.delivered > 0,
                        len,
                    });
                }
                StatusCode::PARTIAL_CONTENT if use_range => {
                    let range =
                        header_str(&resp.headers, &CONTENT_RANGE).and_then(parse_content_range);
                    let ok = range.is_some_and(|(start, _, total)| {
                        start == self.delivered
                            && match (total, self.total) {
                                (Some(a), Some(b)) => a == b,
                                _ => true,
                            }
                    });
                    if ok {
                        let len = range.and_then(|(_, _, t)| t);
                        return Ok(Opened {
                            body: resp.body,
                            restarted: false,
                            len,
                        });
                    }
                    tracing::warn!(digest = %self.digest, content_range = ?header_str(&resp.headers, &CONTENT_RANGE), offset = self.delivered, "unusable partial response; downloading from the start");
                    use_range = false;
                }
                s if s.is_success() => {
                    return Err(RegistryError::Protocol {
                        host: ep.host.clone(),
                        reason: format!("unexpected status {s} for a blob"),
                    })
                }
                _ => {
                    return Err(inner
                        .error_from(
                            ctx,
                            &Op::PullBlob {
                                digest: &self.digest,
                            },
                            resp,
                        )
                        .await)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let mut b = Backoff::new(Duration::from_secs(1), 0);
        let got: Vec<u64> = (0..12).map(|_| b.on_failure().unwrap().as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn backoff_resets_after_progress() {
        let mut b = Backoff::new(Duration::from_secs(1), 0);
        assert_eq!(b.on_failure(), Some(Duration::from_secs(1)));
        assert_eq!(b.on_failure(), Some(Duration::from_secs(2)));
        assert_eq!(b.on_failure(), Some(Duration::from_secs(4)));
        b.on_progress();
        assert_eq!(b.on_failure(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn backoff_gives_up_after_max_consecutive_failures() {
        let mut b = Backoff::new(Duration::from_secs(1), 3);
        assert!(b.on_failure().is_some());
        assert!(b.on_failure().is_some());
        assert_eq!(b.on_failure(), None);
        assert_eq!(b.failures(), 3);
        let mut b = Backoff::new(Duration::from_secs(1), 3);
        for _ in 0..10 {
            assert!(b.on_failure().is_some());
            b.on_progress();
        }
    }

    #[test]
    fn backoff_never_overflows() {
        let mut b = Backoff::new(Duration::from_millis(10), 0);
        for _ in 0..200 {
            assert!(b.on_failure().unwrap() <= Duration::from_secs(3));
        }
    }

    #[test]
    fn content_ranges_are_parsed() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }
}
