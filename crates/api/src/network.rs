//! Network models: `/networks` bodies and the per-network endpoint settings
//! that containers carry (`NetworkingConfig.EndpointsConfig`,
//! `NetworkSettings.Networks`).
//!
//! Tolerant readers as in [`crate::container`]: absent or `null` fields read
//! as defaults, unknown fields are ignored. Writers emit every field Docker
//! 20.10 emits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::null_default;

/// `IPAM.Config[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// CIDR, e.g. `172.18.0.0/16`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    /// Sub-range addresses are allocated from.
    #[serde(
        rename = "IPRange",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    /// Gateway address (the bridge's address).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    /// Addresses kept out of allocation, by host name (Docker's JSON name
    /// is `AuxiliaryAddresses`).
    #[serde(
        rename = "AuxiliaryAddresses",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: BTreeMap<String, String>,
}

/// A network's `IPAM`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// Only `default` is supported.
    #[serde(default, deserialize_with = "null_default")]
    pub driver: String,
    /// Driver options.
    #[serde(default, deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    /// Pools; empty means one picked from the default pools.
    #[serde(default, deserialize_with = "null_default")]
    pub config: Vec<IpamConfig>,
}

/// `POST /networks/create` body (also what the CLI sends).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    /// The network's name (required).
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Refuse a name that exists (Docker always refuses for local networks).
    #[serde(default, deserialize_with = "null_default")]
    pub check_duplicate: bool,
    /// `bridge` (default), `host`, `null`; others are refused.
    #[serde(default, deserialize_with = "null_default")]
    pub driver: String,
    /// No outbound route, no NAT.
    #[serde(default, deserialize_with = "null_default")]
    pub internal: bool,
    /// Accepted and reported (swarm's meaning does not apply).
    #[serde(default, deserialize_with = "null_default")]
    pub attachable: bool,
    /// Refused (swarm).
    #[serde(default, deserialize_with = "null_default")]
    pub ingress: bool,
    /// `local` or empty; `swarm`/`global` have no meaning without swarm.
    #[serde(default, deserialize_with = "null_default")]
    pub scope: String,
    /// A configuration-only network (`--config-only`); not supported.
    #[serde(default, deserialize_with = "null_default")]
    pub config_only: bool,
    /// Take the configuration of a config-only network (`--config-from`);
    /// not supported.
    #[serde(default, deserialize_with = "null_default")]
    pub config_from: Option<ConfigReference>,
    /// Addressing.
    #[serde(rename = "IPAM", default, deserialize_with = "null_default")]
    pub ipam: Option<Ipam>,
    /// Refused for now with a clear error.
    #[serde(rename = "EnableIPv6", default, deserialize_with = "null_default")]
    pub enable_ipv6: bool,
    /// Driver options (`com.docker.network.bridge.name`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    /// User labels.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// `ConfigFrom` of a network create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// The config-only network's name.
    #[serde(default, deserialize_with = "null_default")]
    pub network: String,
}

/// `POST /networks/create` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateResponse {
    /// The new network's id.
    pub id: String,
    /// Warnings (empty string when none, as Docker).
    #[serde(default)]
    pub warning: String,
}

/// A container on a network, in `GET /networks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    /// Container name (without the leading slash).
    pub name: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// MAC address.
    pub mac_address: String,
    /// `a.b.c.d/len`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Empty (no IPv6).
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `GET /networks` entry and `GET /networks/{id}` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// Name.
    pub name: String,
    /// 64-hex id.
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// Always false.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Addressing.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No outbound route.
    pub internal: bool,
    /// As created.
    pub attachable: bool,
    /// Always false.
    pub ingress: bool,
    /// `{"Network": ""}` as Docker 20.10 reports it.
    pub config_from: BTreeMap<String, String>,
    /// Always false.
    pub config_only: bool,
    /// Containers on the network, by container id (empty in lists).
    pub containers: BTreeMap<String, NetworkContainer>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// User labels.
    pub labels: BTreeMap<String, String>,
}

/// `EndpointSettings.IPAMConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointIpamConfig {
    /// Static IPv4 address (`--ip`).
    #[serde(
        rename = "IPv4Address",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    /// Refused when set.
    #[serde(
        rename = "IPv6Address",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    /// Ignored.
    #[serde(
        rename = "LinkLocalIPs",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link_local_ips: Vec<String>,
}

/// A container's settings on one network: what a client asks for in
/// `NetworkingConfig.EndpointsConfig` or `connect`, and what inspect shows
/// in `NetworkSettings.Networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// Static address request.
    #[serde(rename = "IPAMConfig", default, deserialize_with = "null_default")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// Legacy links, `name:alias`.
    #[serde(default, deserialize_with = "null_default")]
    pub links: Option<Vec<String>>,
    /// Network-scoped aliases.
    #[serde(default, deserialize_with = "null_default")]
    pub aliases: Option<Vec<String>>,
    /// Network id.
    #[serde(rename = "NetworkID", default, deserialize_with = "null_default")]
    pub network_id: String,
    /// Endpoint id (64 hex).
    #[serde(rename = "EndpointID", default, deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// Gateway.
    #[serde(default, deserialize_with = "null_default")]
    pub gateway: String,
    /// Address.
    #[serde(rename = "IPAddress", default, deserialize_with = "null_default")]
    pub ip_address: String,
    /// Prefix length.
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "null_default")]
    pub ip_prefix_len: u8,
    /// Empty.
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    /// Empty.
    #[serde(
        rename = "GlobalIPv6Address",
        default,
        deserialize_with = "null_default"
    )]
    pub global_ipv6_address: String,
    /// Zero.
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        default,
        deserialize_with = "null_default"
    )]
    pub global_ipv6_prefix_len: u8,
    /// MAC address.
    #[serde(default, deserialize_with = "null_default")]
    pub mac_address: String,
    /// Driver options.
    #[serde(default, deserialize_with = "null_default")]
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// `NetworkingConfig` of a container create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkingConfig {
    /// Network name or id → settings.
    #[serde(default, deserialize_with = "null_default")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    /// Container id or name.
    #[serde(default, deserialize_with = "null_default")]
    pub container: String,
    /// Aliases, static address, links.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDisconnectRequest {
    /// Container id or name.
    #[serde(default, deserialize_with = "null_default")]
    pub container: String,
    /// Disconnect even if the container is gone.
    #[serde(default, deserialize_with = "null_default")]
    pub force: bool,
}

/// `POST /networks/prune` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneResponse {
    /// Names of removed networks (Docker sends `null` for none).
    #[serde(default, deserialize_with = "null_default")]
    pub networks_deleted: Vec<String>,
}

/// `NetworkSettings.Ports` value entry (`HostIp`, `HostPort`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// Host address, `0.0.0.0` for all.
    #[serde(default, deserialize_with = "null_default")]
    pub host_ip: String,
    /// Host port as a string (a range `8000-8010` in requests).
    #[serde(default, deserialize_with = "null_default")]
    pub host_port: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_reads_nulls_and_ignores_unknown_fields() {
        let r: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"n","IPAM":{"Driver":null,"Config":[{"Subnet":"10.1.0.0/24"}]},
                "Options":null,"Labels":{"a":"b"},"Whatever":1}"#,
        )
        .unwrap();
        assert_eq!(r.name, "n");
        assert_eq!(r.ipam.unwrap().config[0].subnet, "10.1.0.0/24");
        assert_eq!(r.labels["a"], "b");
        assert!(r.options.is_empty());
    }

    #[test]
    fn endpoint_settings_round_trip_with_dockers_names() {
        let e = EndpointSettings {
            ip_address: "172.18.0.2".into(),
            ip_prefix_len: 16,
            network_id: "abc".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["IPAddress"], "172.18.0.2");
        assert_eq!(v["IPPrefixLen"], 16);
        assert_eq!(v["NetworkID"], "abc");
        assert!(v["Aliases"].is_null());
        let back: EndpointSettings = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ipam_config_uses_dockers_auxiliary_addresses_name() {
        let c: IpamConfig = serde_json::from_str(
            r#"{"Subnet":"10.1.0.0/24","IPRange":"10.1.0.128/25","Gateway":"10.1.0.1",
                "AuxiliaryAddresses":{"host1":"10.1.0.5"}}"#,
        )
        .unwrap();
        assert_eq!(c.aux_addresses["host1"], "10.1.0.5");
        assert_eq!(c.ip_range, "10.1.0.128/25");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["AuxiliaryAddresses"]["host1"], "10.1.0.5");
        // Empty fields are left out, as Go's omitempty does.
        let v = serde_json::to_value(IpamConfig {
            subnet: "10.2.0.0/16".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"Subnet": "10.2.0.0/16"}));
    }

    #[test]
    fn ipam_serializes_in_dockers_field_order() {
        let s = serde_json::to_string(&Ipam {
            driver: "default".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s, r#"{"Driver":"default","Options":{},"Config":[]}"#);
    }

    #[test]
    fn create_request_carries_scope_and_config_from() {
        let r: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"n","Scope":"swarm","ConfigOnly":true,"ConfigFrom":{"Network":"cfg"}}"#,
        )
        .unwrap();
        assert_eq!(r.scope, "swarm");
        assert!(r.config_only);
        assert_eq!(r.config_from.unwrap().network, "cfg");
        let r: NetworkCreateRequest =
            serde_json::from_str(r#"{"Name":"n","ConfigFrom":null}"#).unwrap();
        assert!(r.config_from.is_none());
    }

    #[test]
    fn connect_request_leaves_out_an_absent_endpoint_config() {
        let v = serde_json::to_value(NetworkConnectRequest {
            container: "c".into(),
            endpoint_config: None,
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"Container": "c"}));
    }

    #[test]
    fn prune_response_reads_null_as_empty() {
        let r: NetworkPruneResponse = serde_json::from_str(r#"{"NetworksDeleted":null}"#).unwrap();
        assert!(r.networks_deleted.is_empty());
    }
}
