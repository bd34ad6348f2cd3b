//! IPv4 address management as Docker 20.10's built-in IPAM driver does it:
//! subnets from the local default pools, one address pool per network
//! (gateway, auxiliary addresses, an optional `--ip-range`), the lowest
//! free address for each endpoint, Docker's MAC derivation and its
//! parsers. Pure: the engine gives the networks in use and the host's
//! routes, and rebuilds the pools from its records on start.
//!
//! A pool keeps the addresses it handed out in a `BTreeSet`, never a
//! bitmap of the subnet, so a `/8` costs what its endpoints cost.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;

/// Errors of address management. Messages that Docker users see are
/// Docker's own words (some capitalised, as Docker has them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Every default pool is used by a network or overlaps a host route.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoAvailablePool,
    /// An explicit subnet overlaps the subnet of another network.
    #[error("Pool overlaps with other one on this address space")]
    PoolOverlap { subnet: Ipv4Net, other: Ipv4Net },
    /// `--ip-range` is not inside `--subnet` (the docker CLI's words).
    #[error("no matching subnet for range {range}")]
    RangeOutsideSubnet { range: Ipv4Net, subnet: Ipv4Net },
    /// `--gateway` is outside the subnet.
    #[error("failed to allocate gateway ({gateway}): Requested address is out of range")]
    GatewayOutOfRange { gateway: Ipv4Addr },
    /// `--gateway` is the subnet's network or broadcast address.
    #[error("failed to allocate gateway ({gateway}): Address already in use")]
    GatewayInUse { gateway: Ipv4Addr },
    /// No gateway was given and the range has no free address (a /31 or
    /// /32 subnet, or a range made only of those).
    #[error("failed to allocate gateway (): No available addresses on this pool")]
    NoGatewayAddress,
    /// An `--aux-address` outside the subnet.
    #[error("auxiliary address: ({address}) must belong to the master pool: {subnet}")]
    AuxOutsideSubnet { address: Ipv4Addr, subnet: Ipv4Net },
    /// An `--aux-address` that is the gateway, the network or broadcast
    /// address, or given twice.
    #[error("failed to allocate secondary ip address ({address}): Address already in use")]
    AuxInUse { address: Ipv4Addr },
    /// The wanted address (`--ip`, or one being restored) is taken.
    #[error("Address already in use")]
    AddressInUse { address: Ipv4Addr },
    /// The wanted address is not in the network's subnet.
    #[error("Invalid address {address}: It does not belong to any of this network's subnets")]
    AddressOutsideSubnet { address: Ipv4Addr, subnet: Ipv4Net },
    /// Every address of the range is taken. Docker's message goes on with
    /// `: <network name> (<network id>)`, which the engine appends.
    #[error("no available IPv4 addresses on this network's address pools")]
    NoAvailableAddress { subnet: Ipv4Net },
    /// Not `a.b.c.d/n`.
    #[error("invalid CIDR address: {input}")]
    InvalidCidr { input: String },
    /// A well-formed IPv6 prefix: networks here are IPv4 only.
    #[error("IPv6 subnets are not supported: {input}")]
    Ipv6Unsupported { input: String },
    /// Not a 48-bit MAC address (Go's `net.ParseMAC` wording).
    #[error("address {input}: invalid MAC address")]
    InvalidMac { input: String },
}

/// Docker 20.10's local-scope default address pools, in the order it
/// tries them: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 cut
/// into sixteen /20s (31 pools).
pub fn default_pools() -> Vec<Ipv4Net> {
    // (base, base prefix, size of each pool), as libnetwork's ipamutils.
    const BASES: [([u8; 4], u8, u8); 7] = [
        ([172, 17, 0, 0], 16, 16),
        ([172, 18, 0, 0], 16, 16),
        ([172, 19, 0, 0], 16, 16),
        ([172, 20, 0, 0], 14, 16),
        ([172, 24, 0, 0], 14, 16),
        ([172, 28, 0, 0], 14, 16),
        ([192, 168, 0, 0], 16, 20),
    ];
    let mut pools = Vec::with_capacity(31);
    for (base, prefix, size) in BASES {
        let Ok(base) = Ipv4Net::new(Ipv4Addr::from(base), prefix) else {
            continue;
        };
        if let Ok(subnets) = base.subnets(size) {
            pools.extend(subnets);
        }
    }
    pools
}

/// Whether two subnets share an address (one contains the other's
/// network address, as libnetwork's `NetworkOverlaps`).
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first default pool that overlaps neither a network in use nor one
/// of the host's routes (`avoid`: link-scope routes and nameservers, as
/// libnetwork checks).
///
/// Docker also rotates its start index after each pick while it runs;
/// that state is not persisted, and after a restart Docker starts from
/// the first pool again, which is what this always does.
pub fn pick_subnet(in_use: &[Ipv4Net], avoid: &[Ipv4Net]) -> Result<Ipv4Net, IpamError> {
    default_pools()
        .into_iter()
        .find(|pool| !in_use.iter().chain(avoid).any(|n| overlaps(pool, n)))
        .ok_or(IpamError::NoAvailablePool)
}

/// Refuses an explicit subnet that overlaps a network in use (Docker's
/// `ErrPoolOverlap`).
pub fn check_overlap(subnet: &Ipv4Net, in_use: &[Ipv4Net]) -> Result<(), IpamError> {
    match in_use.iter().find(|n| overlaps(subnet, n)) {
        Some(other) => Err(IpamError::PoolOverlap {
            subnet: subnet.trunc(),
            other: other.trunc(),
        }),
        None => Ok(()),
    }
}

/// The addresses of one network: what Docker's IPAM keeps for a pool and
/// its sub-pool.
///
/// - The subnet's network and broadcast addresses are never handed out.
/// - Automatic allocation takes the lowest free address of the range
///   (`--ip-range`, inclusive of its own first and last address, as
///   Docker; the whole subnet without one).
/// - A wanted address may be anywhere in the subnet, also outside the
///   range (the usual way to keep static addresses apart).
/// - The gateway and auxiliary addresses are reserved for the pool's life
///   and never released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPool {
    subnet: Ipv4Net,
    ip_range: Option<Ipv4Net>,
    gateway: Ipv4Addr,
    /// Range bounds, inclusive.
    first: u32,
    last: u32,
    /// Network, broadcast, gateway, auxiliary addresses.
    fixed: BTreeSet<u32>,
    /// Addresses handed out by `allocate`/`reserve`.
    used: BTreeSet<u32>,
}

impl AddressPool {
    /// Builds the pool of a network as Docker's `docker network create`
    /// would: `subnet` is taken as its network (a host address with a
    /// prefix, like `172.20.1.5/16`, is accepted and masked, as Go's
    /// `ParseCIDR` does), `ip_range` must lie inside it, the gateway is
    /// the given one (anywhere in the subnet but its network and broadcast
    /// address) or the lowest free address of the range, and each
    /// auxiliary address must be in the subnet and free.
    pub fn new(
        subnet: Ipv4Net,
        ip_range: Option<Ipv4Net>,
        gateway: Option<Ipv4Addr>,
        aux: &[Ipv4Addr],
    ) -> Result<Self, IpamError> {
        let subnet = subnet.trunc();
        let ip_range = ip_range.map(|r| r.trunc());
        if let Some(range) = ip_range {
            if !subnet.contains(&range) {
                return Err(IpamError::RangeOutsideSubnet { range, subnet });
            }
        }
        let span = ip_range.unwrap_or(subnet);
        let mut pool = AddressPool {
            subnet,
            ip_range,
            gateway: Ipv4Addr::UNSPECIFIED,
            first: u32::from(span.network()),
            last: u32::from(span.broadcast()),
            fixed: BTreeSet::from([u32::from(subnet.network()), u32::from(subnet.broadcast())]),
            used: BTreeSet::new(),
        };
        let gateway = match gateway {
            Some(gw) if !subnet.contains(&gw) => {
                return Err(IpamError::GatewayOutOfRange { gateway: gw })
            }
            Some(gw) if pool.in_use(gw) => return Err(IpamError::GatewayInUse { gateway: gw }),
            Some(gw) => gw,
            None => pool
                .lowest_free()
                .map(Ipv4Addr::from)
                .ok_or(IpamError::NoGatewayAddress)?,
        };
        pool.fixed.insert(u32::from(gateway));
        pool.gateway = gateway;
        for &address in aux {
            if !subnet.contains(&address) {
                return Err(IpamError::AuxOutsideSubnet { address, subnet });
            }
            if !pool.fixed.insert(u32::from(address)) {
                return Err(IpamError::AuxInUse { address });
            }
        }
        Ok(pool)
    }

    /// The network's subnet (its network address and prefix).
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// The `--ip-range`, if one was given.
    pub fn ip_range(&self) -> Option<Ipv4Net> {
        self.ip_range
    }

    /// The gateway address (the bridge's address).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Hands out `want` (anywhere in the subnet) or, without one, the
    /// lowest free address of the range.
    pub fn allocate(&mut self, want: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        match want {
            Some(address) => self.reserve(address).map(|()| address),
            None => {
                let n = self.lowest_free().ok_or(IpamError::NoAvailableAddress {
                    subnet: self.subnet,
                })?;
                self.used.insert(n);
                Ok(Ipv4Addr::from(n))
            }
        }
    }

    /// Marks an address as handed out (an endpoint restored from the
    /// engine's records, or a wanted `--ip`).
    pub fn reserve(&mut self, address: Ipv4Addr) -> Result<(), IpamError> {
        if !self.subnet.contains(&address) {
            return Err(IpamError::AddressOutsideSubnet {
                address,
                subnet: self.subnet,
            });
        }
        if self.in_use(address) {
            return Err(IpamError::AddressInUse { address });
        }
        self.used.insert(u32::from(address));
        Ok(())
    }

    /// Gives an address back; `false` when it was not handed out (the
    /// gateway, auxiliary addresses and unknown addresses stay as they
    /// are).
    pub fn release(&mut self, address: Ipv4Addr) -> bool {
        self.used.remove(&u32::from(address))
    }

    /// Whether the address is taken: handed out, or the network,
    /// broadcast, gateway or an auxiliary address.
    pub fn in_use(&self, address: Ipv4Addr) -> bool {
        let n = u32::from(address);
        self.fixed.contains(&n) || self.used.contains(&n)
    }

    /// How many addresses are handed out (not counting the fixed ones).
    pub fn len_used(&self) -> usize {
        self.used.len()
    }

    /// The lowest address of the range that is neither fixed nor used.
    /// Each step skips one taken address, so this costs at most the number
    /// of taken addresses, not the size of the range.
    fn lowest_free(&self) -> Option<u32> {
        let mut candidate = self.first;
        loop {
            if candidate > self.last {
                return None;
            }
            if !self.fixed.contains(&candidate) && !self.used.contains(&candidate) {
                return Some(candidate);
            }
            candidate = candidate.checked_add(1)?;
        }
    }
}

/// Docker's MAC address for a container address: `02:42` and the four
/// address bytes (libnetwork's `GenerateMACFromIP`).
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `02:42:ac:11:00:02`: lowercase hex with colons, as Docker prints MACs.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = *mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Parses a `--mac-address` / `MacAddress` as the daemon does (Go's
/// `net.ParseMAC`): `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or
/// `aabb.ccdd.eeff`, any case. Only 48-bit addresses: the longer forms Go
/// also accepts cannot be set on a veth.
pub fn parse_mac(input: &str) -> Result<[u8; 6], IpamError> {
    let invalid = || IpamError::InvalidMac {
        input: input.to_string(),
    };
    let mut mac = [0u8; 6];
    if input.len() == 17 {
        let sep = input.as_bytes().get(2).copied().ok_or_else(invalid)?;
        if sep != b':' && sep != b'-' {
            return Err(invalid());
        }
        let mut groups = input.split(char::from(sep));
        for byte in mac.iter_mut() {
            *byte = hex_group(groups.next().ok_or_else(invalid)?, 2).ok_or_else(invalid)? as u8;
        }
        if groups.next().is_some() {
            return Err(invalid());
        }
    } else if input.len() == 14 {
        let mut groups = input.split('.');
        for pair in mac.chunks_exact_mut(2) {
            let word = hex_group(groups.next().ok_or_else(invalid)?, 4).ok_or_else(invalid)?;
            pair.copy_from_slice(&(word as u16).to_be_bytes());
        }
        if groups.next().is_some() {
            return Err(invalid());
        }
    } else {
        return Err(invalid());
    }
    Ok(mac)
}

/// Exactly `digits` hex digits.
fn hex_group(s: &str, digits: usize) -> Option<u32> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Parses `a.b.c.d/n` as Go's `net.ParseCIDR` does for IPv4 (no leading
/// zeros in the address, a decimal prefix of at most 32). The address is
/// kept as written; `.trunc()` gives the network.
pub fn parse_cidr(input: &str) -> Result<Ipv4Net, IpamError> {
    let invalid = || IpamError::InvalidCidr {
        input: input.to_string(),
    };
    let (addr, prefix) = input.split_once('/').ok_or_else(invalid)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    match addr.parse::<Ipv4Addr>() {
        Ok(addr) => Ipv4Net::new(addr, prefix).map_err(|_| invalid()),
        Err(_) if addr.parse::<Ipv6Addr>().is_ok() && prefix <= 128 => {
            Err(IpamError::Ipv6Unsupported {
                input: input.to_string(),
            })
        }
        Err(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_are_dockers_31_in_order() {
        let pools = default_pools();
        assert_eq!(pools.len(), 31);
        let expected_172: Vec<Ipv4Net> =
            (17..=31).map(|b| net(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(pools[..15], expected_172[..]);
        let expected_192: Vec<Ipv4Net> = (0..16)
            .map(|i| net(&format!("192.168.{}.0/20", i * 16)))
            .collect();
        assert_eq!(pools[15..], expected_192[..]);
    }

    #[test]
    fn pick_subnet_skips_networks_in_use_and_host_routes() {
        assert_eq!(pick_subnet(&[], &[]).unwrap(), net("172.17.0.0/16"));
        let in_use = [net("172.17.0.0/16"), net("172.18.5.0/24")];
        let avoid = [net("172.19.0.0/16"), net("10.0.0.0/8")];
        assert_eq!(pick_subnet(&in_use, &avoid).unwrap(), net("172.20.0.0/16"));
        // A larger route hides several pools.
        let avoid = [net("172.16.0.0/12")];
        assert_eq!(pick_subnet(&[], &avoid).unwrap(), net("192.168.0.0/20"));
        // A host address inside a pool (a nameserver as /32) counts too.
        let avoid = [net("172.16.0.0/12"), net("192.168.1.1/32")];
        assert_eq!(pick_subnet(&[], &avoid).unwrap(), net("192.168.16.0/20"));
    }

    #[test]
    fn pick_subnet_reports_dockers_message_when_exhausted() {
        let err = pick_subnet(&[net("172.16.0.0/12")], &[net("192.168.0.0/16")]).unwrap_err();
        assert_eq!(err, IpamError::NoAvailablePool);
        assert_eq!(
            err.to_string(),
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
        );
    }

    #[test]
    fn overlap_is_containment_either_way() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.2.0/24")));
        assert!(overlaps(&net("10.1.2.0/24"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.2.0/24"), &net("10.1.3.0/24")));
        assert!(check_overlap(&net("10.1.3.0/24"), &[net("10.1.2.0/24")]).is_ok());
        assert_eq!(
            check_overlap(&net("10.1.0.0/16"), &[net("10.1.2.0/24")])
                .unwrap_err()
                .to_string(),
            "Pool overlaps with other one on this address space"
        );
    }

    #[test]
    fn pool_gateway_defaults_to_first_host_and_allocation_follows() {
        let mut pool = AddressPool::new(net("172.17.0.0/16"), None, None, &[]).unwrap();
        assert_eq!(pool.gateway(), ip("172.17.0.1"));
        assert_eq!(pool.allocate(None).unwrap(), ip("172.17.0.2"));
        assert_eq!(pool.allocate(None).unwrap(), ip("172.17.0.3"));
        assert_eq!(pool.len_used(), 2);
        assert!(pool.in_use(ip("172.17.0.0")));
        assert!(pool.in_use(ip("172.17.255.255")));
        assert!(pool.in_use(ip("172.17.0.1")));
    }

    #[test]
    fn pool_masks_a_host_address_given_as_subnet() {
        let pool = AddressPool::new(net("172.20.1.5/16"), None, None, &[]).unwrap();
        assert_eq!(pool.subnet(), net("172.20.0.0/16"));
        assert_eq!(pool.gateway(), ip("172.20.0.1"));
    }

    #[test]
    fn pool_with_range_allocates_from_the_range_like_docker() {
        // Docker hands out the range's own first address (for-linux#170):
        // without --gateway that is the gateway.
        let mut pool =
            AddressPool::new(net("10.1.0.0/16"), Some(net("10.1.5.0/24")), None, &[]).unwrap();
        assert_eq!(pool.gateway(), ip("10.1.5.0"));
        assert_eq!(pool.allocate(None).unwrap(), ip("10.1.5.1"));
        // A wanted address outside the range but in the subnet is fine.
        assert_eq!(pool.allocate(Some(ip("10.1.9.9"))).unwrap(), ip("10.1.9.9"));

        let mut pool = AddressPool::new(
            net("10.1.0.0/16"),
            Some(net("10.1.5.0/30")),
            Some(ip("10.1.0.1")),
            &[],
        )
        .unwrap();
        let got: Vec<_> = (0..4).map(|_| pool.allocate(None).unwrap()).collect();
        assert_eq!(
            got,
            [
                ip("10.1.5.0"),
                ip("10.1.5.1"),
                ip("10.1.5.2"),
                ip("10.1.5.3")
            ]
        );
        let err = pool.allocate(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no available IPv4 addresses on this network's address pools"
        );
    }

    #[test]
    fn pool_range_at_subnet_start_skips_network_address() {
        let mut pool =
            AddressPool::new(net("10.1.0.0/16"), Some(net("10.1.0.0/24")), None, &[]).unwrap();
        assert_eq!(pool.gateway(), ip("10.1.0.1"));
        assert_eq!(pool.allocate(None).unwrap(), ip("10.1.0.2"));
    }

    #[test]
    fn pool_refuses_range_outside_subnet() {
        let err =
            AddressPool::new(net("10.1.0.0/16"), Some(net("10.2.0.0/24")), None, &[]).unwrap_err();
        assert_eq!(err.to_string(), "no matching subnet for range 10.2.0.0/24");
        let err =
            AddressPool::new(net("10.1.0.0/24"), Some(net("10.1.0.0/16")), None, &[]).unwrap_err();
        assert!(matches!(err, IpamError::RangeOutsideSubnet { .. }));
    }

    #[test]
    fn pool_checks_gateway_like_docker() {
        let err =
            AddressPool::new(net("10.1.0.0/16"), None, Some(ip("10.2.0.1")), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to allocate gateway (10.2.0.1): Requested address is out of range"
        );
        let err =
            AddressPool::new(net("10.1.0.0/16"), None, Some(ip("10.1.0.0")), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to allocate gateway (10.1.0.0): Address already in use"
        );
        let pool =
            AddressPool::new(net("10.1.0.0/16"), None, Some(ip("10.1.200.254")), &[]).unwrap();
        assert_eq!(pool.gateway(), ip("10.1.200.254"));
    }

    #[test]
    fn pool_tiny_subnets() {
        // /31 and /32 have no address once network and broadcast are
        // taken, as in Docker.
        for s in ["10.0.0.0/31", "10.0.0.7/32"] {
            assert_eq!(
                AddressPool::new(net(s), None, None, &[]).unwrap_err(),
                IpamError::NoGatewayAddress,
                "{s}"
            );
        }
        // /30: one gateway, one container.
        let mut pool = AddressPool::new(net("10.0.0.4/30"), None, None, &[]).unwrap();
        assert_eq!(pool.gateway(), ip("10.0.0.5"));
        assert_eq!(pool.allocate(None).unwrap(), ip("10.0.0.6"));
        assert!(matches!(
            pool.allocate(None),
            Err(IpamError::NoAvailableAddress { .. })
        ));
    }

    #[test]
    fn pool_handles_slash_zero_and_slash_eight_without_per_address_cost() {
        let mut pool = AddressPool::new(net("10.0.0.0/8"), None, None, &[]).unwrap();
        assert_eq!(
            pool.allocate(Some(ip("10.255.255.254"))).unwrap(),
            ip("10.255.255.254")
        );
        assert_eq!(pool.allocate(None).unwrap(), ip("10.0.0.2"));
        let mut all = AddressPool::new(net("0.0.0.0/0"), None, None, &[]).unwrap();
        assert_eq!(all.gateway(), ip("0.0.0.1"));
        assert_eq!(
            all.allocate(Some(ip("255.255.255.254"))).unwrap(),
            ip("255.255.255.254")
        );
        assert!(all.in_use(ip("255.255.255.255")));
    }

    #[test]
    fn pool_aux_addresses_are_reserved_and_checked() {
        let mut pool = AddressPool::new(
            net("192.168.5.0/24"),
            None,
            None,
            &[ip("192.168.5.2"), ip("192.168.5.3")],
        )
        .unwrap();
        assert_eq!(pool.allocate(None).unwrap(), ip("192.168.5.4"));
        assert!(!pool.release(ip("192.168.5.2")));
        assert!(pool.in_use(ip("192.168.5.2")));
        let err =
            AddressPool::new(net("192.168.5.0/24"), None, None, &[ip("192.168.6.1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "auxiliary address: (192.168.6.1) must belong to the master pool: 192.168.5.0/24"
        );
        let err =
            AddressPool::new(net("192.168.5.0/24"), None, None, &[ip("192.168.5.1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to allocate secondary ip address (192.168.5.1): Address already in use"
        );
    }

    #[test]
    fn wanted_address_errors_are_dockers() {
        let mut pool = AddressPool::new(net("172.18.0.0/16"), None, None, &[]).unwrap();
        assert_eq!(
            pool.allocate(Some(ip("172.18.0.9"))).unwrap(),
            ip("172.18.0.9")
        );
        for taken in ["172.18.0.9", "172.18.0.1", "172.18.0.0", "172.18.255.255"] {
            assert_eq!(
                pool.allocate(Some(ip(taken))).unwrap_err().to_string(),
                "Address already in use",
                "{taken}"
            );
        }
        assert_eq!(
            pool.allocate(Some(ip("172.19.0.2")))
                .unwrap_err()
                .to_string(),
            "Invalid address 172.19.0.2: It does not belong to any of this network's subnets"
        );
    }

    #[test]
    fn reserve_and_release_round_trip() {
        let mut pool = AddressPool::new(net("172.18.0.0/24"), None, None, &[]).unwrap();
        pool.reserve(ip("172.18.0.2")).unwrap();
        assert!(matches!(
            pool.reserve(ip("172.18.0.2")),
            Err(IpamError::AddressInUse { .. })
        ));
        assert_eq!(pool.allocate(None).unwrap(), ip("172.18.0.3"));
        assert!(pool.release(ip("172.18.0.2")));
        assert!(!pool.release(ip("172.18.0.2")));
        assert!(
            !pool.release(ip("172.18.0.1")),
            "the gateway is not released"
        );
        assert_eq!(pool.allocate(None).unwrap(), ip("172.18.0.2"));
    }

    /// A deterministic random walk of allocations and releases against a
    /// model: no address is handed out twice while in use, released ones
    /// come back, and automatic ones stay in the range.
    #[test]
    fn random_allocation_walk_matches_model() {
        let subnet = net("10.9.0.0/22");
        let range = net("10.9.1.0/25");
        let gateway = ip("10.9.3.254");
        let aux = [ip("10.9.1.7"), ip("10.9.0.0")];
        // 10.9.0.0 is the network address: aux must not take it.
        assert!(AddressPool::new(subnet, Some(range), Some(gateway), &aux).is_err());
        let aux = [ip("10.9.1.7"), ip("10.9.2.2")];
        let mut pool = AddressPool::new(subnet, Some(range), Some(gateway), &aux).unwrap();
        let mut held: BTreeSet<Ipv4Addr> = BTreeSet::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let r = next();
            match r % 4 {
                0 | 1 => match pool.allocate(None) {
                    Ok(a) => {
                        assert!(range.contains(&a), "{a} outside the range");
                        assert!(!aux.contains(&a) && a != gateway);
                        // The lowest free address of the range.
                        let lowest = range
                            .hosts()
                            .chain([range.network(), range.broadcast()])
                            .filter(|c| !held.contains(c) && !aux.contains(c) && *c != a)
                            .min();
                        assert!(lowest.is_none_or(|l| l > a), "{a} is not the lowest free");
                        assert!(held.insert(a), "{a} handed out twice");
                    }
                    Err(e) => {
                        assert!(matches!(e, IpamError::NoAvailableAddress { .. }));
                        assert_eq!(held.iter().filter(|a| range.contains(*a)).count(), 127);
                    }
                },
                2 => {
                    let want = Ipv4Addr::from(u32::from(subnet.network()) + (next() % 1024) as u32);
                    let free = !held.contains(&want)
                        && !aux.contains(&want)
                        && want != gateway
                        && want != subnet.network()
                        && want != subnet.broadcast();
                    assert_eq!(pool.allocate(Some(want)).is_ok(), free, "{want}");
                    if free {
                        held.insert(want);
                    }
                }
                _ => {
                    if let Some(&a) = held.iter().nth((next() as usize) % held.len().max(1)) {
                        assert!(pool.release(a));
                        held.remove(&a);
                        assert!(!pool.in_use(a));
                    }
                }
            }
            assert_eq!(pool.len_used(), held.len());
        }
    }

    #[test]
    fn mac_from_ip_is_02_42_and_the_address() {
        let mac = mac_from_ip(ip("172.17.0.2"));
        assert_eq!(mac, [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
    }

    #[test]
    fn parse_mac_accepts_gos_48_bit_forms() {
        let want = [0x02, 0x42, 0xac, 0x11, 0x00, 0xfe];
        for s in ["02:42:ac:11:00:fe", "02-42-AC-11-00-FE", "0242.ac11.00fe"] {
            assert_eq!(parse_mac(s).unwrap(), want, "{s}");
        }
        for s in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:fe:01",
            "02:42-ac:11:00:fe",
            "02:42:ac:11:00:g0",
            "2:42:ac:11:00:fe0",
            "0242.ac11.00f",
            "02:42:ac:11:00:+e",
            " 02:42:ac:11:00:fe",
            "0242ac1100fe",
        ] {
            assert_eq!(
                parse_mac(s).unwrap_err().to_string(),
                format!("address {s}: invalid MAC address"),
                "{s}"
            );
        }
    }

    #[test]
    fn parse_cidr_follows_go() {
        let n = parse_cidr("172.20.1.5/16").unwrap();
        assert_eq!(n.addr(), ip("172.20.1.5"));
        assert_eq!(n.trunc(), net("172.20.0.0/16"));
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap(), net("0.0.0.0/0"));
        assert_eq!(parse_cidr("10.0.0.1/032").unwrap(), net("10.0.0.1/32"));
        for s in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "010.0.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8 ",
            "/8",
            "",
        ] {
            assert_eq!(
                parse_cidr(s).unwrap_err().to_string(),
                format!("invalid CIDR address: {s}"),
                "{s}"
            );
        }
        assert!(matches!(
            parse_cidr("fd00::/64"),
            Err(IpamError::Ipv6Unsupported { .. })
        ));
    }
}
