//! The container file system endpoints: `changes`, `export` and the
//! archive API (`HEAD`/`GET`/`PUT /containers/{id}/archive`).
//!
//! A stopped container's root is mounted for the operation and unmounted
//! after, under the container's `op` lock (so no start or remove runs
//! meanwhile); a running container's mounted root is used as it is.
//! Either way the work is done through one descriptor of the root, which
//! keeps the mount alive (detached) if the container exits meanwhile.
//!
//! Gap: volumes and bind mounts are not seen (the paths resolve within the
//! container's root file system only), nor are `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` (their init-layer placeholders
//! are).

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::fsops::{self, FsError};
use super::record::{Record, Status};
use super::Containers;
use crate::EngineError;

/// A container's root directory, open for one operation.
#[derive(Debug)]
pub struct RootFs {
    fd: OwnedFd,
    /// The container's name or id as the client gave it (for messages).
    name: String,
}

impl RootFs {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn err(&self, e: FsError) -> EngineError {
        match e {
            FsError::NotFound { path } => EngineError::NotFound(format!(
                "Could not find the file {path} in container {}",
                self.name
            )),
            FsError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR) => {
                EngineError::InvalidArgument("extraction point is not a directory".into())
            }
            FsError::Io { op, path, source } => EngineError::Io {
                op,
                path: path.into(),
                source,
            },
        }
    }

    /// `HEAD /containers/{id}/archive`.
    pub fn stat(&self, path: &str) -> Result<api::fs::PathStat, EngineError> {
        fsops::stat_path(self.fd(), path).map_err(|e| self.err(e))
    }

    /// `GET /containers/{id}/archive` (call [`RootFs::stat`] first to
    /// answer a missing path before the stream starts).
    pub fn archive(&self, path: &str, out: impl Write) -> Result<(), EngineError> {
        fsops::archive_path(self.fd(), path, out)
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// `GET /containers/{id}/export`.
    pub fn export(&self, out: impl Write) -> Result<(), EngineError> {
        fsops::export(self.fd(), out).map_err(|source| EngineError::Io {
            op: "export",
            path: "/".into(),
            source,
        })
    }
}

fn join_err(e: tokio::task::JoinError) -> EngineError {
    EngineError::Corrupt(format!("task failed: {e}"))
}

impl Containers {
    /// Runs `f` on a blocking thread with the container's root open,
    /// mounting (and after, unmounting) it when the container is not
    /// running.
    pub async fn with_root<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        f: impl FnOnce(&RootFs, &Record) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let c = self.get(name)?;
        let op = c.op.lock().await;
        let rec = c.record();
        if matches!(rec.state.status, Status::Removing | Status::Dead) {
            return Err(EngineError::Conflict(format!(
                "container {} is marked for removal",
                c.id
            )));
        }
        let running = rec.is_running();
        // A running container's exit does not take `op`: nothing to hold.
        let op = (!running).then_some(op);
        let store = self.store.clone();
        let given = name.to_string();
        let r = tokio::task::spawn_blocking(move || {
            let id = rec.id.clone();
            let path = store.mount_rw(&id)?;
            let opened = rustix::fs::open(
                &path,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| EngineError::Io {
                op: "open container root",
                path: path.clone(),
                source: e.into(),
            });
            let res = opened.and_then(|fd| f(&RootFs { fd, name: given }, &rec));
            if !running {
                if let Err(e) = store.unmount_rw(&id) {
                    tracing::warn!(container = %id, error = %e, "unmount after a file operation");
                }
            }
            res
        })
        .await
        .map_err(join_err)?;
        drop(op);
        r
    }

    /// `GET /containers/{id}/changes`.
    pub async fn changes(&self, name: &str) -> Result<Vec<api::fs::ChangeItem>, EngineError> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let store = self.store.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let data = store.rw_driver_data(&id)?;
            let upper = data.get("UpperDir").cloned().unwrap_or_default();
            let lowers: Vec<std::path::PathBuf> = data
                .get("LowerDir")
                .map(|l| l.split(':').map(Into::into).collect())
                .unwrap_or_default();
            fsops::changes(std::path::Path::new(&upper), &lowers).map_err(|source| {
                EngineError::Io {
                    op: "compute changes",
                    path: upper.into(),
                    source,
                }
            })
        })
        .await
        .map_err(join_err)?
    }

    /// `PUT /containers/{id}/archive`.
    pub async fn extract_to_dir(
        self: &Arc<Self>,
        name: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        tar: impl Read + Send + 'static,
    ) -> Result<(), EngineError> {
        let path = path.to_string();
        let rec = self
            .with_root(name, move |root, rec| {
                if rec.host_config.readonly_rootfs {
                    return Err(EngineError::Conflict(
                        "container rootfs is marked read-only".into(),
                    ));
                }
                let mut opts = layer::ExtractOptions::default();
                opts.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir;
                if copy_uid_gid {
                    opts.owner = container_owner(root, rec)?;
                }
                match fsops::extract(root.fd(), &path, tar, &opts) {
                    Err(e) => Err(root.err(e)),
                    Ok(Err(e)) => Err(EngineError::InvalidArgument(error_chain(&e))),
                    Ok(Ok(_)) => Ok(rec.clone()),
                }
            })
            .await?;
        self.event(&rec, "extract-to-dir", &[]);
        Ok(())
    }

    /// Publishes `archive-path` or `export` once a stream is written.
    pub fn file_event(&self, name: &str, action: &str) {
        if let Ok(c) = self.get(name) {
            self.event(&c.record(), action, &[]);
        }
    }
}

/// `copyUIDGID`: the container's user (and group) as ids, resolved in the
/// container's own `/etc/passwd` and `/etc/group` (Docker looks them up in
/// the host's); `None` without a configured user.
fn container_owner(root: &RootFs, rec: &Record) -> Result<Option<(u32, u32)>, EngineError> {
    let user = rec.config.user.clone().unwrap_or_default();
    if user.is_empty() {
        return Ok(None);
    }
    let passwd = fsops::read_small(root.fd(), "/etc/passwd", 4 << 20);
    let group = fsops::read_small(root.fd(), "/etc/group", 4 << 20);
    let u = spec::resolve_user_from(&user, &[], passwd.as_deref(), group.as_deref())
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    Ok(Some((u.uid, u.gid)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
