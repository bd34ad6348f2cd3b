//! The container runtime: youki's libcontainer, plus what it leaves to its
//! caller (Docker-worded exec errors, signal state for the workload, empty
//! parent cgroups, the OOM-kill count).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use crate::seccomp::Filter;

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// libcontainer failed; `message` is its whole error chain.
    #[error("{message}")]
    Container {
        /// The error chain, joined with ": ".
        message: String,
    },
}

/// Joins an error and its sources into one line, skipping repeats.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

/// Sends libcontainer's errors to stderr (shim.log): it reports the failing
/// step only through `tracing`. Set up only where libcontainer runs (the
/// children of [`in_child`], the final delete): the subscriber's registry
/// is 32 KiB the long-lived shim does not need.
pub(crate) fn log_errors_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::ERROR)
        .with_ansi(false)
        .without_time()
        .try_init();
}

fn lc(e: libcontainer::error::LibcontainerError) -> RuntimeError {
    RuntimeError::Container {
        message: error_chain(&e),
    }
}

/// The stdio of a new process.
pub(crate) enum Stdio {
    /// The process's ends of pipes (or /dev/null).
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A pty, sent to the unix socket listening at this path.
    Console(PathBuf),
}

fn builder(
    id: &str,
    root: &Path,
    stdio: Stdio,
    init: bool,
    filter: Option<Filter>,
) -> Result<ContainerBuilder, RuntimeError> {
    let b = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(root)
        .map_err(lc)?
        .with_executor(ShimExecutor { init, filter })
        .validate_id()
        .map_err(lc)?;
    Ok(match stdio {
        Stdio::Fds {
            stdin,
            stdout,
            stderr,
        } => b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr),
        Stdio::Console(p) => b.with_console_socket(Some(p)),
    })
}

/// What [`create`] made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Created {
    /// The container's init, now a child of the shim.
    pub(crate) pid: i32,
    /// The bundle's cgroups path (libcontainer's default if unset).
    pub(crate) cgroups_path: PathBuf,
    /// The container has a pid namespace of its own (a new one, not one
    /// joined by path): its processes die with its init.
    pub(crate) own_pid_ns: bool,
}

/// The compiled seccomp programs, by digest, under the runtime root.
const SECCOMP_CACHE: &str = "seccomp";
/// The container's seccomp program, for its execs: in libcontainer's state
/// directory of the container (deleted with it).
const SECCOMP_PROGRAM: &str = "seccomp.bpf";
/// Where the spec libcontainer reads goes, under the shim's state
/// directory, when the shim loads the seccomp filter itself.
const RUNTIME_BUNDLE: &str = "runtime-bundle";

fn spec_err(what: &str, path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Container {
        message: format!("{what} {}: {e}", path.display()),
    }
}

/// Creates the container; its init waits for [`start`]. Runs in a child
/// process (see [`in_child`]); when it fails, the child has already
/// removed what it made. `work` is the shim's state directory.
pub(crate) fn create(
    id: &str,
    root: &Path,
    bundle: &Path,
    work: &Path,
    stdio: Stdio,
) -> Result<Created, RuntimeError> {
    in_child(|| {
        let config = bundle.join("config.json");
        let mut spec = Spec::load(&config).map_err(|e| spec_err("load", &config, e))?;
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| PathBuf::from(format!(":youki:{id}")));
        let own_pid_ns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
            });
        let res = std::fs::create_dir_all(root)
            .map_err(|e| spec_err("create runtime root", root, e))
            .and_then(|()| take_seccomp(&mut spec, bundle, root, &work.join(RUNTIME_BUNDLE)))
            .and_then(|(bundle, filter)| {
                let c = builder(id, root, stdio, true, filter.clone())?
                    .as_init(bundle)
                    .with_systemd(false)
                    .with_detach(true)
                    .build()
                    .map_err(lc)?;
                if let Some(f) = &filter {
                    let p = root.join(id).join(SECCOMP_PROGRAM);
                    std::fs::write(&p, f.program()).map_err(|e| spec_err("write", &p, e))?;
                }
                c.pid().map(|p| p.as_raw()).ok_or(RuntimeError::Container {
                    message: "container has no init pid".to_string(),
                })
            });
        match res {
            Ok(pid) => Ok(Created {
                pid,
                cgroups_path,
                own_pid_ns,
            }),
            Err(e) => {
                let _ = delete(id, root, &cgroups_path, true);
                Err(e)
            }
        }
    })
}

/// When the shim loads the spec's seccomp filter itself (see
/// `crate::seccomp`), writes the spec without it (and with the process
/// keeping CAP_SYS_ADMIN until the filter is loaded) to `rt_bundle` and
/// returns that bundle and the filter; else the bundle as it is.
fn take_seccomp(
    spec: &mut Spec,
    bundle: &Path,
    root: &Path,
    rt_bundle: &Path,
) -> Result<(PathBuf, Option<Filter>), RuntimeError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok((bundle.to_path_buf(), None));
    };
    if !crate::seccomp::handled(&profile, spec.process().as_ref()) {
        return Ok((bundle.to_path_buf(), None));
    }
    let Some(mut process) = spec.process().clone() else {
        return Ok((bundle.to_path_buf(), None));
    };
    let cache = root.join(SECCOMP_CACHE);
    let program = crate::seccomp::program(&profile, &cache)
        .map_err(|e| spec_err("seccomp filter in", &cache, error_chain(&e)))?;
    let filter = crate::seccomp::plan(&mut process, program);
    spec.set_process(Some(process));
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    // The root stays where the bundle says.
    if let Some(r) = spec.root_mut() {
        if r.path().is_relative() {
            let abs = bundle.join(r.path());
            r.set_path(abs);
        }
    }
    std::fs::create_dir_all(rt_bundle).map_err(|e| spec_err("create", rt_bundle, e))?;
    let config = rt_bundle.join("config.json");
    spec.save(&config)
        .map_err(|e| spec_err("write", &config, e))?;
    Ok((rt_bundle.to_path_buf(), Some(filter)))
}

fn load(id: &str, root: &Path) -> Result<Container, RuntimeError> {
    Container::load(root.join(id)).map_err(lc)
}

/// Starts a created container.
pub(crate) fn start(id: &str, root: &Path) -> Result<(), RuntimeError> {
    in_child(|| load(id, root)?.start().map_err(lc))
}

/// Signals every process of the container.
pub(crate) fn kill_all(id: &str, root: &Path, signal: i32) -> Result<(), RuntimeError> {
    let sig = nix::sys::signal::Signal::try_from(signal).map_err(|e| RuntimeError::Container {
        message: format!("invalid signal {signal}: {e}"),
    })?;
    in_child(|| load(id, root)?.kill(sig, true).map_err(lc))
}

/// Freezes the container.
pub(crate) fn pause(id: &str, root: &Path) -> Result<(), RuntimeError> {
    in_child(|| load(id, root)?.pause().map_err(lc))
}

/// Thaws the container.
pub(crate) fn resume(id: &str, root: &Path) -> Result<(), RuntimeError> {
    in_child(|| load(id, root)?.resume().map_err(lc))
}

/// Runs a process (described by the OCI process JSON at `process`) in the
/// container; returns its pid (a child of the shim once this returns). It
/// gets the container's seccomp filter, as with runc (libcontainer's
/// tenant spec has none).
pub(crate) fn exec(
    id: &str,
    root: &Path,
    process: &Path,
    stdio: Stdio,
) -> Result<i32, RuntimeError> {
    in_child(|| {
        let filter = exec_filter(&root.join(id).join(SECCOMP_PROGRAM), process)?;
        let pid = builder(id, root, stdio, false, filter)?
            .as_tenant()
            .with_process(Some(process))
            .with_detach(true)
            .build()
            .map_err(lc)?;
        Ok(pid.as_raw())
    })
}

/// The container's filter for an exec, if it has one the shim loads: the
/// process JSON is rewritten to keep CAP_SYS_ADMIN until it is loaded.
fn exec_filter(program: &Path, process: &Path) -> Result<Option<Filter>, RuntimeError> {
    let program = match std::fs::read(program) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(spec_err("read", program, e)),
    };
    let raw = std::fs::read(process).map_err(|e| spec_err("read", process, e))?;
    let mut p: libcontainer::oci_spec::runtime::Process =
        serde_json::from_slice(&raw).map_err(|e| spec_err("parse", process, e))?;
    let filter = crate::seccomp::plan(&mut p, program);
    let raw = serde_json::to_vec(&p).map_err(|e| spec_err("encode", process, e))?;
    std::fs::write(process, raw).map_err(|e| spec_err("write", process, e))?;
    Ok(Some(filter))
}

/// Runs `f` in a fork of this process and returns its result.
///
/// libcontainer parses the spec, keeps its state and cgroup paths on the
/// heap and runs a lot of code; the shim lives as long as its container,
/// one per container, so none of that may stay behind in it. A child
/// process does the work and reports back on a pipe, one JSON line; its
/// heap and page tables go with it. The shim is a child subreaper, so the
/// processes the child makes (the container's init, an exec) become the
/// shim's children when the child exits, exactly as if the shim had made
/// them; one that already ended is handed over as a zombie, and SIGCHLD
/// tells the shim. The child leaves without running destructors or
/// flushing anything of the shim's (`_exit`).
fn in_child<T, F>(f: F) -> Result<T, RuntimeError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce() -> Result<T, RuntimeError>,
{
    spawn_child(f)?.wait()
}

/// A child started by [`spawn_child`], running; [`Pending::wait`] takes
/// its result.
pub(crate) struct Pending<T> {
    pid: nix::unistd::Pid,
    reply: OwnedFd,
    result: std::marker::PhantomData<T>,
}

/// [`in_child`] without waiting: the shim does other work meanwhile.
fn spawn_child<T, F>(f: F) -> Result<Pending<T>, RuntimeError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce() -> Result<T, RuntimeError>,
{
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RuntimeError::Container {
            message: format!("create pipe: {e}"),
        })?;
    // SAFETY: the shim is single-threaded (no thread can hold a lock the
    // child would need); the child only runs `f` and `_exit`s.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(r);
            log_errors_to_stderr();
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let code = match res {
                Ok(res) => {
                    let res = res.map_err(|e| e.to_string());
                    let mut line = serde_json::to_vec(&res).unwrap_or_default();
                    line.push(b'\n');
                    let mut out = std::fs::File::from(w);
                    i32::from(std::io::Write::write_all(&mut out, &line).is_err())
                }
                Err(_) => {
                    let mut out = std::fs::File::from(w);
                    let _ = std::io::Write::write_all(
                        &mut out,
                        b"{\"Err\":\"runtime helper process panicked\"}\n",
                    );
                    2
                }
            };
            // SAFETY: _exit ends the child at once, as intended.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(w);
            drop(f);
            Ok(Pending {
                pid: child,
                reply: r,
                result: std::marker::PhantomData,
            })
        }
        Err(e) => Err(RuntimeError::Container {
            message: format!("fork: {e}"),
        }),
    }
}

impl<T: serde::de::DeserializeOwned> Pending<T> {
    /// Waits for the child's reply and its exit.
    pub(crate) fn wait(self) -> Result<T, RuntimeError> {
        let Pending { pid, reply, .. } = self;
        let (line, exited) = read_reply(pid, reply);
        let status = match exited {
            Some(st) => st,
            None => loop {
                match nix::sys::wait::waitpid(pid, None) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other,
                }
            },
        };
        let line = line.ok_or_else(|| RuntimeError::Container {
            message: format!("runtime helper process failed: {status:?}"),
        })?;
        let res: Result<T, String> =
            serde_json::from_slice(&line).map_err(|e| RuntimeError::Container {
                message: format!("runtime helper process: bad reply: {e}"),
            })?;
        res.map_err(|message| RuntimeError::Container { message })
    }
}

/// Reads the child's reply, up to the first newline; `None` if it ends
/// (or the child dies) without one, or the line is too long. The pipe's
/// end of file is not enough: the processes the child made (the container's
/// init) hold its write end until they execute. So while nothing comes, the
/// child is polled for, and once it has exited without replying, that is
/// the answer (its exit status is returned then; it is reaped). The pipe is
/// closed on return, so a child still writing gets EPIPE instead of
/// blocking.
fn read_reply(
    pid: nix::unistd::Pid,
    reply: OwnedFd,
) -> (
    Option<Vec<u8>>,
    Option<nix::Result<nix::sys::wait::WaitStatus>>,
) {
    const MAX: usize = 1 << 20;
    let fd = reply.as_raw_fd();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let mut exited = None;
    let line = loop {
        if !crate::sys::wait_readable(fd, std::time::Duration::from_millis(100)) {
            if exited.is_some() {
                break None;
            }
            match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                // Read once more: the reply may have come with the exit.
                other => exited = Some(other),
            }
            continue;
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if let Some(i) = out.iter().position(|b| *b == b'\n') {
                    out.truncate(i);
                    break Some(out);
                }
                if out.len() > MAX {
                    break None;
                }
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(_) => break None,
        }
    };
    drop(reply);
    (line, exited)
}

/// Deletes the container and the empty parent cgroups libcontainer leaves
/// behind. Works from whatever state a failed create left, if any. With
/// `kill_all`, first kills every process left in its cgroup: processes
/// outside a pid namespace of its own survive the init. (In one of its
/// own, the kernel has killed them all before the init could be reaped:
/// runc skips this step then too.)
pub(crate) fn delete(
    id: &str,
    root: &Path,
    cgroups_path: &Path,
    kill_all: bool,
) -> Result<(), RuntimeError> {
    log_errors_to_stderr();
    let state = root.join(id);
    let res = if state.exists() {
        Container::load(state.clone())
            .and_then(|mut c| {
                if kill_all {
                    let _ = c.kill(nix::sys::signal::Signal::SIGKILL, true);
                }
                c.delete(true)
            })
            .map_err(lc)
    } else {
        Ok(())
    };
    if res.is_err() && state.exists() {
        // A half-created container may have no loadable state: drop the dir.
        let _ = std::fs::remove_dir_all(&state);
    }
    remove_cgroup_dirs(Path::new(CGROUP_ROOT), cgroups_path);
    res
}

/// [`delete`] in a child process, so that the shim can sync the log
/// meanwhile.
pub(crate) fn start_delete(
    id: &str,
    root: &Path,
    cgroups_path: &Path,
    kill_all: bool,
) -> Result<Pending<()>, RuntimeError> {
    spawn_child(|| delete(id, root, cgroups_path, kill_all))
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn is_v2(root: &Path) -> bool {
    root.join("cgroup.controllers").exists()
}

/// The hierarchies to clean: the root on v2, every real controller dir on v1.
fn hierarchies(root: &Path) -> Vec<PathBuf> {
    if is_v2(root) {
        return vec![root.to_path_buf()];
    }
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        // Skip the cpu -> cpu,cpuacct style aliases.
        e.file_type().ok()?.is_dir().then(|| e.path())
    })
    .collect()
}

/// Removes the container's cgroup and its parents while they are empty,
/// in every hierarchy under `root`.
pub(crate) fn remove_cgroup_dirs(root: &Path, cgroups_path: &Path) {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    if rel.as_os_str().is_empty() || rel.to_string_lossy().contains(':') {
        // systemd-style paths are not ours to clean.
        return;
    }
    for h in hierarchies(root) {
        for anc in rel.ancestors() {
            if anc.as_os_str().is_empty() {
                break;
            }
            match std::fs::remove_dir(h.join(anc)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => break,
            }
        }
    }
}

/// How many times the kernel's OOM killer hit the container's memory cgroup.
pub(crate) fn oom_kill_count(cgroups_path: &Path) -> u64 {
    oom_kill_count_in(Path::new(CGROUP_ROOT), cgroups_path)
}

fn oom_kill_count_in(root: &Path, cgroups_path: &Path) -> u64 {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    let file = if is_v2(root) {
        root.join(rel).join("memory.events")
    } else {
        root.join("memory").join(rel).join("memory.oom_control")
    };
    let Ok(text) = std::fs::read_to_string(file) else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|n| n.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

/// The annotation that asks for `--init`: the container's first process
/// stays as a tiny init (signal forwarding, reaping) and runs the command as
/// its child.
pub const INIT_ANNOTATION: &str = "io.balena-engine.init";

/// libcontainer's default executor, with the shim's signal state undone
/// before the workload runs and Docker's wording for a missing executable.
/// With `init` (the container's own init, not an exec) and the
/// [`INIT_ANNOTATION`], it becomes the container's init first.
/// With a `filter`, the process loads it (and drops the CAP_SYS_ADMIN it
/// kept for that) at the end of `validate`: see `crate::seccomp`.
#[derive(Clone)]
struct ShimExecutor {
    init: bool,
    filter: Option<Filter>,
}

impl Executor for ShimExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let wants_init = self.init
            && spec
                .annotations()
                .as_ref()
                .is_some_and(|a| a.get(INIT_ANNOTATION).is_some_and(|v| v == "true"));
        // The filter is loaded by now (`validate`): a `--init` process
        // runs under it too, as Docker's does.
        if wants_init {
            crate::init::become_init();
        }
        crate::sys::reset_signals_for_exec();
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "spec did not contain process".into(),
            ));
        };
        let Some(name) = process.args().as_ref().and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(
                "no command specified".into(),
            ));
        };
        let path = process
            .env()
            .as_ref()
            .and_then(|e| e.iter().find_map(|v| v.strip_prefix("PATH=")))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        look_path(name, path).map_err(ExecutorValidationError::ArgValidationError)?;
        // The last step libcontainer leaves us before the process tells its
        // parent it is ready (and, for the init, waits to be started): the
        // filter goes in here, right after libcontainer dropped the
        // capabilities, where it would have loaded it itself, so
        // CAP_SYS_ADMIN is kept only for a few system calls.
        if let Some(f) = &self.filter {
            f.apply()
                .map_err(|e| ExecutorValidationError::ArgValidationError(error_chain(&e)))?;
        }
        Ok(())
    }
}

/// Go's exec.LookPath, with runc's error texts (the daemon maps them to
/// exit codes 126/127).
fn look_path(name: &str, path_var: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| -> Result<(), std::io::Error> {
        let m = std::fs::metadata(p)?;
        if m.is_file() && m.permissions().mode() & 0o111 != 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(libc::EACCES))
        }
    };
    if name.contains('/') {
        return match executable(Path::new(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "exec: \"{name}\": stat {name}: no such file or directory"
            )),
            Err(_) => Err(format!("exec: \"{name}\": permission denied")),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        if executable(&Path::new(dir).join(name)).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "exec: \"{name}\": executable file not found in $PATH"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_path_words_errors_like_docker() {
        assert_eq!(
            look_path("no-such-cmd-xyz", "/bin:/usr/bin").unwrap_err(),
            "exec: \"no-such-cmd-xyz\": executable file not found in $PATH"
        );
        assert_eq!(
            look_path("/nope/x", "/bin").unwrap_err(),
            "exec: \"/nope/x\": stat /nope/x: no such file or directory"
        );
        assert_eq!(
            look_path("/etc", "/bin").unwrap_err(),
            "exec: \"/etc\": permission denied"
        );
        look_path("sh", "/nonexistent:/bin").unwrap();
    }

    #[test]
    fn error_chain_joins_sources_without_repeats() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
    }

    #[test]
    fn oom_count_reads_v1_and_v2_files() {
        let d = tempfile::tempdir().unwrap();
        let v1 = d.path().join("v1");
        std::fs::create_dir_all(v1.join("memory/a/b")).unwrap();
        std::fs::write(
            v1.join("memory/a/b/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(oom_kill_count_in(&v1, Path::new("/a/b")), 2);
        let v2 = d.path().join("v2");
        std::fs::create_dir_all(v2.join("a/b")).unwrap();
        std::fs::write(v2.join("cgroup.controllers"), "memory\n").unwrap();
        std::fs::write(v2.join("a/b/memory.events"), "low 0\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(oom_kill_count_in(&v2, Path::new("/a/b")), 1);
        assert_eq!(oom_kill_count_in(&v2, Path::new("/missing")), 0);
    }

    #[test]
    fn children_report_values_errors_and_panics() {
        assert_eq!(in_child(|| Ok(42i32)).unwrap(), 42);
        let e = in_child::<i32, _>(|| {
            Err(RuntimeError::Container {
                message: "no such container".into(),
            })
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "no such container");
        let e = in_child::<i32, _>(|| panic!("boom")).unwrap_err();
        assert_eq!(e.to_string(), "runtime helper process panicked");
        // Started now, waited for later.
        let p = spawn_child(|| Ok("later".to_string())).unwrap();
        assert_eq!(p.wait().unwrap(), "later");
    }

    #[test]
    fn a_child_that_dies_silently_is_noticed_while_its_children_run() {
        let t0 = std::time::Instant::now();
        let e = in_child::<i32, _>(|| {
            // A grandchild keeps the reply pipe open (as a container's init
            // does) while the child dies without a word.
            // SAFETY: the grandchild only sleeps and _exits.
            if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
                std::thread::sleep(std::time::Duration::from_secs(3));
                // SAFETY: leave at once.
                unsafe { libc::_exit(0) }
            }
            // SAFETY: die without replying.
            unsafe { libc::_exit(7) }
        })
        .unwrap_err();
        assert!(e.to_string().contains("Exited"), "{e}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn cgroup_cleanup_removes_empty_parents_only() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("memory/p/q/c")).unwrap();
        std::fs::create_dir_all(r.join("memory/p/other")).unwrap();
        std::fs::create_dir_all(r.join("pids/p/q")).unwrap();
        remove_cgroup_dirs(r, Path::new("/p/q/c"));
        assert!(!r.join("memory/p/q").exists());
        assert!(r.join("memory/p/other").exists());
        assert!(!r.join("pids/p").exists());
    }
}
