//! Docker-format seccomp profiles → OCI `LinuxSeccomp`, as moby's
//! `profiles/seccomp` does it (arch map for the running arch, rules
//! conditioned on capabilities, arches and kernel version).
//!
//! The Docker profile format has no crate, so it is modelled here.

use std::sync::OnceLock;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall};
use serde::Deserialize;

use crate::SpecError;

/// Docker's default profile (moby `profiles/seccomp/default.json`, v20.10).
pub const DEFAULT_PROFILE_JSON: &[u8] = include_bytes!("default-seccomp.json");

/// Largest profile accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 1 << 20;
/// Most syscall rule blocks accepted in a profile.
pub const MAX_RULES: usize = 4096;
/// Most syscall names accepted over all rules.
pub const MAX_NAMES: usize = 65_536;
/// Most argument conditions in one rule (the kernel ABI has 6 arguments).
pub const MAX_ARGS_PER_RULE: usize = 6;

/// A kernel version as Docker compares them: "<kernel>.<major>".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// The "4" in 4.8.
    pub kernel: u64,
    /// The "8" in 4.8.
    pub major: u64,
}

impl KernelVersion {
    /// Parses a `uname -r` release ("5.10.0-8-amd64", "3.12-rc5").
    pub fn parse_release(release: &str) -> Option<KernelVersion> {
        let mut it = release.splitn(2, '.');
        let kernel = leading_number(it.next()?)?;
        let major = leading_number(it.next()?)?;
        Some(KernelVersion { kernel, major })
    }

    /// The running kernel's version (cached).
    pub fn host() -> Option<KernelVersion> {
        static HOST: OnceLock<Option<KernelVersion>> = OnceLock::new();
        *HOST.get_or_init(|| {
            let uts = rustix::system::uname();
            let release = uts.release().to_string_lossy();
            KernelVersion::parse_release(&release)
        })
    }
}

fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.get(..end)?.parse().ok()
}

/// "<kernel>.<major>" in a profile's `minKernel` (Docker's `KernelVersion.UnmarshalJSON`).
fn parse_min_kernel(v: &str) -> Result<Option<KernelVersion>, SpecError> {
    let bad = |why: &str| {
        SpecError::SeccompInvalid(format!(
            "invalid kernel version: {v:?}, expected \"<kernel>.<major>\"{why}"
        ))
    };
    if v.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = v.splitn(3, '.').collect();
    let [k, m] = parts.as_slice() else {
        return Err(bad(""));
    };
    let kernel: u8 = k.parse().map_err(|_| bad(": invalid syntax"))?;
    let major: u8 = m.parse().map_err(|_| bad(": invalid syntax"))?;
    if kernel == 0 && major == 0 {
        return Err(bad(": version cannot be 0.0"));
    }
    Ok(Some(KernelVersion {
        kernel: kernel.into(),
        major: major.into(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<Arch>,
    #[serde(default)]
    arch_map: Vec<ArchMapEntry>,
    #[serde(default)]
    syscalls: Option<Vec<Rule>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

/// Maps a Rust (`std::env::consts::ARCH`) or Go arch name to libseccomp's
/// "native" name (used by `includes.arches`) and its SCMP arch, as moby's
/// `goToNative`/`nativeToSeccomp` tables do.
fn native_arch(arch: &str) -> (Option<&'static str>, Option<Arch>) {
    match arch {
        "x86" | "386" => (Some("x86"), Some(Arch::ScmpArchX86)),
        "x86_64" | "amd64" => (Some("amd64"), Some(Arch::ScmpArchX86_64)),
        "arm" => (Some("arm"), Some(Arch::ScmpArchArm)),
        "aarch64" | "arm64" => (Some("arm64"), Some(Arch::ScmpArchAarch64)),
        "mips64" => (Some("mips64"), Some(Arch::ScmpArchMips64)),
        "mips64n32" | "mips64p32" => (Some("mips64n32"), Some(Arch::ScmpArchMips64n32)),
        "mipsel64" | "mips64le" => (Some("mipsel64"), Some(Arch::ScmpArchMipsel64)),
        "mips3l64n32" | "mips64p32le" => (Some("mips3l64n32"), Some(Arch::ScmpArchMipsel64n32)),
        // moby maps "mipsle" to "mipsel", which its second table does not know.
        "mipsle" | "mipsel" => (Some("mipsel"), None),
        "ppc" | "powerpc" => (Some("ppc"), Some(Arch::ScmpArchPpc)),
        "ppc64" | "powerpc64" => (Some("ppc64"), Some(Arch::ScmpArchPpc64)),
        "ppc64le" | "powerpc64le" => (Some("ppc64le"), Some(Arch::ScmpArchPpc64le)),
        "s390" => (Some("s390"), Some(Arch::ScmpArchS390)),
        "s390x" => (Some("s390x"), Some(Arch::ScmpArchS390x)),
        _ => (None, None),
    }
}

/// Converts a Docker-format profile for a container whose bounding capability
/// set is `caps` on architecture `arch` (Rust or Go name), using the running
/// kernel's version for `minKernel` conditions.
///
/// Returns `Ok(None)` when the profile has neither a default action nor rules
/// (Docker then runs the container without seccomp).
pub fn seccomp_profile(
    json: &[u8],
    caps: &[String],
    arch: &str,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    seccomp_profile_for_kernel(json, caps, arch, KernelVersion::host())
}

/// [`seccomp_profile`] with an explicit kernel version (`None` = unknown, an
/// error only if a rule has a `minKernel` condition). Pure; the fuzz entry point.
pub fn seccomp_profile_for_kernel(
    json: &[u8],
    caps: &[String],
    arch: &str,
    kernel: Option<KernelVersion>,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    if json.len() > MAX_PROFILE_BYTES {
        return Err(SpecError::SeccompTooLarge {
            what: "profile size",
            actual: json.len(),
            limit: MAX_PROFILE_BYTES,
        });
    }
    let profile: Profile = serde_json::from_slice(json).map_err(SpecError::SeccompDecode)?;
    let rules = profile.syscalls.unwrap_or_default();
    if rules.len() > MAX_RULES {
        return Err(SpecError::SeccompTooLarge {
            what: "syscall rules",
            actual: rules.len(),
            limit: MAX_RULES,
        });
    }
    let names: usize = rules
        .iter()
        .map(|r| r.names.as_ref().map_or(0, Vec::len))
        .sum();
    if names > MAX_NAMES {
        return Err(SpecError::SeccompTooLarge {
            what: "syscall names",
            actual: names,
            limit: MAX_NAMES,
        });
    }

    let Some(default_action) = profile.default_action else {
        if rules.is_empty() {
            return Ok(None);
        }
        return Err(SpecError::SeccompInvalid(
            "seccomp profile has syscall rules but no defaultAction".into(),
        ));
    };

    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(SpecError::SeccompInvalid(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
        ));
    }
    let mut architectures = profile.architectures;
    let (native, scmp) = native_arch(arch);
    let native = native.unwrap_or("");
    if let Some(scmp) = scmp {
        if let Some(entry) = profile.arch_map.iter().find(|a| a.architecture == scmp) {
            architectures.push(entry.architecture);
            architectures.extend(entry.sub_architectures.iter().flatten().copied());
        }
    }

    let has = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    let has_cap = |c: &String| caps.iter().any(|x| x == c);
    let kernel_at_least = |v: &str| -> Result<Option<bool>, SpecError> {
        let Some(min) = parse_min_kernel(v)? else {
            return Ok(None);
        };
        let host = kernel.ok_or_else(|| SpecError::KernelVersion("unknown".into()))?;
        Ok(Some(host >= min))
    };

    let mut syscalls = Vec::new();
    for rule in rules {
        let excl = rule.excludes.unwrap_or_default();
        let incl = rule.includes.unwrap_or_default();
        if has(&excl.arches) && excl.arches.iter().flatten().any(|a| a == native) {
            continue;
        }
        if has(&excl.caps) && excl.caps.iter().flatten().any(has_cap) {
            continue;
        }
        if let Some(v) = &excl.min_kernel {
            if kernel_at_least(v)? == Some(true) {
                continue;
            }
        }
        if has(&incl.arches) && !incl.arches.iter().flatten().any(|a| a == native) {
            continue;
        }
        if has(&incl.caps) && !incl.caps.iter().flatten().all(has_cap) {
            continue;
        }
        if let Some(v) = &incl.min_kernel {
            if kernel_at_least(v)? == Some(false) {
                continue;
            }
        }

        let name = rule.name.filter(|n| !n.is_empty());
        let names = rule.names.filter(|n| !n.is_empty());
        let names = match (name, names) {
            (Some(_), Some(_)) => {
                return Err(SpecError::SeccompInvalid(
                    "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".into(),
                ))
            }
            (Some(n), None) => vec![n],
            (None, n) => n.unwrap_or_default(),
        };
        let args = rule.args.filter(|a| !a.is_empty());
        if let Some(a) = &args {
            if a.len() > MAX_ARGS_PER_RULE {
                return Err(SpecError::SeccompTooLarge {
                    what: "arguments in one rule",
                    actual: a.len(),
                    limit: MAX_ARGS_PER_RULE,
                });
            }
        }
        let mut sc = LinuxSyscall::default();
        sc.set_names(names);
        sc.set_action(rule.action);
        sc.set_errno_ret(rule.errno_ret);
        sc.set_args(args);
        syscalls.push(sc);
    }

    let mut out = LinuxSeccomp::default();
    out.set_default_action(default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!architectures.is_empty()).then_some(architectures));
    out.set_syscalls(Some(syscalls));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_CAPS;

    const K5_10: Option<KernelVersion> = Some(KernelVersion {
        kernel: 5,
        major: 10,
    });

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    }

    fn allowed(sc: &LinuxSeccomp) -> Vec<String> {
        let mut v: Vec<String> = sc
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect();
        v.sort();
        v
    }

    fn build(caps: &[String], arch: &str, k: Option<KernelVersion>) -> LinuxSeccomp {
        seccomp_profile_for_kernel(DEFAULT_PROFILE_JSON, caps, arch, k)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn default_profile_x86_64_default_caps() {
        let sc = build(&default_caps(), "x86_64", K5_10);
        assert_eq!(sc.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(
            sc.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        let names = allowed(&sc);
        // Counted independently from default.json (amd64, default caps,
        // kernel >= 4.8, unconditional-argument ALLOW rules only).
        assert_eq!(names.len(), 344, "{names:?}");
        for n in ["read", "ptrace", "arch_prctl", "modify_ldt"] {
            assert!(names.iter().any(|x| x == n), "{n} missing");
        }
        for n in [
            "reboot",
            "mount",
            "kexec_load",
            "bpf",
            "clone",
            "init_module",
        ] {
            assert!(!names.iter().any(|x| x == n), "{n} must not be allowed");
        }
        // clone is allowed only with the namespace-flag mask argument filter.
        let clone: Vec<_> = sc
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == "clone"))
            .collect();
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().clone().unwrap();
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].value(), 2_114_060_288);
        assert_eq!(
            args[0].op(),
            oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq
        );
        // clone3 without CAP_SYS_ADMIN returns ENOSYS
        let clone3 = sc
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &vec!["clone3".to_string()])
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
    }

    #[test]
    fn ptrace_needs_kernel_4_8() {
        let old = build(
            &default_caps(),
            "x86_64",
            Some(KernelVersion {
                kernel: 4,
                major: 7,
            }),
        );
        assert!(!allowed(&old).iter().any(|n| n == "ptrace"));
        let new = build(
            &default_caps(),
            "x86_64",
            Some(KernelVersion {
                kernel: 4,
                major: 8,
            }),
        );
        assert!(allowed(&new).iter().any(|n| n == "ptrace"));
    }

    #[test]
    fn reboot_only_with_cap_sys_boot() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_BOOT".into());
        assert!(allowed(&build(&caps, "x86_64", K5_10))
            .iter()
            .any(|n| n == "reboot"));
    }

    #[test]
    fn sys_admin_allows_mount_and_unfiltered_clone() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let names = allowed(&build(&caps, "x86_64", K5_10));
        assert!(names.iter().any(|n| n == "mount"));
        assert!(names.iter().any(|n| n == "clone"));
    }

    #[test]
    fn arm64_uses_its_arch_map_entry() {
        let sc = build(&default_caps(), "aarch64", K5_10);
        assert_eq!(
            sc.architectures().clone().unwrap(),
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        let names = allowed(&sc);
        assert!(!names.iter().any(|n| n == "arch_prctl"));
        assert!(names.iter().any(|n| n == "sync_file_range2"));
    }

    #[test]
    fn unknown_arch_leaves_architectures_unset() {
        let sc = build(&default_caps(), "riscv64", K5_10);
        assert!(sc.architectures().is_none());
    }

    #[test]
    fn empty_profile_disables_seccomp() {
        assert!(seccomp_profile_for_kernel(b"{}", &[], "x86_64", None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn name_and_names_conflict() {
        let j = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let e = seccomp_profile_for_kernel(j, &[], "x86_64", None).unwrap_err();
        assert!(e.to_string().contains("'name' and 'names'"));
    }

    #[test]
    fn legacy_name_and_default_errno_ret() {
        let j = br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW","args":null}]}"#;
        let sc = seccomp_profile_for_kernel(j, &[], "x86_64", None)
            .unwrap()
            .unwrap();
        assert_eq!(sc.default_errno_ret(), Some(1));
        assert_eq!(
            sc.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64]
        );
        assert_eq!(allowed(&sc), vec!["read".to_string()]);
    }

    #[test]
    fn architectures_and_arch_map_conflict() {
        let j = br#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],"syscalls":[]}"#;
        assert!(seccomp_profile_for_kernel(j, &[], "x86_64", None).is_err());
    }

    #[test]
    fn min_kernel_without_known_kernel_is_an_error() {
        let j = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}]}"#;
        assert!(seccomp_profile_for_kernel(j, &[], "x86_64", None).is_err());
        let bad = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"0.0"}}]}"#;
        assert!(seccomp_profile_for_kernel(bad, &[], "x86_64", K5_10).is_err());
    }

    #[test]
    fn oversized_profile_is_rejected() {
        let big = vec![b' '; MAX_PROFILE_BYTES + 1];
        let e = seccomp_profile_for_kernel(&big, &[], "x86_64", None).unwrap_err();
        assert!(matches!(e, SpecError::SeccompTooLarge { .. }));
    }

    #[test]
    fn decode_error_uses_dockers_prefix() {
        let e = seccomp_profile_for_kernel(b"{", &[], "x86_64", None).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Decoding seccomp profile failed: "));
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(
            KernelVersion::parse_release("3.12.25-gentoo"),
            Some(KernelVersion {
                kernel: 3,
                major: 12
            })
        );
        assert_eq!(
            KernelVersion::parse_release("3.12-1-amd64"),
            Some(KernelVersion {
                kernel: 3,
                major: 12
            })
        );
        assert_eq!(KernelVersion::parse_release("garbage"), None);
    }
}
