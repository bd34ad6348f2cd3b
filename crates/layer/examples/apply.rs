//! Applies an uncompressed layer tar and reports timings:
//! `cargo run --release --example apply -- LAYER.tar EMPTY_DEST_DIR`.
//! Writes `tar-split.json.gz` beside the destination, syncs, then verifies.
//! `LAYER_WRITEBACK_STEP=0` disables early writeback, for comparison.

use std::error::Error;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(tar), Some(dest)) = (args.next(), args.next()) else {
        return Err("usage: apply LAYER.tar EMPTY_DEST_DIR".into());
    };
    let dest = PathBuf::from(dest);
    let ts_path = dest.with_extension("tar-split.json.gz");
    let mut opts = layer::ApplyOptions::default();
    if let Some(step) = std::env::var_os("LAYER_WRITEBACK_STEP") {
        opts.writeback_step = step.to_string_lossy().parse()?;
    }
    let t0 = Instant::now();
    let stats = layer::apply_layer(
        File::open(&tar)?,
        &dest,
        BufWriter::new(File::create(&ts_path)?),
        &opts,
    )?;
    let t1 = Instant::now();
    layer::sync_layer(&dest)?;
    let t2 = Instant::now();
    let id = layer::verify_layer(File::open(&ts_path)?, &dest)?;
    let t3 = Instant::now();
    let mb = stats.tar_bytes as f64 / 1e6;
    println!("{stats:?}");
    println!(
        "apply {:.2}s ({:.1} MB/s), syncfs {:.2}s, verify {:.2}s ({:.1} MB/s), tar-split {} bytes, verified: {}",
        (t1 - t0).as_secs_f64(),
        mb / (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
        mb / (t3 - t2).as_secs_f64(),
        std::fs::metadata(&ts_path)?.len(),
        id == stats.diff_id
    );
    Ok(())
}
