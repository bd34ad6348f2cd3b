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
//! - `server`: the poll(2) event loop (clients, output, exits).
//! - `runtime`: libcontainer calls, Docker-worded exec errors, cgroup
//!   clean-up, the OOM-kill count.
//! - `log`: the log driver behind a small trait.
//! - `sys`: fd, signal, pty and durable-write helpers.
//!
//! Must not: start threads or an async runtime, or hold memory in
//! proportion to what the container writes.

mod init;
mod log;
pub mod proto;
mod runtime;
mod seccomp;
mod server;
mod sys;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::proto::{ExitStatus, Ready, ShimConfig};

/// The init's console socket in the state directory (tty containers).
pub(crate) const CONSOLE_SOCKET: &str = "console.sock";

/// Errors of the shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A file could not be read.
    #[error("read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file did not hold what it should.
    #[error("parse {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Bad command line.
    #[error("usage: {} <state_dir>", proto::SHIM_ARGV0)]
    Usage,
    /// Start-up failed before the container existed.
    #[error("{0}")]
    Setup(String),
}

/// Reads an exit file the shim wrote; `None` if there is none.
pub fn exit_status_from_file(path: &Path) -> Result<Option<ExitStatus>, ShimError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ShimError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ShimError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Starts, from the daemon, the kernel's wait that the container's first
/// cgroup move would otherwise pay on the start path (an RCU grace period,
/// ~10 ms; see the shim's own priming at its start): moves the calling
/// process into the cgroup it is already in, which changes nothing.
/// Blocks for up to that grace period: call it on a thread that may wait,
/// when a start begins.
pub fn prime_cgroup_moves() {
    sys::move_to_own_cgroup();
}

/// The shim process: `balena-engine-shim <state_dir>`. Returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    // One arena; and blocks of 32 KiB and more that the heap's free space
    // cannot hold (a directory stream, a large reply) come from mmap and go
    // back to the kernel when freed, instead of growing the heap of a
    // process that lives as long as its container.
    // SAFETY: mallopt only tunes the allocator; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024);
    }
    let Some(state_dir) = args.get(1).map(PathBuf::from) else {
        eprintln!("{}", ShimError::Usage);
        return 2;
    };
    let state_dir = if state_dir.is_absolute() {
        state_dir
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(state_dir),
            Err(e) => {
                eprintln!("current directory: {e}");
                return 2;
            }
        }
    };
    match run(&state_dir) {
        Ok(()) => 0,
        Err(e) => {
            let msg = runtime::error_chain(&e);
            eprintln!("shim failed: {msg}");
            ready(&Ready::Err { error: msg });
            1
        }
    }
}

/// Writes the start-up line to stdout, then points fd 1 at /dev/null.
fn ready(r: &Ready) {
    let mut out = std::io::stdout().lock();
    if let Ok(mut line) = serde_json::to_vec(r) {
        line.push(b'\n');
        let _ = out.write_all(&line);
        let _ = out.flush();
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

fn read_config(state_dir: &Path) -> Result<ShimConfig, ShimError> {
    let path = state_dir.join(proto::CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ShimError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| ShimError::Parse { path, source })
}

fn run(state_dir: &Path) -> Result<(), ShimError> {
    sys::cloexec_all();
    let sigfd = sys::setup_process().map_err(|e| ShimError::Setup(runtime::error_chain(&e)))?;
    sys::prime_cgroup_moves();
    let cfg = read_config(state_dir)?;
    let sock = state_dir.join(proto::SOCKET_FILE);
    let console = state_dir.join(CONSOLE_SOCKET);
    // Only sockets before the container exists: a failed create removes
    // what it made itself.
    let cleanup = || {
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(&console);
    };
    let fail = |msg: String| ShimError::Setup(msg);

    let listener = sys::bind_socket(&sock).map_err(|e| fail(runtime::error_chain(&e)))?;
    let log: Box<dyn log::LogSink> = match log::open(&cfg.log, &cfg.id) {
        Ok(l) => Box::new(l),
        Err(e) => {
            cleanup();
            return Err(fail(runtime::error_chain(&e)));
        }
    };

    let (console_listener, stdio, pipes_io) = if cfg.tty {
        let l = sys::bind_socket(&console).map_err(|e| {
            cleanup();
            fail(runtime::error_chain(&e))
        })?;
        (Some(l), runtime::Stdio::Console(console.clone()), None)
    } else {
        let (io, stdio) = server::pipes(cfg.open_stdin).map_err(|e| {
            cleanup();
            fail(format!("create pipes: {e}"))
        })?;
        (None, stdio, Some(io))
    };

    let buf = server::read_buffer().map_err(|e| {
        cleanup();
        fail(format!("read buffer: {e}"))
    })?;
    let created = match runtime::create(&cfg.id, &cfg.runtime_root, &cfg.bundle, state_dir, stdio) {
        Ok(c) => c,
        Err(e) => {
            cleanup();
            return Err(fail(e.to_string()));
        }
    };
    let init_io = match (console_listener, pipes_io) {
        (Some(l), _) => {
            let r = sys::receive_pty(&l, std::time::Duration::from_secs(10))
                .map_err(|e| runtime::error_chain(&e))
                .and_then(|m| server::pty_io(m, cfg.open_stdin).map_err(|e| format!("pty: {e}")));
            drop(l);
            let _ = std::fs::remove_file(&console);
            match r {
                Ok(io) => io,
                Err(e) => {
                    let _ =
                        runtime::delete(&cfg.id, &cfg.runtime_root, &created.cgroups_path, true);
                    cleanup();
                    return Err(fail(e));
                }
            }
        }
        (None, Some(io)) => io,
        (None, None) => server::Io::default(),
    };
    let pid = created.pid;
    ready(&Ready::Ok { pid });
    eprintln!("container {} created, init pid {pid}", cfg.id);
    let shim = server::Shim::new(server::Parts {
        state_dir: state_dir.to_path_buf(),
        cgroups_path: created.cgroups_path,
        own_pid_ns: created.own_pid_ns,
        listener,
        sigfd,
        init_pid: pid,
        init_io,
        log,
        buf,
        cfg,
    });
    shim.run().map_err(|e| fail(runtime::error_chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_file_round_trips_and_missing_is_none() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exit.json");
        assert_eq!(exit_status_from_file(&p).unwrap(), None);
        std::fs::write(
            &p,
            br#"{"exit_code":3,"oom_killed":false,"finished_at_ns":5}"#,
        )
        .unwrap();
        let st = exit_status_from_file(&p).unwrap().unwrap();
        assert_eq!(st.exit_code, 3);
        assert_eq!(st.finished_at_ns, 5);
        std::fs::write(&p, b"{").unwrap();
        assert!(exit_status_from_file(&p).is_err());
    }
}
