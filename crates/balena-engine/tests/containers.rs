//! End-to-end container tests: the real daemon, driven through the raw
//! Docker API, running containers from a busybox test image whose `/probe`
//! reports what a process sees from inside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::ctr::*;
use common::{pids_mentioning, raw, Daemon};
use serde_json::{json, Value};

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Names of the containers `GET /containers/json?all=1&filters=` lists.
fn list_names(d: &Daemon, filters: Value) -> Vec<String> {
    let r = api(
        d,
        "GET",
        &format!(
            "/containers/json?all=1&filters={}",
            enc(&filters.to_string())
        ),
        None,
    );
    assert_eq!(r.status, 200, "{filters}: {}", r.text());
    let mut v: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn names(n: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = n.iter().map(|s| format!("/{s}")).collect();
    v.sort();
    v
}

fn remove_force(d: &Daemon, id: &str) {
    let r = api(d, "DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204, "rm: {}", r.text());
}

#[test]
fn run_reports_exit_code_logs_state_and_list_filters() {
    let d = daemon();
    let (id, code, out, err) = run(
        &d,
        "ct-run-one",
        json!({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"], "Labels": {"k": "v"}}),
    );
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    let v = inspect(&d, &id);
    let st = &v["State"];
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], 3);
    assert_eq!(st["Running"], false);
    assert_eq!(st["Pid"], 0);
    let (sa, fa) = (
        st["StartedAt"].as_str().unwrap(),
        st["FinishedAt"].as_str().unwrap(),
    );
    assert!(!sa.starts_with("0001") && sa < fa, "{sa} < {fa}");
    assert_eq!(v["Name"], "/ct-run-one");
    assert_eq!(v["Config"]["Labels"]["img"], "ctest", "image labels merged");

    let (id2, code2, _, _) = run(
        &d,
        "ct-run-two",
        json!({"Cmd": ["true"], "Labels": {"k": "w"}}),
    );
    assert_eq!(code2, 0);
    let id3 = create(&d, "ct-run-three", json!({"Cmd": ["true"]}));

    let r = api(&d, "GET", "/containers/json?all=1", None);
    let list = r.json();
    let one = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id.as_str())
        .unwrap();
    let status = one["Status"].as_str().unwrap();
    assert!(status.starts_with("Exited (3) "), "{status}");
    assert!(status.ends_with(" ago"), "{status}");
    assert_eq!(one["State"], "exited");
    assert_eq!(one["Command"], "sh -c echo out; echo err >&2; exit 3");
    assert_eq!(one["Image"], IMAGE);
    // Without all=1 only running ones.
    let r = api(&d, "GET", "/containers/json", None);
    assert_eq!(r.json(), json!([]));

    let all3 = names(&["ct-run-one", "ct-run-two", "ct-run-three"]);
    assert_eq!(
        list_names(&d, json!({"status": ["exited"]})),
        names(&["ct-run-one", "ct-run-two"])
    );
    assert_eq!(
        list_names(&d, json!({"status": ["created"]})),
        names(&["ct-run-three"])
    );
    assert_eq!(
        list_names(&d, json!({"exited": ["3"]})),
        names(&["ct-run-one"])
    );
    assert_eq!(
        list_names(&d, json!({"name": ["ct-run-one"]})),
        names(&["ct-run-one"])
    );
    assert_eq!(
        list_names(&d, json!({"label": ["k=v"]})),
        names(&["ct-run-one"])
    );
    assert_eq!(
        list_names(&d, json!({"label": ["k"]})),
        names(&["ct-run-one", "ct-run-two"])
    );
    assert_eq!(
        list_names(&d, json!({"id": [&id[..10]]})),
        names(&["ct-run-one"])
    );
    assert_eq!(list_names(&d, json!({"ancestor": ["ctest"]})), all3);
    assert_eq!(list_names(&d, json!({"ancestor": ["ctest:latest"]})), all3);
    assert_eq!(
        list_names(&d, json!({"before": ["ct-run-two"]})),
        names(&["ct-run-one"])
    );
    assert_eq!(
        list_names(&d, json!({"since": [&id[..12]]})),
        names(&["ct-run-two", "ct-run-three"])
    );
    let r = api(
        &d,
        "GET",
        &format!(
            "/containers/json?all=1&filters={}",
            enc(r#"{"status":["bogus"]}"#)
        ),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let _ = (id2, id3);
}

/// Every capability a privileged container can get: the kernel's, limited
/// to the engine's (here: this test's) own bounding set.
fn caps_all() -> String {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    format!("{:016x}", ((1u64 << (last + 1)) - 1) & bnd)
}

#[test]
fn default_security_profile_matches_docker() {
    let d = daemon();
    let p = probe(&d, "ct-sec-default", json!({}), json!({}));
    assert_eq!(p["uid"], "0");
    assert_eq!(p["CapEff"], "00000000a80425fb");
    assert_eq!(p["CapBnd"], "00000000a80425fb");
    assert_eq!(p["Seccomp"], "2");
    assert_eq!(p["NoNewPrivs"], "0");
    if Path::new("/proc/kcore").exists() {
        assert_eq!(p["kcore"], "character special file", "{p:?}");
    }
    assert_eq!(p["keys"], "character special file", "{p:?}");
    assert!(p["procsys_opts"].starts_with("ro,"), "{p:?}");
    assert!(
        p["procsys_touch"].contains("Read-only file system"),
        "{p:?}"
    );
    assert!(p["shm"].contains("size=65536k"), "{p:?}");
    assert!(p["rootopts"].starts_with("rw"), "{p:?}");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
        "stdout", "stderr", "mqueue",
    ] {
        assert!(
            p["dev"].split(' ').any(|e| e == dev),
            "/dev/{dev} missing: {}",
            p["dev"]
        );
    }
    for e in ["etc_hosts", "etc_hostname", "etc_resolv.conf"] {
        assert_eq!(p[e], "yes", "{e}");
    }
    let id = inspect(&d, "ct-sec-default")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(p["hostname"], id[..12]);

    let p = probe(
        &d,
        "ct-sec-shm",
        json!({"ShmSize": 16 << 20}),
        json!({"Hostname": "myhost"}),
    );
    assert!(p["shm"].contains("size=16384k"), "{p:?}");
    assert_eq!(p["hostname"], "myhost");
}

#[test]
fn privileges_and_security_options() {
    let d = daemon();

    let p = probe(
        &d,
        "ct-capadd",
        json!({"CapDrop": ["ALL"], "CapAdd": ["NET_ADMIN"]}),
        json!({}),
    );
    assert_eq!(p["CapEff"], "0000000000001000");
    assert_eq!(p["CapBnd"], "0000000000001000");

    let r = try_create(
        &d,
        "ct-badcap",
        json!({"HostConfig": {"CapAdd": ["NOSUCH"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        message(&r),
        "invalid CapAdd: unknown capability: \"CAP_NOSUCH\""
    );
    let r = try_create(
        &d,
        "ct-badcap",
        json!({"HostConfig": {"CapDrop": ["NOSUCH"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        message(&r),
        "invalid CapDrop: unknown capability: \"CAP_NOSUCH\""
    );

    let p = probe(
        &d,
        "ct-nnp",
        json!({"SecurityOpt": ["no-new-privileges"]}),
        json!({}),
    );
    assert_eq!(p["NoNewPrivs"], "1");
    assert_eq!(p["Seccomp"], "2");
    let p = probe(
        &d,
        "ct-unconfined",
        json!({"SecurityOpt": ["seccomp=unconfined"]}),
        json!({}),
    );
    assert_eq!(p["Seccomp"], "0");
    assert_eq!(p["CapEff"], "00000000a80425fb");

    let p = probe(&d, "ct-priv", json!({"Privileged": true}), json!({}));
    assert_eq!(p["Seccomp"], "0");
    assert_eq!(p["CapEff"], caps_all());
    assert_ne!(
        p["keys"], "character special file",
        "privileged unmasks: {p:?}"
    );
}

#[test]
fn users_and_groups() {
    let d = daemon();
    let p = probe(&d, "ct-user-num", json!({}), json!({"User": "1000:1000"}));
    assert_eq!((p["uid"].as_str(), p["gid"].as_str()), ("1000", "1000"));
    let p = probe(&d, "ct-user-name", json!({}), json!({"User": "app"}));
    assert_eq!((p["uid"].as_str(), p["gid"].as_str()), ("1000", "1000"));
    let groups: Vec<&str> = p["groups"].split(' ').collect();
    assert!(groups.contains(&"2000"), "{groups:?}");
    let p = probe(
        &d,
        "ct-user-add",
        json!({"GroupAdd": ["extra", "3000"]}),
        json!({"User": "nobody"}),
    );
    assert_eq!(p["uid"], "65534");
    let groups: Vec<&str> = p["groups"].split(' ').collect();
    assert!(
        groups.contains(&"2000") && groups.contains(&"3000"),
        "{groups:?}"
    );

    let id = create(
        &d,
        "ct-user-bad",
        json!({"Cmd": ["true"], "User": "nosuch"}),
    );
    let r = api(&d, "POST", &format!("/containers/{id}/start"), None);
    assert!(r.status >= 400, "{}", r.text());
    let m = message(&r);
    assert!(m.contains("unable to find user nosuch"), "{m}");
    let st = &inspect(&d, &id)["State"];
    assert!(
        st["Error"]
            .as_str()
            .unwrap()
            .contains("unable to find user nosuch"),
        "{st}"
    );
    assert_eq!(st["Running"], false);
}

#[test]
fn read_only_rootfs_tmpfs_and_binds() {
    let d = daemon();
    let (_, code, out, _) = run(
        &d,
        "ct-ro",
        json!({"Cmd": ["sh", "-c", "touch /x 2>&1; touch /tmp/y && echo tmpok"],
               "HostConfig": {"ReadonlyRootfs": true, "Tmpfs": {"/tmp": "size=1m"}}}),
    );
    assert_eq!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("tmpok"), "{out}");

    let base = d.dir.path().join("binds");
    for s in ["rw", "ro", "m"] {
        std::fs::create_dir_all(base.join(s)).unwrap();
    }
    std::fs::write(base.join("ro/r"), "from-host\n").unwrap();
    let b = base.display().to_string();
    let (id, code, out, _) = run(
        &d,
        "ct-binds",
        json!({"Cmd": ["sh", "-c",
            "echo hi > /mnt/rw/f && cat /mnt/ro/r; (echo x > /mnt/ro/z) 2>&1; (echo x > /mnt/m/z) 2>&1; true"],
            "HostConfig": {
                "Binds": [format!("{b}/rw:/mnt/rw"), format!("{b}/ro:/mnt/ro:ro")],
                "Mounts": [{"Type": "bind", "Source": format!("{b}/m"), "Target": "/mnt/m", "ReadOnly": true}]}}),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(base.join("rw/f")).unwrap(), "hi\n");
    assert!(out.starts_with("from-host\n"), "{out}");
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert!(!base.join("ro/z").exists() && !base.join("m/z").exists());
    let mounts = inspect(&d, &id)["Mounts"].clone();
    assert_eq!(mounts.as_array().unwrap().len(), 3, "{mounts}");

    let r = try_create(
        &d,
        "ct-bind-bad",
        json!({"HostConfig": {"Binds": ["/tmp:relative/path"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = try_create(
        &d,
        "ct-bind-missing",
        json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/nonexistent/ct-src", "Target": "/mnt"}]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        message(&r),
        "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent/ct-src"
    );
}

#[test]
fn resources_reach_the_cgroup() {
    let d = daemon();
    let id = create(
        &d,
        "ct-res",
        json!({"Cmd": ["sleep", "1000"], "HostConfig": {
            "Memory": 64 << 20, "PidsLimit": 50, "CpuShares": 512,
            "NanoCpus": 500_000_000, "CpusetCpus": "0"}}),
    );
    start(&d, &id);
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    };
    if cgroup_v2() {
        let g = Path::new("/sys/fs/cgroup/balena").join(&id);
        assert_eq!(read(g.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(g.join("pids.max")), "50");
        assert_eq!(read(g.join("cpu.max")), "50000 100000");
        assert_eq!(read(g.join("cpuset.cpus")), "0");
    } else {
        assert_eq!(
            read(cgroup_file(&id, "memory", "memory.limit_in_bytes")),
            (64u64 << 20).to_string()
        );
        assert_eq!(read(cgroup_file(&id, "pids", "pids.max")), "50");
        assert_eq!(read(cgroup_file(&id, "cpu", "cpu.shares")), "512");
        assert_eq!(read(cgroup_file(&id, "cpu", "cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cgroup_file(&id, "cpu", "cpu.cfs_period_us")), "100000");
        assert_eq!(read(cgroup_file(&id, "cpuset", "cpuset.cpus")), "0");
    }
    // The limit as seen from inside.
    let (o, e, code) = exec(
        &d,
        &id,
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        ],
        json!({}),
    );
    assert_eq!((o.trim(), code), ("67108864", 0), "{e}");
    remove_force(&d, &id);
    assert!(
        !cgroup_file(&id, "memory", "").exists(),
        "cgroup left behind"
    );

    let r = try_create(&d, "ct-res-bad", json!({"HostConfig": {"Memory": 1000}}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(message(&r), "Minimum memory limit allowed is 6MB");
    let r = try_create(
        &d,
        "ct-res-bad",
        json!({"HostConfig": {"CpusetCpus": "0-99"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        message(&r).starts_with("Requested CPUs are not available - requested 0-99, available: "),
        "{}",
        r.text()
    );
}

#[test]
fn ulimits_sysctls_devices_and_init() {
    let d = daemon();
    let p = probe(
        &d,
        "ct-ulimit",
        json!({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]}),
        json!({}),
    );
    assert_eq!(
        (p["nofile"].as_str(), p["nofile_hard"].as_str()),
        ("1024", "2048")
    );

    let (_, code, out, err) = run(
        &d,
        "ct-sysctl",
        json!({"Cmd": ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax"],
               "HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}}}),
    );
    assert_eq!((code, out.as_str()), (0, "1\n123456789\n"), "{err}");
    let r = try_create(
        &d,
        "ct-sysctl-bad",
        json!({"HostConfig": {"Sysctls": {"vm.swappiness": "10"}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    let (_, code, out, err) = run(
        &d,
        "ct-dev",
        json!({"Cmd": ["sh", "-c", "stat -c %F /dev/mynull && echo x > /dev/mynull && echo wrote"],
               "HostConfig": {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rwm"}]}}),
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "character special file\nwrote\n"),
        "{err}"
    );
    let r = try_create(
        &d,
        "ct-dev-bad",
        json!({"HostConfig": {"Devices": [{"PathOnHost": "/dev/ct-nosuch", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn init_runs_as_pid_one_and_forwards_signals() {
    let d = daemon();
    let (_, code, out, err) = run(
        &d,
        "ct-init",
        json!({"Cmd": ["sh", "-c", "cat /proc/1/comm; echo $$; exit 7"],
               "HostConfig": {"Init": true}}),
    );
    // PID 1 is the init (named as Docker's), the command is its child.
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("docker-init"), "{out}{err}");
    assert_ne!(lines.next(), Some("1"), "{out}{err}");
    assert_eq!(code, 7, "{out}{err}");

    // A plain sleep under the init dies from TERM: 128 + 15.
    let id = create(
        &d,
        "ct-init-stop",
        json!({"Cmd": ["sleep", "1000"], "HostConfig": {"Init": true}}),
    );
    start(&d, &id);
    let t0 = Instant::now();
    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=10"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(inspect(&d, &id)["State"]["ExitCode"], 143);
}

#[test]
fn oom_kill_is_reported() {
    let d = daemon();
    let (id, code, _, _) = run(
        &d,
        "ct-oom",
        json!({"Cmd": ["sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done"],
               "HostConfig": {"Memory": 8 << 20, "MemorySwap": 8 << 20}}),
    );
    assert_eq!(code, 137);
    let st = &inspect(&d, &id)["State"];
    assert_eq!(st["OOMKilled"], true, "{st}");
    assert_eq!(st["ExitCode"], 137);
}

/// Runs `wait?condition=` on another thread.
fn wait_in_thread(d: &Daemon, id: &str, cond: &str) -> std::thread::JoinHandle<Value> {
    let sock = d.socket.clone();
    let path = format!("/containers/{id}/wait?condition={cond}");
    let h = std::thread::spawn(move || raw(&sock, "POST", &path, None).json());
    // Let the wait register before the event.
    std::thread::sleep(Duration::from_millis(300));
    h
}

#[test]
fn stop_kill_restart_and_wait_conditions() {
    let d = daemon();
    // A process ignoring TERM is killed after the timeout.
    let id = create(
        &d,
        "ct-stop-trap",
        json!({"Cmd": ["sh", "-c", "trap '' TERM; echo ready; while :; do usleep 50000; done"]}),
    );
    start(&d, &id);
    wait_until(10, "ready", || logs(&d, &id, "").0.contains("ready"));
    let t0 = Instant::now();
    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(inspect(&d, &id)["State"]["ExitCode"], 137);
    let r = api(&d, "POST", &format!("/containers/{id}/stop"), None);
    assert_eq!(r.status, 304, "stop of a stopped container");

    // A shell that exits on TERM.
    let id = create(
        &d,
        "ct-stop-plain",
        json!({"Cmd": ["sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do usleep 50000; done"]}),
    );
    start(&d, &id);
    wait_until(10, "ready", || logs(&d, &id, "").0.contains("ready"));
    let t0 = Instant::now();
    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=10"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(inspect(&d, &id)["State"]["ExitCode"], 3);

    // kill with a signal the process handles.
    let id = create(
        &d,
        "ct-hup",
        json!({"Cmd": ["sh", "-c", "trap 'echo got-hup; exit 5' HUP; echo ready; while :; do usleep 50000; done"]}),
    );
    start(&d, &id);
    wait_until(10, "ready", || logs(&d, &id, "").0.contains("ready"));
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/kill?signal=HUP"),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(wait(&d, &id), 5);
    assert_eq!(logs(&d, &id, "").0, "ready\ngot-hup\n");
    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 409, "kill of a stopped container: {}", r.text());

    // restart: a new process.
    let id = create(&d, "ct-restart", json!({"Cmd": ["sleep", "1000"]}));
    start(&d, &id);
    let before = inspect(&d, &id)["State"].clone();
    let r = api(&d, "POST", &format!("/containers/{id}/restart?t=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let after = inspect(&d, &id)["State"].clone();
    assert_eq!(after["Running"], true);
    assert_ne!(after["Pid"], before["Pid"]);
    assert!(after["StartedAt"].as_str() > before["StartedAt"].as_str());
    assert!(alive(after["Pid"].as_i64().unwrap()));

    // wait conditions.
    let h = wait_in_thread(&d, &id, "next-exit");
    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(h.join().unwrap()["StatusCode"], 137);
    assert_eq!(wait_cond(&d, &id, "not-running"), 137);
    let r = api(
        &d,
        "POST",
        &format!("/containers/{id}/wait?condition=bogus"),
        None,
    );
    assert_eq!(r.status, 400);
    let h = wait_in_thread(&d, &id, "removed");
    assert!(!h.is_finished());
    let r = api(&d, "DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(h.join().unwrap()["StatusCode"], 137);
}

#[test]
fn remove_and_create_errors_read_like_docker() {
    let d = daemon();
    let id = create(&d, "ct-rm", json!({"Cmd": ["sleep", "1000"]}));
    start(&d, &id);
    let r = api(&d, "DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        message(&r),
        format!("You cannot remove a running container {id}. Stop the container before attempting removal or force remove")
    );
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();
    let r = api(&d, "DELETE", "/containers/ct-rm?force=1", None);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = api(&d, "GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.status, 404);
    wait_until(5, "process gone", || !alive(pid));

    let r = api(&d, "DELETE", "/containers/ct-nosuch", None);
    assert_eq!(r.status, 404);
    assert_eq!(message(&r), "No such container: ct-nosuch");

    let id = create(&d, "ct-dup", json!({"Cmd": ["true"]}));
    let r = try_create(&d, "ct-dup", json!({"Cmd": ["true"]}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        message(&r),
        format!("Conflict. The container name \"/ct-dup\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")
    );
    let r = api(
        &d,
        "POST",
        "/containers/create?name=ct-noimg",
        Some(json!({"Image": "ct-nosuch-image"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(message(&r).contains("No such image"), "{}", r.text());
    // Encoded: a raw space would make the request line itself invalid.
    let r = try_create(&d, "bad%20name!", json!({"Cmd": ["true"]}));
    assert!(
        message(&r).contains("Invalid container name (bad name!)"),
        "{}",
        r.text()
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn a_missing_executable_fails_start_and_leaves_nothing() {
    let d = daemon();
    let id = create(&d, "ct-noexec", json!({"Cmd": ["ct-nosuch-cmd"]}));
    let r = api(&d, "POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        message(&r).contains("executable file not found"),
        "{}",
        r.text()
    );
    let v = inspect(&d, &id);
    assert_eq!(v["State"]["ExitCode"], 127);
    assert_eq!(v["State"]["Running"], false);
    assert!(v["State"]["Error"]
        .as_str()
        .unwrap()
        .contains("executable file not found"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(pids_mentioning(&id), Vec::<i32>::new(), "shim left");
    let merged = v["GraphDriver"]["Data"]["MergedDir"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!merged.is_empty(), "{}", v["GraphDriver"]);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(&merged), "rootfs still mounted");
    assert!(!cgroup_file(&id, "memory", "").exists(), "cgroup left");
    assert!(!cgroup_file(&id, "pids", "").exists(), "cgroup left");
    // And it can still be removed.
    let r = api(&d, "DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
}

fn counter(s: &str) -> Vec<u64> {
    s.lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn containers_survive_a_daemon_crash() {
    let mut d = daemon();
    let id = create(
        &d,
        "ct-live",
        json!({"Cmd": ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do echo $i; i=$((i+1)); usleep 100000; done"]}),
    );
    start(&d, &id);
    let quick = create(
        &d,
        "ct-live-exit",
        json!({"Cmd": ["sh", "-c", "sleep 1; exit 42"]}),
    );
    start(&d, &quick);
    let qpid = inspect(&d, &quick)["State"]["Pid"].as_i64().unwrap();
    wait_until(10, "output", || counter(&logs(&d, &id, "").0).len() >= 3);
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();

    d.signal(nix::sys::signal::Signal::SIGKILL);
    let dpid = d.pid();
    let exited = d.wait_exit(Duration::from_secs(10));
    assert!(
        exited.is_some() || d.child.is_none(),
        "daemon did not exit: {}",
        std::fs::read_to_string(format!("/proc/{dpid}/status")).unwrap_or_default()
    );
    assert!(alive(pid), "container died with the daemon");
    wait_until(10, "the quick container to exit", || !alive(qpid));
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid));
    d.restart(&[]);

    let st = inspect(&d, &id)["State"].clone();
    assert_eq!(st["Running"], true, "{st}");
    assert_eq!(st["Pid"], pid);
    let n = counter(&logs(&d, &id, "").0);
    assert_eq!(n, (0..n.len() as u64).collect::<Vec<_>>(), "gap in logs");
    assert!(n.len() >= 8, "{n:?}");

    let st = inspect(&d, &quick)["State"].clone();
    assert_eq!(st["Status"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 42, "{st}");
    assert_eq!(st["Pid"], 0);
    assert_eq!(wait(&d, &quick), 42);

    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=5"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let st = inspect(&d, &id)["State"].clone();
    assert_eq!(st["ExitCode"], 0, "{st}");
    assert!(!alive(pid));
    let n = counter(&logs(&d, &id, "").0);
    assert_eq!(n, (0..n.len() as u64).collect::<Vec<_>>(), "gap in logs");
}

#[test]
fn exec_runs_in_the_container() {
    let d = daemon();
    let id = create(&d, "ct-exec", json!({"Cmd": ["sleep", "1000"]}));
    start(&d, &id);
    let (o, e, code) = exec(
        &d,
        &id,
        &["sh", "-c", "echo out; echo err >&2; exit 4"],
        json!({}),
    );
    assert_eq!((o.as_str(), e.as_str(), code), ("out\n", "err\n", 4));
    let (o, _, code) = exec(
        &d,
        &id,
        &["sh", "-c", "echo $FOO $(pwd) $(id -u)"],
        json!({"Env": ["FOO=bar"], "WorkingDir": "/tmp", "User": "1000"}),
    );
    assert_eq!((o.as_str(), code), ("bar /tmp 1000\n", 0));

    // A tty exec over a hijacked connection: raw output.
    let eid = exec_create(
        &d,
        &id,
        json!({"Cmd": ["sh", "-c", "test -t 1 && echo isatty"], "Tty": true,
               "AttachStdout": true, "AttachStderr": true, "AttachStdin": true}),
    );
    let mut h = hijack(
        &d.socket,
        "POST",
        &format!("/exec/{eid}/start"),
        br#"{"Detach":false,"Tty":true}"#,
    )
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    assert!(
        h.head.contains("application/vnd.docker.raw-stream"),
        "{}",
        h.head
    );
    let out = String::from_utf8_lossy(&h.rest()).into_owned();
    assert_eq!(out, "isatty\r\n");
    assert_eq!(exec_inspect_done(&d, &eid)["ExitCode"], 0);

    // Detached.
    let eid = exec_create(
        &d,
        &id,
        json!({"Cmd": ["sh", "-c", "echo detached > /tmp/d"]}),
    );
    let r = api(
        &d,
        "POST",
        &format!("/exec/{eid}/start"),
        Some(json!({"Detach": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(exec_inspect_done(&d, &eid)["ExitCode"], 0);
    let (o, _, _) = exec(&d, &id, &["cat", "/tmp/d"], json!({}));
    assert_eq!(o, "detached\n");

    // Exec into a container with a small memory limit.
    let small = create(
        &d,
        "ct-exec-small",
        json!({"Cmd": ["sleep", "1000"], "HostConfig": {"Memory": 8 << 20}}),
    );
    start(&d, &small);
    let (o, e, code) = exec(&d, &small, &["echo", "hi"], json!({}));
    assert_eq!((o.as_str(), code), ("hi\n", 0), "{e}");

    // Not running: 409.
    let r = api(&d, "POST", &format!("/containers/{small}/kill"), None);
    assert_eq!(r.status, 204);
    let r = api(
        &d,
        "POST",
        &format!("/containers/{small}/exec"),
        Some(json!({"Cmd": ["true"]})),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(message(&r), format!("Container {small} is not running"));
}

#[test]
fn attach_before_start_sees_everything() {
    let d = daemon();
    let id = create(
        &d,
        "ct-attach",
        json!({"Cmd": ["sh", "-c", "echo first; exec cat"], "OpenStdin": true, "StdinOnce": true,
               "AttachStdin": true, "AttachStdout": true, "AttachStderr": true}),
    );
    let mut h = hijack(
        &d.socket,
        "POST",
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        b"",
    )
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.text()));
    assert!(
        h.head.contains("application/vnd.docker.multiplexed-stream"),
        "{}",
        h.head
    );
    start(&d, &id);
    let out = h.read_stdout_until(|s| s.contains("first\n"));
    assert_eq!(out, "first\n");
    use std::io::Write;
    h.s.write_all(b"ping\n").unwrap();
    let out = h.read_stdout_until(|s| s.contains("ping\n"));
    assert_eq!(out, "ping\n");
    h.s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(wait(&d, &id), 0);
    assert_eq!(logs(&d, &id, "").0, "first\nping\n");
}

#[test]
fn cve_2019_5736_cannot_overwrite_the_engine() {
    let d = Daemon::new_with_copy().start(&[]);
    load_probe_image(&d);
    let copy = d.dir.path().join("engine-copy");
    let before = common::images::sha256(&std::fs::read(&copy).unwrap());
    let script = r#"
rm /bin/sh && printf '#!/proc/self/exe\n' > /bin/sh && chmod 755 /bin/sh || exit 1
: > /tmp/attempts; : > /tmp/found
echo ready
while :; do
  for d in /proc/[0-9]*; do
    [ "$d/exe" -ef /bin/busybox ] && continue
    [ -e "$d/exe" ] || continue
    ( exec 3< "$d/exe" || exit 0
      echo "$d" >> /tmp/found
      { echo pwned >> /proc/self/fd/3 && echo WROTE-echo; } >> /tmp/attempts 2>&1
      { cat /bin/busybox > /proc/self/fd/3 && echo WROTE-cat; } >> /tmp/attempts 2>&1
      # The CVE's way: keep the fd, wait for the process to exit, write then.
      n=0; while [ -e "$d/exe" ] && [ $n -lt 5000 ]; do n=$((n+1)); done
      { echo pwned >> /proc/self/fd/3 && echo WROTE-after-exit; } >> /tmp/attempts 2>&1
    ) 2>/dev/null
  done
done
"#;
    let id = create(
        &d,
        "ct-cve",
        json!({"Cmd": ["/bin/busybox", "sh", "-c", script]}),
    );
    start(&d, &id);
    wait_until(10, "ready", || logs(&d, &id, "").0.contains("ready"));
    let mut found = String::new();
    for _ in 0..300 {
        let eid = exec_create(
            &d,
            &id,
            json!({"Cmd": ["/bin/sh"], "AttachStdout": true, "AttachStderr": true}),
        );
        let r = api(
            &d,
            "POST",
            &format!("/exec/{eid}/start"),
            Some(json!({"Detach": false})),
        );
        assert!(r.status < 500, "{}", r.text());
        found = exec(&d, &id, &["/bin/cat", "/tmp/found"], json!({})).0;
        if !found.is_empty() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let attempts = exec(&d, &id, &["/bin/cat", "/tmp/attempts"], json!({})).0;
    let after = common::images::sha256(&std::fs::read(&copy).unwrap());
    eprintln!("found:\n{found}attempts:\n{attempts}");
    assert_eq!(before, after, "the engine binary was modified: {attempts}");
    assert!(!attempts.contains("WROTE"), "{attempts}");
    assert!(
        !found.is_empty(),
        "no attempt ever saw a non-busybox executable: the test proved nothing"
    );
    for l in attempts.lines() {
        assert!(
            l.contains("Read-only file system")
                || l.contains("Text file busy")
                || l.contains("Operation not permitted"),
            "{l}"
        );
    }
    assert!(!attempts.is_empty());
}

/// With `--init`, the container's PID 1 is a fork of the shim for the
/// container's whole life, so its `/proc/1/exe` is the engine binary: the
/// same attack, with no race to win.
#[test]
fn cve_2019_5736_init_exe_cannot_be_written() {
    let d = Daemon::new_with_copy().start(&[]);
    load_probe_image(&d);
    let copy = d.dir.path().join("engine-copy");
    let before = common::images::sha256(&std::fs::read(&copy).unwrap());
    let script = r#"
comm=$(cat /proc/1/comm)
r1=$( { echo pwned >> /proc/1/exe; } 2>&1 && echo WROTE )
r2=$( ( exec 3< /proc/1/exe && { echo pwned >> /proc/self/fd/3; } 2>&1 && echo WROTE ) 2>&1 )
r3=$( ( exec 3< /proc/1/exe && cat /bin/busybox > /proc/self/fd/3 && echo WROTE ) 2>&1 )
echo "comm=$comm"; echo "r1=$r1"; echo "r2=$r2"; echo "r3=$r3"
"#;
    let (_, code, out, err) = run(
        &d,
        "ct-cve-init",
        json!({"Cmd": ["sh", "-c", script], "HostConfig": {"Init": true}}),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("comm=docker-init"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    let after = common::images::sha256(&std::fs::read(&copy).unwrap());
    assert_eq!(before, after, "the engine binary was modified: {out}");
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn logs_format_tail_timestamps_since_follow_and_rotation() {
    let d = daemon();
    let (id, _, out, _) = run(
        &d,
        "ct-logs",
        json!({"Cmd": ["sh", "-c", "echo one; echo two >&2; usleep 100000; echo three"]}),
    );
    assert_eq!(out, "one\nthree\n");
    let path = inspect(&d, &id)["LogPath"].as_str().unwrap().to_string();
    assert!(path.ends_with(&format!("{id}-json.log")), "{path}");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // stdout and stderr are separate pipes: their order is not kept.
    for (msg, stream) in [("one", "stdout"), ("two", "stderr"), ("three", "stdout")] {
        let l = lines
            .iter()
            .find(|l| l.contains(&format!(r#""log":"{msg}\n""#)))
            .unwrap_or_else(|| panic!("{msg}: {text}"));
        let prefix = format!(r#"{{"log":"{msg}\n","stream":"{stream}","time":""#);
        assert!(l.starts_with(&prefix), "{l}");
        assert!(l.ends_with(r#"Z"}"#), "{l}");
        let v: Value = serde_json::from_str(l).unwrap();
        let t = v["time"].as_str().unwrap();
        assert!(t.len() >= 20 && t.as_bytes()[10] == b'T', "{t}");
    }
    assert_eq!(logs(&d, &id, "tail=1"), ("three\n".into(), String::new()));
    let (o, _) = logs(&d, &id, "timestamps=1");
    for l in o.lines() {
        let (ts, msg) = l.split_once(' ').unwrap();
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{l}");
        assert!(msg == "one" || msg == "three");
    }
    let r = api(&d, "GET", &format!("/containers/{id}/logs"), None);
    assert_eq!(r.status, 400, "no stream chosen");

    // since.
    let id = create(
        &d,
        "ct-logs-since",
        json!({"Cmd": ["sh", "-c", "echo a; sleep 1; echo b"]}),
    );
    start(&d, &id);
    wait_until(10, "a", || logs(&d, &id, "").0.contains("a\n"));
    std::thread::sleep(Duration::from_millis(100));
    let t = unix_now();
    assert_eq!(wait(&d, &id), 0);
    let since = format!("since={:.9}", t);
    assert_eq!(logs(&d, &id, &since).0, "b\n");

    // follow: streams what comes later and ends with the container.
    let id = create(
        &d,
        "ct-logs-follow",
        json!({"Cmd": ["sh", "-c", "echo first; sleep 1; echo later"]}),
    );
    start(&d, &id);
    wait_until(10, "first", || logs(&d, &id, "").0.contains("first"));
    let t0 = Instant::now();
    let (o, _) = logs(&d, &id, "follow=1");
    assert_eq!(o, "first\nlater\n");
    assert!(t0.elapsed() < Duration::from_secs(10));

    // No reading with the none driver.
    let id = create(
        &d,
        "ct-logs-none",
        json!({"Cmd": ["echo", "x"], "HostConfig": {"LogConfig": {"Type": "none", "Config": {}}}}),
    );
    start(&d, &id);
    assert_eq!(wait(&d, &id), 0);
    let r = api(&d, "GET", &format!("/containers/{id}/logs?stdout=1"), None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        message(&r),
        "configured logging driver does not support reading"
    );

    // Rotation.
    let id = create(
        &d,
        "ct-logs-rotate",
        json!({"Cmd": ["sh", "-c", "for i in $(seq 1 200); do echo line-$i-xxxxxxxxxxxxxxxx; done"],
               "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}}}),
    );
    start(&d, &id);
    assert_eq!(wait(&d, &id), 0);
    let path = inspect(&d, &id)["LogPath"].as_str().unwrap().to_string();
    let cur = std::fs::metadata(&path).unwrap().len();
    let old = std::fs::metadata(format!("{path}.1")).unwrap().len();
    assert!(cur <= 1024 + 100 && old <= 1024 + 100, "{cur} {old}");
    assert!(!Path::new(&format!("{path}.2")).exists());
    let (o, _) = logs(&d, &id, "");
    assert!(o.ends_with("line-200-xxxxxxxxxxxxxxxx\n"), "{o}");
    assert!(!o.contains("line-1-"), "rotated away");
}

#[test]
fn attach_detaches_on_the_detach_keys_and_the_container_runs_on() {
    let d = daemon();
    let id = create(
        &d,
        "ct-detach",
        json!({"Cmd": ["cat"], "OpenStdin": true, "AttachStdin": true, "AttachStdout": true}),
    );
    start(&d, &id);
    let mut h = hijack(
        &d.socket,
        "POST",
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b"),
        b"",
    )
    .unwrap_or_else(|r| panic!("attach: {} {}", r.status, r.text()));
    // A lone ctrl-a that is not followed by `b` passes through.
    h.s.write_all(b"one\x01x\n").unwrap();
    let out = h.read_stdout_until(|s| s.contains("one\x01x\n"));
    assert!(out.contains("one\x01x\n"), "{out:?}");
    h.s.write_all(b"\x01b").unwrap();
    // The daemon closes the connection...
    assert!(h.rest().is_empty());
    // ...and the container runs on, its stdin still open.
    assert_eq!(inspect(&d, &id)["State"]["Running"], true);
    let r = api(&d, "POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 204, "{}", r.text());
}
