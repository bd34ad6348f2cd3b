//! The container's seccomp filter: compiled once per profile, loaded by the
//! container's own process right after libcontainer dropped its
//! capabilities, where libcontainer would have loaded it.
//!
//! libcontainer compiles the spec's profile with libseccomp in every
//! container's init: Docker's profile (three architectures on x86-64, over
//! 300 rules) costs about 8 ms of CPU per start here, more on a small board.
//! And it gives a process started with `exec` no filter at all (its tenant
//! spec keeps only namespaces and cgroups), where runc and Docker give it
//! the container's.
//!
//! So the shim compiles a profile with libseccomp exactly as libcontainer
//! 0.7 does (same rules, same attributes; [`compile_into`] mirrors
//! `libcontainer::seccomp::initialize_seccomp`, and a test compares the
//! programs), exports the program libseccomp would load, and keeps it under
//! the runtime root, named by a digest of the profile, the libseccomp
//! version and the kernel: the next container with that profile reads it
//! instead of compiling. libcontainer gets the spec without its seccomp
//! section, and the shim's executor loads the program with seccomp(2) in
//! the container's init and in every exec, in its `validate` step: the
//! first code of ours after libcontainer dropped the capabilities, before
//! the process reports ready (and the init waits to be started). What runs
//! under the filter from there on is what would have under libcontainer's.
//!
//! Without `no_new_privileges`, loading a filter needs CAP_SYS_ADMIN, which
//! is why libcontainer loads it before it drops capabilities. Here the
//! process keeps CAP_SYS_ADMIN in its effective and permitted sets (never
//! in its bounding set) until the filter is loaded, a few system calls
//! later, then drops it from both: the process executes the command with
//! exactly the spec's capabilities and exactly the filter libcontainer
//! would have loaded.
//!
//! Profiles this does not cover keep libcontainer's own path: filter flags
//! (`SECCOMP_FILTER_FLAG_*`), notify actions (their listener is handed to
//! libcontainer's main process), a process without effective and permitted
//! capability sets.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator,
    Process,
};
use sha2::{Digest, Sha256};

/// Errors of the seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// libseccomp refused the profile.
    #[error("seccomp profile: {what}")]
    Compile {
        /// The step.
        what: String,
        /// The cause.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The profile has a value libseccomp cannot take.
    #[error("seccomp profile: {0}")]
    Invalid(String),
    /// The compiled program could not be stored or read.
    #[error("seccomp program {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored program is not a BPF program.
    #[error("seccomp program {path}: {len} bytes is not a filter")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: usize,
    },
    /// The kernel refused the filter, or dropping CAP_SYS_ADMIN failed.
    #[error("{what}")]
    Load {
        /// The step.
        what: &'static str,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
}

/// The kernel's limit on a filter's length, in instructions.
const BPF_MAXINSNS: usize = 4096;
/// One `struct sock_filter`.
const INSN: usize = 8;

/// What the container's process does in the executor, before execve: load
/// `program`; then, if it was kept for that, drop CAP_SYS_ADMIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    program: Vec<u8>,
    drop_admin: DropAdmin,
}

/// From which sets CAP_SYS_ADMIN goes once the filter is loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DropAdmin {
    effective: bool,
    permitted: bool,
}

/// Whether libcontainer must keep the profile (see the module docs).
pub(crate) fn handled(seccomp: &LinuxSeccomp, process: Option<&Process>) -> bool {
    let flags = seccomp.flags().as_ref().is_some_and(|f| !f.is_empty());
    let notify = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    let caps_ok = match process.and_then(|p| p.capabilities().as_ref()) {
        // libcontainer then drops nothing: the process keeps CAP_SYS_ADMIN.
        None => true,
        Some(c) => c.effective().is_some() && c.permitted().is_some(),
    };
    !flags && !notify && caps_ok
}

/// Makes `process` keep CAP_SYS_ADMIN until the filter is loaded (unless
/// no_new_privileges allows loading without it, or it has it anyway), and
/// returns what [`Filter::apply`] must do with `program` for it.
pub(crate) fn plan(process: &mut Process, program: Vec<u8>) -> Filter {
    let mut drop_admin = DropAdmin::default();
    if process.no_new_privileges() != Some(true) {
        if let Some(mut caps) = process.capabilities().clone() {
            drop_admin = keep_admin(&mut caps);
            process.set_capabilities(Some(caps));
        }
    }
    Filter {
        program,
        drop_admin,
    }
}

fn keep_admin(caps: &mut LinuxCapabilities) -> DropAdmin {
    let add = |set: Option<&HashSet<Capability>>| -> Option<HashSet<Capability>> {
        let set = set?;
        if set.contains(&Capability::SysAdmin) {
            return None;
        }
        let mut s = set.clone();
        s.insert(Capability::SysAdmin);
        Some(s)
    };
    let effective = add(caps.effective().as_ref());
    let permitted = add(caps.permitted().as_ref());
    let out = DropAdmin {
        effective: effective.is_some(),
        permitted: permitted.is_some(),
    };
    if let Some(e) = effective {
        caps.set_effective(Some(e));
    }
    if let Some(p) = permitted {
        caps.set_permitted(Some(p));
    }
    out
}

impl Filter {
    /// The BPF program.
    pub(crate) fn program(&self) -> &[u8] {
        &self.program
    }

    /// Loads the filter into this process and drops CAP_SYS_ADMIN if it was
    /// kept for that. Runs in the container's process, in the executor's
    /// `validate` step.
    pub(crate) fn apply(&self) -> Result<(), SeccompError> {
        let len = u16::try_from(self.program.len() / INSN).map_err(|_| SeccompError::Load {
            what: "seccomp filter too long",
            source: nix::errno::Errno::EINVAL,
        })?;
        let prog = libc::sock_fprog {
            len,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) reads `len` instructions
        // of 8 bytes from `filter`, which points into `self.program`
        // (len * 8 bytes, checked at load), alive for the call. The kernel
        // copies and checks the program; flags 0, as libseccomp loads it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(SeccompError::Load {
                what: "load seccomp filter",
                source: nix::errno::Errno::last(),
            });
        }
        let admin = caps::Capability::CAP_SYS_ADMIN;
        // Effective first: it must stay within permitted.
        if self.drop_admin.effective {
            caps::drop(None, caps::CapSet::Effective, admin).map_err(|_| SeccompError::Load {
                what: "drop CAP_SYS_ADMIN from the effective set",
                source: nix::errno::Errno::last(),
            })?;
        }
        if self.drop_admin.permitted {
            caps::drop(None, caps::CapSet::Permitted, admin).map_err(|_| SeccompError::Load {
                what: "drop CAP_SYS_ADMIN from the permitted set",
                source: nix::errno::Errno::last(),
            })?;
        }
        Ok(())
    }
}

/// The program for `seccomp`: from the cache under `dir`, or compiled and
/// stored there.
pub(crate) fn program(seccomp: &LinuxSeccomp, dir: &Path) -> Result<Vec<u8>, SeccompError> {
    let name = cache_name(seccomp);
    let path = dir.join(&name);
    match std::fs::read(&path) {
        Ok(p) => return check(p, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(SeccompError::Io { path, source }),
    }
    let io = |source| SeccompError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // A cache on the runtime root (a tmpfs): renamed into place so a reader
    // never sees half a program; no sync, it is rebuilt when lost.
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let res = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io)
        .and_then(|mut f| compile_into(seccomp, &mut f, &tmp))
        .and_then(|p| std::fs::rename(&tmp, &path).map(|()| p).map_err(io));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn check(program: Vec<u8>, path: &Path) -> Result<Vec<u8>, SeccompError> {
    let n = program.len();
    if n == 0 || !n.is_multiple_of(INSN) || n / INSN > BPF_MAXINSNS {
        return Err(SeccompError::Corrupt {
            path: path.to_path_buf(),
            len: n,
        });
    }
    Ok(program)
}

/// The cache file's name: a digest of everything the program depends on.
fn cache_name(seccomp: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(b"balena-engine seccomp v1\0");
    let v = libseccomp::ScmpVersion::current().ok();
    h.update(format!("{v:?}\0").as_bytes());
    let uts = nix::sys::utsname::uname().ok();
    if let Some(u) = uts {
        for part in [u.release(), u.version(), u.machine()] {
            h.update(part.as_encoded_bytes());
            h.update(b"\0");
        }
    }
    h.update(serde_json::to_vec(seccomp).unwrap_or_default());
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles `seccomp` as libcontainer 0.7's `initialize_seccomp` does,
/// writes the program libseccomp would load to `out` (an empty file at
/// `path`) and returns it.
pub(crate) fn compile_into(
    seccomp: &LinuxSeccomp,
    out: &mut std::fs::File,
    path: &Path,
) -> Result<Vec<u8>, SeccompError> {
    let err = |what: &str| {
        let what = what.to_string();
        move |source| SeccompError::Compile { what, source }
    };
    let default_action = translate_action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(err("new filter"))?;
    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(arch))
            .map_err(err(&format!("add architecture {arch:?}")))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(err("no_new_privs attribute"))?;
    for rule in seccomp.syscalls().iter().flatten() {
        let action = translate_action(rule.action(), rule.errno_ret())?;
        if action == default_action {
            continue;
        }
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                // Unknown to this libseccomp: libcontainer skips it too.
                continue;
            };
            match rule.args() {
                Some(args) => {
                    let mut seen = HashSet::new();
                    let mut duplicate = false;
                    let cmps: Vec<ScmpArgCompare> = args
                        .iter()
                        .map(|a| {
                            let index = a.index() as u32;
                            duplicate |= !seen.insert(index);
                            ScmpArgCompare::new(
                                index,
                                translate_op(a.op(), a.value_two()),
                                a.value(),
                            )
                        })
                        .collect();
                    if duplicate {
                        for c in &cmps {
                            ctx.add_rule_conditional(action, sc, std::slice::from_ref(c))
                                .map_err(err(&format!("rule for {name}")))?;
                        }
                    } else {
                        ctx.add_rule_conditional(action, sc, &cmps)
                            .map_err(err(&format!("rule for {name}")))?;
                    }
                }
                None => {
                    ctx.add_rule(action, sc)
                        .map_err(err(&format!("rule for {name}")))?;
                }
            }
        }
    }
    // libseccomp 2.5 exports only to a file descriptor.
    let io = |source| SeccompError::Io {
        path: path.to_path_buf(),
        source,
    };
    ctx.export_bpf(&*out).map_err(err("export"))?;
    out.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut program = Vec::new();
    out.read_to_end(&mut program).map_err(io)?;
    check(program, path)
}

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn translate_action(
    action: LinuxSeccompAction,
    errno: Option<u32>,
) -> Result<ScmpAction, SeccompError> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(u16::try_from(errno).map_err(|_| {
                SeccompError::Invalid(format!("trace action errno {errno} out of range"))
            })?)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
    })
}

fn translate_op(op: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, LinuxSeccompBuilder, ProcessBuilder};

    fn docker_default(caps: &[&str]) -> LinuxSeccomp {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        spec::seccomp_profile(spec::DEFAULT_PROFILE_JSON, &caps, std::env::consts::ARCH)
            .unwrap()
            .unwrap()
    }

    fn process(caps: &[Capability], nnp: Option<bool>) -> Process {
        let set: HashSet<Capability> = caps.iter().copied().collect();
        let mut p = ProcessBuilder::default()
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(set.clone())
                    .effective(set.clone())
                    .permitted(set.clone())
                    .inheritable(set)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        p.set_no_new_privileges(nnp);
        p
    }

    fn sets(p: &Process) -> [bool; 4] {
        let c = p.capabilities().as_ref().unwrap();
        let has =
            |s: &Option<HashSet<Capability>>| s.as_ref().unwrap().contains(&Capability::SysAdmin);
        [
            has(c.bounding()),
            has(c.effective()),
            has(c.permitted()),
            has(c.inheritable()),
        ]
    }

    #[test]
    fn the_process_keeps_sys_admin_only_while_it_needs_it() {
        // Docker's default: CAP_SYS_ADMIN kept in effective and permitted
        // (never bounding or inheritable), dropped from both after loading.
        let mut p = process(&[Capability::Chown, Capability::Kill], None);
        let f = plan(&mut p, vec![0; 8]);
        assert_eq!(sets(&p), [false, true, true, false]);
        assert_eq!(
            f.drop_admin,
            DropAdmin {
                effective: true,
                permitted: true
            }
        );
        // no_new_privileges: the filter loads without it.
        let mut p = process(&[Capability::Chown], Some(true));
        let f = plan(&mut p, vec![0; 8]);
        assert_eq!(sets(&p), [false, false, false, false]);
        assert_eq!(f.drop_admin, DropAdmin::default());
        // Granted CAP_SYS_ADMIN stays.
        let mut p = process(&[Capability::SysAdmin], None);
        let f = plan(&mut p, vec![0; 8]);
        assert_eq!(sets(&p), [true, true, true, true]);
        assert_eq!(f.drop_admin, DropAdmin::default());
    }

    #[test]
    fn flags_notify_and_partial_capabilities_stay_with_libcontainer() {
        let base = docker_default(spec::DEFAULT_CAPS);
        let p = process(&[Capability::Chown], None);
        assert!(handled(&base, Some(&p)));
        assert!(handled(&base, None));
        let mut flagged = base.clone();
        flagged.set_flags(Some(vec![
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        ]));
        assert!(!handled(&flagged, Some(&p)));
        let notify = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActNotify)
            .build()
            .unwrap();
        assert!(!handled(&notify, Some(&p)));
        let mut partial = p.clone();
        let mut c = partial.capabilities().clone().unwrap();
        c.set_effective(None);
        partial.set_capabilities(Some(c));
        assert!(!handled(&base, Some(&partial)));
    }

    #[test]
    fn programs_are_cached_by_profile_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let a = docker_default(spec::DEFAULT_CAPS);
        let b = docker_default(&["CAP_SYS_ADMIN"]);
        let pa = program(&a, d.path()).unwrap();
        let pb = program(&b, d.path()).unwrap();
        assert_ne!(pa, pb);
        assert_eq!(pa.len() % INSN, 0);
        let files: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(files.len(), 2, "one file per profile, no temp left");
        // The second start reads the file.
        let f = d.path().join(cache_name(&a));
        std::fs::write(&f, [0u8; 16]).unwrap();
        assert_eq!(program(&a, d.path()).unwrap(), vec![0u8; 16]);
        // A file that is no program is an error, not a filter.
        std::fs::write(&f, [0u8; 12]).unwrap();
        assert!(matches!(
            program(&a, d.path()),
            Err(SeccompError::Corrupt { len: 12, .. })
        ));
    }

    /// From linux/ptrace.h (not in the libc crate).
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;

    /// The filter libcontainer would load, read back from a child process
    /// that loaded it (PTRACE_SECCOMP_GET_FILTER; needs root).
    fn libcontainers_program(profile: &LinuxSeccomp) -> Vec<u8> {
        // SAFETY: the child only calls libcontainer's seccomp set-up (which
        // allocates; glibc's fork keeps malloc usable) and stops itself.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // SAFETY: PTRACE_TRACEME takes no pointers.
                let traced = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0usize, 0usize) } == 0;
                let ok = traced && libcontainer::seccomp::initialize_seccomp(profile).is_ok();
                if ok {
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
                }
                // SAFETY: leave the forked test process at once.
                unsafe { libc::_exit(1) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert!(
                    matches!(st, nix::sys::wait::WaitStatus::Stopped(_, _)),
                    "{st:?}"
                );
                let mut buf = vec![0u8; BPF_MAXINSNS * INSN];
                // SAFETY: PTRACE_SECCOMP_GET_FILTER writes at most the
                // filter's instructions (≤ BPF_MAXINSNS) into `buf`.
                let n = unsafe {
                    libc::ptrace(
                        PTRACE_SECCOMP_GET_FILTER,
                        child.as_raw(),
                        0usize,
                        buf.as_mut_ptr(),
                    )
                };
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                assert!(
                    n > 0,
                    "PTRACE_SECCOMP_GET_FILTER: {}",
                    std::io::Error::last_os_error()
                );
                buf.truncate(n as usize * INSN);
                buf
            }
        }
    }

    #[test]
    fn the_program_is_the_one_libcontainer_loads() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        for caps in [spec::DEFAULT_CAPS, &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"][..]] {
            let profile = docker_default(caps);
            let ours = program(&profile, d.path()).unwrap();
            assert_eq!(ours, libcontainers_program(&profile), "caps {caps:?}");
        }
        // Conditions on arguments, a duplicate index, ERRNO values.
        let custom: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [
                {"names": ["read", "write", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0},
                          {"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        }))
        .unwrap();
        let ours = program(&custom, d.path()).unwrap();
        assert_eq!(ours, libcontainers_program(&custom));
    }
}
