//! A container's mounts, as Docker's `registerMountPoints` and friends:
//! planned at create (volumes from other containers, `-v` binds and
//! volumes, `--mount`, then the image's and `-v /dst` anonymous volumes),
//! mounted at start (device volumes on first use, the image's content
//! copied into an empty volume once), unmounted at stop, released at
//! remove (`rm -v` removes the anonymous ones).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use api::container::HostConfig;
use image::config::ContainerConfig;

use super::record::Record;
use super::Containers;
use crate::volumes::{local, mounts, MountPoint, Volumes};
use crate::EngineError;

/// References of a loaded record (daemon start).
pub(super) fn add_refs(volumes: &Volumes, rec: &Record) {
    for mp in rec.mount_points.iter().filter(|m| m.is_volume()) {
        volumes.add_ref(&mp.name, &rec.id);
    }
}

fn dup(dest: &str) -> EngineError {
    EngineError::InvalidArgument(format!("Duplicate mount point: {dest}"))
}

impl Containers {
    /// Docker's mount point registration for a new container `id`.
    /// Volumes are created (or found) with a reference to `id`; on error
    /// everything made here is undone.
    pub(super) fn plan_mounts(
        &self,
        id: &str,
        host: &HostConfig,
        config: &ContainerConfig,
    ) -> Result<Vec<MountPoint>, EngineError> {
        let mut points: BTreeMap<String, MountPoint> = BTreeMap::new();
        let r = self.plan_into(id, host, config, &mut points);
        let list: Vec<MountPoint> = points.into_values().collect();
        match r {
            Ok(()) => Ok(list),
            Err(e) => {
                self.unplan_mounts(id, &list);
                Err(e)
            }
        }
    }

    fn plan_into(
        &self,
        id: &str,
        host: &HostConfig,
        config: &ContainerConfig,
        points: &mut BTreeMap<String, MountPoint>,
    ) -> Result<(), EngineError> {
        let vols = &self.volumes;
        let replace = |points: &mut BTreeMap<String, MountPoint>, mp: MountPoint| {
            if let Some(old) = points.insert(mp.destination.clone(), mp) {
                self.unplan_mounts(id, std::slice::from_ref(&old));
            }
        };
        // 1. Volumes from other containers.
        for spec in host.volumes_from.iter().flatten() {
            let (other, rw) =
                mounts::parse_volumes_from(spec).map_err(EngineError::InvalidArgument)?;
            let c = self.get(&other).map_err(|e| match e {
                EngineError::NotFound(m) => EngineError::InvalidArgument(m),
                e => e,
            })?;
            for m in c.record().mount_points {
                let mut cp = m.clone();
                cp.rw = m.rw && rw;
                cp.copy_data = false;
                cp.created = false;
                if cp.is_volume() {
                    if !vols.exists(&cp.name) {
                        return Err(crate::volumes::VolumeError::NotFound(cp.name).into());
                    }
                    vols.add_ref(&cp.name, id);
                }
                replace(points, cp);
            }
        }
        // 2. -v / Binds.
        let tmpfs = host.tmpfs.clone().unwrap_or_default();
        let mut binds = std::collections::BTreeSet::new();
        for raw in host.binds.iter().flatten() {
            let mut mp = mounts::parse_raw(raw, &host.volume_driver)
                .map_err(EngineError::InvalidArgument)?;
            if binds.contains(&mp.destination) || tmpfs.contains_key(&mp.destination) {
                return Err(dup(&mp.destination));
            }
            if mp.is_volume() {
                self.make_volume(id, &mut mp)?;
            }
            binds.insert(mp.destination.clone());
            replace(points, mp);
        }
        // 3. --mount / Mounts.
        for m in host.mounts.iter().flatten() {
            let mut mp = mounts::parse_spec(m).map_err(EngineError::InvalidArgument)?;
            if binds.contains(&mp.destination) {
                return Err(dup(&m.target));
            }
            if mp.is_volume() {
                self.make_volume(id, &mut mp)?;
            }
            binds.insert(mp.destination.clone());
            replace(points, mp);
        }
        // 4. The image's VOLUMEs and `-v /dst`: anonymous volumes where
        // nothing else is mounted.
        for spec in config.volumes.iter().flatten() {
            let dest = mounts::clean(spec);
            if points.contains_key(&dest) || tmpfs.contains_key(&dest) {
                continue;
            }
            let mut mp = MountPoint {
                kind: "volume".into(),
                destination: dest,
                driver: host.volume_driver.clone(),
                rw: true,
                copy_data: true,
                ..Default::default()
            };
            self.make_volume(id, &mut mp)?;
            // Docker leaves the mode of these empty.
            mp.mode.clear();
            points.insert(mp.destination.clone(), mp);
        }
        Ok(())
    }

    /// Creates or finds the volume of a mount point, referenced by `id`.
    fn make_volume(&self, id: &str, mp: &mut MountPoint) -> Result<(), EngineError> {
        let (v, made) = self.volumes.create_ref(
            &mp.name,
            &mp.driver,
            mp.create_opts.take(),
            mp.create_labels.take(),
            Some(id),
        )?;
        mp.name = v.name;
        mp.source = v.mountpoint;
        mp.driver = v.driver;
        mp.created = made;
        if mp.mode.is_empty() {
            mp.mode = "z".into();
        }
        Ok(())
    }

    /// Undoes a plan: references released, volumes made by it removed.
    pub(super) fn unplan_mounts(&self, id: &str, points: &[MountPoint]) {
        for mp in points.iter().filter(|m| m.is_volume()) {
            self.volumes.release(&mp.name, id);
            if mp.created {
                self.volumes.remove_anonymous(&mp.name);
            }
        }
    }

    /// At start, with the rootfs mounted: mounts device volumes, makes
    /// missing `-v` bind sources, and copies the image's content into
    /// empty volumes the first time. Blocking.
    pub(super) fn mount_volumes(&self, rec: &Record, rootfs: &Path) -> Result<(), EngineError> {
        let mut copied = false;
        for mp in &rec.mount_points {
            match mp.kind.as_str() {
                "volume" => {
                    let path = self.volumes.mount(mp, &rec.id)?;
                    if mp.copy_data {
                        copied = true;
                        copy_up(rootfs, &mp.destination, &path).map_err(|source| {
                            EngineError::Io {
                                op: "copy image content into volume",
                                path: path.clone(),
                                source,
                            }
                        })?;
                    }
                }
                "bind" if !mp.skip_mountpoint_creation => {
                    let src = Path::new(&mp.source);
                    if std::fs::symlink_metadata(src).is_err() {
                        std::fs::create_dir_all(src).map_err(|source| EngineError::Io {
                            op: "create bind source",
                            path: src.to_path_buf(),
                            source,
                        })?;
                    }
                }
                _ => {}
            }
        }
        if copied {
            // Docker copies once, when the container is made; we do at its
            // first start, and never again.
            if let Ok(c) = self.get(&rec.id) {
                c.update(&self.settings.root, |r| {
                    for m in r.mount_points.iter_mut() {
                        m.copy_data = false;
                    }
                })?;
            }
        }
        Ok(())
    }

    /// After the container stopped (or failed to start). Blocking.
    pub(super) fn unmount_volumes(&self, rec: &Record) {
        for mp in rec.mount_points.iter().filter(|m| m.is_volume()) {
            self.volumes.unmount(&mp.name, &rec.id);
        }
    }

    /// A container found running at daemon start keeps its volumes
    /// mounted.
    pub(super) fn hold_volumes(&self, rec: &Record) {
        for mp in rec.mount_points.iter().filter(|m| m.is_volume()) {
            self.volumes.hold(&mp.name, &rec.id);
        }
    }

    /// After removal: references released; with `rm -v`, the anonymous
    /// volumes removed (those still used elsewhere stay). Blocking.
    pub(super) fn release_volumes(&self, rec: &Record, remove_anonymous: bool) {
        for mp in rec.mount_points.iter().filter(|m| m.is_volume()) {
            self.volumes.release(&mp.name, &rec.id);
            if remove_anonymous && !mp.named {
                self.volumes.remove_anonymous(&mp.name);
            }
        }
    }
}

/// Copies the rootfs content at `dest` into the volume at `vol` when the
/// volume is empty (Docker's `CopyImagePathContent`). Nothing at `dest`
/// is nothing to copy.
fn copy_up(rootfs: &Path, dest: &str, vol: &Path) -> std::io::Result<()> {
    let Some(src) = resolve_in_root(rootfs, dest) else {
        return Ok(());
    };
    match std::fs::metadata(&src) {
        Ok(m) if m.is_dir() => {}
        _ => return Ok(()),
    }
    if !local::is_empty_dir(vol)? {
        return Ok(());
    }
    local::copy_tree(&src, vol)
}

/// `dest` inside `root`, following symlinks as if `root` were `/`
/// (Docker's `FollowSymlinkInScope`, through the same resolver as `cp`);
/// `None` if it leads nowhere (a symlink loop, an unreadable root).
fn resolve_in_root(root: &Path, dest: &str) -> Option<PathBuf> {
    let dir = std::fs::File::open(root).ok()?;
    let inside = super::fsops::follow_in_scope(std::os::fd::AsFd::as_fd(&dir), dest).ok()?;
    Some(root.join(inside.trim_start_matches('/')))
}

/// The OCI mounts of a container that has mount points, plus `--tmpfs`.
pub(super) fn spec_mounts(rec: &Record) -> Result<Vec<spec::Mount>, EngineError> {
    let mut out = Vec::new();
    for mp in &rec.mount_points {
        match mp.kind.as_str() {
            "bind" => out.push(spec::Mount {
                kind: spec::MountKind::Bind,
                source: PathBuf::from(&mp.source),
                destination: mp.destination.clone(),
                readonly: !mp.rw,
                propagation: Some(if mp.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    mp.propagation.clone()
                }),
                nonrecursive: mp.non_recursive,
                tmpfs_options: Vec::new(),
            }),
            "volume" => out.push(spec::Mount {
                kind: spec::MountKind::Bind,
                source: PathBuf::from(&mp.source),
                destination: mp.destination.clone(),
                readonly: !mp.rw,
                propagation: None,
                nonrecursive: false,
                tmpfs_options: Vec::new(),
            }),
            "tmpfs" => out.push(spec::Mount {
                kind: spec::MountKind::Tmpfs,
                source: PathBuf::new(),
                destination: mp.destination.clone(),
                readonly: !mp.rw,
                propagation: None,
                nonrecursive: false,
                tmpfs_options: mp.tmpfs_options.clone(),
            }),
            _ => {}
        }
    }
    for (dest, o) in rec.host_config.tmpfs.iter().flatten() {
        let opts = super::specmap::tmpfs_opts(o);
        spec::merge_tmpfs_options(&opts)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        out.push(spec::Mount {
            kind: spec::MountKind::Tmpfs,
            source: PathBuf::new(),
            destination: dest.clone(),
            readonly: opts.iter().any(|o| o == "ro"),
            propagation: None,
            nonrecursive: false,
            tmpfs_options: opts,
        });
    }
    Ok(out)
}

/// Docker's inspect `Mounts` entry.
pub(crate) fn mount_json(mp: &MountPoint) -> serde_json::Value {
    let mut v = serde_json::json!({
        "Type": mp.kind,
        "Source": mp.source,
        "Destination": mp.destination,
        "Mode": mp.mode,
        "RW": mp.rw,
        "Propagation": mp.propagation,
    });
    if !mp.name.is_empty() {
        v["Name"] = mp.name.clone().into();
    }
    if !mp.driver.is_empty() {
        v["Driver"] = mp.driver.clone().into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("real/up")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/abs/dir").unwrap(),
            root.join("real/dir")
        );
        assert_eq!(
            resolve_in_root(root, "/real/up/etc").unwrap(),
            root.join("etc")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(root, "/loop"), None);
    }

    #[test]
    fn copy_up_fills_only_empty_volumes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/f"), b"image").unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        copy_up(&root, "/data", &vol).unwrap();
        assert_eq!(std::fs::read(vol.join("f")).unwrap(), b"image");
        std::fs::write(root.join("data/g"), b"later").unwrap();
        copy_up(&root, "/data", &vol).unwrap();
        assert!(!vol.join("g").exists());
        copy_up(&root, "/missing", &vol).unwrap();
    }

    #[test]
    fn inspect_entries_omit_empty_names_and_drivers() {
        let mp = MountPoint {
            kind: "bind".into(),
            source: "/s".into(),
            destination: "/d".into(),
            rw: true,
            propagation: "rprivate".into(),
            ..Default::default()
        };
        let j = mount_json(&mp);
        assert!(j.get("Name").is_none() && j.get("Driver").is_none());
        assert_eq!(j["Propagation"], "rprivate");
    }
}
