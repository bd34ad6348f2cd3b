//! Entry points for the fuzz targets (`fuzz/`) and for the tests that
//! replay their corpora, so both run exactly the same code.

use std::io::BufReader;
use std::path::Path;

use crate::{apply_layer, verify_layer, ApplyOptions};

/// Applies `data` as a layer tar into `scratch/dest` (`scratch` must be an
/// empty directory) and checks that nothing but `dest` appeared in
/// `scratch`, and that a layer that was applied without replacing entries
/// reassembles to the same diff id. Removes `dest` afterwards.
pub fn apply_bytes(data: &[u8], scratch: &Path) {
    let dest = scratch.join("dest");
    if std::fs::create_dir(&dest).is_err() {
        return;
    }
    let mut tar_split = Vec::new();
    let r = apply_layer(data, &dest, &mut tar_split, &ApplyOptions::default());
    let names: Vec<_> = std::fs::read_dir(scratch)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [std::ffi::OsString::from("dest")],
        "created outside dest"
    );
    if let Ok(stats) = r {
        if stats.replaced == 0 {
            let id = verify_layer(&tar_split[..], &dest);
            assert_eq!(id.ok().as_deref(), Some(stats.diff_id.as_str()));
        }
    }
    let _ = std::fs::remove_dir_all(&dest);
}

/// Replays `data` as a tar-split (gzip if it starts with the gzip magic,
/// plain JSON lines otherwise) against `layer_root`, discarding the
/// output. Must never panic or hang.
pub fn tarsplit_bytes(data: &[u8], layer_root: &Path) {
    if data.starts_with(&[0x1f, 0x8b]) {
        let _ = crate::assemble(data, layer_root, std::io::sink());
    } else {
        let _ = crate::tarsplit::assemble_json(BufReader::new(data), layer_root, std::io::sink());
    }
}

/// Fills `dir` with the small layer the tar-split fuzz target replays
/// against: regular files `a` ("hello") and `d/b` ("world"), a symlink
/// `l -> a`, a FIFO `p` and an empty directory `e`.
pub fn make_tarsplit_root(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("d"))?;
    std::fs::create_dir_all(dir.join("e"))?;
    std::fs::write(dir.join("a"), b"hello")?;
    std::fs::write(dir.join("d/b"), b"world")?;
    std::os::unix::fs::symlink("a", dir.join("l"))?;
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("p"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )?;
    Ok(())
}

/// Builds a small layer tar described by `data` (entry kinds, names,
/// sizes, header format, trailing bytes), applies it into `scratch/dest`,
/// then checks that a [`SeekableTar`](crate::SeekableTar) over it reads
/// back the tar byte for byte and that the seeks and reads `data` goes on
/// to describe give the same results on it (and on a
/// [`ConcatSeek`](crate::ConcatSeek) of two copies) as on the tar itself.
///
/// Input: `flags`, `count`, then `count` entries of 4 bytes (`kind`,
/// `name id`, size as u16 LE), then operations of 5 bytes (`whence`,
/// 24-bit offset LE, length / 37). Returns whether the layer was built and
/// applied and the comparisons ran.
pub fn seek_bytes(data: &[u8], scratch: &Path) -> bool {
    use std::io::{Cursor, Read, Seek, SeekFrom};

    let Some(tar) = seek_layer_tar(data) else {
        return false;
    };
    let entries = usize::from(data.get(1).copied().unwrap_or(0) % 10);
    let ops = data.get(2 + 4 * entries..).unwrap_or_default();

    let dest = scratch.join("dest");
    if std::fs::create_dir(&dest).is_err() {
        return false;
    }
    let mut tar_split = Vec::new();
    let applied = apply_layer(&tar[..], &dest, &mut tar_split, &ApplyOptions::default());
    let run = || {
        let stats = match applied {
            Ok(s) if s.replaced == 0 => s,
            _ => return false,
        };
        let mut assembled = Vec::new();
        let n = crate::assemble(&tar_split[..], &dest, &mut assembled);
        assert_eq!(n.ok(), Some(tar.len() as u64), "assemble");
        assert!(assembled == tar, "assembled tar differs");
        let open = || crate::SeekableTar::open(&tar_split[..], &dest);
        let (st, a, b) = (open(), open(), open());
        assert!(
            st.is_ok() && a.is_ok() && b.is_ok(),
            "SeekableTar::open failed on a tar-split apply_layer wrote: {st:?}"
        );
        let (Ok(mut st), Ok(a), Ok(b)) = (st, a, b) else {
            return false;
        };
        assert_eq!(st.len(), stats.tar_bytes);
        let mut all = Vec::new();
        assert!(st.read_to_end(&mut all).is_ok(), "full read");
        assert!(all == tar, "full read differs from the tar");
        assert!(st.rewind().is_ok());
        let cat = crate::ConcatSeek::new(vec![a, b]);
        assert!(cat.is_ok(), "ConcatSeek::new failed: {cat:?}");
        let Ok(mut cat) = cat else {
            return false;
        };
        let doubled = [&tar[..], &tar[..]].concat();

        fn step(s: &mut (impl Read + Seek), m: &mut Cursor<&[u8]>, from: SeekFrom, len: u64) {
            let a = s.seek(from).map_err(|e| e.kind());
            let b = m.seek(from).map_err(|e| e.kind());
            assert_eq!(a, b, "seek {from:?}");
            let (mut x, mut y) = (Vec::new(), Vec::new());
            let ra = s
                .by_ref()
                .take(len)
                .read_to_end(&mut x)
                .map_err(|e| e.kind());
            let rb = m
                .by_ref()
                .take(len)
                .read_to_end(&mut y)
                .map_err(|e| e.kind());
            assert_eq!(ra, rb, "read {len} after {from:?}");
            assert!(x == y, "bytes differ reading {len} after {from:?}");
        }
        let mut m1 = Cursor::new(&tar[..]);
        let mut m2 = Cursor::new(&doubled[..]);
        for op in ops.chunks_exact(5) {
            let raw = u32::from_le_bytes([op[1], op[2], op[3], 0]);
            let signed = i64::from(raw) - (1 << 23);
            let from = match op[0] % 3 {
                0 => SeekFrom::Start(u64::from(raw)),
                1 => SeekFrom::End(signed),
                _ => SeekFrom::Current(signed),
            };
            let len = u64::from(op[4]) * 37;
            step(&mut st, &mut m1, from, len);
            step(&mut cat, &mut m2, from, len);
        }
        true
    };
    let checked = run();
    let _ = std::fs::remove_dir_all(&dest);
    checked
}

/// The layer tar `seek_bytes` builds from its input, `None` when the
/// `tar` crate refuses it.
fn seek_layer_tar(data: &[u8]) -> Option<Vec<u8>> {
    let flags = *data.first()?;
    let count = usize::from(data.get(1).copied().unwrap_or(0) % 10);
    let mut b = tar::Builder::new(Vec::new());
    let mut files: Vec<String> = Vec::new();
    for (i, e) in data.get(2..)?.chunks_exact(4).take(count).enumerate() {
        let id = e[1];
        let name = match id {
            0..=99 => format!("n{}", id % 16),
            100..=199 => format!("sub/n{}", id % 16),
            _ => format!("long-{}-{id}", "x".repeat(90 + usize::from(id % 40))),
        };
        let size = usize::from(u16::from_le_bytes([e[2], e[3]]) % 5000);
        let mut h = if flags & 3 == 1 {
            tar::Header::new_ustar()
        } else {
            tar::Header::new_gnu()
        };
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000 + u64::from(id));
        h.set_size(0);
        let path = if flags & 3 == 2 {
            b.append_pax_extensions([("path", name.as_bytes())]).ok()?;
            format!("pax{i}")
        } else {
            name.clone()
        };
        match e[0] % 5 {
            0 | 1 => {
                let mut x = u64::from(id) << 32 | size as u64 | 1;
                let content: Vec<u8> = (0..size)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if e[0] & 0x80 != 0 {
                            0
                        } else {
                            x as u8
                        }
                    })
                    .collect();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size as u64);
                b.append_data(&mut h, &path, &content[..]).ok()?;
                files.push(name);
            }
            2 => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, &path, &[][..]).ok()?;
            }
            3 => {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, &path, "n1").ok()?;
            }
            _ => {
                if let Some(target) = files.get(usize::from(id) % files.len().max(1)) {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, &path, target).ok()?;
                }
            }
        }
    }
    let mut tar = b.into_inner().ok()?;
    // Trailing zero blocks, and maybe a few other trailing bytes.
    tar.resize(tar.len() + 512 * usize::from((flags >> 2) & 7), 0);
    if flags & 0x20 != 0 {
        tar.extend_from_slice(b"trailing bytes");
    }
    Some(tar)
}
