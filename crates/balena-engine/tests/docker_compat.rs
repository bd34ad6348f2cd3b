//! Data root compatibility with a real Docker 20.10 (`dockerd`, Debian's
//! docker.io): what dockerd writes we read and rebuild byte for byte, and
//! what we write (load, pull) dockerd reads, saves, pulls over and runs.
//! Skipped, with the reason printed, when dockerd is not installed or
//! cannot start here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::dockerd::{dockerd_bin, saved_layers, Dockerd};
use common::images::{archive, busybox_image, busybox_layer, config, noise, sha256};
use common::registry::Registry;
use common::Daemon;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn data_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("be-compat-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Starts dockerd on `root`. When it does not start, tries a fresh empty
/// root: if dockerd cannot start there either the machine cannot run it
/// (None, SKIP printed); if it can, our data root is what it refuses.
fn dockerd_on(root: &Path) -> Option<Dockerd> {
    if dockerd_bin().is_none() {
        println!("SKIP: dockerd is not installed");
        return None;
    }
    match Dockerd::start(root) {
        Ok(d) => Some(d),
        Err(why) => {
            let empty = data_root();
            match Dockerd::start(empty.path()) {
                Ok(_) => panic!("dockerd starts on an empty root but not on ours: {why}"),
                Err(e) => {
                    println!("SKIP: dockerd cannot start here: {e}");
                    None
                }
            }
        }
    }
}

/// A tar entry: regular file, directory (`path/`), hard link (`=>target`)
/// or symlink (`->target`), with mode and owner.
fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, uid: u64) {
    let mut h = tar::Header::new_gnu();
    h.set_mtime(1_700_000_000);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_mode(mode);
    let s = std::str::from_utf8(data).unwrap_or("");
    if let Some(t) = s.strip_prefix("=>") {
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, path, t).unwrap();
    } else if let Some(t) = s.strip_prefix("->") {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, t).unwrap();
    } else if path.ends_with('/') {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, path, &[][..]).unwrap();
    } else {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    }
}

/// A PAX extended header (one `key=value` record) for the next entry.
fn pax(b: &mut tar::Builder<Vec<u8>>, for_path: &str, key: &str, value: &str) {
    let kv = format!(" {key}={value}\n");
    let mut n = kv.len() + 1;
    while format!("{n}{kv}").len() != n {
        n += 1;
    }
    let rec = format!("{n}{kv}");
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path(format!("PaxHeaders/{for_path}")).unwrap();
    h.set_size(rec.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append(&h, rec.as_bytes()).unwrap();
}

/// Two layers over busybox exercising what tar-split and the overlay2
/// layout must carry: a GNU long name, a PAX xattr record, a hard link, an
/// owned 0600 file, an empty file, a file of incompressible bytes; then a
/// whiteout and an opaque directory in the layer above.
fn rich_layers() -> Vec<Vec<u8>> {
    let long_dir = format!("deep/{}/", "d".repeat(120));
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, "opt/", b"", 0o755, 0);
    pax(&mut b, "opt/keep", "SCHILY.xattr.user.compat", "yes");
    entry(&mut b, "opt/keep", b"keep\n", 0o644, 0);
    entry(&mut b, "opt/gone", b"gone\n", 0o644, 0);
    entry(&mut b, "opt/hard", b"=>opt/keep", 0o644, 0);
    entry(&mut b, "opt/owned", b"secret\n", 0o600, 1000);
    entry(&mut b, "opt/empty", b"", 0o644, 0);
    entry(&mut b, "opt/noise", &noise(200_000, 11), 0o644, 0);
    entry(&mut b, "opt/link", b"->keep", 0o777, 0);
    entry(&mut b, "opq/", b"", 0o755, 0);
    entry(&mut b, "opq/old", b"old\n", 0o644, 0);
    entry(&mut b, "deep/", b"", 0o755, 0);
    entry(&mut b, &long_dir, b"", 0o755, 0);
    entry(&mut b, &format!("{long_dir}file"), b"deep\n", 0o644, 0);
    let l2 = b.into_inner().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, "opt/", b"", 0o755, 0);
    entry(&mut b, "opt/.wh.gone", b"", 0o644, 0);
    entry(&mut b, "opq/", b"", 0o755, 0);
    entry(&mut b, "opq/.wh..wh..opq", b"", 0o644, 0);
    entry(&mut b, "opq/new", b"new\n", 0o644, 0);
    let l3 = b.into_inner().unwrap();
    vec![busybox_layer(), l2, l3]
}

/// The driver directories of a data root (what an engine's start-up
/// cleanup could remove).
fn overlay_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("overlay2"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn save_layers(d: &Daemon, name: &str) -> Vec<Vec<u8>> {
    let p = d.dir.path().join("saved.tar");
    let out = d.cli(&["save", "-o", &p.display().to_string(), name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "save {name}: {}",
        text(&out.stderr)
    );
    let ar = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    saved_layers(&ar).1
}

fn docker_save_layers(dd: &Dockerd, name: &str) -> Vec<Vec<u8>> {
    let p = dd.dir.path().join("saved.tar");
    dd.docker_ok(&["save", "-o", &p.display().to_string(), name]);
    let ar = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    saved_layers(&ar).1
}

fn diff_ids(layers: &[Vec<u8>]) -> Vec<String> {
    layers.iter().map(|l| sha256(l)).collect()
}

#[test]
fn what_dockerd_writes_we_read_and_rebuild_byte_for_byte() {
    let root = data_root();
    let Some(mut dd) = dockerd_on(root.path()) else {
        return;
    };
    let (la, ca) = busybox_image(
        &[
            ("etc/motd", b"from docker\n"),
            ("data/blob", &noise(300_000, 7)),
        ],
        &[("io.balena.test", "a")],
    );
    let lb = rich_layers();
    let cb = config(&lb, &[], "2024-03-04T05:06:07Z");
    let (ida, idb) = (sha256(&ca), sha256(&cb));
    for (name, ar) in [
        ("a.tar", archive(&la, &ca, &["compat/a:v1"])),
        ("b.tar", archive(&lb, &cb, &["compat/b:v2"])),
    ] {
        let p = dd.dir.path().join(name);
        std::fs::write(&p, ar).unwrap();
        dd.docker_ok(&["load", "-i", &p.display().to_string()]);
    }
    dd.docker_ok(&["tag", "compat/a:v1", "compat/a:latest"]);
    // An image dockerd pulled, when a registry can run here.
    let reg = Registry::start();
    let pulled = reg.as_ref().map(|reg| {
        let (lc, cc) = busybox_image(&[("etc/motd", b"docker pulled\n")], &[]);
        let digest = reg.push("compat/c", "1", &lc, &cc);
        let name = format!("{}/compat/c:1", reg.host());
        dd.docker_ok(&["pull", &name]);
        (name, sha256(&cc), digest, reg.host())
    });
    assert_eq!(
        dd.docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            "compat/a:v1",
            "compat/b:v2"
        ]),
        format!("{ida}\n{idb}\n")
    );
    // A container, so the root also holds a read-write and an init layer.
    let cid = dd.docker_ok(&[
        "create",
        "--name",
        "keep",
        "--network",
        "none",
        "compat/a:v1",
    ]);
    let cid = cid.trim().to_string();
    dd.stop();
    drop(dd);
    let before = overlay_dirs(root.path());
    // l, 4 layers (+1 pulled), rw + init
    let n = if pulled.is_some() { 8 } else { 7 };
    assert_eq!(before.len(), n, "{before:?}");

    let mut d = Daemon::on_data_root(root.path()).start(&[]);
    // Our start-up cleanup kept every directory dockerd made.
    assert_eq!(overlay_dirs(root.path()), before);

    let list = d.get("/images/json").json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2 + usize::from(pulled.is_some()), "{list:?}");
    let a = list.iter().find(|i| i["Id"] == ida.as_str()).unwrap();
    let b = list.iter().find(|i| i["Id"] == idb.as_str()).unwrap();
    let mut tags: Vec<String> = serde_json::from_value(a["RepoTags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["compat/a:latest", "compat/a:v1"]);
    assert_eq!(b["RepoTags"], serde_json::json!(["compat/b:v2"]));
    assert_eq!(a["Labels"]["io.balena.test"], "a");
    assert!(a["Size"].as_i64().unwrap() > 1_000_000, "{a}");

    let i = d.get("/images/compat/a:v1/json").json();
    assert_eq!(i["Id"], ida.as_str());
    assert_eq!(i["RootFS"]["Layers"], serde_json::json!(diff_ids(&la)));
    assert_eq!(i["GraphDriver"]["Name"], "overlay2");
    let upper = i["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap_or("");
    assert_eq!(
        std::fs::read(Path::new(upper).join("etc/motd")).unwrap(),
        b"from docker\n",
        "{i}"
    );
    let i = d.get("/images/compat/b:v2/json").json();
    assert_eq!(i["Id"], idb.as_str());
    assert_eq!(i["RepoTags"], serde_json::json!(["compat/b:v2"]));
    assert_eq!(i["RootFS"]["Layers"], serde_json::json!(diff_ids(&lb)));

    let h = d.get("/images/compat/a:v1/history").json();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h[0]["Id"], ida.as_str());
    assert_eq!(h[0]["CreatedBy"], "CMD [\"sh\"]");
    assert_eq!(h[1]["CreatedBy"], "test layer 1");

    // tar-split reassembly of dockerd's layers: the original bytes.
    assert!(
        save_layers(&d, "compat/a:v1") == la,
        "image a layers differ"
    );
    let saved = save_layers(&d, "compat/b:v2");
    assert_eq!(diff_ids(&saved), diff_ids(&lb));
    assert!(saved == lb);

    let out = d.cli(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    names.retain(|n| n.starts_with("compat/"));
    names.sort();
    assert_eq!(names, ["compat/a:latest", "compat/a:v1", "compat/b:v2"]);
    assert_eq!(overlay_dirs(root.path()), before);

    // dockerd's distribution metadata: our pull of what it pulled
    // downloads nothing.
    if let Some((name, id, digest, host)) = &pulled {
        let i = d.get(&format!("/images/{name}/json")).json();
        assert_eq!(i["Id"], id.as_str());
        assert_eq!(
            i["RepoDigests"],
            serde_json::json!([format!("{host}/compat/c@{digest}")])
        );
        let out = d.cli(&["pull", name]);
        let s = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
        assert_eq!(s.matches("Already exists").count(), 2, "{s}");
        assert!(s.contains("Image is up to date"), "{s}");
    }

    // Our rmi of a dockerd-written image takes its own layers (two) and
    // keeps the busybox layer image a shares.
    let out = d.cli(&["rmi", "compat/b:v2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).matches("Deleted: ").count(),
        3,
        "{}",
        text(&out.stdout)
    );
    let after = overlay_dirs(root.path());
    assert_eq!(after.len(), before.len() - 2, "{after:?}");
    d.stop_and_wait();

    // And dockerd still reads the root after we ran on it.
    let dd = Dockerd::start(root.path()).unwrap();
    let ids = dd.docker_ok(&["images", "-q", "--no-trunc"]);
    assert!(ids.contains(&ida) && !ids.contains(&idb), "{ids}");
    assert!(
        dd.docker(&["image", "inspect", "compat/b:v2"])
            .status
            .code()
            == Some(1)
    );
    let saved = docker_save_layers(&dd, "compat/a:v1");
    assert!(saved == la);
    let ps = dd.docker_ok(&["ps", "-aq", "--no-trunc"]);
    assert_eq!(ps.trim(), cid);
    dd.docker_ok(&["rm", "keep"]);
}

#[test]
fn what_we_write_dockerd_reads_saves_and_runs() {
    if dockerd_bin().is_none() {
        println!("SKIP: dockerd is not installed");
        return;
    }
    let Some(reg) = Registry::start() else { return };
    let root = data_root();

    // Ours: a loaded image and a pulled one, sharing the busybox layer.
    let mut d = Daemon::on_data_root(root.path()).start(&[]);
    let ll = rich_layers();
    let cl = config(&ll, &[("io.balena.test", "loaded")], "2024-05-06T07:08:09Z");
    let arp = d.dir.path().join("loaded.tar");
    std::fs::write(&arp, archive(&ll, &cl, &["compat/loaded:v1"])).unwrap();
    let out = d.cli(&["load", "-i", &arp.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let (lp, cp) = busybox_image(
        &[("etc/motd", b"pulled\n"), ("data/blob", &noise(500_000, 3))],
        &[],
    );
    let digest = reg.push("compat/pulled", "1", &lp, &cp);
    let pulled = format!("{}/compat/pulled:1", reg.host());
    let out = d.cli(&["pull", &pulled]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let ours = d.get(&format!("/images/{pulled}/json")).json();
    assert_eq!(ours["Id"], sha256(&cp).as_str());
    d.stop_and_wait();
    drop(d);

    let Some(dd) = dockerd_on(root.path()) else {
        return;
    };
    let images = dd.docker_ok(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    let mut images: Vec<&str> = images.lines().collect();
    images.sort();
    assert_eq!(
        images,
        [
            format!("{pulled} {}", sha256(&cp)),
            format!("compat/loaded:v1 {}", sha256(&cl)),
        ],
    );
    let fmt = "{{.Id}} {{json .RepoTags}} {{json .RepoDigests}} {{len .RootFS.Layers}}";
    assert_eq!(
        dd.docker_ok(&["image", "inspect", "-f", fmt, &pulled]),
        format!(
            "{} [\"{pulled}\"] [\"{}/compat/pulled@{digest}\"] 2\n",
            sha256(&cp),
            reg.host()
        )
    );
    assert_eq!(
        dd.docker_ok(&["image", "inspect", "-f", fmt, "compat/loaded:v1"]),
        format!("{} [\"compat/loaded:v1\"] [] 3\n", sha256(&cl))
    );
    let h = dd.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        &pulled,
    ]);
    assert_eq!(
        h,
        format!(
            "{}|CMD [\"sh\"]\n<missing>|test layer 1\n<missing>|test layer 0\n",
            sha256(&cp)
        )
    );

    // dockerd rebuilds our layers from our tar-split files: the originals.
    let saved = docker_save_layers(&dd, &pulled);
    assert_eq!(diff_ids(&saved), diff_ids(&lp));
    assert!(saved == lp);
    let saved = docker_save_layers(&dd, "compat/loaded:v1");
    assert_eq!(diff_ids(&saved), diff_ids(&ll));

    // dockerd's own pull finds everything there (distribution metadata).
    let out = dd.docker_ok(&["pull", &pulled]);
    assert!(out.contains("Image is up to date"), "{out}");
    // A new tag on the same layers: dockerd finds them by blob digest
    // (diffid-by-digest) instead of downloading them.
    let (l2, c2) = (
        lp.clone(),
        config(&lp, &[("v", "2")], "2024-06-01T00:00:00Z"),
    );
    reg.push("compat/pulled", "2", &l2, &c2);
    let pulled2 = format!("{}/compat/pulled:2", reg.host());
    let out = dd.docker_ok(&["pull", &pulled2]);
    assert_eq!(out.matches("Already exists").count(), 2, "{out}");
    // Pushing to another repository mounts the blobs our pull recorded as
    // their source (v2metadata-by-diffid) instead of uploading them.
    let other = format!("{}/compat/other:1", reg.host());
    dd.docker_ok(&["tag", &pulled, &other]);
    let out = dd.docker_ok(&["push", &other]);
    assert_eq!(
        out.matches("Mounted from compat/pulled").count(),
        2,
        "{out}"
    );

    // And runs our layers: overlay lower chain, whiteouts, opaque dirs.
    let run = |img: &str, cmd: &str| {
        dd.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            img,
            "/bin/busybox",
            "sh",
            "-c",
            cmd,
        ])
    };
    let out = run(&pulled, "/bin/busybox cat /etc/motd");
    if !out.status.success() {
        // Is it the machine? A rootfs dockerd imported itself, run the same way.
        let rootfs = dd.dir.path().join("rootfs.tar");
        std::fs::write(&rootfs, busybox_layer()).unwrap();
        dd.docker_ok(&["import", &rootfs.display().to_string(), "compat/imported:1"]);
        let probe = run("compat/imported:1", "true");
        if !probe.status.success() {
            println!(
                "SKIP: dockerd cannot run containers here: {}",
                text(&probe.stderr)
            );
            return;
        }
        panic!(
            "dockerd runs its own image but not ours: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    assert_eq!(text(&out.stdout), "pulled\n");
    let out = run(
        "compat/loaded:v1",
        "cd / && ls opt opq && cat opt/hard deep/*/file && stat -c '%h %u %a' opt/keep opt/owned",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "opq:\nnew\n\nopt:\nempty\nhard\nkeep\nlink\nnoise\nowned\nkeep\ndeep\n2 0 644\n1 1000 600\n"
    );
    back_to_us(dd, root.path(), &pulled, &lp);
}

/// dockerd deletes our loaded image; we then read what dockerd left.
fn back_to_us(mut dd: Dockerd, root: &Path, pulled: &str, lp: &[Vec<u8>]) {
    let before = overlay_dirs(root);
    dd.docker_ok(&["rmi", "compat/loaded:v1"]);
    // Its two own layers go, the busybox layer the pulled image shares stays.
    assert_eq!(overlay_dirs(root).len(), before.len() - 2);
    dd.stop();
    drop(dd);
    let mut d = Daemon::on_data_root(root).start(&[]);
    assert_eq!(d.get("/images/compat/loaded:v1/json").status, 404);
    assert!(save_layers(&d, pulled) == lp);
    d.stop_and_wait();
}
