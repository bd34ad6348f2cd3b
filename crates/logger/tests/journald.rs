#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use logger::{validate, ContainerInfo, JournaldWriter, LogError, LogWriter, Message, Stream};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn info() -> ContainerInfo {
    ContainerInfo {
        id: ID.into(),
        name: "web".into(),
        image_name: "busybox:latest".into(),
        image_id: "sha256:feed".into(),
        labels: [("com.example.role".to_owned(), "front".to_owned())]
            .into_iter()
            .collect(),
        env: vec!["TZ=UTC".into()],
        daemon_name: "balena-engine".into(),
    }
}

fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn msg(stream: Stream, line: &[u8], partial: bool) -> Message {
    Message {
        stream,
        line: line.to_vec(),
        time: SystemTime::now(),
        partial,
    }
}

fn fixed_fields(tag: &str, extra: &str) -> String {
    format!(
        "{extra}CONTAINER_ID=0123456789ab\nCONTAINER_ID_FULL={ID}\nCONTAINER_NAME=web\nCONTAINER_TAG={tag}\nIMAGE_NAME=busybox:latest\nSYSLOG_IDENTIFIER={tag}\n"
    )
}

/// Receives one datagram; if it carries an fd (memfd), returns the fd's contents and seals.
fn recv(sock: &UnixDatagram) -> (Vec<u8>, Option<i32>) {
    let mut buf = vec![0u8; 1 << 20];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (n, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let m = recvmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = None;
        for c in m.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                fd = fds.first().copied();
            }
        }
        (m.bytes, fd)
    };
    match fd {
        None => (buf[..n].to_vec(), None),
        Some(raw) => {
            // SAFETY: the fd was just received via SCM_RIGHTS and is owned by nobody else.
            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
            let seals =
                nix::fcntl::fcntl(owned.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS).unwrap();
            let mut f = std::fs::File::from(owned);
            // The fd shares the sender's file offset (at the end): rewind.
            std::io::Seek::rewind(&mut f).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (data, Some(seals))
        }
    }
}

#[test]
fn sends_native_protocol_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("socket");
    let server = UnixDatagram::bind(&sock_path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let cfg = validate(
        "journald",
        &opts(&[
            ("labels", "com.example.role"),
            ("env", "TZ"),
            ("tag", "{{.Name}}"),
        ]),
    )
    .unwrap();
    let mut w = JournaldWriter::open(&cfg.opts, &info(), &sock_path).unwrap();
    let extra = "COM_EXAMPLE_ROLE=front\n";
    let tail = |tag: &str| {
        let f = fixed_fields(tag, extra);
        // TZ sorts after SYSLOG_IDENTIFIER
        format!("{f}TZ=UTC\n")
    };

    w.log(&msg(Stream::Stdout, b"hello world\n", false))
        .unwrap();
    let (d, fd) = recv(&server);
    assert!(fd.is_none());
    assert_eq!(
        String::from_utf8(d).unwrap(),
        format!("PRIORITY=6\nMESSAGE=hello world\n{}", tail("web"))
    );

    w.log(&msg(Stream::Stderr, b"part", true)).unwrap();
    let (d, _) = recv(&server);
    assert_eq!(
        String::from_utf8(d).unwrap(),
        format!(
            "PRIORITY=3\nMESSAGE=part\n{}CONTAINER_PARTIAL_MESSAGE=true\n",
            tail("web")
        )
    );

    // Embedded newline / binary: length-prefixed form.
    w.log(&msg(Stream::Stdout, b"a\nb\xff\n", false)).unwrap();
    let (d, _) = recv(&server);
    let mut want = b"PRIORITY=6\nMESSAGE\n".to_vec();
    want.extend_from_slice(&4u64.to_le_bytes());
    want.extend_from_slice(b"a\nb\xff\n");
    want.extend_from_slice(tail("web").as_bytes());
    assert_eq!(d, want);

    // > 200 KiB: sealed memfd over SCM_RIGHTS.
    let big = vec![b'q'; 300 * 1024];
    let mut line = big.clone();
    line.push(b'\n');
    w.log(&msg(Stream::Stdout, &line, false)).unwrap();
    let (d, seals) = recv(&server);
    let seals = seals.expect("large message must arrive as a memfd");
    let want_seals = nix::libc::F_SEAL_SEAL
        | nix::libc::F_SEAL_SHRINK
        | nix::libc::F_SEAL_GROW
        | nix::libc::F_SEAL_WRITE;
    assert_eq!(seals & want_seals, want_seals);
    let mut want = b"PRIORITY=6\nMESSAGE=".to_vec();
    want.extend_from_slice(&big);
    want.push(b'\n');
    want.extend_from_slice(tail("web").as_bytes());
    assert_eq!(d.len(), want.len());
    assert!(d == want);
    w.close().unwrap();
    assert!(matches!(
        w.log(&msg(Stream::Stdout, b"x\n", false)),
        Err(LogError::Closed)
    ));
}

#[test]
fn default_tag_is_short_id() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("socket");
    let server = UnixDatagram::bind(&sock_path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut w = JournaldWriter::open(&BTreeMap::new(), &info(), &sock_path).unwrap();
    w.log(&msg(Stream::Stdout, b"\n", false)).unwrap();
    let (d, _) = recv(&server);
    assert_eq!(
        String::from_utf8(d).unwrap(),
        format!("PRIORITY=6\nMESSAGE=\n{}", fixed_fields("0123456789ab", ""))
    );
}

#[test]
fn missing_socket_is_a_clear_error() {
    let e = JournaldWriter::open(
        &BTreeMap::new(),
        &info(),
        Path::new("/nonexistent/journal/socket"),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "journald is not enabled on this host: cannot reach /nonexistent/journal/socket"
    );
}

/// Needs a running systemd-journald and journalctl: `cargo test -- --ignored`.
#[test]
#[ignore]
fn round_trip_through_real_journald() {
    let sock = Path::new("/run/systemd/journal/socket");
    assert!(sock.exists(), "systemd-journald is not running");
    let cfg = validate("journald", &BTreeMap::new()).unwrap();
    let mut i = info();
    i.id = format!(
        "{:064x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut w = logger::open_writer(&cfg, &i, Path::new("/unused")).unwrap();
    w.log(&msg(Stream::Stdout, b"round trip\n", false)).unwrap();
    w.log(&msg(Stream::Stderr, b"to stderr\n", false)).unwrap();
    w.close().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let rc = logger::ReadConfig {
        since: None,
        until: None,
        tail: None,
        follow: false,
        stdout: true,
        stderr: true,
    };
    let got: Vec<_> = logger::read(&cfg, &i, Path::new("/unused"), rc, Box::new(|| false))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].line, b"round trip\n");
    assert_eq!(got[1].stream, Stream::Stderr);
}
