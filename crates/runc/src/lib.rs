//! `balena-engine-runc`: runc 1.1's command line over youki's `libcontainer`.
//!
//! The product binary is busybox-style; when invoked as `balena-engine-runc` (or
//! `balena-runc`) it calls [`main`], which behaves like the runc balenaEngine ships for
//! the scripts and shims that call it: same subcommands, flags, JSON/table outputs, exit
//! codes and error lines (`time="…" level=error msg="…"` on stderr, or the bare message
//! on stderr plus the formatted line in `--log`).
//!
//! Layout:
//! - `cli`: clap definitions of the global flags and subcommands, Go-style `-flag` rewriting.
//! - `commands`: create/start/run/state/kill/delete/exec/list/ps/pause/resume/spec/features.
//! - `foreground`: single-threaded supervision of foreground `run`/`exec` (signal
//!   forwarding via signalfd, reaping, pty proxying through a private console socket).
//! - `state`: runc's state JSON, Go time format, `list` table, the applet's sidecar file.
//! - `log`: logrus-compatible text/JSON error lines.
//!
//! Must not: start threads or an async runtime before a container process is created
//! (libcontainer clone3()s the calling process, which must be single-threaded); print
//! anything but runc's formats on stdout; leave state dirs or cgroup dirs it created behind
//! after `delete`.

mod cli;
mod commands;
mod foreground;
mod log;
mod state;

use std::ffi::OsString;

use clap::Parser;

pub use cli::DEFAULT_ROOT;

/// Program names under which the multi-call binary should dispatch to [`main`].
pub const APPLET_NAMES: &[&str] = &["balena-engine-runc", "balena-runc"];

/// The runc version line reported by `--version`.
pub const VERSION: &str = "1.1.5";

/// Runs the applet. `args[0]` is the program name. Returns the process exit code:
/// 0 on success, 1 on any error (usage errors included, as runc), the container's exit
/// code for foreground `run` and `exec` (128+signal when it was killed).
///
/// Must be called from a single-threaded process.
pub fn main(args: Vec<OsString>) -> i32 {
    let args = cli::normalize_go_flags(args);
    let parsed = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if parsed.global.version {
        println!(
            "runc version {VERSION}\nspec: {}\nlibcontainer: youki 0.7.0",
            commands::SPEC_VERSION
        );
        return 0;
    }
    let logger = log::Logger::new(parsed.global.log.clone(), &parsed.global.log_format);
    let Some(command) = parsed.command else {
        let _ = <cli::Cli as clap::CommandFactory>::command().print_help();
        return 0;
    };
    let root = match std::path::absolute(&parsed.global.root) {
        Ok(r) => r,
        Err(e) => {
            logger.error(&format!(
                "invalid root {}: {e}",
                parsed.global.root.display()
            ));
            return 1;
        }
    };
    let ctx = commands::Ctx {
        root,
        global: &parsed.global,
        logger: &logger,
    };
    match commands::dispatch(&ctx, command) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&e.to_string());
            1
        }
    }
}

/// Fuzz entry: parses NUL-separated bytes as a command line (flag rewriting, clap) and
/// each argument as a signal and a `--user` value. Never runs a command.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    let mut args: Vec<OsString> = vec![OsString::from("runc")];
    for part in data.split(|b| *b == 0).take(64) {
        let s = String::from_utf8_lossy(part).into_owned();
        let _ = commands::parse_signal(&s);
        let _ = commands::parse_user(&s);
        let _ = commands::validate_id(&s);
        args.push(OsString::from(s));
    }
    let args = cli::normalize_go_flags(args);
    let _ = cli::Cli::try_parse_from(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn unknown_container_fails_with_exit_one() {
        let root = tempfile::tempdir().expect("tmp");
        let r = root.path().to_str().expect("utf8");
        assert_eq!(main(args(&["runc", "--root", r, "state", "nope"])), 1);
    }

    #[test]
    fn usage_error_exits_one_and_help_zero() {
        assert_eq!(main(args(&["runc", "state"])), 1);
        assert_eq!(main(args(&["runc", "--help"])), 0);
    }

    #[test]
    fn list_of_missing_root_succeeds() {
        assert_eq!(
            main(args(&[
                "runc",
                "--root",
                "/nonexistent-runc-root-x",
                "list",
                "-q"
            ])),
            0
        );
    }
}
