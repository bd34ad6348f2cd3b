//! Volume models: `/volumes` bodies (create, list, inspect, prune).
//!
//! Tolerant readers as in [`crate::container`]: absent or `null` fields read
//! as defaults, unknown fields are ignored. Writers emit what Docker 20.10
//! emits (`Labels` and `Options` are `null` when never given).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::null_default;

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateRequest {
    /// Empty: a generated 64-hex name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Empty: `local`.
    #[serde(default, deserialize_with = "null_default")]
    pub driver: String,
    /// Driver options (`type`, `device`, `o` for `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// User labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `UsageData` of a volume (system df).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    /// Bytes used, -1 when not computed.
    #[serde(default)]
    pub size: i64,
    /// Containers referencing the volume.
    #[serde(default)]
    pub ref_count: i64,
}

/// A volume as inspect and list show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// RFC 3339, seconds.
    #[serde(
        rename = "CreatedAt",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_at: String,
    #[serde(rename = "Driver", default, deserialize_with = "null_default")]
    pub driver: String,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Mountpoint", default, deserialize_with = "null_default")]
    pub mountpoint: String,
    #[serde(rename = "Name", default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Scope", default, deserialize_with = "null_default")]
    pub scope: String,
    /// Driver status (inspect only; `local` reports none).
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Size and references, only when asked (`system df`).
    #[serde(rename = "UsageData", default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// `GET /volumes` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    #[serde(default, deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumesPruneResponse {
    #[serde(default, deserialize_with = "null_default")]
    pub volumes_deleted: Vec<String>,
    #[serde(default)]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_serialize_with_dockers_field_names_and_nulls() {
        let v = Volume {
            created_at: "2024-01-02T03:04:05Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/balena-engine/volumes/a/_data".into(),
            name: "a".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["Labels"], serde_json::Value::Null);
        assert_eq!(j["Options"], serde_json::Value::Null);
        assert_eq!(j["Mountpoint"], "/var/lib/balena-engine/volumes/a/_data");
        assert!(j.get("UsageData").is_none());
        assert!(j.get("Status").is_none());
    }

    #[test]
    fn create_bodies_read_tolerantly() {
        let r: VolumeCreateRequest = serde_json::from_str(
            r#"{"Name":"v","Driver":null,"DriverOpts":{"type":"tmpfs"},"Labels":{"a":"b"},"X":1}"#,
        )
        .unwrap();
        assert_eq!(r.name, "v");
        assert_eq!(r.driver, "");
        assert_eq!(r.driver_opts.unwrap()["type"], "tmpfs");
        assert_eq!(r.labels.unwrap()["a"], "b");
        let p = VolumesPruneResponse::default();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"VolumesDeleted":[],"SpaceReclaimed":0}"#
        );
    }
}
