//! The runc subcommands, implemented over libcontainer.
//!
//! Every libcontainer call that clones (create, exec) runs on the applet's only thread.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcgroups::common::{CgroupConfig, CgroupManager};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};

use crate::cli::{
    Command, CreateArgs, DeleteArgs, ExecArgs, GlobalOpts, KillArgs, ListArgs, PsArgs, RunArgs,
    SpecArgs,
};
use crate::foreground::{self, ConsoleListener, ForegroundError};
use crate::log::Logger;
use crate::state::{self, RuncState, Sidecar, StateError};

/// runc's spec version, reported by `--version` and written by `spec`.
pub(crate) const SPEC_VERSION: &str = "1.0.2-dev";

/// Errors of the subcommands; the Display text is what runc prints.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    Exists,
    #[error("container id cannot be empty")]
    EmptyId,
    #[error("invalid container id format: {0}")]
    InvalidId(String),
    #[error("{0}")]
    Msg(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Lib {
        context: String,
        #[source]
        source: LibcontainerError,
    },
    #[error(transparent)]
    Foreground(#[from] ForegroundError),
    #[error(transparent)]
    State(#[from] StateError),
}

type Result<T> = std::result::Result<T, CommandError>;

fn msg(s: impl Into<String>) -> CommandError {
    CommandError::Msg(s.into())
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CommandError {
    let context = context.into();
    move |source| CommandError::Io { context, source }
}

fn lib(context: impl Into<String>) -> impl FnOnce(LibcontainerError) -> CommandError {
    let context = context.into();
    move |source| CommandError::Lib {
        context: format!("{context}: {}", error_chain(&source)),
        source,
    }
}

/// libcontainer's errors are often `transparent` wrappers with terse text; show the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// Shared context of one invocation.
pub(crate) struct Ctx<'a> {
    pub(crate) root: PathBuf,
    pub(crate) global: &'a GlobalOpts,
    pub(crate) logger: &'a Logger,
}

/// Runs one subcommand; returns the process exit code.
pub(crate) fn dispatch(ctx: &Ctx<'_>, cmd: Command) -> Result<i32> {
    match cmd {
        Command::Create(a) => create(ctx, &a).map(|_| 0),
        Command::Start(a) => start(ctx, &a.id).map(|_| 0),
        Command::Run(a) => run(ctx, &a),
        Command::State(a) => print_state(ctx, &a.id).map(|_| 0),
        Command::Kill(a) => kill(ctx, &a).map(|_| 0),
        Command::Delete(a) => delete(ctx, &a).map(|_| 0),
        Command::Exec(a) => exec(ctx, &a),
        Command::List(a) => list(ctx, &a).map(|_| 0),
        Command::Ps(a) => ps(ctx, &a).map(|_| 0),
        Command::Pause(a) => pause(ctx, &a.id).map(|_| 0),
        Command::Resume(a) => resume(ctx, &a.id).map(|_| 0),
        Command::Spec(a) => spec(&a).map(|_| 0),
        Command::Features => features().map(|_| 0),
    }
}

/// runc's container id rule: `^[\w+-\.]+$` and not a path trick.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(CommandError::EmptyId);
    }
    let ok = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
        && id != "."
        && id != "..";
    if ok {
        Ok(())
    } else {
        Err(CommandError::InvalidId(id.to_string()))
    }
}

fn container_dir(ctx: &Ctx<'_>, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(ctx.root.join(id))
}

fn load(ctx: &Ctx<'_>, id: &str) -> Result<Container> {
    let dir = container_dir(ctx, id)?;
    if !dir.join("state.json").is_file() {
        return Err(CommandError::NotExist);
    }
    Container::load(dir).map_err(lib("load container"))
}

/// runc's status words.
pub(crate) fn status_word(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

fn load_bundle_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    if !path.exists() {
        return Err(msg("JSON specification file config.json not found"));
    }
    Spec::load(&path).map_err(|e| msg(format!("parse {}: {e}", path.display())))
}

fn terminal_of(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// The cgroup path libcontainer will use (its default when the spec has none).
fn cgroup_path_of(spec: &Spec, id: &str) -> PathBuf {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(format!(":youki:{id}")))
}

/// Mount points of cgroup (v1 and v2) hierarchies, from mountinfo text.
pub(crate) fn cgroup_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = left.split_whitespace().nth(4) {
            out.push(PathBuf::from(unescape_mountinfo(mp)));
        }
    }
    out
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parent directories of `cgroup_path` that do not exist yet under each mount, deepest first.
pub(crate) fn missing_cgroup_parents(mounts: &[PathBuf], cgroup_path: &Path) -> Vec<PathBuf> {
    let rel: PathBuf = cgroup_path
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let mut ancestors: Vec<PathBuf> = rel
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    ancestors.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let mut out = Vec::new();
    for a in &ancestors {
        for m in mounts {
            let d = m.join(a);
            if !d.exists() {
                out.push(d);
            }
        }
    }
    out
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(io(format!("resolve {}", p.display())))
}

/// Creates a container (`create`, first half of `run`); returns it with the sidecar saved.
fn create_container(
    ctx: &Ctx<'_>,
    a: &CreateArgs,
    console_socket: Option<&Path>,
) -> Result<Container> {
    let dir = container_dir(ctx, &a.id)?;
    let bundle = match &a.bundle {
        Some(b) => absolute(b)?,
        None => std::env::current_dir().map_err(io("getwd"))?,
    };
    let spec = load_bundle_spec(&bundle)?;
    let terminal = terminal_of(&spec);
    if terminal && console_socket.is_none() {
        return Err(msg(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if !terminal && console_socket.is_some() {
        return Err(msg(
            "cannot use console socket if runc will not detach or allocate tty",
        ));
    }
    if dir.exists() {
        return Err(CommandError::Exists);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ctx.root)
        .map_err(io(format!("mkdir {}", ctx.root.display())))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| cgroup_mounts(&m))
        .unwrap_or_default();
    let parents = missing_cgroup_parents(&mounts, &cgroup_path_of(&spec, &a.id));
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| {
            let p = r.path();
            if p.is_absolute() {
                p.clone()
            } else {
                bundle.join(p)
            }
        })
        .unwrap_or_default();
    let sidecar = Sidecar {
        oci_version: spec.version().clone(),
        rootfs,
        created_cgroup_parents: parents,
    };
    if a.no_new_keyring {
        ctx.logger
            .warn("--no-new-keyring is not supported by this runtime; ignored");
    }
    let built = ContainerBuilder::new(a.id.clone(), SyscallType::default())
        .with_root_path(&ctx.root)
        .and_then(|b| b.with_pid_file(a.pid_file.as_ref()))
        .map(|b| {
            b.with_console_socket(console_socket)
                .with_preserved_fds(a.preserve_fds)
        })
        .and_then(|b| b.validate_id())
        .and_then(|b| {
            b.as_init(&bundle)
                .with_systemd(ctx.global.systemd_cgroup)
                .with_detach(true)
                .with_no_pivot(a.no_pivot)
                .build()
        });
    match built {
        Ok(c) => {
            if let Err(e) = sidecar.save(&dir) {
                destroy_dir(&dir, &sidecar);
                return Err(e.into());
            }
            Ok(c)
        }
        Err(e) => {
            destroy_dir(&dir, &sidecar);
            Err(lib("create container")(e))
        }
    }
}

/// Best-effort cleanup after a failed create.
fn destroy_dir(dir: &Path, sidecar: &Sidecar) {
    if let Ok(mut c) = Container::load(dir.to_path_buf()) {
        let _ = c.delete(true);
    }
    let _ = std::fs::remove_dir_all(dir);
    sidecar.remove_cgroup_parents();
}

/// Deletes a stopped (or just killed) container and the cgroup parents we created.
fn destroy(c: &mut Container) -> Result<()> {
    let sidecar = Sidecar::load(&c.root);
    let res = c.delete(true).map_err(lib("delete container"));
    sidecar.remove_cgroup_parents();
    res
}

fn create(ctx: &Ctx<'_>, a: &CreateArgs) -> Result<()> {
    create_container(ctx, a, a.console_socket.as_deref()).map(|_| ())
}

fn start(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    let mut c = load(ctx, id)?;
    match c.status() {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => return Err(msg("cannot start a container that has stopped")),
        ContainerStatus::Running => return Err(msg("cannot start an already running container")),
        s => {
            return Err(msg(format!(
                "cannot start a container in the {} state",
                status_word(s)
            )))
        }
    }
    c.start().map_err(lib("start container"))
}

fn run(ctx: &Ctx<'_>, a: &RunArgs) -> Result<i32> {
    let bundle = match &a.create.bundle {
        Some(b) => absolute(b)?,
        None => std::env::current_dir().map_err(io("getwd"))?,
    };
    let terminal = terminal_of(&load_bundle_spec(&bundle)?);
    // runc allocates the console itself in the foreground; libcontainer only hands a pty
    // out over a console socket, so listen on a private one.
    let private = if terminal && !a.detach && a.create.console_socket.is_none() {
        Some(ConsoleListener::bind()?)
    } else {
        None
    };
    let socket = match &private {
        Some(l) => Some(l.path().to_path_buf()),
        None => a.create.console_socket.clone(),
    };
    let mut c = create_container(ctx, &a.create, socket.as_deref())?;
    let master = match &private {
        Some(l) => match l.receive_master() {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = destroy(&mut c);
                return Err(e.into());
            }
        },
        None => None,
    };
    drop(private);
    if let Err(e) = c.start() {
        let _ = destroy(&mut c);
        return Err(lib("start container")(e));
    }
    if a.detach {
        return Ok(0);
    }
    let Some(pid) = c.pid() else {
        let _ = destroy(&mut c);
        return Err(msg("container has no init pid"));
    };
    let code = foreground::supervise(pid, master);
    let _ = c.refresh_status();
    let del = destroy(&mut c);
    let code = code?;
    del?;
    Ok(code)
}

/// Builds runc's state document for a loaded container.
fn runc_state(c: &Container, owner: String) -> RuncState {
    let sidecar = Sidecar::load(&c.root);
    let status = c.status();
    let pid = match status {
        ContainerStatus::Stopped => 0,
        _ => c.pid().map(Pid::as_raw).unwrap_or(0),
    };
    RuncState {
        oci_version: if sidecar.oci_version.is_empty() {
            c.state.oci_version.clone()
        } else {
            sidecar.oci_version
        },
        id: c.id().to_string(),
        pid,
        status: status_word(status).to_string(),
        bundle: c.bundle().display().to_string(),
        rootfs: sidecar.rootfs.display().to_string(),
        created: c
            .created()
            .map(|t| state::go_rfc3339_nano(&t))
            .unwrap_or_else(|| state::GO_ZERO_TIME.to_string()),
        annotations: c.state.annotations.clone().filter(|a| !a.is_empty()),
        owner,
    }
}

fn print_state(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    let c = load(ctx, id)?;
    let s = runc_state(&c, String::new());
    // Go's json.MarshalIndent(cs, "", "  "), written without a trailing newline.
    let text = serde_json::to_string_pretty(&s).map_err(|e| msg(e.to_string()))?;
    print!("{text}");
    Ok(())
}

/// Parses a signal like runc: a number, or a name with or without `SIG`, any case.
pub(crate) fn parse_signal(raw: &str) -> Result<i32> {
    if let Ok(n) = raw.parse::<i32>() {
        return Ok(n);
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let base = nix::libc::SIGRTMIN();
        return match rt {
            "" => Ok(base),
            r => r
                .strip_prefix('+')
                .and_then(|n| n.parse::<i32>().ok())
                .map(|n| base + n)
                .filter(|&s| s <= nix::libc::SIGRTMAX())
                .ok_or_else(|| msg(format!("unknown signal {raw:?}"))),
        };
    }
    if name == "SIGRTMAX" {
        return Ok(nix::libc::SIGRTMAX());
    }
    name.parse::<Signal>()
        .map(|s| s as i32)
        .map_err(|_| msg(format!("unknown signal {raw:?}")))
}

fn send_signal(pid: Pid, sig: i32) -> std::result::Result<(), nix::errno::Errno> {
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    let r = unsafe { nix::libc::kill(pid.as_raw(), sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

fn cgroup_manager(c: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let cfg = c.spec().map_err(lib("load container config"))?;
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: cfg.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: c.id().to_string(),
    })
    .map_err(|e| msg(format!("cgroup manager: {e}")))
}

fn container_pids(c: &Container) -> Result<Vec<i32>> {
    let m = cgroup_manager(c)?;
    let pids = m
        .get_all_pids()
        .map_err(|e| msg(format!("list cgroup pids: {e}")))?;
    Ok(pids.into_iter().map(Pid::as_raw).collect())
}

fn kill(ctx: &Ctx<'_>, a: &KillArgs) -> Result<()> {
    let mut c = load(ctx, &a.id)?;
    let sig = parse_signal(&a.signal)?;
    let status = c.status();
    if !a.all && matches!(status, ContainerStatus::Stopped) {
        return Err(msg("container not running"));
    }
    if a.all {
        // Signal every process in the cgroup (runc: freeze, signal, thaw).
        let m = cgroup_manager(&c)?;
        let paused = matches!(status, ContainerStatus::Paused);
        if !paused {
            let _ = m.freeze(libcgroups::common::FreezerState::Frozen);
        }
        let pids = m.get_all_pids().unwrap_or_default();
        for p in pids {
            let _ = send_signal(p, sig);
        }
        if !paused || sig == nix::libc::SIGKILL {
            let _ = m.freeze(libcgroups::common::FreezerState::Thawed);
        }
        return Ok(());
    }
    let Some(pid) = c.pid() else {
        return Err(msg("container not running"));
    };
    send_signal(pid, sig).map_err(|e| msg(format!("kill container: {e}")))?;
    if matches!(status, ContainerStatus::Paused) && sig == nix::libc::SIGKILL {
        // A frozen task cannot die; thaw like libcontainer does on cgroup v1.
        if let Ok(m) = cgroup_manager(&c) {
            let _ = m.freeze(libcgroups::common::FreezerState::Thawed);
        }
        c.set_status(ContainerStatus::Running);
        c.save().map_err(lib("save state"))?;
    }
    Ok(())
}

/// SIGKILLs every process and waits up to 10 s for the init to die (runc's killContainer).
fn kill_and_wait(c: &mut Container) -> Result<()> {
    if let Ok(m) = cgroup_manager(c) {
        let _ = m.freeze(libcgroups::common::FreezerState::Frozen);
        for p in m.get_all_pids().unwrap_or_default() {
            let _ = send_signal(p, nix::libc::SIGKILL);
        }
        let _ = m.freeze(libcgroups::common::FreezerState::Thawed);
    }
    if let Some(pid) = c.pid() {
        let _ = send_signal(pid, nix::libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Reap it if it happens to be our child (run/exec in this process).
        if let Some(pid) = c.pid() {
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
        c.refresh_status().map_err(lib("container status"))?;
        if matches!(c.status(), ContainerStatus::Stopped) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(msg("container init still running"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn delete(ctx: &Ctx<'_>, a: &DeleteArgs) -> Result<()> {
    let dir = container_dir(ctx, &a.id)?;
    let mut c = match load(ctx, &a.id) {
        Ok(c) => c,
        Err(CommandError::NotExist) => {
            // An aborted create can leave a dir without state.json behind.
            if dir.exists() {
                let sidecar = Sidecar::load(&dir);
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    eprintln!("remove {}: {e}", dir.display());
                }
                sidecar.remove_cgroup_parents();
            }
            if a.force {
                return Ok(());
            }
            return Err(CommandError::NotExist);
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        ContainerStatus::Stopped => destroy(&mut c),
        ContainerStatus::Created => {
            kill_and_wait(&mut c)?;
            destroy(&mut c)
        }
        s if a.force => {
            let _ = s;
            kill_and_wait(&mut c)?;
            destroy(&mut c)
        }
        s => Err(msg(format!(
            "cannot delete container {} that is not stopped: {}",
            a.id,
            status_word(s)
        ))),
    }
}

fn pause(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    let mut c = load(ctx, id)?;
    if !matches!(c.status(), ContainerStatus::Running) {
        return Err(msg("container not running"));
    }
    c.pause().map_err(lib("pause container"))
}

fn resume(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    let mut c = load(ctx, id)?;
    if !matches!(c.status(), ContainerStatus::Paused) {
        return Err(msg("container not paused"));
    }
    c.resume().map_err(lib("resume container"))
}

fn owner_name(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(md) => {
            let uid = md.uid();
            match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
                Ok(Some(u)) => u.name,
                _ => format!("#{uid}"),
            }
        }
        Err(_) => String::new(),
    }
}

fn list(ctx: &Ctx<'_>, a: &ListArgs) -> Result<()> {
    let mut items = Vec::new();
    let entries = match std::fs::read_dir(&ctx.root) {
        Ok(e) => e.filter_map(|e| e.ok()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(format!("open {}", ctx.root.display()))(e)),
    };
    let mut names: Vec<_> = entries
        .into_iter()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    names.sort();
    for dir in names {
        if !dir.join("state.json").is_file() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Container::load(dir.clone()) {
            Ok(c) => items.push(runc_state(&c, owner_name(&dir))),
            Err(e) => eprintln!("load container {name}: {e}"),
        }
    }
    if a.quiet {
        for i in &items {
            println!("{}", i.id);
        }
        return Ok(());
    }
    match a.format.as_str() {
        "table" => print!("{}", state::list_table(&items)),
        "json" => {
            if items.is_empty() {
                println!("null");
            } else {
                let j = serde_json::to_string(&items).map_err(|e| msg(e.to_string()))?;
                println!("{j}");
            }
        }
        _ => return Err(msg("invalid format option")),
    }
    Ok(())
}

/// Keeps the header and the lines whose PID column is one of `pids`.
pub(crate) fn filter_ps_output(output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = output.split('\n');
    let header = lines.next().unwrap_or("");
    let idx = header
        .split_whitespace()
        .position(|t| t == "PID")
        .ok_or_else(|| msg("couldn't find PID field in ps output"))?;
    let mut out = format!("{header}\n");
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let field = line.split_whitespace().nth(idx).unwrap_or("");
        let p: i32 = field
            .parse()
            .map_err(|e| msg(format!("unable to parse pid: {e}")))?;
        if pids.contains(&p) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

fn ps(ctx: &Ctx<'_>, a: &PsArgs) -> Result<()> {
    let c = load(ctx, &a.id)?;
    let pids = container_pids(&c)?;
    match a.format.as_str() {
        "json" => {
            let j = serde_json::to_string(&pids).map_err(|e| msg(e.to_string()))?;
            println!("{j}");
            return Ok(());
        }
        "table" => {}
        _ => return Err(msg("invalid format option")),
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(io("exec ps"))?;
    let mut combined = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        combined.push_str(&String::from_utf8_lossy(&out.stderr));
        return Err(msg(format!("{}: {combined}", out.status)));
    }
    print!("{}", filter_ps_output(&combined, &pids)?);
    Ok(())
}

/// Parses `--user uid[:gid]`.
pub(crate) fn parse_user(s: &str) -> Result<(u32, Option<u32>)> {
    let bad = || msg(format!("parsing {s} as uid[:gid]: invalid format"));
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = match g {
        Some(g) => Some(g.parse().map_err(|_| bad())?),
        None => None,
    };
    Ok((uid, gid))
}

/// Builds the exec'd process like runc: from `--process` or the container's own process,
/// with the command-line overrides applied.
pub(crate) fn exec_process(
    base: Option<Process>,
    from_file: bool,
    a: &ExecArgs,
) -> Result<Process> {
    let mut p = base.unwrap_or_default();
    if !from_file {
        if a.command.is_empty() {
            return Err(msg("exec args cannot be empty"));
        }
        p.set_args(Some(a.command.clone()));
        p.set_terminal(Some(a.tty));
        // runc does not carry the init's console size or rlimits-only fields over.
        p.set_console_size(None);
    } else if a.tty {
        p.set_terminal(Some(true));
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(cwd) = &a.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        let mut user = p.user().clone();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
        }
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(aa) = &a.apparmor {
        p.set_apparmor_profile(Some(aa.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap: oci_spec::runtime::Capability = name
                .parse()
                .map_err(|_| msg(format!("unknown capability {name:?}")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    _ => caps.set_permitted(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn exec(ctx: &Ctx<'_>, a: &ExecArgs) -> Result<i32> {
    let c = load(ctx, &a.id)?;
    match c.status() {
        ContainerStatus::Stopped => return Err(msg("cannot exec in a stopped container")),
        ContainerStatus::Paused => return Err(msg("cannot exec in a paused container")),
        _ => {}
    }
    let (base, from_file) = match &a.process {
        Some(path) => {
            let data = std::fs::read(path).map_err(io(format!("open {}", path.display())))?;
            let p: Process = serde_json::from_slice(&data)
                .map_err(|e| msg(format!("parse {}: {e}", path.display())))?;
            (Some(p), true)
        }
        None => {
            let spec = load_bundle_spec(c.bundle())?;
            (spec.process().clone(), false)
        }
    };
    let process = exec_process(base, from_file, a)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.detach && a.console_socket.is_none() {
        return Err(msg(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if !terminal && a.console_socket.is_some() {
        return Err(msg(
            "cannot use console socket if runc will not detach or allocate tty",
        ));
    }
    let private = if terminal && a.console_socket.is_none() {
        Some(ConsoleListener::bind()?)
    } else {
        None
    };
    let socket = match &private {
        Some(l) => Some(l.path().to_path_buf()),
        None => a.console_socket.clone(),
    };
    let process_file = c
        .root
        .join(format!("exec-process-{}.json", std::process::id()));
    let data = serde_json::to_vec(&process).map_err(|e| msg(e.to_string()))?;
    std::fs::write(&process_file, data).map_err(io(format!("write {}", process_file.display())))?;
    let built = ContainerBuilder::new(a.id.clone(), SyscallType::default())
        .with_root_path(&ctx.root)
        .and_then(|b| b.with_pid_file(a.pid_file.as_ref()))
        .map(|b| {
            b.with_console_socket(socket.as_deref())
                .with_preserved_fds(a.preserve_fds)
        })
        .and_then(|b| b.validate_id())
        .and_then(|b| {
            b.as_tenant()
                .with_detach(true)
                .with_process(Some(&process_file))
                .build()
        });
    let _ = std::fs::remove_file(&process_file);
    let pid = built.map_err(lib("exec failed"))?;
    let master = match &private {
        Some(l) => Some(l.receive_master()?),
        None => None,
    };
    drop(private);
    if a.detach {
        return Ok(0);
    }
    Ok(foreground::supervise(pid, master)?)
}

fn spec(a: &SpecArgs) -> Result<()> {
    if a.rootless {
        return Err(msg("rootless containers are not supported by this runtime"));
    }
    let dir = match &a.bundle {
        Some(b) => b.clone(),
        None => PathBuf::from("."),
    };
    if a.bundle.is_some() {
        std::env::set_current_dir(&dir).map_err(io(format!("chdir {}", dir.display())))?;
    }
    let path = Path::new("config.json");
    if path.exists() {
        return Err(msg("File config.json exists. Remove it first"));
    }
    std::fs::write(path, default_spec()).map_err(io("write config.json"))
}

/// `runc spec`'s default configuration, byte for byte (tab-indented, no trailing newline).
pub(crate) fn default_spec() -> &'static str {
    include_str!("spec_template.json")
}

fn features() -> Result<()> {
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": true },
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": "2.5",
            "org.opencontainers.runc.checkpoint.enabled": "false",
        },
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| msg(e.to_string()))?;
    println!("{text}");
    Ok(())
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("9").expect("n"), 9);
        assert_eq!(parse_signal("KILL").expect("n"), 9);
        assert_eq!(parse_signal("sigterm").expect("n"), 15);
        assert_eq!(parse_signal("SIGUSR1").expect("n"), 10);
        assert_eq!(
            parse_signal("RTMIN+1").expect("n"),
            nix::libc::SIGRTMIN() + 1
        );
        assert_eq!(
            parse_signal("BOGUS").expect_err("bad").to_string(),
            "unknown signal \"BOGUS\""
        );
    }

    #[test]
    fn ids_are_validated_like_runc() {
        assert!(validate_id("abc_1.2-3+x").is_ok());
        assert!(matches!(validate_id(""), Err(CommandError::EmptyId)));
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("..").is_err());
    }

    #[test]
    fn ps_output_is_filtered_to_container_pids() {
        let out = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sh\nroot 43 42 sleep\n";
        let got = filter_ps_output(out, &[42, 43]).expect("filter");
        assert_eq!(got, "UID PID PPID CMD\nroot 42 1 sh\nroot 43 42 sleep\n");
        assert!(filter_ps_output("A B\n1 2\n", &[1]).is_err());
    }

    #[test]
    fn cgroup_mounts_are_read_from_mountinfo() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n\
                  31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  32 25 0:28 / /mnt/a\\040b rw - ext4 /dev/sda rw\n";
        assert_eq!(
            cgroup_mounts(mi),
            vec![
                PathBuf::from("/sys/fs/cgroup/pids"),
                PathBuf::from("/sys/fs/cgroup/unified")
            ]
        );
        assert_eq!(unescape_mountinfo("a\\040b"), "a b");
    }

    #[test]
    fn missing_parents_are_deepest_first() {
        let tmp = tempfile::tempdir().expect("tmp");
        let m = tmp.path().to_path_buf();
        std::fs::create_dir(m.join("a")).expect("mkdir");
        let got = missing_cgroup_parents(std::slice::from_ref(&m), Path::new("/a/b/c/leaf"));
        assert_eq!(got, vec![m.join("a/b/c"), m.join("a/b")]);
    }

    #[test]
    fn user_parses_uid_and_gid() {
        assert_eq!(parse_user("1000").expect("u"), (1000, None));
        assert_eq!(parse_user("1:2").expect("u"), (1, Some(2)));
        assert!(parse_user("x").is_err());
    }

    fn exec_args(cmd: &[&str]) -> ExecArgs {
        use clap::Parser;
        let mut v = vec![
            "runc", "exec", "-e", "B=2", "--cwd", "/tmp", "-u", "5:6", "c1",
        ];
        v.extend_from_slice(cmd);
        match crate::cli::Cli::try_parse_from(v).expect("parse").command {
            Some(Command::Exec(e)) => e,
            _ => panic!("not exec"),
        }
    }

    #[test]
    fn exec_process_applies_overrides_to_container_process() {
        let mut base = Process::default();
        base.set_env(Some(vec!["A=1".into()]));
        let p = exec_process(Some(base), false, &exec_args(&["id"])).expect("process");
        assert_eq!(p.args().clone().expect("args"), vec!["id"]);
        assert_eq!(p.env().clone().expect("env"), vec!["A=1", "B=2"]);
        assert_eq!(p.cwd(), &PathBuf::from("/tmp"));
        assert_eq!(p.user().uid(), 5);
        assert_eq!(p.user().gid(), 6);
        assert_eq!(p.terminal(), Some(false));
        assert!(exec_process(None, false, &exec_args(&[])).is_err());
    }

    #[test]
    fn default_spec_is_runc_spec_output() {
        let s: Spec = serde_json::from_str(default_spec()).expect("parse");
        assert_eq!(s.version(), SPEC_VERSION);
        assert_eq!(
            s.process().as_ref().expect("process").args().clone(),
            Some(vec!["sh".to_string()])
        );
        assert!(default_spec().starts_with("{\n\t\"ociVersion\""));
    }
}
