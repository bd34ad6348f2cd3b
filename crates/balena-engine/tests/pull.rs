//! Pulls from a real registry (Debian's docker-registry on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::images::{busybox_image, config, layer, sha256};
use common::registry::Registry;
use common::{raw, Daemon};

use common::text;

#[test]
fn pull_stores_the_image_and_reports_like_docker() {
    let Some(reg) = Registry::start() else { return };
    let (layers, cfg) = busybox_image(&[("etc/motd", b"pulled\n")], &[]);
    let digest = reg.push("test/bb", "1", &layers, &cfg);
    let d = Daemon::new().start(&[]);
    let name = format!("{}/test/bb:1", reg.host());

    let out = d.cli(&["pull", &name]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.starts_with("1: Pulling from test/bb\n"), "{s}");
    assert_eq!(s.matches("Pull complete").count(), 2, "{s}");
    assert!(s.contains(&format!("Digest: {digest}\n")), "{s}");
    assert!(
        s.contains(&format!("Status: Downloaded newer image for {name}\n")),
        "{s}"
    );
    assert!(s.ends_with(&format!("{name}\n")), "{s}");

    let i = d.get(&format!("/images/{name}/json")).json();
    assert_eq!(i["Id"], sha256(&cfg).as_str());
    assert_eq!(
        i["RepoDigests"],
        serde_json::json!([format!("{}/test/bb@{digest}", reg.host())])
    );
    // Every layer is stored byte-exact (tar-split rebuilds its diff id).
    let saved = d.dir.path().join("s.tar");
    assert_eq!(
        d.cli(&["save", "-o", &saved.display().to_string(), &name])
            .status
            .code(),
        Some(0)
    );

    // Again: nothing downloaded.
    let out = d.cli(&["pull", &name]);
    let s = text(&out.stdout);
    assert_eq!(s.matches("Already exists").count(), 2, "{s}");
    assert!(
        s.contains(&format!("Status: Image is up to date for {name}\n")),
        "{s}"
    );

    // A second image on the same base: the base layer already exists.
    let l2 = vec![layers[0].clone(), layer(&[("other", b"2")])];
    let c2 = config(&l2, &[], "2024-02-02T00:00:00Z");
    reg.push("test/bb", "2", &l2, &c2);
    let out = d.cli(&["pull", &format!("{}/test/bb:2", reg.host())]);
    let s = text(&out.stdout);
    assert_eq!(s.matches("Already exists").count(), 1, "{s}");
    assert_eq!(s.matches("Pull complete").count(), 1, "{s}");

    // By digest.
    let d2 = Daemon::new().start(&[]);
    let by_digest = format!("{}/test/bb@{digest}", reg.host());
    let out = d2.cli(&["pull", &by_digest]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        d2.get(&format!("/images/{by_digest}/json")).json()["Id"],
        sha256(&cfg).as_str()
    );
}

#[test]
fn unknown_images_fail_at_once_with_a_clear_error() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::new().start(&[]);
    let r = raw(
        &d.socket,
        "POST",
        &format!("/images/create?fromImage={}/nope&tag=x", reg.host()),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.json()["message"].as_str().unwrap().contains("not found"),
        "{}",
        r.text()
    );
    let out = d.cli(&["pull", &format!("{}/nope:x", reg.host())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Error response from daemon"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn manifest_lists_pick_the_host_platform() {
    let Some(reg) = Registry::start() else { return };
    // Two "architectures": amd64 (ours here) and arm/v7.
    let (la, ca) = busybox_image(&[("arch", b"amd64")], &[]);
    let mut lb = la.clone();
    lb[1] = layer(&[("arch", b"arm")]);
    let cb: Vec<u8> = {
        let mut v: serde_json::Value =
            serde_json::from_slice(&config(&lb, &[], "2024-01-01T00:00:00Z")).unwrap();
        v["architecture"] = "arm".into();
        v["variant"] = "v7".into();
        serde_json::to_vec(&v).unwrap()
    };
    let da = reg.push("multi/app", "amd64", &la, &ca);
    let db = reg.push("multi/app", "arm", &lb, &cb);
    let size = |tag: &str| {
        let r = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
            ])
            .arg(format!(
                "http://{}/v2/multi/app/manifests/{tag}",
                reg.host()
            ))
            .output()
            .unwrap();
        text(&r.stdout).parse::<u64>().unwrap()
    };
    let host_arch = if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "arm"
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": db, "size": size("arm"),
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": da, "size": size("amd64"),
             "platform": {"architecture": host_arch, "os": "linux"}},
        ]
    });
    reg.put_manifest(
        "multi/app",
        "latest",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        &serde_json::to_vec(&index).unwrap(),
    );
    let d = Daemon::new().start(&[]);
    let name = format!("{}/multi/app:latest", reg.host());
    let out = d.cli(&["pull", &name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        d.get(&format!("/images/{name}/json")).json()["Id"],
        sha256(&ca).as_str()
    );
    // --platform picks the other one.
    let out = d.cli(&["pull", "--platform", "linux/arm/v7", &name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        d.get(&format!("/images/{name}/json")).json()["Id"],
        sha256(&cb).as_str()
    );
    // A platform the index lacks is a clear error.
    let out = d.cli(&["pull", "--platform", "linux/s390x", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no matching manifest for linux/s390x"),
        "{}",
        text(&out.stderr)
    );
}
