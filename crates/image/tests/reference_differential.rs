#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Checks the hand-written reference grammar against docker/distribution's
//! regular expressions (v2.8.1, with the IPv6 host of the newer
//! github.com/distribution/reference), rebuilt here with the `regex` crate,
//! whose leftmost-first capture semantics are Go's. Inputs are generated
//! from a small alphabet of interesting tokens by a fixed-seed generator.

use image::reference::{parse, ReferenceError};
use image::DigestError;
use regex::Regex;

struct GoGrammar {
    reference: Regex,
    name: Regex,
}

impl GoGrammar {
    fn new() -> Self {
        let alnum = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]*)";
        let component = format!("{alnum}(?:(?:{separator}{alnum})+)?");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain_name = format!(r"{domain_component}(?:(?:\.{domain_component})+)?");
        let host = format!(r"(?:{domain_name}|\[(?:[a-fA-F0-9:]+)\])");
        let domain = format!("{host}(?::[0-9]+)?");
        let tag = r"[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
        let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}";
        let name = format!("(?:{domain}/)?{component}(?:(?:/{component})+)?");
        GoGrammar {
            reference: Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$")).unwrap(),
            name: Regex::new(&format!(
                "^(?:({domain})/)?({component}(?:(?:/{component})+)?)$"
            ))
            .unwrap(),
        }
    }

    /// distribution's `Parse`, summarised as a comparable string.
    fn parse(&self, s: &str) -> String {
        let Some(c) = self.reference.captures(s) else {
            if s.is_empty() {
                return "err:empty".into();
            }
            let lower: String = s
                .chars()
                .map(|c| if c == '\u{130}' { 'i' } else { single_lower(c) })
                .collect();
            if self.reference.is_match(&lower) {
                return "err:uppercase".into();
            }
            return "err:format".into();
        };
        let name = c.get(1).map_or("", |m| m.as_str());
        if name.len() > 255 {
            return "err:toolong".into();
        }
        let n = self.name.captures(name).unwrap();
        let domain = n.get(1).map_or("", |m| m.as_str());
        let path = n.get(2).map_or("", |m| m.as_str());
        let tag = c.get(2).map_or("", |m| m.as_str());
        let digest = c.get(3).map_or("", |m| m.as_str());
        if !digest.is_empty() {
            if let Err(e) = image::Digest::parse(digest) {
                return format!("err:digest:{e}");
            }
        }
        format!("ok:{domain}|{path}|{tag}|{digest}")
    }
}

fn single_lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn ours(s: &str) -> String {
    match parse(s) {
        Ok(n) => format!(
            "ok:{}|{}|{}|{}",
            n.domain(),
            n.path(),
            n.tag().unwrap_or(""),
            n.digest().map(|d| d.to_string()).unwrap_or_default()
        ),
        Err(ReferenceError::NameEmpty) => "err:empty".into(),
        Err(ReferenceError::NameContainsUppercase { .. }) => "err:uppercase".into(),
        Err(ReferenceError::InvalidFormat { .. }) => "err:format".into(),
        Err(ReferenceError::NameTooLong { .. }) => "err:toolong".into(),
        Err(ReferenceError::Digest(e)) => {
            let e: &DigestError = &e;
            format!("err:digest:{e}")
        }
        Err(other) => format!("err:other:{other}"),
    }
}

const TOKENS: &[&str] = &[
    "a",
    "b",
    "z",
    "0",
    "9",
    "f",
    "A",
    "Z",
    "F",
    ".",
    "_",
    "__",
    "-",
    "--",
    ":",
    "/",
    "//",
    "@",
    "[",
    "]",
    "::1",
    "localhost",
    "docker.io",
    "library",
    "5000",
    "sha256:",
    "sha512:",
    "Sha256:",
    "x+y:",
    "ffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "%",
    " ",
    "\u{212a}",
    "\u{130}",
    "é",
    "~",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn hand_written_grammar_agrees_with_distribution_regexps() {
    let go = GoGrammar::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..150_000 {
        let len = rng.below(14);
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        if i % 97 == 0 {
            // Exercise the length limits now and then.
            s = format!("{}{}", "ab/".repeat(rng.below(100)), s);
        }
        let want = go.parse(&s);
        let got = ours(&s);
        assert_eq!(got, want, "input {s:?}");
        if want.starts_with("ok:") {
            accepted += 1;
        }
    }
    // The generator must reach the accepting paths often enough to mean something.
    assert!(accepted > 5_000, "only {accepted} accepted inputs");
}
