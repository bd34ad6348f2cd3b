//! Exec instances: `POST /containers/{id}/exec`, `/exec/{id}/start`,
//! `/exec/{id}/json`, `/exec/{id}/resize`.
//!
//! The process runs through the container's shim (libcontainer's tenant
//! path), never as a fork of the daemon. Its OCI `process` starts from the
//! container's own (capabilities, rlimits, no-new-privileges) with the
//! exec's command, env, working directory, user and tty.

use std::sync::{Arc, Mutex};

use api::container::ExecConfig;
use serde_json::{json, Value};
use shim::proto::{ExitStatus, Request};

use super::runtime::{relay, shim_call};
use super::{lock, Containers};
use crate::EngineError;

/// One exec instance.
#[derive(Debug)]
pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    state: Mutex<ExecState>,
}

#[derive(Debug, Default, Clone)]
struct ExecState {
    running: bool,
    started: bool,
    exit_code: Option<i64>,
    pid: i64,
}

/// What `exec start` gives the API server.
#[derive(Debug)]
pub struct ExecSession {
    pub tty: bool,
    /// The stream (absent with `Detach`).
    pub stream: Option<tokio::io::DuplexStream>,
}

fn exec_not_found(id: &str) -> EngineError {
    EngineError::NotFound(format!("No such exec instance: {id}"))
}

impl Containers {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, name: &str, cfg: ExecConfig) -> Result<String, EngineError> {
        let c = self.get(name)?;
        let rec = c.record();
        match rec.state.status {
            super::record::Status::Running => {}
            super::record::Status::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )))
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let id = crate::new_id();
        let e = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config: cfg,
            state: Mutex::new(ExecState::default()),
        });
        let action = format!(
            "exec_create: {}",
            e.config.cmd.clone().unwrap_or_default().join(" ")
        );
        lock(&self.execs).insert(id.clone(), e);
        self.event(&rec, &action, &[("execID", id.clone())]);
        Ok(id)
    }

    fn exec_get(&self, id: &str) -> Result<Arc<Exec>, EngineError> {
        lock(&self.execs)
            .get(id)
            .cloned()
            .ok_or_else(|| exec_not_found(id))
    }

    /// The exec's OCI process, from the container's.
    fn exec_process(&self, e: &Exec) -> Result<Value, EngineError> {
        let c = self.get(&e.container_id)?;
        let rec = c.record();
        let bundle = self
            .settings
            .exec_root
            .join(&c.id)
            .join("bundle")
            .join("config.json");
        let raw = std::fs::read(&bundle).map_err(|source| EngineError::Io {
            op: "read",
            path: bundle.clone(),
            source,
        })?;
        let spec: Value = serde_json::from_slice(&raw)
            .map_err(|err| EngineError::Corrupt(format!("{}: {err}", bundle.display())))?;
        let mut p = spec.get("process").cloned().unwrap_or_else(|| json!({}));
        let cfg = &e.config;
        p["args"] = json!(cfg.cmd.clone().unwrap_or_default());
        p["terminal"] = json!(cfg.tty);
        let mut env: Vec<String> = p["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for kv in &cfg.env {
            let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(kv.clone());
        }
        if cfg.tty && !env.iter().any(|x| x.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        p["env"] = json!(env);
        if !cfg.working_dir.is_empty() {
            p["cwd"] = json!(cfg.working_dir);
        }
        if !cfg.user.is_empty() {
            let rootfs = spec
                .pointer("/root/path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let groups = rec.host_config.group_add.clone().unwrap_or_default();
            let u =
                super::specmap::resolve_user(std::path::Path::new(&rootfs), &cfg.user, &groups)?;
            p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        }
        if cfg.privileged {
            let all = super::specmap::all_caps();
            p["capabilities"] = json!({
                "bounding": all, "effective": all, "permitted": all,
            });
        }
        Ok(p)
    }

    /// `POST /exec/{id}/start`.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        detach: bool,
    ) -> Result<ExecSession, EngineError> {
        let e = self.exec_get(id)?;
        {
            let mut st = lock(&e.state);
            if st.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )));
            }
            st.started = true;
            st.running = true;
        }
        let c = self.get(&e.container_id)?;
        if !c.record().is_running() {
            lock(&e.state).running = false;
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let this = self.clone();
        let e2 = e.clone();
        let process = tokio::task::spawn_blocking(move || this.exec_process(&e2))
            .await
            .map_err(|err| EngineError::Conflict(err.to_string()))??;
        let sock = self
            .settings
            .exec_root
            .join(&c.id)
            .join(shim::proto::SOCKET_FILE);
        let res = shim_call(
            &sock,
            &Request::Exec {
                exec_id: e.id.clone(),
                process,
                stdin: e.config.attach_stdin && !detach,
            },
        )
        .await;
        let (reply, stream) = match res {
            Ok(r) => r,
            Err(err) => {
                let mut st = lock(&e.state);
                st.running = false;
                let msg = err.to_string();
                // dockerd records 126 for every exec that could not start.
                st.exit_code = Some(126);
                return Err(EngineError::InvalidArgument(format!(
                    "OCI runtime exec failed: {msg}: unknown"
                )));
            }
        };
        lock(&e.state).pid = i64::from(reply.pid.unwrap_or(0));
        let rec = c.record();
        let cmd = e.config.cmd.clone().unwrap_or_default().join(" ");
        self.event(
            &rec,
            &format!("exec_start: {cmd}"),
            &[("execID", e.id.clone())],
        );
        let e3 = e.clone();
        let this = self.clone();
        let on_exit: Box<dyn FnOnce(ExitStatus) + Send> = Box::new(move |st: ExitStatus| {
            {
                let mut s = lock(&e3.state);
                s.running = false;
                s.exit_code = Some(i64::from(st.exit_code));
            }
            this.event(
                &rec,
                "exec_die",
                &[
                    ("execID", e3.id.clone()),
                    ("exitCode", st.exit_code.to_string()),
                ],
            );
        });
        let tty = e.config.tty;
        let duplex = relay(stream, tty, Some(on_exit));
        if detach {
            // Drain the output so the process never blocks on it.
            let mut d = duplex;
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut d, &mut sink).await;
            });
            return Ok(ExecSession { tty, stream: None });
        }
        Ok(ExecSession {
            tty,
            stream: Some(duplex),
        })
    }

    /// What `exec_start` will refuse, checked ahead (so the API can answer
    /// with a status before it hands the connection over); the exec's tty.
    pub fn exec_check(&self, id: &str) -> Result<bool, EngineError> {
        let e = self.exec_get(id)?;
        if lock(&e.state).started {
            return Err(EngineError::Conflict(format!(
                "Error: Exec command {id} is already running"
            )));
        }
        let c = self.get(&e.container_id)?;
        if !c.record().is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(e.config.tty)
    }

    /// The exec's detach keys and whether it reads stdin.
    pub fn exec_detach_keys(&self, id: &str) -> Result<(String, bool), EngineError> {
        let e = self.exec_get(id)?;
        Ok((e.config.detach_keys.clone(), e.config.attach_stdin))
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<Value, EngineError> {
        let e = self.exec_get(id)?;
        let st = lock(&e.state).clone();
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(json!({
            "ID": e.id,
            "Running": st.running,
            "ExitCode": st.exit_code,
            "ProcessConfig": {
                "tty": e.config.tty,
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.get(1..).unwrap_or_default(),
                "privileged": e.config.privileged,
                "user": e.config.user,
            },
            "OpenStdin": e.config.attach_stdin,
            "OpenStderr": e.config.attach_stderr,
            "OpenStdout": e.config.attach_stdout,
            "CanRemove": false,
            "ContainerID": e.container_id,
            "DetachKeys": e.config.detach_keys,
            "Pid": st.pid,
        }))
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<(), EngineError> {
        let e = self.exec_get(id)?;
        let sock = self
            .settings
            .exec_root
            .join(&e.container_id)
            .join(shim::proto::SOCKET_FILE);
        shim_call(
            &sock,
            &Request::Resize {
                exec_id: Some(e.id.clone()),
                height,
                width,
            },
        )
        .await
        .map(|_| ())
    }

    /// Exec ids of a container, for inspect.
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        lock(&self.execs)
            .values()
            .filter(|e| e.container_id == container_id && lock(&e.state).running)
            .map(|e| e.id.clone())
            .collect()
    }
}
