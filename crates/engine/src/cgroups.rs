//! A container's cgroups as the daemon reads and writes them directly:
//! the counters of `docker stats` (cgroup v1 and v2, as containerd's
//! cgroups library reads them for Docker 20.10), the process list of
//! `docker top`, and the limits `docker update` changes.
//!
//! The daemon never links libcontainer's code paths (see ARCHITECTURE),
//! and these are plain file reads and writes, so they live here rather
//! than behind a shim request. A [`Sampler`] keeps its files open and
//! re-reads them with `pread` at offset 0 (cgroupfs, /proc/stat and
//! /proc/<pid>/net/dev are seq_files, which regenerate on each read), so a
//! stream costs a handful of syscalls per second.
//!
//! Parsers are pure and take the files' text; they skip what they do not
//! recognise instead of failing, as the kernel adds keys over time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use api::ops::{BlkioStatEntry, BlkioStats, CpuStats, MemoryStats, NetworkStats, PidsStats};

/// Errors of cgroup reads and writes.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The kernel refused a value (runc's wording).
    #[error("failed to write {value:?} to {path:?}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("read {path:?}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where the hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Controller name → mount point.
    V1(BTreeMap<String, PathBuf>),
    /// The unified hierarchy's mount point.
    V2(PathBuf),
}

/// The host's layout, found once.
pub(crate) fn layout() -> &'static Layout {
    static L: OnceLock<Layout> = OnceLock::new();
    L.get_or_init(|| {
        if crate::sysinfo::cgroup_v2() {
            Layout::V2(PathBuf::from("/sys/fs/cgroup"))
        } else {
            let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            Layout::V1(crate::sysinfo::cgroup_v1_mounts(&mi))
        }
    })
}

/// The directories of one cgroup (`rel` is the spec's `cgroupsPath`, e.g.
/// `/balena/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Paths {
    V1(BTreeMap<String, PathBuf>),
    V2(PathBuf),
}

impl Paths {
    pub(crate) fn new(layout: &Layout, rel: &str) -> Paths {
        let rel = rel.trim_start_matches('/');
        match layout {
            Layout::V1(m) => Paths::V1(
                m.iter()
                    .map(|(c, root)| (c.clone(), root.join(rel)))
                    .collect(),
            ),
            Layout::V2(root) => Paths::V2(root.join(rel)),
        }
    }

    /// A v1 controller's file.
    fn v1(&self, controller: &str, file: &str) -> Option<PathBuf> {
        match self {
            Paths::V1(m) => m.get(controller).map(|d| d.join(file)),
            Paths::V2(_) => None,
        }
    }

    /// The ids of the processes in the cgroup.
    pub(crate) fn procs_file(&self) -> Option<PathBuf> {
        match self {
            Paths::V1(_) => self
                .v1("pids", "cgroup.procs")
                .filter(|p| p.exists())
                .or_else(|| self.v1("memory", "cgroup.procs")),
            Paths::V2(d) => Some(d.join("cgroup.procs")),
        }
    }
}

impl Paths {
    /// After the container's shim is gone (killed, crashed): nothing else
    /// will stop what is left in the cgroup, and a restart would run a
    /// second copy of the app beside it. Thaws a frozen cgroup, kills every
    /// process in it, waits (up to 2 s) for them to go and removes the
    /// directories. Blocking; best effort, errors are logged.
    pub(crate) fn kill_and_remove(&self) {
        let (freeze, value) = match self {
            Paths::V1(_) => (self.v1("freezer", "freezer.state"), "THAWED"),
            Paths::V2(d) => (Some(d.join("cgroup.freeze")), "0"),
        };
        if let Some(f) = freeze.filter(|f| f.exists()) {
            let _ = std::fs::write(f, value);
        }
        let procs = self.procs_file();
        let left = || {
            procs
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|s| parse_procs(&s))
                .unwrap_or_default()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let pids = left();
            if pids.is_empty() || std::time::Instant::now() > deadline {
                if !pids.is_empty() {
                    tracing::warn!(?pids, "processes left in a container's cgroup");
                }
                break;
            }
            for p in pids {
                // The pid was read from the container's own cgroup.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let dirs: Vec<&PathBuf> = match self {
            Paths::V1(m) => m.values().collect(),
            Paths::V2(d) => vec![d],
        };
        for d in dirs {
            match std::fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(dir = %d.display(), error = %e, "remove cgroup"),
            }
        }
    }
}

/// The pids listed in a `cgroup.procs` file.
pub(crate) fn parse_procs(s: &str) -> Vec<i32> {
    s.split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The host's memory, the limit Docker reports for unlimited containers.
pub(crate) fn machine_memory() -> u64 {
    static M: OnceLock<u64> = OnceLock::new();
    *M.get_or_init(|| {
        let mi = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        crate::sysinfo::mem_total(&mi)
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(0)
    })
}

/// CPUs this process may run on (Docker's `online_cpus`).
pub(crate) fn online_cpus() -> u32 {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count() as u32,
        Err(_) => 0,
    }
}

// ---------------------------------------------------------------------------
// Parsers

/// A number, or `max` (unlimited) as `None`.
pub(crate) fn parse_limit(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return None;
    }
    s.parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events).
pub(crate) fn parse_keyed(s: &str) -> BTreeMap<&str, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_ascii_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k, v))
        })
        .collect()
}

/// Space-separated numbers (`cpuacct.usage_percpu`).
pub(crate) fn parse_list(s: &str) -> Vec<u64> {
    s.split_ascii_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// A v1 blkio file: `MAJ:MIN Op value` or `MAJ:MIN value` lines, and a
/// `Total n` line that is skipped.
pub(crate) fn parse_blkio_v1(s: &str) -> Vec<BlkioStatEntry> {
    let mut out = Vec::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        let Some((maj, min)) = f.first().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        let (op, v) = match f.as_slice() {
            [_, op, v] => (op.to_string(), v),
            [_, v] => (String::new(), v),
            _ => continue,
        };
        let Ok(value) = v.parse() else { continue };
        out.push(BlkioStatEntry {
            major,
            minor,
            op,
            value,
        });
    }
    out
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=..` lines, as Docker
/// reports them: a `read` and a `write` byte count per device.
pub(crate) fn parse_io_stat(s: &str) -> Vec<BlkioStatEntry> {
    let mut out = Vec::new();
    for l in s.lines() {
        let mut it = l.split_ascii_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        let (mut r, mut w) = (0, 0);
        for kv in it {
            match kv.split_once('=') {
                Some(("rbytes", v)) => r = v.parse().unwrap_or(0),
                Some(("wbytes", v)) => w = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        for (op, value) in [("read", r), ("write", w)] {
            out.push(BlkioStatEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    out
}

/// The host's CPU time in nanoseconds as Docker computes it: the first
/// seven fields of /proc/stat's `cpu` line, in USER_HZ (100) ticks.
pub(crate) fn parse_proc_stat(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(7)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if f.len() < 7 {
        return None;
    }
    Some(f.iter().sum::<u64>().saturating_mul(1_000_000_000) / 100)
}

/// /proc/<pid>/net/dev: every interface but loopback.
pub(crate) fn parse_net_dev(s: &str) -> BTreeMap<String, NetworkStats> {
    let mut out = BTreeMap::new();
    for l in s.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" || name.is_empty() {
            continue;
        }
        let v: Vec<u64> = rest
            .split_ascii_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

/// The v1 `memory.stat` keys Docker reports (all of them, 0 when absent).
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

/// The v2 `memory.stat` keys Docker reports.
const V2_MEMORY_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

fn memory_keys(stat: &str, keys: &[&str]) -> BTreeMap<String, u64> {
    let m = parse_keyed(stat);
    keys.iter()
        .map(|k| (k.to_string(), m.get(k).copied().unwrap_or(0)))
        .collect()
}

/// v1 cgroup files → Docker's sections. Pure: tests feed fixture text.
pub(crate) mod v1 {
    use super::*;

    pub(crate) fn cpu(
        usage: &str,
        percpu: &str,
        cpuacct_stat: &str,
        cpu_stat: Option<&str>,
    ) -> CpuStats {
        let st = parse_keyed(cpuacct_stat);
        let ticks = |k: &str| {
            st.get(k)
                .copied()
                .unwrap_or(0)
                .saturating_mul(1_000_000_000)
                / 100
        };
        let mut c = CpuStats::default();
        c.cpu_usage.total_usage = usage.trim().parse().unwrap_or(0);
        c.cpu_usage.percpu_usage = parse_list(percpu);
        c.cpu_usage.usage_in_usermode = ticks("user");
        c.cpu_usage.usage_in_kernelmode = ticks("system");
        if let Some(s) = cpu_stat {
            let t = parse_keyed(s);
            c.throttling_data.periods = t.get("nr_periods").copied().unwrap_or(0);
            c.throttling_data.throttled_periods = t.get("nr_throttled").copied().unwrap_or(0);
            c.throttling_data.throttled_time = t.get("throttled_time").copied().unwrap_or(0);
        }
        c
    }

    pub(crate) fn memory(
        usage: &str,
        max_usage: &str,
        limit: &str,
        failcnt: &str,
        stat: &str,
        machine: u64,
    ) -> MemoryStats {
        let n = |s: &str| s.trim().parse::<u64>().unwrap_or(0);
        let mut limit = n(limit);
        if machine > 0 && limit > machine {
            limit = machine;
        }
        MemoryStats {
            usage: n(usage),
            max_usage: n(max_usage),
            stats: memory_keys(stat, V1_MEMORY_KEYS),
            failcnt: n(failcnt),
            limit,
        }
    }
}

/// v2 cgroup files → Docker's sections.
pub(crate) mod v2 {
    use super::*;

    pub(crate) fn cpu(cpu_stat: &str) -> CpuStats {
        let t = parse_keyed(cpu_stat);
        let g = |k: &str| t.get(k).copied().unwrap_or(0);
        let mut c = CpuStats::default();
        c.cpu_usage.total_usage = g("usage_usec").saturating_mul(1000);
        c.cpu_usage.usage_in_kernelmode = g("system_usec").saturating_mul(1000);
        c.cpu_usage.usage_in_usermode = g("user_usec").saturating_mul(1000);
        c.throttling_data.periods = g("nr_periods");
        c.throttling_data.throttled_periods = g("nr_throttled");
        c.throttling_data.throttled_time = g("throttled_usec").saturating_mul(1000);
        c
    }

    pub(crate) fn memory(
        current: &str,
        max: &str,
        stat: &str,
        events: Option<&str>,
        machine: u64,
    ) -> MemoryStats {
        let mut limit = parse_limit(max).unwrap_or(u64::MAX);
        if machine > 0 && limit > machine {
            limit = machine;
        }
        MemoryStats {
            usage: current.trim().parse().unwrap_or(0),
            max_usage: 0,
            stats: memory_keys(stat, V2_MEMORY_KEYS),
            failcnt: events
                .map(|e| parse_keyed(e).get("oom").copied().unwrap_or(0))
                .unwrap_or(0),
            limit,
        }
    }
}

fn pids(current: &str, max: &str) -> PidsStats {
    PidsStats {
        current: current.trim().parse().unwrap_or(0),
        limit: parse_limit(max).unwrap_or(0),
    }
}

// ---------------------------------------------------------------------------
// Sampling

/// One file kept open between samples.
#[derive(Debug)]
struct Slot {
    path: PathBuf,
    /// `None` once it failed to open.
    file: Option<File>,
    tried: bool,
}

/// Reads a container's counters again and again with few syscalls.
#[derive(Debug)]
pub(crate) struct Sampler {
    paths: Paths,
    slots: Vec<Slot>,
    buf: Vec<u8>,
    /// v1: whether the CFQ `blkio.io_serviced_recursive` files exist.
    cfq: Option<bool>,
}

/// What one sample gives (the caller adds times, ids and precpu).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

const CFQ_FILES: &[&str] = &[
    "sectors_recursive",
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queued_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "time_recursive",
];

impl Sampler {
    pub(crate) fn new(paths: Paths) -> Self {
        Sampler {
            paths,
            slots: Vec::new(),
            buf: vec![0; 8192],
            cfq: None,
        }
    }

    /// The text of `path` now, or `None` when it cannot be read.
    fn read(&mut self, path: &Path) -> Option<&str> {
        let i = match self.slots.iter().position(|s| s.path == path) {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    path: path.to_path_buf(),
                    file: None,
                    tried: false,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[i];
        if !slot.tried {
            slot.tried = true;
            slot.file = File::open(&slot.path).ok();
        }
        let f = slot.file.as_ref()?;
        let mut n = 0;
        loop {
            if n == self.buf.len() {
                if self.buf.len() >= 1 << 20 {
                    break;
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match f.read_at(&mut self.buf[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        std::str::from_utf8(&self.buf[..n]).ok()
    }

    fn read_owned(&mut self, path: Option<PathBuf>) -> Option<String> {
        let p = path?;
        self.read(&p).map(str::to_string)
    }

    /// Reads every counter of the cgroup.
    pub(crate) fn sample(&mut self) -> Sample {
        let machine = machine_memory();
        match self.paths.clone() {
            Paths::V1(_) => {
                let p = |c: &str, f: &str| self.paths.v1(c, f);
                let (usage, percpu, stat, cpu_stat) = (
                    p("cpuacct", "cpuacct.usage"),
                    p("cpuacct", "cpuacct.usage_percpu"),
                    p("cpuacct", "cpuacct.stat"),
                    p("cpu", "cpu.stat"),
                );
                let m = |f: &str| self.paths.v1("memory", f);
                let mem_files = [
                    m("memory.usage_in_bytes"),
                    m("memory.max_usage_in_bytes"),
                    m("memory.limit_in_bytes"),
                    m("memory.failcnt"),
                    m("memory.stat"),
                ];
                let pid_files = [
                    self.paths.v1("pids", "pids.current"),
                    self.paths.v1("pids", "pids.max"),
                ];
                let usage = self.read_owned(usage).unwrap_or_default();
                let percpu = self.read_owned(percpu).unwrap_or_default();
                let stat = self.read_owned(stat).unwrap_or_default();
                let cpu_stat = self.read_owned(cpu_stat);
                let cpu = v1::cpu(&usage, &percpu, &stat, cpu_stat.as_deref());
                let [a, b, c, d, e] = mem_files.map(|f| self.read_owned(f).unwrap_or_default());
                let memory = v1::memory(&a, &b, &c, &d, &e, machine);
                let [pc, pm] = pid_files.map(|f| self.read_owned(f).unwrap_or_default());
                Sample {
                    cpu,
                    memory,
                    pids: pids(&pc, &pm),
                    blkio: self.blkio_v1(),
                }
            }
            Paths::V2(d) => {
                let cpu_stat = self
                    .read_owned(Some(d.join("cpu.stat")))
                    .unwrap_or_default();
                let [cur, max, stat] = ["memory.current", "memory.max", "memory.stat"]
                    .map(|f| self.read_owned(Some(d.join(f))).unwrap_or_default());
                let events = self.read_owned(Some(d.join("memory.events")));
                let [pc, pm] = ["pids.current", "pids.max"]
                    .map(|f| self.read_owned(Some(d.join(f))).unwrap_or_default());
                let io = self.read_owned(Some(d.join("io.stat"))).unwrap_or_default();
                let e = parse_io_stat(&io);
                Sample {
                    cpu: v2::cpu(&cpu_stat),
                    memory: v2::memory(&cur, &max, &stat, events.as_deref(), machine),
                    pids: pids(&pc, &pm),
                    blkio: BlkioStats {
                        io_service_bytes_recursive: (!e.is_empty()).then_some(e),
                        ..Default::default()
                    },
                }
            }
        }
    }

    /// containerd's order: the CFQ files when the kernel has them and
    /// they say something, else the throttle files.
    fn blkio_v1(&mut self) -> BlkioStats {
        let cfq = *self.cfq.get_or_insert_with(|| {
            self.paths
                .v1("blkio", "blkio.io_serviced_recursive")
                .is_some_and(|p| p.exists())
        });
        let mut b = BlkioStats::default();
        let read = |s: &mut Self, name: &str| -> Option<Vec<BlkioStatEntry>> {
            let p = s.paths.v1("blkio", &format!("blkio.{name}"))?;
            let v = parse_blkio_v1(s.read(&p)?);
            (!v.is_empty()).then_some(v)
        };
        if cfq {
            let mut lists: Vec<Option<Vec<BlkioStatEntry>>> =
                CFQ_FILES.iter().map(|f| read(self, f)).collect();
            if lists.iter().any(Option::is_some) {
                let mut take = |i: usize| lists.get_mut(i).and_then(Option::take);
                b.sectors_recursive = take(0);
                b.io_service_bytes_recursive = take(1);
                b.io_serviced_recursive = take(2);
                b.io_queue_recursive = take(3);
                b.io_service_time_recursive = take(4);
                b.io_wait_time_recursive = take(5);
                b.io_merged_recursive = take(6);
                b.io_time_recursive = take(7);
                return b;
            }
        }
        b.io_serviced_recursive = read(self, "throttle.io_serviced");
        b.io_service_bytes_recursive = read(self, "throttle.io_service_bytes");
        b
    }

    /// The host's CPU time (ns), read next to the container's.
    pub(crate) fn system_usage(&mut self) -> u64 {
        self.read(Path::new("/proc/stat"))
            .and_then(parse_proc_stat)
            .unwrap_or(0)
    }

    /// The interfaces of the network namespace `pid` is in.
    pub(crate) fn networks(&mut self, pid: i64) -> BTreeMap<String, NetworkStats> {
        let p = PathBuf::from(format!("/proc/{pid}/net/dev"));
        self.read(&p).map(parse_net_dev).unwrap_or_default()
    }

    /// Forgets the open files (after a restart: new cgroup, new process).
    pub(crate) fn reset(&mut self) {
        self.slots.clear();
        self.cfq = None;
    }
}

// ---------------------------------------------------------------------------
// Writing limits

/// One value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub path: PathBuf,
    pub value: String,
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.write_at(value.as_bytes(), 0).map(|_| ()));
    r.map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Writes `writes` in order. When one fails, the files already written
/// get their old values back (in reverse order) and the error is the
/// failed write's: nothing is left half-applied.
pub(crate) fn apply(writes: &[Write]) -> Result<(), CgroupError> {
    let mut done: Vec<(PathBuf, String)> = Vec::new();
    for w in writes {
        let old = std::fs::read_to_string(&w.path).map_err(|source| CgroupError::Read {
            path: w.path.clone(),
            source,
        });
        let res = old.and_then(|old| write_file(&w.path, &w.value).map(|_| old));
        match res {
            Ok(old) => done.push((w.path.clone(), old.trim().to_string())),
            Err(e) => {
                for (p, old) in done.iter().rev() {
                    if let Err(re) = write_file(p, old) {
                        tracing::warn!(error = %re, "cgroup rollback");
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// What to change: the update request's non-zero values, with Docker's
/// conversions (NanoCpus → a 100 ms period and its quota; a swap limit
/// only when positive; pids ≤ 0 → unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub blkio_weight: u16,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub pids_limit: Option<i64>,
}

impl Limits {
    pub(crate) fn from_update(u: &api::ops::UpdateConfig) -> Self {
        let (mut period, mut quota) = (0, 0);
        if u.nano_cpus != 0 {
            period = 100_000;
            quota = u.nano_cpus.saturating_mul(period) / 1_000_000_000;
        }
        if quota == 0 && u.cpu_quota != 0 {
            quota = u.cpu_quota;
        }
        if period == 0 && u.cpu_period != 0 {
            period = u.cpu_period;
        }
        Limits {
            blkio_weight: u.blkio_weight,
            cpu_shares: u.cpu_shares,
            cpu_period: period,
            cpu_quota: quota,
            cpuset_cpus: u.cpuset_cpus.clone(),
            cpuset_mems: u.cpuset_mems.clone(),
            memory: u.memory,
            memory_swap: u.memory_swap.max(0),
            memory_reservation: u.memory_reservation,
            pids_limit: u.pids_limit,
        }
    }
}

fn pids_value(p: i64) -> String {
    if p <= 0 {
        "max".into()
    } else {
        p.to_string()
    }
}

/// The v1 writes for `l`, in an order the kernel accepts. `cur_limit` is
/// the memory limit now (raising it moves the memsw limit first, as runc
/// does, since the kernel keeps memory ≤ memory+swap).
pub(crate) fn writes_v1(
    dirs: &BTreeMap<String, PathBuf>,
    l: &Limits,
    cur_limit: u64,
) -> Vec<Write> {
    let mut w = Vec::new();
    let mut add = |c: &str, f: &str, v: String| {
        if let Some(d) = dirs.get(c) {
            w.push(Write {
                path: d.join(f),
                value: v,
            });
        }
    };
    if l.blkio_weight != 0 {
        let f = if dirs.get("blkio").is_some_and(|d| {
            !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists()
        }) {
            "blkio.bfq.weight"
        } else {
            "blkio.weight"
        };
        add("blkio", f, l.blkio_weight.to_string());
    }
    if l.cpu_shares != 0 {
        add("cpu", "cpu.shares", l.cpu_shares.to_string());
    }
    if l.cpu_period != 0 {
        add("cpu", "cpu.cfs_period_us", l.cpu_period.to_string());
    }
    if l.cpu_quota != 0 {
        add("cpu", "cpu.cfs_quota_us", l.cpu_quota.to_string());
    }
    if !l.cpuset_cpus.is_empty() {
        add("cpuset", "cpuset.cpus", l.cpuset_cpus.clone());
    }
    if !l.cpuset_mems.is_empty() {
        add("cpuset", "cpuset.mems", l.cpuset_mems.clone());
    }
    let limit = (l.memory != 0).then(|| l.memory.to_string());
    let swap = (l.memory_swap > 0).then(|| l.memory_swap.to_string());
    let raising = l.memory > 0 && u64::try_from(l.memory).unwrap_or(0) > cur_limit;
    match (limit, swap) {
        (Some(m), Some(s)) if raising => {
            add("memory", "memory.memsw.limit_in_bytes", s);
            add("memory", "memory.limit_in_bytes", m);
        }
        (m, s) => {
            if let Some(m) = m {
                add("memory", "memory.limit_in_bytes", m);
            }
            if let Some(s) = s {
                add("memory", "memory.memsw.limit_in_bytes", s);
            }
        }
    }
    if l.memory_reservation != 0 {
        add(
            "memory",
            "memory.soft_limit_in_bytes",
            l.memory_reservation.to_string(),
        );
    }
    if let Some(p) = l.pids_limit {
        add("pids", "pids.max", pids_value(p));
    }
    // memsw exists only with swap accounting: leave out what is absent
    // (Docker warned about it at validation).
    w.retain(|x| x.path.exists());
    w
}

/// runc's conversion of CPU shares (2..262144) to cgroup v2's weight.
pub(crate) fn shares_to_weight(shares: i64) -> u64 {
    if shares <= 0 {
        return 0;
    }
    let s = u64::try_from(shares.clamp(2, 262_144)).unwrap_or(2);
    1 + ((s - 2) * 9999) / 262_142
}

/// The v2 writes for `l`. `cur_cpu_max` is `cpu.max` now (to keep the
/// half of it not changed).
pub(crate) fn writes_v2(dir: &Path, l: &Limits, cur_cpu_max: &str) -> Vec<Write> {
    let mut w = Vec::new();
    let mut add = |f: &str, v: String| {
        w.push(Write {
            path: dir.join(f),
            value: v,
        })
    };
    if l.blkio_weight != 0 {
        if dir.join("io.bfq.weight").exists() {
            add("io.bfq.weight", l.blkio_weight.to_string());
        } else {
            let wt = 1 + (u64::from(l.blkio_weight).saturating_sub(10)) * 9999 / 990;
            add("io.weight", format!("default {wt}"));
        }
    }
    if l.cpu_shares != 0 {
        add("cpu.weight", shares_to_weight(l.cpu_shares).to_string());
    }
    if l.cpu_period != 0 || l.cpu_quota != 0 {
        let mut it = cur_cpu_max.split_ascii_whitespace();
        let cur_q = it.next().unwrap_or("max").to_string();
        let cur_p = it.next().unwrap_or("100000").to_string();
        let q = match l.cpu_quota {
            0 => cur_q,
            q if q < 0 => "max".into(),
            q => q.to_string(),
        };
        let p = if l.cpu_period != 0 {
            l.cpu_period.to_string()
        } else {
            cur_p
        };
        add("cpu.max", format!("{q} {p}"));
    }
    if !l.cpuset_cpus.is_empty() {
        add("cpuset.cpus", l.cpuset_cpus.clone());
    }
    if !l.cpuset_mems.is_empty() {
        add("cpuset.mems", l.cpuset_mems.clone());
    }
    if l.memory != 0 {
        let v = if l.memory < 0 {
            "max".into()
        } else {
            l.memory.to_string()
        };
        add("memory.max", v);
        if l.memory_swap > 0 && l.memory > 0 {
            add(
                "memory.swap.max",
                (l.memory_swap - l.memory).max(0).to_string(),
            );
        }
    }
    if l.memory_reservation != 0 {
        add("memory.low", l.memory_reservation.to_string());
    }
    if let Some(p) = l.pids_limit {
        add("pids.max", pids_value(p));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_cpu_files_become_dockers_cpu_stats() {
        let c = v1::cpu(
            "123456789\n",
            "100 200 \n",
            "user 250\nsystem 50\n",
            Some("nr_periods 10\nnr_throttled 2\nthrottled_time 3000\nnr_bursts 0\n"),
        );
        assert_eq!(c.cpu_usage.total_usage, 123_456_789);
        assert_eq!(c.cpu_usage.percpu_usage, vec![100, 200]);
        assert_eq!(c.cpu_usage.usage_in_usermode, 2_500_000_000);
        assert_eq!(c.cpu_usage.usage_in_kernelmode, 500_000_000);
        assert_eq!(c.throttling_data.periods, 10);
        assert_eq!(c.throttling_data.throttled_periods, 2);
        assert_eq!(c.throttling_data.throttled_time, 3000);
    }

    #[test]
    fn v1_memory_caps_the_limit_at_machine_memory_and_lists_every_key() {
        let m = v1::memory(
            "4096\n",
            "8192\n",
            "9223372036854771712\n",
            "0\n",
            "cache 10\nrss 20\ntotal_inactive_file 5\nunknown_key 7\n",
            1 << 30,
        );
        assert_eq!(m.usage, 4096);
        assert_eq!(m.max_usage, 8192);
        assert_eq!(m.limit, 1 << 30);
        assert_eq!(m.stats.len(), V1_MEMORY_KEYS.len());
        assert_eq!(m.stats["cache"], 10);
        assert_eq!(m.stats["total_inactive_file"], 5);
        assert_eq!(m.stats["dirty"], 0);
        assert!(!m.stats.contains_key("unknown_key"));
        let m = v1::memory("1", "1", "20971520", "3", "", 1 << 30);
        assert_eq!((m.limit, m.failcnt), (20 << 20, 3));
    }

    #[test]
    fn v2_files_become_dockers_sections() {
        let c = v2::cpu(
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
        );
        assert_eq!(c.cpu_usage.total_usage, 1_500_000);
        assert_eq!(c.cpu_usage.usage_in_usermode, 1_000_000);
        assert_eq!(c.cpu_usage.usage_in_kernelmode, 500_000);
        assert!(c.cpu_usage.percpu_usage.is_empty());
        assert_eq!(
            (
                c.throttling_data.periods,
                c.throttling_data.throttled_periods,
                c.throttling_data.throttled_time
            ),
            (4, 1, 7000)
        );
        let m = v2::memory(
            "8388608\n",
            "max\n",
            "anon 100\nfile 200\ninactive_file 50\nworkingset_refault_anon 3\n",
            Some("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"),
            1 << 30,
        );
        assert_eq!(m.usage, 8 << 20);
        assert_eq!(m.limit, 1 << 30);
        assert_eq!(m.failcnt, 1);
        assert_eq!(m.max_usage, 0);
        assert_eq!(m.stats.len(), V2_MEMORY_KEYS.len());
        assert_eq!(m.stats["inactive_file"], 50);
        assert_eq!(m.stats["workingset_refault"], 0);
        let m = v2::memory("1", "20971520\n", "", None, 1 << 30);
        assert_eq!(m.limit, 20 << 20);
        assert_eq!(
            pids("3\n", "max\n"),
            PidsStats {
                current: 3,
                limit: 0
            }
        );
        assert_eq!(pids("3\n", "100\n").limit, 100);
    }

    #[test]
    fn blkio_files_parse_with_and_without_ops() {
        let v = parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n");
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[0],
            BlkioStatEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        let v = parse_blkio_v1("253:1 77\n");
        assert_eq!((v[0].minor, v[0].op.as_str(), v[0].value), (1, "", 77));
        assert!(parse_blkio_v1("Total 0\n").is_empty());
        let v = parse_io_stat("8:16 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].op.as_str(), v[0].value), ("read", 1024));
        assert_eq!(
            (v[1].op.as_str(), v[1].value, v[1].minor),
            ("write", 2048, 16)
        );
    }

    #[test]
    fn proc_stat_sums_seven_fields_in_nanoseconds() {
        let s = "cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_proc_stat(s), Some(280 * 10_000_000));
        assert_eq!(parse_proc_stat("cpu  1 2\n"), None);
        assert_eq!(parse_proc_stat(""), None);
    }

    #[test]
    fn net_dev_lists_interfaces_but_loopback() {
        let s = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 4086 23 1 2 0 0 0 0 1510 15 3 4 0 0 0 0\n";
        let m = parse_net_dev(s);
        assert_eq!(m.len(), 1);
        let e = &m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (4086, 23, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (1510, 15, 3, 4)
        );
    }

    #[test]
    fn limits_follow_dockers_conversions() {
        let u = api::ops::UpdateConfig {
            nano_cpus: 1_500_000_000,
            cpu_quota: 5000,
            memory_swap: -1,
            pids_limit: Some(-1),
            ..Default::default()
        };
        let l = Limits::from_update(&u);
        assert_eq!((l.cpu_period, l.cpu_quota), (100_000, 150_000));
        assert_eq!(l.memory_swap, 0);
        assert_eq!(pids_value(-1), "max");
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
    }

    #[test]
    fn v2_writes_keep_the_unchanged_half_of_cpu_max() {
        let d = tempfile::tempdir().unwrap();
        let l = Limits {
            cpu_quota: 50_000,
            memory: 20 << 20,
            memory_swap: 40 << 20,
            pids_limit: Some(0),
            cpu_shares: 1024,
            ..Default::default()
        };
        let w = writes_v2(d.path(), &l, "max 200000\n");
        let got: Vec<(String, String)> = w
            .iter()
            .map(|w| {
                (
                    w.path.file_name().unwrap().to_string_lossy().into_owned(),
                    w.value.clone(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("cpu.weight", "39"),
            ("cpu.max", "50000 200000"),
            ("memory.max", "20971520"),
            ("memory.swap.max", "20971520"),
            ("pids.max", "max"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn v1_writes_raise_memsw_before_the_limit_and_lower_it_after() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        std::fs::create_dir(&mem).unwrap();
        for f in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] {
            std::fs::write(mem.join(f), "0").unwrap();
        }
        let dirs: BTreeMap<String, PathBuf> = [("memory".to_string(), mem.clone())].into();
        let l = Limits {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        let names = |w: Vec<Write>| -> Vec<String> {
            w.iter()
                .map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(writes_v1(&dirs, &l, 32 << 20)),
            ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        );
        assert_eq!(
            names(writes_v1(&dirs, &l, 256 << 20)),
            ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        );
        // Controllers that are not mounted are left out.
        let l = Limits {
            cpu_shares: 512,
            ..Default::default()
        };
        assert!(writes_v1(&dirs, &l, 0).is_empty());
    }

    #[test]
    fn a_failed_write_restores_the_files_written_before_it() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::write(&a, "old\n").unwrap();
        let missing = d.path().join("none/b");
        let err = apply(&[
            Write {
                path: a.clone(),
                value: "new".into(),
            },
            Write {
                path: missing,
                value: "x".into(),
            },
        ])
        .unwrap_err();
        assert!(matches!(err, CgroupError::Read { .. }));
        // (cgroup files take a value per write; a plain file keeps its tail)
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old\n");
    }

    #[test]
    fn the_sampler_rereads_open_files() {
        let d = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("cpu.stat", "usage_usec 10\n"),
            ("memory.current", "4096\n"),
            ("memory.max", "max\n"),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            ("io.stat", "8:0 rbytes=1 wbytes=2\n"),
        ] {
            std::fs::write(d.path().join(f), v).unwrap();
        }
        let mut s = Sampler::new(Paths::V2(d.path().to_path_buf()));
        let a = s.sample();
        assert_eq!(a.cpu.cpu_usage.total_usage, 10_000);
        assert_eq!(a.memory.usage, 4096);
        assert_eq!(a.pids.current, 2);
        assert_eq!(
            a.blkio.io_service_bytes_recursive.as_ref().unwrap().len(),
            2
        );
        assert_eq!(a.blkio.io_serviced_recursive, None);
        // Same inode, new content (a tmpfs file, not a seq_file: shorter
        // text leaves no tail because pread sees the new length).
        std::fs::write(d.path().join("pids.current"), "5\n").unwrap();
        assert_eq!(s.sample().pids.current, 5);
    }

    #[test]
    fn procs_files_list_pids() {
        assert_eq!(parse_procs("1\n23\n\n456\n"), vec![1, 23, 456]);
    }
}
