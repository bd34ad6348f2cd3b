//! A container's side of networking: which networks it asks for (at
//! create), its namespace, endpoints, published ports and DNS server (at
//! start), and undoing all of it (at exit, after a failed start, or for a
//! container that died while the daemon was down).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use api::container::HostConfig;
use api::network::{EndpointSettings, IpamConfig, NetworkingConfig};
use ipnet::Ipv4Net;
use network::portmap::Proto;

use super::{lock, net_err, BridgeSettings, EndpointRuntime, Ep, MappedPort, NetRuntime, Networks};
use crate::containers::record::Record;
use crate::EngineError;

/// The IPv4 address a link has now, if any.
pub(super) fn bridge_addr(name: &str) -> Option<Ipv4Net> {
    network::link::bridge_addrs(name).ok()?.into_iter().next()
}

/// Creates the bridge (or finds it) with its gateway address, MTU, up.
pub(super) fn ensure_bridge(s: &BridgeSettings) -> Result<(), EngineError> {
    let addr = Ipv4Net::new(s.gateway, s.subnet.prefix_len())
        .map_err(|e| EngineError::InvalidArgument(format!("bridge address: {e}")))?;
    network::link::ensure_bridge(&s.bridge, s.mtu, addr)
        .map_err(net_err(format!("create bridge {}", s.bridge)))?;
    Ok(())
}

/// Deletes a bridge; failures are logged (teardown keeps going).
pub(super) fn delete_bridge(name: &str) {
    if let Err(e) = network::link::delete_link(name) {
        tracing::warn!(bridge = name, error = %e, "delete bridge");
    }
}

/// The pool of a new network: the user's subnet (checked against the
/// others) or the first free default pool, with its gateway.
pub(super) fn plan_pool(cfg: &IpamConfig, in_use: &[Ipv4Net]) -> Result<IpamConfig, EngineError> {
    let bad = |e: String| EngineError::InvalidArgument(e);
    let subnet = if cfg.subnet.is_empty() {
        if !cfg.ip_range.is_empty() || !cfg.gateway.is_empty() {
            return Err(bad(
                "an ip-range or gateway needs a subnet (--subnet)".to_string()
            ));
        }
        let routes = network::link::ipv4_routes().unwrap_or_default();
        network::ipam::pick_subnet(in_use, &routes).map_err(|e| bad(e.to_string()))?
    } else {
        let s: Ipv4Net = network::ipam::parse_cidr(&cfg.subnet).map_err(|e| bad(e.to_string()))?;
        if s.addr().is_unspecified() && s.prefix_len() == 0 {
            return Err(bad(format!("invalid subnet {}", cfg.subnet)));
        }
        let s = s.trunc();
        if let Some(o) = in_use
            .iter()
            .find(|o| o.contains(&s.network()) || s.contains(&o.network()))
        {
            return Err(EngineError::Forbidden(format!(
                "Pool overlaps with other one on this address space ({s} and {o})"
            )));
        }
        s
    };
    let range = match cfg.ip_range.as_str() {
        "" => None,
        r => Some(network::ipam::parse_cidr(r).map_err(|e| bad(e.to_string()))?),
    };
    let gateway = match cfg.gateway.as_str() {
        "" => None,
        g => Some(
            g.parse::<Ipv4Addr>()
                .map_err(|_| bad(format!("invalid gateway address {g:?}")))?,
        ),
    };
    let aux: Vec<Ipv4Addr> = cfg
        .aux_addresses
        .iter()
        .map(|(k, v)| {
            v.parse()
                .map_err(|_| bad(format!("invalid auxiliary address {k}={v}")))
        })
        .collect::<Result<_, _>>()?;
    let pool = network::ipam::AddressPool::new(subnet, range, gateway, &aux)
        .map_err(|e| bad(e.to_string()))?;
    Ok(IpamConfig {
        subnet: subnet.to_string(),
        ip_range: range.map(|r| r.to_string()).unwrap_or_default(),
        gateway: pool.gateway().to_string(),
        aux_addresses: cfg.aux_addresses.clone(),
    })
}

/// `80/tcp` → (80, tcp).
fn parse_port_key(k: &str) -> Result<(u16, Proto), EngineError> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let proto: Proto = proto
        .parse()
        .map_err(|e: network::portmap::PortError| EngineError::InvalidArgument(e.to_string()))?;
    let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        EngineError::InvalidArgument(format!("invalid port specification: {k:?}"))
    })?;
    Ok((port, proto))
}

/// `""`, `8080` or `8000-8010`.
fn parse_host_port(s: &str) -> Result<Option<(u16, u16)>, EngineError> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let bad = || EngineError::InvalidArgument(format!("invalid host port {s:?}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a = a.parse::<u16>().map_err(|_| bad())?;
    let b = b.parse::<u16>().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// One port to publish: container port, protocol, host address (empty
/// for the network's default) and host port or range (None for any).
pub type WantedPort = (u16, Proto, String, Option<(u16, u16)>);

/// The ports a container asks to publish, from `PortBindings` and, with
/// `PublishAllPorts`, its exposed ports.
pub fn wanted_ports(
    host: &HostConfig,
    exposed: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<WantedPort>, EngineError> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(map) = host.port_bindings.as_object() {
        for (k, v) in map {
            let (port, proto) = parse_port_key(k)?;
            seen.insert((port, proto));
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                out.push((port, proto, String::new(), None));
            }
            for b in list {
                let ip = b["HostIp"].as_str().unwrap_or("").to_string();
                let hp = parse_host_port(b["HostPort"].as_str().unwrap_or(""))?;
                out.push((port, proto, ip, hp));
            }
        }
    }
    if host.publish_all_ports {
        for k in exposed.into_iter().flatten() {
            let (port, proto) = parse_port_key(k)?;
            if seen.insert((port, proto)) {
                out.push((port, proto, String::new(), None));
            }
        }
    }
    Ok(out)
}

/// Is `pid` still the proxy this record started (pids are reused after a
/// reboot; never signal a stranger)?
fn is_our_proxy(p: &MappedPort) -> bool {
    if p.proxy_pid <= 0 {
        return false;
    }
    let Ok(cmd) = std::fs::read(format!("/proc/{}/cmdline", p.proxy_pid)) else {
        return false;
    };
    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
    let has = |s: &str| args.contains(&s.as_bytes());
    args.first().is_some_and(|a| a.ends_with(b"proxy"))
        && has(&p.host_port.to_string())
        && has(&p.container_ip.to_string())
}

impl Networks {
    /// The primary network's name for a network mode.
    fn primary(mode: &str) -> &str {
        if mode == "default" || mode.is_empty() {
            "bridge"
        } else {
            mode
        }
    }

    /// At create: the networks a container joins and its settings on each,
    /// keyed by network name; Docker's checks.
    pub fn plan_endpoints(
        &self,
        host: &HostConfig,
        nc: &NetworkingConfig,
        mac: Option<&str>,
    ) -> Result<BTreeMap<String, EndpointSettings>, EngineError> {
        let mode = host.network_mode.as_str();
        if let Some(m) = mac.filter(|m| !m.is_empty()) {
            network::ipam::parse_mac(m).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        }
        if mode.starts_with("container:") {
            if !nc.endpoints_config.is_empty() {
                return Err(EngineError::InvalidArgument(
                    "conflicting options: networking settings and container network mode".into(),
                ));
            }
            return Ok(BTreeMap::new());
        }
        let primary = Self::primary(mode);
        if (mode == "default" || mode.is_empty()) && self.get("bridge").is_err() {
            // `--bridge=none`: containers get a namespace with loopback only.
            return Ok(BTreeMap::new());
        }
        if nc.endpoints_config.len() > 1 {
            return Err(EngineError::InvalidArgument(
                "Container cannot be connected to network endpoints: only one network can be given at create with this API version; use network connect for more".into(),
            ));
        }
        let rec = self.get(primary)?;
        let mut settings = nc
            .endpoints_config
            .iter()
            .find(|(k, _)| **k == rec.name || **k == rec.id || rec.id.starts_with(k.as_str()))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if let Some((k, _)) = nc.endpoints_config.iter().next() {
            if self.get(k)?.id != rec.id {
                return Err(EngineError::InvalidArgument(format!(
                    "network {k} in EndpointsConfig does not match the network mode {mode}"
                )));
            }
        }
        self.check_endpoint(&rec, &settings)?;
        settings.network_id = rec.id.clone();
        Ok([(rec.name.clone(), settings)].into())
    }

    /// Docker's rules for what a network accepts in endpoint settings.
    pub(crate) fn check_endpoint(
        &self,
        rec: &super::NetRecord,
        s: &EndpointSettings,
    ) -> Result<(), EngineError> {
        let user_defined = !rec.is_predefined();
        if !user_defined && s.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(EngineError::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if let Some(ip) = s.ipam_config.as_ref() {
            if !ip.ipv6_address.is_empty() {
                return Err(EngineError::InvalidArgument(
                    "IPv6 addresses are not supported by this engine yet".into(),
                ));
            }
            if !ip.ipv4_address.is_empty() {
                if !user_defined {
                    return Err(EngineError::InvalidArgument(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                let a: Ipv4Addr = ip.ipv4_address.parse().map_err(|_| {
                    EngineError::InvalidArgument(format!(
                        "invalid IPv4 address: {}",
                        ip.ipv4_address
                    ))
                })?;
                let b = rec.bridge_settings()?;
                if !b.subnet.contains(&a) {
                    return Err(EngineError::InvalidArgument(format!(
                        "Invalid address {a}: It does not belong to any of this network's subnets"
                    )));
                }
            }
        }
        Ok(())
    }

    /// At start: the namespace, an endpoint per bridge network, published
    /// ports and the DNS server. Returns the endpoint settings as they are
    /// now (addresses filled in) and what must be kept for teardown.
    /// Blocking. On failure everything made is undone.
    pub fn setup(
        self: &Arc<Self>,
        rec: &Record,
    ) -> Result<(BTreeMap<String, EndpointSettings>, NetRuntime), EngineError> {
        let mode = rec.host_config.network_mode.as_str();
        let bridged = rec.networks.iter().any(|(name, s)| {
            let key = if s.network_id.is_empty() {
                name.as_str()
            } else {
                s.network_id.as_str()
            };
            self.get(key).is_ok_and(|n| n.is_bridge())
        });
        if matches!(mode, "host" | "none") || mode.starts_with("container:") || !bridged {
            // A network that vanished while the container was stopped
            // fails the start as in Docker.
            for (name, s) in &rec.networks {
                let key = if s.network_id.is_empty() {
                    name
                } else {
                    &s.network_id
                };
                if self.get(key).is_err() && self.get(name).is_err() {
                    return Err(EngineError::NotFound(format!("network {name} not found")));
                }
            }
            return Ok((rec.networks.clone(), NetRuntime::default()));
        }
        let netns = self.cfg.netns_dir.join(&rec.id[..12.min(rec.id.len())]);
        let _ = network::netns::remove(&netns);
        network::netns::create(&netns).map_err(net_err("create network namespace"))?;
        let mut rt = NetRuntime {
            sandbox_key: netns.display().to_string(),
            ..Default::default()
        };
        let mut nets = rec.networks.clone();
        match self.setup_inner(rec, &netns, &mut nets, &mut rt) {
            Ok(()) => Ok((nets, rt)),
            Err(e) => {
                let mut partial = rec.clone();
                partial.networks = nets;
                partial.net = rt;
                self.teardown(&partial);
                Err(e)
            }
        }
    }

    fn setup_inner(
        self: &Arc<Self>,
        rec: &Record,
        netns: &Path,
        nets: &mut BTreeMap<String, EndpointSettings>,
        rt: &mut NetRuntime,
    ) -> Result<(), EngineError> {
        let primary = Self::primary(&rec.host_config.network_mode).to_string();
        let mut order: Vec<String> = nets.keys().cloned().collect();
        order.sort_by_key(|n| (*n != primary, n.clone()));
        let cname = rec.name.trim_start_matches('/').to_string();
        let mut gateway_set = false;
        let mut primary_ep: Option<(Ipv4Addr, BridgeSettings, bool)> = None;
        let mut user_defined = false;
        for (i, name) in order.iter().enumerate() {
            let Some(settings) = nets.get_mut(name) else {
                continue;
            };
            let key = if settings.network_id.is_empty() {
                name.clone()
            } else {
                settings.network_id.clone()
            };
            let net = self
                .get(&key)
                .map_err(|_| EngineError::NotFound(format!("network {name} not found")))?;
            if !net.is_bridge() {
                continue;
            }
            user_defined |= !net.is_predefined();
            let mac = rec
                .config
                .mac_address
                .as_deref()
                .filter(|m| !m.is_empty() && i == 0);
            let with_gateway = !net.internal && !gateway_set;
            gateway_set |= with_gateway;
            let ep = self.attach_one(
                rec,
                &net,
                settings,
                netns,
                format!("eth{i}"),
                mac,
                with_gateway,
            )?;
            rt.endpoints.insert(net.id.clone(), ep);
            if *name == primary {
                let ip = settings.ip_address.parse::<Ipv4Addr>().map_err(|_| {
                    EngineError::Corrupt(format!("endpoint address {:?}", settings.ip_address))
                })?;
                primary_ep = Some((ip, net.bridge_settings()?, net.internal));
            }
        }
        if let Some((ip, b, internal)) = primary_ep {
            if !internal {
                rt.ports = self.publish(rec, &cname, ip, &b)?;
            }
        }
        if user_defined {
            self.start_dns(rec, netns)?;
        }
        Ok(())
    }

    /// Adds a running endpoint to a network's table (DNS, inspect).
    fn register(&self, net: &super::NetRecord, cid: &str, cname: &str, s: &EndpointSettings) {
        let Ok(ip) = s.ip_address.parse::<Ipv4Addr>() else {
            return;
        };
        let mut aliases: Vec<String> = s.aliases.clone().unwrap_or_default();
        if !net.is_predefined() {
            aliases.push(cid[..12.min(cid.len())].to_string());
        }
        let links = s
            .links
            .iter()
            .flatten()
            .filter_map(|l| {
                let (t, a) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
                Some((
                    t.trim_start_matches('/').to_string(),
                    a.rsplit('/').next()?.to_string(),
                ))
            })
            .collect();
        let mut inner = lock(&self.inner);
        if let Some(n) = inner.nets.get_mut(&net.id) {
            n.eps.insert(
                cid.to_string(),
                Ep {
                    name: cname.to_string(),
                    endpoint_id: s.endpoint_id.clone(),
                    ip,
                    mac: s.mac_address.clone(),
                    aliases,
                    links,
                },
            );
        }
    }

    /// Publishes the container's ports: a host port each, the DNAT rules,
    /// and a userland proxy (or a held socket) per port.
    fn publish(
        &self,
        rec: &Record,
        cname: &str,
        cip: Ipv4Addr,
        b: &BridgeSettings,
    ) -> Result<Vec<MappedPort>, EngineError> {
        let wanted = wanted_ports(&rec.host_config, rec.config.exposed_ports.as_ref())?;
        let mut done: Vec<MappedPort> = Vec::new();
        for (cport, proto, host_ip, range) in wanted {
            let host_ip: Ipv4Addr = match host_ip.as_str() {
                "" => b.host_binding,
                s => match s.parse() {
                    Ok(ip) => ip,
                    Err(_) if s.contains(':') => {
                        tracing::info!(container = cname, addr = s, "IPv6 host binding skipped");
                        continue;
                    }
                    Err(_) => {
                        self.unpublish(&rec.id, &done);
                        return Err(EngineError::InvalidArgument(format!(
                            "invalid host IP address {s:?}"
                        )));
                    }
                },
            };
            match self.publish_one(&rec.id, cname, proto, host_ip, range, cip, cport, b) {
                Ok(m) => done.push(m),
                Err(e) => {
                    self.unpublish(&rec.id, &done);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    #[allow(clippy::too_many_arguments)]
    fn publish_one(
        &self,
        cid: &str,
        cname: &str,
        proto: Proto,
        host_ip: Ipv4Addr,
        range: Option<(u16, u16)>,
        cip: Ipv4Addr,
        cport: u16,
        b: &BridgeSettings,
    ) -> Result<MappedPort, EngineError> {
        let fail = |e: String| {
            EngineError::Conflict(format!(
                "driver failed programming external connectivity on endpoint {cname} ({}): {e}",
                &cid[..12.min(cid.len())]
            ))
        };
        let host_port = lock(&self.inner)
            .ports
            .allocate(proto, host_ip, range)
            .map_err(|e| fail(e.to_string()))?;
        let mut m = MappedPort {
            proto: proto.to_string(),
            host_ip,
            host_port,
            container_ip: cip,
            container_port: cport,
            bridge: b.bridge.clone(),
            proxy_pid: 0,
        };
        let undo_alloc = |this: &Self| {
            lock(&this.inner).ports.release(proto, host_ip, host_port);
        };
        if let Some(ipt) = &self.iptables {
            if let Err(e) = ipt.add_port(&self.port_rule(&m)) {
                let _ = ipt.remove_port(&self.port_rule(&m));
                undo_alloc(self);
                return Err(fail(e.to_string()));
            }
        }
        let r = if self.cfg.bridge.userland_proxy {
            self.start_proxy(&m).map(|pid| m.proxy_pid = pid)
        } else {
            network::portmap::reserve_port(proto, host_ip, host_port)
                .map(|fd| {
                    lock(&self.inner)
                        .reserved
                        .entry(cid.to_string())
                        .or_default()
                        .push(fd);
                })
                .map_err(|e| e.to_string())
        };
        if let Err(e) = r {
            if let Some(ipt) = &self.iptables {
                let _ = ipt.remove_port(&self.port_rule(&m));
            }
            undo_alloc(self);
            return Err(fail(e));
        }
        Ok(m)
    }

    fn start_proxy(&self, m: &MappedPort) -> Result<i32, String> {
        let exe = match self.proxy_exe.get() {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| format!("find the engine binary: {e}"))?,
        };
        let proto: Proto = m
            .proto
            .parse()
            .map_err(|e: network::portmap::PortError| e.to_string())?;
        network::portmap::start_proxy(
            &exe,
            &network::portmap::ProxySpec {
                proto,
                host_ip: m.host_ip,
                host_port: m.host_port,
                container_ip: m.container_ip,
                container_port: m.container_port,
            },
        )
        .map(|c| c.pid())
        .map_err(|e| e.to_string())
    }

    fn port_rule(&self, m: &MappedPort) -> network::firewall::PortRule {
        network::firewall::PortRule {
            proto: if m.proto == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            },
            host_ip: (!m.host_ip.is_unspecified()).then_some(m.host_ip),
            host_port: m.host_port,
            container_ip: m.container_ip,
            container_port: m.container_port,
            bridge: m.bridge.clone(),
            hairpin: !self.cfg.bridge.userland_proxy,
        }
    }

    fn unpublish(&self, cid: &str, ports: &[MappedPort]) {
        lock(&self.inner).reserved.remove(cid);
        for m in ports {
            if is_our_proxy(m) {
                if let Err(e) = network::portmap::stop_proxy(m.proxy_pid) {
                    tracing::warn!(container = cid, pid = m.proxy_pid, error = %e, "stop proxy");
                }
            }
            if let Some(ipt) = &self.iptables {
                if let Err(e) = ipt.remove_port(&self.port_rule(m)) {
                    tracing::warn!(container = cid, port = m.host_port, error = %e, "remove port rules");
                }
            }
            if let Ok(p) = m.proto.parse::<Proto>() {
                lock(&self.inner).ports.release(p, m.host_ip, m.host_port);
            }
        }
    }

    /// Binds the DNS sockets inside the container's namespace, redirects
    /// 127.0.0.11:53 to them, and serves them on the daemon's runtime.
    fn start_dns(self: &Arc<Self>, rec: &Record, netns: &Path) -> Result<(), EngineError> {
        let Some(rt) = self.rt.get() else {
            tracing::warn!(container = %rec.id, "no runtime for the embedded DNS");
            return Ok(());
        };
        let sockets = network::netns::run_in(netns, network::dns::bind_local)
            .map_err(net_err("enter the container's network namespace"))?
            .map_err(net_err("bind the embedded DNS server"))?;
        let ipt = network::firewall::Iptables::in_netns(netns)
            .map_err(net_err("iptables for the embedded DNS"))?;
        ipt.dns_redirect(sockets.udp_port(), sockets.tcp_port())
            .map_err(net_err("redirect 127.0.0.11:53 to the embedded DNS"))?;
        let upstreams = upstreams_for(&rec.host_config);
        let resolver = Arc::new(super::resolver::CtrResolver::new(
            Arc::downgrade(self),
            rec.id.clone(),
            upstreams,
        ));
        let server = {
            let _g = rt.enter();
            network::dns::spawn(sockets, resolver).map_err(net_err("start the embedded DNS"))?
        };
        lock(&self.inner).dns.insert(rec.id.clone(), server);
        Ok(())
    }

    /// Undoes `setup` from what the record says (works for a container
    /// that died while the daemon was down). Blocking; keeps going on
    /// errors and logs them.
    pub fn teardown(&self, rec: &Record) {
        let rt = &rec.net;
        lock(&self.inner).dns.remove(&rec.id);
        self.unpublish(&rec.id, &rt.ports);
        // With a namespace of its own, its veths go with it: the kernel
        // deletes them when the namespace dies (asynchronously; deleting
        // each veth here waits for an RCU grace period, 10-20 ms per start
        // and stop on a small board).
        let owns_netns =
            !rt.sandbox_key.is_empty() && network::netns::is_netns(Path::new(&rt.sandbox_key));
        for (net_id, ep) in &rt.endpoints {
            if !owns_netns {
                if let Err(e) = network::link::detach_endpoint(&ep.host_veth) {
                    tracing::warn!(container = %rec.id, veth = %ep.host_veth, error = %e, "detach endpoint");
                }
            }
            let ip = rec
                .networks
                .values()
                .find(|s| s.network_id == *net_id)
                .and_then(|s| s.ip_address.parse::<Ipv4Addr>().ok());
            let mut inner = lock(&self.inner);
            if let Some(n) = inner.nets.get_mut(net_id) {
                n.eps.remove(&rec.id);
                if let (Some(p), Some(ip)) = (n.pool.as_mut(), ip) {
                    p.release(ip);
                }
            }
        }
        if !rt.sandbox_key.is_empty() {
            if let Err(e) = network::netns::remove(Path::new(&rt.sandbox_key)) {
                tracing::warn!(container = %rec.id, error = %e, "remove network namespace");
            }
        }
    }

    /// The endpoint settings once the container stopped (Docker keeps the
    /// configuration, clears what belonged to the run).
    pub fn cleared(
        nets: &BTreeMap<String, EndpointSettings>,
    ) -> BTreeMap<String, EndpointSettings> {
        nets.iter()
            .map(|(k, s)| {
                (
                    k.clone(),
                    EndpointSettings {
                        ipam_config: s.ipam_config.clone(),
                        links: s.links.clone(),
                        aliases: s.aliases.clone(),
                        network_id: s.network_id.clone(),
                        driver_opts: s.driver_opts.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    /// After a daemon restart, for a container still running: takes its
    /// addresses and ports again, restarts a proxy that died, and serves
    /// its DNS again. Returns the runtime part if it changed. Blocking.
    pub fn restore_running(self: &Arc<Self>, rec: &Record) -> Option<NetRuntime> {
        let cname = rec.name.trim_start_matches('/').to_string();
        let mut user_defined = false;
        for s in rec.networks.values() {
            let Ok(net) = self.get(&s.network_id) else {
                continue;
            };
            user_defined |= net.is_bridge() && !net.is_predefined();
            if let Ok(ip) = s.ip_address.parse::<Ipv4Addr>() {
                let mut inner = lock(&self.inner);
                if let Some(p) = inner.nets.get_mut(&net.id).and_then(|n| n.pool.as_mut()) {
                    if let Err(e) = p.reserve(ip) {
                        tracing::warn!(container = %rec.id, %ip, error = %e, "address taken again");
                    }
                }
            }
            self.register(&net, &rec.id, &cname, s);
        }
        let mut rt = rec.net.clone();
        let mut changed = false;
        for m in &mut rt.ports {
            let Ok(proto) = m.proto.parse::<Proto>() else {
                continue;
            };
            if let Err(e) = lock(&self.inner)
                .ports
                .reserve(proto, m.host_ip, m.host_port)
            {
                tracing::warn!(container = %rec.id, port = m.host_port, error = %e, "port taken again");
            }
            if let Some(ipt) = &self.iptables {
                if let Err(e) = ipt.add_port(&self.port_rule(m)) {
                    tracing::warn!(container = %rec.id, error = %e, "re-add port rules");
                }
            }
            if self.cfg.bridge.userland_proxy {
                if !is_our_proxy(m) {
                    match self.start_proxy(m) {
                        Ok(pid) => {
                            m.proxy_pid = pid;
                            changed = true;
                        }
                        Err(e) => {
                            tracing::warn!(container = %rec.id, port = m.host_port, error = %e, "restart proxy")
                        }
                    }
                }
            } else if let Ok(fd) = network::portmap::reserve_port(proto, m.host_ip, m.host_port) {
                lock(&self.inner)
                    .reserved
                    .entry(rec.id.clone())
                    .or_default()
                    .push(fd);
            }
        }
        if user_defined && !rt.sandbox_key.is_empty() {
            if let Err(e) = self.start_dns(rec, Path::new(&rt.sandbox_key)) {
                tracing::warn!(container = %rec.id, error = %e, "restart embedded DNS");
            }
        }
        changed.then_some(rt)
    }

    /// Connects a running container to one more network. Blocking.
    pub fn attach_running(
        self: &Arc<Self>,
        rec: &Record,
        net: &super::NetRecord,
        mut settings: EndpointSettings,
    ) -> Result<(EndpointSettings, EndpointRuntime), EngineError> {
        let netns = PathBuf::from(&rec.net.sandbox_key);
        if rec.net.sandbox_key.is_empty() {
            return Err(EngineError::Forbidden(
                "container has no network namespace of its own to connect".into(),
            ));
        }
        let used: std::collections::BTreeSet<&str> = rec
            .net
            .endpoints
            .values()
            .map(|e| e.ifname.as_str())
            .collect();
        let ifname = (0..64)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(n.as_str()))
            .unwrap_or_else(|| "eth64".into());
        let ep = self.attach_one(rec, net, &mut settings, &netns, ifname, None, false)?;
        Ok((settings, ep))
    }

    /// One endpoint: an address from the network's pool (the static one if
    /// asked), Docker's MAC unless `mac` is given, a veth into `netns` as
    /// `ifname` (with the default route when `with_gateway`); fills in
    /// `settings` and registers the endpoint. Undoes the allocation on
    /// failure. Blocking.
    #[allow(clippy::too_many_arguments)]
    fn attach_one(
        &self,
        rec: &Record,
        net: &super::NetRecord,
        settings: &mut EndpointSettings,
        netns: &Path,
        ifname: String,
        mac: Option<&str>,
        with_gateway: bool,
    ) -> Result<EndpointRuntime, EngineError> {
        let b = net.bridge_settings()?;
        let want =
            match settings
                .ipam_config
                .as_ref()
                .map(|c| c.ipv4_address.as_str())
            {
                Some(a) if !a.is_empty() => Some(a.parse::<Ipv4Addr>().map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid IPv4 address: {a}"))
                })?),
                _ => None,
            };
        let ip = {
            let mut inner = lock(&self.inner);
            let pool = inner
                .nets
                .get_mut(&net.id)
                .and_then(|n| n.pool.as_mut())
                .ok_or_else(|| super::not_found(&net.name))?;
            pool.allocate(want).map_err(|e| match want {
                Some(_) => EngineError::Conflict(e.to_string()),
                None => EngineError::InvalidArgument(format!("{e}: {} ({})", net.name, net.id)),
            })?
        };
        let release = || {
            if let Some(p) = lock(&self.inner)
                .nets
                .get_mut(&net.id)
                .and_then(|n| n.pool.as_mut())
            {
                p.release(ip);
            }
        };
        let mac = match mac.map(network::ipam::parse_mac) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                release();
                return Err(EngineError::InvalidArgument(e.to_string()));
            }
            None => network::ipam::mac_from_ip(ip),
        };
        let cname = rec.name.trim_start_matches('/');
        let made = network::link::random_veth_name()
            .map_err(net_err("name a veth"))
            .and_then(|host_veth| {
                let spec = network::link::EndpointSpec {
                    host_ifname: host_veth.clone(),
                    bridge: b.bridge.clone(),
                    netns: netns.to_path_buf(),
                    ifname: ifname.clone(),
                    mac,
                    addr: Ipv4Net::new(ip, b.subnet.prefix_len())
                        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?,
                    gateway: with_gateway.then_some(b.gateway),
                    mtu: b.mtu,
                    hairpin: !self.cfg.bridge.userland_proxy,
                };
                network::link::attach_endpoint(&spec)
                    .map_err(net_err(format!("attach {cname} to network {}", net.name)))?;
                Ok(host_veth)
            });
        let host_veth = match made {
            Ok(v) => v,
            Err(e) => {
                release();
                return Err(e);
            }
        };
        settings.network_id = net.id.clone();
        settings.endpoint_id = crate::new_id();
        settings.gateway = if net.internal {
            String::new()
        } else {
            b.gateway.to_string()
        };
        settings.ip_address = ip.to_string();
        settings.ip_prefix_len = b.subnet.prefix_len();
        settings.mac_address = network::ipam::format_mac(&mac);
        self.register(net, &rec.id, cname, settings);
        Ok(EndpointRuntime { host_veth, ifname })
    }

    /// Disconnects a running container from one network. Blocking.
    pub fn detach_running(
        &self,
        cid: &str,
        net_id: &str,
        s: &EndpointSettings,
        ep: Option<&EndpointRuntime>,
    ) {
        if let Some(ep) = ep {
            if let Err(e) = network::link::detach_endpoint(&ep.host_veth) {
                tracing::warn!(container = cid, error = %e, "detach endpoint");
            }
        }
        let mut inner = lock(&self.inner);
        if let Some(n) = inner.nets.get_mut(net_id) {
            n.eps.remove(cid);
            if let (Some(p), Ok(ip)) = (n.pool.as_mut(), s.ip_address.parse::<Ipv4Addr>()) {
                p.release(ip);
            }
        }
    }

    /// Addresses of running containers on the default bridge by name, for
    /// legacy `--link` entries in /etc/hosts.
    pub fn bridge_ip_of(&self, container_name: &str) -> Option<(Ipv4Addr, String)> {
        let inner = lock(&self.inner);
        let n = inner.nets.values().find(|n| n.rec.name == "bridge")?;
        n.eps
            .iter()
            .find(|(_, e)| e.name == container_name.trim_start_matches('/'))
            .map(|(cid, e)| (e.ip, cid.clone()))
    }

    /// Drops the endpoint of a container that no longer exists (forced
    /// disconnect); true if there was one.
    pub fn forget_endpoint(&self, net_id: &str, container: &str) -> bool {
        let mut inner = lock(&self.inner);
        let Some(n) = inner.nets.get_mut(net_id) else {
            return false;
        };
        let name = container.trim_start_matches('/');
        let Some(cid) = n
            .eps
            .iter()
            .find(|(cid, e)| e.name == name || cid.starts_with(name))
            .map(|(cid, _)| cid.clone())
        else {
            return false;
        };
        if let Some(e) = n.eps.remove(&cid) {
            if let Some(p) = n.pool.as_mut() {
                p.release(e.ip);
            }
        }
        true
    }

    /// Whether the container's DNS is the embedded server.
    pub fn uses_embedded_dns(&self, rec: &Record) -> bool {
        lock(&self.inner).dns.contains_key(&rec.id)
    }
}

/// Where the embedded DNS forwards: `--dns` if given, else the host's
/// resolvers.
fn upstreams_for(h: &HostConfig) -> Vec<SocketAddr> {
    if !h.dns.is_empty() {
        return h
            .dns
            .iter()
            .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    network::dns::upstreams_from_resolv_conf(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys_and_host_ports_parse_as_docker_writes_them() {
        assert_eq!(parse_port_key("80/tcp").unwrap(), (80, Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").unwrap(), (53, Proto::Udp));
        assert_eq!(parse_port_key("8080").unwrap(), (8080, Proto::Tcp));
        assert!(parse_port_key("0/tcp").is_err());
        assert!(parse_port_key("x/tcp").is_err());
        assert_eq!(parse_host_port("").unwrap(), None);
        assert_eq!(parse_host_port("8080").unwrap(), Some((8080, 8080)));
        assert_eq!(parse_host_port("8000-8010").unwrap(), Some((8000, 8010)));
        assert!(parse_host_port("9-1").is_err());
    }

    #[test]
    fn wanted_ports_merge_bindings_and_publish_all() {
        let h = HostConfig {
            port_bindings: serde_json::json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}],
                "53/udp": null
            }),
            publish_all_ports: true,
            ..Default::default()
        };
        let exposed: std::collections::BTreeSet<String> =
            ["80/tcp".to_string(), "443/tcp".to_string()].into();
        let w = wanted_ports(&h, Some(&exposed)).unwrap();
        assert_eq!(w.len(), 4);
        assert!(w.contains(&(80, Proto::Tcp, String::new(), Some((8080, 8080)))));
        assert!(w.contains(&(80, Proto::Tcp, "127.0.0.1".into(), None)));
        assert!(w.contains(&(53, Proto::Udp, String::new(), None)));
        assert!(w.contains(&(443, Proto::Tcp, String::new(), None)));
    }
}
