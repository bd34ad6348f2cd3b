//! Input types: a container's settings, already resolved by the engine.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// How a namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NsMode {
    /// A new namespace for the container.
    #[default]
    Private,
    /// The host's namespace (the namespace is left out of the spec).
    Host,
    /// Join an existing namespace, e.g. `/proc/<pid>/ns/net`.
    Path(PathBuf),
}

/// Which seccomp filter to install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seccomp {
    /// Docker's default profile (embedded in this crate).
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
    /// A Docker-format JSON profile.
    Profile(Vec<u8>),
}

/// The process identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
}

/// Kind of a user mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountKind {
    /// A bind mount of `source` (binds and volumes).
    #[default]
    Bind,
    /// A tmpfs (`--tmpfs` or `--mount type=tmpfs`); `source` is ignored.
    Tmpfs,
}

/// A user mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// Bind or tmpfs.
    pub kind: MountKind,
    /// Host path (binds only).
    pub source: PathBuf,
    /// Absolute path in the container.
    pub destination: String,
    /// Mount read-only.
    pub readonly: bool,
    /// private|rprivate|shared|rshared|slave|rslave. Docker sets `rprivate` for
    /// bind mounts the user gave no propagation for, and nothing for volumes.
    pub propagation: Option<String>,
    /// `bind` instead of `rbind`.
    pub nonrecursive: bool,
    /// Raw tmpfs options (`size=64m`, `mode=1777`, `exec`, ...).
    pub tmpfs_options: Vec<String>,
}

/// A `--device` mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// Host path of the device node (or of a directory of them).
    pub path_on_host: String,
    /// Path in the container.
    pub path_in_container: String,
    /// Cgroup permissions, a subset of "rwm".
    pub cgroup_permissions: String,
}

/// A `--ulimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ulimit {
    /// Docker name (`nofile`, `nproc`, ...).
    pub name: String,
    /// Soft limit (-1 = unlimited).
    pub soft: i64,
    /// Hard limit (-1 = unlimited).
    pub hard: i64,
}

/// Docker's `HostConfig.Resources` subset; zero/None = unset, as in Docker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: i64,
    /// Memory + swap limit in bytes; -1 = unlimited; 0 with `memory` set = 2 × memory.
    pub memory_swap: i64,
    /// Memory soft limit in bytes.
    pub memory_reservation: i64,
    /// Memory swappiness 0..=100.
    pub memory_swappiness: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: i64,
    /// CFS period in µs.
    pub cpu_period: i64,
    /// CFS quota in µs.
    pub cpu_quota: i64,
    /// CPUs in units of 1e-9 (`--cpus`).
    pub nano_cpus: i64,
    /// Allowed CPUs, e.g. "0-3".
    pub cpuset_cpus: String,
    /// Allowed memory nodes.
    pub cpuset_mems: String,
    /// Pids limit; `Some(<=0)` = unlimited.
    pub pids_limit: Option<i64>,
    /// Block IO weight 10..=1000.
    pub blkio_weight: u16,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
}

/// Everything needed to build a container's OCI spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// Host path of the root filesystem.
    pub rootfs: PathBuf,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// Command and arguments.
    pub args: Vec<String>,
    /// Environment, `KEY=value` (the engine adds PATH/HOSTNAME/TERM like Docker).
    pub env: Vec<String>,
    /// Working directory; "" = "/".
    pub cwd: String,
    /// Process identity (see [`crate::resolve_user`]).
    pub user: User,
    /// Allocate a terminal.
    pub terminal: bool,
    /// Container hostname.
    pub hostname: String,
    /// NIS domain name (set through the `kernel.domainname` sysctl, like Docker).
    pub domainname: String,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// Seccomp profile.
    pub seccomp: Seccomp,
    /// None = Docker's defaults ([`crate::DEFAULT_MASKED_PATHS`]).
    pub masked_paths: Option<Vec<String>>,
    /// None = Docker's defaults ([`crate::DEFAULT_READONLY_PATHS`]).
    pub readonly_paths: Option<Vec<String>>,
    /// User mounts, already resolved by the engine.
    pub mounts: Vec<Mount>,
    /// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`: (destination, host file).
    pub etc_files: Vec<(String, PathBuf)>,
    /// `--device`.
    pub devices: Vec<Device>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Vec<String>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `/dev/shm` size in bytes; 0 = 64 MiB.
    pub shm_size: i64,
    /// IPC namespace.
    pub ipc: NsMode,
    /// PID namespace.
    pub pid: NsMode,
    /// UTS namespace.
    pub uts: NsMode,
    /// Network namespace.
    pub net: NsMode,
    /// Cgroup namespace; see [`crate::default_cgroupns`].
    pub cgroupns: NsMode,
    /// Resource limits.
    pub resources: Resources,
    /// `--oom-score-adj`.
    pub oom_score_adj: i32,
    /// Cgroups path, "/balena/<id>" or "system.slice:balena:<id>".
    pub cgroups_path: String,
    /// `--init`: host path of the init binary.
    pub init: Option<PathBuf>,
    /// OCI annotations.
    pub annotations: BTreeMap<String, String>,
}
