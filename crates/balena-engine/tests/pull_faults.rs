//! Pulls over a network that breaks, and a daemon that dies mid-pull.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::images::{busybox_layer, config, layer, noise, sha256};
use common::proxy::{Faults, Proxy};
use common::registry::Registry;
use common::Daemon;
use nix::sys::signal::Signal;

use common::text;

#[test]
fn a_pull_resumes_across_many_cut_connections() {
    let Some(reg) = Registry::start() else { return };
    let big = noise(20 << 20, 7);
    let layers = vec![layer(&[("big.bin", &big)])];
    let cfg = config(&layers, &[], "2024-01-01T00:00:00Z");
    reg.push("faults/big", "1", &layers, &cfg);
    let proxy = Proxy::start(
        reg.port,
        Faults {
            cut_after: 1 << 20,
            ..Default::default()
        },
    );
    let d = Daemon::new().start(&[]);
    let name = format!("{}/faults/big:1", proxy.host());
    let started = Instant::now();
    let out = d.cli(&["pull", &name]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.contains("Retrying in"), "{s}");
    assert_eq!(
        d.get(&format!("/images/{name}/json")).json()["Id"],
        sha256(&cfg).as_str()
    );
    // Resumed, not restarted: at most 10% more than the blob on the wire
    // (the gzip of noise is about the size of the noise).
    let blob = big.len() as u64;
    assert!(
        proxy.forwarded() <= blob + blob / 10,
        "forwarded {} for a {} byte blob",
        proxy.forwarded(),
        blob
    );
    assert!(proxy.connections.load(std::sync::atomic::Ordering::Relaxed) >= 20);
    eprintln!("resumed pull took {:?}", started.elapsed());
}

#[test]
fn a_registry_that_ignores_range_restarts_the_layer_cleanly() {
    let Some(reg) = Registry::start() else { return };
    let big = noise(3 << 20, 11);
    let layers = vec![layer(&[("big.bin", &big)])];
    let cfg = config(&layers, &[], "2024-01-01T00:00:00Z");
    reg.push("faults/norange", "1", &layers, &cfg);
    // Cut once per connection after 1 MiB, and ignore Range: every retry
    // starts over, so the pull must restart the layer from byte 0 each time
    // and can never finish: it must give up cleanly, not spin forever.
    let proxy = Proxy::start(
        reg.port,
        Faults {
            cut_after: 1 << 20,
            strip_range: true,
            ..Default::default()
        },
    );
    let d = Daemon::new().start(&["--max-download-attempts", "3"]);
    let name = format!("{}/faults/norange:1", proxy.host());
    let t = Instant::now();
    let out = d.cli(&["pull", &name]);
    eprintln!("gave up after {:?}: {}", t.elapsed(), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // Nothing half-made is left: no layer, no staging directory.
    assert_eq!(d.get("/images/json").json(), serde_json::json!([]));
    let dirs: Vec<_> = std::fs::read_dir(d.data_root.join("overlay2"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(dirs, vec![std::ffi::OsString::from("l")]);

    // Without cuts, the same Range-ignoring registry serves a normal pull.
    let proxy2 = Proxy::start(
        reg.port,
        Faults {
            strip_range: true,
            ..Default::default()
        },
    );
    let name2 = format!("{}/faults/norange:1", proxy2.host());
    let t = Instant::now();
    let out = d.cli(&["pull", &name2]);
    eprintln!("second pull took {:?}", t.elapsed());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Checks a stopped daemon's data root the way `fsck` would: every
/// recorded layer rebuilds to its diff id, every image's layers exist,
/// every tag points at an image, nothing half-made is left.
fn fsck(root: &std::path::Path) {
    let (s, _) = store::Store::open(root, "overlay2").unwrap();
    for c in s.layers().unwrap() {
        s.verify_layer(&c)
            .unwrap_or_else(|e| panic!("layer {c} fails fsck: {e}"));
    }
    for id in s.images().unwrap() {
        let raw = s.image_config(&id).unwrap().unwrap();
        let cfg = image::ImageConfig::parse(raw).unwrap();
        for c in image::digest::chain_ids(cfg.diff_ids()) {
            assert!(s.layer_exists(&c), "image {id} misses layer {c}");
        }
    }
    for (r, id) in s.references() {
        assert!(s.image_exists(&id), "tag {r} points at missing image {id}");
    }
    assert_eq!(
        std::fs::read_dir(root.join("image/overlay2/layerdb/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn kill_9_at_any_moment_of_a_pull_leaves_a_consistent_store() {
    let Some(reg) = Registry::start() else { return };
    let layers = vec![
        busybox_layer(),
        layer(&[("a.bin", &noise(6 << 20, 1))]),
        layer(&[("b.bin", &noise(6 << 20, 2)), ("c/d", b"x")]),
        layer(&[("e.bin", &noise(6 << 20, 3))]),
    ];
    let cfg = config(&layers, &[], "2024-01-01T00:00:00Z");
    reg.push("faults/kill", "1", &layers, &cfg);
    // Slow the network so the kills land during downloads, extraction and
    // commits alike (~20 MiB/s).
    let proxy = Proxy::start(
        reg.port,
        Faults {
            delay_per_64k: Duration::from_millis(3),
            ..Default::default()
        },
    );
    let name = format!("{}/faults/kill:1", proxy.host());
    let mut d = Daemon::new().start(&[]);
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(50 + seed % 1400);
        let mut child = std::process::Command::new(d.bin.join("balena-engine"))
            .args(["-H", &d.host(), "pull", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        d.signal(Signal::SIGKILL);
        d.wait_exit(Duration::from_secs(10));
        let _ = child.wait();
        fsck(&d.data_root);
        d = d.start(&[]);
        eprintln!("round {round}: killed after {delay:?}");
        // Remove what got pulled, so the next round pulls again.
        if round % 2 == 1 {
            let _ = d.cli(&["rmi", "-f", &name]);
        }
    }
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
        sha256(&cfg).as_str()
    );
    d.signal(Signal::SIGTERM);
    d.wait_exit(Duration::from_secs(10));
    fsck(&d.data_root);
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_is_committed() {
    let Some(reg) = Registry::start() else { return };
    let layers = vec![busybox_layer(), layer(&[("f", &noise(200_000, 5))])];
    let cfg = config(&layers, &[], "2024-01-01T00:00:00Z");
    reg.push("faults/corrupt", "1", &layers, &cfg);
    // Flip bytes inside the stored blob of the second layer (the largest
    // blob under the registry's storage that is not the busybox layer).
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs/sha256");
    let mut files: Vec<(u64, std::path::PathBuf)> = walk(&blobs)
        .into_iter()
        .filter(|p| p.ends_with("data"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort();
    let target = files
        .iter()
        .find(|(len, _)| *len > 150_000 && *len < 1_000_000)
        .map(|(_, p)| p.clone())
        .expect("the noise layer's blob");
    let mut data = std::fs::read(&target).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    data[mid + 1] ^= 0xff;
    std::fs::write(&target, data).unwrap();

    let d = Daemon::new().start(&[]);
    let name = format!("{}/faults/corrupt:1", reg.host());
    let out = d.cli(&["pull", &name]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("digest") || err.contains("layer"), "{err}");
    assert_eq!(d.get(&format!("/images/{name}/json")).status, 404);
    // Only the good layer may be recorded; no staging directory is left.
    let recorded = std::fs::read_dir(d.data_root.join("image/overlay2/layerdb/sha256"))
        .unwrap()
        .count();
    let dirs = std::fs::read_dir(d.data_root.join("overlay2"))
        .unwrap()
        .count()
        - 1;
    assert!(recorded <= 1, "{recorded} layers recorded");
    assert_eq!(dirs, recorded, "staging directories left behind");
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_client_that_disconnects_cancels_the_pull() {
    use std::io::{Read, Write};
    let Some(reg) = Registry::start() else { return };
    let layers = vec![layer(&[("big.bin", &noise(16 << 20, 9))])];
    let cfg = config(&layers, &[], "2024-01-01T00:00:00Z");
    reg.push("faults/cancel", "1", &layers, &cfg);
    // ~2 MiB/s: the pull cannot finish before we hang up.
    let proxy = Proxy::start(
        reg.port,
        Faults {
            delay_per_64k: Duration::from_millis(30),
            ..Default::default()
        },
    );
    let d = Daemon::new().start(&[]);
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let req = format!(
        "POST /images/create?fromImage={}/faults/cancel&tag=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        proxy.host()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("Downloading") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    drop(s);
    // The download stops and its staging layer goes away.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dirs = std::fs::read_dir(d.data_root.join("overlay2"))
            .unwrap()
            .count();
        if dirs == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "staging layer still there after the client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = proxy.forwarded();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        proxy.forwarded() - before < 256 << 10,
        "still downloading after the client left"
    );
    assert_eq!(d.get("/images/json").json(), serde_json::json!([]));
}
