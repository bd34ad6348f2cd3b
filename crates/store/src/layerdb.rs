//! `image/<driver>/layerdb`: one directory per layer, named by chain id,
//! holding `diff`, `size`, `cache-id`, `parent` and `tar-split.json.gz`.
//!
//! A layer is recorded through a transaction directory under `tmp/` that
//! is renamed into place in one step, so a crash leaves the layer either
//! absent or complete. Start-up removes leftover transactions.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{ChainId, DiffId};

use crate::fsutil::sync_dir;
use crate::StoreError;

/// What the store knows about one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub chain_id: ChainId,
    pub diff_id: DiffId,
    pub parent: Option<ChainId>,
    /// Bytes of the layer's own content, as Docker computes it.
    pub size: u64,
    /// The driver directory name under `<root>/<driver>/`.
    pub cache_id: String,
}

/// A container's read-write layer record (`layerdb/mounts/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub container_id: String,
    pub mount_id: String,
    pub init_id: Option<String>,
    pub parent: Option<ChainId>,
}

#[derive(Debug, Clone)]
pub struct LayerDb {
    root: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

fn read_opt(path: &Path) -> Result<Option<String>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

impl LayerDb {
    pub fn open(root: PathBuf) -> Result<Self, StoreError> {
        for d in [root.join("sha256"), root.join("tmp"), root.join("mounts")] {
            std::fs::create_dir_all(&d).map_err(io("create directory", &d))?;
        }
        Ok(Self { root })
    }

    /// A layer database opened as it is, creating nothing.
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    fn layer_dir(&self, chain: &ChainId) -> PathBuf {
        self.root.join("sha256").join(chain.hex())
    }

    pub fn exists(&self, chain: &ChainId) -> bool {
        self.layer_dir(chain).join("diff").exists()
    }

    /// The layer's metadata, or None when it is not recorded.
    pub fn get(&self, chain: &ChainId) -> Result<Option<LayerInfo>, StoreError> {
        let dir = self.layer_dir(chain);
        let Some(diff) = read_opt(&dir.join("diff"))? else {
            return Ok(None);
        };
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("layer {chain}: bad {what} in {}", dir.display()))
        };
        let diff_id: DiffId = diff.parse().map_err(|_| corrupt("diff"))?;
        let parent = match read_opt(&dir.join("parent"))? {
            Some(p) if !p.is_empty() => Some(p.parse::<ChainId>().map_err(|_| corrupt("parent"))?),
            _ => None,
        };
        let size = match read_opt(&dir.join("size"))? {
            Some(s) => s.parse().map_err(|_| corrupt("size"))?,
            None => 0,
        };
        let cache_id = read_opt(&dir.join("cache-id"))?.ok_or_else(|| corrupt("cache-id"))?;
        if cache_id.is_empty() || cache_id.contains('/') {
            return Err(corrupt("cache-id"));
        }
        Ok(Some(LayerInfo {
            chain_id: chain.clone(),
            diff_id,
            parent,
            size,
            cache_id,
        }))
    }

    /// The path of a layer's tar-split.
    pub fn tar_split_path(&self, chain: &ChainId) -> PathBuf {
        self.layer_dir(chain).join("tar-split.json.gz")
    }

    /// Every recorded layer.
    pub fn list(&self) -> Result<Vec<ChainId>, StoreError> {
        let dir = self.root.join("sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(c) = format!("sha256:{name}").parse::<ChainId>() {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Container mounts recorded in `mounts/`.
    pub fn mounts(&self) -> Result<Vec<MountInfo>, StoreError> {
        let dir = self.root.join("mounts");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(m) = self.mount(&name)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    fn mount_dir(&self, container_id: &str) -> PathBuf {
        self.root.join("mounts").join(container_id)
    }

    /// One container's mount record; None when it has none (or only a
    /// record without `mount-id`, which Docker writes first).
    pub fn mount(&self, container_id: &str) -> Result<Option<MountInfo>, StoreError> {
        let p = self.mount_dir(container_id);
        let Some(mount_id) = read_opt(&p.join("mount-id"))? else {
            return Ok(None);
        };
        Ok(Some(MountInfo {
            container_id: container_id.to_string(),
            mount_id,
            init_id: read_opt(&p.join("init-id"))?.filter(|s| !s.is_empty()),
            parent: read_opt(&p.join("parent"))?.and_then(|s| s.parse().ok()),
        }))
    }

    /// Records a container mount durably and in one step: the files are
    /// written and synced in a `tmp/` directory that is renamed into
    /// `mounts/<container-id>`. Fails with
    /// [`StoreError::ContainerLayerExists`] when the container has one.
    pub fn put_mount(&self, m: &MountInfo) -> Result<(), StoreError> {
        let target = self.mount_dir(&m.container_id);
        // A directory without `mount-id` (Docker interrupted before its
        // first write) is no record; the rename replaces it when empty.
        if self.mount(&m.container_id)?.is_some() {
            return Err(StoreError::ContainerLayerExists(m.container_id.clone()));
        }
        let tx = self.begin()?;
        tx.write("mount-id", m.mount_id.as_bytes())?;
        if let Some(i) = &m.init_id {
            tx.write("init-id", i.as_bytes())?;
        }
        if let Some(p) = &m.parent {
            tx.write("parent", p.as_str().as_bytes())?;
        }
        tx.commit_to(&target, &self.root.join("mounts"))
            .map_err(|e| match e {
                StoreError::Io { source, .. }
                    if matches!(
                        source.raw_os_error(),
                        Some(nix::libc::ENOTEMPTY | nix::libc::EEXIST)
                    ) =>
                {
                    StoreError::ContainerLayerExists(m.container_id.clone())
                }
                e => e,
            })
    }

    /// Forgets a container mount: renamed away first, so a crash never
    /// leaves a half-removed record. Missing is fine.
    pub fn remove_mount(&self, container_id: &str) -> Result<(), StoreError> {
        let dir = self.mount_dir(container_id);
        let tomb = self.root.join("tmp").join(format!(
            "remove-mount-{}",
            &crate::overlay::new_cache_id()[..16]
        ));
        match std::fs::rename(&dir, &tomb) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("remove mount record", &dir)(e)),
        }
        sync_dir(&self.root.join("mounts")).map_err(io("sync", &self.root))?;
        std::fs::remove_dir_all(&tomb).map_err(io("remove", &tomb))
    }

    /// Starts recording a layer.
    pub fn begin(&self) -> Result<Transaction, StoreError> {
        let dir = self.root.join("tmp").join(format!(
            "write-set-{}",
            &crate::overlay::new_cache_id()[..16]
        ));
        std::fs::create_dir(&dir).map_err(io("create transaction", &dir))?;
        Ok(Transaction {
            dir,
            root: self.root.clone(),
            done: false,
        })
    }

    /// Removes transactions a crash left behind; returns how many.
    pub fn clean_transactions(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("tmp");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            let p = e.path();
            std::fs::remove_dir_all(&p).map_err(io("remove", &p))?;
            n += 1;
        }
        Ok(n)
    }

    /// Forgets a layer (its driver directory is the caller's).
    pub fn remove(&self, chain: &ChainId) -> Result<(), StoreError> {
        let dir = self.layer_dir(chain);
        // Rename first so a crash never leaves a half-removed record that
        // still looks like a layer.
        let tomb = self
            .root
            .join("tmp")
            .join(format!("remove-{}", chain.hex()));
        match std::fs::rename(&dir, &tomb) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("remove layer", &dir)(e)),
        }
        let _ = sync_dir(&self.root.join("sha256"));
        std::fs::remove_dir_all(&tomb).map_err(io("remove", &tomb))
    }
}

/// A layer record being written. Dropped without commit, it is removed.
#[derive(Debug)]
pub struct Transaction {
    dir: PathBuf,
    root: PathBuf,
    done: bool,
}

impl Transaction {
    fn write(&self, name: &str, data: &[u8]) -> Result<(), StoreError> {
        let p = self.dir.join(name);
        let mut f = std::fs::File::create(&p).map_err(io("write", &p))?;
        f.write_all(data).map_err(io("write", &p))?;
        f.sync_all().map_err(io("sync", &p))
    }

    /// Where the tar-split is written while the layer is applied.
    pub fn tar_split_path(&self) -> PathBuf {
        self.dir.join("tar-split.json.gz")
    }

    /// Syncs the transaction and renames it to `target` (in `dir`).
    fn commit_to(mut self, target: &Path, dir: &Path) -> Result<(), StoreError> {
        sync_dir(&self.dir).map_err(io("sync", &self.dir))?;
        std::fs::rename(&self.dir, target).map_err(io("commit", target))?;
        self.done = true;
        sync_dir(dir).map_err(io("sync", dir))
    }

    /// Writes the metadata and moves the record into place. Returns false
    /// when the layer was already recorded (by a concurrent pull): the
    /// transaction is then discarded and the caller drops its own copy.
    pub fn commit(mut self, info: &LayerInfo) -> Result<bool, StoreError> {
        self.write("diff", info.diff_id.as_str().as_bytes())?;
        self.write("size", info.size.to_string().as_bytes())?;
        self.write("cache-id", info.cache_id.as_bytes())?;
        if let Some(p) = &info.parent {
            self.write("parent", p.as_str().as_bytes())?;
        }
        let ts = self.tar_split_path();
        if ts.exists() {
            std::fs::File::open(&ts)
                .and_then(|f| f.sync_all())
                .map_err(io("sync", &ts))?;
        }
        sync_dir(&self.dir).map_err(io("sync", &self.dir))?;
        let target = self.root.join("sha256").join(info.chain_id.hex());
        if target.exists() {
            return Ok(false);
        }
        std::fs::rename(&self.dir, &target).map_err(io("commit layer", &target))?;
        self.done = true;
        sync_dir(&self.root.join("sha256")).map_err(io("sync", &self.root))?;
        Ok(true)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
