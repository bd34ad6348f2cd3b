//! Generated basis/new file pairs shared by the integration tests.
#![allow(dead_code)]

/// Deterministic pseudo-random bytes (xorshift32).
pub fn random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

/// Low-entropy text-like data: numbered lines from a small vocabulary.
pub fn text(len: usize, seed: u32) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "alpha", "beta", "gamma", "layer", "tar", "usr/bin", "0000", "\n",
    ];
    let r = random(len, seed);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(WORDS[(r[i % r.len()] % 8) as usize].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(len);
    out
}

/// Named (basis, new) pairs covering the edit shapes deltas must handle.
pub fn cases() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let base = random(200_000, 1);
    let mut v = Vec::new();
    v.push(("equal", base.clone(), base.clone()));
    let mut app = base.clone();
    app.extend(random(5_000, 2));
    v.push(("append", base.clone(), app));
    let mut pre = random(777, 3);
    pre.extend_from_slice(&base);
    v.push(("prepend", base.clone(), pre));
    let mut ins = base[..100_000].to_vec();
    ins.extend(random(3_000, 4));
    ins.extend_from_slice(&base[100_000..]);
    v.push(("insert", base.clone(), ins));
    let mut edits = base.clone();
    for i in (50..edits.len()).step_by(7_001) {
        edits[i] ^= 0x5a;
    }
    v.push(("scattered-edits", base.clone(), edits));
    let mut del = base[..30_000].to_vec();
    del.extend_from_slice(&base[31_000..120_000]);
    del.extend_from_slice(&base[120_013..]);
    v.push(("deletions", base.clone(), del));
    v.push(("empty-basis", Vec::new(), random(5_000, 5)));
    v.push(("empty-new", base.clone(), Vec::new()));
    v.push(("both-empty", Vec::new(), Vec::new()));
    v.push(("tiny", random(100, 6), {
        let mut t = random(100, 6);
        t[50] ^= 1;
        t
    }));
    v.push(("tiny-equal", random(300, 7), random(300, 7)));
    let odd = random(512 * 37 + 123, 8);
    let mut odd_new = odd.clone();
    odd_new.drain(1000..1100);
    odd_new.extend_from_slice(b"tail");
    v.push(("not-block-multiple", odd.clone(), odd_new));
    let mut tail_only = random(9, 9);
    tail_only.extend_from_slice(&odd[512 * 37..]);
    v.push(("short-last-block-only", odd, tail_only));
    v.push(("unrelated-random", random(50_000, 10), random(60_000, 11)));
    let mut zeros = vec![0u8; 40_000];
    zeros.extend(random(10_000, 12));
    zeros.extend(vec![0u8; 30_000]);
    let mut zeros_new = vec![0u8; 333];
    zeros_new.extend_from_slice(&zeros);
    zeros_new.extend(vec![0u8; 20_000]);
    v.push(("zero-runs", zeros, zeros_new));
    let t = text(150_000, 13);
    let mut t_new = t.clone();
    t_new.splice(70_000..70_050, b"replaced words here".iter().copied());
    t_new.splice(10..10, b"new header line\n".iter().copied());
    v.push(("text", t, t_new));
    v
}
