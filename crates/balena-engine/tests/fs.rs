//! A container's file system through the API, our CLI and the real
//! `docker` CLI: changes, export, the archive API and `cp` (including
//! symlinks that point out of the container), commit and system df.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read as _;
use std::process::Command;

use base64::Engine as _;
use common::ctr::*;
use common::{raw, Daemon};
use serde_json::{json, Value};

fn changes(d: &Daemon, id: &str) -> Vec<(String, i64)> {
    let r = api(d, "GET", &format!("/containers/{id}/changes"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Path"].as_str().unwrap().to_string(),
                c["Kind"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn tar_names(b: &[u8]) -> Vec<String> {
    tar::Archive::new(b)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn tar_file(b: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut a = tar::Archive::new(b);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return Some(v);
        }
    }
    None
}

fn stat_of(r: &common::Raw) -> Value {
    let h = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap_or_else(|| panic!("no stat header: {} {}", r.status, r.text()));
    let raw = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn sh(d: &Daemon, name: &str, script: &str) -> String {
    let (id, code, out, err) = run(d, name, json!({ "Cmd": ["sh", "-c", script] }));
    assert_eq!(code, 0, "{out}{err}");
    id
}

#[test]
fn changes_report_added_modified_and_deleted_paths_running_or_not() {
    let d = daemon();
    let id = sh(
        &d,
        "chg",
        "touch /tmp/new && rm /etc/group && mkdir -p /a/b && echo x >> /etc/passwd",
    );
    let got = changes(&d, &id);
    for want in [
        ("/tmp", 0),
        ("/tmp/new", 1),
        ("/etc", 0),
        ("/etc/group", 2),
        ("/etc/passwd", 0),
        ("/a", 1),
        ("/a/b", 1),
    ] {
        assert!(
            got.contains(&(want.0.to_string(), want.1)),
            "{want:?} in {got:?}"
        );
    }
    // The init layer's placeholders (/etc/hosts, /.dockerenv) are not
    // changes of the container.
    assert!(!got.iter().any(|(p, _)| p == "/.dockerenv"), "{got:?}");
    // Running: the same view.
    let id = create(
        &d,
        "chg2",
        json!({ "Cmd": ["sh", "-c", "touch /tmp/live; sleep 60"] }),
    );
    start(&d, &id);
    wait_until(10, "file written", || {
        changes(&d, &id).contains(&("/tmp/live".into(), 1))
    });
    let r = api(&d, "GET", "/containers/nope/changes", None);
    assert_eq!(r.status, 404);
}

#[test]
fn export_streams_the_merged_root_of_a_stopped_or_running_container() {
    let d = daemon();
    let id = sh(&d, "exp", "echo hello > /tmp/f && rm /etc/group");
    let r = api(&d, "GET", &format!("/containers/{id}/export"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let names = tar_names(&r.body);
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == ".dockerenv"), "{names:?}");
    assert!(!names.iter().any(|n| n == "etc/group"), "{names:?}");
    assert_eq!(tar_file(&r.body, "tmp/f").unwrap(), b"hello\n");
    // Unmounted after: the container starts again and sees its file.
    let merged = inspect(&d, &id)["GraphDriver"]["Data"]["MergedDir"]
        .as_str()
        .unwrap()
        .to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&merged), "left mounted");
    let id2 = create(&d, "exp2", json!({ "Cmd": ["sleep", "60"] }));
    start(&d, &id2);
    let r = api(&d, "GET", &format!("/containers/{id2}/export"), None);
    assert_eq!(r.status, 200);
    assert!(tar_names(&r.body).iter().any(|n| n == "bin/busybox"));
    // Still running, its root still mounted.
    assert_eq!(inspect(&d, &id2)["State"]["Running"], true);
    let (o, _, c) = exec(&d, &id2, &["cat", "/etc/passwd"], json!({}));
    assert_eq!(c, 0);
    assert!(o.contains("root"));
}

#[test]
fn archive_head_and_get_report_dockers_stat_and_errors() {
    let d = daemon();
    let id = sh(&d, "arc", "mkdir -p /data/sub && echo abc > /data/sub/f");
    let r = api(
        &d,
        "HEAD",
        &format!("/containers/{id}/archive?path=/data/sub/f"),
        None,
    );
    assert_eq!(r.status, 200);
    let s = stat_of(&r);
    assert_eq!(s["name"], "f");
    assert_eq!(s["size"], 4);
    assert_eq!(s["linkTarget"], "");
    assert!(s["mtime"].as_str().unwrap().ends_with('Z'), "{s}");
    let r = api(
        &d,
        "HEAD",
        &format!("/containers/{id}/archive?path=/data"),
        None,
    );
    let s = stat_of(&r);
    assert_eq!(s["mode"].as_u64().unwrap() >> 31, 1, "dir bit: {s}");
    // /probe -> /bin/probe: the link itself, and its target.
    let r = api(
        &d,
        "HEAD",
        &format!("/containers/{id}/archive?path=/probe"),
        None,
    );
    let s = stat_of(&r);
    assert_eq!(s["linkTarget"], "/bin/probe");
    assert_eq!(
        (s["mode"].as_u64().unwrap() >> 27) & 1,
        1,
        "symlink bit: {s}"
    );

    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/archive?path=/data"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/x-tar"));
    assert_eq!(stat_of(&r)["name"], "data");
    assert_eq!(tar_names(&r.body), ["data/", "data/sub/", "data/sub/f"]);
    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/archive?path=/data/."),
        None,
    );
    assert_eq!(tar_names(&r.body)[1..], ["./sub/", "./sub/f"]);

    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/archive?path=/nope"),
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        message(&r),
        format!("Could not find the file /nope in container {id}")
    );
    let r = api(
        &d,
        "HEAD",
        &format!("/containers/{id}/archive?path=/nope"),
        None,
    );
    assert_eq!(r.status, 404);
    let r = api(&d, "GET", &format!("/containers/{id}/archive?path="), None);
    assert_eq!(r.status, 400);
    let r = api(&d, "GET", "/containers/nope/archive?path=/", None);
    assert_eq!(r.status, 404);
}

/// A tar with one file.
fn one_file_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(1234);
    h.set_gid(4321);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

fn put(d: &Daemon, id: &str, path: &str, body: &[u8]) -> common::Raw {
    raw(
        &d.socket,
        "PUT",
        &format!("/containers/{id}/archive?path={path}"),
        Some(body),
    )
}

#[test]
fn symlinks_out_of_the_container_stay_inside_for_copies_both_ways() {
    let d = daemon();
    let tag = format!("fs-escape-{}", std::process::id());
    let id = sh(
        &d,
        "esc",
        "busybox ln -s / /esc && mkdir -p /d/e && busybox ln -s ../../../../.. /d/e/up \
         && busybox ln -s /etc/passwd /pw",
    );
    // Into the container through `/esc/tmp` and `/d/e/up/tmp`: its /tmp.
    for (i, dir) in ["/esc/tmp", "/d/e/up/tmp", "/d/e/up/../../../../tmp"]
        .iter()
        .enumerate()
    {
        let name = format!("{tag}-{i}");
        let r = put(&d, &id, dir, &one_file_tar(&name, b"in"));
        assert_eq!(r.status, 200, "{dir}: {}", r.text());
        assert!(
            !std::path::Path::new("/tmp").join(&name).exists(),
            "host /tmp written via {dir}"
        );
        let r = api(
            &d,
            "GET",
            &format!("/containers/{id}/archive?path=/tmp/{name}"),
            None,
        );
        assert_eq!(r.status, 200, "{dir}");
        assert_eq!(tar_file(&r.body, &name).unwrap(), b"in");
    }
    // Out of it: the container's /etc/passwd, never the host's.
    for p in ["/esc/etc/passwd", "/d/e/up/etc/passwd", "/pw"] {
        let r = api(
            &d,
            "HEAD",
            &format!("/containers/{id}/archive?path={p}"),
            None,
        );
        if p == "/pw" {
            assert_eq!(stat_of(&r)["linkTarget"], "/etc/passwd");
        }
        let r = api(
            &d,
            "GET",
            &format!("/containers/{id}/archive?path={p}"),
            None,
        );
        assert_eq!(r.status, 200, "{p}");
        let (_, body) = r.body.split_at(0);
        if p != "/pw" {
            let f = tar_file(body, "passwd").unwrap();
            assert!(String::from_utf8_lossy(&f).contains("app:x:1000"), "{p}");
        }
    }
    // Hostile tars: escaping symlinks and `..` are refused, nothing lands.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "evil", "../../../../../../tmp")
        .unwrap();
    let r = put(&d, &id, "/d", &b.into_inner().unwrap());
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(&d, &id, "/", &one_file_tar("esc/tmp/through-link", b"x"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!std::path::Path::new("/tmp/through-link").exists());
    // Not a directory, and a missing one.
    let r = put(&d, &id, "/etc/passwd", &one_file_tar("x", b"x"));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(&d, &id, "/nope", &one_file_tar("x", b"x"));
    assert_eq!(r.status, 404, "{}", r.text());
    // Owners from the tar by default; the container's user with copyUIDGID.
    let r = put(&d, &id, "/tmp", &one_file_tar("owned", b"o"));
    assert_eq!(r.status, 200);
    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/archive?path=/tmp/owned"),
        None,
    );
    let mut a = tar::Archive::new(r.body.as_slice());
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1234, 4321)
    );
    let uid = create(&d, "esc-user", json!({ "Cmd": ["true"], "User": "app" }));
    let r = raw(
        &d.socket,
        "PUT",
        &format!("/containers/{uid}/archive?path=/tmp&copyUIDGID=1"),
        Some(&one_file_tar("mine", b"m")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api(
        &d,
        "GET",
        &format!("/containers/{uid}/archive?path=/tmp/mine"),
        None,
    );
    let mut a = tar::Archive::new(r.body.as_slice());
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1000, 1000)
    );
}

#[test]
fn our_cli_copies_both_ways_and_commits_runnable_images() {
    let d = daemon();
    let id = sh(
        &d,
        "cli-cp",
        "mkdir -p /srv/www && echo page > /srv/www/index.html",
    );
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s).display().to_string();
    // Out: a directory, a file, a tar on stdout.
    let o = d.cli(&["cp", "cli-cp:/srv/www", &p("www")]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        std::fs::read(t.path().join("www/index.html")).unwrap(),
        b"page\n"
    );
    let o = d.cli(&["cp", "cli-cp:/srv/www/index.html", &p("single")]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(t.path().join("single")).unwrap(), b"page\n");
    let o = d.cli(&["cp", "cli-cp:/srv/www/.", &p("contents")]);
    assert!(o.status.success(), "{o:?}");
    assert!(t.path().join("contents/index.html").is_file());
    let o = d.cli(&["cp", "cli-cp:/srv/www", "-"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(tar_names(&o.stdout), ["www/", "www/index.html"]);
    let o = d.cli(&["cp", "cli-cp:/nope", &p("x")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such container:path: cli-cp:/nope"));

    // In: a file, a directory under a new name, a tar on stdin.
    std::fs::create_dir_all(t.path().join("up/deep")).unwrap();
    std::fs::write(t.path().join("up/deep/x"), b"deep").unwrap();
    std::fs::write(t.path().join("file"), b"filedata").unwrap();
    let o = d.cli(&["cp", &p("file"), "cli-cp:/srv/"]);
    assert!(o.status.success(), "{o:?}");
    let o = d.cli(&["cp", &p("up"), "cli-cp:/srv/renamed"]);
    assert!(o.status.success(), "{o:?}");
    let mut child = Command::new(d.bin.join("balena-engine"))
        .args(["-H", &d.host(), "cp", "-", "cli-cp:/srv"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&one_file_tar("fromstdin", b"s"))
        .unwrap();
    assert!(child.wait().unwrap().success());
    let r = api(
        &d,
        "GET",
        &format!("/containers/{id}/archive?path=/srv"),
        None,
    );
    let names = tar_names(&r.body);
    for n in ["srv/file", "srv/renamed/deep/x", "srv/fromstdin"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }

    // diff and export.
    let o = d.cli(&["diff", "cli-cp"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("A /srv/file"), "{out}");
    let o = d.cli(&["export", "-o", &p("exp.tar"), "cli-cp"]);
    assert!(o.status.success(), "{o:?}");
    let exp = std::fs::read(t.path().join("exp.tar")).unwrap();
    assert_eq!(tar_file(&exp, "srv/file").unwrap(), b"filedata");

    // commit with --change: the new image runs with the file and config.
    let o = d.cli(&[
        "commit",
        "-m",
        "msg",
        "-a",
        "me",
        "-c",
        "ENV HELLO=world",
        "-c",
        "CMD [\"sh\", \"-c\", \"cat /srv/file; echo \\\" $HELLO\\\"\"]",
        "cli-cp",
        "committed:v1",
    ]);
    assert!(o.status.success(), "{o:?}");
    let image_id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    let img = api(&d, "GET", "/images/committed:v1/json", None).json();
    assert_eq!(img["Id"], image_id.as_str());
    assert_eq!(img["Author"], "me");
    assert_eq!(img["Container"], id.as_str());
    let hist = api(&d, "GET", "/images/committed:v1/history", None).json();
    assert_eq!(hist[0]["Comment"], "msg");
    let (_, code, out, err) = run(&d, "from-commit", json!({ "Image": "committed:v1" }));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "filedata world\n");
    // A deletion is carried by the layer (a whiteout).
    let del = sh(&d, "del", "rm /etc/group");
    let r = api(
        &d,
        "POST",
        &format!("/commit?container={del}&repo=deleted"),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, code, out, _) = run(
        &d,
        "from-del",
        json!({ "Image": "deleted", "Cmd": ["sh", "-c", "test -e /etc/group && echo there || echo gone"] }),
    );
    assert_eq!((code, out.as_str()), (0, "gone\n"));
    // An unchanged container commits an image with the same layers.
    let same = create(&d, "same", json!({ "Cmd": ["true"] }));
    let r = api(&d, "POST", &format!("/commit?container={same}"), None);
    let new = api(
        &d,
        "GET",
        &format!("/images/{}/json", r.json()["Id"].as_str().unwrap()),
        None,
    )
    .json();
    let base = api(&d, "GET", &format!("/images/{IMAGE}/json"), None).json();
    assert_eq!(new["RootFS"], base["RootFS"]);
}

#[test]
fn commit_pauses_a_running_container_and_tags() {
    let d = daemon();
    let id = create(
        &d,
        "runner",
        json!({ "Cmd": ["sh", "-c", "echo run > /tmp/r; sleep 60"] }),
    );
    start(&d, &id);
    wait_until(10, "file", || {
        changes(&d, &id).contains(&("/tmp/r".into(), 1))
    });
    let r = api(
        &d,
        "POST",
        "/commit?container=runner&repo=snap&tag=t1&comment=c",
        Some(json!({ "Cmd": ["cat", "/tmp/r"] })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(inspect(&d, &id)["State"]["Status"], "running");
    let (_, code, out, _) = run(&d, "snap-run", json!({ "Image": "snap:t1" }));
    assert_eq!((code, out.as_str()), (0, "run\n"));
    let r = api(&d, "POST", "/commit?container=nope", None);
    assert_eq!(r.status, 404);
}

#[test]
fn system_df_numbers_match_the_store() {
    let d = daemon();
    let id = sh(
        &d,
        "df",
        "dd if=/dev/zero of=/tmp/blob bs=1000 count=100 2>/dev/null",
    );
    let r = api(&d, "GET", "/system/df", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let du = r.json();
    let layers = du["LayersSize"].as_i64().unwrap();
    // The test image's one layer: busybox and a few files.
    let bb = std::fs::metadata(common::images::BUSYBOX).unwrap().len() as i64;
    assert!(layers >= bb && layers < bb + 100_000, "{layers} vs {bb}");
    let img = &du["Images"][0];
    assert_eq!(img["Containers"], 1);
    assert_eq!(img["SharedSize"], 0);
    assert_eq!(img["Size"].as_i64().unwrap(), layers);
    let c = du["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id.as_str())
        .unwrap();
    assert_eq!(c["SizeRw"], 100_000);
    assert_eq!(c["SizeRootFs"].as_i64().unwrap(), 100_000 + layers);
    assert_eq!(du["Volumes"], json!([]));
    assert_eq!(du["BuildCache"], json!([]));
    let o = d.cli(&["system", "df"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("TYPE"), "{out}");
    let row = out.lines().find(|l| l.starts_with("Containers")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["Containers", "1", "0", "100kB", "100kB", "(100%)"]
    );
    let o = d.cli(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Images=1\nContainers=1\nLocal Volumes=0\nBuild Cache=0\n"
    );
}

#[test]
fn the_docker_cli_copies_diffs_exports_commits_and_shows_df() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = daemon();
    sh(
        &d,
        "dk",
        "mkdir -p /srv && echo page > /srv/index.html && busybox ln -s / /srv/root",
    );
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s).display().to_string();
    let ok = |args: &[&str]| {
        let (code, out, err) = d.run_docker(&docker, args);
        assert_eq!(code, 0, "docker {args:?}: {out}{err}");
        out
    };
    ok(&["cp", "dk:/srv/index.html", &p("index.html")]);
    assert_eq!(
        std::fs::read(t.path().join("index.html")).unwrap(),
        b"page\n"
    );
    ok(&["cp", "dk:/srv", &p("srv")]);
    assert!(t.path().join("srv/index.html").is_file());
    assert!(std::fs::symlink_metadata(t.path().join("srv/root"))
        .unwrap()
        .file_type()
        .is_symlink());
    std::fs::write(t.path().join("in.txt"), b"hello in").unwrap();
    ok(&["cp", &p("in.txt"), "dk:/srv/"]);
    // Through the container's `/srv/root` link: its /tmp, not the host's.
    let name = format!("fs-docker-{}", std::process::id());
    std::fs::write(t.path().join(&name), b"x").unwrap();
    ok(&["cp", &p(&name), "dk:/srv/root/tmp/"]);
    assert!(!std::path::Path::new("/tmp").join(&name).exists());
    ok(&["cp", &format!("dk:/tmp/{name}"), &p("back")]);
    ok(&["cp", "-L", "dk:/srv/root/etc/passwd", &p("passwd")]);
    assert!(std::fs::read_to_string(t.path().join("passwd"))
        .unwrap()
        .contains("app:x:1000"));
    let (code, _, err) = d.run_docker(&docker, &["cp", "dk:/nope", &p("nope")]);
    assert_ne!(code, 0);
    // 20.10's wording, or newer CLIs' (the daemon's message).
    assert!(
        err.contains("No such container:path")
            || err.contains("Could not find the file /nope in container dk"),
        "{err}"
    );
    let out = ok(&["diff", "dk"]);
    assert!(out.contains("A /srv/in.txt"), "{out}");
    assert!(out.contains("A /srv"), "{out}");
    ok(&["export", "-o", &p("e.tar"), "dk"]);
    let e = std::fs::read(t.path().join("e.tar")).unwrap();
    assert_eq!(tar_file(&e, "srv/in.txt").unwrap(), b"hello in");
    let out = ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/srv/in.txt\"]",
        "dk",
        "dkimg:1",
    ]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let out = ok(&["run", "--rm", "dkimg:1"]);
    assert_eq!(out, "hello in");
    let out = ok(&["system", "df"]);
    assert!(
        out.contains("Images") && out.contains("Containers"),
        "{out}"
    );
    let out = ok(&["system", "df", "-v"]);
    assert!(out.contains("dkimg"), "{out}");
}
