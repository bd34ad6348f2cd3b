//! Compatibility: the real `docker` CLI against our socket. Skipped, with
//! the reason printed, when no `docker` client is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::Daemon;

#[test]
fn docker_version_and_info_show_our_values() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = Daemon::new().start(&[]);
    let (code, out, err) = d.run_docker(&docker, &["version"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Server: balenaEngine (Rust)"), "{out}");
    assert!(out.contains("20.10.44"), "{out}");
    assert!(out.contains("1.41 (minimum version 1.12)"), "{out}");

    let (code, out, err) = d.run_docker(
        &docker,
        &[
            "version",
            "--format",
            "{{.Server.Version}}/{{.Server.APIVersion}}",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "20.10.44/1.41");

    let (code, out, err) = d.run_docker(&docker, &["info"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Docker Root Dir: {}", d.data_root.display())),
        "{out}"
    );
    assert!(out.contains("Server Version: 20.10.44"), "{out}");
    assert!(out.contains("Storage Driver: overlay2"), "{out}");
    assert!(out.contains("Swarm: inactive"), "{out}");

    let (code, out, err) = d.run_docker(&docker, &["info", "--format", "{{.ID}} {{.NCPU}}"]);
    assert_eq!(code, 0, "{out}{err}");
    let info = d.get("/info").json();
    assert_eq!(
        out.trim(),
        format!("{} {}", info["ID"].as_str().unwrap(), info["NCPU"])
    );
}

#[test]
fn docker_pulls_lists_saves_loads_and_removes_images() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let Some(reg) = common::registry::Registry::start() else {
        return;
    };
    let (layers, cfg) = common::images::busybox_image(&[("hello", b"world")], &[("a", "b")]);
    reg.push("compat/img", "1", &layers, &cfg);
    let d = Daemon::new().start(&[]);
    let name = format!("{}/compat/img:1", reg.host());
    let id = common::images::sha256(&cfg);

    let (code, out, err) = d.run_docker(&docker, &["pull", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Pull complete") || out.contains("Downloaded newer image"),
        "{out}"
    );
    let (code, out, _) = d.run_docker(
        &docker,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("{}/compat/img:1 {}", reg.host(), &id[7..19])
    );
    let (code, out, _) = d.run_docker(
        &docker,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{index .Config.Labels \"a\"}}",
            &name,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("{id} b"));

    let saved = d.dir.path().join("docker-saved.tar");
    let (code, _, err) = d.run_docker(
        &docker,
        &["save", "-o", &saved.display().to_string(), &name],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = d.run_docker(&docker, &["rmi", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    let (code, out, err) = d.run_docker(&docker, &["load", "-i", &saved.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    let (code, out, _) = d.run_docker(&docker, &["tag", &name, "compat:local"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = d.run_docker(&docker, &["rmi", "does-not-exist"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such image"), "{out}{err}");
}

/// Whether docker-py is importable (says SKIP when not).
fn docker_py() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("SKIP: docker-py is not installed (scripts/deps.sh test installs it)");
    }
    ok
}

/// Runs a docker-py client script from `tests/clients` with `args`; fails
/// the test with its output (and the daemon's log) when it fails.
fn run_client_script(d: &Daemon, script: &str, args: &[&str]) {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&path)
        .arg(&d.socket)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
}

#[test]
fn docker_py_pulls_lists_tags_and_removes_images() {
    if !docker_py() {
        return;
    }
    let Some(reg) = common::registry::Registry::start() else {
        return;
    };
    let (layers, cfg) = common::images::busybox_image(&[("py", b"1")], &[]);
    reg.push("compat/py", "1", &layers, &cfg);
    let d = Daemon::new().start(&[]);
    run_client_script(
        &d,
        "docker_py.py",
        &[&reg.host(), &common::images::sha256(&cfg)],
    );
}

/// Runs `cmd` under `script` so the client sees a terminal (as `-it` needs).
fn run_in_pty(d: &Daemon, docker: &str, cmd: &str) -> (i32, String) {
    let mut out = Command::new("script")
        .args(["-qec", &format!("{docker} {cmd}"), "/dev/null"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_CONTEXT")
        // An open, silent stdin: at end of file `script` would pass an EOF
        // to the session, racing the command.
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = out.stdin.take();
    let out = out.wait_with_output().unwrap();
    drop(stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn docker_runs_execs_logs_stops_and_removes_containers() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = common::ctr::daemon();
    let img = common::ctr::IMAGE;

    // Attached run: output and the container's exit code.
    let (code, out, err) = d.run_docker(
        &docker,
        &[
            "run",
            "--name",
            "dc-once",
            img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    // --rm removes it; a missing command is 127, as docker says.
    let (code, out, err) = d.run_docker(&docker, &["run", "--rm", img, "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    let (code, _, err) = d.run_docker(&docker, &["run", "--rm", img, "no-such-cmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");

    // Detached, then exec (plain and -it through a pty), logs, ps, inspect.
    let (code, id, err) = d.run_docker(
        &docker,
        &[
            "run",
            "-d",
            "--name",
            "dc-svc",
            img,
            "sh",
            "-c",
            "trap 'exit 0' TERM; i=0; while :; do echo line$i; i=$((i+1)); sleep 0.1; done",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let (code, out, err) =
        d.run_docker(&docker, &["exec", "dc-svc", "sh", "-c", "echo in; exit 5"]);
    assert_eq!((code, out.as_str()), (5, "in\n"), "{err}");
    let (code, out) = run_in_pty(&d, &docker, "exec -it dc-svc sh -c 'tty; exit 4'");
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    common::ctr::wait_until(10, "three lines of output", || {
        d.run_docker(&docker, &["logs", "dc-svc"]).1.lines().count() >= 3
    });
    let (code, out, err) = d.run_docker(&docker, &["logs", "--tail", "2", "dc-svc"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, out, err) = d.run_docker(&docker, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("dc-svc Up")), "{out}");
    let (code, out, err) = d.run_docker(
        &docker,
        &[
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Image}}",
            "dc-svc",
        ],
    );
    assert_eq!(
        (code, out.trim()),
        (0, format!("true {img}").as_str()),
        "{err}"
    );

    // logs -f follows until the container stops.
    let follower = Command::new(&docker)
        .args(["logs", "-f", "dc-svc"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (code, _, err) = d.run_docker(&docker, &["stop", "dc-svc"]);
    assert_eq!(code, 0, "{err}");
    let out = follower.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("line0\n"), "{text}");
    assert!(text.lines().count() >= 5, "{text}");
    let (code, out, _) = d.run_docker(&docker, &["inspect", "-f", "{{.State.ExitCode}}", "dc-svc"]);
    assert_eq!((code, out.trim()), (0, "0"));

    let (code, _, err) = d.run_docker(&docker, &["rm", "dc-svc", "dc-once"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = d.run_docker(&docker, &["ps", "-aq"]);
    assert_eq!((code, out.trim()), (0, ""));
}

#[test]
fn docker_py_runs_execs_logs_and_removes_containers() {
    if !docker_py() {
        return;
    }
    let d = common::ctr::daemon();
    run_client_script(&d, "docker_py_containers.py", &[common::ctr::IMAGE]);
}

#[test]
fn docker_py_uses_volumes_events_restarts_stats_archives_and_commit() {
    if !docker_py() {
        return;
    }
    let d = common::ctr::daemon();
    run_client_script(&d, "docker_py_keepalive.py", &[common::ctr::IMAGE]);
}

#[test]
fn docker_wires_a_two_container_app_on_a_user_network() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    // In a network namespace of its own: bridges and rules stay there.
    let d = Daemon::new_networked().start(&[]);
    common::ctr::load_probe_image(&d);
    let img = common::ctr::IMAGE;
    let ok = |args: &[&str]| {
        let (code, out, err) = d.run_docker(&docker, args);
        assert_eq!(code, 0, "docker {args:?}: {out}{err}");
        out
    };
    let id = ok(&[
        "network",
        "create",
        "--subnet",
        "10.123.0.0/24",
        "--label",
        "app=demo",
        "app_default",
    ]);
    assert_eq!(id.trim().len(), 64);
    let ls = ok(&[
        "network",
        "ls",
        "--filter",
        "label=app=demo",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    assert_eq!(ls, "app_default bridge local\n");
    ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "app_default",
        "--network-alias",
        "backend",
        "-p",
        "18088:80",
        img,
        "sh",
        "-c",
        "mkdir -p /www && echo api-says-hi > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let port = ok(&["port", "api"]);
    assert_eq!(port, "80/tcp -> 0.0.0.0:18088\n");
    // The second service finds the first by alias through the embedded DNS.
    let mut got = String::new();
    for _ in 0..50 {
        let (code, out, _) = d.run_docker(
            &docker,
            &[
                "run",
                "--rm",
                "--network",
                "app_default",
                img,
                "sh",
                "-c",
                "r=0; timeout 5 wget -q -O - http://backend/ || r=$?; exit $r",
            ],
        );
        if code == 0 {
            got = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "api-says-hi\n");
    let ip = ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"app_default\").IPAddress}}",
        "api",
    ]);
    assert_eq!(ip, "10.123.0.2\n");
    let inspect = ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}{{end}}",
        "app_default",
    ]);
    assert_eq!(inspect, "api\n");
    let ps = ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert_eq!(ps, "api 0.0.0.0:18088->80/tcp\n");
    let (code, _, err) = d.run_docker(&docker, &["network", "rm", "app_default"]);
    assert_ne!(code, 0);
    assert!(err.contains("has active endpoints"), "{err}");
    ok(&["rm", "-f", "api"]);
    ok(&["network", "rm", "app_default"]);
    let (code, _, err) = d.run_docker(&docker, &["network", "inspect", "app_default"]);
    assert_ne!(code, 0);
    assert!(err.contains("network app_default not found"), "{err}");
}
