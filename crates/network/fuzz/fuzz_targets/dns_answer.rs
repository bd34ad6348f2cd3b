#![no_main]
//! Arbitrary bytes as a query to the embedded DNS server's pure core, with
//! the same fixed names as the corpus-replay unit test in `src/dns.rs`.

use std::net::{Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use network::dns::{answer, Answer, Resolver};

struct Fixed;

impl Resolver for Fixed {
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        match name {
            "web" | "web.mynet" => Some(vec![Ipv4Addr::new(172, 18, 0, 2)]),
            "db" => Some(vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 19, 0, 3)]),
            "many" => Some((1..=100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect()),
            _ => None,
        }
    }
    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String> {
        (ip == Ipv4Addr::new(172, 18, 0, 2)).then(|| "web.mynet".to_string())
    }
    fn upstreams(&self) -> Vec<SocketAddr> {
        vec![SocketAddr::from(([192, 0, 2, 1], 53))]
    }
}

fuzz_target!(|data: &[u8]| {
    if let Answer::Reply(reply) = answer(data, &Fixed) {
        // A UDP reply never exceeds what the largest client accepts.
        assert!(reply.len() <= 4096);
        assert!(reply.len() >= 12);
        // It always carries the query's id.
        assert_eq!(reply.get(..2), data.get(..2));
    }
});
