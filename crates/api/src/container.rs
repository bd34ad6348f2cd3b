//! Container models: the create request (`Config` + `HostConfig`), inspect,
//! list, wait and exec bodies.
//!
//! Tolerant readers: every field may be absent or `null`, strings may stand
//! for one-element lists where Docker accepts that, and unknown fields are
//! ignored. Writers emit every field Docker emits, so clients that index
//! into the JSON find what they expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` reads as the type's default.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list that may also be given as one string.
pub fn str_or_list<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<Option<String>>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::One(s)) => Some(vec![s]),
        Some(Either::Many(v)) => Some(v.into_iter().map(Option::unwrap_or_default).collect()),
    })
}

/// A restart policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Retries for `on-failure`.
    #[serde(default, deserialize_with = "null_default")]
    pub maximum_retry_count: i64,
}

/// A log driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// Driver name; empty means the daemon's default.
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// Options.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

/// A `--device` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// Host path.
    #[serde(default, deserialize_with = "null_default")]
    pub path_on_host: String,
    /// Path in the container (defaults to the host path).
    #[serde(default, deserialize_with = "null_default")]
    pub path_in_container: String,
    /// `rwm` subset.
    #[serde(default, deserialize_with = "null_default")]
    pub cgroup_permissions: String,
}

/// A `--ulimit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// Name (`nofile`).
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Soft limit.
    #[serde(default, deserialize_with = "null_default")]
    pub soft: i64,
    /// Hard limit.
    #[serde(default, deserialize_with = "null_default")]
    pub hard: i64,
}

/// `--mount` options for binds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// Propagation mode.
    #[serde(default, deserialize_with = "null_default")]
    pub propagation: String,
    /// Do not bind submounts.
    #[serde(default, deserialize_with = "null_default")]
    pub non_recursive: bool,
}

/// `--mount` options for volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    #[serde(default, deserialize_with = "null_default")]
    pub no_copy: bool,
    /// Labels of a volume created for this mount.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Driver of a volume created for this mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<Value>,
}

/// `--mount` options for tmpfs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size in bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub size_bytes: i64,
    /// Permission bits.
    #[serde(default, deserialize_with = "null_default")]
    pub mode: u32,
}

/// One `--mount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    /// Container path.
    #[serde(default, deserialize_with = "null_default")]
    pub target: String,
    /// Host path or volume name.
    #[serde(default, deserialize_with = "null_default")]
    pub source: String,
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// Read-only.
    #[serde(default, deserialize_with = "null_default")]
    pub read_only: bool,
    /// `z`/`Z` (ignored without SELinux).
    #[serde(default, deserialize_with = "null_default")]
    pub consistency: String,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Docker's `HostConfig` (v1.41), the settings a container is run with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct HostConfig {
    #[serde(default, deserialize_with = "null_default")]
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", default, deserialize_with = "null_default")]
    pub container_id_file: String,
    #[serde(default, deserialize_with = "null_default")]
    pub log_config: LogConfig,
    #[serde(default, deserialize_with = "null_default")]
    pub network_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub port_bindings: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    #[serde(default, deserialize_with = "null_default")]
    pub auto_remove: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub volume_driver: String,
    #[serde(default, deserialize_with = "null_default")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub mounts: Option<Vec<Mount>>,
    #[serde(default, deserialize_with = "str_or_list")]
    pub cap_add: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_or_list")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub dns: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub dns_options: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub dns_search: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub group_add: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub ipc_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub cgroup: String,
    #[serde(default, deserialize_with = "null_default")]
    pub links: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub oom_score_adj: i32,
    #[serde(default, deserialize_with = "null_default")]
    pub pid_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub security_opt: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", default, deserialize_with = "null_default")]
    pub uts_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub userns_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub shm_size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(default, deserialize_with = "null_default")]
    pub console_size: [u16; 2],
    #[serde(default, deserialize_with = "null_default")]
    pub isolation: String,
    // Resources.
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_shares: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cgroup_parent: String,
    #[serde(default, deserialize_with = "null_default")]
    pub blkio_weight: u16,
    #[serde(default, deserialize_with = "null_default")]
    pub blkio_weight_device: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub blkio_device_read_bps: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub blkio_device_write_bps: Vec<Value>,
    #[serde(
        rename = "BlkioDeviceReadIOps",
        default,
        deserialize_with = "null_default"
    )]
    pub blkio_device_read_iops: Vec<Value>,
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        default,
        deserialize_with = "null_default"
    )]
    pub blkio_device_write_iops: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_period: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_quota: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_realtime_period: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_realtime_runtime: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    #[serde(default, deserialize_with = "null_default")]
    pub cpuset_mems: String,
    #[serde(default, deserialize_with = "null_default")]
    pub devices: Vec<DeviceMapping>,
    #[serde(default, deserialize_with = "null_default")]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub device_requests: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "null_default")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP", default, deserialize_with = "null_default")]
    pub kernel_memory_tcp: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_reservation: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_swap: i64,
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub nano_cpus: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub oom_kill_disable: bool,
    #[serde(default)]
    pub init: Option<bool>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_count: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", default, deserialize_with = "null_default")]
    pub io_maximum_iops: i64,
    #[serde(
        rename = "IOMaximumBandwidth",
        default,
        deserialize_with = "null_default"
    )]
    pub io_maximum_bandwidth: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub readonly_paths: Option<Vec<String>>,
    /// balena (`--cidenv NAME`): the name of an env variable that receives
    /// the container's id.
    #[serde(rename = "ContainerIDEnv", default, deserialize_with = "null_default")]
    pub container_id_env: String,
}

/// `POST /containers/create` body: `Config` fields at the top level plus
/// `HostConfig` and `NetworkingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    /// The container's settings.
    #[serde(flatten)]
    pub config: Value,
    /// Host settings.
    #[serde(default, deserialize_with = "null_default")]
    pub host_config: HostConfig,
    /// Networks (kept for the networking issue).
    #[serde(default, deserialize_with = "null_default")]
    pub networking_config: Value,
}

/// `POST /containers/create` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    /// The new container's id.
    pub id: String,
    /// Warnings (never null).
    #[serde(default, deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// A health check's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// The last results.
    #[serde(default, deserialize_with = "null_default")]
    pub log: Vec<Value>,
}

/// A container's `State`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `POST /containers/{id}/wait` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    /// Exit code.
    pub status_code: i64,
    /// Set when waiting failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

/// The error of a wait.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    /// What went wrong.
    pub message: String,
}

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct ExecConfig {
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub detach_keys: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub env: Vec<String>,
    #[serde(default, deserialize_with = "str_or_list")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_default")]
    pub working_dir: String,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartConfig {
    /// Run without a stream.
    #[serde(default, deserialize_with = "null_default")]
    pub detach: bool,
    /// Whether a tty was allocated (informational).
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_config_reads_nulls_and_strings() {
        let h: HostConfig = serde_json::from_str(
            r#"{"Binds":null,"CapAdd":"NET_ADMIN","Memory":null,"RestartPolicy":null,
                "PidsLimit":null,"Devices":null,"LogConfig":{"Type":"json-file","Config":null},
                "UTSMode":"host","Unknown":1}"#,
        )
        .unwrap();
        assert_eq!(h.binds, None);
        assert_eq!(h.cap_add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(h.memory, 0);
        assert_eq!(h.pids_limit, None);
        assert_eq!(h.log_config.kind, "json-file");
        assert_eq!(h.uts_mode, "host");
    }

    #[test]
    fn create_request_keeps_config_fields() {
        let r: CreateRequest = serde_json::from_str(
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Privileged":true}}"#,
        )
        .unwrap();
        assert_eq!(r.config["Image"], "busybox");
        assert!(r.host_config.privileged);
    }

    #[test]
    fn state_serialises_docker_names() {
        let s = serde_json::to_value(ContainerState {
            oom_killed: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s["OOMKilled"], true);
        assert!(s.get("Health").is_none());
    }
}
