//! Content digests (`sha256:<hex>`), the id newtypes built on them, chain
//! ids, and streaming digest verification.
//!
//! Parsing follows `github.com/opencontainers/go-digest` v1.0.0 (what
//! balenaEngine vendors): the algorithm must be one it can compute (sha256,
//! sha384, sha512), the hex part lowercase and exactly the algorithm's length,
//! and the error messages are go-digest's.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// Errors from parsing or verifying digests and ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:hex`, or the hex part has characters other than `[a-f0-9]`.
    #[error("invalid checksum digest format")]
    InvalidFormat {
        /// The rejected text.
        input: String,
    },
    /// The hex part does not have the algorithm's length.
    #[error("invalid checksum digest length")]
    InvalidLength {
        /// The rejected text.
        input: String,
    },
    /// Well-formed, but not an algorithm we can compute.
    #[error("unsupported digest algorithm")]
    Unsupported {
        /// The rejected text.
        input: String,
    },
    /// An id that must be sha256 (image ids) used another algorithm.
    #[error("{kind} must be a sha256 digest, got {digest}")]
    NotSha256 {
        /// What was being parsed ("image id").
        kind: &'static str,
        /// The digest given.
        digest: Digest,
    },
    /// The content's digest differs from the expected one.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The digest the content should have had.
        expected: Digest,
        /// The digest of what was read.
        actual: Digest,
    },
    /// More or fewer bytes than the descriptor's size were seen.
    #[error("size mismatch for {expected}: expected {expected_size} bytes, got {actual_size}")]
    SizeMismatch {
        /// The digest being verified.
        expected: Digest,
        /// The size the content should have had.
        expected_size: u64,
        /// Bytes seen so far (for an overrun: at least this many).
        actual_size: u64,
    },
}

/// A digest algorithm that can be computed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `sha256`, the canonical algorithm.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in digests.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `algorithm:hex`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
    algorithm: Algorithm,
}

impl Digest {
    /// Parses and validates `algorithm:hex` (go-digest `Parse`).
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let Some((alg, hex_part)) = s.split_once(':') else {
            return Err(DigestError::InvalidFormat { input: s.into() });
        };
        if alg.is_empty() || hex_part.is_empty() {
            return Err(DigestError::InvalidFormat { input: s.into() });
        }
        let Some(algorithm) = Algorithm::from_name(alg) else {
            return Err(if go_digest_grammar(s) {
                DigestError::Unsupported { input: s.into() }
            } else {
                DigestError::InvalidFormat { input: s.into() }
            });
        };
        if hex_part.len() != algorithm.hex_len() {
            return Err(DigestError::InvalidLength { input: s.into() });
        }
        if !hex_part
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::InvalidFormat { input: s.into() });
        }
        Ok(Digest {
            text: s.to_owned(),
            algorithm,
        })
    }

    /// The sha256 digest of `bytes` (go-digest `FromBytes`).
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(bytes);
        d.finish()
    }

    fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Self {
        let mut text = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        text.push_str(algorithm.as_str());
        text.push(':');
        text.push_str(&hex::encode(hash));
        Digest { text, algorithm }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded hash (after the colon).
    pub fn hex(&self) -> &str {
        let start = self.algorithm.as_str().len() + 1;
        self.text.get(start..).unwrap_or_default()
    }

    /// The whole digest, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A verifier that checks content against this digest.
    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier::new(self.clone())
    }
}

/// go-digest's `DigestRegexpAnchored`: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
/// It only decides between "unsupported" and "invalid format".
fn go_digest_grammar(s: &str) -> bool {
    let Some((alg, enc)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['.', '+', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let enc_ok = !enc.is_empty()
        && enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    alg_ok && enc_ok
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Defines a digest newtype with Display/FromStr/serde as the digest string.
macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $validate:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Digest);

        impl $name {
            /// Wraps a digest, checking the algorithm where the id requires it.
            pub fn from_digest(digest: Digest) -> Result<Self, DigestError> {
                let check: fn(&Digest) -> bool = $validate;
                if check(&digest) {
                    Ok($name(digest))
                } else {
                    Err(DigestError::NotSha256 { kind: $kind, digest })
                }
            }

            /// Parses `algorithm:hex`.
            pub fn parse(s: &str) -> Result<Self, DigestError> {
                Self::from_digest(Digest::parse(s)?)
            }

            /// The underlying digest.
            pub fn digest(&self) -> &Digest {
                &self.0
            }

            /// Converts into the underlying digest.
            pub fn into_digest(self) -> Digest {
                self.0
            }

            /// The hex part.
            pub fn hex(&self) -> &str {
                self.0.hex()
            }

            /// The whole id, `algorithm:hex`.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DigestError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let d = Digest::deserialize(deserializer)?;
                Self::from_digest(d).map_err(serde::de::Error::custom)
            }
        }
    };
}

digest_newtype!(
    /// An image id: the sha256 of the image's raw config bytes. Always sha256.
    ImageId,
    "image id",
    |d| d.algorithm() == Algorithm::Sha256
);

digest_newtype!(
    /// A layer's diff id: the digest of its uncompressed tar.
    DiffId,
    "diff id",
    |_| true
);

digest_newtype!(
    /// A layer's chain id: identifies a layer together with all layers below it.
    ChainId,
    "chain id",
    |_| true
);

impl ImageId {
    /// The id of an image whose config is exactly `raw` (sha256 of the bytes).
    pub fn from_config_bytes(raw: &[u8]) -> Self {
        ImageId(Digest::sha256_of(raw))
    }

    /// Docker's short id: the first 12 hex characters.
    pub fn short(&self) -> &str {
        let hex = self.0.hex();
        hex.get(..12).unwrap_or(hex)
    }
}

impl From<Digest> for DiffId {
    fn from(d: Digest) -> Self {
        DiffId(d)
    }
}

impl From<DiffId> for ChainId {
    /// The chain id of a base layer is its diff id.
    fn from(d: DiffId) -> Self {
        ChainId(d.0)
    }
}

impl ChainId {
    /// The chain id of `diff_id` stacked on the layers this chain id names:
    /// `sha256(self + " " + diff_id)`.
    pub fn child(&self, diff_id: &DiffId) -> ChainId {
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(self.0.as_str().as_bytes());
        d.update(b" ");
        d.update(diff_id.as_str().as_bytes());
        ChainId(d.finish())
    }
}

/// The chain id of a stack of layers, bottom first; `None` for no layers.
///
/// `chainid(L1) = diffid(L1)`,
/// `chainid(L1..Ln) = sha256(chainid(L1..Ln-1) + " " + diffid(Ln))`.
pub fn chain_id(diff_ids: &[DiffId]) -> Option<ChainId> {
    let (first, rest) = diff_ids.split_first()?;
    let mut id = ChainId::from(first.clone());
    for d in rest {
        id = id.child(d);
    }
    Some(id)
}

/// The chain id of every prefix of the stack: element `i` names layers `0..=i`.
pub fn chain_ids(diff_ids: &[DiffId]) -> Vec<ChainId> {
    let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => ChainId::from(d.clone()),
            Some(parent) => parent.child(d),
        };
        out.push(next);
    }
    out
}

#[derive(Clone)]
enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

/// Computes a digest over streamed bytes (also an [`io::Write`]).
#[derive(Clone)]
pub struct Digester {
    algorithm: Algorithm,
    hasher: Hasher,
}

impl Digester {
    /// A digester for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        let hasher = match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        };
        Digester { algorithm, hasher }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far; the digester starts over.
    pub fn finish_reset(&mut self) -> Digest {
        match &mut self.hasher {
            Hasher::Sha256(h) => Digest::from_hash(self.algorithm, &h.finalize_reset()),
            Hasher::Sha384(h) => Digest::from_hash(self.algorithm, &h.finalize_reset()),
            Hasher::Sha512(h) => Digest::from_hash(self.algorithm, &h.finalize_reset()),
        }
    }

    /// The digest of everything fed.
    pub fn finish(mut self) -> Digest {
        self.finish_reset()
    }
}

impl Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks streamed content against an expected digest (and, optionally, size).
///
/// Feed it every byte exactly once (it may be fed across reconnects of a
/// resumed download), then call [`DigestVerifier::finish`]. Writing past the
/// expected size fails at once, so an endless body cannot run on.
#[derive(Clone)]
pub struct DigestVerifier {
    expected: Digest,
    expected_size: Option<u64>,
    written: u64,
    digester: Digester,
}

impl DigestVerifier {
    /// A verifier for content that must hash to `expected`.
    pub fn new(expected: Digest) -> Self {
        let digester = Digester::new(expected.algorithm());
        DigestVerifier {
            expected,
            expected_size: None,
            written: 0,
            digester,
        }
    }

    /// A verifier for content that must hash to `expected` and be `size` bytes long.
    pub fn with_size(expected: Digest, size: u64) -> Self {
        let mut v = Self::new(expected);
        v.expected_size = Some(size);
        v
    }

    /// The digest being checked against.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Bytes fed so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Feeds bytes; fails if they run past the expected size.
    pub fn update(&mut self, data: &[u8]) -> Result<(), DigestError> {
        let total = self.written.saturating_add(data.len() as u64);
        if let Some(size) = self.expected_size {
            if total > size {
                return Err(DigestError::SizeMismatch {
                    expected: self.expected.clone(),
                    expected_size: size,
                    actual_size: total,
                });
            }
        }
        self.digester.update(data);
        self.written = total;
        Ok(())
    }

    /// Checks the size and digest of everything fed.
    pub fn finish(self) -> Result<(), DigestError> {
        let DigestVerifier {
            expected,
            expected_size,
            written,
            digester,
        } = self;
        if let Some(size) = expected_size {
            if written != size {
                return Err(DigestError::SizeMismatch {
                    expected,
                    expected_size: size,
                    actual_size: written,
                });
            }
        }
        let actual = digester.finish();
        if actual != expected {
            return Err(DigestError::Mismatch { expected, actual });
        }
        Ok(())
    }
}

impl Write for DigestVerifier {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that verifies what passes through it: at end of stream it checks
/// the digest (and size) and returns an [`io::ErrorKind::InvalidData`] error
/// wrapping a [`DigestError`] on mismatch, so a consumer that reads to the end
/// never mistakes corrupt content for a clean end.
pub struct VerifyingReader<R> {
    inner: R,
    verifier: Option<DigestVerifier>,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting `expected`.
    pub fn new(inner: R, expected: Digest) -> Self {
        VerifyingReader {
            inner,
            verifier: Some(DigestVerifier::new(expected)),
        }
    }

    /// Wraps `inner`, expecting `expected` and exactly `size` bytes.
    pub fn with_size(inner: R, expected: Digest, size: u64) -> Self {
        VerifyingReader {
            inner,
            verifier: Some(DigestVerifier::with_size(expected, size)),
        }
    }

    /// True once the end was reached and the content verified.
    pub fn is_verified(&self) -> bool {
        self.verifier.is_none()
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let Some(verifier) = self.verifier.as_mut() else {
            // Already verified: the inner reader said end of stream before.
            return Ok(n);
        };
        if n > 0 {
            let data = buf.get(..n).unwrap_or_default();
            verifier
                .update(data)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(v) = self.verifier.take() {
            v.finish()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_is_known_value() {
        assert_eq!(Digest::sha256_of(b"").as_str(), EMPTY_SHA256);
    }

    #[test]
    fn parse_accepts_sha256_and_sha512() {
        let d = Digest::parse(EMPTY_SHA256).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex().len(), 64);
        let s512 = format!("sha512:{}", "f".repeat(128));
        assert_eq!(Digest::parse(&s512).unwrap().algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn parse_errors_match_go_digest() {
        let cases: &[(&str, &str)] = &[
            ("", "invalid checksum digest format"),
            ("sha256", "invalid checksum digest format"),
            (":abc", "invalid checksum digest format"),
            ("sha256:", "invalid checksum digest format"),
            ("sha256:abc", "invalid checksum digest length"),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "invalid checksum digest format",
            ),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported digest algorithm",
            ),
            ("Sha256:abc", "invalid checksum digest format"),
            ("foo:bar!", "invalid checksum digest format"),
        ];
        for (input, msg) in cases {
            let err = Digest::parse(input).unwrap_err();
            assert_eq!(err.to_string(), *msg, "input {input:?}");
        }
    }

    #[test]
    fn image_id_refuses_sha512() {
        let s512 = format!("sha512:{}", "a".repeat(128));
        assert!(matches!(
            ImageId::parse(&s512),
            Err(DigestError::NotSha256 { .. })
        ));
        assert!(DiffId::parse(&s512).is_ok());
    }

    #[test]
    fn ids_serialize_as_strings() {
        let id = ImageId::parse(EMPTY_SHA256).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{EMPTY_SHA256}\""));
        let back: ImageId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ImageId>("\"sha256:xyz\"").is_err());
        assert_eq!(id.short(), "e3b0c44298fc");
    }

    #[test]
    fn single_layer_chain_id_is_its_diff_id() {
        let d = DiffId::parse(EMPTY_SHA256).unwrap();
        assert_eq!(
            chain_id(std::slice::from_ref(&d)).unwrap().as_str(),
            d.as_str()
        );
        assert!(chain_id(&[]).is_none());
    }

    #[test]
    fn two_layer_chain_id_hashes_parent_space_diff() {
        let a = DiffId::from(Digest::sha256_of(b"a"));
        let b = DiffId::from(Digest::sha256_of(b"b"));
        let text = format!("{a} {b}");
        let expected = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        );
        let got = chain_id(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(got.as_str(), expected);
        let all = chain_ids(&[a.clone(), b]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].as_str(), a.as_str());
        assert_eq!(all[1], got);
    }

    #[test]
    fn verifier_accepts_matching_content() {
        let d = Digest::sha256_of(b"hello world");
        let mut v = DigestVerifier::with_size(d, 11);
        v.write_all(b"hello ").unwrap();
        v.write_all(b"world").unwrap();
        assert_eq!(v.bytes_written(), 11);
        v.finish().unwrap();
    }

    #[test]
    fn verifier_reports_mismatch() {
        let d = Digest::sha256_of(b"hello world");
        let mut v = d.verifier();
        v.write_all(b"hello there").unwrap();
        match v.finish() {
            Err(DigestError::Mismatch { expected, actual }) => {
                assert_eq!(expected, d);
                assert_eq!(actual, Digest::sha256_of(b"hello there"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn verifier_refuses_overrun_at_once() {
        let d = Digest::sha256_of(b"abc");
        let mut v = DigestVerifier::with_size(d, 3);
        assert!(v.update(b"abcd").is_err());
        assert_eq!(v.bytes_written(), 0);
        let mut short = DigestVerifier::with_size(Digest::sha256_of(b"abc"), 3);
        short.update(b"ab").unwrap();
        assert!(matches!(
            short.finish(),
            Err(DigestError::SizeMismatch { actual_size: 2, .. })
        ));
    }

    #[test]
    fn verifying_reader_errors_at_end_on_mismatch() {
        let d = Digest::sha256_of(b"expected");
        let mut r = VerifyingReader::new(&b"corrupted"[..], d);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("digest mismatch"));
    }

    #[test]
    fn verifying_reader_passes_good_content() {
        let d = Digest::sha256_of(b"payload");
        let mut r = VerifyingReader::with_size(&b"payload"[..], d, 7);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"payload");
        assert!(r.is_verified());
    }
}
