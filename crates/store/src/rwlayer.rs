//! Containers' read-write layers, laid out as Docker 20.10 does:
//!
//! - `<root>/overlay2/<mount-id>-init`: the init layer, on top of the
//!   image's top layer (no `lower` for a scratch image), holding the mount
//!   points and placeholder files the runtime binds over (`/etc/hosts`, ...);
//! - `<root>/overlay2/<mount-id>`: the read-write layer, on top of the init
//!   layer, mounted at its `merged`;
//! - `image/overlay2/layerdb/mounts/<container-id>/{mount-id,init-id,parent}`.
//!
//! A layer is created in full, synced, then recorded; until the record is
//! renamed into place its directories are unreferenced, so a failure
//! removes them and a crash leaves them to [`Store::open`]'s recovery.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::ChainId;

use crate::mount::{self, OverlayMount};
use crate::overlay::{new_cache_id, valid_id};
use crate::{MountInfo, Store, StoreError};

/// Longest layer chain walked (Docker's overlay2 limit is 128 lowers).
const MAX_CHAIN: usize = 1000;

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

#[derive(Clone, Copy)]
enum Kind {
    Dir,
    File,
    Symlink(&'static str),
}

/// What Docker's `initlayer.Setup` puts in every container's init layer.
const INIT_ENTRIES: &[(&str, Kind)] = &[
    ("dev/pts", Kind::Dir),
    ("dev/shm", Kind::Dir),
    ("proc", Kind::Dir),
    ("sys", Kind::Dir),
    (".dockerenv", Kind::File),
    ("etc/resolv.conf", Kind::File),
    ("etc/hosts", Kind::File),
    ("etc/hostname", Kind::File),
    ("dev/console", Kind::File),
    ("etc/mtab", Kind::Symlink("/proc/mounts")),
];

fn mkdir_0755(p: &Path) -> Result<(), StoreError> {
    match std::fs::DirBuilder::new().mode(0o755).create(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io("create directory", p)(e)),
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).map_err(io("chmod", p))
}

/// Fills an init layer seen through `root` (the init layer mounted over
/// the image, or its bare diff for a scratch image) as `initlayer.Setup`
/// does: every non-directory on the way to an entry, the entry included,
/// is removed (a whiteout when it comes from the image); then an entry
/// that does not exist (a directory left in place) is created, with its
/// parent directories, mode 0755.
///
/// Never follows a symlink from the image: a prefix is only descended
/// into once it is known to be a real directory.
fn setup_init(root: &Path) -> Result<(), StoreError> {
    for (entry, kind) in INIT_ENTRIES {
        let parts: Vec<&str> = entry.split('/').collect();
        let mut p = root.to_path_buf();
        for part in &parts {
            p.push(part);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if !m.is_dir() => match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("remove", &p)(e)),
                },
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(io("stat", &p)(e)),
            }
        }
        let full = root.join(entry);
        match std::fs::symlink_metadata(&full) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("stat", &full)(e)),
        }
        let mut dir = root.to_path_buf();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            mkdir_0755(&dir)?;
        }
        match kind {
            Kind::Dir => mkdir_0755(&full)?,
            Kind::File => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o755)
                    .open(&full)
                    .map_err(io("create", &full))?;
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))
                    .map_err(io("chmod", &full))?;
            }
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &full).map_err(io("create symlink", &full))?
            }
        }
    }
    Ok(())
}

/// Bytes of the files under `dir`, as Docker's `directory.Size`: without
/// following symlinks (a symlink counts its own length), directories and
/// empty files not counted, each inode once. Entries vanishing meanwhile
/// are skipped.
fn dir_size(dir: &Path) -> Result<u64, StoreError> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total: u64 = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d != dir => continue,
            Err(e) => return Err(io("list", &d)(e)),
        };
        for e in rd {
            let e = e.map_err(io("list", &d))?;
            let p = e.path();
            let m = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("stat", &p)(e)),
            };
            if m.is_dir() {
                stack.push(p);
            } else if m.len() > 0 && seen.insert((m.dev(), m.ino())) {
                total = total.saturating_add(m.len());
            }
        }
    }
    Ok(total)
}

fn check_container_id(id: &str) -> Result<(), StoreError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("invalid container id {id:?}")))
    }
}

fn init_id_of(m: &MountInfo) -> String {
    m.init_id
        .clone()
        .unwrap_or_else(|| format!("{}-init", m.mount_id))
}

/// Removes the driver directories of a container layer being created
/// unless disarmed.
struct Cleanup<'a> {
    store: &'a Store,
    ids: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for id in self.ids.iter().rev() {
            if let Err(e) = self.store.overlay.remove(id) {
                tracing::warn!(cache_id = %id, error = %e, "removing a half-made container layer");
            }
        }
    }
}

impl Store {
    /// Creates a container's layers: `<mount-id>-init` (Docker's init layer:
    /// `/dev/pts`, `/dev/shm`, `/proc`, `/sys`, `/.dockerenv`,
    /// `/etc/{resolv.conf,hosts,hostname}`, `/dev/console`, `/etc/mtab ->
    /// /proc/mounts`, as `initlayer.Setup` makes them over the image) on
    /// top of `parent` (None: a scratch image), and `<mount-id>` on top of
    /// it; then records `layerdb/mounts/<container_id>`. Durable: the files
    /// are synced before the record is written. A failure leaves nothing.
    pub fn create_rw_layer(
        &self,
        container_id: &str,
        parent: Option<&ChainId>,
    ) -> Result<MountInfo, StoreError> {
        check_container_id(container_id)?;
        if self.layers.mount(container_id)?.is_some() {
            return Err(StoreError::ContainerLayerExists(container_id.to_string()));
        }
        let parent_info = match parent {
            None => None,
            Some(p) => Some(
                self.layers
                    .get(p)?
                    .ok_or_else(|| StoreError::LayerNotFound(p.clone()))?,
            ),
        };
        let mount_id = new_cache_id();
        let init_id = format!("{mount_id}-init");
        let mut cleanup = Cleanup {
            store: self,
            ids: vec![init_id.clone()],
        };
        self.overlay.create(&init_id)?;
        if let Some(pi) = &parent_info {
            self.overlay.set_parent(&init_id, &pi.cache_id)?;
        }
        self.fill_init_layer(&init_id)?;
        cleanup.ids.push(mount_id.clone());
        self.overlay.create(&mount_id)?;
        self.overlay.set_parent(&mount_id, &init_id)?;
        // Only what was just made is synced (a few dozen inodes), not the
        // whole filesystem: a syncfs here would wait for every other
        // writer on the device (a pull, an app's logs) on a slow SD card.
        for id in [&init_id, &mount_id] {
            let dir = self.overlay.dir(id);
            fsync_tree(&dir)?;
        }
        let home = self.overlay.home().to_path_buf();
        crate::fsutil::sync_dir(&home.join("l")).map_err(sync_err(&home))?;
        crate::fsutil::sync_dir(&home).map_err(sync_err(&home))?;
        let info = MountInfo {
            container_id: container_id.to_string(),
            mount_id,
            init_id: Some(init_id),
            parent: parent.cloned(),
        };
        self.layers.put_mount(&info)?;
        cleanup.ids.clear();
        Ok(info)
    }

    /// Mounts the init layer over the image (when it has one), fills it,
    /// and unmounts it again.
    fn fill_init_layer(&self, init_id: &str) -> Result<(), StoreError> {
        let Some(lowers) = self.overlay.lowers(init_id)? else {
            return setup_init(&self.overlay.diff(init_id));
        };
        let merged = self.overlay.dir(init_id).join("merged");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&merged)
            .map_err(io("create directory", &merged))?;
        OverlayMount {
            home: self.overlay.home(),
            lowers: &lowers,
            upper: Path::new(init_id).join("diff"),
            work: Path::new(init_id).join("work"),
            target: Path::new(init_id).join("merged"),
        }
        .mount(None)?;
        let result = setup_init(&merged);
        let unmounted = mount::unmount(&merged);
        let _ = std::fs::remove_dir(&merged);
        result.and(unmounted)
    }

    /// A container's layer record, None when it has none.
    pub fn rw_layer(&self, container_id: &str) -> Result<Option<MountInfo>, StoreError> {
        check_container_id(container_id)?;
        self.layers.mount(container_id)
    }

    fn rw_record(&self, container_id: &str) -> Result<MountInfo, StoreError> {
        self.rw_layer(container_id)?
            .ok_or_else(|| StoreError::RwLayerNotFound(container_id.to_string()))
    }

    fn rw_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded state is the mount table, not memory: a panic while
        // holding the lock leaves nothing to repair.
        self.rw_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mounts a container's root filesystem at `<root>/overlay2/<mount-id>/merged`
    /// (lowerdir = the init layer's and the image layers' `l/<link>`
    /// names, absolute; upperdir = `diff`; workdir = `work`) and returns
    /// that path. Already mounted is fine.
    ///
    /// When the absolute options do not fit in a page, the mount is made
    /// with paths relative to the driver home by a forked child that
    /// changes its directory (Docker re-executes itself for this; a
    /// multi-threaded process cannot change its own directory). Options
    /// too long even so are refused with
    /// [`StoreError::MountOptionsTooLong`].
    pub fn mount_rw(&self, container_id: &str) -> Result<PathBuf, StoreError> {
        let _g = self.rw_lock();
        let m = self.rw_record(container_id)?;
        let dir = self.overlay.dir(&m.mount_id);
        std::fs::metadata(&dir).map_err(io("open container layer", &dir))?;
        // A layer without a parent (no init layer, scratch) is used as it
        // is, as Docker does.
        let Some(lowers) = self.overlay.lowers(&m.mount_id)? else {
            return Ok(self.overlay.diff(&m.mount_id));
        };
        let merged = dir.join("merged");
        match std::fs::DirBuilder::new().mode(0o700).create(&merged) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("create directory", &merged)(e)),
        }
        if mount::is_mountpoint(&merged)? {
            return Ok(merged);
        }
        OverlayMount {
            home: self.overlay.home(),
            lowers: &lowers,
            upper: Path::new(&m.mount_id).join("diff"),
            work: Path::new(&m.mount_id).join("work"),
            target: Path::new(&m.mount_id).join("merged"),
        }
        .mount(None)?;
        Ok(merged)
    }

    /// Unmounts a container's root filesystem (detaching it) and removes
    /// the `merged` directory, as Docker does. Not mounted, or no layer at
    /// all, is fine.
    pub fn unmount_rw(&self, container_id: &str) -> Result<(), StoreError> {
        let _g = self.rw_lock();
        let Some(m) = self.rw_layer(container_id)? else {
            return Ok(());
        };
        let merged = self.overlay.dir(&m.mount_id).join("merged");
        mount::unmount(&merged)?;
        // Removing the mount point also ends copies of the mount in other
        // mount namespaces on newer kernels; failing to is harmless.
        let _ = std::fs::remove_dir(&merged);
        Ok(())
    }

    /// Unmounts and removes a container's layers (both driver directories
    /// and their `l/` links), then its record. A missing layer is fine.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), StoreError> {
        let _g = self.rw_lock();
        let Some(m) = self.rw_layer(container_id)? else {
            return Ok(());
        };
        // Directories first, record last (Docker's order): a failure keeps
        // the record, so removing again finishes the job.
        self.overlay.remove(&m.mount_id)?;
        self.overlay.remove(&init_id_of(&m))?;
        self.layers.remove_mount(container_id)
    }

    /// `(SizeRw, SizeRootFs)` as Docker reports them: the bytes of the
    /// read-write layer's own files, and those plus every image layer's
    /// recorded size. Like Docker, SizeRootFs is 0 for a container of a
    /// scratch image (no parent).
    pub fn rw_size(&self, container_id: &str) -> Result<(i64, i64), StoreError> {
        let m = self.rw_record(container_id)?;
        let rw = dir_size(&self.overlay.diff(&m.mount_id))?;
        let rootfs = match &m.parent {
            None => 0,
            Some(p) => self
                .chain(p)?
                .iter()
                .fold(rw, |acc, l| acc.saturating_add(l.size)),
        };
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok((clamp(rw), clamp(rootfs)))
    }

    /// The layers from `top` down to its base.
    fn chain(&self, top: &ChainId) -> Result<Vec<crate::LayerInfo>, StoreError> {
        let mut out = Vec::new();
        let mut next = Some(top.clone());
        while let Some(c) = next {
            if out.len() >= MAX_CHAIN {
                return Err(StoreError::Corrupt(format!(
                    "layer chain of {top} longer than {MAX_CHAIN}"
                )));
            }
            let info = self
                .layers
                .get(&c)?
                .ok_or_else(|| StoreError::LayerNotFound(c.clone()))?;
            next = info.parent.clone();
            out.push(info);
        }
        Ok(out)
    }

    /// `GraphDriver.Data` of `docker inspect` for a container: `LowerDir`
    /// (the init layer's diff then the image layers', `:`-separated
    /// absolute paths; absent when there are none), `MergedDir`,
    /// `UpperDir`, `WorkDir`.
    pub fn rw_driver_data(
        &self,
        container_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let m = self.rw_record(container_id)?;
        let home =
            std::path::absolute(self.overlay.home()).map_err(io("resolve", self.overlay.home()))?;
        let dir = home.join(&m.mount_id);
        std::fs::metadata(&dir).map_err(io("open container layer", &dir))?;
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        let mut data = BTreeMap::new();
        data.insert("WorkDir".to_string(), s(dir.join("work")));
        data.insert("MergedDir".to_string(), s(dir.join("merged")));
        data.insert("UpperDir".to_string(), s(dir.join("diff")));
        if let Some(lowers) = self.overlay.lowers(&m.mount_id)? {
            let dirs = lowers
                .iter()
                .map(|l| self.overlay.resolve_link(l).map(s))
                .collect::<Result<Vec<_>, _>>()?;
            data.insert("LowerDir".to_string(), dirs.join(":"));
        }
        Ok(data)
    }

    /// The chain ids containers' layers are directly on top of, each once.
    pub fn rw_parents(&self) -> Result<Vec<ChainId>, StoreError> {
        let mut out: Vec<ChainId> = Vec::new();
        for m in self.layers.mounts()? {
            if let Some(p) = m.parent {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// A container whose layer is on top of `chain` or of a child of it.
    pub(crate) fn container_using(&self, chain: &ChainId) -> Result<Option<String>, StoreError> {
        for m in self.layers.mounts()? {
            let mut next = m.parent.clone();
            let mut depth = 0;
            while let Some(c) = next {
                if &c == chain {
                    return Ok(Some(m.container_id));
                }
                depth += 1;
                if depth > MAX_CHAIN {
                    break;
                }
                next = self.layers.get(&c)?.and_then(|i| i.parent);
            }
        }
        Ok(None)
    }
}

fn sync_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        op: "sync",
        path,
        source,
    }
}

/// fsyncs every directory and regular file under `root` (not following
/// symlinks; a symlink is made durable by its directory's fsync). For the
/// small trees of a new container layer.
fn fsync_tree(root: &Path) -> Result<(), StoreError> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(sync_err(&dir))? {
            let e = e.map_err(sync_err(&dir))?;
            let ft = e.file_type().map_err(sync_err(&e.path()))?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && e.metadata().map_err(sync_err(&e.path()))?.len() > 0 {
                // An empty file has no data to sync: its inode is committed
                // with its directory's (journalled) fsync below.
                std::fs::File::open(e.path())
                    .and_then(|f| f.sync_all())
                    .map_err(sync_err(&e.path()))?;
            }
        }
        crate::fsutil::sync_dir(&dir).map_err(sync_err(&dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{add_layer, layer_tar};
    use std::sync::Arc;

    /// Unmounts every container layer of a store when a test ends, passed
    /// or failed.
    struct Unmounter(Arc<Store>, Vec<String>);

    impl Drop for Unmounter {
        fn drop(&mut self) {
            for c in &self.1 {
                let _ = self.0.unmount_rw(c);
            }
            if let Ok(dirs) = self.0.overlay.list() {
                for d in dirs {
                    let _ = mount::unmount(&self.0.overlay.dir(&d).join("merged"));
                }
            }
        }
    }

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let d = tempfile::tempdir().unwrap();
        let s = Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        (d, s)
    }

    fn cid(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn init_layer_matches_dockers_on_a_scratch_parent() {
        let d = tempfile::tempdir().unwrap();
        setup_init(d.path()).unwrap();
        assert_eq!(
            names(d.path()),
            vec![".dockerenv", "dev", "etc", "proc", "sys"]
        );
        assert_eq!(names(&d.path().join("dev")), vec!["console", "pts", "shm"]);
        assert_eq!(
            names(&d.path().join("etc")),
            vec!["hostname", "hosts", "mtab", "resolv.conf"]
        );
        assert_eq!(
            std::fs::read_link(d.path().join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        let m = std::fs::metadata(d.path().join("etc/hosts")).unwrap();
        assert!(m.is_file());
        assert_eq!(m.len(), 0);
        assert_eq!(m.permissions().mode() & 0o7777, 0o755);
    }

    #[test]
    fn init_setup_never_follows_symlinks_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("etc")).unwrap();
        // An entry that exists as a directory is left alone.
        std::fs::create_dir_all(d.path().join("dev/console")).unwrap();
        setup_init(d.path()).unwrap();
        assert!(std::fs::symlink_metadata(d.path().join("etc"))
            .unwrap()
            .is_dir());
        assert!(d.path().join("etc/hosts").is_file());
        assert!(d.path().join("dev/console").is_dir());
        assert!(names(outside.path()).is_empty());
    }

    #[test]
    fn dir_size_counts_hardlinks_once_and_symlinks_by_their_length() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/f"), [0u8; 100]).unwrap();
        std::fs::hard_link(d.path().join("a/f"), d.path().join("g")).unwrap();
        std::fs::write(d.path().join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("/twelve/char", d.path().join("s")).unwrap();
        assert_eq!(dir_size(d.path()).unwrap(), 100 + 12);
    }

    #[test]
    fn a_container_layer_mounts_writes_through_and_is_removed_without_trace() {
        let (d, s) = store();
        let img = add_layer(
            &s,
            &layer_tar(&[("etc/hosts", b"image hosts"), ("bin/sh", b"shell")]),
            None,
        );
        let c = cid(1);
        let _u = Unmounter(s.clone(), vec![c.clone()]);
        let m = s.create_rw_layer(&c, Some(&img.chain_id)).unwrap();
        assert_eq!(m.init_id.as_deref(), Some(&*format!("{}-init", m.mount_id)));
        assert_eq!(s.rw_layer(&c).unwrap(), Some(m.clone()));
        // The record, as Docker writes it.
        let rec = d.path().join("image/overlay2/layerdb/mounts").join(&c);
        assert_eq!(
            std::fs::read_to_string(rec.join("mount-id")).unwrap(),
            m.mount_id
        );
        assert_eq!(
            std::fs::read_to_string(rec.join("init-id")).unwrap(),
            format!("{}-init", m.mount_id)
        );
        assert_eq!(
            std::fs::read_to_string(rec.join("parent")).unwrap(),
            img.chain_id.as_str()
        );
        // Driver directories: init on the image, rw on init.
        let o = &s.overlay;
        let init = format!("{}-init", m.mount_id);
        let img_link = o.link_id(&img.cache_id).unwrap();
        let init_link = o.link_id(&init).unwrap();
        assert_eq!(
            std::fs::read_to_string(o.dir(&init).join("lower")).unwrap(),
            format!("l/{img_link}")
        );
        assert_eq!(
            std::fs::read_to_string(o.dir(&m.mount_id).join("lower")).unwrap(),
            format!("l/{init_link}:l/{img_link}")
        );
        assert!(o.dir(&m.mount_id).join("work").is_dir());
        assert!(!o.dir(&init).join("merged").exists());
        // The image's /etc/hosts is replaced by an empty placeholder (a
        // whiteout and a new file in the init layer's upper).
        let ih = std::fs::metadata(o.diff(&init).join("etc/hosts")).unwrap();
        assert_eq!(ih.len(), 0);
        assert!(o.diff(&init).join(".dockerenv").is_file());

        let merged = s.mount_rw(&c).unwrap();
        assert_eq!(merged, o.dir(&m.mount_id).join("merged"));
        assert!(mount::is_mountpoint(&merged).unwrap());
        assert_eq!(std::fs::read(merged.join("bin/sh")).unwrap(), b"shell");
        assert_eq!(std::fs::read(merged.join("etc/hosts")).unwrap(), b"");
        assert!(merged.join("proc").is_dir());
        std::fs::write(merged.join("hello.txt"), b"hi there").unwrap();
        assert_eq!(
            std::fs::read(o.diff(&m.mount_id).join("hello.txt")).unwrap(),
            b"hi there"
        );
        // Mounting again is a no-op: one mount, same path.
        assert_eq!(s.mount_rw(&c).unwrap(), merged);
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let real = std::fs::canonicalize(&merged).unwrap();
        let needle = format!(" {} ", real.display());
        assert_eq!(info.matches(&needle).count(), 1);

        s.unmount_rw(&c).unwrap();
        assert!(!mount::is_mountpoint(&merged).unwrap());
        s.unmount_rw(&c).unwrap();
        // Remount after unmount sees the written file.
        let merged = s.mount_rw(&c).unwrap();
        assert_eq!(
            std::fs::read(merged.join("hello.txt")).unwrap(),
            b"hi there"
        );

        s.remove_rw_layer(&c).unwrap();
        assert!(!mount::is_mountpoint(&merged).unwrap());
        assert_eq!(s.rw_layer(&c).unwrap(), None);
        assert!(!rec.exists());
        assert_eq!(o.list().unwrap(), vec![img.cache_id.clone()]);
        assert_eq!(names(&o.home().join("l")), vec![img_link]);
        s.remove_rw_layer(&c).unwrap();
        s.unmount_rw(&c).unwrap();
        assert_eq!(s.rw_parents().unwrap(), Vec::<ChainId>::new());
    }

    #[test]
    fn a_scratch_container_has_init_as_its_only_lower() {
        let (_d, s) = store();
        let c = cid(2);
        let _u = Unmounter(s.clone(), vec![c.clone()]);
        let m = s.create_rw_layer(&c, None).unwrap();
        assert_eq!(m.parent, None);
        let init = format!("{}-init", m.mount_id);
        assert!(!s.overlay.dir(&init).join("lower").exists());
        assert!(!s
            .root()
            .join("image/overlay2/layerdb/mounts")
            .join(&c)
            .join("parent")
            .exists());
        let merged = s.mount_rw(&c).unwrap();
        assert!(merged.join("etc/resolv.conf").is_file());
        assert!(merged.join("dev/shm").is_dir());
        let data = s.rw_driver_data(&c).unwrap();
        assert_eq!(data["LowerDir"], s.overlay.diff(&init).to_string_lossy());
        std::fs::write(merged.join("x"), [1u8; 10]).unwrap();
        assert_eq!(s.rw_size(&c).unwrap(), (10, 0));
        s.remove_rw_layer(&c).unwrap();
        assert!(s.overlay.list().unwrap().is_empty());
    }

    #[test]
    fn sizes_and_driver_data_are_dockers() {
        let (d, s) = store();
        let l1 = add_layer(&s, &layer_tar(&[("a", &[1u8; 1000])]), None);
        let l2 = add_layer(&s, &layer_tar(&[("b", &[2u8; 234])]), Some(&l1.chain_id));
        let c = cid(3);
        let _u = Unmounter(s.clone(), vec![c.clone()]);
        let m = s.create_rw_layer(&c, Some(&l2.chain_id)).unwrap();
        assert_eq!(s.rw_size(&c).unwrap(), (0, 1234));
        let merged = s.mount_rw(&c).unwrap();
        std::fs::write(merged.join("new"), [3u8; 50]).unwrap();
        std::fs::hard_link(merged.join("new"), merged.join("new2")).unwrap();
        assert_eq!(s.rw_size(&c).unwrap(), (50, 1284));

        let home = d.path().join("overlay2");
        let data = s.rw_driver_data(&c).unwrap();
        let diff = |id: &str| home.join(id).join("diff").to_string_lossy().into_owned();
        assert_eq!(
            data["LowerDir"],
            format!(
                "{}:{}:{}",
                diff(&format!("{}-init", m.mount_id)),
                diff(&l2.cache_id),
                diff(&l1.cache_id)
            )
        );
        let dir = home.join(&m.mount_id);
        assert_eq!(data["MergedDir"], dir.join("merged").to_string_lossy());
        assert_eq!(data["UpperDir"], dir.join("diff").to_string_lossy());
        assert_eq!(data["WorkDir"], dir.join("work").to_string_lossy());
        assert_eq!(data.len(), 4);
        assert!(matches!(
            s.rw_size(&cid(9)),
            Err(StoreError::RwLayerNotFound(_))
        ));
    }

    #[test]
    fn layers_under_a_container_are_not_removed() {
        let (_d, s) = store();
        let l1 = add_layer(&s, &layer_tar(&[("a", b"1")]), None);
        let l2 = add_layer(&s, &layer_tar(&[("b", b"2")]), Some(&l1.chain_id));
        let c = cid(4);
        s.create_rw_layer(&c, Some(&l2.chain_id)).unwrap();
        assert_eq!(s.rw_parents().unwrap(), vec![l2.chain_id.clone()]);
        for chain in [&l2.chain_id, &l1.chain_id] {
            let err = s.remove_layer(chain).unwrap_err();
            assert!(
                matches!(&err, StoreError::LayerInUse { chain: ch, container } if ch == chain && *container == c),
                "{err}"
            );
            assert!(s.layer_exists(chain));
        }
        // A second layer for the same container is refused.
        assert!(matches!(
            s.create_rw_layer(&c, None),
            Err(StoreError::ContainerLayerExists(_))
        ));
        s.remove_rw_layer(&c).unwrap();
        s.remove_layer(&l2.chain_id).unwrap();
        s.remove_layer(&l1.chain_id).unwrap();
    }

    #[test]
    fn recovery_keeps_container_layers_and_removes_half_made_ones() {
        let (d, s) = store();
        let img = add_layer(&s, &layer_tar(&[("a", b"1")]), None);
        let c = cid(5);
        let _u = Unmounter(s.clone(), vec![c.clone()]);
        let m = s.create_rw_layer(&c, Some(&img.chain_id)).unwrap();
        let merged = s.mount_rw(&c).unwrap();
        std::fs::write(merged.join("kept"), b"k").unwrap();
        // A container layer created but never recorded (crash before the
        // record), its init layer left mounted.
        let half = "f".repeat(64);
        let half_init = format!("{half}-init");
        s.overlay.create(&half_init).unwrap();
        s.overlay.set_parent(&half_init, &img.cache_id).unwrap();
        s.overlay.create(&half).unwrap();
        s.overlay.set_parent(&half, &half_init).unwrap();
        let half_merged = s.overlay.dir(&half_init).join("merged");
        std::fs::create_dir(&half_merged).unwrap();
        OverlayMount {
            home: s.overlay.home(),
            lowers: &[format!("l/{}", s.overlay.link_id(&img.cache_id).unwrap())],
            upper: Path::new(&half_init).join("diff"),
            work: Path::new(&half_init).join("work"),
            target: Path::new(&half_init).join("merged"),
        }
        .mount(None)
        .unwrap();
        // And a record transaction that never got renamed into place.
        let tx = s.layers.begin().unwrap();
        std::mem::forget(tx);
        drop(s);

        let (s, rec) = Store::open(d.path(), "overlay2").unwrap();
        let s = Arc::new(s);
        let _u2 = Unmounter(s.clone(), vec![c.clone()]);
        assert_eq!(rec.orphan_layers, 2);
        assert_eq!(rec.transactions, 1);
        assert!(!mount::is_mountpoint(&half_merged).unwrap());
        let mut left = s.overlay.list().unwrap();
        left.sort();
        let mut want = vec![
            img.cache_id.clone(),
            m.mount_id.clone(),
            format!("{}-init", m.mount_id),
        ];
        want.sort();
        assert_eq!(left, want);
        assert_eq!(s.rw_layer(&c).unwrap(), Some(m));
        // Still mounted from before the reopen: mounting is a no-op.
        let merged = s.mount_rw(&c).unwrap();
        assert_eq!(std::fs::read(merged.join("kept")).unwrap(), b"k");
        s.remove_rw_layer(&c).unwrap();
    }

    #[test]
    fn options_longer_than_a_page_mount_relative_from_a_child() {
        let (_d, s) = store();
        let img = add_layer(&s, &layer_tar(&[("a", b"1")]), None);
        let c = cid(6);
        let _u = Unmounter(s.clone(), vec![c.clone()]);
        let m = s.create_rw_layer(&c, Some(&img.chain_id)).unwrap();
        let lowers = s.overlay.lowers(&m.mount_id).unwrap().unwrap();
        let merged = s.overlay.dir(&m.mount_id).join("merged");
        std::fs::create_dir(&merged).unwrap();
        let om = OverlayMount {
            home: s.overlay.home(),
            lowers: &lowers,
            upper: Path::new(&m.mount_id).join("diff"),
            work: Path::new(&m.mount_id).join("work"),
            target: Path::new(&m.mount_id).join("merged"),
        };
        // Too long even relative: refused with the lengths.
        let err = om.mount(Some(64)).unwrap_err();
        assert!(
            matches!(err, StoreError::MountOptionsTooLong { max: 63, .. }),
            "{err}"
        );
        // Too long only absolute: mounted by the forked child.
        let idx = mount::index_off();
        let rel = mount::options(idx, &lowers, &om.upper, &om.work, Path::new(""));
        let home = std::path::absolute(s.overlay.home()).unwrap();
        let abs = mount::options(idx, &lowers, &om.upper, &om.work, &home);
        assert!(abs.len() > rel.len() + 1);
        om.mount(Some(rel.len() + 1)).unwrap();
        assert!(mount::is_mountpoint(&merged).unwrap());
        assert!(merged.join("a").is_file());
        assert!(merged.join(".dockerenv").is_file());
        // The daemon's own working directory is untouched.
        assert_ne!(std::env::current_dir().unwrap(), s.overlay.home());
        s.remove_rw_layer(&c).unwrap();
    }

    #[test]
    fn hostile_container_ids_are_refused() {
        let (_d, s) = store();
        for id in ["", "../x", "a/b", "."] {
            assert!(matches!(
                s.create_rw_layer(id, None),
                Err(StoreError::Invalid(_))
            ));
            assert!(s.rw_layer(id).is_err());
        }
        assert!(s.overlay.list().unwrap().is_empty());
    }

    #[test]
    fn a_failed_create_leaves_nothing() {
        let (d, s) = store();
        let img = add_layer(&s, &layer_tar(&[("a", b"1")]), None);
        // An unknown parent is refused before anything is made.
        let missing = crate::tests::diff_id_of(b"nope").into();
        assert!(matches!(
            s.create_rw_layer(&cid(7), Some(&missing)),
            Err(StoreError::LayerNotFound(_))
        ));
        // A failure once both layers exist, at the record: a dangling
        // symlink is no record to the checks but blocks the rename.
        let rec = d.path().join("image/overlay2/layerdb/mounts").join(cid(7));
        std::os::unix::fs::symlink("/nonexistent", &rec).unwrap();
        let err = s.create_rw_layer(&cid(7), Some(&img.chain_id)).unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "commit", .. }), "{err}");
        assert_eq!(s.overlay.list().unwrap(), vec![img.cache_id.clone()]);
        assert_eq!(names(&s.overlay.home().join("l")).len(), 1);
        assert!(names(&d.path().join("image/overlay2/layerdb/tmp")).is_empty());
        // An empty record directory (Docker interrupted before writing
        // mount-id) is replaced.
        std::fs::remove_file(&rec).unwrap();
        std::fs::create_dir(&rec).unwrap();
        let m = s.create_rw_layer(&cid(7), Some(&img.chain_id)).unwrap();
        assert_eq!(s.rw_layer(&cid(7)).unwrap(), Some(m));
        s.remove_rw_layer(&cid(7)).unwrap();
    }
}
