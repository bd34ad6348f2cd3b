//! Native journal protocol writer (what `sd_journal_send` does).
//!
//! Hand-written because the protocol is small and the shim must stay tiny:
//! the only crate implementing it (libsystemd) pulls in far more.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};

use crate::config::{extra_attributes, render_tag};
use crate::{ContainerInfo, LogError, LogWriter, Message, Stream};

/// Docker's `sanitizeKeyMod`: upper-case, non-alphanumerics to `_`, no leading `_`.
fn sanitize_key(s: &str) -> String {
    let mut n = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else if c.is_ascii_uppercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if !(n.is_empty() && c == '_') {
            n.push(c);
        }
    }
    n
}

/// Appends one field in the native protocol: `NAME=value\n`, or the
/// binary-safe `NAME\n<u64 LE length>value\n` when the value has a newline.
fn append_field(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

/// Sends each message as one datagram to journald.
pub struct JournaldWriter {
    sock: Option<UnixDatagram>,
    path: PathBuf,
    vars: BTreeMap<String, String>,
    buf: Vec<u8>,
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    Ok(s)
}

fn is_size_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno) if libc_errno == nix::libc::EMSGSIZE || libc_errno == nix::libc::ENOBUFS
    )
}

fn is_reconnect_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(c) if c == nix::libc::ECONNREFUSED || c == nix::libc::ENOTCONN || c == nix::libc::ENOENT
    )
}

impl JournaldWriter {
    /// Connects to the journal socket at `socket` (normally
    /// `/run/systemd/journal/socket`) and prepares the per-container fields.
    pub fn open(
        opts: &BTreeMap<String, String>,
        info: &ContainerInfo,
        socket: &Path,
    ) -> Result<Self, LogError> {
        let tag = render_tag(opts, info, "{{.ID}}")?;
        let mut vars = BTreeMap::new();
        vars.insert(
            "CONTAINER_ID".to_owned(),
            info.id.get(..12).unwrap_or(&info.id).to_owned(),
        );
        vars.insert("CONTAINER_ID_FULL".to_owned(), info.id.clone());
        vars.insert(
            "CONTAINER_NAME".to_owned(),
            info.name.trim_start_matches('/').to_owned(),
        );
        vars.insert("CONTAINER_TAG".to_owned(), tag.clone());
        vars.insert("IMAGE_NAME".to_owned(), info.image_name.clone());
        vars.insert("SYSLOG_IDENTIFIER".to_owned(), tag);
        for (k, v) in extra_attributes(opts, info, Some(sanitize_key))? {
            if !k.is_empty() {
                vars.insert(k, v);
            }
        }
        let sock = connect(socket).map_err(|source| LogError::JournalUnavailable {
            path: socket.to_owned(),
            source,
        })?;
        Ok(JournaldWriter {
            sock: Some(sock),
            path: socket.to_owned(),
            vars,
            buf: Vec::new(),
        })
    }

    fn encode(&mut self, msg: &Message) {
        self.buf.clear();
        let prio: &[u8] = match msg.stream {
            Stream::Stdout => b"6",
            Stream::Stderr => b"3",
        };
        append_field(&mut self.buf, "PRIORITY", prio);
        let line = if msg.partial {
            &msg.line[..]
        } else {
            msg.line.strip_suffix(b"\n").unwrap_or(&msg.line)
        };
        append_field(&mut self.buf, "MESSAGE", line);
        for (k, v) in &self.vars {
            append_field(&mut self.buf, k, v.as_bytes());
        }
        if msg.partial {
            append_field(&mut self.buf, "CONTAINER_PARTIAL_MESSAGE", b"true");
        }
    }

    /// Too big for a datagram: pass a sealed memfd holding the payload.
    fn send_memfd(sock: &UnixDatagram, payload: &[u8]) -> io::Result<()> {
        let fd = memfd_create(
            c"balena-engine-journal",
            MemFdCreateFlag::MFD_ALLOW_SEALING | MemFdCreateFlag::MFD_CLOEXEC,
        )?;
        let mut f = File::from(fd);
        f.write_all(payload)?;
        fcntl(
            f.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK
                    | SealFlag::F_SEAL_GROW
                    | SealFlag::F_SEAL_WRITE
                    | SealFlag::F_SEAL_SEAL,
            ),
        )?;
        let fds = [f.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov: [IoSlice<'_>; 0] = [];
        sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)?;
        Ok(())
    }

    fn send(&self, sock: &UnixDatagram) -> io::Result<()> {
        match sock.send(&self.buf) {
            Ok(_) => Ok(()),
            Err(e) if is_size_error(&e) => Self::send_memfd(sock, &self.buf),
            Err(e) => Err(e),
        }
    }
}

impl LogWriter for JournaldWriter {
    fn log(&mut self, msg: &Message) -> Result<(), LogError> {
        self.encode(msg);
        let sock = self.sock.as_ref().ok_or(LogError::Closed)?;
        let err = |source| LogError::JournalSend {
            path: self.path.clone(),
            source,
        };
        match self.send(sock) {
            Ok(()) => {}
            Err(e) if is_reconnect_error(&e) => {
                // journald restarted: its socket is a new one.
                let s = connect(&self.path).map_err(err)?;
                self.send(&s).map_err(err)?;
                self.sock = Some(s);
            }
            Err(e) => return Err(err(e)),
        }
        if self.buf.capacity() > 128 * 1024 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), LogError> {
        self.sock = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_keys_like_docker() {
        assert_eq!(sanitize_key("com.example-x"), "COM_EXAMPLE_X");
        assert_eq!(sanitize_key("__a.b"), "A_B");
        assert_eq!(sanitize_key("é1"), "1");
    }

    #[test]
    fn fields_use_binary_form_only_for_newlines() {
        let mut b = Vec::new();
        append_field(&mut b, "A", b"x=y");
        append_field(&mut b, "B", b"1\n2");
        let mut want = b"A=x=y\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"1\n2\n");
        assert_eq!(b, want);
    }
}
