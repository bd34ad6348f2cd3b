//! The overlay2 driver's directories, as Docker 20.10 lays them out:
//! `<home>/<cache-id>/{diff,link,lower,work}` and `<home>/l/<SHORT>` links
//! to each layer's `diff` (short names keep mount options under a page).
//!
//! Layers are created in two steps so they can be extracted concurrently
//! and committed in order: [`Overlay::create`] makes the directory and its
//! link before the parent is known to exist; [`Overlay::set_parent`] writes
//! `lower` and `work` (and marks the parent `committed`, as Docker does)
//! when the layer is committed on top of its parent.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::StoreError;

/// Length of the short link names (Docker's `IDLength`).
pub const LINK_ID_LEN: usize = 26;
const LINK_DIR: &str = "l";

#[derive(Debug, Clone)]
pub struct Overlay {
    home: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// A new random cache id: 64 hex characters, as Docker's `stringid`.
pub fn new_cache_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new short link name: 26 characters of base32 (A-Z, 2-7).
pub fn new_link_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut r = rand::rng();
    (0..LINK_ID_LEN)
        .map(|_| ALPHABET[r.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn mkdir(path: &Path, mode: u32) -> Result<(), StoreError> {
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(io("create directory", path))?;
    // The umask may have narrowed the mode.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

impl Overlay {
    /// Opens (creating) the driver home, normally `<data-root>/overlay2`.
    pub fn open(home: PathBuf) -> Result<Self, StoreError> {
        for (dir, mode) in [(home.clone(), 0o710), (home.join(LINK_DIR), 0o700)] {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode)
                    .create(&dir)
                    .map_err(io("create directory", &dir))?;
            }
        }
        Ok(Self { home })
    }

    /// A driver home opened as it is, creating nothing (read-only stores).
    pub fn at(home: PathBuf) -> Self {
        Self { home }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn dir(&self, cache_id: &str) -> PathBuf {
        self.home.join(cache_id)
    }

    /// The layer's content directory.
    pub fn diff(&self, cache_id: &str) -> PathBuf {
        self.home.join(cache_id).join("diff")
    }

    /// Creates `<cache-id>/{diff,link}` and `l/<link>`.
    pub fn create(&self, cache_id: &str) -> Result<PathBuf, StoreError> {
        if !valid_id(cache_id) {
            return Err(StoreError::Invalid(format!(
                "invalid cache id {cache_id:?}"
            )));
        }
        let dir = self.dir(cache_id);
        mkdir(&dir, 0o710)?;
        let result = (|| {
            let diff = dir.join("diff");
            mkdir(&diff, 0o755)?;
            let lid = new_link_id();
            let link = self.home.join(LINK_DIR).join(&lid);
            std::os::unix::fs::symlink(Path::new("..").join(cache_id).join("diff"), &link)
                .map_err(io("create link", &link))?;
            let link_file = dir.join("link");
            std::fs::write(&link_file, lid.as_bytes()).map_err(io("write", &link_file))?;
            Ok(diff)
        })();
        if result.is_err() {
            let _ = self.remove(cache_id);
        }
        result
    }

    /// The short link name of a layer.
    pub fn link_id(&self, cache_id: &str) -> Result<String, StoreError> {
        let p = self.dir(cache_id).join("link");
        let s = std::fs::read_to_string(&p).map_err(io("read", &p))?;
        let s = s.trim().to_string();
        if s.is_empty() || s.contains('/') || s.contains(':') {
            return Err(StoreError::Corrupt(format!(
                "bad link file {}",
                p.display()
            )));
        }
        Ok(s)
    }

    /// The `lower` value a child of `cache_id` gets: its own link, then
    /// its own lowers (nearest first).
    fn lower_for_child(&self, parent: &str) -> Result<String, StoreError> {
        let mut lower = format!("{LINK_DIR}/{}", self.link_id(parent)?);
        let p = self.dir(parent).join("lower");
        match std::fs::read_to_string(&p) {
            Ok(s) if !s.trim().is_empty() => {
                lower.push(':');
                lower.push_str(s.trim());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &p)(e)),
        }
        Ok(lower)
    }

    /// Places `cache_id` on top of `parent`: `work/`, `lower`, and the
    /// parent's `committed` marker.
    pub fn set_parent(&self, cache_id: &str, parent: &str) -> Result<(), StoreError> {
        let dir = self.dir(cache_id);
        let work = dir.join("work");
        if !work.exists() {
            mkdir(&work, 0o700)?;
        }
        let committed = self.dir(parent).join("committed");
        std::fs::write(&committed, b"").map_err(io("write", &committed))?;
        let lower = self.lower_for_child(parent)?;
        let lf = dir.join("lower");
        std::fs::write(&lf, lower.as_bytes()).map_err(io("write", &lf))
    }

    /// The `l/<LINK>` entries of a layer's `lower` file, nearest first;
    /// None for a layer without parent.
    pub fn lowers(&self, cache_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let p = self.dir(cache_id).join("lower");
        let s = match std::fs::read_to_string(&p) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &p)(e)),
        };
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for l in s.split(':') {
            match l.strip_prefix("l/") {
                Some(id) if valid_id(id) => out.push(l.to_string()),
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "bad lower entry {l:?} in {}",
                        p.display()
                    )))
                }
            }
        }
        Ok(Some(out))
    }

    /// The diff directory an `l/<LINK>` entry points at, as an absolute,
    /// clean path (`<home>/<cache-id>/diff`), as Docker reports LowerDir.
    pub fn resolve_link(&self, entry: &str) -> Result<PathBuf, StoreError> {
        let home = std::path::absolute(&self.home).map_err(io("resolve", &self.home))?;
        let link = home.join(entry);
        let target = std::fs::read_link(&link).map_err(io("read link", &link))?;
        let mut out = PathBuf::new();
        for c in link.parent().unwrap_or(&home).join(target).components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c),
            }
        }
        Ok(out)
    }

    /// Removes a layer directory and its short link. Missing is fine. An
    /// overlay still mounted on its `merged` is detached first.
    pub fn remove(&self, cache_id: &str) -> Result<(), StoreError> {
        if !valid_id(cache_id) {
            return Err(StoreError::Invalid(format!(
                "invalid cache id {cache_id:?}"
            )));
        }
        let merged = self.dir(cache_id).join("merged");
        if std::fs::symlink_metadata(&merged).is_ok() {
            crate::mount::unmount(&merged)?;
        }
        if let Ok(lid) = self.link_id(cache_id) {
            let _ = std::fs::remove_file(self.home.join(LINK_DIR).join(lid));
        }
        let dir = self.dir(cache_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &dir)(e)),
        }
    }

    /// Every layer directory name (not `l`).
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.home).map_err(io("list", &self.home))? {
            let e = e.map_err(io("list", &self.home))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name != LINK_DIR {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Removes `l/` links whose layer is gone.
    pub fn remove_dangling_links(&self) -> Result<usize, StoreError> {
        let l = self.home.join(LINK_DIR);
        let mut n = 0;
        for e in std::fs::read_dir(&l).map_err(io("list", &l))?.flatten() {
            let p = e.path();
            if std::fs::metadata(&p).is_err() {
                let _ = std::fs::remove_file(&p);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_docker_shapes() {
        let c = new_cache_id();
        assert_eq!(c.len(), 64);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let l = new_link_id();
        assert_eq!(l.len(), 26);
        assert!(l
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    }

    #[test]
    fn layers_chain_their_lowers_nearest_first() {
        let d = tempfile::tempdir().unwrap();
        let o = Overlay::open(d.path().join("overlay2")).unwrap();
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        for id in [&a, &b, &c] {
            o.create(id).unwrap();
        }
        o.set_parent(&b, &a).unwrap();
        o.set_parent(&c, &b).unwrap();
        let la = o.link_id(&a).unwrap();
        let lb = o.link_id(&b).unwrap();
        assert_eq!(
            std::fs::read_to_string(o.dir(&c).join("lower")).unwrap(),
            format!("l/{lb}:l/{la}")
        );
        assert!(!o.dir(&a).join("lower").exists());
        assert!(o.dir(&a).join("committed").exists());
        assert!(o.dir(&c).join("work").is_dir());
        // The short link resolves to the layer's diff.
        let target = std::fs::read_link(o.home().join("l").join(&la)).unwrap();
        assert_eq!(target, Path::new("..").join(&a).join("diff"));
        assert!(o.home().join("l").join(&la).join(".").exists());
    }

    #[test]
    fn remove_takes_the_link_too() {
        let d = tempfile::tempdir().unwrap();
        let o = Overlay::open(d.path().join("overlay2")).unwrap();
        let a = "a".repeat(64);
        o.create(&a).unwrap();
        let la = o.link_id(&a).unwrap();
        o.remove(&a).unwrap();
        assert!(!o.dir(&a).exists());
        assert!(std::fs::symlink_metadata(o.home().join("l").join(la)).is_err());
        assert!(o.list().unwrap().is_empty());
        o.remove(&a).unwrap();
    }

    #[test]
    fn hostile_cache_ids_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let o = Overlay::open(d.path().join("overlay2")).unwrap();
        assert!(o.create("../x").is_err());
        assert!(o.remove("../../etc").is_err());
    }
}
