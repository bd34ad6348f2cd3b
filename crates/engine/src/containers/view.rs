//! What clients see: inspect and list JSON, status strings, list filters,
//! and reading logs back.

use std::sync::Arc;

use serde_json::{json, Value};

use super::record::{Record, Status, ZERO_TIME};
use super::{Containers, Ctr};
use crate::filters::Filters;
use crate::EngineError;
use api::progress::human_duration;

fn since(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| chrono::Utc::now().timestamp() - t.timestamp())
        .unwrap_or(0)
}

fn unix(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Docker's `State.String()` for `ps`.
pub fn status_string(r: &Record) -> String {
    let st = &r.state;
    match st.status {
        Status::Running => match &r.health {
            Some(h) => format!(
                "Up {} ({})",
                human_duration(since(&st.started_at)),
                h.display()
            ),
            None => format!("Up {}", human_duration(since(&st.started_at))),
        },
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&st.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human_duration(since(&st.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if st.finished_at == ZERO_TIME || st.finished_at.is_empty() {
                "Created".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    st.exit_code,
                    human_duration(since(&st.finished_at))
                )
            }
        }
    }
}

fn command(r: &Record) -> String {
    std::iter::once(r.path.as_str())
        .chain(r.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Docker's `Mounts`: the container's mount points.
fn mounts(r: &Record) -> Vec<Value> {
    r.mount_points
        .iter()
        .map(super::mounts::mount_json)
        .collect()
}

/// `NetworkSettings.Ports`: every exposed or bound port, with its host
/// bindings while running (`null` when not published).
fn ports_map(r: &Record) -> Value {
    let mut m = serde_json::Map::new();
    let mut add = |k: &str| {
        let k = if k.contains('/') {
            k.to_string()
        } else {
            format!("{k}/tcp")
        };
        m.entry(k).or_insert(Value::Null);
    };
    for k in r.config.exposed_ports.iter().flatten() {
        add(k);
    }
    if let Some(b) = r.host_config.port_bindings.as_object() {
        for k in b.keys() {
            add(k);
        }
    }
    if r.is_running() {
        for p in &r.net.ports {
            let e = m
                .entry(format!("{}/{}", p.container_port, p.proto))
                .or_insert(Value::Null);
            if !e.is_array() {
                *e = json!([]);
            }
            if let Some(a) = e.as_array_mut() {
                a.push(
                    json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}),
                );
            }
        }
    } else {
        return json!({});
    }
    Value::Object(m)
}

/// The list's `Ports`: published ports, and exposed ones without a
/// binding.
fn ports_list(r: &Record) -> Value {
    let mut out: Vec<Value> = Vec::new();
    let mut published = std::collections::BTreeSet::new();
    if r.is_running() {
        for p in &r.net.ports {
            published.insert((p.container_port, p.proto.clone()));
            out.push(
                json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port,
                "PublicPort": p.host_port, "Type": p.proto}),
            );
        }
    }
    for k in r.config.exposed_ports.iter().flatten() {
        let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
        if let Ok(port) = port.parse::<u16>() {
            if !published.contains(&(port, proto.to_string())) {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    Value::Array(out)
}

fn network_settings(r: &Record) -> Value {
    let networks: serde_json::Map<String, Value> = r
        .networks
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect();
    // The top-level fields mirror the default bridge, as in Docker.
    let bridge = r.networks.get("bridge").cloned().unwrap_or_default();
    let sandbox_id = if r.net.sandbox_key.is_empty() {
        String::new()
    } else {
        sha2_hex(&r.net.sandbox_key)
    };
    json!({
        "Bridge": "", "SandboxID": sandbox_id, "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_map(r), "SandboxKey": r.net.sandbox_key, "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null, "EndpointID": bridge.endpoint_id, "Gateway": bridge.gateway,
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": bridge.ip_address,
        "IPPrefixLen": bridge.ip_prefix_len, "IPv6Gateway": "", "MacAddress": bridge.mac_address,
        "Networks": networks,
    })
}

/// A stable 64-hex id for a sandbox (Docker's SandboxID is random; ours
/// is derived from its key so it survives restarts).
fn sha2_hex(s: &str) -> String {
    use sha2::Digest;
    hex_lower(&sha2::Sha256::digest(s.as_bytes()))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Containers {
    /// `GET /containers/{id}/json`. Blocking when `size`.
    pub fn inspect(&self, name: &str, size: bool) -> Result<Value, EngineError> {
        let c = self.get(name)?;
        let r = c.record();
        let st = &r.state;
        let mut host = serde_json::to_value(&r.host_config)
            .map_err(|e| EngineError::Corrupt(e.to_string()))?;
        if let Some(o) = host.as_object_mut() {
            o.remove("ContainerIDEnv");
        }
        let config =
            serde_json::to_value(&r.config).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let execs = self.exec_ids(&r.id);
        let mut v = json!({
            "Id": r.id,
            "Created": r.created,
            "Path": r.path,
            "Args": r.args,
            "State": {
                "Status": st.status.as_str(),
                "Running": matches!(st.status, Status::Running | Status::Paused),
                "Paused": st.status == Status::Paused,
                "Restarting": st.status == Status::Restarting,
                "OOMKilled": st.oom_killed,
                "Dead": st.status == Status::Dead,
                "Pid": st.pid,
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": st.started_at,
                "FinishedAt": st.finished_at,
            },
            "Image": r.image,
            "ResolvConfPath": r.resolv_conf_path,
            "HostnamePath": r.hostname_path,
            "HostsPath": r.hosts_path,
            "LogPath": r.log_path,
            "Name": r.name,
            "RestartCount": r.restart_count,
            "Driver": r.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if execs.is_empty() { Value::Null } else { json!(execs) },
            "HostConfig": host,
            "GraphDriver": {
                "Data": self.store.rw_driver_data(&r.id).ok(),
                "Name": r.driver,
            },
            "Mounts": mounts(&r),
            "Config": config,
            "NetworkSettings": network_settings(&r),
        });
        if let Some(h) = &r.health {
            v["State"]["Health"] = json!(h);
        }
        if size {
            let (rw, rootfs) = self.store.rw_size(&r.id).unwrap_or((0, 0));
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rootfs);
        }
        Ok(v)
    }

    /// `GET /containers/json`. Blocking when `size`.
    pub fn list(
        &self,
        images: &crate::images::Images,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: &Filters,
    ) -> Result<Vec<Value>, EngineError> {
        filters.validate(&[
            "id",
            "name",
            "label",
            "status",
            "exited",
            "ancestor",
            "before",
            "since",
            "volume",
            "network",
            "health",
            "isolation",
            "is-task",
            "publish",
            "expose",
        ])?;
        for s in filters.get("status") {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::InvalidArgument(format!(
                    "Unrecognised filter value for status: {s}"
                )));
            }
        }
        for s in filters.get("health") {
            if !matches!(s.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                return Err(EngineError::InvalidArgument(format!(
                    "Unrecognised filter value for health: {s}"
                )));
            }
        }
        let mut recs: Vec<Record> = self.all().iter().map(|c: &Arc<Ctr>| c.record()).collect();
        // Newest first.
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let pos = |name: &str| -> Result<Option<String>, EngineError> {
            Ok(Some(self.get(name)?.record().created))
        };
        let before = match filters.get("before").first() {
            Some(n) => pos(n)?,
            None => None,
        };
        let since_f = match filters.get("since").first() {
            Some(n) => pos(n)?,
            None => None,
        };
        let ancestors: Vec<String> = filters
            .get("ancestor")
            .iter()
            .filter_map(|a| images.resolve(a).ok().map(|i| i.to_string()))
            .collect();
        // Docker's default (all=false) shows running ones only, unless
        // filters select by status/exited or a limit is given.
        let show_all = all || limit.is_some_and(|l| l > 0) || before.is_some() || since_f.is_some();
        let mut out = Vec::new();
        for r in recs {
            let st = r.state.status;
            if !show_all
                && !filters.contains("status")
                && !filters.contains("exited")
                && !matches!(st, Status::Running | Status::Paused | Status::Restarting)
            {
                continue;
            }
            if let Some(b) = &before {
                if r.created >= *b {
                    continue;
                }
            }
            if let Some(s) = &since_f {
                if r.created <= *s {
                    continue;
                }
            }
            let ids = filters.get("id");
            if !ids.is_empty() && !ids.iter().any(|i| r.id.starts_with(i.as_str())) {
                continue;
            }
            let names = filters.get("name");
            if !names.is_empty() {
                let n = r.name.trim_start_matches('/');
                let ok = names.iter().any(|p| {
                    let p = p.trim_start_matches('/');
                    crate::filters::name_matches(p, n)
                });
                if !ok {
                    continue;
                }
            }
            if !filters.match_labels("label", &r.config.labels.clone().unwrap_or_default()) {
                continue;
            }
            let statuses = filters.get("status");
            if !statuses.is_empty() && !statuses.iter().any(|s| s == st.as_str()) {
                continue;
            }
            let health = filters.get("health");
            let hs = r.health.as_ref().map_or("none", |h| h.status.as_str());
            if !health.is_empty() && !health.iter().any(|h| h == hs) {
                continue;
            }
            let exited = filters.get("exited");
            let exit_matches = st == Status::Exited
                && exited
                    .iter()
                    .any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code));
            if !exited.is_empty() && !exit_matches {
                continue;
            }
            if filters.contains("ancestor") && !ancestors.contains(&r.image) {
                continue;
            }
            let nets = filters.get("network");
            if !nets.is_empty()
                && !nets.iter().any(|n| {
                    r.networks.iter().any(|(name, s)| {
                        name == n || (!n.is_empty() && s.network_id.starts_with(n.as_str()))
                    })
                })
            {
                continue;
            }
            let vol_f = filters.get("volume");
            if !vol_f.is_empty()
                && !vol_f.iter().any(|v| {
                    r.mount_points
                        .iter()
                        .any(|m| (m.is_volume() && m.name == *v) || m.destination == *v)
                })
            {
                continue;
            }
            let publish = filters.get("publish");
            if !publish.is_empty()
                && !publish.iter().any(|p| {
                    let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    r.net
                        .ports
                        .iter()
                        .any(|m| m.host_port.to_string() == port && m.proto == proto)
                })
            {
                continue;
            }
            let expose = filters.get("expose");
            if !expose.is_empty()
                && !expose.iter().any(|p| {
                    let key = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    r.config.exposed_ports.iter().flatten().any(|e| *e == key)
                })
            {
                continue;
            }
            let mut v = json!({
                "Id": r.id,
                "Names": [r.name],
                "Image": r.config.image.clone().unwrap_or_default(),
                "ImageID": r.image,
                "Command": command(&r),
                "Created": unix(&r.created),
                "Ports": ports_list(&r),
                "Labels": r.config.labels.clone().unwrap_or_default(),
                "State": st.as_str(),
                "Status": status_string(&r),
                "HostConfig": { "NetworkMode": r.host_config.network_mode },
                "NetworkSettings": { "Networks": network_settings(&r)["Networks"].clone() },
                "Mounts": mounts(&r),
            });
            if size {
                let (rw, rootfs) = self.store.rw_size(&r.id).unwrap_or((0, 0));
                v["SizeRw"] = json!(rw);
                v["SizeRootFs"] = json!(rootfs);
            }
            out.push(v);
            if limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}

impl Containers {
    /// `GET /containers/{id}/logs`: the container's tty flag and its log
    /// entries. With `follow`, entries keep coming until the container stops
    /// or `gone` says the client left. Blocking.
    pub fn logs(
        &self,
        name: &str,
        mut rc: logger::ReadConfig,
        gone: Box<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<(bool, logger::LogIter), EngineError> {
        let c = self.get(name)?;
        let r = c.record();
        let lc = &r.host_config.log_config;
        let cfg = logger::validate(&lc.kind, &lc.config)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        let info = logger::ContainerInfo {
            id: r.id.clone(),
            name: r.name.trim_start_matches('/').to_string(),
            image_name: r.config.image.clone().unwrap_or_default(),
            image_id: r.image.clone(),
            labels: r.config.labels.clone().unwrap_or_default(),
            env: r.config.env.clone().unwrap_or_default(),
            daemon_name: "balena-engine".into(),
        };
        if !r.is_running() {
            rc.follow = false;
        }
        let rx = c.tx.subscribe();
        let stop = Box::new(move || gone() || !rx.borrow().running);
        let it = logger::read(&cfg, &info, &r.log_path, rc, stop).map_err(|e| match e {
            logger::LogError::ReadNotSupported => EngineError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ),
            other => EngineError::InvalidArgument(other.to_string()),
        })?;
        Ok((r.config.tty.unwrap_or(false), it))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(125), "2 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn status_strings() {
        let mut r = Record::default();
        r.state.status = Status::Created;
        assert_eq!(status_string(&r), "Created");
        r.state.status = Status::Exited;
        r.state.exit_code = 3;
        r.state.finished_at = super::super::now_rfc3339();
        assert_eq!(status_string(&r), "Exited (3) Less than a second ago");
    }

    #[test]
    fn name_filters_match_like_dockers_regexp() {
        assert!(crate::filters::name_matches("web", "my-web-1"));
        assert!(crate::filters::name_matches("^web", "web-1"));
        assert!(!crate::filters::name_matches("^web$", "web-1"));
    }
}
