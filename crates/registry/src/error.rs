//! The crate's error type, its classification, and the translation of
//! registry error bodies (`{"errors":[{"code":..,"message":..}]}`) into
//! Docker's wording.

use std::path::PathBuf;

/// Boxed error used for foreign causes (hyper, rustls, I/O).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How the engine should treat an error (it maps these to HTTP statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The manifest, blob or repository does not exist (404).
    NotFound,
    /// Authentication is missing or was rejected (401).
    Unauthorized,
    /// Authenticated, but access was refused (403).
    Denied,
    /// A bad argument or a bad response (400): digest mismatch, bad name.
    Invalid,
    /// The registry cannot be reached or failed (5xx, network, timeouts).
    Unavailable,
}

/// One entry of a registry error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// The code, e.g. `MANIFEST_UNKNOWN` (empty when the body had none).
    pub code: String,
    /// The registry's message.
    pub message: String,
}

/// Every error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A digest argument is not `sha256:<64 lowercase hex digits>`.
    #[error("invalid digest {digest:?}: expected sha256 followed by 64 lowercase hex digits")]
    InvalidDigest { digest: String },
    /// A repository name does not follow the distribution grammar.
    #[error("invalid repository name {repository:?}")]
    InvalidRepository { repository: String },
    /// A tag is neither a valid tag nor a digest.
    #[error("invalid tag or digest {reference:?}")]
    InvalidReference { reference: String },
    /// A registry host is not `host[:port]`.
    #[error("invalid registry host {registry:?}")]
    InvalidRegistry { registry: String },
    /// The client configuration is invalid.
    #[error("invalid registry configuration: {reason}")]
    InvalidConfig { reason: String },
    /// A media type argument cannot be sent as a header.
    #[error("invalid media type {media_type:?}")]
    InvalidMediaType { media_type: String },
    /// An `X-Registry-Auth` header could not be decoded.
    #[error("invalid X-Registry-Auth header: {reason}")]
    InvalidAuthHeader { reason: String },
    /// The registry answered with an error status.
    #[error("{message}")]
    Response {
        kind: ErrorKind,
        status: u16,
        registry: String,
        repository: String,
        message: String,
        details: Vec<ErrorDetail>,
    },
    /// A certificate or key under the certs directory could not be used.
    #[error("cannot use TLS material {path}: {reason}")]
    TlsMaterial { path: PathBuf, reason: String },
    /// The connection to a host could not be made (DNS, TCP, TLS).
    #[error("cannot connect to {host}")]
    Connect {
        host: String,
        #[source]
        source: BoxError,
    },
    /// The request or the response failed in flight.
    #[error("request to {host} failed")]
    Transport {
        host: String,
        #[source]
        source: BoxError,
    },
    /// Nothing arrived for too long.
    #[error("no response from {host} for {secs} s")]
    Timeout { host: String, secs: u64 },
    /// The response broke the protocol (bad header, missing Location, ...).
    #[error("unexpected response from {host}: {reason}")]
    Protocol { host: String, reason: String },
    /// The content does not hash to the digest it was asked by or announced with.
    #[error("digest mismatch for {what} in {repository} on {registry}: expected {expected}, got {actual}")]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: String,
        actual: String,
    },
    /// A size did not match what was announced.
    #[error("size mismatch for {digest} in {repository} on {registry}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        registry: String,
        repository: String,
        digest: String,
        expected: u64,
        actual: u64,
    },
    /// A body is larger than allowed.
    #[error("{what} in {repository} on {registry} exceeds the limit of {limit} bytes")]
    TooLarge {
        registry: String,
        repository: String,
        what: String,
        limit: u64,
    },
    /// The body handed to an upload failed.
    #[error("reading the upload body for {digest} failed")]
    UploadBody {
        digest: String,
        #[source]
        source: std::io::Error,
    },
    /// A resumable download gave up after consecutive failures.
    #[error(
        "download of {digest} from {repository} on {registry} failed after {attempts} attempts"
    )]
    RetriesExhausted {
        registry: String,
        repository: String,
        digest: String,
        attempts: u32,
        #[source]
        source: Box<RegistryError>,
    },
}

impl RegistryError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::InvalidDigest { .. }
            | RegistryError::InvalidRepository { .. }
            | RegistryError::InvalidReference { .. }
            | RegistryError::InvalidRegistry { .. }
            | RegistryError::InvalidConfig { .. }
            | RegistryError::InvalidMediaType { .. }
            | RegistryError::InvalidAuthHeader { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::SizeMismatch { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::UploadBody { .. } => ErrorKind::Invalid,
            RegistryError::Response { kind, .. } => *kind,
            RegistryError::TlsMaterial { .. }
            | RegistryError::Connect { .. }
            | RegistryError::Transport { .. }
            | RegistryError::Timeout { .. }
            | RegistryError::Protocol { .. } => ErrorKind::Unavailable,
            RegistryError::RetriesExhausted { source, .. } => source.kind(),
        }
    }

    /// Whether a resumable download should try again after this error:
    /// network failures and 5xx answers are retried; 4xx and bad
    /// arguments are not.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Connect { .. }
            | RegistryError::Transport { .. }
            | RegistryError::Timeout { .. }
            | RegistryError::Protocol { .. } => true,
            RegistryError::Response { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// What was being done when a registry answered with an error; decides the
/// wording of the message, as Docker's `TranslatePullError` does.
#[derive(Debug, Clone)]
pub(crate) enum Op<'a> {
    /// Fetching a manifest by tag or digest.
    PullManifest { reference: &'a str },
    /// Fetching a blob.
    PullBlob { digest: &'a str },
    /// Any push request (upload, mount, manifest put, existence check).
    Push { what: &'a str },
    /// Fetching a token from an authorization server.
    Token,
}

const MAX_DETAILS: usize = 16;
const MAX_FIELD: usize = 1024;

fn clip(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Parses a registry error body. Accepts distribution's
/// `{"errors":[{"code","message","detail"}]}` and the legacy
/// `{"details":"..."}` form (mapped by status, as distribution's client
/// does). Returns an empty list for anything else.
pub(crate) fn parse_error_body(status: u16, body: &[u8]) -> Vec<ErrorDetail> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let Some(obj) = value.as_object() else {
        return Vec::new();
    };
    if let Some(details) = obj.get("details").and_then(|d| d.as_str()) {
        if !details.is_empty() {
            let code = match status {
                401 => "UNAUTHORIZED",
                429 => "TOOMANYREQUESTS",
                _ => "UNKNOWN",
            };
            return vec![ErrorDetail {
                code: code.to_owned(),
                message: clip(details),
            }];
        }
    }
    let Some(errors) = obj.get("errors").and_then(|e| e.as_array()) else {
        return Vec::new();
    };
    errors
        .iter()
        .filter_map(|e| e.as_object())
        .take(MAX_DETAILS)
        .map(|e| ErrorDetail {
            code: clip(e.get("code").and_then(|c| c.as_str()).unwrap_or("")),
            message: clip(e.get("message").and_then(|m| m.as_str()).unwrap_or("")),
        })
        .collect()
}

/// Distribution's known codes: (code, kind).
const KNOWN_CODES: &[(&str, ErrorKind)] = &[
    ("UNKNOWN", ErrorKind::Unavailable),
    ("UNSUPPORTED", ErrorKind::Invalid),
    ("UNAUTHORIZED", ErrorKind::Unauthorized),
    ("DENIED", ErrorKind::Denied),
    ("UNAVAILABLE", ErrorKind::Unavailable),
    ("TOOMANYREQUESTS", ErrorKind::Unavailable),
    ("DIGEST_INVALID", ErrorKind::Invalid),
    ("SIZE_INVALID", ErrorKind::Invalid),
    ("NAME_INVALID", ErrorKind::Invalid),
    ("TAG_INVALID", ErrorKind::Invalid),
    ("NAME_UNKNOWN", ErrorKind::NotFound),
    ("MANIFEST_UNKNOWN", ErrorKind::NotFound),
    ("MANIFEST_INVALID", ErrorKind::Invalid),
    ("MANIFEST_UNVERIFIED", ErrorKind::Invalid),
    ("MANIFEST_BLOB_UNKNOWN", ErrorKind::Invalid),
    ("BLOB_UNKNOWN", ErrorKind::NotFound),
    ("BLOB_UPLOAD_UNKNOWN", ErrorKind::NotFound),
    ("BLOB_UPLOAD_INVALID", ErrorKind::Invalid),
];

fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Denied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::Unavailable,
        400..=499 => ErrorKind::Invalid,
        _ => ErrorKind::Unavailable,
    }
}

/// `MANIFEST_UNKNOWN: manifest unknown` rendered as distribution's
/// `errcode.Error` does: `manifest unknown: <message>`. Unknown codes render
/// as `unknown`, like distribution.
fn render_detail(d: &ErrorDetail) -> String {
    let known = KNOWN_CODES.iter().any(|(c, _)| *c == d.code);
    let code = if known {
        d.code.replace('_', " ").to_lowercase()
    } else {
        "unknown".to_owned()
    };
    format!("{code}: {}", d.message)
}

/// The name Docker shows: `busybox` for `docker.io/library/busybox`,
/// `host:port/repo` otherwise.
pub(crate) fn familiar_name(registry: &str, repository: &str) -> String {
    if crate::config::is_docker_hub(registry) {
        repository
            .strip_prefix("library/")
            .filter(|r| !r.contains('/'))
            .unwrap_or(repository)
            .to_owned()
    } else {
        format!("{registry}/{repository}")
    }
}

fn familiar_reference(registry: &str, repository: &str, reference: &str) -> String {
    let name = familiar_name(registry, repository);
    if reference.contains(':') {
        format!("{name}@{reference}")
    } else {
        format!("{name}:{reference}")
    }
}

/// Builds the error for a registry answer with a failure status, wording it
/// like Docker (`manifest for localhost:5000/foo:bar not found: manifest
/// unknown: manifest unknown`).
pub(crate) fn response_error(
    registry: &str,
    repository: &str,
    op: &Op<'_>,
    status: u16,
    details: Vec<ErrorDetail>,
) -> RegistryError {
    let first = details.first();
    let kind = first
        .and_then(|d| KNOWN_CODES.iter().find(|(c, _)| *c == d.code))
        .map(|(c, k)| {
            if *c == "UNKNOWN" {
                kind_for_status(status)
            } else {
                *k
            }
        })
        .unwrap_or_else(|| kind_for_status(status));
    let name = familiar_name(registry, repository);
    let message = match (first, op) {
        (Some(d), Op::PullManifest { reference }) if d.code == "MANIFEST_UNKNOWN" => format!(
            "manifest for {} not found: {}",
            familiar_reference(registry, repository, reference),
            render_detail(d)
        ),
        (Some(d), Op::PullManifest { .. } | Op::PullBlob { .. }) if d.code == "NAME_UNKNOWN" => {
            format!("repository {name} not found: {}", render_detail(d))
        }
        (Some(d), Op::PullManifest { .. } | Op::PullBlob { .. }) if d.code == "DENIED" => format!(
            "pull access denied for {name}, repository does not exist or may require 'docker login': {}",
            render_detail(d)
        ),
        (Some(d), Op::PullBlob { digest }) if d.code == "BLOB_UNKNOWN" => {
            format!("blob {digest} not found in {name}: {}", render_detail(d))
        }
        (Some(d), _) => render_detail(d),
        (None, Op::PullManifest { reference }) if status == 404 => format!(
            "manifest for {} not found",
            familiar_reference(registry, repository, reference)
        ),
        (None, Op::PullBlob { digest }) if status == 404 => {
            format!("blob {digest} not found in {name}")
        }
        (None, _) if status == 401 => "unauthorized: authentication required".to_owned(),
        (None, _) if status == 403 => {
            "denied: requested access to the resource is denied".to_owned()
        }
        (None, Op::Push { what }) => {
            format!("{what} in {name} failed: unexpected status {status} from {registry}")
        }
        (None, Op::Token) => format!("token request for {registry} failed with status {status}"),
        (None, _) => format!("received unexpected HTTP status {status} from {registry}"),
    };
    RegistryError::Response {
        kind,
        status,
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        message,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(code: &str, message: &str) -> ErrorDetail {
        ErrorDetail {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn error_body_with_errors_array_is_parsed() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"bar"}}]}"#;
        assert_eq!(
            parse_error_body(404, body),
            vec![detail("MANIFEST_UNKNOWN", "manifest unknown")]
        );
    }

    #[test]
    fn legacy_details_body_maps_by_status() {
        assert_eq!(
            parse_error_body(401, br#"{"details":"incorrect username or password"}"#),
            vec![detail("UNAUTHORIZED", "incorrect username or password")]
        );
        assert_eq!(
            parse_error_body(429, br#"{"details":"slow down"}"#),
            vec![detail("TOOMANYREQUESTS", "slow down")]
        );
        assert_eq!(
            parse_error_body(500, br#"{"details":"x"}"#),
            vec![detail("UNKNOWN", "x")]
        );
    }

    #[test]
    fn garbage_bodies_give_no_details() {
        assert!(parse_error_body(500, b"<html>oops</html>").is_empty());
        assert!(parse_error_body(500, b"[1,2]").is_empty());
        assert!(parse_error_body(500, br#"{"errors":"no"}"#).is_empty());
        assert!(parse_error_body(500, b"").is_empty());
    }

    #[test]
    fn error_details_are_bounded() {
        let many = format!(
            r#"{{"errors":[{}]}}"#,
            vec![r#"{"code":"X","message":"y"}"#; 100].join(",")
        );
        assert_eq!(parse_error_body(400, many.as_bytes()).len(), MAX_DETAILS);
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#,
            "é".repeat(5000)
        );
        let d = parse_error_body(400, long.as_bytes());
        assert!(d[0].message.len() <= MAX_FIELD + 3);
    }

    #[test]
    fn manifest_unknown_reads_like_docker() {
        let e = response_error(
            "localhost:5000",
            "foo",
            &Op::PullManifest { reference: "bar" },
            404,
            vec![detail("MANIFEST_UNKNOWN", "manifest unknown")],
        );
        assert_eq!(
            e.to_string(),
            "manifest for localhost:5000/foo:bar not found: manifest unknown: manifest unknown"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn docker_hub_names_are_familiar() {
        let e = response_error(
            "docker.io",
            "library/busybox",
            &Op::PullManifest {
                reference:
                    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            },
            404,
            vec![detail("MANIFEST_UNKNOWN", "manifest unknown")],
        );
        assert_eq!(
            e.to_string(),
            "manifest for busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000 not found: manifest unknown: manifest unknown"
        );
    }

    #[test]
    fn denied_on_pull_reads_like_docker() {
        let e = response_error(
            "docker.io",
            "library/nope",
            &Op::PullManifest {
                reference: "latest",
            },
            401,
            vec![detail(
                "DENIED",
                "requested access to the resource is denied",
            )],
        );
        assert_eq!(e.to_string(), "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied");
        assert_eq!(e.kind(), ErrorKind::Denied);
    }

    #[test]
    fn name_unknown_and_blob_unknown_are_not_found() {
        let e = response_error(
            "r:1",
            "a/b",
            &Op::PullBlob {
                digest: "sha256:ab",
            },
            404,
            vec![detail(
                "NAME_UNKNOWN",
                "repository name not known to registry",
            )],
        );
        assert_eq!(
            e.to_string(),
            "repository r:1/a/b not found: name unknown: repository name not known to registry"
        );
        let e = response_error(
            "r:1",
            "a/b",
            &Op::PullBlob {
                digest: "sha256:ab",
            },
            404,
            vec![detail("BLOB_UNKNOWN", "blob unknown to registry")],
        );
        assert_eq!(
            e.to_string(),
            "blob sha256:ab not found in r:1/a/b: blob unknown: blob unknown to registry"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn bodiless_statuses_are_classified() {
        let e = response_error("r", "a", &Op::PullBlob { digest: "d" }, 404, vec![]);
        assert_eq!(e.to_string(), "blob d not found in r/a");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = response_error("r", "a", &Op::Token, 401, vec![]);
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let e = response_error("r", "a", &Op::PullBlob { digest: "d" }, 503, vec![]);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = response_error("r", "a", &Op::PullBlob { digest: "d" }, 418, vec![]);
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(!e.is_retryable());
    }

    #[test]
    fn unknown_codes_render_as_unknown_and_classify_by_status() {
        let e = response_error(
            "r",
            "a",
            &Op::Push { what: "upload" },
            403,
            vec![detail("QUOTA_EXCEEDED", "too big")],
        );
        assert_eq!(e.to_string(), "unknown: too big");
        assert_eq!(e.kind(), ErrorKind::Denied);
    }
}
