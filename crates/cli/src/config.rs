//! The CLI's config dir: `--config`, then `DOCKER_CONFIG`, then
//! `~/.balena-engine`. config.json holds credentials and defaults; it is
//! read tolerantly (unknown keys kept for other tools).

use std::path::PathBuf;

/// The config directory in effect.
pub fn dir(flag: Option<&str>) -> PathBuf {
    if let Some(f) = flag {
        return PathBuf::from(f);
    }
    if let Ok(d) = std::env::var("DOCKER_CONFIG") {
        if !d.is_empty() {
            return PathBuf::from(d);
        }
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_string());
    PathBuf::from(home).join(".balena-engine")
}

/// Loads and checks config.json; a missing file is fine.
pub fn load(flag: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let path = dir(flag).join("config.json");
    match std::fs::read(&path) {
        Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err(format!("{}: not a JSON object", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The `X-Registry-Auth` header for `registry` from config.json's
/// `auths` (`auth` is base64 of `user:password`), if any.
pub fn registry_auth_header(flag: Option<&str>, registry: &str) -> Option<String> {
    use base64::Engine as _;
    let cfg = load(flag).ok()?;
    let auths = cfg.get("auths")?.as_object()?;
    let keys: Vec<String> = if registry == "docker.io" {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    };
    let entry = keys.iter().find_map(|k| auths.get(k))?.as_object()?;
    let mut out = serde_json::Map::new();
    if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        out.insert("username".into(), u.into());
        out.insert("password".into(), p.into());
    }
    if let Some(t) = entry.get("identitytoken") {
        out.insert("identitytoken".into(), t.clone());
    }
    if out.is_empty() {
        return None;
    }
    out.insert("serveraddress".into(), registry.into());
    let json = serde_json::to_vec(&out).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE.encode(json))
}

fn write_config(
    flag: Option<&str>,
    cfg: &serde_json::Map<String, serde_json::Value>,
) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let d = dir(flag);
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    let path = d.join("config.json");
    let tmp = d.join(format!(".config.json.tmp-{}", std::process::id()));
    let data = serde_json::to_vec_pretty(cfg).map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(&data)
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Saves `user:password` for `server` in config.json (mode 0600).
pub fn store_credentials(
    flag: Option<&str>,
    server: &str,
    user: &str,
    password: &str,
) -> Result<std::path::PathBuf, String> {
    use base64::Engine as _;
    let mut cfg = load(flag)?;
    let auths = cfg.entry("auths").or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    if let Some(m) = auths.as_object_mut() {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        m.insert(server.to_string(), serde_json::json!({"auth": auth}));
    }
    write_config(flag, &cfg)
}

/// Forgets `server`'s credentials; false when there were none.
pub fn remove_credentials(flag: Option<&str>, server: &str) -> Result<bool, String> {
    let mut cfg = load(flag)?;
    let removed = cfg
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|m| m.remove(server))
        .is_some();
    if removed {
        write_config(flag, &cfg)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_environment() {
        assert_eq!(dir(Some("/x")), PathBuf::from("/x"));
    }

    #[test]
    fn missing_config_is_empty_and_bad_json_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().display().to_string();
        assert!(load(Some(&p)).unwrap().is_empty());
        std::fs::write(d.path().join("config.json"), "{bad").unwrap();
        assert!(load(Some(&p)).unwrap_err().contains("config.json"));
        std::fs::write(d.path().join("config.json"), r#"{"auths":{}}"#).unwrap();
        assert!(load(Some(&p)).unwrap().contains_key("auths"));
    }
}
