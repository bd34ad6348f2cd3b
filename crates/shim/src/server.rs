//! The event loop: one poll(2) over the listener, the signalfd, the
//! container's output, every client and every exec.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use logger::Stream;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log::LogSink;
use crate::proto::{self, ExitStatus, Reply, Request, ShimConfig};
use crate::runtime::{self, Stdio};
use crate::sys;

/// Errors of the event loop's set-up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// poll(2) failed.
    #[error("poll")]
    Poll(#[source] Errno),
}

/// Above this many queued bytes for an attached client the container's
/// output is no longer read (the container slows down instead).
const QUEUE_LIMIT: usize = 256 * 1024;
/// Largest request line.
const MAX_REQUEST: usize = 1024 * 1024;
/// How long output is drained after a process exits.
const DRAIN: Duration = Duration::from_secs(2);
/// How long clients get to take their last bytes after the container exits.
const FLUSH: Duration = Duration::from_secs(5);
/// The shared read buffer's size.
const BUF: usize = proto::MAX_FRAME;
/// How long the shim waits, after serving a request, before giving back
/// the memory that served it ([`sys::shed_memory`]): long enough that a
/// burst of requests (start, attach, wait; an exec and its inspect) sheds
/// once, short enough that an idle shim is small.
const SHED_AFTER: Duration = Duration::from_millis(200);
/// The per-exec console socket (one exec is created at a time).
pub(crate) const EXEC_CONSOLE: &str = "exec-console.sock";

/// A process's stdio as the shim holds it.
#[derive(Default)]
pub(crate) struct Io {
    /// Where input goes (pipe or pty); `None` once closed or if /dev/null.
    pub(crate) stdin: Option<OwnedFd>,
    /// Standard output, or the pty master.
    pub(crate) out: Option<OwnedFd>,
    /// Standard error (`None` with a pty).
    pub(crate) err: Option<OwnedFd>,
    /// `out` is a pty master.
    pub(crate) tty: bool,
}

impl Io {
    fn fd(&self, s: Stream) -> Option<&OwnedFd> {
        match s {
            Stream::Stdout => self.out.as_ref(),
            Stream::Stderr => self.err.as_ref(),
        }
    }

    fn close(&mut self, s: Stream) {
        match s {
            Stream::Stdout => self.out = None,
            Stream::Stderr => self.err = None,
        }
    }

    fn drained(&self) -> bool {
        self.out.is_none() && self.err.is_none()
    }

    /// Ends the process's input: closes the pipe, or sends EOF (^D) on a pty.
    fn close_stdin(&mut self) {
        if let Some(fd) = self.stdin.take() {
            if self.tty {
                let _ = nix::unistd::write(fd.as_fd(), &[4]);
            }
        }
    }
}

/// Pipes (or /dev/null for stdin) for a new process: the shim's ends in an
/// [`Io`], the process's ends as [`Stdio`].
pub(crate) fn pipes(with_stdin: bool) -> io::Result<(Io, Stdio)> {
    let p = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from);
    let (stdin_r, stdin_w) = if with_stdin {
        let (r, w) = p()?;
        (r, Some(w))
    } else {
        (std::fs::File::open("/dev/null")?.into(), None)
    };
    let (out_r, out_w) = p()?;
    let (err_r, err_w) = p()?;
    for fd in [Some(&out_r), Some(&err_r), stdin_w.as_ref()]
        .into_iter()
        .flatten()
    {
        sys::set_nonblocking(fd.as_raw_fd()).map_err(io::Error::other)?;
    }
    Ok((
        Io {
            stdin: stdin_w,
            out: Some(out_r),
            err: Some(err_r),
            tty: false,
        },
        Stdio::Fds {
            stdin: stdin_r,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}

/// The shim's stdio for a pty master.
pub(crate) fn pty_io(master: OwnedFd, with_stdin: bool) -> io::Result<Io> {
    sys::set_nonblocking(master.as_raw_fd()).map_err(io::Error::other)?;
    let stdin = if with_stdin {
        Some(master.try_clone()?)
    } else {
        None
    };
    Ok(Io {
        stdin,
        out: Some(master),
        err: None,
        tty: true,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Init,
    Exec(u64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Reading the request line.
    Request,
    Wait,
    Attach {
        stdout: bool,
        stderr: bool,
    },
    Exec(u64),
    /// Reply sent; nothing more to do but flush.
    Done,
}

struct Client {
    id: u64,
    sock: UnixStream,
    kind: Kind,
    /// The request line so far, then unused.
    req: Vec<u8>,
    /// Bytes to send, from `sent` on.
    queue: Vec<u8>,
    sent: usize,
    close_after_flush: bool,
    /// Still reading input from the client.
    input_open: bool,
    /// Where the client's input goes; `None` discards it.
    stdin: Option<Target>,
    /// Input not yet taken by the target.
    pending: Vec<u8>,
    /// With stdin_once: close the init's stdin when this input ends.
    once: bool,
}

impl Client {
    fn queued(&self) -> usize {
        self.queue.len() - self.sent
    }

    fn push_frame(&mut self, kind: u8, data: &[u8]) {
        self.queue
            .extend_from_slice(&proto::frame_header(kind, data.len()));
        self.queue.extend_from_slice(data);
    }

    fn push_line<T: serde::Serialize>(&mut self, v: &T) {
        if serde_json::to_writer(&mut self.queue, v).is_err() {
            self.queue
                .extend_from_slice(b"{\"error\":\"encoding failed\"}");
        }
        self.queue.push(b'\n');
    }

    fn reply_error(&mut self, msg: impl Into<String>) {
        self.push_line(&Reply {
            error: Some(msg.into()),
            ..Reply::default()
        });
        self.kind = Kind::Done;
        self.close_after_flush = true;
    }
}

struct Exec {
    key: u64,
    id: String,
    pid: i32,
    io: Io,
    client: Option<u64>,
    exit: Option<i32>,
    exited_at: Option<Instant>,
    json: PathBuf,
}

#[derive(Clone, Copy, Debug)]
enum Tag {
    Listener,
    Signal,
    InitOut(Stream),
    ExecOut(u64, Stream),
    Client(u64),
    ClientStdin(u64),
}

/// The running shim.
pub(crate) struct Shim {
    cfg: ShimConfig,
    state_dir: PathBuf,
    cgroups_path: PathBuf,
    /// The container's processes die with its init (see `runtime::delete`).
    own_pid_ns: bool,
    listener: UnixListener,
    sigfd: SignalFd,
    /// The container exists (created, until it is deleted at its exit).
    container: bool,
    init_pid: i32,
    status: Status,
    init_io: Io,
    log: Box<dyn LogSink>,
    /// Set when the init was reaped: (code, when).
    init_exit: Option<(i32, Instant)>,
    /// Set once the exit is recorded.
    exit: Option<ExitStatus>,
    flush_deadline: Option<Instant>,
    /// When to shed memory (set by requests, see [`SHED_AFTER`]).
    shed_at: Option<Instant>,
    clients: Vec<Client>,
    execs: Vec<Exec>,
    next_id: u64,
    /// The read buffer for requests, input and output ([`BUF`] bytes).
    buf: sys::PageBuf,
    pollfds: Vec<libc::pollfd>,
    tags: Vec<Tag>,
}

/// What the shim starts its loop with.
pub(crate) struct Parts {
    pub(crate) cfg: ShimConfig,
    pub(crate) state_dir: PathBuf,
    pub(crate) cgroups_path: PathBuf,
    pub(crate) own_pid_ns: bool,
    pub(crate) listener: UnixListener,
    pub(crate) sigfd: SignalFd,
    pub(crate) init_pid: i32,
    pub(crate) init_io: Io,
    pub(crate) log: Box<dyn LogSink>,
    /// The read buffer: [`read_buffer`].
    pub(crate) buf: sys::PageBuf,
}

/// The event loop's read buffer.
pub(crate) fn read_buffer() -> io::Result<sys::PageBuf> {
    sys::PageBuf::new(BUF)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn exit_code(ws: WaitStatus) -> Option<(i32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted
}

impl Shim {
    pub(crate) fn new(p: Parts) -> Self {
        Shim {
            cfg: p.cfg,
            state_dir: p.state_dir,
            cgroups_path: p.cgroups_path,
            own_pid_ns: p.own_pid_ns,
            listener: p.listener,
            sigfd: p.sigfd,
            container: true,
            init_pid: p.init_pid,
            status: Status::Created,
            init_io: p.init_io,
            log: p.log,
            init_exit: None,
            exit: None,
            flush_deadline: None,
            shed_at: None,
            clients: Vec::new(),
            execs: Vec::new(),
            next_id: 1,
            buf: p.buf,
            pollfds: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Runs until the container has exited and its clients are served.
    pub(crate) fn run(mut self) -> Result<(), ServerError> {
        loop {
            self.step_timers();
            if let Some(deadline) = self.flush_deadline {
                if (self.clients.is_empty() && self.execs.is_empty()) || Instant::now() >= deadline
                {
                    break;
                }
            }
            self.build_poll_set();
            let mut timeout = if self.init_exit.is_some()
                || self.flush_deadline.is_some()
                || self.execs.iter().any(|e| e.exit.is_some())
            {
                100
            } else {
                -1
            };
            if let Some(at) = self.shed_at {
                let ms = at.saturating_duration_since(Instant::now()).as_millis();
                let ms = i32::try_from(ms).unwrap_or(i32::MAX).max(1);
                timeout = if timeout < 0 { ms } else { timeout.min(ms) };
            }
            let n = self.pollfds.len() as libc::nfds_t;
            // SAFETY: `pollfds` is a valid, exclusively borrowed array of `n`
            // pollfd structs for the duration of the call.
            let rc = unsafe { libc::poll(self.pollfds.as_mut_ptr(), n, timeout) };
            if rc < 0 {
                let e = Errno::last();
                if e == Errno::EINTR {
                    continue;
                }
                return Err(ServerError::Poll(e));
            }
            if rc == 0 {
                continue;
            }
            let pollfds = std::mem::take(&mut self.pollfds);
            let tags = std::mem::take(&mut self.tags);
            for (p, tag) in pollfds.iter().zip(tags.iter()) {
                if p.revents != 0 {
                    self.handle(*tag, p.revents);
                }
            }
            self.pollfds = pollfds;
            self.tags = tags;
            let done: Vec<u64> = self
                .clients
                .iter()
                .filter(|c| {
                    c.close_after_flush
                        && c.queued() == 0
                        && (c.pending.is_empty() || c.stdin.is_none())
                })
                .map(|c| c.id)
                .collect();
            for id in done {
                self.drop_client(id);
            }
        }
        self.shutdown();
        Ok(())
    }

    fn shutdown(&mut self) {
        let _ = std::fs::remove_file(self.state_dir.join(proto::SOCKET_FILE));
        let _ = std::fs::remove_file(self.state_dir.join(crate::CONSOLE_SOCKET));
        let _ = std::fs::remove_file(self.state_dir.join(EXEC_CONSOLE));
        for e in &self.execs {
            let _ = std::fs::remove_file(&e.json);
        }
    }

    fn build_poll_set(&mut self) {
        self.pollfds.clear();
        self.tags.clear();
        let add = |fds: &mut Vec<libc::pollfd>, tags: &mut Vec<Tag>, fd: RawFd, ev, tag| {
            fds.push(libc::pollfd {
                fd,
                events: ev,
                revents: 0,
            });
            tags.push(tag);
        };
        let (fds, tags) = (&mut self.pollfds, &mut self.tags);
        add(
            fds,
            tags,
            self.listener.as_raw_fd(),
            libc::POLLIN,
            Tag::Listener,
        );
        add(fds, tags, self.sigfd.as_raw_fd(), libc::POLLIN, Tag::Signal);
        // After the init's exit the output is drained for the log whatever
        // the clients' queues hold (bounded: the writers are gone).
        let init_bp = self.init_exit.is_none()
            && self
                .clients
                .iter()
                .any(|c| c.queued() > QUEUE_LIMIT && matches!(c.kind, Kind::Attach { .. }));
        if !init_bp {
            for s in [Stream::Stdout, Stream::Stderr] {
                if let Some(fd) = self.init_io.fd(s) {
                    add(fds, tags, fd.as_raw_fd(), libc::POLLIN, Tag::InitOut(s));
                }
            }
        }
        for e in &self.execs {
            let bp = self
                .clients
                .iter()
                .any(|c| c.queued() > QUEUE_LIMIT && c.kind == Kind::Exec(e.key));
            if bp {
                continue;
            }
            for s in [Stream::Stdout, Stream::Stderr] {
                if let Some(fd) = e.io.fd(s) {
                    add(
                        fds,
                        tags,
                        fd.as_raw_fd(),
                        libc::POLLIN,
                        Tag::ExecOut(e.key, s),
                    );
                }
            }
        }
        for c in &self.clients {
            let mut ev = 0;
            if c.input_open && c.pending.is_empty() {
                ev |= libc::POLLIN;
            }
            if c.queued() > 0 {
                ev |= libc::POLLOUT;
            }
            add(fds, tags, c.sock.as_raw_fd(), ev, Tag::Client(c.id));
            if !c.pending.is_empty() {
                let fd = match c.stdin {
                    Some(Target::Init) => self.init_io.stdin.as_ref(),
                    Some(Target::Exec(k)) => self
                        .execs
                        .iter()
                        .find(|e| e.key == k)
                        .and_then(|e| e.io.stdin.as_ref()),
                    None => None,
                };
                if let Some(fd) = fd {
                    add(
                        fds,
                        tags,
                        fd.as_raw_fd(),
                        libc::POLLOUT,
                        Tag::ClientStdin(c.id),
                    );
                }
            }
        }
    }

    fn handle(&mut self, tag: Tag, revents: i16) {
        match tag {
            Tag::Listener => self.accept(),
            Tag::Signal => self.signals(),
            Tag::InitOut(s) => self.read_output(None, s),
            Tag::ExecOut(k, s) => self.read_output(Some(k), s),
            Tag::Client(id) => {
                if revents & libc::POLLOUT != 0 {
                    self.flush_client(id);
                }
                if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.client_input(id, revents);
                }
            }
            Tag::ClientStdin(id) => self.write_pending(id),
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    self.clients.push(Client {
                        id,
                        sock,
                        kind: Kind::Request,
                        req: Vec::new(),
                        queue: Vec::new(),
                        sent: 0,
                        close_after_flush: false,
                        input_open: true,
                        stdin: None,
                        pending: Vec::new(),
                        once: false,
                    });
                }
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    eprintln!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn signals(&mut self) {
        let mut reap = false;
        while let Ok(Some(si)) = self.sigfd.read_signal() {
            match Signal::try_from(si.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => reap = true,
                Ok(s) => eprintln!("ignoring {s}"),
                Err(_) => {}
            }
        }
        if reap {
            self.reap();
        }
    }

    fn reap(&mut self) {
        loop {
            let ws = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(ws) => ws,
            };
            let Some((pid, code)) = exit_code(ws) else {
                continue;
            };
            if pid == self.init_pid && self.init_exit.is_none() {
                eprintln!("container init {pid} exited with {code}");
                self.init_exit = Some((code, Instant::now()));
                self.init_io.stdin = None;
                for c in &mut self.clients {
                    if c.stdin == Some(Target::Init) {
                        c.pending.clear();
                        c.stdin = None;
                    }
                }
            } else if let Some(e) = self.execs.iter_mut().find(|e| e.pid == pid) {
                e.exit = Some(code);
                e.exited_at = Some(Instant::now());
                e.io.stdin = None;
            }
        }
    }

    /// Finishes processes whose output is drained (or whose drain timed out).
    fn step_timers(&mut self) {
        let now = Instant::now();
        if self.shed_at.is_some_and(|at| now >= at) {
            self.shed_at = None;
            if self.exit.is_none() {
                self.shed();
            }
        }
        let mut i = 0;
        while i < self.execs.len() {
            let e = &self.execs[i];
            let done = match e.exited_at {
                Some(t) => e.io.drained() || now >= t + DRAIN,
                None => false,
            };
            if done {
                let e = self.execs.swap_remove(i);
                self.finish_exec(e);
            } else {
                i += 1;
            }
        }
        if let (Some((code, t)), None) = (self.init_exit, &self.exit) {
            if self.init_io.drained() || now >= t + DRAIN {
                self.finish_init(code);
            }
        }
    }

    fn finish_exec(&mut self, e: Exec) {
        let st = ExitStatus {
            exit_code: e.exit.unwrap_or(-1),
            oom_killed: false,
            finished_at_ns: now_ns(),
            error: None,
        };
        let _ = std::fs::remove_file(&e.json);
        if let Some(c) = e
            .client
            .and_then(|id| self.clients.iter_mut().find(|c| c.id == id))
        {
            let payload = serde_json::to_vec(&st).unwrap_or_default();
            c.push_frame(proto::FRAME_EXIT, &payload);
            c.close_after_flush = true;
            c.input_open = false;
            c.pending.clear();
        }
        // Health checks exec often: give back what this exec touched as
        // soon as its client has the exit frame (the next turns of the loop
        // flush and close it), not after a delay.
        self.shed_at = Some(Instant::now());
    }

    /// Gives back what serving requests touched: the read buffer's pages
    /// and [`sys::shed_memory`].
    fn shed(&mut self) {
        self.buf.discard();
        sys::shed_memory();
    }

    fn finish_init(&mut self, code: i32) {
        self.init_io = Io::default();
        // Before the cgroup goes.
        let oom = runtime::oom_kill_count(&self.cgroups_path) > 0;
        // The delete runs in a child while the log is synced.
        let (id, root, cg) = (&self.cfg.id, &self.cfg.runtime_root, &self.cgroups_path);
        let kill_all = !self.own_pid_ns;
        let delete = self
            .container
            .then(|| runtime::start_delete(id, root, cg, kill_all));
        self.log.finish();
        let deleted = match delete {
            None => Ok(()),
            Some(Ok(pending)) => pending.wait(),
            // No child: delete here.
            Some(Err(_)) => runtime::delete(id, root, cg, kill_all),
        };
        let mut error = None;
        if let Err(e) = deleted {
            eprintln!("delete container: {e}");
            error = Some(format!("delete container: {e}"));
        }
        self.container = false;
        let st = ExitStatus {
            exit_code: code,
            oom_killed: oom,
            finished_at_ns: now_ns(),
            error,
        };
        match serde_json::to_vec(&st) {
            Ok(b) => {
                if let Err(e) = sys::write_durably(&self.cfg.exit_file, &b) {
                    eprintln!("record exit: {e}");
                }
            }
            Err(e) => eprintln!("encode exit: {e}"),
        }
        eprintln!("container exited: code {code}, oom_killed {oom}");
        self.status = Status::Stopped;
        for c in &mut self.clients {
            match c.kind {
                Kind::Wait => {
                    c.push_line(&st);
                    c.kind = Kind::Done;
                    c.close_after_flush = true;
                }
                Kind::Attach { .. } => {
                    c.close_after_flush = true;
                    c.input_open = false;
                    c.pending.clear();
                }
                _ => {}
            }
        }
        self.exit = Some(st);
        self.flush_deadline = Some(Instant::now() + FLUSH);
    }

    fn read_output(&mut self, exec: Option<u64>, s: Stream) {
        let mut buf = std::mem::take(&mut self.buf);
        let io = match exec {
            None => Some(&mut self.init_io),
            Some(k) => self
                .execs
                .iter_mut()
                .find(|e| e.key == k)
                .map(|e| &mut e.io),
        };
        let Some(io) = io else {
            self.buf = buf;
            return;
        };
        let Some(fd) = io.fd(s) else {
            self.buf = buf;
            return;
        };
        let n = match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) | Err(Errno::EIO) => {
                io.close(s);
                0
            }
            Ok(n) => n,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => 0,
            Err(e) => {
                eprintln!("read container output: {e}");
                io.close(s);
                0
            }
        };
        if n > 0 {
            let data = &buf[..n];
            let kind = match s {
                Stream::Stdout => proto::FRAME_STDOUT,
                Stream::Stderr => proto::FRAME_STDERR,
            };
            match exec {
                None => {
                    self.log.write(s, data);
                    for c in &mut self.clients {
                        if let Kind::Attach { stdout, stderr } = c.kind {
                            let want = match s {
                                Stream::Stdout => stdout,
                                Stream::Stderr => stderr,
                            };
                            if want && !c.close_after_flush {
                                c.push_frame(kind, data);
                            }
                        }
                    }
                }
                Some(k) => {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.kind == Kind::Exec(k)) {
                        c.push_frame(kind, data);
                    }
                }
            }
        }
        self.buf = buf;
    }

    fn drop_client(&mut self, id: u64) {
        if let Some(i) = self.clients.iter().position(|c| c.id == id) {
            let c = self.clients.swap_remove(i);
            if let Kind::Exec(k) = c.kind {
                if let Some(e) = self.execs.iter_mut().find(|e| e.key == k) {
                    // The exec keeps running and is reaped; its output is
                    // read and dropped.
                    e.client = None;
                }
            }
            if c.stdin.is_some() && c.input_open {
                self.stdin_ended(c.stdin, c.once);
            }
        }
    }

    fn flush_client(&mut self, id: u64) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let mut failed = false;
        while c.queued() > 0 {
            match (&c.sock).write(&c.queue[c.sent..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => c.sent += n,
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if c.queued() == 0 {
            c.sent = 0;
            c.queue.clear();
            if c.queue.capacity() > BUF + 64 {
                c.queue = Vec::new();
            }
        } else if c.sent >= 64 * 1024 {
            c.queue.drain(..c.sent);
            c.sent = 0;
        }
        if failed {
            self.drop_client(id);
            return;
        }
        self.maybe_close(id);
    }

    fn maybe_close(&mut self, id: u64) {
        let Some(c) = self.clients.iter().find(|c| c.id == id) else {
            return;
        };
        if c.close_after_flush && c.queued() == 0 && (c.pending.is_empty() || c.stdin.is_none()) {
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
            self.drop_client(id);
        }
    }

    fn client_input(&mut self, id: u64, revents: i16) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == id) else {
            return;
        };
        if !c.input_open {
            if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                // The peer is gone: nothing left to deliver.
                self.drop_client(id);
            }
            return;
        }
        if c.kind == Kind::Request {
            self.read_request(id);
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        let res = (&c.sock).read(&mut buf);
        match res {
            Ok(0) => {
                c.input_open = false;
                self.buf = buf;
                self.write_pending(id);
                return;
            }
            Ok(n) => {
                if c.stdin.is_some() {
                    c.pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if would_block(&e) => {}
            Err(_) => {
                self.buf = buf;
                self.drop_client(id);
                return;
            }
        }
        self.buf = buf;
        self.write_pending(id);
    }

    /// A client's input ended: end its target's stdin if it should.
    fn stdin_ended(&mut self, target: Option<Target>, once: bool) {
        match target {
            Some(Target::Init) if once => self.init_io.close_stdin(),
            Some(Target::Exec(k)) => {
                if let Some(e) = self.execs.iter_mut().find(|e| e.key == k) {
                    e.io.close_stdin();
                }
            }
            _ => {}
        }
    }

    fn write_pending(&mut self, id: u64) {
        let Some(ci) = self.clients.iter().position(|c| c.id == id) else {
            return;
        };
        let target = self.clients[ci].stdin;
        let fd = match target {
            Some(Target::Init) => self.init_io.stdin.as_ref(),
            Some(Target::Exec(k)) => self
                .execs
                .iter()
                .find(|e| e.key == k)
                .and_then(|e| e.io.stdin.as_ref()),
            None => None,
        };
        let c = &mut self.clients[ci];
        match fd {
            None => {
                c.pending.clear();
                c.stdin = None;
            }
            Some(fd) => {
                let mut off = 0;
                while off < c.pending.len() {
                    match nix::unistd::write(fd.as_fd(), &c.pending[off..]) {
                        Ok(n) => off += n,
                        Err(Errno::EAGAIN) | Err(Errno::EINTR) => break,
                        Err(_) => {
                            // The process closed its stdin: drop the input.
                            off = c.pending.len();
                            c.stdin = None;
                        }
                    }
                }
                c.pending.drain(..off);
                if c.pending.is_empty() && c.pending.capacity() > BUF {
                    c.pending = Vec::new();
                }
            }
        }
        if !c.input_open && c.pending.is_empty() && c.stdin.is_some() {
            let (target, once) = (c.stdin, c.once);
            c.stdin = None;
            self.stdin_ended(target, once);
        }
        self.maybe_close(id);
    }

    fn read_request(&mut self, id: u64) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let mut buf = std::mem::take(&mut self.buf);
        let res = (&c.sock).read(&mut buf);
        let n = match res {
            Ok(0) => {
                self.buf = buf;
                self.drop_client(id);
                return;
            }
            Ok(n) => n,
            Err(e) if would_block(&e) => {
                self.buf = buf;
                return;
            }
            Err(_) => {
                self.buf = buf;
                self.drop_client(id);
                return;
            }
        };
        c.req.extend_from_slice(&buf[..n]);
        self.buf = buf;
        let Some(nl) = c.req.iter().position(|b| *b == b'\n') else {
            if c.req.len() > MAX_REQUEST {
                c.input_open = false;
                c.reply_error("request too long");
            }
            return;
        };
        let line = std::mem::take(&mut c.req);
        c.pending = line[nl + 1..].to_vec();
        match serde_json::from_slice::<Request>(&line[..nl]) {
            Ok(r) => self.request(id, r),
            Err(e) => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == id) {
                    c.input_open = false;
                    c.pending.clear();
                    c.reply_error(format!("malformed request: {e}"));
                }
            }
        }
    }

    fn reply(&mut self, id: u64, r: Result<Reply, String>) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == id) else {
            return;
        };
        match r {
            Ok(r) => {
                c.push_line(&r);
                c.kind = Kind::Done;
                c.close_after_flush = true;
                c.input_open = false;
                c.pending.clear();
            }
            Err(e) => {
                c.input_open = false;
                c.pending.clear();
                c.reply_error(e);
            }
        }
    }

    fn exited(&self) -> bool {
        self.init_exit.is_some() || self.exit.is_some()
    }

    fn request(&mut self, id: u64, r: Request) {
        // Serving a request faults code and data back in; once the shim
        // is idle again, it gives them back.
        self.shed_at = Some(Instant::now() + SHED_AFTER);
        match r {
            Request::State => {
                let status = if self.exit.is_some() {
                    Status::Stopped
                } else {
                    self.status
                };
                let st = proto::State {
                    pid: self.init_pid,
                    status: status.as_str().to_string(),
                    exit: self.exit.clone(),
                };
                self.reply(
                    id,
                    Ok(Reply {
                        state: Some(st),
                        ..Reply::default()
                    }),
                );
            }
            Request::Start => {
                let r = match (self.container, self.status) {
                    (true, Status::Created) if self.init_exit.is_none() => {
                        runtime::start(&self.cfg.id, &self.cfg.runtime_root)
                            .map_err(|e| e.to_string())
                    }
                    _ => Err("container is not in the created state".to_string()),
                };
                if r.is_ok() {
                    self.status = Status::Running;
                }
                self.reply(id, r.map(|()| Reply::default()));
            }
            Request::Kill { signal, all } => {
                let r = self.kill(signal, all);
                self.reply(id, r.map(|()| Reply::default()));
            }
            Request::Wait => {
                if let Some(st) = self.exit.clone() {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.id == id) {
                        c.push_line(&st);
                        c.kind = Kind::Done;
                        c.close_after_flush = true;
                        c.input_open = false;
                        c.pending.clear();
                    }
                } else if let Some(c) = self.clients.iter_mut().find(|c| c.id == id) {
                    c.kind = Kind::Wait;
                    c.pending.clear();
                }
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                let exited = self.exit.is_some();
                let once = self.cfg.stdin_once;
                let target =
                    (stdin && self.cfg.open_stdin && !self.exited()).then_some(Target::Init);
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == id) {
                    c.push_line(&Reply::default());
                    c.kind = Kind::Attach { stdout, stderr };
                    c.stdin = target;
                    c.once = once;
                    if target.is_none() {
                        c.pending.clear();
                    }
                    if exited {
                        c.close_after_flush = true;
                        c.input_open = false;
                    }
                }
                if target.is_some() {
                    self.write_pending(id);
                }
            }
            Request::Resize {
                exec_id,
                height,
                width,
            } => {
                let fd = match &exec_id {
                    None => self
                        .init_io
                        .tty
                        .then_some(self.init_io.out.as_ref())
                        .flatten(),
                    Some(x) => self
                        .execs
                        .iter()
                        .find(|e| &e.id == x && e.io.tty)
                        .and_then(|e| e.io.out.as_ref()),
                };
                let r = match fd {
                    Some(fd) => sys::set_winsize(fd.as_raw_fd(), height, width)
                        .map(|()| Reply::default())
                        .map_err(|e| format!("{e}: {}", crate::runtime::error_chain(&e))),
                    None => Err("no such tty".to_string()),
                };
                self.reply(id, r);
            }
            Request::Exec {
                exec_id,
                process,
                stdin,
            } => {
                // The exec's process moves into the container's cgroups:
                // start the kernel's grace period for that now.
                sys::prime_cgroup_moves();
                self.exec_request(id, &exec_id, &process, stdin);
            }
            Request::ExecKill { exec_id, signal } => {
                let r = match self.execs.iter().find(|e| e.id == exec_id) {
                    Some(e) if e.exit.is_none() => {
                        // SAFETY: kill(2) with a pid we have not reaped yet.
                        let rc = unsafe { libc::kill(e.pid, signal) };
                        if rc == 0 {
                            Ok(Reply::default())
                        } else {
                            Err(format!("kill exec {exec_id}: {}", Errno::last()))
                        }
                    }
                    Some(_) => Err("exec process not running".to_string()),
                    None => Err(format!("no such exec: {exec_id}")),
                };
                self.reply(id, r);
            }
            Request::Pause => {
                let r = match (self.container, self.status) {
                    (true, Status::Running) if self.init_exit.is_none() => {
                        runtime::pause(&self.cfg.id, &self.cfg.runtime_root)
                            .map_err(|e| e.to_string())
                    }
                    (_, Status::Paused) => Err("container is already paused".to_string()),
                    _ => Err("container not running".to_string()),
                };
                if r.is_ok() {
                    self.status = Status::Paused;
                }
                self.reply(id, r.map(|()| Reply::default()));
            }
            Request::Resume => {
                let r = match (self.container, self.status) {
                    (true, Status::Paused) => runtime::resume(&self.cfg.id, &self.cfg.runtime_root)
                        .map_err(|e| e.to_string()),
                    _ => Err("container is not paused".to_string()),
                };
                if r.is_ok() {
                    self.status = Status::Running;
                }
                self.reply(id, r.map(|()| Reply::default()));
            }
        }
    }

    fn exec_request(&mut self, id: u64, exec_id: &str, process: &serde_json::Value, stdin: bool) {
        match self.exec(exec_id, process, stdin) {
            Ok((pid, key)) => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == id) {
                    c.push_line(&Reply {
                        pid: Some(pid),
                        ..Reply::default()
                    });
                    c.kind = Kind::Exec(key);
                    c.stdin = stdin.then_some(Target::Exec(key));
                    if !stdin {
                        c.pending.clear();
                    }
                }
                if let Some(e) = self.execs.iter_mut().find(|e| e.key == key) {
                    e.client = Some(id);
                }
                if stdin {
                    self.write_pending(id);
                }
            }
            Err(e) => self.reply(id, Err(e)),
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), String> {
        if self.exited() {
            return Err("container not running".to_string());
        }
        if all {
            if !self.container {
                return Err("container not running".to_string());
            }
            return runtime::kill_all(&self.cfg.id, &self.cfg.runtime_root, signal)
                .map_err(|e| e.to_string());
        }
        // SAFETY: kill(2) on the init, which we have not reaped.
        let rc = unsafe { libc::kill(self.init_pid, signal) };
        if rc != 0 {
            return Err(format!("kill: {}", Errno::last()));
        }
        if signal == libc::SIGKILL && self.status == Status::Paused && self.container {
            let _ = runtime::resume(&self.cfg.id, &self.cfg.runtime_root);
            self.status = Status::Running;
        }
        Ok(())
    }

    fn exec(
        &mut self,
        exec_id: &str,
        process: &serde_json::Value,
        stdin: bool,
    ) -> Result<(i32, u64), String> {
        match self.status {
            _ if self.exited() => return Err("container not running".to_string()),
            Status::Paused => {
                return Err("container is paused, unpause the container before exec".to_string())
            }
            Status::Running => {}
            _ => return Err("container not running".to_string()),
        }
        if exec_id.is_empty()
            || exec_id.len() > 128
            || !exec_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || exec_id.starts_with('.')
        {
            return Err(format!("invalid exec id {exec_id:?}"));
        }
        if self.execs.iter().any(|e| e.id == exec_id) {
            return Err(format!("exec {exec_id} already exists"));
        }
        let terminal = process
            .get("terminal")
            .and_then(|t| t.as_bool())
            .unwrap_or(false);
        let json = self.state_dir.join(format!("exec-{exec_id}.json"));
        let bytes = serde_json::to_vec(process).map_err(|e| format!("encode process: {e}"))?;
        std::fs::write(&json, bytes).map_err(|e| format!("write {}: {e}", json.display()))?;
        let res = self.spawn_exec(&json, terminal, stdin);
        let (pid, io) = match res {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&json);
                return Err(e);
            }
        };
        let key = self.next_id;
        self.next_id += 1;
        self.execs.push(Exec {
            key,
            id: exec_id.to_string(),
            pid,
            io,
            client: None,
            exit: None,
            exited_at: None,
            json,
        });
        Ok((pid, key))
    }

    fn spawn_exec(
        &mut self,
        json: &Path,
        terminal: bool,
        stdin: bool,
    ) -> Result<(i32, Io), String> {
        let root = &self.cfg.runtime_root;
        let id = &self.cfg.id;
        if terminal {
            let sock = self.state_dir.join(EXEC_CONSOLE);
            let l = sys::bind_socket(&sock).map_err(|e| runtime::error_chain(&e))?;
            let r = runtime::exec(id, root, json, Stdio::Console(sock.clone()))
                .map_err(|e| e.to_string())
                .and_then(|pid| {
                    let master = sys::receive_pty(&l, Duration::from_secs(5))
                        .map_err(|e| runtime::error_chain(&e))?;
                    let io = pty_io(master, stdin).map_err(|e| format!("pty: {e}"))?;
                    Ok((pid, io))
                });
            drop(l);
            let _ = std::fs::remove_file(&sock);
            r
        } else {
            let (io, stdio) = pipes(stdin).map_err(|e| format!("create pipes: {e}"))?;
            let pid = runtime::exec(id, root, json, stdio).map_err(|e| e.to_string())?;
            Ok((pid, io))
        }
    }
}
