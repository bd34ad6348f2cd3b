//! Assembling the OCI spec (Docker's `createSpec` with its `With*` options).

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Linux, LinuxBlockIo, LinuxCapabilities, LinuxCpu, LinuxDeviceCgroup, LinuxMemory,
    LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, PosixRlimitBuilder, Process,
    Root, Spec, User as OciUser,
};

use crate::caps::{effective_caps, to_oci};
use crate::devices::{
    default_cgroup_rules, devices_from_path, host_devices, parse_device_cgroup_rule,
};
use crate::mounts::{build_mounts, INIT_PATH_IN_CONTAINER};
use crate::seccomp::{seccomp_profile, DEFAULT_PROFILE_JSON};
use crate::types::{ContainerSpec, NsMode, Resources, Seccomp};
use crate::validate::parse_ulimit_name;
use crate::SpecError;

/// Docker's default masked paths (`oci/defaults.go`).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Docker's default read-only paths (`oci/defaults.go`).
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// OCI version Docker 20.10 writes.
const OCI_VERSION: &str = "1.0.2-dev";

/// Docker 20.10's default cgroup namespace mode: private on cgroup v2, host on v1.
pub fn default_cgroupns(cgroup_v2: bool) -> NsMode {
    if cgroup_v2 {
        NsMode::Private
    } else {
        NsMode::Host
    }
}

/// The architecture name used for seccomp arch maps on this build.
pub(crate) fn seccomp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        a => a,
    }
}

/// True when this process runs inside a user namespace (runc's `RunningInUserNS`).
fn running_in_userns() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(s) => {
            let f: Vec<&str> = s.split_whitespace().collect();
            !(f.len() == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
        }
        Err(_) => false,
    }
}

fn sysctl_exists(name: &str) -> bool {
    PathBuf::from("/proc/sys")
        .join(name.replace('.', "/"))
        .exists()
}

fn namespaces(c: &ContainerSpec) -> Vec<LinuxNamespace> {
    let mut out = Vec::new();
    let mut ns = |typ: LinuxNamespaceType, mode: &NsMode| {
        let path = match mode {
            NsMode::Host => return,
            NsMode::Private => None,
            NsMode::Path(p) => Some(p.clone()),
        };
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path);
        out.push(n);
    };
    ns(LinuxNamespaceType::Mount, &NsMode::Private);
    ns(LinuxNamespaceType::Network, &c.net);
    ns(LinuxNamespaceType::Uts, &c.uts);
    ns(LinuxNamespaceType::Pid, &c.pid);
    ns(LinuxNamespaceType::Ipc, &c.ipc);
    ns(LinuxNamespaceType::Cgroup, &c.cgroupns);
    out
}

/// Docker's `getMemoryResources`/`getCPUResources`/`getPidsLimit`, plus the
/// create-time default `memory_swap = 2 × memory`. Zero values are left out
/// (Docker writes `shares: 0` and `weight: 0`, which runc ignores but other
/// runtimes may write to the cgroup).
fn resources(r: &Resources, devices: Vec<LinuxDeviceCgroup>) -> LinuxResources {
    let mut mem = LinuxMemory::default();
    if r.memory > 0 {
        mem.set_limit(Some(r.memory));
    }
    if r.memory_reservation > 0 {
        mem.set_reservation(Some(r.memory_reservation));
    }
    let swap = if r.memory > 0 && r.memory_swap == 0 {
        r.memory.saturating_mul(2)
    } else {
        r.memory_swap
    };
    if swap > 0 {
        mem.set_swap(Some(swap));
    }
    if let Some(s) = r.memory_swappiness.filter(|s| (0..=100).contains(s)) {
        mem.set_swappiness(u64::try_from(s).ok());
    }
    mem.set_disable_oom_killer(r.oom_kill_disable);

    let mut cpu = LinuxCpu::default();
    if r.cpu_shares > 0 {
        cpu.set_shares(u64::try_from(r.cpu_shares).ok());
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
    }
    if r.nano_cpus > 0 {
        const PERIOD: u64 = 100_000;
        cpu.set_period(Some(PERIOD));
        cpu.set_quota(Some(
            r.nano_cpus.saturating_mul(PERIOD as i64) / 1_000_000_000,
        ));
    }
    if r.cpu_period != 0 {
        cpu.set_period(u64::try_from(r.cpu_period).ok());
    }
    if r.cpu_quota != 0 {
        cpu.set_quota(Some(r.cpu_quota));
    }

    let mut out = LinuxResources::default();
    out.set_devices(Some(devices));
    out.set_memory(Some(mem));
    out.set_cpu(Some(cpu));
    out.set_pids(r.pids_limit.map(|p| {
        let mut pids = LinuxPids::default();
        pids.set_limit(if p <= 0 { -1 } else { p });
        pids
    }));
    if r.blkio_weight > 0 {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(r.blkio_weight));
        out.set_block_io(Some(b));
    }
    out
}

/// Builds the OCI runtime spec Docker 20.10 would hand to runc for `c`.
pub fn build(c: &ContainerSpec) -> Result<Spec, SpecError> {
    let caps = effective_caps(&c.cap_add, &c.cap_drop, c.privileged)?;

    // --- process
    let mut args = c.args.clone();
    if c.init.is_some() && c.pid == NsMode::Private {
        let mut a = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
        a.append(&mut args);
        args = a;
    }
    let mut user = OciUser::default();
    user.set_uid(c.user.uid);
    user.set_gid(c.user.gid);
    user.set_additional_gids(
        (!c.user.additional_gids.is_empty()).then(|| c.user.additional_gids.clone()),
    );

    let oci_caps = to_oci(&caps)?;
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(oci_caps.clone()));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    if c.user.uid == 0 {
        capabilities.set_effective(Some(oci_caps.clone()));
        capabilities.set_permitted(Some(oci_caps));
    } else {
        // Docker: non-root processes get only the bounding set, as execve would.
        capabilities.set_effective(None);
        capabilities.set_permitted(None);
    }

    let mut rlimits = Vec::with_capacity(c.ulimits.len());
    for u in &c.ulimits {
        let typ = parse_ulimit_name(&u.name)?;
        if u.soft > u.hard && u.hard >= 0 && u.soft >= 0 {
            return Err(SpecError::UlimitRange {
                soft: u.soft,
                hard: u.hard,
            });
        }
        // Docker converts with uint64(), so -1 becomes RLIM_INFINITY.
        let rl = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(u.soft as u64)
            .hard(u.hard as u64)
            .build()?;
        rlimits.push(rl);
    }

    let mut process = Process::default();
    process.set_terminal(Some(c.terminal));
    process.set_console_size(None);
    process.set_user(user);
    process.set_args(Some(args));
    process.set_command_line(None);
    process.set_env(Some(c.env.clone()));
    process.set_cwd(PathBuf::from(if c.cwd.is_empty() { "/" } else { &c.cwd }));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    // libcontainer 0.7 treats Some(false) like Some(true) for seccomp ordering.
    process.set_no_new_privileges(c.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_oom_score_adj(Some(c.oom_score_adj));
    process.set_io_priority(None);
    process.set_scheduler(None);

    // --- root, mounts
    let mut root = Root::default();
    root.set_path(c.rootfs.clone());
    root.set_readonly(Some(c.readonly_rootfs));
    let (mounts, rootfs_propagation) = build_mounts(c)?;

    // --- devices
    let mut devs = Vec::new();
    let dev_perms = if c.privileged && !running_in_userns() {
        devs.extend(host_devices());
        for d in &c.devices {
            if d.path_on_host == d.path_in_container {
                continue;
            }
            devs.extend(devices_from_path(d, "rwm")?.0);
        }
        let mut all = LinuxDeviceCgroup::default();
        all.set_allow(true);
        all.set_access(Some("rwm".into()));
        vec![all]
    } else {
        let mut perms = default_cgroup_rules();
        for d in &c.devices {
            let (dv, p) = devices_from_path(d, &d.cgroup_permissions)?;
            devs.extend(dv);
            perms.extend(p);
        }
        for rule in &c.device_cgroup_rules {
            perms.push(parse_device_cgroup_rule(rule)?);
        }
        perms
    };

    // --- sysctls
    let mut sysctl: HashMap<String, String> = HashMap::new();
    if !c.domainname.is_empty() && c.uts != NsMode::Host {
        sysctl.insert("kernel.domainname".into(), c.domainname.clone());
    }
    if c.net == NsMode::Private {
        if !running_in_userns() && sysctl_exists("net.ipv4.ping_group_range") {
            sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        }
        if sysctl_exists("net.ipv4.ip_unprivileged_port_start") {
            sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        }
    }
    for (k, v) in &c.sysctls {
        sysctl.insert(k.clone(), v.clone());
    }

    // --- seccomp
    let seccomp = if c.privileged {
        None
    } else {
        match &c.seccomp {
            Seccomp::Unconfined => None,
            Seccomp::Default => seccomp_profile(DEFAULT_PROFILE_JSON, &caps, seccomp_arch())?,
            Seccomp::Profile(j) => seccomp_profile(j, &caps, seccomp_arch())?,
        }
    };

    let to_vec = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let masked = match &c.masked_paths {
        Some(v) => v.clone(),
        None if c.privileged => Vec::new(),
        None => to_vec(DEFAULT_MASKED_PATHS),
    };
    let readonly = match &c.readonly_paths {
        Some(v) => v.clone(),
        None if c.privileged => Vec::new(),
        None => to_vec(DEFAULT_READONLY_PATHS),
    };

    let mut linux = Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
    linux.set_resources(Some(resources(&c.resources, dev_perms)));
    linux.set_cgroups_path((!c.cgroups_path.is_empty()).then(|| PathBuf::from(&c.cgroups_path)));
    linux.set_namespaces(Some(namespaces(c)));
    linux.set_devices(Some(devs));
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(rootfs_propagation);
    linux.set_masked_paths(Some(masked));
    linux.set_readonly_paths(Some(readonly));
    linux.set_mount_label(None);

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts));
    spec.set_process(Some(process));
    spec.set_hostname(if c.uts == NsMode::Host || c.hostname.is_empty() {
        None
    } else {
        Some(c.hostname.clone())
    });
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations((!c.annotations.is_empty()).then(|| {
        c.annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }));
    spec.set_linux(Some(linux));
    Ok(spec)
}
