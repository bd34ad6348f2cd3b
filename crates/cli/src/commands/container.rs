//! Container commands: `run`, `create`, `start`, `stop`, `kill`,
//! `restart`, `rm`, `wait`, `attach`, `logs`, `exec`, `ps`, `inspect`.

use std::io::IsTerminal;

use clap::Args;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::{Client, ClientError};
use crate::commands::enc;
use crate::hijack::{self, End, StreamOpts};
use crate::runopts::{self, ContainerFlags, CreateRequest, PullPolicy};
use crate::{listfmt, table, units, Env, Failure};

/// docker's `reportError`: `balena-engine: msg.` and, for usage errors,
/// where to get help.
fn report(cmd: &str, msg: &str, with_help: bool) {
    let mut s = msg.trim_end_matches('.').to_string() + ".";
    if with_help {
        s.push_str(&format!("\nSee 'balena-engine {cmd} --help'."));
    }
    eprintln!("balena-engine: {s}");
}

/// `run`'s exit code for a daemon error at create or start.
fn start_error_code(msg: &str) -> i32 {
    let m = msg.trim_start_matches("Error response from daemon: ");
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

fn detach_keys(spec: Option<&str>) -> Vec<u8> {
    match spec {
        Some(s) if !s.is_empty() => runopts::detach_keys(s).unwrap_or_else(|e| {
            eprintln!("WARNING: invalid detach escape keys, using default: {e}");
            vec![16, 17]
        }),
        _ => vec![16, 17],
    }
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// Builds the request or reports a usage error the docker way.
fn build(cmd: &str, flags: &ContainerFlags, detach: bool) -> Result<CreateRequest, Failure> {
    runopts::build(flags, detach).map_err(|e| {
        report(cmd, &e.to_string(), true);
        Failure::new(125, "")
    })
}

/// Pulls `image` with progress on stderr, as `docker run` does.
async fn pull_for_run(
    env: &Env,
    client: &mut Client,
    image: &str,
    platform: Option<&str>,
) -> Result<(), Failure> {
    let named = image::reference::parse_normalized_named(image)
        .map_err(|e| Failure::new(125, e.to_string()))?
        .tag_name_only();
    let tag = named
        .digest()
        .map(|d| d.to_string())
        .or_else(|| named.tag().map(str::to_string))
        .unwrap_or_default();
    let mut path = format!(
        "/images/create?fromImage={}&tag={}",
        enc(&named.trimmed().to_string()),
        enc(&tag)
    );
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let auth = crate::config::registry_auth_header(env.global.config.as_deref(), named.domain());
    let empty = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Empty::new(),
        |never| match never {},
    ));
    let resp = client
        .stream_with_headers(
            Method::POST,
            &path,
            empty,
            None,
            auth.as_deref().map(|h| ("X-Registry-Auth", h)),
        )
        .await?;
    crate::commands::archive::show_stream_to(
        resp.into_body(),
        std::io::stderr(),
        std::io::stdout().is_terminal(),
    )
    .await
}

/// docker's `createContainer`: pull on "No such image" (or always),
/// print warnings, write the cidfile.
async fn create_container(
    env: &Env,
    client: &mut Client,
    req: &CreateRequest,
) -> Result<String, Failure> {
    let cidfile = match &req.cidfile {
        Some(p) if !p.is_empty() => {
            if std::path::Path::new(p).exists() {
                return Err(Failure::new(
                    125,
                    format!("Container ID file found, make sure the other container isn't running or delete {p}"),
                ));
            }
            Some(
                std::fs::File::create(p)
                    .map(|f| (p.clone(), f))
                    .map_err(|e| {
                        Failure::new(125, format!("Failed to create the container ID file: {e}"))
                    })?,
            )
        }
        _ => None,
    };
    let result = create_inner(env, client, req).await;
    if let Some((path, mut f)) = cidfile {
        match &result {
            Ok(id) => {
                use std::io::Write;
                f.write_all(id.as_bytes()).map_err(|e| {
                    Failure::new(
                        125,
                        format!("Failed to write the container ID to the file: {e}"),
                    )
                })?;
            }
            Err(_) => {
                drop(f);
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    result
}

async fn create_inner(
    env: &Env,
    client: &mut Client,
    req: &CreateRequest,
) -> Result<String, Failure> {
    if req.body["HostConfig"]["OomKillDisable"] == true && req.body["HostConfig"]["Memory"] == 0 {
        eprintln!("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.");
    }
    let mut path = "/containers/create".to_string();
    let mut q = Vec::new();
    if let Some(n) = &req.name {
        q.push(format!("name={}", enc(n)));
    }
    if let Some(p) = &req.platform {
        q.push(format!("platform={}", enc(p)));
    }
    if !q.is_empty() {
        path.push('?');
        path.push_str(&q.join("&"));
    }
    let body = req.body.to_string().into_bytes();
    if req.pull == PullPolicy::Always {
        pull_for_run(env, client, &req.image, req.platform.as_deref()).await?;
    }
    let resp = match client
        .request(Method::POST, &path, Some(body.clone()))
        .await
    {
        Ok(r) => r,
        Err(ClientError::Daemon { status, .. })
            if status == StatusCode::NOT_FOUND && req.pull == PullPolicy::Missing =>
        {
            let shown = image::reference::parse_normalized_named(&req.image)
                .map(|n| n.tag_name_only().familiar_string())
                .unwrap_or_else(|_| req.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            pull_for_run(env, client, &req.image, req.platform.as_deref()).await?;
            client.request(Method::POST, &path, Some(body)).await?
        }
        Err(e) => return Err(e.into()),
    };
    let v: Value = resp.json()?;
    if let Some(w) = v["Warnings"].as_array() {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    Ok(v["Id"].as_str().unwrap_or_default().to_string())
}

/// `balena-engine create`.
pub async fn create(env: &Env, a: CreateArgs) -> Result<(), Failure> {
    let req = build("create", &a.flags, false)?;
    let mut client = env.client()?;
    let id = create_container(env, &mut client, &req)
        .await
        .map_err(|f| {
            if f.code == 1 {
                Failure::new(1, f.message)
            } else {
                f
            }
        })?;
    println!("{id}");
    Ok(())
}

/// Starts `POST /containers/{id}/wait` before the container starts, as
/// docker's `waitExitOrRemoved` does, and returns the exit code later.
/// The daemon answers the headers once the wait is registered; a daemon
/// that holds them back gets half a second before we go on.
async fn wait_exit(
    client: &Client,
    id: &str,
    condition: Option<&str>,
) -> tokio::task::JoinHandle<i32> {
    let mut c = client.clone();
    let path = match condition {
        Some(cond) => format!("/containers/{id}/wait?condition={cond}"),
        None => format!("/containers/{id}/wait"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let empty = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
            http_body_util::Empty::new(),
            |never| match never {},
        ));
        let resp = c.stream(Method::POST, &path, empty, None).await;
        let _ = tx.send(());
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                return 125;
            }
        };
        let body = match http_body_util::BodyExt::collect(resp.into_body()).await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                return 125;
            }
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                    eprintln!("Error waiting for container: {m}");
                    return 125;
                }
                v["StatusCode"].as_i64().unwrap_or(125) as i32
            }
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                125
            }
        }
    });
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), rx).await;
    task
}

fn attach_path(id: &str, stdin: bool, stdout: bool, stderr: bool, keys: Option<&str>) -> String {
    let mut p = format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout={}&stderr={}",
        stdin as u8, stdout as u8, stderr as u8
    );
    if let Some(k) = keys.filter(|k| !k.is_empty()) {
        p.push_str(&format!("&detachKeys={}", enc(k)));
    }
    p
}

fn check_tty(attach_stdin: bool, tty: bool) -> Result<(), Failure> {
    if attach_stdin && tty && !std::io::stdin().is_terminal() {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    Ok(())
}

/// `balena-engine run`.
pub async fn run(env: &Env, a: RunArgs) -> Result<(), Failure> {
    if a.detach && !a.flags.attach.is_empty() {
        report("run", "Conflicting options: -a and -d", true);
        return Err(Failure::new(125, ""));
    }
    let req = build("run", &a.flags, a.detach)?;
    let cfg = &req.body;
    let attach_stdin = cfg["AttachStdin"] == true;
    let attach_stdout = cfg["AttachStdout"] == true;
    let attach_stderr = cfg["AttachStderr"] == true;
    let tty = a.flags.tty;
    if !a.detach {
        check_tty(attach_stdin, tty)?;
    }
    let mut client = env.client()?;
    let id = match create_container(env, &mut client, &req).await {
        Ok(id) => id,
        Err(f) => {
            report("run", &f.message, true);
            return Err(Failure::new(start_error_code(&f.message), ""));
        }
    };
    let sig_task =
        (a.sig_proxy && !tty && !a.detach).then(|| hijack::forward_signals(&client, &id));
    let result = run_attached(
        env,
        &mut client,
        &a,
        &id,
        attach_stdin,
        attach_stdout,
        attach_stderr,
        tty,
    )
    .await;
    if let Some(t) = sig_task {
        t.abort();
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_attached(
    env: &Env,
    client: &mut Client,
    a: &RunArgs,
    id: &str,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
) -> Result<(), Failure> {
    let _ = env;
    if !attach_stdout && !attach_stderr {
        println!("{id}");
    }
    let attach = attach_stdin || attach_stdout || attach_stderr;
    let stream_task = if attach {
        let conn = client
            .hijack(
                &attach_path(
                    id,
                    attach_stdin,
                    attach_stdout,
                    attach_stderr,
                    a.detach_keys.as_deref(),
                ),
                None,
            )
            .await?;
        let opts = StreamOpts {
            stdin: attach_stdin,
            output: attach_stdout || attach_stderr,
            tty,
            detach_keys: detach_keys(a.detach_keys.as_deref()),
        };
        Some(tokio::spawn(hijack::stream(conn, opts)))
    } else {
        None
    };
    let wait = wait_exit(
        client,
        id,
        Some(if a.flags.rm { "removed" } else { "next-exit" }),
    )
    .await;
    if let Err(e) = client
        .request(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        if let Some(t) = stream_task {
            t.abort();
            let _ = t.await;
        }
        let msg = e.to_string();
        report("run", &msg, false);
        if a.flags.rm {
            let _ = wait.await;
        } else {
            wait.abort();
        }
        return Err(Failure::new(start_error_code(&msg), ""));
    }
    let resize = if attach && tty && std::io::stdout().is_terminal() {
        Some(hijack::monitor_tty_size(client, id, false).await)
    } else {
        None
    };
    if let Some(t) = stream_task {
        let r = t.await;
        if let Some(r) = &resize {
            r.abort();
        }
        match r {
            Ok(Ok(End::Detached)) => return Ok(()),
            Ok(Ok(End::Closed)) => {}
            Ok(Err(e)) => return Err(Failure::new(1, e.to_string())),
            Err(e) => return Err(Failure::new(1, e.to_string())),
        }
    }
    if !attach_stdout && !attach_stderr {
        wait.abort();
        return Ok(());
    }
    let status = wait.await.unwrap_or(125);
    if status != 0 {
        return Err(Failure::new(status, ""));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

async fn inspect_container(client: &mut Client, name: &str) -> Result<Value, Failure> {
    Ok(client
        .get(&format!("/containers/{}/json", enc(name)))
        .await?
        .json()?)
}

/// `balena-engine start`.
pub async fn start(env: &Env, a: StartArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                1,
                "you cannot start and attach multiple containers at once",
            ));
        }
        let c = inspect_container(&mut client, &a.containers[0]).await?;
        let id = c["Id"].as_str().unwrap_or_default().to_string();
        let tty = c["Config"]["Tty"] == true;
        let sig = (!tty).then(|| hijack::forward_signals(&client, &id));
        let stdin = a.interactive && c["Config"]["OpenStdin"] == true;
        let conn = client
            .hijack(
                &attach_path(&id, stdin, true, true, a.detach_keys.as_deref()),
                None,
            )
            .await?;
        let task = tokio::spawn(hijack::stream(
            conn,
            StreamOpts {
                stdin,
                output: true,
                tty,
                detach_keys: detach_keys(a.detach_keys.as_deref()),
            },
        ));
        let auto_remove = c["HostConfig"]["AutoRemove"] == true;
        let wait = wait_exit(
            &client,
            &id,
            Some(if auto_remove { "removed" } else { "next-exit" }),
        )
        .await;
        if let Err(e) = client
            .request(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            task.abort();
            if auto_remove {
                let _ = wait.await;
            }
            return Err(e.into());
        }
        let resize = if tty && std::io::stdout().is_terminal() {
            Some(hijack::monitor_tty_size(&client, &id, false).await)
        } else {
            None
        };
        let r = task.await;
        if let Some(r) = resize {
            r.abort();
        }
        if let Some(s) = sig {
            s.abort();
        }
        match r {
            Ok(Ok(End::Detached)) => return Ok(()),
            Ok(Ok(End::Closed)) => {}
            Ok(Err(e)) => return Err(Failure::new(1, e.to_string())),
            Err(e) => return Err(Failure::new(1, e.to_string())),
        }
        let status = wait.await.unwrap_or(125);
        if status != 0 {
            return Err(Failure::new(status, ""));
        }
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match client
            .request(Method::POST, &format!("/containers/{}/start", enc(c)), None)
            .await
        {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(c.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        ))
    }
}

/// Runs `op` per container, printing the name on success; errors are
/// collected into one failure (docker's stop/kill/rm/restart).
async fn each(
    client: &mut Client,
    names: &[String],
    method: Method,
    path: impl Fn(&str) -> String,
) -> Result<(), Failure> {
    let mut errs = Vec::new();
    for n in names {
        if n.is_empty() {
            errs.push("Container name cannot be empty".to_string());
            continue;
        }
        match client.request(method.clone(), &path(&enc(n)), None).await {
            Ok(_) => println!("{n}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing it (default 10)
    #[arg(short = 't', long = "time", value_name = "int")]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `balena-engine stop`.
pub async fn stop(env: &Env, a: StopArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let t = a.time.map(|t| format!("?t={t}")).unwrap_or_default();
    each(&mut client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/stop{t}")
    })
    .await
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for stop before killing the container
    #[arg(short = 't', long = "time", value_name = "int", default_value_t = 10)]
    pub time: i64,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `balena-engine restart`.
pub async fn restart(env: &Env, a: RestartArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let t = a.time;
    each(&mut client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/restart?t={t}")
    })
    .await
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `balena-engine kill`.
pub async fn kill(env: &Env, a: KillArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let s = enc(&a.signal);
    each(&mut client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/kill?signal={s}")
    })
    .await
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `balena-engine rm`.
pub async fn rm(env: &Env, a: RmArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut q = Vec::new();
    if a.volumes {
        q.push("v=1");
    }
    if a.force {
        q.push("force=1");
    }
    if a.link {
        q.push("link=1");
    }
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    let names: Vec<String> = a
        .containers
        .iter()
        .map(|c| c.trim_matches('/').to_string())
        .collect();
    each(&mut client, &names, Method::DELETE, |c| {
        format!("/containers/{c}{q}")
    })
    .await
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `balena-engine wait`.
pub async fn wait(env: &Env, a: WaitArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut errs = Vec::new();
    for c in &a.containers {
        match client
            .request(Method::POST, &format!("/containers/{}/wait", enc(c)), None)
            .await
        {
            Ok(r) => {
                let v: Value = r.json()?;
                if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                    errs.push(m.to_string());
                } else {
                    println!("{}", v["StatusCode"].as_i64().unwrap_or(0));
                }
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    pub container: String,
}

fn check_state(c: &Value) -> Result<(), Failure> {
    let st = &c["State"];
    if st["Running"] != true {
        return Err(Failure::new(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if st["Paused"] == true {
        return Err(Failure::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if st["Restarting"] == true {
        return Err(Failure::new(
            1,
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    Ok(())
}

/// `balena-engine attach`.
pub async fn attach(env: &Env, a: AttachArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let c = inspect_container(&mut client, &a.container).await?;
    check_state(&c)?;
    let id = c["Id"].as_str().unwrap_or_default().to_string();
    let tty = c["Config"]["Tty"] == true;
    check_tty(!a.no_stdin, tty)?;
    let wait = wait_exit(&client, &id, None).await;
    let stdin = !a.no_stdin && c["Config"]["OpenStdin"] == true;
    let sig = (a.sig_proxy && !tty).then(|| hijack::forward_signals(&client, &id));
    let conn = client
        .hijack(
            &attach_path(&id, stdin, true, true, a.detach_keys.as_deref()),
            None,
        )
        .await?;
    let resize = if tty && std::io::stdout().is_terminal() {
        Some(hijack::monitor_tty_size(&client, &id, false).await)
    } else {
        None
    };
    let r = hijack::stream(
        conn,
        StreamOpts {
            stdin,
            output: true,
            tty,
            detach_keys: detach_keys(a.detach_keys.as_deref()),
        },
    )
    .await;
    if let Some(r) = resize {
        r.abort();
    }
    if let Some(s) = sig {
        s.abort();
    }
    match r {
        Ok(End::Detached) => return Ok(()),
        Ok(End::Closed) => {}
        Err(e) => return Err(Failure::new(1, e.to_string())),
    }
    let status = wait.await.unwrap_or(125);
    if status != 0 {
        return Err(Failure::new(status, ""));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    pub container: String,
}

/// docker's `timetypes.GetTimestamp`: a Go duration (relative to now),
/// a unix timestamp, or an RFC 3339 date → `seconds.nanoseconds`.
pub(crate) fn api_timestamp(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    if let Ok(d) = units::go_duration(value) {
        let t = now - chrono::Duration::nanoseconds(d);
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, f) {
            let t = t.and_utc();
            return Ok(format!(
                "{}.{:09}",
                t.timestamp(),
                t.timestamp_subsec_nanos()
            ));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(format!("{}.{:09}", t.and_utc().timestamp(), 0));
        }
    }
    Err(format!(
        "failed to parse value as time or duration: \"{value}\""
    ))
}

/// `balena-engine logs`.
pub async fn logs(env: &Env, a: LogsArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let c = inspect_container(&mut client, &a.container).await?;
    let tty = c["Config"]["Tty"] == true;
    let now = chrono::Utc::now();
    let mut path = format!("/containers/{}/logs?stdout=1&stderr=1", enc(&a.container));
    if let Some(s) = &a.since {
        path.push_str(&format!(
            "&since={}",
            api_timestamp(s, now).map_err(|e| Failure::new(1, e))?
        ));
    }
    if let Some(u) = &a.until {
        path.push_str(&format!(
            "&until={}",
            api_timestamp(u, now).map_err(|e| Failure::new(1, e))?
        ));
    }
    if a.timestamps {
        path.push_str("&timestamps=1");
    }
    if a.details {
        path.push_str("&details=1");
    }
    if a.follow {
        path.push_str("&follow=1");
    }
    path.push_str(&format!("&tail={}", enc(&a.tail)));
    let empty = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Empty::new(),
        |never| match never {},
    ));
    let resp = client.stream(Method::GET, &path, empty, None).await?;
    hijack::copy_body(resp.into_body(), tty)
        .await
        .map_err(|e| Failure::new(1, e.to_string()))
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONTAINER COMMAND")]
    pub args: Vec<String>,
}

/// The `POST /containers/{id}/exec` body (docker's `parseExec`).
pub(crate) fn exec_config(a: &ExecArgs) -> Result<Value, Failure> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let content = std::fs::read_to_string(f)
            .map_err(|e| Failure::new(1, format!("open {f}: {}", runopts::io_reason(&e))))?;
        env.extend(
            runopts::parse_kv_file(&content, f, true)
                .map_err(|e| Failure::new(1, e.to_string()))?,
        );
    }
    for e in &a.env {
        env.push(runopts::env_value(e).map_err(|e| Failure::new(125, e.to_string()))?);
    }
    let attach = !a.detach;
    Ok(json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": attach && a.interactive,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": a.detach,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": a.args[1..],
    }))
}

/// `balena-engine exec`.
pub async fn exec(env: &Env, a: ExecArgs) -> Result<(), Failure> {
    let cfg = exec_config(&a)?;
    let mut client = env.client()?;
    let container = &a.args[0];
    inspect_container(&mut client, container).await?;
    if !a.detach {
        check_tty(a.interactive, a.tty)?;
    }
    let created: Value = client
        .request(
            Method::POST,
            &format!("/containers/{}/exec", enc(container)),
            Some(cfg.to_string().into_bytes()),
        )
        .await?
        .json()?;
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    if exec_id.is_empty() {
        return Err(Failure::new(1, "exec ID empty"));
    }
    let start_body = json!({"Detach": a.detach, "Tty": a.tty})
        .to_string()
        .into_bytes();
    if a.detach {
        client
            .request(
                Method::POST,
                &format!("/exec/{exec_id}/start"),
                Some(start_body),
            )
            .await?;
        return Ok(());
    }
    let conn = client
        .hijack(&format!("/exec/{exec_id}/start"), Some(start_body))
        .await?;
    let task = tokio::spawn(hijack::stream(
        conn,
        StreamOpts {
            stdin: a.interactive,
            output: true,
            tty: a.tty,
            detach_keys: detach_keys(a.detach_keys.as_deref()),
        },
    ));
    let resize = if a.tty && std::io::stdin().is_terminal() {
        Some(hijack::monitor_tty_size(&client, &exec_id, true).await)
    } else {
        None
    };
    let r = task.await;
    if let Some(r) = resize {
        r.abort();
    }
    match r {
        Ok(Ok(End::Detached)) => return Ok(()),
        Ok(Ok(End::Closed)) => {}
        Ok(Err(e)) => return Err(Failure::new(1, e.to_string())),
        Err(e) => return Err(Failure::new(1, e.to_string())),
    }
    let info: Value = client.get(&format!("/exec/{exec_id}/json")).await?.json()?;
    let code = info["ExitCode"].as_i64().unwrap_or(0) as i32;
    if code != 0 {
        return Err(Failure::new(code, ""));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What `port` prints for an inspect's `NetworkSettings.Ports`: every
/// mapping as `80/tcp -> 0.0.0.0:8080`, or only the host side of one
/// private port; naturally sorted, as docker does.
pub(crate) fn port_lines(
    ports: &Value,
    private: Option<&str>,
    container: &str,
) -> Result<Vec<String>, String> {
    let host = |b: &Value| {
        join_host_port(
            b["HostIp"].as_str().unwrap_or(""),
            b["HostPort"].as_str().unwrap_or(""),
        )
    };
    let mut out = Vec::new();
    match private {
        Some(spec) => {
            let (port, proto) = match spec.split_once('/') {
                Some((p, proto)) if !proto.is_empty() => (p, proto),
                _ => (spec, "tcp"),
            };
            let (first, last) = runopts::parse_port_range(port)?;
            let key = if first == last {
                format!("{first}/{proto}")
            } else {
                format!("{first}-{last}/{proto}")
            };
            match ports.get(&key).and_then(Value::as_array) {
                Some(bindings) => out.extend(bindings.iter().map(host)),
                None => {
                    return Err(format!(
                        "Error: No public port '{port}/{proto}' published for {container}"
                    ))
                }
            }
        }
        None => {
            if let Some(m) = ports.as_object() {
                for (from, bindings) in m {
                    for b in bindings.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                        out.push(format!("{from} -> {}", host(b)));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| crate::commands::network::natural_cmp(a, b));
    Ok(out)
}

/// `balena-engine port`.
pub async fn port(env: &Env, a: PortArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let c: Value = match client
        .get(&format!("/containers/{}/json", enc(&a.container)))
        .await
    {
        Ok(r) => r.json()?,
        Err(ClientError::Daemon { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Err(Failure::new(
                1,
                format!("Error: No such container: {}", a.container),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let lines = port_lines(
        &c["NetworkSettings"]["Ports"],
        a.port.as_deref(),
        &a.container,
    )
    .map_err(|e| Failure::new(1, e))?;
    if !lines.is_empty() {
        println!("{}", lines.join("\n"));
    }
    Ok(())
}

/// docker's `DisplayablePorts`.
pub(crate) fn displayable_ports(ports: &[Value]) -> String {
    let mut ports: Vec<(u16, String, u16, String)> = ports
        .iter()
        .map(|p| {
            (
                p["PrivatePort"].as_u64().unwrap_or(0) as u16,
                p["IP"].as_str().unwrap_or("").to_string(),
                p["PublicPort"].as_u64().unwrap_or(0) as u16,
                p["Type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ports.sort();
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    let form = |key: &str, first: u16, last: u16| {
        let (ip, typ) = match key.split_once('/') {
            Some((ip, t)) => (ip.to_string(), t.to_string()),
            None => (String::new(), key.to_string()),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if !ip.is_empty() {
            g = format!("{ip}:{g}->{g}");
        }
        format!("{g}/{typ}")
    };
    for (private, ip, public, typ) in &ports {
        let mut key = typ.clone();
        if !ip.is_empty() {
            if public != private {
                host_mappings.push(format!("{ip}:{public}->{private}/{typ}"));
                continue;
            }
            key = format!("{ip}/{typ}");
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, *private, *private)),
            Some(g) if *private == g.2.wrapping_add(1) => g.2 = *private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = *private;
                g.2 = *private;
            }
        }
    }
    for (k, f, l) in &groups {
        result.push(form(k, *f, *l));
    }
    result.extend(host_mappings);
    result.join(", ")
}

/// One `ps` row as template data.
pub(crate) fn ps_row(c: &Value, trunc: bool, now: i64) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let names: Vec<String> = c["Names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
                .collect()
        })
        .unwrap_or_default();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| vec![n.clone()])
            .unwrap_or(names)
    } else {
        names
    };
    let image = c["Image"].as_str().unwrap_or("");
    let image_id = c["ImageID"].as_str().unwrap_or("");
    let image_shown = if image.is_empty() {
        "<no image>".to_string()
    } else if trunc && table::short_id(image_id) == table::short_id(image) {
        table::short_id(image)
    } else if trunc {
        image::reference::parse_normalized_named(image)
            .map(|n| n.familiar_string())
            .unwrap_or_else(|_| image.to_string())
    } else {
        image.to_string()
    };
    let cmd = c["Command"].as_str().unwrap_or("");
    let cmd = if trunc {
        units::ellipsis(cmd, 20)
    } else {
        cmd.to_string()
    };
    let created = c["Created"].as_i64().unwrap_or(0);
    let labels = c["Labels"].as_object().cloned().unwrap_or_default();
    let labels_str = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",");
    let mounts = c["Mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let n = m["Name"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .or(m["Source"].as_str())
                        .unwrap_or("");
                    if trunc {
                        units::ellipsis(n, 15)
                    } else {
                        n.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let local_volumes = c["Mounts"]
        .as_array()
        .map(|a| a.iter().filter(|m| m["Driver"] == "local").count())
        .unwrap_or(0);
    let networks = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let srw = c["SizeRw"].as_f64().unwrap_or(0.0);
    let sroot = c["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if sroot > 0.0 {
        format!(
            "{} (virtual {})",
            table::human_size3(srw),
            table::human_size3(sroot)
        )
    } else {
        table::human_size3(srw)
    };
    json!({
        "ID": if trunc { table::short_id(id) } else { id.to_string() },
        "Names": names.join(","),
        "Image": image_shown,
        "Command": units::go_quote(&cmd),
        "CreatedAt": chrono::DateTime::from_timestamp(created, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
            .unwrap_or_default(),
        "RunningFor": format!("{} ago", api::progress::human_duration(now - created)),
        "Ports": displayable_ports(c["Ports"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        "State": c["State"].as_str().unwrap_or(""),
        "Status": c["Status"].as_str().unwrap_or(""),
        "Size": size,
        "Labels": labels_str,
        "LabelMap": labels,
        "Mounts": mounts,
        "LocalVolumes": local_volumes.to_string(),
        "Networks": networks,
    })
}

/// `{{.Label "k"}}` is a method call in docker's templates; ours work on
/// plain data, so it becomes `{{label .LabelMap "k"}}`.
pub(crate) fn rewrite_label_calls(t: &str) -> String {
    t.replace(".Label \"", "label .LabelMap \"")
}

const PS_HEADERS: [(&str, &str); 13] = [
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// `balena-engine ps`.
pub async fn ps(env: &Env, a: PsArgs) -> Result<(), Failure> {
    let mut last = a.last;
    if a.latest && last == -1 {
        last = 1;
    }
    let format = a.format.clone().filter(|f| !f.is_empty());
    let size = a.size || format.as_deref().is_some_and(|f| f.contains(".Size"));
    let mut path = format!(
        "/containers/json?filters={}",
        enc(&crate::commands::images::filters_json(&a.filter)?)
    );
    if a.all {
        path.push_str("&all=1");
    }
    if last != -1 {
        path.push_str(&format!("&limit={last}"));
    }
    if size {
        path.push_str("&size=1");
    }
    let mut client = env.client()?;
    let list: Vec<Value> = client.get(&path).await?.json()?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, !a.no_trunc, now)).collect();
    if a.quiet && format.is_none() {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    let tmpl = match format.as_deref() {
        None | Some("table") => {
            let mut t = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
            if a.size {
                t.push_str("\t{{.Size}}");
            }
            t
        }
        Some(f) => rewrite_label_calls(f),
    };
    print!("{}", listfmt::render(&tmpl, &rows, &PS_HEADERS)?);
    Ok(())
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `balena-engine inspect` / `container inspect` (`only_containers`).
pub async fn inspect(env: &Env, a: InspectArgs, only_containers: bool) -> Result<(), Failure> {
    let kind = if only_containers {
        Some("container".to_string())
    } else {
        a.kind.clone().filter(|k| !k.is_empty())
    };
    if let Some(k) = &kind {
        if !matches!(k.as_str(), "container" | "image" | "network") {
            return Err(Failure::new(
                1,
                format!("{} is not a valid value for --type", units::go_quote(k)),
            ));
        }
    }
    let mut client = env.client()?;
    let mut raws: Vec<bytes::Bytes> = Vec::new();
    let mut errs = Vec::new();
    for name in &a.names {
        let mut found = None;
        let mut last_err = None;
        if kind.as_deref() != Some("image") {
            let q = if a.size { "?size=1" } else { "" };
            match client
                .get(&format!("/containers/{}/json{q}", enc(name)))
                .await
            {
                Ok(r) => found = Some(r.body),
                Err(e) => last_err = Some(e),
            }
        }
        if found.is_none() && matches!(kind.as_deref(), None | Some("image")) {
            let path: String = name.split('/').map(enc).collect::<Vec<_>>().join("/");
            match client.get(&format!("/images/{path}/json")).await {
                Ok(r) => found = Some(r.body),
                Err(e) => last_err = Some(e),
            }
        }
        if found.is_none() && matches!(kind.as_deref(), None | Some("network")) {
            match client.get(&format!("/networks/{}", enc(name))).await {
                Ok(r) => found = Some(r.body),
                // While autodetecting, only "not found" counts: anything
                // else from the network lookup leaves the earlier answer.
                Err(e) => {
                    let not_found = matches!(&e, ClientError::Daemon { status, .. }
                        if *status == StatusCode::NOT_FOUND);
                    if kind.is_some() || not_found {
                        last_err = Some(e);
                    }
                }
            }
        }
        match (found, last_err) {
            (Some(b), _) => raws.push(b),
            (None, Some(ClientError::Daemon { status, message }))
                if status == StatusCode::NOT_FOUND =>
            {
                errs.push(match kind.as_deref() {
                    Some("container") if only_containers => {
                        format!("Error: No such container: {name}")
                    }
                    Some("container") => format!("Error: No such container: {name}"),
                    Some("network") => format!("Error: No such network: {name}"),
                    Some(_) => format!("Error: No such image: {name}"),
                    None => {
                        let _ = message;
                        format!("Error: No such object: {name}")
                    }
                })
            }
            (None, Some(e)) => errs.push(e.to_string()),
            (None, None) => errs.push(format!("Error: No such object: {name}")),
        }
    }
    match &a.format {
        Some(t) if !t.is_empty() => {
            let mut out = String::new();
            for raw in &raws {
                let v: Value = serde_json::from_slice(raw)
                    .map_err(|e| Failure::new(1, format!("unable to read inspect data: {e}")))?;
                match crate::format::render(t, &v) {
                    Ok(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    Err(e) => errs.push(format!("Template parsing error: {e}")),
                }
            }
            if out.is_empty() {
                out.push('\n');
            }
            print!("{out}");
        }
        _ => {
            let mut joined = Vec::new();
            joined.push(b'[');
            for (i, r) in raws.iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend_from_slice(r.trim_ascii());
            }
            joined.push(b']');
            if raws.is_empty() {
                println!("[]");
            } else {
                println!("{}", crate::format::indent_raw(&joined));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_exit_codes() {
        assert_eq!(
            start_error_code("Error response from daemon: OCI runtime create failed: exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("stat /x: no such file or directory"), 127);
        assert_eq!(start_error_code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(
            start_error_code("Error response from daemon: conflict"),
            125
        );
    }

    #[test]
    fn ports_display_like_docker() {
        let p = vec![
            json!({"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 81, "Type": "tcp"}),
            json!({"PrivatePort": 82, "Type": "tcp"}),
            json!({"PrivatePort": 53, "PublicPort": 53, "IP": "0.0.0.0", "Type": "udp"}),
        ];
        assert_eq!(
            displayable_ports(&p),
            "0.0.0.0:53->53/udp, 81-82/tcp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn ports_display_ipv6_and_ranges_like_docker() {
        let p = vec![
            json!({"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 80, "PublicPort": 8080, "IP": "::", "Type": "tcp"}),
        ];
        assert_eq!(
            displayable_ports(&p),
            "0.0.0.0:8080->80/tcp, :::8080->80/tcp"
        );
        // Same host and container ports collapse into ranges.
        let p = vec![
            json!({"PrivatePort": 8001, "PublicPort": 8001, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 8000, "PublicPort": 8000, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 8000, "PublicPort": 8000, "IP": "::", "Type": "tcp"}),
            json!({"PrivatePort": 8001, "PublicPort": 8001, "IP": "::", "Type": "tcp"}),
        ];
        assert_eq!(
            displayable_ports(&p),
            "0.0.0.0:8000-8001->8000-8001/tcp, :::8000-8001->8000-8001/tcp"
        );
        // Different host ports are listed one by one, after the groups.
        let p = vec![
            json!({"PrivatePort": 81, "PublicPort": 8001, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 80, "PublicPort": 8000, "IP": "0.0.0.0", "Type": "tcp"}),
            json!({"PrivatePort": 443, "Type": "tcp"}),
            json!({"PrivatePort": 90, "Type": "tcp"}),
            json!({"PrivatePort": 91, "Type": "tcp"}),
            json!({"PrivatePort": 93, "Type": "tcp"}),
        ];
        assert_eq!(
            displayable_ports(&p),
            "90-91/tcp, 93/tcp, 443/tcp, 0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp"
        );
    }

    #[test]
    fn port_lists_mappings_like_docker() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "9/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}],
            "81/tcp": null,
            "82/tcp": []
        });
        assert_eq!(
            port_lines(&ports, None, "web").unwrap(),
            [
                "9/tcp -> 0.0.0.0:9000",
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80"), "web").unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&ports, Some("80/tcp"), "web").unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&ports, Some("53/udp"), "web").unwrap(),
            ["127.0.0.1:5353"]
        );
        assert_eq!(
            port_lines(&ports, Some("81"), "web").unwrap_err(),
            "Error: No public port '81/tcp' published for web"
        );
        assert_eq!(
            port_lines(&ports, Some("53"), "web").unwrap_err(),
            "Error: No public port '53/tcp' published for web"
        );
        assert!(port_lines(&ports, Some("82"), "web").unwrap().is_empty());
        assert_eq!(
            port_lines(&ports, Some("http"), "web").unwrap_err(),
            "strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert_eq!(
            port_lines(&ports, Some("70000"), "web").unwrap_err(),
            "strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert!(port_lines(&Value::Null, None, "web").unwrap().is_empty());
    }

    #[test]
    fn ps_rows_truncate_and_quote() {
        let c = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web", "/other/alias"],
            "Image": "docker.io/library/busybox:latest", "ImageID": "sha256:feed",
            "Command": "/bin/sh -c 'while true; do sleep 1; done'", "Created": 100,
            "Ports": [], "Labels": {"a": "1"}, "State": "running", "Status": "Up 2 seconds",
            "Mounts": [{"Name": "", "Source": "/very/long/host/path/x", "Driver": ""}],
            "NetworkSettings": {"Networks": {"bridge": {}}}
        });
        let r = ps_row(&c, true, 160);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Image"], "busybox:latest");
        assert_eq!(r["Command"], "\"/bin/sh -c 'while t…\"");
        assert_eq!(r["RunningFor"], "About a minute ago");
        assert_eq!(r["Mounts"], "/very/long/hos…");
        assert_eq!(r["Networks"], "bridge");
        let r = ps_row(&c, false, 160);
        assert_eq!(r["Names"], "web,other/alias");
        assert_eq!(
            r["Command"],
            "\"/bin/sh -c 'while true; do sleep 1; done'\""
        );
        let out = listfmt::render(
            &rewrite_label_calls("{{.ID}} {{.Label \"a\"}}{{.Label \"zz\"}}"),
            &[ps_row(&c, true, 160)],
            &PS_HEADERS,
        )
        .unwrap();
        assert_eq!(out, "0123456789ab 1\n");
    }

    #[test]
    fn log_timestamps_follow_timetypes() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(api_timestamp("10m", now).unwrap(), "999400.000000000");
        assert_eq!(api_timestamp("1500000000", now).unwrap(), "1500000000");
        assert_eq!(
            api_timestamp("2013-01-02T13:23:37Z", now).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(
            api_timestamp("2013-01-02", now).unwrap(),
            "1357084800.000000000"
        );
        assert!(api_timestamp("yesterday", now).is_err());
    }

    #[test]
    fn exec_config_matches_parse_exec() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: ExecArgs,
        }
        let t = T::try_parse_from([
            "exec", "-it", "-e", "A=1", "-u", "0", "c1", "sh", "-c", "echo hi",
        ])
        .unwrap();
        assert_eq!(
            exec_config(&t.a).unwrap(),
            json!({"User": "0", "Privileged": false, "Tty": true, "AttachStdin": true,
                   "AttachStderr": true, "AttachStdout": true, "Detach": false, "DetachKeys": "",
                   "Env": ["A=1"], "WorkingDir": "", "Cmd": ["sh", "-c", "echo hi"]})
        );
        let t = T::try_parse_from(["exec", "-d", "c1", "true"]).unwrap();
        let c = exec_config(&t.a).unwrap();
        assert_eq!(c["AttachStdout"], false);
        assert_eq!(c["Detach"], true);
    }
}
