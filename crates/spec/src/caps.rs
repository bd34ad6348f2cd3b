//! Capabilities: Docker's default set, name normalisation, `--cap-add`/`--cap-drop`.

use std::str::FromStr;
use std::sync::OnceLock;

use oci_spec::runtime::{Capabilities, Capability};

use crate::SpecError;

/// Docker 20.10's default capability set (`oci/caps/defaults.go`), in Docker's order.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by number (index = capability number, see capability.h).
const CAP_BY_NUMBER: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// CAP_AUDIT_READ, used when `/proc/sys/kernel/cap_last_cap` is unreadable
/// (Docker falls back to CAP_BLOCK_SUSPEND only for RHEL6-era kernels).
const FALLBACK_LAST_CAP: usize = 37;

/// All capabilities known to both this kernel (`/proc/sys/kernel/cap_last_cap`)
/// and this crate, in numeric order. This is what `--privileged` and
/// `--cap-add ALL` grant, and the set `--cap-add` names are checked against.
///
/// Docker 20.10 additionally stops at CAP_AUDIT_READ because its runc did not
/// know newer ones; our runtime does, so we offer what the kernel has.
pub fn all_caps() -> &'static [&'static str] {
    static LAST: OnceLock<usize> = OnceLock::new();
    let last = *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(FALLBACK_LAST_CAP)
    });
    let n = (last + 1).min(CAP_BY_NUMBER.len());
    CAP_BY_NUMBER.get(..n).unwrap_or(CAP_BY_NUMBER)
}

const ALL: &str = "ALL";

/// The engine's own bounding set (`CapBnd` of /proc/self/status) as a bit
/// mask; every capability when it cannot be read. A container can never
/// hold a capability the engine lacks (the kernel refuses the `capset`), so
/// `--privileged` and `ALL` are limited to it, as runc does.
fn own_bounding() -> u64 {
    static BND: OnceLock<u64> = OnceLock::new();
    *BND.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    })
}

fn in_bounding(name: &str) -> bool {
    match CAP_BY_NUMBER.iter().position(|c| *c == name) {
        Some(n) if n < 64 => own_bounding() & (1u64 << n) != 0,
        _ => true,
    }
}

/// The capabilities a container can be given here: [`all_caps`] limited to
/// the engine's bounding set.
pub fn grantable_caps() -> Vec<String> {
    all_caps()
        .iter()
        .filter(|c| in_bounding(c))
        .map(|s| s.to_string())
        .collect()
}

/// Upper-case, add the `CAP_` prefix, check against [`all_caps`]; keeps "ALL".
fn normalize(caps: &[String]) -> Result<Vec<String>, SpecError> {
    let valid = all_caps();
    let mut out = Vec::with_capacity(caps.len());
    for c in caps {
        let mut c = c.to_uppercase();
        if c == ALL {
            out.push(c);
            continue;
        }
        if !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if !valid.contains(&c.as_str()) {
            return Err(SpecError::UnknownCapability(c));
        }
        out.push(c);
    }
    Ok(out)
}

/// Checks `--cap-add`/`--cap-drop` like Docker (`unknown capability: "CAP_FOO"`),
/// and that added capabilities are in the engine's bounding set.
pub fn validate_caps(add: &[String], drop: &[String]) -> Result<(), SpecError> {
    normalize(drop)?;
    for c in normalize(add)? {
        if c != ALL && !in_bounding(&c) {
            return Err(SpecError::CapabilityUnavailable(c));
        }
    }
    Ok(())
}

/// Docker's `TweakCapabilities`: the final capability list, in Docker's order.
pub fn effective_caps(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(grantable_caps());
    }
    let basics = || {
        DEFAULT_CAPS
            .iter()
            .filter(|c| in_bounding(c))
            .map(|s| s.to_string())
    };
    if add.is_empty() && drop.is_empty() {
        return Ok(basics().collect());
    }
    let drop = normalize(drop)?;
    let add = normalize(add)?;
    let caps = if add.iter().any(|c| c == ALL) {
        grantable_caps()
            .into_iter()
            .filter(|c| !drop.iter().any(|d| d == c))
            .collect()
    } else if drop.iter().any(|c| c == ALL) {
        add
    } else {
        let mut caps: Vec<String> = basics().filter(|c| !drop.contains(c)).collect();
        caps.extend(add);
        caps
    };
    Ok(caps)
}

/// Converts names to oci-spec capabilities (all names come from [`all_caps`]).
pub(crate) fn to_oci(caps: &[String]) -> Result<Capabilities, SpecError> {
    caps.iter()
        .map(|c| {
            Capability::from_str(c.trim_start_matches("CAP_"))
                .map_err(|_| SpecError::UnknownCapability(c.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_caps_are_dockers_fourteen() {
        assert_eq!(DEFAULT_CAPS.len(), 14);
        assert_eq!(effective_caps(&[], &[], false).unwrap(), s(DEFAULT_CAPS));
    }

    #[test]
    fn add_and_drop_accept_any_case_and_optional_prefix() {
        let caps =
            effective_caps(&s(&["sys_admin", "CAP_net_admin"]), &s(&["mknod"]), false).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(caps.len(), 15);
    }

    #[test]
    fn drop_all_keeps_only_added() {
        let caps = effective_caps(&s(&["chown"]), &s(&["all"]), false).unwrap();
        assert_eq!(caps, s(&["CAP_CHOWN"]));
    }

    #[test]
    fn add_all_minus_dropped() {
        let caps = effective_caps(&s(&["ALL"]), &s(&["CAP_SYS_ADMIN"]), false).unwrap();
        assert_eq!(caps.len(), grantable_caps().len() - 1);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn unknown_capability_uses_dockers_message() {
        let err = validate_caps(&s(&["foo"]), &[]).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FOO\"");
    }

    #[test]
    fn every_known_cap_converts_to_oci() {
        let all: Vec<String> = CAP_BY_NUMBER.iter().map(|s| s.to_string()).collect();
        assert_eq!(to_oci(&all).unwrap().len(), CAP_BY_NUMBER.len());
    }
}
