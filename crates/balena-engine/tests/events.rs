//! `GET /events`: the stream a supervisor follows, its order, attributes,
//! filters and `since`/`until`; our CLI and the real `docker` CLI on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::ctr::{self, api, create, follow_events as follow, start, IMAGE};
use common::Daemon;
use serde_json::{json, Value};

/// Events until one whose `Action` is `last` (or a timeout).
fn collect_until(rx: &mpsc::Receiver<Value>, last: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let ev = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {last} event; got {out:?}"));
        let done = ev["Action"] == last;
        out.push(ev);
        if done {
            return out;
        }
    }
}

fn actions(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

/// Now, as (seconds, nanoseconds) since the epoch.
fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (d.as_secs() as i64, d.subsec_nanos())
}

fn enc(s: &str) -> String {
    s.replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace(':', "%3A")
        .replace(',', "%2C")
}

#[test]
fn container_events_stream_in_order_with_dockers_attributes() {
    let d = ctr::daemon();
    let rx = follow(
        &d,
        &format!("?filters={}", enc(r#"{"type":["container"]}"#)),
    );
    let id = create(
        &d,
        "ev1",
        json!({"Cmd": ["sleep", "30"], "Labels": {"app": "web"}}),
    );
    start(&d, &id);
    let (out, _, code) = ctr::exec(&d, &id, &["true"], json!({}));
    assert_eq!(code, 0, "{out}");
    let r = api(&d, "POST", &format!("/containers/{id}/stop?t=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = api(&d, "DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let evs = collect_until(&rx, "destroy");
    assert_eq!(
        actions(&evs),
        [
            "create",
            "start",
            "exec_create: true",
            "exec_start: true",
            "exec_die",
            "kill",
            "kill",
            "die",
            "stop",
            "destroy"
        ],
        "{evs:#?}"
    );
    for e in &evs {
        assert_eq!(e["Type"], "container");
        assert_eq!(e["Actor"]["ID"], id.as_str());
        assert_eq!(e["id"], id.as_str(), "old field");
        assert_eq!(e["status"], e["Action"], "old field");
        assert_eq!(e["from"], IMAGE);
        assert_eq!(e["scope"], "local");
        let a = &e["Actor"]["Attributes"];
        assert_eq!(a["name"], "ev1");
        assert_eq!(a["image"], IMAGE);
        assert_eq!(a["app"], "web", "labels are attributes");
        assert!(e["timeNano"].as_i64().unwrap() / 1_000_000_000 == e["time"].as_i64().unwrap());
    }
    let times: Vec<i64> = evs
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert_eq!(evs[5]["Actor"]["Attributes"]["signal"], "15");
    assert_eq!(evs[6]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(evs[7]["Actor"]["Attributes"]["exitCode"], "137");
    assert_eq!(evs[4]["Actor"]["Attributes"]["exitCode"], "0");
    assert!(
        evs[2]["Actor"]["Attributes"]["execID"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
}

#[test]
fn since_replays_until_ends_and_filters_select() {
    let d = ctr::daemon();
    let t0 = {
        let (s, n) = now();
        format!("{s}.{n:09}")
    };
    let a = create(&d, "sa", json!({"Cmd": ["true"]}));
    let b = create(&d, "sb", json!({"Cmd": ["true"]}));
    start(&d, &a);
    assert_eq!(ctr::wait(&d, &a), 0);
    let r = api(
        &d,
        "POST",
        &format!("/images/{IMAGE}/tag?repo=other&tag=t1"),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = api(&d, "DELETE", "/images/other:t1", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let (secs, nanos) = now();
    let until = format!("{secs}.{nanos:09}");

    // A bounded window is answered and the stream ends.
    let evs = ctr::events_window(&d, &format!("since={t0}&until={until}"));
    let got: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap().to_string(),
                e["Action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("container", "create"),
        ("container", "create"),
        ("container", "start"),
        ("container", "die"),
        ("image", "tag"),
        ("image", "untag"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{evs:#?}");
    assert_eq!(evs[4]["Actor"]["Attributes"]["name"], "other:t1");
    assert!(evs[4]["Actor"]["ID"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    // Filters: by container name, by event, by type and image.
    let only_b = api(
        &d,
        "GET",
        &format!(
            "/events?since={t0}&until={until}&filters={}",
            enc(r#"{"container":["sb"]}"#)
        ),
        None,
    );
    let lines: Vec<Value> = only_b
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["Actor"]["ID"], b.as_str());
    let starts = api(
        &d,
        "GET",
        &format!(
            "/events?since={t0}&until={until}&filters={}",
            enc(r#"{"event":["start","die"],"image":["ctest"]}"#)
        ),
        None,
    );
    assert_eq!(starts.text().lines().count(), 2, "{}", starts.text());

    // Bad input gets Docker's 400s.
    let r = api(&d, "GET", "/events?since=yesterday", None);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api(
        &d,
        "GET",
        &format!("/events?filters={}", enc(r#"{"colour":["red"]}"#)),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api(&d, "GET", "/events?since=20&until=10", None);
    assert_eq!(r.status, 400, "{}", r.text());

    // Our CLI prints the same window.
    let out = Command::new(d.bin.join("balena-engine"))
        .args([
            "-H",
            &d.host(),
            "events",
            "--since",
            &t0,
            "--until",
            &until,
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "create sa\ncreate sb\nstart sa\ndie sa\n"
    );
    let r = api(&d, "GET", "/info", None);
    assert_eq!(r.json()["NEventsListener"], 0);
}

#[test]
fn network_events_follow_containers_on_user_defined_networks() {
    let d = Daemon::new_networked().start(&[]);
    ctr::load_probe_image(&d);
    let rx = follow(&d, &format!("?filters={}", enc(r#"{"type":["network"]}"#)));
    let r = api(
        &d,
        "POST",
        "/networks/create",
        Some(json!({"Name": "evnet"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let net = r.json()["Id"].as_str().unwrap().to_string();
    let id = create(
        &d,
        "evn",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "evnet"}}),
    );
    start(&d, &id);
    assert_eq!(ctr::wait(&d, &id), 0);
    let r = api(&d, "DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204);
    let r = api(&d, "DELETE", "/networks/evnet", None);
    assert_eq!(r.status, 204, "{}", r.text());
    let evs = collect_until(&rx, "destroy");
    assert_eq!(
        actions(&evs),
        ["create", "connect", "disconnect", "destroy"],
        "{evs:#?}"
    );
    for e in &evs {
        assert_eq!(e["Actor"]["ID"], net.as_str());
        assert_eq!(e["Actor"]["Attributes"]["name"], "evnet");
        assert_eq!(e["Actor"]["Attributes"]["type"], "bridge");
        assert!(e.get("status").is_none(), "no old fields for networks");
    }
    assert_eq!(evs[1]["Actor"]["Attributes"]["container"], id.as_str());
    assert_eq!(evs[2]["Actor"]["Attributes"]["container"], id.as_str());
}

#[test]
fn docker_cli_events_shows_our_stream() {
    let Some(docker) = common::dockerd::docker_client() else {
        println!("SKIP: no docker client on PATH");
        return;
    };
    let d = ctr::daemon();
    let t0 = {
        let (s, n) = now();
        format!("{s}.{n:09}")
    };
    let id = create(&d, "dk", json!({"Cmd": ["true"], "Labels": {"k": "v"}}));
    start(&d, &id);
    assert_eq!(ctr::wait(&d, &id), 0);
    let until = (now().0 + 1).to_string();
    let run = |args: &[&str]| {
        let (code, out, err) = d.run_docker(&docker, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    let since = t0.clone();
    let out = run(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.k}}",
    ]);
    assert_eq!(
        out,
        "container create dk v\ncontainer start dk v\ncontainer die dk v\n"
    );
    let out = run(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
    ]);
    let line = out.trim();
    assert!(
        line.contains(&format!(
            " container die {id} (exitCode=0, image={IMAGE}, img=ctest, k=v, name=dk)"
        )),
        "{line}"
    );
    let out = run(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
    ]);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["Action"], "create");
    assert_eq!(first["Actor"]["Attributes"]["name"], "dk");
}
