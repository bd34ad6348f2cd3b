//! Docker/OCI image metadata for balenaEngine-in-Rust: references, digests
//! and ids, registry manifests, image configs (including balena delta
//! configs), and platform matching.
//!
//! Behaviour follows what balenaEngine v20.10 vendors: docker/distribution
//! `reference` v2.8.1, go-digest v1.0.0, containerd `platforms` v1.6.6, and
//! Docker's manifest and config handling; each module says where it differs.
//!
//! # Layout
//! - [`reference`](mod@reference): parsing and normalising image references (`ubuntu` →
//!   `docker.io/library/ubuntu`), familiar forms, Docker's error messages.
//! - [`digest`]: [`Digest`], [`ImageId`], [`DiffId`], [`ChainId`], chain id
//!   computation, and streaming verification ([`DigestVerifier`],
//!   [`VerifyingReader`]).
//! - [`manifest`]: manifest and index models, media types, and
//!   [`parse_manifest`], bounded in size and count.
//! - [`config`]: [`ImageConfig`] (raw bytes + id + parsed [`ConfigFile`]) and
//!   the balena delta labels.
//! - [`platform`]: [`Platform`], `--platform` parsing, normalisation, host
//!   platform, and [`PlatformMatcher`] for choosing from an index.
//!
//! # What this crate must not do
//! No I/O of any kind (no files, network, `/proc`, clocks), no async runtime,
//! no panics on untrusted input, and no allocation driven by an untrusted
//! length beyond the input's own (bounded) size. Image ids are computed from
//! raw config bytes only, never from a re-serialised document.

pub mod config;
pub mod digest;
pub mod manifest;
pub mod platform;
pub mod reference;
mod serde_util;

pub use config::{ConfigError, ConfigFile, ImageConfig};
pub use digest::{
    chain_id, ChainId, DiffId, Digest, DigestError, DigestVerifier, ImageId, VerifyingReader,
};
pub use manifest::{parse_manifest, Descriptor, Manifest, ManifestError};
pub use platform::{Platform, PlatformError, PlatformMatcher};
pub use reference::{Named, Reference, ReferenceError};

#[doc(hidden)]
pub mod fuzzing;
