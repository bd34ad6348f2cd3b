//! Docker Registry HTTP API v2 (distribution) client for balenaEngine-in-Rust:
//! pulls (manifests, small blobs, resumable layer downloads) and pushes
//! (existence checks, cross-repository mounts, uploads, manifest puts), with
//! Docker's endpoint rules, insecure registries, per-host TLS material and
//! token/basic authentication.
//!
//! Transport only: manifests are returned as raw bytes with their content
//! type and digest; parsing them is the `image` crate's job.
//!
//! # Layout
//! - `client`: the public [`Client`] and its pull and push operations.
//! - `blob_stream`: [`BlobStream`], the resumable download with backoff.
//! - `transport`: request execution, HTTPS → HTTP fallback, 401 handling,
//!   redirects, token fetching, bounded body reads.
//! - `auth`: [`Auth`], `X-Registry-Auth` decoding, the token cache.
//! - `challenge`: `WWW-Authenticate` parsing.
//! - `config`: [`RegistryConfig`], insecure matching, [`Endpoint`]s.
//! - `tls`, `connect`: rustls configurations per host and the connector.
//! - `reference`: validation of names and digests put into URLs.
//! - `url`: query encoding and `Location` resolution.
//! - `error`: [`RegistryError`], its [`ErrorKind`], registry error bodies.
//!
//! # What this crate must not do
//! - Parse manifests or image configs into types, or decide platforms.
//! - Write anything to disk, or buffer a layer blob in memory: blobs stream
//!   through [`BlobStream`]; only bounded small bodies are collected.
//! - Send registry credentials to another origin (redirect targets), or
//!   log secrets.
//! - Verify layer digests itself: the caller's single verifier sees every
//!   byte once.

mod auth;
mod blob_stream;
mod challenge;
mod client;
mod config;
mod connect;
mod error;
mod reference;
mod tls;
mod transport;
mod url;

#[doc(hidden)]
pub mod fuzzing;

pub use auth::{Auth, XRegistryAuth};
pub use blob_stream::{BlobEvent, BlobStream};
pub use client::{Client, Fetched, MountOutcome, UploadMethod, UploadSession, MAX_MANIFEST_SIZE};
pub use config::{Endpoint, RegistryConfig, Scheme, DOCKER_HUB_HOST};
pub use error::{ErrorDetail, ErrorKind, RegistryError};
