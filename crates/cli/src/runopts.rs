//! `run`/`create` flags → the body of `POST /containers/create`, as the
//! docker 20.10 CLI builds it (`cli/command/container/opts.go`).

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::units::{go_duration, nano_cpus, ram_in_bytes};

/// A flag that cannot be turned into a create request.
#[derive(Debug, thiserror::Error)]
pub enum OptsError {
    /// A value a flag's own syntax refuses.
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// A combination or value refused while building the request.
    #[error("{0}")]
    Invalid(String),
    #[error("open {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn flag_err<'a>(flag: &'static str, value: &'a str) -> impl FnOnce(String) -> OptsError + 'a {
    move |reason| OptsError::Flag {
        flag,
        value: value.to_string(),
        reason,
    }
}

fn invalid(s: impl Into<String>) -> OptsError {
    OptsError::Invalid(s.into())
}

/// Flags shared by `run` and `create`.
#[derive(Debug, Default, Clone, Args)]
pub struct ContainerFlags {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string", default_value = "no")]
    pub restart: String,
    /// Signal to stop a container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// User namespace to use
    #[arg(long, value_name = "string")]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "string")]
    pub cgroupns: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long, value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "list"
    )]
    pub network_alias: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub volume_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt", value_name = "list")]
    pub storage_opt: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "string")]
    pub cidfile: Option<String>,
    /// Write the container ID to the environment variable (balenaEngine)
    #[arg(long, value_name = "string")]
    pub cidenv: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int")]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// IPC mode to use
    #[arg(long, value_name = "string")]
    pub ipc: Option<String>,
    /// Container isolation technology
    #[arg(long, value_name = "string")]
    pub isolation: Option<String>,
    /// PID namespace to use
    #[arg(long, value_name = "string")]
    pub pid: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// UTS namespace to use
    #[arg(long, value_name = "string")]
    pub uts: Option<String>,
    /// Runtime to use for this container
    #[arg(long, value_name = "string")]
    pub runtime: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Pull image before creating ("always"|"missing"|"never")
    #[arg(long, value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Skip image verification (accepted for compatibility)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE] [COMMAND] [ARG...")]
    pub image_and_args: Vec<String>,
}

/// What `create` sends and what else it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The JSON body (Config fields, `HostConfig`, `NetworkingConfig`).
    pub body: Value,
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub pull: PullPolicy,
    pub cidfile: Option<String>,
}

/// `--pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
}

fn int<T: std::str::FromStr>(flag: &'static str, v: &str) -> Result<T, OptsError> {
    v.parse::<T>().map_err(|_| OptsError::Flag {
        flag,
        value: v.to_string(),
        reason: "strconv.ParseInt: parsing ".to_string()
            + &crate::units::go_quote(v)
            + ": invalid syntax",
    })
}

fn bytes_flag(flag: &'static str, v: &Option<String>) -> Result<i64, OptsError> {
    match v {
        None => Ok(0),
        Some(v) => ram_in_bytes(v).map_err(flag_err(flag, v)),
    }
}

fn duration_flag(flag: &'static str, v: &Option<String>) -> Result<i64, OptsError> {
    match v {
        None => Ok(0),
        Some(v) => go_duration(v).map_err(flag_err(flag, v)),
    }
}

/// `-e`: `K=V` as is; a bare `K` takes the client's value when set.
pub(crate) fn env_value(v: &str) -> Result<String, OptsError> {
    if v.starts_with('=') {
        return Err(invalid(format!("invalid environment variable: {v}")));
    }
    if v.contains('=') {
        return Ok(v.to_string());
    }
    Ok(match std::env::var(v) {
        Ok(val) => format!("{v}={val}"),
        Err(_) => v.to_string(),
    })
}

/// docker's env-file / label-file syntax: `#` comments, blank lines
/// skipped, `K=V` lines kept as written, a bare `K` takes the client's
/// value (env files) or is dropped when unset.
pub(crate) fn parse_kv_file(
    content: &str,
    path: &str,
    env_lookup: bool,
) -> Result<Vec<String>, OptsError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, has_value) = match line.split_once('=') {
            Some((k, _)) => (k, true),
            None => (line.trim_end(), false),
        };
        if key.is_empty() {
            return Err(invalid(format!(
                "no variable name on line '{line}' in {path} (line {})",
                n + 1
            )));
        }
        if key.contains([' ', '\t']) {
            return Err(invalid(format!("variable '{key}' contains whitespaces")));
        }
        if has_value {
            out.push(line.to_string());
        } else if env_lookup {
            if let Ok(v) = std::env::var(key) {
                out.push(format!("{key}={v}"));
            }
        } else {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

fn read_kv_files(files: &[String], env_lookup: bool) -> Result<Vec<String>, OptsError> {
    let mut out = Vec::new();
    for f in files {
        let content = std::fs::read(f).map_err(|source| OptsError::File {
            path: f.clone(),
            source,
        })?;
        let content = String::from_utf8(content)
            .map_err(|_| invalid(format!("env file {f} contains invalid utf8 bytes")))?;
        out.extend(parse_kv_file(&content, f, env_lookup)?);
    }
    Ok(out)
}

/// `K=V` strings → a map; a bare `K` maps to "".
fn kv_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (s.clone(), Value::String(String::new())),
        })
        .collect()
}

/// `-v`: specs with a source (host path or named volume) go to `Binds`
/// as written; a bare container path becomes an anonymous volume.
/// Returns (binds, anonymous volume targets).
pub(crate) fn split_volumes(specs: &[String]) -> (Vec<String>, Vec<String>) {
    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for s in specs {
        if volume_source(s).is_some() {
            binds.push(s.clone());
        } else {
            volumes.push(s.clone());
        }
    }
    (binds, volumes)
}

/// The source part of a `-v` spec (compose loader's `ParseVolume`): the
/// first of two or more colon-separated parts.
fn volume_source(spec: &str) -> Option<&str> {
    if spec.chars().count() <= 2 {
        return None;
    }
    match spec.split_once(':') {
        Some((first, _)) if !first.is_empty() => Some(first),
        _ => None,
    }
}

/// Go's `encoding/csv` for one record: commas, double-quoted fields with
/// `""` as a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                    match chars.peek() {
                        None | Some(',') => {}
                        Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
                    }
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => return Err("bare \" in non-quoted-field".into()),
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".into());
    }
    out.push(cur);
    Ok(out)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `--mount type=...,source=...,target=...` → one `HostConfig.Mounts` item.
pub(crate) fn parse_mount(spec: &str) -> Result<Value, String> {
    let fields = csv_fields(spec)?;
    let mut m = Map::new();
    let mut typ = "volume".to_string();
    let mut volume_opts: Option<Map<String, Value>> = None;
    let mut bind_opts: Option<Map<String, Value>> = None;
    let mut tmpfs_opts: Option<Map<String, Value>> = None;
    let mut target = String::new();
    fn vol(o: &mut Option<Map<String, Value>>) -> &mut Map<String, Value> {
        o.get_or_insert_with(|| {
            let mut m = Map::new();
            m.insert("Labels".into(), json!({}));
            m.insert("DriverConfig".into(), json!({}));
            m
        })
    }
    fn set_on(map: &mut Map<String, Value>, key: &str, value: &str) {
        let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(o) = entry {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            o.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.insert("ReadOnly".into(), Value::Bool(true));
                    continue;
                }
                "volume-nocopy" => {
                    vol(&mut volume_opts).insert("NoCopy".into(), Value::Bool(true));
                    continue;
                }
                "bind-nonrecursive" => {
                    bind_opts
                        .get_or_insert_with(Map::new)
                        .insert("NonRecursive".into(), Value::Bool(true));
                    continue;
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
        };
        let bad = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "type" => typ = value.to_lowercase(),
            "source" | "src" => {
                m.insert("Source".into(), Value::String(value.to_string()));
            }
            "target" | "dst" | "destination" => target = value.to_string(),
            "readonly" | "ro" => {
                m.insert(
                    "ReadOnly".into(),
                    Value::Bool(parse_bool(value).ok_or_else(bad)?),
                );
            }
            "consistency" => {
                m.insert("Consistency".into(), Value::String(value.to_lowercase()));
            }
            "bind-propagation" => {
                bind_opts
                    .get_or_insert_with(Map::new)
                    .insert("Propagation".into(), Value::String(value.to_lowercase()));
            }
            "bind-nonrecursive" => {
                let b = parse_bool(value).ok_or_else(bad)?;
                bind_opts
                    .get_or_insert_with(Map::new)
                    .insert("NonRecursive".into(), Value::Bool(b));
            }
            "volume-nocopy" => {
                let b = parse_bool(value)
                    .ok_or_else(|| format!("invalid value for volume-nocopy: {value}"))?;
                vol(&mut volume_opts).insert("NoCopy".into(), Value::Bool(b));
            }
            "volume-label" => set_on(vol(&mut volume_opts), "Labels", value),
            "volume-driver" => {
                let v = vol(&mut volume_opts);
                if let Some(Value::Object(d)) = v.get_mut("DriverConfig") {
                    d.insert("Name".into(), Value::String(value.to_string()));
                }
            }
            "volume-opt" => {
                let v = vol(&mut volume_opts);
                if let Some(Value::Object(d)) = v.get_mut("DriverConfig") {
                    set_on(d, "Options", value);
                }
            }
            "tmpfs-size" => {
                let n = ram_in_bytes(value).map_err(|_| bad())?;
                tmpfs_opts
                    .get_or_insert_with(Map::new)
                    .insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(value, 8).map_err(|_| bad())?;
                tmpfs_opts
                    .get_or_insert_with(Map::new)
                    .insert("Mode".into(), json!(n));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if typ.is_empty() {
        return Err("type is required".into());
    }
    if target.is_empty() {
        return Err("target is required".into());
    }
    if volume_opts.is_some() && typ != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{typ}'"
        ));
    }
    if bind_opts.is_some() && typ != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{typ}'"
        ));
    }
    if tmpfs_opts.is_some() && typ != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{typ}'"
        ));
    }
    m.insert("Type".into(), Value::String(typ));
    m.insert("Target".into(), Value::String(target));
    if let Some(b) = bind_opts {
        m.insert("BindOptions".into(), Value::Object(b));
    }
    if let Some(v) = volume_opts {
        m.insert("VolumeOptions".into(), Value::Object(v));
    }
    if let Some(t) = tmpfs_opts {
        m.insert("TmpfsOptions".into(), Value::Object(t));
    }
    Ok(Value::Object(m))
}

fn valid_device_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return false;
    }
    let mut seen = [false; 3];
    for c in mode.chars() {
        let i = match c {
            'r' => 0,
            'w' => 1,
            'm' => 2,
            _ => return false,
        };
        if seen[i] {
            return false;
        }
        seen[i] = true;
    }
    true
}

/// Go's `path.Clean` for the absolute paths devices use.
fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `--device host[:container][:perms]` → a `HostConfig.Devices` item.
pub(crate) fn parse_device(spec: &str) -> Result<Value, String> {
    // validateLinuxPath
    if spec.matches(':').count() > 2 {
        return Err(format!("bad format for path: {spec}"));
    }
    let split: Vec<&str> = spec.splitn(3, ':').collect();
    if split[0].is_empty() {
        return Err(format!("bad format for path: {spec}"));
    }
    let (validated, container_path) = match split.as_slice() {
        [p] => (clean_path(p), p.to_string()),
        [a, b] if valid_device_mode(b) => (format!("{}:{b}", clean_path(a)), a.to_string()),
        [a, b] => (format!("{a}:{}", clean_path(b)), b.to_string()),
        [a, b, c] => {
            if !valid_device_mode(c) {
                return Err(format!("bad mode specified: {c}"));
            }
            (format!("{a}:{b}:{c}"), b.to_string())
        }
        _ => return Err(format!("bad format for path: {spec}")),
    };
    if !container_path.starts_with('/') {
        return Err(format!("{container_path} is not an absolute path"));
    }
    // parseLinuxDevice
    let arr: Vec<&str> = validated.split(':').collect();
    let mut perms = "rwm".to_string();
    let mut dst = String::new();
    let src;
    match arr.as_slice() {
        [s] => src = s.to_string(),
        [s, b] => {
            if valid_device_mode(b) {
                perms = b.to_string();
            } else {
                dst = b.to_string();
            }
            src = s.to_string();
        }
        [s, b, c] => {
            perms = c.to_string();
            if valid_device_mode(b) {
                perms = b.to_string();
            } else {
                dst = b.to_string();
            }
            src = s.to_string();
        }
        _ => return Err(format!("invalid device specification: {spec}")),
    }
    if dst.is_empty() {
        dst = src.clone();
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

const ULIMITS: [&str; 16] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// `--ulimit name=soft[:hard]` (go-units `ParseUlimit`).
pub(crate) fn parse_ulimit(spec: &str) -> Result<Value, String> {
    let (name, limits) = spec
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {spec}"))?;
    if !ULIMITS.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (s, Some(h)),
        None => (limits, None),
    };
    let soft: i64 = soft.parse().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            crate::units::go_quote(soft)
        )
    })?;
    let hard: i64 = match hard {
        Some(h) if h.contains(':') => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
        Some(h) => h.parse().map_err(|_| {
            format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                crate::units::go_quote(h)
            )
        })?,
        None => soft,
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub(crate) fn parse_restart(policy: &str) -> Result<Value, String> {
    if policy.is_empty() {
        return Ok(json!({"Name": "", "MaximumRetryCount": 0}));
    }
    let parts: Vec<&str> = policy.split(':').collect();
    if parts.len() > 2 {
        return Err("invalid restart policy format".into());
    }
    let mut count = 0i64;
    if let [name, n] = parts.as_slice() {
        count = n
            .parse()
            .map_err(|_| "maximum retry count must be an integer".to_string())?;
        if *name != "on-failure" {
            return Err(format!(
                "invalid restart policy: maximum retry count cannot be used with restart policy '{name}'"
            ));
        }
    }
    let name = parts[0];
    if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
        return Err(format!("invalid restart policy '{name}'"));
    }
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// `--security-opt`: `seccomp=<file>` is sent as the file's compacted
/// JSON; `systempaths=unconfined` is handled here (it empties
/// `MaskedPaths` and `ReadonlyPaths`). Returns (opts, unconfined paths).
pub(crate) fn parse_security_opts(opts: &[String]) -> Result<(Vec<String>, bool), OptsError> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, v),
            None if opt == "no-new-privileges" => (opt.as_str(), ""),
            None => match opt.split_once(':') {
                Some((k, v)) => (k, v),
                None => {
                    return Err(invalid(format!(
                        "Invalid --security-opt: {}",
                        crate::units::go_quote(opt)
                    )))
                }
            },
        };
        if key == "seccomp" && value != "unconfined" {
            let data = std::fs::read(value).map_err(|e| {
                invalid(format!(
                    "opening seccomp profile ({value}) failed: open {value}: {}",
                    io_reason(&e)
                ))
            })?;
            let v: Value = serde_json::from_slice(&data).map_err(|e| {
                invalid(format!(
                    "compacting json for seccomp profile ({value}) failed: {e}"
                ))
            })?;
            out.push(format!("seccomp={}", compact_json(&data, &v)));
            continue;
        }
        out.push(opt.clone());
    }
    Ok((out, unconfined_paths))
}

/// Go's `json.Compact`: whitespace dropped, key order kept. `parsed` has
/// already validated `raw`.
fn compact_json(raw: &[u8], _parsed: &Value) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_str = false;
    let mut esc = false;
    for &b in raw {
        if in_str {
            out.push(b);
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_str = true;
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The OS error text as Go prints it (`no such file or directory`).
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    // Rust: "No such file or directory (os error 2)".
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// `-p`: docker's port specs (`[ip:[hostPort]:]containerPort[/proto]`,
/// ranges, and the `published=,target=` long form). Returns
/// (ExposedPorts, PortBindings).
pub(crate) fn parse_publish(specs: &[String]) -> Result<(PortMap, PortMap), String> {
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    for spec in specs {
        let spec = if spec.contains('=') {
            let mut params: BTreeMap<String, String> = BTreeMap::new();
            params.insert("protocol".into(), "tcp".into());
            for p in spec.split(',') {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    format!("invalid publish opts format (should be name=value but got '{p}')")
                })?;
                params.insert(k.to_string(), v.split('=').next().unwrap_or(v).to_string());
            }
            let g = |k: &str| params.get(k).cloned().unwrap_or_default();
            format!("{}:{}/{}", g("published"), g("target"), g("protocol"))
        } else {
            spec.clone()
        };
        for (port, binding) in parse_port_spec(&spec)? {
            exposed.insert(port.clone(), json!({}));
            let e = bindings.entry(port).or_insert_with(|| json!([]));
            if let Value::Array(a) = e {
                if !a.contains(&binding) {
                    a.push(binding);
                }
            }
        }
    }
    Ok((exposed, bindings))
}

/// Port key (`80/tcp`) → value, for `ExposedPorts` and `PortBindings`.
type PortMap = Map<String, Value>;

/// strconv's `ParseUint(s, 10, 16)` with its error wording.
fn parse_u16(s: &str) -> Result<u16, String> {
    let why = if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        "invalid syntax"
    } else {
        match s.parse::<u16>() {
            Ok(v) => return Ok(v),
            Err(_) => "value out of range",
        }
    };
    Err(format!(
        "strconv.ParseUint: parsing {}: {why}",
        crate::units::go_quote(s)
    ))
}

/// go-connections' `nat.ParsePortRange`: `80` or `80-81` (anything after
/// a second `-` is ignored, as there).
pub(crate) fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("Empty string specified for ports.".into());
    }
    let mut parts = s.split('-');
    let start = parse_u16(parts.next().unwrap_or(""))?;
    let Some(end) = parts.next() else {
        return Ok((start, start));
    };
    let end = parse_u16(end)?;
    if end < start {
        return Err(format!("Invalid range specified for the Port: {s}"));
    }
    Ok((start, end))
}

/// go-connections' `nat.SplitProtoPort`: (proto, port).
pub(crate) fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    match parts.as_slice() {
        [port] => ("tcp".into(), port.to_string()),
        [port, proto, ..] if !proto.is_empty() => (proto.to_string(), port.to_string()),
        [port, ..] => ("tcp".into(), port.to_string()),
        [] => (String::new(), String::new()),
    }
}

/// Go's `net.SplitHostPort`, for the host part only, with its errors.
fn split_host(hostport: &str) -> Result<String, String> {
    let err = |why: &str| format!("address {hostport}: {why}");
    let Some(i) = hostport.rfind(':') else {
        return Err(err("missing port in address"));
    };
    let (host, j, k) = if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(err("missing ']' in address"));
        };
        if end + 1 == hostport.len() {
            return Err(err("missing port in address"));
        }
        if end + 1 != i {
            return Err(if hostport.as_bytes()[end + 1] == b':' {
                err("too many colons in address")
            } else {
                err("missing port in address")
            });
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return Err(err("too many colons in address"));
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') {
        return Err(err("unexpected '[' in address"));
    }
    if hostport[k..].contains(']') {
        return Err(err("unexpected ']' in address"));
    }
    Ok(host.to_string())
}

/// go-connections `nat.ParsePortSpec`: one spec → (port key, binding)s.
fn parse_port_spec(raw: &str) -> Result<Vec<(String, Value)>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (raw_ip, host_port, container) = match n {
        1 => (String::new(), String::new(), parts[0]),
        2 => (String::new(), parts[0].to_string(), parts[1]),
        3 => (parts[0].to_string(), parts[1].to_string(), parts[2]),
        _ => (
            parts[..n - 2].join(":"),
            parts[n - 2].to_string(),
            parts[n - 1],
        ),
    };
    let (proto, container_port) = split_proto_port(container);
    let ip = split_host(&format!("{raw_ip}:"))
        .map_err(|e| format!("Invalid ip address {raw_ip}: {e}"))?;
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("No port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container_port)
        .map_err(|_| format!("Invalid containerPort: {container_port}"))?;
    let (hstart, hend) = if host_port.is_empty() {
        (0, 0)
    } else {
        parse_port_range(&host_port).map_err(|_| format!("Invalid hostPort: {host_port}"))?
    };
    if !host_port.is_empty() && (end - start) != (hend - hstart) && end != start {
        return Err(format!(
            "Invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let proto_lower = proto.to_lowercase();
    if !matches!(proto_lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("Invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for (i, p) in (start..=end).enumerate() {
        let mut hp = if host_port.is_empty() {
            String::new()
        } else {
            (u32::from(hstart) + i as u32).to_string()
        };
        if start == end && hstart != hend {
            // One container port, a host range: the daemon picks one.
            hp = format!("{hp}-{hend}");
        }
        out.push((
            format!("{p}/{proto_lower}"),
            json!({"HostIp": ip, "HostPort": hp}),
        ));
    }
    Ok(out)
}

/// `--expose port[-end][/proto]` → port keys.
pub(crate) fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    if spec.contains(':') {
        return Err(format!("invalid port format for --expose: {spec}"));
    }
    let (proto, port) = split_proto_port(spec);
    let (a, b) = parse_port_range(&port)
        .map_err(|e| format!("invalid range format for --expose: {spec}, error: {e}"))?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// `--sysctl`: only namespaced kernel parameters (docker's whitelist).
fn validate_sysctl(s: &str) -> Result<(), String> {
    let key = s.split_once('=').map(|(k, _)| k).unwrap_or(s);
    let ok = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("net.")
        || key.starts_with("fs.mqueue.");
    if ok && s.contains('=') {
        Ok(())
    } else {
        Err(format!("sysctl '{s}' is not whitelisted"))
    }
}

fn validate_cgroup_rule(s: &str) -> bool {
    // ^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$
    let parts: Vec<&str> = s.split(' ').collect();
    let [t, mm, mode] = parts.as_slice() else {
        return false;
    };
    let num = |x: &str| x == "*" || (!x.is_empty() && x.chars().all(|c| c.is_ascii_digit()));
    matches!(*t, "a" | "b" | "c")
        && mm.split_once(':').is_some_and(|(a, b)| num(a) && num(b))
        && (1..=3).contains(&mode.len())
        && mode.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

fn ns_mode_valid(mode: &str, allow_private: bool) -> bool {
    let (kind, rest) = mode.split_once(':').unwrap_or((mode, ""));
    match kind {
        "" => rest.is_empty(),
        "host" => rest.is_empty(),
        "private" if allow_private => rest.is_empty(),
        "container" => !rest.is_empty(),
        _ => false,
    }
}

fn opt_str(v: &Option<String>) -> Value {
    Value::String(v.clone().unwrap_or_default())
}

fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// `opts.ValidateDNSSearch`: `.` or a domain name (labels of letters,
/// digits and inner hyphens, at least one letter somewhere, under 255
/// characters), spaces trimmed.
fn validate_dns_search(val: &str) -> Result<String, String> {
    let v = val.trim_matches(' ');
    if v == "." {
        return Ok(v.to_string());
    }
    let bad = || format!("{v} is not a valid domain");
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) || v.len() >= 255 {
        return Err(bad());
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    // Docker's pattern starts with an optional ':' (a typo kept for
    // compatibility).
    let body = v.strip_prefix(':').unwrap_or(v);
    if body.split('.').all(label_ok) {
        Ok(v.to_string())
    } else {
        Err(bad())
    }
}

/// `container.NetworkMode.IsUserDefined`.
fn is_user_defined_network(n: &str) -> bool {
    !matches!(n, "default" | "bridge" | "host" | "none") && !n.starts_with("container:")
}

/// One `--network` value (`opts.NetworkAttachmentOpts`).
#[derive(Debug, Default, Clone, PartialEq)]
struct NetworkAttachment {
    target: String,
    aliases: Vec<String>,
    driver_opts: BTreeMap<String, String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    link_local_ips: Vec<String>,
}

/// Does `s` contain `\w+=\w+` (docker's test for the long `--network`
/// syntax)?
fn is_long_network_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

/// `opts.NetworkOpt.Set`: a name, or `name=n,alias=a,ip=..,ip6=..,
/// driver-opt=k=v` (keys and values lowercased, as docker does).
fn parse_network_opt(value: &str) -> Result<NetworkAttachment, OptsError> {
    if !is_long_network_syntax(value) {
        return Ok(NetworkAttachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let bad = flag_err("--network", value);
    let mut n = NetworkAttachment::default();
    for field in value.split(',') {
        let Some((k, v)) = field.split_once('=') else {
            return Err(bad(format!("invalid field {field}")));
        };
        let key = k.trim().to_lowercase();
        let v = v.trim().to_lowercase();
        match key.as_str() {
            "name" => n.target = v,
            "alias" => n.aliases.push(v),
            "ip" => n.ipv4 = v,
            "ip6" => n.ipv6 = v,
            "driver-opt" => {
                let Some((dk, dv)) = v.split_once('=') else {
                    return Err(bad("invalid key value pair format in driver options".into()));
                };
                n.driver_opts
                    .insert(dk.trim().to_lowercase(), dv.trim().to_lowercase());
            }
            _ => return Err(bad(format!("invalid field key {key}"))),
        }
    }
    if n.target.is_empty() {
        return Err(bad("network name/id is not specified".into()));
    }
    Ok(n)
}

/// docker's `parseNetworkOpts` (20.10): every `--network` becomes an
/// endpoint; the first also takes `--network-alias`, `--link`, `--ip`,
/// `--ip6` and `--link-local-ip`. A lone network without settings is left
/// out, so the body is the classic one. Several networks are sent as they
/// are: the daemon answers for API 1.41 that a container cannot be
/// connected to more than one network at create.
fn network_endpoints(f: &ContainerFlags) -> Result<Map<String, Value>, OptsError> {
    let mut endpoints = Map::new();
    let (mut user_defined, mut predefined) = (false, false);
    let count = f.network.len();
    for (i, spec) in f.network.iter().enumerate() {
        let mut n = parse_network_opt(spec)?;
        if is_user_defined_network(&n.target) {
            user_defined = true;
        } else {
            predefined = true;
        }
        if i == 0 {
            let conflict =
                |what: &str| invalid(format!("conflicting options: cannot specify both {what}"));
            if !n.aliases.is_empty() && !f.network_alias.is_empty() {
                return Err(conflict("--network-alias and per-network alias"));
            }
            if !n.links.is_empty() && !f.link.is_empty() {
                return Err(conflict("--link and per-network links"));
            }
            if !n.ipv4.is_empty() && f.ip.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(conflict("--ip and per-network IPv4 address"));
            }
            if !n.ipv6.is_empty() && f.ip6.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(conflict("--ip6 and per-network IPv6 address"));
            }
            if !f.network_alias.is_empty() {
                n.aliases = f.network_alias.clone();
            }
            if !f.link.is_empty() {
                n.links = f.link.clone();
            }
            if let Some(ip) = f.ip.as_deref().filter(|s| !s.is_empty()) {
                n.ipv4 = ip.to_string();
            }
            if let Some(ip) = f.ip6.as_deref().filter(|s| !s.is_empty()) {
                n.ipv6 = ip.to_string();
            }
            if !f.link_local_ip.is_empty() {
                n.link_local_ips = f.link_local_ip.clone();
            }
        }
        let ep = endpoint_settings(&n)?;
        if endpoints.contains_key(&n.target) {
            return Err(invalid(format!(
                "network {} is specified multiple times",
                crate::units::go_quote(&n.target)
            )));
        }
        if i == 0 && count == 1 && ep == api::network::EndpointSettings::default() {
            continue;
        }
        let v = serde_json::to_value(&ep).map_err(|e| invalid(e.to_string()))?;
        endpoints.insert(n.target, v);
    }
    if user_defined && predefined {
        return Err(invalid("conflicting options: cannot attach both user-defined and non-user-defined network-modes"));
    }
    Ok(endpoints)
}

/// docker's `parseNetworkAttachmentOpt`.
fn endpoint_settings(n: &NetworkAttachment) -> Result<api::network::EndpointSettings, OptsError> {
    if n.target.trim().is_empty() {
        return Err(invalid("no name set for network"));
    }
    if !is_user_defined_network(&n.target) {
        if !n.aliases.is_empty() {
            return Err(invalid(
                "network-scoped aliases are only supported for user-defined networks",
            ));
        }
        if !n.links.is_empty() {
            return Err(invalid(
                "links are only supported for user-defined networks",
            ));
        }
    }
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    Ok(api::network::EndpointSettings {
        aliases: some(&n.aliases),
        links: some(&n.links),
        driver_opts: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone()),
        ipam_config: (!n.ipv4.is_empty() || !n.ipv6.is_empty() || !n.link_local_ips.is_empty())
            .then(|| api::network::EndpointIpamConfig {
                ipv4_address: n.ipv4.clone(),
                ipv6_address: n.ipv6.clone(),
                link_local_ips: n.link_local_ips.clone(),
            }),
        ..Default::default()
    })
}

/// Builds the create request for `run` (`detach` = `-d`) or `create`.
pub fn build(f: &ContainerFlags, detach: bool) -> Result<CreateRequest, OptsError> {
    let image = f.image_and_args.first().cloned().unwrap_or_default();
    let cmd: Vec<String> = f.image_and_args.iter().skip(1).cloned().collect();
    if image.starts_with('-') {
        // Clap takes unknown flags before the image as the image.
        return Err(invalid(format!("unknown flag: {image}")));
    }

    let mut attach_stdin = false;
    let mut attach_stdout = false;
    let mut attach_stderr = false;
    for a in &f.attach {
        match a.to_lowercase().as_str() {
            "stdin" => attach_stdin = true,
            "stdout" => attach_stdout = true,
            "stderr" => attach_stderr = true,
            _ => {
                return Err(OptsError::Flag {
                    flag: "-a, --attach",
                    value: a.clone(),
                    reason: "valid streams are STDIN, STDOUT and STDERR".into(),
                })
            }
        }
    }
    if let Some(mac) = &f.mac_address {
        let ok = mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(invalid(format!("{mac} is not a valid mac address")));
        }
    }
    if f.interactive {
        attach_stdin = true;
    }
    if f.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    let swappiness: i64 = match &f.memory_swappiness {
        Some(v) => int("--memory-swappiness", v)?,
        None => -1,
    };
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(invalid(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        )));
    }
    let mounts: Vec<Value> = f
        .mount
        .iter()
        .map(|m| parse_mount(m).map_err(flag_err("--mount", m)))
        .collect::<Result<_, _>>()?;
    let (binds, anon) = split_volumes(&f.volume);
    let volumes: Map<String, Value> = anon.into_iter().map(|v| (v, json!({}))).collect();
    let mut tmpfs = Map::new();
    for t in &f.tmpfs {
        let (k, v) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(k.to_string(), Value::String(v.to_string()));
    }
    let entrypoint = match &f.entrypoint {
        Some(e) if e.is_empty() => json!([""]),
        Some(e) => json!([e]),
        None => Value::Null,
    };
    let (mut exposed, port_bindings) = parse_publish(&f.publish).map_err(invalid)?;
    for e in &f.expose {
        for p in parse_expose(e).map_err(invalid)? {
            exposed.entry(p).or_insert_with(|| json!({}));
        }
    }
    let devices: Vec<Value> = f
        .device
        .iter()
        .map(|d| parse_device(d).map_err(invalid))
        .collect::<Result<_, _>>()?;
    for r in &f.device_cgroup_rule {
        if !validate_cgroup_rule(r) {
            return Err(OptsError::Flag {
                flag: "--device-cgroup-rule",
                value: r.clone(),
                reason: format!("invalid device cgroup format '{r}'"),
            });
        }
    }
    let mut env = read_kv_files(&f.env_file, true)?;
    for e in &f.env {
        env.push(env_value(e).map_err(|e| OptsError::Flag {
            flag: "-e, --env",
            value: String::new(),
            reason: e.to_string(),
        })?);
    }
    let mut labels = read_kv_files(&f.label_file, false)?;
    for l in &f.label {
        if l.is_empty() || l.starts_with('=') {
            return Err(OptsError::Flag {
                flag: "-l, --label",
                value: l.clone(),
                reason: format!("invalid label '{l}': empty name"),
            });
        }
        labels.push(l.clone());
    }
    if let Some(p) = &f.pid {
        if !ns_mode_valid(p, false) {
            return Err(invalid("--pid: invalid PID mode"));
        }
    }
    if let Some(u) = &f.uts {
        if !(u.is_empty() || u == "host") {
            return Err(invalid("--uts: invalid UTS mode"));
        }
    }
    if let Some(u) = &f.userns {
        if !(u.is_empty() || u == "host") {
            return Err(invalid("--userns: invalid USER mode"));
        }
    }
    if let Some(c) = &f.cgroupns {
        if !matches!(c.as_str(), "" | "host" | "private") {
            return Err(invalid("--cgroupns: invalid CGROUP mode"));
        }
    }
    let restart = parse_restart(&f.restart).map_err(invalid)?;
    let log_opts = kv_map(&f.log_opt);
    if f.log_driver.as_deref() == Some("none") && !f.log_opt.is_empty() {
        return Err(invalid("invalid logging opts for driver none"));
    }
    let (security_opts, unconfined_paths) = parse_security_opts(&f.security_opt)?;
    let mut storage_opts = Map::new();
    for s in &f.storage_opt {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| invalid("invalid storage option"))?;
        storage_opts.insert(k.into(), Value::String(v.into()));
    }
    let mut sysctls = Map::new();
    for s in &f.sysctl {
        validate_sysctl(s).map_err(flag_err("--sysctl", s))?;
        let (k, v) = s.split_once('=').unwrap_or((s, ""));
        sysctls.insert(k.into(), Value::String(v.into()));
    }
    // `opts.ValidateIPAddress` keeps the normalized address.
    let dns: Vec<String> = f
        .dns
        .iter()
        .map(|d| {
            d.trim()
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.to_canonical().to_string())
                .map_err(|_| OptsError::Flag {
                    flag: "--dns",
                    value: d.clone(),
                    reason: format!("{d} is not an ip address"),
                })
        })
        .collect::<Result<_, _>>()?;
    let dns_search: Vec<String> = f
        .dns_search
        .iter()
        .map(|d| validate_dns_search(d).map_err(flag_err("--dns-search", d)))
        .collect::<Result<_, _>>()?;
    for l in &f.link {
        crate::commands::network::validate_link(l).map_err(flag_err("--link", l))?;
    }
    for h in &f.add_host {
        if h.split_once(':').is_none_or(|(n, _)| n.is_empty()) {
            return Err(OptsError::Flag {
                flag: "--add-host",
                value: h.clone(),
                reason: format!("bad format for add-host: {}", crate::units::go_quote(h)),
            });
        }
        let ok = h.split_once(':').is_some_and(|(_, ip)| {
            ip == "host-gateway" || ip.trim().parse::<std::net::IpAddr>().is_ok()
        });
        if !ok {
            return Err(OptsError::Flag {
                flag: "--add-host",
                value: h.clone(),
                reason: format!(
                    "invalid IP address in add-host: {:?}",
                    h.split_once(':').map(|(_, i)| i).unwrap_or("")
                ),
            });
        }
    }

    // Health check.
    let interval = duration_flag("--health-interval", &f.health_interval)?;
    let timeout = duration_flag("--health-timeout", &f.health_timeout)?;
    let start_period = duration_flag("--health-start-period", &f.health_start_period)?;
    let retries: i64 = match &f.health_retries {
        Some(v) => int("--health-retries", v)?,
        None => 0,
    };
    let have_health = f.health_cmd.as_deref().is_some_and(|c| !c.is_empty())
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0;
    let healthcheck = if f.no_healthcheck {
        if have_health {
            return Err(invalid(
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        Some(json!({"Test": ["NONE"]}))
    } else if have_health {
        if interval < 0 {
            return Err(invalid("--health-interval cannot be negative"));
        }
        if timeout < 0 {
            return Err(invalid("--health-timeout cannot be negative"));
        }
        if retries < 0 {
            return Err(invalid("--health-retries cannot be negative"));
        }
        if start_period < 0 {
            return Err(invalid("--health-start-period cannot be negative"));
        }
        let test = match f.health_cmd.as_deref() {
            Some(c) if !c.is_empty() => json!(["CMD-SHELL", c]),
            _ => Value::Null,
        };
        let mut h = Map::new();
        h.insert("Test".into(), test);
        for (k, v) in [
            ("Interval", interval),
            ("Timeout", timeout),
            ("StartPeriod", start_period),
            ("Retries", retries),
        ] {
            if v != 0 {
                h.insert(k.into(), json!(v));
            }
        }
        Some(Value::Object(h))
    } else {
        None
    };

    let memory = bytes_flag("-m, --memory", &f.memory)?;
    let memory_swap = match f.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => bytes_flag("--memory-swap", &f.memory_swap)?,
    };
    let nano = match &f.cpus {
        Some(v) => nano_cpus(v).map_err(flag_err("--cpus", v))?,
        None => 0,
    };
    let i64_flag = |flag: &'static str, v: &Option<String>| -> Result<i64, OptsError> {
        v.as_deref().map(|v| int::<i64>(flag, v)).unwrap_or(Ok(0))
    };
    let blkio: u16 = match &f.blkio_weight {
        Some(v) => int("--blkio-weight", v)?,
        None => 0,
    };
    let pids_limit = i64_flag("--pids-limit", &f.pids_limit)?;
    let oom_score_adj = i64_flag("--oom-score-adj", &f.oom_score_adj)?;
    let ulimits: Vec<Value> = f
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u).map_err(flag_err("--ulimit", u)))
        .collect::<Result<_, _>>()?;

    let mut config = Map::new();
    let s = |v: &Option<String>| opt_str(v);
    config.insert("Hostname".into(), s(&f.hostname));
    config.insert("Domainname".into(), s(&f.domainname));
    config.insert("User".into(), s(&f.user));
    config.insert("AttachStdin".into(), json!(attach_stdin && !detach));
    config.insert("AttachStdout".into(), json!(attach_stdout && !detach));
    config.insert("AttachStderr".into(), json!(attach_stderr && !detach));
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    config.insert("Tty".into(), json!(f.tty));
    config.insert("OpenStdin".into(), json!(f.interactive));
    // When allocating stdin in attached mode, close it at disconnect.
    config.insert(
        "StdinOnce".into(),
        json!(f.interactive && attach_stdin && !detach),
    );
    config.insert("Env".into(), list_or_null(&env));
    config.insert("Cmd".into(), list_or_null(&cmd));
    if let Some(h) = healthcheck {
        config.insert("Healthcheck".into(), h);
    }
    config.insert("Image".into(), Value::String(image.clone()));
    config.insert(
        "Volumes".into(),
        if volumes.is_empty() {
            Value::Null
        } else {
            Value::Object(volumes)
        },
    );
    config.insert("WorkingDir".into(), s(&f.workdir));
    config.insert("Entrypoint".into(), entrypoint);
    if let Some(m) = &f.mac_address {
        config.insert("MacAddress".into(), json!(m));
    }
    config.insert("OnBuild".into(), Value::Null);
    config.insert("Labels".into(), Value::Object(kv_map(&labels)));
    if let Some(sig) = &f.stop_signal {
        config.insert("StopSignal".into(), json!(sig));
    }
    if let Some(t) = &f.stop_timeout {
        config.insert(
            "StopTimeout".into(),
            json!(int::<i64>("--stop-timeout", t)?),
        );
    }

    // `NetworkOpt.NetworkMode()`: the first network's target.
    let network_mode = match f.network.first() {
        Some(n) => parse_network_opt(n)?.target,
        None => "default".into(),
    };
    let mut hc = Map::new();
    hc.insert("Binds".into(), list_or_null(&binds));
    hc.insert("ContainerIDFile".into(), s(&f.cidfile));
    hc.insert("ContainerIDEnv".into(), s(&f.cidenv));
    hc.insert(
        "LogConfig".into(),
        json!({"Type": f.log_driver.clone().unwrap_or_default(), "Config": log_opts}),
    );
    hc.insert("NetworkMode".into(), json!(network_mode));
    hc.insert("PortBindings".into(), Value::Object(port_bindings));
    hc.insert("RestartPolicy".into(), restart.clone());
    hc.insert("AutoRemove".into(), json!(f.rm));
    hc.insert("VolumeDriver".into(), s(&f.volume_driver));
    hc.insert("VolumesFrom".into(), list_or_null(&f.volumes_from));
    hc.insert("CapAdd".into(), list_or_null(&f.cap_add));
    hc.insert("CapDrop".into(), list_or_null(&f.cap_drop));
    hc.insert("CgroupnsMode".into(), s(&f.cgroupns));
    hc.insert("Dns".into(), json!(dns));
    hc.insert("DnsOptions".into(), json!(f.dns_option));
    hc.insert("DnsSearch".into(), json!(dns_search));
    hc.insert("ExtraHosts".into(), list_or_null(&f.add_host));
    hc.insert("GroupAdd".into(), list_or_null(&f.group_add));
    hc.insert("IpcMode".into(), s(&f.ipc));
    hc.insert("Cgroup".into(), json!(""));
    hc.insert("Links".into(), list_or_null(&f.link));
    hc.insert("OomScoreAdj".into(), json!(oom_score_adj));
    hc.insert("PidMode".into(), s(&f.pid));
    hc.insert("Privileged".into(), json!(f.privileged));
    hc.insert("PublishAllPorts".into(), json!(f.publish_all));
    hc.insert("ReadonlyRootfs".into(), json!(f.read_only));
    hc.insert("SecurityOpt".into(), list_or_null(&security_opts));
    if !storage_opts.is_empty() {
        hc.insert("StorageOpt".into(), Value::Object(storage_opts));
    }
    if !tmpfs.is_empty() {
        hc.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    hc.insert("UTSMode".into(), s(&f.uts));
    hc.insert("UsernsMode".into(), s(&f.userns));
    hc.insert(
        "ShmSize".into(),
        json!(bytes_flag("--shm-size", &f.shm_size)?),
    );
    if !sysctls.is_empty() {
        hc.insert("Sysctls".into(), Value::Object(sysctls));
    }
    if let Some(r) = &f.runtime {
        hc.insert("Runtime".into(), json!(r));
    }
    hc.insert("ConsoleSize".into(), json!([0, 0]));
    hc.insert("Isolation".into(), s(&f.isolation));
    // Resources.
    hc.insert(
        "CpuShares".into(),
        json!(i64_flag("-c, --cpu-shares", &f.cpu_shares)?),
    );
    hc.insert("Memory".into(), json!(memory));
    hc.insert("NanoCpus".into(), json!(nano));
    hc.insert("CgroupParent".into(), s(&f.cgroup_parent));
    hc.insert("BlkioWeight".into(), json!(blkio));
    for k in [
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
    ] {
        hc.insert(k.into(), json!([]));
    }
    hc.insert(
        "CpuPeriod".into(),
        json!(i64_flag("--cpu-period", &f.cpu_period)?),
    );
    hc.insert(
        "CpuQuota".into(),
        json!(i64_flag("--cpu-quota", &f.cpu_quota)?),
    );
    hc.insert("CpuRealtimePeriod".into(), json!(0));
    hc.insert("CpuRealtimeRuntime".into(), json!(0));
    hc.insert("CpusetCpus".into(), s(&f.cpuset_cpus));
    hc.insert("CpusetMems".into(), s(&f.cpuset_mems));
    hc.insert("Devices".into(), json!(devices));
    hc.insert(
        "DeviceCgroupRules".into(),
        list_or_null(&f.device_cgroup_rule),
    );
    hc.insert("DeviceRequests".into(), Value::Null);
    hc.insert(
        "KernelMemory".into(),
        json!(bytes_flag("--kernel-memory", &f.kernel_memory)?),
    );
    hc.insert(
        "MemoryReservation".into(),
        json!(bytes_flag("--memory-reservation", &f.memory_reservation)?),
    );
    hc.insert("MemorySwap".into(), json!(memory_swap));
    hc.insert("MemorySwappiness".into(), json!(swappiness));
    hc.insert("OomKillDisable".into(), json!(f.oom_kill_disable));
    hc.insert("PidsLimit".into(), json!(pids_limit));
    hc.insert("Ulimits".into(), list_or_null_v(ulimits));
    hc.insert("CpuCount".into(), json!(0));
    hc.insert("CpuPercent".into(), json!(0));
    hc.insert("IOMaximumIOps".into(), json!(0));
    hc.insert("IOMaximumBandwidth".into(), json!(0));
    if !mounts.is_empty() {
        hc.insert("Mounts".into(), json!(mounts));
    }
    if unconfined_paths {
        hc.insert("MaskedPaths".into(), json!([]));
        hc.insert("ReadonlyPaths".into(), json!([]));
    }
    if f.init {
        hc.insert("Init".into(), json!(true));
    }

    let restart_is_none = matches!(restart["Name"].as_str(), Some("" | "no"));
    if f.rm && !restart_is_none {
        return Err(invalid("Conflicting options: --restart and --rm"));
    }

    let endpoints = network_endpoints(f)?;

    let mut body = config;
    body.insert("HostConfig".into(), Value::Object(hc));
    body.insert(
        "NetworkingConfig".into(),
        json!({"EndpointsConfig": Value::Object(endpoints)}),
    );
    let pull = match f.pull.as_str() {
        "missing" => PullPolicy::Missing,
        "always" => PullPolicy::Always,
        "never" => PullPolicy::Never,
        other => {
            return Err(invalid(format!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        )))
        }
    };
    Ok(CreateRequest {
        body: Value::Object(body),
        image,
        name: f.name.clone(),
        platform: f.platform.clone(),
        pull,
        cidfile: f.cidfile.clone(),
    })
}

fn list_or_null_v(v: Vec<Value>) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        Value::Array(v)
    }
}

/// `--detach-keys` (docker's `term.ToBytes`): `ctrl-p,ctrl-q`, `a,b`.
pub(crate) fn detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let lower = key.to_lowercase();
        if let Some(c) = lower.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b'@'] => 0,
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{key}'")),
            };
            out.push(b);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{key}'"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        f: ContainerFlags,
        #[arg(short = 'd')]
        d: bool,
    }

    fn req(args: &[&str]) -> Result<CreateRequest, OptsError> {
        let t = T::try_parse_from(std::iter::once("run").chain(args.iter().copied())).unwrap();
        build(&t.f, t.d)
    }

    fn body(args: &[&str]) -> Value {
        req(args).unwrap().body
    }

    #[test]
    fn minimal_run_sends_docker_defaults() {
        let b = body(&["busybox"]);
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], Value::Null);
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStderr"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(
            b["HostConfig"]["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(b["HostConfig"]["MemorySwappiness"], -1);
        assert_eq!(b["HostConfig"]["Dns"], json!([]));
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let b = body(&["-t", "busybox", "ls", "-l", "--rm"]);
        assert_eq!(b["Cmd"], json!(["ls", "-l", "--rm"]));
        assert_eq!(b["Tty"], true);
        assert_eq!(b["HostConfig"]["AutoRemove"], false);
    }

    #[test]
    fn interactive_attached_sets_stdin_once_and_detach_clears_attach() {
        let b = body(&["-i", "busybox"]);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        let b = body(&["-d", "-i", "busybox"]);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["StdinOnce"], false);
    }

    #[test]
    fn volumes_split_into_binds_and_anonymous_volumes() {
        let b = body(&[
            "-v",
            "/host:/ctr:ro",
            "-v",
            "named:/data:nocopy",
            "-v",
            "/anon",
            "-v",
            "./rel:/x:rshared,Z",
            "busybox",
        ]);
        assert_eq!(
            b["HostConfig"]["Binds"],
            json!(["/host:/ctr:ro", "named:/data:nocopy", "./rel:/x:rshared,Z"])
        );
        assert_eq!(b["Volumes"], json!({"/anon": {}}));
    }

    #[test]
    fn mounts_parse_like_docker() {
        assert_eq!(
            parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rslave").unwrap(),
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rslave"}})
        );
        assert_eq!(
            parse_mount(
                "src=v,dst=/d,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=o=1"
            )
            .unwrap(),
            json!({"Type": "volume", "Source": "v", "Target": "/d",
                   "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                                     "DriverConfig": {"Name": "local", "Options": {"o": "1"}}}})
        );
        assert_eq!(
            parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t",
                   "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 1016}})
        );
        assert_eq!(
            parse_mount("\"type=bind\",\"src=/a,b\",target=/c").unwrap()["Source"],
            "/a,b"
        );
        assert_eq!(
            parse_mount("type=bind,src=/a").unwrap_err(),
            "target is required"
        );
        assert_eq!(
            parse_mount("type=bind,target=/a,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=volume,target=/a,foo=1").unwrap_err(),
            "unexpected key 'foo' in 'foo=1'"
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/a,tmpfs-size=x").unwrap_err(),
            "invalid value for tmpfs-size: x"
        );
        let b = body(&["--mount", "type=bind,src=/a,dst=/b", "busybox"]);
        assert_eq!(
            b["HostConfig"]["Mounts"],
            json!([{"Type": "bind", "Source": "/a", "Target": "/b"}])
        );
    }

    #[test]
    fn devices_parse_like_docker() {
        assert_eq!(
            parse_device("/dev/sda").unwrap(),
            json!({"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"})
        );
        assert_eq!(
            parse_device("/dev/sda:/dev/xvda:r").unwrap(),
            json!({"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"})
        );
        assert_eq!(
            parse_device("/dev/sda:rw").unwrap(),
            json!({"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rw"})
        );
        assert_eq!(
            parse_device("/dev/snd/../sda:/dev/x/./y").unwrap()["PathInContainer"],
            "/dev/x/y"
        );
        assert_eq!(
            parse_device("/dev/a:/b:x").unwrap_err(),
            "bad mode specified: x"
        );
        assert_eq!(
            parse_device("/dev/a:b").unwrap_err(),
            "b is not an absolute path"
        );
        assert_eq!(
            parse_device("a:b:c:d").unwrap_err(),
            "bad format for path: a:b:c:d"
        );
    }

    #[test]
    fn ulimits_parse_like_go_units() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Soft": 1024, "Hard": 2048})
        );
        assert_eq!(
            parse_ulimit("nproc=10").unwrap(),
            json!({"Name": "nproc", "Soft": 10, "Hard": 10})
        );
        assert_eq!(
            parse_ulimit("bogus=1").unwrap_err(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert_eq!(
            parse_ulimit("nofile=10:5").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 10 > 5"
        );
        let e = req(&["--ulimit", "x=1", "busybox"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"x=1\" for \"--ulimit\" flag: invalid ulimit type: x"
        );
    }

    #[test]
    fn publish_specs_parse_like_nat() {
        let (e, b) = parse_publish(&[
            "8080:80".into(),
            "127.0.0.1::53/udp".into(),
            "9000-9001:90-91".into(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(e),
            json!({"80/tcp": {}, "53/udp": {}, "90/tcp": {}, "91/tcp": {}})
        );
        assert_eq!(
            Value::Object(b),
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                   "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                   "90/tcp": [{"HostIp": "", "HostPort": "9000"}],
                   "91/tcp": [{"HostIp": "", "HostPort": "9001"}]})
        );
        let (_, b) = parse_publish(&[
            "published=8080,target=80,protocol=udp".into(),
            "[::1]:81:81".into(),
        ])
        .unwrap();
        assert_eq!(b["80/udp"], json!([{"HostIp": "", "HostPort": "8080"}]));
        assert_eq!(b["81/tcp"], json!([{"HostIp": "::1", "HostPort": "81"}]));
        assert_eq!(
            parse_publish(&["1-3:1-2".into()]).unwrap_err(),
            "Invalid ranges specified for container and host Ports: 1-2 and 1-3"
        );
        assert_eq!(
            parse_publish(&["x:80".into()]).unwrap_err(),
            "Invalid hostPort: x"
        );
        assert_eq!(
            parse_publish(&["::1:80:80".into()]).unwrap_err(),
            "Invalid ip address ::1: address ::1:: too many colons in address"
        );
        assert_eq!(
            parse_publish(&["1.2.3.999:80:80".into()]).unwrap_err(),
            "Invalid ip address: 1.2.3.999"
        );
        assert_eq!(
            parse_publish(&["80/bogus".into()]).unwrap_err(),
            "Invalid proto: bogus"
        );
        assert_eq!(
            parse_publish(&["8080:".into()]).unwrap_err(),
            "No port specified: 8080:<empty>"
        );
        let (_, b) =
            parse_publish(&["8000-8010:80".into(), "90/".into(), "91/UDP".into()]).unwrap();
        assert_eq!(
            b["80/tcp"],
            json!([{"HostIp": "", "HostPort": "8000-8010"}])
        );
        assert_eq!(b["90/tcp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert_eq!(b["91/udp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert_eq!(
            parse_expose("8x").unwrap_err(),
            "invalid range format for --expose: 8x, error: strconv.ParseUint: parsing \"8x\": invalid syntax"
        );
        assert_eq!(
            parse_port_range("70000").unwrap_err(),
            "strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            parse_port_range("+5").unwrap_err(),
            "strconv.ParseUint: parsing \"+5\": invalid syntax"
        );
        assert_eq!(
            parse_port_range("5-3").unwrap_err(),
            "Invalid range specified for the Port: 5-3"
        );
        assert_eq!(
            parse_expose("100-101/udp").unwrap(),
            vec!["100/udp", "101/udp"]
        );
        assert!(parse_expose("1:2").is_err());
        let b = body(&["-p", "80", "--expose", "81", "-P", "busybox"]);
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}, "81/tcp": {}}));
        assert_eq!(b["HostConfig"]["PublishAllPorts"], true);
    }

    #[test]
    fn env_files_follow_docker_syntax() {
        std::env::set_var("CLI_TEST_FROM_HOST", "hv");
        let got = parse_kv_file(
            "\u{feff}# comment\n\n  A=1\nB= spaced \nCLI_TEST_FROM_HOST\nCLI_TEST_UNSET_X\nC=\n",
            "f",
            true,
        )
        .unwrap();
        assert_eq!(
            got,
            vec!["A=1", "B= spaced ", "CLI_TEST_FROM_HOST=hv", "C="]
        );
        assert_eq!(
            parse_kv_file("BAD KEY=1\n", "f", true)
                .unwrap_err()
                .to_string(),
            "variable 'BAD KEY' contains whitespaces"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("env");
        std::fs::write(&p, "X=1\n").unwrap();
        let b = body(&[
            "--env-file",
            p.to_str().unwrap(),
            "-e",
            "Y=2",
            "-e",
            "CLI_TEST_FROM_HOST",
            "busybox",
        ]);
        assert_eq!(b["Env"], json!(["X=1", "Y=2", "CLI_TEST_FROM_HOST=hv"]));
        let e = req(&["--env-file", "/nonexistent/env", "busybox"]).unwrap_err();
        assert!(e.to_string().starts_with("open /nonexistent/env: "), "{e}");
    }

    #[test]
    fn labels_from_flags_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels");
        std::fs::write(&p, "a=1\n# x\nb\n").unwrap();
        let b = body(&["--label-file", p.to_str().unwrap(), "-l", "c=3", "busybox"]);
        assert_eq!(b["Labels"], json!({"a": "1", "b": "", "c": "3"}));
    }

    #[test]
    fn sizes_cpus_and_durations_in_the_body() {
        let b = body(&[
            "-m",
            "512m",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "1g",
            "--kernel-memory",
            "50m",
            "--shm-size",
            "64m",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpuset-cpus",
            "0-1",
            "--pids-limit",
            "-1",
            "--blkio-weight",
            "300",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--oom-score-adj",
            "-500",
            "--health-cmd",
            "true",
            "--health-interval",
            "1m30s",
            "--health-retries",
            "3",
            "busybox",
        ]);
        let hc = &b["HostConfig"];
        assert_eq!(hc["Memory"], 536870912);
        assert_eq!(hc["MemorySwap"], -1);
        assert_eq!(hc["MemoryReservation"], 1073741824);
        assert_eq!(hc["KernelMemory"], 52428800);
        assert_eq!(hc["ShmSize"], 67108864);
        assert_eq!(hc["NanoCpus"], 1_500_000_000);
        assert_eq!(hc["CpuShares"], 512);
        assert_eq!(hc["CpuPeriod"], 100000);
        assert_eq!(hc["CpuQuota"], 50000);
        assert_eq!(hc["CpusetCpus"], "0-1");
        assert_eq!(hc["PidsLimit"], -1);
        assert_eq!(hc["BlkioWeight"], 300);
        assert_eq!(hc["MemorySwappiness"], 10);
        assert_eq!(hc["OomKillDisable"], true);
        assert_eq!(hc["OomScoreAdj"], -500);
        assert_eq!(
            b["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64, "Retries": 3})
        );
        let e = req(&["-m", "lots", "busybox"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert!(req(&["--memory-swappiness", "101", "busybox"]).is_err());
        assert!(req(&["--no-healthcheck", "--health-cmd", "x", "busybox"]).is_err());
        assert_eq!(
            body(&["--no-healthcheck", "busybox"])["Healthcheck"],
            json!({"Test": ["NONE"]})
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("always").unwrap(),
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert_eq!(
            parse_restart("on-failure:5").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 5})
        );
        assert_eq!(
            parse_restart("on-failure:x").unwrap_err(),
            "maximum retry count must be an integer"
        );
        assert_eq!(
            parse_restart("a:b:c").unwrap_err(),
            "invalid restart policy format"
        );
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(
            req(&["--rm", "--restart", "always", "busybox"])
                .unwrap_err()
                .to_string(),
            "Conflicting options: --restart and --rm"
        );
    }

    #[test]
    fn security_opts_inline_seccomp_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prof.json");
        std::fs::write(
            &p,
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"names\": [\"a b\"]\n}\n",
        )
        .unwrap();
        let (opts, unconfined) = parse_security_opts(&[
            "no-new-privileges".into(),
            format!("seccomp={}", p.display()),
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
            "label:disable".into(),
            "systempaths=unconfined".into(),
        ])
        .unwrap();
        assert_eq!(
            opts,
            vec![
                "no-new-privileges".to_string(),
                "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"names\":[\"a b\"]}".into(),
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
                "label:disable".into(),
            ]
        );
        assert!(unconfined);
        assert_eq!(
            parse_security_opts(&["bogus".into()])
                .unwrap_err()
                .to_string(),
            "Invalid --security-opt: \"bogus\""
        );
        let e = parse_security_opts(&["seccomp=/nonexistent.json".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: no such file or directory"
        );
        let b = body(&["--security-opt", "systempaths=unconfined", "busybox"]);
        assert_eq!(b["HostConfig"]["MaskedPaths"], json!([]));
        assert_eq!(b["HostConfig"]["SecurityOpt"], Value::Null);
    }

    #[test]
    fn misc_host_config_fields() {
        let b = body(&[
            "--entrypoint",
            "",
            "--name",
            "n",
            "--init",
            "--read-only",
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--group-add",
            "audio",
            "--ipc",
            "host",
            "--pid",
            "host",
            "--uts",
            "host",
            "--cgroupns",
            "private",
            "-h",
            "box",
            "--domainname",
            "d",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "--tmpfs",
            "/run:size=1m",
            "--tmpfs",
            "/tmp",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--device-cgroup-rule",
            "c 1:3 rwm",
            "--cidenv",
            "CID",
            "--volumes-from",
            "other:ro",
            "--cgroup-parent",
            "p",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "x",
            "--dns-option",
            "ndots:1",
            "--add-host",
            "h:1.2.3.4",
            "--link",
            "a:b",
            "--runtime",
            "runc",
            "--isolation",
            "default",
            "-w",
            "/w",
            "-u",
            "1:2",
            "busybox",
            "sh",
        ]);
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["Hostname"], "box");
        assert_eq!(b["Domainname"], "d");
        assert_eq!(b["StopSignal"], "SIGINT");
        assert_eq!(b["StopTimeout"], 5);
        assert_eq!(b["WorkingDir"], "/w");
        assert_eq!(b["User"], "1:2");
        let hc = &b["HostConfig"];
        assert_eq!(hc["Init"], true);
        assert_eq!(hc["ReadonlyRootfs"], true);
        assert_eq!(hc["Privileged"], true);
        assert_eq!(hc["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(hc["CapDrop"], json!(["ALL"]));
        assert_eq!(hc["GroupAdd"], json!(["audio"]));
        assert_eq!(hc["IpcMode"], "host");
        assert_eq!(hc["PidMode"], "host");
        assert_eq!(hc["UTSMode"], "host");
        assert_eq!(hc["CgroupnsMode"], "private");
        assert_eq!(
            hc["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "1m"}})
        );
        assert_eq!(hc["Tmpfs"], json!({"/run": "size=1m", "/tmp": ""}));
        assert_eq!(hc["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(hc["DeviceCgroupRules"], json!(["c 1:3 rwm"]));
        assert_eq!(hc["ContainerIDEnv"], "CID");
        assert_eq!(hc["VolumesFrom"], json!(["other:ro"]));
        assert_eq!(hc["CgroupParent"], "p");
        assert_eq!(hc["Dns"], json!(["1.1.1.1"]));
        assert_eq!(hc["DnsSearch"], json!(["x"]));
        assert_eq!(hc["DnsOptions"], json!(["ndots:1"]));
        assert_eq!(hc["ExtraHosts"], json!(["h:1.2.3.4"]));
        assert_eq!(hc["Links"], json!(["a:b"]));
        assert_eq!(hc["Runtime"], "runc");
        assert_eq!(hc["Isolation"], "default");
        assert!(req(&["--sysctl", "kernel.hostname=x", "busybox"]).is_err());
        assert!(req(&["--device-cgroup-rule", "x", "busybox"]).is_err());
        assert!(req(&["--pid", "bogus", "busybox"]).is_err());
        assert!(req(&["--dns", "nope", "busybox"]).is_err());
        assert!(req(&["--mac-address", "zz", "busybox"]).is_err());
    }

    #[test]
    fn networks_and_aliases() {
        let b = body(&[
            "--network",
            "mynet",
            "--network-alias",
            "web",
            "--ip",
            "10.0.0.2",
            "busybox",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "mynet");
        // The whole EndpointSettings, as Go encodes it.
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"],
            json!({"mynet": {
                "IPAMConfig": {"IPv4Address": "10.0.0.2"}, "Links": null, "Aliases": ["web"],
                "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null}})
        );
        let b = body(&["--net", "host", "busybox"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "host");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({}));
        assert_eq!(
            req(&["--network", "host", "--network-alias", "x", "busybox"])
                .unwrap_err()
                .to_string(),
            "network-scoped aliases are only supported for user-defined networks"
        );
    }

    #[test]
    fn a_lone_network_without_settings_sends_no_endpoint() {
        let b = body(&["--network", "mynet", "busybox"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "mynet");
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
        // Without --network, the network flags have nowhere to go (docker
        // 20.10 drops them); links stay in HostConfig.
        let b = body(&[
            "--network-alias",
            "a",
            "--ip",
            "172.17.0.9",
            "--link",
            "db",
            "busybox",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
        assert_eq!(b["HostConfig"]["Links"], json!(["db"]));
    }

    #[test]
    fn links_and_static_addresses_go_on_the_first_network() {
        let b = body(&[
            "--network",
            "mynet",
            "--link",
            "db:database",
            "--ip6",
            "fd00::9",
            "--link-local-ip",
            "169.254.1.1",
            "busybox",
        ]);
        let ep = &b["NetworkingConfig"]["EndpointsConfig"]["mynet"];
        assert_eq!(ep["Links"], json!(["db:database"]));
        assert_eq!(ep["Aliases"], Value::Null);
        assert_eq!(
            ep["IPAMConfig"],
            json!({"IPv6Address": "fd00::9", "LinkLocalIPs": ["169.254.1.1"]})
        );
        assert_eq!(b["HostConfig"]["Links"], json!(["db:database"]));
        // On the default bridge, --ip is the daemon's to refuse; links and
        // aliases are refused here, as docker does.
        let b = body(&["--network", "bridge", "--ip", "172.17.0.9", "busybox"]);
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["bridge"]["IPAMConfig"],
            json!({"IPv4Address": "172.17.0.9"})
        );
        assert_eq!(
            req(&["--network", "bridge", "--link", "db", "busybox"])
                .unwrap_err()
                .to_string(),
            "links are only supported for user-defined networks"
        );
        assert_eq!(
            req(&["--link", "a:b:c", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        );
    }

    #[test]
    fn mac_address_goes_in_config_for_api_1_41() {
        let b = body(&[
            "--network",
            "mynet",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "busybox",
        ]);
        assert_eq!(b["MacAddress"], "92:d0:c6:0a:29:33");
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
    }

    #[test]
    fn several_networks_are_all_sent_for_the_daemon_to_judge() {
        let b = body(&["--network", "n1", "--network", "n2", "busybox"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "n1");
        let eps = b["NetworkingConfig"]["EndpointsConfig"]
            .as_object()
            .unwrap();
        assert_eq!(eps.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(eps["n2"]["Aliases"], Value::Null);
        assert_eq!(
            req(&["--network", "n1", "--network", "n1", "busybox"])
                .unwrap_err()
                .to_string(),
            "network \"n1\" is specified multiple times"
        );
        assert_eq!(
            req(&["--network", "n1", "--network", "bridge", "busybox"])
                .unwrap_err()
                .to_string(),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
    }

    #[test]
    fn long_network_syntax_parses_like_networkopt() {
        let b = body(&[
            "--network",
            "name=MyNet,alias=Web,alias=w2,ip=10.1.0.5,driver-opt=k=V",
            "busybox",
        ]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "mynet");
        let ep = &b["NetworkingConfig"]["EndpointsConfig"]["mynet"];
        assert_eq!(ep["Aliases"], json!(["web", "w2"]));
        assert_eq!(ep["IPAMConfig"], json!({"IPv4Address": "10.1.0.5"}));
        assert_eq!(ep["DriverOpts"], json!({"k": "v"}));
        assert_eq!(
            req(&[
                "--network",
                "name=n,alias=a",
                "--network-alias",
                "b",
                "busybox"
            ])
            .unwrap_err()
            .to_string(),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        assert_eq!(
            req(&["--network", "name=n,foo=bar", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"name=n,foo=bar\" for \"--network\" flag: invalid field key foo"
        );
        assert_eq!(
            req(&["--network", "alias=a", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"alias=a\" for \"--network\" flag: network name/id is not specified"
        );
        // container:<id> and plain names are not the long syntax.
        assert_eq!(
            body(&["--network", "container:abc", "busybox"])["HostConfig"]["NetworkMode"],
            "container:abc"
        );
        assert!(!is_long_network_syntax("my-net"));
        assert!(is_long_network_syntax("x,name=a"));
    }

    #[test]
    fn dns_flags_are_checked_and_normalized_like_docker() {
        let b = body(&[
            "--dns",
            " 1.1.1.1",
            "--dns",
            "::ffff:8.8.8.8",
            "--dns",
            "fd00:0::1",
            "--dns-search",
            "example.com",
            "--dns-search",
            ".",
            "busybox",
        ]);
        assert_eq!(
            b["HostConfig"]["Dns"],
            json!(["1.1.1.1", "8.8.8.8", "fd00::1"])
        );
        assert_eq!(b["HostConfig"]["DnsSearch"], json!(["example.com", "."]));
        assert_eq!(
            req(&["--dns", "one", "busybox"]).unwrap_err().to_string(),
            "invalid argument \"one\" for \"--dns\" flag: one is not an ip address"
        );
        assert_eq!(
            req(&["--dns-search", "-bad.com", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"-bad.com\" for \"--dns-search\" flag: -bad.com is not a valid domain"
        );
        assert!(validate_dns_search("123").is_err());
        assert!(validate_dns_search("a..b").is_err());
        assert!(validate_dns_search("sub-1.example.org").is_ok());
    }

    #[test]
    fn add_host_errors_follow_docker() {
        assert_eq!(
            req(&["--add-host", "nohost", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"nohost\" for \"--add-host\" flag: bad format for add-host: \"nohost\""
        );
        assert_eq!(
            req(&["--add-host", "h:999.1.1.1", "busybox"])
                .unwrap_err()
                .to_string(),
            "invalid argument \"h:999.1.1.1\" for \"--add-host\" flag: invalid IP address in add-host: \"999.1.1.1\""
        );
        let b = body(&[
            "--add-host",
            "h:host-gateway",
            "--add-host",
            "v6:::1",
            "busybox",
        ]);
        assert_eq!(
            b["HostConfig"]["ExtraHosts"],
            json!(["h:host-gateway", "v6:::1"])
        );
    }

    #[test]
    fn unknown_flags_before_the_image_are_refused() {
        assert_eq!(
            req(&["--bogus", "bb"]).unwrap_err().to_string(),
            "unknown flag: --bogus"
        );
    }

    #[test]
    fn pull_policy_and_attach_streams() {
        assert_eq!(
            req(&["--pull", "never", "busybox"]).unwrap().pull,
            PullPolicy::Never
        );
        assert!(req(&["--pull", "sometimes", "busybox"]).is_err());
        let b = body(&["-a", "STDERR", "busybox"]);
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["AttachStderr"], true);
        assert!(req(&["-a", "bogus", "busybox"]).is_err());
    }

    #[test]
    fn detach_keys_parse_like_term_to_bytes() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(detach_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(detach_keys("ctrl-1").is_err());
        assert!(detach_keys("ab").is_err());
    }
}
