//! Container networking, below the engine: the kernel work (network
//! namespaces, links, addresses, routes, firewall rules) and the two socket
//! services a bridge network needs (the port proxy and the embedded DNS).
//!
//! # Layout
//! - [`netns`]: persistent network namespaces bind-mounted on a file, and
//!   running code inside one.
//! - [`link`]: bridges, veth pairs, addresses and routes over rtnetlink
//!   (`netlink-packet-route`, a sync socket).
//! - [`ipam`]: subnets from Docker's default pools, address allocation,
//!   Docker's MAC derivation; pure.
//! - [`firewall`]: Docker's iptables chain layout (`DOCKER`, `DOCKER-USER`,
//!   isolation chains), NAT, port DNAT, the DNS redirect in a container.
//! - [`portmap`]: host port allocation and the userland proxy processes.
//! - [`proxy`]: the `balena-engine-proxy` applet (docker-proxy's command
//!   line).
//! - [`dns`]: the embedded DNS server at 127.0.0.11.
//!
//! Sync kernel code; async only in [`dns`] (sockets on the daemon's tokio).
//! Must not: know about containers or the engine's records; touch anything
//! but the namespaces, links and chains it is told to.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod portmap;
pub mod proxy;
