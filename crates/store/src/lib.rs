//! The image and layer store, in the Docker/balenaEngine overlay2 data
//! root layout, so an existing balenaEngine or Docker 20.10 data root is
//! used in place and what we write they can read.
//!
//! # Layout
//! - [`Store`]: the handle; opening it cleans what a crash left behind.
//! - [`LayerWriter`]: extracts one layer into a staging driver directory and
//!   records it durably, in order, on top of its parent.
//! - `overlay`: the overlay2 driver's directories (`<root>/overlay2`).
//! - `rwlayer`: containers' init and read-write layers
//!   ([`Store::create_rw_layer`] and friends) and their records.
//! - `mount`: overlay mounts and `/proc/self/mountinfo`.
//! - `layerdb`: layer records (`image/overlay2/layerdb`), transactions.
//! - `imagedb`: image configs and metadata (`image/overlay2/imagedb`).
//! - `refstore`: tags and digests (`image/overlay2/repositories.json`).
//! - [`fsutil`]: atomic, durable file writes.
//!
//! Durability order for a pull: layer files (writeback started as they are
//! written) → `syncfs` → layer record (transaction renamed into place) →
//! image config → tag. A crash at any point leaves the old state or the new
//! one plus unreferenced leftovers, which [`Store::open`] removes.
//!
//! Must not: use async, talk to the network, or trust a path from a layer
//! (the `layer` crate resolves every path inside the layer root).

pub mod fsutil;
mod imagedb;
mod layerdb;
mod mount;
pub use mount::is_mountpoint;
pub use mount::unescape as unescape_mountinfo;
pub mod overlay;
mod refstore;
mod rwlayer;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::reference::Named;
use image::{ChainId, DiffId, ImageId};

pub use layerdb::{LayerInfo, MountInfo};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt store: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("layer does not exist: {0}")]
    LayerNotFound(ChainId),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("applying layer: {0}")]
    Apply(#[from] layer::LayerError),
    #[error("rebuilding layer {chain}: {source}")]
    Assemble {
        chain: ChainId,
        #[source]
        source: layer::TarSplitError,
    },
    #[error("layer diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: DiffId, actual: String },
    #[error("unsupported storage driver {0:?}")]
    Driver(String),
    #[error("layer {chain} is in use by container {container}")]
    LayerInUse { chain: ChainId, container: String },
    #[error("container {0} already has a read-write layer")]
    ContainerLayerExists(String),
    #[error("no read-write layer for container {0}")]
    RwLayerNotFound(String),
    #[error("cannot mount {path}: overlay options of {len} bytes exceed {max}")]
    MountOptionsTooLong {
        path: PathBuf,
        len: usize,
        max: usize,
    },
}

/// What [`Store::open`] cleaned up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub transactions: usize,
    pub orphan_layers: usize,
    pub dangling_links: usize,
    pub temp_files: usize,
}

/// The store of one data root.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    driver: String,
    overlay: overlay::Overlay,
    layers: layerdb::LayerDb,
    images: imagedb::ImageDb,
    refs: Mutex<refstore::RefStore>,
    distribution: PathBuf,
    /// Serialises mounting, unmounting and removing container layers, so
    /// a mount-table check and the mount that follows it are one step.
    rw_lock: Mutex<()>,
}

impl Store {
    /// Opens the store of `root` for `driver` (`overlay2`), creating its
    /// directories, and removes what an interrupted run left half-made:
    /// layer transactions, driver directories no layer or container
    /// references, dangling short links and temp files.
    ///
    /// Containers' layers are referenced by their `layerdb/mounts` records
    /// (both `<mount-id>` and `<mount-id>-init`), so they are kept; a
    /// container layer whose record was never written (a crash inside
    /// [`Store::create_rw_layer`]) is unreferenced and removed, after any
    /// overlay left mounted on it is detached. Unreferenced directories
    /// are removed whatever their age: the store is opened by one process
    /// before it creates anything, and an age rule would trust the clock
    /// of devices that often boot without a real-time clock.
    pub fn open(root: &Path, driver: &str) -> Result<(Self, Recovery), StoreError> {
        if driver != "overlay2" {
            return Err(StoreError::Driver(driver.to_string()));
        }
        let image_root = root.join("image").join(driver);
        // Image configs can hold secrets (Env): like Docker, keep image/
        // to root.
        let image_dir = root.join("image");
        if !image_dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&image_dir)
                .map_err(|source| StoreError::Io {
                    op: "create directory",
                    path: image_dir.clone(),
                    source,
                })?;
        }
        let store = Self {
            root: root.to_path_buf(),
            driver: driver.to_string(),
            overlay: overlay::Overlay::open(root.join(driver))?,
            layers: layerdb::LayerDb::open(image_root.join("layerdb"))?,
            images: imagedb::ImageDb::open(image_root.join("imagedb"))?,
            refs: Mutex::new(refstore::RefStore::open(
                image_root.join("repositories.json"),
            )?),
            distribution: image_root.join("distribution"),
            rw_lock: Mutex::new(()),
        };
        let recovery = store.recover()?;
        Ok((store, recovery))
    }

    /// Opens another engine's data root read-only (`--delta-data-root`):
    /// nothing is created, cleaned or written; only lookups and layer tars.
    pub fn open_readonly(root: &Path, driver: &str) -> Result<Self, StoreError> {
        if driver != "overlay2" {
            return Err(StoreError::Driver(driver.to_string()));
        }
        let image_root = root.join("image").join(driver);
        if !image_root.is_dir() {
            return Err(StoreError::Invalid(format!(
                "{} is not a {driver} data root (no {})",
                root.display(),
                image_root.display()
            )));
        }
        Ok(Self {
            root: root.to_path_buf(),
            driver: driver.to_string(),
            overlay: overlay::Overlay::at(root.join(driver)),
            layers: layerdb::LayerDb::at(image_root.join("layerdb")),
            images: imagedb::ImageDb::at(image_root.join("imagedb")),
            refs: Mutex::new(refstore::RefStore::open(
                image_root.join("repositories.json"),
            )?),
            distribution: image_root.join("distribution"),
            rw_lock: Mutex::new(()),
        })
    }

    fn recover(&self) -> Result<Recovery, StoreError> {
        let mut r = Recovery {
            transactions: self.layers.clean_transactions()?,
            temp_files: self.images.clean()?,
            ..Default::default()
        };
        let mut referenced: HashSet<String> = HashSet::new();
        for c in self.layers.list()? {
            if let Some(info) = self.layers.get(&c)? {
                referenced.insert(info.cache_id);
            }
        }
        for m in self.layers.mounts()? {
            referenced.insert(m.mount_id.clone());
            referenced.insert(format!("{}-init", m.mount_id));
            if let Some(i) = m.init_id {
                referenced.insert(i);
            }
        }
        for dir in self.overlay.list()? {
            if !referenced.contains(&dir) {
                tracing::info!(cache_id = %dir, "removing unreferenced layer directory");
                self.overlay.remove(&dir)?;
                r.orphan_layers += 1;
            }
        }
        r.dangling_links = self.overlay.remove_dangling_links()?;
        Ok(r)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn driver(&self) -> &str {
        &self.driver
    }

    // ---- layers ----

    pub fn layer(&self, chain: &ChainId) -> Result<Option<LayerInfo>, StoreError> {
        self.layers.get(chain)
    }

    pub fn layer_exists(&self, chain: &ChainId) -> bool {
        self.layers.exists(chain)
    }

    pub fn layers(&self) -> Result<Vec<ChainId>, StoreError> {
        self.layers.list()
    }

    /// The extracted content directory of a layer.
    pub fn layer_diff_dir(&self, info: &LayerInfo) -> PathBuf {
        self.overlay.diff(&info.cache_id)
    }

    /// Starts a new layer in a staging driver directory. The writer owns a
    /// handle on the store, so it can move to a blocking thread.
    pub fn begin_layer(self: &std::sync::Arc<Self>) -> Result<LayerWriter, StoreError> {
        let tx = self.layers.begin()?;
        let cache_id = overlay::new_cache_id();
        let diff = self.overlay.create(&cache_id)?;
        Ok(LayerWriter {
            store: self.clone(),
            tx: Some(tx),
            cache_id,
            diff,
            stats: None,
            done: false,
        })
    }

    /// Writes the original tar of a layer, rebuilt byte for byte from its
    /// files and tar-split, to `out`; returns its length.
    pub fn layer_tar(&self, chain: &ChainId, out: impl std::io::Write) -> Result<u64, StoreError> {
        let info = self
            .layers
            .get(chain)?
            .ok_or_else(|| StoreError::LayerNotFound(chain.clone()))?;
        let ts_path = self.layers.tar_split_path(chain);
        let ts = std::fs::File::open(&ts_path).map_err(|source| StoreError::Io {
            op: "open tar-split",
            path: ts_path,
            source,
        })?;
        layer::assemble(ts, &self.overlay.diff(&info.cache_id), out).map_err(|source| {
            StoreError::Assemble {
                chain: chain.clone(),
                source,
            }
        })
    }

    /// Where a layer's tar-split is kept.
    pub fn tar_split_path(&self, chain: &ChainId) -> PathBuf {
        self.layers.tar_split_path(chain)
    }

    /// Recomputes a layer's diff id from its files (an fsck).
    pub fn verify_layer(&self, chain: &ChainId) -> Result<(), StoreError> {
        let info = self
            .layers
            .get(chain)?
            .ok_or_else(|| StoreError::LayerNotFound(chain.clone()))?;
        let ts_path = self.layers.tar_split_path(chain);
        let ts = std::fs::File::open(&ts_path).map_err(|source| StoreError::Io {
            op: "open tar-split",
            path: ts_path,
            source,
        })?;
        let actual =
            layer::verify_layer(ts, &self.overlay.diff(&info.cache_id)).map_err(|source| {
                StoreError::Assemble {
                    chain: chain.clone(),
                    source,
                }
            })?;
        if actual != info.diff_id.as_str() {
            return Err(StoreError::DiffIdMismatch {
                expected: info.diff_id,
                actual,
            });
        }
        Ok(())
    }

    // ---- images ----

    /// Stores an image config after checking that all its layers exist.
    pub fn put_image(&self, raw_config: &[u8], diff_ids: &[DiffId]) -> Result<ImageId, StoreError> {
        let mut chain: Option<ChainId> = None;
        for d in diff_ids {
            let c = match &chain {
                None => ChainId::from(d.clone()),
                Some(p) => p.child(d),
            };
            if !self.layers.exists(&c) {
                return Err(StoreError::LayerNotFound(c));
            }
            chain = Some(c);
        }
        let id = self.images.put(raw_config)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.images
            .set_metadata(&id, "lastUpdated", now.as_bytes())?;
        Ok(id)
    }

    pub fn image_config(&self, id: &ImageId) -> Result<Option<Vec<u8>>, StoreError> {
        self.images.get(id)
    }

    pub fn image_exists(&self, id: &ImageId) -> bool {
        self.images.exists(id)
    }

    pub fn images(&self) -> Result<Vec<ImageId>, StoreError> {
        self.images.list()
    }

    pub fn image_metadata(&self, id: &ImageId, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.images.get_metadata(id, key)
    }

    pub fn set_image_metadata(
        &self,
        id: &ImageId,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.images.set_metadata(id, key, value)
    }

    pub fn remove_image(&self, id: &ImageId) -> Result<(), StoreError> {
        self.images.remove(id)
    }

    /// Removes a layer record and its driver directory. The caller makes
    /// sure no image or child layer still uses it; a layer under a
    /// container's read-write layer is refused with
    /// [`StoreError::LayerInUse`].
    pub fn remove_layer(&self, chain: &ChainId) -> Result<(), StoreError> {
        let Some(info) = self.layers.get(chain)? else {
            return Ok(());
        };
        if let Some(container) = self.container_using(chain)? {
            return Err(StoreError::LayerInUse {
                chain: chain.clone(),
                container,
            });
        }
        self.layers.remove(chain)?;
        self.overlay.remove(&info.cache_id)
    }

    // ---- references ----

    fn refs(&self) -> std::sync::MutexGuard<'_, refstore::RefStore> {
        // A panic while holding the lock leaves the in-memory map as the
        // last successful save wrote it; keep going with it.
        self.refs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn tag(&self, r: &Named, id: &ImageId) -> Result<Option<ImageId>, StoreError> {
        self.refs().set(r, id)
    }

    pub fn untag(&self, r: &Named) -> Result<Option<ImageId>, StoreError> {
        self.refs().remove(r)
    }

    pub fn resolve(&self, r: &Named) -> Option<ImageId> {
        self.refs().get(r)
    }

    pub fn references(&self) -> Vec<(String, ImageId)> {
        self.refs().all()
    }

    pub fn references_of(&self, id: &ImageId) -> Vec<String> {
        self.refs().references(id)
    }

    // ---- distribution metadata ----

    /// Records that compressed blob `blob` unpacks to `diff_id`, so a later
    /// pull of the same blob is "Already exists" without a download.
    pub fn set_diff_id_for_blob(
        &self,
        blob: &image::Digest,
        diff_id: &DiffId,
    ) -> Result<(), StoreError> {
        let dir = self
            .distribution
            .join("diffid-by-digest")
            .join(blob.algorithm().as_str());
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        let p = dir.join(blob.hex());
        fsutil::write_atomic(&p, diff_id.as_str().as_bytes()).map_err(|source| StoreError::Io {
            op: "write",
            path: p,
            source,
        })
    }

    pub fn diff_id_for_blob(&self, blob: &image::Digest) -> Option<DiffId> {
        let p = self
            .distribution
            .join("diffid-by-digest")
            .join(blob.algorithm().as_str())
            .join(blob.hex());
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    }

    /// Where a layer came from: (compressed blob digest, `registry/repo`),
    /// newest first, from `v2metadata-by-diffid` (ours or Docker's).
    pub fn layer_sources(&self, diff_id: &DiffId) -> Vec<(image::Digest, String)> {
        let p = self
            .distribution
            .join("v2metadata-by-diffid/sha256")
            .join(diff_id.hex());
        let list: Vec<serde_json::Value> = std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        list.iter()
            .rev()
            .filter_map(|e| {
                let d = image::Digest::parse(e.get("Digest")?.as_str()?).ok()?;
                let r = e.get("SourceRepository")?.as_str()?.to_string();
                Some((d, r))
            })
            .collect()
    }

    /// Records where a layer came from (`v2metadata-by-diffid`), for
    /// cross-repository mounts on push. Keeps at most 50 sources.
    pub fn add_layer_source(
        &self,
        diff_id: &DiffId,
        blob: &image::Digest,
        repository: &str,
    ) -> Result<(), StoreError> {
        let dir = self.distribution.join("v2metadata-by-diffid/sha256");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        let p = dir.join(diff_id.hex());
        let mut list: Vec<serde_json::Value> = std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let entry = serde_json::json!({"Digest": blob.as_str(), "SourceRepository": repository, "HMAC": ""});
        list.retain(|e| e != &entry);
        list.push(entry);
        if list.len() > 50 {
            list.drain(..list.len() - 50);
        }
        let data = serde_json::to_vec(&list).map_err(|e| StoreError::Invalid(e.to_string()))?;
        fsutil::write_atomic(&p, &data).map_err(|source| StoreError::Io {
            op: "write",
            path: p,
            source,
        })
    }
}

/// A layer being extracted. Dropped before [`LayerWriter::commit`], it
/// leaves nothing behind.
#[derive(Debug)]
pub struct LayerWriter {
    store: std::sync::Arc<Store>,
    tx: Option<layerdb::Transaction>,
    cache_id: String,
    diff: PathBuf,
    stats: Option<layer::ApplyStats>,
    done: bool,
}

impl LayerWriter {
    /// Extracts an uncompressed layer tar, recording its tar-split.
    /// Returns the layer's diff id (sha256 of the tar as read).
    pub fn apply(&mut self, tar: impl Read) -> Result<DiffId, StoreError> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("layer already committed".into()))?;
        let ts_path = tx.tar_split_path();
        let ts = std::fs::File::create(&ts_path).map_err(|source| StoreError::Io {
            op: "create tar-split",
            path: ts_path.clone(),
            source,
        })?;
        let stats = layer::apply_layer(
            tar,
            &self.diff,
            std::io::BufWriter::new(ts),
            &layer::ApplyOptions::default(),
        )?;
        let diff_id: DiffId = stats
            .diff_id
            .parse()
            .map_err(|_| StoreError::Invalid(format!("bad diff id {}", stats.diff_id)))?;
        self.stats = Some(stats);
        Ok(diff_id)
    }

    /// The staging directory being written.
    pub fn diff_dir(&self) -> &Path {
        &self.diff
    }

    /// Records the layer on top of `parent` after checking it hashes to
    /// `expected` and making its files durable. Returns the layer; when the
    /// same layer was recorded meanwhile, that one is returned and ours is
    /// discarded.
    pub fn commit(
        mut self,
        expected: &DiffId,
        parent: Option<&ChainId>,
    ) -> Result<LayerInfo, StoreError> {
        let stats = self
            .stats
            .take()
            .ok_or_else(|| StoreError::Invalid("layer committed before it was applied".into()))?;
        if stats.diff_id != expected.as_str() {
            return Err(StoreError::DiffIdMismatch {
                expected: expected.clone(),
                actual: stats.diff_id,
            });
        }
        let chain = match parent {
            None => ChainId::from(expected.clone()),
            Some(p) => p.child(expected),
        };
        if let Some(existing) = self.store.layers.get(&chain)? {
            return Ok(existing);
        }
        let parent_info = match parent {
            None => None,
            Some(p) => Some(
                self.store
                    .layers
                    .get(p)?
                    .ok_or_else(|| StoreError::LayerNotFound(p.clone()))?,
            ),
        };
        if let Some(pi) = &parent_info {
            self.store
                .overlay
                .set_parent(&self.cache_id, &pi.cache_id)?;
        }
        layer::sync_layer(&self.diff)?;
        let info = LayerInfo {
            chain_id: chain.clone(),
            diff_id: expected.clone(),
            parent: parent.cloned(),
            size: stats.size,
            cache_id: self.cache_id.clone(),
        };
        let tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Invalid("layer already committed".into()))?;
        if tx.commit(&info)? {
            self.done = true;
            Ok(info)
        } else {
            // Recorded concurrently: use that one; ours is removed on drop.
            self.store
                .layers
                .get(&chain)?
                .ok_or(StoreError::LayerNotFound(chain))
        }
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if !self.done {
            self.tx.take();
            let _ = self.store.overlay.remove(&self.cache_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    /// A layer tar with the given files (path, content).
    pub(crate) fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_600_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, p, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    pub(crate) fn diff_id_of(tar: &[u8]) -> DiffId {
        format!("sha256:{:x}", sha2::Sha256::digest(tar))
            .parse()
            .unwrap()
    }

    pub(crate) fn add_layer(
        s: &std::sync::Arc<Store>,
        tar: &[u8],
        parent: Option<&ChainId>,
    ) -> LayerInfo {
        let mut w = s.begin_layer().unwrap();
        let d = w.apply(tar).unwrap();
        assert_eq!(d, diff_id_of(tar));
        w.commit(&d, parent).unwrap()
    }

    fn config_for(diff_ids: &[DiffId]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    #[test]
    fn layers_and_images_are_written_in_docker_layout() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let t1 = layer_tar(&[("bin/sh", b"shell")]);
        let t2 = layer_tar(&[("etc/motd", b"hello")]);
        let l1 = add_layer(&s, &t1, None);
        let l2 = add_layer(&s, &t2, Some(&l1.chain_id));
        assert_eq!(l1.chain_id.as_str(), diff_id_of(&t1).as_str());
        assert_eq!(l2.parent.as_ref(), Some(&l1.chain_id));
        let ldb = d
            .path()
            .join("image/overlay2/layerdb/sha256")
            .join(l2.chain_id.hex());
        assert_eq!(
            std::fs::read_to_string(ldb.join("diff")).unwrap(),
            diff_id_of(&t2).as_str()
        );
        assert_eq!(
            std::fs::read_to_string(ldb.join("parent")).unwrap(),
            l1.chain_id.as_str()
        );
        assert_eq!(
            std::fs::read_to_string(ldb.join("cache-id")).unwrap(),
            l2.cache_id
        );
        assert!(ldb.join("tar-split.json.gz").exists());
        let top = d.path().join("overlay2").join(&l2.cache_id);
        assert_eq!(std::fs::read(top.join("diff/etc/motd")).unwrap(), b"hello");
        let lower = std::fs::read_to_string(top.join("lower")).unwrap();
        let l1link =
            std::fs::read_to_string(d.path().join("overlay2").join(&l1.cache_id).join("link"))
                .unwrap();
        assert_eq!(lower, format!("l/{l1link}"));

        let cfg = config_for(&[diff_id_of(&t1), diff_id_of(&t2)]);
        let id = s
            .put_image(&cfg, &[diff_id_of(&t1), diff_id_of(&t2)])
            .unwrap();
        assert_eq!(id, ImageId::from_config_bytes(&cfg));
        assert_eq!(
            std::fs::read(
                d.path()
                    .join("image/overlay2/imagedb/content/sha256")
                    .join(id.hex())
            )
            .unwrap(),
            cfg
        );
        let r = image::reference::parse_normalized_named("busybox:latest").unwrap();
        s.tag(&r, &id).unwrap();
        let repos: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.path().join("image/overlay2/repositories.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            repos["Repositories"]["busybox"]["busybox:latest"],
            id.as_str()
        );
        assert_eq!(s.resolve(&r), Some(id.clone()));

        // Reopen: everything is still there, nothing is cleaned away.
        drop(s);
        let (s, rec) = Store::open(d.path(), "overlay2").unwrap();
        let s = std::sync::Arc::new(s);
        assert_eq!(rec, Recovery::default());
        assert_eq!(s.resolve(&r), Some(id));
        assert!(s.layer_exists(&l2.chain_id));
    }

    #[test]
    fn rebuilt_tars_hash_to_the_diff_id() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let t = layer_tar(&[("a/b/c.bin", &big), ("empty", b""), ("x", b"y")]);
        let l = add_layer(&s, &t, None);
        let mut out = Vec::new();
        s.layer_tar(&l.chain_id, &mut out).unwrap();
        assert_eq!(out, t);
        s.verify_layer(&l.chain_id).unwrap();
    }

    #[test]
    fn a_wrong_diff_id_is_refused_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let t = layer_tar(&[("f", b"1")]);
        let other = diff_id_of(&layer_tar(&[("f", b"2")]));
        let mut w = s.begin_layer().unwrap();
        w.apply(&t[..]).unwrap();
        let err = w.commit(&other, None).unwrap_err();
        assert!(matches!(err, StoreError::DiffIdMismatch { .. }), "{err}");
        assert!(s.layers().unwrap().is_empty());
        assert!(std::fs::read_dir(d.path().join("overlay2"))
            .unwrap()
            .all(|e| e.unwrap().file_name() == "l"));
        assert_eq!(
            std::fs::read_dir(d.path().join("image/overlay2/layerdb/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn an_image_whose_layers_are_missing_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let t = layer_tar(&[("f", b"1")]);
        let err = s
            .put_image(&config_for(&[diff_id_of(&t)]), &[diff_id_of(&t)])
            .unwrap_err();
        assert!(matches!(err, StoreError::LayerNotFound(_)));
        assert!(s.images().unwrap().is_empty());
    }

    #[test]
    fn open_removes_what_a_crash_left_half_made() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let kept = add_layer(&s, &layer_tar(&[("k", b"k")]), None);
        // A layer extracted but never recorded, as after kill -9.
        let mut w = s.begin_layer().unwrap();
        w.apply(&layer_tar(&[("f", b"1")])[..]).unwrap();
        let orphan = w.diff_dir().parent().unwrap().to_path_buf();
        std::mem::forget(w);
        std::fs::write(
            d.path()
                .join("image/overlay2/imagedb/content/sha256/.x.tmp-1"),
            b"{",
        )
        .unwrap();
        drop(s);
        let (s, rec) = Store::open(d.path(), "overlay2").unwrap();
        let s = std::sync::Arc::new(s);
        assert_eq!(rec.transactions, 1);
        assert_eq!(rec.orphan_layers, 1);
        assert_eq!(rec.dangling_links, 0);
        assert_eq!(rec.temp_files, 1);
        assert!(!orphan.exists());
        assert!(s.layer_exists(&kept.chain_id));
        s.verify_layer(&kept.chain_id).unwrap();
    }

    #[test]
    fn the_same_layer_committed_twice_is_kept_once() {
        let d = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(d.path(), "overlay2").unwrap().0);
        let t = layer_tar(&[("f", b"1")]);
        let a = add_layer(&s, &t, None);
        let b = add_layer(&s, &t, None);
        assert_eq!(a, b);
        assert_eq!(s.layers().unwrap().len(), 1);
        // Only the recorded layer's directory remains.
        let dirs: Vec<_> = std::fs::read_dir(d.path().join("overlay2"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "l")
            .collect();
        assert_eq!(dirs, vec![a.cache_id]);
    }
}
