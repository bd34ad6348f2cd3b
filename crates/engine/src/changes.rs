//! Dockerfile instructions given as `--change` to `import` and `commit`:
//! CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
//! WORKDIR, applied to an image's container config (a JSON object).

use serde_json::{json, Map, Value};

use crate::EngineError;

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(msg.into())
}

/// JSON array form (`["a","b"]`) or shell form (`/bin/sh -c "..."`).
fn command(arg: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(arg.trim()) {
        Ok(v) => json!(v),
        Err(_) => json!(["/bin/sh", "-c", arg.trim()]),
    }
}

/// `k=v k2="v 2"` or the legacy `k v`.
fn pairs(arg: &str) -> Result<Vec<(String, String)>, EngineError> {
    let arg = arg.trim();
    if !arg.contains('=') {
        let (k, v) = arg
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(format!("invalid key value pair {arg:?}")))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = arg.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(bad(format!("invalid key value pair {arg:?}")));
        }
        let mut val = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"') | (None, '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.next() {
                        val.push(n);
                    }
                    continue;
                }
                (_, c) => val.push(c),
            }
            chars.next();
        }
        out.push((key, val));
    }
    Ok(out)
}

/// Applies `changes` to `config` (the image's `config` object).
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<(), EngineError> {
    for change in changes
        .iter()
        .flat_map(|c| c.lines())
        .filter(|l| !l.trim().is_empty())
    {
        let change = change.trim();
        let (instr, arg) = change
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let arg = arg.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.insert("Cmd".into(), command(arg));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), command(arg));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                let list = env
                    .as_array_mut()
                    .ok_or_else(|| bad("image Env is not a list"))?;
                for (k, v) in pairs(arg)? {
                    list.retain(|e| {
                        e.as_str().and_then(|s| s.split_once('=')).map(|(n, _)| n)
                            != Some(k.as_str())
                    });
                    list.push(json!(format!("{k}={v}")));
                }
            }
            "LABEL" => {
                let labels = config.entry("Labels").or_insert_with(|| json!({}));
                if labels.is_null() {
                    *labels = json!({});
                }
                let m = labels
                    .as_object_mut()
                    .ok_or_else(|| bad("image Labels is not a map"))?;
                for (k, v) in pairs(arg)? {
                    m.insert(k, json!(v));
                }
            }
            "EXPOSE" => {
                let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
                if ports.is_null() {
                    *ports = json!({});
                }
                let m = ports
                    .as_object_mut()
                    .ok_or_else(|| bad("image ExposedPorts is not a map"))?;
                for p in arg.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                    if num.split('-').any(|n| n.parse::<u16>().is_err())
                        || !matches!(proto, "tcp" | "udp" | "sctp")
                    {
                        return Err(bad(format!("invalid port {p:?} in EXPOSE")));
                    }
                    m.insert(p, json!({}));
                }
            }
            "VOLUME" => {
                let vols = config.entry("Volumes").or_insert_with(|| json!({}));
                if vols.is_null() {
                    *vols = json!({});
                }
                let m = vols
                    .as_object_mut()
                    .ok_or_else(|| bad("image Volumes is not a map"))?;
                let list: Vec<String> = serde_json::from_str(arg)
                    .unwrap_or_else(|_| arg.split_whitespace().map(str::to_string).collect());
                for v in list {
                    m.insert(v, json!({}));
                }
            }
            "USER" => {
                config.insert("User".into(), json!(arg));
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(arg));
            }
            "STOPSIGNAL" => {
                config.insert("StopSignal".into(), json!(arg));
            }
            "ONBUILD" => {
                let ob = config.entry("OnBuild").or_insert_with(|| json!([]));
                if ob.is_null() {
                    *ob = json!([]);
                }
                ob.as_array_mut()
                    .ok_or_else(|| bad("image OnBuild is not a list"))?
                    .push(json!(arg));
            }
            other => return Err(bad(format!("{other} is not a valid change command"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(changes: &[&str]) -> Map<String, Value> {
        let mut m = Map::new();
        apply(
            &mut m,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        m
    }

    #[test]
    fn commands_take_both_forms() {
        let m = run(&["CMD [\"sh\",\"-c\",\"x\"]", "ENTRYPOINT /bin/app --flag"]);
        assert_eq!(m["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(m["Entrypoint"], json!(["/bin/sh", "-c", "/bin/app --flag"]));
    }

    #[test]
    fn env_and_labels_parse_pairs() {
        let m = run(&[
            "ENV A=1 B=\"two words\"",
            "ENV A=3",
            "ENV C 4 5",
            "LABEL x=y",
        ]);
        assert_eq!(m["Env"], json!(["B=two words", "A=3", "C=4 5"]));
        assert_eq!(m["Labels"], json!({"x": "y"}));
    }

    #[test]
    fn other_instructions() {
        let m = run(&[
            "EXPOSE 80 53/udp",
            "USER 1000:1000",
            "WORKDIR /app",
            "VOLUME [\"/data\"]",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(m["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(m["User"], "1000:1000");
        assert_eq!(m["WorkingDir"], "/app");
        assert_eq!(m["Volumes"], json!({"/data": {}}));
        assert_eq!(m["StopSignal"], "SIGINT");
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut m = Map::new();
        assert!(apply(&mut m, &["RUN ls".into()]).is_err());
        assert!(apply(&mut m, &["EXPOSE http".into()]).is_err());
        assert!(apply(&mut m, &["ENV =x".into()]).is_err());
    }
}
