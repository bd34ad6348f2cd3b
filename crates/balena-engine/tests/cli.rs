//! The CLI and the argv[0] dispatcher, run as a user runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::Daemon;

use common::text;

#[test]
fn version_shows_client_and_server() {
    let d = Daemon::new().start(&[]);
    let out = d.cli(&["version"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.starts_with("Client:\n Version:          20.10.44\n API version:      1.41\n"),
        "{s}"
    );
    assert!(s.contains("\nServer: balenaEngine (Rust) "), "{s}");
    assert!(
        s.contains("  API version:     1.41 (minimum version 1.12)\n"),
        "{s}"
    );
}

#[test]
fn version_format_renders_go_templates() {
    let d = Daemon::new().start(&[]);
    let out = d.cli(&[
        "version",
        "--format",
        "{{.Server.Version}} {{.Server.Engine}} {{.Client.ApiVersion}}",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "20.10.44 balena-engine 1.41\n");
    let out = d.cli(&["version", "-f", "{{json .Server.Components}}"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["Name"], "Engine");
}

#[test]
fn info_shows_server_facts() {
    let d = Daemon::new().start(&[]);
    let out = d.cli(&["info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains(" Server Version: 20.10.44\n"), "{s}");
    assert!(
        s.contains(&format!(" Docker Root Dir: {}\n", d.data_root.display())),
        "{s}"
    );
    assert!(s.contains(" Storage Driver: overlay2\n"), "{s}");
    let out = d.cli(&[
        "info",
        "--format",
        "{{.DockerRootDir}}|{{.Swarm.LocalNodeState}}",
    ]);
    assert_eq!(
        text(&out.stdout),
        format!("{}|inactive\n", d.data_root.display())
    );
}

#[test]
fn docker_host_environment_is_honoured() {
    let d = Daemon::new().start(&[]);
    let out = Command::new(d.bin.join("balena"))
        .args(["version", "--format", "{{.Server.ApiVersion}}"])
        .env("DOCKER_HOST", d.host())
        .env("HOME", d.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1.41\n");
}

#[test]
fn pinned_api_version_is_sent_and_checked_by_the_daemon() {
    let d = Daemon::new().start(&["-D"]);
    let out = Command::new(d.bin.join("balena"))
        .args([
            "-H",
            &d.host(),
            "version",
            "--format",
            "{{.Client.ApiVersion}}",
        ])
        .env("DOCKER_API_VERSION", "1.30")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "1.30\n", "{}", text(&out.stderr));
    let out = Command::new(d.bin.join("balena"))
        .args(["-H", &d.host(), "info"])
        .env("DOCKER_API_VERSION", "1.50")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("client version 1.50 is too new"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn unreachable_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::links(dir.path());
    let sock = dir.path().join("none.sock");
    let out = Command::new(bin.join("balena-engine"))
        .args(["-H", &format!("unix://{}", sock.display()), "version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Client:\n"));
    assert!(text(&out.stderr).contains(&format!(
        "Cannot connect to the balenaEngine daemon at unix://{}. Is the balena-engine daemon running?",
        sock.display()
    )));
}

#[test]
fn usage_errors_exit_125_and_unknown_commands_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::links(dir.path());
    let out = Command::new(bin.join("balena-engine"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("--bogus"));
    let out = Command::new(bin.join("balena-engine"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("'frobnicate' is not a balena-engine command"));
    let out = Command::new(bin.join("balena-engine"))
        .args(["-H", "unix:///a", "-H", "unix:///b", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("Please specify only one -H"));
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::links(dir.path());
    for args in [
        &["--help"][..],
        &["version", "--help"],
        &["info", "--help"],
        &["help", "info"],
    ] {
        let out = Command::new(bin.join("balena-engine"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let out = Command::new(bin.join("balena-engine-daemon"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for flag in [
        "--data-root",
        "--exec-root",
        "--pidfile",
        "--config-file",
        "--storage-driver",
        "--delta-data-root",
        "--max-download-attempts",
    ] {
        assert!(text(&out.stdout).contains(flag), "{flag}");
    }
}

#[test]
fn version_flags_print_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::links(dir.path());
    let out = Command::new(bin.join("balena-engine"))
        .arg("-v")
        .output()
        .unwrap();
    assert!(text(&out.stdout).starts_with("balena-engine version 20.10.44, build "));
    let out = Command::new(bin.join("balenad"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(text(&out.stdout).starts_with("balena-engine-daemon version "));
}

#[test]
fn dispatch_refuses_unknown_names_and_runs_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::links(dir.path());
    let odd = dir.path().join("bin/dockerd");
    std::os::unix::fs::symlink(common::BIN, &odd).unwrap();
    let out = Command::new(&odd).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: unknown command: dockerd\n");
    for name in ["balena-engine-proxy", "balena-proxy"] {
        // docker-proxy's command line: usage on -help, exit 1 without a
        // container address.
        let out = Command::new(bin.join(name)).arg("--help").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(text(&out.stderr).contains("-container-ip"), "{name}");
        let out = Command::new(bin.join(name)).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(text(&out.stderr).contains("invalid container ip"), "{name}");
    }
    for name in ["balena-engine-runc", "balena-runc"] {
        let out = Command::new(bin.join(name))
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(text(&out.stdout).starts_with("runc version "), "{name}");
    }
}

#[test]
fn install_links_creates_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sbin");
    let out = Command::new(common::BIN)
        .args(["--install-links", &target.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for name in [
        "balena-engine",
        "balena",
        "balena-engine-daemon",
        "balenad",
        "balena-engine-runc",
        "balena-runc",
        "balena-engine-proxy",
        "balena-proxy",
    ] {
        let l = target.join(name);
        assert!(
            std::fs::symlink_metadata(&l)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{name}"
        );
    }
    // Idempotent.
    let out = Command::new(common::BIN)
        .args(["--install-links", &target.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn container_commands_run_exec_log_stop_and_remove() {
    let d = common::ctr::daemon();
    let img = common::ctr::IMAGE;
    let out = d.cli(&[
        "run",
        "--name",
        "c-once",
        img,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = d.cli(&["run", "--rm", img, "no-such-cmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    let out = d.cli(&["run", "--rm", "--memory", "1k", img, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Minimum memory limit allowed is 6MB"));

    let out = d.cli(&[
        "run", "-d", "--name", "c-svc", "-e", "A=1", img, "sleep", "1000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 64);
    let out = d.cli(&[
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "c-svc",
        "sh",
        "-c",
        "echo $A $(id -u) $(pwd); exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1 1000 /tmp\n");
    let out = d.cli(&["exec", "c-svc", "no-such-cmd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("executable file not found"),
        "{}",
        text(&out.stderr)
    );
    let out = d.cli(&["ps", "--format", "{{.ID}} {{.Names}}"]);
    assert_eq!(text(&out.stdout).trim(), format!("{} c-svc", &id[..12]));
    let out = d.cli(&["inspect", "-f", "{{.State.Status}}", "c-svc"]);
    assert_eq!(text(&out.stdout).trim(), "running");
    let out = d.cli(&["stop", "-t", "1", "c-svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = d.cli(&["wait", "c-svc"]);
    assert_eq!(text(&out.stdout).trim(), "137");
    let out = d.cli(&["logs", "c-once"]);
    assert_eq!(text(&out.stdout), "out\n");
    let out = d.cli(&["rm", "c-svc", "c-once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = d.cli(&["ps", "-aq"]);
    assert_eq!(text(&out.stdout).trim(), "");
    let out = d.cli(&["rm", "c-svc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such container: c-svc"),
        "{}",
        text(&out.stderr)
    );
}
