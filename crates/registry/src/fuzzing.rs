//! Entry points shared by the fuzz targets and the corpus-replay test.
//! Each must never panic, whatever the input.

use crate::challenge::parse_www_authenticate;
use crate::error::{parse_error_body, response_error, Op};

/// Parses the input as `WWW-Authenticate` header values (one per line) and
/// checks the parser's invariants.
pub fn www_authenticate(data: &[u8]) {
    let challenges = parse_www_authenticate(data.split(|b| *b == b'\n'));
    assert!(challenges.len() <= 16);
    for c in &challenges {
        assert!(!c.scheme.is_empty());
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
        assert!(c.params.len() <= 32);
        for k in c.params.keys() {
            assert_eq!(*k, k.to_ascii_lowercase());
        }
    }
}

/// Parses the input as a registry error body (the first byte picks the
/// status) and renders every message form.
pub fn error_body(data: &[u8]) {
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (400 + u16::from(*s % 200), rest),
        None => (500, data),
    };
    let details = parse_error_body(status, body);
    assert!(details.len() <= 16);
    for op in [
        Op::PullManifest {
            reference: "latest",
        },
        Op::PullBlob {
            digest: "sha256:00",
        },
        Op::Push { what: "upload" },
        Op::Token,
    ] {
        let e = response_error("localhost:5000", "library/x", &op, status, details.clone());
        let _ = e.kind();
        assert!(!e.to_string().is_empty());
    }
}

/// Decodes the input as an `X-Registry-Auth` header.
pub fn x_registry_auth(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::auth::XRegistryAuth::decode(&s);
}
