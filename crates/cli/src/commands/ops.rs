//! `stats`, `top`, `update`, `rename` and `container prune`, as the docker
//! CLI (20.10) runs them: the same requests, figures, tables and messages.

use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use api::ops::{ContainerPruneResponse, StatsJson, TopResponse, UpdateResponse};

use crate::client::Client;
use crate::commands::enc;
use crate::commands::images::filters_json;
use crate::{listfmt, Env, Failure};

// ---------------------------------------------------------------------------
// stats

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Pretty-print images using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT_STATS_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One container's line, as the docker CLI computes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entry {
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu: f64,
    pub mem: f64,
    pub mem_limit: f64,
    pub mem_pct: f64,
    pub rx: f64,
    pub tx: f64,
    pub blk_read: f64,
    pub blk_write: f64,
    pub pids: u64,
    pub invalid: bool,
    pub err: Option<String>,
    pub got: bool,
}

/// The docker CLI's `calculateCPUPercentUnix`.
pub(crate) fn cpu_percent(s: &StatsJson) -> f64 {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let sys_delta = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let mut online = f64::from(s.cpu_stats.online_cpus);
    if online == 0.0 {
        online = s.cpu_stats.cpu_usage.percpu_usage.len() as f64;
    }
    if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    }
}

/// `calculateMemUsageUnixNoCache`: usage without the inactive file cache.
pub(crate) fn mem_usage(m: &api::ops::MemoryStats) -> f64 {
    if let Some(v) = m.stats.get("total_inactive_file") {
        if *v < m.usage {
            return (m.usage - v) as f64;
        }
    }
    let v = m.stats.get("inactive_file").copied().unwrap_or(0);
    if v < m.usage {
        return (m.usage - v) as f64;
    }
    m.usage as f64
}

fn entry_from(container: &str, s: &StatsJson) -> Entry {
    let mem = mem_usage(&s.memory_stats);
    let limit = s.memory_stats.limit as f64;
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.values() {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let (mut r, mut w) = (0u64, 0u64);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.as_bytes().first() {
            Some(b'r' | b'R') => r += e.value,
            Some(b'w' | b'W') => w += e.value,
            _ => {}
        }
    }
    Entry {
        container: container.to_string(),
        name: s.name.clone(),
        id: s.id.clone(),
        cpu: cpu_percent(s),
        mem,
        mem_limit: limit,
        mem_pct: if limit != 0.0 {
            mem / limit * 100.0
        } else {
            0.0
        },
        rx,
        tx,
        blk_read: r as f64,
        blk_write: w as f64,
        pids: s.pids_stats.current,
        invalid: false,
        err: None,
        got: true,
    }
}

fn bytes_size(n: f64) -> String {
    api::progress::format_units(n, 1024.0, &api::progress::BINARY_UNITS, 4)
}

/// The template fields of one line (`statsContext`).
pub(crate) fn entry_row(e: &Entry, trunc: bool) -> Value {
    let pct = |v: f64| format!("{v:.2}%");
    let h3 = crate::table::human_size3;
    let name = if e.name.len() > 1 {
        e.name[1..].to_string()
    } else {
        "--".to_string()
    };
    let id = if trunc {
        e.id.chars().take(12).collect()
    } else {
        e.id.clone()
    };
    if e.invalid {
        return json!({
            "Container": e.container, "Name": name, "ID": id, "CPUPerc": "--",
            "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--",
        });
    }
    json!({
        "Container": e.container,
        "Name": name,
        "ID": id,
        "CPUPerc": pct(e.cpu),
        "MemUsage": format!("{} / {}", bytes_size(e.mem), bytes_size(e.mem_limit)),
        "MemPerc": pct(e.mem_pct),
        "NetIO": format!("{} / {}", h3(e.rx), h3(e.tx)),
        "BlockIO": format!("{} / {}", h3(e.blk_read), h3(e.blk_write)),
        "PIDs": e.pids.to_string(),
    })
}

type Shared = Arc<Mutex<Vec<Entry>>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Vec<Entry>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn set(shared: &Shared, container: &str, f: impl FnOnce(&mut Entry)) {
    let mut g = lock(shared);
    if let Some(e) = g.iter_mut().find(|e| e.container == container) {
        f(e);
    }
}

/// Reads one container's stats stream into `shared`.
async fn collect(mut client: Client, container: String, stream: bool, shared: Shared) {
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let path = format!(
        "/containers/{}/stats?stream={}",
        enc(&container),
        if stream { "1" } else { "0" }
    );
    let resp = match client.stream(Method::GET, &path, empty, None).await {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            set(&shared, &container, |x| {
                x.err = Some(msg);
                x.invalid = true;
                x.got = true;
            });
            return;
        }
    };
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if let Ok(doc) = serde_json::from_slice::<StatsJson>(&line) {
                let e = entry_from(&container, &doc);
                set(&shared, &container, |x| *x = e);
            }
        }
        if !stream
            && lock(&shared)
                .iter()
                .any(|e| e.container == container && e.got)
        {
            return;
        }
    }
    // The stream ended (the container went away): shown as invalid.
    set(&shared, &container, |x| {
        x.invalid = true;
        x.got = true;
    });
}

fn render_stats(a: &StatsArgs, entries: &[Entry]) -> Result<String, Failure> {
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => DEFAULT_STATS_FORMAT.to_string(),
        Some("json") => "{{json .}}".to_string(),
        Some(f) => f.to_string(),
    };
    let rows: Vec<Value> = entries.iter().map(|e| entry_row(e, !a.no_trunc)).collect();
    Ok(listfmt::render(&fmt, &rows, STATS_HEADERS)?)
}

async fn running_ids(client: &mut Client, all: bool) -> Result<Vec<String>, Failure> {
    let path = if all {
        "/containers/json?all=1"
    } else {
        "/containers/json"
    };
    let v: Vec<Value> = client.get(path).await?.json()?;
    Ok(v.iter()
        .filter_map(|c| c["Id"].as_str())
        .map(|id| id.chars().take(12).collect())
        .collect())
}

/// `balena-engine stats`.
pub async fn stats(env: &Env, a: StatsArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    client.negotiate().await?;
    let named = !a.containers.is_empty();
    let shared: Shared = Arc::new(Mutex::new(Vec::new()));
    let stream = !a.no_stream;
    let add = |ids: Vec<String>, shared: &Shared, client: &Client| {
        for c in ids {
            let mut g = lock(shared);
            if g.iter().any(|e| e.container == c) {
                continue;
            }
            g.push(Entry {
                container: c.clone(),
                ..Default::default()
            });
            drop(g);
            tokio::spawn(collect(client.clone(), c, stream, shared.clone()));
        }
    };
    let initial = if named {
        a.containers.clone()
    } else {
        running_ids(&mut client, a.all).await?
    };
    add(initial, &shared, &client);
    // Wait for every container's first result (or error).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline && lock(&shared).iter().any(|e| !e.got) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if named {
        let errs: Vec<String> = lock(&shared).iter().filter_map(|e| e.err.clone()).collect();
        if !errs.is_empty() {
            return Err(Failure::new(1, errs.join("\n")));
        }
    }
    let mut out = std::io::stdout();
    let mut last_list = tokio::time::Instant::now();
    loop {
        let entries = lock(&shared).clone();
        let text = render_stats(&a, &entries)?;
        if stream {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        let _ = write!(out, "{text}");
        let _ = out.flush();
        if !stream {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if !named && last_list.elapsed() >= std::time::Duration::from_secs(2) {
            // Containers that started or stopped since (docker follows
            // events for this).
            last_list = tokio::time::Instant::now();
            if let Ok(ids) = running_ids(&mut client, a.all).await {
                lock(&shared).retain(|e| ids.contains(&e.container));
                add(ids, &shared, &client);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// top

#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

/// tabwriter(minwidth 20, tabwidth 1, padding 3), as `docker top` prints.
pub(crate) fn top_table(t: &TopResponse) -> String {
    let mut rows = vec![t.titles.clone()];
    rows.extend(t.processes.iter().cloned());
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(20);
                out.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// `balena-engine top`.
pub async fn top(env: &Env, a: TopArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut path = format!("/containers/{}/top", enc(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", enc(&a.ps_args.join(" "))));
    }
    let t: TopResponse = client.get(&path).await?.json()?;
    print!("{}", top_table(&t));
    Ok(())
}

// ---------------------------------------------------------------------------
// update

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn flag_value<T>(flag: &str, v: &str, r: Result<T, String>) -> Result<T, Failure> {
    r.map_err(|e| {
        Failure::new(
            125,
            format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}\nSee 'balena-engine update --help'."),
        )
    })
}

/// The update body for `a` (what the docker CLI sends: every resource,
/// zero when not given; `PidsLimit` only when given).
pub(crate) fn update_body(a: &UpdateArgs) -> Result<Value, Failure> {
    let ram = |flag: &str, v: &Option<String>| -> Result<i64, Failure> {
        match v {
            None => Ok(0),
            Some(s) => flag_value(flag, s, crate::units::ram_in_bytes(s)),
        }
    };
    let swap = match a.memory_swap.as_deref() {
        None => 0,
        Some("-1") => -1,
        Some(s) => flag_value("--memory-swap", s, crate::units::ram_in_bytes(s))?,
    };
    let nano = match a.cpus.as_deref() {
        None => 0,
        Some(s) => flag_value("--cpus", s, crate::units::nano_cpus(s))?,
    };
    let any = a.blkio_weight.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpu_shares.is_some()
        || a.cpus.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.kernel_memory.is_some()
        || a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.pids_limit.is_some()
        || a.restart.is_some();
    if !any {
        return Err(Failure::new(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let mut body = json!({
        "BlkioWeight": a.blkio_weight.unwrap_or(0),
        "CpuPeriod": a.cpu_period.unwrap_or(0),
        "CpuQuota": a.cpu_quota.unwrap_or(0),
        "CpuRealtimePeriod": a.cpu_rt_period.unwrap_or(0),
        "CpuRealtimeRuntime": a.cpu_rt_runtime.unwrap_or(0),
        "CpuShares": a.cpu_shares.unwrap_or(0),
        "CpusetCpus": a.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": a.cpuset_mems.clone().unwrap_or_default(),
        "KernelMemory": ram("--kernel-memory", &a.kernel_memory)?,
        "Memory": ram("--memory", &a.memory)?,
        "MemoryReservation": ram("--memory-reservation", &a.memory_reservation)?,
        "MemorySwap": swap,
        "NanoCpus": nano,
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
    });
    if let Some(p) = a.pids_limit {
        body["PidsLimit"] = json!(p);
    }
    if let Some(r) = &a.restart {
        body["RestartPolicy"] = flag_value("--restart", r, crate::runopts::parse_restart(r))?;
    }
    Ok(body)
}

/// `balena-engine update`.
pub async fn update(env: &Env, a: UpdateArgs) -> Result<(), Failure> {
    let body = serde_json::to_vec(&update_body(&a)?).map_err(|e| Failure::new(1, e.to_string()))?;
    let mut client = env.client()?;
    let mut errs = Vec::new();
    let mut warns = Vec::new();
    for c in &a.containers {
        match client
            .request(
                Method::POST,
                &format!("/containers/{}/update", enc(c)),
                Some(body.clone()),
            )
            .await
        {
            Ok(r) => {
                let r: UpdateResponse = r.json()?;
                warns.extend(r.warnings);
                println!("{c}");
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    if !warns.is_empty() {
        println!("{}", warns.join("\n"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

// ---------------------------------------------------------------------------
// rename

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `balena-engine rename`.
pub async fn rename(env: &Env, a: RenameArgs) -> Result<(), Failure> {
    let (old, new) = (a.container.trim(), a.new_name.trim());
    if old.is_empty() || new.is_empty() {
        return Err(Failure::new(
            1,
            "Error: Neither old nor new names may be empty",
        ));
    }
    let mut client = env.client()?;
    if let Err(e) = client
        .request(
            Method::POST,
            &format!("/containers/{}/rename?name={}", enc(old), enc(new)),
            None,
        )
        .await
    {
        eprintln!("{e}");
        return Err(Failure::new(
            1,
            format!("Error: failed to rename container named {old}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// container prune

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

const PRUNE_WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

/// What `container prune` prints.
pub(crate) fn prune_output(r: &ContainerPruneResponse) -> String {
    let mut s = String::new();
    let ids = r.containers_deleted.clone().unwrap_or_default();
    let mut space = 0;
    if !ids.is_empty() {
        s.push_str("Deleted Containers:\n");
        for id in &ids {
            s.push_str(id);
            s.push('\n');
        }
        s.push('\n');
        space = r.space_reclaimed;
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        api::progress::human_size(space as f64)
    ));
    s
}

/// `balena-engine container prune`.
pub async fn prune(env: &Env, a: PruneArgs) -> Result<(), Failure> {
    let filters = filters_json(&a.filter)?;
    if !crate::commands::confirmed(a.force, PRUNE_WARNING) {
        return Ok(());
    }
    let mut client = env.client()?;
    let r: ContainerPruneResponse = client
        .request(
            Method::POST,
            &format!("/containers/prune?filters={}", enc(&filters)),
            None,
        )
        .await?
        .json()?;
    print!("{}", prune_output(&r));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T<A: clap::Args> {
        #[command(flatten)]
        a: A,
    }

    fn parse<A: clap::Args>(args: &[&str]) -> A {
        T::<A>::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    fn doc() -> StatsJson {
        let mut s = StatsJson {
            name: "/web".into(),
            id: "0123456789abcdef0123".into(),
            ..Default::default()
        };
        s.cpu_stats.cpu_usage.total_usage = 300_000_000;
        s.precpu_stats.cpu_usage.total_usage = 100_000_000;
        s.cpu_stats.system_cpu_usage = 4_000_000_000;
        s.precpu_stats.system_cpu_usage = 2_000_000_000;
        s.cpu_stats.online_cpus = 2;
        s.memory_stats.usage = 10 << 20;
        s.memory_stats.limit = 100 << 20;
        s.memory_stats
            .stats
            .insert("total_inactive_file".into(), 2 << 20);
        s.pids_stats.current = 3;
        s.networks.insert(
            "eth0".into(),
            api::ops::NetworkStats {
                rx_bytes: 1500,
                tx_bytes: 648,
                ..Default::default()
            },
        );
        s.blkio_stats.io_service_bytes_recursive = Some(vec![
            api::ops::BlkioStatEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4_261_234,
            },
            api::ops::BlkioStatEntry {
                major: 8,
                minor: 0,
                op: "write".into(),
                value: 0,
            },
        ]);
        s
    }

    #[test]
    fn figures_are_computed_as_the_docker_cli_does() {
        let s = doc();
        assert!((cpu_percent(&s) - 20.0).abs() < 1e-9);
        assert_eq!(mem_usage(&s.memory_stats), (8 << 20) as f64);
        let row = entry_row(&entry_from("web", &s), true);
        assert_eq!(row["CPUPerc"], "20.00%");
        assert_eq!(row["MemUsage"], "8MiB / 100MiB");
        assert_eq!(row["MemPerc"], "8.00%");
        assert_eq!(row["NetIO"], "1.5kB / 648B");
        assert_eq!(row["BlockIO"], "4.26MB / 0B");
        assert_eq!(row["PIDs"], "3");
        assert_eq!(row["Name"], "web");
        assert_eq!(row["ID"], "0123456789ab");
        let mut v2 = doc();
        v2.memory_stats.stats.clear();
        v2.memory_stats
            .stats
            .insert("inactive_file".into(), 1 << 20);
        assert_eq!(mem_usage(&v2.memory_stats), (9 << 20) as f64);
    }

    #[test]
    fn a_stopped_container_shows_zeros_and_an_ended_stream_dashes() {
        let zero = StatsJson {
            name: "/x".into(),
            id: "abc".into(),
            ..Default::default()
        };
        let row = entry_row(&entry_from("x", &zero), true);
        assert_eq!(row["CPUPerc"], "0.00%");
        assert_eq!(row["MemUsage"], "0B / 0B");
        assert_eq!(row["MemPerc"], "0.00%");
        let bad = Entry {
            invalid: true,
            ..Default::default()
        };
        let row = entry_row(&bad, true);
        assert_eq!(row["MemUsage"], "-- / --");
        assert_eq!(row["Name"], "--");
    }

    #[test]
    fn stats_tables_use_dockers_headers_and_formats() {
        let a: StatsArgs = parse(&["--no-stream", "--format", "table {{.Name}}\t{{.CPUPerc}}"]);
        let e = entry_from("web", &doc());
        assert_eq!(
            render_stats(&a, std::slice::from_ref(&e)).unwrap(),
            "NAME      CPU %\nweb       20.00%\n"
        );
        let a: StatsArgs = parse(&["--format", "json"]);
        let out = render_stats(&a, std::slice::from_ref(&e)).unwrap();
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["MemPerc"], "8.00%");
        assert_eq!(v["Container"], "web");
        let a: StatsArgs = parse(&[]);
        let out = render_stats(&a, &[e]).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O     PIDS\n\
             0123456789ab   web       20.00%    8MiB / 100MiB       8.00%     1.5kB / 648B   4.26MB / 0B   3\n"
        );
    }

    #[test]
    fn top_tables_are_twenty_wide() {
        let t = TopResponse {
            titles: vec!["PID".into(), "CMD".into()],
            processes: vec![vec!["1".into(), "sleep 100".into()]],
        };
        assert_eq!(
            top_table(&t),
            "PID                 CMD\n1                   sleep 100\n"
        );
    }

    #[test]
    fn update_sends_dockers_body() {
        let a: UpdateArgs = parse(&["-m", "20m", "--memory-swap", "-1", "--cpus", "1.5", "c1"]);
        let b = update_body(&a).unwrap();
        assert_eq!(b["Memory"], 20 << 20);
        assert_eq!(b["MemorySwap"], -1);
        assert_eq!(b["NanoCpus"], 1_500_000_000i64);
        assert!(b.get("PidsLimit").is_none());
        assert_eq!(b["RestartPolicy"]["Name"], "");
        let a: UpdateArgs = parse(&["--pids-limit", "-1", "--restart", "on-failure:3", "c1"]);
        let b = update_body(&a).unwrap();
        assert_eq!(b["PidsLimit"], -1);
        assert_eq!(b["RestartPolicy"]["MaximumRetryCount"], 3);
        let a: UpdateArgs = parse(&["c1"]);
        assert_eq!(
            update_body(&a).unwrap_err().message,
            "you must provide one or more flags when using this command"
        );
        let a: UpdateArgs = parse(&["-m", "lots", "c1"]);
        assert_eq!(update_body(&a).unwrap_err().code, 125);
    }

    #[test]
    fn prune_prints_ids_and_reclaimed_space() {
        let r = ContainerPruneResponse {
            containers_deleted: Some(vec!["abc".into()]),
            space_reclaimed: 1500,
        };
        assert_eq!(
            prune_output(&r),
            "Deleted Containers:\nabc\n\nTotal reclaimed space: 1.5kB\n"
        );
        assert_eq!(
            prune_output(&ContainerPruneResponse::default()),
            "Total reclaimed space: 0B\n"
        );
    }
}
