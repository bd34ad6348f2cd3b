//! The CLI's commands, one module per group.

pub mod archive;
pub mod container;
pub mod cp;
pub mod distribution;
pub mod events;
pub mod fs;
pub mod images;
pub mod network;
pub mod ops;
pub mod pull;
pub mod system;
pub mod volume;

/// A query-string value, percent-encoded as Go's `url.QueryEscape`.
pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A path segment: unreserved characters kept, everything else escaped.
pub(crate) fn enc_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `opts.MapOpts`: `k=v`, or `k` for an empty value.
pub(crate) fn map_opts(values: &[String]) -> std::collections::BTreeMap<String, String> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (v.clone(), String::new()),
        })
        .collect()
}

/// docker's `PromptForConfirmation`: the question on `out`, one line from
/// `input` (a terminal or not), yes only for `y`/`Y`.
pub(crate) fn confirm(
    input: &mut impl std::io::BufRead,
    out: &mut impl std::io::Write,
    message: &str,
) -> bool {
    let _ = write!(out, "{message} [y/N] ");
    let _ = out.flush();
    let mut line = String::new();
    let _ = input.read_line(&mut line);
    let answer = line.trim_end_matches(['\n', '\r']);
    answer.eq_ignore_ascii_case("y")
}

/// The prune commands' guard: true with `--force`, else asks on stdin.
pub(crate) fn confirmed(force: bool, message: &str) -> bool {
    force
        || confirm(
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
            message,
        )
}
