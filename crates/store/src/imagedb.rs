//! `image/<driver>/imagedb`: image configs stored by their own sha256 (the
//! image id), and per-image metadata (`parent`, `lastUpdated`).

use std::path::{Path, PathBuf};

use image::ImageId;

use crate::fsutil::{is_atomic_temp, write_atomic, write_atomic_mode};
use crate::StoreError;

#[derive(Debug, Clone)]
pub struct ImageDb {
    root: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

impl ImageDb {
    pub fn open(root: PathBuf) -> Result<Self, StoreError> {
        for d in [root.join("content/sha256"), root.join("metadata/sha256")] {
            std::fs::create_dir_all(&d).map_err(io("create directory", &d))?;
        }
        Ok(Self { root })
    }

    /// An image database opened as it is, creating nothing.
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    fn content(&self, id: &ImageId) -> PathBuf {
        self.root.join("content/sha256").join(id.hex())
    }

    fn metadata(&self, id: &ImageId) -> PathBuf {
        self.root.join("metadata/sha256").join(id.hex())
    }

    pub fn exists(&self, id: &ImageId) -> bool {
        self.content(id).exists()
    }

    /// Stores a config; its id is the sha256 of exactly these bytes.
    pub fn put(&self, raw: &[u8]) -> Result<ImageId, StoreError> {
        let id = ImageId::from_config_bytes(raw);
        let p = self.content(&id);
        if !p.exists() {
            write_atomic_mode(&p, raw, 0o600).map_err(io("write image config", &p))?;
        }
        Ok(id)
    }

    /// The raw config, verified against its id (a corrupt file is an
    /// error, never an image with another id).
    pub fn get(&self, id: &ImageId) -> Result<Option<Vec<u8>>, StoreError> {
        let p = self.content(id);
        let raw = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read image config", &p)(e)),
        };
        if ImageId::from_config_bytes(&raw) != *id {
            return Err(StoreError::Corrupt(format!(
                "image config {} does not match its id",
                p.display()
            )));
        }
        Ok(Some(raw))
    }

    pub fn list(&self) -> Result<Vec<ImageId>, StoreError> {
        let dir = self.root.join("content/sha256");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(id) = format!("sha256:{name}").parse::<ImageId>() {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub fn set_metadata(&self, id: &ImageId, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let dir = self.metadata(id);
        std::fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        let p = dir.join(key);
        write_atomic(&p, value).map_err(io("write", &p))
    }

    pub fn get_metadata(&self, id: &ImageId, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let p = self.metadata(id).join(key);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &p)(e)),
        }
    }

    /// Removes an image's config and metadata.
    pub fn remove(&self, id: &ImageId) -> Result<(), StoreError> {
        let p = self.content(id);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &p)(e)),
        }
        let m = self.metadata(id);
        match std::fs::remove_dir_all(&m) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &m)(e)),
        }
    }

    /// Removes temp files of interrupted writes.
    pub fn clean(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("content/sha256");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            if is_atomic_temp(&e.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(e.path());
                n += 1;
            }
        }
        Ok(n)
    }
}
