//! A container's file system seen from the daemon: paths resolved in the
//! container's scope, stat, tar streams of a path or of the whole root
//! (archive API, `export`), extraction into a directory (`docker cp` in),
//! and the tar of the read-write layer (`commit`).
//!
//! Every path a container can influence is resolved relative to a
//! descriptor of its root: `openat2(RESOLVE_IN_ROOT)` gives the view a
//! chroot would give (absolute symlinks and `..` stay inside, Docker's
//! `FollowSymlinkInScope`); on kernels without `openat2` the path is first
//! resolved lexically in scope ([`follow_in_scope`]) and then opened one
//! component at a time with `O_NOFOLLOW`, so a symlink swapped in between
//! fails the open instead of leading out. Files are opened with
//! `O_NOFOLLOW` relative to their directory's descriptor while a tree is
//! walked.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Symlinks followed while resolving one path (Linux's limit is 40; Go's
/// `FollowSymlinkInScope` allows 255).
const MAX_LINKS: usize = 255;

/// Directory depth walked when writing a tar (deeper trees are cut, with
/// an error, rather than exhausting descriptors).
const MAX_DEPTH: usize = 512;

/// Errors of container file system operations.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path does not exist in the container.
    #[error("no such file {path}")]
    NotFound { path: String },
    /// Any other failure, with the operation and the in-container path.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn fs_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| {
        if matches!(
            source.raw_os_error(),
            Some(libc::ENOENT) | Some(libc::ENOTDIR)
        ) {
            FsError::NotFound {
                path: path.to_string(),
            }
        } else {
            FsError::Io {
                op,
                path: path.to_string(),
                source,
            }
        }
    }
}

// ---------------------------------------------------------------- paths

/// Go's `filepath.Clean` of an absolute path.
fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Docker's in-container absolute path of a request's `path`:
/// `Join("/", path)` cleaned, keeping a trailing `/.` or `/`
/// (`archive.PreserveTrailingDotOrSeparator`), which the client's copy
/// rules depend on.
pub fn abs_path(path: &str) -> String {
    let mut p = clean_abs(path);
    let base_is_dot = |s: &str| s.trim_end_matches('/').rsplit('/').next() == Some(".");
    if !base_is_dot(&p) && (base_is_dot(path) || path == ".") {
        if !p.ends_with('/') {
            p.push('/');
        }
        p.push('.');
    }
    if !p.ends_with('/') && path.ends_with('/') {
        p.push('/');
    }
    p
}

/// Go's `filepath.Base`.
pub fn go_base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `filepath.Split`: everything up to the last `/`, and the rest.
fn split(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => ("", p),
    }
}

fn comps(p: &str) -> Vec<&str> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

// ----------------------------------------------------------- resolution

fn openat2_missing() -> &'static std::sync::atomic::AtomicBool {
    static MISSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    &MISSING
}

/// `openat2` retried on `EAGAIN`; `Ok(None)` without kernel support.
fn try_openat2(
    dir: BorrowedFd<'_>,
    path: &str,
    oflags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<Option<OwnedFd>> {
    use std::sync::atomic::Ordering;
    if openat2_missing().load(Ordering::Relaxed) {
        return Ok(None);
    }
    for _ in 0..16 {
        match rustix::fs::openat2(dir, path, oflags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::NOSYS) => {
                openat2_missing().store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(Errno::AGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::AGAIN.into())
}

/// Opens the directory at the symlink-free components `parts` beneath
/// `root`, refusing symlinks on the way (`ELOOP`).
fn open_dir_nofollow(root: BorrowedFd<'_>, parts: &[&str]) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY;
    if parts.is_empty() {
        return Ok(rustix::fs::openat(
            root,
            ".",
            flags | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
    }
    let joined = parts.join("/");
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    if let Some(fd) = try_openat2(root, &joined, flags, resolve)? {
        return Ok(fd);
    }
    let mut cur = rustix::fs::openat(root, ".", flags | OFlags::CLOEXEC, Mode::empty())?;
    for p in parts {
        if *p == ".." || p.contains('/') {
            return Err(Errno::INVAL.into());
        }
        cur = rustix::fs::openat(
            &cur,
            *p,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    Ok(cur)
}

/// Lexical resolution of `path` inside `root` (Docker's
/// `FollowSymlinkInScope`): every symlink is read and followed with the
/// root as `/`, `..` never goes above the root, and components that do
/// not exist are kept as they are. Returns an absolute, symlink-free path
/// (at the time of the call) relative to the root.
pub fn follow_in_scope(root: BorrowedFd<'_>, path: &str) -> io::Result<String> {
    let mut resolved: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> =
        comps(path).into_iter().map(str::to_string).collect();
    let mut links = 0usize;
    let mut missing = false;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        if missing {
            resolved.push(c);
            continue;
        }
        let parts: Vec<&str> = resolved.iter().map(String::as_str).collect();
        let dir = match open_dir_nofollow(root, &parts) {
            Ok(d) => d,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                missing = true;
                resolved.push(c);
                continue;
            }
            Err(e) => return Err(e),
        };
        let st = match rustix::fs::statat(&dir, c.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                missing = true;
                resolved.push(c);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            resolved.push(c);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::LOOP.into());
        }
        let target = rustix::fs::readlinkat(&dir, c.as_str(), Vec::new())?;
        let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
        if target.starts_with('/') {
            resolved.clear();
        }
        for t in comps(&target).into_iter().rev() {
            todo.push_front(t.to_string());
        }
    }
    Ok(format!("/{}", resolved.join("/")))
}

/// Opens `path` inside `root` as a chroot into it would (the final
/// component is followed too).
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, oflags: OFlags) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    if let Some(fd) = try_openat2(
        root,
        rel,
        oflags,
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )? {
        return Ok(fd);
    }
    let resolved = follow_in_scope(root, path)?;
    let parts = comps(&resolved);
    let Some((last, parents)) = parts.split_last() else {
        return Ok(rustix::fs::openat(
            root,
            ".",
            oflags | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
    };
    let dir = open_dir_nofollow(root, parents)?;
    Ok(rustix::fs::openat(
        &dir,
        *last,
        oflags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

// ----------------------------------------------------------------- stat

/// Go's `time.RFC3339Nano` of a Unix time.
fn rfc3339_nano(secs: i64, nanos: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, u32::try_from(nanos).unwrap_or(0))
        .unwrap_or_default();
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// A resolved path: its directory's descriptor and base name (empty or
/// `.` for the directory itself).
struct Resolved {
    dir: OwnedFd,
    base: String,
    abs: String,
}

fn resolve(root: BorrowedFd<'_>, path: &str) -> Result<Resolved, FsError> {
    let abs = abs_path(path);
    let (dir, base) = split(&abs);
    let dir_fd = open_in_root(root, dir, OFlags::PATH | OFlags::DIRECTORY)
        .map_err(fs_err("resolve", path))?;
    Ok(Resolved {
        dir: dir_fd,
        base: base.to_string(),
        abs,
    })
}

fn lstat(r: &Resolved, path: &str) -> Result<rustix::fs::Stat, FsError> {
    let base = if r.base.is_empty() {
        "."
    } else {
        r.base.as_str()
    };
    rustix::fs::statat(&r.dir, base, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| fs_err("stat", path)(e.into()))
}

/// Docker's `ContainerStatPath`: the entry at `path` (its last component
/// not followed), with the in-container target of a symlink.
pub fn stat_path(root: BorrowedFd<'_>, path: &str) -> Result<api::fs::PathStat, FsError> {
    let r = resolve(root, path)?;
    stat_resolved(root, &r, path)
}

fn stat_resolved(
    root: BorrowedFd<'_>,
    r: &Resolved,
    path: &str,
) -> Result<api::fs::PathStat, FsError> {
    let st = lstat(r, path)?;
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        follow_in_scope(root, &r.abs).map_err(fs_err("resolve", path))?
    } else {
        String::new()
    };
    Ok(api::fs::PathStat {
        name: go_base(&r.abs),
        size: st.st_size,
        mode: api::fs::go_file_mode(st.st_mode),
        mtime: rfc3339_nano(st.st_mtime, st.st_mtime_nsec as i64),
        link_target,
    })
}

// ------------------------------------------------------------------ tar

/// Reads exactly `left` bytes: the file's, then zeros if it shrank.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// How a tree is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct TarOpts {
    /// Overlay whiteouts (0/0 character devices, opaque directories) as
    /// AUFS `.wh.` entries, as the overlay2 driver's `Diff` writes a layer.
    pub whiteouts: bool,
}

/// Writes file system entries to a tar stream as Docker's `tarAppender`:
/// PAX records for long names and `security.capability`, the mode with
/// its type bits, times in whole seconds, hard links to the first name.
pub struct TarOut<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    opts: TarOpts,
}

fn set_field(field: &mut [u8], v: &[u8]) {
    field.fill(0);
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

impl<W: Write> TarOut<W> {
    pub fn new(w: W, opts: TarOpts) -> Self {
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        TarOut {
            b,
            links: HashMap::new(),
            opts,
        }
    }

    /// Writes the end of the archive and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.b.into_inner()
    }

    fn header(st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o177777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    fn write(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(&str, Vec<u8>)],
        data: impl Read,
    ) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if name.len() > 100 {
            pax.push(("path".into(), name.to_vec()));
        }
        set_field(&mut h.as_old_mut().name, name);
        if let Some(l) = link {
            if l.len() > 100 {
                pax.push(("linkpath".into(), l.to_vec()));
            }
            set_field(&mut h.as_old_mut().linkname, l);
        }
        for (k, v) in xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            self.b
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    /// Adds the entry `base` of directory `dir` under the tar name `name`
    /// (its descendants too, for a directory). Entries that vanish while
    /// the tree is walked are skipped; sockets are skipped (Go's tar
    /// cannot hold them).
    pub fn add(&mut self, dir: BorrowedFd<'_>, base: &[u8], name: &[u8]) -> io::Result<()> {
        self.add_depth(dir, base, name, 0)
    }

    fn add_depth(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &[u8],
        name: &[u8],
        depth: usize,
    ) -> io::Result<()> {
        let st = match rustix::fs::statat(dir, base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let hardlink_key = (st.st_dev, st.st_ino);
        if ft != FileType::Directory && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&hardlink_key).cloned() {
                let h = Self::header(&st, tar::EntryType::Link);
                return self.write(h, name, Some(&first), &[], io::empty());
            }
            self.links.insert(hardlink_key, name.to_vec());
        }
        match ft {
            FileType::Directory => {
                if depth > MAX_DEPTH {
                    return Err(io::Error::other("directory tree too deep"));
                }
                let fd = match rustix::fs::openat(
                    dir,
                    base,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let mut dname = name.to_vec();
                if !dname.ends_with(b"/") {
                    dname.push(b'/');
                }
                let h = Self::header(&st, tar::EntryType::Directory);
                self.write(h, &dname, None, &[], io::empty())?;
                if self.opts.whiteouts && is_opaque(fd.as_fd()) {
                    let mut h = Self::header(&st, tar::EntryType::Regular);
                    h.set_mode(st.st_mode & 0o777);
                    let mut n = dname.clone();
                    n.extend_from_slice(b".wh..wh..opq");
                    self.write(h, &n, None, &[], io::empty())?;
                }
                self.add_children(fd.as_fd(), &dname, depth + 1)
            }
            FileType::RegularFile => {
                let fd = match rustix::fs::openat(
                    dir,
                    base,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let fst = rustix::fs::fstat(&fd)?;
                if FileType::from_raw_mode(fst.st_mode) != FileType::RegularFile {
                    return Ok(());
                }
                let mut h = Self::header(&fst, tar::EntryType::Regular);
                let size = u64::try_from(fst.st_size).unwrap_or(0);
                h.set_size(size);
                let mut xattrs = Vec::new();
                if let Some(cap) = get_xattr(fd.as_fd(), "security.capability") {
                    xattrs.push(("security.capability", cap));
                }
                let f = std::fs::File::from(fd);
                self.write(
                    h,
                    name,
                    None,
                    &xattrs,
                    Exact {
                        inner: f.take(size),
                        left: size,
                    },
                )
            }
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, base, Vec::new()) {
                    Ok(t) => t,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let h = Self::header(&st, tar::EntryType::Symlink);
                self.write(h, name, Some(target.as_bytes()), &[], io::empty())
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
                if self.opts.whiteouts && ft == FileType::CharacterDevice && maj == 0 && min == 0 {
                    let (d, b) = match name.iter().rposition(|c| *c == b'/') {
                        Some(i) => (&name[..=i], &name[i + 1..]),
                        None => (&name[..0], name),
                    };
                    let mut n = d.to_vec();
                    n.extend_from_slice(b".wh.");
                    n.extend_from_slice(b);
                    let mut h = Self::header(&st, tar::EntryType::Regular);
                    h.set_mode(0o600);
                    return self.write(h, &n, None, &[], io::empty());
                }
                let kind = if ft == FileType::CharacterDevice {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = Self::header(&st, kind);
                h.set_device_major(maj)?;
                h.set_device_minor(min)?;
                self.write(h, name, None, &[], io::empty())
            }
            FileType::Fifo => {
                let h = Self::header(&st, tar::EntryType::Fifo);
                self.write(h, name, None, &[], io::empty())
            }
            _ => Ok(()),
        }
    }

    /// Adds every entry of the directory `dir`, sorted by name, under
    /// `prefix` (empty, or ending in `/`).
    pub fn add_children(
        &mut self,
        dir: BorrowedFd<'_>,
        prefix: &[u8],
        depth: usize,
    ) -> io::Result<()> {
        for n in list_dir(dir)? {
            let mut name = prefix.to_vec();
            name.extend_from_slice(&n);
            self.add_depth(dir, &n, &name, depth)?;
        }
        Ok(())
    }
}

/// The names in a directory, sorted, without `.` and `..`.
fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let fd = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = rustix::fs::Dir::read_from(&fd)?;
    let mut names = Vec::new();
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::fgetxattr(fd, name, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    get_xattr(fd, "trusted.overlay.opaque").as_deref() == Some(b"y")
}

/// Docker's `containerArchivePath` after the stat: a directory is written
/// with its contents under the base name of the request's path (`.` for a
/// path ending in `/.`), anything else as one entry under that name.
pub fn archive_path(
    root: BorrowedFd<'_>,
    path: &str,
    out: impl Write,
) -> Result<api::fs::PathStat, FsError> {
    let r = resolve(root, path)?;
    let stat = stat_resolved(root, &r, path)?;
    let rebase = go_base(&r.abs);
    let mut t = TarOut::new(out, TarOpts::default());
    let base = if r.base.is_empty() {
        "."
    } else {
        r.base.as_str()
    };
    let werr = |source: io::Error| FsError::Io {
        op: "archive",
        path: path.to_string(),
        source,
    };
    t.add(r.dir.as_fd(), base.as_bytes(), rebase.as_bytes())
        .map_err(werr)?;
    t.finish().map_err(werr)?;
    Ok(stat)
}

/// `GET /containers/{id}/export`: every entry under the root, without
/// the root itself (`archive.Tar(basefs)`).
pub fn export(root: BorrowedFd<'_>, out: impl Write) -> io::Result<()> {
    let mut t = TarOut::new(out, TarOpts::default());
    t.add_children(root, b"", 0)?;
    t.finish().map(|_| ())
}

/// A read-write layer's `diff` directory as a layer tar (overlay2's `Diff`):
/// AUFS whiteouts, root entry skipped.
pub fn layer_diff(upper: &std::path::Path, out: impl Write) -> io::Result<()> {
    let fd = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut t = TarOut::new(out, TarOpts { whiteouts: true });
    t.add_children(fd.as_fd(), b"", 0)?;
    t.finish().map(|_| ())
}

// -------------------------------------------------------------- changes

/// `GET /containers/{id}/changes`: the read-write layer `upper` against
/// the layers below it (`lowers`, top first), as Docker's overlay
/// `changes()`: an entry in `upper` is added unless some lower has it
/// (then modified; a directory with the same size, mode and mtime is no
/// change), a 0/0 character device is a deletion, and the parent of an
/// added or deleted entry is reported modified once. An opaque directory
/// also deletes what the lowers had in it.
pub fn changes(
    upper: &std::path::Path,
    lowers: &[std::path::PathBuf],
) -> io::Result<Vec<api::fs::ChangeItem>> {
    let open = |p: &std::path::Path| {
        rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let up = open(upper)?;
    let lows: Vec<OwnedFd> = lowers.iter().filter_map(|l| open(l).ok()).collect();
    let mut w = ChangeWalk {
        lowers: lows,
        out: Vec::new(),
        changed_dirs: std::collections::HashSet::new(),
    };
    w.walk(up.as_fd(), "", 0)?;
    Ok(w.out)
}

struct ChangeWalk {
    lowers: Vec<OwnedFd>,
    out: Vec<api::fs::ChangeItem>,
    changed_dirs: std::collections::HashSet<String>,
}

/// lstat of `rel` (no leading `/`) beneath `root`, not following any
/// symlink; None when absent.
fn lstat_beneath(root: BorrowedFd<'_>, rel: &str) -> Option<rustix::fs::Stat> {
    let (dir, base) = split(rel);
    let d = open_dir_nofollow(root, &comps(dir)).ok()?;
    rustix::fs::statat(&d, base, AtFlags::SYMLINK_NOFOLLOW).ok()
}

impl ChangeWalk {
    fn push(&mut self, path: String, kind: u8, is_dir: bool) {
        if is_dir {
            self.changed_dirs.insert(path.clone());
        }
        if kind != api::fs::CHANGE_MODIFY {
            let parent = match path.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => path[..i].to_string(),
            };
            if parent != "/" && self.changed_dirs.insert(parent.clone()) {
                self.out.push(api::fs::ChangeItem {
                    path: parent,
                    kind: api::fs::CHANGE_MODIFY,
                });
            }
        }
        self.out.push(api::fs::ChangeItem { path, kind });
    }

    fn walk(&mut self, dir: BorrowedFd<'_>, rel: &str, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other("directory tree too deep"));
        }
        for n in list_dir(dir)? {
            let name = String::from_utf8_lossy(&n).into_owned();
            let path_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let path = format!("/{path_rel}");
            let st = match rustix::fs::statat(dir, n.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft == FileType::CharacterDevice && st.st_rdev == 0 {
                self.push(path, api::fs::CHANGE_DELETE, false);
                continue;
            }
            let is_dir = ft == FileType::Directory;
            let lower = self
                .lowers
                .iter()
                .find_map(|l| lstat_beneath(l.as_fd(), &path_rel));
            let kind = match &lower {
                None => Some(api::fs::CHANGE_ADD),
                Some(ls) => {
                    let same_dir = is_dir
                        && FileType::from_raw_mode(ls.st_mode) == FileType::Directory
                        && ls.st_size == st.st_size
                        && ls.st_mode == st.st_mode
                        && ls.st_mtime == st.st_mtime
                        && ls.st_mtime_nsec == st.st_mtime_nsec;
                    (!same_dir).then_some(api::fs::CHANGE_MODIFY)
                }
            };
            let sub = if is_dir {
                match rustix::fs::openat(
                    dir,
                    n.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => Some(fd),
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let opaque = sub.as_ref().is_some_and(|fd| is_opaque(fd.as_fd()));
            if let Some(k) = kind.or(opaque.then_some(api::fs::CHANGE_MODIFY)) {
                self.push(path.clone(), k, is_dir);
            }
            if let Some(fd) = sub {
                if opaque && lower.is_some() {
                    self.opaque_deletions(fd.as_fd(), &path_rel)?;
                }
                self.walk(fd.as_fd(), &path_rel, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Names the lowers have in `rel` that an opaque upper directory hides.
    fn opaque_deletions(&mut self, upper: BorrowedFd<'_>, rel: &str) -> io::Result<()> {
        let mine: std::collections::HashSet<Vec<u8>> = list_dir(upper)?.into_iter().collect();
        let mut gone: std::collections::BTreeSet<Vec<u8>> = Default::default();
        for l in &self.lowers {
            let Ok(d) = open_dir_nofollow(l.as_fd(), &comps(rel)) else {
                continue;
            };
            for n in list_dir(d.as_fd()).unwrap_or_default() {
                let whiteout = rustix::fs::statat(&d, n.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| {
                        FileType::from_raw_mode(s.st_mode) == FileType::CharacterDevice
                            && s.st_rdev == 0
                    });
                if !whiteout && !mine.contains(&n) {
                    gone.insert(n);
                }
            }
            if is_opaque(d.as_fd()) {
                break;
            }
        }
        for n in gone {
            let p = format!("/{rel}/{}", String::from_utf8_lossy(&n));
            self.push(p, api::fs::CHANGE_DELETE, false);
        }
        Ok(())
    }
}

// ----------------------------------------------------------- extraction

/// Docker's `containerExtractToDir` below the checks: `path` (followed in
/// scope, last component too) must be a directory; the tar is extracted
/// into it with the layer crate's hostile-input rules.
pub fn extract(
    root: BorrowedFd<'_>,
    path: &str,
    tar: impl Read,
    opts: &layer::ExtractOptions,
) -> Result<Result<u64, layer::LayerError>, FsError> {
    let abs = abs_path(path);
    let fd = open_in_root(root, &abs, OFlags::PATH).map_err(fs_err("resolve", path))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| fs_err("stat", path)(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(FsError::Io {
            op: "extract",
            path: path.to_string(),
            source: io::Error::from(Errno::NOTDIR),
        });
    }
    let dir = rustix::fs::openat(
        &fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fs_err("open", path)(e.into()))?;
    Ok(layer::extract(tar, dir, opts))
}

/// Reads a small file of the container (`/etc/passwd`), None if absent.
pub fn read_small(root: BorrowedFd<'_>, path: &str, max: u64) -> Option<Vec<u8>> {
    let fd = open_in_root(root, path, OFlags::RDONLY | OFlags::NOFOLLOW).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut v = Vec::new();
    std::fs::File::from(fd).take(max).read_to_end(&mut v).ok()?;
    Some(v)
}

/// A path of the tar names as an `OsStr` (names may be any bytes).
pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn abs_paths_keep_dockers_trailing_dot_and_slash() {
        assert_eq!(abs_path("etc"), "/etc");
        assert_eq!(abs_path("/etc/"), "/etc/");
        assert_eq!(abs_path("/etc/."), "/etc/.");
        assert_eq!(abs_path("/etc/./"), "/etc/./");
        assert_eq!(abs_path("/a/../../b"), "/b");
        assert_eq!(abs_path("/"), "/");
        assert_eq!(abs_path("."), "/.");
        assert_eq!(abs_path("/.."), "/");
        assert_eq!(go_base("/etc/."), ".");
        assert_eq!(go_base("/etc/"), "etc");
        assert_eq!(go_base("/"), "/");
    }

    #[test]
    fn times_are_go_rfc3339_nano() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1, 500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(rfc3339_nano(1, 123), "1970-01-01T00:00:01.000000123Z");
    }

    /// A root with `etc/passwd`, symlinks out of it (absolute, relative,
    /// chained) and a file of the same name beside it.
    fn tree() -> (tempfile::TempDir, std::path::PathBuf, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"inside").unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/passwd"), b"outside").unwrap();
        symlink("/", root.join("slash")).unwrap();
        symlink("../../../../..", root.join("a/b/up")).unwrap();
        symlink("/etc/passwd", root.join("abs")).unwrap();
        symlink("abs", root.join("chain")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        let fd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        (t, root, fd)
    }

    fn read(root: BorrowedFd<'_>, p: &str) -> String {
        let fd = open_in_root(root, p, OFlags::RDONLY).unwrap();
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn symlinks_out_of_the_root_resolve_inside_it() {
        let (_t, _root, fd) = tree();
        for p in [
            "/etc/passwd",
            "../../etc/passwd",
            "/slash/etc/passwd",
            "/a/b/up/etc/passwd",
            "/abs",
            "/chain",
            "/slash/slash/a/b/up/abs",
        ] {
            assert_eq!(read(fd.as_fd(), p), "inside", "{p}");
            assert_eq!(
                follow_in_scope(fd.as_fd(), p).unwrap(),
                "/etc/passwd",
                "{p}"
            );
        }
        assert_eq!(follow_in_scope(fd.as_fd(), "/a/b/up").unwrap(), "/");
        assert_eq!(follow_in_scope(fd.as_fd(), "/nope/x/..").unwrap(), "/nope");
        assert!(follow_in_scope(fd.as_fd(), "/loop1").is_err());
    }

    #[test]
    fn the_fallback_without_openat2_stays_inside_too() {
        let (_t, _root, fd) = tree();
        let was = openat2_missing().swap(true, std::sync::atomic::Ordering::Relaxed);
        let r: Vec<String> = ["/a/b/up/etc/passwd", "/chain", "/slash/etc/passwd"]
            .iter()
            .map(|p| read(fd.as_fd(), p))
            .collect();
        openat2_missing().store(was, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(r, ["inside", "inside", "inside"]);
    }

    #[test]
    fn stat_reports_the_link_and_its_in_scope_target() {
        let (_t, _root, fd) = tree();
        let s = stat_path(fd.as_fd(), "/a/b/up").unwrap();
        assert_eq!(s.name, "up");
        assert_eq!(s.mode, api::fs::go_mode::SYMLINK | 0o777);
        assert_eq!(s.link_target, "/");
        let s = stat_path(fd.as_fd(), "/etc/").unwrap();
        assert_eq!(s.name, "etc");
        assert_eq!(s.mode & api::fs::go_mode::DIR, api::fs::go_mode::DIR);
        let s = stat_path(fd.as_fd(), "/slash/etc/passwd").unwrap();
        assert_eq!((s.size, s.mode), (6, 0o644 & !umask()));
        assert!(matches!(
            stat_path(fd.as_fd(), "/nope"),
            Err(FsError::NotFound { .. })
        ));
        assert!(matches!(
            stat_path(fd.as_fd(), "/etc/passwd/x"),
            Err(FsError::NotFound { .. })
        ));
    }

    fn umask() -> u32 {
        let m = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(m);
        m.bits()
    }

    fn names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect()
    }

    #[test]
    fn archives_are_rebased_as_dockers() {
        let (_t, root, fd) = tree();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::fs::hard_link(root.join("a/b/f"), root.join("a/b/g")).unwrap();
        let mut out = Vec::new();
        archive_path(fd.as_fd(), "/a", &mut out).unwrap();
        assert_eq!(names(&out), ["a/", "a/b/", "a/b/f", "a/b/g", "a/b/up"]);
        let mut a = tar::Archive::new(out.as_slice());
        let g = a.entries().unwrap().nth(3).unwrap().unwrap();
        assert_eq!(g.header().entry_type(), tar::EntryType::Link);
        assert_eq!(&*g.link_name_bytes().unwrap(), b"a/b/f");
        let mut out = Vec::new();
        archive_path(fd.as_fd(), "/a/.", &mut out).unwrap();
        assert_eq!(names(&out)[..2], ["./", "./b/"]);
        let mut out = Vec::new();
        archive_path(fd.as_fd(), "/slash/etc/passwd", &mut out).unwrap();
        assert_eq!(names(&out), ["passwd"]);
        let mut out = Vec::new();
        // The link itself, not its target.
        archive_path(fd.as_fd(), "/abs", &mut out).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
        let long = "n".repeat(150);
        std::fs::write(root.join("a").join(&long), b"long").unwrap();
        let mut out = Vec::new();
        archive_path(fd.as_fd(), "/a", &mut out).unwrap();
        assert!(names(&out).contains(&format!("a/{long}")));
    }

    #[test]
    fn extraction_follows_the_destination_in_scope_and_refuses_escapes() {
        let (t, root, fd) = tree();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "new", &b"hi"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        // Into `/a/b/up/etc` = the container's /etc, never the host's.
        extract(
            fd.as_fd(),
            "/a/b/up/etc",
            tar.as_slice(),
            &Default::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(std::fs::read(root.join("etc/new")).unwrap(), b"hi");
        assert!(!t.path().join("etc/new").exists());
        // Through a symlink in the tar: refused.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "slash/x", &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert!(
            extract(fd.as_fd(), "/", tar.as_slice(), &Default::default())
                .unwrap()
                .is_err()
        );
        assert!(!root.join("x").exists());
        assert!(matches!(
            extract(fd.as_fd(), "/etc/passwd", &b""[..], &Default::default()),
            Err(FsError::Io { .. })
        ));
    }

    #[test]
    fn changes_follow_dockers_overlay_rules() {
        let t = tempfile::tempdir().unwrap();
        let (up, low) = (t.path().join("up"), t.path().join("low"));
        for d in [&up, &low] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
        }
        std::fs::write(low.join("etc/passwd"), b"a").unwrap();
        std::fs::write(low.join("etc/gone"), b"a").unwrap();
        std::fs::write(up.join("etc/passwd"), b"b").unwrap();
        std::fs::create_dir_all(up.join("tmp/new")).unwrap();
        std::fs::write(up.join("tmp/new/f"), b"b").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            up.join("etc/gone"),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        let got: Vec<(String, u8)> = changes(&up, &[low])
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        let want: Vec<(String, u8)> = vec![
            ("/etc".into(), 0),
            ("/etc/gone".into(), 2),
            ("/etc/passwd".into(), 0),
            ("/tmp".into(), 1),
            ("/tmp/new".into(), 1),
            ("/tmp/new/f".into(), 1),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn layer_diffs_write_aufs_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            t.path().join("d/x"),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            t.path().join("d"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let mut out = Vec::new();
        layer_diff(t.path(), &mut out).unwrap();
        assert_eq!(names(&out), ["d/", "d/.wh..wh..opq", "d/.wh.x"]);
        // An unchanged container commits Docker's empty layer.
        let e = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        layer_diff(e.path(), &mut out).unwrap();
        assert_eq!(out, vec![0u8; 1024]);
    }

    /// Every path of up to four components over names that include
    /// symlinks to `/` and far up: the resolver's answer never holds `..`,
    /// and whatever opens is inside the root (checked through the kernel's
    /// own name of the descriptor), with and without `openat2`.
    #[test]
    fn no_path_of_links_and_dots_leaves_the_root() {
        let (_t, root, fd) = tree();
        let real_root = std::fs::canonicalize(&root).unwrap();
        let alphabet = ["..", ".", "a", "b", "slash", "up", "etc", "abs", "chain"];
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    next.push(format!("{p}/{c}"));
                }
            }
            paths.extend(next.iter().cloned());
            paths = next.into_iter().chain(paths).collect();
            paths.sort();
            paths.dedup();
        }
        for fallback in [false, true] {
            let was = openat2_missing().swap(fallback, std::sync::atomic::Ordering::Relaxed);
            for p in &paths {
                if let Ok(r) = follow_in_scope(fd.as_fd(), p) {
                    assert!(
                        r.starts_with('/') && !r.split('/').any(|c| c == ".."),
                        "{p} -> {r}"
                    );
                }
                if let Ok(f) = open_in_root(fd.as_fd(), p, OFlags::PATH) {
                    let name = std::fs::read_link(format!(
                        "/proc/self/fd/{}",
                        std::os::fd::AsRawFd::as_raw_fd(&f)
                    ))
                    .unwrap();
                    assert!(
                        name.starts_with(&real_root),
                        "{p} opened {}",
                        name.display()
                    );
                }
            }
            openat2_missing().store(was, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
