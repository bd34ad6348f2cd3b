//! `POST /images/delta`: balenaEngine's binary image deltas, created.
//!
//! The basis stream is every basis layer's original tar (rebuilt from
//! tar-split) concatenated bottom to top; its librsync signature (BLAKE2,
//! 512-byte blocks, 32-byte strong sums) is the reference. Each target
//! layer whose chain matches the basis' prefix becomes the empty tar; every
//! other layer becomes a tar holding one file, `delta`: the librsync delta
//! of the target layer's tar against the whole basis. The delta image's
//! config carries `io.resin.delta.base` (basis id) and
//! `io.resin.delta.config` (the target config's exact text).

use std::io::{Read, Seek, Write};
use std::time::Instant;

use api::progress::JsonMessage;
use image::{ChainId, DiffId, ImageId};

use crate::archive::Progress;
use crate::EngineError;

/// The empty layer: two zero blocks (Docker's `layer.EmptyLayer`).
const EMPTY_TAR: [u8; 1024] = [0; 1024];

/// Where the signature of a basis image is cached.
fn signature_cache_path(store: &store::Store, basis: &ImageId) -> std::path::PathBuf {
    store
        .root()
        .join("delta-signatures")
        .join(format!("{}.sig", basis.hex()))
}

fn save_signature(path: &std::path::Path, sig: &delta::Signature) -> Result<(), String> {
    let dir = path.parent().ok_or("no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    sig.write_to(&mut buf).map_err(|e| e.to_string())?;
    store::fsutil::write_atomic(path, &buf).map_err(|e| e.to_string())
}

/// Reports bytes read as Docker progress, every 512 KiB at most.
struct ProgressRead<'a, 'p, R> {
    inner: R,
    done: i64,
    total: i64,
    last: i64,
    id: String,
    action: &'static str,
    progress: &'a mut Progress<'p>,
}

impl<R: Read> Read for ProgressRead<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as i64;
        if self.done - self.last >= 512 << 10 || (n == 0 && self.done != self.last) {
            self.last = self.done;
            (self.progress)(JsonMessage::progress(
                self.action,
                &self.id,
                self.done,
                self.total.max(self.done),
            ))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        }
        Ok(n)
    }
}

/// The tar of one file named `delta` (mode 0600) holding `data`.
fn wrap_delta(mut data: std::fs::File, size: u64, out: impl Write) -> Result<(), EngineError> {
    let mut b = tar::Builder::new(out);
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    data.rewind()
        .and_then(|_| b.append_data(&mut h, "delta", &mut data))
        .and_then(|_| b.into_inner().map(|_| ()))
        .map_err(|e| EngineError::Corrupt(format!("writing delta layer: {e}")))
}

impl crate::images::Images {
    /// Creates the delta image from `src` (basis) to `dest` (target) and
    /// tags it `tag` when given. Blocking; reports progress as it goes.
    pub fn delta_create(
        &self,
        src: &str,
        dest: &str,
        tag: &str,
        progress: &mut Progress<'_>,
    ) -> Result<ImageId, EngineError> {
        let src_id = self
            .resolve(src)
            .map_err(|e| EngineError::NotFound(format!("no such image: {src}: {e}")))?;
        let dst_id = self
            .resolve(dest)
            .map_err(|e| EngineError::NotFound(format!("no such image: {dest}: {e}")))?;
        let target_tag = if tag.is_empty() {
            None
        } else {
            let r = image::reference::parse_normalized_named(tag)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            if r.digest().is_some() {
                return Err(EngineError::InvalidArgument(
                    "build tag cannot contain a digest".into(),
                ));
            }
            Some(r.tag_name_only())
        };
        let _target_lock = self.hold(&dst_id);
        let src_img = self.load(&src_id)?;
        let dst_img = self.load(&dst_id)?;
        let store = self.store().clone();
        let src_chains = image::digest::chain_ids(src_img.config.diff_ids());
        let dst_chains = image::digest::chain_ids(dst_img.config.diff_ids());

        // Fingerprint the basis, or reuse its cached signature: the key is
        // the basis image id, which names its content exactly.
        let started = Instant::now();
        let cache = signature_cache_path(&store, &src_id);
        let cached = std::fs::File::open(&cache)
            .ok()
            .and_then(|f| delta::Signature::read(std::io::BufReader::new(f)).ok())
            .filter(|s| s.params() == delta::SignatureParams::default());
        let sig = match cached {
            Some(sig) => {
                tracing::debug!(basis = %src_id, "using the cached basis signature");
                sig
            }
            None => {
                let basis = crate::delta_apply::Basis::find(&store, None, &src_id)?.open()?;
                let total = basis.len() as i64;
                let mut pr = ProgressRead {
                    inner: std::io::BufReader::with_capacity(64 << 10, basis),
                    done: 0,
                    total,
                    last: 0,
                    id: src.to_string(),
                    action: "Fingerprinting",
                    progress,
                };
                let sig = delta::Signature::generate(
                    &mut pr,
                    delta::SignatureParams::default(),
                    delta::default_threads(),
                )
                .map_err(|e| EngineError::Corrupt(format!("fingerprinting {src}: {e}")))?;
                if let Err(e) = save_signature(&cache, &sig) {
                    tracing::warn!(error = %e, "could not cache the basis signature");
                }
                sig
            }
        };
        progress(JsonMessage::status(
            format!("Fingerprint complete, took {:?}", started.elapsed()),
            Some(src),
        ))?;
        for d in dst_img.config.diff_ids() {
            progress(JsonMessage::status("Waiting", Some(&d.hex()[..12])))?;
        }

        let tmp_root = store.root().join("tmp");
        std::fs::create_dir_all(&tmp_root).map_err(|source| EngineError::Io {
            op: "create",
            path: tmp_root.clone(),
            source,
        })?;
        let mut delta_diff_ids: Vec<DiffId> = Vec::new();
        let mut parent: Option<ChainId> = None;
        let (mut total, mut delta_total) = (0i64, 0i64);
        for (i, (diff, chain)) in dst_img
            .config
            .diff_ids()
            .iter()
            .zip(&dst_chains)
            .enumerate()
        {
            let short = diff.hex()[..12].to_string();
            let common = src_chains.get(i) == Some(chain);
            let mut w = store.begin_layer()?;
            let got = if common {
                w.apply(&EMPTY_TAR[..])?
            } else {
                let info = store
                    .layer(chain)?
                    .ok_or_else(|| store::StoreError::LayerNotFound(chain.clone()))?;
                total += info.size as i64;
                let tmp_path = tmp_root.join(format!("delta-{}", &crate::new_id()[..16]));
                let mut tmp = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&tmp_path)
                    .map_err(|source| EngineError::Io {
                        op: "create",
                        path: tmp_path.clone(),
                        source,
                    })?;
                // The temp file is unlinked at once: nothing is left if we fail.
                let _ = std::fs::remove_file(&tmp_path);
                let (s2, c2) = (store.clone(), chain.clone());
                let tar = crate::pipe::spawn_producer(move |w| {
                    s2.layer_tar(&c2, &mut *w)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                let layer_reader = ProgressRead {
                    inner: tar,
                    done: 0,
                    total: info.size as i64,
                    last: 0,
                    id: short.clone(),
                    action: "Computing delta",
                    progress,
                };
                let stats = delta::delta(
                    &sig,
                    layer_reader,
                    std::io::BufWriter::new(&mut tmp),
                    delta::default_threads(),
                )
                .map_err(|e| {
                    EngineError::Corrupt(format!("computing delta of layer {diff}: {e}"))
                })?;
                delta_total += stats.delta_bytes as i64;
                let size = stats.delta_bytes;
                let wrapped = crate::pipe::spawn_producer(move |w| {
                    wrap_delta(tmp, size, &mut *w).map_err(|e| e.to_string())
                });
                w.apply(wrapped)?
            };
            let info = w.commit(&got, parent.as_ref())?;
            parent = Some(info.chain_id);
            delta_diff_ids.push(got);
            progress(JsonMessage::status(
                if common {
                    "Skipping common layer"
                } else {
                    "Delta complete"
                },
                Some(&short),
            ))?;
        }
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let cfg = image::config::build_delta_config(
            &src_id,
            &dst_img.config,
            delta_diff_ids.clone(),
            &created,
        )
        .map_err(|e| EngineError::Corrupt(format!("delta config: {e}")))?;
        let id = {
            let _g = self.lock();
            let id = store.put_image(cfg.raw(), &delta_diff_ids)?;
            if let Some(t) = &target_tag {
                store.tag(t, &id)?;
            }
            id
        };
        let ratio = if total == 0 || delta_total == 0 {
            1.0
        } else {
            total as f64 / delta_total as f64
        };
        progress(JsonMessage::status(
            format!(
                "Normal size: {}, Delta size: {}, {ratio:.2}x improvement",
                api::progress::human_size(total as f64),
                api::progress::human_size(delta_total as f64)
            ),
            None,
        ))?;
        progress(JsonMessage::status(format!("Created delta: {id}"), None))?;
        crate::mem::trim();
        if let Some(t) = target_tag {
            progress(JsonMessage::status(
                format!("Successfully tagged {}\n", t.familiar_string()),
                None,
            ))?;
        }
        Ok(id)
    }
}
