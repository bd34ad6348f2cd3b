#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `SeekableTar` and `ConcatSeek` against the original tars of layers
//! applied with `apply_layer`.

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom};

use common::*;
use layer::{ConcatSeek, SeekableTar, TarSplitError};
use tar::EntryType;

/// xorshift64*: a deterministic sequence, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(seed));
    (0..len).map(|_| r.next() as u8).collect()
}

/// Offset of the content of entry `name` in `tar`.
fn content_offset(tar: &[u8], name: &str) -> u64 {
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            return e.raw_file_position();
        }
    }
    panic!("no {name} in tar");
}

/// A layer with every kind of entry and content sizes around block
/// boundaries, PAX and GNU long names, and trailing zeros after the end
/// blocks (as GNU tar's record padding).
fn varied_tar(seed: u8) -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("d/", 0o755, 0, 0, 1_000_000_000);
    for (i, len) in [0usize, 1, 511, 512, 513, 1024, 4000, 70_000]
        .into_iter()
        .enumerate()
    {
        t.file(
            format!("d/f{i}"),
            0o644,
            &content(seed.wrapping_add(i as u8), len),
        );
    }
    t.link(EntryType::Symlink, "d/s", "f1", 0, 0, 1)
        .link(EntryType::Link, "d/h", "d/f2", 0, 0, 1)
        .device(EntryType::Fifo, "d/p", 0o600, 0, 0)
        .file(
            format!("d/gnu-{}", "g".repeat(150)),
            0o644,
            &content(seed, 777),
        )
        .pax(&[
            ("path", format!("d/pax-{}", "p".repeat(120)).as_bytes()),
            ("mtime", b"1700000000.5"),
        ])
        .ustar_file("d/short", 0o644, &content(seed ^ 0x55, 3000));
    let mut tar = t.finish();
    tar.extend(vec![0u8; 512 * 16]);
    tar
}

/// A few small files, for concatenations.
fn small_tar(seed: u8, files: usize) -> Vec<u8> {
    let mut t = TarBuilder::new();
    for i in 0..files {
        t.file(
            format!("l{seed}/f{i}"),
            0o644,
            &content(seed.wrapping_add(i as u8), (i * 97 + seed as usize) % 1500),
        );
    }
    t.finish()
}

fn open(a: &Applied) -> SeekableTar {
    SeekableTar::open(&a.tar_split[..], &a.dest).unwrap()
}

/// Reads until `len` bytes or the end of the stream.
fn read_up_to(r: &mut impl Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(len as u64).read_to_end(&mut v)?;
    Ok(v)
}

/// Offsets worth testing: block and entry boundaries, their neighbours,
/// and the end.
fn interesting_offsets(len: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut b = 0;
    while b <= len + 512 {
        for d in [-1i64, 0, 1] {
            if let Some(o) = b.checked_add_signed(d) {
                v.push(o);
            }
        }
        b += 512;
    }
    v.extend([len.saturating_sub(1), len, len + 1, len + 10_000]);
    v
}

/// Runs `ops` deterministic pseudo-random seeks and reads on `st` and on a
/// cursor over `model`, comparing every result.
fn compare_random(st: &mut (impl Read + Seek), model: &[u8], seed: u64, ops: usize) {
    let mut m = Cursor::new(model);
    let len = model.len() as u64;
    let marks = interesting_offsets(len);
    let mut rng = Rng(seed | 1);
    for op in 0..ops {
        let target = if rng.below(2) == 0 {
            marks[rng.below(marks.len() as u64) as usize]
        } else {
            rng.below(len + 2048)
        };
        let from = match rng.below(4) {
            0 | 1 => SeekFrom::Start(target),
            2 => SeekFrom::End(target as i64 - len as i64),
            _ => SeekFrom::Current(target as i64 - m.position() as i64),
        };
        let a = st.seek(from).map_err(|e| e.kind());
        let b = m.seek(from).map_err(|e| e.kind());
        assert_eq!(a, b, "op {op}: {from:?}");
        let n = match rng.below(8) {
            0 => 0,
            1 => 1,
            2 => 512,
            3..=5 => rng.below(1100) as usize,
            6 => rng.below(8000) as usize,
            _ => rng.below(100_000) as usize,
        };
        let got = read_up_to(st, n).unwrap();
        let want = read_up_to(&mut m, n).unwrap();
        assert_eq!(got.len(), want.len(), "op {op}: {from:?} then {n} bytes");
        assert!(got == want, "op {op}: {from:?} then {n} bytes differ");
        assert_eq!(
            st.stream_position().unwrap(),
            m.position(),
            "op {op}: position"
        );
    }
}

fn tar_split_error(e: &std::io::Error) -> &TarSplitError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<TarSplitError>())
        .unwrap_or_else(|| panic!("not a TarSplitError: {e:?}"))
}

#[test]
fn sequential_read_equals_the_original_tar_and_assemble() {
    let tar = varied_tar(1);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    assert_eq!(st.len(), tar.len() as u64);
    let mut all = Vec::new();
    st.read_to_end(&mut all).unwrap();
    assert!(all == tar, "full read differs from the tar");
    let mut assembled = Vec::new();
    layer::assemble(&a.tar_split[..], &a.dest, &mut assembled).unwrap();
    assert!(all == assembled);
    assert_eq!(sha256_hex(&all), a.result.as_ref().unwrap().diff_id);

    // Small odd-sized reads give the same bytes.
    st.rewind().unwrap();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 37];
    loop {
        let n = st.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        pieces.extend_from_slice(&buf[..n]);
    }
    assert!(pieces == tar);
}

#[test]
fn go_written_tar_split_reads_back_the_fixture() {
    const TAR: &[u8] = include_bytes!("fixtures/go-compat/layer.tar");
    const GO_TAR_SPLIT_GZ: &[u8] = include_bytes!("fixtures/go-compat/tar-split.json.gz");
    let a = apply(TAR);
    a.result.as_ref().unwrap();
    let mut st = SeekableTar::open(GO_TAR_SPLIT_GZ, &a.dest).unwrap();
    let mut all = Vec::new();
    st.read_to_end(&mut all).unwrap();
    assert!(all == TAR);
    compare_random(&mut st, TAR, 7, 300);
}

#[test]
fn random_seeks_and_reads_match_slices_of_the_tar() {
    let tar = varied_tar(2);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    compare_random(&mut st, &tar, 0x1234_5678, 1000);
}

#[test]
fn seeking_past_the_end_then_reading_returns_nothing() {
    let tar = small_tar(3, 4);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    let len = tar.len() as u64;
    for from in [
        SeekFrom::Start(len),
        SeekFrom::Start(len + 1),
        SeekFrom::End(0),
        SeekFrom::End(5000),
        SeekFrom::Start(u64::MAX),
    ] {
        st.seek(from).unwrap();
        let mut buf = [7u8; 64];
        assert_eq!(st.read(&mut buf).unwrap(), 0, "{from:?}");
        assert_eq!(buf, [7u8; 64]);
    }
    assert!(st.seek(SeekFrom::Current(1)).is_err(), "past u64::MAX");
    assert_eq!(st.seek(SeekFrom::End(-1)).unwrap(), len - 1);
    assert_eq!(read_up_to(&mut st, 10).unwrap(), [0]);
}

#[test]
fn a_file_with_another_size_is_reported_on_read() {
    let tar = varied_tar(4);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    std::fs::write(a.dest.join("d/f3"), content(0, 513)).unwrap();
    let mut all = Vec::new();
    let e = st.read_to_end(&mut all).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    match tar_split_error(&e) {
        TarSplitError::SizeMismatch {
            name,
            expected,
            actual,
        } => {
            assert_eq!(name, "d/f3");
            assert_eq!((*expected, *actual), (512, 513));
        }
        other => panic!("{other:?}"),
    }
    // Everything before the file was delivered.
    assert!(all.len() < tar.len() && tar.starts_with(&all));
    assert!(e.to_string().contains("d/f3"), "{e}");
}

#[test]
fn a_file_truncated_while_open_is_reported() {
    let tar = varied_tar(5);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    // Find the big file's content and start reading it.
    let big = content(5u8.wrapping_add(7), 70_000);
    let at = content_offset(&tar, "d/f7");
    st.seek(SeekFrom::Start(at)).unwrap();
    assert_eq!(read_up_to(&mut st, 1000).unwrap(), &big[..1000]);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(a.dest.join("d/f7"))
        .unwrap();
    f.set_len(2000).unwrap();
    let e = read_up_to(&mut st, 5000).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::SizeMismatch {
            expected: 70_000,
            actual: 2000,
            ..
        }
    ));
}

#[test]
fn changed_content_is_caught_by_crc_on_contiguous_reads() {
    let tar = varied_tar(6);
    let a = roundtrip(&tar);
    let mut st = open(&a);
    let orig = content(6u8.wrapping_add(6), 4000);
    let mut changed = orig.clone();
    changed[3999] ^= 0xff;
    std::fs::write(a.dest.join("d/f6"), &changed).unwrap();
    let at = content_offset(&tar, "d/f6");

    // A read starting inside the file is not checked: it sees the change.
    st.seek(SeekFrom::Start(at + 3000)).unwrap();
    assert_eq!(read_up_to(&mut st, 1000).unwrap(), &changed[3000..]);

    // Reading the file from its start, in pieces, fails at its end.
    st.seek(SeekFrom::Start(at)).unwrap();
    assert_eq!(read_up_to(&mut st, 2000).unwrap(), &orig[..2000]);
    let e = read_up_to(&mut st, 2000).unwrap_err();
    assert!(
        matches!(tar_split_error(&e), TarSplitError::ChecksumMismatch { name, .. } if name == "d/f6"),
        "{e:?}"
    );
    // And the file keeps failing, wherever it is read.
    st.seek(SeekFrom::Start(at + 10)).unwrap();
    assert!(read_up_to(&mut st, 1).is_err());

    // A full read fails too, after delivering what precedes the file.
    let mut st = open(&a);
    let mut all = Vec::new();
    let e = st.read_to_end(&mut all).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::ChecksumMismatch { .. }
    ));
    assert!(tar.starts_with(&all) && all.len() as u64 <= at + 4000);
}

#[test]
fn replaced_files_and_symlinks_never_read_outside_the_layer() {
    let tar = varied_tar(8);
    let a = roundtrip(&tar);
    let size = 4000;
    // Outside the layer: a file and a directory with a same-sized `f6`.
    let outside = a.tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("f6"), vec![b'X'; size]).unwrap();
    let f6 = a.dest.join("d/f6");
    std::fs::remove_file(&f6).unwrap();
    std::os::unix::fs::symlink(outside.join("f6"), &f6).unwrap();
    let mut all = Vec::new();
    let e = open(&a).read_to_end(&mut all).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::OpenFile { .. }
    ));
    assert!(!all.windows(64).any(|w| w.iter().all(|b| *b == b'X')));

    // A relative symlink climbing out stays inside, as in a chroot.
    std::fs::remove_file(&f6).unwrap();
    std::os::unix::fs::symlink("../../outside/f6", &f6).unwrap();
    let e = open(&a).read_to_end(&mut Vec::new()).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::OpenFile { .. }
    ));

    // The parent directory replaced by a symlink to the outside one.
    let d = a.dest.join("d");
    std::fs::rename(&d, a.tmp.path().join("d-moved")).unwrap();
    std::os::unix::fs::symlink(&outside, &d).unwrap();
    let mut all = Vec::new();
    let e = open(&a).read_to_end(&mut all).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::OpenFile { .. }
    ));
    assert!(!all.windows(64).any(|w| w.iter().all(|b| *b == b'X')));

    // A FIFO in the place of a file is refused without opening it.
    std::fs::remove_file(&d).unwrap();
    std::fs::rename(a.tmp.path().join("d-moved"), &d).unwrap();
    std::fs::remove_file(&f6).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &f6,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let e = open(&a).read_to_end(&mut Vec::new()).unwrap_err();
    assert!(matches!(
        tar_split_error(&e),
        TarSplitError::NotRegularFile { .. }
    ));
}

#[test]
fn concatenation_of_three_layers_reads_as_their_tars_joined() {
    let tars = [small_tar(10, 5), varied_tar(11), small_tar(12, 30)];
    let applied: Vec<_> = tars.iter().map(|t| roundtrip(t)).collect();
    let joined: Vec<u8> = tars.concat();
    let mut c = ConcatSeek::new(applied.iter().map(open).collect()).unwrap();
    assert_eq!(c.len(), joined.len() as u64);
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert!(all == joined);
    compare_random(&mut c, &joined, 0xdead_beef, 1000);
    let parts = c.into_parts();
    assert_eq!(parts.len(), 3);
}

#[test]
fn empty_tar_split_is_an_empty_stream() {
    let t = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::flush(&mut gz).unwrap();
    let gz = gz.finish().unwrap();
    let mut st = SeekableTar::open(&gz[..], t.path()).unwrap();
    assert!(st.is_empty());
    assert_eq!(st.read(&mut [0u8; 8]).unwrap(), 0);
    let mut c = ConcatSeek::new(vec![st]).unwrap();
    assert!(c.is_empty());
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn memory_per_small_file() {
    const FILES: usize = 10_000;
    let mut t = TarBuilder::new();
    for d in 0..FILES / 100 {
        t.dir(&format!("usr/lib/pkg{d:03}/"), 0o755, 0, 0, 1_600_000_000);
        for f in 0..100 {
            let i = d * 100 + f;
            t.file(
                format!("usr/lib/pkg{d:03}/file-{i:05}.txt"),
                0o644,
                &content(i as u8, 10 + i % 990),
            );
        }
    }
    let tar = t.finish();
    let a = apply(&tar);
    a.result.as_ref().unwrap();
    let mut st = open(&a);
    let heap = st.heap_bytes();
    let ts_json = tar_split_json(&a.tar_split).len();
    eprintln!(
        "{FILES} files: tar {} bytes, tar-split {} bytes gz / {ts_json} json, \
         index {heap} bytes = {} per file; {st:?}",
        tar.len(),
        a.tar_split.len(),
        heap / FILES,
    );
    assert!(heap / FILES < 400, "{} bytes per file", heap / FILES);
    let mut all = Vec::new();
    st.read_to_end(&mut all).unwrap();
    assert!(all == tar);
}
