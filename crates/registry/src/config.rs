//! Client configuration, insecure-registry matching and Docker's endpoint
//! rules (`docker.io` → `registry-1.docker.io`, mirrors first for pulls).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::RegistryError;

/// The host Docker Hub pulls and pushes go to.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Configuration of a [`crate::Client`].
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `host[:port]` or CIDR entries (daemon.json `insecure-registries`):
    /// HTTPS without certificate checks, falling back to plain HTTP.
    /// Loopback (`localhost`, 127.0.0.0/8, ::1) is always insecure.
    pub insecure_registries: Vec<String>,
    /// `http(s)://host[:port]` mirrors, tried in order before Docker Hub on pulls.
    pub mirrors: Vec<String>,
    /// Per-host TLS material: `certs_dir/HOST[:PORT]/*.crt` (CAs) and
    /// `*.cert` + `*.key` (client certificate).
    pub certs_dir: PathBuf,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Consecutive failed attempts without progress after which a blob
    /// download gives up; 0 never gives up (balenaEngine's behaviour).
    pub max_download_attempts: u32,
    /// How long a connection may stay silent (connect, response head,
    /// between body chunks) before it is treated as broken.
    pub io_timeout: Duration,
    /// Unit of the download retry backoff: the n-th consecutive failure
    /// waits `unit * 2^(n-1)`, at most `unit * 300` (1 s: Docker's 1, 2,
    /// 4 ... 300 s). Tests shorten it.
    pub backoff_unit: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            certs_dir: PathBuf::from("/etc/balena-engine/certs.d"),
            user_agent: concat!("balenaEngine/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_download_attempts: 5,
            io_timeout: Duration::from_secs(60),
            backoff_unit: Duration::from_secs(1),
        }
    }
}

/// URL scheme of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// TLS.
    Https,
    /// Plain HTTP (insecure registries that do not speak TLS).
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// One place a registry's API is reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as used in URLs (lowercase).
    pub host: String,
    /// The scheme in use: HTTPS, or HTTP for an insecure registry once the
    /// TLS handshake failed (remembered) or for an `http://` mirror.
    pub scheme: Scheme,
    /// A Docker Hub mirror.
    pub mirror: bool,
    /// Insecure: certificates are not checked and HTTP is a fallback.
    pub insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The configuration, checked and normalised.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) insecure_cidrs: Vec<Cidr>,
    pub(crate) insecure_hosts: Vec<String>,
    pub(crate) mirrors: Vec<(Scheme, String)>,
}

pub(crate) fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry.to_ascii_lowercase().as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Checks `host[:port]` (DNS name, IPv4, or `[IPv6]`), returning it lowercased.
pub(crate) fn validate_host(registry: &str) -> Result<String, RegistryError> {
    let bad = || RegistryError::InvalidRegistry {
        registry: registry.chars().take(100).collect(),
    };
    let r = registry.to_ascii_lowercase();
    let (host, port) = split_host_port(&r).ok_or_else(bad)?;
    if let Some(p) = port {
        if p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u16>().is_err()
        {
            return Err(bad());
        }
    }
    let ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    if ok {
        Ok(r)
    } else {
        Err(bad())
    }
}

/// Splits `host[:port]` / `[v6]:port`. `None` for a bare IPv6 without brackets.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        return match rest.strip_prefix(':') {
            Some(p) => Some((host, Some(p))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.matches(':').count() {
        0 => Some((s, None)),
        1 => s.split_once(':').map(|(h, p)| (h, Some(p))),
        _ => None,
    }
}

/// The bare host of `host[:port]` without brackets.
pub(crate) fn host_only(authority: &str) -> &str {
    let h = split_host_port(authority)
        .map(|(h, _)| h)
        .unwrap_or(authority);
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
}

impl Resolved {
    pub(crate) fn new(config: &RegistryConfig) -> Result<Resolved, RegistryError> {
        let mut insecure_cidrs = vec![];
        let mut insecure_hosts = vec![];
        for entry in &config.insecure_registries {
            let lower = entry.trim().to_ascii_lowercase();
            let e = lower
                .strip_prefix("http://")
                .or_else(|| lower.strip_prefix("https://"))
                .unwrap_or(&lower)
                .trim_end_matches('/');
            if e.contains("://") {
                return Err(RegistryError::InvalidConfig {
                    reason: format!("insecure registry {entry} should not contain '://'"),
                });
            }
            if let Some(c) = Cidr::parse(e) {
                insecure_cidrs.push(c);
            } else {
                let host = validate_host(e).map_err(|_| RegistryError::InvalidConfig {
                    reason: format!("insecure registry {entry} is not valid"),
                })?;
                insecure_hosts.push(host);
            }
        }
        let mut mirrors: Vec<(Scheme, String)> = vec![];
        for m in &config.mirrors {
            let invalid = |why: &str| RegistryError::InvalidConfig {
                reason: format!("invalid mirror {m:?}: {why}"),
            };
            let lower = m.trim().to_ascii_lowercase();
            let (scheme, rest) = if let Some(r) = lower.strip_prefix("https://") {
                (Scheme::Https, r)
            } else if let Some(r) = lower.strip_prefix("http://") {
                (Scheme::Http, r)
            } else {
                return Err(invalid("unsupported scheme"));
            };
            let host = rest.strip_suffix('/').unwrap_or(rest);
            if host.contains('@') {
                return Err(invalid("username/password not allowed"));
            }
            if host.contains(['/', '?', '#']) {
                return Err(invalid("path, query, or fragment"));
            }
            let host = validate_host(host).map_err(|_| invalid("bad host"))?;
            if !mirrors.iter().any(|(s, h)| *s == scheme && *h == host) {
                mirrors.push((scheme, host));
            }
        }
        Ok(Resolved {
            insecure_cidrs,
            insecure_hosts,
            mirrors,
        })
    }

    /// Docker's insecure check without name resolution: listed hosts,
    /// loopback, and IP literals inside the listed CIDRs.
    pub(crate) fn insecure_literal(&self, authority: &str) -> Option<bool> {
        if self.insecure_hosts.iter().any(|h| h == authority) {
            return Some(true);
        }
        let host = host_only(authority);
        if host == "localhost" || host.ends_with(".localhost") {
            return Some(true);
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(ip.is_loopback() || self.insecure_cidrs.iter().any(|c| c.contains(ip)));
        }
        if self.insecure_cidrs.is_empty() {
            return Some(false);
        }
        None
    }

    /// Whether any of these addresses is in an insecure CIDR or loopback.
    pub(crate) fn insecure_ips(&self, ips: &[IpAddr]) -> bool {
        ips.iter()
            .any(|ip| ip.is_loopback() || self.insecure_cidrs.iter().any(|c| c.contains(*ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(insecure: &[&str], mirrors: &[&str]) -> Result<Resolved, RegistryError> {
        Resolved::new(&RegistryConfig {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            ..RegistryConfig::default()
        })
    }

    #[test]
    fn cidrs_match_addresses() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.9.9".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nope/8"), None);
    }

    #[test]
    fn insecure_rules_follow_docker() {
        let r = resolved(&["myreg:5000", "http://other.io", "192.168.0.0/16"], &[]).unwrap();
        assert_eq!(r.insecure_literal("myreg:5000"), Some(true));
        assert_eq!(r.insecure_literal("other.io"), Some(true));
        assert_eq!(r.insecure_literal("myreg"), None);
        assert_eq!(r.insecure_literal("localhost:5000"), Some(true));
        assert_eq!(r.insecure_literal("127.0.0.5:80"), Some(true));
        assert_eq!(r.insecure_literal("[::1]:5000"), Some(true));
        assert_eq!(r.insecure_literal("192.168.3.4:443"), Some(true));
        assert_eq!(r.insecure_literal("10.0.0.1"), Some(false));
        let plain = resolved(&[], &[]).unwrap();
        assert_eq!(plain.insecure_literal("registry-1.docker.io"), Some(false));
        assert!(resolved(&["ftp://x"], &[]).is_err());
        assert!(resolved(&["bad host"], &[]).is_err());
    }

    #[test]
    fn mirrors_are_validated_and_deduplicated() {
        let r = resolved(&[], &["https://m1.io/", "http://m2:5000", "https://M1.io"]).unwrap();
        assert_eq!(
            r.mirrors,
            vec![
                (Scheme::Https, "m1.io".into()),
                (Scheme::Http, "m2:5000".into())
            ]
        );
        assert!(resolved(&[], &["m1.io"]).is_err());
        assert!(resolved(&[], &["https://m1.io/path"]).is_err());
        assert!(resolved(&[], &["https://u:p@m1.io"]).is_err());
    }

    #[test]
    fn hosts_are_validated() {
        assert_eq!(validate_host("LocalHost:5000").unwrap(), "localhost:5000");
        assert!(validate_host("[::1]:5000").is_ok());
        assert!(validate_host("1.2.3.4").is_ok());
        for bad in [
            "", "a/b", "a:b", "a:99999", "::1", "a@b", "-a.io", "a..b", "[zz]:1", "h:1:2",
        ] {
            assert!(validate_host(bad).is_err(), "{bad}");
        }
        assert_eq!(host_only("[::1]:5000"), "::1");
        assert_eq!(host_only("a.io:5000"), "a.io");
    }

    #[test]
    fn docker_hub_names_are_recognised() {
        assert!(is_docker_hub("docker.io"));
        assert!(is_docker_hub("index.docker.io"));
        assert!(!is_docker_hub("docker.io:5000"));
    }
}
