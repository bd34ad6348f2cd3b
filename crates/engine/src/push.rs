//! `docker push`: layers rebuilt byte for byte from tar-split, gzipped,
//! and uploaded unless the registry has them (or can mount them from
//! another repository we pulled them from); then the config and a schema2
//! manifest.
//!
//! A layer is compressed twice: once to learn its digest and size (the
//! registry wants them up front), once while uploading. That costs CPU but
//! never writes a compressed copy to the device.

use std::io::Write;
use std::sync::Arc;

use api::progress::JsonMessage;
use bytes::Bytes;
use image::reference::Named;
use image::{ChainId, DiffId, Digest, ImageId};
use sha2::Digest as _;
use tokio::sync::{mpsc, Semaphore};

use crate::pull::{registry_err, ProgressTx};
use crate::EngineError;

const LAYER_MEDIA_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

async fn send(tx: &ProgressTx, m: JsonMessage) -> Result<(), EngineError> {
    tx.send(m).await.map_err(|_| EngineError::Cancelled)
}

/// Counts and hashes what is written.
struct HashSink {
    h: sha2::Sha256,
    n: u64,
}

impl Write for HashSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.h.update(b);
        self.n += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends what is written to an upload stream.
struct ChanSink(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChanSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(b)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload stopped"))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn gzip_of(store: &store::Store, chain: &ChainId, out: impl Write) -> Result<(), EngineError> {
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(128 << 10, out),
        flate2::Compression::default(),
    );
    store.layer_tar(chain, &mut gz)?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| EngineError::InvalidArgument(format!("compressing layer {chain}: {e}")))
}

impl crate::Engine {
    /// Resolves what `POST /images/{name}/push?tag=` pushes: one tag, or
    /// every tag of the repository when `tag` is empty and the name has
    /// none. Errors are API errors (404), before anything is streamed.
    pub fn push_targets(
        &self,
        name: &str,
        tag: &str,
    ) -> Result<Vec<(Named, ImageId)>, EngineError> {
        let named = image::reference::parse_normalized_named(name)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        let named = if !tag.is_empty() {
            named
                .with_tag(tag)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?
        } else {
            named
        };
        if named.tag().is_some() || named.digest().is_some() {
            let id = self.images().store().resolve(&named).ok_or_else(|| {
                EngineError::NotFound(format!(
                    "An image does not exist locally with the tag: {}",
                    named.familiar_name()
                ))
            })?;
            return Ok(vec![(named, id)]);
        }
        let repo = named.familiar_name();
        let mut out = Vec::new();
        for (r, id) in self.images().store().references() {
            if r.contains('@') || r.rsplit_once(':').map(|(n, _)| n) != Some(repo.as_str()) {
                continue;
            }
            if let Ok(n) = image::reference::parse_normalized_named(&r) {
                out.push((n, id));
            }
        }
        if out.is_empty() {
            return Err(EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {repo}"
            )));
        }
        out.sort_by_key(|a| a.0.to_string());
        Ok(out)
    }

    /// Pushes each target, streaming Docker's messages.
    pub async fn push_run(
        &self,
        targets: Vec<(Named, ImageId)>,
        auth: registry::Auth,
        tx: ProgressTx,
    ) -> Result<(), EngineError> {
        if let Some((first, _)) = targets.first() {
            send(
                &tx,
                JsonMessage::status(
                    format!("The push refers to repository [{}]", first.trimmed()),
                    None,
                ),
            )
            .await?;
        }
        for (named, id) in targets {
            self.push_one(&named, &id, &auth, &tx).await?;
        }
        Ok(())
    }

    async fn push_one(
        &self,
        named: &Named,
        id: &ImageId,
        auth: &registry::Auth,
        tx: &ProgressTx,
    ) -> Result<(), EngineError> {
        let img = self.images().load(id)?;
        let diff_ids: Vec<DiffId> = img.config.diff_ids().to_vec();
        let chains = image::digest::chain_ids(&diff_ids);
        let reg = named.domain().to_string();
        let repo = named.path().to_string();
        for d in diff_ids.iter().rev() {
            send(tx, JsonMessage::status("Preparing", Some(&d.hex()[..12]))).await?;
        }
        let sem = Arc::new(Semaphore::new(
            self.config().max_concurrent_uploads.max(1) as usize
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (d, c)) in diff_ids.iter().zip(&chains).enumerate() {
            let ctx = LayerPush {
                store: self.images().store().clone(),
                client: self.registry().clone(),
                registry: reg.clone(),
                repository: repo.clone(),
                auth: auth.clone(),
                diff_id: d.clone(),
                chain: c.clone(),
                tx: tx.clone(),
            };
            let sem = sem.clone();
            tasks.spawn(async move {
                let id = ctx.diff_id.hex()[..12].to_string();
                let permit = match sem.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        send(&ctx.tx, JsonMessage::status("Waiting", Some(&id))).await?;
                        sem.acquire_owned()
                            .await
                            .map_err(|_| EngineError::Cancelled)?
                    }
                };
                let r = ctx.push().await;
                drop(permit);
                r.map(|desc| (i, desc))
            });
        }
        let mut descs: Vec<Option<(Digest, u64)>> = vec![None; diff_ids.len()];
        while let Some(r) = tasks.join_next().await {
            match r.map_err(|e| EngineError::Corrupt(format!("push task: {e}")))? {
                Ok((i, d)) => descs[i] = Some(d),
                Err(e) => {
                    tasks.abort_all();
                    return Err(e);
                }
            }
        }
        let client = self.registry();
        let raw = img.config.raw();
        let cfg_digest = format!("sha256:{:x}", sha2::Sha256::digest(raw));
        if client
            .blob_exists(&reg, &repo, &cfg_digest, auth)
            .await
            .map_err(registry_err)?
            .is_none()
        {
            let body = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
                Bytes::copy_from_slice(raw),
            )]);
            client
                .upload_blob(&reg, &repo, &cfg_digest, raw.len() as u64, body, auth)
                .await
                .map_err(registry_err)?;
        }
        let layers: Vec<serde_json::Value> = descs
            .into_iter()
            .map(|d| {
                let (digest, size) = d.ok_or_else(|| EngineError::Corrupt("layer push result missing".into()))?;
                Ok(serde_json::json!({"mediaType": LAYER_MEDIA_TYPE, "size": size, "digest": digest.as_str()}))
            })
            .collect::<Result<_, EngineError>>()?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": raw.len(), "digest": cfg_digest},
            "layers": layers,
        });
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let tag = named.tag().unwrap_or("latest").to_string();
        let digest = client
            .put_manifest(
                &reg,
                &repo,
                &tag,
                MANIFEST_MEDIA_TYPE,
                Bytes::from(bytes.clone()),
                auth,
            )
            .await
            .map_err(registry_err)?;
        if let Ok(d) = Digest::parse(&digest) {
            let _g = self.images().lock();
            let _ = self
                .images()
                .store()
                .tag(&named.trimmed().with_digest(d), id);
        }
        send(
            tx,
            JsonMessage::status(
                format!("{tag}: digest: {digest} size: {}", bytes.len()),
                None,
            ),
        )
        .await?;
        send(
            tx,
            JsonMessage {
                aux: Some(serde_json::json!({"Tag": tag, "Digest": digest, "Size": bytes.len()})),
                progress_detail: Some(Default::default()),
                ..Default::default()
            },
        )
        .await?;
        self.images()
            .event("push", &named.familiar_string(), &named.to_string());
        Ok(())
    }
}

struct LayerPush {
    store: Arc<store::Store>,
    client: registry::Client,
    registry: String,
    repository: String,
    auth: registry::Auth,
    diff_id: DiffId,
    chain: ChainId,
    tx: ProgressTx,
}

impl LayerPush {
    /// Pushes one layer; returns its compressed digest and size.
    async fn push(&self) -> Result<(Digest, u64), EngineError> {
        let id = self.diff_id.hex()[..12].to_string();
        let here = format!("{}/{}", self.registry, self.repository);
        // A blob we pulled: already there, or mountable from its source
        // repository on the same registry.
        for (blob, source) in self.store.layer_sources(&self.diff_id) {
            let Some((src_reg, src_repo)) = source.split_once('/') else {
                continue;
            };
            if src_reg != self.registry {
                continue;
            }
            if let Ok(Some(size)) = self
                .client
                .blob_exists(&self.registry, &self.repository, blob.as_str(), &self.auth)
                .await
            {
                send(
                    &self.tx,
                    JsonMessage::status("Layer already exists", Some(&id)),
                )
                .await?;
                return Ok((blob, size));
            }
            if source != here {
                if let Ok(registry::MountOutcome::Mounted) = self
                    .client
                    .mount_blob(
                        &self.registry,
                        &self.repository,
                        blob.as_str(),
                        src_repo,
                        &self.auth,
                    )
                    .await
                {
                    send(
                        &self.tx,
                        JsonMessage::status(format!("Mounted from {src_repo}"), Some(&id)),
                    )
                    .await?;
                    let size = self
                        .client
                        .blob_exists(&self.registry, &self.repository, blob.as_str(), &self.auth)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                    return Ok((blob, size));
                }
            }
        }
        // Learn the compressed digest and size.
        let store = self.store.clone();
        let chain = self.chain.clone();
        let (digest, size) = tokio::task::spawn_blocking(move || {
            let mut sink = HashSink {
                h: sha2::Sha256::new(),
                n: 0,
            };
            gzip_of(&store, &chain, &mut sink)?;
            Ok::<_, EngineError>((format!("sha256:{:x}", sink.h.finalize()), sink.n))
        })
        .await
        .map_err(|e| EngineError::Corrupt(format!("compress task: {e}")))??;
        let blob = Digest::parse(&digest).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        if let Ok(Some(_)) = self
            .client
            .blob_exists(&self.registry, &self.repository, &digest, &self.auth)
            .await
        {
            send(
                &self.tx,
                JsonMessage::status("Layer already exists", Some(&id)),
            )
            .await?;
        } else {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self.upload(&digest, size, &id).await {
                    Ok(()) => break,
                    Err(EngineError::Registry(e))
                        if attempt < 3 && e.kind() == registry::ErrorKind::Unavailable =>
                    {
                        let secs = 1u64 << (attempt - 1);
                        send(
                            &self.tx,
                            JsonMessage::status(
                                format!(
                                    "Retrying in {secs} second{}",
                                    if secs == 1 { "" } else { "s" }
                                ),
                                Some(&id),
                            ),
                        )
                        .await?;
                        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            send(&self.tx, JsonMessage::status("Pushed", Some(&id))).await?;
        }
        let _ = self.store.set_diff_id_for_blob(&blob, &self.diff_id);
        let _ = self.store.add_layer_source(&self.diff_id, &blob, &here);
        Ok((blob, size))
    }

    async fn upload(&self, digest: &str, size: u64, id: &str) -> Result<(), EngineError> {
        let (btx, mut brx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let store = self.store.clone();
        let chain = self.chain.clone();
        let producer = tokio::task::spawn_blocking(move || gzip_of(&store, &chain, ChanSink(btx)));
        let tx = self.tx.clone();
        let id = id.to_string();
        let (ptx, mut prx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        // Forward chunks to the upload while reporting progress.
        let forward = tokio::spawn(async move {
            let mut sent: u64 = 0;
            let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
            while let Some(chunk) = brx.recv().await {
                if let Ok(b) = &chunk {
                    sent += b.len() as u64;
                    if sent >= size || last.elapsed() >= std::time::Duration::from_millis(100) {
                        last = std::time::Instant::now();
                        let _ = tx.try_send(JsonMessage::progress(
                            "Pushing",
                            &id,
                            sent as i64,
                            size as i64,
                        ));
                    }
                }
                if ptx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| prx.poll_recv(cx));
        let up = self
            .client
            .upload_blob(
                &self.registry,
                &self.repository,
                digest,
                size,
                stream,
                &self.auth,
            )
            .await;
        forward.abort();
        let produced = producer
            .await
            .map_err(|e| EngineError::Corrupt(format!("compress task: {e}")))?;
        up.map_err(registry_err)?;
        produced
    }
}
