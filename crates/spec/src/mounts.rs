//! Mounts: Docker's default mounts, user mounts, tmpfs option merging,
//! ordering, read-only and privileged adjustments (`WithMounts`).

use std::path::PathBuf;

use oci_spec::runtime::Mount as OciMount;

use crate::types::{ContainerSpec, MountKind, NsMode};
use crate::SpecError;

/// Default `/dev/shm` size (64 MiB), Docker's `DefaultShmSize`.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// Where `--init` puts the init binary.
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

pub(crate) fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> OciMount {
    let mut m = OciMount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts (`oci/defaults.go`), before `/dev/shm` gets its size.
pub(crate) fn default_mounts() -> Vec<OciMount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        ),
    ]
}

/// Mount flags `MergeTmpfsOptions` knows, with the flag they toggle (0 = none).
fn tmpfs_flag(opt: &str) -> Option<u32> {
    Some(match opt {
        "defaults" => 0,
        "ro" | "rw" => 1,
        "suid" | "nosuid" => 2,
        "dev" | "nodev" => 3,
        "exec" | "noexec" => 4,
        "sync" | "async" => 5,
        "dirsync" => 6,
        "remount" => 7,
        "mand" | "nomand" => 8,
        "atime" | "noatime" => 9,
        "diratime" | "nodiratime" => 10,
        "bind" => 11,
        "rbind" => 12,
        "relatime" | "norelatime" => 13,
        "strictatime" | "nostrictatime" => 14,
        // one key for every propagation mode: only one may survive
        "unbindable" | "runbindable" | "private" | "rprivate" | "shared" | "rshared" | "slave"
        | "rslave" => u32::MAX,
        _ => return None,
    })
}

/// moby's `MergeTmpfsOptions`: later options win, one per flag / data key.
pub fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, SpecError> {
    let mut flags_seen: Vec<u32> = Vec::new();
    let mut data_seen: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for opt in options.iter().rev() {
        if opt == "defaults" {
            continue;
        }
        if let Some(flag) = tmpfs_flag(opt) {
            if !flags_seen.contains(&flag) {
                out.push(opt.clone());
                flags_seen.push(flag);
            }
            continue;
        }
        let key = match opt.split_once('=') {
            Some((k, _))
                if matches!(
                    k,
                    "" | "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "mpol"
                ) =>
            {
                k
            }
            _ => return Err(SpecError::InvalidTmpfsOption(opt.clone())),
        };
        if !data_seen.contains(&key) {
            out.push(opt.clone());
            data_seen.push(key);
        }
    }
    out.reverse();
    Ok(out)
}

fn depth(dest: &str) -> usize {
    // filepath.Clean then count separators; "/" has 1, "/a/b" has 2.
    let parts = dest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .count();
    parts.max(1)
}

struct UserMount {
    dest: String,
    oci: OciMount,
    /// Propagation of a bind mount, for rootfs propagation.
    propagation: Option<String>,
}

/// Builds the final mount list and the rootfs propagation Docker would pick.
pub(crate) fn build_mounts(
    c: &ContainerSpec,
) -> Result<(Vec<OciMount>, Option<String>), SpecError> {
    let mut user: Vec<UserMount> = Vec::new();
    let tmpfs_dests: Vec<&str> = c
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Tmpfs)
        .map(|m| m.destination.as_str())
        .collect();

    let bind = |dest: &str,
                source: &PathBuf,
                ro: bool,
                prop: Option<&str>,
                nonrec: bool|
     -> Result<UserMount, SpecError> {
        let mut opts = vec![if nonrec { "bind" } else { "rbind" }.to_string()];
        if ro {
            opts.push("ro".into());
        }
        if let Some(p) = prop.filter(|p| !p.is_empty()) {
            if !PROPAGATIONS.contains(&p) {
                return Err(SpecError::InvalidPropagation(p.to_string()));
            }
            opts.push(p.to_string());
        }
        let mut m = OciMount::default();
        m.set_destination(PathBuf::from(dest));
        m.set_typ(Some("bind".into()));
        m.set_source(Some(source.clone()));
        m.set_options(Some(opts));
        Ok(UserMount {
            dest: dest.to_string(),
            oci: m,
            propagation: prop.filter(|p| !p.is_empty()).map(str::to_string),
        })
    };

    // Volumes and binds (tmpfs at the same destination wins, as in Docker).
    let mut binds = Vec::new();
    for m in c.mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        if tmpfs_dests.contains(&m.destination.as_str()) {
            continue;
        }
        binds.push(bind(
            &m.destination,
            &m.source,
            m.readonly,
            m.propagation.as_deref(),
            m.nonrecursive,
        )?);
    }
    binds.sort_by_key(|m| depth(&m.dest));
    user.extend(binds);
    // /etc/hosts, /etc/hostname, /etc/resolv.conf unless the user mounted over them.
    for (dest, src) in &c.etc_files {
        if user.iter().any(|u| &u.dest == dest) || tmpfs_dests.contains(&dest.as_str()) {
            continue;
        }
        user.push(bind(dest, src, c.readonly_rootfs, Some("rprivate"), false)?);
    }
    // --ipc=host: Docker bind-mounts the host's /dev/shm (IpcMounts).
    if c.ipc == NsMode::Host
        && !user.iter().any(|u| u.dest == "/dev/shm")
        && !tmpfs_dests.contains(&"/dev/shm")
    {
        user.push(bind(
            "/dev/shm",
            &PathBuf::from("/dev/shm"),
            false,
            Some("rprivate"),
            false,
        )?);
    }
    for m in c.mounts.iter().filter(|m| m.kind == MountKind::Tmpfs) {
        let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        opts.extend(
            m.tmpfs_options
                .iter()
                .flat_map(|o| o.split(','))
                .map(str::to_string),
        );
        if m.readonly {
            opts.push("ro".into());
        }
        let merged = merge_tmpfs_options(&opts)?;
        let mut om = OciMount::default();
        om.set_destination(PathBuf::from(&m.destination));
        om.set_typ(Some("tmpfs".into()));
        om.set_source(Some(PathBuf::from("tmpfs")));
        om.set_options(Some(merged));
        user.push(UserMount {
            dest: m.destination.clone(),
            oci: om,
            propagation: None,
        });
    }
    user.sort_by_key(|m| depth(&m.dest));

    let user_dests: Vec<String> = user.iter().map(|m| m.dest.clone()).collect();
    let is_user = |d: &str| user_dests.iter().any(|u| u == d);
    let mount_dev = is_user("/dev");

    let mut defaults = default_mounts();
    // WithCommonOptions adds the init mount before WithMounts filters defaults.
    if let (Some(init), NsMode::Private) = (&c.init, &c.pid) {
        defaults.push(mount(
            INIT_PATH_IN_CONTAINER,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro"],
        ));
    }
    let shm = if c.shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        c.shm_size
    };
    let mut out: Vec<OciMount> = Vec::new();
    for mut m in defaults {
        let dest = m.destination().to_string_lossy().into_owned();
        if is_user(&dest) {
            continue;
        }
        if mount_dev && dest.starts_with("/dev/") {
            continue;
        }
        if dest == "/dev/shm" {
            let mut o = m.options().clone().unwrap_or_default();
            o.push(format!("size={shm}"));
            m.set_options(Some(o));
        }
        out.push(m);
    }

    // Docker: a shared bind makes the rootfs "shared"; a slave bind makes it
    // "rslave" unless it is already shared or slave. We write "slave":
    // libcontainer 0.7 rejects "rslave" and always adds MS_REC anyway.
    let mut rootfs_propagation: Option<String> = None;
    for u in &user {
        let current = rootfs_propagation.as_deref();
        let is_shared = matches!(current, Some("shared" | "rshared"));
        let is_slave = matches!(current, Some("slave" | "rslave"));
        let next = match u.propagation.as_deref() {
            Some("shared" | "rshared") if !is_shared => Some("shared"),
            Some("slave" | "rslave") if !is_shared && !is_slave => Some("slave"),
            _ => None,
        };
        if let Some(n) = next {
            rootfs_propagation = Some(n.to_string());
        }
    }
    out.extend(user.into_iter().map(|u| u.oci));

    if c.readonly_rootfs {
        for m in out.iter_mut() {
            let dest = m.destination().to_string_lossy().into_owned();
            if matches!(
                dest.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            ) || is_user(&dest)
            {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            if !o.iter().any(|x| x == "ro") {
                o.push("ro".into());
                m.set_options(Some(o));
            }
        }
    }
    if c.privileged {
        for m in out.iter_mut() {
            let dest = m.destination().to_string_lossy();
            if dest == "/sys" || m.typ().as_deref() == Some("cgroup") {
                let o: Vec<String> = m
                    .options()
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|x| x != "ro")
                    .collect();
                m.set_options(Some(o));
            }
        }
    }
    Ok((out, rootfs_propagation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tmpfs_merge_keeps_last_of_each() {
        let got = merge_tmpfs_options(&s(&[
            "noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "size=2m", "shared",
        ]))
        .unwrap();
        assert_eq!(got, s(&["nosuid", "nodev", "exec", "size=2m", "shared"]));
    }

    #[test]
    fn tmpfs_merge_rejects_unknown_data() {
        let e = merge_tmpfs_options(&s(&["foo=bar"])).unwrap_err();
        assert_eq!(e.to_string(), "invalid tmpfs option [\"foo=bar\"]");
        assert!(merge_tmpfs_options(&s(&["bogus"])).is_err());
    }

    #[test]
    fn depth_counts_like_filepath_clean() {
        assert_eq!(depth("/"), 1);
        assert_eq!(depth("/a"), 1);
        assert_eq!(depth("/a/b/"), 2);
        assert_eq!(depth("/a/./b"), 2);
    }
}
