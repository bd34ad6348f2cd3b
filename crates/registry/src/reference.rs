//! Validation of the names this crate puts into URLs (repository, tag,
//! digest) and sha256 digest computation. Full reference parsing belongs to
//! the `image` crate; this only guards the transport against malformed or
//! hostile input.

use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

const DIGEST_PREFIX: &str = "sha256:";

/// Checks `sha256:<64 lowercase hex>`.
pub(crate) fn validate_digest(digest: &str) -> Result<(), RegistryError> {
    let ok = digest.strip_prefix(DIGEST_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidDigest {
            digest: clip(digest),
        })
    }
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Whether the reference looks like a digest (`algo:hex`) rather than a tag.
pub(crate) fn is_digest_reference(reference: &str) -> bool {
    reference.contains(':')
}

/// Checks a tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest.
pub(crate) fn validate_reference(reference: &str) -> Result<(), RegistryError> {
    if is_digest_reference(reference) {
        return validate_digest(reference);
    }
    let b = reference.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidReference {
            reference: clip(reference),
        })
    }
}

/// Checks a repository path with distribution's grammar: components of
/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` joined by `/`, 255 bytes at most.
pub(crate) fn validate_repository(repository: &str) -> Result<(), RegistryError> {
    let ok = !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(valid_component);
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidRepository {
            repository: clip(repository),
        })
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !b.last().is_some_and(alnum) {
        return false;
    }
    // separators: one '.', one '_', two '_', or any number of '-'
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `sha256:<hex>` of the bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("{DIGEST_PREFIX}{:x}", Sha256::digest(bytes))
}

/// An incremental sha256 producing a digest string.
#[derive(Clone, Default)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub(crate) fn finish(self) -> String {
        format!("{DIGEST_PREFIX}{:x}", self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_is_the_well_known_digest() {
        assert_eq!(sha256_digest(b""), D);
        let mut h = Hasher::default();
        h.update(b"");
        assert_eq!(h.finish(), D);
    }

    #[test]
    fn digests_are_validated() {
        assert!(validate_digest(D).is_ok());
        for bad in [
            "",
            "sha256:",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/../x",
        ] {
            assert!(
                matches!(
                    validate_digest(bad),
                    Err(RegistryError::InvalidDigest { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn repositories_follow_distribution_grammar() {
        for good in ["a", "library/busybox", "a-b/c.d/e__f", "x--y", "0/1/2"] {
            assert!(validate_repository(good).is_ok(), "{good}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "a..b", "a___b", "-a", "a-", "../x", "a?b", "a%2f",
        ] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
        assert!(validate_repository(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags_and_digests_are_references() {
        assert!(validate_reference("latest").is_ok());
        assert!(validate_reference("_v1.2-rc").is_ok());
        assert!(validate_reference(D).is_ok());
        assert!(validate_reference(".x").is_err());
        assert!(validate_reference("").is_err());
        assert!(validate_reference("a/b").is_err());
        assert!(validate_reference(&"a".repeat(129)).is_err());
        assert!(validate_reference("sha256:zz").is_err());
    }
}
