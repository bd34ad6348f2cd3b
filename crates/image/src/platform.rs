//! Platforms (`linux/arm/v7`): parsing `--platform` specifiers,
//! normalisation, the host platform, and matching against manifest lists.
//!
//! Behaves as containerd's `platforms` package v1.6.6 (what balenaEngine
//! v20.10 vendors): `Parse`, `Format`, `Normalize`, `Only`, `OnlyStrict`, and
//! the ordering that `images.Manifest` uses to pick from an index. Reading
//! `/proc/cpuinfo` is I/O, so the host's CPU variant is supplied by the caller
//! (see [`variant_from_cpuinfo`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::serde_util::null_default;

/// Errors from parsing platform specifiers; messages are containerd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The specifier has a `*`.
    #[error("{spec:?}: wildcards not yet supported: invalid argument")]
    Wildcard {
        /// The rejected specifier.
        spec: String,
    },
    /// A component is empty or has characters outside `[A-Za-z0-9_-]`.
    #[error("{component:?} is an invalid component of {spec:?}: platform specifier component must match \"^[A-Za-z0-9_-]+$\": invalid argument")]
    InvalidComponent {
        /// The rejected component.
        component: String,
        /// The whole specifier.
        spec: String,
    },
    /// A single component that is neither a known OS nor a known architecture.
    #[error("{spec:?}: unknown operating system or architecture: invalid argument")]
    Unknown {
        /// The rejected specifier.
        spec: String,
    },
    /// More than three components.
    #[error("{spec:?}: cannot parse platform specifier: invalid argument")]
    TooManyComponents {
        /// The rejected specifier.
        spec: String,
    },
}

/// An OS/architecture pair, as in OCI descriptors and image configs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's naming (`amd64`, `arm64`, `arm`).
    #[serde(default, deserialize_with = "null_default")]
    pub architecture: String,
    /// Operating system in Go's naming (`linux`).
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
    /// OS version (Windows builds), usually empty.
    #[serde(
        rename = "os.version",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// CPU variant (`v6`, `v7`, `v8`), often empty.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub variant: String,
}

/// The host OS in Go's naming (`GOOS`), known at compile time.
pub fn host_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The host architecture in Go's naming (`GOARCH`), known at compile time.
pub fn host_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "mips" if little => "mipsle",
        "mips64" if little => "mips64le",
        "loongarch64" => "loong64",
        "wasm32" => "wasm",
        other => other,
    }
}

impl Platform {
    /// A platform from its parts (no normalisation).
    pub fn new(os: &str, architecture: &str, variant: &str) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.to_owned(),
            os_version: String::new(),
        }
    }

    /// The platform this binary runs on (containerd's `DefaultSpec`), with the
    /// CPU variant the caller read (e.g. from [`variant_from_cpuinfo`]; only
    /// meaningful on arm). Not normalised.
    pub fn host(variant: Option<&str>) -> Platform {
        Platform::new(host_os(), host_arch(), variant.unwrap_or_default())
    }

    /// Parses a specifier (`linux/arm/v7`, `linux/arm64`, `arm64`, `linux`)
    /// with [`Platform::host`]`(None)` filling in what a one-part specifier omits.
    pub fn parse(spec: &str) -> Result<Platform, PlatformError> {
        Platform::parse_with_host(spec, &Platform::host(None))
    }

    /// Parses a specifier exactly as containerd's `platforms.Parse`, taking
    /// the defaults for one-part specifiers from `host`.
    ///
    /// Two parts are always `os/arch` (so `arm64/v8` is OS `arm64`,
    /// architecture `v8`, as in containerd and Docker).
    pub fn parse_with_host(spec: &str, host: &Platform) -> Result<Platform, PlatformError> {
        if spec.contains('*') {
            return Err(PlatformError::Wildcard { spec: spec.into() });
        }
        let parts: Vec<&str> = spec.split('/').collect();
        for part in &parts {
            let ok = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(PlatformError::InvalidComponent {
                    component: (*part).into(),
                    spec: spec.into(),
                });
            }
        }
        match parts.as_slice() {
            [one] => {
                let os = normalize_os(one);
                if is_known_os(&os) {
                    let mut p = Platform::new(&os, &host.architecture, "");
                    if p.architecture == "arm" && host.variant != "v7" {
                        p.variant = host.variant.clone();
                    }
                    return Ok(p);
                }
                let (arch, mut variant) = normalize_arch(one, "");
                if arch == "arm" && variant == "v7" {
                    variant.clear();
                }
                if is_known_arch(&arch) {
                    return Ok(Platform::new(&host.os, &arch, &variant));
                }
                Err(PlatformError::Unknown { spec: spec.into() })
            }
            [os, arch] => {
                let (arch, mut variant) = normalize_arch(arch, "");
                if arch == "arm" && variant == "v7" {
                    variant.clear();
                }
                Ok(Platform::new(&normalize_os(os), &arch, &variant))
            }
            [os, arch, variant] => {
                let (arch, mut variant) = normalize_arch(arch, variant);
                if arch == "arm64" && variant.is_empty() {
                    variant = "v8".into();
                }
                Ok(Platform::new(&normalize_os(os), &arch, &variant))
            }
            _ => Err(PlatformError::TooManyComponents { spec: spec.into() }),
        }
    }

    /// containerd's `Normalize`: lowercase, Go names (`aarch64` → `arm64`,
    /// `x86_64` → `amd64`, `armhf` → `arm/v7`, ...), `arm` defaults to `v7`,
    /// `arm64/v8` to `arm64`; an empty OS becomes the host's.
    pub fn normalize(&self) -> Platform {
        let (architecture, variant) = normalize_arch(&self.architecture, &self.variant);
        Platform {
            os: normalize_os(&self.os),
            architecture,
            variant,
            os_version: self.os_version.clone(),
        }
    }
}

impl fmt::Display for Platform {
    /// containerd's `Format`: `os/arch[/variant]`, or `unknown` without an OS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.os.is_empty() {
            return f.write_str("unknown");
        }
        let parts = [&self.os, &self.architecture, &self.variant];
        let mut first = true;
        for p in parts.into_iter().filter(|p| !p.is_empty()) {
            if !first {
                f.write_str("/")?;
            }
            f.write_str(p)?;
            first = false;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

fn normalize_os(os: &str) -> String {
    if os.is_empty() {
        return host_os().to_owned();
    }
    let os = os.to_lowercase();
    if os == "macos" {
        return "darwin".to_owned();
    }
    os
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

/// The CPU variant (`v8`, `v7`, `v6`, ...) from the text of `/proc/cpuinfo`,
/// as containerd's `getCPUVariant` does on Linux for this binary's
/// architecture. Empty if the field is missing, `unknown` if unrecognised.
pub fn variant_from_cpuinfo(cpuinfo: &str) -> String {
    variant_from_cpuinfo_for_arch(cpuinfo, host_arch())
}

/// [`variant_from_cpuinfo`] for a given Go architecture name: on `arm`, a
/// "CPU architecture: 7" whose model name is "ARMv6-compatible" is `v6`.
pub fn variant_from_cpuinfo_for_arch(cpuinfo: &str, arch: &str) -> String {
    let field = |pattern: &str| {
        cpuinfo.lines().find_map(|line| {
            let mut it = line.split(':');
            let key = it.next()?;
            let value = it.next()?;
            key.trim()
                .eq_ignore_ascii_case(pattern)
                .then(|| value.trim())
        })
    };
    let Some(mut variant) = field("Cpu architecture") else {
        return String::new();
    };
    if arch == "arm" && variant == "7" {
        if let Some(model) = field("model name") {
            if model.to_lowercase().starts_with("armv6-compatible") {
                variant = "6";
            }
        }
    }
    match variant.to_lowercase().as_str() {
        "8" | "aarch64" => "v8",
        "7" | "7m" | "?(12)" | "?(13)" | "?(14)" | "?(15)" | "?(16)" | "?(17)" => "v7",
        "6" | "6tej" => "v6",
        "5" | "5t" | "5te" | "5tej" => "v5",
        "4" | "4t" => "v4",
        "3" => "v3",
        _ => "unknown",
    }
    .to_owned()
}

/// Decides which platforms an image may have to run here, and which is best
/// (containerd's `MatchComparer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformMatcher {
    /// Normalised platforms, best first.
    ordered: Vec<Platform>,
}

impl PlatformMatcher {
    /// containerd's `Only`: the platform and what it can also run, best
    /// first: `arm/v7` also runs `v6` and `v5`; `arm64` also runs
    /// `arm/v8`..`arm/v5`; `amd64` runs `386` (and lower `amd64` variants).
    pub fn only(platform: &Platform) -> PlatformMatcher {
        PlatformMatcher {
            ordered: platform_vector(platform.normalize())
                .iter()
                .map(Platform::normalize)
                .collect(),
        }
    }

    /// containerd's `OnlyStrict`: the platform alone (after normalisation).
    pub fn only_strict(platform: &Platform) -> PlatformMatcher {
        PlatformMatcher {
            ordered: vec![platform.normalize()],
        }
    }

    /// True if an image for `candidate` can run.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// How good a match `candidate` is: 0 is exact, larger is worse, `None`
    /// does not match.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        let c = candidate.normalize();
        self.ordered.iter().position(|p| {
            p.os == c.os && p.architecture == c.architecture && p.variant == c.variant
        })
    }

    /// The platforms accepted, best first (normalised).
    pub fn platforms(&self) -> &[Platform] {
        &self.ordered
    }

    /// The best of `items` (containerd's `images.Manifest` choice): the best
    /// rank wins, ties go to the earlier item; items without a platform
    /// match but come after every item with one.
    pub fn select<'a, T>(
        &self,
        items: impl IntoIterator<Item = &'a T>,
        platform_of: impl Fn(&T) -> Option<&Platform>,
    ) -> Option<&'a T>
    where
        T: 'a,
    {
        let mut best: Option<(usize, &'a T)> = None;
        for item in items {
            let rank = match platform_of(item) {
                Some(p) => match self.rank(p) {
                    Some(r) => r,
                    None => continue,
                },
                None => usize::MAX,
            };
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, item));
            }
        }
        best.map(|(_, item)| item)
    }
}

/// containerd's `platformVector`: what a platform can run, best first.
fn platform_vector(platform: Platform) -> Vec<Platform> {
    let with = |arch: &str, variant: String| Platform {
        os: platform.os.clone(),
        architecture: arch.to_owned(),
        variant,
        os_version: platform.os_version.clone(),
    };
    let mut vector = vec![platform.clone()];
    match platform.architecture.as_str() {
        "amd64" => {
            if let Some(v) = variant_number(&platform.variant).filter(|v| *v > 1) {
                for lower in (1..v).rev() {
                    vector.push(with("amd64", format!("v{lower}")));
                }
            }
            vector.push(with("386", String::new()));
        }
        "arm" => {
            if let Some(v) = variant_number(&platform.variant).filter(|v| *v > 5) {
                for lower in (5..v).rev() {
                    vector.push(with("arm", format!("v{lower}")));
                }
            }
        }
        "arm64" => {
            let variant = if platform.variant.is_empty() {
                "v8".to_owned()
            } else {
                platform.variant.clone()
            };
            vector.extend(platform_vector(with("arm", variant)));
        }
        _ => {}
    }
    vector
}

/// Go's `strconv.Atoi(strings.TrimPrefix(variant, "v"))`, within reason.
fn variant_number(variant: &str) -> Option<u32> {
    let digits = variant.strip_prefix('v').unwrap_or(variant);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn normalize_maps_aliases() {
        let cases = [
            (("linux", "aarch64", ""), ("linux", "arm64", "")),
            (("linux", "arm64", "v8"), ("linux", "arm64", "")),
            (("linux", "arm64", "8"), ("linux", "arm64", "")),
            (("linux", "armhf", ""), ("linux", "arm", "v7")),
            (("linux", "armel", ""), ("linux", "arm", "v6")),
            (("linux", "arm", ""), ("linux", "arm", "v7")),
            (("linux", "arm", "6"), ("linux", "arm", "v6")),
            (("linux", "x86_64", ""), ("linux", "amd64", "")),
            (("linux", "x86-64", "v1"), ("linux", "amd64", "")),
            (("linux", "i386", "foo"), ("linux", "386", "")),
            (("Linux", "AMD64", "V2"), ("linux", "amd64", "v2")),
            (("macOS", "arm64", ""), ("darwin", "arm64", "")),
        ];
        for ((os, arch, var), (eos, earch, evar)) in cases {
            let n = Platform::new(os, arch, var).normalize();
            assert_eq!(
                (n.os.as_str(), n.architecture.as_str(), n.variant.as_str()),
                (eos, earch, evar),
                "{os}/{arch}/{var}"
            );
        }
        assert_eq!(Platform::new("", "arm", "").normalize().os, host_os());
    }

    #[test]
    fn arm64_v8_two_parts_is_os_and_arch_like_containerd() {
        let q = p("arm64/v8");
        assert_eq!((q.os.as_str(), q.architecture.as_str()), ("arm64", "v8"));
    }

    #[test]
    fn one_part_os_uses_host_arm_variant() {
        let host = Platform::new("linux", "arm", "v6");
        let q = Platform::parse_with_host("linux", &host).unwrap();
        assert_eq!(q, Platform::new("linux", "arm", "v6"));
        let host7 = Platform::new("linux", "arm", "v7");
        assert_eq!(
            Platform::parse_with_host("linux", &host7).unwrap(),
            Platform::new("linux", "arm", "")
        );
        assert_eq!(
            Platform::parse_with_host("armel", &host7).unwrap(),
            Platform::new("linux", "arm", "v6")
        );
    }

    #[test]
    fn cpuinfo_variants() {
        let pi_zero = "processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
        assert_eq!(variant_from_cpuinfo_for_arch(pi_zero, "arm"), "v6");
        assert_eq!(variant_from_cpuinfo_for_arch(pi_zero, "arm64"), "v7");
        let pi3 = "model name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\n";
        assert_eq!(variant_from_cpuinfo_for_arch(pi3, "arm"), "v7");
        let a64 = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU architecture: 8\r\n";
        assert_eq!(variant_from_cpuinfo_for_arch(a64, "arm64"), "v8");
        assert_eq!(
            variant_from_cpuinfo_for_arch("CPU architecture: 5TEJ", "arm"),
            "v5"
        );
        assert_eq!(
            variant_from_cpuinfo_for_arch("CPU architecture: weird", "arm"),
            "unknown"
        );
        assert_eq!(variant_from_cpuinfo_for_arch("flags: fpu", "arm"), "");
    }

    #[test]
    fn only_prefers_exact_then_lower_variants() {
        let m = PlatformMatcher::only(&p("linux/arm/v7"));
        assert_eq!(m.rank(&p("linux/arm/v7")), Some(0));
        assert_eq!(m.rank(&p("linux/arm/v6")), Some(1));
        assert_eq!(m.rank(&p("linux/arm/v5")), Some(2));
        assert_eq!(m.rank(&p("linux/arm/v8")), None);
        let m64 = PlatformMatcher::only(&p("linux/arm64/v8"));
        let order: Vec<String> = m64.platforms().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            order,
            [
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
    }

    #[test]
    fn select_picks_best_rank_then_first() {
        let items = vec![
            (1, Some(p("linux/arm/v6"))),
            (2, None),
            (3, Some(p("linux/arm/v7"))),
            (4, Some(p("linux/arm/v7"))),
            (5, Some(p("linux/amd64"))),
        ];
        let m = PlatformMatcher::only(&p("linux/arm/v7"));
        let best = m.select(&items, |(_, p)| p.as_ref()).unwrap();
        assert_eq!(best.0, 3);
        let m5 = PlatformMatcher::only(&p("linux/arm/v5"));
        assert_eq!(m5.select(&items, |(_, p)| p.as_ref()).unwrap().0, 2);
        let none: Vec<(i32, Option<Platform>)> = vec![(1, Some(p("linux/s390x")))];
        assert!(m.select(&none, |(_, p)| p.as_ref()).is_none());
    }

    #[test]
    fn platform_json_uses_oci_names() {
        let q: Platform = serde_json::from_str(
            r#"{"architecture":"arm","os":"linux","variant":"v7","os.version":"1","features":["x"]}"#,
        )
        .unwrap();
        assert_eq!(q.os_version, "1");
        assert_eq!(q.variant, "v7");
        let q2: Platform = serde_json::from_str(r#"{"architecture":null,"os":"linux"}"#).unwrap();
        assert_eq!(q2.architecture, "");
        assert_eq!(
            serde_json::to_string(&Platform::new("linux", "amd64", "")).unwrap(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
    }
}
