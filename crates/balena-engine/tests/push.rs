//! Push to a real registry, import, login and logout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::images::{archive, busybox_image, sha256};
use common::registry::Registry;
use common::Daemon;

use common::text;

fn load(d: &Daemon, ar: &[u8]) {
    common::load_archive(d, ar);
}

#[test]
fn push_then_pull_elsewhere_gives_the_same_image() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::new().start(&[]);
    let (layers, cfg) = busybox_image(&[("app/run", b"#!/bin/sh\necho hi\n")], &[("v", "1")]);
    load(&d, &archive(&layers, &cfg, &["app:1"]));
    let target = format!("{}/team/app:1", reg.host());
    assert_eq!(d.cli(&["tag", "app:1", &target]).status.code(), Some(0));
    let out = d.cli(&["push", &target]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(
        s.starts_with(&format!(
            "The push refers to repository [{}/team/app]\n",
            reg.host()
        )),
        "{s}"
    );
    assert_eq!(s.matches(": Pushed").count(), 2, "{s}");
    assert!(s.contains("1: digest: sha256:"), "{s}");

    // Again: the registry has every layer.
    let s = text(&d.cli(&["push", &target]).stdout);
    assert_eq!(s.matches("Layer already exists").count(), 2, "{s}");

    // Another daemon pulls it: same image id, layers byte-exact.
    let d2 = Daemon::new().start(&[]);
    let out = d2.cli(&["pull", &target]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        d2.get(&format!("/images/{target}/json")).json()["Id"],
        sha256(&cfg).as_str()
    );

    // Pulled from one repository, pushed to another on the same registry:
    // the layers are mounted, not uploaded.
    let other = format!("{}/elsewhere/app:2", reg.host());
    assert_eq!(d2.cli(&["tag", &target, &other]).status.code(), Some(0));
    let s = text(&d2.cli(&["push", &other]).stdout);
    assert_eq!(s.matches("Mounted from team/app").count(), 2, "{s}");
}

#[test]
fn pushing_a_missing_image_is_a_clear_error() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::new().start(&[]);
    let out = d.cli(&["push", &format!("{}/nope:1", reg.host())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("An image does not exist locally with the tag"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_makes_a_one_layer_image_with_changes() {
    let d = Daemon::new().start(&[]);
    let rootfs = common::images::busybox_layer();
    let f = d.dir.path().join("rootfs.tar");
    std::fs::write(&f, &rootfs).unwrap();
    let out = d.cli(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        "-c",
        "ENV A=1",
        "-m",
        "from a test",
        &f.display().to_string(),
        "imported:1",
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.starts_with("sha256:"), "{s}");
    let i = d.get("/images/imported:1/json").json();
    assert_eq!(i["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(i["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(i["Comment"], "from a test");
    assert_eq!(i["RootFS"]["Layers"], serde_json::json!([sha256(&rootfs)]));
    let out = d.cli(&["import", "-c", "RUN rm -rf /", &f.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("RUN is not a valid change command"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn login_stores_and_logout_removes_credentials() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::new().start(&[]);
    let cfg = d.dir.path().join("cfg");
    let cfg_s = cfg.display().to_string();
    let mut child = std::process::Command::new(d.bin.join("balena-engine"))
        .args([
            "--config",
            &cfg_s,
            "-H",
            &d.host(),
            "login",
            "-u",
            "me",
            "--password-stdin",
            &reg.host(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"secret\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).ends_with("Login Succeeded\n"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["auths"][reg.host()]["auth"], "bWU6c2VjcmV0");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(cfg.join("config.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let out = d.cli(&["--config", &cfg_s, "logout", &reg.host()]);
    assert_eq!(
        text(&out.stdout),
        format!("Removing login credentials for {}\n", reg.host())
    );
    let out = d.cli(&["--config", &cfg_s, "logout", &reg.host()]);
    assert_eq!(
        text(&out.stdout),
        format!("Not logged in to {}\n", reg.host())
    );
}
