//! Docker image references: `[domain/]path[:tag][@digest]`.
//!
//! Behaves as `github.com/docker/distribution/reference` v2.8.1 (what
//! balenaEngine v20.10 vendors): `parse` is its `Parse`,
//! [`parse_normalized_named`] its `ParseNormalizedNamed` (default registry
//! `docker.io`, `library/` for official images, `index.docker.io` folded into
//! `docker.io`), [`parse_any_reference`] its `ParseAnyReference` (a bare
//! 64-hex string is an image id), and the familiar forms drop what
//! normalisation added. Error messages are Docker's.
//!
//! One addition from the newer `github.com/distribution/reference`: a domain
//! may be a bracketed IPv6 address (`[::1]:5000/repo`), which v2.8.1 refuses.
//!
//! The grammar is matched by hand: it is small, and a regex engine would
//! add binary size for nothing (each production is a simple scan here).

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Longest repository name (domain included), in bytes.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest tag, in bytes.
pub const TAG_LENGTH_MAX: usize = 128;
/// Registry used when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Old spelling of the default registry, folded into [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of official images on the default registry.
pub const OFFICIAL_REPO_NAME: &str = "library";
/// Tag used when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

/// Errors from parsing references; messages are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Does not match the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat {
        /// The rejected text.
        input: String,
    },
    /// The repository part has uppercase letters (from `parse`).
    #[error("repository name must be lowercase")]
    NameContainsUppercase {
        /// The rejected text.
        input: String,
    },
    /// The repository part has uppercase letters (from the normalising parsers).
    #[error("invalid reference format: repository name must be lowercase")]
    RemoteNameContainsUppercase {
        /// The rejected text.
        input: String,
    },
    /// Empty input.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The name (domain included) is longer than 255 bytes.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong {
        /// Length of the name, in bytes.
        length: usize,
    },
    /// `parse_named` was given a name that is not in canonical form.
    #[error("repository name must be canonical")]
    NameNotCanonical {
        /// The rejected text.
        input: String,
    },
    /// A tag that does not match `[\w][\w.-]{0,127}`.
    #[error("invalid tag format")]
    TagInvalidFormat {
        /// The rejected tag.
        tag: String,
    },
    /// A 64-hex string given where a repository name is needed.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexadecimalName {
        /// The rejected text.
        input: String,
    },
    /// The digest part is well-formed but not a valid digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A named reference: repository name, and optionally a tag and a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Named {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Any reference: a named one, or a bare digest (an image id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `name[:tag][@digest]`.
    Named(Named),
    /// `sha256:<hex>` alone (also from a bare 64-hex id).
    Digest(Digest),
}

impl Named {
    /// A name-only reference from a repository name (`WithName`).
    pub fn with_name(name: &str) -> Result<Named, ReferenceError> {
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong { length: name.len() });
        }
        let (domain, path) = split_name(name).ok_or_else(|| ReferenceError::InvalidFormat {
            input: name.to_owned(),
        })?;
        Ok(Named {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: None,
            digest: None,
        })
    }

    /// The same reference with `tag` set (`WithTag`); a digest is kept.
    pub fn with_tag(&self, tag: &str) -> Result<Named, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::TagInvalidFormat {
                tag: tag.to_owned(),
            });
        }
        Ok(Named {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same reference with `digest` set (`WithDigest`); a tag is kept.
    pub fn with_digest(&self, digest: Digest) -> Named {
        Named {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn trimmed(&self) -> Named {
        Named {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Adds the `latest` tag if there is neither a tag nor a digest (`TagNameOnly`).
    pub fn tag_name_only(self) -> Named {
        if self.is_name_only() {
            Named {
                tag: Some(DEFAULT_TAG.to_owned()),
                ..self
            }
        } else {
            self
        }
    }

    /// True if there is neither a tag nor a digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// The registry part (`docker.io`, `host:5000`), empty if none.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/ubuntu`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, `domain/path`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    fn familiar_parts(&self) -> (&str, &str) {
        if self.domain != DEFAULT_DOMAIN {
            return (&self.domain, &self.path);
        }
        let mut parts = self.path.split('/');
        let path = match (parts.next(), parts.next(), parts.next()) {
            (Some(OFFICIAL_REPO_NAME), Some(rest), None) => rest,
            _ => &self.path,
        };
        ("", path)
    }

    /// The name as Docker shows it: `docker.io/` and `library/` removed (`FamiliarName`).
    pub fn familiar_name(&self) -> String {
        match self.familiar_parts() {
            ("", path) => path.to_owned(),
            (domain, path) => format!("{domain}/{path}"),
        }
    }

    /// The whole reference as Docker shows it (`FamiliarString`).
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl Reference {
    /// The reference as Docker shows it (`FamiliarString`).
    pub fn familiar_string(&self) -> String {
        match self {
            Reference::Named(n) => n.familiar_string(),
            Reference::Digest(d) => d.to_string(),
        }
    }

    /// The named reference, if this is one.
    pub fn as_named(&self) -> Option<&Named> {
        match self {
            Reference::Named(n) => Some(n),
            Reference::Digest(_) => None,
        }
    }

    /// The digest: the bare digest, or a named reference's digest.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Reference::Named(n) => n.digest(),
            Reference::Digest(d) => Some(d),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Named(n) => n.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// Parses a reference without normalising it (distribution's `Parse`).
///
/// Every match of the grammar has a name, so the result is always named.
pub fn parse(s: &str) -> Result<Named, ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    let Some(parts) = match_reference(s) else {
        if match_reference(&go_to_lower(s)).is_some() {
            return Err(ReferenceError::NameContainsUppercase {
                input: s.to_owned(),
            });
        }
        return Err(ReferenceError::InvalidFormat {
            input: s.to_owned(),
        });
    };
    if parts.name_len > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            length: parts.name_len,
        });
    }
    let digest = match parts.digest {
        Some(d) => Some(Digest::parse(d)?),
        None => None,
    };
    Ok(Named {
        domain: parts.domain.to_owned(),
        path: parts.path.to_owned(),
        tag: parts.tag.map(str::to_owned),
        digest,
    })
}

/// Parses what a user typed into a fully qualified named reference
/// (`ParseNormalizedNamed`): `ubuntu` becomes `docker.io/library/ubuntu`.
pub fn parse_normalized_named(s: &str) -> Result<Named, ReferenceError> {
    if is_identifier(s) {
        return Err(ReferenceError::HexadecimalName {
            input: s.to_owned(),
        });
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote = remainder.split(':').next().unwrap_or_default();
    if go_to_lower(remote) != remote {
        return Err(ReferenceError::RemoteNameContainsUppercase {
            input: s.to_owned(),
        });
    }
    parse(&format!("{domain}/{remainder}"))
}

/// Parses a reference that may also be an image id or a digest
/// (`ParseAnyReference`): 64 lowercase hex characters are `sha256:<hex>`.
pub fn parse_any_reference(s: &str) -> Result<Reference, ReferenceError> {
    if is_identifier(s) {
        return Ok(Reference::Digest(Digest::parse(&format!("sha256:{s}"))?));
    }
    if let Ok(d) = Digest::parse(s) {
        return Ok(Reference::Digest(d));
    }
    parse_normalized_named(s).map(Reference::Named)
}

/// Parses a reference that must already be in canonical form (`ParseNamed`).
pub fn parse_named(s: &str) -> Result<Named, ReferenceError> {
    let named = parse_normalized_named(s)?;
    if named.to_string() != s {
        return Err(ReferenceError::NameNotCanonical {
            input: s.to_owned(),
        });
    }
    Ok(named)
}

/// Normalises as Docker does before pulling (`ParseDockerRef`): a reference
/// with both tag and digest keeps only the digest; one with neither gets `latest`.
pub fn parse_docker_ref(s: &str) -> Result<Named, ReferenceError> {
    let named = parse_normalized_named(s)?;
    if named.tag.is_some() && named.digest.is_some() {
        return Ok(Named { tag: None, ..named });
    }
    Ok(named.tag_name_only())
}

/// Splits off the registry as Docker does (`splitDockerDomain`): the first
/// component is a registry only if it has a `.` or `:` or is `localhost`.
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_NAME}/{remainder}"));
    }
    (domain, remainder.to_owned())
}

/// Lowercases as Go's `strings.ToLower` does: per character, simple case
/// mapping (so `İ` becomes `i`, and `Σ` is always `σ`).
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

struct Parts<'a> {
    name_len: usize,
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches the anchored reference grammar `name(:tag)?(@digest)?`.
///
/// Tags and digests hold no `/`, and path components no `:` or `@`, so the
/// name ends at the first `:` or `@` after the last `/`.
fn match_reference(s: &str) -> Option<Parts<'_>> {
    let last_component = s.rfind('/').map_or(0, |i| i + 1);
    let name_end = s
        .get(last_component..)?
        .find([':', '@'])
        .map_or(s.len(), |i| last_component + i);
    let name = s.get(..name_end)?;
    let mut rest = s.get(name_end..)?;

    let mut tag = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after.find('@').unwrap_or(after.len());
        let t = after.get(..end)?;
        if !is_tag(t) {
            return None;
        }
        tag = Some(t);
        rest = after.get(end..)?;
    }
    let mut digest = None;
    if let Some(after) = rest.strip_prefix('@') {
        if !is_reference_digest(after) {
            return None;
        }
        digest = Some(after);
        rest = "";
    }
    if !rest.is_empty() {
        return None;
    }
    let (domain, path) = split_name(name)?;
    Some(Parts {
        name_len: name.len(),
        domain,
        path,
        tag,
        digest,
    })
}

/// Matches `(domain/)?remote-name`, preferring a domain when the first
/// component is one (as the Go regexp's greedy optional group does).
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/') {
        if is_domain(first) && is_remote_name(rest) {
            return Some((first, rest));
        }
    }
    if is_remote_name(name) {
        return Some(("", name));
    }
    None
}

/// `path-component ('/' path-component)*`.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && b.get(i).copied().is_some_and(alnum) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && b.get(i).copied().is_some_and(|c| !alnum(c)) {
            i += 1;
        }
        let sep = b.get(sep_start..i).unwrap_or_default();
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&c| c == b'-');
        if !ok {
            return false;
        }
    }
}

/// `host (':' [0-9]+)?`, host a DNS-like name or a bracketed IPv6 address.
fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(inner_and_rest) = s.strip_prefix('[') {
        let Some(close) = inner_and_rest.find(']') else {
            return false;
        };
        let inner = inner_and_rest.get(..close).unwrap_or_default();
        if inner.is_empty() || !inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        let after = inner_and_rest.get(close + 1..).unwrap_or_default();
        if after.is_empty() {
            return true;
        }
        (None, after.strip_prefix(':'))
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(h) = host {
        if !h.split('.').all(is_domain_component) {
            return false;
        }
    }
    match port {
        None => host.is_some(),
        Some(p) => !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()),
    }
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    let b = s.as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            b.len() <= TAG_LENGTH_MAX
                && word(first)
                && rest.iter().all(|c| word(c) || *c == b'.' || *c == b'-')
        }
        None => false,
    }
}

/// The reference grammar's digest:
/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
fn is_reference_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        match b.split_first() {
            Some((f, rest)) => {
                f.is_ascii_alphabetic() && rest.iter().all(u8::is_ascii_alphanumeric)
            }
            None => false,
        }
    };
    alg.split(['-', '_', '+', '.']).all(component_ok)
        && hex.len() >= 32
        && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `[a-f0-9]{64}`: an image id without its algorithm.
fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_component_separators() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "a1.b2_c3__d4-e5"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", "a..b", "a___b", "a_.b", "a.-b", "A", "a/b", ".a", "a.",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domain_grammar() {
        for ok in [
            "localhost",
            "a",
            "test.com",
            "test.com:5000",
            "Test-Com:1",
            "xn--n3h.com",
            "[::1]",
            "[::1]:5000",
            "[2001:db8::1]",
            "127.0.0.1:5000",
        ] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a:",
            "a:b",
            "a:5000:1",
            "[]",
            "[::1",
            "[::1]:",
            "[g::1]",
            "[::1]x",
            "foo_bar",
            "[fe80::1%eth0]",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }

    #[test]
    fn tag_length_limit_is_128() {
        assert!(is_tag(&"a".repeat(128)));
        assert!(!is_tag(&"a".repeat(129)));
        assert!(!is_tag(".a"));
        assert!(!is_tag("-a"));
        assert!(is_tag("_a.B-1"));
    }

    #[test]
    fn go_to_lower_uses_simple_mapping() {
        assert_eq!(go_to_lower("AbC"), "abc");
        assert_eq!(go_to_lower("\u{130}"), "i");
        assert_eq!(go_to_lower("\u{212a}"), "k");
    }

    #[test]
    fn kelvin_sign_counts_as_uppercase_like_go() {
        // Go lowercases U+212A (KELVIN SIGN) to ASCII 'k'.
        let err = parse("\u{212a}:tag").unwrap_err();
        assert!(matches!(err, ReferenceError::NameContainsUppercase { .. }));
    }

    #[test]
    fn familiar_string_strips_default_domain_and_library() {
        let n = parse_normalized_named("ubuntu:22.04").unwrap();
        assert_eq!(n.to_string(), "docker.io/library/ubuntu:22.04");
        assert_eq!(n.familiar_string(), "ubuntu:22.04");
        assert_eq!(n.familiar_name(), "ubuntu");
    }

    #[test]
    fn familiar_form_of_registry_like_hub_path_is_ambiguous_as_in_docker() {
        let n = parse_normalized_named("docker.io/a.b/c:1").unwrap();
        assert_eq!(n.familiar_string(), "a.b/c:1");
        assert_eq!(parse_normalized_named("a.b/c:1").unwrap().domain(), "a.b");
    }

    #[test]
    fn ipv6_registry_is_a_domain() {
        let n = parse_normalized_named("[::1]:5000/app:v1").unwrap();
        assert_eq!(n.domain(), "[::1]:5000");
        assert_eq!(n.path(), "app");
        assert_eq!(n.tag(), Some("v1"));
    }
}
