//! `stats`, `top`, `update`, `rename` and `prune`, with Docker 20.10's
//! checks, messages and events.
//!
//! Limits are written to the container's cgroup files by the daemon
//! itself (`crate::cgroups`), not through a shim request: the shim would
//! have to fork and load libcontainer for what is a few `write(2)`s, and
//! the daemon already knows the cgroup path (`<parent>/<id>`, the spec's
//! `cgroupsPath`). Writes are ordered as runc orders them and undone when
//! the kernel refuses one, so an update is applied whole or not at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use api::ops::{ContainerPruneResponse, CpuStats, StatsJson, TopResponse, UpdateConfig};

use super::record::Status;
use super::{lock, Containers, Ctr};
use crate::cgroups::{self, Paths, Sampler};
use crate::EngineError;

/// The cgroup path of a container (the spec's `cgroupsPath`).
fn cgroup_rel(c: &Containers, h: &api::container::HostConfig, id: &str) -> String {
    super::specmap::cgroups_path(&c.settings, h, id)
}

fn not_running(id: &str) -> EngineError {
    EngineError::Conflict(format!("Container {id} is not running"))
}

/// A `stats` stream of one container: call [`StatsStream::sample`] once a
/// second. Each document carries the previous one's CPU figures as
/// `precpu_stats`, as Docker's do.
#[derive(Debug)]
pub struct StatsStream {
    c: Arc<Ctr>,
    sampler: Option<Sampler>,
    rel: String,
    pid: i64,
    pre_cpu: CpuStats,
    pre_read: String,
}

impl StatsStream {
    /// Whether the container runs now (not restarting).
    pub fn running(&self) -> bool {
        lock(&self.c.rec).is_running()
    }

    /// Whether the container was removed (the stream ends).
    pub fn removed(&self) -> bool {
        self.c.tx.borrow().removed
    }

    /// The next document. Blocking (reads cgroup files and /proc).
    pub fn sample(&mut self) -> StatsJson {
        let (name, running, pid, host_net) = {
            let r = lock(&self.c.rec);
            (
                r.name.clone(),
                r.is_running(),
                r.state.pid,
                r.host_config.network_mode == "host" || r.config.network_disabled.unwrap_or(false),
            )
        };
        let mut doc = StatsJson {
            name,
            id: self.c.id.clone(),
            ..Default::default()
        };
        if running && pid > 0 {
            let sampler = self
                .sampler
                .get_or_insert_with(|| Sampler::new(Paths::new(cgroups::layout(), &self.rel)));
            if pid != self.pid {
                sampler.reset();
                self.pid = pid;
            }
            let s = sampler.sample();
            doc.read = super::now_rfc3339();
            doc.cpu_stats = s.cpu;
            doc.cpu_stats.system_cpu_usage = sampler.system_usage();
            doc.cpu_stats.online_cpus = cgroups::online_cpus();
            doc.memory_stats = s.memory;
            doc.pids_stats = s.pids;
            doc.blkio_stats = s.blkio;
            if !host_net {
                doc.networks = sampler.networks(pid);
            }
        }
        doc.precpu_stats = std::mem::replace(&mut self.pre_cpu, doc.cpu_stats.clone());
        doc.preread = std::mem::replace(&mut self.pre_read, doc.read.clone());
        doc
    }
}

/// Docker's `validatePSArgs`: `-o x=PID...` may only rename to `pid`.
fn validate_ps_args(args: &str) -> Result<(), EngineError> {
    let toks: Vec<&str> = args.split_ascii_whitespace().collect();
    for (i, t) in toks.iter().enumerate() {
        // `\s+([^\s]*)=\s*(PID[^\s]*)`: a key after whitespace, `=`,
        // then (maybe after spaces) a value starting with PID.
        if i == 0 {
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            let v = if v.is_empty() {
                toks.get(i + 1).copied().unwrap_or("")
            } else {
                v
            };
            if v.starts_with("PID") && k != "pid" {
                return Err(EngineError::Corrupt(format!(
                    "specifying \"{k}={v}\" is not allowed"
                )));
            }
        }
    }
    Ok(())
}

/// Docker's `parsePSOutput`: keeps the rows of `pids` (and the thread
/// rows that follow one), folding extra fields into the last column.
pub(crate) fn parse_ps_output(out: &str, pids: &[i32]) -> Result<TopResponse, EngineError> {
    let mut lines = out.split('\n');
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let Some(pid_idx) = titles.iter().position(|t| t == "PID") else {
        return Err(EngineError::Corrupt(
            "Couldn't find PID field in ps output".into(),
        ));
    };
    let mut procs = Vec::new();
    let mut prev = false;
    let push = |procs: &mut Vec<Vec<String>>, f: &[&str]| {
        let n = titles.len().max(1);
        let mut row: Vec<String> = f.iter().take(n - 1).map(|s| s.to_string()).collect();
        row.push(f.get(n - 1..).map(|r| r.join(" ")).unwrap_or_default());
        procs.push(row);
    };
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        let Some(p) = f.get(pid_idx) else { continue };
        if *p == "-" {
            if prev {
                push(&mut procs, &f);
            }
            continue;
        }
        let p: i32 = p
            .parse()
            .map_err(|e| EngineError::Corrupt(format!("Unexpected pid '{p}': {e}")))?;
        prev = pids.contains(&p);
        if prev {
            push(&mut procs, &f);
        }
    }
    Ok(TopResponse {
        titles,
        processes: procs,
    })
}

/// `ps -ef`'s table built from /proc, for hosts whose `ps` cannot do it
/// (absent, or busybox): UID PID PPID C STIME TTY TIME CMD.
pub(crate) fn proc_table(pids: &[i32]) -> TopResponse {
    let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        .map(str::to_string)
        .to_vec();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let now = chrono::Local::now();
    let hz = 100.0;
    let mut processes = Vec::new();
    for &pid in pids {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(st) = parse_proc_pid_stat(&stat) else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("0")
            .to_string();
        let user = user_name(&passwd, &uid).unwrap_or(uid);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = if cmdline.is_empty() {
            format!("[{}]", st.comm)
        } else {
            cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let cpu_secs = (st.utime + st.stime) as f64 / hz;
        let age = (uptime - st.start_ticks as f64 / hz).max(0.0);
        let c = if age > 0.0 {
            ((cpu_secs / age) * 100.0) as u64
        } else {
            0
        };
        let started = now - chrono::Duration::milliseconds((age * 1000.0) as i64);
        processes.push(vec![
            user,
            pid.to_string(),
            st.ppid.to_string(),
            c.to_string(),
            stime(started, now),
            tty_name(st.tty_nr),
            cputime(cpu_secs as u64),
            cmd,
        ]);
    }
    TopResponse { titles, processes }
}

/// The fields of /proc/<pid>/stat that `ps -ef` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub comm: String,
    pub ppid: i32,
    pub tty_nr: i64,
    pub utime: u64,
    pub stime: u64,
    pub start_ticks: u64,
}

/// Parses /proc/<pid>/stat (the command name may hold spaces and
/// parentheses: it ends at the last `)`).
pub(crate) fn parse_proc_pid_stat(s: &str) -> Option<ProcStat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let f: Vec<&str> = s.get(close + 1..)?.split_ascii_whitespace().collect();
    // f[0] = state (field 3); field n is f[n - 3].
    let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<i64>().ok());
    Some(ProcStat {
        comm,
        ppid: i32::try_from(n(4)?).ok()?,
        tty_nr: n(7)?,
        utime: u64::try_from(n(14)?).ok()?,
        stime: u64::try_from(n(15)?).ok()?,
        start_ticks: u64::try_from(n(22)?).ok()?,
    })
}

fn user_name(passwd: &str, uid: &str) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

/// procps' TTY column: `?`, `pts/N`, `ttyN`.
pub(crate) fn tty_name(tty_nr: i64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// procps' TIME column: `[DD-]HH:MM:SS`.
pub(crate) fn cputime(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// procps' STIME column: `HH:MM` today, `MonDD` this year, else the year.
pub(crate) fn stime(
    started: chrono::DateTime<chrono::Local>,
    now: chrono::DateTime<chrono::Local>,
) -> String {
    let age = now - started;
    if age < chrono::Duration::hours(24) {
        started.format("%H:%M").to_string()
    } else if age < chrono::Duration::days(365) {
        started.format("%b%d").to_string()
    } else {
        started.format("%Y").to_string()
    }
}

/// Runs `ps` as Docker does: with `-q pids`, then without, then bare.
/// `None` when no attempt worked.
fn run_ps(args: &[&str], pids: &[i32]) -> Option<String> {
    let q = format!(
        "-q{}",
        pids.iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let run = |a: &[&str]| -> Option<String> {
        let out = std::process::Command::new("ps")
            .args(a)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut with_q: Vec<&str> = args.to_vec();
    with_q.push(&q);
    run(&with_q).or_else(|| run(args))
}

/// The update's resources as a `HostConfig` for Docker's checks.
fn update_host_config(u: &UpdateConfig) -> api::container::HostConfig {
    api::container::HostConfig {
        cpu_shares: u.cpu_shares,
        memory: u.memory,
        blkio_weight: u.blkio_weight,
        cpu_period: u.cpu_period,
        cpu_quota: u.cpu_quota,
        cpu_realtime_period: u.cpu_realtime_period,
        cpu_realtime_runtime: u.cpu_realtime_runtime,
        cpuset_cpus: u.cpuset_cpus.clone(),
        cpuset_mems: u.cpuset_mems.clone(),
        kernel_memory: u.kernel_memory,
        memory_reservation: u.memory_reservation,
        memory_swap: u.memory_swap,
        nano_cpus: u.nano_cpus,
        pids_limit: u.pids_limit,
        restart_policy: u.restart_policy.clone(),
        ..Default::default()
    }
}

/// Docker's `UpdateContainer`: merges the non-zero values of `u` into `h`,
/// or says why not (409, `conflictingUpdateOptions`).
pub(crate) fn merge_update(
    h: &mut api::container::HostConfig,
    u: &UpdateConfig,
) -> Result<(), String> {
    if u.nano_cpus > 0 && h.cpu_period > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
                .into(),
        );
    }
    if u.nano_cpus > 0 && h.cpu_quota > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
                .into(),
        );
    }
    if u.cpu_period > 0 && h.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
                .into(),
        );
    }
    if u.cpu_quota > 0 && h.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                .into(),
        );
    }
    if u.blkio_weight != 0 {
        h.blkio_weight = u.blkio_weight;
    }
    if u.cpu_shares != 0 {
        h.cpu_shares = u.cpu_shares;
    }
    if u.nano_cpus != 0 {
        h.nano_cpus = u.nano_cpus;
    }
    if u.cpu_period != 0 {
        h.cpu_period = u.cpu_period;
    }
    if u.cpu_quota != 0 {
        h.cpu_quota = u.cpu_quota;
    }
    if !u.cpuset_cpus.is_empty() {
        h.cpuset_cpus = u.cpuset_cpus.clone();
    }
    if !u.cpuset_mems.is_empty() {
        h.cpuset_mems = u.cpuset_mems.clone();
    }
    if u.memory != 0 {
        if u.memory > h.memory_swap && u.memory_swap == 0 {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
        h.memory = u.memory;
    }
    if u.memory_swap != 0 {
        h.memory_swap = u.memory_swap;
    }
    if u.memory_reservation != 0 {
        h.memory_reservation = u.memory_reservation;
    }
    if u.kernel_memory != 0 {
        h.kernel_memory = u.kernel_memory;
    }
    if u.cpu_realtime_period != 0 {
        h.cpu_realtime_period = u.cpu_realtime_period;
    }
    if u.cpu_realtime_runtime != 0 {
        h.cpu_realtime_runtime = u.cpu_realtime_runtime;
    }
    if u.pids_limit.is_some() {
        h.pids_limit = u.pids_limit;
    }
    if !u.restart_policy.name.is_empty() {
        if h.auto_remove && !matches!(u.restart_policy.name.as_str(), "no") {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            );
        }
        h.restart_policy = u.restart_policy.clone();
    }
    Ok(())
}

impl Containers {
    /// `GET /containers/{id}/stats`: a stream of documents.
    pub fn stats_stream(&self, name: &str) -> Result<StatsStream, EngineError> {
        let c = self.get(name)?;
        let rel = {
            let r = lock(&c.rec);
            cgroup_rel(self, &r.host_config, &c.id)
        };
        Ok(StatsStream {
            c,
            sampler: None,
            rel,
            pid: 0,
            pre_cpu: CpuStats::default(),
            pre_read: api::ops::ZERO_TIME.to_string(),
        })
    }

    /// `GET /containers/{id}/top?ps_args=`. Blocking (runs `ps`).
    pub fn top(&self, name: &str, ps_args: &str) -> Result<TopResponse, EngineError> {
        let ps_args = if ps_args.is_empty() { "-ef" } else { ps_args };
        validate_ps_args(ps_args)?;
        let c = self.get(name)?;
        let rec = c.record();
        if !rec.is_running() {
            return Err(not_running(&c.id));
        }
        if rec.state.status == Status::Restarting {
            return Err(EngineError::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        let paths = Paths::new(
            cgroups::layout(),
            &cgroup_rel(self, &rec.host_config, &c.id),
        );
        let procs = paths.procs_file().ok_or_else(|| not_running(&c.id))?;
        let pids = cgroups::parse_procs(&std::fs::read_to_string(&procs).map_err(|source| {
            EngineError::Io {
                op: "read",
                path: procs.clone(),
                source,
            }
        })?);
        // Docker splits at single spaces.
        let args: Vec<&str> = ps_args.split(' ').collect();
        let table = match run_ps(&args, &pids) {
            Some(out) => parse_ps_output(&out, &pids)?,
            // No ps, or one that cannot do these options (busybox): the
            // default table from /proc; other options get bare `ps`, as
            // Docker falls back to.
            None if ps_args == "-ef" => proc_table(&pids),
            None => match run_ps(&[], &[]) {
                Some(out) => parse_ps_output(&out, &pids)?,
                None => proc_table(&pids),
            },
        };
        self.event(&rec, "top", &[]);
        Ok(table)
    }

    /// `POST /containers/{id}/update`.
    pub async fn update(
        self: &Arc<Self>,
        name: &str,
        u: UpdateConfig,
    ) -> Result<api::ops::UpdateResponse, EngineError> {
        let c = self.get(name)?;
        let check = update_host_config(&u);
        super::create::verify_host_config(&check)?;
        let warnings = super::specmap::verify(&check, &Default::default())?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let cannot = |m: String| format!("Cannot update container {}: {m}", c.id);
        if matches!(rec.state.status, Status::Removing | Status::Dead) {
            return Err(EngineError::Corrupt(cannot(
                "container is marked for removal and cannot be \"update\"".into(),
            )));
        }
        let mut merged = rec.host_config.clone();
        merge_update(&mut merged, &u).map_err(|m| EngineError::Conflict(cannot(m)))?;
        if rec.state.status == Status::Running || rec.state.status == Status::Paused {
            let rel = cgroup_rel(self, &rec.host_config, &c.id);
            let limits = cgroups::Limits::from_update(&u);
            let id = c.id.clone();
            tokio::task::spawn_blocking(move || {
                let writes = match Paths::new(cgroups::layout(), &rel) {
                    Paths::V1(dirs) => {
                        let cur = dirs
                            .get("memory")
                            .and_then(|d| {
                                std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok()
                            })
                            .and_then(|s| s.trim().parse().ok())
                            .unwrap_or(u64::MAX);
                        cgroups::writes_v1(&dirs, &limits, cur)
                    }
                    Paths::V2(dir) => {
                        let cur = std::fs::read_to_string(dir.join("cpu.max")).unwrap_or_default();
                        cgroups::writes_v2(&dir, &limits, &cur)
                    }
                };
                cgroups::apply(&writes).map_err(|source| EngineError::Cgroup {
                    context: format!("Cannot update container {id}"),
                    source,
                })
            })
            .await
            .map_err(|e| EngineError::Corrupt(format!("update: {e}")))??;
        }
        let dir = self.dir(&c.id);
        let saved = {
            let mut g = lock(&c.rec);
            g.host_config = merged;
            let r = g.save(&dir);
            (r, g.clone())
        };
        saved.0?;
        self.event(&saved.1, "update", &[]);
        Ok(api::ops::UpdateResponse { warnings })
    }

    /// `POST /containers/{id}/rename?name=`. Blocking (a durable write).
    pub fn rename(&self, name: &str, new_name: &str) -> Result<(), EngineError> {
        if name.is_empty() || new_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let new_name = if new_name.starts_with('/') {
            new_name.to_string()
        } else {
            format!("/{new_name}")
        };
        let c = self.get(name)?;
        let old = lock(&c.rec).name.clone();
        if old == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if !super::names::valid(new_name.trim_start_matches('/')) {
            return Err(EngineError::InvalidArgument(format!(
                "Error when allocating new name: Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        self.reserve_name(&new_name, &c.id).map_err(|e| match e {
            EngineError::Conflict(m) => {
                EngineError::Conflict(format!("Error when allocating new name: {m}"))
            }
            e => e,
        })?;
        let dir = self.dir(&c.id);
        let saved = {
            let mut g = lock(&c.rec);
            g.name = new_name.clone();
            match g.save(&dir) {
                Ok(()) => Ok(g.clone()),
                Err(e) => {
                    g.name = old.clone();
                    Err(e)
                }
            }
        };
        let rec = match saved {
            Ok(r) => r,
            Err(e) => {
                self.release_name(&new_name, &c.id);
                return Err(e);
            }
        };
        self.release_name(&old, &c.id);
        if rec.is_running() {
            self.networks
                .rename_endpoints(&c.id, new_name.trim_start_matches('/'));
        }
        self.event(&rec, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// `POST /containers/prune` (filters: until, label, label!).
    pub async fn prune(
        &self,
        filters: &crate::filters::Filters,
    ) -> Result<ContainerPruneResponse, EngineError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        static RUNNING: AtomicBool = AtomicBool::new(false);
        filters.validate(&["until", "label", "label!"])?;
        let until = match filters.get("until").first() {
            Some(u) => Some(crate::images::parse_until(u)?),
            None => None,
        };
        if RUNNING.swap(true, Ordering::AcqRel) {
            return Err(EngineError::Conflict(
                "a prune operation is already running".into(),
            ));
        }
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                RUNNING.store(false, Ordering::Release);
            }
        }
        let _reset = Reset;
        let mut rep = ContainerPruneResponse::default();
        for c in self.all() {
            let r = c.record();
            if r.is_running() || r.state.status == Status::Restarting {
                continue;
            }
            if let Some(u) = until {
                let created = chrono::DateTime::parse_from_rfc3339(&r.created)
                    .map(|t| t.timestamp())
                    .unwrap_or(i64::MAX);
                if created > u {
                    continue;
                }
            }
            let labels: BTreeMap<String, String> = r.config.labels.clone().unwrap_or_default();
            if !filters.match_labels("label", &labels) {
                continue;
            }
            let excluded = filters
                .get("label!")
                .iter()
                .any(|f| match f.split_once('=') {
                    Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                    None => labels.contains_key(f.as_str()),
                });
            if excluded {
                continue;
            }
            let size = self.store.rw_size(&c.id).map(|(rw, _)| rw).unwrap_or(0);
            if let Err(e) = self.remove(&c.id, false, false).await {
                tracing::warn!(container = %c.id, error = %e, "failed to prune container");
                continue;
            }
            rep.space_reclaimed += u64::try_from(size).unwrap_or(0);
            rep.containers_deleted
                .get_or_insert_with(Vec::new)
                .push(c.id.clone());
        }
        self.events.emit(
            crate::events::Kind::Container,
            "prune",
            "",
            [("reclaimed".to_string(), rep.space_reclaimed.to_string())].into(),
        );
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_keeps_the_containers_rows_and_their_threads() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init splash\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\nroot - - 0 10:01 - 00:00:00 -\nroot 43 1 0 10:01 ? 00:00:00 other\n";
        let t = parse_ps_output(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 2);
        assert_eq!(t.processes[0][1], "42");
        assert_eq!(t.processes[0][7], "sleep 100");
        assert_eq!(t.processes[1][1], "-");
        let t = parse_ps_output(out, &[1]).unwrap();
        assert_eq!(t.processes[0][7], "/sbin/init splash");
    }

    #[test]
    fn ps_output_without_a_pid_column_is_an_error() {
        let e = parse_ps_output("A B\n1 2\n", &[1]).unwrap_err();
        assert_eq!(e.to_string(), "Couldn't find PID field in ps output");
        let e = parse_ps_output("PID CMD\nx sh\n", &[1]).unwrap_err();
        assert!(e.to_string().starts_with("Unexpected pid 'x'"));
    }

    #[test]
    fn ps_args_may_only_rename_a_column_to_pid() {
        assert!(validate_ps_args("-ef").is_ok());
        assert!(validate_ps_args("-o pid=PID,cmd").is_ok());
        assert_eq!(
            validate_ps_args("-o user=PID").unwrap_err().to_string(),
            "specifying \"user=PID\" is not allowed"
        );
    }

    #[test]
    fn proc_stat_lines_parse_with_odd_command_names() {
        let s = "1234 (a (b) c) S 1 1234 1234 34816 1234 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9000 1000 100 18446744073709551615";
        let p = parse_proc_pid_stat(s).unwrap();
        assert_eq!(p.comm, "a (b) c");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.tty_nr, 34816);
        assert_eq!((p.utime, p.stime, p.start_ticks), (250, 50, 9000));
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(4 << 8 | 1), "tty1");
        assert!(parse_proc_pid_stat("garbage").is_none());
    }

    #[test]
    fn times_look_like_procps() {
        assert_eq!(cputime(3), "00:00:03");
        assert_eq!(cputime(3723), "01:02:03");
        assert_eq!(cputime(90061), "1-01:01:01");
        use chrono::TimeZone;
        let now = chrono::Local
            .with_ymd_and_hms(2024, 6, 10, 12, 0, 0)
            .unwrap();
        let t = chrono::Local
            .with_ymd_and_hms(2024, 6, 10, 9, 5, 0)
            .unwrap();
        assert_eq!(stime(t, now), "09:05");
        let t = chrono::Local.with_ymd_and_hms(2024, 3, 2, 9, 5, 0).unwrap();
        assert_eq!(stime(t, now), "Mar02");
        let t = chrono::Local.with_ymd_and_hms(2022, 3, 2, 9, 5, 0).unwrap();
        assert_eq!(stime(t, now), "2022");
    }

    #[test]
    fn the_proc_table_lists_this_process() {
        let me = std::process::id() as i32;
        let t = proc_table(&[me, -5]);
        assert_eq!(
            t.titles,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][1], me.to_string());
        assert!(!t.processes[0][7].is_empty());
    }

    #[test]
    fn updates_merge_as_docker_does() {
        let mut h = api::container::HostConfig {
            memory: 10 << 20,
            memory_swap: 20 << 20,
            nano_cpus: 1_000_000_000,
            ..Default::default()
        };
        let u = UpdateConfig {
            memory: 15 << 20,
            cpu_shares: 512,
            pids_limit: Some(10),
            ..Default::default()
        };
        merge_update(&mut h, &u).unwrap();
        assert_eq!(
            (h.memory, h.memory_swap, h.cpu_shares),
            (15 << 20, 20 << 20, 512)
        );
        assert_eq!(h.pids_limit, Some(10));
        let u = UpdateConfig {
            memory: 30 << 20,
            ..Default::default()
        };
        assert!(merge_update(&mut h, &u)
            .unwrap_err()
            .starts_with("Memory limit should be smaller"));
        let u = UpdateConfig {
            cpu_quota: 50_000,
            ..Default::default()
        };
        assert!(merge_update(&mut h, &u)
            .unwrap_err()
            .contains("CPU Quota cannot be updated as NanoCPUs"));
        h.auto_remove = true;
        let u = UpdateConfig {
            restart_policy: api::container::RestartPolicy {
                name: "always".into(),
                maximum_retry_count: 0,
            },
            ..Default::default()
        };
        assert!(merge_update(&mut h, &u)
            .unwrap_err()
            .contains("AutoRemove is enabled"));
    }
}
