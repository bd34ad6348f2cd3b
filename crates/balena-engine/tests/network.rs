//! End-to-end networking tests: the real daemon in a network namespace the
//! test made (so the host's network is never touched), real bridges,
//! veths, iptables rules and proxies, busybox `wget`/`nc`/`nslookup` in the
//! containers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use common::ctr::{
    api, create, exec, inspect, load_probe_image, logs, message, run, start, try_create, wait,
};
use common::{text, Daemon};

/// A daemon in its own network namespace, with the test image.
fn daemon() -> Daemon {
    let d = Daemon::new_networked().start(&[]);
    load_probe_image(&d);
    d
}
use serde_json::{json, Value};

/// Creates a network; its id.
fn net_create(d: &Daemon, body: Value) -> String {
    let r = api(d, "POST", "/networks/create", Some(body.clone()));
    assert_eq!(r.status, 201, "network create {body}: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// A detached container running `sh -c script` with `extra` merged in.
fn run_bg(d: &Daemon, name: &str, script: &str, extra: Value) -> String {
    let mut cfg = json!({ "Cmd": ["sh", "-c", script] });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    let id = create(d, name, cfg);
    start(d, &id);
    id
}

/// Runs `sh -c script` to completion; (exit code, stdout+stderr).
fn run_sh(d: &Daemon, name: &str, script: &str, extra: Value) -> (i64, String) {
    let mut cfg = json!({ "Cmd": ["sh", "-c", script] });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    let (id, code, out, err) = run(d, name, cfg);
    let _ = api(d, "DELETE", &format!("/containers/{id}?force=1"), None);
    (code, format!("{out}{err}"))
}

/// An HTTP server answering `body` on port 80.
fn httpd(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

fn on_net(net: &str) -> Value {
    json!({ "HostConfig": { "NetworkMode": net } })
}

fn ip_of(d: &Daemon, id: &str, net: &str) -> String {
    inspect(d, id)["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until `wget` from a throwaway container on `net` gets `want`.
fn fetch(d: &Daemon, net: &str, url: &str) -> (i64, String) {
    // Not `exec`ed by sh: a PID 1 ignores timeout's signal.
    run_sh(
        d,
        "",
        &format!("r=0; timeout 5 wget -q -O - {url} || r=$?; exit $r"),
        on_net(net),
    )
}

/// Links in the daemon's namespace whose names start with `prefix`.
fn links(d: &Daemon, prefix: &str) -> Vec<String> {
    let out = text(&d.netns_cmd("ip", &["-o", "link", "show"]).stdout);
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn nat_rules(d: &Daemon) -> String {
    text(&d.netns_cmd("iptables", &["-w", "-t", "nat", "-S"]).stdout)
}

fn filter_rules(d: &Daemon) -> String {
    text(&d.netns_cmd("iptables", &["-w", "-S"]).stdout)
}

fn http_get(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Retries `f` for a few seconds (a server in a fresh container needs a
/// moment to listen).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}");
}

fn host_port(c: &Value, key: &str) -> u16 {
    c["NetworkSettings"]["Ports"][key][0]["HostPort"]
        .as_str()
        .unwrap_or_else(|| panic!("no binding for {key}: {}", c["NetworkSettings"]))
        .parse()
        .unwrap()
}

/// A second namespace ("outside") wired to the daemon's by a bridge in
/// the daemon's namespace: the daemon side has 10.77.0.1, outside has
/// 10.77.0.2.
struct Outside {
    ns: PathBuf,
    _dir: tempfile::TempDir,
}

impl Outside {
    fn new(d: &Daemon) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ns = dir.path().join("outside");
        network::netns::create(&ns).unwrap();
        let nsp = ns.clone();
        d.in_netns(move || {
            let mut h = network::link::Handle::new().unwrap();
            h.ensure_bridge("tout0", None, "10.77.0.1/24".parse().unwrap())
                .unwrap();
            network::link::attach_endpoint(&network::link::EndpointSpec {
                host_ifname: "vout0".into(),
                bridge: "tout0".into(),
                netns: nsp,
                ifname: "eth0".into(),
                mac: [2, 0x42, 10, 77, 0, 2],
                addr: "10.77.0.2/24".parse().unwrap(),
                gateway: Some(Ipv4Addr::new(10, 77, 0, 1)),
                mtu: None,
                hairpin: false,
            })
            .unwrap();
        });
        Outside { ns, _dir: dir }
    }

    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        network::netns::run_in(&self.ns, f).unwrap()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = network::netns::remove(&self.ns);
    }
}

#[test]
fn default_bridge_gives_docker_addresses_hosts_and_outbound_nat() {
    let d = daemon();
    let out = Outside::new(&d);
    // A server "outside" the daemon's host, reached through NAT.
    let l = out.run(|| TcpListener::bind("10.77.0.2:8099").unwrap());
    let srv = std::thread::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nfrom-outside\n");
        peer
    });
    let id = run_bg(&d, "b1", "sleep 60", json!({}));
    let c = inspect(&d, &id);
    let ns = &c["NetworkSettings"];
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], "172.17.0.2", "{ns}");
    assert_eq!(ns["IPAddress"], "172.17.0.2");
    assert_eq!(ns["Gateway"], "172.17.0.1");
    assert_eq!(ns["IPPrefixLen"], 16);
    assert_eq!(ns["MacAddress"], "02:42:ac:11:00:02");
    assert!(ns["SandboxKey"].as_str().unwrap().contains("/netns/"));
    let (o, _, _) = exec(&d, &id, &["cat", "/etc/hosts"], json!({}));
    assert!(o.contains(&format!("172.17.0.2\t{}", &id[..12])), "{o}");
    let (o, _, _) = exec(
        &d,
        &id,
        &["ip", "-o", "-4", "addr", "show", "eth0"],
        json!({}),
    );
    assert!(o.contains("172.17.0.2/16"), "{o}");
    let (o, _, _) = exec(&d, &id, &["ip", "route"], json!({}));
    assert!(o.contains("default via 172.17.0.1"), "{o}");
    // Outbound: masqueraded to the daemon host's address.
    let (o, e, code) = exec(
        &d,
        &id,
        &[
            "timeout",
            "5",
            "wget",
            "-q",
            "-O",
            "-",
            "http://10.77.0.2:8099/",
        ],
        json!({}),
    );
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("from-outside"));
    let peer = srv.join().unwrap();
    assert_eq!(peer.ip().to_string(), "10.77.0.1", "not masqueraded");
    // A second container gets the next address and a legacy link.
    let (code, o) = run_sh(
        &d,
        "b2",
        "cat /etc/hosts; ping -c1 -W2 lnk >/dev/null && echo PING-OK",
        json!({ "HostConfig": { "Links": ["/b1:/b2/lnk"] } }),
    );
    assert_eq!(code, 0, "{o}");
    assert!(
        o.contains(&format!("172.17.0.2\tlnk {} b1", &id[..12])),
        "{o}"
    );
    assert!(o.contains("172.17.0.3\t"), "{o}");
    assert!(o.contains("PING-OK"), "{o}");
    // Docker's chains are there for users' scripts.
    let f = filter_rules(&d);
    for chain in ["-N DOCKER", "-N DOCKER-USER", "-N DOCKER-ISOLATION-STAGE-1"] {
        assert!(f.contains(chain), "{f}");
    }
    assert!(nat_rules(&d).contains("-A POSTROUTING -s 172.17.0.0/16 ! -o balena0 -j MASQUERADE"));
}

#[test]
fn user_defined_network_resolves_names_and_aliases_and_isolates() {
    let d = daemon();
    net_create(&d, json!({ "Name": "front" }));
    net_create(&d, json!({ "Name": "back", "Labels": {"app": "x"} }));
    let a = create(
        &d,
        "web",
        json!({
            "Cmd": ["sh", "-c", httpd("hello-web")],
            "HostConfig": { "NetworkMode": "front" },
            "NetworkingConfig": { "EndpointsConfig": { "front": { "Aliases": ["www"] } } }
        }),
    );
    start(&d, &a);
    let ip = ip_of(&d, &a, "front");
    assert!(ip.starts_with("172.18."), "{ip}");
    // By name, by alias, by short id, by name.network.
    for host in ["web", "www", &a[..12], "web.front"] {
        let (code, o) = eventually("httpd up", || {
            let r = fetch(&d, "front", &format!("http://{host}/"));
            (r.0 == 0).then_some(r)
        });
        assert_eq!(code, 0);
        assert!(o.contains("hello-web"), "{host}: {o}");
    }
    let (code, o) = run_sh(
        &d,
        "",
        "cat /etc/resolv.conf; nslookup web",
        on_net("front"),
    );
    assert_eq!(code, 0, "{o}");
    assert!(o.contains("nameserver 127.0.0.11"), "{o}");
    assert!(o.contains(&ip), "{o}");
    // Another network sees neither the name nor the address.
    let (code, o) = run_sh(&d, "", "nslookup web", on_net("back"));
    assert_ne!(code, 0, "{o}");
    let (code, o) = fetch(&d, "back", &format!("http://{ip}/"));
    assert_ne!(code, 0, "isolation broken: {o}");
    // The default bridge has no embedded DNS.
    let (code, o) = run_sh(&d, "", "cat /etc/resolv.conf", json!({}));
    assert_eq!(code, 0);
    assert!(!o.contains("127.0.0.11"), "{o}");
    // Inspect lists the running container.
    let r = api(&d, "GET", "/networks/front", None);
    assert_eq!(r.status, 200);
    let n = r.json();
    assert_eq!(n["Containers"][&a]["Name"], "web", "{n}");
    assert_eq!(n["Containers"][&a]["IPv4Address"], format!("{ip}/16"));
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
    assert_eq!(n["Options"].as_object().map(|o| o.len()), Some(0));
}

#[test]
fn internal_network_has_no_way_out() {
    let d = daemon();
    let out = Outside::new(&d);
    let l = out.run(|| TcpListener::bind("10.77.0.2:8098").unwrap());
    l.set_nonblocking(true).unwrap();
    net_create(&d, json!({ "Name": "priv", "Internal": true }));
    net_create(&d, json!({ "Name": "pub" }));
    let (code, o) = run_sh(
        &d,
        "",
        "ip route; timeout 3 wget -q -O - http://10.77.0.2:8098/",
        on_net("priv"),
    );
    assert_ne!(code, 0, "{o}");
    assert!(!o.contains("default"), "{o}");
    assert!(l.accept().is_err(), "an internal container got out");
    // But containers on it still reach each other.
    let s = run_bg(&d, "isrv", &httpd("inside"), on_net("priv"));
    let _ = s;
    let (code, o) = eventually("httpd up", || {
        let r = fetch(&d, "priv", "http://isrv/");
        (r.0 == 0).then_some(r)
    });
    assert_eq!(code, 0);
    assert!(o.contains("inside"));
}

#[test]
fn published_ports_are_reachable_from_loopback_and_outside() {
    let d = daemon();
    let out = Outside::new(&d);
    let id = create(
        &d,
        "pub",
        json!({
            "Cmd": ["sh", "-c", httpd("published")],
            "ExposedPorts": {"80/tcp": {}, "5353/udp": {}},
            "HostConfig": {
                "PortBindings": {
                    "80/tcp": [{"HostIp": "", "HostPort": "18080"}],
                    "5353/udp": [{"HostPort": "15353"}]
                }
            }
        }),
    );
    start(&d, &id);
    let c = inspect(&d, &id);
    assert_eq!(host_port(&c, "80/tcp"), 18080);
    assert_eq!(
        c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"],
        "0.0.0.0"
    );
    // From the daemon host's loopback (userland proxy).
    let body = eventually("loopback", || {
        d.in_netns(|| http_get("127.0.0.1:18080")).ok()
    });
    assert!(body.contains("published"), "{body}");
    // From another namespace (DNAT).
    let body = eventually("outside", || out.run(|| http_get("10.77.0.1:18080")).ok());
    assert!(body.contains("published"), "{body}");
    // UDP from outside is DNATed to the container: nothing listens there,
    // so its ICMP port-unreachable comes back as ECONNREFUSED (without the
    // DNAT the userland proxy would take the datagram and stay silent).
    let refused = out.run(|| {
        let s = UdpSocket::bind("10.77.0.2:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s.connect("10.77.0.1:15353").unwrap();
        (0..10).any(|_| {
            let _ = s.send(b"udp-hello\n");
            let mut b = [0u8; 64];
            matches!(s.recv(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
    });
    assert!(
        refused,
        "no answer from the container for the published UDP port"
    );
    let nat = nat_rules(&d);
    assert!(
        nat.contains("-p udp -m udp --dport 15353 -j DNAT --to-destination 172.17.0.2:5353"),
        "{nat}"
    );
    // The list shows the ports as Docker does.
    let r = api(&d, "GET", "/containers/json", None);
    let ports = r.json()[0]["Ports"].clone();
    assert!(
        ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["PublicPort"] == 18080 && p["PrivatePort"] == 80 && p["Type"] == "tcp"),
        "{ports}"
    );
    // Removing the container removes the rules and the proxy.
    let r = api(&d, "DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204);
    let nat = nat_rules(&d);
    assert!(!nat.contains("18080"), "{nat}");
    assert!(d.in_netns(|| http_get("127.0.0.1:18080")).is_err());
    // The kernel deletes a dead namespace's veths asynchronously.
    eventually("veths gone", || links(&d, "veth").is_empty().then_some(()));
}

#[test]
fn publish_all_picks_free_ports_and_a_busy_port_fails_cleanly() {
    let d = daemon();
    let id = create(
        &d,
        "p1",
        json!({
            "Cmd": ["sh", "-c", httpd("any")],
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": { "PublishAllPorts": true }
        }),
    );
    start(&d, &id);
    let p = host_port(&inspect(&d, &id), "80/tcp");
    assert!(p >= 32768, "ephemeral port expected, got {p}");
    let body = eventually("-P port", || {
        d.in_netns(|| http_get(&format!("127.0.0.1:{p}"))).ok()
    });
    assert!(body.contains("any"));
    // The same host port again: refused with Docker's words.
    let id2 = create(
        &d,
        "p2",
        json!({
            "Cmd": ["sleep", "30"],
            "HostConfig": { "PortBindings": { "80/tcp": [{"HostPort": p.to_string()}] } }
        }),
    );
    let r = api(&d, "POST", &format!("/containers/{id2}/start"), None);
    assert!(r.status >= 400, "{}", r.text());
    assert!(
        message(&r).contains("port is already allocated"),
        "{}",
        message(&r)
    );
    // A port something else holds in the namespace.
    let holder = d.in_netns(|| TcpListener::bind("0.0.0.0:18181").unwrap());
    let id3 = create(
        &d,
        "p3",
        json!({
            "Cmd": ["sleep", "30"],
            "HostConfig": { "PortBindings": { "80/tcp": [{"HostPort": "18181"}] } }
        }),
    );
    let r = api(&d, "POST", &format!("/containers/{id3}/start"), None);
    assert!(r.status >= 400, "{}", r.text());
    assert!(
        message(&r).contains("address already in use"),
        "{}",
        message(&r)
    );
    drop(holder);
    // Nothing of the failed starts is left behind.
    eventually("only the running container's veth", || {
        (links(&d, "veth").len() == 1).then_some(())
    });
    let nat = nat_rules(&d);
    assert!(!nat.contains("18181"), "{nat}");
    assert_eq!(inspect(&d, &id3)["State"]["Running"], false);
    assert_eq!(inspect(&d, &id3)["NetworkSettings"]["IPAddress"], "");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = daemon();
    net_create(&d, json!({ "Name": "n1" }));
    net_create(&d, json!({ "Name": "n2" }));
    run_bg(&d, "srv", &httpd("on-n1"), on_net("n1"));
    let cli = run_bg(&d, "cli", "sleep 120", on_net("n2"));
    let try_fetch = |host: &str| {
        let (o, e, code) = exec(
            &d,
            &cli,
            &[
                "timeout",
                "3",
                "wget",
                "-q",
                "-O",
                "-",
                &format!("http://{host}/"),
            ],
            json!({}),
        );
        (code, format!("{o}{e}"))
    };
    assert_ne!(try_fetch("srv").0, 0);
    let r = api(
        &d,
        "POST",
        "/networks/n1/connect",
        Some(json!({"Container": "cli", "EndpointConfig": {"Aliases": ["c"]}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = inspect(&d, &cli);
    assert!(c["NetworkSettings"]["Networks"]["n1"]["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with("172.18."));
    let (code, o) = eventually("connected", || {
        let r = try_fetch("srv");
        (r.0 == 0).then_some(r)
    });
    assert_eq!(code, 0);
    assert!(o.contains("on-n1"));
    // Twice: Docker's 403.
    let r = api(
        &d,
        "POST",
        "/networks/n1/connect",
        Some(json!({"Container": "cli"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api(
        &d,
        "POST",
        "/networks/n1/disconnect",
        Some(json!({"Container": "cli"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(inspect(&d, &cli)["NetworkSettings"]["Networks"]["n1"].is_null());
    assert_ne!(try_fetch("srv").0, 0);
    let (o, _, _) = exec(&d, &cli, &["ip", "-o", "link"], json!({}));
    assert!(!o.contains("eth1"), "{o}");
    // A stopped container is connected at its next start.
    let late = create(
        &d,
        "late",
        json!({ "Cmd": ["sh", "-c", "r=0; timeout 5 wget -q -O - http://srv/ || r=$?; exit $r"] }),
    );
    let r = api(
        &d,
        "POST",
        "/networks/n1/connect",
        Some(json!({"Container": "late"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    start(&d, &late);
    assert_eq!(wait(&d, &late), 0, "{:?}", logs(&d, &late, ""));
    assert!(logs(&d, &late, "").0.contains("on-n1"));
}

#[test]
fn network_api_errors_follow_docker() {
    let d = daemon();
    let id = net_create(
        &d,
        json!({ "Name": "dup", "IPAM": {"Config": [{"Subnet": "10.55.0.0/24"}]} }),
    );
    let n = api(&d, "GET", &format!("/networks/{}", &id[..6]), None).json();
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.55.0.1");
    let r = api(&d, "POST", "/networks/create", Some(json!({"Name": "dup"})));
    assert_eq!(r.status, 409, "{}", r.text());
    let r = api(
        &d,
        "POST",
        "/networks/create",
        Some(json!({"Name": "ovl", "IPAM": {"Config": [{"Subnet": "10.55.0.0/16"}]}})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api(
        &d,
        "POST",
        "/networks/create",
        Some(json!({"Name": "v6", "EnableIPv6": true})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api(
        &d,
        "POST",
        "/networks/create",
        Some(json!({"Name": "xnet", "Driver": "overlay"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = api(
        &d,
        "POST",
        "/networks/create",
        Some(json!({"Name": "bad", "IPAM": {"Config": [{"Subnet": "10.1.2.3/99"}]}})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = common::raw(&d.socket, "POST", "/networks/create", Some(b"{not json"));
    assert_eq!(r.status, 400, "{}", r.text());
    for pre in ["bridge", "host", "none"] {
        let r = api(&d, "DELETE", &format!("/networks/{pre}"), None);
        assert_eq!(r.status, 403, "{pre}: {}", r.text());
    }
    let r = api(&d, "GET", "/networks/nope", None);
    assert_eq!(r.status, 404);
    // In use: 409 until the container stops.
    let c = run_bg(&d, "user1", "sleep 60", on_net("dup"));
    let r = api(&d, "DELETE", "/networks/dup", None);
    assert_eq!(r.status, 409, "{}", r.text());
    let r = try_create(&d, "nonet", on_net("nope"));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = try_create(
        &d,
        "badip",
        json!({"HostConfig": {"NetworkMode": "dup"},
               "NetworkingConfig": {"EndpointsConfig": {"dup": {"IPAMConfig": {"IPv4Address": "10.99.0.5"}}}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = try_create(
        &d,
        "aliasbridge",
        json!({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["a"]}}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // A static address is honoured; the same one twice is refused.
    let s1 = create(
        &d,
        "s1",
        json!({"Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "dup"},
               "NetworkingConfig": {"EndpointsConfig": {"dup": {"IPAMConfig": {"IPv4Address": "10.55.0.77"}}}}}),
    );
    start(&d, &s1);
    assert_eq!(ip_of(&d, &s1, "dup"), "10.55.0.77");
    let s2 = create(
        &d,
        "s2",
        json!({"Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "dup"},
               "NetworkingConfig": {"EndpointsConfig": {"dup": {"IPAMConfig": {"IPv4Address": "10.55.0.77"}}}}}),
    );
    let r = api(&d, "POST", &format!("/containers/{s2}/start"), None);
    assert!(r.status >= 400, "{}", r.text());
    let _ = api(&d, "DELETE", &format!("/containers/{c}?force=1"), None);
    let _ = api(&d, "DELETE", &format!("/containers/{s1}?force=1"), None);
    let _ = api(&d, "DELETE", &format!("/containers/{s2}?force=1"), None);
    let r = api(&d, "DELETE", "/networks/dup", None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(links(&d, "br-").is_empty(), "{:?}", links(&d, "br-"));
    // Prune removes unused custom networks only.
    net_create(&d, json!({ "Name": "p1", "Labels": {"k": "v"} }));
    net_create(&d, json!({ "Name": "p2" }));
    let r = api(
        &d,
        "POST",
        "/networks/prune?filters=%7B%22label%22%3A%5B%22k%3Dv%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["NetworksDeleted"], json!(["p1"]));
    let names: Vec<String> = api(&d, "GET", "/networks", None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["bridge", "host", "none", "p2"]);
}

#[test]
fn host_none_and_container_modes() {
    let d = daemon();
    let (code, o) = run_sh(&d, "", "ip -o link", on_net("none"));
    assert_eq!(code, 0);
    assert!(o.contains("lo:") && !o.contains("eth0"), "{o}");
    let (code, o) = run_sh(&d, "", "ip -o link", on_net("host"));
    assert_eq!(code, 0);
    assert!(o.contains("balena0"), "{o}");
    let a = run_bg(&d, "nsowner", "sleep 60", json!({}));
    let ip = ip_of(&d, &a, "bridge");
    let (code, o) = run_sh(&d, "", "ip -o -4 addr", on_net("container:nsowner"));
    assert_eq!(code, 0);
    assert!(o.contains(&ip), "{o}");
    let c = inspect(&d, &a);
    assert_eq!(c["HostConfig"]["NetworkMode"], "default");
}

#[test]
fn daemon_restart_keeps_connectivity_and_dns() {
    let mut d = daemon();
    net_create(&d, json!({ "Name": "keep" }));
    let srv = create(
        &d,
        "ksrv",
        json!({
            "Cmd": ["sh", "-c", httpd("kept")],
            "HostConfig": { "NetworkMode": "keep", "PortBindings": {"80/tcp": [{"HostPort": "18282"}]} }
        }),
    );
    start(&d, &srv);
    let cli = run_bg(&d, "kcli", "sleep 300", on_net("keep"));
    let get = |d: &Daemon| {
        let (o, e, code) = exec(
            d,
            &cli,
            &["timeout", "5", "wget", "-q", "-O", "-", "http://ksrv/"],
            json!({}),
        );
        (code, format!("{o}{e}"))
    };
    eventually("before", || (get(&d).0 == 0).then_some(()));
    d.signal(nix::sys::signal::Signal::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    // While the daemon is down the published port still answers.
    let body = d.in_netns(|| http_get("127.0.0.1:18282")).unwrap();
    assert!(body.contains("kept"));
    d.restart(&[]);
    let (code, o) = eventually("after restart", || {
        let r = get(&d);
        (r.0 == 0).then_some(r)
    });
    assert_eq!(code, 0);
    assert!(o.contains("kept"));
    assert_eq!(ip_of(&d, &srv, "keep"), ip_of(&d, &srv, "keep"));
    // A new container does not get an address in use.
    let (code, o) = run_sh(&d, "", "ip -o -4 addr show eth0", on_net("keep"));
    assert_eq!(code, 0);
    assert!(!o.contains(&format!("{}/", ip_of(&d, &srv, "keep"))), "{o}");
    assert!(!o.contains(&format!("{}/", ip_of(&d, &cli, "keep"))), "{o}");
    // Everything goes away with the containers.
    for id in [&srv, &cli] {
        let r = api(&d, "DELETE", &format!("/containers/{id}?force=1"), None);
        assert_eq!(r.status, 204);
    }
    // The kernel deletes a dead namespace's veths asynchronously.
    eventually("veths gone", || links(&d, "veth").is_empty().then_some(()));
    assert!(!nat_rules(&d).contains("18282"));
    let left: Vec<_> = std::fs::read_dir(d.exec_root.join("netns"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bridge_flags_shape_the_default_network_and_iptables_false_writes_no_rules() {
    let d = Daemon::new_networked().start(&[
        "--bip",
        "10.66.0.1/24",
        "--fixed-cidr",
        "10.66.0.128/25",
        "--mtu",
        "1400",
        "--iptables=false",
    ]);
    load_probe_image(&d);
    let id = run_bg(&d, "flags", "sleep 60", json!({}));
    let ip = ip_of(&d, &id, "bridge");
    let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(ip.starts_with("10.66.0.") && last >= 128, "{ip}");
    assert_eq!(inspect(&d, &id)["NetworkSettings"]["Gateway"], "10.66.0.1");
    let (o, _, _) = exec(&d, &id, &["ip", "-o", "link", "show", "eth0"], json!({}));
    assert!(o.contains("mtu 1400"), "{o}");
    let n = api(&d, "GET", "/networks/bridge", None).json();
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.66.0.0/24");
    assert_eq!(n["IPAM"]["Config"][0]["IPRange"], "10.66.0.128/25");
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
    assert_eq!(n["Options"]["com.docker.network.bridge.name"], "balena0");
    let f = filter_rules(&d);
    assert!(!f.contains("DOCKER"), "{f}");
    assert!(!nat_rules(&d).contains("DOCKER"));
}
