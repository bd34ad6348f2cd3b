//! Log driver selection, option validation, tag templates and extra attributes.

use std::collections::BTreeMap;

use crate::{ContainerInfo, LogError};

/// The log drivers this engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `json-file`: Docker's default, files under the container directory.
    JsonFile,
    /// `journald`: the systemd journal (native protocol).
    Journald,
    /// `none`: discard everything.
    None,
}

impl Driver {
    /// Docker's name for the driver.
    pub fn name(self) -> &'static str {
        match self {
            Driver::JsonFile => "json-file",
            Driver::Journald => "journald",
            Driver::None => "none",
        }
    }
}

/// A validated logging configuration (`HostConfig.LogConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: Driver,
    pub opts: BTreeMap<String, String>,
}

/// Options every driver accepts (handled by the engine, not the driver):
/// Docker's `mode`/`max-buffer-size` and balena's log-cache options.
const BUILTIN_OPTS: &[&str] = &[
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-file",
    "cache-max-size",
    "cache-compress",
];

const JSON_FILE_OPTS: &[&str] = &[
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];
const JOURNALD_OPTS: &[&str] = &["labels", "labels-regex", "env", "env-regex", "tag"];

/// Validates a driver name and its options like Docker's `ValidateLogOpts`
/// plus the value checks Docker only does when the container starts
/// (`max-size`, `max-file`, `compress`, regexes, `tag`), so bad values are
/// refused at create time with Docker's texts.
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<LogConfig, LogError> {
    if driver == "none" {
        return Ok(LogConfig {
            driver: Driver::None,
            opts: opts.clone(),
        });
    }
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(LogError::InvalidMode {
            mode: mode.to_owned(),
        });
    }
    if let Some(s) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err(LogError::BufferSizeNeedsNonBlocking);
        }
        parse_size(s, 1024).map_err(|_| LogError::InvalidBufferSize { value: s.clone() })?;
    }
    if let Some(v) = opts.get("cache-disabled").filter(|v| !v.is_empty()) {
        parse_go_bool(v).map_err(|_| LogError::InvalidCacheDisabled { value: v.clone() })?;
    }
    let (drv, known) = match driver {
        "json-file" => (Driver::JsonFile, JSON_FILE_OPTS),
        "journald" => (Driver::Journald, JOURNALD_OPTS),
        _ => {
            return Err(LogError::UnknownDriver {
                driver: driver.to_owned(),
            })
        }
    };
    for key in opts.keys() {
        if !BUILTIN_OPTS.contains(&key.as_str()) && !known.contains(&key.as_str()) {
            return Err(LogError::UnknownOpt {
                opt: key.clone(),
                driver: drv.name(),
            });
        }
    }
    if drv == Driver::JsonFile {
        JsonFileOpts::parse(opts)?;
    }
    compile_regexes(opts)?;
    if let Some(t) = opts.get("tag") {
        parse_tag(t)?;
    }
    Ok(LogConfig {
        driver: drv,
        opts: opts.clone(),
    })
}

/// go-units' `parseSize`: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`.
/// `base` 1000 is `FromHumanSize` (json-file `max-size`), 1024 is `RAMInBytes`.
pub(crate) fn parse_size(s: &str, base: u64) -> Result<u64, ()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    let num = &s[..i];
    // `\d+(\.\d+)*`: no leading, trailing or doubled dots.
    if num.is_empty() || num.split('.').any(str::is_empty) {
        return Err(());
    }
    // Go's ParseFloat rejects "1.2.3" after the regexp accepted it.
    let value: f64 = num.parse().map_err(|_| ())?;
    let mut rest = &b[i..];
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    let mut mul = 1u64;
    if let Some(c) = rest.first() {
        let exp = match c.to_ascii_lowercase() {
            b'k' => Some(1),
            b'm' => Some(2),
            b'g' => Some(3),
            b't' => Some(4),
            b'p' => Some(5),
            _ => None,
        };
        if let Some(e) = exp {
            mul = base.pow(e);
            rest = &rest[1..];
        }
    }
    if matches!(rest.first(), Some(b'i' | b'I')) {
        rest = &rest[1..];
    }
    if matches!(rest.first(), Some(b'b' | b'B')) {
        rest = &rest[1..];
    }
    if !rest.is_empty() {
        return Err(());
    }
    let v = value * mul as f64;
    // Go converts with int64(); saturate instead of wrapping.
    Ok(if v >= u64::MAX as f64 {
        u64::MAX
    } else {
        v as u64
    })
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Result<bool, ()> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(()),
    }
}

/// Parsed json-file options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonFileOpts {
    /// Rotate when the current file reaches this many bytes.
    pub max_size: Option<u64>,
    /// Number of files kept, including the current one.
    pub max_file: usize,
}

impl JsonFileOpts {
    pub(crate) fn parse(opts: &BTreeMap<String, String>) -> Result<Self, LogError> {
        let mut max_size = None;
        if let Some(s) = opts.get("max-size") {
            let v = parse_size(s, 1000).map_err(|_| LogError::InvalidSize { value: s.clone() })?;
            if v == 0 {
                return Err(LogError::MaxSizeNotPositive);
            }
            max_size = Some(v);
        }
        let mut max_file = 1usize;
        if let Some(s) = opts.get("max-file") {
            let v: i64 = s
                .parse()
                .map_err(|_| LogError::InvalidMaxFile { value: s.clone() })?;
            if v < 1 {
                return Err(LogError::MaxFileTooSmall);
            }
            max_file = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(s) = opts.get("compress") {
            let c = parse_go_bool(s).map_err(|_| LogError::InvalidBool { value: s.clone() })?;
            if c {
                if max_file == 1 || max_size.is_none() {
                    return Err(LogError::CompressNeedsRotation);
                }
                return Err(LogError::CompressUnsupported);
            }
        }
        Ok(JsonFileOpts { max_size, max_file })
    }
}

fn compile_regexes(
    opts: &BTreeMap<String, String>,
) -> Result<(Option<regex::Regex>, Option<regex::Regex>), LogError> {
    let compile = |opt: &'static str| -> Result<Option<regex::Regex>, LogError> {
        match opts.get(opt).filter(|s| !s.is_empty()) {
            Some(re) => regex::Regex::new(re)
                .map(Some)
                .map_err(|source| LogError::InvalidRegex { opt, source }),
            None => Ok(None),
        }
    };
    Ok((compile("labels-regex")?, compile("env-regex")?))
}

/// Docker's `Info.ExtraAttributes`: selected labels and env vars, keys
/// optionally rewritten by `key_mod`.
pub(crate) fn extra_attributes(
    opts: &BTreeMap<String, String>,
    info: &ContainerInfo,
    key_mod: Option<fn(&str) -> String>,
) -> Result<BTreeMap<String, String>, LogError> {
    let (labels_re, env_re) = compile_regexes(opts)?;
    let key = |k: &str| key_mod.map_or_else(|| k.to_owned(), |f| f(k));
    let mut extra = BTreeMap::new();
    if let Some(labels) = opts.get("labels").filter(|s| !s.is_empty()) {
        for l in labels.split(',') {
            if let Some(v) = info.labels.get(l) {
                extra.insert(key(l), v.clone());
            }
        }
    }
    if let Some(re) = labels_re {
        for (k, v) in &info.labels {
            if re.is_match(k) {
                extra.insert(key(k), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = info.env.iter().filter_map(|e| e.split_once('=')).collect();
    if let Some(names) = opts.get("env").filter(|s| !s.is_empty()) {
        for n in names.split(',') {
            if let Some(v) = env.get(n) {
                extra.insert(key(n), (*v).to_owned());
            }
        }
    }
    if let Some(re) = env_re {
        for (k, v) in &env {
            if re.is_match(k) {
                extra.insert(key(k), (*v).to_owned());
            }
        }
    }
    Ok(extra)
}

/// Tag template fields this engine supports (Docker's `logger.Info` methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagField {
    Id,
    FullId,
    Name,
    ImageName,
    ImageId,
    ImageFullId,
    DaemonName,
    Hostname,
}

enum TagPart<'a> {
    Text(&'a str),
    Field(TagField),
}

/// Parses the `{{.Field}}` subset of Go templates used in log tags.
///
/// Hand-written: a full Go `text/template` engine is far more than the few
/// field substitutions tags use in practice; anything else is refused.
fn parse_tag(template: &str) -> Result<Vec<TagPart<'_>>, LogError> {
    let err = |reason| LogError::InvalidTag {
        template: template.to_owned(),
        reason,
    };
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TagPart::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| err("unclosed action"))?;
        let field = match after[..close].trim() {
            ".ID" => TagField::Id,
            ".FullID" => TagField::FullId,
            ".Name" => TagField::Name,
            ".ImageName" => TagField::ImageName,
            ".ImageID" => TagField::ImageId,
            ".ImageFullID" => TagField::ImageFullId,
            ".DaemonName" => TagField::DaemonName,
            ".Hostname" => TagField::Hostname,
            _ => return Err(err("only {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageName}}, {{.ImageID}}, {{.ImageFullID}}, {{.DaemonName}} and {{.Hostname}} are supported")),
        };
        parts.push(TagPart::Field(field));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err(err("unexpected \"}}\""));
    }
    if !rest.is_empty() {
        parts.push(TagPart::Text(rest));
    }
    Ok(parts)
}

fn prefix12(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// Docker's `ParseLogTag`: the `tag` option (or `default`) rendered for `info`.
pub(crate) fn render_tag(
    opts: &BTreeMap<String, String>,
    info: &ContainerInfo,
    default: &str,
) -> Result<String, LogError> {
    let template = opts
        .get("tag")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or(default);
    let mut out = String::new();
    for part in parse_tag(template)? {
        match part {
            TagPart::Text(t) => out.push_str(t),
            TagPart::Field(f) => match f {
                TagField::Id => out.push_str(prefix12(&info.id)),
                TagField::FullId => out.push_str(&info.id),
                TagField::Name => out.push_str(info.name.trim_start_matches('/')),
                TagField::ImageName => out.push_str(&info.image_name),
                TagField::ImageId => out.push_str(prefix12(&info.image_id)),
                TagField::ImageFullId => out.push_str(&info.image_id),
                TagField::DaemonName => out.push_str(&info.daemon_name),
                TagField::Hostname => {
                    let h = nix::unistd::gethostname().map_err(|e| {
                        LogError::io("resolving hostname", "/proc/sys/kernel/hostname", e.into())
                    })?;
                    out.push_str(&h.to_string_lossy());
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn info() -> ContainerInfo {
        ContainerInfo {
            id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            name: "web".into(),
            image_name: "nginx:latest".into(),
            image_id: "sha256:fedcba9876543210".into(),
            labels: [
                ("com.x".to_owned(), "1".to_owned()),
                ("other".to_owned(), "2".to_owned()),
            ]
            .into_iter()
            .collect(),
            env: vec!["A=1".into(), "B=x=y".into(), "NOVALUE".into()],
            daemon_name: "balena-engine".into(),
        }
    }

    #[test]
    fn validate_reports_docker_texts() {
        let e = |d: &str, kv: &[(&str, &str)]| validate(d, &opts(kv)).unwrap_err().to_string();
        assert_eq!(
            e("syslog", &[]),
            "logger: no log driver named 'syslog' is registered"
        );
        assert_eq!(
            e("json-file", &[("foo", "1")]),
            "unknown log opt 'foo' for json-file log driver"
        );
        assert_eq!(
            e("journald", &[("max-size", "1k")]),
            "unknown log opt 'max-size' for journald log driver"
        );
        assert_eq!(e("json-file", &[("max-size", "1x")]), "invalid size: '1x'");
        assert_eq!(
            e("json-file", &[("max-size", "0")]),
            "max-size must be a positive number"
        );
        assert_eq!(
            e("json-file", &[("max-file", "a")]),
            "strconv.Atoi: parsing \"a\": invalid syntax"
        );
        assert_eq!(
            e("json-file", &[("max-file", "0")]),
            "max-file cannot be less than 1"
        );
        assert_eq!(
            e("json-file", &[("compress", "yes")]),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            e("json-file", &[("compress", "true"), ("max-file", "2")]),
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        );
        assert!(matches!(
            validate(
                "json-file",
                &opts(&[("compress", "true"), ("max-file", "2"), ("max-size", "1m")])
            ),
            Err(LogError::CompressUnsupported)
        ));
        assert_eq!(
            e("json-file", &[("mode", "fast")]),
            "logger: logging mode not supported: fast"
        );
        assert_eq!(
            e("json-file", &[("max-buffer-size", "1m")]),
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        );
        assert_eq!(
            e(
                "json-file",
                &[("mode", "non-blocking"), ("max-buffer-size", "x")]
            ),
            "error parsing option max-buffer-size: invalid size: 'x'"
        );
        assert!(validate("json-file", &opts(&[("labels-regex", "(")])).is_err());
        assert!(validate("json-file", &opts(&[("tag", "{{.Bogus}}")])).is_err());
    }

    #[test]
    fn validate_accepts_known_options() {
        let c = validate(
            "json-file",
            &opts(&[
                ("max-size", "10m"),
                ("max-file", "3"),
                ("compress", "false"),
                ("mode", "non-blocking"),
                ("max-buffer-size", "4m"),
                ("tag", "{{.Name}}"),
            ]),
        )
        .unwrap();
        assert_eq!(c.driver, Driver::JsonFile);
        assert_eq!(
            validate("none", &opts(&[("anything", "x")]))
                .unwrap()
                .driver,
            Driver::None
        );
        assert_eq!(
            validate(
                "journald",
                &opts(&[("tag", "x"), ("cache-disabled", "true")])
            )
            .unwrap()
            .driver,
            Driver::Journald
        );
        assert_eq!(
            JsonFileOpts::parse(&opts(&[("max-size", "10m"), ("max-file", "3")])).unwrap(),
            JsonFileOpts {
                max_size: Some(10_000_000),
                max_file: 3
            }
        );
    }

    #[test]
    fn sizes_follow_go_units() {
        assert_eq!(parse_size("1k", 1000), Ok(1000));
        assert_eq!(parse_size("1k", 1024), Ok(1024));
        assert_eq!(parse_size("1.5 MiB", 1024), Ok(1_572_864));
        assert_eq!(parse_size("10", 1000), Ok(10));
        assert_eq!(parse_size("2gb", 1000), Ok(2_000_000_000));
        assert_eq!(parse_size("1.2.3k", 1000), Err(()));
        assert_eq!(parse_size(".5k", 1000), Err(()));
        assert_eq!(parse_size("-1", 1000), Err(()));
        assert_eq!(parse_size("1kx", 1000), Err(()));
    }

    #[test]
    fn tag_templates_substitute_fields() {
        let i = info();
        let r = |t: &str| render_tag(&opts(&[("tag", t)]), &i, "{{.ID}}").unwrap();
        assert_eq!(
            render_tag(&opts(&[]), &i, "{{.ID}}").unwrap(),
            "0123456789ab"
        );
        assert_eq!(render_tag(&opts(&[]), &i, "").unwrap(), "");
        assert_eq!(r("{{.Name}}/{{ .ImageName }}"), "web/nginx:latest");
        assert_eq!(
            r("{{.DaemonName}}-{{.ImageID}}"),
            "balena-engine-sha256:fedcb"
        );
        assert_eq!(r("{{.FullID}}").len(), 64);
        assert_eq!(r("plain"), "plain");
        assert!(render_tag(&opts(&[("tag", "{{.ID")]), &i, "").is_err());
    }

    #[test]
    fn extra_attributes_select_labels_and_env() {
        let i = info();
        let o = opts(&[
            ("labels", "com.x,missing"),
            ("env", "B"),
            ("env-regex", "^A$"),
        ]);
        let a = extra_attributes(&o, &i, None).unwrap();
        assert_eq!(a, opts(&[("com.x", "1"), ("B", "x=y"), ("A", "1")]));
        let o = opts(&[("labels-regex", "^oth")]);
        assert_eq!(
            extra_attributes(&o, &i, None).unwrap(),
            opts(&[("other", "2")])
        );
    }
}
