//! The few URL operations the client needs: query encoding, and resolving
//! `Location` headers (absolute, scheme-relative, absolute-path or relative)
//! against the request URL. Written over `http::Uri` instead of the `url`
//! crate, whose IDNA tables would cost more binary than these helpers.

use http::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters is escaped (as Go's
/// `url.QueryEscape` does, with `%20` for space).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

/// `k1=v1&k2=v2`, encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Appends encoded parameters to a URL that may already have a query.
pub(crate) fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", query(pairs))
}

/// Resolves a `Location` value against the URL of the request that
/// produced it. `None` when the result is not an http(s) URL.
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    if let Some(colon) = location.find(':') {
        let prefix = &location[..colon];
        let is_scheme = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !location[..colon].contains(['/', '?', '#']);
        let lower = prefix.to_ascii_lowercase();
        if is_scheme && lower != "http" && lower != "https" {
            return None;
        }
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let joined = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    let uri: Uri = joined.parse().ok()?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Some(uri),
        _ => None,
    }
}

/// `scheme://authority` of a URL, lowercase, for comparing origins.
pub(crate) fn origin(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    )
    .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped_like_go() {
        assert_eq!(
            query(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
        assert_eq!(
            with_query("http://h/p?_state=1", &[("digest", "sha256:ab")]),
            "http://h/p?_state=1&digest=sha256%3Aab"
        );
        assert_eq!(with_query("http://h/p", &[("a", "b")]), "http://h/p?a=b");
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base: Uri = "http://127.0.0.1:5000/v2/foo/blobs/uploads/"
            .parse()
            .unwrap();
        let cases = [
            (
                "/v2/foo/blobs/uploads/u1?_state=x",
                "http://127.0.0.1:5000/v2/foo/blobs/uploads/u1?_state=x",
            ),
            (
                "https://s3.example/bucket/obj?sig=1",
                "https://s3.example/bucket/obj?sig=1",
            ),
            ("//cdn.example/x", "http://cdn.example/x"),
            ("u2", "http://127.0.0.1:5000/v2/foo/blobs/uploads/u2"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve(&base, loc).unwrap().to_string(), want, "{loc}");
        }
        assert!(resolve(&base, "").is_none());
        assert!(resolve(&base, "ftp://x/y").is_none());
        assert!(resolve(&base, "http://").is_none());
    }

    #[test]
    fn origins_compare_scheme_and_authority() {
        let a: Uri = "https://Reg.io:443/v2/".parse().unwrap();
        assert_eq!(origin(&a), "https://reg.io:443");
    }
}
