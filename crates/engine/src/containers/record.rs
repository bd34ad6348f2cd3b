//! What the engine keeps about a container, on disk as
//! `<data-root>/containers/<id>/container.json`.

use std::path::{Path, PathBuf};

use api::container::HostConfig;
use image::config::ContainerConfig;
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// The record's file name in the container's directory.
pub const RECORD_FILE: &str = "container.json";

/// Lifecycle states, with Docker's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started (or failed to start).
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Waiting to be started again by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be removed.
    Dead,
}

impl Status {
    /// Docker's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// The run state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    /// RFC 3339 with nanoseconds; Go's zero time when never.
    pub started_at: String,
    pub finished_at: String,
    /// Stopped by the user (stop/kill through the API): the restart policy
    /// does not apply.
    #[serde(default)]
    pub manually_stopped: bool,
}

/// Go's zero time, as Docker prints a time that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Everything the engine persists about one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With the leading `/`, as Docker stores it.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// `sha256:…`.
    pub image: String,
    pub state: RunState,
    pub restart_count: i64,
    pub driver: String,
    pub log_path: PathBuf,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// Number of times started (for `next-exit` waits).
    #[serde(default)]
    pub runs: u64,
    /// Networks by name: what the container asked for and, while it runs,
    /// its address on each (`NetworkSettings.Networks`).
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, api::network::EndpointSettings>,
    /// The kernel side of its networking, for teardown and restore.
    #[serde(default)]
    pub net: crate::networks::NetRuntime,
    /// Binds, volumes and `--mount` tmpfs by destination (Docker's
    /// `MountPoints`): the source of the spec's mounts and inspect's `Mounts`.
    #[serde(default)]
    pub mount_points: Vec<crate::volumes::MountPoint>,
    /// The health check's state (`State.Health`); kept in memory and in
    /// the exec root, never in this file (see `health`).
    #[serde(skip)]
    pub health: Option<super::health::Health>,
}

impl Record {
    /// Reads a record; `None` when the file is absent.
    pub fn load(dir: &Path) -> Result<Option<Record>, EngineError> {
        read_json(&dir.join(RECORD_FILE))
    }

    /// Writes the record atomically and durably (at create: the container
    /// must exist after a power cut once the client was told it does).
    pub fn save(&self, dir: &Path) -> Result<(), EngineError> {
        let p = dir.join(RECORD_FILE);
        let b = serde_json::to_vec(self)
            .map_err(|e| EngineError::Corrupt(format!("encode container record: {e}")))?;
        store::fsutil::write_atomic_mode(&p, &b, 0o600).map_err(|source| EngineError::Io {
            op: "write",
            path: p,
            source,
        })
    }

    /// Writes the record atomically, without waiting for the disk: for
    /// run-state changes. After a power cut every container is stopped
    /// anyway, and its exit code comes from the shim's durable exit record,
    /// so an older state here loses nothing; and the rename never exposes a
    /// half-written file (ext4 flushes a file replaced by rename first).
    pub fn save_fast(&self, dir: &Path) -> Result<(), EngineError> {
        let p = dir.join(RECORD_FILE);
        let tmp = dir.join(format!(".{RECORD_FILE}.tmp"));
        let b = serde_json::to_vec(self)
            .map_err(|e| EngineError::Corrupt(format!("encode container record: {e}")))?;
        let io = |source| EngineError::Io {
            op: "write",
            path: p.clone(),
            source,
        };
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(&b).map_err(io)?;
        }
        std::fs::rename(&tmp, &p).map_err(io)
    }

    /// Short id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Whether a process is (believed) alive.
    pub fn is_running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Paused)
    }
}

/// Reads a JSON document; `None` when the file is absent.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    p: &Path,
) -> Result<Option<T>, EngineError> {
    match std::fs::read(p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| EngineError::Corrupt(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EngineError::Io {
            op: "read",
            path: p.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_disk() {
        let d = tempfile::tempdir().unwrap();
        let r = Record {
            id: "a".repeat(64),
            name: "/x".into(),
            state: RunState {
                status: Status::Exited,
                exit_code: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        r.save(d.path()).unwrap();
        assert_eq!(Record::load(d.path()).unwrap(), Some(r));
        assert_eq!(Record::load(&d.path().join("none")).unwrap(), None);
    }
}
