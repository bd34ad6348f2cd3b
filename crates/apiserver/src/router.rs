//! Routing: the `/vX.Y` prefix, Docker's path patterns, and the headers
//! every answer carries.
//!
//! Hand-written because Docker's patterns need a greedy multi-segment
//! parameter in the middle of a path (`/images/{name:.*}/json`, where the
//! name holds slashes), which the common Rust routers (matchit, axum) do not
//! express; a table of a few dozen patterns is matched in microseconds.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use api::ApiVersion;
use http::{header, HeaderValue, Method, Response};
use hyper::body::Incoming;
use hyper::Request;

use crate::error::ApiError;
use crate::handlers;
use crate::response::{self, Body};
use crate::State;

/// What a handler gets.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub state: Arc<State>,
    /// The negotiated API version of this request.
    #[allow(dead_code)] // read by version-dependent handlers as they arrive
    pub version: ApiVersion,
    pub params: HashMap<&'static str, String>,
    pub parts: http::request::Parts,
    #[allow(dead_code)] // read by handlers with request bodies
    pub body: Incoming,
}

impl Ctx {
    pub fn query(&self) -> Query {
        Query::parse(self.parts.uri.query().unwrap_or(""))
    }
}

pub(crate) type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;
pub(crate) type Handler = fn(Ctx) -> HandlerFuture;

struct Route {
    method: Method,
    pattern: Vec<Segment>,
    handler: Handler,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Literal(&'static str),
    /// `{name}`: exactly one non-empty segment.
    Param(&'static str),
    /// `{name:.*}`: one or more segments, slashes kept.
    Rest(&'static str),
}

pub(crate) fn compile(pattern: &'static str) -> Vec<Segment> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => match inner.strip_suffix(":.*") {
                    Some(name) => Segment::Rest(name),
                    None => Segment::Param(inner),
                },
                None => Segment::Literal(s),
            },
        )
        .collect()
}

/// Matches `path` (already percent-decoded, without the version prefix).
pub(crate) fn match_path(pattern: &[Segment], path: &str) -> Option<HashMap<&'static str, String>> {
    let segs: Vec<&str> = if path == "/" {
        Vec::new()
    } else {
        path.strip_prefix('/')?.split('/').collect()
    };
    let mut params = HashMap::new();
    match pattern.iter().position(|s| matches!(s, Segment::Rest(_))) {
        None => {
            if segs.len() != pattern.len() {
                return None;
            }
            for (p, s) in pattern.iter().zip(&segs) {
                match_one(p, s, &mut params)?;
            }
        }
        Some(rest_at) => {
            let after = pattern.len() - rest_at - 1;
            if segs.len() < rest_at + after + 1 {
                return None;
            }
            for (p, s) in pattern[..rest_at].iter().zip(&segs[..rest_at]) {
                match_one(p, s, &mut params)?;
            }
            let tail_start = segs.len() - after;
            for (p, s) in pattern[rest_at + 1..].iter().zip(&segs[tail_start..]) {
                match_one(p, s, &mut params)?;
            }
            let middle = segs[rest_at..tail_start].join("/");
            if middle.is_empty() {
                return None;
            }
            if let Segment::Rest(name) = pattern[rest_at] {
                params.insert(name, middle);
            }
        }
    }
    Some(params)
}

fn match_one(p: &Segment, s: &str, params: &mut HashMap<&'static str, String>) -> Option<()> {
    match p {
        Segment::Literal(l) => (*l == s).then_some(()),
        Segment::Param(name) | Segment::Rest(name) => {
            if s.is_empty() {
                return None;
            }
            params.insert(name, s.to_string());
            Some(())
        }
    }
}

/// Splits `/v1.41/info` into (`Some("1.41")`, `/info`). The prefix is Moby's
/// `/v{version:[0-9.]+}`.
fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let v = &rest[..end];
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let tail = &rest[end..];
            return (Some(v), if tail.is_empty() { "/" } else { tail });
        }
    }
    (None, path)
}

static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    handlers::routes()
        .into_iter()
        .map(|(method, pattern, handler)| Route {
            method,
            pattern: compile(pattern),
            handler,
        })
        .collect()
});

/// Handles one request end to end; never fails (errors become answers).
pub(crate) async fn dispatch(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let decoded = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let (version_text, path) = split_version(&decoded);
    let method = parts.method.clone();
    tracing::debug!(method = %method, path = %raw_path, "calling");

    let found = ROUTES.iter().find_map(|r| {
        (r.method == method).then(|| match_path(&r.pattern, path).map(|p| (r, p)))?
    });
    let experimental = state.engine.config().experimental;
    let mut resp = match found {
        None => response::error(&ApiError::not_found("page not found")),
        Some((route, params)) => {
            let version = match version_text {
                None => Ok(api::version::DEFAULT_VERSION),
                Some(v) => api::version::check_supported(v).map_err(ApiError::from),
            };
            match version {
                Err(e) => response::error(&e),
                Ok(version) => {
                    let ctx = Ctx {
                        state,
                        version,
                        params,
                        parts,
                        body,
                    };
                    match (route.handler)(ctx).await {
                        Ok(r) => r,
                        Err(e) => {
                            if e.status.is_server_error() {
                                tracing::error!(method = %method, path = %raw_path, error = %e.message, "handler error");
                            } else {
                                tracing::debug!(method = %method, path = %raw_path, status = e.status.as_u16(), error = %e.message, "request refused");
                            }
                            response::error(&e)
                        }
                    }
                }
            }
        }
    };
    add_common_headers(resp.headers_mut(), experimental);
    tracing::debug!(
        method = %method,
        path = %raw_path,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "answered"
    );
    resp
}

fn add_common_headers(h: &mut http::HeaderMap, experimental: bool) {
    static SERVER: LazyLock<HeaderValue> = LazyLock::new(|| {
        HeaderValue::from_str(&format!(
            "Docker/{} ({})",
            api::version::COMPAT_VERSION,
            std::env::consts::OS
        ))
        .unwrap_or(HeaderValue::from_static("Docker"))
    });
    h.insert(header::SERVER, SERVER.clone());
    h.insert("API-Version", HeaderValue::from_static(API_VERSION_HEADER));
    h.insert("OSType", HeaderValue::from_static(std::env::consts::OS));
    h.insert(
        "Docker-Experimental",
        HeaderValue::from_static(if experimental { "true" } else { "false" }),
    );
}

const API_VERSION_HEADER: &str = "1.41";

/// A parsed query string. Docker's clients repeat keys (`filters`) and send
/// keys we do not know (dockerode repeats the body in the query): unknown
/// keys are simply never looked at.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(q: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key (`names=a&names=b`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Docker's `httputils.BoolValue`: absent, "", "0", "no", "false" and
    /// "none" are false; anything else is true.
    #[allow(dead_code)] // used by handlers as they arrive
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_header_matches_the_default_version() {
        assert_eq!(
            API_VERSION_HEADER,
            api::version::DEFAULT_VERSION.to_string()
        );
    }

    #[test]
    fn version_prefix_is_split_off() {
        assert_eq!(split_version("/v1.41/info"), (Some("1.41"), "/info"));
        assert_eq!(split_version("/v1.45/_ping"), (Some("1.45"), "/_ping"));
        assert_eq!(split_version("/info"), (None, "/info"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
        assert_eq!(split_version("/v1.41"), (Some("1.41"), "/"));
        assert_eq!(split_version("/vx/info"), (None, "/vx/info"));
    }

    #[test]
    fn literal_patterns_match_exactly() {
        let p = compile("/containers/json");
        assert!(match_path(&p, "/containers/json").is_some());
        assert!(match_path(&p, "/containers/json/").is_none());
        assert!(match_path(&p, "/containers").is_none());
    }

    #[test]
    fn params_take_one_segment() {
        let p = compile("/containers/{id}/json");
        let m = match_path(&p, "/containers/abc/json").unwrap();
        assert_eq!(m["id"], "abc");
        assert!(match_path(&p, "/containers/a/b/json").is_none());
        assert!(match_path(&p, "/containers//json").is_none());
    }

    #[test]
    fn rest_params_take_slashes() {
        let p = compile("/images/{name:.*}/json");
        let m = match_path(&p, "/images/localhost:5000/foo/bar:1/json").unwrap();
        assert_eq!(m["name"], "localhost:5000/foo/bar:1");
        assert!(match_path(&p, "/images/json").is_none());
        let p = compile("/images/{name:.*}");
        let m = match_path(&p, "/images/a/b").unwrap();
        assert_eq!(m["name"], "a/b");
    }

    #[test]
    fn query_bool_follows_docker() {
        let q = Query::parse("a=1&b=false&c=&d=none&e=yes&f=0&g=True");
        assert!(q.bool("a"));
        assert!(!q.bool("b"));
        assert!(!q.bool("c"));
        assert!(!q.bool("d"));
        assert!(q.bool("e"));
        assert!(!q.bool("f"));
        assert!(q.bool("g"));
        assert!(!q.bool("missing"));
    }

    #[test]
    fn query_decodes_values() {
        let q = Query::parse("filters=%7B%22a%22%3A1%7D&x=a+b");
        assert_eq!(q.get("filters"), Some(r#"{"a":1}"#));
        assert_eq!(q.get("x"), Some("a b"));
    }
}
