//! Applying balena binary deltas, on pull and on load.
//!
//! A delta image's config names its basis (`io.resin.delta.base`) and
//! carries the target config (`io.resin.delta.config`). The basis is found
//! by image id in the main store, then in the read-only delta data root.
//! Each delta layer (a tar holding one file, `delta`) is patched against
//! the basis stream — the basis layers' original tars, rebuilt from
//! tar-split and concatenated bottom to top, seekable without being held in
//! memory — and the output, the target layer's tar, goes straight into the
//! layer applier; its diff id must be the target's.

use std::io::Read;
use std::sync::Arc;

use image::{ChainId, DiffId, ImageConfig, ImageId};

use crate::EngineError;

/// A located delta basis.
#[derive(Debug, Clone)]
pub struct Basis {
    store: Arc<store::Store>,
    chains: Vec<ChainId>,
}

impl Basis {
    /// Finds the basis image in `main`, then in `delta` (the delta data
    /// root). A missing basis is an error naming it, as balenaEngine says.
    pub fn find(
        main: &Arc<store::Store>,
        delta: Option<&Arc<store::Store>>,
        base: &ImageId,
    ) -> Result<Basis, EngineError> {
        for s in std::iter::once(main).chain(delta) {
            let Some(raw) = s.image_config(base)? else {
                continue;
            };
            let cfg = ImageConfig::parse(raw)
                .map_err(|e| EngineError::Corrupt(format!("delta base image {base}: {e}")))?;
            let chains = image::digest::chain_ids(cfg.diff_ids());
            if chains.iter().all(|c| s.layer_exists(c)) {
                return Ok(Basis {
                    store: s.clone(),
                    chains,
                });
            }
        }
        Err(EngineError::NotFound(format!(
            "loading delta base image \"{base}\": image does not exist locally{}",
            if delta.is_some() {
                " or in the delta data root"
            } else {
                ""
            }
        )))
    }

    /// The basis stream: every basis layer's tar, bottom to top.
    pub fn open(
        &self,
    ) -> Result<layer::tarsplit::ConcatSeek<layer::tarsplit::SeekableTar>, EngineError> {
        let mut parts = Vec::with_capacity(self.chains.len());
        for c in &self.chains {
            let info = self
                .store
                .layer(c)?
                .ok_or_else(|| store::StoreError::LayerNotFound(c.clone()))?;
            let ts_path = self.store.tar_split_path(c);
            let ts = std::fs::File::open(&ts_path).map_err(|source| EngineError::Io {
                op: "open tar-split",
                path: ts_path,
                source,
            })?;
            let part = layer::tarsplit::SeekableTar::open(ts, &self.store.layer_diff_dir(&info))
                .map_err(|e| EngineError::Corrupt(format!("delta basis layer {c}: {e}")))?;
            parts.push(part);
        }
        layer::tarsplit::ConcatSeek::new(parts)
            .map_err(|e| EngineError::Corrupt(format!("delta basis: {e}")))
    }
}

/// Patches one delta layer (its uncompressed tar, whose first entry is the
/// librsync delta) against `basis` into `writer`. Returns the diff id of
/// what was applied: the target layer's, if the delta is right.
pub fn apply_delta_layer(
    basis: &Basis,
    delta_tar: impl Read,
    writer: &mut store::LayerWriter,
) -> Result<DiffId, EngineError> {
    let bad = |m: String| EngineError::InvalidArgument(format!("invalid delta layer: {m}"));
    let mut ar = tar::Archive::new(delta_tar);
    let mut entries = ar.entries().map_err(|e| bad(e.to_string()))?;
    let entry = entries
        .next()
        .ok_or_else(|| bad("it holds no file".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let mut basis_stream = basis.open()?;
    let (mut pw, pr) = crate::pipe::pipe(4);
    std::thread::scope(|scope| {
        let applier = scope.spawn(move || writer.apply(pr));
        let patched = {
            let mut out = std::io::BufWriter::with_capacity(256 << 10, &mut pw);
            let r = delta::patch(&mut basis_stream, entry, &mut out)
                .map_err(|e| e.to_string())
                .and_then(|_| std::io::Write::flush(&mut out).map_err(|e| e.to_string()));
            drop(out);
            r
        };
        match &patched {
            Ok(()) => drop(pw),
            Err(e) => pw.fail(std::io::Error::other(e.clone())),
        }
        let applied = applier
            .join()
            .map_err(|_| EngineError::Corrupt("layer applier thread panicked".into()))?;
        patched.map_err(|e| bad(format!("patching: {e}")))?;
        applied.map_err(EngineError::from)
    })
}
