//! Creates the API sockets: unix (mode 0660, group `balena-engine` when it
//! exists), tcp, and systemd-activated fds.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use apiserver::Listener;

use crate::config::Host;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("socket {path} is in use by another daemon")]
    InUse { path: PathBuf },
    #[error("group {group:?} for the API socket not found")]
    NoGroup { group: String },
    #[error(
        "no sockets found via socket activation: make sure the service was started by systemd"
    )]
    NoActivatedSockets,
    #[error("socket activation fd {fd} was not passed by systemd")]
    NoSuchFd { fd: i32 },
    #[error("{op} {what}: {source}")]
    Io {
        op: &'static str,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(
    op: &'static str,
    what: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> ListenError {
    let what = what.to_string();
    move |source| ListenError::Io { op, what, source }
}

/// Binds every host. Must run inside the tokio runtime.
pub fn bind_all(
    hosts: &[Host],
    group: &str,
    group_explicit: bool,
) -> Result<(Vec<Listener>, Vec<PathBuf>), ListenError> {
    let mut listeners = Vec::new();
    let mut sockets = Vec::new();
    for h in hosts {
        match h {
            Host::Unix(path) => {
                listeners.push(bind_unix(path, group, group_explicit)?);
                sockets.push(path.clone());
            }
            Host::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr).map_err(io("listen on", addr))?;
                l.set_nonblocking(true).map_err(io("listen on", addr))?;
                tracing::warn!(addr = %addr, "serving the API on tcp without TLS: anyone who can reach it has root on this host");
                listeners.push(Listener::Tcp(
                    tokio::net::TcpListener::from_std(l).map_err(io("listen on", addr))?,
                ));
            }
            Host::Fd(which) => listeners.extend(activated(*which)?),
        }
    }
    Ok((listeners, sockets))
}

fn bind_unix(path: &Path, group: &str, group_explicit: bool) -> Result<Listener, ListenError> {
    let gid = match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Some(g.gid),
        _ if group_explicit && group != "root" => {
            return Err(ListenError::NoGroup {
                group: group.to_string(),
            })
        }
        _ => {
            tracing::debug!(group, "socket group not found; the socket stays root-only");
            None
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create socket directory", dir.display()))?;
    }
    if path.exists() {
        // A live daemon answers; a stale file from a crash does not.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse {
                path: path.to_path_buf(),
            });
        }
        std::fs::remove_file(path).map_err(io("remove stale socket", path.display()))?;
    }
    let l =
        std::os::unix::net::UnixListener::bind(path).map_err(io("listen on", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io("chmod", path.display()))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, Some(0), Some(gid.as_raw()))
            .map_err(io("chown", path.display()))?;
    }
    l.set_nonblocking(true)
        .map_err(io("listen on", path.display()))?;
    Ok(Listener::Unix(
        tokio::net::UnixListener::from_std(l).map_err(io("listen on", path.display()))?,
    ))
}

/// Sockets passed by systemd (`LISTEN_PID`, `LISTEN_FDS`, from fd 3).
fn activated(which: Option<i32>) -> Result<Vec<Listener>, ListenError> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !pid_ok || n <= 0 {
        return Err(ListenError::NoActivatedSockets);
    }
    let fds: Vec<RawFd> = match which {
        None => (3..3 + n).collect(),
        Some(fd) if (3..3 + n).contains(&fd) => vec![fd],
        Some(fd) => return Err(ListenError::NoSuchFd { fd }),
    };
    let mut out = Vec::new();
    for fd in fds {
        // SAFETY: systemd passed us fds 3..3+LISTEN_FDS for this pid (checked
        // above); we take ownership of each exactly once.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd)
            .map_err(|e| io("inspect activated socket", fd)(e.into()))?;
        if addr.as_unix_addr().is_some() {
            let l = std::os::unix::net::UnixListener::from(owned);
            l.set_nonblocking(true).map_err(io("listen on fd", fd))?;
            out.push(Listener::Unix(
                tokio::net::UnixListener::from_std(l).map_err(io("listen on fd", fd))?,
            ));
        } else {
            let l = std::net::TcpListener::from(owned);
            l.set_nonblocking(true).map_err(io("listen on fd", fd))?;
            out.push(Listener::Tcp(
                tokio::net::TcpListener::from_std(l).map_err(io("listen on fd", fd))?,
            ));
        }
    }
    Ok(out)
}

/// Tells systemd (Type=notify) about our state; a no-op without systemd.
pub fn sd_notify(state: &str) {
    let Ok(sock) = std::env::var("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(dgram) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let sent = if let Some(name) = sock.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|a| dgram.send_to_addr(state.as_bytes(), &a))
    } else {
        dgram.send_to(state.as_bytes(), &sock)
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_socket_is_0660_and_stale_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sock");
        std::fs::write(&p, b"stale").unwrap();
        let l = bind_unix(&p, "no-such-group-xyz", false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let err = bind_unix(&p, "no-such-group-xyz", false).unwrap_err();
        assert!(matches!(err, ListenError::InUse { .. }), "{err}");
        drop(l);
    }

    #[tokio::test]
    async fn an_explicit_missing_group_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = bind_unix(&dir.path().join("s.sock"), "no-such-group-xyz", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group \"no-such-group-xyz\" for the API socket not found"
        );
    }

    #[test]
    fn activation_without_systemd_is_a_clear_error() {
        let err = activated(None).unwrap_err();
        assert!(matches!(err, ListenError::NoActivatedSockets));
    }
}
