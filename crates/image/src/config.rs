//! Image configs (Docker and OCI): the JSON model, the raw bytes it came
//! from, and balena delta configs.
//!
//! The image id is the sha256 of the raw config bytes, so [`ImageConfig`]
//! keeps them next to the parsed document and computes the id from them; a
//! parsed document is never re-serialised to get an id. Unknown fields are
//! kept (`extra`) so a document built from a parsed one loses nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{chain_id, ChainId, DiffId, DigestError, ImageId};
use crate::platform::Platform;
use crate::serde_util::{key_set, null_default, serialize_key_set, str_slice, string_map};

/// Largest config accepted, in bytes (a delta config embeds a whole target config).
pub const MAX_CONFIG_SIZE: usize = 8 << 20;
/// Label holding a delta's basis image id.
pub const LABEL_DELTA_BASE: &str = "io.resin.delta.base";
/// Label holding the delta target's raw config JSON text.
pub const LABEL_DELTA_CONFIG: &str = "io.resin.delta.config";
/// The only `rootfs.type` Docker uses on Linux.
pub const ROOTFS_TYPE_LAYERS: &str = "layers";

/// Errors from parsing and building image configs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Larger than [`MAX_CONFIG_SIZE`].
    #[error("image config is too large: {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Config size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error("invalid image config json")]
    Json {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// No `rootfs` object (Docker: "invalid image JSON, no RootFS key").
    #[error("invalid image config: no rootfs key")]
    MissingRootfs,
    /// Only one of the two delta labels is present.
    #[error("incomplete delta config: label {missing} is missing")]
    IncompleteDelta {
        /// The missing label.
        missing: &'static str,
    },
    /// The delta base label is not an image id.
    #[error("parsing base image {value:?}")]
    InvalidDeltaBase {
        /// The label's value.
        value: String,
        /// Why it is not an image id.
        #[source]
        source: DigestError,
    },
    /// The target config is not UTF-8 text, so it cannot be put in a label.
    #[error("delta target config is not utf-8")]
    TargetNotUtf8 {
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The embedded delta target config does not parse.
    #[error("invalid delta target config")]
    InvalidDeltaTarget {
        /// Why.
        #[source]
        source: Box<ConfigError>,
    },
}

/// The image config document (Docker's `image.Image`, OCI's image config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// CPU architecture (`amd64`, `arm64`, `arm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Operating system (`linux`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features (Windows).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Creation time, RFC 3339 (kept as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Id of the container committed to make the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Config of that container (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    /// Docker version that built the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Parent image id (local builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The defaults for containers run from the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    /// Build history, one entry per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    /// Fields not modelled here, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The container defaults in an image config (Docker's `container.Config`;
/// OCI's `config` is a subset with the same names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `user[:group]` to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Attach stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    /// Attach stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    /// Attach stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    /// Exposed ports (`80/tcp`).
    #[serde(
        default,
        deserialize_with = "key_set",
        serialize_with = "serialize_key_set",
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<BTreeSet<String>>,
    /// Allocate a tty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    /// Close stdin after one attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    /// Environment, `KEY=value`.
    #[serde(
        default,
        deserialize_with = "str_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub env: Option<Vec<String>>,
    /// Default command (a string reads as a one-element list).
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Option<Vec<String>>,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Command already escaped (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// Image name as given by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Anonymous volumes (container paths).
    #[serde(
        default,
        deserialize_with = "key_set",
        serialize_with = "serialize_key_set",
        skip_serializing_if = "Option::is_none"
    )]
    pub volumes: Option<BTreeSet<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Entrypoint (a string reads as a one-element list).
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Networking disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// ONBUILD instructions.
    #[serde(
        default,
        deserialize_with = "str_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal to stop the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for shell-form commands.
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
    /// Fields not modelled here, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A list of strings whose `null` elements read as "" (as Go does).
fn str_list<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let v = Option::<Vec<Option<String>>>::deserialize(deserializer)?;
    Ok(v.map(|v| v.into_iter().map(Option::unwrap_or_default).collect()))
}

/// A health check (Docker's `HealthConfig`); durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]`, `["CMD", ...]`, `["CMD-SHELL", cmd]`.
    #[serde(
        default,
        deserialize_with = "str_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time before a check counts as hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Start-up grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Fields not modelled here, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The image's layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// Diff ids of the layers, bottom first.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub diff_ids: Vec<DiffId>,
    /// Fields not modelled here, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One build step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True if the step made no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Fields not modelled here, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ConfigFile {
    /// The diff ids, bottom first (empty without rootfs).
    pub fn diff_ids(&self) -> &[DiffId] {
        self.rootfs.as_ref().map_or(&[], |r| r.diff_ids.as_slice())
    }

    /// The image's labels, if any.
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.config.as_ref()?.labels.as_ref()
    }

    /// The platform the image is for (as written, not normalised).
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone().unwrap_or_default(),
            architecture: self.architecture.clone().unwrap_or_default(),
            variant: self.variant.clone().unwrap_or_default(),
            os_version: self.os_version.clone().unwrap_or_default(),
        }
    }
}

/// An image config: the raw bytes, the id computed from them, and the
/// parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    raw: Vec<u8>,
    id: ImageId,
    parsed: ConfigFile,
}

impl ImageConfig {
    /// Parses raw config bytes; the id is the sha256 of exactly these bytes.
    /// Requires a `rootfs` object, as Docker does.
    pub fn parse(raw: Vec<u8>) -> Result<ImageConfig, ConfigError> {
        if raw.len() > MAX_CONFIG_SIZE {
            return Err(ConfigError::TooLarge {
                size: raw.len(),
                limit: MAX_CONFIG_SIZE,
            });
        }
        let parsed: ConfigFile =
            serde_json::from_slice(&raw).map_err(|source| ConfigError::Json { source })?;
        if parsed.rootfs.is_none() {
            return Err(ConfigError::MissingRootfs);
        }
        let id = ImageId::from_config_bytes(&raw);
        Ok(ImageConfig { raw, id, parsed })
    }

    /// Makes a new config from a document (a commit, a build step, a
    /// delta): serialises it once, and those bytes are the config from now
    /// on. Never use this to recompute the id of an existing config.
    pub fn create(doc: &ConfigFile) -> Result<ImageConfig, ConfigError> {
        let raw = serde_json::to_vec(doc).map_err(|source| ConfigError::Json { source })?;
        ImageConfig::parse(raw)
    }

    /// The raw bytes, exactly as stored or received.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The raw bytes, consuming the config.
    pub fn into_raw(self) -> Vec<u8> {
        self.raw
    }

    /// The image id: sha256 of the raw bytes.
    pub fn id(&self) -> &ImageId {
        &self.id
    }

    /// The parsed document.
    pub fn parsed(&self) -> &ConfigFile {
        &self.parsed
    }

    /// The diff ids, bottom first.
    pub fn diff_ids(&self) -> &[DiffId] {
        self.parsed.diff_ids()
    }

    /// The chain id of the whole layer stack (`None` for no layers).
    pub fn chain_id(&self) -> Option<ChainId> {
        chain_id(self.diff_ids())
    }

    /// The platform the image is for (as written, not normalised).
    pub fn platform(&self) -> Platform {
        self.parsed.platform()
    }

    /// True if both balena delta labels are present.
    pub fn is_delta(&self) -> bool {
        self.parsed
            .labels()
            .is_some_and(|l| l.contains_key(LABEL_DELTA_BASE) && l.contains_key(LABEL_DELTA_CONFIG))
    }

    /// The delta information if this is a balena delta config; `Ok(None)`
    /// for an ordinary image; an error for a broken delta (one label only,
    /// or a base that is not an image id).
    pub fn delta(&self) -> Result<Option<DeltaInfo<'_>>, ConfigError> {
        let Some(labels) = self.parsed.labels() else {
            return Ok(None);
        };
        let (base, target) = match (labels.get(LABEL_DELTA_BASE), labels.get(LABEL_DELTA_CONFIG)) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(ConfigError::IncompleteDelta {
                    missing: LABEL_DELTA_CONFIG,
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::IncompleteDelta {
                    missing: LABEL_DELTA_BASE,
                })
            }
            (Some(b), Some(t)) => (b, t),
        };
        let base_id = ImageId::parse(base).map_err(|source| ConfigError::InvalidDeltaBase {
            value: base.clone(),
            source,
        })?;
        Ok(Some(DeltaInfo {
            base: base_id,
            target_config: target.as_str(),
        }))
    }
}

/// What a balena delta config says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaInfo<'a> {
    /// The basis image the delta applies to.
    pub base: ImageId,
    /// The target image's raw config, exactly (its sha256 is the target id).
    pub target_config: &'a str,
}

impl DeltaInfo<'_> {
    /// The id the target image will have: sha256 of the embedded text.
    pub fn target_image_id(&self) -> ImageId {
        ImageId::from_config_bytes(self.target_config.as_bytes())
    }

    /// Parses the embedded target config (its bytes are the label text).
    pub fn target(&self) -> Result<ImageConfig, ConfigError> {
        ImageConfig::parse(self.target_config.as_bytes().to_vec()).map_err(|e| {
            ConfigError::InvalidDeltaTarget {
                source: Box::new(e),
            }
        })
    }
}

/// Builds a balena delta config: the two labels, `created`, and the delta
/// layers' diff ids (one per target layer), as balenaEngine's
/// `POST /images/delta` does.
pub fn build_delta_config(
    base: &ImageId,
    target: &ImageConfig,
    delta_diff_ids: Vec<DiffId>,
    created: &str,
) -> Result<ImageConfig, ConfigError> {
    let target_text = std::str::from_utf8(target.raw())
        .map_err(|source| ConfigError::TargetNotUtf8 { source })?;
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_DELTA_BASE.to_owned(), base.to_string());
    labels.insert(LABEL_DELTA_CONFIG.to_owned(), target_text.to_owned());
    let doc = ConfigFile {
        created: Some(created.to_owned()),
        config: Some(ContainerConfig {
            labels: Some(labels),
            ..ContainerConfig::default()
        }),
        rootfs: Some(RootFs {
            kind: ROOTFS_TYPE_LAYERS.to_owned(),
            diff_ids: delta_diff_ids,
            extra: BTreeMap::new(),
        }),
        ..ConfigFile::default()
    };
    ImageConfig::create(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn id_is_sha256_of_raw_bytes_not_reserialised() {
        // Odd spacing and key order: re-serialising would change the bytes.
        let raw = format!(
            "{{ \"rootfs\" : {{\"type\":\"layers\",\"diff_ids\":[\"{D1}\"]}},  \"os\":\"linux\" }}"
        );
        let cfg = ImageConfig::parse(raw.clone().into_bytes()).unwrap();
        assert_eq!(cfg.id().digest(), &Digest::sha256_of(raw.as_bytes()));
        assert_eq!(cfg.raw(), raw.as_bytes());
        assert_ne!(serde_json::to_vec(cfg.parsed()).unwrap(), raw.as_bytes());
    }

    #[test]
    fn missing_rootfs_is_refused() {
        let err = ImageConfig::parse(br#"{"os":"linux"}"#.to_vec()).unwrap_err();
        assert!(matches!(err, ConfigError::MissingRootfs));
        let err = ImageConfig::parse(br#"{"rootfs":null}"#.to_vec()).unwrap_err();
        assert!(matches!(err, ConfigError::MissingRootfs));
    }

    #[test]
    fn cmd_accepts_string_or_list_or_null() {
        let c: ContainerConfig =
            serde_json::from_str(r#"{"Cmd":"sh","Entrypoint":null,"Shell":["/bin/sh","-c"]}"#)
                .unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.shell.as_deref().map(<[String]>::len), Some(2));
        let empty: ContainerConfig = serde_json::from_str(r#"{"Entrypoint":[]}"#).unwrap();
        assert_eq!(empty.entrypoint, Some(vec![]));
    }

    #[test]
    fn volumes_and_ports_round_trip_as_empty_objects() {
        let c: ContainerConfig = serde_json::from_str(
            r#"{"ExposedPorts":{"80/tcp":{},"53/udp":{}},"Volumes":{"/data":{}},"Labels":{"a":null}}"#,
        )
        .unwrap();
        assert_eq!(c.exposed_ports.as_ref().unwrap().len(), 2);
        assert_eq!(c.labels.as_ref().unwrap()["a"], "");
        let out = serde_json::to_string(&c).unwrap();
        assert_eq!(
            out,
            r#"{"ExposedPorts":{"53/udp":{},"80/tcp":{}},"Volumes":{"/data":{}},"Labels":{"a":""}}"#
        );
    }

    #[test]
    fn unknown_fields_are_kept() {
        let raw = br#"{"rootfs":{"type":"layers"},"moby.buildkit.buildinfo.v1":"abc","config":{"Memory":0,"Env":["A=1"]}}"#;
        let cfg = ImageConfig::parse(raw.to_vec()).unwrap();
        let p = cfg.parsed();
        assert_eq!(p.extra["moby.buildkit.buildinfo.v1"], "abc");
        assert_eq!(p.config.as_ref().unwrap().extra["Memory"], 0);
        let again = serde_json::to_value(p).unwrap();
        assert_eq!(again["moby.buildkit.buildinfo.v1"], "abc");
        assert_eq!(again["config"]["Memory"], 0);
    }

    #[test]
    fn delta_round_trip_keeps_target_bytes() {
        let target_raw = format!(
            "{{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{D1}\"]}}}}\n"
        );
        let target = ImageConfig::parse(target_raw.clone().into_bytes()).unwrap();
        let base = ImageId::from_config_bytes(b"base");
        let delta = build_delta_config(
            &base,
            &target,
            vec![DiffId::parse(D1).unwrap()],
            "2024-01-01T00:00:00Z",
        )
        .unwrap();
        assert!(delta.is_delta());
        let info = delta.delta().unwrap().unwrap();
        assert_eq!(info.base, base);
        assert_eq!(info.target_config, target_raw);
        assert_eq!(&info.target_image_id(), target.id());
        assert_eq!(info.target().unwrap().id(), target.id());
        assert_eq!(delta.diff_ids().len(), 1);
    }

    #[test]
    fn partial_delta_is_an_error() {
        let raw = br#"{"rootfs":{"type":"layers"},"config":{"Labels":{"io.resin.delta.base":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}"#;
        let cfg = ImageConfig::parse(raw.to_vec()).unwrap();
        assert!(!cfg.is_delta());
        assert!(matches!(
            cfg.delta(),
            Err(ConfigError::IncompleteDelta {
                missing: LABEL_DELTA_CONFIG
            })
        ));
        let bad = br#"{"rootfs":{"type":"layers"},"config":{"Labels":{"io.resin.delta.base":"nope","io.resin.delta.config":"{}"}}}"#;
        let cfg = ImageConfig::parse(bad.to_vec()).unwrap();
        let err = cfg.delta().unwrap_err();
        assert_eq!(err.to_string(), "parsing base image \"nope\"");
    }

    #[test]
    fn ordinary_image_is_not_delta() {
        let cfg = ImageConfig::parse(
            br#"{"rootfs":{"type":"layers","diff_ids":null},"config":{"Labels":{"x":"y"}}}"#
                .to_vec(),
        )
        .unwrap();
        assert!(cfg.delta().unwrap().is_none());
        assert!(cfg.chain_id().is_none());
    }
}
