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
