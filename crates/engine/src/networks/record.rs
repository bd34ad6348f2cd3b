//! What the engine keeps about a network, on disk as
//! `<data-root>/network/<id>.json`, and the settings derived from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Docker's bridge driver option names.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQ: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// A network as persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    /// As reported: the pool actually used, gateway filled in.
    pub ipam: api::network::Ipam,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// What a bridge network needs from its record, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSettings {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Ipv4Net>,
    pub aux: Vec<Ipv4Addr>,
    pub icc: bool,
    pub masquerade: bool,
    pub mtu: Option<u32>,
    /// Where published ports bind by default.
    pub host_binding: Ipv4Addr,
}

fn opt_bool(
    opts: &BTreeMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, EngineError> {
    match opts.get(key).map(|s| s.trim()) {
        None | Some("") => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(true),
            "0" | "f" | "false" => Ok(false),
            _ => Err(EngineError::InvalidArgument(format!(
                "failed to parse {key} value: invalid boolean {v:?}"
            ))),
        },
    }
}

impl NetRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// True for `bridge`, `host` and `none`.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// The bridge settings, for bridge networks.
    pub fn bridge_settings(&self) -> Result<BridgeSettings, EngineError> {
        let cfg = self.ipam.config.first().ok_or_else(|| {
            EngineError::Corrupt(format!("network {} has no address pool", self.name))
        })?;
        let subnet: Ipv4Net = cfg.subnet.parse().map_err(|_| {
            EngineError::Corrupt(format!(
                "network {}: bad subnet {:?}",
                self.name, cfg.subnet
            ))
        })?;
        let gateway: Ipv4Addr = cfg.gateway.parse().map_err(|_| {
            EngineError::Corrupt(format!(
                "network {}: bad gateway {:?}",
                self.name, cfg.gateway
            ))
        })?;
        let ip_range = match cfg.ip_range.as_str() {
            "" => None,
            r => Some(r.parse().map_err(|_| {
                EngineError::Corrupt(format!("network {}: bad ip range {r:?}", self.name))
            })?),
        };
        let aux = cfg
            .aux_addresses
            .values()
            .filter_map(|a| a.parse().ok())
            .collect();
        let mtu =
            match self.options.get(OPT_MTU).map(|s| s.trim()) {
                None | Some("") => None,
                Some(v) => Some(v.parse::<u32>().map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid MTU value {v:?}"))
                })?),
            };
        let host_binding = match self.options.get(OPT_HOST_BINDING).map(|s| s.trim()) {
            None | Some("") => Ipv4Addr::UNSPECIFIED,
            Some(v) => v.parse().map_err(|_| {
                EngineError::InvalidArgument(format!("invalid host binding address {v:?}"))
            })?,
        };
        Ok(BridgeSettings {
            bridge: self
                .options
                .get(OPT_BRIDGE_NAME)
                .filter(|s| !s.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("br-{}", &self.id[..12.min(self.id.len())])),
            subnet,
            gateway,
            ip_range,
            aux,
            icc: opt_bool(&self.options, OPT_ICC, true)?,
            masquerade: opt_bool(&self.options, OPT_MASQ, true)?,
            mtu,
            host_binding,
        })
    }

    pub fn load(path: &Path) -> Result<Option<NetRecord>, EngineError> {
        crate::containers::record::read_json(path)
    }

    pub fn save(&self, dir: &Path) -> Result<(), EngineError> {
        let p = dir.join(format!("{}.json", self.id));
        let b = serde_json::to_vec_pretty(self)
            .map_err(|e| EngineError::Corrupt(format!("encode network record: {e}")))?;
        store::fsutil::write_atomic(&p, &b).map_err(|source| EngineError::Io {
            op: "write",
            path: p,
            source,
        })
    }

    pub fn delete(&self, dir: &Path) -> Result<(), EngineError> {
        let p = dir.join(format!("{}.json", self.id));
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(EngineError::Io {
                op: "remove",
                path: p,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(opts: &[(&str, &str)]) -> NetRecord {
        NetRecord {
            id: "0123456789abcdef".repeat(4),
            name: "n".into(),
            driver: "bridge".into(),
            ipam: api::network::Ipam {
                driver: "default".into(),
                config: vec![api::network::IpamConfig {
                    subnet: "10.9.0.0/24".into(),
                    gateway: "10.9.0.1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn bridge_name_defaults_to_br_and_the_short_id() {
        let s = rec(&[]).bridge_settings().unwrap();
        assert_eq!(s.bridge, "br-0123456789ab");
        assert_eq!(s.subnet.to_string(), "10.9.0.0/24");
        assert_eq!(s.gateway, Ipv4Addr::new(10, 9, 0, 1));
        assert!(s.icc && s.masquerade);
        assert_eq!(s.mtu, None);
    }

    #[test]
    fn options_override_bridge_defaults() {
        let s = rec(&[
            (OPT_BRIDGE_NAME, "supervisor0"),
            (OPT_ICC, "false"),
            (OPT_MASQ, "0"),
            (OPT_MTU, "1400"),
        ])
        .bridge_settings()
        .unwrap();
        assert_eq!(s.bridge, "supervisor0");
        assert!(!s.icc && !s.masquerade);
        assert_eq!(s.mtu, Some(1400));
        assert!(rec(&[(OPT_ICC, "maybe")]).bridge_settings().is_err());
    }

    #[test]
    fn records_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let r = rec(&[]);
        r.save(d.path()).unwrap();
        let back = NetRecord::load(&d.path().join(format!("{}.json", r.id))).unwrap();
        assert_eq!(back, Some(r.clone()));
        r.delete(d.path()).unwrap();
        r.delete(d.path()).unwrap();
    }
}
