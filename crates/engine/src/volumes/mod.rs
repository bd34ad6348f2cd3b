//! Volumes: Docker's `local` driver and volume service.
//!
//! On disk, as Docker 20.10: `<data-root>/volumes/<name>/_data` holds the
//! data, `<name>/opts.json` the driver options (Docker's `optsConfig`).
//! What Docker keeps in `volumes/metadata.db` (labels, options as given)
//! we keep per volume in `<name>/volume.json`; a volume directory without
//! one (made by Docker) is still a volume. A volume is made under a
//! temporary name (`.tmp-*`, not a valid volume name) and renamed into
//! place, so a failed or interrupted create leaves nothing.
//!
//! References (which containers use a volume) live in memory, rebuilt by
//! the containers service from its records at start, as in Docker. A
//! volume with driver options (`type`/`device`/`o`) is mounted when the
//! first container using it starts and unmounted when the last one stops.
//!
//! # Layout
//! - `local`: driver options, mounting, copy-up, sizes.
//! - `mounts`: a container's mount points and their parsers.

pub mod local;
pub mod mounts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use api::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumeUsageData};
use serde::{Deserialize, Serialize};

use crate::events::{Events, Kind};
use crate::filters::Filters;
use crate::EngineError;
use local::OptsConfig;
pub use mounts::MountPoint;

/// The only driver.
pub const DRIVER: &str = "local";
/// Data directory name inside a volume's directory.
pub const DATA_DIR: &str = "_data";
const META_FILE: &str = "volume.json";
const OPTS_FILE: &str = "opts.json";

/// Errors of the volume service.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{op} {name}: {msg}")]
    Invalid {
        op: &'static str,
        name: String,
        msg: String,
    },
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("create {name}: error looking up volume plugin {driver}: plugin {driver:?} not found")]
    NoDriver { name: String, driver: String },
    #[error("remove {name}: volume is in use - [{}]", refs.join(", "))]
    InUse { name: String, refs: Vec<String> },
    #[error("a prune operation is already running")]
    PruneRunning,
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<VolumeError> for EngineError {
    fn from(e: VolumeError) -> Self {
        let m = e.to_string();
        match e {
            VolumeError::Invalid { .. } => EngineError::InvalidArgument(m),
            VolumeError::NotFound(_) | VolumeError::NoDriver { .. } => EngineError::NotFound(m),
            VolumeError::InUse { .. } | VolumeError::PruneRunning => EngineError::Conflict(m),
            VolumeError::Io { op, path, source } => EngineError::Io { op, path, source },
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

/// What we keep about a volume (`volume.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Meta {
    name: String,
    driver: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    created_at: String,
}

#[derive(Debug)]
struct Vol {
    meta: Meta,
    opts: Option<OptsConfig>,
    /// Containers referencing the volume.
    refs: BTreeSet<String>,
    /// Containers that have it mounted (device volumes only matter).
    users: BTreeSet<String>,
    /// The device is mounted on `_data`.
    mounted: bool,
}

impl Vol {
    fn needs_mount(&self) -> bool {
        self.opts.as_ref().is_some_and(OptsConfig::needs_mount)
    }
}

/// The volume service. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Volumes {
    root: PathBuf,
    events: Arc<Events>,
    vols: Mutex<BTreeMap<String, Vol>>,
    pruning: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_rfc3339_secs() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `ctime` of a path as RFC 3339 (Docker's `CreatedAt` for volumes it has
/// no record of).
fn ctime_rfc3339(p: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p)
        .ok()
        .and_then(|m| chrono::DateTime::from_timestamp(m.ctime(), 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl Volumes {
    /// Loads every volume under `<data-root>/volumes` (created 0701),
    /// removing what an interrupted create left.
    pub fn open(root: PathBuf, events: Arc<Events>) -> Result<Arc<Self>, EngineError> {
        use std::os::unix::fs::DirBuilderExt;
        if !root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o701)
                .create(&root)
                .map_err(io("create directory", &root))?;
        }
        let mut vols = BTreeMap::new();
        for e in std::fs::read_dir(&root)
            .map_err(io("list", &root))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            if !dir.is_dir() {
                continue;
            }
            let data = dir.join(DATA_DIR);
            let opts: Option<OptsConfig> = match std::fs::read(dir.join(OPTS_FILE)) {
                Ok(b) => match serde_json::from_slice::<OptsConfig>(&b) {
                    Ok(o) if o != OptsConfig::default() => Some(o),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(volume = %name, error = %e, "unreadable opts.json; volume ignored");
                        continue;
                    }
                },
                Err(_) => None,
            };
            let meta = match crate::containers::record::read_json::<Meta>(&dir.join(META_FILE)) {
                Ok(Some(m)) => m,
                _ => Meta {
                    name: name.clone(),
                    driver: DRIVER.into(),
                    labels: None,
                    options: opts.as_ref().map(OptsConfig::as_options),
                    created_at: ctime_rfc3339(&data),
                },
            };
            let mounted = opts.as_ref().is_some_and(OptsConfig::needs_mount)
                && store::is_mountpoint(&data).unwrap_or(false);
            vols.insert(
                name,
                Vol {
                    meta,
                    opts,
                    refs: BTreeSet::new(),
                    users: BTreeSet::new(),
                    mounted,
                },
            );
        }
        Ok(Arc::new(Volumes {
            root,
            events,
            vols: Mutex::new(vols),
            pruning: AtomicBool::new(false),
        }))
    }

    fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn to_api(&self, v: &Vol) -> Volume {
        Volume {
            created_at: v.meta.created_at.clone(),
            driver: v.meta.driver.clone(),
            labels: v.meta.labels.clone(),
            mountpoint: self.data_path(&v.meta.name).display().to_string(),
            name: v.meta.name.clone(),
            options: v.meta.options.clone(),
            scope: "local".into(),
            status: None,
            usage_data: None,
        }
    }

    /// `POST /volumes/create`. Blocking (durable writes). An existing
    /// volume of that name is returned as it is, as Docker does.
    pub fn create(&self, req: VolumeCreateRequest) -> Result<Volume, EngineError> {
        let (v, _) = self.create_ref(&req.name, &req.driver, req.driver_opts, req.labels, None)?;
        Ok(v)
    }

    /// Creates (or finds) a volume and, with `reference`, records that a
    /// container uses it, under one lock so a prune or remove cannot slip
    /// in between. Returns the volume and whether it was made now.
    /// Blocking.
    pub fn create_ref(
        &self,
        name: &str,
        driver: &str,
        opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
        reference: Option<&str>,
    ) -> Result<(Volume, bool), VolumeError> {
        let name = if name.is_empty() {
            crate::new_id()
        } else {
            name.to_string()
        };
        let invalid = |msg: String| VolumeError::Invalid {
            op: "create",
            name: name.clone(),
            msg,
        };
        mounts::validate_name(&name).map_err(invalid)?;
        if !driver.is_empty() && driver != DRIVER {
            return Err(VolumeError::NoDriver {
                name,
                driver: driver.to_string(),
            });
        }
        let mut vols = lock(&self.vols);
        if let Some(v) = vols.get_mut(&name) {
            if let Some(r) = reference {
                v.refs.insert(r.to_string());
            }
            return Ok((self.to_api(v), false));
        }
        let parsed =
            local::parse_opts(opts.as_ref().unwrap_or(&BTreeMap::new())).map_err(invalid)?;
        let meta = Meta {
            name: name.clone(),
            driver: DRIVER.into(),
            labels,
            options: opts,
            created_at: now_rfc3339_secs(),
        };
        self.make_dir(&meta, parsed.as_ref())?;
        let mut v = Vol {
            meta,
            opts: parsed,
            refs: BTreeSet::new(),
            users: BTreeSet::new(),
            mounted: false,
        };
        if let Some(r) = reference {
            v.refs.insert(r.to_string());
        }
        let out = self.to_api(&v);
        vols.insert(name.clone(), v);
        drop(vols);
        self.events.emit(
            Kind::Volume,
            "create",
            name,
            [("driver".to_string(), DRIVER.to_string())].into(),
        );
        Ok((out, true))
    }

    /// Makes `<root>/<name>` with `_data`, `opts.json` and `volume.json`
    /// under a temporary name, then renames it into place.
    fn make_dir(&self, meta: &Meta, opts: Option<&OptsConfig>) -> Result<(), VolumeError> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = self.root.join(format!(".tmp-{}", crate::new_id()));
        let made = (|| {
            std::fs::DirBuilder::new()
                .mode(0o701)
                .create(&tmp)
                .map_err(io("create directory", &tmp))?;
            let data = tmp.join(DATA_DIR);
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&data)
                .map_err(io("create directory", &data))?;
            // The umask may have narrowed the modes.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755));
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o701));
            if let Some(o) = opts {
                let p = tmp.join(OPTS_FILE);
                let b = serde_json::to_vec(o).map_err(|e| VolumeError::Invalid {
                    op: "create",
                    name: meta.name.clone(),
                    msg: e.to_string(),
                })?;
                store::fsutil::write_atomic_mode(&p, &b, 0o600).map_err(io("write", &p))?;
            }
            let p = tmp.join(META_FILE);
            let b = serde_json::to_vec(meta).map_err(|e| VolumeError::Invalid {
                op: "create",
                name: meta.name.clone(),
                msg: e.to_string(),
            })?;
            store::fsutil::write_atomic_mode(&p, &b, 0o600).map_err(io("write", &p))?;
            let dst = self.root.join(&meta.name);
            std::fs::rename(&tmp, &dst).map_err(io("rename", &dst))?;
            store::fsutil::sync_dir(&self.root).map_err(io("sync", &self.root))
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        made
    }

    /// `GET /volumes/{name}`.
    pub fn inspect(&self, name: &str) -> Result<Volume, EngineError> {
        let vols = lock(&self.vols);
        let v = vols
            .get(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))?;
        let mut out = self.to_api(v);
        out.status = None;
        Ok(out)
    }

    /// Whether a volume exists.
    pub fn exists(&self, name: &str) -> bool {
        lock(&self.vols).contains_key(name)
    }

    /// `GET /volumes` with Docker's filters (`dangling`, `name`, `label`,
    /// `driver`).
    pub fn list(&self, filters: &Filters) -> Result<VolumeListResponse, EngineError> {
        filters.validate(&["dangling", "name", "label", "driver"])?;
        let dangling = dangling_filter(filters)?;
        let vols = lock(&self.vols);
        let volumes = vols
            .values()
            .filter(|v| {
                let names = filters.get("name");
                (names.is_empty()
                    || names
                        .iter()
                        .any(|p| crate::filters::name_matches(p, &v.meta.name)))
                    && {
                        let d = filters.get("driver");
                        d.is_empty() || d.contains(&v.meta.driver)
                    }
                    && filters.match_labels("label", &v.meta.labels.clone().unwrap_or_default())
                    && dangling.is_none_or(|d| d == v.refs.is_empty())
            })
            .map(|v| self.to_api(v))
            .collect();
        Ok(VolumeListResponse {
            volumes,
            warnings: None,
        })
    }

    /// Containers referencing a volume.
    pub fn refs(&self, name: &str) -> Vec<String> {
        lock(&self.vols)
            .get(name)
            .map(|v| v.refs.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records that `container` uses `name` (containers at daemon start).
    pub fn add_ref(&self, name: &str, container: &str) {
        if let Some(v) = lock(&self.vols).get_mut(name) {
            v.refs.insert(container.to_string());
        }
    }

    /// Drops a container's reference.
    pub fn release(&self, name: &str, container: &str) {
        if let Some(v) = lock(&self.vols).get_mut(name) {
            v.refs.remove(container);
        }
    }

    /// `DELETE /volumes/{name}`. `force` (Docker's purge-on-error) makes
    /// a missing volume a success; a volume in use is refused either way.
    /// Blocking.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        match self.remove_inner(name) {
            Err(VolumeError::NotFound(_)) if force => Ok(()),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Removes an unreferenced volume.
    fn remove_inner(&self, name: &str) -> Result<(), VolumeError> {
        let mut vols = lock(&self.vols);
        let v = vols
            .get(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))?;
        if !v.refs.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                refs: v.refs.iter().cloned().collect(),
            });
        }
        let dir = self.root.join(name);
        if v.needs_mount() {
            local::unmount(&dir.join(DATA_DIR)).map_err(io("unmount", &dir.join(DATA_DIR)))?;
        }
        // Renamed away first so a crash never leaves a half-removed
        // volume under its name.
        let gone = self.root.join(format!(".tmp-{}", crate::new_id()));
        std::fs::rename(&dir, &gone).map_err(io("remove", &dir))?;
        vols.remove(name);
        drop(vols);
        if let Err(e) = std::fs::remove_dir_all(&gone) {
            tracing::warn!(volume = name, error = %e, "removing a volume's data");
        }
        self.events.emit(
            Kind::Volume,
            "destroy",
            name,
            [("driver".to_string(), DRIVER.to_string())].into(),
        );
        Ok(())
    }

    /// Removes a container's anonymous volume at `rm -v`; in use elsewhere
    /// is not an error (Docker ignores it too).
    pub fn remove_anonymous(&self, name: &str) {
        match self.remove_inner(name) {
            Ok(()) | Err(VolumeError::InUse { .. }) | Err(VolumeError::NotFound(_)) => {}
            Err(e) => tracing::warn!(volume = name, error = %e, "removing an anonymous volume"),
        }
    }

    /// `POST /volumes/prune`: every unused local volume without driver
    /// options (Docker 20.10 removes named ones too), with `label` and
    /// `label!` filters. Blocking.
    pub fn prune(
        &self,
        filters: &Filters,
    ) -> Result<api::volume::VolumesPruneResponse, EngineError> {
        filters.validate(&["label", "label!"])?;
        if self.pruning.swap(true, Ordering::SeqCst) {
            return Err(VolumeError::PruneRunning.into());
        }
        let candidates: Vec<String> = lock(&self.vols)
            .values()
            .filter(|v| {
                v.refs.is_empty()
                    && v.meta.options.as_ref().is_none_or(BTreeMap::is_empty)
                    && v.opts.is_none()
                    && label_filters(filters, &v.meta.labels.clone().unwrap_or_default())
            })
            .map(|v| v.meta.name.clone())
            .collect();
        let mut rep = api::volume::VolumesPruneResponse::default();
        for name in candidates {
            let size = local::dir_size(&self.data_path(&name)).unwrap_or(0);
            match self.remove_inner(&name) {
                Ok(()) => {
                    rep.space_reclaimed += u64::try_from(size).unwrap_or(0);
                    rep.volumes_deleted.push(name);
                }
                Err(e) => tracing::warn!(volume = %name, error = %e, "prune"),
            }
        }
        self.pruning.store(false, Ordering::SeqCst);
        self.events.emit(
            Kind::Volume,
            "prune",
            "",
            [("reclaimed".to_string(), rep.space_reclaimed.to_string())].into(),
        );
        Ok(rep)
    }

    /// Every local volume without driver options, with its size and
    /// reference count (`system df`). Blocking (walks the volumes).
    pub fn usage(&self) -> Vec<Volume> {
        let list: Vec<(Volume, usize)> = lock(&self.vols)
            .values()
            .filter(|v| v.meta.options.as_ref().is_none_or(BTreeMap::is_empty))
            .map(|v| (self.to_api(v), v.refs.len()))
            .collect();
        list.into_iter()
            .map(|(mut v, refs)| {
                let size = local::dir_size(Path::new(&v.mountpoint)).unwrap_or(-1);
                v.usage_data = Some(VolumeUsageData {
                    size,
                    ref_count: i64::try_from(refs).unwrap_or(i64::MAX),
                });
                v
            })
            .collect()
    }

    /// Mounts a volume for a starting container (its device on first use)
    /// and publishes Docker's `mount` event. Returns the data path.
    /// Blocking.
    pub fn mount(&self, mp: &MountPoint, container: &str) -> Result<PathBuf, EngineError> {
        let path = self.data_path(&mp.name);
        {
            let mut vols = lock(&self.vols);
            let v = vols
                .get_mut(&mp.name)
                .ok_or_else(|| VolumeError::NotFound(mp.name.clone()))?;
            if v.needs_mount() {
                if !v.mounted {
                    if let Some(o) = &v.opts {
                        local::mount(o, &path).map_err(|e| {
                            EngineError::InvalidArgument(format!(
                                "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {}: {e}",
                                path.display(),
                                o.mount_device,
                                path.display(),
                                o.mount_opts,
                            ))
                        })?;
                    }
                    v.mounted = true;
                }
                v.users.insert(container.to_string());
            }
        }
        self.events.emit(
            Kind::Volume,
            "mount",
            mp.name.clone(),
            [
                ("container".to_string(), container.to_string()),
                ("destination".to_string(), mp.destination.clone()),
                ("driver".to_string(), DRIVER.to_string()),
                ("propagation".to_string(), mp.propagation.clone()),
                ("read/write".to_string(), mp.rw.to_string()),
            ]
            .into(),
        );
        Ok(path)
    }

    /// Marks a volume as mounted for a container found running at daemon
    /// start (its device is still mounted from before).
    pub fn hold(&self, name: &str, container: &str) {
        if let Some(v) = lock(&self.vols).get_mut(name) {
            if v.needs_mount() {
                v.users.insert(container.to_string());
                v.mounted = true;
            }
        }
    }

    /// A container stopped: unmounts the device when it was the last user,
    /// and publishes Docker's `unmount` event. Blocking.
    pub fn unmount(&self, name: &str, container: &str) {
        {
            let mut vols = lock(&self.vols);
            let Some(v) = vols.get_mut(name) else {
                return;
            };
            if v.needs_mount() {
                v.users.remove(container);
                if v.users.is_empty() && v.mounted {
                    let p = self.data_path(name);
                    match local::unmount(&p) {
                        Ok(()) => v.mounted = false,
                        Err(e) => tracing::warn!(volume = name, error = %e, "unmount"),
                    }
                }
            }
        }
        self.events.emit(
            Kind::Volume,
            "unmount",
            name,
            [
                ("container".to_string(), container.to_string()),
                ("driver".to_string(), DRIVER.to_string()),
            ]
            .into(),
        );
    }
}

/// `dangling=true|1|false|0`.
fn dangling_filter(f: &Filters) -> Result<Option<bool>, EngineError> {
    let vals = f.get("dangling");
    if vals.is_empty() {
        return Ok(None);
    }
    if vals.iter().any(|v| v == "true" || v == "1") {
        return Ok(Some(true));
    }
    if vals.iter().any(|v| v == "false" || v == "0") {
        return Ok(Some(false));
    }
    Err(EngineError::InvalidArgument(format!(
        "invalid filter 'dangling={}'",
        vals.join(",")
    )))
}

/// `label` (all must match) and `label!` (none may match).
fn label_filters(f: &Filters, labels: &BTreeMap<String, String>) -> bool {
    if !f.match_labels("label", labels) {
        return false;
    }
    !f.get("label!").iter().any(|l| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(l.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> (tempfile::TempDir, Arc<Volumes>) {
        let d = tempfile::tempdir().unwrap();
        let v = Volumes::open(d.path().join("volumes"), Events::new()).unwrap();
        (d, v)
    }

    fn req(name: &str, labels: &[(&str, &str)]) -> VolumeCreateRequest {
        VolumeCreateRequest {
            name: name.into(),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn volumes_are_made_with_dockers_layout_and_found_again() {
        let (d, s) = service();
        let v = s.create(req("data", &[("a", "1")])).unwrap();
        assert_eq!(v.driver, "local");
        assert_eq!(v.scope, "local");
        let data = d.path().join("volumes/data/_data");
        assert_eq!(v.mountpoint, data.display().to_string());
        assert!(data.is_dir());
        let tmpfs = VolumeCreateRequest {
            name: "t1".into(),
            driver_opts: Some(
                [("type", "tmpfs"), ("device", "tmpfs")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        s.create(tmpfs).unwrap();
        assert!(d.path().join("volumes/t1/opts.json").is_file());
        let again = Volumes::open(d.path().join("volumes"), Events::new()).unwrap();
        let v2 = again.inspect("data").unwrap();
        assert_eq!(v2, v);
        assert_eq!(
            again.inspect("t1").unwrap().options.unwrap()["type"],
            "tmpfs"
        );
        // Creating an existing name returns it unchanged.
        assert_eq!(s.create(req("data", &[])).unwrap().labels, v.labels);
    }

    #[test]
    fn bad_creates_leave_nothing_behind() {
        let (d, s) = service();
        let e: EngineError = s.create(req("a/b", &[])).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e
            .to_string()
            .starts_with("create a/b: \"a/b\" includes invalid characters"));
        let bad_opts = VolumeCreateRequest {
            name: "vv".into(),
            driver_opts: Some([("bogus".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(
            s.create(bad_opts).unwrap_err().to_string(),
            "create vv: invalid option: \"bogus\""
        );
        let e = s
            .create(VolumeCreateRequest {
                name: "vv".into(),
                driver: "nfs-plugin".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "create vv: error looking up volume plugin nfs-plugin: plugin \"nfs-plugin\" not found"
        );
        let left: Vec<_> = std::fs::read_dir(d.path().join("volumes"))
            .unwrap()
            .collect();
        assert!(left.is_empty());
    }

    #[test]
    fn anonymous_volumes_get_64_hex_names() {
        let (_d, s) = service();
        let (v, made) = s.create_ref("", "", None, None, Some("c1")).unwrap();
        assert!(made);
        assert_eq!(v.name.len(), 64);
        assert!(v.name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(v.labels, None);
        assert_eq!(s.refs(&v.name), ["c1"]);
    }

    #[test]
    fn in_use_volumes_are_refused_even_with_force() {
        let (_d, s) = service();
        s.create_ref("data", "", None, None, Some("c1")).unwrap();
        let e = s.remove("data", true).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert_eq!(e.to_string(), "remove data: volume is in use - [c1]");
        s.release("data", "c1");
        s.remove("data", false).unwrap();
        assert!(!s.exists("data"));
        let e = s.remove("data", false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "get data: no such volume");
        s.remove("data", true).unwrap();
    }

    #[test]
    fn volume_events_carry_dockers_attributes() {
        let d = tempfile::tempdir().unwrap();
        let events = Events::new();
        let s = Volumes::open(d.path().join("volumes"), events.clone()).unwrap();
        s.create(req("ev", &[])).unwrap();
        let mp = MountPoint {
            kind: "volume".into(),
            name: "ev".into(),
            destination: "/d".into(),
            rw: false,
            ..Default::default()
        };
        s.mount(&mp, "c1").unwrap();
        s.unmount("ev", "c1");
        s.remove("ev", false).unwrap();
        let mut sub = events.subscribe(Some(0), None, Default::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got: Vec<_> = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(sub.next().await.unwrap());
            }
            v
        });
        let actions: Vec<&str> = got.iter().map(|m| m.action.as_str()).collect();
        assert_eq!(actions, ["create", "mount", "unmount", "destroy"]);
        assert!(got.iter().all(|m| m.kind == "volume" && m.actor.id == "ev"));
        let mount = &got[1].actor.attributes;
        assert_eq!(mount["container"], "c1");
        assert_eq!(mount["destination"], "/d");
        assert_eq!(mount["read/write"], "false");
        assert_eq!(mount["driver"], "local");
        assert_eq!(got[2].actor.attributes.len(), 2);
        assert_eq!(got[3].actor.attributes["driver"], "local");
    }

    #[test]
    fn list_filters_and_prune_follow_docker() {
        let (_d, s) = service();
        s.create(req("keep", &[("app", "x")])).unwrap();
        s.create(req("other", &[("app", "y")])).unwrap();
        s.create_ref("used", "", None, None, Some("c1")).unwrap();
        let names = |f: &str| -> Vec<String> {
            s.list(&Filters::parse(Some(f)).unwrap())
                .unwrap()
                .volumes
                .into_iter()
                .map(|v| v.name)
                .collect()
        };
        assert_eq!(names(r#"{"dangling":["true"]}"#), ["keep", "other"]);
        assert_eq!(names(r#"{"dangling":["false"]}"#), ["used"]);
        assert_eq!(names(r#"{"label":["app=x"]}"#), ["keep"]);
        assert_eq!(names(r#"{"name":["the"]}"#), ["other"]);
        assert_eq!(names(r#"{"name":["^o"]}"#), ["other"]);
        assert_eq!(names(r#"{"driver":["local"]}"#).len(), 3);
        assert!(s
            .list(&Filters::parse(Some(r#"{"dangling":["maybe"]}"#)).unwrap())
            .is_err());
        assert!(s
            .list(&Filters::parse(Some(r#"{"bogus":["1"]}"#)).unwrap())
            .is_err());
        std::fs::write(s.data_path("other").join("f"), b"12345").unwrap();
        let rep = s
            .prune(&Filters::parse(Some(r#"{"label!":["app=x"]}"#)).unwrap())
            .unwrap();
        assert_eq!(rep.volumes_deleted, ["other"]);
        assert_eq!(rep.space_reclaimed, 5);
        let rep = s.prune(&Filters::default()).unwrap();
        assert_eq!(rep.volumes_deleted, ["keep"]);
        assert!(s.exists("used"));
        let u = s.usage();
        assert_eq!(u[0].usage_data.as_ref().unwrap().ref_count, 1);
    }
}
