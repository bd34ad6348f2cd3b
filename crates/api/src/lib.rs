//! Docker Engine API v1.41 models shared by the API server and the CLI.
//!
//! Pure: no I/O, no async runtime. What goes over the wire between a client
//! and the daemon is described here once, so both ends agree.
//!
//! # Layout
//! - [`version`]: the API version type, the supported range, build facts.
//! - [`types`]: request and response bodies (`/version`, `/info`, ...).
//! - [`error`]: Docker's `{"message": "..."}` error body.
//! - [`container`], [`image`], [`network`], [`events`], [`volume`]: the
//!   bodies of those endpoints.
//! - [`ops`]: stats, top, update and container prune.
//! - [`fs`]: changes, archive, commit and disk usage.
//!
//! Must not: depend on the engine, on HTTP crates or on tokio.

pub mod container;
pub mod error;
pub mod events;
pub mod fs;
pub mod image;
pub mod network;
pub mod ops;
pub mod progress;
pub mod types;
pub mod version;
pub mod volume;

pub use error::ErrorBody;
pub use version::ApiVersion;
