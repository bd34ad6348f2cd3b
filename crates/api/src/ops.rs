//! Bodies of `GET /containers/{id}/stats`, `/top`, `POST /update` and
//! `/containers/prune`.
//!
//! The stats document is Docker's `types.StatsJSON` as Go encodes it:
//! struct members are always present, scalar members tagged `omitempty`
//! are left out when zero, block I/O lists are `null` when empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::{null_default, RestartPolicy};

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// Go's zero time, as Docker prints `read`/`preread` of a stopped container.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn zero_time() -> String {
    ZERO_TIME.to_string()
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingData {
    #[serde(default)]
    pub periods: u64,
    #[serde(default)]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(default)]
    pub throttled_time: u64,
}

/// CPU time used, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default)]
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    #[serde(default)]
    pub usage_in_kernelmode: u64,
    #[serde(default)]
    pub usage_in_usermode: u64,
}

/// `cpu_stats` and `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    /// The host's CPU time from /proc/stat, in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    /// `memory.stat` counters (v1 names, or v2 names on cgroup v2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStatEntry {
    #[serde(default)]
    pub major: u64,
    #[serde(default)]
    pub minor: u64,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub value: u64,
}

/// `blkio_stats`: each list is `null` when the kernel gave nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// `storage_stats` (Windows only; always empty here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStats {}

/// One interface's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    #[serde(default)]
    pub rx_bytes: u64,
    #[serde(default)]
    pub rx_packets: u64,
    #[serde(default)]
    pub rx_errors: u64,
    #[serde(default)]
    pub rx_dropped: u64,
    #[serde(default)]
    pub tx_bytes: u64,
    #[serde(default)]
    pub tx_packets: u64,
    #[serde(default)]
    pub tx_errors: u64,
    #[serde(default)]
    pub tx_dropped: u64,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// One document of `GET /containers/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsJson {
    /// RFC 3339 with nanoseconds.
    #[serde(default = "zero_time")]
    pub read: String,
    #[serde(default = "zero_time")]
    pub preread: String,
    #[serde(default)]
    pub pids_stats: PidsStats,
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    /// Windows only: always 0.
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    #[serde(default)]
    pub cpu_stats: CpuStats,
    #[serde(default)]
    pub precpu_stats: CpuStats,
    #[serde(default)]
    pub memory_stats: MemoryStats,
    /// With the leading `/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Per interface of the container's network namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkStats>,
}

impl Default for StatsJson {
    fn default() -> Self {
        Self {
            read: zero_time(),
            preread: zero_time(),
            pids_stats: Default::default(),
            blkio_stats: Default::default(),
            num_procs: 0,
            storage_stats: Default::default(),
            cpu_stats: Default::default(),
            precpu_stats: Default::default(),
            memory_stats: Default::default(),
            name: String::new(),
            id: String::new(),
            networks: BTreeMap::new(),
        }
    }
}

/// `GET /containers/{id}/top` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    #[serde(default, deserialize_with = "null_default")]
    pub titles: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/{id}/update` body: the resources of `HostConfig` and
/// the restart policy. Zero means "unchanged", as in Docker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UpdateConfig {
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_shares: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub blkio_weight: u16,
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
    pub kernel_memory: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_reservation: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_swap: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub nano_cpus: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
}

/// `POST /containers/{id}/update` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResponse {
    #[serde(default, deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `POST /containers/prune` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneResponse {
    /// Ids of removed containers (`null` for none, as Docker sends).
    #[serde(default, deserialize_with = "null_default")]
    pub containers_deleted: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_stats_document_is_encoded_as_go_does() {
        let s = StatsJson {
            name: "/x".into(),
            id: "abc".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["read"], ZERO_TIME);
        assert_eq!(v["preread"], ZERO_TIME);
        assert_eq!(v["pids_stats"], serde_json::json!({}));
        assert_eq!(v["memory_stats"], serde_json::json!({}));
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"],
            serde_json::Value::Null
        );
        assert!(v["blkio_stats"]
            .as_object()
            .unwrap()
            .contains_key("io_queue_recursive"));
        assert_eq!(
            v["cpu_stats"],
            serde_json::json!({
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            })
        );
        assert_eq!(v["num_procs"], 0);
        assert!(v.get("networks").is_none());
        assert_eq!(v["name"], "/x");
    }

    #[test]
    fn stats_documents_round_trip() {
        let mut s = StatsJson::default();
        s.cpu_stats.cpu_usage.percpu_usage = vec![1, 2];
        s.cpu_stats.system_cpu_usage = 5;
        s.networks.insert("eth0".into(), NetworkStats::default());
        let back: StatsJson = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn update_config_reads_docker_cli_bodies() {
        let u: UpdateConfig = serde_json::from_str(
            r#"{"Memory":20971520,"MemorySwap":null,"CpuShares":512,"PidsLimit":null,
                "RestartPolicy":{"Name":"always","MaximumRetryCount":0},"Unknown":1}"#,
        )
        .unwrap();
        assert_eq!(u.memory, 20 << 20);
        assert_eq!(u.memory_swap, 0);
        assert_eq!(u.cpu_shares, 512);
        assert_eq!(u.pids_limit, None);
        assert_eq!(u.restart_policy.name, "always");
    }

    #[test]
    fn prune_reports_null_for_none() {
        let r = ContainerPruneResponse::default();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"ContainersDeleted":null,"SpaceReclaimed":0}"#
        );
    }
}
