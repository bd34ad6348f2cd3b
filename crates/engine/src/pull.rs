//! `docker pull`: manifest and platform resolution, then layers downloaded
//! concurrently and extracted as they arrive, committed in order.
//!
//! Per layer: registry body → (resumable [`registry::BlobStream`]) → a
//! bounded channel → a blocking thread: digest verifier → decompressor →
//! tar applier into a staging directory. No compressed blob touches the
//! disk. When the registry ignores `Range`, the stream says so and the
//! thread throws its staging layer away and starts again from byte 0.
//! Layer `i` is committed (made durable, recorded on its parent) only after
//! layer `i-1`; the image config is stored after all layers, the tags last.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::progress::JsonMessage;
use bytes::Bytes;
use image::manifest::{ImageManifest, Manifest};
use image::reference::Named;
use image::{ChainId, DiffId, Digest, ImageConfig, Platform, PlatformMatcher};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::EngineError;

/// The largest image config accepted from a registry.
const MAX_CONFIG: u64 = 8 << 20;

/// Where a pull's messages go; closed when the client went away.
pub type ProgressTx = mpsc::Sender<JsonMessage>;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// Normalised, with a tag or digest.
    pub reference: Named,
    pub platform: Option<Platform>,
    pub auth: registry::Auth,
}

/// A pull whose manifest and config are known: what is left streams.
#[derive(Debug)]
pub struct Prepared {
    req: PullRequest,
    manifest_digest: String,
    manifest: ImageManifest,
    /// The image to store: for a delta, the target's config.
    config: ImageConfig,
    /// For a delta whose target is not here yet: its basis.
    basis: Option<crate::delta_apply::Basis>,
    /// For a delta: the target is already here; nothing is downloaded.
    target_present: bool,
}

pub(crate) fn registry_err(e: registry::RegistryError) -> EngineError {
    EngineError::Registry(e)
}

/// The host's platform (with the ARM variant from /proc/cpuinfo).
pub fn host_platform() -> Platform {
    let variant =
        if image::platform::host_arch() == "arm" || image::platform::host_arch() == "arm64" {
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .map(|c| image::platform::variant_from_cpuinfo(&c))
                .filter(|v| !v.is_empty())
        } else {
            None
        };
    Platform::host(variant.as_deref())
}

async fn send(tx: &ProgressTx, m: JsonMessage) -> Result<(), EngineError> {
    tx.send(m).await.map_err(|_| EngineError::Cancelled)
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

impl crate::Engine {
    /// Resolves the manifest (choosing from an index by platform) and
    /// fetches the config. Errors here are ordinary API errors (404 for an
    /// unknown image), before anything is streamed.
    pub async fn pull_prepare(&self, req: PullRequest) -> Result<Prepared, EngineError> {
        let reg = req.reference.domain().to_string();
        let repo = req.reference.path().to_string();
        let reference = match (req.reference.digest(), req.reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let client = self.registry();
        let fetched = client
            .get_manifest(
                &reg,
                &repo,
                &reference,
                image::manifest::ACCEPTED_MANIFEST_TYPES,
                &req.auth,
            )
            .await
            .map_err(registry_err)?;
        let parsed = image::parse_manifest(
            Some(fetched.content_type.as_str()).filter(|c| !c.is_empty()),
            &fetched.bytes,
        )
        .map_err(|e| {
            EngineError::InvalidArgument(format!(
                "invalid manifest for {}: {e}",
                req.reference.familiar_string()
            ))
        })?;
        let want = req.platform.clone().unwrap_or_else(host_platform);
        let (manifest_digest, manifest) = match parsed {
            Manifest::DockerV2(m) | Manifest::OciManifest(m) => (fetched.digest.clone(), m),
            Manifest::DockerList(idx) | Manifest::OciIndex(idx) => {
                let matcher = PlatformMatcher::only(&want);
                let d = idx.select(&matcher).ok_or_else(|| {
                    EngineError::NotFound(format!(
                        "no matching manifest for {want} in the manifest list entries"
                    ))
                })?;
                let f = client
                    .get_manifest(
                        &reg,
                        &repo,
                        d.digest.as_str(),
                        image::manifest::ACCEPTED_MANIFEST_TYPES,
                        &req.auth,
                    )
                    .await
                    .map_err(registry_err)?;
                match image::parse_manifest(
                    Some(d.media_type.as_str()).filter(|m| !m.is_empty()),
                    &f.bytes,
                ) {
                    Ok(Manifest::DockerV2(m)) | Ok(Manifest::OciManifest(m)) => {
                        (fetched.digest.clone(), m)
                    }
                    Ok(_) => {
                        return Err(EngineError::InvalidArgument(
                            "manifest list entry is itself a list".into(),
                        ))
                    }
                    Err(e) => {
                        return Err(EngineError::InvalidArgument(format!(
                            "invalid manifest {}: {e}",
                            d.digest
                        )))
                    }
                }
            }
        };
        let raw = client
            .get_blob_bytes(
                &reg,
                &repo,
                manifest.config.digest.as_str(),
                MAX_CONFIG,
                &req.auth,
            )
            .await
            .map_err(registry_err)?;
        let config = ImageConfig::parse(raw.to_vec())
            .map_err(|e| EngineError::InvalidArgument(format!("invalid image config: {e}")))?;
        if config.diff_ids().len() != manifest.layers.len() {
            return Err(EngineError::InvalidArgument(
                "layers from manifest don't match image configuration".into(),
            ));
        }
        // A balena delta: the stored image is the target; its layers are
        // made from the delta's against the basis, which must be here
        // before anything is downloaded.
        let (config, basis, target_present) = match config
            .delta()
            .map_err(|e| EngineError::InvalidArgument(format!("invalid delta image: {e}")))?
        {
            None => (config, None, false),
            Some(info) => {
                let target = info.target().map_err(|e| {
                    EngineError::InvalidArgument(format!("invalid delta target config: {e}"))
                })?;
                if target.diff_ids().len() != manifest.layers.len() {
                    return Err(EngineError::InvalidArgument(
                        "layers from manifest don't match image configuration".into(),
                    ));
                }
                let store = self.images().store();
                if store.image_exists(target.id()) {
                    (target, None, true)
                } else {
                    let basis =
                        crate::delta_apply::Basis::find(store, self.delta_store(), &info.base)?;
                    (target, Some(basis), false)
                }
            }
        };
        if let Some(os) = config.parsed().os.as_deref() {
            if !os.is_empty() && os != "linux" {
                return Err(EngineError::InvalidArgument(format!(
                    "image operating system {os:?} cannot be used on this platform"
                )));
            }
        }
        Ok(Prepared {
            req,
            manifest_digest,
            manifest,
            config,
            basis,
            target_present,
        })
    }

    /// Downloads and records what [`Engine::pull_prepare`] found, sending
    /// Docker's progress messages.
    pub async fn pull_run(&self, p: Prepared, tx: ProgressTx) -> Result<(), EngineError> {
        let named = &p.req.reference;
        let tag_or_digest = named
            .tag()
            .map(str::to_string)
            .or_else(|| named.digest().map(|d| d.to_string()))
            .unwrap_or_else(|| "latest".to_string());
        send(
            &tx,
            JsonMessage::status(
                format!("Pulling from {}", named.path()),
                Some(&tag_or_digest),
            ),
        )
        .await?;

        let diff_ids: Vec<DiffId> = p.config.diff_ids().to_vec();
        let chains = image::digest::chain_ids(&diff_ids);
        let store = self.images().store().clone();
        if p.basis.is_some() {
            // Layers the target shares with the basis may live only in the
            // delta data root: bring them into the main store first
            // (upstream fails there, balena-engine #24/#98).
            self.copy_from_delta_store(&chains, &diff_ids).await?;
        }
        // Layers already present (by chain) are not fetched; once one is
        // missing, every layer above it is fetched (its chain is new).
        let first_missing = chains
            .iter()
            .position(|c| !store.layer_exists(c))
            .unwrap_or(chains.len());
        let mut total: u64 = 0;
        for (i, l) in p.manifest.layers.iter().enumerate() {
            if i < first_missing {
                send(
                    &tx,
                    JsonMessage::status("Already exists", Some(&short(&l.digest))),
                )
                .await?;
            } else {
                send(
                    &tx,
                    JsonMessage::status("Pulling fs layer", Some(&short(&l.digest))),
                )
                .await?;
                total += l.size;
            }
        }
        let downloaded = first_missing < chains.len() && !p.target_present;
        if downloaded {
            self.download_layers(&p, first_missing, &chains, total, &tx)
                .await?;
        }

        let reg = named.domain().to_string();
        let repo = named.path().to_string();
        let id = {
            let images = self.images();
            let _g = images.lock();
            let id = store.put_image(p.config.raw(), &diff_ids)?;
            let mut changed = downloaded;
            if let Some(tag) = named.tag() {
                let r = named
                    .clone()
                    .with_tag(tag)
                    .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
                let old = store.tag(&r, &id)?;
                changed |= old.as_ref() != Some(&id);
            }
            // The manifest digest names the delta, not the image we store:
            // recording it on the target would lie (balena-engine #283).
            if p.basis.is_none() && !p.target_present {
                if let Ok(d) = Digest::parse(&p.manifest_digest) {
                    store.tag(&named.trimmed().with_digest(d), &id)?;
                }
            }
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let _ = store.set_image_metadata(&id, "lastTagTime", now.as_bytes());
            if p.basis.is_none() && !p.target_present {
                for (l, d) in p.manifest.layers.iter().zip(&diff_ids) {
                    let _ = store.set_diff_id_for_blob(&l.digest, d);
                    let _ = store.add_layer_source(d, &l.digest, &format!("{reg}/{repo}"));
                }
            }
            (id, changed)
        };
        send(
            &tx,
            JsonMessage::status(format!("Digest: {}", p.manifest_digest), None),
        )
        .await?;
        let shown = if named.digest().is_some() {
            named.familiar_string()
        } else {
            named.clone().tag_name_only().familiar_string()
        };
        let status = if id.1 {
            format!("Status: Downloaded newer image for {shown}")
        } else {
            format!("Status: Image is up to date for {shown}")
        };
        send(&tx, JsonMessage::status(status, None)).await?;
        tracing::info!(image = %id.0, reference = %shown, "pulled");
        let r = named.to_string();
        self.images().event("pull", &r, &r);
        crate::mem::trim();
        Ok(())
    }

    /// Copies layers of `chains` that only the delta data root has into
    /// the main store (bottom up, stopping at the first one neither has).
    async fn copy_from_delta_store(
        &self,
        chains: &[ChainId],
        diff_ids: &[DiffId],
    ) -> Result<(), EngineError> {
        let Some(ds) = self.delta_store().cloned() else {
            return Ok(());
        };
        let main = self.images().store().clone();
        let (chains, diff_ids) = (chains.to_vec(), diff_ids.to_vec());
        tokio::task::spawn_blocking(move || {
            for (i, c) in chains.iter().enumerate() {
                if main.layer_exists(c) {
                    continue;
                }
                if !ds.layer_exists(c) {
                    break;
                }
                let mut w = main.begin_layer()?;
                let (ds2, c2) = (ds.clone(), c.clone());
                let tar = crate::pipe::spawn_producer(move |out| {
                    ds2.layer_tar(&c2, &mut *out)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                w.apply(tar)?;
                let parent = if i == 0 { None } else { Some(&chains[i - 1]) };
                w.commit(&diff_ids[i], parent)?;
                tracing::info!(layer = %c, "copied a layer from the delta data root");
            }
            Ok::<(), EngineError>(())
        })
        .await
        .map_err(|e| EngineError::Corrupt(format!("copy task: {e}")))?
    }

    async fn download_layers(
        &self,
        p: &Prepared,
        first: usize,
        chains: &[ChainId],
        total: u64,
        tx: &ProgressTx,
    ) -> Result<(), EngineError> {
        let limit = self.config().max_concurrent_downloads.max(1) as usize;
        let sem = Arc::new(Semaphore::new(limit));
        let totals = Arc::new(TotalProgress::new(total, tx.clone()));
        let named = &p.req.reference;
        let diff_ids = p.config.diff_ids();
        // Layer i commits after layer i-1: each task waits for the one
        // below it through a oneshot that carries the parent chain.
        let n = p.manifest.layers.len();
        let (ready_tx, ready_rx) = oneshot::channel::<Option<ChainId>>();
        let _ = ready_tx.send(if first == 0 {
            None
        } else {
            Some(chains[first - 1].clone())
        });
        let mut belows = vec![ready_rx];
        let mut dones = Vec::new();
        for _ in first..n {
            let (t, r) = oneshot::channel::<Option<ChainId>>();
            dones.push(t);
            belows.push(r);
        }
        // Every extraction thread holds a clone of `alive_tx`: on failure we
        // wait until all are gone, so no staging layer outlives the pull.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let mut tasks = tokio::task::JoinSet::new();
        for ((i, done), below) in (first..n).zip(dones).zip(belows) {
            let job = LayerJob {
                store: self.images().store().clone(),
                client: self.registry().clone(),
                registry: named.domain().to_string(),
                repository: named.path().to_string(),
                auth: p.req.auth.clone(),
                blob: p.manifest.layers[i].digest.clone(),
                size: p.manifest.layers[i].size,
                diff_id: diff_ids[i].clone(),
                tx: tx.clone(),
                totals: totals.clone(),
                alive: alive_tx.clone(),
                basis: p.basis.clone(),
            };
            let sem = sem.clone();
            tasks.spawn(async move {
                let id = short(&job.blob);
                let permit = match sem.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        send(&job.tx, JsonMessage::status("Waiting", Some(&id))).await?;
                        sem.acquire_owned()
                            .await
                            .map_err(|_| EngineError::Cancelled)?
                    }
                };
                let writer = job.download().await?;
                drop(permit);
                let parent = below.await.map_err(|_| EngineError::Cancelled)?;
                let size = job.size as i64;
                send(
                    &job.tx,
                    JsonMessage::progress("Extracting", &id, size, size),
                )
                .await?;
                let diff = job.diff_id.clone();
                let info =
                    tokio::task::spawn_blocking(move || writer.commit(&diff, parent.as_ref()))
                        .await
                        .map_err(|e| EngineError::Corrupt(format!("layer commit task: {e}")))??;
                send(&job.tx, JsonMessage::status("Pull complete", Some(&id))).await?;
                let _ = done.send(Some(info.chain_id));
                Ok::<(), EngineError>(())
            });
        }
        drop(alive_tx);
        let mut failure = None;
        while let Some(r) = tasks.join_next().await {
            let r = r
                .map_err(|e| EngineError::Corrupt(format!("layer task: {e}")))
                .and_then(|r| r);
            if let Err(e) = r {
                if failure.is_none() {
                    // Stop the other downloads; their staging layers are
                    // removed as their writers drop.
                    tasks.abort_all();
                    failure = Some(e);
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                // Cancelled tasks leave their extraction threads to notice
                // the closed channel; wait for them (bounded).
                let _ = tokio::time::timeout(Duration::from_secs(60), alive_rx.recv()).await;
                Err(e)
            }
        }
    }
}

/// Docker's (balena's) `Total` line: bytes of every layer being fetched.
struct TotalProgress {
    total: u64,
    done: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<Instant>,
    tx: ProgressTx,
}

impl TotalProgress {
    fn new(total: u64, tx: ProgressTx) -> Self {
        Self {
            total,
            done: Default::default(),
            last: std::sync::Mutex::new(Instant::now() - Duration::from_secs(1)),
            tx,
        }
    }

    fn add(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if done >= self.total || last.elapsed() >= Duration::from_millis(100) {
            *last = Instant::now();
            let _ = self.tx.try_send(JsonMessage {
                status: Some(String::new()),
                progress_detail: Some(api::progress::ProgressDetail {
                    current: done as i64,
                    total: self.total as i64,
                    start: 0,
                }),
                progress: Some(api::progress::progress_string(
                    done as i64,
                    self.total as i64,
                )),
                id: Some("Total".to_string()),
                ..Default::default()
            });
        }
    }

    fn restart(&self, n: u64) {
        self.done.fetch_sub(
            n.min(self.done.load(std::sync::atomic::Ordering::Relaxed)),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

struct LayerJob {
    store: Arc<store::Store>,
    client: registry::Client,
    registry: String,
    repository: String,
    auth: registry::Auth,
    blob: Digest,
    size: u64,
    diff_id: DiffId,
    tx: ProgressTx,
    totals: Arc<TotalProgress>,
    alive: mpsc::Sender<()>,
    basis: Option<crate::delta_apply::Basis>,
}

/// What the download side hands the extraction thread.
enum Chunk {
    Data(Bytes),
    /// Forget everything so far; data restarts at byte 0.
    Restart,
}

impl LayerJob {
    /// Streams the blob into a staging layer; returns it ready to commit.
    async fn download(&self) -> Result<store::LayerWriter, EngineError> {
        let id = short(&self.blob);
        // A few chunks in flight per layer: enough to keep the extractor busy,
        // little enough that three concurrent layers stay within a few MiB.
        let (ctx, crx) = mpsc::channel::<Chunk>(3);
        let store = self.store.clone();
        let blob = self.blob.clone();
        let size = self.size;
        let alive = self.alive.clone();
        let basis = self.basis.clone();
        let (wtx, extracted) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            // Dropped last: after the writer below, whatever happens to it.
            let _alive = alive;
            let r = extract(store, crx, blob, size, basis.as_ref());
            // Nobody waits any more (the pull was cancelled): drop the
            // staging layer here, on this thread.
            if let Err(unwanted) = wtx.send(r) {
                drop(unwanted);
            }
        });
        let mut stream = self
            .client
            .blob_stream(
                &self.registry,
                &self.repository,
                self.blob.as_str(),
                Some(self.size),
                &self.auth,
            )
            .map_err(registry_err)?;
        let mut got: u64 = 0;
        let mut last = Instant::now() - Duration::from_secs(1);
        let fed: Result<(), EngineError> = async {
            while let Some(ev) = stream.next().await {
                match ev.map_err(registry_err)? {
                    registry::BlobEvent::Data(b) => {
                        got += b.len() as u64;
                        self.totals.add(b.len() as u64);
                        if ctx.send(Chunk::Data(b)).await.is_err() {
                            // The extractor stopped: its error says why.
                            return Ok(());
                        }
                        if got >= self.size || last.elapsed() >= Duration::from_millis(100) {
                            last = Instant::now();
                            send(&self.tx, JsonMessage::progress("Downloading", &id, got as i64, self.size as i64)).await?;
                        }
                    }
                    registry::BlobEvent::Retrying { in_secs, error, .. } => {
                        tracing::warn!(blob = %self.blob, %error, in_secs, "layer download interrupted");
                        let s = if in_secs == 1 { "" } else { "s" };
                        send(&self.tx, JsonMessage::status(format!("Retrying in {in_secs} second{s}"), Some(&id))).await?;
                    }
                    registry::BlobEvent::Restarted => {
                        tracing::warn!(blob = %self.blob, "registry ignored the range request; restarting the layer");
                        self.totals.restart(got);
                        got = 0;
                        if ctx.send(Chunk::Restart).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        drop(ctx);
        let writer = extracted
            .await
            .map_err(|_| EngineError::Corrupt("extract task ended without a result".into()))?;
        fed?;
        let writer = writer?;
        send(
            &self.tx,
            JsonMessage::status("Verifying Checksum", Some(&id)),
        )
        .await?;
        send(
            &self.tx,
            JsonMessage::status("Download complete", Some(&id)),
        )
        .await?;
        Ok(writer)
    }
}

/// The blocking side: reads chunks, verifies the blob digest, decompresses
/// and applies. Restarts from scratch on [`Chunk::Restart`].
fn extract(
    store: Arc<store::Store>,
    mut rx: mpsc::Receiver<Chunk>,
    blob: Digest,
    size: u64,
    basis: Option<&crate::delta_apply::Basis>,
) -> Result<store::LayerWriter, EngineError> {
    loop {
        let mut writer = store.begin_layer()?;
        let mut reader = ChunkReader {
            rx: &mut rx,
            cur: Bytes::new(),
            restart: false,
        };
        let mut verifying = image::VerifyingReader::with_size(&mut reader, blob.clone(), size);
        let applied = crate::compression::decompress(&mut verifying).and_then(|r| match basis {
            Some(b) => crate::delta_apply::apply_delta_layer(b, r, &mut writer),
            None => writer.apply(r).map_err(|e| match e {
                store::StoreError::Apply(le) => {
                    EngineError::InvalidArgument(format!("failed to register layer {blob}: {le}"))
                }
                other => EngineError::Store(other),
            }),
        });
        // Read what the decompressor left (gzip trailer, tar padding) so the
        // verifier sees every byte and checks the digest at the end.
        let drained = std::io::copy(&mut verifying, &mut std::io::sink());
        drop(verifying);
        if reader.restart {
            continue;
        }
        if let Err(e) = drained {
            return Err(EngineError::InvalidArgument(format!("layer {blob}: {e}")));
        }
        applied?;
        return Ok(writer);
    }
}

/// A `Read` over the chunk channel; stops with an error at a restart.
struct ChunkReader<'a> {
    rx: &'a mut mpsc::Receiver<Chunk>,
    cur: Bytes,
    restart: bool,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.restart {
            // Not `Interrupted`: io::copy would retry that forever.
            return Err(std::io::Error::other("layer restarted"));
        }
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Chunk::Data(b)) => self.cur = b,
                Some(Chunk::Restart) => {
                    self.restart = true;
                    return Err(std::io::Error::other("layer restarted"));
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
