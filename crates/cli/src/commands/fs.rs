//! `export`, `diff`, `commit`, `system df` and `system prune`.

use std::io::IsTerminal;

use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::commands::enc;
use crate::{table, Env, Failure};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `balena-engine export`.
pub async fn export(env: &Env, a: ExportArgs) -> Result<(), Failure> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut client = env.client()?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let resp = client
        .stream(
            Method::GET,
            &format!("/containers/{}/export", enc(&a.container)),
            empty,
            None,
        )
        .await
        .map_err(|e| Failure::new(1, format!("Error response from daemon: {}", strip(e))))?;
    match &a.output {
        Some(path) => {
            let mut f = tokio::fs::File::create(path)
                .await
                .map_err(|e| Failure::new(1, format!("failed to export container: {e}")))?;
            super::cp::pump(resp.into_body(), &mut f).await
        }
        None => super::cp::pump(resp.into_body(), &mut tokio::io::stdout()).await,
    }
}

fn strip(e: crate::client::ClientError) -> String {
    match e {
        crate::client::ClientError::Daemon { message, .. } => message,
        e => e.to_string(),
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `balena-engine diff`.
pub async fn diff(env: &Env, a: DiffArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let list: Vec<api::fs::ChangeItem> = client
        .get(&format!("/containers/{}/changes", enc(&a.container)))
        .await
        .map_err(|e| Failure::new(1, format!("Error response from daemon: {}", strip(e))))?
        .json()?;
    for c in list {
        let k = match c.kind {
            api::fs::CHANGE_ADD => 'A',
            api::fs::CHANGE_DELETE => 'D',
            _ => 'C',
        };
        println!("{k} {}", c.path);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, value_name = "bool", default_value_t = true,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `repo[:tag]`, the tag after the last `:` that follows the last `/`.
fn split_ref(r: &str) -> (&str, &str) {
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (&r[..slash + i], &r[slash + i + 1..]),
        None => (r, ""),
    }
}

/// `balena-engine commit`.
pub async fn commit(env: &Env, a: CommitArgs) -> Result<(), Failure> {
    let mut q = vec![
        format!("container={}", enc(&a.container)),
        format!("pause={}", a.pause),
    ];
    if let Some(r) = a.reference.as_deref().filter(|r| !r.is_empty()) {
        if r.contains('@') {
            return Err(Failure::new(
                1,
                "refusing to create a tag with a digest reference",
            ));
        }
        let (repo, tag) = split_ref(r);
        q.push(format!("repo={}", enc(repo)));
        q.push(format!("tag={}", enc(tag)));
    }
    if let Some(m) = &a.message {
        q.push(format!("comment={}", enc(m)));
    }
    if let Some(au) = &a.author {
        q.push(format!("author={}", enc(au)));
    }
    for c in &a.change {
        q.push(format!("changes={}", enc(c)));
    }
    let mut client = env.client()?;
    let r: api::fs::IdResponse = client
        .request(Method::POST, &format!("/commit?{}", q.join("&")), None)
        .await
        .map_err(|e| Failure::new(1, format!("Error response from daemon: {}", strip(e))))?
        .json()?;
    println!("{}", r.id);
    Ok(())
}

// ------------------------------------------------------------------ system

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Pretty-print images using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// `units.HumanSize`: decimal units, four significant digits.
fn human(n: i64) -> String {
    api::progress::format_units(n as f64, 1000.0, &api::progress::DECIMAL_UNITS, 4)
}

fn with_pct(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", human(reclaimable), reclaimable * 100 / total)
    } else {
        human(reclaimable)
    }
}

fn active_state(c: &Value) -> bool {
    let s = c["State"].as_str().unwrap_or("");
    s.contains("running") || s == "paused" || s == "restarting"
}

/// The four summary rows of `system df`.
pub(crate) fn df_rows(du: &api::fs::DiskUsage) -> Vec<Value> {
    let total = du.layers_size;
    let used: i64 = du
        .images
        .iter()
        .filter(|i| i.containers > 0 && i.virtual_size != -1 && i.shared_size != -1)
        .map(|i| i.virtual_size - i.shared_size)
        .sum();
    let images = json!({
        "Type": "Images",
        "TotalCount": du.images.len().to_string(),
        "Active": du.images.iter().filter(|i| i.containers > 0).count().to_string(),
        "Size": human(total),
        "Reclaimable": with_pct(total - used, total),
    });
    let csize: i64 = du
        .containers
        .iter()
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let crecl: i64 = du
        .containers
        .iter()
        .filter(|c| !active_state(c))
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let containers = json!({
        "Type": "Containers",
        "TotalCount": du.containers.len().to_string(),
        "Active": du.containers.iter().filter(|c| active_state(c)).count().to_string(),
        "Size": human(csize),
        "Reclaimable": with_pct(crecl, csize),
    });
    let vsize: i64 = du
        .volumes
        .iter()
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let vrecl: i64 = du
        .volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let volumes = json!({
        "Type": "Local Volumes",
        "TotalCount": du.volumes.len().to_string(),
        "Active": du.volumes.iter().filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0).count().to_string(),
        "Size": human(vsize),
        "Reclaimable": with_pct(vrecl, vsize),
    });
    let cache = json!({
        "Type": "Build Cache", "TotalCount": "0", "Active": "0",
        "Size": "0B", "Reclaimable": "0B",
    });
    vec![images, containers, volumes, cache]
}

/// `balena-engine system df`.
pub async fn df(env: &Env, a: DfArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let du: api::fs::DiskUsage = client.get("/system/df").await?.json()?;
    let rows = df_rows(&du);
    let template = a.format.clone().unwrap_or_else(|| {
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
    });
    if a.verbose && a.format.is_none() {
        return verbose(&du);
    }
    let (table_mode, body) = match template.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, template.clone()),
    };
    let mut lines = Vec::new();
    if table_mode {
        let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
            "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
        lines.push(crate::format::render(&body, &header)?);
    }
    for r in &rows {
        lines.push(crate::format::render(&body, r)?);
    }
    if table_mode {
        print!("{}", table::render_tabbed(&lines));
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

fn verbose(du: &api::fs::DiskUsage) -> Result<(), Failure> {
    println!("Images space usage:\n");
    let mut rows = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]
    .map(String::from)
    .to_vec()];
    for i in &du.images {
        let tags = i.repo_tags.clone().unwrap_or_default();
        let first = tags
            .first()
            .cloned()
            .unwrap_or_else(|| "<none>:<none>".into());
        let (repo, tag) = first.rsplit_once(':').unwrap_or((&first, "<none>"));
        rows.push(vec![
            repo.to_string(),
            tag.to_string(),
            table::short_id(&i.id),
            i.created.to_string(),
            human(i.size),
            human(i.shared_size.max(0)),
            human(i.size - i.shared_size.max(0)),
            i.containers.to_string(),
        ]);
    }
    print!("{}", table::render(&rows));
    println!("\nContainers space usage:\n");
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for c in &du.containers {
        rows.push(vec![
            table::short_id(c["Id"].as_str().unwrap_or("")),
            c["Image"].as_str().unwrap_or("").to_string(),
            format!(
                "\"{}\"",
                crate::units::ellipsis(c["Command"].as_str().unwrap_or(""), 20)
            ),
            "0".into(),
            human(c["SizeRw"].as_i64().unwrap_or(0)),
            c["Created"].to_string(),
            c["Status"].as_str().unwrap_or("").to_string(),
            c["Names"][0]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string(),
        ]);
    }
    print!("{}", table::render(&rows));
    println!("\nLocal Volumes space usage:\n");
    print!(
        "{}",
        table::render(&[vec!["VOLUME NAME".into(), "LINKS".into(), "SIZE".into()]])
    );
    println!("\nBuild cache usage: 0B\n");
    print!(
        "{}",
        table::render(&[[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED"
        ]
        .map(String::from)
        .to_vec()])
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune volumes
    #[arg(long)]
    pub volumes: bool,
}

/// `balena-engine system prune`.
pub async fn prune(env: &Env, a: SystemPruneArgs) -> Result<(), Failure> {
    if !a.force {
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if a.volumes {
            w.push_str("  - all volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n  - all build cache\n");
        } else {
            w.push_str("  - all dangling images\n  - all dangling build cache\n");
        }
        if !crate::commands::confirmed(false, &format!("{w}\nAre you sure you want to continue?")) {
            return Ok(());
        }
    }
    let filters = super::images::filters_json(&a.filter)?;
    let mut client = env.client()?;
    let mut reclaimed: f64 = 0.0;
    let r = call(&mut client, "containers", &filters).await?;
    list_deleted("Deleted Containers:", &r["ContainersDeleted"]);
    reclaimed += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    if a.volumes {
        let r = call(&mut client, "volumes", &filters).await?;
        list_deleted("Deleted Volumes:", &r["VolumesDeleted"]);
        reclaimed += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    let r = call(&mut client, "networks", &filters).await?;
    list_deleted("Deleted Networks:", &r["NetworksDeleted"]);
    let mut f = a.filter.clone();
    if a.all {
        f.push("dangling=false".into());
    }
    let r = call(&mut client, "images", &super::images::filters_json(&f)?).await?;
    if let Some(items) = r["ImagesDeleted"].as_array().filter(|i| !i.is_empty()) {
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
    reclaimed += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    println!("Total reclaimed space: {}", human(reclaimed as i64));
    Ok(())
}

async fn call(
    client: &mut crate::client::Client,
    what: &str,
    filters: &str,
) -> Result<Value, Failure> {
    let r: Value = client
        .request(
            Method::POST,
            &format!("/{what}/prune?filters={}", enc(filters)),
            None,
        )
        .await
        .map_err(|e| Failure::new(1, format!("Error response from daemon: {}", strip(e))))?
        .json()?;
    Ok(r)
}

fn list_deleted(title: &str, v: &Value) {
    if let Some(items) = v.as_array().filter(|i| !i.is_empty()) {
        println!("{title}");
        for i in items {
            println!("{}", i.as_str().unwrap_or(""));
        }
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_references_split_at_the_tag() {
        assert_eq!(split_ref("app:v1"), ("app", "v1"));
        assert_eq!(split_ref("localhost:5000/app"), ("localhost:5000/app", ""));
        assert_eq!(
            split_ref("localhost:5000/app:v2"),
            ("localhost:5000/app", "v2")
        );
    }

    #[test]
    fn df_summary_is_dockers_arithmetic() {
        let du = api::fs::DiskUsage {
            layers_size: 1000,
            images: vec![
                api::image::ImageSummary {
                    containers: 1,
                    size: 600,
                    virtual_size: 600,
                    shared_size: 100,
                    ..Default::default()
                },
                api::image::ImageSummary {
                    containers: 0,
                    size: 500,
                    virtual_size: 500,
                    shared_size: 100,
                    ..Default::default()
                },
            ],
            containers: vec![
                json!({"State": "running", "SizeRw": 10}),
                json!({"State": "exited", "SizeRw": 30}),
            ],
            ..Default::default()
        };
        let r = df_rows(&du);
        assert_eq!(r[0]["TotalCount"], "2");
        assert_eq!(r[0]["Active"], "1");
        assert_eq!(r[0]["Size"], "1kB");
        assert_eq!(r[0]["Reclaimable"], "500B (50%)");
        assert_eq!(r[1]["Size"], "40B");
        assert_eq!(r[1]["Reclaimable"], "30B (75%)");
        assert_eq!(r[2]["Reclaimable"], "0B");
    }
}
