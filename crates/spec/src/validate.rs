//! Validation with Docker's (and runc's) messages: resources
//! (`verifyPlatformContainerResources`), sysctls, ulimit names.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::runtime::PosixRlimitType;

use crate::types::{NsMode, Resources};
use crate::SpecError;

/// Docker's `linuxMinMemory` (6 MiB).
pub const MIN_MEMORY: i64 = 6_291_456;

/// What the host supports (Docker's `sysinfo.SysInfo` subset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCaps {
    /// CPUs available to this process (sched_getaffinity).
    pub ncpu: usize,
    /// cgroup v2 (unified) hierarchy.
    pub cgroup_v2: bool,
    /// Memory limit supported.
    pub memory_limit: bool,
    /// Swap limit supported.
    pub swap_limit: bool,
    /// Memory reservation supported.
    pub memory_reservation: bool,
    /// Memory swappiness supported (v1 only).
    pub memory_swappiness: bool,
    /// OOM-kill disable supported (v1 only).
    pub oom_kill_disable: bool,
    /// Pids limit supported.
    pub pids_limit: bool,
    /// CPU shares supported.
    pub cpu_shares: bool,
    /// CFS period/quota supported.
    pub cpu_cfs: bool,
    /// cpuset supported.
    pub cpuset: bool,
    /// Available CPUs, e.g. "0-3".
    pub cpus: String,
    /// Available memory nodes, e.g. "0".
    pub mems: String,
    /// Block IO weight supported.
    pub blkio_weight: bool,
}

impl HostCaps {
    /// A host supporting everything, with `ncpu` CPUs and one memory node.
    pub fn all(ncpu: usize) -> HostCaps {
        HostCaps {
            ncpu,
            cgroup_v2: true,
            memory_limit: true,
            swap_limit: true,
            memory_reservation: true,
            memory_swappiness: true,
            oom_kill_disable: true,
            pids_limit: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpuset: true,
            cpus: if ncpu == 0 {
                String::new()
            } else {
                format!("0-{}", ncpu - 1)
            },
            mems: "0".into(),
            blkio_weight: true,
        }
    }

    /// Probes /sys/fs/cgroup like Docker's `pkg/sysinfo` (coarsely).
    pub fn detect() -> HostCaps {
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        };
        let exists = |p: &str| std::path::Path::new(p).exists();
        if let Some(ctrls) = read("/sys/fs/cgroup/cgroup.controllers") {
            let has = |c: &str| ctrls.split_whitespace().any(|x| x == c);
            let cpuset = has("cpuset");
            HostCaps {
                ncpu,
                cgroup_v2: true,
                memory_limit: has("memory"),
                swap_limit: has("memory"),
                memory_reservation: has("memory"),
                memory_swappiness: false,
                oom_kill_disable: false,
                pids_limit: has("pids"),
                cpu_shares: has("cpu"),
                cpu_cfs: has("cpu"),
                cpuset,
                cpus: read("/sys/fs/cgroup/cpuset.cpus.effective").unwrap_or_default(),
                mems: read("/sys/fs/cgroup/cpuset.mems.effective").unwrap_or_default(),
                blkio_weight: has("io"),
            }
        } else {
            let m = "/sys/fs/cgroup/memory/";
            HostCaps {
                ncpu,
                cgroup_v2: false,
                memory_limit: exists(&format!("{m}memory.limit_in_bytes")),
                swap_limit: exists(&format!("{m}memory.memsw.limit_in_bytes")),
                memory_reservation: exists(&format!("{m}memory.soft_limit_in_bytes")),
                memory_swappiness: exists(&format!("{m}memory.swappiness")),
                oom_kill_disable: exists(&format!("{m}memory.oom_control")),
                pids_limit: exists("/sys/fs/cgroup/pids"),
                cpu_shares: exists("/sys/fs/cgroup/cpu/cpu.shares"),
                cpu_cfs: exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                cpuset: exists("/sys/fs/cgroup/cpuset"),
                cpus: read("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap_or_default(),
                mems: read("/sys/fs/cgroup/cpuset/cpuset.mems").unwrap_or_default(),
                blkio_weight: exists("/sys/fs/cgroup/blkio/blkio.weight"),
            }
        }
    }
}

/// Most elements a cpuset list may expand to (Docker's 8192 default maximum).
const CPUSET_MAX: usize = 8192;

/// moby's `parsers.ParseUintListMaximum` ("0-2,5"); values over `maximum` are
/// an error when `maximum` is non-zero.
pub fn parse_cpuset(val: &str, maximum: usize) -> Result<BTreeSet<usize>, SpecError> {
    let mut out = BTreeSet::new();
    if val.is_empty() {
        return Ok(out);
    }
    let invalid = || SpecError::InvalidResources(format!("invalid format: {val}"));
    let range =
        |max: usize| SpecError::InvalidResources(format!("value of out range, maximum is {max}"));
    // Without a maximum (parsing the host's own list) still bound the expansion.
    let cap = if maximum == 0 {
        CPUSET_MAX * 8
    } else {
        maximum
    };
    for r in val.split(',') {
        let (lo, hi) = match r.split_once('-') {
            None => {
                let v: usize = r.parse().map_err(|_| invalid())?;
                (v, v)
            }
            Some((a, b)) => {
                let a: usize = a.parse().map_err(|_| invalid())?;
                let b: usize = b.parse().map_err(|_| invalid())?;
                if b < a {
                    return Err(invalid());
                }
                (a, b)
            }
        };
        if hi > cap {
            return Err(range(cap));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

fn cpuset_available(provided: &str, available: &str) -> Result<bool, SpecError> {
    let avail = parse_cpuset(available, 0)?;
    let max = avail
        .iter()
        .next_back()
        .copied()
        .unwrap_or(0)
        .max(CPUSET_MAX);
    let prov = parse_cpuset(provided, max)?;
    Ok(prov.iter().all(|k| avail.contains(k)))
}

/// Docker's `verifyPlatformContainerResources` (create, not update): returns
/// warnings, or the first error with Docker's exact message. Settings the
/// host cannot honour produce Docker's warnings (the engine should then drop them).
pub fn validate_resources(r: &Resources, host: &HostCaps) -> Result<Vec<String>, SpecError> {
    let mut w: Vec<String> = Vec::new();
    let err = |m: &str| Err(SpecError::InvalidResources(m.to_string()));
    let mut r = r.clone();

    if r.memory != 0 && r.memory < MIN_MEMORY {
        return err("Minimum memory limit allowed is 6MB");
    }
    if r.memory > 0 && !host.memory_limit {
        w.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        r.memory = 0;
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_swap != -1 && !host.swap_limit {
        w.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return err("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return err(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        );
    }
    if r.memory_swappiness.is_some() && !host.memory_swappiness {
        w.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
        r.memory_swappiness = None;
    }
    if let Some(s) = r.memory_swappiness {
        // Docker's fixMemorySwappiness turns -1 into "unset".
        if s != -1 && !(0..=100).contains(&s) {
            return Err(SpecError::InvalidResources(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if r.memory_reservation > 0 && !host.memory_reservation {
        w.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        r.memory_reservation = 0;
    }
    if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY {
        return err("Minimum memory reservation allowed is 6MB");
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return err(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        );
    }
    if r.oom_kill_disable.is_some() && !host.oom_kill_disable {
        if r.oom_kill_disable == Some(true) {
            w.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
        }
        r.oom_kill_disable = None;
    }
    if r.oom_kill_disable == Some(true) && r.memory == 0 {
        w.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
    }
    if let Some(p) = r.pids_limit {
        if !host.pids_limit && p > 0 {
            w.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
        }
    }

    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return err("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return err("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    if r.nano_cpus > 0 && !host.cpu_cfs {
        return err("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted");
    }
    let ncpu = i64::try_from(host.ncpu).unwrap_or(i64::MAX);
    if r.nano_cpus < 0 || r.nano_cpus > ncpu.saturating_mul(1_000_000_000) {
        return Err(SpecError::InvalidResources(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
            n = host.ncpu
        )));
    }
    if r.cpu_shares > 0 && !host.cpu_shares {
        w.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.".into());
    }
    if (r.cpu_period != 0 || r.cpu_quota != 0) && !host.cpu_cfs {
        w.push(
            "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.".into(),
        );
        r.cpu_period = 0;
        r.cpu_quota = 0;
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return err(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        );
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return err("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }

    if (!r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty()) && !host.cpuset {
        w.push(
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
                .into(),
        );
        r.cpuset_cpus.clear();
        r.cpuset_mems.clear();
    }
    let ok = cpuset_available(&r.cpuset_cpus, &host.cpus).map_err(|e| {
        SpecError::InvalidResources(format!(
            "Invalid value {} for cpuset cpus: {e}",
            r.cpuset_cpus
        ))
    })?;
    if !ok {
        return Err(SpecError::InvalidResources(format!(
            "Requested CPUs are not available - requested {}, available: {}",
            r.cpuset_cpus, host.cpus
        )));
    }
    let ok = cpuset_available(&r.cpuset_mems, &host.mems).map_err(|e| {
        SpecError::InvalidResources(format!(
            "Invalid value {} for cpuset mems: {e}",
            r.cpuset_mems
        ))
    })?;
    if !ok {
        return Err(SpecError::InvalidResources(format!(
            "Requested memory nodes are not available - requested {}, available: {}",
            r.cpuset_mems, host.mems
        )));
    }

    if r.blkio_weight > 0 && !host.blkio_weight {
        w.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
        r.blkio_weight = 0;
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return err("Range of blkio weight is from 10 to 1000");
    }
    Ok(w)
}

/// Docker's host-config checks next to the resource ones.
pub fn validate_shm_and_oom(shm_size: i64, oom_score_adj: i32) -> Result<(), SpecError> {
    if shm_size < 0 {
        return Err(SpecError::InvalidResources(
            "SHM size can not be less than 0".into(),
        ));
    }
    if !(-1000..=1000).contains(&oom_score_adj) {
        return Err(SpecError::InvalidResources(format!(
            "Invalid value {oom_score_adj}, range for oom score adj is [-1000, 1000]"
        )));
    }
    Ok(())
}

/// runc's sysctl validation: IPC sysctls need a private IPC namespace, `net.*`
/// a non-host network namespace, `kernel.domainname` a UTS namespace;
/// anything else is not namespaced and refused.
pub fn validate_sysctls(
    sysctls: &BTreeMap<String, String>,
    ipc: &NsMode,
    net: &NsMode,
    uts: &NsMode,
) -> Result<(), SpecError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for k in sysctls.keys() {
        if IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if *ipc != NsMode::Host {
                continue;
            }
            return Err(SpecError::InvalidSysctl(format!(
                "sysctl {k:?} is not allowed in the hosts ipc namespace"
            )));
        }
        if k.starts_with("net.") {
            if *net != NsMode::Host {
                continue;
            }
            return Err(SpecError::InvalidSysctl(format!(
                "sysctl {k:?} is not allowed in the hosts network namespace"
            )));
        }
        if *uts != NsMode::Host {
            match k.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(SpecError::InvalidSysctl(format!(
                    "sysctl {k:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                )))
                }
                _ => {}
            }
        }
        return Err(SpecError::InvalidSysctl(format!(
            "sysctl {k:?} is not in a separate kernel namespace"
        )));
    }
    Ok(())
}

/// Maps a Docker ulimit name (go-units' table; "as" is disabled there too)
/// to its rlimit.
pub fn parse_ulimit_name(name: &str) -> Result<PosixRlimitType, SpecError> {
    Ok(match name {
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        _ => return Err(SpecError::InvalidUlimit(name.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host2() -> HostCaps {
        HostCaps::all(2)
    }

    fn msg(r: Resources) -> String {
        validate_resources(&r, &host2()).unwrap_err().to_string()
    }

    #[test]
    fn resource_messages_match_docker() {
        assert_eq!(
            msg(Resources {
                memory: 1024,
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            msg(Resources {
                memory: 10 << 20,
                memory_swap: 8 << 20,
                ..Default::default()
            }),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            msg(Resources {
                memory_swap: 8 << 20,
                ..Default::default()
            }),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        assert_eq!(
            msg(Resources {
                nano_cpus: 3_000_000_000,
                ..Default::default()
            }),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(
            msg(Resources {
                nano_cpus: 1,
                cpu_period: 1000,
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
        assert_eq!(
            msg(Resources {
                nano_cpus: 1,
                cpu_quota: 1000,
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
        assert_eq!(
            msg(Resources {
                cpuset_cpus: "0-9".into(),
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 0-9, available: 0-1"
        );
        assert_eq!(
            msg(Resources {
                cpuset_cpus: "a".into(),
                ..Default::default()
            }),
            "Invalid value a for cpuset cpus: invalid format: a"
        );
        assert_eq!(
            msg(Resources {
                cpuset_mems: "1".into(),
                ..Default::default()
            }),
            "Requested memory nodes are not available - requested 1, available: 0"
        );
        assert_eq!(
            msg(Resources {
                blkio_weight: 5,
                ..Default::default()
            }),
            "Range of blkio weight is from 10 to 1000"
        );
        assert_eq!(
            msg(Resources {
                cpu_period: 10,
                ..Default::default()
            }),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
        assert_eq!(
            msg(Resources {
                cpu_quota: 10,
                ..Default::default()
            }),
            "CPU cfs quota can not be less than 1ms (i.e. 1000)"
        );
        assert_eq!(
            msg(Resources {
                memory: 10 << 20,
                memory_reservation: 20 << 20,
                ..Default::default()
            }),
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        );
    }

    #[test]
    fn valid_resources_pass_and_warn() {
        let w = validate_resources(
            &Resources {
                memory: 64 << 20,
                nano_cpus: 1_500_000_000,
                cpuset_cpus: "0,1".into(),
                ..Default::default()
            },
            &host2(),
        )
        .unwrap();
        assert!(w.is_empty());
        let w = validate_resources(
            &Resources {
                oom_kill_disable: Some(true),
                ..Default::default()
            },
            &host2(),
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        let mut h = host2();
        h.memory_limit = false;
        let w = validate_resources(
            &Resources {
                memory: 64 << 20,
                ..Default::default()
            },
            &h,
        )
        .unwrap();
        assert!(w[0].starts_with("Your kernel does not support memory limit"));
    }

    #[test]
    fn cpuset_parsing() {
        assert_eq!(
            parse_cpuset("0-2,5", 0)
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec![0, 1, 2, 5]
        );
        assert!(parse_cpuset("3-1", 0).is_err());
        assert_eq!(
            parse_cpuset("9000", 8192).unwrap_err().to_string(),
            "value of out range, maximum is 8192"
        );
        assert!(parse_cpuset("0-99999999999", 0).is_err());
    }

    #[test]
    fn sysctl_rules() {
        let one = |k: &str| BTreeMap::from([(k.to_string(), "1".to_string())]);
        let p = NsMode::Private;
        assert!(validate_sysctls(&one("net.ipv4.ip_forward"), &p, &p, &p).is_ok());
        assert!(validate_sysctls(&one("kernel.shmmax"), &p, &p, &p).is_ok());
        assert_eq!(
            validate_sysctls(&one("net.ipv4.ip_forward"), &p, &NsMode::Host, &p)
                .unwrap_err()
                .to_string(),
            "sysctl \"net.ipv4.ip_forward\" is not allowed in the hosts network namespace"
        );
        assert_eq!(
            validate_sysctls(&one("kernel.hostname"), &p, &p, &p).unwrap_err().to_string(),
            "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field"
        );
        assert_eq!(
            validate_sysctls(&one("vm.swappiness"), &p, &p, &p)
                .unwrap_err()
                .to_string(),
            "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
        );
    }

    #[test]
    fn ulimit_names() {
        assert_eq!(
            parse_ulimit_name("nofile").unwrap(),
            PosixRlimitType::RlimitNofile
        );
        assert_eq!(
            parse_ulimit_name("as").unwrap_err().to_string(),
            "invalid ulimit type: as"
        );
    }

    #[test]
    fn shm_and_oom() {
        assert_eq!(
            validate_shm_and_oom(-1, 0).unwrap_err().to_string(),
            "SHM size can not be less than 0"
        );
        assert!(validate_shm_and_oom(0, 1001).is_err());
        assert!(validate_shm_and_oom(0, -1000).is_ok());
    }
}
