//! Docker's list filters (`?filters={"key":["v",...]}` or the older
//! `{"key":{"v":true}}`), and `path.Match`-style globs for `reference=`.

use std::collections::BTreeMap;

use crate::EngineError;

/// Parsed filters: key → accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the `filters` query value; empty means no filter.
    pub fn parse(json: Option<&str>) -> Result<Self, EngineError> {
        let Some(json) = json.filter(|j| !j.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| EngineError::InvalidArgument(format!("invalid filter: {e}")))?;
        let serde_json::Value::Object(m) = v else {
            return Err(EngineError::InvalidArgument(
                "invalid filter: not an object".into(),
            ));
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => Ok(s),
                        other => Ok(other.to_string()),
                    })
                    .collect::<Result<_, EngineError>>()?,
                serde_json::Value::Object(o) => o
                    .into_iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(false))
                    .map(|(s, _)| s)
                    .collect(),
                serde_json::Value::String(s) => vec![s],
                other => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid filter value for {k}: {other}"
                    )))
                }
            };
            out.insert(k, values);
        }
        Ok(Self(out))
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Refuses keys outside `allowed`, with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), EngineError> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        Ok(())
    }

    /// A boolean filter (`dangling=true`); None when absent.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, EngineError> {
        let vals = self.get(key);
        if vals.is_empty() {
            return Ok(None);
        }
        let mut result = None;
        for v in vals {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid filter '{key}={v}'"
                    )))
                }
            };
            result = Some(b);
        }
        Ok(result)
    }

    /// `label=key` or `label=key=value` against a label map: every given
    /// label must match.
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f.as_str()),
        })
    }
}

/// Go's `path.Match`: `*` (not across `/`), `?`, `[...]` classes with
/// ranges and `^`/`!` negation, `\` escapes. A malformed pattern matches
/// nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, length consumed incl. ']').
        let mut i = 0;
        let negate = matches!(p.first(), Some('^') | Some('!'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let ch = *p.get(i)?;
            if ch == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let lo = if ch == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                ch
            };
            i += 1;
            let mut hi = lo;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
                i += 1;
                hi = if p[i] == '\\' {
                    i += 1;
                    *p.get(i)?
                } else {
                    p[i]
                };
                i += 1;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    fn rec(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => {
                let rest = &p[1..];
                for i in 0..=s.len() {
                    if rec(rest, &s[i..]) {
                        return true;
                    }
                    if i < s.len() && s[i] == '/' {
                        return false;
                    }
                }
                false
            }
            Some('?') => !s.is_empty() && s[0] != '/' && rec(&p[1..], &s[1..]),
            Some('[') => {
                let Some(&c) = s.first() else { return false };
                if c == '/' {
                    return false;
                }
                match class(&p[1..], c) {
                    Some((true, n)) => rec(&p[1 + n..], &s[1..]),
                    _ => false,
                }
            }
            Some('\\') => match (p.get(1), s.first()) {
                (Some(a), Some(b)) if a == b => rec(&p[2..], &s[1..]),
                _ => false,
            },
            Some(&c) => s.first() == Some(&c) && rec(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    rec(&p, &s)
}

/// Docker's `filters.Match` for `name=`: equal, or the filter as an
/// unanchored regular expression found in the value. The forms used in
/// practice are plain text and `^`/`$` anchors, which this handles.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    if pattern == name {
        return true;
    }
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_forms_parse() {
        let a = Filters::parse(Some(r#"{"dangling":["true"],"label":["a=b","c"]}"#)).unwrap();
        let b = Filters::parse(Some(
            r#"{"dangling":{"true":true},"label":{"a=b":true,"c":true}}"#,
        ))
        .unwrap();
        assert_eq!(a.get("dangling"), ["true"]);
        assert_eq!(b.get("dangling"), ["true"]);
        assert_eq!(a.get("label").len(), 2);
        assert_eq!(b.get("label").len(), 2);
        assert_eq!(Filters::parse(None).unwrap(), Filters::default());
        assert!(Filters::parse(Some("{bad")).is_err());
    }

    #[test]
    fn unknown_filters_are_refused() {
        let f = Filters::parse(Some(r#"{"nope":["1"]}"#)).unwrap();
        assert_eq!(
            f.validate(&["dangling"]).unwrap_err().to_string(),
            "invalid filter 'nope'"
        );
    }

    #[test]
    fn bool_filters_follow_docker() {
        let f = Filters::parse(Some(r#"{"dangling":["false"]}"#)).unwrap();
        assert_eq!(f.bool("dangling").unwrap(), Some(false));
        assert_eq!(f.bool("missing").unwrap(), None);
        let f = Filters::parse(Some(r#"{"dangling":["maybe"]}"#)).unwrap();
        assert!(f.bool("dangling").is_err());
    }

    #[test]
    fn labels_match_by_key_or_key_value() {
        let f = Filters::parse(Some(r#"{"label":["a=b","c"]}"#)).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "b".to_string());
        assert!(!f.match_labels("label", &l));
        l.insert("c".to_string(), "x".to_string());
        assert!(f.match_labels("label", &l));
        l.insert("a".to_string(), "z".to_string());
        assert!(!f.match_labels("label", &l));
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sy", "busy"));
        assert!(glob_match("[a-c]at", "bat"));
        assert!(!glob_match("[^a-c]at", "bat"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("[", "x"));
    }
}
