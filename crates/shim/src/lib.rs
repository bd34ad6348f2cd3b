//! The per-container shim, and the protocol the daemon speaks to it.
//!
//! The daemon is multi-threaded (tokio), and youki's libcontainer clones its
//! caller, which must therefore be single-threaded. So every container gets
//! one small shim process, started from the engine binary under the name
//! [`proto::SHIM_ARGV0`]. The shim creates and starts the container, holds
//! its stdio (pipes or a pty), writes its log, reaps it as subreaper,
//! records its exit durably and serves the daemon over a unix socket. It
//! outlives the daemon: a restarted daemon reconnects to the socket.
//!
//! # Layout
//! - [`proto`]: the wire protocol (config file, requests, replies, frames).
//!
//! Must not: start threads or an async runtime, or hold memory in
//! proportion to what the container writes.

pub mod proto;
