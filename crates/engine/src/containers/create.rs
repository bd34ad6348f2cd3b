//! `POST /containers/create`: merging the request with the image's
//! defaults and checking what Docker checks before anything is made.

use std::collections::BTreeMap;

use api::container::HostConfig;
use image::config::ContainerConfig;

use crate::EngineError;

/// Docker's default `PATH` when neither the image nor the request sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Whether an entrypoint list means "explicitly none" (`--entrypoint ""`).
fn is_empty_entrypoint(e: &Option<Vec<String>>) -> bool {
    matches!(e, Some(v) if v.is_empty() || (v.len() == 1 && v[0].is_empty()))
}

/// Docker's `runconfig.Merge`: the request wins; the image fills gaps.
pub fn merge(user: &mut ContainerConfig, image: &ContainerConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = image.user.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Default::default);
        mine.extend(ports.iter().cloned());
    }
    match (&mut user.env, &image.env) {
        (None, Some(ie)) => user.env = Some(ie.clone()),
        (Some(ue), Some(ie)) if ue.is_empty() => *ue = ie.clone(),
        (Some(ue), Some(ie)) => {
            for e in ie {
                if !ue.iter().any(|u| env_key(u) == env_key(e)) {
                    ue.push(e.clone());
                }
            }
        }
        _ => {}
    }
    if let Some(il) = &image.labels {
        let mut labels = il.clone();
        labels.extend(user.labels.take().unwrap_or_default());
        user.labels = Some(labels);
    }
    let explicit_empty = is_empty_entrypoint(&user.entrypoint);
    let user_ep_empty = user.entrypoint.is_none() || explicit_empty;
    if user_ep_empty {
        if user.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            user.cmd = image.cmd.clone();
            user.args_escaped = image.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    if explicit_empty {
        user.entrypoint = None;
    }
    match (&mut user.healthcheck, &image.healthcheck) {
        (None, Some(h)) => user.healthcheck = Some(h.clone()),
        (Some(u), Some(i)) => {
            if u.test.as_ref().is_none_or(|t| t.is_empty()) {
                u.test = i.test.clone();
            }
            u.interval = u.interval.filter(|v| *v != 0).or(i.interval);
            u.timeout = u.timeout.filter(|v| *v != 0).or(i.timeout);
            u.start_period = u.start_period.filter(|v| *v != 0).or(i.start_period);
            u.retries = u.retries.filter(|v| *v != 0).or(i.retries);
        }
        _ => {}
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    if let Some(v) = &image.volumes {
        let mine = user.volumes.get_or_insert_with(Default::default);
        mine.extend(v.iter().cloned());
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = image.stop_signal.clone();
    }
    if user.on_build.is_none() {
        user.on_build = image.on_build.clone();
    }
    if user.shell.as_ref().is_none_or(|s| s.is_empty()) {
        user.shell = image.shell.clone();
    }
}

/// The process path and arguments: entrypoint then cmd.
pub fn path_and_args(c: &ContainerConfig) -> Result<(String, Vec<String>), EngineError> {
    let mut all: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    all.extend(c.cmd.clone().unwrap_or_default());
    if all.is_empty() {
        return Err(EngineError::InvalidArgument("No command specified".into()));
    }
    let path = all.remove(0);
    Ok((path, all))
}

/// Docker's `verifyContainerSettings` for what does not need the host.
pub fn verify_host_config(h: &HostConfig) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::InvalidArgument(m));
    let rp = &h.restart_policy;
    match rp.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if rp.maximum_retry_count != 0 {
                return bad(format!(
                    "maximum retry count cannot be used with restart policy '{}'",
                    rp.name
                ));
            }
        }
        "on-failure" => {
            if rp.maximum_retry_count < 0 {
                return bad("maximum retry count cannot be negative".into());
            }
        }
        other => return bad(format!("invalid restart policy '{other}'")),
    }
    if h.auto_remove && !matches!(rp.name.as_str(), "" | "no") {
        return bad("can't create 'AutoRemove' container with restart policy".into());
    }
    if h.oom_score_adj < -1000 || h.oom_score_adj > 1000 {
        return bad(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            h.oom_score_adj
        ));
    }
    if h.shm_size < 0 {
        return bad("SHM size can not be less than 0".into());
    }
    for (label, mode) in [
        ("IPC", h.ipc_mode.as_str()),
        ("PID", h.pid_mode.as_str()),
        ("UTS", h.uts_mode.as_str()),
    ] {
        let ok = match label {
            "IPC" => {
                matches!(mode, "" | "host" | "private" | "shareable" | "none")
                    || mode.starts_with("container:")
            }
            "PID" => matches!(mode, "" | "host") || mode.starts_with("container:"),
            _ => matches!(mode, "" | "host"),
        };
        if !ok {
            return bad(format!(
                "invalid {label} mode: {mode}",
                label = label.to_lowercase()
            ));
        }
    }
    if !matches!(h.cgroupns_mode.as_str(), "" | "host" | "private") {
        return bad(format!(
            "invalid cgroup namespace mode: {}",
            h.cgroupns_mode
        ));
    }
    if !h.userns_mode.is_empty() && h.userns_mode != "host" {
        return bad(format!(
            "user namespaces are not supported: invalid usernsMode {}",
            h.userns_mode
        ));
    }
    for b in h.binds.iter().flatten() {
        crate::volumes::mounts::parse_raw(b, &h.volume_driver)
            .map_err(EngineError::InvalidArgument)?;
    }
    for m in h.mounts.iter().flatten() {
        if m.target.is_empty() {
            return bad("invalid mount config: Target must not be empty".into());
        }
        if !m.target.starts_with('/') {
            return bad(format!(
                "invalid mount config for type {:?}: invalid mount path: '{}' mount path must be absolute",
                m.kind, m.target
            ));
        }
        match m.kind.as_str() {
            "bind" => {
                if m.source.is_empty() {
                    return bad(
                        "invalid mount config for type \"bind\": field Source must not be empty"
                            .to_string(),
                    );
                }
                if !std::path::Path::new(&m.source).exists() {
                    return bad(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    ));
                }
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return bad(
                        "invalid mount config for type \"tmpfs\": field Source must not be specified"
                            .into(),
                    );
                }
            }
            "volume" => {}
            other => {
                return bad(format!(
                    "invalid mount config for type {other:?}: mount type unknown"
                ))
            }
        }
    }
    Ok(())
}

/// Adds `NAME=<id>` for balena's `--cidenv`; a name already set is a
/// conflict, as balenaEngine says.
pub fn add_cid_env(env: &mut Vec<String>, name: &str, id: &str) -> Result<(), EngineError> {
    if name.is_empty() {
        return Ok(());
    }
    if env.iter().any(|e| e.starts_with(name)) {
        return Err(EngineError::Conflict(format!(
            "Error environment variable {name} already defined"
        )));
    }
    env.push(format!("{name}={id}"));
    Ok(())
}

/// Labels the merged config ends up with (for filters).
pub fn labels(c: &ContainerConfig) -> BTreeMap<String, String> {
    c.labels.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> ContainerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn merge_takes_image_defaults_where_the_request_is_silent() {
        let mut u = cfg(r#"{"Env":["A=1","PATH=/x"],"Labels":{"l":"u"}}"#);
        let i = cfg(
            r#"{"Env":["PATH=/bin","B=2"],"Cmd":["sh"],"Entrypoint":["/init"],"WorkingDir":"/w","User":"1000","Labels":{"l":"i","m":"i"},"ExposedPorts":{"80/tcp":{}}}"#,
        );
        merge(&mut u, &i);
        assert_eq!(u.env.unwrap(), vec!["A=1", "PATH=/x", "B=2"]);
        assert_eq!(u.cmd.unwrap(), vec!["sh"]);
        assert_eq!(u.entrypoint.unwrap(), vec!["/init"]);
        assert_eq!(u.working_dir.as_deref(), Some("/w"));
        assert_eq!(u.user.as_deref(), Some("1000"));
        let l = u.labels.unwrap();
        assert_eq!(l["l"], "u");
        assert_eq!(l["m"], "i");
        assert!(u.exposed_ports.unwrap().contains("80/tcp"));
    }

    #[test]
    fn a_user_entrypoint_drops_the_image_cmd() {
        let mut u = cfg(r#"{"Entrypoint":["/bin/echo"]}"#);
        merge(&mut u, &cfg(r#"{"Cmd":["sh"],"Entrypoint":["/init"]}"#));
        assert_eq!(u.entrypoint.unwrap(), vec!["/bin/echo"]);
        assert_eq!(u.cmd, None);
    }

    #[test]
    fn an_empty_entrypoint_clears_the_images() {
        let mut u = cfg(r#"{"Entrypoint":[""]}"#);
        merge(&mut u, &cfg(r#"{"Cmd":["sh"],"Entrypoint":["/init"]}"#));
        assert_eq!(u.entrypoint, None);
        assert_eq!(u.cmd.clone().unwrap(), vec!["sh"]);
        assert_eq!(path_and_args(&u).unwrap(), ("sh".to_string(), vec![]));
    }

    #[test]
    fn no_command_is_an_error() {
        let e = path_and_args(&ContainerConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "No command specified");
    }

    #[test]
    fn binds_are_checked_like_docker() {
        let mut h = HostConfig::default();
        for (bind, ok) in [
            ("/src:/dst:ro,rshared", true),
            ("/anon", true),
            ("/a:rel", false),
            ("/a:/", false),
            ("/a:/b:bogus", false),
            ("/a:/b:ro,rw", false),
        ] {
            h.binds = Some(vec![bind.to_string()]);
            assert_eq!(verify_host_config(&h).is_ok(), ok, "{bind}");
        }
    }

    #[test]
    fn restart_policies_are_checked() {
        let mut h = HostConfig::default();
        h.restart_policy.name = "sometimes".into();
        assert_eq!(
            verify_host_config(&h).unwrap_err().to_string(),
            "invalid restart policy 'sometimes'"
        );
        h.restart_policy.name = "always".into();
        h.auto_remove = true;
        assert!(verify_host_config(&h).is_err());
    }

    #[test]
    fn cid_env_is_added_once() {
        let mut env = vec!["A=1".to_string()];
        add_cid_env(&mut env, "MY_ID", "abc").unwrap();
        assert_eq!(env[1], "MY_ID=abc");
        assert!(add_cid_env(&mut env, "MY_ID", "abc").is_err());
    }
}
