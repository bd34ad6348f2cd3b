//! Path resolution that cannot leave a root directory, shared by the
//! applier and the assembler.
//!
//! The applier resolves parents with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`: a layer
//! produced by walking a file system never has an entry below a symlink of
//! the same layer, so any such entry is hostile or broken and is refused
//! (`ELOOP`) instead of being redirected inside the root as
//! `RESOLVE_IN_ROOT` (or Docker's chroot) would do. Kernels older than 5.6
//! lack `openat2`; there the same guarantee comes from opening one
//! pre-validated component at a time with `O_NOFOLLOW | O_DIRECTORY`.
//!
//! The assembler reads files named by a tar-split, possibly written by
//! balenaEngine itself, so it resolves with `RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS`: the same view a chroot into the layer gives
//! (which is how Docker extracted it), and never outside it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Set once `openat2` has returned `ENOSYS`.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
thread_local! {
    /// Lets tests exercise the pre-5.6 code path.
    pub(crate) static FORCE_NO_OPENAT2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn openat2_disabled() -> bool {
    #[cfg(test)]
    if FORCE_NO_OPENAT2.with(|f| f.get()) {
        return true;
    }
    NO_OPENAT2.load(Ordering::Relaxed)
}

/// `openat2`, retried on `EAGAIN` (a concurrent rename elsewhere on the
/// system); `Ok(None)` when the kernel has no `openat2`.
fn try_openat2(
    dir: BorrowedFd<'_>,
    path: &[u8],
    oflags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<Option<OwnedFd>> {
    if openat2_disabled() {
        return Ok(None);
    }
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, path, oflags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::NOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` (one component, no `/`, not `.` or `..`) in
/// `dir`, refusing symlinks (`ELOOP`) and non-directories (`ENOTDIR`).
pub(crate) fn open_dir_component(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(|e| {
        // O_NOFOLLOW on a symlink gives ELOOP; with O_DIRECTORY some
        // kernels say ENOTDIR first. Tell them apart for a clear error.
        if e == Errno::NOTDIR {
            if let Ok(st) = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
                {
                    return io::Error::from(Errno::LOOP);
                }
            }
        }
        io::Error::from(e)
    })?;
    Ok(fd)
}

/// Opens the directory at `comps` beneath `root` without following any
/// symlink. The components must already be validated (no empty, `.`, `..`
/// or `/`-containing ones).
pub(crate) fn open_dir_beneath(root: BorrowedFd<'_>, comps: &[&[u8]]) -> io::Result<OwnedFd> {
    if comps.is_empty() {
        return root.try_clone_to_owned();
    }
    let joined = comps.join(&b'/');
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV;
    // Without O_NOFOLLOW: with it a trailing symlink gives ENOTDIR (from
    // O_DIRECTORY) instead of RESOLVE_NO_SYMLINKS' ELOOP.
    let oflags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if let Some(fd) = try_openat2(root, &joined, oflags, resolve)? {
        return Ok(fd);
    }
    let mut cur = open_dir_component(root, comps[0])?;
    for c in &comps[1..] {
        cur = open_dir_component(cur.as_fd(), c)?;
    }
    Ok(cur)
}

/// Opens `name` inside `root` with `oflags`, with the semantics of a
/// chroot into `root` (absolute symlinks and `..` stay inside). Without
/// `openat2`, symlinks in the path are refused instead.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    name: &[u8],
    oflags: OFlags,
) -> io::Result<OwnedFd> {
    let oflags = oflags | OFlags::CLOEXEC;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    if name.contains(&0) {
        return Err(Errno::INVAL.into());
    }
    let path: &[u8] = if name.is_empty() { b"." } else { name };
    if let Some(fd) = try_openat2(root, path, oflags, resolve)? {
        return Ok(fd);
    }
    // Lexical walk: `..` clamps at the root as in a chroot.
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            c => comps.push(c),
        }
    }
    let Some((last, parents)) = comps.split_last() else {
        return Ok(rustix::fs::openat(root, ".", oflags, Mode::empty())?);
    };
    let parent = open_dir_beneath(root, parents)?;
    Ok(rustix::fs::openat(
        parent,
        *last,
        oflags | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn with_fallback<T>(on: bool, f: impl FnOnce() -> T) -> T {
        FORCE_NO_OPENAT2.with(|c| c.set(on));
        let r = f();
        FORCE_NO_OPENAT2.with(|c| c.set(false));
        r
    }

    #[test]
    fn open_dir_beneath_refuses_symlinks_and_files_in_both_modes() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        symlink("a", t.path().join("l")).unwrap();
        let root = std::fs::File::open(t.path()).unwrap();
        for fallback in [false, true] {
            with_fallback(fallback, || {
                assert!(open_dir_beneath(root.as_fd(), &[b"a", b"b"]).is_ok());
                let e = open_dir_beneath(root.as_fd(), &[b"l", b"b"]).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "fallback={fallback}");
                let e = open_dir_beneath(root.as_fd(), &[b"l"]).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "fallback={fallback}");
                let e = open_dir_beneath(root.as_fd(), &[b"f", b"x"]).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
                let e = open_dir_beneath(root.as_fd(), &[b"nope"]).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            });
        }
    }

    #[test]
    fn open_path_in_root_stays_inside_like_a_chroot() {
        let t = tempfile::tempdir().unwrap();
        let root_dir = t.path().join("root");
        std::fs::create_dir_all(root_dir.join("etc")).unwrap();
        std::fs::write(root_dir.join("etc/passwd"), b"inside").unwrap();
        std::fs::write(t.path().join("outside"), b"outside").unwrap();
        symlink("/etc/passwd", root_dir.join("abs")).unwrap();
        let root = std::fs::File::open(&root_dir).unwrap();
        for name in [
            &b"../../etc/passwd"[..],
            b"/etc/passwd",
            b"abs",
            b"./etc/../etc/passwd",
        ] {
            let fd = open_in_root(root.as_fd(), name, OFlags::PATH).unwrap();
            let st = rustix::fs::fstat(&fd).unwrap();
            let inside = std::fs::metadata(root_dir.join("etc/passwd")).unwrap();
            assert_eq!(
                st.st_ino,
                std::os::unix::fs::MetadataExt::ino(&inside),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        assert!(open_in_root(root.as_fd(), b"../outside", OFlags::PATH).is_err());
        with_fallback(true, || {
            assert!(open_in_root(root.as_fd(), b"../../etc/passwd", OFlags::PATH).is_ok());
            assert!(open_in_root(root.as_fd(), b"../outside", OFlags::PATH).is_err());
        });
    }
}
