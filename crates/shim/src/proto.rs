//! The daemon ↔ shim protocol.
//!
//! # Start-up
//! The daemon writes [`ShimConfig`] to `<state_dir>/shim.json` and the OCI
//! bundle to `<state_dir>/bundle/config.json`, then runs the shim as
//! `balena-engine-shim <state_dir>` with stdin on /dev/null, stderr on
//! `<state_dir>/shim.log` and stdout on a pipe. The shim listens on
//! `<state_dir>/shim.sock`, creates the container (its init waits to be
//! started), then writes one [`Ready`] JSON line to stdout and closes it.
//!
//! # Requests
//! Each connection to `shim.sock` starts with one [`Request`] as a JSON line.
//! The shim answers with one [`Reply`] JSON line. After a successful
//! `attach` or `exec` the connection carries a stream:
//! - shim → daemon: frames with an 8-byte header `[kind, 0, 0, 0, len: u32
//!   big-endian]` and `len` bytes: [`FRAME_STDOUT`], [`FRAME_STDERR`] (the
//!   header of Docker's multiplexed streams), and for `exec` one final
//!   [`FRAME_EXIT`] whose payload is an [`ExitStatus`] JSON object;
//! - daemon → shim: raw stdin bytes; shutting down the write half is stdin's
//!   end of file.
//!
//! `wait` gets no reply line until the container exits: then one
//! [`ExitStatus`] line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The argv[0] the shim runs under.
pub const SHIM_ARGV0: &str = "balena-engine-shim";
/// The config file in the state directory.
pub const CONFIG_FILE: &str = "shim.json";
/// The socket in the state directory.
pub const SOCKET_FILE: &str = "shim.sock";
/// The shim's own diagnostics, in the state directory.
pub const LOG_FILE: &str = "shim.log";

/// Frame kind: the process's standard output (or its tty).
pub const FRAME_STDOUT: u8 = 1;
/// Frame kind: the process's standard error.
pub const FRAME_STDERR: u8 = 2;
/// Frame kind: an exec's exit status (JSON [`ExitStatus`]).
pub const FRAME_EXIT: u8 = 0x10;
/// Largest frame payload either side sends.
pub const MAX_FRAME: usize = 32 * 1024;

/// What the daemon tells the shim at start-up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The container id (64 hex).
    pub id: String,
    /// The OCI bundle directory (with `config.json`).
    pub bundle: PathBuf,
    /// libcontainer's state root; the container's state is `<root>/<id>`.
    pub runtime_root: PathBuf,
    /// Allocate a pty for the init process.
    pub tty: bool,
    /// Keep a stdin pipe open to the init process.
    pub open_stdin: bool,
    /// Close the init's stdin when the first attached client's stdin ends.
    pub stdin_once: bool,
    /// Where to record the exit durably (on the data root, so it survives
    /// a reboot): an [`ExitStatus`] JSON document, written atomically.
    pub exit_file: PathBuf,
    /// Log driver and its options, already validated by the daemon.
    pub log: LogSpec,
}

/// The log driver the shim writes the container's output to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSpec {
    /// `json-file`, `journald` or `none`.
    pub driver: String,
    /// `--log-opt` values.
    #[serde(default)]
    pub opts: BTreeMap<String, String>,
    /// The json-file log path.
    pub path: PathBuf,
    /// Container facts for log fields and tags.
    pub container_name: String,
    /// Image name as given at create.
    pub image_name: String,
    /// Image id (`sha256:…`).
    pub image_id: String,
    /// Container labels (for the `labels` option).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Container env (for the `env` option).
    #[serde(default)]
    pub env: Vec<String>,
}

/// The shim's start-up report on its stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ready {
    /// The container exists; its init waits for `start`.
    Ok {
        /// The init's pid in the daemon's pid namespace.
        pid: i32,
    },
    /// The container could not be created; the shim has cleaned up and exits.
    Err {
        /// Why (the runtime's message).
        error: String,
    },
}

/// A request, the first line of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Current state.
    State,
    /// Start the created container.
    Start,
    /// Send a signal to the init (or, with `all`, every process).
    Kill {
        /// Signal number.
        signal: i32,
        /// Every process in the container.
        #[serde(default)]
        all: bool,
    },
    /// Wait for the container's exit.
    Wait,
    /// Attach to the init's stdio.
    Attach {
        /// Forward this connection's input to the init's stdin.
        stdin: bool,
        /// Send stdout frames.
        stdout: bool,
        /// Send stderr frames.
        stderr: bool,
    },
    /// Resize the init's pty (no `exec_id`) or an exec's.
    Resize {
        /// The exec, if not the init.
        #[serde(default)]
        exec_id: Option<String>,
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Run a process in the container; the connection becomes its stream.
    Exec {
        /// The daemon's exec id.
        exec_id: String,
        /// The OCI `process` object (args, env, cwd, user, terminal,
        /// capabilities, noNewPrivileges).
        process: serde_json::Value,
        /// Forward this connection's input to the process's stdin.
        stdin: bool,
    },
    /// Signal an exec's process.
    ExecKill {
        /// The exec.
        exec_id: String,
        /// Signal number.
        signal: i32,
    },
    /// Freeze every process.
    Pause,
    /// Thaw.
    Resume,
}

/// The reply line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Set when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// For `exec`: the process's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

/// The container's state as the shim sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Init pid.
    pub pid: i32,
    /// `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// Set once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// How a process ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code; 128+N for a signal.
    pub exit_code: i32,
    /// The memory cgroup killed a process of the container.
    #[serde(default)]
    pub oom_killed: bool,
    /// When, in nanoseconds since the Unix epoch.
    pub finished_at_ns: i64,
    /// Set when the shim could not supervise the process to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Encodes a frame header.
pub fn frame_header(kind: u8, len: usize) -> [u8; 8] {
    let l = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Decodes a frame header into (kind, len).
pub fn parse_frame_header(h: &[u8; 8]) -> (u8, usize) {
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    (h[0], len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_lines() {
        let r = Request::Kill {
            signal: 9,
            all: false,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"op":"kill","signal":9,"all":false}"#);
        let back: Request = serde_json::from_str(r#"{"op":"kill","signal":15}"#).unwrap();
        assert_eq!(
            back,
            Request::Kill {
                signal: 15,
                all: false
            }
        );
        let w: Request = serde_json::from_str(r#"{"op":"wait"}"#).unwrap();
        assert_eq!(w, Request::Wait);
    }

    #[test]
    fn ready_reads_both_forms() {
        let ok: Ready = serde_json::from_str(r#"{"pid":42}"#).unwrap();
        assert_eq!(ok, Ready::Ok { pid: 42 });
        let err: Ready = serde_json::from_str(r#"{"error":"no such file"}"#).unwrap();
        assert_eq!(
            err,
            Ready::Err {
                error: "no such file".into()
            }
        );
    }

    #[test]
    fn frame_headers_round_trip() {
        let h = frame_header(FRAME_STDERR, 70000);
        assert_eq!(h, [2, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(parse_frame_header(&h), (2, 70000));
    }
}
