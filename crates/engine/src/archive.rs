//! `docker save` / `docker load` archives.
//!
//! Load accepts Docker's archive (`manifest.json`, as Docker 20.10 writes
//! it, with layers plain, gzip or zstd) and OCI image layouts
//! (`index.json` + `blobs/`). The archive is spooled to `<root>/tmp`
//! first (its manifest comes last), with every name checked: nothing is
//! written outside the spool directory, and only regular files,
//! directories and in-archive symlinks are accepted.
//!
//! Save writes Docker 20.10's archive: one directory per layer with
//! `VERSION`, `json` and `layer.tar` (rebuilt byte for byte from
//! tar-split), `<image-id>.json`, `manifest.json` and `repositories`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use api::progress::JsonMessage;
use image::reference::{self, Named};
use image::{ChainId, DiffId, ImageConfig, ImageId};
use serde::{Deserialize, Serialize};

use crate::images::Images;
use crate::EngineError;

/// The largest config or manifest file accepted from an archive.
const MAX_METADATA: u64 = 8 << 20;
/// Entries accepted in one archive.
const MAX_ENTRIES: usize = 100_000;

/// Where progress goes; an error means the client went away.
pub type Progress<'a> = dyn FnMut(JsonMessage) -> Result<(), EngineError> + 'a;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(msg.into())
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.to_path_buf();
    move |source| EngineError::Io { op, path, source }
}

/// A spool directory removed on drop.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Cleans an archive name: relative, no `..`, no empty result.
fn clean_name(name: &Path) -> Result<PathBuf, EngineError> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(invalid(format!(
                    "invalid archive entry name {}",
                    name.display()
                )))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(invalid("invalid archive entry with an empty name"));
    }
    Ok(out)
}

/// Extracts `input` into `dir`. Symlinks are recorded, not created: they
/// are resolved by name inside the archive when read.
fn spool(input: impl Read, dir: &Path) -> Result<BTreeMap<PathBuf, PathBuf>, EngineError> {
    let mut links = BTreeMap::new();
    let mut ar = tar::Archive::new(input);
    let entries = ar
        .entries()
        .map_err(|e| invalid(format!("reading archive: {e}")))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(invalid("archive has too many entries"));
        }
        let mut entry = entry.map_err(|e| invalid(format!("reading archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| invalid(format!("reading archive: {e}")))?
            .into_owned();
        let name = clean_name(&raw)?;
        let target = dir.join(&name);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(io_err("spool", &target))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p).map_err(io_err("spool", p))?;
                }
                let mut f = std::fs::File::create(&target).map_err(io_err("spool", &target))?;
                std::io::copy(&mut entry, &mut f)
                    .map_err(|e| invalid(format!("reading archive: {e}")))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let to = entry
                    .link_name()
                    .map_err(|e| invalid(format!("reading archive: {e}")))?
                    .ok_or_else(|| invalid("link without a target in archive"))?
                    .into_owned();
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    name.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                links.insert(name, base.join(to));
            }
            tar::EntryType::XHeader
            | tar::EntryType::XGlobalHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                return Err(invalid(format!(
                    "unsupported entry type {other:?} in archive at {}",
                    name.display()
                )))
            }
        }
    }
    Ok(links)
}

/// The archive, spooled, with names resolved inside it.
struct Spooled {
    dir: PathBuf,
    links: BTreeMap<PathBuf, PathBuf>,
}

impl Spooled {
    /// Resolves a name through in-archive links, never leaving the archive.
    fn resolve(&self, name: &str) -> Result<PathBuf, EngineError> {
        let mut p = clean_logical(Path::new(name))?;
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(to) => p = clean_logical(to)?,
                None => return Ok(self.dir.join(p)),
            }
        }
        Err(invalid(format!(
            "too many links resolving {name} in archive"
        )))
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, EngineError> {
        let p = self.resolve(name)?;
        let f = std::fs::File::open(&p).map_err(|_| invalid(format!("archive has no {name}")))?;
        let mut v = Vec::new();
        f.take(MAX_METADATA + 1)
            .read_to_end(&mut v)
            .map_err(io_err("read", &p))?;
        if v.len() as u64 > MAX_METADATA {
            return Err(invalid(format!("{name} in archive is too large")));
        }
        Ok(v)
    }

    fn exists(&self, name: &str) -> bool {
        self.resolve(name).map(|p| p.exists()).unwrap_or(false)
    }
}

/// Resolves `.` and `..` lexically, refusing to climb above the root.
fn clean_logical(p: &Path) -> Result<PathBuf, EngineError> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(invalid(format!(
                        "link escapes the archive: {}",
                        p.display()
                    )));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid(format!(
                    "absolute link in archive: {}",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

/// One image to load: its config and its layer files, bottom first.
struct ToLoad {
    config: Vec<u8>,
    layers: Vec<String>,
    tags: Vec<String>,
}

fn docker_archive(s: &Spooled) -> Result<Vec<ToLoad>, EngineError> {
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(&s.read_small("manifest.json")?)
        .map_err(|e| invalid(format!("invalid manifest.json in archive: {e}")))?;
    manifest
        .into_iter()
        .map(|m| {
            Ok(ToLoad {
                config: s.read_small(&m.config)?,
                layers: m.layers,
                tags: m.repo_tags.unwrap_or_default(),
            })
        })
        .collect()
}

fn oci_layout(s: &Spooled) -> Result<Vec<ToLoad>, EngineError> {
    let blob = |d: &image::Digest| format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
    let index = s.read_small("index.json")?;
    let top = image::parse_manifest(Some(image::manifest::MEDIA_TYPE_OCI_INDEX), &index)
        .map_err(|e| invalid(format!("invalid index.json in archive: {e}")))?;
    let mut out = Vec::new();
    let mut todo: Vec<(image::Manifest, Vec<String>)> = vec![(top, Vec::new())];
    let mut depth = 0;
    while let Some((m, tags)) = todo.pop() {
        depth += 1;
        if depth > 64 {
            return Err(invalid("OCI layout nests indexes too deeply"));
        }
        match m {
            image::Manifest::OciIndex(idx) | image::Manifest::DockerList(idx) => {
                for d in &idx.manifests {
                    let mut t = tags.clone();
                    let ann = &d.annotations;
                    for key in [
                        "io.containerd.image.name",
                        "org.opencontainers.image.ref.name",
                    ] {
                        if let Some(v) = ann.get(key) {
                            if key == "io.containerd.image.name"
                                || v.contains(':')
                                || v.contains('/')
                            {
                                t.push(v.clone());
                            }
                        }
                    }
                    let bytes = s.read_small(&blob(&d.digest))?;
                    if image::Digest::sha256_of(&bytes) != d.digest {
                        return Err(invalid(format!(
                            "blob {} in archive does not match its digest",
                            d.digest
                        )));
                    }
                    let m = image::parse_manifest(
                        Some(d.media_type.as_str()).filter(|m| !m.is_empty()),
                        &bytes,
                    )
                    .map_err(|e| {
                        invalid(format!("invalid manifest {} in archive: {e}", d.digest))
                    })?;
                    todo.push((m, t));
                }
            }
            image::Manifest::OciManifest(im) | image::Manifest::DockerV2(im) => {
                out.push(ToLoad {
                    config: s.read_small(&blob(&im.config.digest))?,
                    layers: im.layers.iter().map(|l| blob(&l.digest)).collect(),
                    tags,
                });
            }
        }
    }
    Ok(out)
}

impl Images {
    /// `POST /images/load`: loads every image of a `docker save` archive or
    /// OCI layout read from `input`.
    pub fn load_archive(
        &self,
        input: impl Read,
        quiet: bool,
        delta_store: Option<&std::sync::Arc<store::Store>>,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        let tmp_root = self.store().root().join("tmp");
        std::fs::create_dir_all(&tmp_root).map_err(io_err("create", &tmp_root))?;
        let dir = tmp_root.join(format!("load-{}", &crate::new_id()[..16]));
        std::fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        let _spool = Spool(dir.clone());
        let links = spool(input, &dir)?;
        let s = Spooled { dir, links };
        let images = if s.exists("manifest.json") {
            docker_archive(&s)?
        } else if s.exists("index.json") {
            oci_layout(&s)?
        } else {
            return Err(invalid(
                "invalid archive: it has neither manifest.json (docker save) nor index.json (OCI layout)",
            ));
        };
        if images.is_empty() {
            return Err(invalid("no images found in archive"));
        }
        for img in images {
            self.load_one(&s, img, quiet, delta_store, progress)?;
        }
        Ok(())
    }

    fn load_one(
        &self,
        s: &Spooled,
        img: ToLoad,
        quiet: bool,
        delta_store: Option<&std::sync::Arc<store::Store>>,
        progress: &mut Progress<'_>,
    ) -> Result<(), EngineError> {
        let config = ImageConfig::parse(img.config)
            .map_err(|e| invalid(format!("invalid image config in archive: {e}")))?;
        // A balena delta: store the target, patching each layer against
        // the basis (which must be here, in the store or the delta root).
        let (config, basis) = match config
            .delta()
            .map_err(|e| invalid(format!("invalid delta image in archive: {e}")))?
        {
            None => (config, None),
            Some(info) => {
                let target = info
                    .target()
                    .map_err(|e| invalid(format!("invalid delta target config: {e}")))?;
                if self.store().image_exists(target.id()) {
                    progress(JsonMessage {
                        stream: Some(
                            "Target image already exists locally, no need to load it.\n".into(),
                        ),
                        ..Default::default()
                    })?;
                    return Ok(());
                }
                let basis = crate::delta_apply::Basis::find(self.store(), delta_store, &info.base)?;
                (target, Some(basis))
            }
        };
        let diff_ids: Vec<DiffId> = config.diff_ids().to_vec();
        if diff_ids.len() != img.layers.len() {
            return Err(invalid(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                img.layers.len()
            )));
        }
        let mut parent: Option<ChainId> = None;
        for (i, (file, diff)) in img.layers.iter().zip(&diff_ids).enumerate() {
            let chain = match &parent {
                None => ChainId::from(diff.clone()),
                Some(p) => p.child(diff),
            };
            if !self.store().layer_exists(&chain) {
                let path = s.resolve(file)?;
                let f = std::fs::File::open(&path)
                    .map_err(|_| invalid(format!("archive has no {file}")))?;
                let size = f.metadata().map(|m| m.len()).unwrap_or(0) as i64;
                let short = &diff.hex()[..12];
                let mut done = 0i64;
                let counted = CountingReader {
                    inner: f,
                    on_read: &mut |n| {
                        done += n as i64;
                        if !quiet {
                            progress(JsonMessage::progress("Loading layer", short, done, size))?;
                        }
                        Ok(())
                    },
                };
                let reader = crate::compression::decompress(counted)?;
                let mut w = self.store().begin_layer()?;
                let got = match &basis {
                    Some(b) => crate::delta_apply::apply_delta_layer(b, reader, &mut w)?,
                    None => w.apply(reader).map_err(|e| match e {
                        store::StoreError::Apply(le) => {
                            invalid(format!("layer {} of the archive: {le}", i + 1))
                        }
                        other => EngineError::Store(other),
                    })?,
                };
                if &got != diff {
                    return Err(invalid(format!(
                        "layer {} of the archive has diff id {got}, its config says {diff}",
                        i + 1
                    )));
                }
                w.commit(diff, parent.as_ref())?;
            }
            parent = Some(chain);
        }
        let _g = self.lock();
        let id = self.store().put_image(config.raw(), &diff_ids)?;
        let mut events = vec![("load", id.to_string(), id.to_string())];
        if img.tags.is_empty() {
            progress(JsonMessage {
                stream: Some(format!("Loaded image ID: {id}\n")),
                ..Default::default()
            })?;
        }
        for t in &img.tags {
            let named = reference::parse_normalized_named(t)
                .map_err(|e| invalid(format!("invalid tag {t:?} in archive: {e}")))?;
            let named = if named.tag().is_none() && named.digest().is_none() {
                named.tag_name_only()
            } else {
                named
            };
            if let Some(old) = self.store().tag(&named, &id)? {
                if old != id {
                    progress(JsonMessage {
                        stream: Some(format!(
                            "The image {} already exists, renaming the old one with ID {old} to empty string\n",
                            named.familiar_string()
                        )),
                        ..Default::default()
                    })?;
                }
            }
            progress(JsonMessage {
                stream: Some(format!("Loaded image: {}\n", named.familiar_string())),
                ..Default::default()
            })?;
            events.push(("tag", id.to_string(), named.familiar_string()));
        }
        drop(_g);
        for (action, id, name) in events {
            self.event(action, &id, &name);
        }
        Ok(())
    }

    /// `GET /images/{name}/get` and `GET /images/get?names=`: writes a
    /// Docker 20.10 archive of the named images to `out`.
    pub fn save_archive(&self, names: &[String], out: impl Write) -> Result<(), EngineError> {
        // (image id, tags to record), in the order asked, each image once.
        let mut wanted: Vec<(ImageId, Vec<Named>)> = Vec::new();
        for name in names {
            let id = self.resolve(name)?;
            let tags: Vec<Named> = match reference::parse_normalized_named(name) {
                Ok(n) if !id.hex().starts_with(name.trim_start_matches("sha256:")) => {
                    if n.tag().is_some() {
                        vec![n]
                    } else if n.digest().is_some() {
                        Vec::new()
                    } else {
                        let repo = n.familiar_name();
                        self.store()
                            .references_of(&id)
                            .into_iter()
                            .filter(|r| {
                                !r.contains('@')
                                    && r.rsplit_once(':').map(|(a, _)| a) == Some(repo.as_str())
                            })
                            .filter_map(|r| reference::parse_normalized_named(&r).ok())
                            .collect()
                    }
                }
                _ => Vec::new(),
            };
            match wanted.iter_mut().find(|(i, _)| *i == id) {
                Some((_, t)) => t.extend(tags),
                None => wanted.push((id, tags)),
            }
        }
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut written = std::collections::HashSet::new();
        for (id, tags) in &wanted {
            let img = self.load(id)?;
            let created = img
                .config
                .parsed()
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp().max(0) as u64)
                .unwrap_or(0);
            let chains = image::digest::chain_ids(img.config.diff_ids());
            let mut layer_names = Vec::new();
            let mut parent_dir: Option<String> = None;
            for c in &chains {
                let dir = c.hex().to_string();
                if written.insert(dir.clone()) {
                    let mut v1 = serde_json::json!({"id": dir, "created": "1970-01-01T00:00:00Z",
                        "container_config": {"Cmd": null}});
                    if let Some(p) = &parent_dir {
                        v1["parent"] = serde_json::Value::String(p.clone());
                    }
                    append_bytes(&mut tar, &format!("{dir}/VERSION"), b"1.0", created)?;
                    append_bytes(
                        &mut tar,
                        &format!("{dir}/json"),
                        v1.to_string().as_bytes(),
                        created,
                    )?;
                    let size = self.store().layer_tar(c, std::io::sink())?;
                    let mut h = tar::Header::new_ustar();
                    h.set_size(size);
                    h.set_mode(0o644);
                    h.set_mtime(created);
                    h.set_entry_type(tar::EntryType::Regular);
                    let store = self.store().clone();
                    let chain = c.clone();
                    let layer = crate::pipe::spawn_producer(move |w| {
                        store
                            .layer_tar(&chain, &mut *w)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    });
                    tar.append_data(&mut h, format!("{dir}/layer.tar"), layer)
                        .map_err(|e| EngineError::Io {
                            op: "write archive",
                            path: PathBuf::from(format!("{dir}/layer.tar")),
                            source: e,
                        })?;
                }
                layer_names.push(format!("{dir}/layer.tar"));
                parent_dir = Some(c.hex().to_string());
            }
            let cfg_name = format!("{}.json", id.hex());
            append_bytes(&mut tar, &cfg_name, img.config.raw(), created)?;
            let tag_strings: Vec<String> = tags.iter().map(|t| t.familiar_string()).collect();
            for t in tags {
                if let (Some(tag), Some(top)) = (t.tag(), chains.last()) {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag.to_string(), top.hex().to_string());
                }
            }
            manifest.push(ManifestEntry {
                config: cfg_name,
                repo_tags: (!tag_strings.is_empty()).then_some(tag_strings),
                layers: layer_names,
            });
        }
        let m = serde_json::to_vec(&manifest).map_err(|e| invalid(e.to_string()))?;
        append_bytes(&mut tar, "manifest.json", &m, 0)?;
        if !repositories.is_empty() {
            let r = serde_json::to_vec(&repositories).map_err(|e| invalid(e.to_string()))?;
            append_bytes(&mut tar, "repositories", &r, 0)?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| EngineError::Io {
                op: "write archive",
                path: PathBuf::from("-"),
                source: e,
            })?;
        for (id, _) in &wanted {
            self.event("save", id.as_ref(), id.as_ref());
        }
        Ok(())
    }
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> Result<(), EngineError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
        .map_err(|e| EngineError::Io {
            op: "write archive",
            path: PathBuf::from(name),
            source: e,
        })
}

/// Counts bytes as they are read and reports them.
struct CountingReader<'a, R> {
    inner: R,
    on_read: &'a mut dyn FnMut(usize) -> Result<(), EngineError>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::Interrupted, e.to_string()))?;
        Ok(n)
    }
}

impl Images {
    /// `POST /images/create?fromSrc=-`: a root file system tar (plain,
    /// gzip or zstd) becomes a one-layer image; returns its id.
    pub fn import(
        &self,
        input: impl Read,
        repo: &str,
        tag: &str,
        message: &str,
        changes: &[String],
        platform: &str,
    ) -> Result<ImageId, EngineError> {
        let target = if repo.is_empty() {
            None
        } else {
            Some(crate::images::parse_tag_target(repo, tag)?)
        };
        let plat = if platform.is_empty() {
            crate::pull::host_platform()
        } else {
            image::Platform::parse(platform).map_err(|e| invalid(e.to_string()))?
        };
        let mut cfg = serde_json::Map::new();
        crate::changes::apply(&mut cfg, changes)?;
        let mut w = self.store().begin_layer()?;
        let diff = w
            .apply(crate::compression::decompress(input)?)
            .map_err(|e| match e {
                store::StoreError::Apply(le) => invalid(format!("importing: {le}")),
                other => EngineError::Store(other),
            })?;
        let info = w.commit(&diff, None)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut config = serde_json::json!({
            "architecture": plat.architecture,
            "os": plat.os,
            "created": now,
            "docker_version": api::version::COMPAT_VERSION,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [info.diff_id.as_str()]},
            "history": [{"created": now, "comment": if message.is_empty() { "Imported from -" } else { message }}],
        });
        if !message.is_empty() {
            config["comment"] = serde_json::Value::String(message.to_string());
        }
        if !plat.variant.is_empty() {
            config["variant"] = serde_json::Value::String(plat.variant.clone());
        }
        let raw = serde_json::to_vec(&config).map_err(|e| invalid(e.to_string()))?;
        let g = self.lock();
        let id = self.store().put_image(&raw, &[info.diff_id])?;
        if let Some(t) = &target {
            self.store().tag(t, &id)?;
        }
        drop(g);
        self.event("import", id.as_ref(), id.as_ref());
        if let Some(t) = target {
            self.event("tag", id.as_ref(), &t.familiar_string());
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_are_cleaned() {
        assert_eq!(
            clean_name(Path::new("./a/b")).unwrap(),
            PathBuf::from("a/b")
        );
        assert!(clean_name(Path::new("../x")).is_err());
        assert!(clean_name(Path::new("/etc/passwd")).is_err());
        assert!(clean_name(Path::new(".")).is_err());
    }

    #[test]
    fn links_cannot_leave_the_archive() {
        assert_eq!(
            clean_logical(Path::new("a/../b")).unwrap(),
            PathBuf::from("b")
        );
        assert!(clean_logical(Path::new("../../etc")).is_err());
        assert!(clean_logical(Path::new("/etc")).is_err());
    }
}
