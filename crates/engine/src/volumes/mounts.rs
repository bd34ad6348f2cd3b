//! A container's mount points (Docker's `volume/mounts.MountPoint`) and
//! the parsers that make them from `-v`, `--mount` and `--volumes-from`,
//! with the Linux parser's checks and messages. Pure.

use api::container::Mount;
use serde::{Deserialize, Serialize};

/// One mount of a container, kept in its record (Docker's
/// `MountPoints` of `config.v2.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name.
    #[serde(default)]
    pub name: String,
    /// Host path: the bind's source or the volume's `_data`.
    #[serde(default)]
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub driver: String,
    /// The raw mode string (`ro,z`), or `z` for a named local volume.
    #[serde(default)]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// The spec named its source (`-v name:/dst`): `rm -v` keeps the
    /// volume.
    #[serde(default)]
    pub named: bool,
    /// Copy the image's content into the volume at first start when the
    /// volume is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// `bind` instead of `rbind`.
    #[serde(default)]
    pub non_recursive: bool,
    /// tmpfs data (`size=...,mode=...`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// A `--mount` bind: its source must exist (a `-v` bind's missing
    /// source is made as a directory at start, as Docker does).
    #[serde(default)]
    pub skip_mountpoint_creation: bool,
    /// The volume was made for this mount by the create in progress.
    #[serde(skip)]
    pub created: bool,
    /// Driver options and labels for a volume the mount creates.
    #[serde(skip)]
    pub create_opts: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip)]
    pub create_labels: Option<std::collections::BTreeMap<String, String>>,
}

impl MountPoint {
    pub fn is_volume(&self) -> bool {
        self.kind == "volume"
    }
}

/// Docker's propagation modes.
const PROPAGATION: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Docker's `linuxValidMountMode`: each kind of option at most once.
pub fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let i = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            _ if PROPAGATION.contains(&o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn propagation_of(mode: &str) -> Option<&str> {
    mode.split(',').find(|o| PROPAGATION.contains(o))
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

/// Go's `path.Clean` for absolute paths.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn check_target(target: &str, kind: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(format!(
            "invalid mount config for type \"{kind}\": field Target must not be empty"
        ));
    }
    if !target.starts_with('/') {
        return Err(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
        ));
    }
    if clean(target) == "/" {
        return Err(format!(
            "invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
        ));
    }
    Ok(())
}

/// `-v` / `Binds` (Docker's `ParseMountRaw`). `volume_driver` is
/// `HostConfig.VolumeDriver`.
pub fn parse_raw(raw: &str, volume_driver: &str) -> Result<MountPoint, String> {
    if raw.matches(':').count() > 2 || raw.starts_with(':') || raw.is_empty() {
        return Err(invalid_spec(raw));
    }
    let parts: Vec<&str> = raw.splitn(3, ':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => {
            if valid_mode(t) {
                return Err(invalid_spec(raw));
            }
            (*s, *t, "")
        }
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid_spec(raw)),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    let kind = if source.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    check_target(target, kind).map_err(|e| format!("{}: {e}", invalid_spec(raw)))?;
    let rw = !mode.split(',').any(|o| o == "ro");
    let mut mp = MountPoint {
        kind: kind.into(),
        destination: clean(target),
        rw,
        mode: mode.to_string(),
        ..Default::default()
    };
    if kind == "bind" {
        mp.source = clean(source);
        mp.propagation = propagation_of(mode).unwrap_or("rprivate").to_string();
        mp.named = true;
    } else {
        if propagation_of(mode).is_some() {
            return Err(format!(
                "{}: invalid mount config for type \"volume\": field BindOptions must not be specified",
                invalid_spec(raw)
            ));
        }
        if source.is_empty() && !rw {
            return Err(format!(
                "{}: invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes",
                invalid_spec(raw)
            ));
        }
        mp.name = source.to_string();
        mp.named = !source.is_empty();
        mp.driver = volume_driver.to_string();
        mp.copy_data = !mode.split(',').any(|o| o == "nocopy");
    }
    Ok(mp)
}

/// One `HostConfig.Mounts` item (Docker's `ParseMountSpec`). Bind sources
/// must exist (checked by the caller, which has the host).
pub fn parse_spec(m: &Mount) -> Result<MountPoint, String> {
    let kind = m.kind.as_str();
    let err = |e: &str| format!("invalid mount config for type \"{kind}\": {e}");
    check_target(&m.target, kind)?;
    let mut mp = MountPoint {
        kind: kind.to_string(),
        destination: clean(&m.target),
        rw: !m.read_only,
        ..Default::default()
    };
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified"));
            }
            if !m.source.starts_with('/') {
                return Err(err(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            let bo = m.bind_options.clone().unwrap_or_default();
            if !bo.propagation.is_empty() && !PROPAGATION.contains(&bo.propagation.as_str()) {
                return Err(err(&format!(
                    "invalid propagation mode: {}",
                    bo.propagation
                )));
            }
            mp.source = clean(&m.source);
            mp.propagation = if bo.propagation.is_empty() {
                "rprivate".into()
            } else {
                bo.propagation
            };
            mp.non_recursive = bo.non_recursive;
            mp.named = true;
            mp.skip_mountpoint_creation = true;
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            if m.source.is_empty() && m.read_only {
                return Err(err(
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            mp.name = m.source.clone();
            mp.named = !m.source.is_empty();
            mp.copy_data = true;
            if let Some(vo) = &m.volume_options {
                if vo.no_copy {
                    mp.copy_data = false;
                }
                if let Some(dc) = &vo.driver_config {
                    mp.driver = dc["Name"].as_str().unwrap_or("").to_string();
                    let opts: std::collections::BTreeMap<String, String> = dc["Options"]
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    mp.create_opts = Some(opts);
                }
                mp.create_labels = Some(vo.labels.clone());
            }
        }
        "tmpfs" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            if !m.source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            mp.tmpfs_options = tmpfs_options(m);
        }
        _ => return Err(err("mount type unknown")),
    }
    Ok(mp)
}

/// Docker's `ConvertTmpfsOptions`: `ro`, `mode=` in octal, `size=` with
/// the largest unit that divides it.
pub fn tmpfs_options(m: &Mount) -> Vec<String> {
    let mut out = Vec::new();
    if m.read_only {
        out.push("ro".to_string());
    }
    if let Some(t) = &m.tmpfs_options {
        if t.mode != 0 {
            out.push(format!("mode={:o}", t.mode));
        }
        if t.size_bytes != 0 {
            let mut size = t.size_bytes;
            let mut suffix = "";
            for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if size % d == 0 {
                    size /= d;
                    suffix = s;
                    break;
                }
            }
            out.push(format!("size={size}{suffix}"));
        }
    }
    out
}

/// `--volumes-from c[:mode]` → (container, rw).
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool), String> {
    if spec.is_empty() {
        return Err("volumes-from specification cannot be an empty string".into());
    }
    let (id, mode) = match spec.split_once(':') {
        Some((id, m)) => (id, m),
        None => (spec, "rw"),
    };
    if !valid_mode(mode) || propagation_of(mode).is_some() || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(format!("invalid mode: {mode}"));
    }
    Ok((id.to_string(), !mode.split(',').any(|o| o == "ro")))
}

/// Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+` for local volume names, with
/// its two messages.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() == 1 {
        return Err(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        );
    }
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        return Err(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_specs_parse_like_dockers_linux_parser() {
        let m = parse_raw("data:/var/data:ro,nocopy", "").unwrap();
        assert_eq!(m.kind, "volume");
        assert_eq!(m.name, "data");
        assert!(m.named && !m.rw && !m.copy_data);
        assert_eq!(m.mode, "ro,nocopy");
        let m = parse_raw("/anon/", "").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.name.as_str(), m.named),
            ("volume", "", false)
        );
        assert_eq!(m.destination, "/anon");
        assert!(m.copy_data);
        let m = parse_raw("/src:/dst:rshared", "").unwrap();
        assert_eq!(m.kind, "bind");
        assert_eq!(m.propagation, "rshared");
        assert_eq!(parse_raw("/src:/dst", "").unwrap().propagation, "rprivate");
        assert_eq!(
            parse_raw("/dst:rw", "").unwrap_err(),
            "invalid volume specification: '/dst:rw'"
        );
        assert_eq!(
            parse_raw("a:/b:bogus", "").unwrap_err(),
            "invalid mode: bogus"
        );
        assert!(parse_raw("a:/b:ro,rw", "").is_err());
        assert!(parse_raw("a:b", "")
            .unwrap_err()
            .contains("must be absolute"));
        assert!(parse_raw("a:/", "").is_err());
        assert!(parse_raw("a:/b:c:d", "").is_err());
        assert!(parse_raw("/x:ro", "").is_err());
        assert!(parse_raw("vol:/x:shared", "")
            .unwrap_err()
            .contains("BindOptions"));
        assert_eq!(parse_raw("v:/x", "local").unwrap().driver, "local");
    }

    #[test]
    fn mount_specs_parse_with_dockers_checks() {
        let m: Mount = serde_json::from_str(
            r#"{"Type":"volume","Source":"v","Target":"/d","ReadOnly":true,
                "VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"},
                "DriverConfig":{"Name":"local","Options":{"type":"tmpfs","device":"tmpfs"}}}}"#,
        )
        .unwrap();
        let mp = parse_spec(&m).unwrap();
        assert!(!mp.rw && !mp.copy_data && mp.named);
        assert_eq!(mp.driver, "local");
        assert_eq!(mp.create_opts.unwrap()["type"], "tmpfs");
        assert_eq!(mp.create_labels.unwrap()["a"], "b");
        let m: Mount = serde_json::from_str(
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":2097152,"Mode":1777}}"#,
        )
        .unwrap();
        assert_eq!(
            parse_spec(&m).unwrap().tmpfs_options,
            ["mode=3361", "size=2m"]
        );
        let m: Mount =
            serde_json::from_str(r#"{"Type":"volume","Target":"/t","ReadOnly":true}"#).unwrap();
        assert!(parse_spec(&m).unwrap_err().contains("anonymous volumes"));
        let m: Mount = serde_json::from_str(r#"{"Type":"nfs","Target":"/t"}"#).unwrap();
        assert_eq!(
            parse_spec(&m).unwrap_err(),
            "invalid mount config for type \"nfs\": mount type unknown"
        );
        let m: Mount = serde_json::from_str(r#"{"Type":"bind","Target":"/t"}"#).unwrap();
        assert!(parse_spec(&m)
            .unwrap_err()
            .contains("Source must not be empty"));
    }

    #[test]
    fn volumes_from_takes_rw_or_ro_only() {
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".to_string(), true));
        assert_eq!(
            parse_volumes_from("c1:ro").unwrap(),
            ("c1".to_string(), false)
        );
        assert!(parse_volumes_from("c1:rshared").is_err());
        assert!(parse_volumes_from("c1:nocopy").is_err());
        assert!(parse_volumes_from("").is_err());
    }

    #[test]
    fn names_follow_dockers_restricted_pattern() {
        assert!(validate_name("my-vol_1.x").is_ok());
        assert!(validate_name("a").unwrap_err().contains("too short"));
        assert!(validate_name("-ab").is_err());
        assert!(validate_name("a/b")
            .unwrap_err()
            .contains("invalid characters"));
        assert!(validate_name("").is_err());
    }

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
        assert_eq!(clean("/"), "/");
    }
}
