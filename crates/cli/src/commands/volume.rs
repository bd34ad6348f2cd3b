//! `volume create|ls|inspect|rm|prune`, as the docker 20.10 CLI does them
//! (`cli/command/volume`).

use clap::Args;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use api::volume::{VolumeCreateRequest, VolumeListResponse, VolumesPruneResponse};

use crate::client::ClientError;
use crate::commands::images::filters_json;
use crate::commands::network::{inspect_output, natural_cmp, validate_label};
use crate::commands::{enc, enc_segment, map_opts};
use crate::{listfmt, table, Env, Failure};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string")]
    pub name_flag: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long, value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. 'dangling=true')
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print volumes using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'label=<label>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// The body `volume create` sends: docker sends empty maps, not nulls.
pub(crate) fn create_request(a: &CreateArgs) -> Result<VolumeCreateRequest, Failure> {
    for l in &a.label {
        validate_label(l).map_err(|e| {
            Failure::new(
                125,
                format!(
                    "invalid argument \"{l}\" for \"--label\" flag: {e}\nSee 'balena-engine volume create --help'."
                ),
            )
        })?;
    }
    let name =
        match (&a.name_flag, &a.name) {
            (Some(f), Some(n)) if f != n => return Err(Failure::new(
                1,
                "Conflicting options: either specify --name or provide positional arg, not both",
            )),
            (Some(f), _) => f.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        };
    Ok(VolumeCreateRequest {
        name,
        driver: a.driver.clone(),
        driver_opts: Some(map_opts(&a.opt)),
        labels: Some(map_opts(&a.label)),
    })
}

/// `balena-engine volume create`.
pub async fn create(env: &Env, a: CreateArgs) -> Result<(), Failure> {
    let req = create_request(&a)?;
    let body = serde_json::to_vec(&req).map_err(|e| Failure::new(1, e.to_string()))?;
    let v: api::volume::Volume = env
        .client()?
        .request(Method::POST, "/volumes/create", Some(body))
        .await?
        .json()?;
    println!("{}", v.name);
    Ok(())
}

/// One `volume ls` row as template data.
pub(crate) fn volume_row(v: &api::volume::Volume) -> Value {
    let labels = v.labels.clone().unwrap_or_default();
    let labels_str = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let (size, links) = match &v.usage_data {
        Some(u) if u.size >= 0 => (table::human_size3(u.size as f64), u.ref_count.to_string()),
        Some(u) => ("N/A".to_string(), u.ref_count.to_string()),
        None => ("N/A".to_string(), "N/A".to_string()),
    };
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels_str,
        "LabelMap": labels,
        "Links": links,
        "Size": size,
    })
}

const LS_HEADERS: [(&str, &str); 7] = [
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];

/// docker's `volume ls` format choice: `--format`, then the config file's
/// `volumesFormat` (not with `-q`), then the table.
pub(crate) fn ls_template(
    format: Option<&str>,
    config_format: Option<&str>,
    quiet: bool,
) -> String {
    let f = format
        .filter(|f| !f.is_empty())
        .or(config_format.filter(|f| !f.is_empty() && !quiet))
        .unwrap_or("table");
    match (f, quiet) {
        ("table", true) => "{{.Name}}".into(),
        ("table", false) => "table {{.Driver}}\t{{.Name}}".into(),
        ("raw", true) => "name: {{.Name}}\n".into(),
        ("raw", false) => "driver: {{.Driver}}\nname: {{.Name}}\n".into(),
        (f, _) => crate::commands::container::rewrite_label_calls(&f.replace("\\n", "\n")),
    }
}

/// `balena-engine volume ls`.
pub async fn ls(env: &Env, a: LsArgs) -> Result<(), Failure> {
    let mut path = "/volumes".to_string();
    if !a.filter.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&a.filter)?)));
    }
    let mut client = env.client()?;
    let mut list: VolumeListResponse = client.get(&path).await?.json()?;
    for w in list.warnings.iter().flatten() {
        eprintln!("{w}");
    }
    list.volumes.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let rows: Vec<Value> = list.volumes.iter().map(volume_row).collect();
    let config_format = crate::config::load(env.global.config.as_deref())
        .ok()
        .and_then(|c| {
            c.get("volumesFormat")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let tmpl = ls_template(a.format.as_deref(), config_format.as_deref(), a.quiet);
    print!("{}", listfmt::render(&tmpl, &rows, &LS_HEADERS)?);
    Ok(())
}

/// The docker client's wording: a 404 is "Error: No such volume: NAME".
fn volume_error(e: ClientError, name: &str) -> String {
    match e {
        ClientError::Daemon { status, .. } if status == StatusCode::NOT_FOUND => {
            format!("Error: No such volume: {name}")
        }
        other => other.to_string(),
    }
}

/// `balena-engine volume inspect`.
pub async fn inspect(env: &Env, a: InspectArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for name in &a.volumes {
        if name.is_empty() {
            errs.push("Error: No such volume: ".to_string());
            continue;
        }
        match client.get(&format!("/volumes/{}", enc_segment(name))).await {
            Ok(r) => raws.push(r.body),
            Err(e) => errs.push(volume_error(e, name)),
        }
    }
    let out = inspect_output(&raws, a.format.as_deref(), &mut errs)?;
    print!("{out}");
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

/// `balena-engine volume rm`: every name tried, errors after.
pub async fn rm(env: &Env, a: RmArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut errs = Vec::new();
    let q = if a.force { "?force=1" } else { "" };
    for name in &a.volumes {
        match client
            .request(
                Method::DELETE,
                &format!("/volumes/{}{q}", enc_segment(name)),
                None,
            )
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(1, errs.join("\n")))
    }
}

const PRUNE_WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

/// What `volume prune` prints.
pub(crate) fn prune_output(r: &VolumesPruneResponse) -> String {
    let mut s = String::new();
    if !r.volumes_deleted.is_empty() {
        s.push_str("Deleted Volumes:\n");
        for d in &r.volumes_deleted {
            s.push_str(d);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        table::human_size3(r.space_reclaimed as f64)
    ));
    s
}

/// `balena-engine volume prune`.
pub async fn prune(env: &Env, a: PruneArgs) -> Result<(), Failure> {
    let filters = filters_json(&a.filter)?;
    if !crate::commands::confirmed(a.force, PRUNE_WARNING) {
        return Ok(());
    }
    let r: VolumesPruneResponse = env
        .client()?
        .request(
            Method::POST,
            &format!("/volumes/prune?filters={}", enc(&filters)),
            None,
        )
        .await?
        .json()?;
    print!("{}", prune_output(&r));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T<A: clap::Args> {
        #[command(flatten)]
        a: A,
    }

    fn parse<A: clap::Args>(args: &[&str]) -> A {
        T::<A>::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn create_sends_dockers_body() {
        let a: CreateArgs = parse(&["-o", "type=tmpfs", "--label", "a=b", "-d", "local", "v1"]);
        let v = serde_json::to_value(create_request(&a).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"Name":"v1","Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{"a":"b"}})
        );
        let a: CreateArgs = parse(&[]);
        let v = serde_json::to_value(create_request(&a).unwrap()).unwrap();
        assert_eq!(v["Name"], "");
        assert_eq!(v["DriverOpts"], json!({}));
        let a: CreateArgs = parse(&["--name", "x", "y"]);
        assert!(create_request(&a).is_err());
        let a: CreateArgs = parse(&["--label", " "]);
        assert_eq!(create_request(&a).unwrap_err().code, 125);
    }

    #[test]
    fn ls_uses_dockers_table_and_rows() {
        assert_eq!(
            ls_template(None, None, false),
            "table {{.Driver}}\t{{.Name}}"
        );
        assert_eq!(ls_template(None, Some("{{.Size}}"), true), "{{.Name}}");
        let v = api::volume::Volume {
            name: "data".into(),
            driver: "local".into(),
            labels: Some([("a".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let row = volume_row(&v);
        assert_eq!(row["Labels"], "a=1");
        assert_eq!(row["Links"], "N/A");
        let out = listfmt::render(&ls_template(None, None, false), &[row], &LS_HEADERS).unwrap();
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     data\n");
    }

    #[test]
    fn prune_prints_the_deleted_and_the_space() {
        let r = VolumesPruneResponse {
            volumes_deleted: vec!["a".into()],
            space_reclaimed: 0,
        };
        assert_eq!(
            prune_output(&r),
            "Deleted Volumes:\na\n\nTotal reclaimed space: 0B\n"
        );
    }
}
