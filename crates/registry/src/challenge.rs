//! `WWW-Authenticate` parsing (RFC 7235), with the tolerance of
//! distribution's challenge parser: lowercase scheme and parameter names,
//! token or quoted-string values with backslash escapes, parsing stops
//! quietly at the first malformed parameter. Unlike distribution, several
//! challenges in one header (`Basic realm="a", Bearer realm="b"`) are split.
//!
//! Written by hand: the few crates that parse this header either handle one
//! challenge per header or pull in a full HTTP framework.

use std::collections::BTreeMap;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`).
    pub(crate) scheme: String,
    /// The parameters, names lowercased.
    pub(crate) params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

const MAX_CHALLENGES: usize = 16;
const MAX_PARAMS: usize = 32;

fn is_token_byte(b: u8) -> bool {
    b > 31 && b < 127 && !b" \t\"(),/:;<=>?@[]\\{}".contains(&b)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn skip_space_and_commas(&mut self) {
        while self.peek().is_some_and(|b| is_space(b) || b == b',') {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A quoted string (cursor on the opening quote). `None` when
    /// unterminated, like distribution.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut escape = false;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if escape {
                escape = false;
                out.push(b);
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                return Some(out);
            } else {
                out.push(b);
            }
        }
        None
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses every challenge out of the given `WWW-Authenticate` header values.
pub(crate) fn parse_www_authenticate<'a, I>(headers: I) -> Vec<Challenge>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for h in headers {
        parse_one_header(h, &mut out);
        if out.len() >= MAX_CHALLENGES {
            out.truncate(MAX_CHALLENGES);
            break;
        }
    }
    out
}

fn parse_one_header(h: &[u8], out: &mut Vec<Challenge>) {
    let mut c = Cursor { s: h, pos: 0 };
    while out.len() < MAX_CHALLENGES {
        c.skip_space_and_commas();
        let scheme = c.token();
        if scheme.is_empty() {
            return;
        }
        let mut challenge = Challenge {
            scheme: text(scheme).to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        c.skip_space();
        // token68 form (`Negotiate abc==`): kept under the empty name.
        if let Some(end) = token68_end(&c) {
            challenge
                .params
                .insert(String::new(), text(&c.s[c.pos..end]));
            c.pos = end;
            out.push(challenge);
            continue;
        }
        // auth-params, comma separated; a token not followed by `=` starts
        // the next challenge.
        let mut first = true;
        loop {
            c.skip_space();
            if !first && c.peek() != Some(b',') {
                break;
            }
            first = false;
            c.skip_space_and_commas();
            let key_start = c.pos;
            let key = c.token();
            if key.is_empty() {
                break;
            }
            c.skip_space();
            if c.peek() != Some(b'=') {
                c.pos = key_start;
                break;
            }
            c.pos += 1;
            c.skip_space();
            let value = if c.peek() == Some(b'"') {
                c.quoted()
            } else {
                Some(c.token().to_vec())
            };
            match value {
                Some(v) if !v.is_empty() => {
                    if challenge.params.len() < MAX_PARAMS {
                        challenge
                            .params
                            .insert(text(key).to_ascii_lowercase(), text(&v));
                    }
                }
                // distribution stops at an empty or unterminated value
                _ => {
                    out.push(challenge);
                    return;
                }
            }
        }
        out.push(challenge);
    }
}

/// If a token68 (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`)
/// starts at the cursor and is followed only by spaces up to a comma or the
/// end, returns where it ends.
fn token68_end(c: &Cursor<'_>) -> Option<usize> {
    let mut end = c.pos;
    while c
        .s
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
    {
        end += 1;
    }
    if end == c.pos {
        return None;
    }
    while c.s.get(end) == Some(&b'=') {
        end += 1;
    }
    let mut p = Cursor { s: c.s, pos: end };
    p.skip_space();
    matches!(p.peek(), None | Some(b',')).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (String, Vec<(String, String)>);

    fn parse(h: &str) -> Vec<Parsed> {
        parse_www_authenticate([h.as_bytes()])
            .into_iter()
            .map(|c| (c.scheme, c.params.into_iter().collect()))
            .collect()
    }

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Parsed {
        (
            scheme.to_owned(),
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn www_authenticate_table() {
        let cases: Vec<(&str, Vec<Parsed>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://auth.docker.io/token"),
                        ("scope", "repository:library/busybox:pull"),
                        ("service", "registry.docker.io"),
                    ],
                )],
            ),
            (
                r#"Basic realm="Registry Realm""#,
                vec![ch("basic", &[("realm", "Registry Realm")])],
            ),
            (
                r#"BEARER Realm=http://a/b , Service = "s""#,
                vec![ch("bearer", &[("realm", "http")])],
            ),
            (
                r#"Bearer realm="a\"b\\c",service=tok"#,
                vec![ch("bearer", &[("realm", r#"a"b\c"#), ("service", "tok")])],
            ),
            (
                r#"Basic realm="x", Bearer realm="y",service="z""#,
                vec![
                    ch("basic", &[("realm", "x")]),
                    ch("bearer", &[("realm", "y"), ("service", "z")]),
                ],
            ),
            (
                r#"Bearer realm="https://r",error="insufficient_scope",scope="repository:a:pull,push""#,
                vec![ch(
                    "bearer",
                    &[
                        ("error", "insufficient_scope"),
                        ("realm", "https://r"),
                        ("scope", "repository:a:pull,push"),
                    ],
                )],
            ),
            ("Basic", vec![ch("basic", &[])]),
            ("Negotiate abc==", vec![ch("negotiate", &[("", "abc==")])]),
            (
                "Negotiate abc, Basic realm=x",
                vec![
                    ch("negotiate", &[("", "abc")]),
                    ch("basic", &[("realm", "x")]),
                ],
            ),
            (r#"Bearer realm="unterminated"#, vec![ch("bearer", &[])]),
            (r#"Bearer realm="", service="s""#, vec![ch("bearer", &[])]),
            ("", vec![]),
            ("   ", vec![]),
            ("=oops", vec![]),
            (
                r#"Bearer realm="a",,service="b""#,
                vec![ch("bearer", &[("realm", "a"), ("service", "b")])],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), want, "input {input:?}");
        }
    }

    #[test]
    fn several_header_values_are_all_parsed() {
        let got = parse_www_authenticate([&b"Basic realm=a"[..], &b"Bearer realm=b"[..]]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].param("realm"), Some("b"));
    }

    #[test]
    fn non_utf8_values_do_not_panic() {
        let got = parse_www_authenticate([&b"Bearer realm=\"\xff\xfe\""[..]]);
        assert_eq!(got[0].param("realm"), Some("\u{fffd}\u{fffd}"));
    }

    #[test]
    fn challenge_count_is_bounded() {
        let h = "Basic realm=a, ".repeat(100);
        assert_eq!(parse(&h).len(), MAX_CHALLENGES);
    }
}
