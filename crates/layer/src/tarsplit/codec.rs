//! The JSON-lines codec of tar-split, matching Go's `storage.Entry`,
//! `jsonPacker` and `jsonUnpacker` (vendor/github.com/vbatts/tar-split/tar/storage).
//!
//! Go's struct is
//!
//! ```text
//! type Entry struct {
//!     Type     Type   `json:"type"`
//!     Name     string `json:"name,omitempty"`
//!     NameRaw  []byte `json:"name_raw,omitempty"`
//!     Size     int64  `json:"size,omitempty"`
//!     Payload  []byte `json:"payload"`
//!     Position int    `json:"position"`
//! }
//! ```
//!
//! so fields come in that order; `name`, `name_raw` and `size` are left out
//! when empty or zero; `payload` is base64 (standard alphabet, padded) or
//! `null` for a nil slice (file entries without content), and `""` for an
//! empty non-nil slice (the final padding segment); a name that is not valid
//! UTF-8 goes to `name_raw` instead of `name`. `encoding/json`'s Encoder
//! escapes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`… and, as built with
//! Go 1.17 (balenaEngine v20.10's toolchain), writes backspace and form feed
//! as `\u0008` and `\u000c`; each value is followed by `\n`. serde_json's
//! derive gives the field order and `skip_serializing_if` the omitempty
//! rules; the [`GoFormatter`] gives Go's string escaping.

use std::collections::HashSet;
use std::io::{self, BufRead, Read, Write};

use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::TarSplitError;

/// `storage.FileType`: a file's content, read back from the layer.
pub(crate) const FILE_TYPE: i64 = 1;
/// `storage.SegmentType`: raw bytes of the stream.
pub(crate) const SEGMENT_TYPE: i64 = 2;

/// Longest JSON line accepted when reading. Segments we write are at most
/// about 1 MiB + 2 KiB (PAX data is capped) and Go's trailing-padding chunks
/// are 1 MiB, both well under this once base64-encoded.
pub(crate) const MAX_LINE: usize = 8 << 20;

mod b64 {
    use super::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<&[u8]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let o: Option<String> = Option::deserialize(d)?;
        o.map(|s| STANDARD.decode(s.as_bytes()))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

/// One line as written (borrowing, so payloads are not copied).
#[derive(Serialize)]
struct EntryOut<'a> {
    #[serde(rename = "type")]
    ty: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", with = "b64")]
    name_raw: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(with = "b64")]
    payload: Option<&'a [u8]>,
    position: i64,
}

/// One line as read. Unknown fields are ignored, as Go does.
#[derive(Deserialize)]
struct EntryIn {
    #[serde(rename = "type")]
    ty: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "b64::deserialize")]
    name_raw: Option<Vec<u8>>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default, deserialize_with = "b64::deserialize")]
    payload: Option<Vec<u8>>,
}

/// serde_json formatter reproducing Go `encoding/json` string escaping.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let esc: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc)?;
            start = i + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let byte = match char_escape {
            CharEscape::Quote => return writer.write_all(b"\\\""),
            CharEscape::ReverseSolidus => return writer.write_all(b"\\\\"),
            CharEscape::Solidus => return writer.write_all(b"\\/"),
            CharEscape::LineFeed => return writer.write_all(b"\\n"),
            CharEscape::CarriageReturn => return writer.write_all(b"\\r"),
            CharEscape::Tab => return writer.write_all(b"\\t"),
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::AsciiControl(b) => b,
        };
        const HEX: &[u8; 16] = b"0123456789abcdef";
        writer.write_all(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ])
    }
}

/// Go's `filepath.Clean` on raw bytes (Unix separator).
pub(crate) fn go_clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => match out.last() {
                Some(last) if *last != b".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(comp),
            },
            _ => out.push(comp),
        }
    }
    let mut res = Vec::with_capacity(path.len());
    if rooted {
        res.push(b'/');
    }
    for (i, c) in out.iter().enumerate() {
        if i > 0 {
            res.push(b'/');
        }
        res.extend_from_slice(c);
    }
    if res.is_empty() {
        res.push(b'.');
    }
    res
}

/// The set of file-entry names seen so far, keyed like Go's `seenNames` by
/// `filepath.Clean(name)`. Go keeps the names themselves; we keep 128 bits
/// of their SHA-256 (16 bytes an entry instead of the whole path, which
/// matters for layers with a million files on a 512 MB board). A collision
/// would only make a layer be refused, and needs about 2^64 names.
#[derive(Default)]
pub(crate) struct SeenNames(HashSet<[u8; 16]>);

impl SeenNames {
    /// Records `name`; false if its cleaned form was already there.
    pub(crate) fn insert(&mut self, name: &[u8]) -> bool {
        let digest = Sha256::digest(go_clean(name));
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        self.0.insert(key)
    }
}

/// Writes tar-split entries as Go's `jsonPacker` does.
pub(crate) struct Packer<W: Write> {
    w: W,
    pos: i64,
    seen: SeenNames,
}

impl<W: Write> Packer<W> {
    pub(crate) fn new(w: W) -> Self {
        Packer {
            w,
            pos: 0,
            seen: SeenNames::default(),
        }
    }

    /// Go refuses a second file entry whose cleaned name was seen before
    /// (`ErrDuplicatePath`); its unpacker refuses it too, so a tar-split
    /// with duplicates could not be read back by balenaEngine.
    pub(crate) fn claim_name(&mut self, name: &[u8]) -> Result<(), TarSplitError> {
        if self.seen.insert(name) {
            Ok(())
        } else {
            Err(TarSplitError::DuplicatePath {
                name: String::from_utf8_lossy(name).into_owned(),
            })
        }
    }

    fn write(&mut self, e: &EntryOut<'_>) -> Result<(), TarSplitError> {
        let mut ser = serde_json::Serializer::with_formatter(&mut self.w, GoFormatter);
        e.serialize(&mut ser)
            .map_err(|e| TarSplitError::WriteTarSplit { source: e.into() })?;
        self.w
            .write_all(b"\n")
            .map_err(|source| TarSplitError::WriteTarSplit { source })?;
        self.pos += 1;
        Ok(())
    }

    /// A raw segment (`"payload":""` when empty, as Go writes the final
    /// padding read).
    pub(crate) fn add_segment(&mut self, payload: &[u8]) -> Result<(), TarSplitError> {
        let pos = self.pos;
        self.write(&EntryOut {
            ty: SEGMENT_TYPE,
            name: None,
            name_raw: None,
            size: None,
            payload: Some(payload),
            position: pos,
        })
    }

    /// A file entry; `content` is `(size, crc64)` for entries with content.
    pub(crate) fn add_file(
        &mut self,
        name: &[u8],
        content: Option<(u64, u64)>,
    ) -> Result<(), TarSplitError> {
        let (name, name_raw) = match std::str::from_utf8(name) {
            Ok("") => (None, None),
            Ok(s) => (Some(s), None),
            Err(_) => (None, Some(name)),
        };
        let crc_bytes;
        let (size, payload) = match content {
            Some((size, crc)) if size > 0 => {
                crc_bytes = crc.to_be_bytes();
                // Sizes come from int64 header fields, so this never saturates.
                (
                    Some(i64::try_from(size).unwrap_or(i64::MAX)),
                    Some(&crc_bytes[..]),
                )
            }
            _ => (None, None),
        };
        let pos = self.pos;
        self.write(&EntryOut {
            ty: FILE_TYPE,
            name,
            name_raw,
            size,
            payload,
            position: pos,
        })
    }

    pub(crate) fn into_inner(self) -> W {
        self.w
    }
}

/// A decoded tar-split entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Segment(Vec<u8>),
    File {
        name: Vec<u8>,
        size: u64,
        crc: Option<Vec<u8>>,
    },
}

/// Reads tar-split entries as Go's `jsonUnpacker` does, one JSON value a
/// line (what Go's encoder writes), with lines capped at [`MAX_LINE`].
pub(crate) struct Unpacker<R: BufRead> {
    r: R,
    line: u64,
    buf: Vec<u8>,
    seen: SeenNames,
}

impl<R: BufRead> Unpacker<R> {
    pub(crate) fn new(r: R) -> Self {
        Unpacker {
            r,
            line: 0,
            buf: Vec::new(),
            seen: SeenNames::default(),
        }
    }

    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>, TarSplitError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let line = self.line;
            let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
            let n = Read::take(self.r.by_ref(), limit + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| TarSplitError::ReadTarSplit { line, source })?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE {
                return Err(TarSplitError::LineTooLong {
                    line,
                    limit: MAX_LINE,
                });
            }
            if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let e: EntryIn = serde_json::from_slice(&self.buf)
                .map_err(|source| TarSplitError::Json { line, source })?;
            return match e.ty {
                SEGMENT_TYPE => Ok(Some(Entry::Segment(e.payload.unwrap_or_default()))),
                FILE_TYPE => {
                    let name = match e.name_raw {
                        Some(raw) if !raw.is_empty() => raw,
                        _ => e.name.unwrap_or_default().into_bytes(),
                    };
                    if !self.seen.insert(&name) {
                        return Err(TarSplitError::DuplicatePath {
                            name: String::from_utf8_lossy(&name).into_owned(),
                        });
                    }
                    let size = u64::try_from(e.size.unwrap_or(0)).map_err(|_| {
                        TarSplitError::BadEntry {
                            line,
                            reason: "negative size",
                        }
                    })?;
                    Ok(Some(Entry::File {
                        name,
                        size,
                        crc: e.payload,
                    }))
                }
                ty => Err(TarSplitError::UnknownEntryType { line, ty }),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(f: impl FnOnce(&mut Packer<&mut Vec<u8>>)) -> String {
        let mut out = Vec::new();
        let mut p = Packer::new(&mut out);
        f(&mut p);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn segment_and_file_lines_match_go_field_order_and_omitempty() {
        let s = packed(|p| {
            p.add_segment(b"abc").unwrap();
            p.add_file(b"etc/hosts", Some((5, 0x0102030405060708)))
                .unwrap();
            p.add_file(b"empty", None).unwrap();
            p.add_segment(b"").unwrap();
        });
        assert_eq!(
            s,
            "{\"type\":2,\"payload\":\"YWJj\",\"position\":0}\n\
             {\"type\":1,\"name\":\"etc/hosts\",\"size\":5,\"payload\":\"AQIDBAUGBwg=\",\"position\":1}\n\
             {\"type\":1,\"name\":\"empty\",\"payload\":null,\"position\":2}\n\
             {\"type\":2,\"payload\":\"\",\"position\":3}\n"
        );
    }

    #[test]
    fn non_utf8_name_goes_to_name_raw() {
        let s = packed(|p| p.add_file(b"caf\xe9", Some((1, 0))).unwrap());
        assert_eq!(
            s,
            "{\"type\":1,\"name_raw\":\"Y2Fm6Q==\",\"size\":1,\"payload\":\"AAAAAAAAAAA=\",\"position\":0}\n"
        );
    }

    #[test]
    fn empty_name_is_omitted() {
        let s = packed(|p| p.add_file(b"", None).unwrap());
        assert_eq!(s, "{\"type\":1,\"payload\":null,\"position\":0}\n");
    }

    #[test]
    fn strings_are_escaped_like_go_encoding_json() {
        let s = packed(|p| {
            p.add_file(
                "a<b>&c\u{2028}\u{2029}\"\\\n\r\t\x08\x0c\x01\x7fé".as_bytes(),
                None,
            )
            .unwrap()
        });
        assert_eq!(
            s,
            "{\"type\":1,\"name\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\r\\t\\u0008\\u000c\\u0001\u{7f}é\",\"payload\":null,\"position\":0}\n"
        );
    }

    #[test]
    fn duplicate_cleaned_names_are_refused() {
        let mut out = Vec::new();
        let mut p = Packer::new(&mut out);
        p.claim_name(b"./a/b/").unwrap();
        let err = p.claim_name(b"a//b").unwrap_err();
        assert!(matches!(err, TarSplitError::DuplicatePath { ref name } if name == "a//b"));
        p.claim_name(b"a/c").unwrap();
    }

    #[test]
    fn go_clean_matches_filepath_clean() {
        for (i, o) in [
            ("", "."),
            (".", "."),
            ("./", "."),
            ("a/", "a"),
            ("./a//b/./c/", "a/b/c"),
            ("a/../..", ".."),
            ("../a/../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/b/../../c", "c"),
        ] {
            assert_eq!(go_clean(i.as_bytes()), o.as_bytes(), "clean({i:?})");
        }
    }

    #[test]
    fn unpacker_reads_what_packer_writes() {
        let s = packed(|p| {
            p.add_segment(b"\0\x01hdr").unwrap();
            p.add_file(b"caf\xe9", Some((3, 7))).unwrap();
            p.add_file(b"d/", None).unwrap();
            p.add_segment(b"").unwrap();
        });
        let mut u = Unpacker::new(s.as_bytes());
        assert_eq!(
            u.next_entry().unwrap(),
            Some(Entry::Segment(b"\0\x01hdr".to_vec()))
        );
        assert_eq!(
            u.next_entry().unwrap(),
            Some(Entry::File {
                name: b"caf\xe9".to_vec(),
                size: 3,
                crc: Some(7u64.to_be_bytes().to_vec())
            })
        );
        assert_eq!(
            u.next_entry().unwrap(),
            Some(Entry::File {
                name: b"d/".to_vec(),
                size: 0,
                crc: None
            })
        );
        assert_eq!(u.next_entry().unwrap(), Some(Entry::Segment(Vec::new())));
        assert_eq!(u.next_entry().unwrap(), None);
    }

    #[test]
    fn unpacker_refuses_duplicates_unknown_types_and_bad_json() {
        let dup = "{\"type\":1,\"name\":\"a\",\"payload\":null,\"position\":0}\n\
                   {\"type\":1,\"name\":\"./a\",\"payload\":null,\"position\":1}\n";
        let mut u = Unpacker::new(dup.as_bytes());
        u.next_entry().unwrap();
        assert!(matches!(
            u.next_entry(),
            Err(TarSplitError::DuplicatePath { .. })
        ));

        let mut u = Unpacker::new("{\"type\":3,\"position\":0}\n".as_bytes());
        assert!(matches!(
            u.next_entry(),
            Err(TarSplitError::UnknownEntryType { line: 1, ty: 3 })
        ));

        let mut u = Unpacker::new("\n{\"type\":2,\"payload\":\"%%%\"}\n".as_bytes());
        assert!(matches!(
            u.next_entry(),
            Err(TarSplitError::Json { line: 2, .. })
        ));

        let mut u = Unpacker::new("{\"type\":1,\"name\":\"x\",\"size\":-1}\n".as_bytes());
        assert!(matches!(
            u.next_entry(),
            Err(TarSplitError::BadEntry { line: 1, .. })
        ));
    }

    #[test]
    fn unpacker_caps_line_length() {
        let mut long = vec![b' '; MAX_LINE + 10];
        long.push(b'\n');
        let mut u = Unpacker::new(&long[..]);
        assert!(matches!(
            u.next_entry(),
            Err(TarSplitError::LineTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn unpacker_ignores_unknown_fields_and_reads_name_raw() {
        let s = "{\"type\":1,\"name\":\"ignored\",\"name_raw\":\"/w==\",\"size\":2,\"payload\":\"AAAAAAAAAAA=\",\"position\":9,\"extra\":[1]}";
        let mut u = Unpacker::new(s.as_bytes());
        assert_eq!(
            u.next_entry().unwrap(),
            Some(Entry::File {
                name: vec![0xff],
                size: 2,
                crc: Some(vec![0; 8])
            })
        );
    }
}
