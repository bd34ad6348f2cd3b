//! Foreground supervision for `run` and `exec` without `--detach`.
//!
//! All on the applet's single thread: signals are blocked and read from a signalfd,
//! forwarded to the container process (except SIGCHLD, SIGWINCH, SIGURG), children are
//! reaped, and when the process got a pseudoterminal (runc's own console when no
//! `--console-socket` is given) its master is proxied to our stdin/stdout with the local
//! terminal in raw mode. libcontainer only hands out a pty over a console socket, so we
//! listen on a private one ([`ConsoleListener`]).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Errors of the foreground loop and the private console socket.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForegroundError {
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: Errno,
    },
    #[error("console socket {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no console was received on {path}")]
    NoConsole { path: PathBuf },
}

fn sys(op: &'static str) -> impl FnOnce(Errno) -> ForegroundError {
    move |source| ForegroundError::Sys { op, source }
}

/// A private, listening console socket in a fresh 0700 temp dir; removed on drop.
pub(crate) struct ConsoleListener {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    pub(crate) fn bind() -> Result<Self, ForegroundError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "balena-runc-console-{}-{nanos}",
            std::process::id()
        ));
        let mk = |e| ForegroundError::Socket {
            path: dir.clone(),
            source: e,
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(mk)?;
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).map_err(|e| ForegroundError::Socket {
            path: path.clone(),
            source: e,
        })?;
        Ok(Self {
            dir,
            path,
            listener,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the pty master libcontainer sent while creating the process.
    pub(crate) fn receive_master(&self) -> Result<OwnedFd, ForegroundError> {
        let err = |e| ForegroundError::Socket {
            path: self.path.clone(),
            source: e,
        };
        // The connection is already queued when the builder returned; never block forever.
        self.listener.set_nonblocking(true).map_err(err)?;
        let (conn, _) = self.listener.accept().map_err(err)?;
        receive_fd(conn.as_fd()).map_err(|source| match source {
            ForegroundError::NoConsole { .. } => ForegroundError::NoConsole {
                path: self.path.clone(),
            },
            e => e,
        })
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

use std::os::unix::fs::DirBuilderExt;

/// Receives one fd sent with SCM_RIGHTS on a connected unix socket.
pub(crate) fn receive_fd(sock: BorrowedFd<'_>) -> Result<OwnedFd, ForegroundError> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(sys("recvmsg console"))?;
    let mut got: Option<OwnedFd> = None;
    for c in msg.cmsgs().map_err(sys("recvmsg cmsgs"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed this descriptor for us via
                // SCM_RIGHTS; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or(ForegroundError::NoConsole {
        path: PathBuf::new(),
    })
}

/// Converts a wait status of the watched process into runc's exit code.
pub(crate) fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Restores the saved terminal mode on drop.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enter(tty: BorrowedFd<'_>) -> Self {
        let saved = rustix::termios::tcgetattr(tty).ok();
        if let Some(old) = &saved {
            let mut raw = old.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(tty, rustix::termios::OptionalActions::Now, &raw);
        }
        Self { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(old) = &self.saved {
            let stdin = std::io::stdin();
            let _ = rustix::termios::tcsetattr(
                stdin.as_fd(),
                rustix::termios::OptionalActions::Now,
                old,
            );
        }
    }
}

fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Reaps children; returns the exit code once `pid` has exited.
fn reap(pid: Pid) -> Result<Option<i32>, ForegroundError> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(result),
            Ok(ws) => {
                if ws.pid() == Some(pid) {
                    if let Some(code) = exit_code(ws) {
                        result = Some(code);
                    }
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("waitpid")(e)),
        }
    }
}

/// Waits for `pid` (a child of ours) to exit, forwarding signals and proxying the console.
/// Returns the exit code (128+signal when killed).
pub(crate) fn supervise(pid: Pid, console: Option<OwnedFd>) -> Result<i32, ForegroundError> {
    let mask = SigSet::all();
    mask.thread_block().map_err(sys("sigprocmask"))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("signalfd"))?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let _raw = console.as_ref().and_then(|master| {
        if rustix::termios::isatty(stdin.as_fd()) {
            copy_winsize(stdin.as_fd(), master.as_fd());
            Some(RawMode::enter(stdin.as_fd()))
        } else {
            None
        }
    });
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    let mut exited = reap(pid)?;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(code) = exited {
            if let Some(m) = &console {
                drain(m.as_fd(), stdout.as_fd(), &mut buf);
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let stdin_idx = if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        let master_idx = match (&console, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll")(e)),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let sig_ready = ready(0);
        let stdin_ready = stdin_idx.is_some_and(ready);
        let master_ready = master_idx.is_some_and(ready);
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => {
                        if let Some(code) = reap(pid)? {
                            exited = Some(code);
                        }
                    }
                    Signal::SIGWINCH => {
                        if let Some(m) = &console {
                            copy_winsize(stdin.as_fd(), m.as_fd());
                        }
                    }
                    Signal::SIGURG => {}
                    other => {
                        let _ = kill(pid, other);
                    }
                }
            }
        }
        if let (true, Some(m)) = (stdin_ready, &console) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) | Err(Errno::EBADF) => stdin_open = false,
                Ok(n) => {
                    let _ = write_all(m.as_fd(), &buf[..n]);
                }
                Err(_) => {}
            }
        }
        if let (true, Some(m)) = (master_ready, &console) {
            match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => master_open = false,
                Ok(n) => {
                    if !write_all(stdout.as_fd(), &buf[..n]) {
                        master_open = false;
                    }
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => master_open = false,
            }
        }
    }
}

/// Copies what is still buffered in the pty master after the process exited.
fn drain(master: BorrowedFd<'_>, out: BorrowedFd<'_>, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(n) if n > 0 => {
                if !write_all(out, &buf[..n]) {
                    return;
                }
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{
        sendmsg, socketpair, AddressFamily, ControlMessage, SockFlag, SockType,
    };
    use std::io::IoSlice;

    #[test]
    fn exit_code_maps_signals_to_128_plus() {
        let p = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn receive_fd_gets_scm_rights_descriptor() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let file = tempfile::tempfile().expect("tmp");
        let fds = [file.as_raw_fd()];
        let iov = [IoSlice::new(b"console")];
        sendmsg::<()>(
            a.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .expect("send");
        let got = receive_fd(b.as_fd()).expect("receive");
        assert_ne!(got.as_raw_fd(), file.as_raw_fd());
    }

    #[test]
    fn receive_fd_without_rights_is_an_error() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        nix::unistd::write(a.as_fd(), b"x").expect("write");
        assert!(matches!(
            receive_fd(b.as_fd()),
            Err(ForegroundError::NoConsole { .. })
        ));
    }

    #[test]
    fn console_listener_cleans_up_its_dir() {
        let l = ConsoleListener::bind().expect("bind");
        let p = l.path().to_path_buf();
        assert!(p.exists());
        drop(l);
        assert!(!p.exists());
        assert!(!p.parent().expect("parent").exists());
    }
}
