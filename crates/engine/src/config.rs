//! The engine's configuration, already merged from flags and daemon.json
//! and validated by the daemon. Later features read their settings here.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything the engine is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub storage_driver: String,
    pub storage_opts: Vec<String>,
    /// The read-only store used to find delta bases (`--delta-data-root`).
    pub delta_data_root: Option<PathBuf>,
    pub delta_storage_driver: Option<String>,
    pub delta_storage_opts: Vec<String>,
    pub experimental: bool,
    pub debug: bool,
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    pub labels: Vec<String>,
    pub live_restore: bool,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    /// Per-registry TLS material (`certs.d/HOST[:PORT]/`).
    pub certs_dir: PathBuf,
    pub max_concurrent_downloads: u32,
    pub max_concurrent_uploads: u32,
    pub max_download_attempts: u32,
    pub bridge: BridgeConfig,
    pub default_runtime: String,
    pub init_binary: String,
    pub seccomp_profile: Option<PathBuf>,
    pub no_new_privileges: bool,
    pub default_address_pools: Vec<(String, u8)>,
    pub shutdown_timeout_secs: u32,
}

/// The default bridge network's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BridgeConfig {
    /// `--bridge`; `balena0` when empty, `none` disables it.
    pub name: String,
    /// `--bip`: the bridge's address and prefix, such as `172.17.0.1/16`.
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    pub iptables: bool,
    pub ip_forward: bool,
    pub ip_masq: bool,
    pub icc: bool,
    pub userland_proxy: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            data_root: PathBuf::from("/var/lib/balena-engine"),
            exec_root: PathBuf::from("/var/run/balena-engine"),
            storage_driver: "overlay2".to_string(),
            storage_opts: Vec::new(),
            delta_data_root: None,
            delta_storage_driver: None,
            delta_storage_opts: Vec::new(),
            experimental: false,
            debug: false,
            log_driver: "json-file".to_string(),
            log_opts: BTreeMap::new(),
            labels: Vec::new(),
            live_restore: false,
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
            certs_dir: PathBuf::from("/etc/balena-engine/certs.d"),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            max_download_attempts: 5,
            bridge: BridgeConfig {
                name: "balena0".to_string(),
                iptables: true,
                ip_forward: true,
                ip_masq: true,
                icc: true,
                userland_proxy: true,
                ..Default::default()
            },
            default_runtime: "runc".to_string(),
            init_binary: "balena-engine-init".to_string(),
            seccomp_profile: None,
            no_new_privileges: false,
            default_address_pools: Vec::new(),
            shutdown_timeout_secs: 15,
        }
    }
}
