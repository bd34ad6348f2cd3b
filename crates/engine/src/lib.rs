//! The engine core: everything the daemon does, without transport.
//!
//! The API server calls in with plain Rust values and gets plain values or
//! an error that carries an [`ErrorKind`]; it never sees this crate's
//! internals, and this crate never sees HTTP.
//!
//! # Layout
//! - [`config`]: what the engine is configured with (from the daemon's flags
//!   and daemon.json, already validated).
//! - [`error`]: the error classes the API server maps to HTTP statuses.
//! - [`sysinfo`]: host facts for `/info` and `/version` (kernel, OS, cgroups,
//!   memory, CPUs), read from /proc and /sys.
//! - [`Engine`]: the handle the API server holds.
//!
//! Must not: depend on hyper/http, or block an async runtime with
//! long-running kernel work (callers run such calls on blocking threads).

pub mod archive;
pub mod cgroups;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod config;
pub mod containers;
pub mod delta_apply;
pub mod delta_image;
pub mod df;
pub mod error;
pub mod events;
pub mod filters;
pub mod images;
pub mod mem;
pub mod networks;
pub mod pipe;
pub mod pull;
pub mod push;
pub mod shimexe;
pub mod sysinfo;
pub mod volumes;

use std::path::Path;
use std::sync::Arc;

pub use config::EngineConfig;
pub use error::{EngineError, ErrorKind};

/// The engine. Cheap to share behind an `Arc`.
pub struct Engine {
    config: EngineConfig,
    id: String,
    images: images::Images,
    registry: registry::Client,
    /// The read-only store of `--delta-data-root`, where delta bases may
    /// also be found.
    delta_store: Option<Arc<store::Store>>,
    events: Arc<events::Events>,
    containers: Arc<containers::Containers>,
    networks: Arc<networks::Networks>,
    volumes: Arc<volumes::Volumes>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("id", &self.id)
            .field("data_root", &self.config.data_root)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the engine on its data root, creating the directories it owns.
    pub fn open(config: EngineConfig) -> Result<Self, EngineError> {
        if !config.data_root.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o710)
                .create(&config.data_root)
                .map_err(|source| EngineError::Io {
                    op: "create data root",
                    path: config.data_root.clone(),
                    source,
                })?;
        }
        let id = engine_id(&config.data_root)?;
        let (store, recovery) = store::Store::open(&config.data_root, &config.storage_driver)?;
        if recovery != store::Recovery::default() {
            tracing::info!(?recovery, "cleaned up after an interrupted run");
        }
        let registry = registry::Client::new(registry::RegistryConfig {
            insecure_registries: config.insecure_registries.clone(),
            mirrors: config.registry_mirrors.clone(),
            certs_dir: config.certs_dir.clone(),
            user_agent: format!("balenaEngine/{}", api::version::COMPAT_VERSION),
            max_download_attempts: config.max_download_attempts,
            ..Default::default()
        })
        .map_err(|e| EngineError::InvalidArgument(format!("registry configuration: {e}")))?;
        let delta_store = match (&config.delta_data_root, &config.delta_storage_driver) {
            (Some(root), Some(driver)) => {
                let s = store::Store::open_readonly(root, driver)?;
                tracing::info!(root = %root.display(), "delta data root opened read-only");
                Some(Arc::new(s))
            }
            (Some(_), None) | (None, Some(_)) => {
                tracing::warn!("--delta-data-root and --delta-storage-driver go together; the delta data root is not used");
                None
            }
            (None, None) => None,
        };
        let store = Arc::new(store);
        let events = events::Events::new();
        let networks = networks::Networks::open(networks::NetConfig {
            dir: config.data_root.join("network"),
            netns_dir: config.exec_root.join("netns"),
            bridge: config.bridge.clone(),
            events: events.clone(),
        })?;
        let volumes = volumes::Volumes::open(config.data_root.join("volumes"), events.clone())?;
        let shim_exe = shimexe::ShimExe::open()?;
        let proxy_exe = shim_exe.path();
        let containers = containers::Containers::open(
            containers::Settings {
                root: config.data_root.join("containers"),
                exec_root: config.exec_root.join("containers"),
                runtime_root: config.exec_root.join("runtime"),
                log_driver: config.log_driver.clone(),
                log_opts: config.log_opts.clone(),
                seccomp_profile: config.seccomp_profile.clone(),
                no_new_privileges: config.no_new_privileges,
                cgroup_parent: "/balena".into(),
                experimental: config.experimental,
            },
            store.clone(),
            Some(shim_exe),
            networks.clone(),
            events.clone(),
            volumes.clone(),
        )?;
        networks.bind(&containers, Some(proxy_exe));
        Ok(Self {
            images: images::Images::new(store, events.clone()),
            containers,
            networks,
            volumes,
            registry,
            delta_store,
            config,
            id,
            events,
        })
    }

    /// The read-only delta data root's store, when configured.
    pub fn delta_store(&self) -> Option<&Arc<store::Store>> {
        self.delta_store.as_ref()
    }

    /// The registry client (shared connection pool and token cache).
    pub fn registry(&self) -> &registry::Client {
        &self.registry
    }

    pub fn images(&self) -> &images::Images {
        &self.images
    }

    /// The containers service.
    pub fn containers(&self) -> &Arc<containers::Containers> {
        &self.containers
    }

    /// Finds the shims of containers that ran before this start. Call once,
    /// inside the async runtime, before serving.
    pub fn networks(&self) -> &Arc<networks::Networks> {
        &self.networks
    }

    /// The volumes service.
    pub fn volumes(&self) -> &Arc<volumes::Volumes> {
        &self.volumes
    }

    pub async fn restore(&self) {
        self.networks.set_runtime();
        self.containers.restore().await;
    }

    /// For `rmi`: a container (id) that uses the image.
    pub fn image_in_use(&self, id: &image::ImageId) -> Option<String> {
        self.containers.using_image(id).map(|(c, _)| c)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's persistent identity (`/info`'s `ID`).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn events_listeners(&self) -> usize {
        self.events.listeners()
    }

    /// The event bus (`GET /events`).
    pub fn events(&self) -> &Arc<events::Events> {
        &self.events
    }

    /// `GET /version`.
    pub fn version(&self) -> api::types::SystemVersion {
        sysinfo::system_version(&self.config)
    }

    /// `GET /info`. Reads /proc and /sys: call from a blocking context.
    /// `tasks` is the number of live async tasks, reported where Docker
    /// reports goroutines.
    pub fn info(&self, tasks: usize) -> api::types::SystemInfo {
        sysinfo::system_info(self, tasks)
    }
}

/// A new random 64-hex id (container ids, temp names), as Docker's
/// `stringid.GenerateRandomID`.
pub fn new_id() -> String {
    store::overlay::new_cache_id()
}

/// Reads the engine id from `<root>/engine-id`, creating it on first start.
///
/// Docker 23+ keeps its id in the same file; Docker 20.10 derived it from a
/// trust key. A stable random UUID serves the same purpose (telling engines
/// apart) and survives upgrades of the binary.
fn engine_id(root: &Path) -> Result<String, EngineError> {
    let path = root.join("engine-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(EngineError::Io {
                op: "read engine id",
                path,
                source,
            })
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    store::fsutil::write_atomic(&path, id.as_bytes()).map_err(|source| EngineError::Io {
        op: "write engine id",
        path: path.clone(),
        source,
    })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = engine_id(dir.path()).unwrap();
        let b = engine_id(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
    }
}
