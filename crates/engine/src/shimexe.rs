//! The engine binary, as shims are executed from: read-only.
//!
//! A container's init starts as a fork of its shim, so until it execs the
//! container's command its `/proc/self/exe` is the engine binary. The known
//! CVE-2019-5736 attack re-opens that file for writing from inside the
//! container. runc and youki defend by copying the binary into a sealed
//! memfd on every start, which costs the binary's size in each container's
//! memory cgroup (balena's "write init-p: broken pipe" with small limits).
//!
//! We do what runc 1.2 does in spirit, without a copy: at start the daemon
//! makes a detached, read-only bind mount of its own executable
//! (`open_tree(OPEN_TREE_CLONE)` + `mount_setattr(MOUNT_ATTR_RDONLY)`) and
//! executes every shim through it (`/proc/self/fd/N`). The shim's and the
//! init's exe is then on a read-only mount that exists in no mount table:
//! re-opening it for writing fails with EROFS, nothing is copied, and no
//! mount event reaches systemd. Kernels without the new mount API (< 5.12)
//! fall back to one sealed memfd copy made once by the daemon and shared by
//! all shims.
//!
//! Hand-written: rustix has `open_tree` but not `mount_setattr`, and the
//! whole thing is three system calls.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use crate::EngineError;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// How the protected executable was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// A detached read-only bind mount (no copy).
    ReadOnlyMount,
    /// A sealed memfd copy (older kernels).
    SealedMemfd,
}

/// A read-only handle on the engine binary to execute shims from.
#[derive(Debug)]
pub struct ShimExe {
    fd: OwnedFd,
    protection: Protection,
}

impl ShimExe {
    /// Makes the handle; call once at daemon start.
    pub fn open() -> Result<Self, EngineError> {
        match readonly_mount() {
            Ok(fd) => Ok(Self {
                fd,
                protection: Protection::ReadOnlyMount,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no read-only mount of the engine binary; using a sealed copy");
                Ok(Self {
                    fd: sealed_copy()?,
                    protection: Protection::SealedMemfd,
                })
            }
        }
    }

    /// The path to execute (valid in this process and at exec time).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// How it is protected.
    pub fn protection(&self) -> Protection {
        self.protection
    }
}

fn last_error(op: &'static str) -> EngineError {
    EngineError::Io {
        op,
        path: PathBuf::from("/proc/self/exe"),
        source: std::io::Error::last_os_error(),
    }
}

fn readonly_mount() -> Result<OwnedFd, EngineError> {
    let path = c"/proc/self/exe";
    // SAFETY: open_tree with a valid NUL-terminated path and flags; the
    // return value is checked before use.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last_error("open_tree"));
    }
    let fd = i32::try_from(fd).map_err(|_| last_error("open_tree"))?;
    // SAFETY: the kernel just returned this descriptor to us; we own it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on our detached mount fd with an empty path,
    // AT_EMPTY_PATH, and a correctly sized, initialised mount_attr.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(last_error("mount_setattr"));
    }
    Ok(fd)
}

fn sealed_copy() -> Result<OwnedFd, EngineError> {
    use std::io::Write;
    let fd = nix::sys::memfd::memfd_create(
        c"balena-engine",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC
            | nix::sys::memfd::MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| EngineError::Io {
        op: "memfd_create",
        path: PathBuf::from("/proc/self/exe"),
        source: e.into(),
    })?;
    let mut f = std::fs::File::from(fd);
    let mut src = std::fs::File::open("/proc/self/exe").map_err(|source| EngineError::Io {
        op: "open",
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    std::io::copy(&mut src, &mut f).map_err(|source| EngineError::Io {
        op: "copy",
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    f.flush().map_err(|source| EngineError::Io {
        op: "copy",
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl(F_ADD_SEALS) on a memfd we own.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    if r < 0 {
        return Err(last_error("seal memfd"));
    }
    Ok(OwnedFd::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_cannot_be_opened_for_writing_through_the_handle() {
        let exe = ShimExe::open().unwrap();
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(exe.path())
            .unwrap_err();
        // EROFS for the mount, EPERM for a sealed memfd, ETXTBSY while running.
        assert!(
            matches!(
                err.raw_os_error(),
                Some(libc::EROFS | libc::EPERM | libc::ETXTBSY)
            ),
            "{err}"
        );
        // The test binary runs, so ETXTBSY alone would prove nothing: the
        // mount itself must be read-only.
        assert_eq!(exe.protection(), Protection::ReadOnlyMount);
        let vfs = nix::sys::statvfs::statvfs(&exe.path()).unwrap();
        assert!(vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
        let md = std::fs::metadata(exe.path()).unwrap();
        assert!(md.len() > 0);
    }
}
