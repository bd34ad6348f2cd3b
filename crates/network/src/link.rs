//! Bridges, veth pairs, addresses and routes over rtnetlink: a blocking
//! `netlink_sys::Socket` speaking `netlink-packet-route` messages.
//!
//! Everything works in the network namespace of the calling thread (a
//! [`Handle`] binds its socket there); code for another namespace runs
//! through [`crate::netns::run_in`]. The free functions open one handle per
//! call; hold a [`Handle`] for several operations in a row.
//!
//! Docker's behaviour is the reference (libnetwork's bridge driver): a new
//! bridge gets a random MAC and IPv6 router advertisements off; an existing
//! bridge keeps its name and has its IPv4 address reconciled; an endpoint is
//! a veth pair with the host side on the bridge and the other side in the
//! container's namespace.

use std::fs::File;
use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use netlink_packet_core::{
    DecodeError, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::netns::{self, NetnsError};

/// Longest interface name the kernel takes (`IFNAMSIZ` less the NUL).
const IFNAME_MAX: usize = 15;

/// Errors of link operations. `op` says what was asked of the kernel and
/// `name` which link it concerned.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The rtnetlink socket could not be opened.
    #[error("open an rtnetlink socket")]
    Socket(#[source] io::Error),
    /// The kernel refused a request (the source is its errno) or the socket
    /// failed.
    #[error("{op} {name}")]
    Request {
        op: &'static str,
        name: String,
        #[source]
        source: io::Error,
    },
    /// An answer from the kernel could not be decoded.
    #[error("decode the kernel's answer to {op} {name}")]
    Decode {
        op: &'static str,
        name: String,
        #[source]
        source: DecodeError,
    },
    /// No link of that name in this namespace.
    #[error("link {name} not found")]
    NotFound { name: String },
    /// The bridge name is taken by a link of another kind (Docker's words).
    #[error("existing interface {name} is not a bridge")]
    NotBridge { name: String },
    /// A name the kernel would refuse (empty, too long, `/`, `:` or space).
    #[error("invalid interface name {name:?}")]
    InvalidName { name: String },
    /// The endpoint's namespace could not be opened or entered (errors of
    /// the work done inside it are returned as they are).
    #[error("the endpoint's network namespace")]
    Netns(#[source] NetnsError),
    /// No random bytes for a MAC or an interface name.
    #[error("read random bytes")]
    Random(#[source] io::Error),
}

impl LinkError {
    /// The errno the kernel answered with, if this is a refused request.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            LinkError::Request { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// What [`Handle::link`] reports about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND`: "bridge", "veth", ...; None for plain devices.
    pub kind: Option<String>,
    /// Index of the bridge (or other master) the link is a port of.
    pub master: Option<u32>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Hairpin mode, for a bridge port.
    pub hairpin: Option<bool>,
}

/// An endpoint: a veth pair between a bridge and a container's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Host side, on the bridge (Docker: `veth` + 7 hex digits, see
    /// [`random_veth_name`]).
    pub host_ifname: String,
    /// The bridge, in the calling thread's namespace.
    pub bridge: String,
    /// The container's namespace file.
    pub netns: PathBuf,
    /// Name inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    pub mac: [u8; 6],
    /// The container's address and the network's prefix length.
    pub addr: Ipv4Net,
    /// Default route via this gateway; None for internal networks and
    /// secondary interfaces.
    pub gateway: Option<Ipv4Addr>,
    /// MTU of both ends; None keeps the kernel's default (1500).
    pub mtu: Option<u32>,
    /// Hairpin mode on the bridge port (Docker sets it when the userland
    /// proxy is off, so a container reaches itself through a published
    /// port).
    pub hairpin: bool,
}

/// An rtnetlink socket bound in the namespace of the thread that made it;
/// it stays in that namespace whichever thread uses it later.
pub struct Handle {
    socket: Socket,
    seq: u32,
}

impl Handle {
    /// Opens a socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, LinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Socket)?;
        socket.bind_auto().map_err(LinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Socket)?;
        Ok(Handle { socket, seq: 0 })
    }

    /// The link called `name`, or None.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, LinkError> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, "look up link", name) {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(&l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of the link called `name`, or None.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, LinkError> {
        Ok(self.link(name)?.map(|l| l.index))
    }

    /// Every link of this namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, LinkError> {
        let answers = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "list links",
            "in this namespace",
        )?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect())
    }

    /// Makes sure the bridge `name` exists with `addr` (the gateway address
    /// and the network's prefix), the given MTU, and is up; returns its
    /// index.
    ///
    /// As libnetwork: a missing bridge is created with a random MAC (so it
    /// does not change as ports come and go) and IPv6 router
    /// advertisements off. On an existing bridge the IPv4 address is
    /// reconciled, not refused: if `addr` is not there, the address inside
    /// `addr`'s network (else the first one) is replaced by `addr`. The
    /// `--bip` mismatch error Docker prints is the engine's decision, made
    /// with [`Handle::addresses`] before calling this. A link of that name
    /// that is not a bridge is [`LinkError::NotBridge`].
    pub fn ensure_bridge(
        &mut self,
        name: &str,
        mtu: Option<u32>,
        addr: Ipv4Net,
    ) -> Result<u32, LinkError> {
        let link = match self.link(name)? {
            Some(link) => link,
            None => {
                self.create_bridge(name, mtu)?;
                disable_accept_ra(name);
                self.link(name)?.ok_or_else(|| LinkError::NotFound {
                    name: name.to_string(),
                })?
            }
        };
        if link.kind.as_deref() != Some("bridge") {
            return Err(LinkError::NotBridge {
                name: name.to_string(),
            });
        }
        if let Some(mtu) = mtu {
            if link.mtu != Some(mtu) {
                self.set_link(
                    link.index,
                    vec![LinkAttribute::Mtu(mtu)],
                    "set mtu of",
                    name,
                )?;
            }
        }
        let current = self.addresses_of(link.index, name)?;
        if !current.contains(&addr) {
            if let Some(old) = select_replaced(&current, addr) {
                self.address(false, link.index, old, name)?;
            }
            self.address(true, link.index, addr, name)?;
        }
        self.set_up_index(link.index, name)?;
        Ok(link.index)
    }

    fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::Address(random_mac()?.to_vec()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "create bridge",
            name,
        ) {
            // Made by someone else in between: checked like an existing one.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other.map(drop),
        }
    }

    /// The IPv4 addresses of the link called `name`.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<Ipv4Net>, LinkError> {
        let index = self.require_index(name)?;
        self.addresses_of(index, name)
    }

    fn addresses_of(&mut self, index: u32, name: &str) -> Result<Vec<Ipv4Net>, LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let answers = self.request(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
            "list addresses of",
            name,
        )?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => ipv4_of_address(a),
                _ => None,
            })
            .collect())
    }

    /// Adds (`add`) or deletes an IPv4 address of a link.
    fn address(
        &mut self,
        add: bool,
        index: u32,
        addr: Ipv4Net,
        name: &str,
    ) -> Result<(), LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = addr.prefix_len();
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(addr.addr().into()));
        msg.attributes
            .push(AddressAttribute::Address(addr.addr().into()));
        if add {
            if addr.prefix_len() < 31 {
                msg.attributes
                    .push(AddressAttribute::Broadcast(addr.broadcast()));
            }
            self.request(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                "add address to",
                name,
            )?;
        } else {
            self.request(
                RouteNetlinkMessage::DelAddress(msg),
                0,
                "delete address of",
                name,
            )?;
        }
        Ok(())
    }

    /// Brings the link called `name` up.
    pub fn set_up(&mut self, name: &str) -> Result<(), LinkError> {
        let index = self.require_index(name)?;
        self.set_up_index(index, name)
    }

    fn set_up_index(&mut self, index: u32, name: &str) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0, "bring up", name)
            .map(drop)
    }

    fn set_link(
        &mut self,
        index: u32,
        attributes: Vec<LinkAttribute>,
        op: &'static str,
        name: &str,
    ) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes = attributes;
        self.request(RouteNetlinkMessage::SetLink(msg), 0, op, name)
            .map(drop)
    }

    /// Deletes the link called `name`; Ok when there is none. Deleting one
    /// end of a veth pair deletes the other.
    pub fn delete_link(&mut self, name: &str) -> Result<(), LinkError> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0, "delete link", name) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Creates the endpoint `spec` describes (see [`attach_endpoint`]).
    pub fn attach_endpoint(&mut self, spec: &EndpointSpec) -> Result<(), LinkError> {
        check_name(&spec.host_ifname)?;
        check_name(&spec.ifname)?;
        let bridge = self.require_index(&spec.bridge)?;
        let ns = netns::open(&spec.netns).map_err(LinkError::Netns)?;
        // The peer is made directly in the container's namespace under its
        // final name, with its MAC and MTU: nothing to move or rename, and
        // no temporary name in the host's namespace.
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.ifname.clone()));
        peer.attributes
            .push(LinkAttribute::Address(spec.mac.to_vec()));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(spec.host_ifname.clone()));
        if let Some(mtu) = spec.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "create veth pair",
            &format!(
                "{} ({} in {})",
                spec.host_ifname,
                spec.ifname,
                spec.netns.display()
            ),
        )?;
        drop(ns);
        let result = self.finish_endpoint(spec, bridge);
        if result.is_err() {
            if let Err(e) = self.delete_link(&spec.host_ifname) {
                tracing::warn!(
                    link = %spec.host_ifname,
                    error = %e,
                    "removing a half-made endpoint failed"
                );
            }
        }
        result
    }

    fn finish_endpoint(&mut self, spec: &EndpointSpec, bridge: u32) -> Result<(), LinkError> {
        let name = spec.host_ifname.as_str();
        let index = self.require_index(name)?;
        self.set_link(
            index,
            vec![LinkAttribute::Controller(bridge)],
            "add to the bridge",
            name,
        )?;
        if spec.hairpin {
            self.set_hairpin(index, name)?;
        }
        self.set_up_index(index, name)?;
        netns::run_in(&spec.netns, || configure_container_side(spec)).map_err(LinkError::Netns)?
    }

    /// Turns on hairpin mode of a bridge port (`ip link set X type
    /// bridge_slave hairpin on`).
    fn set_hairpin(&mut self, index: u32, name: &str) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            0,
            "set hairpin mode on",
            name,
        )
        .map(drop)
    }

    /// Destinations of the main table's IPv4 routes, default route left
    /// out (as Docker's overlap check, which reads the same list).
    pub fn ipv4_routes(&mut self) -> Result<Vec<Ipv4Net>, LinkError> {
        Ok(self
            .main_routes()?
            .iter()
            .filter_map(|r| match route_destination(r) {
                Some(net) if net.prefix_len() > 0 => Some(net),
                _ => None,
            })
            .collect())
    }

    /// The gateway of the main table's IPv4 default route, if any.
    pub fn default_route(&mut self) -> Result<Option<Ipv4Addr>, LinkError> {
        Ok(self.main_routes()?.iter().find_map(|r| {
            if r.header.destination_prefix_length != 0 {
                return None;
            }
            r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(RouteAddress::Inet(gw)) => Some(*gw),
                _ => None,
            })
        }))
    }

    fn main_routes(&mut self) -> Result<Vec<RouteMessage>, LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let answers = self.request(
            RouteNetlinkMessage::GetRoute(msg),
            NLM_F_DUMP,
            "list IPv4 routes",
            "of the main table",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) if route_table(&r) == 254 => Some(r),
                _ => None,
            })
            .collect())
    }

    fn add_default_route(
        &mut self,
        gateway: Ipv4Addr,
        index: u32,
        name: &str,
    ) -> Result<(), LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "add default route via",
            &format!("{gateway} dev {name}"),
        )
        .map(drop)
    }

    fn require_index(&mut self, name: &str) -> Result<u32, LinkError> {
        self.link_index(name)?.ok_or_else(|| LinkError::NotFound {
            name: name.to_string(),
        })
    }

    /// Sends one request and collects the answers: every message of a
    /// dump (`NLM_F_DUMP` in `flags`) up to `NLMSG_DONE`, or the reply and
    /// the acknowledgement of anything else (`NLM_F_ACK` is always asked
    /// for). A negative errno in the acknowledgement is the error.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        name: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        let io_err = |source: io::Error| LinkError::Request {
            op,
            name: name.to_string(),
            source,
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        send_all(&self.socket, &buf).map_err(io_err)?;

        let mut answers = Vec::new();
        loop {
            let datagram = recv_datagram(&self.socket).map_err(io_err)?;
            let mut offset = 0;
            while offset < datagram.len() {
                let bytes = &datagram[offset..];
                let length = NetlinkBuffer::new_checked(bytes)
                    .map_err(|source| LinkError::Decode {
                        op,
                        name: name.to_string(),
                        source,
                    })?
                    .length() as usize;
                let Some(one) = bytes.get(..length) else {
                    return Err(io_err(io::Error::from(io::ErrorKind::UnexpectedEof)));
                };
                offset += length.max(1).next_multiple_of(4);
                let message =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(one).map_err(|source| {
                        LinkError::Decode {
                            op,
                            name: name.to_string(),
                            source,
                        }
                    })?;
                if message.header.sequence_number != seq {
                    // An answer to an earlier request that failed midway.
                    continue;
                }
                match message.payload {
                    NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                    NetlinkPayload::Error(e) if e.code.is_none() => return Ok(answers),
                    NetlinkPayload::Error(e) => return Err(io_err(e.to_io())),
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(io_err(io::Error::from_raw_os_error(-done.code)))
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    _ => {}
                }
            }
        }
    }
}

/// Inside the container's namespace: address, up, default route.
fn configure_container_side(spec: &EndpointSpec) -> Result<(), LinkError> {
    let mut handle = Handle::new()?;
    let index = handle.require_index(&spec.ifname)?;
    handle.address(true, index, spec.addr, &spec.ifname)?;
    handle.set_up_index(index, &spec.ifname)?;
    if let Some(gateway) = spec.gateway {
        handle.add_default_route(gateway, index, &spec.ifname)?;
    }
    Ok(())
}

fn send_all(socket: &Socket, buf: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(buf, 0) {
            Ok(n) if n == buf.len() => return Ok(()),
            Ok(_) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One whole datagram, however large (peeked for its size first).
fn recv_datagram(socket: &Socket) -> io::Result<Vec<u8>> {
    loop {
        let mut probe = Vec::new();
        let size = match socket.recv(&mut probe, libc::MSG_PEEK | libc::MSG_TRUNC) {
            Ok(size) => size,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut buf = Vec::with_capacity(size.max(1));
        match socket.recv(&mut buf, 0) {
            Ok(_) => return Ok(buf),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn link_from(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        master: None,
        mtu: None,
        mac: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        hairpin: None,
    };
    for attribute in &msg.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Controller(master) => link.master = Some(*master),
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::Address(mac) => link.mac = <[u8; 6]>::try_from(mac.as_slice()).ok(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => link.kind = Some(kind.to_string()),
                        LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                            link.hairpin = port.iter().find_map(|p| match p {
                                InfoBridgePort::HairpinMode(on) => Some(*on),
                                _ => None,
                            });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn ipv4_of_address(msg: &AddressMessage) -> Option<Ipv4Net> {
    let ip = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    let ip = ip.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        })
    })?;
    Ipv4Net::new(ip, msg.header.prefix_len).ok()
}

fn route_table(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

fn route_destination(msg: &RouteMessage) -> Option<Ipv4Net> {
    let dst = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })?;
    Ipv4Net::new(dst, msg.header.destination_prefix_length).ok()
}

/// The address libnetwork replaces when the bridge lacks `wanted`: the
/// first inside `wanted`'s network, else the first.
fn select_replaced(current: &[Ipv4Net], wanted: Ipv4Net) -> Option<Ipv4Net> {
    current
        .iter()
        .find(|a| wanted.contains(&a.addr()))
        .or_else(|| current.first())
        .copied()
}

/// Docker turns off IPv6 router advertisements on the bridges it creates;
/// best effort, as there (no IPv6 leaves no file).
fn disable_accept_ra(bridge: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{bridge}/accept_ra");
    if let Err(e) = std::fs::write(&path, b"0\n") {
        tracing::debug!(%path, error = %e, "cannot disable IPv6 router advertisements");
    }
}

/// Whether the kernel would take `name` as an interface name.
fn check_name(name: &str) -> Result<(), LinkError> {
    let valid = !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0');
    if valid {
        Ok(())
    } else {
        Err(LinkError::InvalidName {
            name: name.to_string(),
        })
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], LinkError> {
    let mut bytes = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(LinkError::Random)?;
    Ok(bytes)
}

/// A random locally administered unicast MAC, as libnetwork gives bridges.
fn random_mac() -> Result<[u8; 6], LinkError> {
    let mut mac = random_bytes::<6>()?;
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}

/// A fresh host-side name as Docker makes them: `veth` and 7 hex digits.
pub fn random_veth_name() -> Result<String, LinkError> {
    let bytes = random_bytes::<4>()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("veth{}", &hex[..7]))
}

/// [`Handle::ensure_bridge`] in the calling thread's namespace.
pub fn ensure_bridge(name: &str, mtu: Option<u32>, addr: Ipv4Net) -> Result<u32, LinkError> {
    Handle::new()?.ensure_bridge(name, mtu, addr)
}

/// The IPv4 addresses of the bridge (or any link) `name`.
pub fn bridge_addrs(name: &str) -> Result<Vec<Ipv4Net>, LinkError> {
    Handle::new()?.addresses(name)
}

/// The IPv4 addresses of the link `name`.
pub fn addresses(name: &str) -> Result<Vec<Ipv4Net>, LinkError> {
    Handle::new()?.addresses(name)
}

/// [`Handle::delete_link`] in the calling thread's namespace.
pub fn delete_link(name: &str) -> Result<(), LinkError> {
    Handle::new()?.delete_link(name)
}

/// Whether a link called `name` exists in the calling thread's namespace.
pub fn link_exists(name: &str) -> Result<bool, LinkError> {
    Ok(Handle::new()?.link_index(name)?.is_some())
}

/// The index of the link `name`, or None.
pub fn link_index(name: &str) -> Result<Option<u32>, LinkError> {
    Handle::new()?.link_index(name)
}

/// What is known of the link `name`, or None.
pub fn link(name: &str) -> Result<Option<Link>, LinkError> {
    Handle::new()?.link(name)
}

/// Brings the link `name` up.
pub fn set_up(name: &str) -> Result<(), LinkError> {
    Handle::new()?.set_up(name)
}

/// Creates an endpoint: a veth pair, host side `host_ifname` on the bridge
/// (hairpin when asked) and up, the other side in `spec.netns` as
/// `spec.ifname` with its MAC, MTU and address, up, and the default route
/// via `spec.gateway`. Runs in the calling thread's namespace, which must
/// hold the bridge. On failure whatever was made is deleted.
pub fn attach_endpoint(spec: &EndpointSpec) -> Result<(), LinkError> {
    Handle::new()?.attach_endpoint(spec)
}

/// Deletes the endpoint's host side (its peer goes with it); Ok when it is
/// already gone.
pub fn detach_endpoint(host_ifname: &str) -> Result<(), LinkError> {
    Handle::new()?.delete_link(host_ifname)
}

/// Destinations of the host's IPv4 routes (main table, default route left
/// out), for choosing subnets that do not overlap them.
pub fn ipv4_routes() -> Result<Vec<Ipv4Net>, LinkError> {
    Handle::new()?.ipv4_routes()
}

/// The gateway of the calling thread's namespace's default route.
pub fn default_route() -> Result<Option<Ipv4Addr>, LinkError> {
    Handle::new()?.default_route()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn interface_names_follow_the_kernels_rules() {
        assert!(check_name("eth0").is_ok());
        assert!(check_name("br-0123456789ab").is_ok());
        assert!(check_name("abcdefghijklmnop").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("..").is_err());
    }

    #[test]
    fn the_replaced_address_is_the_one_in_the_wanted_network() {
        let current = [net("192.168.9.1/24"), net("172.17.0.5/16")];
        assert_eq!(
            select_replaced(&current, net("172.17.0.1/16")),
            Some(net("172.17.0.5/16"))
        );
        assert_eq!(
            select_replaced(&current, net("10.0.0.1/8")),
            Some(net("192.168.9.1/24"))
        );
        assert_eq!(select_replaced(&[], net("10.0.0.1/8")), None);
    }

    #[test]
    fn veth_names_are_docker_shaped() {
        let name = random_veth_name().unwrap();
        assert_eq!(name.len(), 11);
        assert!(name.starts_with("veth"));
        assert!(name[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(check_name(&name).is_ok());
    }

    #[test]
    fn random_macs_are_local_unicast() {
        for _ in 0..16 {
            let mac = random_mac().unwrap();
            assert_eq!(mac[0] & 0x01, 0);
            assert_eq!(mac[0] & 0x02, 0x02);
        }
    }

    #[test]
    fn a_link_message_is_summarised() {
        let mut msg = LinkMessage::default();
        msg.header.index = 7;
        msg.header.flags = LinkFlags::Up;
        msg.attributes = vec![
            LinkAttribute::IfName("veth1234567".into()),
            LinkAttribute::Controller(3),
            LinkAttribute::Mtu(1400),
            LinkAttribute::Address(vec![2, 66, 172, 17, 0, 2]),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                    true,
                )])),
            ]),
        ];
        assert_eq!(
            link_from(&msg),
            Link {
                index: 7,
                name: "veth1234567".into(),
                kind: Some("veth".into()),
                master: Some(3),
                mtu: Some(1400),
                mac: Some([2, 66, 172, 17, 0, 2]),
                up: true,
                hairpin: Some(true),
            }
        );
    }

    #[test]
    fn a_route_in_a_high_table_is_not_in_main() {
        let mut msg = RouteMessage::default();
        msg.header.table = 252;
        msg.attributes.push(RouteAttribute::Table(1000));
        assert_eq!(route_table(&msg), 1000);
        msg.attributes.clear();
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        assert_eq!(route_table(&msg), 254);
    }
}
