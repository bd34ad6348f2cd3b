//! Persistent network namespaces, bind-mounted on a file (as `ip netns` and
//! libnetwork's sandboxes do), and running code or commands inside one.
//!
//! Namespace switches never happen on the caller's thread: the daemon is a
//! multi-threaded tokio process, and a thread left in another namespace
//! would carry every later task it runs there. [`create`] and [`run_in`] use
//! a short-lived thread of their own; [`command_in`] switches in the child
//! between fork and exec.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

/// What the calling thread's namespace is, seen from inside the thread that
/// unshared it (`/proc/self` would name the process's main thread).
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Errors of the namespace operations; `path` is the namespace's file.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `create` was asked for a path that already holds a namespace.
    #[error("network namespace {path} already exists")]
    Exists { path: PathBuf },
    /// Making the parent directories or the file to mount on failed.
    #[error("create the namespace file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `unshare(CLONE_NEWNET)` failed (needs CAP_SYS_ADMIN).
    #[error("unshare a new network namespace for {path}")]
    Unshare {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Bringing up `lo` in the new namespace failed.
    #[error("bring up loopback in {path}")]
    Loopback {
        path: PathBuf,
        #[source]
        source: Box<crate::link::LinkError>,
    },
    /// The bind mount that keeps the namespace alive failed.
    #[error("bind-mount the network namespace on {path}")]
    Mount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Unmounting or unlinking the namespace file failed.
    #[error("remove the network namespace {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The namespace file could not be opened.
    #[error("open the network namespace {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `setns` into the namespace failed (not a network namespace, or no
    /// privilege).
    #[error("enter the network namespace {path}")]
    Enter {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The helper thread could not be started.
    #[error("start a thread for the network namespace {path}")]
    Thread {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The code run in the namespace panicked.
    #[error("the code run in the network namespace {path} panicked")]
    Panicked { path: PathBuf },
}

/// Whether `path` is a mounted network namespace (an nsfs file; a plain
/// file under a tmpfs is not).
pub fn is_netns(path: &Path) -> bool {
    statfs(path).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC)
}

/// Creates a network namespace kept alive by a bind mount on `path`, with
/// `lo` up inside.
///
/// Parent directories and the empty file are created as needed. A `path`
/// that already is a namespace is an error ([`NetnsError::Exists`]), never
/// silently reused: a namespace left behind holds links and addresses of
/// its last life. Docker replaces it instead; callers that want that call
/// [`remove`] first. On failure nothing is left at `path`.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    if is_netns(path) {
        return Err(NetnsError::Exists {
            path: path.to_path_buf(),
        });
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| NetnsError::File {
            path: path.to_path_buf(),
            source: e,
        })?;
    }
    let created = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
    {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(NetnsError::File {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let result = std::thread::scope(|s| {
        let thread = std::thread::Builder::new()
            .name("netns-create".into())
            .spawn_scoped(s, || create_on_this_thread(path))
            .map_err(|e| NetnsError::Thread {
                path: path.to_path_buf(),
                source: e,
            })?;
        thread.join().map_err(|_| NetnsError::Panicked {
            path: path.to_path_buf(),
        })?
    });
    if result.is_err() {
        if is_netns(path) {
            let _ = umount2(path, MntFlags::MNT_DETACH);
        }
        if created {
            let _ = fs::remove_file(path);
        }
    }
    result
}

/// The body of [`create`], on a thread that ends right after: the thread
/// moves to the new namespace, which the bind mount then keeps.
fn create_on_this_thread(path: &Path) -> Result<(), NetnsError> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Unshare {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    mount(
        Some(THREAD_NETNS),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| NetnsError::Mount {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    crate::link::set_up("lo").map_err(|e| NetnsError::Loopback {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Removes the namespace at `path`: a lazy unmount (`MNT_DETACH`; the
/// namespace lives on while processes or sockets still use it) and the
/// file. Ok when nothing is there.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    // A file may carry several mounts (a namespace mounted twice); take
    // them all off, boundedly.
    for _ in 0..8 {
        if !is_netns(path) {
            break;
        }
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(NetnsError::Remove {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetnsError::Remove {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Runs `f` on a scoped thread that has entered the namespace at `path`,
/// and returns its result. Sockets and links `f` makes belong to that
/// namespace (a socket stays there after `f` returns); the caller's thread
/// never changes namespace.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let ns = open(path)?;
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new()
            .name("netns".into())
            .spawn_scoped(s, move || {
                setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
                    path: path.to_path_buf(),
                    source: e.into(),
                })?;
                drop(ns);
                Ok(f())
            })
            .map_err(|e| NetnsError::Thread {
                path: path.to_path_buf(),
                source: e,
            })?;
        thread.join().map_err(|_| NetnsError::Panicked {
            path: path.to_path_buf(),
        })?
    })
}

/// Makes `cmd` run inside the namespace at `path`: the file is opened now
/// (close-on-exec) and the child enters it between fork and exec.
pub fn command_in(path: &Path, cmd: &mut Command) -> Result<(), NetnsError> {
    let ns = open(path)?;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls setns(2), which is async-signal-safe; it allocates nothing. The
    // descriptor it uses is owned by the closure, which the Command keeps
    // alive until it is dropped, so it is open at every spawn.
    unsafe {
        cmd.pre_exec(move || {
            // SAFETY: setns on a descriptor owned by this closure.
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    Ok(())
}

pub(crate) fn open(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|e| NetnsError::Open {
        path: path.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_is_not_a_netns() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ns");
        fs::write(&file, b"").unwrap();
        assert!(!is_netns(&file));
        assert!(!is_netns(&dir.path().join("missing")));
    }

    #[test]
    fn the_own_thread_netns_is_a_netns() {
        assert!(is_netns(Path::new(THREAD_NETNS)));
    }

    #[test]
    fn removing_a_missing_namespace_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        remove(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn entering_a_plain_file_fails_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ns");
        fs::write(&file, b"").unwrap();
        let err = run_in(&file, || ()).unwrap_err();
        assert!(matches!(err, NetnsError::Enter { ref path, .. } if *path == file));
    }
}
