//! A fault-injecting TCP proxy for pulls: one request per connection
//! (`Connection: close` forced), optionally cutting every connection after
//! some bytes of response, stripping `Range` headers (so the registry
//! answers 200), and throttling. Counts the response bytes it forwards.
//! Listens on 127.0.0.1 only; its threads end when it is dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Faults {
    /// Close each connection after this many response bytes (0: never).
    pub cut_after: u64,
    /// Remove `Range` request headers.
    pub strip_range: bool,
    /// Sleep this long after each 64 KiB forwarded.
    pub delay_per_64k: Duration,
}

pub struct Proxy {
    pub port: u16,
    pub forwarded: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(target: u16, faults: Faults) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let forwarded = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, c, s) = (forwarded.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = conn else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (f, faults) = (f.clone(), faults.clone());
                std::thread::spawn(move || {
                    let _ = handle(client, target, &faults, &f);
                });
            }
        });
        Proxy {
            port,
            forwarded,
            connections,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut client: TcpStream,
    target: u16,
    faults: &Faults,
    forwarded: &AtomicU64,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Read the request head.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut b)? == 0 {
            return Ok(());
        }
        // A TLS ClientHello: this proxy speaks plain HTTP only, so refuse
        // at once (the client then falls back to HTTP, as for a registry).
        if head.is_empty() && b[0] == 0x16 {
            return Ok(());
        }
        head.push(b[0]);
        if head.len() > 64 << 10 {
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut out = String::new();
    let mut body_len = 0usize;
    for line in text.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || (faults.strip_range && lower.starts_with("range:")) {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            body_len = v.trim().parse().unwrap_or(0);
        }
        if line.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(("127.0.0.1", target))?;
    server.write_all(out.as_bytes())?;
    if body_len > 0 {
        let mut body = vec![0u8; body_len];
        client.read_exact(&mut body)?;
        server.write_all(&body)?;
    }
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut n = n;
        if faults.cut_after > 0 && sent + n as u64 > faults.cut_after {
            n = (faults.cut_after - sent) as usize;
        }
        client.write_all(&buf[..n])?;
        sent += n as u64;
        forwarded.fetch_add(n as u64, Ordering::Relaxed);
        if faults.cut_after > 0 && sent >= faults.cut_after {
            break;
        }
        if !faults.delay_per_64k.is_zero() {
            std::thread::sleep(faults.delay_per_64k);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    Ok(())
}
