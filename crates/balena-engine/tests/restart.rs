//! Restart policies and health checks on real containers: on-failure
//! limits, the backoff, stop cancelling a pending restart, policies after
//! a daemon restart and after a simulated reboot (daemon, shims and
//! containers killed), health states, timeouts, and balenaEngine's
//! restart of unhealthy containers under `--experimental`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::ctr::{alive, api, create, daemon, inspect, load_probe_image, start, wait_until};
use common::{container_cgroups, pids_mentioning, Daemon};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

fn policy(name: &str, max: i64) -> Value {
    json!({"RestartPolicy": {"Name": name, "MaximumRetryCount": max}})
}

fn state(d: &Daemon, id: &str) -> (String, i64) {
    let v = inspect(d, id);
    (
        v["State"]["Status"].as_str().unwrap().to_string(),
        v["RestartCount"].as_i64().unwrap(),
    )
}

/// Every event of container `id` so far: (action, timeNano).
fn events_of(d: &Daemon, id: &str) -> Vec<(String, i64)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    common::ctr::events_window(d, &format!("since=0&until={until}"))
        .into_iter()
        .filter(|e| e["Actor"]["ID"] == id)
        .map(|e| {
            (
                e["Action"].as_str().unwrap().to_string(),
                e["timeNano"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn count(evs: &[(String, i64)], action: &str) -> usize {
    evs.iter().filter(|(a, _)| a == action).count()
}

#[test]
fn on_failure_restarts_n_times_then_stays_exited() {
    let d = daemon();
    let id = create(
        &d,
        "rs-onfail",
        json!({"Cmd": ["sh", "-c", "exit 3"], "HostConfig": policy("on-failure", 3)}),
    );
    start(&d, &id);
    wait_until(20, "three restarts", || {
        state(&d, &id) == ("exited".into(), 3)
    });
    std::thread::sleep(Duration::from_secs(2));
    let v = inspect(&d, &id);
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(v["RestartCount"], 3);
    let evs = events_of(&d, &id);
    assert_eq!(count(&evs, "start"), 4, "{evs:?}");
    assert_eq!(count(&evs, "die"), 4, "{evs:?}");
    // A success does not count as a failure.
    let ok = create(
        &d,
        "rs-onfail-ok",
        json!({"Cmd": ["true"], "HostConfig": policy("on-failure", 0)}),
    );
    start(&d, &ok);
    wait_until(10, "exit", || state(&d, &ok).0 == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d, &ok), ("exited".into(), 0));
    // A manual start resets the count.
    start(&d, &id);
    wait_until(20, "three restarts again", || {
        state(&d, &id) == ("exited".into(), 3)
    });
}

#[test]
fn backoff_doubles_and_stop_cancels_a_pending_restart() {
    let d = daemon();
    let id = create(
        &d,
        "rs-backoff",
        json!({"Cmd": ["sh", "-c", "exit 1"], "HostConfig": policy("always", 0)}),
    );
    start(&d, &id);
    // RestartCount counts at the exit: six means five starts after a wait.
    wait_until(30, "six restarts", || state(&d, &id).1 >= 6);
    let evs = events_of(&d, &id);
    // The gap between each die and the next start.
    let mut gaps = Vec::new();
    let mut last_die = None;
    for (a, t) in &evs {
        match a.as_str() {
            "die" => last_die = Some(*t),
            "start" => {
                if let Some(d) = last_die.take() {
                    gaps.push((t - d) / 1_000_000);
                }
            }
            _ => {}
        }
    }
    assert!(gaps.len() >= 5, "{evs:?}");
    for (i, want) in [100i64, 200, 400, 800, 1600].iter().enumerate() {
        assert!(
            gaps[i] >= want - 5 && gaps[i] < want + 600,
            "gap {i}: {} ms, want about {want}: {gaps:?}",
            gaps[i]
        );
    }
    // While it waits, its status is restarting; a stop cancels the restart.
    wait_until(10, "restarting", || state(&d, &id).0 == "restarting");
    let v = inspect(&d, &id);
    assert_eq!(v["State"]["Restarting"], true);
    let ps = api(&d, "GET", "/containers/json", None).json();
    let me = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id.as_str());
    assert!(
        me.unwrap()["Status"]
            .as_str()
            .unwrap()
            .starts_with("Restarting (1)"),
        "{ps}"
    );
    let r = api(&d, "POST", &format!("/containers/{id}/stop"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let n = state(&d, &id).1;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(state(&d, &id), ("exited".into(), n));
    // rm of a restarting container needs force.
    let id2 = create(
        &d,
        "rs-backoff-rm",
        json!({"Cmd": ["sh", "-c", "sleep 0.5; exit 1"], "HostConfig": policy("always", 0)}),
    );
    start(&d, &id2);
    wait_until(10, "restarting", || state(&d, &id2).0 == "restarting");
    let r = api(&d, "DELETE", &format!("/containers/{id2}"), None);
    assert_eq!(r.status, 409, "{}", r.text());
    wait_until(10, "restarting", || state(&d, &id2).0 == "restarting");
    let r = api(&d, "DELETE", &format!("/containers/{id2}?force=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn manual_stop_and_kill_are_not_restarted() {
    let d = daemon();
    for (name, pol, how) in [
        ("rs-stop-always", "always", "stop?t=1"),
        ("rs-stop-unless", "unless-stopped", "stop?t=1"),
        ("rs-kill-onfail", "on-failure", "kill"),
    ] {
        let id = create(
            &d,
            name,
            json!({"Cmd": ["sleep", "1000"], "HostConfig": policy(pol, 0)}),
        );
        start(&d, &id);
        let r = api(&d, "POST", &format!("/containers/{id}/{how}"), None);
        assert_eq!(r.status, 204, "{}", r.text());
        wait_until(10, "exit", || state(&d, &id).0 == "exited");
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(state(&d, &id), ("exited".into(), 0), "{name}");
    }
}

/// Kills the daemon with SIGKILL, then every shim and container process
/// of its containers, as a power cut would.
fn power_cut(d: &mut Daemon, ids: &[&str]) {
    let mut inits = Vec::new();
    for id in ids {
        let pid = inspect(d, id)["State"]["Pid"].as_i64().unwrap();
        if pid > 0 {
            inits.push(pid);
        }
    }
    d.signal(Signal::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    for id in ids {
        for pid in pids_mentioning(&format!("containers/{id}")) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for id in ids {
        for cg in container_cgroups(id) {
            let procs = std::fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    wait_until(10, "containers to die", || inits.iter().all(|p| !alive(*p)));
}

#[test]
fn policies_apply_when_the_daemon_starts_again() {
    let mut d = daemon();
    let sleep = |pol: &str| json!({"Cmd": ["sleep", "1000"], "HostConfig": policy(pol, 0)});
    let always = create(&d, "rs-always", sleep("always"));
    let unless = create(&d, "rs-unless", sleep("unless-stopped"));
    let unless_stopped = create(&d, "rs-unless-stopped", sleep("unless-stopped"));
    let always_stopped = create(&d, "rs-always-stopped", sleep("always"));
    let no = create(&d, "rs-no", sleep("no"));
    let never_started = create(&d, "rs-created", sleep("always"));
    // Started after (and joining the namespace of) rs-always.
    let joined = create(
        &d,
        "rs-joined",
        json!({"Cmd": ["sleep", "1000"], "HostConfig": {
            "RestartPolicy": {"Name": "always"}, "NetworkMode": "container:rs-always"}}),
    );
    for id in [
        &always,
        &unless,
        &unless_stopped,
        &always_stopped,
        &no,
        &joined,
    ] {
        start(&d, id);
    }
    for id in [&unless_stopped, &always_stopped] {
        let r = api(&d, "POST", &format!("/containers/{id}/stop?t=1"), None);
        assert_eq!(r.status, 204);
    }

    // A clean daemon restart: running containers keep running (live
    // restore); Docker restarts an `always` container even after a manual
    // stop, but not an `unless-stopped` one.
    let pid = inspect(&d, &always)["State"]["Pid"].as_i64().unwrap();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    d.restart(&[]);
    assert_eq!(inspect(&d, &always)["State"]["Pid"], pid);
    assert_eq!(state(&d, &always_stopped).0, "running");
    assert_eq!(state(&d, &unless_stopped).0, "exited");
    assert_eq!(state(&d, &never_started).0, "created");
    assert_eq!(state(&d, &no).0, "running");

    // Stop it again, then a power cut.
    let r = api(
        &d,
        "POST",
        &format!("/containers/{always_stopped}/stop?t=1"),
        None,
    );
    assert_eq!(r.status, 204);
    let all = [
        always.as_str(),
        unless.as_str(),
        unless_stopped.as_str(),
        always_stopped.as_str(),
        no.as_str(),
        never_started.as_str(),
        joined.as_str(),
    ];
    power_cut(&mut d, &all);
    let t0 = Instant::now();
    d.restart(&[]);
    eprintln!("daemon up in {:?}", t0.elapsed());
    for (id, want) in [
        (&always, "running"),
        (&unless, "running"),
        (&joined, "running"),
        (&always_stopped, "running"),
        (&unless_stopped, "exited"),
        (&no, "exited"),
        (&never_started, "created"),
    ] {
        let v = inspect(&d, id);
        assert_eq!(v["State"]["Status"], want, "{}: {}", v["Name"], v["State"]);
        if want == "running" {
            assert!(alive(v["State"]["Pid"].as_i64().unwrap()));
            assert_eq!(v["RestartCount"], 0);
        }
    }
    assert_eq!(inspect(&d, &no)["State"]["ExitCode"], 255);
    // The joined container shares rs-always's new network namespace.
    let a = inspect(&d, &always)["State"]["Pid"].as_i64().unwrap();
    let j = inspect(&d, &joined)["State"]["Pid"].as_i64().unwrap();
    let ns = |p: i64| std::fs::read_link(format!("/proc/{p}/ns/net")).unwrap();
    assert_eq!(ns(a), ns(j));
}

fn health(d: &Daemon, id: &str) -> Value {
    inspect(d, id)["State"]["Health"].clone()
}

fn ps_status(d: &Daemon, id: &str) -> String {
    let ps = api(d, "GET", "/containers/json?all=1", None).json();
    ps.as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id)
        .map(|c| c["Status"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn ps_health(d: &Daemon, h: &str) -> Vec<String> {
    let f = format!("%7B%22health%22%3A%5B%22{h}%22%5D%7D");
    let r = api(
        d,
        "GET",
        &format!("/containers/json?all=1&filters={f}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect()
}

const MS: i64 = 1_000_000;

#[test]
fn health_checks_report_healthy_and_unhealthy() {
    let mut d = daemon();
    let good = create(
        &d,
        "hc-good",
        json!({"Cmd": ["sleep", "1000"], "Healthcheck": {
            "Test": ["CMD-SHELL", "echo hi; echo err >&2"], "Interval": 200 * MS}}),
    );
    let bad = create(
        &d,
        "hc-bad",
        json!({"Cmd": ["sleep", "1000"], "Healthcheck": {
            "Test": ["CMD", "false"], "Interval": 100 * MS, "Retries": 2}}),
    );
    let slow = create(
        &d,
        "hc-starting",
        json!({"Cmd": ["sleep", "1000"], "Healthcheck": {
            "Test": ["CMD", "true"], "Interval": 3_600_000 * MS}}),
    );
    let none = create(
        &d,
        "hc-none",
        json!({"Cmd": ["sleep", "1000"], "Healthcheck": {"Test": ["NONE"]}}),
    );
    // Status changes are followed live: the probes' exec events soon push
    // them out of the ring of 256 that `since` replays.
    let rx =
        common::ctr::follow_events(&d, "?filters=%7B%22event%22%3A%5B%22health_status%22%5D%7D");
    for id in [&good, &bad, &slow, &none] {
        start(&d, id);
    }
    wait_until(10, "healthy", || health(&d, &good)["Status"] == "healthy");
    let h = health(&d, &good);
    assert_eq!(h["FailingStreak"], 0);
    let last = &h["Log"][0];
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "hi\nerr\n");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    assert!(
        ps_status(&d, &good).ends_with("(healthy)"),
        "{}",
        ps_status(&d, &good)
    );

    wait_until(10, "unhealthy and five results", || {
        let h = health(&d, &bad);
        h["Status"] == "unhealthy" && h["Log"].as_array().unwrap().len() == 5
    });
    std::thread::sleep(Duration::from_millis(300));
    let h = health(&d, &bad);
    assert_eq!(h["Log"].as_array().unwrap().len(), 5);
    assert!(h["FailingStreak"].as_i64().unwrap() >= 5, "{h}");
    assert_eq!(h["Log"][4]["ExitCode"], 1);
    assert!(ps_status(&d, &bad).ends_with("(unhealthy)"));
    // Without --experimental nothing restarts it.
    assert_eq!(state(&d, &bad), ("running".into(), 0));

    assert_eq!(health(&d, &slow)["Status"], "starting");
    assert!(ps_status(&d, &slow).ends_with("(health: starting)"));
    assert_eq!(health(&d, &none), Value::Null);
    assert!(!ps_status(&d, &none).contains('('));

    assert_eq!(ps_health(&d, "healthy"), vec![good.as_str()]);
    assert_eq!(ps_health(&d, "unhealthy"), vec![bad.as_str()]);
    assert_eq!(ps_health(&d, "starting"), vec![slow.as_str()]);
    assert_eq!(ps_health(&d, "none"), vec![none.as_str()]);
    let r = api(
        &d,
        "GET",
        "/containers/json?filters=%7B%22health%22%3A%5B%22sick%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 400);

    let mut status_events = Vec::new();
    while let Ok(e) = rx.recv_timeout(Duration::from_millis(500)) {
        status_events.push(e);
    }
    let of = |id: &str| -> Vec<(String, i64)> {
        status_events
            .iter()
            .filter(|e| e["Actor"]["ID"] == id)
            .map(|e| (e["Action"].as_str().unwrap().to_string(), 0))
            .collect()
    };
    let evs = of(&good);
    assert_eq!(count(&evs, "health_status: healthy"), 1, "{evs:?}");
    let evs = events_of(&d, &good);
    assert!(
        count(&evs, "exec_create: /bin/sh -c echo hi; echo err >&2") >= 1,
        "{evs:?}"
    );
    assert!(count(&evs, "exec_die") >= 1, "{evs:?}");
    let evs = of(&bad);
    assert_eq!(count(&evs, "health_status: unhealthy"), 1, "{evs:?}");
    // Probe execs are not left behind.
    assert!(inspect(&d, &good)["ExecIDs"]
        .as_array()
        .is_none_or(|a| a.len() <= 1));

    // Probes resume after a daemon restart, with the state they had.
    let before = health(&d, &bad)["FailingStreak"].as_i64().unwrap();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    d.restart(&[]);
    assert_eq!(health(&d, &bad)["Status"], "unhealthy");
    wait_until(10, "more probes", || {
        health(&d, &bad)["FailingStreak"].as_i64().unwrap() > before + 3
    });
    assert_eq!(health(&d, &good)["Status"], "healthy");

    // A stopped container reads unhealthy, and a start begins again.
    let r = api(&d, "POST", &format!("/containers/{good}/stop?t=1"), None);
    assert_eq!(r.status, 204);
    assert_eq!(health(&d, &good)["Status"], "unhealthy");
    start(&d, &good);
    wait_until(10, "healthy again", || {
        health(&d, &good)["Status"] == "healthy"
    });
}

#[test]
fn a_hanging_health_check_times_out_without_piling_up() {
    let d = daemon();
    let id = create(
        &d,
        "hc-hang",
        json!({"Cmd": ["sleep", "1000"], "Healthcheck": {
            "Test": ["CMD", "sleep", "77"], "Interval": 100 * MS, "Timeout": 300 * MS, "Retries": 2}}),
    );
    start(&d, &id);
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut most = 0;
    while Instant::now() < deadline {
        let n = container_cgroups(&id)
            .iter()
            .take(1)
            .flat_map(|cg| {
                std::fs::read_to_string(cg.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| c == b"sleep\x0077\x00")
                    .unwrap_or(false)
            })
            .count();
        most = most.max(n);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(most <= 1, "{most} probes at once");
    let h = health(&d, &id);
    assert_eq!(h["Status"], "unhealthy", "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(last["Output"], "Health check exceeded timeout (300ms)");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 3, "{h}");
}

#[test]
fn experimental_daemons_restart_unhealthy_containers() {
    let d = Daemon::new().start(&["--experimental"]);
    load_probe_image(&d);
    let hc =
        json!({"Test": ["CMD-SHELL", "test ! -e /tmp/sick"], "Interval": 100 * MS, "Retries": 1});
    let id = create(
        &d,
        "hc-restart",
        json!({"Cmd": ["sh", "-c", "touch /tmp/sick; exec sleep 1000"],
               "Healthcheck": hc, "HostConfig": policy("always", 0)}),
    );
    let no = create(
        &d,
        "hc-norestart",
        json!({"Cmd": ["sh", "-c", "touch /tmp/sick; exec sleep 1000"],
               "Healthcheck": hc, "HostConfig": policy("no", 0)}),
    );
    // Followed live: the probes' exec events soon push these out of the
    // daemon's ring of 256, which `since` replays.
    let rx = common::ctr::follow_events(
        &d,
        &format!(
            "?filters=%7B%22container%22%3A%5B%22{id}%22%5D%2C%22event%22%3A%5B%22health_status%22%2C%22restart%22%5D%7D"
        ),
    );
    start(&d, &id);
    start(&d, &no);
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();
    wait_until(30, "a restart", || {
        let v = inspect(&d, &id);
        v["RestartCount"].as_i64().unwrap() >= 1 && v["State"]["Status"] == "running"
    });
    assert_ne!(inspect(&d, &id)["State"]["Pid"].as_i64().unwrap(), pid);
    let mut evs = Vec::new();
    while let Ok(e) = rx.recv_timeout(Duration::from_secs(2)) {
        let done = e["Action"] == "restart";
        evs.push((e["Action"].as_str().unwrap().to_string(), 0));
        if done {
            break;
        }
    }
    assert!(count(&evs, "health_status: unhealthy") >= 1, "{evs:?}");
    assert!(count(&evs, "restart") >= 1, "{evs:?}");
    // `no` leaves it running, unhealthy.
    assert_eq!(state(&d, &no), ("running".into(), 0));
    assert_eq!(health(&d, &no)["Status"], "unhealthy");
    // on-failure counts unhealthy as a failure, up to its limit.
    let lim = create(
        &d,
        "hc-onfail",
        json!({"Cmd": ["sh", "-c", "touch /tmp/sick; exec sleep 1000"],
               "Healthcheck": hc, "HostConfig": policy("on-failure", 2)}),
    );
    start(&d, &lim);
    wait_until(30, "two restarts", || state(&d, &lim).1 == 2);
    std::thread::sleep(Duration::from_secs(3));
    let v = inspect(&d, &lim);
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["State"]["Health"]["Status"], "unhealthy");
}

#[test]
fn a_lost_shim_takes_its_container_with_it() {
    let d = daemon();
    let sleep = |pol: &str| json!({"Cmd": ["sleep", "1000"], "HostConfig": policy(pol, 0)});
    let no = create(&d, "lost-no", sleep("no"));
    let always = create(&d, "lost-always", sleep("always"));
    start(&d, &no);
    start(&d, &always);
    let old: Vec<i64> = [&no, &always]
        .iter()
        .map(|id| inspect(&d, id)["State"]["Pid"].as_i64().unwrap())
        .collect();
    // The shims die (a crash, an OOM kill); the daemon keeps running.
    for id in [&no, &always] {
        for pid in pids_mentioning(&format!("containers/{id}")) {
            if !old.contains(&i64::from(pid)) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    // Their apps do not keep running unsupervised.
    wait_until(10, "old inits gone", || old.iter().all(|p| !alive(*p)));
    wait_until(10, "lost-no exited", || state(&d, &no).0 == "exited");
    assert_eq!(inspect(&d, &no)["State"]["ExitCode"], 255);
    assert!(
        container_cgroups(&no).is_empty(),
        "{:?}",
        container_cgroups(&no)
    );
    // The `always` one runs again, once.
    wait_until(10, "lost-always back", || {
        let v = inspect(&d, &always);
        v["State"]["Status"] == "running" && v["State"]["Pid"].as_i64() != Some(old[1])
    });
    for cg in container_cgroups(&always) {
        let procs = std::fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
        assert!(procs.lines().count() <= 1, "{}: {procs}", cg.display());
    }
}
