//! `docker-init`: the tiny init for `--init` (tini's job).
//!
//! Bind-mounted read-only at `/sbin/docker-init` and run as the container's
//! PID 1 with `-- cmd args...`: it starts the command, forwards the signals
//! it receives to it, reaps every orphan, and exits with the command's
//! status (128+N when a signal killed it).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Runs the init; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut rest: Vec<OsString> = args.into_iter().skip(1).collect();
    if rest.first().is_some_and(|a| a == "--") {
        rest.remove(0);
    }
    if rest.is_empty() {
        eprintln!("docker-init: usage: docker-init -- command [args...]");
        return 1;
    }
    // Block everything; signals are taken synchronously below. The child
    // gets a clean mask (std resets it).
    let all = SigSet::all();
    if let Err(e) = all.thread_block() {
        eprintln!("docker-init: block signals: {e}");
        return 1;
    }
    let cmd = rest.remove(0);
    let child = match std::process::Command::new(&cmd)
        .args(&rest)
        .arg0(&cmd)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("docker-init: exec {}: {e}", cmd.to_string_lossy());
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let child_pid = Pid::from_raw(child.id() as i32);
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(child_pid, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child_pid => return code,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child_pid => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
