//! Overlay mounts of the driver's layers: mounting with Docker's options,
//! detaching, and asking `/proc/self/mountinfo` whether a directory is a
//! mount point.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::StoreError;

/// The most mount option bytes the kernel takes: one page, NUL included.
fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(4096)
}

/// Docker turns the overlay index off when the kernel knows the option:
/// with it on, a lower shared by several mounts can make later mounts fail.
pub(crate) fn index_off() -> &'static str {
    if Path::new("/sys/module/overlay/parameters/index").exists() {
        "index=off,"
    } else {
        ""
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
pub fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The mount points listed in a mountinfo text (field 5 of each line).
fn mount_points(mountinfo: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
}

/// Whether `path` is a mount point in our mount namespace. A missing path
/// is not.
///
/// Hand-written: a dozen lines of parsing do not warrant a dependency.
pub fn is_mountpoint(path: &Path) -> Result<bool, StoreError> {
    // Resolve the parent only: stat'ing the mount itself can fail when
    // its overlay went bad (a lower removed), which must not stop us from
    // seeing, and detaching, it.
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let real = match std::fs::canonicalize(parent) {
        Ok(p) => p.join(name),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(StoreError::Io {
                op: "resolve",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let info_path = Path::new("/proc/self/mountinfo");
    let info = std::fs::read_to_string(info_path).map_err(|source| StoreError::Io {
        op: "read",
        path: info_path.to_path_buf(),
        source,
    })?;
    let want = real.as_os_str().as_bytes();
    let found = mount_points(&info).any(|m| m == want);
    Ok(found)
}

/// Detaches every mount stacked on `path`; not mounted is fine.
pub(crate) fn unmount(path: &Path) -> Result<(), StoreError> {
    // Bounded: each round removes one mount of the stack.
    for _ in 0..16 {
        if !is_mountpoint(path)? {
            return Ok(());
        }
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(StoreError::Io {
                    op: "unmount",
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
    if is_mountpoint(path)? {
        return Err(StoreError::Invalid(format!(
            "{} is still mounted after 16 unmounts",
            path.display()
        )));
    }
    Ok(())
}

/// An overlay mount to make: every path is relative to the driver home
/// (`l/<LINK>`, `<id>/diff`, ...), as in the layers' `lower` files.
#[derive(Debug)]
pub(crate) struct OverlayMount<'a> {
    pub home: &'a Path,
    /// `l/<LINK>` entries, nearest first.
    pub lowers: &'a [String],
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
}

pub(crate) fn options(
    index: &str,
    lowers: &[String],
    upper: &Path,
    work: &Path,
    base: &Path,
) -> String {
    let lower: Vec<String> = lowers
        .iter()
        .map(|l| base.join(l).to_string_lossy().into_owned())
        .collect();
    format!(
        "{index}lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        base.join(upper).display(),
        base.join(work).display()
    )
}

fn check_path(p: &Path) -> Result<(), StoreError> {
    let s = p.as_os_str().as_bytes();
    if s.iter().any(|b| matches!(b, b',' | b':' | b'\\' | 0)) || std::str::from_utf8(s).is_err() {
        return Err(StoreError::Invalid(format!(
            "path {} cannot be used in overlay mount options (',', ':' or '\\')",
            p.display()
        )));
    }
    Ok(())
}

impl OverlayMount<'_> {
    /// Mounts the overlay with absolute paths; when those do not fit in a
    /// page, with paths relative to the driver home from a forked child
    /// (see [`mount_from`]). `max` is the page size but for tests.
    pub(crate) fn mount(&self, max: Option<usize>) -> Result<(), StoreError> {
        let max = max.unwrap_or_else(page_size);
        let home = std::path::absolute(self.home).map_err(|source| StoreError::Io {
            op: "resolve",
            path: self.home.to_path_buf(),
            source,
        })?;
        check_path(&home)?;
        for l in self.lowers {
            check_path(Path::new(l))?;
        }
        let index = index_off();
        let abs = options(index, self.lowers, &self.upper, &self.work, &home);
        let target = home.join(&self.target);
        let cstr = |s: &[u8]| {
            CString::new(s).map_err(|_| StoreError::Invalid("NUL in mount argument".into()))
        };
        if abs.len() < max {
            return nix::mount::mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(abs.as_str()),
            )
            .map_err(|e| StoreError::Io {
                op: "mount overlay",
                path: target.clone(),
                source: e.into(),
            });
        }
        let rel = options(index, self.lowers, &self.upper, &self.work, Path::new(""));
        if rel.len() >= max {
            // Docker gives up here too ("mount label too large").
            return Err(StoreError::MountOptionsTooLong {
                path: target,
                len: rel.len(),
                max: max - 1,
            });
        }
        mount_from(
            &cstr(home.as_os_str().as_bytes())?,
            &cstr(self.target.as_os_str().as_bytes())?,
            &cstr(rel.as_bytes())?,
        )
        .map_err(|source| StoreError::Io {
            op: "mount overlay (relative)",
            path: target.clone(),
            source,
        })?;
        // The child's exit status can be lost to another reaper (ECHILD):
        // the mount table tells the truth.
        if is_mountpoint(&target)? {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "overlay mount of {} did not appear",
                target.display()
            )))
        }
    }
}

/// Mounts an overlay whose options name paths relative to `dir`.
///
/// Docker re-executes itself to `chdir` and mount, because the working
/// directory is shared by every thread and a multi-threaded daemon must
/// not change it. We fork instead: the child has one thread and its own
/// working directory, calls only `chdir`, `mount` and `_exit` (all
/// async-signal-safe) on C strings built before the fork, and exits with
/// the errno. The mount is made in the shared mount namespace.
fn mount_from(dir: &CString, target: &CString, data: &CString) -> std::io::Result<()> {
    use nix::libc;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::ForkResult;
    let overlay = c"overlay";
    // SAFETY: the child below only makes raw async-signal-safe syscalls
    // (chdir, mount, _exit) on pointers into memory allocated before the
    // fork; it takes no lock, allocates nothing, runs no destructor and
    // never returns into Rust code, so the state other threads left in
    // locks or the allocator cannot affect it.
    match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            // SAFETY: `dir` is a valid NUL-terminated string that outlives
            // this call.
            if unsafe { libc::chdir(dir.as_ptr()) } != 0 {
                let e = nix::errno::Errno::last_raw();
                // SAFETY: _exit ends the child without running any Rust
                // or libc cleanup, which is what a forked child must do.
                unsafe { libc::_exit(e.clamp(1, 255)) };
            }
            // SAFETY: every pointer is a valid NUL-terminated string kept
            // alive by the parent's frame, which the child's copy shares.
            let rc = unsafe {
                libc::mount(
                    overlay.as_ptr(),
                    target.as_ptr(),
                    overlay.as_ptr(),
                    0,
                    data.as_ptr().cast(),
                )
            };
            let code = if rc == 0 {
                0
            } else {
                nix::errno::Errno::last_raw().clamp(1, 255)
            };
            // SAFETY: as above; the child must not return.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) => {
                    return Err(std::io::Error::from_raw_os_error(code))
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(std::io::Error::other(format!(
                        "mount helper killed by {sig}"
                    )))
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                // Reaped by someone else (a subreaper thread or SIGCHLD
                // ignored): the caller checks the mount table.
                Err(nix::errno::Errno::ECHILD) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_are_unescaped() {
        let info = "36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /proc rw - proc proc rw\n";
        let points: Vec<Vec<u8>> = mount_points(info).collect();
        assert_eq!(points, vec![b"/mnt/my dir".to_vec(), b"/proc".to_vec()]);
        assert_eq!(unescape("a\\134b\\011"), b"a\\b\t".to_vec());
        assert_eq!(unescape("end\\04"), b"end\\04".to_vec());
    }

    #[test]
    fn proc_is_a_mountpoint_and_a_missing_dir_is_not() {
        assert!(is_mountpoint(Path::new("/proc")).unwrap());
        assert!(!is_mountpoint(Path::new("/proc/self/nonexistent-x")).unwrap());
        let d = tempfile::tempdir().unwrap();
        assert!(!is_mountpoint(&d.path().join("x")).unwrap());
    }

    #[test]
    fn paths_that_break_option_parsing_are_refused() {
        assert!(check_path(Path::new("/var/lib/a,b")).is_err());
        assert!(check_path(Path::new("/var/lib/a:b")).is_err());
        assert!(check_path(Path::new("/var/lib/docker/overlay2")).is_ok());
    }
}
