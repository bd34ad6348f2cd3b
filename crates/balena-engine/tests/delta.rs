//! Binary image deltas, created through the API and checked with `rdiff`
//! (librsync, the reference implementation balena's delta servers use).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::images::{archive, busybox_layer, config, layer, noise, sha256};
use common::Daemon;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn load(d: &Daemon, ar: &[u8]) {
    let p = d.dir.path().join(format!("ar-{}.tar", &sha256(ar)[7..19]));
    std::fs::write(&p, ar).unwrap();
    let out = d.cli(&["load", "-i", &p.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
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
