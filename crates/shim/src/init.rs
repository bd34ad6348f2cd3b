//! `--init` inside the container, without a binary in the image.
//!
//! Docker bind-mounts a static `docker-init` (tini) and runs it as PID 1.
//! Our engine binary is dynamically linked, so it cannot run in a busybox
//! or Alpine image. But the container's first process already is a fork of
//! this shim, in the container, right before it executes the command: so
//! it forks once more, lets the child execute the command, and stays
//! behind as the container's init — forwarding signals to the command,
//! reaping orphans, and exiting with the command's status. Nothing is
//! copied or mounted, and its memory is the (shared, copy-on-write) shim's.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// Forks: returns in the child (which goes on to execute the command);
/// never returns in the parent, which is the init until the command ends.
pub(crate) fn become_init() {
    let all = SigSet::all();
    // Blocked signals are queued even for a namespace's PID 1 (which
    // otherwise drops signals it has no handler for), and taken below.
    let _ = all.thread_block();
    // SAFETY: the container's first process is single-threaded (a fork of
    // the single-threaded shim); the child only goes on to exec.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {}
        Ok(ForkResult::Parent { child }) => supervise(child, &all),
        Err(e) => {
            eprintln!("init: fork: {e}");
            // Run the command without an init rather than not at all.
        }
    }
}

fn supervise(child: Pid, all: &SigSet) -> ! {
    let _ = nix::sys::prctl::set_name(c"docker-init");
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => exit(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends this process at once; nothing of the shim's state
    // (sockets, logs) must be flushed from the container's init.
    unsafe { libc::_exit(code) }
}
