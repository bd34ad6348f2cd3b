//! The API version type, the range we serve, and facts about this build.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The newest API version we serve, and the one used when a request has no
/// `/vX.Y` prefix.
pub const DEFAULT_VERSION: ApiVersion = ApiVersion::new(1, 41);
/// The oldest API version we accept (Moby 20.10's minimum).
pub const MIN_VERSION: ApiVersion = ApiVersion::new(1, 12);

/// The Docker Engine release whose API and behaviour we match. Clients that
/// gate features on the server version (`>= 20.10`) see this.
pub const COMPAT_VERSION: &str = "20.10.44";
/// This implementation's own release.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The short git commit of the build, or "unknown".
pub const GIT_COMMIT: &str = env!("BALENA_ENGINE_GIT_COMMIT");
/// The time of the commit that was built (RFC 3339), or empty.
pub const BUILD_TIME: &str = env!("BALENA_ENGINE_BUILD_TIME");
/// The rustc that built us, reported where Docker reports its Go version.
pub const RUSTC_VERSION: &str = env!("BALENA_ENGINE_RUSTC_VERSION");
/// The engine name balenaEngine reports in `/version`'s `Engine` field, which
/// the balena CLI and supervisor use to detect balenaEngine.
pub const ENGINE_NAME: &str = "balena-engine";
/// The platform name shown as "Server: ..." by `docker version`.
pub const PLATFORM_NAME: &str = concat!("balenaEngine (Rust) ", env!("CARGO_PKG_VERSION"));

/// An API version such as `1.41`.
///
/// Compared the way Moby's `versions.compare` does: numerically, part by
/// part, missing parts counting as zero (so `1.41` == `1.41.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

/// A version string that is not of the form `N[.N[.N]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid api version {text:?}")]
pub struct ParseVersionError {
    pub text: String,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self {
            major,
            minor,
            patch: 0,
        }
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// True when `self` is at least `other` (for "since API 1.xx" checks).
    pub fn at_least(&self, other: ApiVersion) -> bool {
        *self >= other
    }

    /// The version a client should use against a server that reports
    /// `server`: the older of the two, and never below our minimum.
    pub fn negotiate(client_max: ApiVersion, server: Option<ApiVersion>) -> ApiVersion {
        match server {
            Some(s) if s < client_max => s,
            _ => client_max,
        }
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

impl FromStr for ApiVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError {
            text: s.to_string(),
        };
        if s.is_empty() || s.len() > 32 {
            return Err(err());
        }
        let mut parts = [0u32; 3];
        for (n, part) in s.split('.').enumerate() {
            if n == 3 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            parts[n] = part.parse().map_err(|_| err())?;
        }
        Ok(Self {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
        })
    }
}

impl serde::Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a requested API version cannot be served; the texts are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("client version {requested} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version")]
    TooOld { requested: String, min: ApiVersion },
    #[error("client version {requested} is too new. Maximum supported API version is {max}")]
    TooNew { requested: String, max: ApiVersion },
}

/// Checks a version taken from a `/vX.Y/` path prefix against the range we
/// serve. `requested` is the text of the prefix, echoed in the error.
pub fn check_supported(requested: &str) -> Result<ApiVersion, VersionError> {
    // Moby's comparison treats unparsable parts as 0, so "1.x" is "too old";
    // the router only lets digits and dots through, so this is rare.
    let v = requested.parse().unwrap_or(ApiVersion::new(0, 0));
    if v < MIN_VERSION {
        return Err(VersionError::TooOld {
            requested: requested.to_string(),
            min: MIN_VERSION,
        });
    }
    if v > DEFAULT_VERSION {
        return Err(VersionError::TooNew {
            requested: requested.to_string(),
            max: DEFAULT_VERSION,
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_minor() {
        let v: ApiVersion = "1.41".parse().unwrap();
        assert_eq!(v, ApiVersion::new(1, 41));
        assert_eq!(v.to_string(), "1.41");
    }

    #[test]
    fn missing_parts_compare_as_zero() {
        let a: ApiVersion = "1.41.0".parse().unwrap();
        assert_eq!(a, ApiVersion::new(1, 41));
        let b: ApiVersion = "2".parse().unwrap();
        assert!(b > ApiVersion::new(1, 99));
    }

    #[test]
    fn compares_numerically_not_lexically() {
        let a: ApiVersion = "1.9".parse().unwrap();
        let b: ApiVersion = "1.12".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "v1.41", "1..2", "1.2.3.4", "1.a", "-1.2", "1.41 "] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn too_new_uses_docker_wording() {
        let err = check_supported("1.45").unwrap_err();
        assert_eq!(
            err.to_string(),
            "client version 1.45 is too new. Maximum supported API version is 1.41"
        );
    }

    #[test]
    fn too_old_uses_docker_wording() {
        let err = check_supported("1.11").unwrap_err();
        assert_eq!(
            err.to_string(),
            "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"
        );
    }

    #[test]
    fn range_bounds_are_inclusive() {
        assert_eq!(check_supported("1.12").unwrap(), MIN_VERSION);
        assert_eq!(check_supported("1.41").unwrap(), DEFAULT_VERSION);
        assert_eq!(check_supported("1.30").unwrap(), ApiVersion::new(1, 30));
    }

    #[test]
    fn negotiation_picks_the_older_side() {
        let ours = DEFAULT_VERSION;
        assert_eq!(
            ApiVersion::negotiate(ours, Some(ApiVersion::new(1, 40))),
            ApiVersion::new(1, 40)
        );
        assert_eq!(
            ApiVersion::negotiate(ours, Some(ApiVersion::new(1, 45))),
            ours
        );
        assert_eq!(ApiVersion::negotiate(ours, None), ours);
    }

    #[test]
    fn serde_uses_the_string_form() {
        let v: ApiVersion = serde_json::from_str("\"1.40\"").unwrap();
        assert_eq!(v, ApiVersion::new(1, 40));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"1.40\"");
    }
}
