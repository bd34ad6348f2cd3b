//! Command-line definition: runc 1.1's global flags and subcommands, as clap derive types.
//!
//! runc (urfave/cli, Go `flag`) also accepts long flags with a single dash (`-root`);
//! [`normalize_go_flags`] rewrites those to the double-dash form clap understands.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default state directory of the applet (runc's `/run/runc`, renamed for balenaEngine).
pub const DEFAULT_ROOT: &str = "/run/balena-engine-runc";

/// Help text shown above the command list, as runc's.
const ABOUT: &str = "Open Container Initiative runtime

runc is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of the
Open Container Initiative specification.";

#[derive(Debug, Parser)]
#[command(name = "runc", about = ABOUT, disable_version_flag = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalOpts,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalOpts {
    /// enable debug logging
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    /// set the log file to write runc logs to (default is '/dev/stderr')
    #[arg(long, global = true, value_name = "value")]
    pub(crate) log: Option<PathBuf>,
    /// set the log format ('text' (default), or 'json')
    #[arg(
        long = "log-format",
        global = true,
        default_value = "text",
        value_name = "value"
    )]
    pub(crate) log_format: String,
    /// root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, global = true, default_value = DEFAULT_ROOT, value_name = "value")]
    pub(crate) root: PathBuf,
    /// path to the criu binary used for checkpoint and restore (accepted, unused)
    #[arg(long, global = true, default_value = "criu", value_name = "value")]
    pub(crate) criu: String,
    /// enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name" for e.g. "system.slice:runc:434234"
    #[arg(long = "systemd-cgroup", global = true)]
    pub(crate) systemd_cgroup: bool,
    /// ignore cgroup permission errors ('true', 'false', or 'auto') (accepted, unused)
    #[arg(long, default_value = "auto", value_name = "value")]
    pub(crate) rootless: String,
    /// print the version
    #[arg(short = 'v', long = "version")]
    pub(crate) version: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// create a container
    Create(CreateArgs),
    /// delete any resources held by the container often used with detached container
    Delete(DeleteArgs),
    /// execute new process inside the container
    Exec(ExecArgs),
    /// output a JSON document describing the runtime's features (experimental)
    Features,
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// lists containers started by runc with the given root
    List(ListArgs),
    /// pause suspends all processes inside the container
    Pause(IdArg),
    /// ps displays the processes running inside a container
    Ps(PsArgs),
    /// resumes all processes that have been previously paused
    Resume(IdArg),
    /// create and run a container
    Run(RunArgs),
    /// create a new specification file
    Spec(SpecArgs),
    /// executes the user defined process in a created container
    Start(IdArg),
    /// output the state of a container
    State(IdArg),
}

#[derive(Debug, Args)]
pub(crate) struct IdArg {
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, value_name = "value")]
    pub(crate) bundle: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "value")]
    pub(crate) console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "value")]
    pub(crate) pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk
    #[arg(long = "no-pivot")]
    pub(crate) no_pivot: bool,
    /// do not create a new session keyring for the container.  This will cause the container to inherit the calling processes session key
    #[arg(long = "no-new-keyring")]
    pub(crate) no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "value")]
    pub(crate) preserve_fds: i32,
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) create: CreateArgs,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub(crate) detach: bool,
    /// keep the container's state directory and cgroup after exit (accepted, unused)
    #[arg(long)]
    pub(crate) keep: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
    /// the signal to be sent to the init process
    #[arg(value_name = "signal", default_value = "SIGTERM")]
    pub(crate) signal: String,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table", value_name = "value")]
    pub(crate) format: String,
    /// display only container IDs
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table", value_name = "value")]
    pub(crate) format: String,
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
    /// options passed to ps(1)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps options"
    )]
    pub(crate) ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SpecArgs {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, value_name = "value")]
    pub(crate) bundle: Option<PathBuf>,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub(crate) rootless: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "value")]
    pub(crate) console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long, value_name = "value")]
    pub(crate) cwd: Option<String>,
    /// set environment variables
    #[arg(short = 'e', long = "env", value_name = "value")]
    pub(crate) env: Vec<String>,
    /// allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub(crate) tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long, value_name = "value")]
    pub(crate) user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "value")]
    pub(crate) additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short = 'p', long, value_name = "value")]
    pub(crate) process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub(crate) detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "value")]
    pub(crate) pid_file: Option<PathBuf>,
    /// set the asm process label for the process commonly used with selinux (accepted, unused)
    #[arg(long = "process-label", value_name = "value")]
    pub(crate) process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long, value_name = "value")]
    pub(crate) apparmor: Option<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub(crate) no_new_privs: bool,
    /// add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap", value_name = "value")]
    pub(crate) cap: Vec<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "value")]
    pub(crate) preserve_fds: i32,
    /// the name for the instance of the container
    #[arg(value_name = "container-id")]
    pub(crate) id: String,
    /// the command and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "command"
    )]
    pub(crate) command: Vec<String>,
}

/// Long flag names (without dashes) that runc's Go flag parser also accepts with one dash.
const LONG_FLAGS: &[&str] = &[
    "debug",
    "log",
    "log-format",
    "root",
    "criu",
    "systemd-cgroup",
    "rootless",
    "version",
    "bundle",
    "console-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "force",
    "all",
    "format",
    "quiet",
    "cwd",
    "env",
    "tty",
    "user",
    "additional-gids",
    "process",
    "process-label",
    "apparmor",
    "no-new-privs",
    "cap",
    "help",
];

/// Subcommands whose arguments after the container id belong to another program.
const PASSTHROUGH: &[&str] = &["exec", "ps"];

/// Rewrites Go-style `-long` flags to `--long` until the first positional argument
/// of a pass-through command (`exec`, `ps`), so that a container command such as
/// `sh -c` is never touched.
pub(crate) fn normalize_go_flags(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut subcommand: Option<String> = None;
    let mut frozen = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || frozen {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            frozen = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-') {
            if !rest.starts_with('-') && rest.len() > 1 {
                let name = rest.split('=').next().unwrap_or(rest);
                if LONG_FLAGS.contains(&name) {
                    out.push(OsString::from(format!("-{s}")));
                    continue;
                }
            }
            out.push(arg);
            continue;
        }
        match &subcommand {
            None if !is_global_value(&out) => subcommand = Some(s.to_string()),
            Some(cmd) if PASSTHROUGH.contains(&cmd.as_str()) && !is_value_of_prev(&out) => {
                frozen = true
            }
            _ => {}
        }
        out.push(arg);
    }
    out
}

/// Whether the previous token is a global flag that takes a value (so this token is that value).
fn is_global_value(out: &[OsString]) -> bool {
    is_value_of_prev(out)
}

/// Whether the previous token is a flag that takes a separate value.
fn is_value_of_prev(out: &[OsString]) -> bool {
    const VALUED: &[&str] = &[
        "--log",
        "--log-format",
        "--root",
        "--criu",
        "--rootless",
        "--bundle",
        "-b",
        "--console-socket",
        "--pid-file",
        "--preserve-fds",
        "--format",
        "-f",
        "--cwd",
        "--env",
        "-e",
        "--user",
        "-u",
        "--additional-gids",
        "-g",
        "--process",
        "-p",
        "--process-label",
        "--apparmor",
        "--cap",
        "-c",
    ];
    out.last()
        .and_then(|p| p.to_str())
        .is_some_and(|p| VALUED.contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let got = normalize_go_flags(os(&["runc", "-root", "/x", "state", "a"]));
        assert_eq!(got, os(&["runc", "--root", "/x", "state", "a"]));
    }

    #[test]
    fn exec_command_arguments_are_left_alone() {
        let got = normalize_go_flags(os(&["runc", "exec", "-tty", "c1", "ps", "-all", "-e"]));
        assert_eq!(
            got,
            os(&["runc", "exec", "--tty", "c1", "ps", "-all", "-e"])
        );
    }

    #[test]
    fn flag_values_are_not_taken_for_the_subcommand() {
        let got = normalize_go_flags(os(&["runc", "--root", "exec", "ps", "c1", "-format"]));
        assert_eq!(got, os(&["runc", "--root", "exec", "ps", "c1", "-format"]));
    }

    #[test]
    fn exec_parses_trailing_command_with_hyphens() {
        let cli = Cli::try_parse_from(os(&[
            "runc", "exec", "-e", "A=1", "c1", "sh", "-c", "exit 3",
        ]))
        .expect("parse");
        match cli.command {
            Some(Command::Exec(e)) => {
                assert_eq!(e.id, "c1");
                assert_eq!(e.command, vec!["sh", "-c", "exit 3"]);
                assert_eq!(e.env, vec!["A=1"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn kill_defaults_to_sigterm() {
        let cli = Cli::try_parse_from(os(&["runc", "kill", "c1"])).expect("parse");
        match cli.command {
            Some(Command::Kill(k)) => assert_eq!(k.signal, "SIGTERM"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn global_root_defaults_to_balena_path() {
        let cli = Cli::try_parse_from(os(&["runc", "list"])).expect("parse");
        assert_eq!(cli.global.root, PathBuf::from(DEFAULT_ROOT));
    }
}
