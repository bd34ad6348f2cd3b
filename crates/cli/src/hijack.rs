//! The attached side of `run`, `start -a`, `attach` and `exec`: copying
//! a hijacked connection to our stdout/stderr (demultiplexed unless the
//! container has a TTY), stdin to it, the local terminal in raw mode,
//! detach keys, TTY resizes and signal forwarding.

use std::io::Write;
use std::os::fd::AsFd;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Client, Hijacked};

/// Errors while streaming.
#[derive(Debug, thiserror::Error)]
pub enum HijackError {
    #[error("error reading from the daemon: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0}")]
    System(String),
    #[error("unable to set IO streams as raw terminal: {0}")]
    Raw(#[source] nix::Error),
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The daemon closed the output.
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// The 8-byte-header stream format of non-TTY attach and logs: stream
/// type (0 stdin, 1 stdout, 2 stderr, 3 system error), three zero bytes,
/// a big-endian u32 length. A push parser: frames may arrive split.
#[derive(Debug, Default)]
pub struct Demux {
    header: [u8; 8],
    have: usize,
    stream: u8,
    remaining: u32,
}

impl Demux {
    /// Feeds bytes; calls `out(stream, payload)` per payload piece.
    pub fn feed(&mut self, mut data: &[u8], out: &mut dyn FnMut(u8, &[u8])) {
        while !data.is_empty() {
            if self.remaining == 0 {
                let take = (8 - self.have).min(data.len());
                self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if self.have < 8 {
                    return;
                }
                self.have = 0;
                self.stream = self.header[0];
                self.remaining = u32::from_be_bytes([
                    self.header[4],
                    self.header[5],
                    self.header[6],
                    self.header[7],
                ]);
                continue;
            }
            let take = (self.remaining as usize).min(data.len());
            out(self.stream, &data[..take]);
            self.remaining -= take as u32;
            data = &data[take..];
        }
    }
}

/// Writes demultiplexed output; a system-error frame becomes an error
/// (its text capped at 64 KiB).
pub struct DemuxWriter {
    demux: Demux,
    system: Vec<u8>,
}

impl DemuxWriter {
    pub fn new() -> Self {
        Self {
            demux: Demux::default(),
            system: Vec::new(),
        }
    }

    pub fn write(&mut self, data: &[u8]) {
        let system = &mut self.system;
        self.demux.feed(data, &mut |stream, payload| match stream {
            2 => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(payload);
                let _ = e.flush();
            }
            3 => {
                let room = (64usize << 10).saturating_sub(system.len());
                system.extend_from_slice(&payload[..payload.len().min(room)]);
            }
            _ => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(payload);
                let _ = o.flush();
            }
        });
    }

    pub fn finish(self) -> Result<(), HijackError> {
        if self.system.is_empty() {
            Ok(())
        } else {
            Err(HijackError::System(
                String::from_utf8_lossy(&self.system).into_owned(),
            ))
        }
    }
}

fn write_raw(data: &[u8]) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(data);
    let _ = o.flush();
}

/// Watches stdin for the detach sequence (docker's `EscapeProxy`): bytes
/// that start the sequence are held back until it is complete (detach) or
/// broken (they are passed on).
#[derive(Debug)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Returns the bytes to forward and whether the sequence completed.
    pub fn filter(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            out.extend_from_slice(data);
            return (out, false);
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// The local terminal in raw mode; restored when dropped.
pub struct RawTerminal {
    saved: Vec<(i32, nix::sys::termios::Termios)>,
}

impl RawTerminal {
    /// Puts stdin (and stdout, when it is a terminal) in raw mode.
    pub fn enable() -> Result<Self, HijackError> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        use std::io::IsTerminal;
        let mut saved = Vec::new();
        let mut guard = RawTerminal { saved: Vec::new() };
        for fd in [0, 1] {
            let is_term = match fd {
                0 => std::io::stdin().is_terminal(),
                _ => std::io::stdout().is_terminal(),
            };
            if !is_term {
                continue;
            }
            let t = if fd == 0 {
                tcgetattr(std::io::stdin().as_fd())
            } else {
                tcgetattr(std::io::stdout().as_fd())
            }
            .map_err(HijackError::Raw)?;
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            saved.push((fd, t));
            let r = if fd == 0 {
                tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &raw)
            } else {
                tcsetattr(std::io::stdout().as_fd(), SetArg::TCSANOW, &raw)
            };
            guard.saved = saved.clone();
            r.map_err(HijackError::Raw)?;
        }
        guard.saved = saved;
        Ok(guard)
    }

    pub fn restore(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        for (fd, t) in self.saved.drain(..).rev() {
            let _ = if fd == 0 {
                tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t)
            } else {
                tcsetattr(std::io::stdout().as_fd(), SetArg::TCSANOW, &t)
            };
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        self.restore();
    }
}

nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// The size of the terminal on stdout, (height, width).
pub fn terminal_size() -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let fd = std::io::stdout().as_raw_fd();
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass,
    // which points at a live, properly aligned local.
    let r = unsafe { tiocgwinsz(fd, &mut ws) };
    match r {
        Ok(_) if ws.ws_row > 0 || ws.ws_col > 0 => Some((ws.ws_row, ws.ws_col)),
        _ => None,
    }
}

/// Sends our terminal size to the container (or exec) now and on every
/// SIGWINCH, until the returned task is aborted.
pub async fn monitor_tty_size(
    client: &Client,
    id: &str,
    exec: bool,
) -> tokio::task::JoinHandle<()> {
    let kind = if exec { "exec" } else { "containers" };
    let path = format!("/{kind}/{id}/resize");
    let mut c = client.clone();
    let resize = |c: &mut Client, path: String| {
        let mut c = c.clone();
        async move {
            if let Some((h, w)) = terminal_size() {
                c.request(http::Method::POST, &format!("{path}?h={h}&w={w}"), None)
                    .await
                    .is_ok()
            } else {
                true
            }
        }
    };
    let first_ok = resize(&mut c, path.clone()).await;
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if !first_ok {
            // The process may not be up yet: retry a few times, like docker.
            let mut ok = false;
            for _ in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                if resize(&mut c, path.clone()).await {
                    ok = true;
                    break;
                }
            }
            if !ok {
                eprintln!("failed to resize tty, using default size");
            }
        }
        let Ok(mut s) = signal(SignalKind::window_change()) else {
            return;
        };
        while s.recv().await.is_some() {
            resize(&mut c, path.clone()).await;
        }
    })
}

/// Forwards the signals a terminal user sends to the container (docker's
/// `ForwardAllSignals`) until the returned task is aborted.
pub fn forward_signals(client: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let c = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let sigs: [(i32, &str); 12] = [
            (nix::libc::SIGHUP, "HUP"),
            (nix::libc::SIGINT, "INT"),
            (nix::libc::SIGQUIT, "QUIT"),
            (nix::libc::SIGTERM, "TERM"),
            (nix::libc::SIGUSR1, "USR1"),
            (nix::libc::SIGUSR2, "USR2"),
            (nix::libc::SIGALRM, "ALRM"),
            (nix::libc::SIGCONT, "CONT"),
            (nix::libc::SIGTSTP, "TSTP"),
            (nix::libc::SIGTTIN, "TTIN"),
            (nix::libc::SIGTTOU, "TTOU"),
            (nix::libc::SIGWINCH, "WINCH"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(32);
        for (n, name) in sigs {
            let Ok(mut s) = signal(SignalKind::from_raw(n)) else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let mut c = c.clone();
            let _ = c
                .request(
                    http::Method::POST,
                    &format!("/containers/{id}/kill?signal={name}"),
                    None,
                )
                .await;
        }
    })
}

/// Reads stdin on its own thread (a blocked read must not keep the
/// runtime from shutting down) and hands chunks over a channel; `None`
/// marks EOF.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Option<Vec<u8>>> {
    use std::io::Read;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// What to copy.
pub struct StreamOpts {
    pub stdin: bool,
    pub output: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
}

/// Copies the connection to our stdout/stderr and stdin to it, as
/// docker's `hijackedIOStreamer` does.
pub async fn stream(conn: Hijacked, opts: StreamOpts) -> Result<End, HijackError> {
    let mut raw = if opts.stdin && opts.tty {
        Some(RawTerminal::enable()?)
    } else {
        None
    };
    let io = match conn {
        Hijacked::Upgraded(io) => io,
        Hijacked::Body(body) => {
            let r = copy_body(body, opts.tty).await;
            return r.map(|_| End::Closed);
        }
    };
    let (mut rd, mut wr) = tokio::io::split(io);
    let tty = opts.tty;
    let output = async move {
        let mut buf = vec![0u8; 32 << 10];
        let mut demux = DemuxWriter::new();
        loop {
            let n = rd.read(&mut buf).await.map_err(HijackError::Read)?;
            if n == 0 {
                break;
            }
            if tty {
                write_raw(&buf[..n]);
            } else {
                demux.write(&buf[..n]);
            }
        }
        demux.finish()
    };
    tokio::pin!(output);
    let input = async {
        if opts.stdin {
            let mut chunks = stdin_chunks();
            let mut proxy = EscapeProxy::new(if opts.tty {
                opts.detach_keys.clone()
            } else {
                Vec::new()
            });
            while let Some(Some(chunk)) = chunks.recv().await {
                let (data, detach) = proxy.filter(&chunk);
                if !data.is_empty() && wr.write_all(&data).await.is_err() {
                    break;
                }
                if detach {
                    return true;
                }
            }
        }
        let _ = wr.shutdown().await;
        false
    };
    tokio::pin!(input);
    let mut input_done = false;
    let result = loop {
        tokio::select! {
            r = &mut output => break r.map(|_| End::Closed),
            detached = &mut input, if !input_done => {
                if detached {
                    break Ok(End::Detached);
                }
                input_done = true;
                if !opts.output {
                    break Ok(End::Closed);
                }
            }
        }
    };
    if let Some(r) = raw.as_mut() {
        r.restore();
    }
    result
}

/// Output of a daemon that answered the attach with a plain body.
pub async fn copy_body(mut body: hyper::body::Incoming, tty: bool) -> Result<(), HijackError> {
    use http_body_util::BodyExt;
    let mut demux = DemuxWriter::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| HijackError::Read(std::io::Error::other(e)))?;
        if let Ok(data) = frame.into_data() {
            if tty {
                write_raw(&data);
            } else {
                demux.write(&data);
            }
        }
    }
    demux.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn demux_splits_frames_even_when_cut_anywhere() {
        let mut all = frame(1, b"hello ");
        all.extend(frame(2, b"oops"));
        all.extend(frame(1, b"world"));
        for cut in 0..all.len() {
            let mut d = Demux::default();
            let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
            let mut out = |s: u8, p: &[u8]| match got.last_mut() {
                Some((ls, lp)) if *ls == s => lp.extend_from_slice(p),
                _ => got.push((s, p.to_vec())),
            };
            d.feed(&all[..cut], &mut out);
            d.feed(&all[cut..], &mut out);
            assert_eq!(
                got,
                vec![
                    (1, b"hello ".to_vec()),
                    (2, b"oops".to_vec()),
                    (1, b"world".to_vec())
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn demux_keeps_system_errors() {
        let mut w = DemuxWriter::new();
        w.write(&frame(3, b"exec failed"));
        assert_eq!(w.finish().unwrap_err().to_string(), "exec failed");
    }

    #[test]
    fn escape_proxy_detaches_on_the_full_sequence() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.filter(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(p.filter(&[16]), (vec![], false));
        assert_eq!(p.filter(&[17]), (vec![], true));
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.filter(&[16, b'x']), (vec![16, b'x'], false));
        assert_eq!(p.filter(&[16, 16, 17]), (vec![16], true));
        let mut p = EscapeProxy::new(vec![]);
        assert_eq!(p.filter(&[16, 17]), (vec![16, 17], false));
    }
}
