//! Pulls over a network that breaks, and a daemon that dies mid-pull.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::images::{busybox_layer, config, layer, noise, sha256};
use common::proxy::{Faults, Proxy};
use common::registry::Registry;
use common::Daemon;
use nix::sys::signal::Signal;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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
