//! Kernel tests of `netns`, `link` and `firewall`, as root. Every test works
//! only inside network namespaces it creates with `netns::create` (a
//! "host" one holding the bridge, and one per container) and removes them
//! on drop, even when it fails; the real host's links and firewall are
//! never touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ipnet::Ipv4Net;
use network::firewall::{BridgeRules, FirewallError, Iptables, PortRule, Proto};
use network::link::{self, EndpointSpec, LinkError};
use network::netns::{self, NetnsError};

/// Namespaces of one test, removed on drop.
struct Namespaces {
    dir: tempfile::TempDir,
    made: Vec<PathBuf>,
}

impl Namespaces {
    /// None (with the reason printed) when not root.
    fn new() -> Option<Namespaces> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: kernel tests need root");
            return None;
        }
        Some(Namespaces {
            dir: tempfile::tempdir().unwrap(),
            made: Vec::new(),
        })
    }

    fn create(&mut self, name: &str) -> PathBuf {
        let path = self.dir.path().join("netns").join(name);
        netns::create(&path).unwrap();
        self.made.push(path.clone());
        path
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for path in &self.made {
            if let Err(e) = netns::remove(path) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn in_ns<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    netns::run_in(ns, f).unwrap()
}

fn endpoint(ns: &Path, host_ifname: &str, addr: &str, last: u8) -> EndpointSpec {
    EndpointSpec {
        host_ifname: host_ifname.to_string(),
        bridge: "br0".into(),
        netns: ns.to_path_buf(),
        ifname: "eth0".into(),
        mac: [0x02, 0x42, 10, 77, 0, last],
        addr: net(addr),
        gateway: Some(Ipv4Addr::from(u32::from(net(addr).network()) + 1)),
        mtu: Some(1450),
        hairpin: false,
    }
}

/// Whether a datagram from `from_ip` in `from_ns` reaches `to_ip` in
/// `to_ns` (a few tries, for ARP).
fn udp_reaches(from_ns: &Path, from_ip: Ipv4Addr, to_ns: &Path, to_ip: Ipv4Addr) -> bool {
    let rx = in_ns(to_ns, || UdpSocket::bind((to_ip, 0))).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let tx = in_ns(from_ns, || UdpSocket::bind((from_ip, 0))).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..4 {
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        if let Ok((n, from)) = rx.recv_from(&mut buf) {
            return &buf[..n] == b"hello" && from.ip() == from_ip;
        }
    }
    false
}

/// `ip -o link show` run through `netns::command_in`.
fn ip_links(ns: &Path) -> String {
    let mut cmd = Command::new("ip");
    cmd.args(["-o", "link", "show"]);
    netns::command_in(ns, &mut cmd).unwrap();
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn rules_of(listing: &str) -> Vec<&str> {
    listing.lines().collect()
}

#[test]
fn a_namespace_is_private_has_loopback_up_and_is_removed() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let ns = nss.create("a");
    assert!(netns::is_netns(&ns));
    let err = netns::create(&ns).unwrap_err();
    assert!(matches!(err, NetnsError::Exists { .. }), "{err}");

    let lo = in_ns(&ns, || link::link("lo")).unwrap().unwrap();
    assert!(lo.up);
    let inside = in_ns(&ns, || std::fs::metadata("/proc/thread-self/ns/net")).unwrap();
    let file = std::fs::metadata(&ns).unwrap();
    let ours = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(inside.ino(), file.ino());
    assert_ne!(ours.ino(), file.ino());
    let links = ip_links(&ns);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains(": lo:"), "{links}");

    netns::remove(&ns).unwrap();
    assert!(!ns.exists());
    assert!(!netns::is_netns(&ns));
    netns::remove(&ns).unwrap();
    // Remade on the same path after removal.
    netns::create(&ns).unwrap();
    assert!(netns::is_netns(&ns));
}

#[test]
fn a_bridge_is_created_up_with_its_address_and_reconciled() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let host = nss.create("host");
    let index = in_ns(&host, || {
        link::ensure_bridge("br0", Some(1400), net("10.77.0.1/24"))
    })
    .unwrap();
    let br = in_ns(&host, || link::link("br0")).unwrap().unwrap();
    assert_eq!(br.index, index);
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert!(br.up);
    assert_eq!(br.mtu, Some(1400));
    let mac = br.mac.unwrap();
    assert_eq!(mac[0] & 0x03, 0x02, "random local unicast MAC");
    assert_eq!(
        in_ns(&host, || link::bridge_addrs("br0")).unwrap(),
        [net("10.77.0.1/24")]
    );
    // Idempotent.
    assert_eq!(
        in_ns(&host, || link::ensure_bridge(
            "br0",
            Some(1400),
            net("10.77.0.1/24")
        ))
        .unwrap(),
        index
    );
    assert_eq!(
        in_ns(&host, || link::bridge_addrs("br0")).unwrap(),
        [net("10.77.0.1/24")]
    );
    // Another address replaces the old one, as libnetwork does.
    in_ns(&host, || {
        link::ensure_bridge("br0", None, net("10.78.0.1/16"))
    })
    .unwrap();
    assert_eq!(
        in_ns(&host, || link::bridge_addrs("br0")).unwrap(),
        [net("10.78.0.1/16")]
    );
    let names: Vec<String> = in_ns(&host, || link::Handle::new()?.links())
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lo", "br0"]);
    let routes = in_ns(&host, link::ipv4_routes).unwrap();
    assert!(routes.contains(&net("10.78.0.0/16")), "{routes:?}");
    assert!(!routes.contains(&net("10.77.0.0/24")), "{routes:?}");
    assert_eq!(in_ns(&host, link::default_route).unwrap(), None);

    let err = in_ns(&host, || {
        link::ensure_bridge("lo", None, net("10.79.0.1/24"))
    })
    .unwrap_err();
    assert!(matches!(err, LinkError::NotBridge { .. }), "{err}");
    assert_eq!(err.to_string(), "existing interface lo is not a bridge");

    in_ns(&host, || link::delete_link("br0")).unwrap();
    assert!(!in_ns(&host, || link::link_exists("br0")).unwrap());
    in_ns(&host, || link::delete_link("br0")).unwrap();
}

#[test]
fn endpoints_on_a_bridge_reach_each_other_and_the_gateway() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let host = nss.create("host");
    let c1 = nss.create("c1");
    let c2 = nss.create("c2");
    let bridge = in_ns(&host, || {
        link::ensure_bridge("br0", None, net("10.77.1.1/24"))
    })
    .unwrap();
    let veth1 = link::random_veth_name().unwrap();
    let veth2 = link::random_veth_name().unwrap();
    let mut spec1 = endpoint(&c1, &veth1, "10.77.1.2/24", 2);
    spec1.hairpin = true;
    let spec2 = endpoint(&c2, &veth2, "10.77.1.3/24", 3);
    in_ns(&host, || link::attach_endpoint(&spec1)).unwrap();
    in_ns(&host, || link::attach_endpoint(&spec2)).unwrap();

    let port1 = in_ns(&host, || link::link(&veth1)).unwrap().unwrap();
    assert_eq!(port1.master, Some(bridge));
    assert!(port1.up);
    assert_eq!(port1.mtu, Some(1450));
    assert_eq!(port1.kind.as_deref(), Some("veth"));
    assert_eq!(port1.hairpin, Some(true));
    let port2 = in_ns(&host, || link::link(&veth2)).unwrap().unwrap();
    assert_eq!(port2.hairpin, Some(false));

    let eth0 = in_ns(&c1, || link::link("eth0")).unwrap().unwrap();
    assert!(eth0.up);
    assert_eq!(eth0.mac, Some([0x02, 0x42, 10, 77, 0, 2]));
    assert_eq!(eth0.mtu, Some(1450));
    assert_eq!(
        in_ns(&c1, || link::addresses("eth0")).unwrap(),
        [net("10.77.1.2/24")]
    );
    assert_eq!(
        in_ns(&c1, link::default_route).unwrap(),
        Some(ip("10.77.1.1"))
    );
    // Nothing of the peer is left in the bridge's namespace.
    assert!(!in_ns(&host, || link::link_exists("eth0")).unwrap());

    assert!(udp_reaches(&c1, ip("10.77.1.2"), &c2, ip("10.77.1.3")));
    assert!(udp_reaches(&c2, ip("10.77.1.3"), &c1, ip("10.77.1.2")));
    assert!(udp_reaches(&c1, ip("10.77.1.2"), &host, ip("10.77.1.1")));

    in_ns(&host, || link::detach_endpoint(&veth1)).unwrap();
    assert!(!in_ns(&host, || link::link_exists(&veth1)).unwrap());
    assert!(!in_ns(&c1, || link::link_exists("eth0")).unwrap());
    in_ns(&host, || link::detach_endpoint(&veth1)).unwrap();

    // A step failing after the pair exists (a gateway off the subnet)
    // leaves nothing behind.
    let mut bad = endpoint(&c1, &veth1, "10.77.1.4/24", 4);
    bad.gateway = Some(ip("10.99.0.1"));
    let err = in_ns(&host, || link::attach_endpoint(&bad)).unwrap_err();
    assert_eq!(err.to_string(), "add default route via 10.99.0.1 dev eth0");
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err:?}");
    assert!(!in_ns(&host, || link::link_exists(&veth1)).unwrap());
    assert!(!in_ns(&c1, || link::link_exists("eth0")).unwrap());

    // A missing bridge is a clear error.
    let mut orphan = endpoint(&c1, &veth1, "10.77.1.4/24", 4);
    orphan.bridge = "nobr".into();
    let err = in_ns(&host, || link::attach_endpoint(&orphan)).unwrap_err();
    assert_eq!(err.to_string(), "link nobr not found");
}

#[test]
fn dockers_chains_and_bridge_rules_appear_work_and_go() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let host = nss.create("host");
    let c1 = nss.create("c1");
    let c2 = nss.create("c2");
    let ipt = Iptables::in_netns(&host).unwrap();

    ipt.setup_base(false).unwrap();
    ipt.setup_base(false).unwrap();
    assert_eq!(
        rules_of(&ipt.list("filter").unwrap()),
        [
            "-P INPUT ACCEPT",
            "-P FORWARD ACCEPT",
            "-P OUTPUT ACCEPT",
            "-N DOCKER",
            "-N DOCKER-ISOLATION-STAGE-1",
            "-N DOCKER-ISOLATION-STAGE-2",
            "-N DOCKER-USER",
            "-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
            "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
            "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
            "-A DOCKER-USER -j RETURN",
        ]
    );
    let nat = ipt.list("nat").unwrap();
    assert!(
        nat.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"),
        "{nat}"
    );
    assert!(
        nat.contains("-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n"),
        "{nat}"
    );
    // Switching to hairpin mode swaps the OUTPUT jump.
    ipt.setup_base(true).unwrap();
    let nat = ipt.list("nat").unwrap();
    assert!(
        nat.contains("-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER\n"),
        "{nat}"
    );
    assert!(!nat.contains("! -d 127.0.0.0/8"), "{nat}");
    ipt.setup_base(false).unwrap();

    // A new namespace may inherit the host's setting: start from off.
    in_ns(&host, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0\n")
    })
    .unwrap();
    assert!(ipt.enable_ip_forward().unwrap());
    assert!(!ipt.enable_ip_forward().unwrap());
    assert!(ipt.list("filter").unwrap().contains("-P FORWARD DROP\n"));

    in_ns(&host, || {
        link::ensure_bridge("br0", None, net("10.77.2.1/24"))
    })
    .unwrap();
    in_ns(&host, || {
        link::ensure_bridge("br1", None, net("10.77.3.1/24"))
    })
    .unwrap();
    let veth1 = link::random_veth_name().unwrap();
    let veth2 = link::random_veth_name().unwrap();
    in_ns(&host, || {
        link::attach_endpoint(&endpoint(&c1, &veth1, "10.77.2.2/24", 2))
    })
    .unwrap();
    in_ns(&host, || {
        link::attach_endpoint(&endpoint(&c2, &veth2, "10.77.2.3/24", 3))
    })
    .unwrap();

    let br0 = BridgeRules {
        bridge: "br0".into(),
        subnet: net("10.77.2.1/24"),
        icc: true,
        masquerade: true,
        internal: false,
        hairpin: false,
    };
    let br1 = BridgeRules {
        bridge: "br1".into(),
        subnet: net("10.77.3.0/24"),
        ..br0.clone()
    };
    ipt.add_bridge(&br0).unwrap();
    ipt.add_bridge(&br0).unwrap();
    assert_eq!(
        rules_of(&ipt.list("filter").unwrap())[7..],
        [
            "-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
            "-A FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A FORWARD -o br0 -j DOCKER",
            "-A FORWARD -i br0 ! -o br0 -j ACCEPT",
            "-A FORWARD -i br0 -o br0 -j ACCEPT",
            "-A DOCKER-ISOLATION-STAGE-1 -i br0 ! -o br0 -j DOCKER-ISOLATION-STAGE-2",
            "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
            "-A DOCKER-ISOLATION-STAGE-2 -o br0 -j DROP",
            "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
            "-A DOCKER-USER -j RETURN",
        ]
    );
    assert_eq!(
        rules_of(&ipt.list("nat").unwrap())[4..],
        [
            "-N DOCKER",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
            "-A POSTROUTING -s 10.77.2.0/24 ! -o br0 -j MASQUERADE",
            "-A DOCKER -i br0 -j RETURN",
        ]
    );
    ipt.add_bridge(&br1).unwrap();
    let filter = ipt.list("filter").unwrap();
    let filter = rules_of(&filter);
    assert_eq!(
        filter[7..9],
        [
            "-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"
        ]
    );
    assert!(filter.contains(&"-A DOCKER-ISOLATION-STAGE-2 -o br1 -j DROP"));

    // The bridge passes traffic under the DROP policy (ICC rule).
    assert!(udp_reaches(&c1, ip("10.77.2.2"), &c2, ip("10.77.2.3")));

    // A published port: DNAT from a local address of the host.
    let port = PortRule {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 8080,
        container_ip: ip("10.77.2.2"),
        container_port: 80,
        bridge: "br0".into(),
        hairpin: false,
    };
    ipt.add_port(&port).unwrap();
    ipt.add_port(&port).unwrap();
    let nat = ipt.list("nat").unwrap();
    assert!(
        nat.contains(
            "-A DOCKER ! -i br0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.77.2.2:80\n"
        ),
        "{nat}"
    );
    assert!(nat.contains(
        "-A POSTROUTING -s 10.77.2.2/32 -d 10.77.2.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n"
    ), "{nat}");
    assert_eq!(nat.matches("DNAT").count(), 1, "{nat}");
    let filter = ipt.list("filter").unwrap();
    assert!(
        filter.contains(
            "-A DOCKER -d 10.77.2.2/32 ! -i br0 -o br0 -p tcp -m tcp --dport 80 -j ACCEPT\n"
        ),
        "{filter}"
    );
    let listener = in_ns(&c1, || TcpListener::bind(("10.77.2.2", 80))).unwrap();
    let mut client = in_ns(&host, || {
        TcpStream::connect_timeout(
            &SocketAddr::from((ip("10.77.2.1"), 8080)),
            Duration::from_secs(2),
        )
    })
    .unwrap();
    let (mut served, _) = listener.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    served.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    drop((client, served, listener));
    ipt.remove_port(&port).unwrap();
    ipt.remove_port(&port).unwrap();
    assert!(!ipt.list("nat").unwrap().contains("DNAT"));

    // ICC off drops bridged traffic (needs br_netfilter on the host).
    ipt.remove_bridge(&br0).unwrap();
    let no_icc = BridgeRules {
        icc: false,
        ..br0.clone()
    };
    match ipt.add_bridge(&no_icc) {
        Ok(()) => {
            let filter = ipt.list("filter").unwrap();
            assert!(
                filter.contains("-A FORWARD -i br0 -o br0 -j DROP\n"),
                "{filter}"
            );
            assert!(
                !filter.contains("-A FORWARD -i br0 -o br0 -j ACCEPT\n"),
                "{filter}"
            );
            assert!(!udp_reaches(&c1, ip("10.77.2.2"), &c2, ip("10.77.2.3")));
            ipt.remove_bridge(&no_icc).unwrap();
        }
        Err(FirewallError::BrNetfilter) => eprintln!("icc=false part skipped: no br_netfilter"),
        Err(e) => panic!("{e}"),
    }

    ipt.remove_bridge(&br1).unwrap();
    ipt.remove_bridge(&br1).unwrap();
    ipt.remove_base().unwrap();
    assert_eq!(
        rules_of(&ipt.list("filter").unwrap()),
        [
            "-P INPUT ACCEPT",
            "-P FORWARD DROP",
            "-P OUTPUT ACCEPT",
            "-N DOCKER-USER",
            "-A FORWARD -j DOCKER-USER",
            "-A DOCKER-USER -j RETURN",
        ]
    );
    assert_eq!(
        rules_of(&ipt.list("nat").unwrap()),
        [
            "-P PREROUTING ACCEPT",
            "-P INPUT ACCEPT",
            "-P OUTPUT ACCEPT",
            "-P POSTROUTING ACCEPT",
        ]
    );
}

#[test]
fn an_internal_network_gets_its_drop_rules() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let host = nss.create("host");
    let ipt = Iptables::in_netns(&host).unwrap();
    ipt.setup_base(false).unwrap();
    let internal = BridgeRules {
        bridge: "br2".into(),
        subnet: net("10.77.4.0/24"),
        icc: true,
        masquerade: true,
        internal: true,
        hairpin: false,
    };
    ipt.add_bridge(&internal).unwrap();
    let filter = ipt.list("filter").unwrap();
    let filter = rules_of(&filter);
    assert_eq!(
        filter[7..],
        [
            "-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
            "-A FORWARD -i br2 -o br2 -j ACCEPT",
            "-A DOCKER-ISOLATION-STAGE-1 ! -s 10.77.4.0/24 -o br2 -j DROP",
            "-A DOCKER-ISOLATION-STAGE-1 ! -d 10.77.4.0/24 -i br2 -j DROP",
            "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
            "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
            "-A DOCKER-USER -j RETURN",
        ]
    );
    assert!(!ipt.list("nat").unwrap().contains("MASQUERADE"));
    ipt.remove_bridge(&internal).unwrap();
    assert!(!ipt.list("filter").unwrap().contains("br2"));
}

#[test]
fn the_dns_redirect_reaches_the_resolver_and_answers_from_port_53() {
    let Some(mut nss) = Namespaces::new() else {
        return;
    };
    let ctr = nss.create("ctr");
    let ipt = Iptables::in_netns(&ctr).unwrap();
    for _ in 0..2 {
        // A restarted daemon: new sockets, new ports, the old rules gone.
        let (udp, tcp) = in_ns(&ctr, || {
            (
                UdpSocket::bind("127.0.0.11:0").unwrap(),
                TcpListener::bind("127.0.0.11:0").unwrap(),
            )
        });
        let (udp_port, tcp_port) = (
            udp.local_addr().unwrap().port(),
            tcp.local_addr().unwrap().port(),
        );
        ipt.dns_redirect(udp_port, tcp_port).unwrap();
        let nat = ipt.list("nat").unwrap();
        assert_eq!(nat.matches("-j DNAT").count(), 2, "{nat}");
        assert_eq!(nat.matches("-j SNAT").count(), 2, "{nat}");
        assert!(nat.contains(&format!(
            "-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:{udp_port}\n"
        )), "{nat}");
        assert!(nat.contains(&format!(
            "-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport {tcp_port} -j SNAT --to-source :53\n"
        )), "{nat}");
        assert!(
            nat.contains("-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT\n"),
            "{nat}"
        );
        assert!(
            nat.contains("-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING\n"),
            "{nat}"
        );

        let client = in_ns(&ctr, || UdpSocket::bind("127.0.0.1:0")).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        client.send_to(b"query", "127.0.0.11:53").unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = udp.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"query");
        udp.send_to(b"answer", from).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"answer");
        assert_eq!(from, SocketAddr::from((ip("127.0.0.11"), 53)));

        let mut stream = in_ns(&ctr, || TcpStream::connect("127.0.0.11:53")).unwrap();
        let (mut served, _) = tcp.accept().unwrap();
        stream.write_all(b"q").unwrap();
        let mut one = [0u8; 1];
        served.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"q");
    }
}
