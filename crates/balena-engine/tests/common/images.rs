//! Test images built from the host's static busybox and generated files:
//! layer tars, configs, and `docker save` archives to `load`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::Digest as _;

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// A layer tar. Entries: (path, content) files with mode 0755 when the
/// path is under bin/, symlinks as ("name", "->target").
pub fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        if let Some(target) = std::str::from_utf8(data)
            .ok()
            .and_then(|s| s.strip_prefix("->"))
        {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, path, target).unwrap();
        } else if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            b.append_data(&mut h, path, &[][..]).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            h.set_mode(if path.starts_with("bin/") {
                0o755
            } else {
                0o644
            });
            b.append_data(&mut h, path, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// The busybox base layer: /bin/busybox and /bin/sh.
pub fn busybox_layer() -> Vec<u8> {
    let bb =
        std::fs::read(BUSYBOX).expect("busybox-static must be installed (scripts/deps.sh test)");
    layer(&[
        ("bin/", b""),
        ("bin/busybox", &bb),
        ("bin/sh", b"->busybox"),
        ("tmp/", b""),
    ])
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// An image config for the given layer tars.
pub fn config(layers: &[Vec<u8>], labels: &[(&str, &str)], created: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| serde_json::json!({"created": created, "created_by": format!("test layer {i}")}))
        .chain(std::iter::once(serde_json::json!({"created": created, "created_by": "CMD [\"sh\"]", "empty_layer": true})))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .unwrap()
}

/// A `docker save` archive of one image.
pub fn archive(layers: &[Vec<u8>], config: &[u8], tags: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let n = format!("layer{i}/layer.tar");
        add(&mut b, &n, l);
        names.push(n);
    }
    let cfg = format!("{}.json", &sha256(config)[7..]);
    add(&mut b, &cfg, config);
    let manifest = serde_json::json!([{"Config": cfg, "RepoTags": tags, "Layers": names}]);
    add(&mut b, "manifest.json", manifest.to_string().as_bytes());
    b.into_inner().unwrap()
}

/// A small two-layer test image: busybox, then a layer of `files`.
pub fn busybox_image(files: &[(&str, &[u8])], labels: &[(&str, &str)]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let layers = vec![busybox_layer(), layer(files)];
    let cfg = config(&layers, labels, "2024-01-02T03:04:05Z");
    (layers, cfg)
}

/// Incompressible bytes (xorshift), so gzip cannot shrink a test layer.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
