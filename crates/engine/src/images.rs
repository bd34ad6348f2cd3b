//! The image service: lookup, list, inspect, history, tag, delete and
//! prune over the store, with Docker's semantics and messages.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use api::image::{
    DeleteItem, GraphDriver, HistoryItem, ImageInspect, ImageMetadata, ImageSummary, PruneReport,
    RootFs,
};
use image::reference::{self, Named, Reference};
use image::{ChainId, ImageConfig, ImageId};
use store::Store;

use crate::filters::{glob_match, Filters};
use crate::EngineError;

/// Images in the store, and the lock that orders changes to them.
#[derive(Debug)]
pub struct Images {
    store: Arc<Store>,
    /// Where image events go.
    pub(crate) events: Arc<crate::events::Events>,
    /// Held for tag, untag, delete and the last step of a pull, so a delete
    /// never races an image being recorded.
    changes: Mutex<()>,
    /// Images in use by an operation (a delta being made from them), which
    /// delete refuses.
    held: Arc<Mutex<HashMap<ImageId, usize>>>,
}

/// Keeps an image from being deleted while alive.
#[derive(Debug)]
pub struct Hold {
    id: ImageId,
    held: Arc<Mutex<HashMap<ImageId, usize>>>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = h.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                h.remove(&self.id);
            }
        }
    }
}

/// An image as loaded from the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: ImageId,
    pub config: ImageConfig,
}

fn store_err(e: store::StoreError) -> EngineError {
    match e {
        store::StoreError::ImageNotFound(m) => EngineError::NotFound(format!("No such image: {m}")),
        store::StoreError::Invalid(m) => EngineError::InvalidArgument(m),
        other => EngineError::Store(other),
    }
}

fn no_such_image(r: &str) -> EngineError {
    // Docker names the tagged form (`busybox:latest`) in the message.
    let shown = match reference::parse_normalized_named(r) {
        Ok(n) => n.tag_name_only().familiar_string(),
        Err(_) => r.to_string(),
    };
    EngineError::NotFound(format!("No such image: {shown}"))
}

/// Seconds since the epoch of an RFC 3339 time, 0 when absent or bad.
fn unix_seconds(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

impl Images {
    pub fn new(store: Arc<Store>, events: Arc<crate::events::Events>) -> Self {
        Self {
            store,
            events,
            changes: Mutex::new(()),
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Protects `id` from deletion until the returned guard drops.
    pub fn hold(&self, id: &ImageId) -> Hold {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        *h.entry(id.clone()).or_insert(0) += 1;
        Hold {
            id: id.clone(),
            held: self.held.clone(),
        }
    }

    fn is_held(&self, id: &ImageId) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Serialises changes to tags and images.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn load(&self, id: &ImageId) -> Result<Loaded, EngineError> {
        let raw = self
            .store
            .image_config(id)
            .map_err(store_err)?
            .ok_or_else(|| EngineError::NotFound(format!("No such image: {id}")))?;
        let config = ImageConfig::parse(raw)
            .map_err(|e| EngineError::Corrupt(format!("image {id}: {e}")))?;
        Ok(Loaded {
            id: id.clone(),
            config,
        })
    }

    /// Docker's `GetImage`: an id (`sha256:…`, full hex), a reference
    /// (tag defaults to `latest`), or an unambiguous id prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageId, EngineError> {
        match reference::parse_any_reference(name) {
            Ok(Reference::Digest(d)) => {
                let id: ImageId = d.as_str().parse().map_err(|_| no_such_image(name))?;
                if self.store.image_exists(&id) {
                    return Ok(id);
                }
                return Err(no_such_image(name));
            }
            Ok(Reference::Named(n)) => {
                let n = if n.digest().is_none() && n.tag().is_none() {
                    n.tag_name_only()
                } else {
                    n
                };
                if let Some(id) = self.store.resolve(&n) {
                    if self.store.image_exists(&id) {
                        return Ok(id);
                    }
                }
            }
            Err(_) => {}
        }
        self.search_prefix(name)
            .ok_or_else(|| no_such_image(name))?
    }

    /// Truncated id lookup (`6d5f`, `sha256:6d5f`).
    fn search_prefix(&self, name: &str) -> Option<Result<ImageId, EngineError>> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let ids = self.store.images().ok()?;
        let found: Vec<ImageId> = ids
            .into_iter()
            .filter(|i| i.hex().starts_with(hex))
            .collect();
        match found.len() {
            0 => None,
            1 => found.into_iter().next().map(Ok),
            _ => Some(Err(EngineError::InvalidArgument(format!(
                "ambiguous image id prefix {hex:?}"
            )))),
        }
    }

    fn chains(config: &ImageConfig) -> Vec<ChainId> {
        image::digest::chain_ids(config.diff_ids())
    }

    /// Bytes of all layers of an image.
    fn size(&self, config: &ImageConfig) -> i64 {
        Self::chains(config)
            .iter()
            .filter_map(|c| self.store.layer(c).ok().flatten())
            .map(|l| l.size as i64)
            .sum()
    }

    fn refs_of(&self, id: &ImageId) -> (Vec<String>, Vec<String>) {
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for r in self.store.references_of(id) {
            if r.contains('@') {
                digests.push(r);
            } else {
                tags.push(r);
            }
        }
        tags.sort();
        digests.sort();
        (tags, digests)
    }

    fn parent_of(&self, id: &ImageId) -> Option<ImageId> {
        let raw = self.store.image_metadata(id, "parent").ok()??;
        String::from_utf8(raw).ok()?.trim().parse().ok()
    }

    /// `GET /images/json`.
    pub fn list(
        &self,
        all: bool,
        filters: &Filters,
        digests: bool,
    ) -> Result<Vec<ImageSummary>, EngineError> {
        filters.validate(&["dangling", "label", "before", "since", "reference"])?;
        let dangling = filters.bool("dangling")?;
        let before = match filters.get("before").first() {
            Some(b) => Some(self.load(&self.resolve(b)?)?),
            None => None,
        };
        let since = match filters.get("since").first() {
            Some(s) => Some(self.load(&self.resolve(s)?)?),
            None => None,
        };
        let ids = self.store.images().map_err(store_err)?;
        let parents: HashSet<ImageId> = ids.iter().filter_map(|i| self.parent_of(i)).collect();
        let mut out = Vec::new();
        for id in ids {
            let Ok(img) = self.load(&id) else { continue };
            let created = unix_seconds(img.config.parsed().created.as_deref());
            if let Some(b) = &before {
                if created >= unix_seconds(b.config.parsed().created.as_deref()) {
                    continue;
                }
            }
            if let Some(s) = &since {
                if created <= unix_seconds(s.config.parsed().created.as_deref()) {
                    continue;
                }
            }
            let (mut tags, repo_digests) = self.refs_of(&id);
            let is_dangling = tags.is_empty() && repo_digests.is_empty();
            match dangling {
                Some(true) if !tags.is_empty() => continue,
                Some(false) if tags.is_empty() => continue,
                _ => {}
            }
            // Intermediate images (parents of others, untagged) are hidden
            // unless `all`.
            if !all && is_dangling && parents.contains(&id) {
                continue;
            }
            let labels: BTreeMap<String, String> = img
                .config
                .parsed()
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            if filters.contains("label") && !filters.match_labels("label", &labels) {
                continue;
            }
            let refs = filters.get("reference");
            if !refs.is_empty() {
                tags.retain(|t| {
                    refs.iter().any(|p| {
                        glob_match(p, t)
                            || t.rsplit_once(':')
                                .is_some_and(|(name, _)| glob_match(p, name))
                    })
                });
                if tags.is_empty() {
                    continue;
                }
            }
            let size = self.size(&img.config);
            out.push(ImageSummary {
                containers: -1,
                created,
                id: id.to_string(),
                labels: (!labels.is_empty()).then_some(labels),
                parent_id: self
                    .parent_of(&id)
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                repo_digests: Some(if is_dangling && digests {
                    vec!["<none>@<none>".to_string()]
                } else {
                    repo_digests
                }),
                repo_tags: Some(if is_dangling {
                    vec!["<none>:<none>".to_string()]
                } else {
                    tags
                }),
                shared_size: -1,
                size,
                virtual_size: size,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect, EngineError> {
        let id = self.resolve(name)?;
        let img = self.load(&id)?;
        let (tags, digests) = self.refs_of(&id);
        let raw: serde_json::Value = serde_json::from_slice(img.config.raw())
            .map_err(|e| EngineError::Corrupt(format!("image {id}: {e}")))?;
        let field = |k: &str| {
            raw.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let chains = Self::chains(&img.config);
        let mut graph = BTreeMap::new();
        let layer_dirs: Vec<std::path::PathBuf> = chains
            .iter()
            .filter_map(|c| self.store.layer(c).ok().flatten())
            .map(|l| self.store.layer_diff_dir(&l))
            .collect();
        if let Some((top, lower)) = layer_dirs.split_last() {
            let top_dir = top.parent().unwrap_or(top);
            graph.insert("UpperDir".to_string(), top.display().to_string());
            graph.insert(
                "MergedDir".to_string(),
                top_dir.join("merged").display().to_string(),
            );
            graph.insert(
                "WorkDir".to_string(),
                top_dir.join("work").display().to_string(),
            );
            if !lower.is_empty() {
                let l: Vec<String> = lower
                    .iter()
                    .rev()
                    .map(|p| p.display().to_string())
                    .collect();
                graph.insert("LowerDir".to_string(), l.join(":"));
            }
        }
        let last_tag = self
            .store
            .image_metadata(&id, "lastTagTime")
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let size = self.size(&img.config);
        Ok(ImageInspect {
            id: id.to_string(),
            repo_tags: tags,
            repo_digests: digests,
            parent: self
                .parent_of(&id)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            comment: field("comment"),
            created: field("created"),
            container: field("container"),
            container_config: raw
                .get("container_config")
                .cloned()
                .unwrap_or(serde_json::json!({})),
            docker_version: field("docker_version"),
            author: field("author"),
            config: raw
                .get("config")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            architecture: field("architecture"),
            variant: field("variant"),
            os: field("os"),
            os_version: field("os.version"),
            size,
            virtual_size: size,
            graph_driver: GraphDriver {
                data: graph,
                name: self.store.driver().to_string(),
            },
            root_fs: RootFs {
                kind: "layers".to_string(),
                layers: img
                    .config
                    .diff_ids()
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
            },
            metadata: ImageMetadata {
                last_tag_time: last_tag,
            },
        })
    }

    /// `GET /images/{name}/history`: newest first, the image id on the top
    /// entry and `<missing>` below (as for pulled images in Docker).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>, EngineError> {
        let id = self.resolve(name)?;
        let img = self.load(&id)?;
        let chains = Self::chains(&img.config);
        let mut layer_i = 0;
        let mut items = Vec::new();
        for h in img.config.parsed().history.iter().flatten() {
            let empty = h.empty_layer.unwrap_or(false);
            let size = if empty {
                0
            } else {
                let s = chains
                    .get(layer_i)
                    .and_then(|c| self.store.layer(c).ok().flatten())
                    .map(|l| l.size as i64)
                    .unwrap_or(0);
                layer_i += 1;
                s
            };
            items.push(HistoryItem {
                id: "<missing>".to_string(),
                created: unix_seconds(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: None,
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = id.to_string();
            let (tags, _) = self.refs_of(&id);
            top.tags = (!tags.is_empty()).then_some(tags);
        }
        Ok(items)
    }

    /// Publishes an image event as Docker's `LogImageEvent`: `id` is the
    /// actor, `name` its `name` attribute, and the image's labels when
    /// `id` names an image we have.
    pub(crate) fn event(&self, action: &str, id: &str, name: &str) {
        let mut attrs: BTreeMap<String, String> = self
            .resolve(id)
            .and_then(|i| self.load(&i))
            .ok()
            .and_then(|img| img.config.parsed().config.as_ref()?.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        attrs.insert("name".into(), name.to_string());
        self.events
            .emit(crate::events::Kind::Image, action, id, attrs);
    }

    /// Untag events for what `delete`/`prune` untagged (the image's delete
    /// event comes from `remove_image`).
    fn untag_events(&self, id: &ImageId, records: &[DeleteItem]) {
        for r in records {
            if matches!(r, DeleteItem::Untagged(_)) {
                let id = id.to_string();
                self.events.emit(
                    crate::events::Kind::Image,
                    "untag",
                    &id,
                    [("name".to_string(), id.clone())].into(),
                );
            }
        }
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<Named, EngineError> {
        let id = self.resolve(name)?;
        let target = parse_tag_target(repo, tag)?;
        let _g = self.lock();
        self.store.tag(&target, &id).map_err(store_err)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.store
            .set_image_metadata(&id, "lastTagTime", now.as_bytes())
            .map_err(store_err)?;
        drop(_g);
        self.event("tag", id.as_ref(), &target.familiar_string());
        Ok(target)
    }

    /// Chains used by any image except `except`.
    fn chains_in_use(&self, except: &ImageId) -> HashSet<ChainId> {
        let mut used = HashSet::new();
        for id in self.store.images().unwrap_or_default() {
            if &id == except {
                continue;
            }
            if let Ok(img) = self.load(&id) {
                used.extend(Self::chains(&img.config));
            }
        }
        used
    }

    /// Removes an image that has no references left, and its layers that
    /// no other image uses. Returns Docker's records.
    fn remove_image(
        &self,
        id: &ImageId,
        prune_parents: bool,
    ) -> Result<Vec<DeleteItem>, EngineError> {
        if self.is_held(id) {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is in use by a delta being created",
                id.short()
            )));
        }
        let img = self.load(id)?;
        let children: Vec<ImageId> = self
            .store
            .images()
            .map_err(store_err)?
            .into_iter()
            .filter(|i| self.parent_of(i).as_ref() == Some(id))
            .collect();
        if !children.is_empty() {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                id.short()
            )));
        }
        let parent = self.parent_of(id);
        let used = self.chains_in_use(id);
        self.store.remove_image(id).map_err(store_err)?;
        let ids = id.to_string();
        self.events.emit(
            crate::events::Kind::Image,
            "delete",
            &ids,
            [("name".to_string(), ids.clone())].into(),
        );
        // Its cached delta signature, if it was ever a delta basis.
        let _ = std::fs::remove_file(
            self.store
                .root()
                .join("delta-signatures")
                .join(format!("{}.sig", id.hex())),
        );
        let mut records = vec![DeleteItem::Deleted(id.to_string())];
        for c in Self::chains(&img.config).into_iter().rev() {
            if used.contains(&c) {
                break;
            }
            self.store.remove_layer(&c).map_err(store_err)?;
            records.push(DeleteItem::Deleted(c.to_string()));
        }
        if prune_parents {
            if let Some(p) = parent {
                if self.store.image_exists(&p) && self.store.references_of(&p).is_empty() {
                    if let Ok(more) = self.remove_image(&p, true) {
                        records.extend(more);
                    }
                }
            }
        }
        Ok(records)
    }

    /// `DELETE /images/{name}?force=&noprune=`, as Docker's `ImageDelete`.
    /// `in_use` says whether a container uses the image.
    pub fn delete(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&ImageId) -> Option<String>,
    ) -> Result<Vec<DeleteItem>, EngineError> {
        let id = self.resolve(name)?;
        let mut records = Vec::new();
        let res = self.delete_locked(&id, name, force, noprune, in_use, &mut records);
        self.untag_events(&id, &records);
        res.map(|()| records)
    }

    fn delete_locked(
        &self,
        id: &ImageId,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&ImageId) -> Option<String>,
        records: &mut Vec<DeleteItem>,
    ) -> Result<(), EngineError> {
        let id = id.clone();
        let _g = self.lock();
        let refs = self.store.references_of(&id);
        let by_id = {
            let hex = name.strip_prefix("sha256:").unwrap_or(name);
            !hex.is_empty()
                && id.hex().starts_with(hex)
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        };
        if !by_id {
            let named = reference::parse_normalized_named(name)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            let named = if named.tag().is_none() && named.digest().is_none() {
                named.tag_name_only()
            } else {
                named
            };
            if !force && refs.len() == 1 {
                if let Some(c) = in_use(&id) {
                    return Err(EngineError::Conflict(format!(
                        "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {}",
                        &c[..c.len().min(12)],
                        id.short()
                    )));
                }
            }
            self.store.untag(&named).map_err(store_err)?;
            records.push(DeleteItem::Untagged(named.familiar_string()));
            let mut remaining = self.store.references_of(&id);
            // Removing the last tag of a repository also removes its digest
            // references, as Docker does.
            if named.digest().is_none() {
                let repo = named.familiar_name();
                let tag_left = remaining.iter().any(|r| {
                    !r.contains('@') && r.rsplit_once(':').map(|(n, _)| n) == Some(repo.as_str())
                });
                if !tag_left {
                    for r in remaining.clone() {
                        if r.split_once('@').map(|(n, _)| n) == Some(repo.as_str()) {
                            if let Ok(rn) = reference::parse_normalized_named(&r) {
                                self.store.untag(&rn).map_err(store_err)?;
                                records.push(DeleteItem::Untagged(r.clone()));
                            }
                        }
                    }
                    remaining = self.store.references_of(&id);
                }
            }
            if !remaining.is_empty() {
                return Ok(());
            }
        } else {
            let distinct_repos: HashSet<String> = refs
                .iter()
                .map(|r| {
                    r.split(['@'])
                        .next()
                        .unwrap_or(r)
                        .rsplit_once(':')
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_else(|| r.clone())
                })
                .collect();
            if distinct_repos.len() > 1 && !force {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
            if let Some(c) = in_use(&id) {
                if !force {
                    return Err(EngineError::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        id.short(),
                        &c[..c.len().min(12)]
                    )));
                }
            }
            for r in refs {
                if let Ok(rn) = reference::parse_normalized_named(&r) {
                    self.store.untag(&rn).map_err(store_err)?;
                    records.push(DeleteItem::Untagged(r));
                }
            }
        }
        if let Some(c) = in_use(&id) {
            // Untagged but kept: a container still needs it.
            tracing::debug!(image = %id, container = %c, "image kept for a container");
            return Ok(());
        }
        records.extend(self.remove_image(&id, !noprune)?);
        Ok(())
    }

    /// `POST /images/prune`: dangling images (or all unused with
    /// `dangling=false`), filtered by `until` and `label`.
    pub fn prune(
        &self,
        filters: &Filters,
        in_use: &dyn Fn(&ImageId) -> Option<String>,
    ) -> Result<PruneReport, EngineError> {
        filters.validate(&["dangling", "until", "label", "label!"])?;
        let dangling_only = filters.bool("dangling")?.unwrap_or(true);
        let until = match filters.get("until").first() {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        let mut report = PruneReport::default();
        let mut deleted = Vec::new();
        let ids = self.store.images().map_err(store_err)?;
        let parents: HashSet<ImageId> = ids.iter().filter_map(|i| self.parent_of(i)).collect();
        let sizes: HashMap<ChainId, u64> = self
            .store
            .layers()
            .map_err(store_err)?
            .into_iter()
            .filter_map(|c| Some((c.clone(), self.store.layer(&c).ok()??.size)))
            .collect();
        for id in ids {
            if parents.contains(&id) || in_use(&id).is_some() {
                continue;
            }
            let Ok(img) = self.load(&id) else { continue };
            let refs = self.store.references_of(&id);
            let tagged = refs.iter().any(|r| !r.contains('@'));
            if dangling_only && tagged {
                continue;
            }
            if let Some(u) = until {
                if unix_seconds(img.config.parsed().created.as_deref()) >= u {
                    continue;
                }
            }
            let labels: BTreeMap<String, String> = img
                .config
                .parsed()
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            if filters.contains("label") && !filters.match_labels("label", &labels) {
                continue;
            }
            if filters.contains("label!")
                && filters
                    .get("label!")
                    .iter()
                    .any(|f| match f.split_once('=') {
                        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                        None => labels.contains_key(f.as_str()),
                    })
            {
                continue;
            }
            let _g = self.lock();
            let mut untagged = Vec::new();
            for r in &refs {
                if let Ok(rn) = reference::parse_normalized_named(r) {
                    self.store.untag(&rn).map_err(store_err)?;
                    untagged.push(DeleteItem::Untagged(r.clone()));
                }
            }
            self.untag_events(&id, &untagged);
            deleted.extend(untagged);
            let recs = self.remove_image(&id, false)?;
            for r in &recs {
                if let DeleteItem::Deleted(d) = r {
                    if let Ok(c) = d.parse::<ChainId>() {
                        report.space_reclaimed += sizes.get(&c).copied().unwrap_or(0);
                    }
                }
            }
            deleted.extend(recs);
        }
        report.images_deleted = (!deleted.is_empty()).then_some(deleted);
        Ok(report)
    }
}

/// `until=` as a Unix time: seconds, RFC 3339, or a Go duration ago
/// (`10m`, `24h`).
pub fn parse_until(s: &str) -> Result<i64, EngineError> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let now = chrono::Utc::now().timestamp();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| EngineError::InvalidArgument(format!("invalid filter 'until={s}'")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(EngineError::InvalidArgument(format!(
                "invalid filter 'until={s}'"
            )))
        }
    };
    Ok(now - secs as i64)
}

/// The reference `repo[:tag]` of a tag request, as Docker validates it.
pub fn parse_tag_target(repo: &str, tag: &str) -> Result<Named, EngineError> {
    let named = reference::parse_normalized_named(repo)
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    if named.digest().is_some() {
        return Err(EngineError::InvalidArgument(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    let named = if tag.is_empty() {
        named.tag_name_only()
    } else {
        named
            .with_tag(tag)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?
    };
    if named.path().len() == 64 && named.path().bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EngineError::InvalidArgument(format!(
            "invalid repository name ({}), cannot specify 64-byte hexadecimal strings",
            named.path()
        )));
    }
    Ok(named)
}
