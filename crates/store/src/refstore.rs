//! `image/<driver>/repositories.json`: tags and digests → image ids, in
//! Docker's format (`{"Repositories":{"NAME":{"NAME:TAG":"sha256:ID"}}}`,
//! names in their familiar form).

use std::collections::BTreeMap;
use std::path::PathBuf;

use image::reference::Named;
use image::ImageId;
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic_mode;
use crate::StoreError;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

/// The reference store, loaded in memory and written through atomically.
#[derive(Debug)]
pub struct RefStore {
    path: PathBuf,
    file: File,
}

impl RefStore {
    pub fn open(path: PathBuf) -> Result<Self, StoreError> {
        let file = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => File::default(),
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(Self { path, file })
    }

    fn save(&self) -> Result<(), StoreError> {
        let data = serde_json::to_vec(&self.file)
            .map_err(|e| StoreError::Invalid(format!("encode references: {e}")))?;
        write_atomic_mode(&self.path, &data, 0o600).map_err(|source| StoreError::Io {
            op: "write",
            path: self.path.clone(),
            source,
        })
    }

    /// Points `r` (tagged or digested) at `id`. Returns the id it pointed
    /// at before, if any.
    pub fn set(&mut self, r: &Named, id: &ImageId) -> Result<Option<ImageId>, StoreError> {
        let repo = r.familiar_name();
        let key = r.familiar_string();
        let old = self
            .file
            .repositories
            .entry(repo)
            .or_default()
            .insert(key, id.to_string());
        self.save()?;
        Ok(old.and_then(|o| o.parse().ok()))
    }

    /// Removes `r`; returns the id it pointed at.
    pub fn remove(&mut self, r: &Named) -> Result<Option<ImageId>, StoreError> {
        let repo = r.familiar_name();
        let Some(m) = self.file.repositories.get_mut(&repo) else {
            return Ok(None);
        };
        let old = m.remove(&r.familiar_string());
        if m.is_empty() {
            self.file.repositories.remove(&repo);
        }
        if old.is_some() {
            self.save()?;
        }
        Ok(old.and_then(|o| o.parse().ok()))
    }

    pub fn get(&self, r: &Named) -> Option<ImageId> {
        self.file
            .repositories
            .get(&r.familiar_name())?
            .get(&r.familiar_string())?
            .parse()
            .ok()
    }

    /// Every (reference string, id), references in familiar form.
    pub fn all(&self) -> Vec<(String, ImageId)> {
        self.file
            .repositories
            .values()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.clone(), v.parse().ok()?)))
            .collect()
    }

    /// The references of one image.
    pub fn references(&self, id: &ImageId) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|(_, i)| i == id)
            .map(|(r, _)| r)
            .collect()
    }
}
