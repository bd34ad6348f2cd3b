//! Parsing of single tar header blocks and PAX records, following Go's
//! `archive/tar` reader (the copy vendored in tar-split, which is what
//! decides the names recorded in Docker's tar-split files).
//!
//! Written by hand rather than with the `tar` crate's `Header` and
//! `PaxExtensions` because the results must match Go where the two differ:
//! Go reads an empty or space-filled numeric field as 0 (the `tar` crate
//! rejects it), accepts the `ustar\0` magic with any version and the
//! STAR/old-GNU variants (the name prefix rules differ), and splits PAX
//! records by their length prefix (the `tar` crate splits on `\n`, which
//! breaks binary values such as `security.capability` that contain a
//! newline byte).

use std::collections::BTreeMap;

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// PAX record keywords.
pub(crate) const PAX_SCHILY_XATTR: &[u8] = b"SCHILY.xattr.";
const PAX_GNU_SPARSE: &[u8] = b"GNU.sparse.";

/// A point in time, as seconds and nanoseconds since the Unix epoch
/// (`nanos` always in `0..1_000_000_000`, also for times before 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (may be negative).
    pub secs: i64,
    /// Nanoseconds added to `secs`.
    pub nanos: u32,
}

impl Timestamp {
    fn normalized(secs: i64, nanos: i64) -> Timestamp {
        let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        let secs = total.div_euclid(1_000_000_000);
        let nanos = total.rem_euclid(1_000_000_000);
        Timestamp {
            secs: i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }
}

/// Go's `parser.parseString`: the bytes up to the first NUL.
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|c| *c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Bytes of padding after `n` bytes of data.
pub(crate) fn padding(n: u64) -> u64 {
    n.wrapping_neg() & (BLOCK as u64 - 1)
}

/// Go's `parseOctal`: leading/trailing spaces and NULs ignored, empty is 0.
fn parse_octal(b: &[u8]) -> Result<i64, ()> {
    let start = b.iter().position(|c| *c != b' ' && *c != 0);
    let Some(start) = start else { return Ok(0) };
    let end = b
        .iter()
        .rposition(|c| *c != b' ' && *c != 0)
        .unwrap_or(start);
    let s = cstr(&b[start..=end]);
    if s.is_empty() || !s.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return Err(());
    }
    let mut x: u64 = 0;
    for c in s {
        x = x
            .checked_mul(8)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .ok_or(())?;
    }
    // Go converts with int64(x); a 12-byte field cannot reach 2^63.
    i64::try_from(x).map_err(|_| ())
}

/// Go's `parseNumeric`: base-256 (GNU binary, two's complement) or octal.
fn parse_numeric(b: &[u8]) -> Result<i64, ()> {
    match b.first() {
        Some(first) if first & 0x80 != 0 => {
            let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, c) in b.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 > 0 {
                    return Err(());
                }
                x = (x << 8) | u64::from(c);
            }
            if x >> 63 > 0 {
                return Err(());
            }
            let v = i64::try_from(x).map_err(|_| ())?;
            Ok(if inv == 0xff { !v } else { v })
        }
        _ => parse_octal(b),
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)` (an optional sign, then digits).
pub(crate) fn parse_decimal(s: &[u8]) -> Result<i64, ()> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(())
}

/// Go's `parsePAXTime`: `SECONDS[.FRACTION]`, possibly negative.
pub(crate) fn parse_pax_time(s: &[u8]) -> Result<Timestamp, ()> {
    let (ss, sn) = match s.iter().position(|c| *c == b'.') {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &b""[..]),
    };
    let secs = parse_decimal(ss)?;
    if sn.is_empty() {
        return Ok(Timestamp { secs, nanos: 0 });
    }
    if !sn.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + sn.get(i).map_or(0, |c| i64::from(c - b'0'));
    }
    if ss.first() == Some(&b'-') {
        nanos = -nanos;
    }
    Ok(Timestamp::normalized(secs, nanos))
}

/// The tar formats Go tells apart (`block.GetFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

/// One header block, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) typeflag: u8,
    pub(crate) name: Vec<u8>,
    pub(crate) linkname: Vec<u8>,
    pub(crate) size: i64,
    pub(crate) mode: i64,
    pub(crate) uid: i64,
    pub(crate) gid: i64,
    pub(crate) mtime: Timestamp,
    pub(crate) atime: Option<Timestamp>,
    pub(crate) devmajor: i64,
    pub(crate) devminor: i64,
}

fn checksums(block: &[u8; BLOCK]) -> (i64, i64) {
    let mut unsigned = 0i64;
    let mut signed = 0i64;
    for (i, c) in block.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { *c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    (unsigned, signed)
}

/// Decodes a header block that is not all zeros, like Go's `readHeader`.
pub(crate) fn parse_header(block: &[u8; BLOCK]) -> Result<Header, &'static str> {
    let stored = parse_octal(&block[148..156]).map_err(|_| "invalid checksum field")?;
    let (unsigned, signed) = checksums(block);
    if stored != unsigned && stored != signed {
        return Err("header checksum mismatch");
    }
    let magic = &block[257..263];
    let format = if magic == b"ustar\0" && &block[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && &block[263..265] == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    };

    let num =
        |r: std::ops::Range<usize>, what: &'static str| parse_numeric(&block[r]).map_err(|_| what);
    let mut h = Header {
        typeflag: block[156],
        name: cstr(&block[0..100]).to_vec(),
        linkname: cstr(&block[157..257]).to_vec(),
        size: num(124..136, "invalid size field")?,
        mode: num(100..108, "invalid mode field")?,
        uid: num(108..116, "invalid uid field")?,
        gid: num(116..124, "invalid gid field")?,
        mtime: Timestamp {
            secs: num(136..148, "invalid mtime field")?,
            nanos: 0,
        },
        atime: None,
        devmajor: 0,
        devminor: 0,
    };
    if format == Format::V7 {
        return Ok(h);
    }
    h.devmajor = num(329..337, "invalid devmajor field")?;
    h.devminor = num(337..345, "invalid devminor field")?;
    let prefix: &[u8] = match format {
        Format::Ustar => cstr(&block[345..500]),
        Format::Star => {
            h.atime = Some(Timestamp {
                secs: num(476..488, "invalid atime field")?,
                nanos: 0,
            });
            num(488..500, "invalid ctime field")?;
            cstr(&block[345..476])
        }
        _ => {
            // GNU: atime/ctime only when set. Like Go, if they do not parse,
            // this is a pre-Go-1.8 file that put a USTAR prefix there.
            let mut bad = false;
            if block[345] != 0 {
                match parse_numeric(&block[345..357]) {
                    Ok(secs) => h.atime = Some(Timestamp { secs, nanos: 0 }),
                    Err(()) => bad = true,
                }
            }
            if block[357] != 0 && parse_numeric(&block[357..369]).is_err() {
                bad = true;
            }
            if bad {
                h.atime = None;
                let p = cstr(&block[345..500]);
                if p.is_ascii() {
                    p
                } else {
                    b""
                }
            } else {
                b""
            }
        }
    };
    if !prefix.is_empty() {
        let mut name = Vec::with_capacity(prefix.len() + 1 + h.name.len());
        name.extend_from_slice(prefix);
        name.push(b'/');
        name.extend_from_slice(&h.name);
        h.name = name;
    }
    Ok(h)
}

/// PAX records, last one of a key winning (Go's `map[string]string`).
pub(crate) type PaxRecords = BTreeMap<Vec<u8>, Vec<u8>>;

/// Extended attributes, name to value.
pub(crate) type Xattrs = BTreeMap<Vec<u8>, Vec<u8>>;

/// Go's `parsePAX` and `parsePAXRecord`: `"%d %s=%s\n"` records, split by
/// their length prefix.
pub(crate) fn parse_pax(mut s: &[u8]) -> Result<PaxRecords, &'static str> {
    const BAD: &str = "malformed PAX record";
    let mut recs = PaxRecords::new();
    while !s.is_empty() {
        let sp = s.iter().position(|c| *c == b' ').ok_or(BAD)?;
        let n = parse_decimal(&s[..sp]).map_err(|_| BAD)?;
        let n = usize::try_from(n).map_err(|_| BAD)?;
        // Go 1.17 would slice out of range (and panic) when the length is
        // shorter than its own digits; refuse instead.
        if n < 5 || s.len() < n || sp + 1 > n - 1 {
            return Err(BAD);
        }
        let (rec, nl) = (&s[sp + 1..n - 1], s[n - 1]);
        if nl != b'\n' {
            return Err(BAD);
        }
        let eq = rec.iter().position(|c| *c == b'=').ok_or(BAD)?;
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        let valid = !k.is_empty()
            && match k {
                b"path" | b"linkpath" | b"uname" | b"gname" => !v.contains(&0),
                _ => !k.contains(&0),
            };
        if !valid {
            return Err(BAD);
        }
        recs.insert(k.to_vec(), v.to_vec());
        s = &s[n..];
    }
    Ok(recs)
}

/// Go's `mergePAX`: applies PAX records to a header and returns the
/// `SCHILY.xattr.*` ones (empty values are skipped, as Go does). Also says
/// whether any `GNU.sparse.*` record was present.
pub(crate) fn merge_pax(h: &mut Header, pax: &PaxRecords) -> Result<(Xattrs, bool), &'static str> {
    let mut xattrs = BTreeMap::new();
    let mut sparse = false;
    for (k, v) in pax {
        if k.starts_with(PAX_GNU_SPARSE) {
            sparse = true;
        }
        if v.is_empty() {
            continue;
        }
        match k.as_slice() {
            b"path" => h.name = v.clone(),
            b"linkpath" => h.linkname = v.clone(),
            b"uid" => h.uid = parse_decimal(v).map_err(|_| "invalid PAX uid")?,
            b"gid" => h.gid = parse_decimal(v).map_err(|_| "invalid PAX gid")?,
            b"size" => h.size = parse_decimal(v).map_err(|_| "invalid PAX size")?,
            b"mtime" => h.mtime = parse_pax_time(v).map_err(|_| "invalid PAX mtime")?,
            b"atime" => h.atime = Some(parse_pax_time(v).map_err(|_| "invalid PAX atime")?),
            b"ctime" => {
                parse_pax_time(v).map_err(|_| "invalid PAX ctime")?;
            }
            _ => {
                if let Some(name) = k.strip_prefix(PAX_SCHILY_XATTR) {
                    xattrs.insert(name.to_vec(), v.clone());
                }
            }
        }
    }
    Ok((xattrs, sparse))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `formatPAXRecord`.
    fn rec(k: &str, v: &[u8]) -> Vec<u8> {
        let mut size = k.len() + v.len() + 3;
        size += size.to_string().len();
        let mut r = format!("{size} {k}=").into_bytes();
        r.extend_from_slice(v);
        r.push(b'\n');
        if r.len() != size {
            let size = r.len();
            r = format!("{size} {k}=").into_bytes();
            r.extend_from_slice(v);
            r.push(b'\n');
        }
        r
    }

    fn block_from(h: &tar::Header) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(h.as_bytes());
        b
    }

    #[test]
    fn octal_fields_accept_spaces_nuls_and_empty_like_go() {
        assert_eq!(parse_octal(b"0000644\0"), Ok(0o644));
        assert_eq!(parse_octal(b"  644 \0"), Ok(0o644));
        assert_eq!(parse_octal(b"\0\0\0\0"), Ok(0));
        assert_eq!(parse_octal(b"        "), Ok(0));
        assert_eq!(parse_octal(b"64 4"), Err(()));
        assert_eq!(parse_octal(b"0009"), Err(()));
    }

    #[test]
    fn base256_fields_parse_positive_and_negative() {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 0x05;
        f[10] = 0x01;
        assert_eq!(parse_numeric(&f), Ok(0x105));
        let neg = [0xffu8; 8];
        assert_eq!(parse_numeric(&neg), Ok(-1));
        let mut big = [0xffu8; 12];
        big[0] = 0x80;
        assert_eq!(parse_numeric(&big), Err(()));
    }

    #[test]
    fn pax_time_parses_fractions_and_negative_values() {
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Ok(Timestamp {
                secs: 1_700_000_000,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            parse_pax_time(b"1.1234567891"),
            Ok(Timestamp {
                secs: 1,
                nanos: 123_456_789
            })
        );
        assert_eq!(
            parse_pax_time(b"-1.5"),
            Ok(Timestamp {
                secs: -2,
                nanos: 500_000_000
            })
        );
        assert_eq!(parse_pax_time(b"12."), Ok(Timestamp { secs: 12, nanos: 0 }));
        assert_eq!(parse_pax_time(b".5"), Err(()));
        assert_eq!(parse_pax_time(b"1.5x"), Err(()));
    }

    #[test]
    fn pax_records_split_by_length_even_with_newlines_in_values() {
        let value = b"\x01\x00\x00\x02\n\x00\x00\x00";
        let mut all = rec("SCHILY.xattr.security.capability", value);
        all.extend_from_slice(&rec("path", b"a\n"));
        let recs = parse_pax(&all).unwrap();
        assert_eq!(
            recs.get(&b"SCHILY.xattr.security.capability"[..])
                .map(Vec::as_slice),
            Some(&value[..])
        );
        assert_eq!(recs.get(&b"path"[..]).map(Vec::as_slice), Some(&b"a\n"[..]));
    }

    #[test]
    fn malformed_pax_records_are_refused() {
        for bad in [
            &b"5 a=b"[..],
            b"9 a=b\n",
            b"x a=b\n",
            b"6 ab\n\n",
            b"2 a=\n",
            b"7 =ab\n\n",
            b"12 path=a\0b\n",
            b"0000000000000000000000000000000030 mtime=1432668921.098285006\n30 ctime=2147483647.999999999\n",
        ] {
            assert!(parse_pax(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse_pax(b"").unwrap().is_empty());
    }

    #[test]
    fn ustar_header_with_prefix_is_joined() {
        let mut h = tar::Header::new_ustar();
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        h.set_path(&long).unwrap();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(3);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        let p = parse_header(&block_from(&h)).unwrap();
        assert_eq!(p.name, long.as_bytes());
        assert_eq!((p.size, p.mode, p.uid, p.gid), (3, 0o4755, 1000, 1001));
        assert_eq!(p.mtime.secs, 1_600_000_000);
        assert_eq!(p.typeflag, b'0');
    }

    #[test]
    fn gnu_header_has_no_prefix_and_reads_devices() {
        let mut h = tar::Header::new_gnu();
        h.set_path("dev/null").unwrap();
        h.set_entry_type(tar::EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        let p = parse_header(&block_from(&h)).unwrap();
        assert_eq!(p.name, b"dev/null");
        assert_eq!((p.devmajor, p.devminor), (1, 3));
    }

    #[test]
    fn bad_checksum_is_refused_and_signed_checksum_accepted() {
        let mut h = tar::Header::new_ustar();
        h.set_path("\u{e9}").unwrap();
        h.set_cksum();
        let mut b = block_from(&h);
        b[0] ^= 1;
        assert_eq!(parse_header(&b), Err("header checksum mismatch"));
        b[0] ^= 1;
        // Rewrite the checksum as the signed (Sun tar) sum.
        let (_, signed) = checksums(&b);
        let s = format!("{signed:06o}\0 ");
        b[148..156].copy_from_slice(s.as_bytes());
        assert!(parse_header(&b).is_ok());
    }

    #[test]
    fn merge_pax_overrides_fields_and_collects_xattrs() {
        let mut h = parse_header(&block_from(&{
            let mut h = tar::Header::new_ustar();
            h.set_path("short").unwrap();
            h.set_cksum();
            h
        }))
        .unwrap();
        let recs = parse_pax(
            &[
                rec("path", b"long"),
                rec("uid", b"4242"),
                rec("mtime", b"1.000000001"),
                rec("SCHILY.xattr.user.a", b"1"),
                rec("SCHILY.xattr.user.b", b""),
            ]
            .concat(),
        )
        .unwrap();
        let (x, sparse) = merge_pax(&mut h, &recs).unwrap();
        assert_eq!(h.name, b"long");
        assert_eq!(h.uid, 4242);
        assert_eq!(h.mtime, Timestamp { secs: 1, nanos: 1 });
        assert_eq!(x.len(), 1);
        assert_eq!(x.get(&b"user.a"[..]).map(Vec::as_slice), Some(&b"1"[..]));
        assert!(!sparse);
        let recs = parse_pax(&rec("GNU.sparse.major", b"1")).unwrap();
        assert!(merge_pax(&mut h, &recs).unwrap().1);
        let recs = parse_pax(&rec("size", b"x")).unwrap();
        assert_eq!(merge_pax(&mut h, &recs), Err("invalid PAX size"));
    }

    #[test]
    fn padding_rounds_to_blocks() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
