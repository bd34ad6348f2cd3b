//! Volumes end to end: named and anonymous volumes in real containers,
//! copy-up of an image's content, `rm -v`, remove and prune, tmpfs-typed
//! volumes, `--volumes-from`, read-only mounts, our CLI and the real
//! `docker` CLI (skipped with the reason printed when absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

use common::ctr::{self, api, create, inspect, message, run, start, wait};
use common::{images, Daemon};

const VOLIMAGE: &str = "volimage:latest";

/// A layer with `/data` holding files of different owners and modes and a
/// symlink, and `/empty`.
fn data_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add =
        |path: &str, kind: tar::EntryType, mode: u32, uid: u64, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_700_000_000);
            h.set_uid(uid);
            h.set_gid(uid);
            h.set_mode(mode);
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            if kind == tar::EntryType::Symlink {
                b.append_link(&mut h, path, link).unwrap();
            } else {
                b.append_data(&mut h, path, data).unwrap();
            }
        };
    add("data/", tar::EntryType::Directory, 0o775, 0, b"", "");
    add(
        "data/hello",
        tar::EntryType::Regular,
        0o644,
        0,
        b"from the image\n",
        "",
    );
    add(
        "data/owned",
        tar::EntryType::Regular,
        0o600,
        1000,
        b"mine\n",
        "",
    );
    add("data/sub/", tar::EntryType::Directory, 0o700, 1000, b"", "");
    add(
        "data/sub/deep",
        tar::EntryType::Regular,
        0o644,
        0,
        b"deep\n",
        "",
    );
    add("data/link", tar::EntryType::Symlink, 0o777, 0, b"", "hello");
    b.into_inner().unwrap()
}

/// busybox + `/data` with `VOLUME ["/data"]`.
fn load_volimage(d: &Daemon) {
    let layers = vec![images::busybox_layer(), data_layer()];
    let cfg = images::config(&layers, &[], "2024-01-02T03:04:05Z");
    let mut v: Value = serde_json::from_slice(&cfg).unwrap();
    v["config"]["Volumes"] = json!({"/data": {}});
    let cfg = serde_json::to_vec(&v).unwrap();
    common::load_archive(d, &images::archive(&layers, &cfg, &[VOLIMAGE]));
}

fn sh(cmd: &str) -> Value {
    json!(["sh", "-c", cmd])
}

fn mounts(d: &Daemon, id: &str) -> Vec<Value> {
    inspect(d, id)["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn volume_names(d: &Daemon) -> Vec<String> {
    let r = api(d, "GET", "/volumes", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let mut v: Vec<String> = r.json()["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn remove_ctr(d: &Daemon, id: &str, volumes: bool) {
    let r = api(
        d,
        "DELETE",
        &format!("/containers/{id}?force=1&v={}", u8::from(volumes)),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text());
}

fn is_mounted(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.display().to_string();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
}

#[test]
fn a_named_volume_keeps_data_across_container_replacement() {
    let d = ctr::daemon();
    let (id, code, out, err) = run(
        &d,
        "writer",
        json!({"Cmd": sh("echo kept > /data/f"), "HostConfig": {"Binds": ["appdata:/data"]}}),
    );
    assert_eq!(code, 0, "{out}{err}");
    let m = mounts(&d, &id);
    assert_eq!(m.len(), 1);
    let src = d.data_root.join("volumes/appdata/_data");
    assert_eq!(
        m[0],
        json!({"Type": "volume", "Name": "appdata", "Source": src.display().to_string(),
               "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
    );
    assert_eq!(
        inspect(&d, &id)["HostConfig"]["Binds"],
        json!(["appdata:/data"])
    );
    assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "kept\n");
    // Docker's volume events, with their attributes.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let evs = ctr::events_window(
        &d,
        &format!("since=0&until={now}&filters=%7B%22type%22%3A%5B%22volume%22%5D%7D"),
    );
    let actions: Vec<&str> = evs.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "mount", "unmount"]);
    assert_eq!(
        evs[0]["Actor"],
        json!({"ID": "appdata", "Attributes": {"driver": "local"}})
    );
    assert_eq!(
        evs[1]["Actor"]["Attributes"],
        json!({"container": id, "destination": "/data", "driver": "local",
               "propagation": "", "read/write": "true"})
    );
    assert_eq!(
        evs[2]["Actor"]["Attributes"],
        json!({"container": id, "driver": "local"})
    );
    // ps filter by volume.
    let r = api(
        &d,
        "GET",
        "/containers/json?all=1&filters=%7B%22volume%22%3A%5B%22appdata%22%5D%7D",
        None,
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    remove_ctr(&d, &id, true);
    // Named volumes survive `rm -v`.
    assert_eq!(volume_names(&d), ["appdata"]);
    let (_, code, out, _) = run(
        &d,
        "reader",
        json!({"Cmd": sh("cat /data/f"), "HostConfig": {"Binds": ["appdata:/data:ro"]}}),
    );
    assert_eq!((code, out.as_str()), (0, "kept\n"));
    let v = api(&d, "GET", "/volumes/appdata", None).json();
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Mountpoint"], src.display().to_string());
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn an_images_content_is_copied_into_new_volumes_and_rm_v_removes_anonymous_ones() {
    let d = ctr::daemon();
    load_volimage(&d);
    let check = "busybox cat /data/hello && busybox stat -c '%u %a' /data/owned /data/sub /data && busybox readlink /data/link && busybox cat /data/sub/deep";
    // The image's VOLUME: an anonymous volume, filled from the image.
    let id = create(&d, "anon", json!({"Image": VOLIMAGE, "Cmd": sh(check)}));
    let m = mounts(&d, &id);
    assert_eq!(m.len(), 1);
    let name = m[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(m[0]["Mode"], "");
    assert_eq!(m[0]["Destination"], "/data");
    start(&d, &id);
    assert_eq!(wait(&d, &id), 0);
    let (out, err) = ctr::logs(&d, &id, "");
    assert_eq!(
        out, "from the image\n1000 600\n1000 700\n0 775\nhello\ndeep\n",
        "{err}"
    );
    // A new named volume is filled too; with nocopy it stays empty.
    let (named, code, out, err) = run(
        &d,
        "named",
        json!({"Image": VOLIMAGE, "Cmd": sh("busybox cat /data/hello"),
               "HostConfig": {"Binds": ["filled:/data"]}}),
    );
    assert_eq!((code, out.as_str()), (0, "from the image\n"), "{err}");
    let (nocopy, code, out, _) = run(
        &d,
        "nocopy",
        json!({"Image": VOLIMAGE, "Cmd": sh("busybox ls -A /data | busybox wc -l"),
               "HostConfig": {"Binds": ["empty:/data:nocopy"]}}),
    );
    assert_eq!((code, out.trim()), (0, "0"));
    // A volume that already has data is not filled again.
    let (_, code, _, _) = run(
        &d,
        "change",
        json!({"Image": VOLIMAGE, "Cmd": sh("echo changed > /data/hello"),
               "HostConfig": {"Binds": ["filled:/data"]}}),
    );
    assert_eq!(code, 0);
    let (_, code, out, _) = run(
        &d,
        "again",
        json!({"Image": VOLIMAGE, "Cmd": sh("busybox cat /data/hello"),
               "HostConfig": {"Binds": ["filled:/data"]}}),
    );
    assert_eq!((code, out.as_str()), (0, "changed\n"));
    // `-v /dst` (Config.Volumes) is anonymous as well.
    let extra = create(
        &d,
        "extra",
        json!({"Image": VOLIMAGE, "Cmd": sh("true"), "Volumes": {"/scratch": {}}}),
    );
    assert_eq!(mounts(&d, &extra).len(), 2);
    let mut before = volume_names(&d);
    assert_eq!(before.len(), 5, "{before:?}");
    remove_ctr(&d, &id, true);
    remove_ctr(&d, &named, true);
    remove_ctr(&d, &nocopy, false);
    remove_ctr(&d, &extra, true);
    before.retain(|n| n.len() != 64);
    assert_eq!(volume_names(&d), before);
    assert_eq!(before, ["empty", "filled"]);
}

#[test]
fn removing_a_volume_in_use_is_a_conflict_and_bad_input_is_refused() {
    let d = ctr::daemon();
    let id = create(
        &d,
        "user",
        json!({"Cmd": sh("true"), "HostConfig": {"Mounts": [{"Type": "volume", "Source": "busy", "Target": "/b"}]}}),
    );
    for q in ["", "?force=1"] {
        let r = api(&d, "DELETE", &format!("/volumes/busy{q}"), None);
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(
            message(&r),
            format!("remove busy: volume is in use - [{id}]")
        );
    }
    remove_ctr(&d, &id, false);
    assert_eq!(api(&d, "DELETE", "/volumes/busy", None).status, 204);
    let r = api(&d, "DELETE", "/volumes/busy", None);
    assert_eq!(r.status, 404);
    assert_eq!(message(&r), "get busy: no such volume");
    assert_eq!(api(&d, "DELETE", "/volumes/busy?force=1", None).status, 204);
    let r = api(&d, "GET", "/volumes/busy", None);
    assert_eq!(r.status, 404);

    let r = api(&d, "POST", "/volumes/create", Some(json!({"Name": "a/b"})));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(message(&r).starts_with("create a/b: \"a/b\" includes invalid characters"));
    let r = api(&d, "POST", "/volumes/create", Some(json!({"Name": "x"})));
    assert_eq!(r.status, 400);
    let r = api(
        &d,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "vv", "Driver": "nfs"})),
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        message(&r),
        "create vv: error looking up volume plugin nfs: plugin \"nfs\" not found"
    );
    let r = api(
        &d,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "vv", "DriverOpts": {"type": "tmpfs"}})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "create vv: missing required option: \"device\""
    );
    // A bad bind volume name fails the container create and leaves nothing.
    let r = ctr::try_create(
        &d,
        "bad",
        json!({"HostConfig": {"Binds": ["ok1:/a", "a/b:/x"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let left: Vec<_> = std::fs::read_dir(d.data_root.join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        api(&d, "GET", "/containers/json?all=1", None).json(),
        json!([])
    );
}

#[test]
fn prune_removes_unused_local_volumes_matching_its_filters() {
    let d = ctr::daemon();
    for (n, labels) in [("keep", json!({"keep": "1"})), ("old", json!({}))] {
        let r = api(
            &d,
            "POST",
            "/volumes/create",
            Some(json!({"Name": n, "Labels": labels})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = api(
        &d,
        "POST",
        "/volumes/create",
        Some(json!({"Name": "mem", "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}})),
    );
    assert_eq!(
        r.json()["Options"],
        json!({"type": "tmpfs", "device": "tmpfs"})
    );
    let id = create(
        &d,
        "user",
        json!({"Cmd": sh("true"), "HostConfig": {"Binds": ["used:/u"]}}),
    );
    std::fs::write(d.data_root.join("volumes/old/_data/f"), b"123456").unwrap();
    let r = api(
        &d,
        "GET",
        "/volumes?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
        None,
    );
    assert_eq!(r.json()["Volumes"][0]["Name"], "used");
    assert_eq!(r.json()["Warnings"], Value::Null);
    let r = api(
        &d,
        "POST",
        "/volumes/prune?filters=%7B%22label!%22%3A%5B%22keep%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"VolumesDeleted": ["old"], "SpaceReclaimed": 6})
    );
    let r = api(&d, "POST", "/volumes/prune", None);
    assert_eq!(r.json()["VolumesDeleted"], json!(["keep"]));
    // In use, or with driver options: kept.
    assert_eq!(volume_names(&d), ["mem", "used"]);
    remove_ctr(&d, &id, true);
    let r = api(&d, "POST", "/volumes/prune", None);
    assert_eq!(r.json()["VolumesDeleted"], json!(["used"]));
}

#[test]
fn a_tmpfs_volume_is_mounted_while_a_container_uses_it() {
    let d = ctr::daemon();
    let r = api(
        &d,
        "POST",
        "/volumes/create",
        Some(
            json!({"Name": "mem", "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let opts = d.data_root.join("volumes/mem/opts.json");
    let o: Value = serde_json::from_slice(&std::fs::read(opts).unwrap()).unwrap();
    assert_eq!(
        o,
        json!({"MountType": "tmpfs", "MountOpts": "size=1m,uid=1000", "MountDevice": "tmpfs", "Quota": {"Size": 0}})
    );
    let data = d.data_root.join("volumes/mem/_data");
    let id = create(
        &d,
        "tt",
        json!({"Cmd": sh("sleep 30"), "HostConfig": {"Binds": ["mem:/m"]}}),
    );
    assert!(!is_mounted(&data));
    start(&d, &id);
    assert!(is_mounted(&data));
    let (out, err, code) = ctr::exec(
        &d,
        &id,
        &[
            "sh",
            "-c",
            "awk '$2==\"/m\"{print $3}' /proc/mounts; stat -c %u /m; echo x > /m/f",
        ],
        json!({}),
    );
    assert_eq!((code, out.as_str()), (0, "tmpfs\n1000\n"), "{err}");
    // A second user shares the same mount.
    let (_, code, out, _) = run(
        &d,
        "t2",
        json!({"Cmd": sh("cat /m/f"), "HostConfig": {"Binds": ["mem:/m"]}}),
    );
    assert_eq!((code, out.as_str()), (0, "x\n"));
    assert!(is_mounted(&data), "the first user still runs");
    // A daemon restart keeps the mount for the running container, and
    // the reference that makes removal a conflict.
    let mut d = d;
    d.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = d.wait_exit(std::time::Duration::from_secs(10));
    assert!(d.child.is_none(), "daemon did not exit");
    d.restart(&[]);
    assert!(is_mounted(&data));
    let r = api(&d, "DELETE", "/volumes/mem", None);
    assert_eq!(r.status, 409, "{}", r.text());
    let (out, _, code) = ctr::exec(&d, &id, &["cat", "/m/f"], json!({}));
    assert_eq!((code, out.as_str()), (0, "x\n"));
    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=0"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    ctr::wait_until(10, "volume unmounted", || !is_mounted(&data));
}

#[test]
fn volumes_from_and_readonly_mounts() {
    let d = ctr::daemon();
    let src = create(
        &d,
        "src",
        json!({"Cmd": sh("echo shared > /data/f"), "Volumes": {"/anon": {}},
               "HostConfig": {"Binds": ["shared:/data"]}}),
    );
    start(&d, &src);
    assert_eq!(wait(&d, &src), 0);
    let (_, code, out, _) = run(
        &d,
        "rw",
        json!({"Cmd": sh("cat /data/f && echo more > /anon/g && echo ok"),
               "HostConfig": {"VolumesFrom": ["src"]}}),
    );
    assert_eq!((code, out.as_str()), (0, "shared\nok\n"));
    let (ro, code, _, err) = run(
        &d,
        "ro",
        json!({"Cmd": sh("echo no > /data/f"), "HostConfig": {"VolumesFrom": ["src:ro"]}}),
    );
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    let m = mounts(&d, &ro);
    assert_eq!(m.len(), 2);
    assert!(m.iter().all(|m| m["RW"] == false));
    // A read-only volume refuses writes too.
    let (_, code, _, err) = run(
        &d,
        "rov",
        json!({"Cmd": sh("touch /data/x"), "HostConfig": {"Mounts": [
            {"Type": "volume", "Source": "shared", "Target": "/data", "ReadOnly": true}]}}),
    );
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    // The source's anonymous volume outlives `rm -v` while others use it.
    let anon = mounts(&d, &src)
        .into_iter()
        .find(|m| m["Destination"] == "/anon")
        .unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    remove_ctr(&d, &src, true);
    assert!(volume_names(&d).contains(&anon));
    let r = ctr::try_create(
        &d,
        "nope",
        json!({"HostConfig": {"VolumesFrom": ["missing"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn mount_volume_options_create_a_tmpfs_volume_with_labels() {
    let d = ctr::daemon();
    let (id, code, out, err) = run(
        &d,
        "mm",
        json!({"Cmd": sh("awk '$2==\"/v\"{print $3}' /proc/mounts"), "HostConfig": {"Mounts": [
            {"Type": "volume", "Source": "optvol", "Target": "/v",
             "VolumeOptions": {"Labels": {"app": "x"},
               "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}}}},
            {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}]}}),
    );
    assert_eq!((code, out.as_str()), (0, "tmpfs\n"), "{err}");
    let v = api(&d, "GET", "/volumes/optvol", None).json();
    assert_eq!(v["Labels"], json!({"app": "x"}));
    assert_eq!(v["Options"], json!({"type": "tmpfs", "device": "tmpfs"}));
    let m = mounts(&d, &id);
    assert!(m
        .iter()
        .any(|m| m["Type"] == "tmpfs" && m["Destination"] == "/t"));
    assert!(!is_mounted(&d.data_root.join("volumes/optvol/_data")));
}

fn cli_ok(d: &Daemon, args: &[&str]) -> String {
    let o = d.cli(args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn our_cli_manages_volumes() {
    let d = ctr::daemon();
    assert_eq!(
        cli_ok(&d, &["volume", "create", "--label", "a=b", "clivol"]),
        "clivol\n"
    );
    let anon = cli_ok(&d, &["volume", "create"]);
    assert_eq!(anon.trim().len(), 64);
    let ls = cli_ok(&d, &["volume", "ls"]);
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n"), "{ls}");
    assert!(ls.contains("local     clivol\n"), "{ls}");
    assert_eq!(
        cli_ok(&d, &["volume", "ls", "-q", "--filter", "label=a=b"]),
        "clivol\n"
    );
    assert_eq!(
        cli_ok(
            &d,
            &[
                "volume",
                "inspect",
                "-f",
                "{{.Driver}} {{.Labels.a}}",
                "clivol"
            ]
        ),
        "local b\n"
    );
    cli_ok(
        &d,
        &[
            "run",
            "--name",
            "cc",
            "-v",
            "clivol:/d",
            ctr::IMAGE,
            "sh",
            "-c",
            "echo hi > /d/f",
        ],
    );
    let o = d.cli(&["volume", "rm", "clivol"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("volume is in use"));
    cli_ok(&d, &["rm", "-v", "cc"]);
    assert_eq!(cli_ok(&d, &["volume", "rm", "clivol"]), "clivol\n");
    let o = d.cli(&["volume", "inspect", "clivol"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such volume: clivol"));
    let out = cli_ok(&d, &["volume", "prune", "-f"]);
    assert_eq!(
        out,
        format!(
            "Deleted Volumes:\n{}\n\nTotal reclaimed space: 0B\n",
            anon.trim()
        )
    );
}

#[test]
fn docker_cli_manages_volumes() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = ctr::daemon();
    let run_docker = |args: &[&str]| d.run_docker(&docker, args);
    let ok = |args: &[&str]| {
        let (code, out, err) = run_docker(args);
        assert_eq!(code, 0, "docker {args:?}: {out}{err}");
        out
    };
    assert_eq!(ok(&["volume", "create", "--label", "k=v", "dv"]), "dv\n");
    assert!(ok(&["volume", "ls"]).contains("local     dv\n"));
    assert_eq!(
        ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}",
            "dv"
        ]),
        "dv local local map[k:v]\n"
    );
    ok(&[
        "run",
        "--rm",
        "-v",
        "dv:/data",
        ctr::IMAGE,
        "sh",
        "-c",
        "echo via-docker > /data/f",
    ]);
    assert_eq!(
        ok(&[
            "run",
            "--rm",
            "-v",
            "dv:/data:ro",
            ctr::IMAGE,
            "cat",
            "/data/f"
        ]),
        "via-docker\n"
    );
    ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        ctr::IMAGE,
        "true",
    ]);
    let fmt = ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}",
        "anon",
    ]);
    assert_eq!(fmt, "volume /scratch\n");
    ok(&["rm", "-v", "anon"]);
    assert_eq!(ok(&["volume", "ls", "-q"]), "dv\n");
    let (code, _, err) = run_docker(&["volume", "rm", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such volume"), "{err}");
    assert_eq!(ok(&["volume", "rm", "dv"]), "dv\n");
}
