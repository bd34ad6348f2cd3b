//! The destination tree: every operation is an `*at` call relative to a
//! directory descriptor obtained by [`sys`] resolution beneath the root.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use super::writeback::EagerWriter;
use super::{ApplyOptions, ApplyStats, LayerError};
use crate::sys;
use crate::tarsplit::{Disassembler, TarEntry, Timestamp};

const COPY_BUF: usize = 64 << 10;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits a tar name into components, dropping empty and `.` ones and
/// refusing absolute names and `..`.
fn components(name: &[u8]) -> Result<Vec<&[u8]>, LayerError> {
    if name.first() == Some(&b'/') {
        return Err(LayerError::AbsolutePath { name: lossy(name) });
    }
    let mut v = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(LayerError::DotDot { name: lossy(name) }),
            c => v.push(c),
        }
    }
    Ok(v)
}

/// Docker's symlink check: `Join(Dir(path), target)` must stay inside the
/// root, lexically (a leading `/` is just joined, not the root).
fn symlink_escapes(parent_depth: usize, target: &[u8]) -> bool {
    let mut depth = parent_depth;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// An error while resolving a path of `name`.
fn resolve_err(name: &[u8], e: io::Error) -> LayerError {
    match e.raw_os_error() {
        Some(libc::ELOOP) => LayerError::SymlinkInPath { name: lossy(name) },
        Some(libc::ENOTDIR) => LayerError::NotADirectory { name: lossy(name) },
        _ => LayerError::Fs {
            op: "resolving parent directory",
            name: lossy(name),
            source: e,
        },
    }
}

fn fs_err<'a>(op: &'static str, name: &'a [u8]) -> impl FnOnce(Errno) -> LayerError + 'a {
    move |e| LayerError::Fs {
        op,
        name: lossy(name),
        source: e.into(),
    }
}

fn timespec(t: Timestamp) -> Timespec {
    // Docker's system.Chtimes: times before the epoch become the epoch.
    if t.secs < 0 {
        Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: t.secs,
            tv_nsec: t.nanos.into(),
        }
    }
}

/// Times for an entry: atime is never before mtime (Docker).
fn entry_times(e: &TarEntry) -> Timestamps {
    let atime = match e.atime {
        Some(a) if a > e.mtime => a,
        _ => e.mtime,
    };
    Timestamps {
        last_access: timespec(atime),
        last_modification: timespec(e.mtime),
    }
}

fn file_type(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

#[derive(Clone, Copy)]
enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a [u8]),
}

pub(crate) struct Tree {
    root: OwnedFd,
    path: PathBuf,
    chown: bool,
    step: u64,
    /// The last parent directory resolved, by its joined path.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Directories whose times are set again at the end.
    dirs: Vec<(Vec<u8>, Timestamps)>,
    stats: ApplyStats,
    buf: Vec<u8>,
    /// Extracting into a live directory ([`super::extract`]): `.wh.` names
    /// are ordinary files and the destination may hold files.
    live: bool,
    /// Docker's `NoOverwriteDirNonDir`.
    no_overwrite_dir_non_dir: bool,
    /// Docker's `ChownOpts`: every entry gets this owner.
    owner_override: Option<(Uid, Gid)>,
}

impl Tree {
    /// Opens `dest`, which must be an empty directory.
    pub(crate) fn open(dest: &Path, opts: &ApplyOptions) -> Result<Tree, LayerError> {
        let dest_err = |e: Errno| LayerError::Dest {
            path: dest.to_path_buf(),
            source: e.into(),
        };
        let root = rustix::fs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(dest_err)?;
        let mut d = Dir::read_from(&root).map_err(dest_err)?;
        while let Some(ent) = d.read() {
            let ent = ent.map_err(dest_err)?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                return Err(LayerError::DestNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
        }
        Ok(Tree {
            root,
            path: dest.to_path_buf(),
            chown: opts.chown,
            step: opts.writeback_step,
            cache: None,
            dirs: Vec::new(),
            stats: ApplyStats::default(),
            buf: Vec::new(),
            live: false,
            no_overwrite_dir_non_dir: false,
            owner_override: None,
        })
    }

    /// A tree over the live directory `root` (Docker's `Untar` into a
    /// container): existing entries are kept or replaced, `.wh.` names are
    /// not whiteouts.
    pub(crate) fn live(root: OwnedFd, opts: &super::ExtractOptions) -> Tree {
        Tree {
            root,
            path: PathBuf::new(),
            chown: true,
            step: opts.writeback_step,
            cache: None,
            dirs: Vec::new(),
            stats: ApplyStats::default(),
            buf: Vec::new(),
            live: true,
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            owner_override: opts
                .owner
                .map(|(u, g)| (Uid::from_raw(u), Gid::from_raw(g))),
        }
    }

    /// The directory `parents`, created (0755) where missing.
    fn parent(&mut self, parents: &[&[u8]], name: &[u8]) -> Result<Rc<OwnedFd>, LayerError> {
        let key = parents.join(&b'/');
        if let Some((k, fd)) = &self.cache {
            if *k == key {
                return Ok(Rc::clone(fd));
            }
        }
        let fd = match sys::open_dir_beneath(self.root.as_fd(), parents) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.make_parents(parents, name)?,
            Err(e) => return Err(resolve_err(name, e)),
        };
        let fd = Rc::new(fd);
        self.cache = Some((key, Rc::clone(&fd)));
        Ok(fd)
    }

    /// Docker's `MkdirAllAndChownNew(parent, 0755, root)`.
    fn make_parents(&self, parents: &[&[u8]], name: &[u8]) -> Result<OwnedFd, LayerError> {
        let mut cur = self.root.try_clone().map_err(|e| resolve_err(name, e))?;
        for c in parents {
            cur = match sys::open_dir_component(cur.as_fd(), c) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rustix::fs::mkdirat(&cur, *c, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(fs_err("creating parent directory", name)(e)),
                    }
                    let fd = sys::open_dir_component(cur.as_fd(), c)
                        .map_err(|e| resolve_err(name, e))?;
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))
                        .map_err(fs_err("chmod parent directory", name))?;
                    fd
                }
                Err(e) => return Err(resolve_err(name, e)),
            };
        }
        Ok(cur)
    }

    fn owner(&self, e: &TarEntry) -> Result<Option<(Uid, Gid)>, LayerError> {
        if !self.chown {
            return Ok(None);
        }
        if let Some(o) = self.owner_override {
            return Ok(Some(o));
        }
        // -1 (u32::MAX) means "unchanged" to chown; refuse it.
        let id = |v: i64| u32::try_from(v).ok().filter(|v| *v != u32::MAX);
        match (id(e.uid), id(e.gid)) {
            (Some(u), Some(g)) => Ok(Some((Uid::from_raw(u), Gid::from_raw(g)))),
            _ => Err(LayerError::InvalidOwner {
                name: lossy(&e.name),
                uid: e.uid,
                gid: e.gid,
            }),
        }
    }

    fn set_xattrs(&mut self, e: &TarEntry, target: XattrTarget<'_>) -> Result<(), LayerError> {
        if e.xattrs.is_empty() {
            return Ok(());
        }
        // For entries that cannot be opened (symlinks, devices, FIFOs) the
        // attribute is set by path through the parent's descriptor; the
        // final component is not followed (lsetxattr).
        let proc_path = match target {
            XattrTarget::At(dir, base) => {
                let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
                p.extend_from_slice(base);
                p
            }
            XattrTarget::Fd(_) => Vec::new(),
        };
        for (k, v) in &e.xattrs {
            let r = match target {
                XattrTarget::Fd(fd) => {
                    rustix::fs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty())
                }
                XattrTarget::At(..) => rustix::fs::lsetxattr(
                    proc_path.as_slice(),
                    k.as_slice(),
                    v,
                    XattrFlags::empty(),
                ),
            };
            match r {
                Ok(()) => {}
                Err(Errno::OPNOTSUPP) | Err(Errno::PERM) => self.stats.xattrs_ignored += 1,
                Err(err) => return Err(fs_err("setting extended attribute", &e.name)(err)),
            }
        }
        Ok(())
    }

    /// Applies one entry; `content` supplies a regular file's data.
    pub(crate) fn apply_entry<R: Read, W: Write>(
        &mut self,
        e: &TarEntry,
        content: &mut Disassembler<R, W>,
    ) -> Result<(), LayerError> {
        let name = e.name.as_slice();
        if e.typeflag == b'g' {
            return Ok(());
        }
        let comps = components(name)?;
        let Some((base, parents)) = comps.split_last() else {
            return if e.typeflag == b'5' {
                Ok(())
            } else {
                Err(LayerError::RootNotDirectory { name: lossy(name) })
            };
        };
        let base: &[u8] = base;
        let parent = self.parent(parents, name)?;
        let pfd = parent.as_fd();
        let owner = self.owner(e)?;

        if let Some(target) = base.strip_prefix(b".wh.").filter(|_| !self.live) {
            return self.whiteout(e, pfd, target, owner);
        }

        let mut existing_dir = false;
        match rustix::fs::statat(pfd, base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let is_dir = file_type(&st) == FileType::Directory;
                if self.no_overwrite_dir_non_dir && is_dir != (e.typeflag == b'5') {
                    return Err(LayerError::OverwriteDirNonDir {
                        name: lossy(name),
                        existing_dir: is_dir,
                    });
                }
                if is_dir && e.typeflag == b'5' {
                    existing_dir = true;
                } else {
                    remove_all(pfd, base).map_err(|source| LayerError::Fs {
                        op: "removing existing entry",
                        name: lossy(name),
                        source,
                    })?;
                    self.cache = None;
                    self.stats.replaced += 1;
                }
            }
            Err(Errno::NOENT) => {}
            Err(err) => return Err(fs_err("stat", name)(err)),
        }

        let mode = Mode::from_raw_mode(u32::try_from(e.mode & 0o7777).unwrap_or(0));
        let times = entry_times(e);
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        match e.typeflag {
            b'5' => {
                if !existing_dir {
                    rustix::fs::mkdirat(pfd, base, Mode::from_raw_mode(0o700))
                        .map_err(fs_err("mkdir", name))?;
                }
                let fd =
                    sys::open_dir_component(pfd, base).map_err(|err| resolve_err(name, err))?;
                if let Some((u, g)) = owner {
                    rustix::fs::fchown(&fd, Some(u), Some(g)).map_err(fs_err("chown", name))?;
                }
                self.set_xattrs(e, XattrTarget::Fd(fd.as_fd()))?;
                rustix::fs::fchmod(&fd, mode).map_err(fs_err("chmod", name))?;
                rustix::fs::futimens(&fd, &times).map_err(fs_err("set times", name))?;
                self.dirs.push((
                    comps.join(&b'/'),
                    Timestamps {
                        last_access: timespec(e.atime.unwrap_or_default()),
                        last_modification: timespec(e.mtime),
                    },
                ));
            }
            b'0' => {
                let fd = rustix::fs::openat(
                    pfd,
                    base,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(fs_err("create file", name))?;
                let mut w = EagerWriter::new(File::from(fd), self.step);
                let mut buf = std::mem::take(&mut self.buf);
                buf.resize(COPY_BUF, 0);
                let copied = loop {
                    let n = match content.read_content(&mut buf) {
                        Ok(n) => n,
                        Err(err) => break Err(LayerError::Tar(err)),
                    };
                    if n == 0 {
                        break Ok(());
                    }
                    if let Err(source) = w.write_all(&buf[..n]) {
                        break Err(LayerError::Fs {
                            op: "write file",
                            name: lossy(name),
                            source,
                        });
                    }
                };
                self.buf = buf;
                copied?;
                let f = w.finish();
                if let Some((u, g)) = owner {
                    rustix::fs::fchown(&f, Some(u), Some(g)).map_err(fs_err("chown", name))?;
                }
                self.set_xattrs(e, XattrTarget::Fd(f.as_fd()))?;
                rustix::fs::fchmod(&f, mode).map_err(fs_err("chmod", name))?;
                rustix::fs::futimens(&f, &times).map_err(fs_err("set times", name))?;
            }
            b'2' => {
                if symlink_escapes(parents.len(), &e.link_name) {
                    return Err(LayerError::SymlinkEscape {
                        name: lossy(name),
                        target: lossy(&e.link_name),
                    });
                }
                rustix::fs::symlinkat(e.link_name.as_slice(), pfd, base)
                    .map_err(fs_err("symlink", name))?;
                if let Some((u, g)) = owner {
                    rustix::fs::chownat(pfd, base, Some(u), Some(g), nofollow)
                        .map_err(fs_err("chown", name))?;
                }
                self.set_xattrs(e, XattrTarget::At(pfd, base))?;
                rustix::fs::utimensat(pfd, base, &times, nofollow)
                    .map_err(fs_err("set times", name))?;
            }
            b'1' => self.hard_link(e, pfd, base, owner, mode, &times)?,
            b'3' | b'4' | b'6' => {
                let (ft, dev) = match e.typeflag {
                    b'6' => (FileType::Fifo, 0),
                    t => {
                        let (Ok(maj), Ok(min)) =
                            (u32::try_from(e.dev_major), u32::try_from(e.dev_minor))
                        else {
                            return Err(LayerError::InvalidDevice {
                                name: lossy(name),
                                major: e.dev_major,
                                minor: e.dev_minor,
                            });
                        };
                        let ft = if t == b'3' {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rustix::fs::makedev(maj, min))
                    }
                };
                rustix::fs::mknodat(pfd, base, ft, mode, dev).map_err(fs_err("mknod", name))?;
                if let Some((u, g)) = owner {
                    rustix::fs::chownat(pfd, base, Some(u), Some(g), nofollow)
                        .map_err(fs_err("chown", name))?;
                }
                self.set_xattrs(e, XattrTarget::At(pfd, base))?;
                // Just created by mknod, so not a symlink: following is moot.
                rustix::fs::chmodat(pfd, base, mode, AtFlags::empty())
                    .map_err(fs_err("chmod", name))?;
                rustix::fs::utimensat(pfd, base, &times, nofollow)
                    .map_err(fs_err("set times", name))?;
            }
            t => {
                return Err(LayerError::UnsupportedType {
                    name: lossy(name),
                    typeflag: char::from(t),
                })
            }
        }
        Ok(())
    }

    fn whiteout(
        &mut self,
        e: &TarEntry,
        pfd: BorrowedFd<'_>,
        target: &[u8],
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), LayerError> {
        let name = e.name.as_slice();
        if e.size > 0 {
            return Err(LayerError::WhiteoutWithContent { name: lossy(name) });
        }
        if target == b".wh..opq" {
            rustix::fs::fsetxattr(pfd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(fs_err("setting trusted.overlay.opaque", name))?;
            self.stats.opaque_dirs += 1;
            return Ok(());
        }
        if matches!(target, b"" | b"." | b"..") {
            return Err(LayerError::InvalidWhiteout { name: lossy(name) });
        }
        match rustix::fs::mknodat(pfd, target, FileType::CharacterDevice, Mode::empty(), 0) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(LayerError::WhiteoutTargetExists { name: lossy(name) })
            }
            Err(err) => return Err(fs_err("mknod whiteout", name)(err)),
        }
        if let Some((u, g)) = owner {
            rustix::fs::chownat(pfd, target, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(fs_err("chown whiteout", name))?;
        }
        self.stats.whiteouts += 1;
        Ok(())
    }

    fn hard_link(
        &mut self,
        e: &TarEntry,
        pfd: BorrowedFd<'_>,
        base: &[u8],
        owner: Option<(Uid, Gid)>,
        mode: Mode,
        times: &Timestamps,
    ) -> Result<(), LayerError> {
        let name = e.name.as_slice();
        let escape = || LayerError::HardLinkEscape {
            name: lossy(name),
            target: lossy(&e.link_name),
        };
        let missing = || LayerError::HardLinkTargetMissing {
            name: lossy(name),
            target: lossy(&e.link_name),
        };
        let tcomps = components(&e.link_name).map_err(|_| escape())?;
        let Some((tbase, tparents)) = tcomps.split_last() else {
            return Err(missing());
        };
        let tparent = match sys::open_dir_beneath(self.root.as_fd(), tparents) {
            Ok(fd) => fd,
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => return Err(missing()),
            Err(err) => return Err(resolve_err(&e.link_name, err)),
        };
        // Flags 0: a symlink target is linked itself, never followed.
        match rustix::fs::linkat(&tparent, *tbase, pfd, base, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Err(missing()),
            Err(err) => return Err(fs_err("link", name)(err)),
        }
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        let st = rustix::fs::statat(pfd, base, nofollow).map_err(fs_err("stat", name))?;
        if let Some((u, g)) = owner {
            rustix::fs::chownat(pfd, base, Some(u), Some(g), nofollow)
                .map_err(fs_err("chown", name))?;
        }
        self.set_xattrs(e, XattrTarget::At(pfd, base))?;
        if file_type(&st) != FileType::Symlink {
            rustix::fs::chmodat(pfd, base, mode, AtFlags::empty())
                .map_err(fs_err("chmod", name))?;
            rustix::fs::utimensat(pfd, base, times, nofollow).map_err(fs_err("set times", name))?;
        }
        Ok(())
    }

    /// Sets directory times again now that nothing more is created in
    /// them (Docker: atime from the tar or the epoch, mtime from the tar).
    /// Directories replaced later in the stream are skipped.
    pub(crate) fn fix_dir_times(&mut self) -> Result<(), LayerError> {
        self.cache = None;
        for (path, times) in std::mem::take(&mut self.dirs) {
            let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
            match sys::open_dir_beneath(self.root.as_fd(), &comps) {
                Ok(fd) => rustix::fs::futimens(&fd, &times).map_err(fs_err("set times", &path))?,
                Err(err)
                    if matches!(
                        err.raw_os_error(),
                        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
                    ) => {}
                Err(err) => return Err(resolve_err(&path, err)),
            }
        }
        Ok(())
    }

    /// Final statistics, with the size measured as Docker's
    /// `directory.Size` does.
    pub(crate) fn into_stats(mut self) -> Result<ApplyStats, LayerError> {
        self.stats.size = layer_size(self.root.as_fd()).map_err(|source| LayerError::Size {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.stats)
    }
}

/// Sum of the sizes of non-directory entries, each inode once.
fn layer_size(root: BorrowedFd<'_>) -> io::Result<u64> {
    let mut total = 0u64;
    let mut seen = HashSet::new();
    let mut stack = vec![Dir::read_from(root)?];
    while let Some(dir) = stack.last_mut() {
        let Some(ent) = dir.read() else {
            stack.pop();
            continue;
        };
        let ent = ent?;
        let n = ent.file_name();
        if n.to_bytes() == b"." || n.to_bytes() == b".." {
            continue;
        }
        let dfd = dir.fd()?;
        let st = rustix::fs::statat(dfd, n, AtFlags::SYMLINK_NOFOLLOW)?;
        if file_type(&st) == FileType::Directory {
            let sub = Dir::new(sys::open_dir_component(dfd, n.to_bytes())?)?;
            stack.push(sub);
            continue;
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if size == 0 || (st.st_nlink > 1 && !seen.insert(st.st_ino)) {
            continue;
        }
        total += size;
    }
    Ok(total)
}

/// Removes `name` in `parent`, recursively, never following symlinks.
fn remove_all(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let mut stack: Vec<(OwnedFd, Vec<u8>)> =
        vec![(sys::open_dir_component(parent, name)?, name.to_vec())];
    while let Some((fd, _)) = stack.last() {
        let mut child = None;
        let mut dir = Dir::read_from(fd)?;
        while let Some(ent) = dir.read() {
            let ent = ent?;
            let n = ent.file_name();
            if n.to_bytes() == b"." || n.to_bytes() == b".." {
                continue;
            }
            match rustix::fs::unlinkat(fd, n, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(Errno::ISDIR) => {
                    child = Some(n.to_bytes().to_vec());
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        match child {
            Some(c) => {
                let sub = sys::open_dir_component(fd.as_fd(), &c)?;
                stack.push((sub, c));
            }
            None => {
                if let Some((_, n)) = stack.pop() {
                    let p = stack.last().map_or(parent, |(f, _)| f.as_fd());
                    match rustix::fs::unlinkat(p, n.as_slice(), AtFlags::REMOVEDIR) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_clean_and_refuse_escapes() {
        assert_eq!(components(b"./a//b/./c/").unwrap(), [&b"a"[..], b"b", b"c"]);
        assert!(components(b"./").unwrap().is_empty());
        assert!(matches!(
            components(b"/etc/x"),
            Err(LayerError::AbsolutePath { .. })
        ));
        assert!(matches!(
            components(b"a/../b"),
            Err(LayerError::DotDot { .. })
        ));
    }

    #[test]
    fn symlink_escape_is_lexical_from_the_link_directory() {
        assert!(!symlink_escapes(0, b"/"));
        assert!(!symlink_escapes(0, b"/etc/passwd"));
        assert!(!symlink_escapes(2, b"../../x"));
        assert!(symlink_escapes(2, b"../../../x"));
        assert!(symlink_escapes(0, b".."));
        assert!(symlink_escapes(0, b"/.."));
        assert!(symlink_escapes(1, b"a/../../.."));
        assert!(!symlink_escapes(0, b"a/b/../../c"));
    }

    #[test]
    fn remove_all_removes_nested_trees_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("d/e/f")).unwrap();
        std::fs::write(root.join("d/e/f/g"), b"x").unwrap();
        std::fs::write(root.join("d/h"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d/e/link")).unwrap();
        let fd = File::open(&root).unwrap();
        remove_all(fd.as_fd(), b"d").unwrap();
        assert!(!root.join("d").exists());
        assert!(outside.join("keep").exists());
        remove_all(fd.as_fd(), b"absent").unwrap();
    }

    #[test]
    fn layer_size_counts_files_and_symlinks_once_per_inode() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"0123456789").unwrap();
        std::fs::hard_link(t.path().join("d/f"), t.path().join("h")).unwrap();
        std::os::unix::fs::symlink("abc", t.path().join("s")).unwrap();
        std::fs::write(t.path().join("empty"), b"").unwrap();
        let fd = File::open(t.path()).unwrap();
        assert_eq!(layer_size(fd.as_fd()).unwrap(), 13);
    }
}
