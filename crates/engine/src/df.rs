//! `GET /system/df` (Docker's `SystemDiskUsage`).

use std::collections::HashMap;

use image::ChainId;

use crate::filters::Filters;
use crate::{Engine, EngineError};

impl Engine {
    /// Layer, image and container disk usage. Blocking (walks every
    /// container's read-write layer).
    pub fn disk_usage(&self) -> Result<api::fs::DiskUsage, EngineError> {
        let images = self.images();
        let store = images.store();
        let none = Filters::parse(None)?;
        let mut layers_size: i64 = 0;
        let mut sizes: HashMap<ChainId, i64> = HashMap::new();
        for c in store.layers()? {
            if let Some(l) = store.layer(&c)? {
                let s = i64::try_from(l.size).unwrap_or(i64::MAX);
                layers_size = layers_size.saturating_add(s);
                sizes.insert(c, s);
            }
        }
        let containers = self.containers().list(images, true, None, true, &none)?;
        let mut list = images.list(false, &none, false)?;
        // Chains of each listed image, and how many listed images use each.
        let mut chains: Vec<Vec<ChainId>> = Vec::with_capacity(list.len());
        let mut refs: HashMap<ChainId, usize> = HashMap::new();
        for s in &list {
            let cs = match s.id.parse::<image::ImageId>().map(|id| images.load(&id)) {
                Ok(Ok(img)) => image::digest::chain_ids(img.config.diff_ids()),
                _ => Vec::new(),
            };
            for c in &cs {
                *refs.entry(c.clone()).or_insert(0) += 1;
            }
            chains.push(cs);
        }
        for (s, cs) in list.iter_mut().zip(&chains) {
            s.containers = containers
                .iter()
                .filter(|c| c["ImageID"].as_str() == Some(s.id.as_str()))
                .count() as i64;
            s.shared_size = cs
                .iter()
                .filter(|c| refs.get(*c).is_some_and(|n| *n > 1))
                .map(|c| sizes.get(c).copied().unwrap_or(0))
                .sum();
        }
        Ok(api::fs::DiskUsage {
            layers_size,
            images: list,
            containers,
            volumes: self
                .volumes()
                .usage()
                .iter()
                .filter_map(|v| serde_json::to_value(v).ok())
                .collect(),
            build_cache: Vec::new(),
        })
    }
}
