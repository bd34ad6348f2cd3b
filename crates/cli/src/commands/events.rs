//! `balena-engine events`: follows `GET /events` and prints each event as
//! the docker CLI does (or through `--format`).

use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::commands::container::api_timestamp;
use crate::commands::enc;
use crate::commands::images::filters_json;
use crate::{format, Env, Failure};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
}

/// The docker CLI's default line: local time with nanoseconds, type,
/// action, actor id, then the attributes sorted by key.
fn default_line(ev: &serde_json::Value) -> String {
    let nanos = ev["timeNano"]
        .as_i64()
        .unwrap_or_else(|| ev["time"].as_i64().unwrap_or(0) * 1_000_000_000);
    let t = chrono::DateTime::from_timestamp_nanos(nanos).with_timezone(&chrono::Local);
    let mut line = format!(
        "{} {} {} {}",
        t.format("%Y-%m-%dT%H:%M:%S%.9f%:z")
            .to_string()
            .replace("+00:00", "Z"),
        ev["Type"].as_str().unwrap_or(""),
        ev["Action"].as_str().unwrap_or(""),
        ev["Actor"]["ID"].as_str().unwrap_or(""),
    );
    if let Some(attrs) = ev["Actor"]["Attributes"].as_object() {
        if !attrs.is_empty() {
            let mut kv: Vec<(&String, &serde_json::Value)> = attrs.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            line.push_str(&format!(" ({})", parts.join(", ")));
        }
    }
    line
}

/// `balena-engine events`.
pub async fn events(env: &Env, a: EventsArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let now = chrono::Utc::now();
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(format!(
            "since={}",
            api_timestamp(s, now).map_err(|e| Failure::new(1, e))?
        ));
    }
    if let Some(u) = &a.until {
        q.push(format!(
            "until={}",
            api_timestamp(u, now).map_err(|e| Failure::new(1, e))?
        ));
    }
    if !a.filter.is_empty() {
        q.push(format!("filters={}", enc(&filters_json(&a.filter)?)));
    }
    let path = if q.is_empty() {
        "/events".to_string()
    } else {
        format!("/events?{}", q.join("&"))
    };
    let empty = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Empty::new(),
        |never| match never {},
    ));
    let resp = client.stream(Method::GET, &path, empty, None).await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = tokio::io::stdout();
    let template = a.format.as_deref().filter(|f| !f.is_empty());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::new(1, e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&line) else {
                continue;
            };
            let text = match template {
                Some("json") => ev.to_string(),
                Some(t) => format::render(t, &ev).map_err(|e| Failure::new(1, e.to_string()))?,
                None => default_line(&ev),
            };
            let _ = out.write_all(format!("{text}\n").as_bytes()).await;
            let _ = out.flush().await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lines_look_like_the_docker_cli() {
        let ev = serde_json::json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox"}},
            "time": 1, "timeNano": 1_000_000_002i64,
        });
        let l = default_line(&ev);
        assert!(
            l.ends_with(" container start abc (image=busybox, name=web)"),
            "{l}"
        );
        assert!(l.contains(".000000002"), "{l}");
    }
}
