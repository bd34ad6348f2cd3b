//! Docker's `local` volume driver, the parts that touch the host: the
//! driver options (`type`, `device`, `o`) and their `opts.json`, mounting
//! and unmounting them, copying an image's content into a new volume, and
//! a volume's size.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

/// Docker's `optsConfig`, kept as `<volume>/opts.json` (same field names,
/// so either engine reads the other's volumes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OptsConfig {
    #[serde(default)]
    pub mount_type: String,
    #[serde(default)]
    pub mount_opts: String,
    #[serde(default)]
    pub mount_device: String,
    #[serde(default)]
    pub quota: Quota,
}

/// Docker's `quota.Quota` (never set here: no project quotas).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quota {
    #[serde(default)]
    pub size: u64,
}

impl OptsConfig {
    /// Whether the volume is a mount of its own (device or type given).
    pub fn needs_mount(&self) -> bool {
        !self.mount_device.is_empty() || !self.mount_type.is_empty()
    }

    /// The driver options these came from (for volumes Docker made,
    /// which have no record of ours).
    pub fn as_options(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("type", &self.mount_type),
            ("o", &self.mount_opts),
            ("device", &self.mount_device),
        ] {
            if !v.is_empty() {
                m.insert(k.to_string(), v.clone());
            }
        }
        m
    }
}

/// Checks driver options as Docker's local driver does and turns them
/// into its `optsConfig`; `None` when there are none.
pub fn parse_opts(opts: &BTreeMap<String, String>) -> Result<Option<OptsConfig>, String> {
    if opts.is_empty() {
        return Ok(None);
    }
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "o" | "device" | "size") {
            return Err(format!("invalid option: {k:?}"));
        }
    }
    // Docker's `mandatoryOpts`, checked in its map order (random); ours is
    // fixed: device needs type, type needs device, o needs both.
    for (opt, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(opt) {
            for n in needs {
                if !opts.contains_key(*n) {
                    return Err(format!("missing required option: {n:?}"));
                }
            }
        }
    }
    if opts.contains_key("size") {
        return Err("quota size requested but no quota support".into());
    }
    let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
    Ok(Some(OptsConfig {
        mount_type: get("type"),
        mount_opts: get("o"),
        mount_device: get("device"),
        quota: Quota::default(),
    }))
}

/// Mount options split as `moby/sys/mount` does: flags the kernel takes
/// as bits, propagation changes made after the mount, and the rest as the
/// filesystem's data string.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedOpts {
    pub flags: MsFlags,
    pub propagation: MsFlags,
    pub data: String,
}

/// Parses `o=` of a local volume.
pub fn parse_mount_opts(o: &str) -> ParsedOpts {
    let mut p = ParsedOpts {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: String::new(),
    };
    let mut data: Vec<&str> = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (clear, flag) = match opt {
            "defaults" => (false, MsFlags::empty()),
            "ro" => (false, MsFlags::MS_RDONLY),
            "rw" => (true, MsFlags::MS_RDONLY),
            "suid" => (true, MsFlags::MS_NOSUID),
            "nosuid" => (false, MsFlags::MS_NOSUID),
            "dev" => (true, MsFlags::MS_NODEV),
            "nodev" => (false, MsFlags::MS_NODEV),
            "exec" => (true, MsFlags::MS_NOEXEC),
            "noexec" => (false, MsFlags::MS_NOEXEC),
            "sync" => (false, MsFlags::MS_SYNCHRONOUS),
            "async" => (true, MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (false, MsFlags::MS_DIRSYNC),
            "remount" => (false, MsFlags::MS_REMOUNT),
            "mand" => (false, MsFlags::MS_MANDLOCK),
            "nomand" => (true, MsFlags::MS_MANDLOCK),
            "atime" => (true, MsFlags::MS_NOATIME),
            "noatime" => (false, MsFlags::MS_NOATIME),
            "diratime" => (true, MsFlags::MS_NODIRATIME),
            "nodiratime" => (false, MsFlags::MS_NODIRATIME),
            "bind" => (false, MsFlags::MS_BIND),
            "rbind" => (false, MsFlags::MS_BIND | MsFlags::MS_REC),
            "relatime" => (false, MsFlags::MS_RELATIME),
            "norelatime" => (true, MsFlags::MS_RELATIME),
            "strictatime" => (false, MsFlags::MS_STRICTATIME),
            "nostrictatime" => (true, MsFlags::MS_STRICTATIME),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                let mut f = match opt.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                if opt.starts_with('r') {
                    f |= MsFlags::MS_REC;
                }
                p.propagation |= f;
                continue;
            }
            _ => {
                data.push(opt);
                continue;
            }
        };
        if clear {
            p.flags.remove(flag);
        } else {
            p.flags.insert(flag);
        }
    }
    p.data = data.join(",");
    p
}

/// Mounts a local volume's device on its data directory, as Docker's
/// `mount.Mount(device, path, type, o)`: a bind with extra flags is
/// remounted to apply them.
pub fn mount(opts: &OptsConfig, target: &Path) -> std::io::Result<()> {
    if opts.mount_device.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "missing device in volume options",
        ));
    }
    let p = parse_mount_opts(&opts.mount_opts);
    let fstype = (!opts.mount_type.is_empty()).then_some(opts.mount_type.as_str());
    let data = (!p.data.is_empty()).then_some(p.data.as_str());
    let bind = p.flags.contains(MsFlags::MS_BIND);
    let first = if bind {
        p.flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
    } else {
        p.flags
    };
    nix::mount::mount(
        Some(opts.mount_device.as_str()),
        target,
        fstype,
        first,
        data,
    )?;
    let extra = p.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if bind && !extra.is_empty() {
        let r = nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            extra | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
            None::<&str>,
        );
        if let Err(e) = r {
            let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
            return Err(e.into());
        }
    }
    if !p.propagation.is_empty() {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            p.propagation,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Unmounts a volume's data directory; not mounted is not an error.
pub fn unmount(target: &Path) -> std::io::Result<()> {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => {
            nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(Into::into)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a directory has no entries.
pub fn is_empty_dir(p: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(p)?.next().is_none())
}

/// Copies the tree under `src` into the existing directory `dst`: files,
/// directories, symlinks, device nodes and fifos, with their modes, owners
/// and times; hard links stay links. `dst` itself takes `src`'s mode,
/// owner and times, as Docker's `fs.CopyDir` does.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut links: HashMap<(u64, u64), std::path::PathBuf> = HashMap::new();
    copy_dir(src, dst, &mut links)?;
    copy_meta(src, dst, &std::fs::symlink_metadata(src)?)
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> std::io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let md = std::fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_dir(&from, &to, links)?;
            copy_meta(&from, &to, &md)?;
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                std::fs::hard_link(first, &to)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            // Devices, fifos and sockets: a node like the original.
            use nix::sys::stat::{makedev, mknod, Mode, SFlag};
            let kind = SFlag::from_bits_truncate(md.mode() & libc::S_IFMT);
            let rdev = md.rdev();
            mknod(
                &to,
                kind,
                Mode::from_bits_truncate(md.mode() & 0o7777),
                makedev(libc::major(rdev).into(), libc::minor(rdev).into()),
            )?;
        }
        copy_meta(&from, &to, &md)?;
    }
    Ok(())
}

/// Owner, mode (not for symlinks) and times of `md` onto `to`.
fn copy_meta(_from: &Path, to: &Path, md: &std::fs::Metadata) -> std::io::Result<()> {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    use nix::unistd::{fchownat, Gid, Uid};
    fchownat(
        None,
        to,
        Some(Uid::from_raw(md.uid())),
        Some(Gid::from_raw(md.gid())),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if !md.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    utimensat(
        None,
        to,
        &TimeSpec::new(md.atime(), md.atime_nsec()),
        &TimeSpec::new(md.mtime(), md.mtime_nsec()),
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// Bytes used under `p` as Docker's `directory.Size` counts them: the
/// sizes of everything but directories, each hard-linked file once.
pub fn dir_size(p: &Path) -> std::io::Result<i64> {
    fn walk(
        p: &Path,
        seen: &mut std::collections::HashSet<(u64, u64)>,
        total: &mut i64,
    ) -> std::io::Result<()> {
        for e in std::fs::read_dir(p)? {
            let e = e?;
            let md = std::fs::symlink_metadata(e.path())?;
            if md.is_dir() {
                walk(&e.path(), seen, total)?;
                continue;
            }
            if md.nlink() > 1 && !seen.insert((md.dev(), md.ino())) {
                continue;
            }
            *total = total.saturating_add(i64::try_from(md.size()).unwrap_or(i64::MAX));
        }
        Ok(())
    }
    let mut seen = std::collections::HashSet::new();
    let mut total = 0i64;
    walk(p, &mut seen, &mut total)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn driver_options_are_checked_like_dockers_local_driver() {
        assert_eq!(parse_opts(&opts(&[])).unwrap(), None);
        let o = parse_opts(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.mount_type, "tmpfs");
        assert_eq!(o.mount_opts, "size=1m");
        assert!(o.needs_mount());
        assert_eq!(
            parse_opts(&opts(&[("foo", "x")])).unwrap_err(),
            "invalid option: \"foo\""
        );
        assert_eq!(
            parse_opts(&opts(&[("type", "tmpfs")])).unwrap_err(),
            "missing required option: \"device\""
        );
        assert_eq!(
            parse_opts(&opts(&[("o", "bind"), ("device", "/x")])).unwrap_err(),
            "missing required option: \"type\""
        );
        assert!(parse_opts(&opts(&[("size", "1m")])).is_err());
    }

    #[test]
    fn opts_json_uses_dockers_field_names() {
        let o = OptsConfig {
            mount_type: "none".into(),
            mount_opts: "bind".into(),
            mount_device: "/srv".into(),
            quota: Quota::default(),
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"MountType":"none","MountOpts":"bind","MountDevice":"/srv","Quota":{"Size":0}}"#
        );
        assert_eq!(o.as_options()["device"], "/srv");
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let p = parse_mount_opts("size=10m,uid=1000,ro,noexec,rshared");
        assert!(p.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC));
        assert_eq!(p.propagation, MsFlags::MS_SHARED | MsFlags::MS_REC);
        assert_eq!(p.data, "size=10m,uid=1000");
        let p = parse_mount_opts("bind,rw");
        assert_eq!(p.flags, MsFlags::MS_BIND);
        assert_eq!(p.data, "");
    }

    #[test]
    fn copy_tree_keeps_modes_links_and_sizes_count_once() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let dst = d.path().join("dst");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("sub/f"), b"hello").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::fs::hard_link(src.join("sub/f"), src.join("h")).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o711)).unwrap();
        copy_tree(&src, &dst).unwrap();
        assert_eq!(std::fs::read(dst.join("sub/f")).unwrap(), b"hello");
        let md = std::fs::metadata(dst.join("sub/f")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o640);
        assert_eq!(md.nlink(), 2);
        assert_eq!(
            std::fs::read_link(dst.join("l")).unwrap(),
            Path::new("sub/f")
        );
        assert_eq!(std::fs::metadata(&dst).unwrap().mode() & 0o777, 0o711);
        assert_eq!(dir_size(&dst).unwrap(), 5 + "sub/f".len() as i64);
        assert!(!is_empty_dir(&dst).unwrap());
    }
}
