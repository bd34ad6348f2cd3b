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
