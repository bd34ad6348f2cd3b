//! `images`, `image inspect`, `rmi`, `tag`, `history`, `image prune`.

use clap::Args;
use http::Method;
use serde_json::{json, Value};

use crate::commands::enc;
use crate::{listfmt, table, Env, Failure};

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print images using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show images of this repository[:tag]
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Pretty-print history using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `key=value` filters → the API's JSON form.
pub fn filters_json(filters: &[String]) -> Result<String, Failure> {
    let mut m: serde_json::Map<String, Value> = serde_json::Map::new();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            Failure::new(
                125,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        let e = m.entry(k.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(o) = e {
            o.insert(v.to_string(), Value::Bool(true));
        }
    }
    Ok(Value::Object(m).to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One row per (image, tag), as `docker images` shows them.
fn image_rows(list: &[Value], no_trunc: bool, with_digests: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in list {
        let id = img["Id"].as_str().unwrap_or("");
        let id_shown = if no_trunc {
            id.to_string()
        } else {
            table::short_id(id)
        };
        let created = img["Created"].as_i64().unwrap_or(0);
        let size = img["Size"].as_i64().unwrap_or(0);
        let tags: Vec<String> = img["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let digests: Vec<String> = img["RepoDigests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let digest_for = |repo: &str| -> String {
            digests
                .iter()
                .find(|d| d.split_once('@').map(|(r, _)| r) == Some(repo))
                .and_then(|d| d.split_once('@').map(|(_, h)| h.to_string()))
                .unwrap_or_else(|| "<none>".to_string())
        };
        let mut push = |repo: String, tag: String, digest: String| {
            rows.push(json!({
                "ID": id_shown,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": format!("{} ago", api::progress::human_duration(now() - created)),
                "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
                "Size": table::human_size3(size as f64),
                "VirtualSize": table::human_size3(size as f64),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            }));
        };
        if tags.is_empty() || tags == ["<none>:<none>"] {
            if with_digests && !digests.is_empty() && digests != ["<none>@<none>"] {
                for d in &digests {
                    if let Some((repo, h)) = d.split_once('@') {
                        push(repo.to_string(), "<none>".into(), h.to_string());
                    }
                }
            } else {
                push("<none>".into(), "<none>".into(), "<none>".into());
            }
            continue;
        }
        for t in &tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            push(repo.to_string(), tag.to_string(), digest_for(repo));
        }
    }
    rows
}

/// `balena-engine images`.
pub async fn images(env: &Env, a: ImagesArgs) -> Result<(), Failure> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let mut path = format!(
        "/images/json?all={}&filters={}",
        a.all as u8,
        enc(&filters_json(&filters)?)
    );
    if a.digests {
        path.push_str("&digests=1");
    }
    let mut client = env.client()?;
    let list: Vec<Value> = client.get(&path).await?.json()?;
    let rows = image_rows(&list, a.no_trunc, a.digests);
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("").to_string();
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let tmpl = a.format.as_deref().unwrap_or(default);
    let headers = [
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ];
    print!("{}", listfmt::render(tmpl, &rows, &headers)?);
    Ok(())
}

/// `balena-engine image inspect`.
pub async fn inspect(env: &Env, a: InspectArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &a.images {
        match client
            .get(&format!("/images/{}/json", enc_path(name)))
            .await
        {
            Ok(r) => found.push(r.json::<Value>()?),
            Err(e) => {
                eprintln!(
                    "{}",
                    e.to_string()
                        .replace("Error response from daemon: ", "Error: ")
                );
                failed = true;
            }
        }
    }
    match &a.format {
        Some(t) => {
            for v in &found {
                println!("{}", crate::format::render(t, v)?);
            }
        }
        None => {
            println!("{}", crate::format::pretty(&Value::Array(found))?);
        }
    }
    if failed {
        Err(Failure::new(1, ""))
    } else {
        Ok(())
    }
}

/// Image names may hold `/` and `:`; they go in the path as they are.
fn enc_path(name: &str) -> String {
    name.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// `balena-engine rmi`.
pub async fn rmi(env: &Env, a: RmiArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut failed = false;
    for name in &a.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            enc_path(name),
            a.force as u8,
            a.no_prune as u8
        );
        match client.request(Method::DELETE, &path, None).await {
            Ok(r) => {
                let items: Vec<Value> = r.json()?;
                for i in items {
                    if let Some(u) = i["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = i["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure::new(1, ""))
    } else {
        Ok(())
    }
}

/// Splits `repo[:tag]` at the tag colon (not a registry port).
pub fn split_repo_tag(s: &str) -> (&str, &str) {
    if s.contains('@') {
        return (s, "");
    }
    match s.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (s, ""),
    }
}

/// `balena-engine tag`.
pub async fn tag(env: &Env, a: TagArgs) -> Result<(), Failure> {
    let (repo, tag) = split_repo_tag(&a.target);
    let path = format!(
        "/images/{}/tag?repo={}&tag={}",
        enc_path(&a.source),
        enc(repo),
        enc(tag)
    );
    env.client()?.request(Method::POST, &path, None).await?;
    Ok(())
}

/// `balena-engine history`.
pub async fn history(env: &Env, a: HistoryArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let items: Vec<Value> = client
        .get(&format!("/images/{}/history", enc_path(&a.image)))
        .await?
        .json()?;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("");
            let id = if a.no_trunc || id == "<missing>" { id.to_string() } else { table::short_id(id) };
            let created = h["Created"].as_i64().unwrap_or(0);
            let mut by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            if !a.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            let size = h["Size"].as_i64().unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if a.human { format!("{} ago", api::progress::human_duration(now() - created)) } else { chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default() },
                "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
                "CreatedBy": by,
                "Size": if a.human { table::human_size3(size as f64) } else { size.to_string() },
                "Comment": h["Comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    let tmpl = a
        .format
        .as_deref()
        .unwrap_or("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
    let headers = [
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ];
    print!("{}", listfmt::render(tmpl, &rows, &headers)?);
    Ok(())
}

/// `balena-engine image prune`.
pub async fn prune(env: &Env, a: PruneArgs) -> Result<(), Failure> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !crate::commands::confirmed(a.force, warning) {
        return Ok(());
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let mut client = env.client()?;
    let r: Value = client
        .request(
            Method::POST,
            &format!("/images/prune?filters={}", enc(&filters_json(&filters)?)),
            None,
        )
        .await?
        .json()?;
    if let Some(items) = r["ImagesDeleted"].as_array() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        table::human_size3(r["SpaceReclaimed"].as_f64().unwrap_or(0.0))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tag_split_ignores_registry_ports() {
        assert_eq!(split_repo_tag("busybox:1"), ("busybox", "1"));
        assert_eq!(split_repo_tag("localhost:5000/a"), ("localhost:5000/a", ""));
        assert_eq!(
            split_repo_tag("localhost:5000/a:t"),
            ("localhost:5000/a", "t")
        );
        assert_eq!(split_repo_tag("a@sha256:00"), ("a@sha256:00", ""));
    }

    #[test]
    fn filters_become_docker_json() {
        let j = filters_json(&["dangling=true".into(), "label=a=b".into()]).unwrap();
        let v: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["dangling"]["true"], true);
        assert_eq!(v["label"]["a=b"], true);
        assert!(filters_json(&["nonsense".into()]).is_err());
    }
}

#[derive(Debug, Args)]
pub struct DeltaArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long, value_name = "string")]
    pub tag: Option<String>,
    /// The basis image (what devices already have)
    pub src: String,
    /// The target image
    pub dest: String,
}

/// `balena-engine image delta`.
pub async fn delta(env: &Env, a: DeltaArgs) -> Result<(), Failure> {
    use http_body_util::BodyExt;
    let mut path = format!("/images/delta?src={}&dest={}", enc(&a.src), enc(&a.dest));
    if let Some(t) = &a.tag {
        path.push_str(&format!("&t={}", enc(t)));
    }
    let mut client = env.client()?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let resp = client.stream(Method::POST, &path, empty, None).await?;
    crate::commands::archive::show_stream(resp.into_body(), false).await
}
