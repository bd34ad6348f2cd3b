//! The daemon's configuration: dockerd's flags, daemon.json, and the
//! merge of both, validated before anything starts.
//!
//! As in dockerd: a key in daemon.json that matches no option is an error,
//! and so is an option given both as a flag and in the file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

pub const DEFAULT_SOCKET: &str = "/var/run/balena-engine.sock";
pub const DEFAULT_PIDFILE: &str = "/var/run/balena-engine.pid";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/balena-engine";
pub const DEFAULT_EXEC_ROOT: &str = "/var/run/balena-engine";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/balena-engine/daemon.json";
pub const DEFAULT_GROUP: &str = "balena-engine";

/// Errors in the daemon's configuration; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Flags(String),
    #[error("unable to configure the balena-engine daemon with file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("the following directives don't match any configuration option: {0}")]
    UnknownKeys(String),
    #[error(
        "the following directives are specified both as a flag and in the configuration file: {0}"
    )]
    Conflicts(String),
    #[error("{0}")]
    Invalid(String),
}

/// `balena-engine-daemon` flags: dockerd's, as a device uses them.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "balena-engine-daemon",
    about = "A self-sufficient runtime for containers.",
    disable_version_flag = true
)]
pub struct Flags {
    /// Daemon socket(s) to connect to (unix://PATH, fd://[N], tcp://HOST:PORT)
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub hosts: Vec<String>,
    /// Root directory of persistent balenaEngine state
    #[arg(long, value_name = "string")]
    pub data_root: Option<PathBuf>,
    /// Deprecated alias of --data-root
    #[arg(short = 'g', long = "graph", hide = true, value_name = "string")]
    pub graph: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long, value_name = "string")]
    pub exec_root: Option<PathBuf>,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long, value_name = "string")]
    pub pidfile: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long, value_name = "string")]
    pub config_file: Option<PathBuf>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long, value_name = "string")]
    pub log_level: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub debug: Option<bool>,
    /// Enable experimental features
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub experimental: Option<bool>,
    /// Storage driver to use
    #[arg(short = 's', long, value_name = "string")]
    pub storage_driver: Option<String>,
    /// Storage driver options
    #[arg(long = "storage-opt", value_name = "list")]
    pub storage_opts: Vec<String>,
    /// Root directory of read-only balenaEngine state used for deltas
    #[arg(long, value_name = "string")]
    pub delta_data_root: Option<PathBuf>,
    /// Storage driver of the delta data root
    #[arg(long, value_name = "string")]
    pub delta_storage_driver: Option<String>,
    /// Storage driver options of the delta data root
    #[arg(long = "delta-storage-opt", value_name = "list")]
    pub delta_storage_opts: Vec<String>,
    /// Default driver for container logs
    #[arg(long, value_name = "string")]
    pub log_driver: Option<String>,
    /// Default log driver options for containers
    #[arg(long = "log-opt", value_name = "map")]
    pub log_opts: Vec<String>,
    /// Specify network bridge IP
    #[arg(long, value_name = "string")]
    pub bip: Option<String>,
    /// Attach containers to a network bridge
    #[arg(short = 'b', long, value_name = "string")]
    pub bridge: Option<String>,
    /// IPv4 subnet for fixed IPs
    #[arg(long, value_name = "string")]
    pub fixed_cidr: Option<String>,
    /// Set the containers network MTU
    #[arg(long, value_name = "int")]
    pub mtu: Option<i64>,
    /// Enable addition of iptables rules
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub iptables: Option<bool>,
    /// Enable net.ipv4.ip_forward
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub ip_forward: Option<bool>,
    /// Enable IP masquerading
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub ip_masq: Option<bool>,
    /// Enable inter-container communication
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub icc: Option<bool>,
    /// Use userland proxy for loopback traffic
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub userland_proxy: Option<bool>,
    /// Set the max concurrent downloads for each pull
    #[arg(long, value_name = "int", allow_negative_numbers = true)]
    pub max_concurrent_downloads: Option<i64>,
    /// Set the max concurrent uploads for each push
    #[arg(long, value_name = "int", allow_negative_numbers = true)]
    pub max_concurrent_uploads: Option<i64>,
    /// Set the max download attempts for each pull
    #[arg(long, value_name = "int", allow_negative_numbers = true)]
    pub max_download_attempts: Option<i64>,
    /// Group for the unix socket
    #[arg(short = 'G', long, value_name = "string")]
    pub group: Option<String>,
    /// Enable insecure registry communication
    #[arg(long = "insecure-registry", value_name = "list")]
    pub insecure_registries: Vec<String>,
    /// Preferred Docker registry mirror
    #[arg(long = "registry-mirror", value_name = "list")]
    pub registry_mirrors: Vec<String>,
    /// Set key=value labels to the daemon
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Enable live restore of containers when the daemon stops
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub live_restore: Option<bool>,
    /// DNS server to use
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// DNS options to use
    #[arg(long = "dns-opt", value_name = "list")]
    pub dns_opts: Vec<String>,
    /// DNS search domains to use
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Path to seccomp profile
    #[arg(long, value_name = "string")]
    pub seccomp_profile: Option<PathBuf>,
    /// Set no-new-privileges by default for new containers
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub no_new_privileges: Option<bool>,
    /// Set the default shutdown timeout
    #[arg(long, value_name = "int", allow_negative_numbers = true)]
    pub shutdown_timeout: Option<i64>,
    /// Print version information and quit
    #[arg(short = 'v', long, action = ArgAction::SetTrue)]
    pub version: bool,
}

/// Flag id (clap's field name) → daemon.json key, for conflict checks.
const FLAG_KEYS: &[(&str, &str)] = &[
    ("hosts", "hosts"),
    ("data_root", "data-root"),
    ("graph", "graph"),
    ("exec_root", "exec-root"),
    ("pidfile", "pidfile"),
    ("log_level", "log-level"),
    ("debug", "debug"),
    ("experimental", "experimental"),
    ("storage_driver", "storage-driver"),
    ("storage_opts", "storage-opts"),
    ("delta_data_root", "delta-data-root"),
    ("delta_storage_driver", "delta-storage-driver"),
    ("delta_storage_opts", "delta-storage-opts"),
    ("log_driver", "log-driver"),
    ("log_opts", "log-opts"),
    ("bip", "bip"),
    ("bridge", "bridge"),
    ("fixed_cidr", "fixed-cidr"),
    ("mtu", "mtu"),
    ("iptables", "iptables"),
    ("ip_forward", "ip-forward"),
    ("ip_masq", "ip-masq"),
    ("icc", "icc"),
    ("userland_proxy", "userland-proxy"),
    ("max_concurrent_downloads", "max-concurrent-downloads"),
    ("max_concurrent_uploads", "max-concurrent-uploads"),
    ("max_download_attempts", "max-download-attempts"),
    ("group", "group"),
    ("insecure_registries", "insecure-registries"),
    ("registry_mirrors", "registry-mirrors"),
    ("labels", "labels"),
    ("live_restore", "live-restore"),
    ("dns", "dns"),
    ("dns_opts", "dns-opts"),
    ("dns_search", "dns-search"),
    ("seccomp_profile", "seccomp-profile"),
    ("no_new_privileges", "no-new-privileges"),
    ("shutdown_timeout", "shutdown-timeout"),
];

/// Every top-level key dockerd 20.10 (balenaEngine) accepts in daemon.json.
/// Keys of features left out on purpose (swarm, plugins, TLS on tcp, ...)
/// are accepted and ignored, so an existing daemon.json keeps working.
const KNOWN_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip",
    "bridge",
    "builder",
    "cgroup-parent",
    "cluster-advertise",
    "cluster-store",
    "cluster-store-opts",
    "containerd",
    "containerd-namespace",
    "containerd-plugin-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cri-containerd",
    "data-root",
    "debug",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-runtime",
    "default-shm-size",
    "default-ulimits",
    "delta-data-root",
    "delta-storage-driver",
    "delta-storage-opts",
    "deprecated-key-path",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "exec-root",
    "experimental",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "graph",
    "group",
    "host-gateway-ip",
    "hosts",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "labels",
    "live-restore",
    "log-driver",
    "log-level",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "max-upload-attempts",
    "metrics-addr",
    "mtu",
    "network-control-plane-mtu",
    "network-diagnostic-port",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "pidfile",
    "raw-logs",
    "registry-mirrors",
    "resolv-conf",
    "rootless",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "swarm-raft-election-tick",
    "swarm-raft-heartbeat-tick",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
];

/// The daemon.json keys we act on, typed. Known keys not listed here are
/// accepted (see [`KNOWN_KEYS`]) and ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct FileConfig {
    hosts: Option<Vec<String>>,
    data_root: Option<PathBuf>,
    graph: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    log_level: Option<String>,
    debug: Option<bool>,
    experimental: Option<bool>,
    storage_driver: Option<String>,
    storage_opts: Option<Vec<String>>,
    delta_data_root: Option<PathBuf>,
    delta_storage_driver: Option<String>,
    delta_storage_opts: Option<Vec<String>>,
    log_driver: Option<String>,
    log_opts: Option<BTreeMap<String, String>>,
    bip: Option<String>,
    bridge: Option<String>,
    fixed_cidr: Option<String>,
    mtu: Option<i64>,
    iptables: Option<bool>,
    ip_forward: Option<bool>,
    ip_masq: Option<bool>,
    icc: Option<bool>,
    userland_proxy: Option<bool>,
    max_concurrent_downloads: Option<i64>,
    max_concurrent_uploads: Option<i64>,
    max_download_attempts: Option<i64>,
    group: Option<String>,
    insecure_registries: Option<Vec<String>>,
    registry_mirrors: Option<Vec<String>>,
    labels: Option<Vec<String>>,
    live_restore: Option<bool>,
    dns: Option<Vec<String>>,
    dns_opts: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    seccomp_profile: Option<PathBuf>,
    no_new_privileges: Option<bool>,
    shutdown_timeout: Option<i64>,
    default_runtime: Option<String>,
    init_path: Option<String>,
}

/// A host the API is served on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// systemd socket activation; `None` takes every passed socket.
    Fd(Option<i32>),
    Tcp(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Fd(None) => write!(f, "fd://"),
            Host::Fd(Some(n)) => write!(f, "fd://{n}"),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Parses a `-H` value the way dockerd does (`opts.ParseHost`).
pub fn parse_host(s: &str) -> Result<Host, ConfigError> {
    let s = s.trim();
    let bad = || ConfigError::Invalid(format!("Invalid bind address format: {s}"));
    if s.is_empty() {
        return Ok(Host::Unix(PathBuf::from(DEFAULT_SOCKET)));
    }
    if let Some(p) = s.strip_prefix("unix://") {
        return Ok(Host::Unix(PathBuf::from(if p.is_empty() {
            DEFAULT_SOCKET
        } else {
            p
        })));
    }
    if let Some(n) = s.strip_prefix("fd://") {
        if n.is_empty() {
            return Ok(Host::Fd(None));
        }
        return n
            .parse::<i32>()
            .map(|n| Host::Fd(Some(n)))
            .map_err(|_| bad());
    }
    if let Some(a) = s.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        let addr = if a.is_empty() {
            "127.0.0.1:2375".to_string()
        } else if a.starts_with('[') || a.matches(':').count() == 1 {
            if a.ends_with(':') {
                format!("{a}2375")
            } else if a.starts_with('[') && a.ends_with(']') {
                format!("{a}:2375")
            } else {
                a.to_string()
            }
        } else if !a.contains(':') {
            format!("{a}:2375")
        } else {
            return Err(bad());
        };
        let addr = if addr.starts_with(':') {
            format!("127.0.0.1{addr}")
        } else {
            addr
        };
        return Ok(Host::Tcp(addr));
    }
    if s.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(s)));
    }
    Err(bad())
}

/// The merged, validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub hosts: Vec<Host>,
    pub pidfile: PathBuf,
    pub group: String,
    /// True when the group was chosen explicitly (then it must exist).
    pub group_explicit: bool,
    pub log_level: tracing::Level,
    pub engine: engine::EngineConfig,
    pub dns: Vec<String>,
    pub dns_opts: Vec<String>,
    pub dns_search: Vec<String>,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<DaemonConfig>),
    Help(String),
    Version,
}

/// Parses the command line (without argv[0]) and daemon.json.
pub fn load(args: &[String]) -> Result<Invocation, ConfigError> {
    let mut cmd = Flags::command();
    let matches = match cmd.try_get_matches_from_mut(
        std::iter::once("balena-engine-daemon".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Invocation::Help(e.render().to_string()))
        }
        Err(e) => {
            return Err(ConfigError::Flags(
                e.render().to_string().trim().to_string(),
            ))
        }
    };
    let flags = Flags::from_arg_matches(&matches)
        .map_err(|e| ConfigError::Flags(e.render().to_string().trim().to_string()))?;
    if flags.version {
        return Ok(Invocation::Version);
    }
    let set_on_command_line: Vec<&str> = FLAG_KEYS
        .iter()
        .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|(_, key)| *key)
        .collect();

    let (config_path, explicit) = match &flags.config_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let file = match std::fs::read(&config_path) {
        Ok(bytes) => Some(parse_file(&config_path, &bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
        Err(e) => {
            return Err(ConfigError::File {
                path: config_path,
                reason: e.to_string(),
            })
        }
    };
    let (file_map, file) = match file {
        Some((m, f)) => (m, f),
        None => (serde_json::Map::new(), FileConfig::default()),
    };
    check_conflicts(&flags, &set_on_command_line, &file_map)?;
    merge(flags, file).map(|c| Invocation::Run(Box::new(c)))
}

fn parse_file(
    path: &Path,
    bytes: &[u8],
) -> Result<(serde_json::Map<String, serde_json::Value>, FileConfig), ConfigError> {
    let file_err = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    // An empty file is no configuration, as in dockerd.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((serde_json::Map::new(), FileConfig::default()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| file_err(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(file_err("the file must hold a JSON object".to_string()));
    };
    let mut unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys(unknown.join(", ")));
    }
    let typed: FileConfig = serde_json::from_value(serde_json::Value::Object(map.clone()))
        .map_err(|e| file_err(e.to_string()))?;
    Ok((map, typed))
}

fn flag_value_text(flags: &Flags, key: &str) -> String {
    fn list(v: &[String]) -> String {
        format!("[{}]", v.join(" "))
    }
    fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map(|x| x.to_string()).unwrap_or_default()
    }
    fn path(v: &Option<PathBuf>) -> String {
        v.as_ref()
            .map(|x| x.display().to_string())
            .unwrap_or_default()
    }
    match key {
        "hosts" => list(&flags.hosts),
        "data-root" => path(&flags.data_root),
        "graph" => path(&flags.graph),
        "exec-root" => path(&flags.exec_root),
        "pidfile" => path(&flags.pidfile),
        "log-level" => opt(&flags.log_level),
        "debug" => opt(&flags.debug),
        "experimental" => opt(&flags.experimental),
        "storage-driver" => opt(&flags.storage_driver),
        "storage-opts" => list(&flags.storage_opts),
        "delta-data-root" => path(&flags.delta_data_root),
        "delta-storage-driver" => opt(&flags.delta_storage_driver),
        "delta-storage-opts" => list(&flags.delta_storage_opts),
        "log-driver" => opt(&flags.log_driver),
        "log-opts" => list(&flags.log_opts),
        "bip" => opt(&flags.bip),
        "bridge" => opt(&flags.bridge),
        "fixed-cidr" => opt(&flags.fixed_cidr),
        "mtu" => opt(&flags.mtu),
        "iptables" => opt(&flags.iptables),
        "ip-forward" => opt(&flags.ip_forward),
        "ip-masq" => opt(&flags.ip_masq),
        "icc" => opt(&flags.icc),
        "userland-proxy" => opt(&flags.userland_proxy),
        "max-concurrent-downloads" => opt(&flags.max_concurrent_downloads),
        "max-concurrent-uploads" => opt(&flags.max_concurrent_uploads),
        "max-download-attempts" => opt(&flags.max_download_attempts),
        "group" => opt(&flags.group),
        "insecure-registries" => list(&flags.insecure_registries),
        "registry-mirrors" => list(&flags.registry_mirrors),
        "labels" => list(&flags.labels),
        "live-restore" => opt(&flags.live_restore),
        "dns" => list(&flags.dns),
        "dns-opts" => list(&flags.dns_opts),
        "dns-search" => list(&flags.dns_search),
        "seccomp-profile" => path(&flags.seccomp_profile),
        "no-new-privileges" => opt(&flags.no_new_privileges),
        "shutdown-timeout" => opt(&flags.shutdown_timeout),
        _ => String::new(),
    }
}

fn file_value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(file_value_text).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

fn check_conflicts(
    flags: &Flags,
    set: &[&str],
    file: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ConfigError> {
    let conflicts: Vec<String> = set
        .iter()
        .filter_map(|key| {
            let fv = file.get(*key)?;
            Some(format!(
                "{key}: (from flag: {}, from file: {})",
                flag_value_text(flags, key),
                file_value_text(fv)
            ))
        })
        .collect();
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Conflicts(conflicts.join(", ")))
    }
}

fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

fn pick_list(flag: Vec<String>, file: Option<Vec<String>>) -> Vec<String> {
    if flag.is_empty() {
        file.unwrap_or_default()
    } else {
        flag
    }
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// `key=value` list → map; dockerd refuses entries without `=`.
fn parse_map(items: &[String], what: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(invalid(format!(
                "invalid {what}: {i:?} (expected key=value)"
            ))),
        })
        .collect()
}

fn parse_log_level(s: &str) -> Result<tracing::Level, ConfigError> {
    match s {
        "debug" | "trace" => Ok(tracing::Level::DEBUG),
        "info" => Ok(tracing::Level::INFO),
        "warn" | "warning" => Ok(tracing::Level::WARN),
        "error" | "fatal" | "panic" => Ok(tracing::Level::ERROR),
        other => Err(invalid(format!("unable to parse logging level: {other}"))),
    }
}

/// The log options each driver understands (Docker's lists).
/// The default log driver and options, checked by the log drivers
/// themselves, so the daemon refuses at start exactly what container
/// creation would refuse later.
fn check_log_opts(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    logger::validate(driver, opts)
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

fn parse_ipv4_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

fn merge(flags: Flags, file: FileConfig) -> Result<DaemonConfig, ConfigError> {
    let defaults = engine::EngineConfig::default();
    let host_texts = pick_list(flags.hosts, file.hosts);
    let hosts = if host_texts.is_empty() {
        vec![Host::Unix(PathBuf::from(DEFAULT_SOCKET))]
    } else {
        host_texts
            .iter()
            .map(|h| parse_host(h))
            .collect::<Result<Vec<_>, _>>()?
    };

    let debug = pick(flags.debug, file.debug, false);
    let log_level = match flags.log_level.or(file.log_level) {
        Some(l) => parse_log_level(&l)?,
        None if debug => tracing::Level::DEBUG,
        None => tracing::Level::INFO,
    };

    let data_root = flags
        .data_root
        .or(flags.graph)
        .or(file.data_root)
        .or(file.graph)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT));
    let exec_root = pick(
        flags.exec_root,
        file.exec_root,
        PathBuf::from(DEFAULT_EXEC_ROOT),
    );
    for (name, p) in [("data-root", &data_root), ("exec-root", &exec_root)] {
        if !p.is_absolute() {
            return Err(invalid(format!(
                "{name} must be an absolute path: {}",
                p.display()
            )));
        }
    }

    let storage_driver = pick(flags.storage_driver, file.storage_driver, String::new());
    let storage_driver = match storage_driver.as_str() {
        "" | "overlay2" => "overlay2".to_string(),
        "vfs" => "vfs".to_string(),
        other => {
            return Err(invalid(format!(
                "error initializing graphdriver: driver not supported: {other} (supported: overlay2, vfs)"
            )))
        }
    };
    let delta_data_root = flags.delta_data_root.or(file.delta_data_root);
    let delta_storage_driver = flags.delta_storage_driver.or(file.delta_storage_driver);
    if let Some(d) = &delta_storage_driver {
        if !matches!(d.as_str(), "overlay2" | "vfs") {
            return Err(invalid(format!(
                "error initializing delta graphdriver: driver not supported: {d} (supported: overlay2, vfs)"
            )));
        }
    }
    if let Some(p) = &delta_data_root {
        if !p.is_absolute() {
            return Err(invalid(format!(
                "delta-data-root must be an absolute path: {}",
                p.display()
            )));
        }
    }

    let log_driver = pick(
        flags.log_driver,
        file.log_driver,
        defaults.log_driver.clone(),
    );
    let log_opts = if flags.log_opts.is_empty() {
        file.log_opts.unwrap_or_default()
    } else {
        parse_map(&flags.log_opts, "log-opt")?
    };
    check_log_opts(&log_driver, &log_opts)?;

    let bip = flags.bip.or(file.bip);
    if let Some(b) = &bip {
        parse_ipv4_cidr(b).ok_or_else(|| {
            invalid(format!(
                "invalid bip: {b:?} (expected an IPv4 address with prefix, such as 172.17.0.1/16)"
            ))
        })?;
    }
    let fixed_cidr = flags.fixed_cidr.or(file.fixed_cidr);
    if let Some(c) = &fixed_cidr {
        parse_ipv4_cidr(c).ok_or_else(|| invalid(format!("invalid fixed-cidr: {c:?}")))?;
    }
    let mtu = flags.mtu.or(file.mtu);
    if let Some(m) = mtu {
        if !(0..=65535).contains(&m) {
            return Err(invalid(format!("invalid mtu: {m}")));
        }
    }
    let iptables = pick(flags.iptables, file.iptables, true);
    let ip_masq = pick(flags.ip_masq, file.ip_masq, true);
    if ip_masq && !iptables && (flags.ip_masq.is_some() || file.ip_masq.is_some()) {
        return Err(invalid(
            "You specified --iptables=false with --ip-masq=true flag",
        ));
    }

    let mcd = pick(
        flags.max_concurrent_downloads,
        file.max_concurrent_downloads,
        3,
    );
    if mcd < 0 {
        return Err(invalid(format!("invalid max concurrent downloads: {mcd}")));
    }
    let mcu = pick(flags.max_concurrent_uploads, file.max_concurrent_uploads, 5);
    if mcu < 0 {
        return Err(invalid(format!("invalid max concurrent uploads: {mcu}")));
    }
    let mda = pick(flags.max_download_attempts, file.max_download_attempts, 5);
    if mda <= 0 {
        return Err(invalid(format!("invalid max download attempts: {mda}")));
    }
    let shutdown_timeout = pick(flags.shutdown_timeout, file.shutdown_timeout, 15);
    if shutdown_timeout < 0 {
        return Err(invalid(format!(
            "invalid shutdown timeout: {shutdown_timeout}"
        )));
    }

    let labels = pick_list(flags.labels, file.labels);
    for l in &labels {
        if !l.contains('=') {
            return Err(invalid(format!("bad attribute format: {l}")));
        }
    }
    let dns = pick_list(flags.dns, file.dns);
    for d in &dns {
        d.parse::<std::net::IpAddr>()
            .map_err(|_| invalid(format!("{d} is not an ip address")))?;
    }

    let group_explicit = flags.group.is_some() || file.group.is_some();
    let group = pick(flags.group, file.group, DEFAULT_GROUP.to_string());
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);

    let engine = engine::EngineConfig {
        data_root,
        exec_root,
        storage_driver,
        storage_opts: pick_list(flags.storage_opts, file.storage_opts),
        delta_data_root,
        delta_storage_driver,
        delta_storage_opts: pick_list(flags.delta_storage_opts, file.delta_storage_opts),
        experimental: pick(flags.experimental, file.experimental, false),
        debug,
        log_driver,
        log_opts,
        labels,
        live_restore: pick(flags.live_restore, file.live_restore, false),
        insecure_registries: pick_list(flags.insecure_registries, file.insecure_registries),
        registry_mirrors: pick_list(flags.registry_mirrors, file.registry_mirrors),
        certs_dir: PathBuf::from("/etc/balena-engine/certs.d"),
        max_concurrent_downloads: to_u32(mcd),
        max_concurrent_uploads: to_u32(mcu),
        max_download_attempts: to_u32(mda),
        bridge: engine::config::BridgeConfig {
            name: pick(flags.bridge, file.bridge, defaults.bridge.name.clone()),
            bip,
            fixed_cidr,
            mtu: mtu.map(to_u32),
            iptables,
            ip_forward: pick(flags.ip_forward, file.ip_forward, true),
            ip_masq,
            icc: pick(flags.icc, file.icc, true),
            userland_proxy: pick(flags.userland_proxy, file.userland_proxy, true),
        },
        default_runtime: file.default_runtime.unwrap_or(defaults.default_runtime),
        init_binary: file.init_path.unwrap_or(defaults.init_binary),
        seccomp_profile: flags.seccomp_profile.or(file.seccomp_profile),
        no_new_privileges: pick(flags.no_new_privileges, file.no_new_privileges, false),
        default_address_pools: Vec::new(),
        shutdown_timeout_secs: to_u32(shutdown_timeout),
    };
    Ok(DaemonConfig {
        hosts,
        pidfile: pick(flags.pidfile, file.pidfile, PathBuf::from(DEFAULT_PIDFILE)),
        group,
        group_explicit,
        log_level,
        engine,
        dns,
        dns_opts: pick_list(flags.dns_opts, file.dns_opts),
        dns_search: pick_list(flags.dns_search, file.dns_search),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Parses flags with an empty daemon.json (never the host's).
    fn run(a: &[&str]) -> Result<DaemonConfig, ConfigError> {
        with_file("", a)
    }

    fn with_file(json: &str, a: &[&str]) -> Result<DaemonConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, json).unwrap();
        let mut v = args(a);
        v.push("--config-file".into());
        v.push(p.display().to_string());
        match load(&v)? {
            Invocation::Run(c) => Ok(*c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn explicit_missing_config_file_is_an_error() {
        let e = load(&args(&["--config-file", "/nonexistent/daemon.json"])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/daemon.json"), "{e}");
    }

    #[test]
    fn defaults_match_balena_engine() {
        let c = run(&[]).unwrap();
        assert_eq!(c.hosts, vec![Host::Unix(PathBuf::from(DEFAULT_SOCKET))]);
        assert_eq!(c.pidfile, PathBuf::from(DEFAULT_PIDFILE));
        assert_eq!(c.engine.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(c.engine.exec_root, PathBuf::from(DEFAULT_EXEC_ROOT));
        assert_eq!(c.engine.storage_driver, "overlay2");
        assert_eq!(c.engine.log_driver, "json-file");
        assert_eq!(c.engine.max_concurrent_downloads, 3);
        assert_eq!(c.engine.max_download_attempts, 5);
        assert_eq!(c.engine.bridge.name, "balena0");
        assert!(c.engine.bridge.iptables);
        assert_eq!(c.group, "balena-engine");
        assert!(!c.group_explicit);
        assert_eq!(c.log_level, tracing::Level::INFO);
    }

    #[test]
    fn flags_are_parsed() {
        let c = run(&[
            "-H",
            "unix:///tmp/x.sock",
            "--data-root",
            "/tmp/root",
            "--exec-root",
            "/tmp/exec",
            "--pidfile",
            "/tmp/p.pid",
            "-D",
            "--experimental",
            "-s",
            "overlay2",
            "--storage-opt",
            "overlay2.size=1G",
            "--delta-data-root",
            "/mnt/other",
            "--delta-storage-driver",
            "overlay2",
            "--log-driver",
            "journald",
            "--log-opt",
            "tag={{.Name}}",
            "--bip",
            "10.1.0.1/24",
            "--iptables=false",
            "--ip-masq=false",
            "--max-concurrent-downloads",
            "1",
            "--max-download-attempts",
            "10",
            "--group",
            "root",
        ])
        .unwrap();
        assert_eq!(c.hosts, vec![Host::Unix(PathBuf::from("/tmp/x.sock"))]);
        assert_eq!(c.engine.data_root, PathBuf::from("/tmp/root"));
        assert_eq!(c.engine.exec_root, PathBuf::from("/tmp/exec"));
        assert_eq!(c.pidfile, PathBuf::from("/tmp/p.pid"));
        assert!(c.engine.debug);
        assert_eq!(c.log_level, tracing::Level::DEBUG);
        assert!(c.engine.experimental);
        assert_eq!(c.engine.storage_opts, vec!["overlay2.size=1G"]);
        assert_eq!(c.engine.delta_data_root, Some(PathBuf::from("/mnt/other")));
        assert_eq!(c.engine.log_driver, "journald");
        assert_eq!(c.engine.log_opts["tag"], "{{.Name}}");
        assert_eq!(c.engine.bridge.bip.as_deref(), Some("10.1.0.1/24"));
        assert!(!c.engine.bridge.iptables);
        assert_eq!(c.engine.max_concurrent_downloads, 1);
        assert_eq!(c.engine.max_download_attempts, 10);
        assert_eq!(c.group, "root");
        assert!(c.group_explicit);
    }

    #[test]
    fn bool_flags_take_an_optional_value() {
        let c = run(&["--debug=false", "--iptables"]).unwrap();
        assert!(!c.engine.debug);
        assert!(c.engine.bridge.iptables);
    }

    #[test]
    fn unknown_flags_are_refused() {
        let e = run(&["--no-such-flag"]).unwrap_err();
        assert!(e.to_string().contains("--no-such-flag"), "{e}");
    }

    #[test]
    fn help_is_reported() {
        assert!(
            matches!(load(&args(&["--help"])).unwrap(), Invocation::Help(h) if h.contains("--data-root"))
        );
        assert!(matches!(load(&args(&["-v"])).unwrap(), Invocation::Version));
    }

    #[test]
    fn daemon_json_values_are_used() {
        let c = with_file(
            r#"{"data-root":"/srv/d","debug":true,"log-opts":{"max-size":"10m","max-file":"3"},
                "storage-driver":"overlay2","registry-mirrors":["https://m"],"hosts":["unix:///tmp/a.sock"],
                "experimental":true,"max-concurrent-downloads":2,"iptables":false,"ip-masq":false}"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.engine.data_root, PathBuf::from("/srv/d"));
        assert!(c.engine.debug);
        assert_eq!(c.engine.log_opts["max-size"], "10m");
        assert_eq!(c.engine.registry_mirrors, vec!["https://m"]);
        assert_eq!(c.hosts, vec![Host::Unix(PathBuf::from("/tmp/a.sock"))]);
        assert_eq!(c.engine.max_concurrent_downloads, 2);
        assert!(!c.engine.bridge.iptables);
    }

    #[test]
    fn daemon_json_unknown_keys_are_refused_like_dockerd() {
        let e = with_file(r#"{"debug":true,"zeta":1,"alpha":2}"#, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the following directives don't match any configuration option: alpha, zeta"
        );
    }

    #[test]
    fn daemon_json_known_but_unused_keys_are_accepted() {
        with_file(
            r#"{"tls":false,"swarm-raft-heartbeat-tick":1,"runtimes":{}}"#,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn daemon_json_conflicts_with_flags_like_dockerd() {
        let e = with_file(
            r#"{"debug":false,"data-root":"/a"}"#,
            &["-D", "--data-root", "/b"],
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("the following directives are specified both as a flag and in the configuration file: "), "{s}");
        assert!(
            s.contains("debug: (from flag: true, from file: false)"),
            "{s}"
        );
        assert!(
            s.contains("data-root: (from flag: /b, from file: /a)"),
            "{s}"
        );
    }

    #[test]
    fn daemon_json_bad_json_names_the_file() {
        let e = with_file("{not json", &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unable to configure the balena-engine daemon with file "),
            "{e}"
        );
        let e = with_file("[1,2]", &[]).unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        let e = with_file(r#"{"debug":"yes"}"#, &[]).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }

    #[test]
    fn values_are_validated() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--max-concurrent-downloads", "-1"],
                "invalid max concurrent downloads: -1",
            ),
            (
                &["--max-download-attempts", "0"],
                "invalid max download attempts: 0",
            ),
            (
                &["--log-level", "loud"],
                "unable to parse logging level: loud",
            ),
            (&["--bip", "300.1.1.1/8"], "invalid bip"),
            (&["-s", "aufs"], "driver not supported: aufs"),
            (&["--log-driver", "splunk"], "no log driver named 'splunk'"),
            (&["--log-opt", "max-size=lots"], "invalid size: 'lots'"),
            (&["--log-opt", "max-size=10q"], "invalid size: '10q'"),
            (&["--log-opt", "max-file=0"], "max-file"),
            (&["--log-driver", "local"], "no log driver named 'local'"),
            (
                &["--log-opt", "nope=1"],
                "unknown log opt 'nope' for json-file log driver",
            ),
            (&["--log-opt", "novalue"], "invalid log-opt"),
            (&["--data-root", "relative"], "must be an absolute path"),
            (&["-H", "ftp://x"], "Invalid bind address format: ftp://x"),
            (
                &["--iptables=false", "--ip-masq=true"],
                "--iptables=false with --ip-masq=true",
            ),
            (&["--dns", "not-an-ip"], "not-an-ip is not an ip address"),
            (&["--label", "nolabel"], "bad attribute format: nolabel"),
        ];
        for (a, want) in cases {
            let e = run(a).unwrap_err().to_string();
            assert!(e.contains(want), "{a:?}: {e:?} does not contain {want:?}");
        }
    }

    #[test]
    fn hosts_parse_like_dockerd() {
        assert_eq!(parse_host("").unwrap(), Host::Unix(DEFAULT_SOCKET.into()));
        assert_eq!(
            parse_host("unix://").unwrap(),
            Host::Unix(DEFAULT_SOCKET.into())
        );
        assert_eq!(
            parse_host("/run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(parse_host("fd://").unwrap(), Host::Fd(None));
        assert_eq!(parse_host("fd://3").unwrap(), Host::Fd(Some(3)));
        assert_eq!(
            parse_host("tcp://").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            parse_host("tcp://0.0.0.0").unwrap(),
            Host::Tcp("0.0.0.0:2375".into())
        );
        assert_eq!(
            parse_host("tcp://[::1]:5").unwrap(),
            Host::Tcp("[::1]:5".into())
        );
        assert!(parse_host("fd://x").is_err());
        assert!(parse_host("relative.sock").is_err());
    }
}
