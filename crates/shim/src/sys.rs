//! Small system-call helpers: fd flags, signals, the pty hand-over, window
//! sizes, durable writes. Written by hand because each is a few lines over
//! nix/libc and no crate bundles them for a single-threaded poll loop.

use std::fs::File;
use std::io::{self, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

/// Errors of the system helpers.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// A system call failed.
    #[error("{what}")]
    Call {
        /// What was attempted.
        what: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A file operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The runtime never sent the pty master.
    #[error("no pty master received on the console socket")]
    NoPty,
}

fn call(what: &'static str) -> impl FnOnce(Errno) -> SysError {
    move |source| SysError::Call { what, source }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SysError + 'a {
    move |source| SysError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Marks every open fd above 2 close-on-exec.
pub(crate) fn cloexec_all() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // The read_dir fd itself is gone by now; EBADF is ignored.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

/// Sets O_NONBLOCK on `fd`.
pub(crate) fn set_nonblocking(fd: RawFd) -> Result<(), SysError> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(call("get fd flags"))?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(call("set fd non-blocking"))?;
    Ok(())
}

/// The signals the shim handles through its signalfd.
pub(crate) fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

/// Detaches from the daemon's session, ignores SIGPIPE, becomes child
/// subreaper, blocks the handled signals and returns a signalfd for them.
pub(crate) fn setup_process() -> Result<SignalFd, SysError> {
    // Fails only when already a group leader; nothing to do then.
    let _ = nix::unistd::setsid();
    // SAFETY: SIG_IGN installs no handler code; the shim is single-threaded.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }
        .map_err(call("ignore SIGPIPE"))?;
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(SysError::Call {
            what: "become child subreaper",
            source: Errno::last(),
        });
    }
    let set = handled_signals();
    set.thread_block().map_err(call("block signals"))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(call("create signalfd"))
}

/// Starts, in a child process, the wait the kernel makes the first
/// process to change cgroups after a quiet spell, so that the container's
/// own move (libcgroups, in the create that follows) finds it over.
///
/// Writing to a `cgroup.procs` file takes the kernel's global
/// cgroup_threadgroup_rwsem for writing; a writer after a quiet spell
/// waits for an RCU grace period (`rcu_sync_enter`: about 10 ms at
/// HZ=250, more at HZ=100), and the semaphore stays writer-ready for about
/// one grace period after the last writer. The child moves itself into
/// the cgroup it is already in (nothing changes) while the shim reads its
/// configuration and libcontainer prepares; the container's move then
/// waits for what is left of that grace period, or not at all. The child
/// is reaped by the event loop like any other.
pub(crate) fn prime_cgroup_moves() {
    // SAFETY: the shim is single-threaded; the child only reads
    // /proc/self/cgroup, writes one file and _exits.
    if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
        move_to_own_cgroup();
        // SAFETY: _exit ends the child at once, as intended.
        unsafe { libc::_exit(0) }
    }
}

/// Moves this process into the cgroup it is already in (see
/// [`prime_cgroup_moves`]); blocks for up to a grace period.
pub(crate) fn move_to_own_cgroup() {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for f in own_cgroup_procs_files(&text) {
        if std::fs::write(&f, "0").is_ok() {
            break;
        }
    }
}

/// The `cgroup.procs` files of the cgroups in `/proc/self/cgroup` text,
/// under /sys/fs/cgroup (v1 hierarchies, then the v2 or hybrid unified one).
fn own_cgroup_procs_files(proc_self_cgroup: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            v2.push(root.join(rel).join("cgroup.procs"));
            v2.push(root.join("unified").join(rel).join("cgroup.procs"));
        } else {
            let dir = ctrls.strip_prefix("name=").unwrap_or(ctrls);
            v1.push(root.join(dir).join(rel).join("cgroup.procs"));
        }
    }
    v1.extend(v2);
    v1
}

/// Undoes [`setup_process`]'s signal state; runs in the container's process
/// right before it executes the workload.
pub(crate) fn reset_signals_for_exec() {
    let _ = SigSet::all().thread_unblock();
    // Every disposition back to the default: execve resets handlers but
    // keeps SIG_IGN (ours, or inherited from whoever started the shim).
    // The raw system call: glibc refuses its internal signals 32 and 33,
    // which arrive ignored here. An all-zero kernel sigaction is SIG_DFL,
    // no flags, empty mask, whatever the architecture's field order.
    let dfl = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a kernel sigaction (at most 32 bytes,
        // all zero) from `dfl`, writes nothing (null old action); the
        // sigset size is 8 bytes as the kernel expects.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
}

/// Binds a unix listener at `path` (replacing a stale socket) with mode 0600.
/// Binds through the directory (chdir) so long state paths work.
pub(crate) fn bind_socket(path: &Path) -> Result<UnixListener, SysError> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) if !d.as_os_str().is_empty() => (d, n),
        _ => (Path::new("."), path.as_os_str()),
    };
    std::env::set_current_dir(dir).map_err(io_err("enter socket directory", dir))?;
    match std::fs::remove_file(name) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove stale socket", path)(e)),
    }
    // The socket is created 0600: no window where others can connect.
    // SAFETY: umask only changes this process's file creation mask.
    let old = unsafe { libc::umask(0o177) };
    let res = UnixListener::bind(name);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let l = res.map_err(io_err("bind socket", path))?;
    l.set_nonblocking(true)
        .map_err(io_err("set socket non-blocking", path))?;
    Ok(l)
}

/// Accepts one connection on `l` within `timeout` and receives the pty
/// master the container's process sends with SCM_RIGHTS.
pub(crate) fn receive_pty(l: &UnixListener, timeout: Duration) -> Result<OwnedFd, SysError> {
    if !wait_readable(l.as_fd().as_raw_fd(), timeout) {
        return Err(SysError::NoPty);
    }
    let (conn, _) = l.accept().map_err(io_err(
        "accept console connection",
        Path::new("console socket"),
    ))?;
    let fd = conn.as_raw_fd();
    if !wait_readable(fd, timeout) {
        return Err(SysError::NoPty);
    }
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(call("receive pty master"))?;
    let mut got = None;
    for c in msg.cmsgs().map_err(call("read control message"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: SCM_RIGHTS installed `f` as a new fd owned by nobody else.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or(SysError::NoPty)
}

/// Waits up to `timeout` for `fd` to be readable (or hung up).
pub(crate) fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    loop {
        // SAFETY: `p` is one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        return rc > 0;
    }
}

/// Sets a terminal's window size.
pub(crate) fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<(), SysError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives across the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    if rc != 0 {
        return Err(SysError::Call {
            what: "set window size",
            source: Errno::last(),
        });
    }
    Ok(())
}

/// Writes `data` to `path` atomically and durably: a temporary file in the
/// same directory, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(path: &Path, data: &[u8]) -> Result<(), SysError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(data).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("sync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("rename into", path))?;
    let d = File::open(dir).map_err(io_err("open directory", dir))?;
    d.sync_all().map_err(io_err("sync directory", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_durably_replaces_the_file_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exit.json");
        write_durably(&p, b"one").unwrap();
        write_durably(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn own_cgroup_files_cover_v1_named_and_v2_hierarchies() {
        let text = "12:pids:/system.slice/balena.service\n\
                    3:cpu,cpuacct:/\n\
                    1:name=systemd:/system.slice/balena.service\n\
                    0::/system.slice/balena.service\n";
        let files: Vec<String> = own_cgroup_procs_files(text)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/sys/fs/cgroup/pids/system.slice/balena.service/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs",
                "/sys/fs/cgroup/systemd/system.slice/balena.service/cgroup.procs",
                "/sys/fs/cgroup/system.slice/balena.service/cgroup.procs",
                "/sys/fs/cgroup/unified/system.slice/balena.service/cgroup.procs",
            ]
        );
    }

    #[test]
    fn page_buffers_read_back_and_discard_to_zero() {
        let mut b = PageBuf::new(32 * 1024).unwrap();
        assert_eq!(b.len(), 32 * 1024);
        b[..5].copy_from_slice(b"hello");
        b[32 * 1024 - 1] = 7;
        assert_eq!(&b[..5], b"hello");
        b.discard();
        assert!(b.iter().all(|x| *x == 0));
        let mut empty = PageBuf::default();
        empty.discard();
        assert!(empty.is_empty());
        let taken = std::mem::take(&mut b);
        assert_eq!((taken.len(), b.len()), (32 * 1024, 0));
    }

    #[test]
    fn set_nonblocking_sets_the_flag() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        set_nonblocking(r.as_raw_fd()).unwrap();
        let fl = fcntl(r.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert!(OFlag::from_bits_retain(fl).contains(OFlag::O_NONBLOCK));
    }
}

/// Scratch memory straight from mmap, for the event loop's read buffer:
/// its pages exist only once written, and [`PageBuf::discard`] gives them
/// back. From the heap, a buffer stays resident for the shim's whole life.
pub(crate) struct PageBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl Default for PageBuf {
    /// An empty buffer (no mapping), to swap in while the real one is lent.
    fn default() -> Self {
        PageBuf {
            ptr: std::ptr::NonNull::dangling(),
            len: 0,
        }
    }
}

impl PageBuf {
    /// Maps `len` bytes of zeroed, private anonymous memory.
    pub(crate) fn new(len: usize) -> io::Result<PageBuf> {
        // SAFETY: a new private anonymous mapping at an address the kernel
        // chooses; it overlaps nothing of ours.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u8>()).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(PageBuf { ptr, len })
    }

    /// Gives the pages back; the contents read as zeros afterwards.
    pub(crate) fn discard(&mut self) {
        if self.len > 0 {
            // SAFETY: MADV_DONTNEED on exactly our own private anonymous
            // mapping; nothing borrows it (&mut self), and its bytes are
            // scratch whose value no one needs.
            unsafe {
                libc::madvise(self.ptr.as_ptr().cast(), self.len, libc::MADV_DONTNEED);
            }
        }
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is our mapping of `len` readable bytes (or dangling
        // with len 0), alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the mapping `new` made; no borrow of
            // it outlives `self`.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

/// Gives back memory the shim used only for what it just did (start-up, a
/// request, an exec): free heap (`malloc_trim`), stack below the current
/// frame, and this process's references to file-backed pages that are
/// still the file's (code, read-only data, the unrelocated part of
/// RELRO). Those stay in the page cache, shared, and fault back in if used
/// again; the idle event loop touches little of them, so the shim's
/// resident (and proportional) size drops to what it really uses.
pub(crate) fn shed_memory() {
    // /proc/self/smaps is read line by line: read whole, it would be a
    // string of tens of KiB on the heap that malloc keeps afterwards.
    let mut scan = SmapsScan::default();
    if let Ok(f) = File::open("/proc/self/smaps") {
        let mut r = io::BufReader::with_capacity(4096, f);
        let mut line = String::new();
        while matches!(io::BufRead::read_line(&mut r, &mut line), Ok(n) if n > 0) {
            scan.line(&line);
            line.clear();
        }
    }
    if !scan.mixed.is_empty() {
        if let Ok(pagemap) = File::open("/proc/self/pagemap") {
            for &(start, end) in &scan.mixed {
                drop_file_pages(&pagemap, start, end);
            }
        }
    }
    // The code mappings go last, with as little code as possible after
    // them (what runs after faults its pages back in, 64 KiB at a time):
    // their ranges move to the stack, the heap is trimmed first.
    let mut clean = [(0usize, 0usize); 64];
    let n = scan.clean.len().min(clean.len());
    clean[..n].copy_from_slice(&scan.clean[..n]);
    let stack_start = scan.stack_start;
    drop(scan);
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe { libc::malloc_trim(0) };
    if let Some(start) = stack_start {
        trim_stack(start);
    }
    for &(start, end) in &clean[..n] {
        // SAFETY: MADV_DONTNEED on a whole read-only, file-backed private
        // mapping of this process that holds no private (copied) page: its
        // pages are dropped from our page tables and re-read from the file
        // on the next access, so no byte it holds changes. The range comes
        // from the kernel's own list of our mappings.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// In a read-only private file mapping [start, end) that holds some
/// copied (anonymous) pages, drops the pages that are still the file's,
/// as `/proc/self/pagemap` tells: present and file-backed (bit 61).
fn drop_file_pages(pagemap: &File, start: usize, end: usize) {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    const PRESENT: u64 = 1 << 63;
    const FILE_PAGE: u64 = 1 << 61;
    // 512 entries (2 MiB of mapping) at a time, on the stack.
    let mut entries = [0u8; 512 * 8];
    let mut addr = start;
    while addr < end {
        let pages = ((end - addr) / PAGE).min(512);
        let buf = &mut entries[..pages * 8];
        if pagemap
            .read_exact_at(buf, (addr / PAGE * 8) as u64)
            .is_err()
        {
            return;
        }
        let mut run: Option<usize> = None;
        for i in 0..=pages {
            let file = i < pages && {
                let e = u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                e & PRESENT != 0 && e & FILE_PAGE != 0
            };
            match (file, run) {
                (true, None) => run = Some(i),
                (false, Some(first)) => {
                    // SAFETY: MADV_DONTNEED on pages of a read-only private
                    // file mapping of ours that pagemap shows are the
                    // file's own (not copied): they are re-read from the
                    // file on the next access, unchanged. A read-only
                    // mapping cannot copy a page between the check and
                    // here (that takes a write).
                    unsafe {
                        libc::madvise(
                            (addr + first * PAGE) as *mut libc::c_void,
                            (i - first) * PAGE,
                            libc::MADV_DONTNEED,
                        );
                    }
                    run = None;
                }
                _ => {}
            }
        }
        addr += pages * PAGE;
    }
}

/// Drops the stack pages below the current frame (the start-up path runs
/// deeper than the event loop). Stack below the stack pointer holds
/// nothing live: the shim has no signal handlers (it takes signals through
/// a signalfd), and a margin is kept anyway.
fn trim_stack(start: usize) {
    const MARGIN: usize = 4 * 1024;
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let end = (sp.saturating_sub(MARGIN)) & !0xfff;
    if end > start {
        // SAFETY: [start, end) is the part of our own stack mapping more
        // than MARGIN below the current stack pointer: no live frame or
        // data is there; dropped pages come back zero-filled on next use.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// What [`shed_memory`] needs from `/proc/self/smaps`, fed line by line:
/// read-only private file mappings without anonymous (copied-on-write)
/// pages (`clean`), those with some (`mixed`), and where the stack mapping
/// starts. Relocated read-only data (RELRO: GOTs the loader wrote, then
/// protected) has anonymous pages: dropping them would bring back the
/// file's unrelocated bytes, so only its file pages are dropped
/// ([`drop_file_pages`]).
#[derive(Default)]
struct SmapsScan {
    clean: Vec<(usize, usize)>,
    mixed: Vec<(usize, usize)>,
    stack_start: Option<usize>,
    /// The current read-only private file mapping, until its Anonymous line.
    cur: Option<(usize, usize)>,
}

impl SmapsScan {
    fn line(&mut self, line: &str) {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { return };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                // A mapping header: "start-end perms offset dev inode path".
                let perms = f.next().unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                if path == "[stack]" {
                    self.stack_start = Some(start);
                }
                self.cur = (path.starts_with('/') && !perms.contains('w') && perms.ends_with('p'))
                    .then_some((start, end));
                return;
            }
        }
        if first == "Anonymous:" {
            if let Some(m) = self.cur.take() {
                if f.next() == Some("0") {
                    self.clean.push(m);
                } else {
                    self.mixed.push(m);
                }
            }
        }
    }
}

#[cfg(test)]
mod shed_tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        let smaps = "\
00400000-00500000 r-xp 00000000 08:01 12 /usr/bin/balena-engine
Rss:                 100 kB
Anonymous:             0 kB
00500000-00510000 r--p 00100000 08:01 12 /usr/bin/balena-engine
Anonymous:             8 kB
00510000-00520000 rw-p 00110000 08:01 12 /usr/bin/balena-engine
Anonymous:            16 kB
7f0000000000-7f0000001000 r--p 00000000 00:00 0 [vvar]
Anonymous:             0 kB
7f0000002000-7f0000003000 r--p 00000000 08:01 13 /usr/lib/libc.so.6
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Anonymous:            20 kB
";
        let mut scan = SmapsScan::default();
        for l in smaps.lines() {
            scan.line(l);
        }
        assert_eq!(
            scan.clean,
            vec![(0x400000, 0x500000), (0x7f0000002000, 0x7f0000003000)]
        );
        assert_eq!(scan.mixed, vec![(0x500000, 0x510000)]);
        assert_eq!(scan.stack_start, Some(0x7ffd_0000_0000));
    }

    #[test]
    fn shedding_keeps_the_process_working() {
        let before = std::fs::read_to_string("/proc/self/status").unwrap();
        static WORDS: &[&str] = &["relocated", "read-only", "pointers"];
        let f: fn(&str) -> usize = str::len;
        shed_memory();
        // Code, read-only data and relocated pointers (RELRO, partly
        // dropped) still work.
        let v: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
        assert_eq!(v.join(",").len(), 289);
        assert_eq!(
            std::hint::black_box(WORDS).join(" "),
            "relocated read-only pointers"
        );
        assert_eq!(std::hint::black_box(f)("four"), 4);
        let d: Box<dyn std::fmt::Display> = Box::new(42);
        assert_eq!(d.to_string(), "42");
        let after = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(before.contains("VmRSS") && after.contains("VmRSS"));
    }
}
