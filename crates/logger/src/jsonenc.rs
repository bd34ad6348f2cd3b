//! Go-compatible JSON string escaping.
//!
//! Hand-written because the output must be byte-identical to Docker's
//! `jsonlogbytes.go` (and Go's `encoding/json` for `attrs`): `<`, `>`, `&`,
//! U+2028 and U+2029 are escaped, and every byte that Go's `utf8.DecodeRune`
//! rejects becomes its own `\ufffd` (serde_json escapes differently and std's
//! lossy UTF-8 decoding replaces maximal invalid sequences, not single bytes).

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Length of the valid UTF-8 sequence starting at `s[0]` (which is >= 0x80),
/// or `None` where Go's `utf8.DecodeRune` returns `(RuneError, 1)`.
fn utf8_seq_len(s: &[u8]) -> Option<usize> {
    let cont = |i: usize| s.get(i).is_some_and(|b| (0x80..=0xBF).contains(b));
    let in_range = |i: usize, lo: u8, hi: u8| s.get(i).is_some_and(|b| (lo..=hi).contains(b));
    match s.first()? {
        0xC2..=0xDF => cont(1).then_some(2),
        0xE0 => (in_range(1, 0xA0, 0xBF) && cont(2)).then_some(3),
        0xE1..=0xEC | 0xEE..=0xEF => (cont(1) && cont(2)).then_some(3),
        0xED => (in_range(1, 0x80, 0x9F) && cont(2)).then_some(3),
        0xF0 => (in_range(1, 0x90, 0xBF) && cont(2) && cont(3)).then_some(4),
        0xF1..=0xF3 => (cont(1) && cont(2) && cont(3)).then_some(4),
        0xF4 => (in_range(1, 0x80, 0x8F) && cont(2) && cont(3)).then_some(4),
        _ => None,
    }
}

/// Appends `s` as a quoted JSON string.
///
/// `short_tab` selects Go `encoding/json` behaviour (`\t`) instead of
/// jsonlogbytes.go's (`\u0009`).
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8], short_tab: bool) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if b >= 0x20 && b != b'\\' && b != b'"' && b != b'<' && b != b'>' && b != b'&' {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' if short_tab => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ]),
            }
            i += 1;
            start = i;
            continue;
        }
        match utf8_seq_len(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some(3)
                if s[i] == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9) =>
            {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if s[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            }
            Some(n) => i += n,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Appends a string map as Go's `json.Marshal(map[string]string)` would (sorted keys).
pub(crate) fn write_string_map(
    out: &mut Vec<u8>,
    map: &std::collections::BTreeMap<String, String>,
) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k.as_bytes(), true);
        out.push(b':');
        write_string(out, v.as_bytes(), true);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut v = Vec::new();
        write_string(&mut v, s, false);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_html_quotes_and_controls_like_jsonlogbytes() {
        assert_eq!(
            esc(b"a<b>&\"\\\n\r\t\x01\x7f"),
            format!("{}\u{7f}\"", r#""a\u003cb\u003e\u0026\"\\\n\r\u0009\u0001"#)
        );
    }

    #[test]
    fn invalid_utf8_becomes_one_replacement_per_byte() {
        assert_eq!(esc(b"\xe2\x82a"), r#""\ufffd\ufffda""#);
        assert_eq!(esc(b"\xff\xfe"), r#""\ufffd\ufffd""#);
        assert_eq!(esc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(esc("héllo €😀".as_bytes()), "\"héllo €😀\"");
    }

    #[test]
    fn line_separators_are_escaped() {
        assert_eq!(esc("a\u{2028}b\u{2029}".as_bytes()), r#""a\u2028b\u2029""#);
    }

    #[test]
    fn string_map_uses_encoding_json_tab_escape() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("z".to_owned(), "1\t<".to_owned());
        m.insert("a".to_owned(), "x".to_owned());
        let mut v = Vec::new();
        write_string_map(&mut v, &m);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#"{"a":"x","z":"1\t\u003c"}"#
        );
    }
}
