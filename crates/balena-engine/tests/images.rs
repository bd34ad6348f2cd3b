//! Images through the API and CLI: load, list, inspect, history, tag,
//! save, rmi, prune, against a real daemon and store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};

use common::images::{archive, busybox_image, sha256};
use common::{raw, Daemon};

use common::text;

fn load(d: &Daemon, ar: &[u8]) -> String {
    common::load_archive(d, ar)
}

#[test]
fn load_list_inspect_and_history() {
    let d = Daemon::new().start(&[]);
    let (layers, cfg) = busybox_image(&[("etc/motd", b"hello\n")], &[("io.balena.test", "yes")]);
    let out = load(&d, &archive(&layers, &cfg, &["test/app:v1"]));
    assert!(out.contains("Loaded image: test/app:v1"), "{out}");
    let id = sha256(&cfg);

    let list = d.get("/images/json").json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Id"], id.as_str());
    assert_eq!(list[0]["RepoTags"], serde_json::json!(["test/app:v1"]));
    assert_eq!(list[0]["Labels"]["io.balena.test"], "yes");
    assert!(list[0]["Size"].as_i64().unwrap() > 1_000_000);

    let i = d.get("/images/test/app:v1/json").json();
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(i["GraphDriver"]["Name"], "overlay2");
    assert_eq!(i["Os"], "linux");
    // By short id and by full id too.
    assert_eq!(
        d.get(&format!("/images/{}/json", &id[7..19])).json()["Id"],
        id.as_str()
    );
    assert_eq!(
        d.get(&format!("/images/{id}/json")).json()["Id"],
        id.as_str()
    );

    let h = d.get("/images/test/app:v1/history").json();
    assert_eq!(h.as_array().unwrap().len(), 3);
    assert_eq!(h[0]["Id"], id.as_str());
    assert_eq!(h[0]["CreatedBy"], "CMD [\"sh\"]");
    assert_eq!(h[2]["Id"], "<missing>");

    let out = d.cli(&["images"]);
    let s = text(&out.stdout);
    assert!(
        s.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{s}"
    );
    assert!(
        s.contains(&format!("test/app     v1        {}", &id[7..19])),
        "{s}"
    );
    let out = d.cli(&["images", "-q"]);
    assert_eq!(text(&out.stdout), format!("{}\n", &id[7..19]));
    let out = d.cli(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{index .RepoTags 0}}",
        "test/app:v1",
    ]);
    assert_eq!(text(&out.stdout), format!("{id} test/app:v1\n"));
}

#[test]
fn missing_images_are_404_with_docker_wording() {
    let d = Daemon::new().start(&[]);
    let r = d.get("/images/nope/json");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: nope:latest");
    let out = d.cli(&["rmi", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such image: nope:latest"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn save_then_load_gives_the_same_image() {
    let d = Daemon::new().start(&[]);
    let (layers, cfg) = busybox_image(&[("data/a", &[7u8; 100_000]), ("data/b", b"")], &[]);
    load(&d, &archive(&layers, &cfg, &["roundtrip:1"]));
    let saved = d.dir.path().join("saved.tar");
    let out = d.cli(&["save", "-o", &saved.display().to_string(), "roundtrip:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The saved layers are byte-identical to the originals.
    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    let mut found = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name.ends_with("layer.tar") {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            found.push(sha256(&v));
        }
    }
    let want: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    assert_eq!(found, want);

    // Into a fresh daemon: same id, same tag.
    let d2 = Daemon::new().start(&[]);
    let out = d2.cli(&["load", "-i", &saved.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Loaded image: roundtrip:1"));
    assert_eq!(
        d2.get("/images/roundtrip:1/json").json()["Id"],
        sha256(&cfg).as_str()
    );
    // The loaded layers verify against their diff ids in the new store.
    let again = d2.dir.path().join("again.tar");
    let out = d2.cli(&["save", "-o", &again.display().to_string(), "roundtrip:1"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn load_reads_stdin_and_reports_bad_archives() {
    let d = Daemon::new().start(&[]);
    let (layers, cfg) = busybox_image(&[("x", b"1")], &[]);
    let ar = archive(&layers, &cfg, &[]);
    let mut child = Command::new(d.bin.join("balena-engine"))
        .args(["-H", &d.host(), "load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &ar).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("Loaded image ID: {}\n", sha256(&cfg))
    );

    // A layer that does not match the config's diff id.
    let (l2, c2) = busybox_image(&[("z", b"3")], &[]);
    let bad = archive(
        &[l2[0].clone(), common::images::layer(&[("y", b"2")])],
        &c2,
        &["bad:1"],
    );
    let r = raw(&d.socket, "POST", "/images/load", Some(&bad));
    assert_eq!(r.status, 200);
    let body = text(&r.body);
    let last: serde_json::Value = serde_json::from_str(
        body.lines()
            .last()
            .unwrap_or_else(|| panic!("empty body: {r:?}")),
    )
    .unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("diff id"),
        "{last}"
    );
    assert_eq!(d.get("/images/bad:1/json").status, 404);

    // Not an archive at all.
    let r = raw(&d.socket, "POST", "/images/load", Some(b"garbage"));
    let t = text(&r.body);
    assert!(t.contains("errorDetail"), "{t}");
    // Nothing half-made: the spool directory is gone.
    let tmp = d.data_root.join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn hostile_archive_names_are_refused() {
    let d = Daemon::new().start(&[]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    // The tar crate refuses to write `..`; put the name in by hand.
    h.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../../escape");
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let ar = b.into_inner().unwrap();
    let r = raw(&d.socket, "POST", "/images/load", Some(&ar));
    assert!(
        text(&r.body).contains("invalid archive entry name"),
        "{}",
        text(&r.body)
    );
    assert!(!d.data_root.join("escape").exists());
    assert!(!d.dir.path().join("escape").exists());
}

#[test]
fn tag_rmi_and_prune_follow_docker() {
    let d = Daemon::new().start(&[]);
    let (layers, cfg) = busybox_image(&[("f", b"1")], &[]);
    load(&d, &archive(&layers, &cfg, &["one:latest"]));
    let id = sha256(&cfg);
    let out = d.cli(&["tag", "one", "localhost:5000/two:x"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tags = d.get(&format!("/images/{id}/json")).json()["RepoTags"].clone();
    assert_eq!(
        tags,
        serde_json::json!(["localhost:5000/two:x", "one:latest"])
    );

    // By id with two repositories: refused without force.
    let r = raw(
        &d.socket,
        "DELETE",
        &format!("/images/{}", &id[7..19]),
        None,
    );
    assert_eq!(r.status, 409);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("referenced in multiple repositories"));

    // Untagging one name keeps the image.
    let out = d.cli(&["rmi", "one"]);
    assert_eq!(text(&out.stdout), "Untagged: one:latest\n");
    assert_eq!(d.get(&format!("/images/{id}/json")).status, 200);

    // The last name deletes it and its layers.
    let out = d.cli(&["rmi", "localhost:5000/two:x"]);
    let s = text(&out.stdout);
    assert!(
        s.starts_with(&format!("Untagged: localhost:5000/two:x\nDeleted: {id}\n")),
        "{s}"
    );
    assert_eq!(s.matches("Deleted: ").count(), 3, "{s}");
    assert_eq!(d.get("/images/json").json(), serde_json::json!([]));
    let overlay: Vec<_> = std::fs::read_dir(d.data_root.join("overlay2"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(overlay, vec![std::ffi::OsString::from("l")]);

    // Prune removes dangling images only.
    let (l2, c2) = busybox_image(&[("g", b"2")], &[]);
    load(&d, &archive(&l2, &c2, &[]));
    let (l3, c3) = busybox_image(&[("h", b"3")], &[]);
    load(&d, &archive(&l3, &c3, &["kept:1"]));
    let r = raw(&d.socket, "POST", "/images/prune", None);
    let report = r.json();
    assert_eq!(report["ImagesDeleted"][0]["Deleted"], sha256(&c2).as_str());
    assert!(report["SpaceReclaimed"].as_u64().unwrap() > 0);
    assert_eq!(d.get("/images/kept:1/json").status, 200);
    // The shared busybox layer survived for the kept image.
    assert_eq!(d.get("/images/json").json().as_array().unwrap().len(), 1);
}

#[test]
fn list_filters_work() {
    let d = Daemon::new().start(&[]);
    let (l1, c1) = busybox_image(&[("a", b"1")], &[("role", "app")]);
    load(&d, &archive(&l1, &c1, &["app:1"]));
    let (l2, c2) = busybox_image(&[("b", b"2")], &[("role", "db")]);
    load(&d, &archive(&l2, &c2, &["db:1"]));
    let q = |f: &str| {
        let enc: String = form_urlencoded_encode(f);
        d.get(&format!("/images/json?filters={enc}")).json()
    };
    let r = q(r#"{"label":["role=app"]}"#);
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["RepoTags"][0], "app:1");
    let r = q(r#"{"reference":["d*"]}"#);
    assert_eq!(r[0]["RepoTags"][0], "db:1");
    assert_eq!(q(r#"{"dangling":["true"]}"#), serde_json::json!([]));
    let r = d.get("/images/json?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D");
    assert_eq!(r.status, 400);
    let out = d.cli(&[
        "images",
        "--filter",
        "label=role=db",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(text(&out.stdout), "db\n");
}

fn form_urlencoded_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
