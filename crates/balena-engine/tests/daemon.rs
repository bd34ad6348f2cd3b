//! The daemon driven over its socket: system endpoints, versions, errors,
//! locking and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{raw, Daemon};
use nix::sys::signal::Signal;

#[test]
fn ping_answers_ok_with_docker_headers() {
    let d = Daemon::new().start(&[]);
    let r = d.get("/_ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OK");
    assert_eq!(r.header("API-Version"), Some("1.41"));
    assert_eq!(r.header("OSType"), Some("linux"));
    assert_eq!(r.header("Docker-Experimental"), Some("false"));
    assert_eq!(r.header("Builder-Version"), Some("1"));
    assert_eq!(
        r.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(r.header("Server"), Some("Docker/20.10.44 (linux)"));

    let h = raw(&d.socket, "HEAD", "/_ping", None);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(h.header("API-Version"), Some("1.41"));
}

#[test]
fn experimental_flag_shows_in_ping_and_version() {
    let d = Daemon::new().start(&["--experimental"]);
    assert_eq!(d.get("/_ping").header("Docker-Experimental"), Some("true"));
    assert_eq!(d.get("/version").json()["Experimental"], true);
    assert_eq!(d.get("/info").json()["ExperimentalBuild"], true);
}

#[test]
fn version_reports_balena_engine() {
    let d = Daemon::new().start(&[]);
    let v = d.get("/version").json();
    assert_eq!(v["Engine"], "balena-engine");
    assert_eq!(v["ApiVersion"], "1.41");
    assert_eq!(v["MinAPIVersion"], "1.12");
    assert_eq!(v["Version"], "20.10.44");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Components"][0]["Name"], "Engine");
    assert_eq!(v["Components"][0]["Details"]["ApiVersion"], "1.41");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["KernelVersion"], kernel.trim());
}

#[test]
fn info_has_every_docker_field_with_real_values() {
    let d = Daemon::new().start(&["--label", "site=test"]);
    let i = d.get("/info").json();
    let obj = i.as_object().unwrap();
    for key in [
        "ID",
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "Driver",
        "DriverStatus",
        "Plugins",
        "MemoryLimit",
        "SwapLimit",
        "KernelMemory",
        "KernelMemoryTCP",
        "CpuCfsPeriod",
        "CpuCfsQuota",
        "CPUShares",
        "CPUSet",
        "PidsLimit",
        "IPv4Forwarding",
        "BridgeNfIptables",
        "BridgeNfIp6tables",
        "Debug",
        "NFd",
        "OomKillDisable",
        "NGoroutines",
        "SystemTime",
        "LoggingDriver",
        "CgroupDriver",
        "CgroupVersion",
        "NEventsListener",
        "KernelVersion",
        "OperatingSystem",
        "OSVersion",
        "OSType",
        "Architecture",
        "IndexServerAddress",
        "RegistryConfig",
        "NCPU",
        "MemTotal",
        "GenericResources",
        "DockerRootDir",
        "HttpProxy",
        "HttpsProxy",
        "NoProxy",
        "Name",
        "Labels",
        "ExperimentalBuild",
        "ServerVersion",
        "Runtimes",
        "DefaultRuntime",
        "Swarm",
        "LiveRestoreEnabled",
        "Isolation",
        "InitBinary",
        "ContainerdCommit",
        "RuncCommit",
        "InitCommit",
        "SecurityOptions",
        "Warnings",
    ] {
        assert!(obj.contains_key(key), "missing {key}");
    }
    assert_eq!(i["DockerRootDir"], d.data_root.display().to_string());
    assert_eq!(i["Driver"], "overlay2");
    assert_eq!(i["LoggingDriver"], "json-file");
    assert_eq!(i["CgroupDriver"], "cgroupfs");
    let cg2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(i["CgroupVersion"], if cg2 { "2" } else { "1" });
    assert_eq!(i["OSType"], "linux");
    assert_eq!(i["ServerVersion"], "20.10.44");
    assert_eq!(i["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(i["Labels"], serde_json::json!(["site=test"]));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(i["Name"], hostname.trim());
    let ncpu = std::thread::available_parallelism().unwrap().get() as i64;
    assert!(i["NCPU"].as_i64().unwrap() >= 1 && i["NCPU"].as_i64().unwrap() <= ncpu.max(1) * 64);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: i64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(i["MemTotal"].as_i64().unwrap(), kib * 1024);
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(i["IPv4Forwarding"], forwarding.trim() == "1");
    // The engine id persists across restarts of the same data root.
    let id = i["ID"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    drop(d);
}

#[test]
fn engine_id_survives_a_restart() {
    let mut d = Daemon::new().start(&[]);
    let first = d.get("/info").json()["ID"].as_str().unwrap().to_string();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0));
    let d = d.start(&[]);
    assert_eq!(d.get("/info").json()["ID"], first.as_str());
}

#[test]
fn version_prefixes_are_checked_like_docker() {
    let d = Daemon::new().start(&[]);
    for ok in [
        "/v1.41/version",
        "/v1.12/version",
        "/v1.30/info",
        "/v1.41/_ping",
    ] {
        assert_eq!(d.get(ok).status, 200, "{ok}");
    }
    let r = d.get("/v1.45/version");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "client version 1.45 is too new. Maximum supported API version is 1.41"
    );
    let r = d.get("/v1.11/info");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"
    );
}

#[test]
fn unknown_paths_and_methods_are_404_with_docker_body() {
    let d = Daemon::new().start(&[]);
    for (m, p) in [
        ("GET", "/nope"),
        ("GET", "/v1.41/nope"),
        ("POST", "/info"),
        ("DELETE", "/version"),
        ("GET", "/info/"),
    ] {
        let r = raw(&d.socket, m, p, None);
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json(), serde_json::json!({"message": "page not found"}));
    }
}

#[test]
fn swarm_answers_not_a_manager() {
    let d = Daemon::new().start(&[]);
    for (m, p) in [
        ("GET", "/swarm"),
        ("POST", "/swarm/leave"),
        ("GET", "/v1.41/nodes"),
    ] {
        let r = raw(&d.socket, m, p, None);
        assert_eq!(r.status, 503, "{m} {p}");
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("This node is not a swarm manager."));
    }
}

#[test]
fn socket_is_created_0660() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::new().start(&[]);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap(),
        d.pid().to_string()
    );
}

#[test]
fn a_second_daemon_on_the_same_pidfile_data_root_or_socket_is_refused() {
    let d = Daemon::new().start(&[]);
    let other = tempfile::tempdir().unwrap();
    let o = |n: &str| other.path().join(n).display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "-H".into(),
                format!("unix://{}", o("a.sock")),
                "--data-root".into(),
                o("r1"),
                "--pidfile".into(),
                d.pidfile.display().to_string(),
            ],
            "pid file found",
        ),
        (
            vec![
                "-H".into(),
                format!("unix://{}", o("b.sock")),
                "--data-root".into(),
                d.data_root.display().to_string(),
                "--pidfile".into(),
                o("b.pid"),
            ],
            "is in use by another balena-engine-daemon",
        ),
        (
            vec![
                "-H".into(),
                d.host(),
                "--data-root".into(),
                o("r3"),
                "--pidfile".into(),
                o("c.pid"),
            ],
            "is in use by another daemon",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(d.bin.join("balenad"))
            .args(&args)
            .args([
                "--exec-root",
                &o("exec"),
                "--config-file",
                &d.config_file.display().to_string(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The first daemon is unharmed.
    assert_eq!(d.get("/_ping").status, 200);
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap(),
        d.pid().to_string()
    );
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let mut d = Daemon::new().start(&[]);
        d.signal(sig);
        assert_eq!(
            d.wait_exit(Duration::from_secs(10)),
            Some(0),
            "{sig}: {}",
            d.log_text()
        );
        assert!(!d.socket.exists(), "{sig}: socket left behind");
        assert!(!d.pidfile.exists(), "{sig}: pid file left behind");
    }
}

#[test]
fn kill_9_leaves_no_lock_behind() {
    let mut d = Daemon::new().start(&[]);
    d.signal(Signal::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    // The stale socket and pid file do not stop a restart.
    assert!(d.socket.exists());
    let d = d.start(&[]);
    assert_eq!(d.get("/_ping").status, 200);
}

#[test]
fn bad_daemon_json_stops_start_with_dockerd_wording() {
    let d = Daemon::new();
    std::fs::write(&d.config_file, r#"{"debug": true, "bogus-key": 1}"#).unwrap();
    let out = Command::new(d.bin.join("balena-engine-daemon"))
        .args(d.args(&[]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the following directives don't match any configuration option: bogus-key"),
        "{err}"
    );
    assert!(!d.socket.exists());

    std::fs::write(&d.config_file, r#"{"debug": false}"#).unwrap();
    let out = Command::new(d.bin.join("balena-engine-daemon"))
        .args(d.args(&["--debug"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("debug: (from flag: true, from file: false)"),
        "{err}"
    );
}

#[test]
fn daemon_json_settings_take_effect() {
    let d = Daemon::new();
    std::fs::write(
        &d.config_file,
        r#"{"labels": ["from=file"], "log-driver": "journald", "experimental": true}"#,
    )
    .unwrap();
    let d = d.start(&[]);
    let i = d.get("/info").json();
    assert_eq!(i["Labels"], serde_json::json!(["from=file"]));
    assert_eq!(i["LoggingDriver"], "journald");
    assert_eq!(i["ExperimentalBuild"], true);
}

#[test]
fn requests_are_logged_at_debug_level() {
    let d = Daemon::new().start(&["-D"]);
    d.get("/v1.41/info");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log_text().contains("/v1.41/info") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dockerode_style_long_query_strings_are_tolerated() {
    let d = Daemon::new().start(&[]);
    let q: String = (0..300).map(|i| format!("k{i}=v{i}&")).collect();
    let r = d.get(&format!("/v1.41/version?{q}"));
    assert_eq!(r.status, 200);
}
