//! Bridging a hijacked client connection to a container stream, with
//! Docker's detach keys.
//!
//! `docker attach` and `docker run -it` detach with ctrl-p ctrl-q: the
//! client sends the keys as ordinary input and the daemon, watching the
//! input for the sequence, closes the connection while the container runs
//! on (moby's `copyEscapable`). Bytes that only start the sequence are held
//! back until it is clear whether the sequence follows.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Docker's default detach keys.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses Docker's detach key syntax (`ctrl-p,ctrl-q`, `a,ctrl-@`) into
/// bytes, as moby's `term.ToBytes`.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// How a bridge ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container side closed its output.
    Output,
    /// The client typed the detach keys.
    Detached,
}

/// Copies `client` input to `ctr` (watching for `keys` when not empty) and
/// `ctr` output to `client`, until the output ends or the client detaches.
pub async fn bridge<C, S>(client: C, ctr: S, keys: Vec<u8>) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(ctr);
    let output = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    let input = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut held = 0usize; // how many bytes of `keys` matched so far
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = sw.shutdown().await;
                    // Input is over; the output decides when we end.
                    std::future::pending::<()>().await;
                    return false;
                }
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n + held);
            for &b in &buf[..n] {
                if !keys.is_empty() && b == keys[held] {
                    held += 1;
                    if held == keys.len() {
                        return true;
                    }
                    continue;
                }
                if held > 0 {
                    out.extend_from_slice(&keys[..held]);
                    held = 0;
                    if b == keys[0] {
                        held = 1;
                        continue;
                    }
                }
                out.push(b);
            }
            if !out.is_empty() && sw.write_all(&out).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        // Cancel-safe: dropping the other copy loses only bytes for a
        // connection that is closing.
        _ = output => Ended::Output,
        detached = input => if detached { Ended::Detached } else { Ended::Output },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-[").unwrap(),
            vec![b'a', 0, 27]
        );
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[tokio::test]
    async fn the_sequence_detaches_and_other_input_passes() {
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (ctr, mut ctr_peer) = tokio::io::duplex(1024);
        let task = tokio::spawn(bridge(client, ctr, vec![16, 17]));
        // A lone ctrl-p followed by something else is passed on.
        client_peer.write_all(b"ab\x10c").await.unwrap();
        let mut got = [0u8; 4];
        ctr_peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ab\x10c");
        client_peer.write_all(b"\x10\x11").await.unwrap();
        assert_eq!(task.await.unwrap(), Ended::Detached);
    }

    #[tokio::test]
    async fn the_end_of_output_ends_the_bridge() {
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (ctr, mut ctr_peer) = tokio::io::duplex(1024);
        let task = tokio::spawn(bridge(client, ctr, vec![16, 17]));
        ctr_peer.write_all(b"bye").await.unwrap();
        drop(ctr_peer);
        assert_eq!(task.await.unwrap(), Ended::Output);
        let mut s = String::new();
        client_peer.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "bye");
    }
}
