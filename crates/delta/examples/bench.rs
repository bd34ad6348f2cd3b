//! Benchmark: signs a generated basis (default 100 MiB), makes a delta of a
//! ~5%-changed version with 1 and 2 threads, patches it back, and prints
//! times and peak RSS per phase; compares with `rdiff` when it is on PATH.
//!
//! `cargo run --release --example bench -- [MIB] [CHANGE_PERCENT]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use delta::{delta, patch, write_signature, Signature, SignatureParams};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Tar-like content: random (compressed files), text and zero runs.
fn gen_basis(path: &Path, size: u64) {
    let mut rng = Rng(42);
    let mut out = BufWriter::new(File::create(path).unwrap());
    let mut written = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while written < size {
        let n = ((rng.below(256 << 10) + 512) as usize).min((size - written) as usize);
        let chunk = &mut buf[..n];
        match rng.below(10) {
            0 => chunk.fill(0),
            1 | 2 => {
                for (i, b) in chunk.iter_mut().enumerate() {
                    *b = b"the quick brown fox jumps over the lazy dog\n"
                        [(i * 7 + (rng.0 as usize & 3)) % 44];
                }
            }
            _ => rng.fill(chunk),
        }
        out.write_all(chunk).unwrap();
        written += n as u64;
    }
    out.flush().unwrap();
}

/// Copies the basis with edits (replace, insert, delete) covering about
/// `percent`% of it, spread evenly.
fn gen_new(basis: &Path, new: &Path, percent: u64) {
    let data = fs::read(basis).unwrap();
    let mut rng = Rng(7);
    let mut out = BufWriter::new(File::create(new).unwrap());
    let edit = 16 << 10;
    let stride = edit * 100 / percent.max(1);
    let mut pos = 0usize;
    let mut junk = vec![0u8; edit as usize];
    while pos < data.len() {
        let keep = (stride - edit) as usize + rng.below(4096) as usize;
        let end = (pos + keep).min(data.len());
        out.write_all(&data[pos..end]).unwrap();
        pos = end;
        let len = (rng.below(edit) + 1) as usize;
        rng.fill(&mut junk[..len]);
        match rng.below(3) {
            0 => {
                out.write_all(&junk[..len]).unwrap();
                pos += len;
            }
            1 => out.write_all(&junk[..len]).unwrap(),
            _ => pos += len,
        }
    }
    out.flush().unwrap();
}

fn vm_hwm_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_hwm() {
    // Linux >= 4.0: "5" resets the peak RSS counter.
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    reset_hwm();
    let t = Instant::now();
    let r = f();
    println!(
        "{name:<34} {:>8.3} s   peak RSS {:>6} MiB",
        t.elapsed().as_secs_f64(),
        vm_hwm_kib() / 1024
    );
    r
}

fn same_files(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (
        BufReader::new(File::open(a).unwrap()),
        BufReader::new(File::open(b).unwrap()),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x).unwrap();
        let mut m = 0;
        while m < n {
            let k = b.read(&mut y[m..n]).unwrap();
            if k == 0 {
                return false;
            }
            m += k;
        }
        if n == 0 {
            return b.read(&mut y).unwrap() == 0;
        }
        if x[..n] != y[..n] {
            return false;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let percent: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = tempfile::Builder::new()
        .prefix("delta-bench-")
        .tempdir()
        .unwrap();
    let p = |n: &str| dir.path().join(n);
    let (basis, new) = (p("basis"), p("new"));

    gen_basis(&basis, mib << 20);
    gen_new(&basis, &new, percent);
    let new_len = fs::metadata(&new).unwrap().len();
    println!(
        "basis {mib} MiB, new {} bytes (~{percent}% edited)",
        new_len
    );
    println!(
        "baseline peak RSS after generating inputs: {} MiB",
        vm_hwm_kib() / 1024
    );

    let params = SignatureParams::default();
    for threads in [1, 2] {
        phase(&format!("write_signature (threads={threads})"), || {
            write_signature(
                File::open(&basis).unwrap(),
                params,
                File::create(p("sig")).unwrap(),
                threads,
            )
            .unwrap()
        });
    }
    let sig = phase("Signature::generate (threads=2)", || {
        Signature::generate(File::open(&basis).unwrap(), params, 2).unwrap()
    });
    println!(
        "signature: {} blocks, {} MiB in memory ({:.1}% of basis)",
        sig.block_count(),
        sig.heap_bytes() >> 20,
        sig.heap_bytes() as f64 * 100.0 / (mib << 20) as f64
    );
    phase("Signature::read", || {
        Signature::read(File::open(p("sig")).unwrap()).unwrap()
    });

    let mut deltas = Vec::new();
    for threads in [1, 2] {
        let path = p(&format!("delta{threads}"));
        let stats = phase(&format!("delta (threads={threads})"), || {
            delta(
                &sig,
                File::open(&new).unwrap(),
                File::create(&path).unwrap(),
                threads,
            )
            .unwrap()
        });
        deltas.push((path, stats));
    }
    let identical = same_files(&deltas[0].0, &deltas[1].0);
    let stats = deltas[0].1;
    println!(
        "delta: {} bytes ({} literal bytes in {} cmds, {} copy cmds), 1 vs 2 threads identical: {identical}",
        stats.delta_bytes, stats.literal_bytes, stats.literal_commands, stats.copy_commands
    );
    phase("patch", || {
        patch(
            File::open(&basis).unwrap(),
            File::open(&deltas[0].0).unwrap(),
            File::create(p("out")).unwrap(),
        )
        .unwrap()
    });
    println!("patched output equals new: {}", same_files(&p("out"), &new));

    if Command::new("rdiff").arg("--version").output().is_ok() {
        let t = Instant::now();
        let st = Command::new("rdiff")
            .args([
                "-H",
                "blake2",
                "-R",
                "rollsum",
                "-b",
                "512",
                "-S",
                "32",
                "signature",
            ])
            .args([&basis, &p("rsig")])
            .status()
            .unwrap();
        assert!(st.success());
        println!(
            "{:<34} {:>8.3} s",
            "rdiff signature",
            t.elapsed().as_secs_f64()
        );
        println!(
            "signature identical to rdiff: {}",
            same_files(&p("sig"), &p("rsig"))
        );
        let t = Instant::now();
        let st = Command::new("rdiff")
            .arg("delta")
            .args([&p("rsig"), &new, &p("rdelta")])
            .status()
            .unwrap();
        assert!(st.success());
        println!("{:<34} {:>8.3} s", "rdiff delta", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let st = Command::new("rdiff")
            .arg("patch")
            .args([&basis, &deltas[0].0, &p("rout")])
            .status()
            .unwrap();
        assert!(st.success());
        println!(
            "{:<34} {:>8.3} s",
            "rdiff patch (our delta)",
            t.elapsed().as_secs_f64()
        );
        println!(
            "rdiff patch of our delta equals new: {}",
            same_files(&p("rout"), &new)
        );
        println!(
            "delta size: ours {} bytes, rdiff {} bytes",
            stats.delta_bytes,
            fs::metadata(p("rdelta")).unwrap().len()
        );
    } else {
        println!("rdiff not on PATH: skipping the comparison");
    }
}
