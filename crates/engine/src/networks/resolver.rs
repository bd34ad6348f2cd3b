//! What the embedded DNS answers for one container: names, aliases, short
//! ids and `--link` aliases of the containers that share a user-defined
//! network with it (also as `name.network`); everything else goes to the
//! upstream servers, except for containers only on internal networks.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Weak;

use super::{lock, Networks};

pub(super) struct CtrResolver {
    nets: Weak<Networks>,
    cid: String,
    upstreams: Vec<SocketAddr>,
}

impl CtrResolver {
    pub(super) fn new(nets: Weak<Networks>, cid: String, upstreams: Vec<SocketAddr>) -> Self {
        Self {
            nets,
            cid,
            upstreams,
        }
    }
}

impl network::dns::Resolver for CtrResolver {
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let nets = self.nets.upgrade()?;
        let inner = lock(&nets.inner);
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for n in inner.nets.values() {
            if n.rec.is_predefined() {
                continue;
            }
            let Some(me) = n.eps.get(&self.cid) else {
                continue;
            };
            let suffix = format!(".{}", n.rec.name.to_ascii_lowercase());
            let base = name.strip_suffix(suffix.as_str()).unwrap_or(name);
            // A link alias names its target on this network.
            let target = me
                .links
                .iter()
                .find(|(_, alias)| alias.eq_ignore_ascii_case(base))
                .map(|(t, _)| t.as_str())
                .unwrap_or(base);
            for ep in n.eps.values() {
                let hit = ep.name.eq_ignore_ascii_case(target)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(target));
                if hit && !out.contains(&ep.ip) {
                    out.push(ep.ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String> {
        let nets = self.nets.upgrade()?;
        let inner = lock(&nets.inner);
        inner
            .nets
            .values()
            .filter(|n| !n.rec.is_predefined() && n.eps.contains_key(&self.cid))
            .find_map(|n| {
                n.eps
                    .values()
                    .find(|e| e.ip == ip)
                    .map(|e| format!("{}.{}", e.name, n.rec.name))
            })
    }

    fn upstreams(&self) -> Vec<SocketAddr> {
        let Some(nets) = self.nets.upgrade() else {
            return Vec::new();
        };
        let inner = lock(&nets.inner);
        // Only on internal networks: no way out, so nothing is forwarded.
        let mine: Vec<bool> = inner
            .nets
            .values()
            .filter(|n| n.eps.contains_key(&self.cid))
            .map(|n| n.rec.internal)
            .collect();
        if !mine.is_empty() && mine.iter().all(|i| *i) {
            return Vec::new();
        }
        self.upstreams.clone()
    }
}
