//! The OCI runtime spec for a container, with Docker 20.10's defaults.
//!
//! Given a [`ContainerSpec`] (the engine's already-resolved view of a
//! container's config and host config), [`build`] produces the
//! `oci_spec::runtime::Spec` that Docker 20.10 (balenaEngine) would hand to
//! runc: default capabilities, mounts, masked/read-only paths, device cgroup
//! rules, seccomp profile, namespaces, rlimits and cgroup resources. Helpers
//! validate user input with Docker's exact error messages and resolve
//! `--user` against the image's /etc/passwd and /etc/group.
//!
//! Layout:
//! - `types`: input types ([`ContainerSpec`], [`Mount`], [`Resources`], ...).
//! - `build`: [`build`], default masked/read-only paths.
//! - `caps`: default capability set, `--cap-add`/`--cap-drop`.
//! - `mounts`: default mounts, user mounts, tmpfs option merging.
//! - `devices`: `--device`, device cgroup rules, host devices.
//! - `seccomp`: Docker-format seccomp profiles → OCI, embedded default profile.
//! - `user`: `--user`/`--group-add` resolution, passwd/group parsers.
//! - `validate`: resource/sysctl/ulimit validation.
//! - `error`: [`SpecError`].
//!
//! This crate must not: start processes, touch cgroups, mount anything, talk
//! to the network, or write files. It reads only /proc (kernel facts), /dev
//! (device nodes), /sys/fs/cgroup (host capability probing) and the
//! container's rootfs (/etc/passwd, /etc/group, opened inside the rootfs).

mod build;
mod caps;
mod devices;
mod error;
mod mounts;
mod seccomp;
mod types;
mod user;
mod validate;

pub use build::{build, default_cgroupns, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS};
pub use caps::{all_caps, effective_caps, grantable_caps, validate_caps, DEFAULT_CAPS};
pub use devices::parse_device_cgroup_rule;
pub use error::SpecError;
pub use mounts::{merge_tmpfs_options, DEFAULT_SHM_SIZE, INIT_PATH_IN_CONTAINER};
pub use seccomp::{
    seccomp_profile, seccomp_profile_for_kernel, KernelVersion, DEFAULT_PROFILE_JSON,
    MAX_ARGS_PER_RULE, MAX_NAMES, MAX_PROFILE_BYTES, MAX_RULES,
};
pub use types::{
    ContainerSpec, Device, Mount, MountKind, NsMode, Resources, Seccomp, Ulimit, User,
};
pub use user::{
    parse_group, parse_passwd, resolve_user, resolve_user_from, GroupEntry, PasswdEntry,
    MAX_DB_FILE_BYTES,
};
pub use validate::{
    parse_cpuset, parse_ulimit_name, validate_resources, validate_shm_and_oom, validate_sysctls,
    HostCaps, MIN_MEMORY,
};

/// Fuzz entry: converts `data` as a seccomp profile for x86_64 and aarch64
/// with the default caps and a fixed kernel version. Never panics.
#[doc(hidden)]
pub fn fuzz_seccomp_profile(data: &[u8]) {
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let k = Some(KernelVersion {
        kernel: 5,
        major: 10,
    });
    for arch in ["x86_64", "aarch64"] {
        let _ = seccomp_profile_for_kernel(data, &caps, arch, k);
    }
}

/// Fuzz entry: `data` is "<user spec>\n<group-add,...>\n" then the passwd and
/// group contents separated by a NUL byte. Never panics.
#[doc(hidden)]
pub fn fuzz_user_db(data: &[u8]) {
    let mut it = data.splitn(3, |&b| b == b'\n');
    let user = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
    let adds: Vec<String> = String::from_utf8_lossy(it.next().unwrap_or_default())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let rest = it.next().unwrap_or_default();
    let mut dbs = rest.splitn(2, |&b| b == 0);
    let passwd = dbs.next();
    let group = dbs.next();
    let _ = parse_passwd(rest);
    let _ = parse_group(rest);
    let _ = resolve_user_from(&user, &adds, passwd, group);
}
