//! Docker 20.10's iptables layout, written by running `iptables -w`, so
//! firewall scripts written for Docker (`DOCKER-USER` rules above all) keep
//! working unchanged.
//!
//! ```text
//! filter FORWARD  -j DOCKER-USER                       (first)
//!                 -j DOCKER-ISOLATION-STAGE-1          (second)
//!                 per bridge: -o br conntrack ACCEPT, -o br -j DOCKER,
//!                 -i br ! -o br ACCEPT, -i br -o br ACCEPT|DROP (icc)
//!        DOCKER   published ports: ! -i br -o br -d ctr --dport p ACCEPT
//!        DOCKER-ISOLATION-STAGE-1/-2   between bridges; RETURN last
//!        DOCKER-USER                   the user's; RETURN last
//! nat    PREROUTING   -m addrtype --dst-type LOCAL -j DOCKER
//!        OUTPUT       ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
//!        POSTROUTING  -s subnet ! -o br -j MASQUERADE; port hairpin MASQUERADE
//!        DOCKER       -i br -j RETURN; published ports' DNAT
//! ```
//!
//! The rules are built by pure functions (tested against libnetwork's exact
//! arguments) and applied idempotently: `-C` before every `-A`/`-I`, `-C`
//! before every `-D`. The [`Iptables`] runner can work in another network
//! namespace (a container's, for the embedded DNS redirect; a test's).

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ipnet::Ipv4Net;

use crate::netns::{self, NetnsError};

const FILTER: &str = "filter";
const NAT: &str = "nat";
const DOCKER: &str = "DOCKER";
const DOCKER_USER: &str = "DOCKER-USER";
const ISOLATION_1: &str = "DOCKER-ISOLATION-STAGE-1";
const ISOLATION_2: &str = "DOCKER-ISOLATION-STAGE-2";
const LOOPBACK: &str = "127.0.0.0/8";
/// The embedded DNS server's address in every container.
const RESOLVER_IP: &str = "127.0.0.11";
const DNS_OUTPUT: &str = "DOCKER_OUTPUT";
const DNS_POSTROUTING: &str = "DOCKER_POSTROUTING";

/// Errors of the firewall operations.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// No iptables binary anywhere we look.
    #[error(
        "iptables not found in PATH, /usr/sbin or /sbin: install iptables, \
         or run the daemon with --iptables=false"
    )]
    NotFound,
    /// iptables could not be started.
    #[error("run {program} {args}")]
    Spawn {
        program: PathBuf,
        args: String,
        #[source]
        source: io::Error,
    },
    /// iptables ran and failed.
    #[error("iptables {args} failed ({status}): {stderr}")]
    Failed {
        args: String,
        status: String,
        stderr: String,
    },
    /// The runner's network namespace could not be entered.
    #[error("enter the firewall's network namespace")]
    Netns(#[source] NetnsError),
    /// A sysctl could not be read or written.
    #[error("sysctl {key}")]
    Sysctl {
        key: String,
        #[source]
        source: io::Error,
    },
    /// `--icc=false` needs bridged traffic to pass iptables (Docker's words).
    #[error(
        "cannot restrict inter-container communication: please ensure that \
         br_netfilter kernel module is loaded"
    )]
    BrNetfilter,
}

pub use crate::portmap::Proto;

/// A bridge network's rules (libnetwork's `setupIPTablesInternal`,
/// `ProgramChain`, `setINC`, `setupInternalNetworkRules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    /// The network (host bits are dropped).
    pub subnet: Ipv4Net,
    /// Inter-container communication on this bridge (`--icc`).
    pub icc: bool,
    /// Masquerade outbound traffic (`--ip-masq`).
    pub masquerade: bool,
    /// `--internal`: no traffic in or out of the subnet.
    pub internal: bool,
    /// Userland proxy off: published ports are reached by NAT alone, also
    /// from the host and from the bridge itself.
    pub hairpin: bool,
}

/// A published port's rules (libnetwork's `ChainInfo.Forward`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// None (or 0.0.0.0) for every address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub bridge: String,
    /// Same meaning as [`BridgeRules::hairpin`].
    pub hairpin: bool,
}

/// Where an added rule goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Append,
    Insert,
}

/// One rule: table, chain, match and target arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    table: &'static str,
    chain: &'static str,
    args: Vec<String>,
    place: Place,
}

impl Rule {
    fn new(table: &'static str, chain: &'static str, place: Place, args: &[&str]) -> Rule {
        Rule {
            table,
            chain,
            args: args.iter().map(|s| s.to_string()).collect(),
            place,
        }
    }

    fn with(&self, op: &str) -> Vec<String> {
        let mut v = vec![
            "-t".to_string(),
            self.table.to_string(),
            op.to_string(),
            self.chain.to_string(),
        ];
        v.extend(self.args.iter().cloned());
        v
    }

    fn add_args(&self) -> Vec<String> {
        self.with(match self.place {
            Place::Append => "-A",
            Place::Insert => "-I",
        })
    }

    fn check_args(&self) -> Vec<String> {
        self.with("-C")
    }

    fn delete_args(&self) -> Vec<String> {
        self.with("-D")
    }
}

/// The chains Docker owns (table, chain), in creation order.
fn base_chains() -> [(&'static str, &'static str); 5] {
    [
        (NAT, DOCKER),
        (FILTER, DOCKER),
        (FILTER, ISOLATION_1),
        (FILTER, ISOLATION_2),
        (FILTER, DOCKER_USER),
    ]
}

/// nat OUTPUT's jump to DOCKER: local destinations except loopback, or
/// every local destination in hairpin mode (userland proxy off).
fn output_jump(hairpin: bool) -> Rule {
    if hairpin {
        Rule::new(
            NAT,
            "OUTPUT",
            Place::Append,
            &["-m", "addrtype", "--dst-type", "LOCAL", "-j", DOCKER],
        )
    } else {
        Rule::new(
            NAT,
            "OUTPUT",
            Place::Append,
            &[
                "!",
                "-d",
                LOOPBACK,
                "-m",
                "addrtype",
                "--dst-type",
                "LOCAL",
                "-j",
                DOCKER,
            ],
        )
    }
}

/// Rules of the base layout, in order (the FORWARD jumps are kept on top
/// separately, see [`Iptables::ensure_forward_jumps`]).
fn base_rules(hairpin: bool) -> Vec<Rule> {
    vec![
        Rule::new(FILTER, ISOLATION_1, Place::Append, &["-j", "RETURN"]),
        Rule::new(FILTER, ISOLATION_2, Place::Append, &["-j", "RETURN"]),
        Rule::new(FILTER, DOCKER_USER, Place::Append, &["-j", "RETURN"]),
        prerouting_jump(),
        output_jump(hairpin),
    ]
}

/// nat PREROUTING's jump to DOCKER, for every local destination.
fn prerouting_jump() -> Rule {
    Rule::new(
        NAT,
        "PREROUTING",
        Place::Append,
        &["-m", "addrtype", "--dst-type", "LOCAL", "-j", DOCKER],
    )
}

/// The ICC rule of a bridge: ACCEPT inserted, or DROP appended.
fn icc_rule(bridge: &str, icc: bool) -> Rule {
    if icc {
        Rule::new(
            FILTER,
            "FORWARD",
            Place::Insert,
            &["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        )
    } else {
        Rule::new(
            FILTER,
            "FORWARD",
            Place::Append,
            &["-i", bridge, "-o", bridge, "-j", "DROP"],
        )
    }
}

/// A bridge network's rules in the order libnetwork adds them.
fn bridge_rules(r: &BridgeRules) -> Vec<Rule> {
    let br = r.bridge.as_str();
    let subnet = r.subnet.trunc().to_string();
    let subnet = subnet.as_str();
    let mut rules = Vec::new();
    if r.internal {
        rules.push(Rule::new(
            FILTER,
            ISOLATION_1,
            Place::Insert,
            &["-i", br, "!", "-d", subnet, "-j", "DROP"],
        ));
        rules.push(Rule::new(
            FILTER,
            ISOLATION_1,
            Place::Insert,
            &["-o", br, "!", "-s", subnet, "-j", "DROP"],
        ));
        rules.push(icc_rule(br, r.icc));
        return rules;
    }
    if r.masquerade {
        rules.push(Rule::new(
            NAT,
            "POSTROUTING",
            Place::Insert,
            &["-s", subnet, "!", "-o", br, "-j", "MASQUERADE"],
        ));
        if !r.hairpin {
            rules.push(Rule::new(
                NAT,
                DOCKER,
                Place::Insert,
                &["-i", br, "-j", "RETURN"],
            ));
        }
    }
    if r.hairpin {
        rules.push(Rule::new(
            NAT,
            "POSTROUTING",
            Place::Insert,
            &[
                "-m",
                "addrtype",
                "--src-type",
                "LOCAL",
                "-o",
                br,
                "-j",
                "MASQUERADE",
            ],
        ));
    }
    rules.push(icc_rule(br, r.icc));
    rules.push(Rule::new(
        FILTER,
        "FORWARD",
        Place::Insert,
        &["-i", br, "!", "-o", br, "-j", "ACCEPT"],
    ));
    rules.push(Rule::new(
        FILTER,
        "FORWARD",
        Place::Insert,
        &["-o", br, "-j", DOCKER],
    ));
    rules.push(Rule::new(
        FILTER,
        "FORWARD",
        Place::Insert,
        &[
            "-o",
            br,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    ));
    rules.push(Rule::new(
        FILTER,
        ISOLATION_1,
        Place::Insert,
        &["-i", br, "!", "-o", br, "-j", ISOLATION_2],
    ));
    rules.push(Rule::new(
        FILTER,
        ISOLATION_2,
        Place::Insert,
        &["-o", br, "-j", "DROP"],
    ));
    rules
}

/// A published port's rules in the order libnetwork adds them.
fn port_rules(p: &PortRule) -> Vec<Rule> {
    let proto = p.proto.as_str();
    let br = p.bridge.as_str();
    let host_ip = match p.host_ip {
        // iptables reads 0.0.0.0 as 0.0.0.0/32; 0/0 is "any".
        Some(ip) if !ip.is_unspecified() => ip.to_string(),
        _ => "0/0".to_string(),
    };
    let host_port = p.host_port.to_string();
    let ctr_ip = p.container_ip.to_string();
    let ctr_port = p.container_port.to_string();
    let to = format!("{}:{}", p.container_ip, p.container_port);
    let mut dnat = vec![
        "-p",
        proto,
        "-d",
        &host_ip,
        "--dport",
        &host_port,
        "-j",
        "DNAT",
        "--to-destination",
        &to,
    ];
    if !p.hairpin {
        dnat.extend(["!", "-i", br]);
    }
    vec![
        Rule::new(NAT, DOCKER, Place::Append, &dnat),
        Rule::new(
            FILTER,
            DOCKER,
            Place::Append,
            &[
                "!", "-i", br, "-o", br, "-p", proto, "-d", &ctr_ip, "--dport", &ctr_port, "-j",
                "ACCEPT",
            ],
        ),
        Rule::new(
            NAT,
            "POSTROUTING",
            Place::Append,
            &[
                "-p",
                proto,
                "-s",
                &ctr_ip,
                "-d",
                &ctr_ip,
                "--dport",
                &ctr_port,
                "-j",
                "MASQUERADE",
            ],
        ),
    ]
}

/// The embedded DNS redirect's jumps (nat OUTPUT and POSTROUTING).
fn dns_jumps() -> [Rule; 2] {
    [
        Rule::new(
            NAT,
            "OUTPUT",
            Place::Insert,
            &["-d", RESOLVER_IP, "-j", DNS_OUTPUT],
        ),
        Rule::new(
            NAT,
            "POSTROUTING",
            Place::Insert,
            &["-d", RESOLVER_IP, "-j", DNS_POSTROUTING],
        ),
    ]
}

/// The embedded DNS redirect: 127.0.0.11:53 to the resolver's real ports
/// and the answers' source port back to 53, in libnetwork's order.
fn dns_rules(udp_port: u16, tcp_port: u16) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (proto, port) in [("udp", udp_port), ("tcp", tcp_port)] {
        let port = port.to_string();
        let to = format!("{RESOLVER_IP}:{port}");
        rules.push(Rule::new(
            NAT,
            DNS_OUTPUT,
            Place::Insert,
            &[
                "-d",
                RESOLVER_IP,
                "-p",
                proto,
                "--dport",
                "53",
                "-j",
                "DNAT",
                "--to-destination",
                &to,
            ],
        ));
        rules.push(Rule::new(
            NAT,
            DNS_POSTROUTING,
            Place::Insert,
            &[
                "-s",
                RESOLVER_IP,
                "-p",
                proto,
                "--sport",
                &port,
                "-j",
                "SNAT",
                "--to-source",
                ":53",
            ],
        ));
    }
    rules
}

/// The `iptables-restore --noflush` input for the DNS redirect, given the
/// nat table's current listing: chains made if missing and emptied, the
/// jumps added if missing, the rules for these ports.
fn dns_restore_script(listing: &str, udp_port: u16, tcp_port: u16) -> String {
    let mut out = String::from("*nat\n");
    for chain in [DNS_OUTPUT, DNS_POSTROUTING] {
        if !listing.lines().any(|l| l == format!("-N {chain}")) {
            out.push_str(&format!(":{chain} - [0:0]\n"));
        }
        out.push_str(&format!("-F {chain}\n"));
    }
    for jump in dns_jumps() {
        let as_listed = format!("-A {} {}", jump.chain, jump.args.join(" "));
        if !listing.lines().any(|l| l == as_listed) {
            out.push_str(&format!("-I {} {}\n", jump.chain, jump.args.join(" ")));
        }
    }
    for rule in dns_rules(udp_port, tcp_port) {
        out.push_str(&rule.add_args()[2..].join(" "));
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// Whether the FORWARD listing (`iptables -S FORWARD`) starts with the
/// jumps to DOCKER-USER and then DOCKER-ISOLATION-STAGE-1.
fn forward_jumps_on_top(listing: &str) -> bool {
    let mut rules = listing.lines().filter(|l| l.starts_with("-A FORWARD"));
    rules.next() == Some("-A FORWARD -j DOCKER-USER")
        && rules.next() == Some("-A FORWARD -j DOCKER-ISOLATION-STAGE-1")
}

/// The iptables command, run in the daemon's namespace or in another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iptables {
    program: PathBuf,
    netns: Option<PathBuf>,
}

impl Iptables {
    /// Finds `iptables` in PATH, /usr/sbin, /sbin or /usr/local/sbin.
    pub fn find() -> Result<Self, FirewallError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::env::split_paths(&path).chain(
            ["/usr/sbin", "/sbin", "/usr/local/sbin"]
                .iter()
                .map(PathBuf::from),
        );
        for dir in dirs {
            let candidate = dir.join("iptables");
            if is_executable(&candidate) {
                return Ok(Iptables {
                    program: candidate,
                    netns: None,
                });
            }
        }
        Err(FirewallError::NotFound)
    }

    /// Like [`Iptables::find`], with every command run in the network
    /// namespace at `path` (a container's, a test's).
    pub fn in_netns(path: &Path) -> Result<Self, FirewallError> {
        let mut iptables = Self::find()?;
        iptables.netns = Some(path.to_path_buf());
        Ok(iptables)
    }

    /// The iptables binary used.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `iptables -t <table> -S`: the table's chains and rules.
    pub fn list(&self, table: &str) -> Result<String, FirewallError> {
        self.run(&["-t".into(), table.into(), "-S".into()])
    }

    /// Docker's chains and the jumps to them; idempotent. `hairpin` is
    /// "userland proxy off" (the nat OUTPUT jump then covers loopback
    /// too, and the other form is removed). Nothing is flushed: rules of
    /// networks and ports made earlier stay.
    pub fn setup_base(&self, hairpin: bool) -> Result<(), FirewallError> {
        for (table, chain) in base_chains() {
            self.ensure_chain(table, chain)?;
        }
        for rule in base_rules(hairpin) {
            self.ensure(&rule)?;
        }
        self.remove(&output_jump(!hairpin))?;
        self.ensure_forward_jumps()
    }

    /// Takes out Docker's chains as libnetwork does at start
    /// (`removeIPChains`): the nat jumps, the FORWARD jump to the
    /// isolation chains, and DOCKER (nat and filter) and the isolation
    /// chains flushed and deleted. DOCKER-USER and the jump to it stay:
    /// they hold the user's rules. A chain still referenced (a bridge's
    /// rules not removed) is left, with a warning.
    pub fn remove_base(&self) -> Result<(), FirewallError> {
        for rule in [prerouting_jump(), output_jump(false), output_jump(true)] {
            self.remove(&rule)?;
        }
        self.remove_all(&Rule::new(
            FILTER,
            "FORWARD",
            Place::Insert,
            &["-j", ISOLATION_1],
        ))?;
        for (table, chain) in base_chains() {
            if chain == DOCKER_USER || !self.chain_exists(table, chain)? {
                continue;
            }
            let flushed = self.run(&["-t".into(), table.into(), "-F".into(), chain.into()]);
            let deleted = flushed
                .and_then(|_| self.run(&["-t".into(), table.into(), "-X".into(), chain.into()]));
            if let Err(e) = deleted {
                tracing::warn!(table, chain, error = %e, "cannot remove an iptables chain");
            }
        }
        Ok(())
    }

    /// A bridge network's rules (idempotent), with the FORWARD jumps kept
    /// on top afterwards, and the sysctls libnetwork sets with them:
    /// `route_localnet` on the bridge in hairpin mode, and
    /// `bridge-nf-call-iptables` when ICC is off and forwarding on.
    pub fn add_bridge(&self, rules: &BridgeRules) -> Result<(), FirewallError> {
        if rules.hairpin {
            let key = format!("net/ipv4/conf/{}/route_localnet", rules.bridge);
            if self.read_sysctl(&key)? != "1" {
                self.write_sysctl(&key, "1")?;
            }
        }
        if !rules.icc && self.read_sysctl("net/ipv4/ip_forward")? == "1" {
            let key = "net/bridge/bridge-nf-call-iptables";
            match self.read_sysctl(key) {
                Ok(v) if v == "1" => {}
                Ok(_) => self.write_sysctl(key, "1")?,
                Err(FirewallError::Sysctl { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    return Err(FirewallError::BrNetfilter)
                }
                Err(e) => return Err(e),
            }
        }
        // The other ICC form goes first, as in libnetwork's setIcc.
        self.remove(&icc_rule(&rules.bridge, !rules.icc))?;
        for rule in bridge_rules(rules) {
            self.ensure(&rule)?;
        }
        self.ensure_forward_jumps()
    }

    /// Removes a bridge network's rules; missing ones are fine.
    pub fn remove_bridge(&self, rules: &BridgeRules) -> Result<(), FirewallError> {
        for rule in bridge_rules(rules) {
            self.remove(&rule)?;
        }
        self.remove(&icc_rule(&rules.bridge, !rules.icc))
    }

    /// A published port's DNAT, ACCEPT and hairpin MASQUERADE
    /// (idempotent).
    pub fn add_port(&self, port: &PortRule) -> Result<(), FirewallError> {
        for rule in port_rules(port) {
            self.ensure(&rule)?;
        }
        Ok(())
    }

    /// Removes a published port's rules; missing ones are fine. As in
    /// libnetwork, two ports published to the same container port share
    /// their ACCEPT and MASQUERADE rules, and removing one removes them.
    pub fn remove_port(&self, port: &PortRule) -> Result<(), FirewallError> {
        for rule in port_rules(port) {
            self.remove(&rule)?;
        }
        Ok(())
    }

    /// Turns on IPv4 forwarding; when it was off, also sets the FORWARD
    /// policy to DROP, as Docker does (and turns forwarding back off if
    /// that fails). Returns whether forwarding was turned on here.
    pub fn enable_ip_forward(&self) -> Result<bool, FirewallError> {
        let key = "net/ipv4/ip_forward";
        if self.read_sysctl(key)? == "1" {
            return Ok(false);
        }
        self.write_sysctl(key, "1")?;
        let policy = ["-t", FILTER, "-P", "FORWARD", "DROP"].map(String::from);
        if let Err(e) = self.run(&policy) {
            if let Err(undo) = self.write_sysctl(key, "0") {
                tracing::error!(error = %undo, "disabling IP forwarding failed");
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Docker's embedded-DNS redirect, for a runner in a container's
    /// namespace: 127.0.0.11:53 (udp and tcp) to the resolver's sockets at
    /// 127.0.0.11:`udp_port` and `tcp_port`, answers' source port back to
    /// 53. Running it again replaces the ports (a restarted daemon binds
    /// new sockets): the two chains are flushed and refilled.
    pub fn dns_redirect(&self, udp_port: u16, tcp_port: u16) -> Result<(), FirewallError> {
        // One listing and one `iptables-restore`: every container start on
        // a user-defined network does this, and each iptables run costs
        // milliseconds (a dozen separate checks and inserts took ~60 ms).
        let listing = self.run(&["-t", NAT, "-S"].map(String::from))?;
        let script = dns_restore_script(&listing, udp_port, tcp_port);
        self.restore(&script)
    }

    /// Feeds `script` to `iptables-restore --noflush` (the tool beside
    /// `iptables`) in the runner's namespace.
    fn restore(&self, script: &str) -> Result<(), FirewallError> {
        use std::io::Write;
        let program = self.program.with_file_name(format!(
            "{}-restore",
            self.program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "iptables".into())
        ));
        let args = ["-w".to_string(), "--noflush".to_string()];
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(ns) = &self.netns {
            netns::command_in(ns, &mut cmd).map_err(FirewallError::Netns)?;
        }
        let spawn_err = |e| FirewallError::Spawn {
            program: program.clone(),
            args: args.join(" "),
            source: e,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            return Ok(());
        }
        Err(failed(
            &[program.display().to_string(), script.replace('\n', "; ")],
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim(),
        ))
    }

    /// Keeps the FORWARD chain's first rules the jumps to DOCKER-USER and
    /// then DOCKER-ISOLATION-STAGE-1 (libnetwork's `EnsureJumpRule` and
    /// `arrangeUserFilterRule`). Left alone when they already are.
    fn ensure_forward_jumps(&self) -> Result<(), FirewallError> {
        let listing = self.run(&["-t", FILTER, "-S", "FORWARD"].map(String::from))?;
        if forward_jumps_on_top(&listing) {
            return Ok(());
        }
        for chain in [ISOLATION_1, DOCKER_USER] {
            let jump = Rule::new(FILTER, "FORWARD", Place::Insert, &["-j", chain]);
            self.remove_all(&jump)?;
            self.run(&jump.add_args())?;
        }
        Ok(())
    }

    fn chain_exists(&self, table: &str, chain: &str) -> Result<bool, FirewallError> {
        let args = ["-t", table, "-S", chain].map(String::from);
        match self.output(&args)? {
            (true, _, _) => Ok(true),
            (false, Some(1), _) => Ok(false),
            (false, status, stderr) => Err(failed(&args, status, &stderr)),
        }
    }

    fn ensure_chain(&self, table: &str, chain: &str) -> Result<(), FirewallError> {
        if !self.chain_exists(table, chain)? {
            self.run(&["-t", table, "-N", chain].map(String::from))?;
        }
        Ok(())
    }

    fn exists(&self, rule: &Rule) -> Result<bool, FirewallError> {
        let args = rule.check_args();
        match self.output(&args)? {
            (true, _, _) => Ok(true),
            // 1: no such rule (or chain); 2 and up: bad arguments, lock.
            (false, Some(1), _) => Ok(false),
            (false, status, stderr) => Err(failed(&args, status, &stderr)),
        }
    }

    fn ensure(&self, rule: &Rule) -> Result<(), FirewallError> {
        if !self.exists(rule)? {
            self.run(&rule.add_args())?;
        }
        Ok(())
    }

    fn remove(&self, rule: &Rule) -> Result<(), FirewallError> {
        if self.exists(rule)? {
            self.run(&rule.delete_args())?;
        }
        Ok(())
    }

    /// Removes every copy of a rule (boundedly).
    fn remove_all(&self, rule: &Rule) -> Result<(), FirewallError> {
        for _ in 0..16 {
            if !self.exists(rule)? {
                break;
            }
            self.run(&rule.delete_args())?;
        }
        Ok(())
    }

    /// Runs iptables; its stdout, or an error with the arguments and
    /// stderr.
    fn run(&self, args: &[String]) -> Result<String, FirewallError> {
        match self.output(args)? {
            (true, _, stdout) => Ok(stdout),
            (false, status, stderr) => Err(failed(args, status, &stderr)),
        }
    }

    /// Runs `iptables -w <args>`: (success, exit code, stdout on success
    /// or stderr on failure).
    fn output(&self, args: &[String]) -> Result<(bool, Option<i32>, String), FirewallError> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-w").args(args);
        if let Some(ns) = &self.netns {
            netns::command_in(ns, &mut cmd).map_err(FirewallError::Netns)?;
        }
        tracing::debug!(program = %self.program.display(), args = %args.join(" "), "iptables");
        let out = cmd.output().map_err(|e| FirewallError::Spawn {
            program: self.program.clone(),
            args: args.join(" "),
            source: e,
        })?;
        if out.status.success() {
            Ok((
                true,
                Some(0),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ))
        } else {
            Ok((
                false,
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    }

    /// Reads `/proc/sys/<key>` in the runner's namespace, trimmed.
    fn read_sysctl(&self, key: &str) -> Result<String, FirewallError> {
        let path = Path::new("/proc/sys").join(key);
        let read = || std::fs::read_to_string(&path).map(|s| s.trim().to_string());
        self.in_ns(read)?.map_err(|source| FirewallError::Sysctl {
            key: key.replace('/', "."),
            source,
        })
    }

    /// Writes `/proc/sys/<key>` in the runner's namespace.
    fn write_sysctl(&self, key: &str, value: &str) -> Result<(), FirewallError> {
        let path = Path::new("/proc/sys").join(key);
        let write = || std::fs::write(&path, format!("{value}\n"));
        self.in_ns(write)?.map_err(|source| FirewallError::Sysctl {
            key: key.replace('/', "."),
            source,
        })
    }

    /// Runs `f` in the runner's namespace (`/proc/sys/net` shows the
    /// namespace of the thread that opens it).
    fn in_ns<T: Send>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send,
    ) -> Result<io::Result<T>, FirewallError> {
        match &self.netns {
            Some(ns) => netns::run_in(ns, f).map_err(FirewallError::Netns),
            None => Ok(f()),
        }
    }
}

/// Turns IPv4 forwarding on in the caller's namespace without touching
/// any chain (`--ip-forward` with `--iptables=false`). True if it changed.
pub fn set_ip_forward() -> Result<bool, FirewallError> {
    let path = Path::new("/proc/sys/net/ipv4/ip_forward");
    let err = |source| FirewallError::Sysctl {
        key: "net.ipv4.ip_forward".into(),
        source,
    };
    if std::fs::read_to_string(path).map_err(err)?.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(path, "1\n").map_err(err)?;
    Ok(true)
}

fn failed(args: &[String], status: Option<i32>, stderr: &str) -> FirewallError {
    FirewallError::Failed {
        args: args.join(" "),
        status: status.map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit status {c}"),
        ),
        stderr: stderr.to_string(),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod restore_tests {
    use super::*;

    #[test]
    fn dns_restore_script_makes_missing_chains_and_jumps_once() {
        let fresh = dns_restore_script("-P OUTPUT ACCEPT\n", 40000, 40001);
        assert!(fresh.starts_with("*nat\n:DOCKER_OUTPUT - [0:0]\n-F DOCKER_OUTPUT\n"));
        assert!(fresh.contains("-I OUTPUT -d 127.0.0.11 -j DOCKER_OUTPUT\n"));
        assert!(fresh.contains(
            "-I DOCKER_OUTPUT -d 127.0.0.11 -p udp --dport 53 -j DNAT --to-destination 127.0.0.11:40000\n"
        ));
        assert!(fresh.ends_with("COMMIT\n"));
        let again = dns_restore_script(
            "-N DOCKER_OUTPUT\n-N DOCKER_POSTROUTING\n-A OUTPUT -d 127.0.0.11 -j DOCKER_OUTPUT\n-A POSTROUTING -d 127.0.0.11 -j DOCKER_POSTROUTING\n",
            1,
            2,
        );
        assert!(!again.contains(":DOCKER_OUTPUT"));
        assert!(!again.contains("-I OUTPUT"));
        assert!(again.contains("-F DOCKER_POSTROUTING\n"));
        assert!(again.contains("--to-destination 127.0.0.11:2\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adds(rules: &[Rule]) -> Vec<String> {
        rules.iter().map(|r| r.add_args().join(" ")).collect()
    }

    fn bridge(icc: bool, masquerade: bool, internal: bool, hairpin: bool) -> BridgeRules {
        BridgeRules {
            bridge: "docker0".into(),
            subnet: "172.17.0.1/16".parse().unwrap(),
            icc,
            masquerade,
            internal,
            hairpin,
        }
    }

    #[test]
    fn the_base_layout_is_dockers() {
        assert_eq!(
            adds(&base_rules(false)),
            [
                "-t filter -A DOCKER-ISOLATION-STAGE-1 -j RETURN",
                "-t filter -A DOCKER-ISOLATION-STAGE-2 -j RETURN",
                "-t filter -A DOCKER-USER -j RETURN",
                "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
                "-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
            ]
        );
        assert_eq!(
            output_jump(true).add_args().join(" "),
            "-t nat -A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER"
        );
        assert_eq!(
            base_chains(),
            [
                ("nat", "DOCKER"),
                ("filter", "DOCKER"),
                ("filter", "DOCKER-ISOLATION-STAGE-1"),
                ("filter", "DOCKER-ISOLATION-STAGE-2"),
                ("filter", "DOCKER-USER"),
            ]
        );
    }

    #[test]
    fn a_default_bridge_gets_libnetworks_rules() {
        assert_eq!(
            adds(&bridge_rules(&bridge(true, true, false, false))),
            [
                "-t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
                "-t nat -I DOCKER -i docker0 -j RETURN",
                "-t filter -I FORWARD -i docker0 -o docker0 -j ACCEPT",
                "-t filter -I FORWARD -i docker0 ! -o docker0 -j ACCEPT",
                "-t filter -I FORWARD -o docker0 -j DOCKER",
                "-t filter -I FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                "-t filter -I DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
                "-t filter -I DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
            ]
        );
    }

    #[test]
    fn hairpin_mode_masquerades_local_sources_instead_of_skipping_dnat() {
        assert_eq!(
            adds(&bridge_rules(&bridge(true, true, false, true)))[..3],
            [
                "-t nat -I POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
                "-t nat -I POSTROUTING -m addrtype --src-type LOCAL -o docker0 -j MASQUERADE",
                "-t filter -I FORWARD -i docker0 -o docker0 -j ACCEPT",
            ]
        );
    }

    #[test]
    fn no_masquerade_and_no_icc_append_a_drop() {
        assert_eq!(
            adds(&bridge_rules(&bridge(false, false, false, false)))[..2],
            [
                "-t filter -A FORWARD -i docker0 -o docker0 -j DROP",
                "-t filter -I FORWARD -i docker0 ! -o docker0 -j ACCEPT",
            ]
        );
    }

    #[test]
    fn an_internal_network_drops_traffic_leaving_its_subnet() {
        assert_eq!(
            adds(&bridge_rules(&bridge(true, true, true, false))),
            [
                "-t filter -I DOCKER-ISOLATION-STAGE-1 -i docker0 ! -d 172.17.0.0/16 -j DROP",
                "-t filter -I DOCKER-ISOLATION-STAGE-1 -o docker0 ! -s 172.17.0.0/16 -j DROP",
                "-t filter -I FORWARD -i docker0 -o docker0 -j ACCEPT",
            ]
        );
    }

    #[test]
    fn a_published_port_gets_dnat_accept_and_masquerade() {
        let port = PortRule {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "172.17.0.2".parse().unwrap(),
            container_port: 80,
            bridge: "docker0".into(),
            hairpin: false,
        };
        assert_eq!(
            adds(&port_rules(&port)),
            [
                "-t nat -A DOCKER -p tcp -d 0/0 --dport 8080 -j DNAT --to-destination 172.17.0.2:80 ! -i docker0",
                "-t filter -A DOCKER ! -i docker0 -o docker0 -p tcp -d 172.17.0.2 --dport 80 -j ACCEPT",
                "-t nat -A POSTROUTING -p tcp -s 172.17.0.2 -d 172.17.0.2 --dport 80 -j MASQUERADE",
            ]
        );
        let hairpin = PortRule {
            proto: Proto::Udp,
            host_ip: Some("192.168.1.5".parse().unwrap()),
            hairpin: true,
            ..port
        };
        assert_eq!(
            port_rules(&hairpin)[0].add_args().join(" "),
            "-t nat -A DOCKER -p udp -d 192.168.1.5 --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        );
        assert_eq!(
            port_rules(&hairpin)[0].delete_args()[..4],
            ["-t", "nat", "-D", "DOCKER"]
        );
    }

    #[test]
    fn the_dns_redirect_is_libnetworks() {
        assert_eq!(
            adds(&dns_jumps()),
            [
                "-t nat -I OUTPUT -d 127.0.0.11 -j DOCKER_OUTPUT",
                "-t nat -I POSTROUTING -d 127.0.0.11 -j DOCKER_POSTROUTING",
            ]
        );
        assert_eq!(
            adds(&dns_rules(40001, 40002)),
            [
                "-t nat -I DOCKER_OUTPUT -d 127.0.0.11 -p udp --dport 53 -j DNAT --to-destination 127.0.0.11:40001",
                "-t nat -I DOCKER_POSTROUTING -s 127.0.0.11 -p udp --sport 40001 -j SNAT --to-source :53",
                "-t nat -I DOCKER_OUTPUT -d 127.0.0.11 -p tcp --dport 53 -j DNAT --to-destination 127.0.0.11:40002",
                "-t nat -I DOCKER_POSTROUTING -s 127.0.0.11 -p tcp --sport 40002 -j SNAT --to-source :53",
            ]
        );
    }

    #[test]
    fn forward_jumps_are_on_top_only_in_dockers_order() {
        let good = "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A FORWARD -o docker0 -j DOCKER\n";
        assert!(forward_jumps_on_top(good));
        let swapped =
            "-P FORWARD DROP\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A FORWARD -j DOCKER-USER\n";
        assert!(!forward_jumps_on_top(swapped));
        let below = "-P FORWARD ACCEPT\n-A FORWARD -o docker0 -j DOCKER\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n";
        assert!(!forward_jumps_on_top(below));
        assert!(!forward_jumps_on_top("-P FORWARD ACCEPT\n"));
    }

    #[test]
    fn a_missing_iptables_says_what_to_do() {
        let msg = FirewallError::NotFound.to_string();
        assert!(msg.contains("install iptables"));
        assert!(msg.contains("--iptables=false"));
    }

    #[test]
    fn failures_carry_arguments_and_stderr() {
        let err = failed(
            &["-t".into(), "nat".into(), "-N".into(), "DOCKER".into()],
            Some(1),
            "iptables: Chain already exists.",
        );
        assert_eq!(
            err.to_string(),
            "iptables -t nat -N DOCKER failed (exit status 1): iptables: Chain already exists."
        );
    }
}
