//! Containers: the records, their names, and their lifecycle through
//! per-container shims.
//!
//! # Layout
//! - `record`: what is persisted per container (`container.json`).
//! - `create`: request + image defaults, Docker's checks.
//! - `names`: name validation and generated names.
//! - `view`: inspect and list JSON, status strings, filters.
//! - `runtime`: start/stop/kill/wait/remove, the shim client, exit
//!   handling, and finding running shims again after a daemon restart.
//! - `exec`: exec instances.
//! - `netconn`: connecting and disconnecting networks.
//! - `ops`: stats, top, update, rename and prune.
//! - `specmap`: Docker settings → the OCI spec builder's input.
//!
//! Locking: the table lock is held only to look up or insert; each
//! container's record lock only to read or update the record; lifecycle
//! operations on one container are serialised by its `op` lock, which is
//! never taken by exit handling (so `stop` can wait for the exit).

pub mod create;
pub mod exec;
pub mod files;
pub mod fsops;
pub mod health;
mod mounts;
pub mod names;
mod netconn;
pub mod ops;
pub mod record;
mod restart;
pub mod runtime;
pub mod specmap;
pub mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use api::container::{CreateRequest, CreateResponse};
use image::config::ContainerConfig;

use crate::images::Images;
use crate::shimexe::ShimExe;
use crate::EngineError;
use record::{Record, RunState, Status, ZERO_TIME};

/// What containers need from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `<data-root>/containers`.
    pub root: PathBuf,
    /// `<exec-root>/containers`: shim state dirs.
    pub exec_root: PathBuf,
    /// libcontainer's state root.
    pub runtime_root: PathBuf,
    /// Default log driver and options.
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// Default seccomp profile file (`--seccomp-profile`).
    pub seccomp_profile: Option<PathBuf>,
    /// `--no-new-privileges` default.
    pub no_new_privileges: bool,
    /// Parent cgroup for containers.
    pub cgroup_parent: String,
    /// `--experimental`: an unhealthy container is restarted by its
    /// restart policy (balenaEngine).
    pub experimental: bool,
}

/// A snapshot of the run state, for waiters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snap {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
}

/// One container in memory.
#[derive(Debug)]
pub struct Ctr {
    pub id: String,
    rec: Mutex<Record>,
    op: tokio::sync::Mutex<()>,
    tx: tokio::sync::watch::Sender<Snap>,
    pending_attach: Mutex<Vec<runtime::PendingAttach>>,
    lc: Mutex<restart::Lifecycle>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctr {
    fn new(rec: Record) -> Arc<Self> {
        let snap = Snap {
            running: rec.is_running(),
            exits: 0,
            exit_code: rec.state.exit_code,
            removed: false,
        };
        Arc::new(Ctr {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            op: tokio::sync::Mutex::new(()),
            tx: tokio::sync::watch::channel(snap).0,
            pending_attach: Mutex::new(Vec::new()),
            lc: Mutex::new(Default::default()),
        })
    }

    /// A copy of the record.
    pub fn record(&self) -> Record {
        lock(&self.rec).clone()
    }

    fn update<R>(&self, dir: &Path, f: impl FnOnce(&mut Record) -> R) -> Result<R, EngineError> {
        let mut g = lock(&self.rec);
        let r = f(&mut g);
        g.save_fast(&dir.join(&self.id))?;
        Ok(r)
    }
}

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<String, Arc<Ctr>>,
    names: HashMap<String, String>,
}

/// The containers service.
#[derive(Debug)]
pub struct Containers {
    settings: Settings,
    store: Arc<store::Store>,
    shim_exe: Option<ShimExe>,
    table: Mutex<Table>,
    execs: Mutex<HashMap<String, Arc<exec::Exec>>>,
    networks: Arc<crate::networks::Networks>,
    events: Arc<crate::events::Events>,
    volumes: Arc<crate::volumes::Volumes>,
    flags: restart::Flags,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.to_path_buf();
    move |source| EngineError::Io { op, path, source }
}

/// `No such container: x` (404).
pub fn no_such_container(name: &str) -> EngineError {
    EngineError::NotFound(format!("No such container: {name}"))
}

/// Now as Docker prints times: RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Containers {
    /// Loads every container record. Shims are found again by
    /// [`Containers::restore`].
    pub fn open(
        settings: Settings,
        store: Arc<store::Store>,
        shim_exe: Option<ShimExe>,
        networks: Arc<crate::networks::Networks>,
        events: Arc<crate::events::Events>,
        volumes: Arc<crate::volumes::Volumes>,
    ) -> Result<Arc<Self>, EngineError> {
        for d in [&settings.root, &settings.exec_root, &settings.runtime_root] {
            std::fs::create_dir_all(d).map_err(io_err("create directory", d))?;
        }
        let mut table = Table::default();
        for e in std::fs::read_dir(&settings.root)
            .map_err(io_err("list", &settings.root))?
            .flatten()
        {
            let dir = e.path();
            match Record::load(&dir) {
                Ok(Some(rec)) if rec.id == e.file_name().to_string_lossy() => {
                    mounts::add_refs(&volumes, &rec);
                    table.names.insert(rec.name.clone(), rec.id.clone());
                    table.by_id.insert(rec.id.clone(), Ctr::new(rec));
                }
                Ok(_) => {
                    tracing::warn!(dir = %dir.display(), "container directory without a record; ignored");
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "unreadable container record; ignored")
                }
            }
        }
        Ok(Arc::new(Containers {
            settings,
            store,
            shim_exe,
            table: Mutex::new(table),
            execs: Mutex::new(HashMap::new()),
            networks,
            events,
            volumes,
            flags: Default::default(),
        }))
    }

    /// Publishes a container event with Docker's attributes (labels,
    /// `image`, `name`) plus `extra`.
    pub(crate) fn event(&self, rec: &Record, action: &str, extra: &[(&str, String)]) {
        let attrs = crate::events::container_attributes(
            rec.config.labels.as_ref(),
            rec.config.image.as_deref().unwrap_or(""),
            &rec.name,
            extra,
        );
        self.events
            .emit(crate::events::Kind::Container, action, &rec.id, attrs);
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.settings.root.join(id)
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's
    /// order).
    pub fn get(&self, name: &str) -> Result<Arc<Ctr>, EngineError> {
        let t = lock(&self.table);
        if let Some(c) = t.by_id.get(name) {
            return Ok(c.clone());
        }
        let n = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        if let Some(id) = t.names.get(&n) {
            if let Some(c) = t.by_id.get(id) {
                return Ok(c.clone());
            }
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = t.by_id.iter().filter(|(id, _)| id.starts_with(name));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(EngineError::InvalidArgument(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(no_such_container(name))
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Ctr>> {
        lock(&self.table).by_id.values().cloned().collect()
    }

    /// The id of some container using the image, for `rmi`.
    pub fn using_image(&self, image: &image::ImageId) -> Option<(String, bool)> {
        let want = image.to_string();
        self.all().into_iter().find_map(|c| {
            let r = lock(&c.rec);
            (r.image == want).then(|| (r.id.clone(), r.is_running()))
        })
    }

    fn reserve_name(&self, name: &str, id: &str) -> Result<(), EngineError> {
        let mut t = lock(&self.table);
        if let Some(other) = t.names.get(name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        t.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    fn release_name(&self, name: &str, id: &str) {
        let mut t = lock(&self.table);
        if t.names.get(name).is_some_and(|i| i == id) {
            t.names.remove(name);
        }
    }

    /// `POST /containers/create`. Blocking (store work).
    pub fn create(
        &self,
        images: &Images,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<CreateResponse, EngineError> {
        let mut config: ContainerConfig = serde_json::from_value(req.config.clone())
            .map_err(|e| EngineError::InvalidArgument(format!("invalid container config: {e}")))?;
        let mut host = req.host_config;
        let image_name = config.image.clone().unwrap_or_default();
        if image_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Config.Image must be set".into(),
            ));
        }
        let image_id = images.resolve(&image_name)?;
        let loaded = images.load(&image_id)?;
        let parsed = loaded.config.parsed();
        if let Some(ic) = &parsed.config {
            create::merge(&mut config, ic);
        }
        let (path, args) = create::path_and_args(&config)?;
        create::verify_host_config(&host)?;
        health::verify(&config)?;
        let mut warnings = specmap::verify(&host, &config)?;
        // Docker's daemon-side defaults.
        if host.shm_size == 0 {
            host.shm_size = 64 << 20;
        }
        if host.memory > 0 && host.memory_swap == 0 {
            host.memory_swap = host.memory.saturating_mul(2);
        }
        if host.network_mode.is_empty() {
            host.network_mode = "default".into();
        }
        if host.ipc_mode.is_empty() {
            host.ipc_mode = "private".into();
        }
        if host.cgroupns_mode.is_empty() {
            host.cgroupns_mode = if crate::sysinfo::cgroup_v2() {
                "private".into()
            } else {
                "host".into()
            };
        }
        if host.log_config.kind.is_empty() {
            host.log_config.kind = self.settings.log_driver.clone();
            if host.log_config.config.is_empty() {
                host.log_config.config = self.settings.log_opts.clone();
            }
        }
        specmap::validate_log(&host.log_config)?;
        let networking: api::network::NetworkingConfig = if req.networking_config.is_null() {
            Default::default()
        } else {
            serde_json::from_value(req.networking_config.clone()).map_err(|e| {
                EngineError::InvalidArgument(format!("invalid NetworkingConfig: {e}"))
            })?
        };
        if let Some(other) = host.network_mode.strip_prefix("container:") {
            // Joining another container's namespace: it must exist now.
            self.get(other)?;
        }
        let networks =
            self.networks
                .plan_endpoints(&host, &networking, config.mac_address.as_deref())?;
        if host.network_mode == "host"
            && host
                .port_bindings
                .as_object()
                .is_some_and(|m| !m.is_empty())
        {
            warnings.push("Published ports are discarded when using host network mode".into());
        }

        let id = crate::new_id();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !names::valid(n) {
                    return Err(EngineError::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = if n.starts_with('/') {
                    n.to_string()
                } else {
                    format!("/{n}")
                };
                self.reserve_name(&n, &id)?;
                n
            }
            None => {
                let mut retry = 0;
                loop {
                    let n = format!("/{}", names::generate(retry));
                    if self.reserve_name(&n, &id).is_ok() {
                        break n;
                    }
                    retry += 1;
                    if retry > 10 {
                        return Err(EngineError::Conflict(
                            "could not generate a unique container name".into(),
                        ));
                    }
                }
            }
        };
        let mount_points = match self.plan_mounts(&id, &host, &config) {
            Ok(m) => m,
            Err(e) => {
                self.release_name(&name, &id);
                return Err(e);
            }
        };
        let made = (|| {
            let mut env = config.env.take().unwrap_or_default();
            create::add_cid_env(&mut env, &host.container_id_env, &id)?;
            config.env = Some(env);
            if config.hostname.as_deref().unwrap_or("").is_empty() {
                config.hostname = Some(id[..12].to_string());
            }
            config.image = Some(image_name.clone());
            let dir = self.dir(&id);
            std::fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710));
            let top = parsed
                .rootfs
                .as_ref()
                .and_then(|r| image::digest::chain_id(&r.diff_ids));
            self.store.create_rw_layer(&id, top.as_ref())?;
            let rec = Record {
                id: id.clone(),
                name: name.clone(),
                created: now_rfc3339(),
                path: path.clone(),
                args: args.clone(),
                config: config.clone(),
                host_config: host.clone(),
                image: image_id.to_string(),
                state: RunState {
                    status: Status::Created,
                    started_at: ZERO_TIME.into(),
                    finished_at: ZERO_TIME.into(),
                    ..Default::default()
                },
                restart_count: 0,
                driver: self.store.driver().to_string(),
                log_path: if host.log_config.kind == "json-file" {
                    dir.join(format!("{id}-json.log"))
                } else {
                    PathBuf::new()
                },
                hostname_path: dir.join("hostname"),
                hosts_path: dir.join("hosts"),
                resolv_conf_path: dir.join("resolv.conf"),
                runs: 0,
                networks,
                net: Default::default(),
                mount_points: mount_points.clone(),
                health: None,
            };
            runtime::write_etc_files(&rec, None)?;
            rec.save(&dir)?;
            Ok::<_, EngineError>(rec)
        })();
        match made {
            Ok(rec) => {
                self.event(&rec, "create", &[]);
                lock(&self.table).by_id.insert(id.clone(), Ctr::new(rec));
                Ok(CreateResponse { id, warnings })
            }
            Err(e) => {
                self.release_name(&name, &id);
                self.unplan_mounts(&id, &mount_points);
                let _ = self.store.remove_rw_layer(&id);
                let _ = std::fs::remove_dir_all(self.dir(&id));
                Err(e)
            }
        }
    }
}
