//! Host facts for `/info` and `/version`, read from /proc, /sys and uname.
//!
//! The parsers are pure functions over file contents (tested below); the
//! readers around them treat a missing file as "feature absent", as Docker
//! does, and never fail the whole answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use api::types::{
    Commit, IndexInfo, PluginsInfo, RegistryConfig, Runtime, SwarmInfo, SystemInfo, SystemVersion,
};
use api::version;

use crate::{Engine, EngineConfig};

/// What the cgroup hierarchy lets us limit, as Docker's `sysinfo` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupInfo {
    /// "1" or "2".
    pub version: &'static str,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub kernel_memory: bool,
    pub kernel_memory_tcp: bool,
    pub oom_kill_disable: bool,
    pub cpu_cfs: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub pids_limit: bool,
    pub blkio_weight: bool,
    pub blkio_weight_device: bool,
    pub blkio_read_bps: bool,
    pub blkio_write_bps: bool,
    pub blkio_read_iops: bool,
    pub blkio_write_iops: bool,
}

/// The value of `KEY=` in an os-release file, quotes and blanks trimmed;
/// the last occurrence wins, as in Docker.
pub fn os_release_value(content: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    content
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .next_back()
        .map(|v| {
            v.trim_matches(|c| c == '"' || c == '\'' || c == ' ')
                .to_string()
        })
}

/// Docker's containerised check: any line of /proc/1/cgroup that is not the
/// root or `init.scope` means PID 1 runs in a container.
pub fn is_containerized(proc1_cgroup: &str) -> bool {
    proc1_cgroup
        .lines()
        .any(|l| !l.is_empty() && !l.ends_with(":/") && !l.ends_with(":/init.scope"))
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub fn mem_total(meminfo: &str) -> Option<i64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        let kib: i64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// Whether the host runs the unified cgroup hierarchy (v2) only.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Mount points of cgroup v1 controllers, from /proc/self/mountinfo.
pub fn cgroup_v1_mounts(mountinfo: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in mountinfo.lines() {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let Some(mountpoint) = left.split(' ').nth(4) else {
            continue;
        };
        for opt in super_opts.split(',') {
            let name = opt.strip_prefix("name=").unwrap_or(opt);
            if matches!(
                name,
                "memory" | "cpu" | "cpuacct" | "cpuset" | "pids" | "blkio" | "devices" | "freezer"
            ) {
                out.entry(name.to_string()).or_insert_with(|| {
                    use std::os::unix::ffi::OsStringExt;
                    PathBuf::from(std::ffi::OsString::from_vec(store::unescape_mountinfo(
                        mountpoint,
                    )))
                });
            }
        }
    }
    out
}

/// Probes the cgroup hierarchy mounted at `root` (normally /sys/fs/cgroup).
pub fn probe_cgroups(root: &Path, mountinfo: &str) -> CgroupInfo {
    if root.join("cgroup.controllers").exists() {
        let controllers =
            std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        let io = has("io");
        return CgroupInfo {
            version: "2",
            memory_limit: has("memory"),
            // memory.swap.max lives in child groups only; Docker checks the
            // kernel's swap accounting the same way.
            swap_limit: has("memory") && swap_accounting_v2(root),
            kernel_memory: false,
            kernel_memory_tcp: false,
            oom_kill_disable: false,
            cpu_cfs: has("cpu"),
            cpu_shares: has("cpu"),
            cpuset: has("cpuset"),
            pids_limit: has("pids"),
            blkio_weight: io,
            blkio_weight_device: io,
            blkio_read_bps: io,
            blkio_write_bps: io,
            blkio_read_iops: io,
            blkio_write_iops: io,
        };
    }
    let mounts = cgroup_v1_mounts(mountinfo);
    let file = |ctl: &str, f: &str| mounts.get(ctl).is_some_and(|m| m.join(f).exists());
    CgroupInfo {
        version: "1",
        memory_limit: file("memory", "memory.limit_in_bytes"),
        swap_limit: file("memory", "memory.memsw.limit_in_bytes"),
        kernel_memory: file("memory", "memory.kmem.limit_in_bytes"),
        kernel_memory_tcp: file("memory", "memory.kmem.tcp.limit_in_bytes"),
        oom_kill_disable: file("memory", "memory.oom_control"),
        cpu_cfs: file("cpu", "cpu.cfs_quota_us") && file("cpu", "cpu.cfs_period_us"),
        cpu_shares: file("cpu", "cpu.shares"),
        cpuset: mounts.contains_key("cpuset"),
        pids_limit: mounts.contains_key("pids"),
        blkio_weight: file("blkio", "blkio.weight"),
        blkio_weight_device: file("blkio", "blkio.weight_device"),
        blkio_read_bps: file("blkio", "blkio.throttle.read_bps_device"),
        blkio_write_bps: file("blkio", "blkio.throttle.write_bps_device"),
        blkio_read_iops: file("blkio", "blkio.throttle.read_iops_device"),
        blkio_write_iops: file("blkio", "blkio.throttle.write_iops_device"),
    }
}

fn swap_accounting_v2(root: &Path) -> bool {
    // Any child group with memory.swap.max shows the kernel accounts swap.
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("memory.swap.max").exists())
}

/// Docker's warnings for the limits a host cannot enforce, in its order.
pub fn cgroup_warnings(c: &CgroupInfo) -> Vec<String> {
    let v2 = c.version == "2";
    let mut w = Vec::new();
    let mut warn = |cond: bool, msg: &str| {
        if !cond {
            w.push(format!("WARNING: {msg}"));
        }
    };
    warn(c.memory_limit, "No memory limit support");
    warn(c.swap_limit, "No swap limit support");
    warn(
        c.kernel_memory_tcp || v2,
        "No kernel memory TCP limit support",
    );
    warn(c.oom_kill_disable || v2, "No oom kill disable support");
    warn(c.cpu_cfs, "No cpu cfs quota support");
    warn(c.cpu_cfs, "No cpu cfs period support");
    warn(c.cpu_shares, "No cpu shares support");
    warn(c.cpuset, "No cpuset support");
    if v2 {
        warn(c.blkio_weight, "No io.weight support");
        warn(c.blkio_weight_device, "No io.weight (per device) support");
        warn(c.blkio_read_bps, "No io.max (rbps) support");
        warn(c.blkio_write_bps, "No io.max (wbps) support");
        warn(c.blkio_read_iops, "No io.max (riops) support");
        warn(c.blkio_write_iops, "No io.max (wiops) support");
    } else {
        warn(
            c.blkio_read_bps,
            "No blkio throttle.read_bps_device support",
        );
        warn(
            c.blkio_write_bps,
            "No blkio throttle.write_bps_device support",
        );
        warn(
            c.blkio_read_iops,
            "No blkio throttle.read_iops_device support",
        );
        warn(
            c.blkio_write_iops,
            "No blkio throttle.write_iops_device support",
        );
    }
    w
}

/// The name Docker gives a file system's magic number in `DriverStatus`.
pub fn fs_name(magic: i64) -> &'static str {
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0xF2F5_2010 => "f2fs",
        0x5346_544E => "ntfs",
        0x4D44 => "msdos",
        0x6969 => "nfs",
        0x858458F6 => "ramfs",
        0x7361_7173 => "squashfs",
        0x2473_3A26 => "ecryptfs",
        _ => "<unknown>",
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn proc_bool(path: &str) -> bool {
    read(path).trim() == "1"
}

fn count_entries(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().count() as i64)
        .unwrap_or(0)
}

fn uname() -> (String, String) {
    let u = nix::sys::utsname::uname();
    match u {
        Ok(u) => (
            u.release().to_string_lossy().into_owned(),
            u.machine().to_string_lossy().into_owned(),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

/// The CPUs this process may run on, as Go's `runtime.NumCPU` counts them.
fn num_cpus() -> i64 {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count() as i64,
        Err(_) => std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
    }
}

/// Docker's d_type check: files created in `dir` must come back from
/// readdir with a real type, or overlayfs misbehaves.
fn supports_d_type(dir: &Path) -> bool {
    let Ok(tmp) = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::create_dir(dir.join(format!(".d_type-{}", std::process::id()))))
        .map(|_| dir.join(format!(".d_type-{}", std::process::id())))
    else {
        return false;
    };
    let ok = std::fs::write(tmp.join("f"), b"").is_ok()
        && nix::dir::Dir::open(
            &tmp,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .map(|mut d| {
            d.iter()
                .flatten()
                .filter(|e| e.file_name().to_bytes() == b"f")
                .all(|e| e.file_type().is_some())
        })
        .unwrap_or(false);
    let _ = std::fs::remove_dir_all(&tmp);
    ok
}

fn driver_status(config: &EngineConfig) -> Vec<[String; 2]> {
    let backing = nix::sys::statfs::statfs(&config.data_root)
        .map(|s| {
            fs_name(
                // i64 on 64-bit glibc, i32 on 32-bit ARM: widen portably.
                #[allow(clippy::useless_conversion)]
                i64::from(s.filesystem_type().0),
            )
        })
        .unwrap_or("<unknown>");
    vec![
        ["Backing Filesystem".to_string(), backing.to_string()],
        [
            "Supports d_type".to_string(),
            supports_d_type(&config.data_root.join("tmp")).to_string(),
        ],
    ]
}

fn kernel_version() -> String {
    uname().0
}

/// `GET /version` for this engine.
pub fn system_version(config: &EngineConfig) -> SystemVersion {
    let kernel = kernel_version();
    let experimental = config.experimental.to_string();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", version::DEFAULT_VERSION.to_string()),
        ("MinAPIVersion", version::MIN_VERSION.to_string()),
        ("GitCommit", version::GIT_COMMIT.to_string()),
        ("GoVersion", format!("rustc {}", version::RUSTC_VERSION)),
        ("Os", std::env::consts::OS.to_string()),
        ("Arch", go_arch().to_string()),
        ("BuildTime", version::BUILD_TIME.to_string()),
        ("KernelVersion", kernel.clone()),
        ("Experimental", experimental),
        ("EngineVersion", version::ENGINE_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    SystemVersion {
        platform: api::types::Platform {
            name: version::PLATFORM_NAME.to_string(),
        },
        components: vec![api::types::ComponentVersion {
            name: "Engine".to_string(),
            version: version::COMPAT_VERSION.to_string(),
            details: Some(details),
        }],
        engine: version::ENGINE_NAME.to_string(),
        version: version::COMPAT_VERSION.to_string(),
        api_version: version::DEFAULT_VERSION.to_string(),
        min_api_version: version::MIN_VERSION.to_string(),
        git_commit: version::GIT_COMMIT.to_string(),
        go_version: format!("rustc {}", version::RUSTC_VERSION),
        os: std::env::consts::OS.to_string(),
        arch: go_arch().to_string(),
        kernel_version: kernel,
        experimental: config.experimental,
        build_time: version::BUILD_TIME.to_string(),
    }
}

/// Go's name for our architecture (what clients expect in `Arch`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

fn env_any(names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default()
}

/// Hides the password of a proxy URL, as Docker does (`user:xxxxx@`).
pub fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split(':').next().unwrap_or("");
    format!("{scheme}://{user}:xxxxx@{host}")
}

/// `GET /info` for this engine.
pub fn system_info(engine: &Engine, tasks: usize) -> SystemInfo {
    let config = engine.config();
    let (kernel, machine) = uname();
    let os_release = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let mut operating_system =
        os_release_value(&os_release, "PRETTY_NAME").unwrap_or_else(|| "Linux".to_string());
    if operating_system.is_empty() {
        operating_system = "Linux".to_string();
    }
    if is_containerized(&read("/proc/1/cgroup")) {
        operating_system.push_str(" (containerized)");
    }
    let cg = probe_cgroups(Path::new("/sys/fs/cgroup"), &read("/proc/self/mountinfo"));
    let mut warnings = cgroup_warnings(&cg);
    let ipv4_forwarding = proc_bool("/proc/sys/net/ipv4/ip_forward");
    let nf_ip = proc_bool("/proc/sys/net/bridge/bridge-nf-call-iptables");
    let nf_ip6 = proc_bool("/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    if !ipv4_forwarding {
        warnings.push("WARNING: IPv4 forwarding is disabled".to_string());
    }
    if !nf_ip {
        warnings.push("WARNING: bridge-nf-call-iptables is disabled".to_string());
    }
    if !nf_ip6 {
        warnings.push("WARNING: bridge-nf-call-ip6tables is disabled".to_string());
    }

    let image_dir = config
        .data_root
        .join("image")
        .join(&config.storage_driver)
        .join("imagedb/content/sha256");
    let containers = count_entries(&config.data_root.join("containers"));

    let mut security_options = Vec::new();
    if read("/sys/module/apparmor/parameters/enabled").trim() == "Y" {
        security_options.push("name=apparmor".to_string());
    }
    if read("/proc/self/status").contains("\nSeccomp:") {
        let profile = config
            .seccomp_profile
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "default".to_string());
        security_options.push(format!("name=seccomp,profile={profile}"));
    }
    if cg.version == "2" {
        security_options.push("name=cgroupns".to_string());
    }

    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".to_string(),
            mirrors: config.registry_mirrors.clone(),
            secure: true,
            official: true,
        },
    );
    let mut insecure_cidrs = vec!["127.0.0.0/8".to_string()];
    for r in &config.insecure_registries {
        if r.contains('/') {
            insecure_cidrs.push(r.clone());
        } else {
            index_configs.insert(
                r.clone(),
                IndexInfo {
                    name: r.clone(),
                    mirrors: Vec::new(),
                    secure: false,
                    official: false,
                },
            );
        }
    }

    let mut runtimes = BTreeMap::new();
    runtimes.insert(
        "runc".to_string(),
        Runtime {
            path: "balena-engine-runc".to_string(),
            runtime_args: None,
        },
    );
    let commit = Commit {
        id: version::GIT_COMMIT.to_string(),
        expected: version::GIT_COMMIT.to_string(),
    };

    SystemInfo {
        id: engine.id().to_string(),
        containers,
        containers_running: 0,
        containers_paused: 0,
        containers_stopped: containers,
        images: count_entries(&image_dir),
        driver: config.storage_driver.clone(),
        driver_status: driver_status(config),
        plugins: PluginsInfo {
            volume: vec!["local".to_string()],
            network: vec!["bridge".to_string(), "host".to_string(), "null".to_string()],
            authorization: None,
            log: vec![
                "journald".to_string(),
                "json-file".to_string(),
                "local".to_string(),
            ],
        },
        memory_limit: cg.memory_limit,
        swap_limit: cg.swap_limit,
        kernel_memory: cg.kernel_memory,
        kernel_memory_tcp: cg.kernel_memory_tcp,
        cpu_cfs_period: cg.cpu_cfs,
        cpu_cfs_quota: cg.cpu_cfs,
        cpu_shares: cg.cpu_shares,
        cpu_set: cg.cpuset,
        pids_limit: cg.pids_limit,
        ipv4_forwarding,
        bridge_nf_iptables: nf_ip,
        bridge_nf_ip6tables: nf_ip6,
        debug: config.debug,
        nfd: count_entries(Path::new("/proc/self/fd")),
        oom_kill_disable: cg.oom_kill_disable,
        n_goroutines: tasks as i64,
        system_time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        logging_driver: config.log_driver.clone(),
        cgroup_driver: "cgroupfs".to_string(),
        cgroup_version: cg.version.to_string(),
        n_events_listener: engine.events_listeners() as i64,
        kernel_version: kernel,
        operating_system,
        os_version: os_release_value(&os_release, "VERSION_ID").unwrap_or_default(),
        os_type: std::env::consts::OS.to_string(),
        architecture: machine,
        index_server_address: "https://index.docker.io/v1/".to_string(),
        registry_config: Some(RegistryConfig {
            allow_nondistributable_artifacts_cidrs: Vec::new(),
            allow_nondistributable_artifacts_hostnames: Vec::new(),
            insecure_registry_cidrs: insecure_cidrs,
            index_configs,
            mirrors: config.registry_mirrors.clone(),
        }),
        ncpu: num_cpus(),
        mem_total: mem_total(&read("/proc/meminfo")).unwrap_or(0),
        generic_resources: None,
        docker_root_dir: config.data_root.display().to_string(),
        http_proxy: mask_credentials(&env_any(&["HTTP_PROXY", "http_proxy"])),
        https_proxy: mask_credentials(&env_any(&["HTTPS_PROXY", "https_proxy"])),
        no_proxy: env_any(&["NO_PROXY", "no_proxy"]),
        name: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        labels: config.labels.clone(),
        experimental_build: config.experimental,
        server_version: version::COMPAT_VERSION.to_string(),
        runtimes,
        default_runtime: config.default_runtime.clone(),
        swarm: SwarmInfo::default(),
        live_restore_enabled: config.live_restore,
        isolation: String::new(),
        init_binary: config.init_binary.clone(),
        containerd_commit: commit.clone(),
        runc_commit: commit.clone(),
        init_commit: commit,
        security_options,
        default_address_pools: None,
        warnings: Some(warnings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_reads_quoted_values() {
        let s = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n";
        assert_eq!(
            os_release_value(s, "PRETTY_NAME").unwrap(),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(os_release_value(s, "VERSION_ID").unwrap(), "12");
        assert_eq!(os_release_value(s, "ID"), None);
    }

    #[test]
    fn os_release_last_occurrence_wins() {
        assert_eq!(os_release_value("ID=a\nID='b'\n", "ID").unwrap(), "b");
    }

    #[test]
    fn containerized_when_pid1_is_not_in_the_root_cgroup() {
        assert!(!is_containerized("0::/init.scope\n"));
        assert!(!is_containerized("12:memory:/\n0::/\n"));
        assert!(is_containerized("0::/docker/abc\n"));
    }

    #[test]
    fn meminfo_total_is_in_bytes() {
        let s = "MemTotal:       24532184 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total(s), Some(24_532_184 * 1024));
        assert_eq!(mem_total("nothing"), None);
    }

    #[test]
    fn cgroup_v1_mounts_are_found_by_super_options() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct\n\
                  32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  33 25 0:29 / /sys/fs/cgroup/sys\\040tem rw - cgroup cgroup rw,name=systemd\n";
        let m = cgroup_v1_mounts(mi);
        assert_eq!(m["memory"], PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(m["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m["cpuacct"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(!m.contains_key("systemd"));
        assert!(!m.contains_key("unified"));
    }

    #[test]
    fn mountinfo_octal_escapes_are_decoded() {
        assert_eq!(store::unescape_mountinfo("/a\\040b"), b"/a b");
        assert_eq!(store::unescape_mountinfo("/a\\"), b"/a\\");
        assert_eq!(store::unescape_mountinfo("/plain"), b"/plain");
    }

    #[test]
    fn v1_probe_reads_controller_files() {
        let dir = tempfile::tempdir().unwrap();
        let mem = dir.path().join("memory");
        std::fs::create_dir(&mem).unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "").unwrap();
        std::fs::write(mem.join("memory.oom_control"), "").unwrap();
        let mi = format!(
            "30 25 0:26 / {} rw - cgroup cgroup rw,memory\n",
            mem.display()
        );
        let c = probe_cgroups(dir.path(), &mi);
        assert_eq!(c.version, "1");
        assert!(c.memory_limit);
        assert!(c.oom_kill_disable);
        assert!(!c.swap_limit);
        assert!(!c.pids_limit);
        let w = cgroup_warnings(&c);
        assert!(w.contains(&"WARNING: No swap limit support".to_string()));
        assert!(!w.contains(&"WARNING: No memory limit support".to_string()));
        assert!(w.contains(&"WARNING: No blkio throttle.read_bps_device support".to_string()));
    }

    #[test]
    fn v2_probe_reads_the_controller_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        let c = probe_cgroups(dir.path(), "");
        assert_eq!(c.version, "2");
        assert!(c.memory_limit && c.cpu_shares && c.cpu_cfs && c.pids_limit);
        assert!(!c.cpuset);
        let w = cgroup_warnings(&c);
        assert!(w.contains(&"WARNING: No cpuset support".to_string()));
        assert!(w.contains(&"WARNING: No io.weight support".to_string()));
        assert!(!w.iter().any(|x| x.contains("oom kill")));
    }

    #[test]
    fn proxy_passwords_are_masked() {
        assert_eq!(
            mask_credentials("http://user:secret@proxy:3128"),
            "http://user:xxxxx@proxy:3128"
        );
        assert_eq!(mask_credentials("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(mask_credentials(""), "");
    }

    #[test]
    fn file_system_names_follow_docker() {
        assert_eq!(fs_name(0xEF53), "extfs");
        assert_eq!(fs_name(0x5846_5342), "xfs");
        assert_eq!(fs_name(1), "<unknown>");
    }

    #[test]
    fn version_reports_balena_engine_and_api_range() {
        let v = system_version(&EngineConfig::default());
        assert_eq!(v.engine, "balena-engine");
        assert_eq!(v.api_version, "1.41");
        assert_eq!(v.min_api_version, "1.12");
        assert_eq!(v.components[0].name, "Engine");
        assert_eq!(v.os, "linux");
    }
}
