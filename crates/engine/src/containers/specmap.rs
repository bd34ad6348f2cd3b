//! Docker's `Config`/`HostConfig` → the OCI spec builder's input
//! ([`spec::ContainerSpec`]), and the checks Docker makes at create.

use std::path::{Path, PathBuf};

use api::container::HostConfig;
use image::config::ContainerConfig;

use super::record::Record;
use super::Settings;
use crate::EngineError;

fn spec_err(e: spec::SpecError) -> EngineError {
    EngineError::InvalidArgument(e.to_string())
}

/// Every capability a process can be given here (for privileged execs).
pub fn all_caps() -> Vec<String> {
    spec::grantable_caps()
}

/// `--user` resolution in the container's rootfs.
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    groups: &[String],
) -> Result<spec::User, EngineError> {
    spec::resolve_user(rootfs, user, groups).map_err(spec_err)
}

/// Parsed `--security-opt` values.
#[derive(Debug, Default)]
struct SecurityOpts {
    no_new_privileges: Option<bool>,
    seccomp: Option<spec::Seccomp>,
    unconfined_paths: bool,
}

fn security_opts(h: &HostConfig) -> Result<SecurityOpts, EngineError> {
    let mut out = SecurityOpts::default();
    for (i, o) in h.security_opt.iter().flatten().enumerate() {
        if o == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .ok_or_else(|| {
                EngineError::InvalidArgument(format!("Invalid --security-opt {}: {o:?}", i + 1))
            })?;
        match k {
            "no-new-privileges" => {
                out.no_new_privileges = Some(v.parse::<bool>().map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid --security-opt 2: {o:?}"))
                })?)
            }
            "seccomp" => {
                out.seccomp = Some(if v == "unconfined" {
                    spec::Seccomp::Unconfined
                } else {
                    // The docker CLI sends the profile's JSON content.
                    spec::Seccomp::Profile(v.as_bytes().to_vec())
                })
            }
            "systempaths" if v == "unconfined" => out.unconfined_paths = true,
            "apparmor" | "label" => {}
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid --security-opt 2: {o:?}"
                )))
            }
        }
    }
    Ok(out)
}

fn ns_mode(
    containers: Option<&super::Containers>,
    mode: &str,
    kind: &str,
) -> Result<spec::NsMode, EngineError> {
    if mode == "host" {
        return Ok(spec::NsMode::Host);
    }
    if let Some(other) = mode.strip_prefix("container:") {
        let Some(cs) = containers else {
            return Ok(spec::NsMode::Private);
        };
        let c = cs.get(other)?;
        let r = c.record();
        if !r.is_running() || r.state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "cannot join {kind} of a non running container: {other}"
            )));
        }
        return Ok(spec::NsMode::Path(PathBuf::from(format!(
            "/proc/{}/ns/{kind}",
            r.state.pid
        ))));
    }
    Ok(spec::NsMode::Private)
}

fn resources(h: &HostConfig) -> spec::Resources {
    spec::Resources {
        memory: h.memory,
        memory_swap: h.memory_swap,
        memory_reservation: h.memory_reservation,
        memory_swappiness: h.memory_swappiness.filter(|v| *v >= 0),
        cpu_shares: h.cpu_shares,
        cpu_period: h.cpu_period,
        cpu_quota: h.cpu_quota,
        nano_cpus: h.nano_cpus,
        cpuset_cpus: h.cpuset_cpus.clone(),
        cpuset_mems: h.cpuset_mems.clone(),
        pids_limit: h.pids_limit,
        blkio_weight: h.blkio_weight,
        oom_kill_disable: Some(h.oom_kill_disable),
    }
}

/// `--tmpfs` options: comma-separated, empty ones dropped.
pub(super) fn tmpfs_opts(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

fn devices(h: &HostConfig) -> Vec<spec::Device> {
    h.devices
        .iter()
        .map(|d| spec::Device {
            path_on_host: d.path_on_host.clone(),
            path_in_container: if d.path_in_container.is_empty() {
                d.path_on_host.clone()
            } else {
                d.path_in_container.clone()
            },
            cgroup_permissions: if d.cgroup_permissions.is_empty() {
                "rwm".into()
            } else {
                d.cgroup_permissions.clone()
            },
        })
        .collect()
}

/// Docker's create-time checks that need the host. Returns warnings.
pub fn verify(h: &HostConfig, _c: &ContainerConfig) -> Result<Vec<String>, EngineError> {
    let caps_add = h.cap_add.clone().unwrap_or_default();
    let caps_drop = h.cap_drop.clone().unwrap_or_default();
    // Docker checks CapAdd then CapDrop and names the list in the error.
    spec::validate_caps(&caps_add, &[])
        .map_err(|e| EngineError::InvalidArgument(format!("invalid CapAdd: {e}")))?;
    spec::validate_caps(&[], &caps_drop)
        .map_err(|e| EngineError::InvalidArgument(format!("invalid CapDrop: {e}")))?;
    let warnings =
        spec::validate_resources(&resources(h), &spec::HostCaps::detect()).map_err(spec_err)?;
    spec::validate_shm_and_oom(h.shm_size, h.oom_score_adj).map_err(spec_err)?;
    let mode = |m: &str| {
        if m == "host" {
            spec::NsMode::Host
        } else {
            spec::NsMode::Private
        }
    };
    let net = mode(&h.network_mode);
    spec::validate_sysctls(
        &h.sysctls.clone().unwrap_or_default(),
        &mode(&h.ipc_mode),
        &net,
        &mode(&h.uts_mode),
    )
    .map_err(spec_err)?;
    for u in h.ulimits.iter().flatten() {
        spec::parse_ulimit_name(&u.name).map_err(spec_err)?;
        if u.soft > u.hard {
            return Err(EngineError::InvalidArgument(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        spec::parse_device_cgroup_rule(r).map_err(spec_err)?;
    }
    for d in &h.devices {
        if std::fs::metadata(&d.path_on_host).is_err() {
            return Err(EngineError::InvalidArgument(format!(
                "error gathering device information while adding custom device {:?}: no such file or directory",
                d.path_on_host
            )));
        }
    }
    security_opts(h)?;
    for o in h.tmpfs.iter().flatten().map(|(_, o)| o) {
        spec::merge_tmpfs_options(&tmpfs_opts(o)).map_err(spec_err)?;
    }
    Ok(warnings)
}

/// Checks a log driver and its options.
pub fn validate_log(l: &api::container::LogConfig) -> Result<(), EngineError> {
    logger::validate(&l.kind, &l.config)
        .map(|_| ())
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))
}

fn replace_or_append(env: &mut Vec<String>, kv: String) {
    let key = kv
        .split_once('=')
        .map_or(kv.as_str(), |(k, _)| k)
        .to_string();
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = kv,
        None => env.push(kv),
    }
}

/// A container's cgroup (the spec's `cgroupsPath`): `<parent>/<id>`, the
/// parent from `--cgroup-parent` or the daemon's.
pub(super) fn cgroups_path(settings: &Settings, h: &HostConfig, id: &str) -> String {
    let parent = if h.cgroup_parent.is_empty() {
        settings.cgroup_parent.as_str()
    } else {
        h.cgroup_parent.as_str()
    };
    format!("{}/{}", parent.trim_end_matches('/'), id)
}

/// The OCI spec for a container about to start.
pub fn build(
    rec: &Record,
    rootfs: &Path,
    settings: &Settings,
    containers: Option<&super::Containers>,
) -> Result<oci_spec::runtime::Spec, EngineError> {
    let h = &rec.host_config;
    let c = &rec.config;
    let hostname = c.hostname.clone().unwrap_or_default();
    let tty = c.tty.unwrap_or(false);
    let mut env = vec![
        format!("PATH={}", super::create::DEFAULT_PATH),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    for e in c.env.iter().flatten() {
        replace_or_append(&mut env, e.clone());
    }
    let groups = h.group_add.clone().unwrap_or_default();
    let user = resolve_user(rootfs, c.user.as_deref().unwrap_or(""), &groups)?;
    let sec = security_opts(h)?;
    let seccomp = match sec.seccomp {
        Some(s) => s,
        None => match &settings.seccomp_profile {
            Some(p) => {
                spec::Seccomp::Profile(std::fs::read(p).map_err(|source| EngineError::Io {
                    op: "read seccomp profile",
                    path: p.clone(),
                    source,
                })?)
            }
            None => spec::Seccomp::Default,
        },
    };
    let mut mounts = super::mounts::spec_mounts(rec)?;
    // User mounts at the same place win over the defaults the builder adds.
    mounts.retain(|m| !m.destination.is_empty());
    let etc_files: Vec<(String, PathBuf)> = [
        ("/etc/resolv.conf", &rec.resolv_conf_path),
        ("/etc/hostname", &rec.hostname_path),
        ("/etc/hosts", &rec.hosts_path),
    ]
    .into_iter()
    .filter(|(d, _)| !mounts.iter().any(|m| m.destination == *d))
    .map(|(d, p)| (d.to_string(), p.clone()))
    .collect();
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let cs = spec::ContainerSpec {
        rootfs: rootfs.to_path_buf(),
        readonly_rootfs: h.readonly_rootfs,
        args,
        env,
        cwd: c
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user,
        terminal: tty,
        hostname,
        domainname: c.domainname.clone().unwrap_or_default(),
        privileged: h.privileged,
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        no_new_privileges: sec.no_new_privileges.unwrap_or(settings.no_new_privileges),
        seccomp,
        masked_paths: if sec.unconfined_paths {
            Some(Vec::new())
        } else {
            h.masked_paths.clone()
        },
        readonly_paths: if sec.unconfined_paths {
            Some(Vec::new())
        } else {
            h.readonly_paths.clone()
        },
        mounts,
        etc_files,
        devices: devices(h),
        device_cgroup_rules: h.device_cgroup_rules.clone().unwrap_or_default(),
        ulimits: h
            .ulimits
            .iter()
            .flatten()
            .map(|u| spec::Ulimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        sysctls: h.sysctls.clone().unwrap_or_default(),
        shm_size: h.shm_size,
        ipc: ns_mode(containers, &h.ipc_mode, "ipc")?,
        pid: ns_mode(containers, &h.pid_mode, "pid")?,
        uts: ns_mode(containers, &h.uts_mode, "uts")?,
        net: if rec.net.sandbox_key.is_empty() {
            ns_mode(containers, &h.network_mode, "net")?
        } else {
            spec::NsMode::Path(PathBuf::from(&rec.net.sandbox_key))
        },
        cgroupns: match h.cgroupns_mode.as_str() {
            "host" => spec::NsMode::Host,
            "private" => spec::NsMode::Private,
            _ => spec::default_cgroupns(crate::sysinfo::cgroup_v2()),
        },
        resources: resources(h),
        oom_score_adj: h.oom_score_adj,
        cgroups_path: cgroups_path(settings, h, &rec.id),
        // `--init` runs inside the shim's fork (see shim's `init`), so no
        // binary is bind-mounted into the container.
        init: None,
        annotations: if h.init.unwrap_or(false) {
            [("io.balena-engine.init".to_string(), "true".to_string())].into()
        } else {
            Default::default()
        },
    };
    spec::build(&cs).map_err(spec_err)
}
