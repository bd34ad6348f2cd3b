//! `stats`, `top`, `update`, `rename` and `container prune` on real
//! containers: values against the cgroup files, Docker's errors, events,
//! our CLI and the real `docker` CLI (skipped with the reason printed when
//! absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ctr::*;
use common::Daemon;
use serde_json::{json, Value};

/// A shell that holds ~20 MB in a variable, spins one CPU, and sleeps.
const HOG: &str =
    "x=$(head -c 20000000 /dev/zero | tr '\\0' a); (while :; do :; done) & echo ready; sleep 1000";

fn read_file(p: &std::path::Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn num(p: &std::path::Path) -> u64 {
    read_file(p).parse().unwrap()
}

fn start_hog(d: &Daemon, name: &str, host: Value) -> String {
    let id = create(
        d,
        name,
        json!({ "Cmd": ["sh", "-c", HOG], "HostConfig": host }),
    );
    start(d, &id);
    wait_until(20, "the hog to be ready", || {
        let (o, _) = logs(d, &id, "");
        o.contains("ready")
    });
    id
}

/// A streamed GET: yields the body's lines (JSON documents) as they come.
struct Stream {
    s: UnixStream,
    buf: Vec<u8>,
    body: Vec<u8>,
}

impl Stream {
    fn open(d: &Daemon, path: &str) -> (u16, Stream) {
        let mut s = UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "eof in head");
            buf.push(b[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (
            status,
            Stream {
                s,
                buf: Vec::new(),
                body: Vec::new(),
            },
        )
    }

    /// The next JSON document (the body is chunked).
    fn next(&mut self) -> Value {
        loop {
            if let Some(nl) = self.body.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.body.drain(..=nl).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            // One chunk: size line, data, CRLF.
            while !self.buf.windows(2).any(|w| w == b"\r\n") {
                self.fill();
            }
            let eol = self.buf.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&self.buf[..eol]).unwrap().trim(), 16)
                    .unwrap();
            assert!(size > 0, "stream ended");
            while self.buf.len() < eol + 2 + size + 2 {
                self.fill();
            }
            self.body
                .extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
            self.buf.drain(..eol + 2 + size + 2);
        }
    }

    fn fill(&mut self) {
        let mut b = [0u8; 4096];
        let n = self.s.read(&mut b).unwrap();
        assert!(n > 0, "eof");
        self.buf.extend_from_slice(&b[..n]);
    }
}

fn stats_once(d: &Daemon, id: &str, extra: &str) -> Value {
    let r = api(
        d,
        "GET",
        &format!("/containers/{id}/stats?stream=0{extra}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().ends_with('\n'));
    r.json()
}

#[test]
fn stats_match_the_cgroup_files() {
    let d = daemon();
    let id = start_hog(&d, "hog", json!({ "Memory": 64 << 20, "PidsLimit": 100 }));
    let cpu_before = num(&cgroup_file(&id, "cpuacct", "cpuacct.usage"));
    let t0 = Instant::now();
    let s = stats_once(&d, &id, "");
    // Without one-shot the first sample only primes precpu (~1 s).
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );
    let cpu_after = num(&cgroup_file(&id, "cpuacct", "cpuacct.usage"));
    let mem_now = num(&cgroup_file(&id, "memory", "memory.usage_in_bytes"));
    assert_eq!(s["name"], "/hog");
    assert_eq!(s["id"], id.as_str());
    let total = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    assert!(
        cpu_before <= total && total <= cpu_after,
        "{cpu_before} <= {total} <= {cpu_after}"
    );
    let pre = s["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(pre > 0 && pre < total, "{pre} < {total}");
    assert!(s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(
        s["cpu_stats"]["system_cpu_usage"].as_u64()
            > s["precpu_stats"]["system_cpu_usage"].as_u64()
    );
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(!s["cpu_stats"]["cpu_usage"]["percpu_usage"]
        .as_array()
        .unwrap()
        .is_empty());
    let mem = s["memory_stats"]["usage"].as_u64().unwrap();
    assert!(mem > 20_000_000, "{mem}");
    let diff = mem.abs_diff(mem_now);
    assert!(diff < 4 << 20, "{mem} vs {mem_now}");
    assert_eq!(s["memory_stats"]["limit"], 64u64 << 20);
    assert!(s["memory_stats"]["stats"]["rss"].as_u64().unwrap() > 0);
    assert!(s["memory_stats"]["stats"]
        .as_object()
        .unwrap()
        .contains_key("total_inactive_file"));
    assert_eq!(
        s["pids_stats"]["current"].as_u64().unwrap(),
        num(&cgroup_file(&id, "pids", "pids.current"))
    );
    assert_eq!(s["pids_stats"]["limit"], 100);
    assert_eq!(s["num_procs"], 0);
    assert!(s["blkio_stats"].is_object());
    // Loopback only (no bridge in tests): no interfaces to report.
    assert!(s.get("networks").is_none(), "{s}");
    assert_ne!(s["read"], "0001-01-01T00:00:00Z");

    // one-shot: no priming read, so no precpu.
    let t0 = Instant::now();
    let s = stats_once(&d, &id, "&one-shot=1");
    assert!(t0.elapsed() < Duration::from_millis(800));
    assert_eq!(s["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);

    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/stats?stream=1&one-shot=1"),
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(message(&r), "cannot have stream=true and one-shot=true");
    let r = api(&d, "GET", "/containers/nope/stats?stream=0", None);
    assert_eq!(r.status, 404);
    assert_eq!(message(&r), "No such container: nope");
}

#[test]
fn stats_stream_one_document_a_second_with_precpu() {
    let d = daemon();
    let id = start_hog(&d, "st", json!({}));
    let (status, mut st) = Stream::open(&d, &format!("/containers/{id}/stats"));
    assert_eq!(status, 200);
    let t0 = Instant::now();
    let docs: Vec<Value> = (0..3).map(|_| st.next()).collect();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(docs[0]["preread"], "0001-01-01T00:00:00Z");
    for w in docs.windows(2) {
        assert_eq!(w[1]["precpu_stats"], w[0]["cpu_stats"]);
        assert_eq!(w[1]["preread"], w[0]["read"]);
        assert!(
            w[1]["cpu_stats"]["cpu_usage"]["total_usage"].as_u64()
                > w[0]["cpu_stats"]["cpu_usage"]["total_usage"].as_u64()
        );
    }
    drop(st);

    // A stopped container: zeroed documents, streamed or not.
    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 204);
    wait(&d, &id);
    let t0 = Instant::now();
    let s = stats_once(&d, &id, "");
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert_eq!(s["read"], "0001-01-01T00:00:00Z");
    assert_eq!(s["name"], "/st");
    assert_eq!(s["memory_stats"], json!({}));
    assert_eq!(s["pids_stats"], json!({}));
    assert_eq!(s["blkio_stats"]["io_service_bytes_recursive"], Value::Null);
    let (_, mut st) = Stream::open(&d, &format!("/containers/{id}/stats"));
    let a = st.next();
    let b = st.next();
    assert_eq!(a["read"], "0001-01-01T00:00:00Z");
    assert_eq!(b["cpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(b["id"], id.as_str());
}

fn top_pids(t: &Value) -> Vec<String> {
    let titles: Vec<&str> = t["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let i = titles.iter().position(|t| *t == "PID").unwrap();
    t["Processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[i].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn top_lists_the_containers_processes() {
    let d = daemon();
    let id = create(
        &d,
        "tp",
        json!({ "Cmd": ["sh", "-c", "sleep 1000 & sleep 1001"] }),
    );
    start(&d, &id);
    // sh and the first sleep (sh may exec the second), or all three.
    wait_until(10, "the sleeps to start", || {
        let t = api(&d, "GET", &format!("/containers/{id}/top"), None).text();
        t.contains("sleep 1000") && t.contains("sleep 1001")
    });
    let mut want: Vec<String> = read_file(&cgroup_file(&id, "pids", "cgroup.procs"))
        .lines()
        .map(str::to_string)
        .collect();
    want.sort();
    let r = api(&d, "GET", &format!("/containers/{id}/top"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!(
        t["Titles"],
        json!(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"])
    );
    let mut got = top_pids(&t);
    got.sort();
    assert_eq!(got, want);
    let cmds: Vec<String> = t["Processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[7].as_str().unwrap().to_string())
        .collect();
    assert!(cmds.iter().any(|c| c == "sleep 1001"), "{cmds:?}");

    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/top?ps_args=-o%20pid,comm"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!(t["Titles"], json!(["PID", "COMMAND"]));
    assert_eq!(t["Processes"].as_array().unwrap().len(), want.len());

    // The table from /proc when the host has no usable ps.
    let d2 = daemon_without_ps();
    load_probe_image(&d2);
    let id2 = create(&d2, "tp2", json!({ "Cmd": ["sleep", "1002"] }));
    start(&d2, &id2);
    let r = api(&d2, "GET", &format!("/containers/{id2}/top"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!(
        t["Titles"],
        json!(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"])
    );
    let p = &t["Processes"][0];
    assert_eq!(p[0], "root");
    assert_eq!(p[5], "?");
    assert_eq!(p[6], "00:00:00");
    assert_eq!(p[7], "sleep 1002");
    assert_eq!(
        p[1].as_str().unwrap(),
        read_file(&cgroup_file(&id2, "pids", "cgroup.procs"))
    );

    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 204);
    wait(&d, &id);
    let r = api(&d, "GET", &format!("/containers/{id}/top"), None);
    assert_eq!(r.status, 409);
    assert_eq!(message(&r), format!("Container {id} is not running"));
}

/// A daemon whose PATH has no `ps`.
fn daemon_without_ps() -> Daemon {
    let mut d = Daemon::new();
    let log = std::fs::File::create(&d.log).unwrap();
    let empty = d.dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    // The daemon runs iptables/ip helpers only with networking on; tests
    // run with the bridge off.
    let child = Command::new(d.bin.join("balena-engine-daemon"))
        .args(d.args(&[]))
        .env("PATH", &empty)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    d.child = Some(child);
    d.wait_ready();
    d
}

#[test]
fn update_changes_the_cgroup_and_refuses_impossible_limits() {
    let d = daemon();
    let id = start_hog(&d, "up", json!({ "Memory": 64 << 20, "CpuShares": 1024 }));
    let mem = cgroup_file(&id, "memory", "memory.limit_in_bytes");
    let memsw = cgroup_file(&id, "memory", "memory.memsw.limit_in_bytes");
    let shares = cgroup_file(&id, "cpu", "cpu.shares");
    let pids = cgroup_file(&id, "pids", "pids.max");
    assert_eq!(num(&mem), 64 << 20);

    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/update"),
        Some(json!({ "Memory": 96 << 20, "CpuShares": 512, "PidsLimit": 50 })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "Warnings": [] }));
    assert_eq!(num(&mem), 96 << 20);
    assert_eq!(num(&shares), 512);
    assert_eq!(read_file(&pids), "50");
    let h = inspect(&d, &id)["HostConfig"].clone();
    assert_eq!(h["Memory"], 96 << 20);
    assert_eq!(h["MemorySwap"], 128 << 20);
    assert_eq!(h["CpuShares"], 512);
    assert_eq!(h["PidsLimit"], 50);

    // Raising both: memsw first.
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/update"),
        Some(json!({ "Memory": 200 << 20, "MemorySwap": 300 << 20, "NanoCpus": 500_000_000 })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(num(&mem), 200 << 20);
    if memsw.exists() {
        assert_eq!(num(&memsw), 300 << 20);
    }
    assert_eq!(
        read_file(&cgroup_file(&id, "cpu", "cpu.cfs_quota_us")),
        "50000"
    );
    assert_eq!(
        read_file(&cgroup_file(&id, "cpu", "cpu.cfs_period_us")),
        "100000"
    );

    let before: Vec<String> = [&mem, &memsw, &shares, &pids]
        .iter()
        .filter(|p| p.exists())
        .map(|p| read_file(p))
        .collect();
    let now = || -> Vec<String> {
        [&mem, &memsw, &shares, &pids]
            .iter()
            .filter(|p| p.exists())
            .map(|p| read_file(p))
            .collect()
    };
    let bad = |body: Value, status: u16, msg: &str| {
        let r = api(
            &d,
            "POST",
            &format!("/containers/{id}/update"),
            Some(body.clone()),
        );
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(message(&r).contains(msg), "{body}: {}", message(&r));
    };
    bad(
        json!({ "Memory": 4 << 20 }),
        400,
        "Minimum memory limit allowed is 6MB",
    );
    bad(
        json!({ "Memory": 100 << 20, "MemorySwap": 50 << 20 }),
        400,
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    );
    bad(
        json!({ "Memory": 400 << 20 }),
        409,
        &format!("Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
    );
    bad(
        json!({ "CpuQuota": 20000 }),
        409,
        "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
    );
    // Below what the container uses (no swap to reclaim into): the kernel
    // refuses, and the shares written before are put back.
    bad(
        json!({ "CpuShares": 256, "Memory": 8 << 20, "MemorySwap": 16 << 20 }),
        500,
        &format!("Cannot update container {id}: failed to write"),
    );
    assert_eq!(now(), before);
    let h = inspect(&d, &id)["HostConfig"].clone();
    assert_eq!(h["Memory"], 200 << 20);
    assert_eq!(h["CpuShares"], 512);
    let r = api(
        &d,
        "POST",
        "/containers/nope/update",
        Some(json!({ "CpuShares": 2 })),
    );
    assert_eq!(r.status, 404);

    // Restart policy, and an event per update.
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/update"),
        Some(json!({ "RestartPolicy": { "Name": "unless-stopped" } })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        inspect(&d, &id)["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/update"),
        Some(json!({ "RestartPolicy": { "Name": "no" } })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    {
        let ev = events(&d);
        let updates = ev
            .iter()
            .filter(|e| e["Action"] == "update" && e["Actor"]["ID"] == id.as_str())
            .count();
        assert_eq!(updates, 4, "{ev:?}");
    }

    // A stopped container: the record only, applied at the next start.
    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 204);
    wait(&d, &id);
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/update"),
        Some(json!({ "CpuShares": 300 })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    start(&d, &id);
    assert_eq!(num(&shares), 300);
}

/// Events so far (until a second from now).
fn events(d: &Daemon) -> Vec<Value> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    common::ctr::events_window(d, &format!("since=0&until={until}"))
}

#[test]
fn rename_checks_names_and_frees_the_old_one() {
    let d = daemon();
    let a = create(&d, "ren-a", json!({ "Cmd": ["sleep", "1000"] }));
    let b = create(&d, "ren-b", json!({ "Cmd": ["true"] }));
    start(&d, &a);
    let hostname = inspect(&d, &a)["Config"]["Hostname"].clone();

    let r = api(&d, "POST", "/containers/ren-a/rename?name=ren-b", None);
    assert_eq!(r.status, 409);
    assert_eq!(
        message(&r),
        format!("Error when allocating new name: Conflict. The container name \"/ren-b\" is already in use by container \"{b}\". You have to remove (or rename) that container to be able to reuse that name.")
    );
    let r = api(&d, "POST", "/containers/ren-a/rename?name=ren-a", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "Renaming a container with the same name as its current name"
    );
    let r = api(&d, "POST", "/containers/ren-a/rename?name=bad%20name", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    let r = api(&d, "POST", "/containers/ren-a/rename?name=", None);
    assert_eq!(r.status, 400);
    assert_eq!(message(&r), "Neither old nor new names may be empty");
    let r = api(&d, "POST", "/containers/nope/rename?name=x", None);
    assert_eq!(r.status, 404);

    let r = api(&d, "POST", "/containers/ren-a/rename?name=ren-c", None);
    assert_eq!(r.status, 204, "{}", r.text());
    let i = inspect(&d, &a);
    assert_eq!(i["Name"], "/ren-c");
    assert_eq!(i["Config"]["Hostname"], hostname);
    assert_eq!(inspect(&d, "ren-c")["Id"], a.as_str());
    assert_eq!(api(&d, "GET", "/containers/ren-a/json", None).status, 404);
    // The old name is free again.
    let again = create(&d, "ren-a", json!({ "Cmd": ["true"] }));
    assert_ne!(again, a);
    {
        let ev = events(&d);
        let e = ev
            .iter()
            .find(|e| e["Action"] == "rename")
            .expect("a rename event");
        assert_eq!(e["Actor"]["ID"], a.as_str());
        assert_eq!(e["Actor"]["Attributes"]["oldName"], "/ren-a");
        assert_eq!(e["Actor"]["Attributes"]["name"], "ren-c");
    }
    // The new name survives a daemon restart.
    let mut d = d;
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    d.restart(&[]);
    assert_eq!(inspect(&d, "ren-c")["Id"], a.as_str());
}

#[test]
fn prune_removes_only_stopped_containers() {
    let d = daemon();
    let run = create(&d, "pr-run", json!({ "Cmd": ["sleep", "1000"] }));
    start(&d, &run);
    let s1 = create(
        &d,
        "pr-s1",
        json!({ "Cmd": ["sh", "-c", "head -c 100000 /dev/zero > /big"], "Labels": { "keep": "no" } }),
    );
    start(&d, &s1);
    wait(&d, &s1);
    let s2 = create(
        &d,
        "pr-s2",
        json!({ "Cmd": ["true"], "Labels": { "keep": "yes" } }),
    );
    let enc = |f: Value| -> String {
        f.to_string()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let r = api(
        &d,
        "POST",
        &format!(
            "/containers/prune?filters={}",
            enc(json!({"label": {"keep=no": true}}))
        ),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["ContainersDeleted"], json!([s1]));
    assert!(v["SpaceReclaimed"].as_u64().unwrap() >= 100_000, "{v}");
    let r = api(
        &d,
        "POST",
        &format!(
            "/containers/prune?filters={}",
            enc(json!({"label!": {"keep": true}}))
        ),
        None,
    );
    assert_eq!(r.json()["ContainersDeleted"], Value::Null);
    let r = api(
        &d,
        "POST",
        &format!(
            "/containers/prune?filters={}",
            enc(json!({"until": {"1000": true}}))
        ),
        None,
    );
    assert_eq!(r.json()["ContainersDeleted"], Value::Null);
    let r = api(
        &d,
        "POST",
        &format!(
            "/containers/prune?filters={}",
            enc(json!({"name": {"x": true}}))
        ),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api(&d, "POST", "/containers/prune", None);
    assert_eq!(r.json()["ContainersDeleted"], json!([s2]));
    assert_eq!(inspect(&d, &run)["State"]["Running"], true);
    let ev = events(&d);
    let prunes: Vec<&Value> = ev.iter().filter(|e| e["Action"] == "prune").collect();
    assert_eq!(prunes.len(), 4, "{ev:?}");
    assert_eq!(prunes[0]["Type"], "container");
    assert!(
        prunes[0]["Actor"]["Attributes"]["reclaimed"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 100_000
    );
    assert!(ev
        .iter()
        .any(|e| e["Action"] == "destroy" && e["Actor"]["ID"] == s1.as_str()));
}

#[test]
fn our_cli_runs_stats_top_update_rename_and_prune() {
    let d = daemon();
    let id = start_hog(&d, "cli-hog", json!({ "Memory": 64 << 20 }));
    let out = d.cli(&[
        "stats",
        "--no-stream",
        "--format",
        "table {{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.PIDs}}",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(lines[1].starts_with("cli-hog"), "{text}");
    assert!(lines[1].contains("/ 64MiB"), "{text}");
    let cpu: f64 = lines[1]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 30.0, "a spinning shell: {text}");

    let out = d.cli(&["stats", "--no-stream", "--format", "json", "cli-hog"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Name"], "cli-hog");
    assert_eq!(v["Container"], "cli-hog");

    let out = d.cli(&["top", "cli-hog"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success());
    assert!(text.starts_with("UID "), "{text}");
    assert!(text.contains("sleep 1000"), "{text}");

    let out = d.cli(&[
        "update",
        "--memory",
        "80m",
        "--cpu-shares",
        "600",
        "cli-hog",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli-hog\n");
    assert_eq!(
        num(&cgroup_file(&id, "memory", "memory.limit_in_bytes")),
        80 << 20
    );
    let out = d.cli(&["update", "--memory", "1m", "cli-hog"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error response from daemon: Minimum memory limit allowed is 6MB"
    );

    let out = d.cli(&["rename", "cli-hog", "cli-pig"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(inspect(&d, &id)["Name"], "/cli-pig");
    let out = d.cli(&["rename", "nope", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error response from daemon: No such container: nope\nError: failed to rename container named nope\n"
    );

    let stopped = create(&d, "cli-stopped", json!({ "Cmd": ["true"] }));
    let out = d.cli(&["container", "prune", "-f"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Deleted Containers:\n{stopped}\n\nTotal reclaimed space: 0B\n")
    );
}

#[test]
fn the_docker_cli_runs_stats_top_rename_and_update() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = daemon();
    let id = start_hog(&d, "dk", json!({ "Memory": 64 << 20 }));
    let (code, out, err) = d.run_docker(&docker, &["stats", "--no-stream"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("CONTAINER ID"), "{out}");
    let row = out.lines().nth(1).unwrap();
    assert!(row.starts_with(&id[..12]), "{out}");
    assert!(row.contains(" dk "), "{out}");
    assert!(row.contains("/ 64MiB"), "{out}");
    let (code, out, err) = d.run_docker(
        &docker,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "dk",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let pids = num(&cgroup_file(&id, "pids", "pids.current"));
    assert_eq!(out.trim(), format!("dk {pids}"));

    let (code, out, err) = d.run_docker(&docker, &["top", "dk"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("UID"), "{out}");
    assert!(out.contains("sleep 1000"), "{out}");

    let (code, out, err) = d.run_docker(
        &docker,
        &["update", "--memory", "100m", "--memory-swap", "200m", "dk"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "dk");
    assert_eq!(
        num(&cgroup_file(&id, "memory", "memory.limit_in_bytes")),
        100 << 20
    );
    let (code, _, err) = d.run_docker(&docker, &["update", "--memory", "300m", "dk"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Memory limit should be smaller than already set memoryswap limit"),
        "{err}"
    );

    let (code, out, err) = d.run_docker(&docker, &["rename", "dk", "dk2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(inspect(&d, &id)["Name"], "/dk2");

    let stopped = create(&d, "dk-stopped", json!({ "Cmd": ["true"] }));
    let (code, out, err) = d.run_docker(&docker, &["container", "prune", "-f"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&stopped), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
}
