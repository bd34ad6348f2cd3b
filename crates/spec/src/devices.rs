//! Devices: `--device` resolution, the device cgroup allow list, host devices
//! for `--privileged`, and `--device-cgroup-rule` parsing.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use crate::types::Device;
use crate::SpecError;

/// Most device nodes gathered from one directory walk (`--device /dev/dir`, host /dev).
const MAX_WALK_DEVICES: usize = 8192;
/// Deepest directory nesting followed during a walk.
const MAX_WALK_DEPTH: usize = 16;

fn cgroup(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow);
    d.set_typ(typ);
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some(access.to_string()));
    d
}

/// Docker's default device cgroup rules (`oci/defaults.go`): deny all, allow
/// c 1:5 (zero), 1:3 (null), 1:9 (urandom), 1:8 (random), 5:0 (tty),
/// 5:1 (console) rwm, and deny c 10:229 (fuse).
pub(crate) fn default_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    let mut v = vec![cgroup(false, None, None, None, "rwm")];
    for (maj, min) in [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)] {
        v.push(cgroup(true, c, Some(maj), Some(min), "rwm"));
    }
    v.push(cgroup(false, c, Some(10), Some(229), "rwm"));
    v
}

/// A device node found on the host.
struct Node {
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// runc's `DeviceFromPath`: lstat (no symlink following) and classify.
fn node_from_path(p: &Path) -> std::io::Result<Option<Node>> {
    let md = std::fs::symlink_metadata(p)?;
    let ft = md.file_type();
    let typ = if ft.is_block_device() {
        LinuxDeviceType::B
    } else if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_fifo() {
        LinuxDeviceType::P
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    Ok(Some(Node {
        typ,
        major: i64::from(rustix::fs::major(rdev)),
        minor: i64::from(rustix::fs::minor(rdev)),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    }))
}

fn linux_device(n: &Node, path: &str) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(PathBuf::from(path));
    d.set_typ(n.typ);
    d.set_major(n.major);
    d.set_minor(n.minor);
    d.set_file_mode(Some(n.mode));
    d.set_uid(Some(n.uid));
    d.set_gid(Some(n.gid));
    d
}

/// Walks `dir` (not following symlinks) collecting device nodes; `skip`
/// decides which directory names are not entered.
fn walk(dir: &Path, depth: usize, skip: &dyn Fn(&str) -> bool, out: &mut Vec<(PathBuf, Node)>) {
    if depth > MAX_WALK_DEPTH || out.len() >= MAX_WALK_DEVICES {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= MAX_WALK_DEVICES {
            return;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !skip(&name) {
                walk(&p, depth + 1, skip, out);
            }
            continue;
        }
        if let Ok(Some(n)) = node_from_path(&p) {
            out.push((p, n));
        }
    }
}

/// Docker's `DevicesFromPath`: the devices and cgroup rules for one `--device`.
pub(crate) fn devices_from_path(
    dev: &Device,
    permissions: &str,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let err = |reason: String| SpecError::Device {
        path: dev.path_on_host.clone(),
        reason,
    };
    let host = Path::new(&dev.path_on_host);
    let resolved = match std::fs::symlink_metadata(host) {
        Ok(md) if md.file_type().is_symlink() => {
            std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf())
        }
        _ => host.to_path_buf(),
    };
    let mk = |n: &Node, path: &str| {
        (
            linux_device(n, path),
            cgroup(true, Some(n.typ), Some(n.major), Some(n.minor), permissions),
        )
    };
    match node_from_path(&resolved) {
        Ok(Some(n)) => {
            let (d, c) = mk(&n, &dev.path_in_container);
            return Ok((vec![d], vec![c]));
        }
        Ok(None) => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let mut found = Vec::new();
    if resolved.is_dir() {
        walk(&resolved, 0, &|_| false, &mut found);
    }
    if found.is_empty() {
        return Err(err("not a device node".into()));
    }
    let prefix = resolved.to_string_lossy().into_owned();
    let mut devs = Vec::with_capacity(found.len());
    let mut perms = Vec::with_capacity(found.len());
    for (p, n) in &found {
        let p = p.to_string_lossy();
        let in_container = p.replacen(&prefix, &dev.path_in_container, 1);
        let (d, c) = mk(n, &in_container);
        devs.push(d);
        perms.push(c);
    }
    Ok((devs, perms))
}

/// runc's `HostDevices`: every device node under /dev except pts, shm, fd,
/// mqueue, .lxc, .lxd-mounts, .udev, /dev/console and fifos.
pub(crate) fn host_devices() -> Vec<LinuxDevice> {
    let skip = |n: &str| {
        matches!(
            n,
            "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
        )
    };
    let mut found = Vec::new();
    walk(Path::new("/dev"), 0, &skip, &mut found);
    found
        .iter()
        .filter(|(p, n)| {
            n.typ != LinuxDeviceType::P && p.file_name().is_some_and(|f| f != "console")
        })
        .map(|(p, n)| linux_device(n, &p.to_string_lossy()))
        .collect()
}

/// Parses a `--device-cgroup-rule` such as "c 1:3 rwm" or "a *:* rwm"
/// (`*` becomes -1, as in Docker).
pub fn parse_device_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || SpecError::InvalidDeviceCgroupRule(rule.to_string());
    let mut parts = rule.split(' ');
    let (Some(t), Some(mm), Some(access), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let typ = match t {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (maj, min) = mm.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<i64, SpecError> {
        if s == "*" {
            return Ok(-1);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (maj, min) = (num(maj)?, num(min)?);
    if access.is_empty()
        || access.len() > 3
        || !access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm'))
    {
        return Err(bad());
    }
    Ok(cgroup(true, Some(typ), Some(maj), Some(min), access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_resolves_to_char_1_3() {
        let d = Device {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rw".into(),
        };
        let (devs, perms) = devices_from_path(&d, "rw").unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].path(), &PathBuf::from("/dev/mynull"));
        assert_eq!(devs[0].typ(), LinuxDeviceType::C);
        assert_eq!((devs[0].major(), devs[0].minor()), (1, 3));
        assert_eq!(perms[0].access().as_deref(), Some("rw"));
        assert!(perms[0].allow());
    }

    #[test]
    fn regular_file_is_not_a_device() {
        let d = Device {
            path_on_host: "/etc/hostname-does-not-matter".into(),
            path_in_container: "/x".into(),
            cgroup_permissions: "rwm".into(),
        };
        assert!(devices_from_path(&d, "rwm").is_err());
        let f = tempfile::NamedTempFile::new().unwrap();
        let d = Device {
            path_on_host: f.path().to_string_lossy().into_owned(),
            ..d
        };
        let e = devices_from_path(&d, "rwm").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("error gathering device information while adding custom device"));
    }

    #[test]
    fn cgroup_rules_parse_like_docker() {
        let r = parse_device_cgroup_rule("c 1:3 rwm").unwrap();
        assert_eq!(
            (r.typ(), r.major(), r.minor()),
            (Some(LinuxDeviceType::C), Some(1), Some(3))
        );
        let r = parse_device_cgroup_rule("a *:* rwm").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(-1), Some(-1)));
        for bad in [
            "c 1:3",
            "x 1:3 rwm",
            "c 1:3 rwmx",
            "c 1-3 r",
            "c 1:3  r",
            "c :3 r",
            "c 1:3 q",
        ] {
            let e = parse_device_cgroup_rule(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid device cgroup rule format: '{bad}'")
            );
        }
    }

    #[test]
    fn default_rules_deny_all_then_allow_six_and_deny_fuse() {
        let r = default_cgroup_rules();
        assert_eq!(r.len(), 8);
        assert!(!r[0].allow() && r[0].typ().is_none());
        assert!(!r[7].allow() && r[7].major() == Some(10) && r[7].minor() == Some(229));
    }
}
