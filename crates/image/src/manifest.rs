//! Registry manifests: Docker schema 2 manifests and manifest lists, OCI image
//! manifests and indexes, and their descriptors.
//!
//! Readers are tolerant (unknown fields are ignored, `null` reads as empty),
//! but the checks Docker's distribution code makes are kept: a Docker
//! manifest must carry its `mediaType`, an OCI manifest must not look like an
//! index and the other way round. Schema 1 is refused. Input is bounded:
//! [`MAX_MANIFEST_SIZE`] bytes and [`MAX_DESCRIPTORS`] layers or manifests.
//!
//! The manifest digest is the sha256 of the raw bytes; keep them, never
//! re-serialise a parsed manifest to compute one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::platform::{Platform, PlatformMatcher};
use crate::serde_util::{null_default, present};

/// Docker image manifest, schema 2.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 manifest (refused).
pub const MEDIA_TYPE_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Signed Docker schema 1 manifest (refused).
pub const MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker plugin config (not an image).
pub const MEDIA_TYPE_DOCKER_PLUGIN_CONFIG: &str = "application/vnd.docker.plugin.v1+json";

/// Docker layer, gzip-compressed tar.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer, uncompressed tar (used by some tools).
pub const MEDIA_TYPE_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker foreign layer (fetched from its `urls`), gzip-compressed tar.
pub const MEDIA_TYPE_DOCKER_FOREIGN_LAYER: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// OCI layer, uncompressed tar.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip-compressed tar.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd-compressed tar.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable layer, uncompressed tar.
pub const MEDIA_TYPE_OCI_NONDIST_LAYER: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip-compressed tar.
pub const MEDIA_TYPE_OCI_NONDIST_LAYER_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd-compressed tar.
pub const MEDIA_TYPE_OCI_NONDIST_LAYER_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// Manifest media types to send in `Accept`, preferred first.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] = &[
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
];

/// Config media types Docker treats as images (its `ImageTypes`), including
/// the odd values some registries produced, and the empty string.
pub const IMAGE_CONFIG_MEDIA_TYPES: &[&str] = &[
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_OCI_CONFIG,
    "application/octet-stream",
    "application/json",
    "text/html",
    "",
];

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;
/// Most layers in a manifest, or manifests in an index.
pub const MAX_DESCRIPTORS: usize = 1000;

/// Errors from parsing manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The body is larger than [`MAX_MANIFEST_SIZE`].
    #[error("manifest is too large: {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_DESCRIPTORS`] layers or manifests.
    #[error("manifest has too many {what}: {count}, the limit is {limit}")]
    TooManyDescriptors {
        /// "layers" or "manifests".
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error("invalid manifest json")]
    Json {
        /// The parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A schema 1 manifest.
    #[error("schema 1 manifests are not supported: the image must be pushed again in docker schema 2 or oci format")]
    Schema1,
    /// The body's `mediaType` is not the one its type requires.
    #[error("mediaType in manifest should be '{expected}' not '{found}'")]
    MediaTypeMismatch {
        /// What the content type or shape called for.
        expected: &'static str,
        /// What the body says.
        found: String,
    },
    /// A field that the media type does not allow (an index with `layers`...).
    #[error("manifest of type {media_type} should not have a {field:?} field")]
    UnexpectedField {
        /// The media type decided on.
        media_type: &'static str,
        /// The field found.
        field: &'static str,
    },
    /// A `mediaType` that is not a manifest type we read.
    #[error("unsupported manifest media type: {media_type}")]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
    },
    /// No media type given and the shape tells nothing.
    #[error("cannot determine the manifest media type")]
    UnknownFormat,
}

/// A reference to content: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default, deserialize_with = "null_default")]
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub size: u64,
    /// Where else the content may be fetched from (foreign layers).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Platform of the referenced manifest (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// OCI artifact type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// What a layer media type says about the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKind {
    /// The compression of the tar.
    pub compression: Compression,
    /// Foreign / non-distributable: fetched from the descriptor's `urls`
    /// when it has any, and not pushed.
    pub foreign: bool,
}

/// Classifies a layer media type; `None` for anything that is not a known
/// layer type.
pub fn layer_kind(media_type: &str) -> Option<LayerKind> {
    let kind = |compression, foreign| {
        Some(LayerKind {
            compression,
            foreign,
        })
    };
    match media_type {
        MEDIA_TYPE_DOCKER_LAYER => kind(Compression::Gzip, false),
        MEDIA_TYPE_DOCKER_LAYER_TAR => kind(Compression::None, false),
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER => kind(Compression::Gzip, true),
        MEDIA_TYPE_OCI_LAYER => kind(Compression::None, false),
        MEDIA_TYPE_OCI_LAYER_GZIP => kind(Compression::Gzip, false),
        MEDIA_TYPE_OCI_LAYER_ZSTD => kind(Compression::Zstd, false),
        MEDIA_TYPE_OCI_NONDIST_LAYER => kind(Compression::None, true),
        MEDIA_TYPE_OCI_NONDIST_LAYER_GZIP => kind(Compression::Gzip, true),
        MEDIA_TYPE_OCI_NONDIST_LAYER_ZSTD => kind(Compression::Zstd, true),
        _ => None,
    }
}

/// True if Docker treats a config of this media type as an image config.
pub fn is_image_config_media_type(media_type: &str) -> bool {
    IMAGE_CONFIG_MEDIA_TYPES.contains(&media_type)
}

impl Descriptor {
    /// The layer kind of this descriptor's media type.
    pub fn layer_kind(&self) -> Option<LayerKind> {
        layer_kind(&self.media_type)
    }
}

/// An image manifest (Docker schema 2 or OCI): a config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2 for the formats read here.
    #[serde(default, deserialize_with = "null_default")]
    pub schema_version: i64,
    /// The body's own media type (required for Docker, optional for OCI).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    /// OCI artifact type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layers, bottom first.
    #[serde(default, deserialize_with = "null_default")]
    pub layers: Vec<Descriptor>,
    /// OCI subject (referrers), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest list or OCI index: per-platform manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2 for the formats read here.
    #[serde(default, deserialize_with = "null_default")]
    pub schema_version: i64,
    /// The body's own media type (required for Docker, optional for OCI).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    /// OCI artifact type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The entries.
    #[serde(default, deserialize_with = "null_default")]
    pub manifests: Vec<Descriptor>,
    /// OCI subject (referrers), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    /// The entry to pull for a platform matcher, chosen as containerd does
    /// (see [`PlatformMatcher::select`]).
    pub fn select(&self, matcher: &PlatformMatcher) -> Option<&Descriptor> {
        matcher.select(&self.manifests, |d| d.platform.as_ref())
    }
}

/// A parsed manifest of one of the supported kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerV2(ImageManifest),
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerList(ImageIndex),
    /// `application/vnd.oci.image.manifest.v1+json`.
    OciManifest(ImageManifest),
    /// `application/vnd.oci.image.index.v1+json`.
    OciIndex(ImageIndex),
}

impl Manifest {
    /// The media type this manifest was read as.
    pub fn media_type(&self) -> &'static str {
        match self {
            Manifest::DockerV2(_) => MEDIA_TYPE_DOCKER_MANIFEST,
            Manifest::DockerList(_) => MEDIA_TYPE_DOCKER_MANIFEST_LIST,
            Manifest::OciManifest(_) => MEDIA_TYPE_OCI_MANIFEST,
            Manifest::OciIndex(_) => MEDIA_TYPE_OCI_INDEX,
        }
    }

    /// The image manifest, if this is one.
    pub fn as_image(&self) -> Option<&ImageManifest> {
        match self {
            Manifest::DockerV2(m) | Manifest::OciManifest(m) => Some(m),
            Manifest::DockerList(_) | Manifest::OciIndex(_) => None,
        }
    }

    /// The index, if this is one.
    pub fn as_index(&self) -> Option<&ImageIndex> {
        match self {
            Manifest::DockerList(i) | Manifest::OciIndex(i) => Some(i),
            Manifest::DockerV2(_) | Manifest::OciManifest(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    DockerV2,
    DockerList,
    OciManifest,
    OciIndex,
}

impl Kind {
    fn media_type(self) -> &'static str {
        match self {
            Kind::DockerV2 => MEDIA_TYPE_DOCKER_MANIFEST,
            Kind::DockerList => MEDIA_TYPE_DOCKER_MANIFEST_LIST,
            Kind::OciManifest => MEDIA_TYPE_OCI_MANIFEST,
            Kind::OciIndex => MEDIA_TYPE_OCI_INDEX,
        }
    }

    fn is_index(self) -> bool {
        matches!(self, Kind::DockerList | Kind::OciIndex)
    }
}

enum Decided {
    Kind(Kind),
    Schema1,
    Unknown,
}

fn kind_of_media_type(media_type: &str) -> Decided {
    match media_type {
        MEDIA_TYPE_DOCKER_MANIFEST => Decided::Kind(Kind::DockerV2),
        MEDIA_TYPE_DOCKER_MANIFEST_LIST => Decided::Kind(Kind::DockerList),
        MEDIA_TYPE_OCI_MANIFEST => Decided::Kind(Kind::OciManifest),
        MEDIA_TYPE_OCI_INDEX => Decided::Kind(Kind::OciIndex),
        MEDIA_TYPE_DOCKER_SCHEMA1 | MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED => Decided::Schema1,
        _ => Decided::Unknown,
    }
}

/// The fields that tell manifest kinds apart; presence counts, even `null`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default, deserialize_with = "null_default")]
    media_type: String,
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    manifests: bool,
    #[serde(default, deserialize_with = "present")]
    config: bool,
    #[serde(default, deserialize_with = "present")]
    layers: bool,
    #[serde(default, deserialize_with = "present")]
    fs_layers: bool,
}

/// Parses a manifest body. `content_type` is the HTTP `Content-Type` (or a
/// descriptor's media type); parameters are ignored. When it names a manifest
/// type that decides; when it is absent or generic (`application/json`...)
/// the body's `mediaType`, then its shape, decide.
pub fn parse_manifest(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(ManifestError::TooLarge {
            size: bytes.len(),
            limit: MAX_MANIFEST_SIZE,
        });
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { source })?;

    let from_header = content_type.map(essence).map(|ct| kind_of_media_type(&ct));
    let kind = match from_header {
        Some(Decided::Kind(k)) => k,
        Some(Decided::Schema1) => return Err(ManifestError::Schema1),
        Some(Decided::Unknown) | None => sniff(&probe)?,
    };

    check_body(kind, &probe)?;

    let manifest = if kind.is_index() {
        let index: ImageIndex =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { source })?;
        if index.manifests.len() > MAX_DESCRIPTORS {
            return Err(ManifestError::TooManyDescriptors {
                what: "manifests",
                count: index.manifests.len(),
                limit: MAX_DESCRIPTORS,
            });
        }
        match kind {
            Kind::DockerList => Manifest::DockerList(index),
            _ => Manifest::OciIndex(index),
        }
    } else {
        let image: ImageManifest =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { source })?;
        if image.layers.len() > MAX_DESCRIPTORS {
            return Err(ManifestError::TooManyDescriptors {
                what: "layers",
                count: image.layers.len(),
                limit: MAX_DESCRIPTORS,
            });
        }
        match kind {
            Kind::DockerV2 => Manifest::DockerV2(image),
            _ => Manifest::OciManifest(image),
        }
    };
    Ok(manifest)
}

/// The media type of a Content-Type value: before any `;`, trimmed, lowercase.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Decides the kind from the body, as Docker's `detectManifestBlobMediaType`.
fn sniff(probe: &Probe) -> Result<Kind, ManifestError> {
    if !probe.media_type.is_empty() {
        return match kind_of_media_type(&probe.media_type) {
            Decided::Kind(k) => Ok(k),
            Decided::Schema1 => Err(ManifestError::Schema1),
            Decided::Unknown => Err(ManifestError::UnsupportedMediaType {
                media_type: probe.media_type.clone(),
            }),
        };
    }
    let schema1 = probe.fs_layers
        || probe
            .schema_version
            .as_ref()
            .and_then(serde_json::Value::as_i64)
            == Some(1);
    if schema1 && !probe.manifests && !probe.layers && !probe.config {
        return Err(ManifestError::Schema1);
    }
    if (probe.config || probe.layers) && !probe.manifests && !probe.fs_layers {
        return Ok(Kind::OciManifest);
    }
    if probe.manifests && !probe.config && !probe.layers && !probe.fs_layers {
        return Ok(Kind::OciIndex);
    }
    Err(ManifestError::UnknownFormat)
}

/// The checks Docker's unmarshallers make for each kind.
fn check_body(kind: Kind, probe: &Probe) -> Result<(), ManifestError> {
    let mt = probe.media_type.as_str();
    let required = matches!(kind, Kind::DockerV2 | Kind::DockerList);
    if (required || !mt.is_empty()) && mt != kind.media_type() {
        if let Decided::Schema1 = kind_of_media_type(mt) {
            return Err(ManifestError::Schema1);
        }
        return Err(ManifestError::MediaTypeMismatch {
            expected: kind.media_type(),
            found: mt.to_owned(),
        });
    }
    let unexpected = |field| ManifestError::UnexpectedField {
        media_type: kind.media_type(),
        field,
    };
    if probe.fs_layers {
        return Err(unexpected("fsLayers"));
    }
    if kind.is_index() {
        if probe.config {
            return Err(unexpected("config"));
        }
        if probe.layers {
            return Err(unexpected("layers"));
        }
    } else if probe.manifests {
        return Err(unexpected("manifests"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image_body(media_type: Option<&str>) -> String {
        let mt = media_type
            .map(|m| format!(r#""mediaType":"{m}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"{MEDIA_TYPE_DOCKER_CONFIG}","digest":"{D}","size":1}},"layers":[{{"mediaType":"{MEDIA_TYPE_DOCKER_LAYER}","digest":"{D}","size":2}}]}}"#
        )
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let body = image_body(Some(MEDIA_TYPE_DOCKER_MANIFEST));
        let ct = format!("{MEDIA_TYPE_DOCKER_MANIFEST}; charset=utf-8");
        let m = parse_manifest(Some(&ct), body.as_bytes()).unwrap();
        assert_eq!(m.media_type(), MEDIA_TYPE_DOCKER_MANIFEST);
    }

    #[test]
    fn docker_manifest_requires_media_type() {
        let body = image_body(None);
        let err = parse_manifest(Some(MEDIA_TYPE_DOCKER_MANIFEST), body.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("mediaType in manifest should be '{MEDIA_TYPE_DOCKER_MANIFEST}' not ''")
        );
    }

    #[test]
    fn generic_content_type_falls_back_to_body() {
        let body = image_body(None);
        let m = parse_manifest(Some("application/json"), body.as_bytes()).unwrap();
        assert_eq!(m.media_type(), MEDIA_TYPE_OCI_MANIFEST);
        assert_eq!(m.as_image().unwrap().layers.len(), 1);
    }

    #[test]
    fn layer_kinds() {
        assert_eq!(
            layer_kind(MEDIA_TYPE_OCI_LAYER_ZSTD),
            Some(LayerKind {
                compression: Compression::Zstd,
                foreign: false
            })
        );
        assert!(layer_kind(MEDIA_TYPE_DOCKER_FOREIGN_LAYER).unwrap().foreign);
        assert_eq!(layer_kind("application/vnd.in-toto+json"), None);
        assert!(is_image_config_media_type(""));
        assert!(!is_image_config_media_type(MEDIA_TYPE_DOCKER_PLUGIN_CONFIG));
    }

    #[test]
    fn non_object_body_is_json_error() {
        assert!(matches!(
            parse_manifest(None, b"[1,2]"),
            Err(ManifestError::Json { .. })
        ));
        assert!(matches!(
            parse_manifest(None, b"{}"),
            Err(ManifestError::UnknownFormat)
        ));
    }
}
