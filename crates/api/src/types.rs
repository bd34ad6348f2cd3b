//! Response bodies of the system endpoints, field for field as Docker 20.10
//! sends them. Every struct reads tolerantly (`default`, unknown fields
//! ignored) so the CLI also works against other Docker-compatible daemons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    pub platform: Platform,
    pub components: Vec<ComponentVersion>,
    /// balenaEngine's marker, read by the balena CLI and supervisor.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub engine: String,
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion", skip_serializing_if = "String::is_empty")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub build_time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub kernel_memory: bool,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: i64,
    pub oom_kill_disable: bool,
    pub n_goroutines: i64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroup_version: String,
    pub n_events_listener: i64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    pub registry_config: Option<RegistryConfig>,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub generic_resources: Option<Vec<serde_json::Value>>,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_address_pools: Option<Vec<AddressPool>>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    #[serde(rename = "AllowNondistributableArtifactsCIDRs")]
    pub allow_nondistributable_artifacts_cidrs: Vec<String>,
    pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    pub index_configs: BTreeMap<String, IndexInfo>,
    pub mirrors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
    #[serde(rename = "runtimeArgs", skip_serializing_if = "Option::is_none")]
    pub runtime_args: Option<Vec<String>>,
}

/// Swarm is left out on purpose: the node is always "inactive".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".to_string(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    pub expected: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressPool {
    pub base: String,
    pub size: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_uses_docker_field_names() {
        let info = SystemInfo {
            id: "x".into(),
            ncpu: 2,
            ipv4_forwarding: true,
            ..Default::default()
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["ID"], "x");
        assert_eq!(v["NCPU"], 2);
        assert_eq!(v["IPv4Forwarding"], true);
        assert!(v.get("CpuCfsPeriod").is_some());
        assert!(v.get("BridgeNfIp6tables").is_some());
        assert!(v.get("KernelMemoryTCP").is_some());
        assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
        assert_eq!(v["Swarm"]["NodeID"], "");
    }

    #[test]
    fn version_reads_a_real_docker_answer() {
        let body = r#"{"Platform":{"Name":"Docker Engine - Community"},
            "Components":[{"Name":"Engine","Version":"20.10.24",
            "Details":{"ApiVersion":"1.41","MinAPIVersion":"1.12"}}],
            "Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12",
            "GitCommit":"5d6db84","GoVersion":"go1.19.9","Os":"linux",
            "Arch":"amd64","KernelVersion":"6.1.0","BuildTime":"2023-05-16T08:00:00.000000000+00:00",
            "SomethingNew":1}"#;
        let v: SystemVersion = serde_json::from_str(body).unwrap();
        assert_eq!(v.api_version, "1.41");
        assert_eq!(v.components[0].name, "Engine");
        assert_eq!(v.engine, "");
        assert!(!v.experimental);
    }

    #[test]
    fn version_omits_empty_optional_fields() {
        let v = SystemVersion {
            version: "1".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert!(j.get("Experimental").is_none());
        assert!(j.get("KernelVersion").is_none());
        assert!(j.get("Engine").is_none());
        assert_eq!(j["ApiVersion"], "");
    }
}
