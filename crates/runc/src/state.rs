//! runc's output formats: the `state`/`list` JSON document, Go's RFC 3339 time format and
//! the `list` table (Go `text/tabwriter` with minwidth 12, padding 3).
//!
//! Also the applet's sidecar file kept next to libcontainer's `state.json`, holding what
//! runc reports but libcontainer does not store (rootfs, the config's ociVersion) and the
//! cgroup parent directories this applet created (libcontainer only removes the leaf).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Name of the sidecar file inside `<root>/<id>/`.
pub(crate) const SIDECAR: &str = "balena-runc.json";

/// Errors reading or writing the sidecar file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encode sidecar {path}: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// One container as runc prints it (`state`, `list --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RuncState {
    #[serde(rename = "ociVersion")]
    pub(crate) oci_version: String,
    pub(crate) id: String,
    pub(crate) pid: i32,
    pub(crate) status: String,
    pub(crate) bundle: String,
    pub(crate) rootfs: String,
    pub(crate) created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) annotations: Option<HashMap<String, String>>,
    pub(crate) owner: String,
}

/// What the applet stores beside libcontainer's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    pub(crate) oci_version: String,
    pub(crate) rootfs: PathBuf,
    /// Cgroup directories created for this container's parents, deepest first.
    pub(crate) created_cgroup_parents: Vec<PathBuf>,
}

impl Sidecar {
    /// Reads the sidecar of a container dir; a missing or corrupt one reads as default.
    pub(crate) fn load(container_dir: &Path) -> Self {
        std::fs::read(container_dir.join(SIDECAR))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, container_dir: &Path) -> Result<(), StateError> {
        let path = container_dir.join(SIDECAR);
        let data = serde_json::to_vec(self).map_err(|source| StateError::Encode {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, data).map_err(|source| StateError::Write { path, source })
    }

    /// Removes the recorded cgroup parents that are now empty (rmdir fails otherwise).
    pub(crate) fn remove_cgroup_parents(&self) {
        for dir in &self.created_cgroup_parents {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Formats a time like Go's `time.RFC3339Nano` (fraction with trailing zeros trimmed).
pub(crate) fn go_rfc3339_nano(t: &DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Go's zero `time.Time` in RFC 3339, printed by runc when no creation time is known.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Renders runc's `list` table (Go tabwriter: minwidth 12, tabwidth 1, padding 3, ' ').
pub(crate) fn list_table(items: &[RuncState]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let mut rows: Vec<[String; 6]> = vec![header];
    for s in items {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.clone(),
            s.bundle.clone(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (cell, w) in row.iter().zip(widths.iter()) {
            out.push_str(cell);
            out.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> RuncState {
        RuncState {
            oci_version: "1.0.2-dev".into(),
            id: "c1".into(),
            pid: 42,
            status: "running".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-02T03:04:05.5Z".into(),
            annotations: None,
            owner: "root".into(),
        }
    }

    #[test]
    fn go_time_trims_trailing_zeros() {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time")
            .with_nanosecond(120_000_000)
            .expect("ns");
        assert_eq!(go_rfc3339_nano(&t), "2026-01-02T03:04:05.12Z");
        let t0 = t.with_nanosecond(0).expect("ns");
        assert_eq!(go_rfc3339_nano(&t0), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn empty_table_is_header_only_like_runc() {
        assert_eq!(
            list_table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }

    #[test]
    fn table_pads_to_longest_cell_plus_three() {
        let mut s = sample();
        s.bundle = "/a/very/long/bundle/path".into();
        let t = list_table(&[s]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "ID          PID         STATUS      BUNDLE                     CREATED                  OWNER"
        );
        assert!(
            lines[1].starts_with("c1          42          running     /a/very/long/bundle/path   ")
        );
        assert!(lines[1].ends_with("Z   root"));
    }

    #[test]
    fn state_json_has_runc_field_order() {
        let j = serde_json::to_string(&sample()).expect("json");
        assert_eq!(
            j,
            r#"{"ociVersion":"1.0.2-dev","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-02T03:04:05.5Z","owner":"root"}"#
        );
    }

    #[test]
    fn sidecar_round_trips_and_missing_reads_default() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(Sidecar::load(dir.path()), Sidecar::default());
        let s = Sidecar {
            oci_version: "1.0.2".into(),
            rootfs: "/r".into(),
            created_cgroup_parents: vec!["/sys/fs/cgroup/pids/x".into()],
        };
        s.save(dir.path()).expect("save");
        assert_eq!(Sidecar::load(dir.path()), s);
    }
}
