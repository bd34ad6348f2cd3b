//! Binary image deltas, created through the API and checked with `rdiff`
//! (librsync, the reference implementation balena's delta servers use).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::images::{archive, busybox_layer, config, layer, noise, sha256};
use common::Daemon;

use common::text;

fn load(d: &Daemon, ar: &[u8]) {
    common::load_archive(d, ar);
}

/// `docker save` of `name`: config JSON and layer tars in order.
fn saved(d: &Daemon, name: &str) -> (serde_json::Value, Vec<Vec<u8>>) {
    let p = d.dir.path().join("saved.tar");
    let out = d.cli(&["save", "-o", &p.display().to_string(), name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&p).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let n = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        files.insert(n, v);
    }
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_slice(&files[m[0]["Config"].as_str().unwrap()]).unwrap();
    let layers = m[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| files[l.as_str().unwrap()].clone())
        .collect();
    (cfg, layers)
}

fn rdiff() -> Option<&'static str> {
    ["/usr/bin/rdiff", "/usr/local/bin/rdiff"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn a_delta_patches_the_basis_into_the_target_with_rdiff() {
    let d = Daemon::new().start(&[]);
    let base = busybox_layer();
    let app_v1 = layer(&[
        ("app/data.bin", &noise(400_000, 1)),
        ("app/version", b"1\n"),
    ]);
    let mut changed = noise(400_000, 1);
    changed[1000..1100].copy_from_slice(&[7u8; 100]);
    let app_v2 = layer(&[("app/data.bin", &changed), ("app/version", b"2\n")]);
    let v1 = vec![base.clone(), app_v1];
    let v2 = vec![base.clone(), app_v2.clone()];
    let c1 = config(&v1, &[], "2024-01-01T00:00:00Z");
    let c2 = config(&v2, &[], "2024-01-02T00:00:00Z");
    load(&d, &archive(&v1, &c1, &["app:v1"]));
    load(&d, &archive(&v2, &c2, &["app:v2"]));

    let out = d.cli(&["image", "delta", "-t", "app:delta", "app:v1", "app:v2"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.contains("Fingerprint complete, took"), "{s}");
    assert!(s.contains("Skipping common layer"), "{s}");
    assert!(s.contains("Delta complete"), "{s}");
    assert!(s.contains("x improvement"), "{s}");
    assert!(s.contains("Created delta: sha256:"), "{s}");
    assert!(s.contains("Successfully tagged app:delta"), "{s}");

    let (cfg, layers) = saved(&d, "app:delta");
    let labels = &cfg["config"]["Labels"];
    assert_eq!(labels["io.resin.delta.base"], sha256(&c1).as_str());
    assert_eq!(
        labels["io.resin.delta.config"],
        String::from_utf8(c2.clone()).unwrap().as_str()
    );
    assert_eq!(layers.len(), 2);
    // The common layer is the empty tar.
    assert_eq!(
        sha256(&layers[0]),
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    );
    // The other is a tar of one file `delta`, mode 0600, a few KiB at most.
    let mut ar = tar::Archive::new(&layers[1][..]);
    let mut entries = ar.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().display().to_string(), "delta");
    assert_eq!(e.header().mode().unwrap() & 0o777, 0o600);
    let mut delta = Vec::new();
    e.read_to_end(&mut delta).unwrap();
    assert!(entries.next().is_none());
    assert!(delta.len() < 16 << 10, "delta of {} bytes", delta.len());
    assert_eq!(&delta[..4], &[0x72, 0x73, 0x02, 0x36]);

    // rdiff applies it to the basis stream (v1's layer tars concatenated)
    // and gets v2's changed layer back, byte for byte.
    let Some(rdiff) = rdiff() else {
        println!("SKIP: rdiff is not installed (scripts/deps.sh test installs it)");
        return;
    };
    let (_, basis_layers) = saved(&d, "app:v1");
    let basis: Vec<u8> = basis_layers.concat();
    let dir = d.dir.path();
    std::fs::write(dir.join("basis"), &basis).unwrap();
    std::fs::write(dir.join("delta"), &delta).unwrap();
    // The basis signature we cached is exactly rdiff's with balena's settings.
    let st = std::process::Command::new(rdiff)
        .args([
            "-H",
            "blake2",
            "-R",
            "rollsum",
            "-b",
            "512",
            "-S",
            "32",
            "signature",
            "basis",
            "basis.sig",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    let cached = d
        .data_root
        .join("delta-signatures")
        .join(format!("{}.sig", &sha256(&c1)[7..]));
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(dir.join("basis.sig")).unwrap()
    );
    // A second delta from the same basis reuses it and gives the same delta.
    let out = d.cli(&["image", "delta", "-t", "app:delta2", "app:v1", "app:v2"]);
    assert_eq!(out.status.code(), Some(0));
    let (_, again) = saved(&d, "app:delta2");
    assert_eq!(again, layers);
    let st = std::process::Command::new(rdiff)
        .args(["patch", "basis", "delta", "out"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read(dir.join("out")).unwrap(), app_v2);
}

#[test]
fn identical_images_give_an_all_empty_delta() {
    let d = Daemon::new().start(&[]);
    let v = vec![busybox_layer(), layer(&[("x", b"1")])];
    let c = config(&v, &[], "2024-01-01T00:00:00Z");
    load(&d, &archive(&v, &c, &["same:1"]));
    let out = d.cli(&["image", "delta", "-t", "same:delta", "same:1", "same:1"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert_eq!(s.matches("Skipping common layer").count(), 2, "{s}");
    let (_, layers) = saved(&d, "same:delta");
    for l in layers {
        assert_eq!(l, vec![0u8; 1024]);
    }
}

#[test]
fn a_delta_of_unknown_images_is_a_404() {
    let d = Daemon::new().start(&[]);
    let r = common::raw(&d.socket, "POST", "/images/delta?src=nope&dest=nope2", None);
    assert_eq!(r.status, 404);
}

/// v1 and v2 of an app on a shared base, and the delta between them.
struct Fixture {
    v1: (Vec<Vec<u8>>, Vec<u8>),
    v2: (Vec<Vec<u8>>, Vec<u8>),
}

fn fixture() -> Fixture {
    let base = busybox_layer();
    let data = noise(300_000, 3);
    let mut data2 = data.clone();
    data2[5000..5016].copy_from_slice(b"changed-by-a-fix");
    let v1 = vec![base.clone(), layer(&[("app/data", &data), ("app/v", b"1")])];
    let v2 = vec![
        base,
        layer(&[("app/data", &data2), ("app/v", b"2")]),
        layer(&[("extra", b"new layer")]),
    ];
    let c1 = config(&v1, &[], "2024-01-01T00:00:00Z");
    let c2 = config(&v2, &[], "2024-01-02T00:00:00Z");
    Fixture {
        v1: (v1, c1),
        v2: (v2, c2),
    }
}

/// A daemon that has v1 and v2 and has made `app:delta`.
fn maker(f: &Fixture) -> Daemon {
    let d = Daemon::new().start(&[]);
    load(&d, &archive(&f.v1.0, &f.v1.1, &["app:v1"]));
    load(&d, &archive(&f.v2.0, &f.v2.1, &["app:v2"]));
    let out = d.cli(&["image", "delta", "-t", "app:delta", "app:v1", "app:v2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    d
}

#[test]
fn pulling_a_delta_stores_the_target_image() {
    let Some(reg) = common::registry::Registry::start() else {
        return;
    };
    let f = fixture();
    let m = maker(&f);
    let remote = format!("{}/fleet/app:delta", reg.host());
    assert_eq!(m.cli(&["tag", "app:delta", &remote]).status.code(), Some(0));
    let out = m.cli(&["push", &remote]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A device with v1 pulls the delta and gets v2, bit for bit.
    let dev = Daemon::new().start(&[]);
    load(&dev, &archive(&f.v1.0, &f.v1.1, &["app:v1"]));
    let out = dev.cli(&["pull", &remote]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.contains("Already exists"), "{s}");
    let i = dev.get(&format!("/images/{remote}/json")).json();
    assert_eq!(i["Id"], sha256(&f.v2.1).as_str());
    let want: Vec<String> = f.v2.0.iter().map(|l| sha256(l)).collect();
    assert_eq!(i["RootFS"]["Layers"], serde_json::json!(want));
    // The delta's digest is not recorded on the target (balena-engine #283).
    assert_eq!(i["RepoDigests"], serde_json::json!([]));
    // Every layer rebuilds to its diff id: save gives v2's layer tars.
    let (_, layers) = saved(&dev, &remote);
    assert_eq!(layers, f.v2.0);

    // Pulling it again downloads nothing.
    let s = text(&dev.cli(&["pull", &remote]).stdout);
    assert!(!s.contains("Pull complete"), "{s}");

    // A device without the basis is told so before any download.
    let bare = Daemon::new().start(&[]);
    let r = common::raw(
        &bare.socket,
        "POST",
        &format!(
            "/images/create?fromImage={}/fleet/app&tag=delta",
            reg.host()
        ),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(&format!("loading delta base image \"{}\"", sha256(&f.v1.1))),
        "{msg}"
    );
    assert!(bare
        .get("/images/json")
        .json()
        .as_array()
        .unwrap()
        .is_empty());

    // The basis only in a delta data root (the other device's, read-only):
    // common layers are taken from there too.
    let ro = Daemon::new().start(&[
        "--delta-data-root",
        &dev.data_root.display().to_string(),
        "--delta-storage-driver",
        "overlay2",
    ]);
    // Remove the target from dev first so only the basis is there.
    assert_eq!(dev.cli(&["rmi", &remote]).status.code(), Some(0));
    let out = ro.cli(&["pull", &remote]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        ro.get(&format!("/images/{remote}/json")).json()["Id"],
        sha256(&f.v2.1).as_str()
    );
    let (_, layers) = saved(&ro, &remote);
    assert_eq!(layers, f.v2.0);
}

#[test]
fn loading_a_saved_delta_stores_the_target_image() {
    let f = fixture();
    let m = maker(&f);
    let p = m.dir.path().join("delta.tar");
    assert_eq!(
        m.cli(&["save", "-o", &p.display().to_string(), "app:delta"])
            .status
            .code(),
        Some(0)
    );

    let dev = Daemon::new().start(&[]);
    load(&dev, &archive(&f.v1.0, &f.v1.1, &["app:v1"]));
    let out = dev.cli(&["load", "-i", &p.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        dev.get("/images/app:delta/json").json()["Id"],
        sha256(&f.v2.1).as_str()
    );
    let (_, layers) = saved(&dev, "app:delta");
    assert_eq!(layers, f.v2.0);
    let out = dev.cli(&["load", "-i", &p.display().to_string()]);
    assert!(
        text(&out.stdout).contains("Target image already exists locally, no need to load it."),
        "{}",
        text(&out.stdout)
    );

    // A corrupted delta is refused and leaves nothing behind.
    let bad_dev = Daemon::new().start(&[]);
    load(&bad_dev, &archive(&f.v1.0, &f.v1.1, &["app:v1"]));
    let mut ar = std::fs::read(&p).unwrap();
    // Flip bytes inside the first `delta` payload (after its tar header).
    let pos = ar
        .windows(4)
        .position(|w| w == [0x72, 0x73, 0x02, 0x36])
        .unwrap();
    for b in &mut ar[pos + 40..pos + 60] {
        *b ^= 0x5a;
    }
    let bp = bad_dev.dir.path().join("bad.tar");
    std::fs::write(&bp, &ar).unwrap();
    let out = bad_dev.cli(&["load", "-i", &bp.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(bad_dev.get("/images/app:delta/json").status, 404);
    let layers = std::fs::read_dir(bad_dev.data_root.join("image/overlay2/layerdb/sha256"))
        .unwrap()
        .count();
    let dirs = std::fs::read_dir(bad_dev.data_root.join("overlay2"))
        .unwrap()
        .count()
        - 1;
    assert_eq!(layers, dirs, "staging directories left behind");
}

#[test]
fn reordered_layers_make_small_deltas_that_apply() {
    let d = Daemon::new().start(&[]);
    let base = busybox_layer();
    let a = layer(&[("a.bin", &noise(200_000, 21))]);
    let b = layer(&[("b.bin", &noise(200_000, 22))]);
    let v1 = vec![base.clone(), a.clone(), b.clone()];
    let v2 = vec![base, b, a];
    let c1 = config(&v1, &[], "2024-01-01T00:00:00Z");
    let c2 = config(&v2, &[], "2024-01-02T00:00:00Z");
    load(&d, &archive(&v1, &c1, &["ro:v1"]));
    load(&d, &archive(&v2, &c2, &["ro:v2"]));
    let out = d.cli(&["image", "delta", "-t", "ro:delta", "ro:v1", "ro:v2"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert_eq!(s.matches("Skipping common layer").count(), 1, "{s}");
    assert_eq!(s.matches("Delta complete").count(), 2, "{s}");
    let (_, layers) = saved(&d, "ro:delta");
    for l in &layers[1..] {
        assert!(l.len() < 8 << 10, "a moved layer costs {} bytes", l.len());
    }
    // Applied on a device with v1: v2 comes back.
    let p = d.dir.path().join("ro-delta.tar");
    assert_eq!(
        d.cli(&["save", "-o", &p.display().to_string(), "ro:delta"])
            .status
            .code(),
        Some(0)
    );
    let dev = Daemon::new().start(&[]);
    load(&dev, &archive(&v1, &c1, &["ro:v1"]));
    let out = dev.cli(&["load", "-i", &p.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        dev.get("/images/ro:delta/json").json()["Id"],
        sha256(&c2).as_str()
    );
    let (_, got) = saved(&dev, "ro:delta");
    assert_eq!(got, v2);
}
