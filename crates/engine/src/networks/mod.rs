//! Networks: the predefined `bridge`, `host` and `none` networks and
//! user-defined bridge networks; their records, address pools and the
//! endpoints running containers have on them.
//!
//! # Layout
//! - `record`: the persisted network (`<data-root>/network/<id>.json`).
//! - this file: the service, predefined networks, the `/networks` API.
//! - `sandbox`: a container's network namespace, endpoints, published
//!   ports and DNS, set up at start and torn down at exit.
//! - `resolver`: what the embedded DNS answers for one container.
//!
//! Kernel state (bridges, veths, rules, proxies, netns files) outlives the
//! daemon so running containers keep their connectivity across a restart;
//! at start the service re-creates what is missing and re-reads the rest
//! from the container records (`Record::networks`, `Record::net`).
//!
//! Locking: `inner` is held only to read or change the in-memory tables,
//! never across kernel work or `.await`.

pub mod record;
mod resolver;
pub mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use api::network::{
    Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
};
use ipnet::Ipv4Net;
use network::ipam::AddressPool;
use serde::{Deserialize, Serialize};

use crate::config::BridgeConfig;
use crate::containers::Containers;
use crate::filters::Filters;
use crate::EngineError;
pub use record::{BridgeSettings, NetRecord};

/// Where the service keeps things and how the default bridge is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// `<data-root>/network`.
    pub dir: PathBuf,
    /// `<exec-root>/netns`: the containers' namespace files.
    pub netns_dir: PathBuf,
    /// The daemon's bridge flags.
    pub bridge: BridgeConfig,
    /// Where network events go.
    pub events: std::sync::Arc<crate::events::Events>,
}

/// A container's network state that must survive a daemon restart; kept
/// in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetRuntime {
    /// The namespace file (`NetworkSettings.SandboxKey`), empty when the
    /// container has none of its own.
    #[serde(default)]
    pub sandbox_key: String,
    /// Per network id: the host side of the veth.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRuntime>,
    /// Published ports as programmed.
    #[serde(default)]
    pub ports: Vec<MappedPort>,
}

/// The kernel side of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRuntime {
    pub host_veth: String,
    pub ifname: String,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedPort {
    pub proto: String,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub bridge: String,
    /// The userland proxy's pid (0 with `--userland-proxy=false`).
    #[serde(default)]
    pub proxy_pid: i32,
}

/// A running container's endpoint on a network, in memory.
#[derive(Debug, Clone)]
struct Ep {
    /// Container name without the slash.
    name: String,
    endpoint_id: String,
    ip: Ipv4Addr,
    mac: String,
    aliases: Vec<String>,
    /// Legacy links on this network: (target container name, alias).
    links: Vec<(String, String)>,
}

#[derive(Debug)]
struct Net {
    rec: NetRecord,
    bridge: Option<BridgeSettings>,
    pool: Option<AddressPool>,
    /// By container id.
    eps: BTreeMap<String, Ep>,
}

#[derive(Debug)]
struct Inner {
    nets: BTreeMap<String, Net>,
    ports: network::portmap::PortAllocator,
    /// Per container id: its DNS server.
    dns: HashMap<String, network::dns::DnsServer>,
    /// Per container id: host ports held open with `--userland-proxy=false`.
    reserved: HashMap<String, Vec<std::os::fd::OwnedFd>>,
}

/// The networks service.
pub struct Networks {
    cfg: NetConfig,
    iptables: Option<network::firewall::Iptables>,
    proxy_exe: OnceLock<PathBuf>,
    inner: Mutex<Inner>,
    containers: OnceLock<Weak<Containers>>,
    rt: OnceLock<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("dir", &self.cfg.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wraps a networking failure with what was being done.
pub(crate) fn net_err<E>(op: impl Into<String>) -> impl FnOnce(E) -> EngineError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let op = op.into();
    move |e| EngineError::Network {
        op,
        source: Box::new(e),
    }
}

fn not_found(name: &str) -> EngineError {
    EngineError::NotFound(format!("network {name} not found"))
}

fn io_err(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.to_path_buf();
    move |source| EngineError::Io { op, path, source }
}

impl Networks {
    /// Loads the network records and sets up the kernel side of every
    /// bridge network (the default bridge from the daemon's flags).
    /// Blocking; called once at daemon start.
    pub fn open(cfg: NetConfig) -> Result<Arc<Self>, EngineError> {
        for d in [&cfg.dir, &cfg.netns_dir] {
            std::fs::create_dir_all(d).map_err(io_err("create directory", d))?;
        }
        let iptables = if cfg.bridge.iptables {
            let ipt = network::firewall::Iptables::find().map_err(net_err("iptables"))?;
            ipt.setup_base(!cfg.bridge.userland_proxy)
                .map_err(net_err("set up the DOCKER chains"))?;
            Some(ipt)
        } else {
            None
        };
        if cfg.bridge.ip_forward {
            let changed = match &iptables {
                Some(ipt) => ipt.enable_ip_forward(),
                None => network::firewall::set_ip_forward(),
            }
            .map_err(net_err("enable IP forwarding"))?;
            if changed {
                tracing::info!("IPv4 forwarding enabled");
            }
        }
        let mut recs: Vec<NetRecord> = Vec::new();
        for e in std::fs::read_dir(&cfg.dir)
            .map_err(io_err("list", &cfg.dir))?
            .flatten()
        {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match NetRecord::load(&p) {
                Ok(Some(r)) => recs.push(r),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "unreadable network record; ignored")
                }
            }
        }
        let this = Arc::new(Networks {
            cfg,
            iptables,
            proxy_exe: OnceLock::new(),
            inner: Mutex::new(Inner {
                nets: BTreeMap::new(),
                ports: network::portmap::PortAllocator::from_system(),
                dns: HashMap::new(),
                reserved: HashMap::new(),
            }),
            containers: OnceLock::new(),
            rt: OnceLock::new(),
        });
        // Predefined networks first, so user networks never take their
        // names; the default bridge is rebuilt from the flags each start.
        let mut by_name: BTreeMap<String, NetRecord> =
            recs.into_iter().map(|r| (r.name.clone(), r)).collect();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            let r = by_name.remove(name).unwrap_or_else(|| NetRecord {
                id: crate::new_id(),
                name: name.into(),
                created: crate::containers::now_rfc3339(),
                driver: driver.into(),
                ipam: Ipam {
                    driver: "default".into(),
                    ..Default::default()
                },
                ..Default::default()
            });
            r.save(&this.cfg.dir)?;
            this.insert(r, None)?;
        }
        let old_bridge = by_name.remove("bridge");
        if this.cfg.bridge.name != "none" {
            let others: Vec<Ipv4Net> = by_name
                .values()
                .filter_map(|r| r.bridge_settings().ok().map(|s| s.subnet))
                .collect();
            let r = this.default_bridge_record(old_bridge, &others)?;
            r.save(&this.cfg.dir)?;
            this.bring_up(&r)?;
        } else if let Some(old) = old_bridge {
            old.delete(&this.cfg.dir)?;
        }
        for (_, r) in by_name {
            if let Err(e) = this.bring_up(&r) {
                tracing::error!(network = %r.name, error = %e, "cannot set up network");
                // Keep the record: the user can remove it or fix the host.
                this.insert(r, None)?;
            }
        }
        Ok(this)
    }

    /// Lets the service find containers (connect, disconnect) and start
    /// userland proxies with the engine's protected executable.
    pub fn bind(&self, containers: &Arc<Containers>, proxy_exe: Option<PathBuf>) {
        let _ = self.containers.set(Arc::downgrade(containers));
        if let Some(p) = proxy_exe {
            let _ = self.proxy_exe.set(p);
        }
    }

    /// Remembers the runtime the DNS servers run on; call from it.
    pub fn set_runtime(&self) {
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            let _ = self.rt.set(h);
        }
    }

    fn containers(&self) -> Result<Arc<Containers>, EngineError> {
        self.containers
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| EngineError::Conflict("the engine is shutting down".into()))
    }

    fn default_bridge_record(
        &self,
        old: Option<NetRecord>,
        others: &[Ipv4Net],
    ) -> Result<NetRecord, EngineError> {
        let b = &self.cfg.bridge;
        let name = if b.name.is_empty() {
            "balena0".to_string()
        } else {
            b.name.clone()
        };
        let bad = |what: &str, v: &str| {
            EngineError::InvalidArgument(format!("invalid {what} {v:?}: expected an IPv4 CIDR"))
        };
        // --bip, else the bridge's current address, else the old record's
        // pool, else the first free default pool.
        let (gateway, subnet) = if let Some(bip) = b.bip.as_deref().filter(|s| !s.is_empty()) {
            let n: Ipv4Net = bip.parse().map_err(|_| bad("--bip", bip))?;
            (n.addr(), n.trunc())
        } else if let Some(n) = sandbox::bridge_addr(&name) {
            (n.addr(), n.trunc())
        } else if let Some(s) = old.as_ref().and_then(|r| r.bridge_settings().ok()) {
            (s.gateway, s.subnet)
        } else {
            let routes = network::link::ipv4_routes().unwrap_or_default();
            let s = network::ipam::pick_subnet(others, &routes)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            let gw = network::ipam::AddressPool::new(s, None, None, &[])
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?
                .gateway();
            (gw, s)
        };
        let ip_range = match b.fixed_cidr.as_deref().filter(|s| !s.is_empty()) {
            Some(f) => {
                let n: Ipv4Net = f.parse().map_err(|_| bad("--fixed-cidr", f))?;
                n.trunc().to_string()
            }
            None => String::new(),
        };
        let mtu = b.mtu.unwrap_or(1500);
        let options: BTreeMap<String, String> = [
            (record::OPT_DEFAULT_BRIDGE, "true".to_string()),
            (record::OPT_ICC, b.icc.to_string()),
            (record::OPT_MASQ, b.ip_masq.to_string()),
            (record::OPT_HOST_BINDING, "0.0.0.0".to_string()),
            (record::OPT_BRIDGE_NAME, name),
            (record::OPT_MTU, mtu.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (id, created) = match old {
            Some(o) => (o.id, o.created),
            None => (crate::new_id(), crate::containers::now_rfc3339()),
        };
        Ok(NetRecord {
            id,
            name: "bridge".into(),
            created,
            driver: "bridge".into(),
            internal: false,
            attachable: false,
            ipam: Ipam {
                driver: "default".into(),
                config: vec![IpamConfig {
                    subnet: subnet.to_string(),
                    ip_range,
                    gateway: gateway.to_string(),
                    ..Default::default()
                }],
                options: BTreeMap::new(),
            },
            options,
            labels: BTreeMap::new(),
        })
    }

    /// Creates (or finds) the bridge and its rules, then registers the
    /// network in memory.
    fn bring_up(&self, r: &NetRecord) -> Result<(), EngineError> {
        let s = r.bridge_settings()?;
        sandbox::ensure_bridge(&s)?;
        if let Some(ipt) = &self.iptables {
            if let Err(e) = ipt.add_bridge(&self.bridge_rules(r, &s)) {
                return Err(net_err(format!(
                    "program the firewall for network {}",
                    r.name
                ))(e));
            }
        }
        self.insert(r.clone(), Some(s))
    }

    fn bridge_rules(&self, r: &NetRecord, s: &BridgeSettings) -> network::firewall::BridgeRules {
        network::firewall::BridgeRules {
            bridge: s.bridge.clone(),
            subnet: s.subnet,
            icc: s.icc,
            masquerade: s.masquerade && self.cfg.bridge.ip_masq,
            internal: r.internal,
            hairpin: !self.cfg.bridge.userland_proxy,
        }
    }

    fn insert(&self, rec: NetRecord, bridge: Option<BridgeSettings>) -> Result<(), EngineError> {
        let pool = match &bridge {
            Some(s) => Some(
                AddressPool::new(s.subnet, s.ip_range, Some(s.gateway), &s.aux).map_err(|e| {
                    EngineError::InvalidArgument(format!("network {}: {e}", rec.name))
                })?,
            ),
            None => None,
        };
        lock(&self.inner).nets.insert(
            rec.id.clone(),
            Net {
                rec,
                bridge,
                pool,
                eps: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Finds a network by full id, exact name, or unique id prefix.
    fn find(inner: &Inner, name: &str) -> Result<String, EngineError> {
        if inner.nets.contains_key(name) {
            return Ok(name.to_string());
        }
        if let Some((id, _)) = inner.nets.iter().find(|(_, n)| n.rec.name == name) {
            return Ok(id.clone());
        }
        let mut m = inner.nets.keys().filter(|id| id.starts_with(name));
        match (m.next(), m.next()) {
            (Some(id), None) if !name.is_empty() => Ok(id.clone()),
            (Some(_), Some(_)) => Err(EngineError::NotFound(format!(
                "network {name} is ambiguous ({} matches found on name)",
                inner.nets.keys().filter(|id| id.starts_with(name)).count()
            ))),
            _ => Err(not_found(name)),
        }
    }

    /// A renamed container answers to its new name in the embedded DNS
    /// of every network it is on (`docker rename`).
    pub(crate) fn rename_endpoints(&self, cid: &str, new_name: &str) {
        let mut inner = lock(&self.inner);
        for n in inner.nets.values_mut() {
            if let Some(ep) = n.eps.get_mut(cid) {
                ep.name = new_name.to_string();
            }
        }
    }

    /// The record of a network by name or id.
    /// Publishes a network event (`name`, `type` and, for connect and
    /// disconnect, `container`), as Docker's `LogNetworkEventWithAttributes`.
    pub(crate) fn event(&self, action: &str, net: &NetRecord, container: Option<&str>) {
        let mut attrs = BTreeMap::from([
            ("name".to_string(), net.name.clone()),
            ("type".to_string(), net.driver.clone()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_string());
        }
        self.cfg
            .events
            .emit(crate::events::Kind::Network, action, &net.id, attrs);
    }

    /// Connect or disconnect events for each of a container's networks.
    pub(crate) fn endpoint_events(
        &self,
        action: &str,
        container_id: &str,
        networks: &BTreeMap<String, api::network::EndpointSettings>,
    ) {
        for (name, s) in networks {
            let key = if s.network_id.is_empty() {
                name
            } else {
                &s.network_id
            };
            if let Ok(net) = self.get(key) {
                self.event(action, &net, Some(container_id));
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<NetRecord, EngineError> {
        let inner = lock(&self.inner);
        let id = Self::find(&inner, name)?;
        Ok(inner.nets[&id].rec.clone())
    }

    fn view(net: &Net, with_containers: bool) -> Network {
        let r = &net.rec;
        let containers = if with_containers {
            net.eps
                .iter()
                .map(|(cid, ep)| {
                    let prefix = net.bridge.as_ref().map_or(32, |b| b.subnet.prefix_len());
                    (
                        cid.clone(),
                        NetworkContainer {
                            name: ep.name.clone(),
                            endpoint_id: ep.endpoint_id.clone(),
                            mac_address: ep.mac.clone(),
                            ipv4_address: format!("{}/{prefix}", ep.ip),
                            ipv6_address: String::new(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Network {
            name: r.name.clone(),
            id: r.id.clone(),
            created: r.created.clone(),
            scope: "local".into(),
            driver: r.driver.clone(),
            enable_ipv6: false,
            ipam: r.ipam.clone(),
            internal: r.internal,
            attachable: r.attachable,
            ingress: false,
            config_from: [("Network".to_string(), String::new())].into(),
            config_only: false,
            containers,
            options: r.options.clone(),
            labels: r.labels.clone(),
        }
    }

    /// `POST /networks/create`.
    pub async fn create(
        self: &Arc<Self>,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, EngineError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.create_blocking(req))
            .await
            .map_err(|e| EngineError::Corrupt(format!("network task: {e}")))?
    }

    fn create_blocking(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, EngineError> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "network name must not be empty".into(),
            ));
        }
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok_chars || !name.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(EngineError::InvalidArgument(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => {
                return Err(EngineError::Forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => {
                return Err(EngineError::NotFound(format!(
                    "plugin \"{other}\" not found (this engine supports the bridge driver only)"
                )))
            }
        }
        if req.ingress {
            return Err(EngineError::Forbidden(
                "ingress networks need swarm mode, which this engine does not provide".into(),
            ));
        }
        if !matches!(req.scope.as_str(), "" | "local") {
            return Err(EngineError::InvalidArgument(format!(
                "scope {:?} needs swarm mode, which this engine does not provide",
                req.scope
            )));
        }
        if req.config_only || req.config_from.is_some() {
            return Err(EngineError::InvalidArgument(
                "config-only networks and --config-from are not supported by this engine".into(),
            ));
        }
        if req.enable_ipv6 {
            return Err(EngineError::InvalidArgument(
                "IPv6 networks are not supported by this engine yet (EnableIPv6)".into(),
            ));
        }
        let mut ipam = req.ipam.clone().unwrap_or_default();
        if !ipam.driver.is_empty() && ipam.driver != "default" {
            return Err(EngineError::NotFound(format!(
                "plugin \"{}\" not found (only the default IPAM driver is supported)",
                ipam.driver
            )));
        }
        ipam.driver = "default".into();
        if ipam.config.len() > 1 {
            return Err(EngineError::InvalidArgument(
                "only one IPv4 address pool per network is supported".into(),
            ));
        }
        let id = crate::new_id();
        let mut options = req.options.clone();
        // Reject bad option values now rather than at bridge set-up.
        let probe = NetRecord {
            id: id.clone(),
            name: name.clone(),
            driver: driver.clone(),
            options: options.clone(),
            ipam: Ipam {
                config: vec![IpamConfig {
                    subnet: "10.0.0.0/8".into(),
                    gateway: "10.0.0.1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        }
        .bridge_settings()?;
        let rec = {
            let inner = lock(&self.inner);
            if inner.nets.values().any(|n| n.rec.name == name) {
                return Err(EngineError::Conflict(format!(
                    "network with name {name} already exists"
                )));
            }
            if inner
                .nets
                .values()
                .any(|n| n.bridge.as_ref().is_some_and(|b| b.bridge == probe.bridge))
            {
                return Err(EngineError::Conflict(format!(
                    "bridge name {} is already used by another network",
                    probe.bridge
                )));
            }
            let in_use: Vec<Ipv4Net> = inner
                .nets
                .values()
                .filter_map(|n| n.bridge.as_ref().map(|b| b.subnet))
                .collect();
            let cfg = ipam.config.pop().unwrap_or_default();
            let pool_cfg = sandbox::plan_pool(&cfg, &in_use)?;
            ipam.config = vec![pool_cfg];
            if options
                .get(record::OPT_BRIDGE_NAME)
                .is_some_and(String::is_empty)
            {
                options.remove(record::OPT_BRIDGE_NAME);
            }
            NetRecord {
                id: id.clone(),
                name: name.clone(),
                created: crate::containers::now_rfc3339(),
                driver,
                internal: req.internal,
                attachable: req.attachable,
                ipam,
                options,
                labels: req.labels.clone(),
            }
        };
        let s = rec.bridge_settings()?;
        sandbox::ensure_bridge(&s)?;
        if let Some(ipt) = &self.iptables {
            if let Err(e) = ipt.add_bridge(&self.bridge_rules(&rec, &s)) {
                let _ = ipt.remove_bridge(&self.bridge_rules(&rec, &s));
                sandbox::delete_bridge(&s.bridge);
                return Err(net_err(format!("program the firewall for network {name}"))(
                    e,
                ));
            }
        }
        if let Err(e) = rec
            .save(&self.cfg.dir)
            .and_then(|()| self.insert(rec.clone(), Some(s.clone())))
        {
            if let Some(ipt) = &self.iptables {
                let _ = ipt.remove_bridge(&self.bridge_rules(&rec, &s));
            }
            sandbox::delete_bridge(&s.bridge);
            let _ = rec.delete(&self.cfg.dir);
            return Err(e);
        }
        tracing::info!(network = %name, id = %id, bridge = %s.bridge, subnet = %s.subnet, "network created");
        if let Ok(net) = self.get(&id) {
            self.event("create", &net, None);
        }
        Ok(NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    /// `GET /networks` (filters: driver, id, label, name, scope, type,
    /// dangling).
    pub async fn list(self: &Arc<Self>, filters: &Filters) -> Result<Vec<Network>, EngineError> {
        filters.validate(&["driver", "id", "label", "name", "scope", "type", "dangling"])?;
        let dangling = filters.bool("dangling")?;
        for t in filters.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid filter: 'type'='{t}'"
                )));
            }
        }
        let inner = lock(&self.inner);
        let mut out: Vec<Network> = inner
            .nets
            .values()
            .filter(|n| {
                let r = &n.rec;
                let any = |key: &str, f: &dyn Fn(&str) -> bool| {
                    let v = filters.get(key);
                    v.is_empty() || v.iter().any(|x| f(x))
                };
                any("driver", &|d| r.driver == d)
                    && any("id", &|i| r.id.starts_with(i))
                    && any("name", &|x| r.name.contains(x))
                    && any("scope", &|s| s == "local")
                    && any("type", &|t| (t == "builtin") == r.is_predefined())
                    && filters.match_labels("label", &r.labels)
                    && dangling.is_none_or(|d| d == (n.eps.is_empty() && !r.is_predefined()))
            })
            .map(|n| Self::view(n, false))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `GET /networks/{id}`.
    pub async fn inspect(
        self: &Arc<Self>,
        name: &str,
        _verbose: bool,
    ) -> Result<Network, EngineError> {
        let inner = lock(&self.inner);
        let id = Self::find(&inner, name)?;
        Ok(Self::view(&inner.nets[&id], true))
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove(self: &Arc<Self>, name: &str) -> Result<(), EngineError> {
        let this = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || this.remove_blocking(&name))
            .await
            .map_err(|e| EngineError::Corrupt(format!("network task: {e}")))?
    }

    fn remove_blocking(&self, name: &str) -> Result<(), EngineError> {
        let (rec, bridge) = {
            let mut inner = lock(&self.inner);
            let id = Self::find(&inner, name)?;
            let n = &inner.nets[&id];
            if n.rec.is_predefined() {
                return Err(EngineError::Forbidden(format!(
                    "{} is a pre-defined network and cannot be removed",
                    n.rec.name
                )));
            }
            if !n.eps.is_empty() {
                return Err(EngineError::Conflict(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.rec.name, n.rec.id
                )));
            }
            let n = inner.nets.remove(&id).ok_or_else(|| not_found(name))?;
            (n.rec, n.bridge)
        };
        if let Some(s) = &bridge {
            if let Some(ipt) = &self.iptables {
                if let Err(e) = ipt.remove_bridge(&self.bridge_rules(&rec, s)) {
                    tracing::warn!(network = %rec.name, error = %e, "remove firewall rules");
                }
            }
            sandbox::delete_bridge(&s.bridge);
        }
        rec.delete(&self.cfg.dir)?;
        tracing::info!(network = %rec.name, id = %rec.id, "network removed");
        self.event("destroy", &rec, None);
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect(
        self: &Arc<Self>,
        name: &str,
        req: NetworkConnectRequest,
    ) -> Result<(), EngineError> {
        let cs = self.containers()?;
        cs.connect_network(
            self,
            name,
            &req.container,
            req.endpoint_config.unwrap_or_default(),
        )
        .await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(
        self: &Arc<Self>,
        name: &str,
        req: NetworkDisconnectRequest,
    ) -> Result<(), EngineError> {
        let cs = self.containers()?;
        cs.disconnect_network(self, name, &req.container, req.force)
            .await
    }

    /// `POST /networks/prune` (filters: until, label, label!).
    pub async fn prune(
        self: &Arc<Self>,
        filters: &Filters,
    ) -> Result<NetworkPruneResponse, EngineError> {
        filters.validate(&["until", "label", "label!"])?;
        let until = match filters.get("until").first() {
            Some(u) => Some(crate::images::parse_until(u)?),
            None => None,
        };
        let candidates: Vec<(String, String)> = {
            let inner = lock(&self.inner);
            inner
                .nets
                .values()
                .filter(|n| !n.rec.is_predefined() && n.eps.is_empty())
                .filter(|n| filters.match_labels("label", &n.rec.labels))
                .filter(|n| {
                    !filters
                        .get("label!")
                        .iter()
                        .any(|f| match f.split_once('=') {
                            Some((k, v)) => n.rec.labels.get(k).is_some_and(|x| x == v),
                            None => n.rec.labels.contains_key(f.as_str()),
                        })
                })
                .filter(|n| {
                    until.is_none_or(|u| {
                        chrono::DateTime::parse_from_rfc3339(&n.rec.created)
                            .map(|c| c.timestamp() < u)
                            .unwrap_or(false)
                    })
                })
                .map(|n| (n.rec.id.clone(), n.rec.name.clone()))
                .collect()
        };
        // Stopped containers may still name a pruned network; like Docker,
        // they fail to start until reconnected.
        let mut deleted = Vec::new();
        for (id, name) in candidates {
            match self.remove(&id).await {
                Ok(()) => deleted.push(name),
                Err(e) => tracing::warn!(network = %name, error = %e, "prune"),
            }
        }
        Ok(NetworkPruneResponse {
            networks_deleted: deleted,
        })
    }
}
