//! `network create|ls|inspect|rm|connect|disconnect|prune`, as the docker
//! 20.10 CLI does them (`cli/command/network`).

use std::collections::BTreeMap;

use clap::Args;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use api::network::{
    ConfigReference, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};

use crate::client::ClientError;
use crate::commands::images::filters_json;
use crate::commands::{enc, enc_segment, map_opts};
use crate::{listfmt, table, Env, Failure};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration (not supported)
    #[arg(long = "config-from", value_name = "string")]
    pub config_from: Option<String>,
    /// Create a configuration only network (not supported)
    #[arg(long = "config-only", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable IPv6 networking
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long, value_name = "map")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long, value_name = "string")]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. 'driver=bridge')
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print networks using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long, value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// A pflag-style usage error of `network <cmd>` (exit 125).
fn usage(cmd: &str, flag: &str, value: &str, reason: &str) -> Failure {
    Failure::new(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {reason}\nSee 'balena-engine network {cmd} --help'."
        ),
    )
}

/// `opts.ValidateLabel`.
pub(crate) fn validate_label(val: &str) -> Result<(), String> {
    let key = val.split_once('=').map(|(k, _)| k).unwrap_or(val);
    let key = key.trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{val}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(())
}

/// `opts.ValidateLink` (`name` or `name:alias`).
pub(crate) fn validate_link(val: &str) -> Result<(), String> {
    if val.is_empty() {
        return Err("empty string specified for links".into());
    }
    if val.split(':').count() > 2 {
        return Err(format!("bad format for links: {val}"));
    }
    Ok(())
}

/// Go's `net.ParseCIDR` + `Contains` for `subnetMatches`: does `subnet`
/// hold `data` (an address, or an address/len whose address counts)?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let net: ipnet::IpNet = subnet
        .parse()
        .map_err(|_| format!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip: Option<std::net::IpAddr> = if data.contains('/') {
        let n: ipnet::IpNet = data
            .parse()
            .map_err(|_| format!("invalid CIDR address: {data}"))?;
        Some(n.addr())
    } else {
        data.parse().ok()
    };
    Ok(ip.is_some_and(|ip| net.contains(&ip)))
}

/// docker's `consolidateIpam`: subnets with their ranges, gateways and
/// auxiliary addresses, refusing what does not fit together.
pub(crate) fn consolidate_ipam(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &BTreeMap<String, String>,
) -> Result<Vec<IpamConfig>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut out: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for k in &out {
            if subnet_matches(s, &k.subnet)? || subnet_matches(&k.subnet, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        out.push(IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        });
    }
    for r in ranges {
        let mut matched = false;
        for c in out.iter_mut() {
            if !subnet_matches(&c.subnet, r)? {
                continue;
            }
            if !c.ip_range.is_empty() {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    c.ip_range, c.subnet
                ));
            }
            c.ip_range = r.clone();
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for c in out.iter_mut() {
            if !subnet_matches(&c.subnet, g)? {
                continue;
            }
            if !c.gateway.is_empty() {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    c.gateway, c.subnet
                ));
            }
            c.gateway = g.clone();
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for (key, addr) in aux {
        let mut matched = false;
        for c in out.iter_mut() {
            if !subnet_matches(&c.subnet, addr)? {
                continue;
            }
            c.aux_addresses.insert(key.clone(), addr.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(out)
}

/// The body `network create` sends (`types.NetworkCreateRequest`).
pub(crate) fn create_request(a: &CreateArgs) -> Result<NetworkCreateRequest, Failure> {
    for l in &a.label {
        validate_label(l).map_err(|e| usage("create", "--label", l, &e))?;
    }
    if a.config_only || a.config_from.as_deref().is_some_and(|f| !f.is_empty()) {
        return Err(Failure::new(
            1,
            "config-only networks (--config-only, --config-from) are not supported",
        ));
    }
    let config = consolidate_ipam(
        &a.subnet,
        &a.ip_range,
        &a.gateway,
        &map_opts(&a.aux_address),
    )
    .map_err(|e| Failure::new(1, e))?;
    Ok(NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: true,
        driver: a.driver.clone(),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: map_opts(&a.ipam_opt),
            config,
        }),
        enable_ipv6: a.ipv6,
        options: map_opts(&a.opt),
        labels: map_opts(&a.label),
        scope: a.scope.clone().unwrap_or_default(),
        config_only: false,
        config_from: a
            .config_from
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(|f| ConfigReference { network: f.clone() }),
    })
}

fn to_body<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(v).map_err(|e| Failure::new(1, format!("encode request: {e}")))
}

/// `balena-engine network create`.
pub async fn create(env: &Env, a: CreateArgs) -> Result<(), Failure> {
    let req = create_request(&a)?;
    let mut client = env.client()?;
    let r: api::network::NetworkCreateResponse = client
        .request(Method::POST, "/networks/create", Some(to_body(&req)?))
        .await?
        .json()?;
    println!("{}", r.id);
    Ok(())
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp
/// (`2024-05-21 09:33:16.123 +0000 UTC`), as `{{.CreatedAt}}` shows it.
pub(crate) fn go_time_string(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset().local_minus_utc();
    let sign = if off < 0 { '-' } else { '+' };
    let zone = format!("{sign}{:02}{:02}", off.abs() / 3600, off.abs() % 3600 / 60);
    let name = if off == 0 {
        "UTC".to_string()
    } else {
        zone.clone()
    };
    format!("{s} {zone} {name}")
}

/// One `network ls` row as template data.
pub(crate) fn network_row(n: &Value, trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or("");
    let labels = n["Labels"].as_object().cloned().unwrap_or_default();
    let labels_str = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",");
    json!({
        "ID": if trunc { table::short_id(id) } else { id.to_string() },
        "Name": n["Name"].as_str().unwrap_or(""),
        "Driver": n["Driver"].as_str().unwrap_or(""),
        "Scope": n["Scope"].as_str().unwrap_or(""),
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": labels_str,
        "LabelMap": labels,
        "CreatedAt": go_time_string(n["Created"].as_str().unwrap_or("")),
    })
}

const LS_HEADERS: [(&str, &str); 8] = [
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// docker's `network ls` format choice: `--format`, then the config
/// file's `networksFormat` (not with `-q`), then the table; `table` and
/// `raw` are keys.
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
        ("table", true) => "{{.ID}}".into(),
        ("table", false) => LS_TABLE.into(),
        ("raw", true) => "network_id: {{.ID}}\n".into(),
        ("raw", false) => {
            "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n".into()
        }
        (f, _) => crate::commands::container::rewrite_label_calls(&f.replace("\\n", "\n")),
    }
}

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as
/// numbers.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            // Digits sort before anything else.
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        let (zi, zj) = (i, j);
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (si, sj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        // Longer significant part is larger; then digit by digit; then
        // fewer leading zeros first.
        let by_len = (i - si).cmp(&(j - sj));
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = a[si..i].cmp(&b[sj..j]);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
        let by_zeros = (si - zi).cmp(&(sj - zj));
        if by_zeros != Ordering::Equal {
            return by_zeros;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// `balena-engine network ls`.
pub async fn ls(env: &Env, a: LsArgs) -> Result<(), Failure> {
    let mut path = "/networks".to_string();
    if !a.filter.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&a.filter)?)));
    }
    let mut client = env.client()?;
    let mut list: Vec<Value> = client.get(&path).await?.json()?;
    list.sort_by(|x, y| {
        natural_cmp(
            x["Name"].as_str().unwrap_or(""),
            y["Name"].as_str().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = list.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    let config_format = crate::config::load(env.global.config.as_deref())
        .ok()
        .and_then(|c| {
            c.get("networksFormat")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let tmpl = ls_template(a.format.as_deref(), config_format.as_deref(), a.quiet);
    print!("{}", listfmt::render(&tmpl, &rows, &LS_HEADERS)?);
    Ok(())
}

/// docker's `inspect.Inspect` output for raw answers: an indented JSON
/// array, or each one through the template; errors joined after.
pub(crate) fn inspect_output(
    raws: &[bytes::Bytes],
    format: Option<&str>,
    errs: &mut Vec<String>,
) -> Result<String, Failure> {
    match format.filter(|f| !f.is_empty()) {
        Some(t) => {
            let mut out = String::new();
            for raw in raws {
                let v: Value = serde_json::from_slice(raw)
                    .map_err(|e| Failure::new(1, format!("unable to read inspect data: {e}")))?;
                match crate::format::render(t, &v) {
                    Ok(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    Err(crate::format::FormatError::Parse(e)) => {
                        return Err(Failure::new(64, format!("Template parsing error: {e}")))
                    }
                    Err(e) => errs.push(format!("Template parsing error: {e}")),
                }
            }
            if out.is_empty() {
                out.push('\n');
            }
            Ok(out)
        }
        None => {
            if raws.is_empty() {
                return Ok("[]\n".into());
            }
            let mut joined = vec![b'['];
            for (i, r) in raws.iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend_from_slice(r.trim_ascii());
            }
            joined.push(b']');
            Ok(crate::format::indent_raw(&joined) + "\n")
        }
    }
}

/// The docker client's wording for a network call that failed: a 404 is
/// "Error: No such network: NAME".
fn network_error(e: ClientError, name: &str) -> String {
    match e {
        ClientError::Daemon { status, .. } if status == StatusCode::NOT_FOUND => {
            format!("Error: No such network: {name}")
        }
        other => other.to_string(),
    }
}

/// `balena-engine network inspect`.
pub async fn inspect(env: &Env, a: InspectArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for name in &a.networks {
        if name.is_empty() {
            errs.push("Error: No such network: ".to_string());
            continue;
        }
        let q = if a.verbose { "?verbose=true" } else { "" };
        match client
            .get(&format!("/networks/{}{q}", enc_segment(name)))
            .await
        {
            Ok(r) => raws.push(r.body),
            Err(e) => errs.push(network_error(e, name)),
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

/// `balena-engine network rm`.
pub async fn rm(env: &Env, a: RmArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let mut failed = false;
    for name in &a.networks {
        match client
            .request(
                Method::DELETE,
                &format!("/networks/{}", enc_segment(name)),
                None,
            )
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", network_error(e, name));
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

/// The body `network connect` sends: docker always sends the endpoint
/// config, with empty lists rather than nulls.
pub(crate) fn connect_request(a: &ConnectArgs) -> Result<NetworkConnectRequest, Failure> {
    for l in &a.link {
        validate_link(l).map_err(|e| usage("connect", "--link", l, &e))?;
    }
    let mut driver_opts = BTreeMap::new();
    for o in &a.driver_opt {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| Failure::new(1, "invalid key/value pair format in driver options"))?;
        driver_opts.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: a.ip.clone().unwrap_or_default(),
                ipv6_address: a.ip6.clone().unwrap_or_default(),
                link_local_ips: a.link_local_ip.clone(),
            }),
            // docker's `ListOpts` is nil when empty; `--alias` is a
            // string slice, `[]` when empty.
            links: (!a.link.is_empty()).then(|| a.link.clone()),
            aliases: Some(a.alias.clone()),
            driver_opts: Some(driver_opts),
            ..Default::default()
        }),
    })
}

/// `balena-engine network connect`.
pub async fn connect(env: &Env, a: ConnectArgs) -> Result<(), Failure> {
    let body = to_body(&connect_request(&a)?)?;
    env.client()?
        .request(
            Method::POST,
            &format!("/networks/{}/connect", enc_segment(&a.network)),
            Some(body),
        )
        .await?;
    Ok(())
}

/// `balena-engine network disconnect`.
pub async fn disconnect(env: &Env, a: DisconnectArgs) -> Result<(), Failure> {
    let body = to_body(&NetworkDisconnectRequest {
        container: a.container.clone(),
        force: a.force,
    })?;
    env.client()?
        .request(
            Method::POST,
            &format!("/networks/{}/disconnect", enc_segment(&a.network)),
            Some(body),
        )
        .await?;
    Ok(())
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

/// What `network prune` prints for the names it removed.
pub(crate) fn prune_output(deleted: &[String]) -> String {
    if deleted.is_empty() {
        return String::new();
    }
    let mut s = "Deleted Networks:\n".to_string();
    for d in deleted {
        s.push_str(d);
        s.push('\n');
    }
    s
}

/// `balena-engine network prune`.
pub async fn prune(env: &Env, a: PruneArgs) -> Result<(), Failure> {
    let filters = filters_json(&a.filter)?;
    if !crate::commands::confirmed(a.force, PRUNE_WARNING) {
        return Ok(());
    }
    let mut client = env.client()?;
    let r: api::network::NetworkPruneResponse = client
        .request(
            Method::POST,
            &format!("/networks/prune?filters={}", enc(&filters)),
            None,
        )
        .await?
        .json()?;
    let out = prune_output(&r.networks_deleted);
    if !out.is_empty() {
        println!("{out}");
    }
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
        let a: CreateArgs = parse(&["n1"]);
        let v = serde_json::to_value(create_request(&a).unwrap()).unwrap();
        assert_eq!(v["Name"], "n1");
        assert_eq!(v["CheckDuplicate"], true);
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Scope"], "");
        assert_eq!(
            v["IPAM"],
            json!({"Driver": "default", "Options": {}, "Config": []})
        );
        assert_eq!(v["Options"], json!({}));
        assert_eq!(v["Labels"], json!({}));
        assert_eq!(v["ConfigFrom"], Value::Null);
        assert_eq!(v["Internal"], false);
        assert_eq!(v["EnableIPv6"], false);
    }

    #[test]
    fn create_flags_fill_the_request() {
        let a: CreateArgs = parse(&[
            "-d",
            "bridge",
            "--subnet",
            "10.10.0.0/16,10.20.0.0/24",
            "--gateway",
            "10.10.0.254",
            "--ip-range",
            "10.10.1.0/24",
            "--aux-address",
            "host1=10.10.0.5",
            "--aux-address",
            "host2=10.20.0.5",
            "--internal",
            "--attachable=true",
            "--ipv6=false",
            "--label",
            "a=b",
            "--label",
            "flag",
            "-o",
            "com.docker.network.bridge.name=br-test",
            "--opt",
            "x",
            "--ipam-opt",
            "k=v",
            "--scope",
            "local",
            "n1",
        ]);
        let r = create_request(&a).unwrap();
        assert!(r.internal && r.attachable && !r.enable_ipv6);
        assert_eq!(r.labels["a"], "b");
        assert_eq!(r.labels["flag"], "");
        assert_eq!(r.options["com.docker.network.bridge.name"], "br-test");
        assert_eq!(r.options["x"], "");
        assert_eq!(r.scope, "local");
        let ipam = r.ipam.unwrap();
        assert_eq!(ipam.options["k"], "v");
        let v = serde_json::to_value(&ipam.config).unwrap();
        assert_eq!(
            v,
            json!([
                {"Subnet": "10.10.0.0/16", "IPRange": "10.10.1.0/24", "Gateway": "10.10.0.254",
                 "AuxiliaryAddresses": {"host1": "10.10.0.5"}},
                {"Subnet": "10.20.0.0/24", "AuxiliaryAddresses": {"host2": "10.20.0.5"}}
            ])
        );
    }

    #[test]
    fn ipam_flags_that_do_not_fit_are_refused_like_docker() {
        let none = BTreeMap::new();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            consolidate_ipam(&[], &[], &s(&["10.0.0.1"]), &none).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            consolidate_ipam(&s(&["10.0.0.0/8", "10.1.0.0/16"]), &[], &[], &none).unwrap_err(),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            consolidate_ipam(&s(&["10.0.0.0/24"]), &[], &s(&["10.9.0.1"]), &none).unwrap_err(),
            "no matching subnet for gateway 10.9.0.1"
        );
        assert_eq!(
            consolidate_ipam(&s(&["10.0.0.0/24"]), &s(&["10.9.0.0/25"]), &[], &none).unwrap_err(),
            "no matching subnet for range 10.9.0.0/25"
        );
        assert_eq!(
            consolidate_ipam(&s(&["10.0.0.0/8", "bogus"]), &[], &[], &none).unwrap_err(),
            "invalid subnet: invalid CIDR address: bogus"
        );
        // One subnet is not checked here: the daemon judges it.
        assert!(consolidate_ipam(&s(&["bogus"]), &[], &[], &none).is_ok());
    }

    #[test]
    fn bad_labels_and_config_from_are_refused() {
        let a: CreateArgs = parse(&["--label", "=x", "n"]);
        let e = create_request(&a).unwrap_err();
        assert_eq!(e.code, 125);
        assert_eq!(
            e.message,
            "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\nSee 'balena-engine network create --help'."
        );
        let a: CreateArgs = parse(&["--config-from", "other", "n"]);
        assert_eq!(create_request(&a).unwrap_err().code, 1);
        assert!(validate_label("a b=c").is_err());
        assert!(validate_label("k=v with space").is_ok());
    }

    #[test]
    fn go_time_strings_match_time_string() {
        assert_eq!(
            go_time_string("2024-05-21T09:33:16.123456789Z"),
            "2024-05-21 09:33:16.123456789 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2024-05-21T09:33:16.120Z"),
            "2024-05-21 09:33:16.12 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2024-05-21T09:33:16Z"),
            "2024-05-21 09:33:16 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2024-05-21T11:33:16.5+02:00"),
            "2024-05-21 11:33:16.5 +0200 +0200"
        );
        assert_eq!(go_time_string(""), "");
    }

    fn sample() -> Vec<Value> {
        vec![
            json!({"Name": "net10", "Id": "f".repeat(64), "Driver": "bridge", "Scope": "local",
                   "Created": "2024-05-21T09:33:16.5Z", "Labels": {"b": "2", "a": "1"},
                   "EnableIPv6": false, "Internal": true}),
            json!({"Name": "bridge", "Id": "0123456789abcdef".repeat(4), "Driver": "bridge",
                   "Scope": "local", "Created": "2024-05-21T09:33:16Z", "Labels": {}}),
            json!({"Name": "net9", "Id": "a".repeat(64), "Driver": "bridge", "Scope": "local",
                   "Created": "2024-05-21T09:33:16Z", "Labels": null}),
        ]
    }

    fn ls_output(list: &[Value], format: Option<&str>, quiet: bool, trunc: bool) -> String {
        let mut list = list.to_vec();
        list.sort_by(|x, y| natural_cmp(x["Name"].as_str().unwrap(), y["Name"].as_str().unwrap()));
        let rows: Vec<Value> = list.iter().map(|n| network_row(n, trunc)).collect();
        listfmt::render(&ls_template(format, None, quiet), &rows, &LS_HEADERS).unwrap()
    }

    #[test]
    fn ls_prints_dockers_table_sorted_naturally() {
        assert_eq!(
            ls_output(&sample(), None, false, true),
            "NETWORK ID     NAME      DRIVER    SCOPE\n\
             0123456789ab   bridge    bridge    local\n\
             aaaaaaaaaaaa   net9      bridge    local\n\
             ffffffffffff   net10     bridge    local\n"
        );
        assert_eq!(
            ls_output(&sample(), None, true, true),
            "0123456789ab\naaaaaaaaaaaa\nffffffffffff\n"
        );
        let full = ls_output(&sample(), None, true, false);
        assert!(full.starts_with(&"0123456789abcdef".repeat(4)));
    }

    #[test]
    fn ls_formats_every_field() {
        let out = ls_output(
            &sample()[..1],
            Some("{{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.IPv6}} {{.Internal}} {{.Labels}} {{.Label \"b\"}}{{.Label \"zz\"}} {{.CreatedAt}}"),
            false,
            true,
        );
        assert_eq!(
            out,
            "ffffffffffff net10 bridge local false true a=1,b=2 2 2024-05-21 09:33:16.5 +0000 UTC\n"
        );
        let out = ls_output(
            &sample()[..1],
            Some("table {{.Name}}\t{{.IPv6}}"),
            false,
            true,
        );
        assert_eq!(out, "NAME      IPV6\nnet10     false\n");
        // A custom format wins over -q, as in docker.
        let out = ls_output(&sample()[..1], Some("{{.Name}}"), true, true);
        assert_eq!(out, "net10\n");
        let out = ls_output(&sample()[..1], Some("raw"), false, true);
        assert_eq!(
            out,
            "network_id: ffffffffffff\nname: net10\ndriver: bridge\nscope: local\n\n"
        );
    }

    #[test]
    fn config_file_format_applies_unless_quiet() {
        assert_eq!(ls_template(None, Some("{{.Name}}"), false), "{{.Name}}");
        assert_eq!(ls_template(None, Some("{{.Name}}"), true), "{{.ID}}");
        assert_eq!(
            ls_template(Some("table"), Some("{{.Name}}"), false),
            LS_TABLE
        );
    }

    #[test]
    fn natural_order_compares_numbers() {
        let mut v = vec![
            "net10", "net9", "a", "net09", "net1", "b2", "b10", "10", "9",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["9", "10", "a", "b2", "b10", "net1", "net9", "net09", "net10"]
        );
        assert_eq!(natural_cmp("x", "xy"), std::cmp::Ordering::Less);
        assert_eq!(natural_cmp("x", "x"), std::cmp::Ordering::Equal);
    }

    #[test]
    fn inspect_output_is_an_indented_array_or_templated() {
        let raws = vec![
            bytes::Bytes::from_static(b"{\"Name\":\"n1\",\"Containers\":{}}\n"),
            bytes::Bytes::from_static(b"{\"Name\":\"n2\",\"Containers\":{}}"),
        ];
        let mut errs = Vec::new();
        assert_eq!(
            inspect_output(&raws, None, &mut errs).unwrap(),
            "[\n    {\n        \"Name\": \"n1\",\n        \"Containers\": {}\n    },\n    {\n        \"Name\": \"n2\",\n        \"Containers\": {}\n    }\n]\n"
        );
        assert_eq!(inspect_output(&[], None, &mut errs).unwrap(), "[]\n");
        assert_eq!(
            inspect_output(&raws, Some("{{.Name}}"), &mut errs).unwrap(),
            "n1\nn2\n"
        );
        assert_eq!(
            inspect_output(&[], Some("{{.Name}}"), &mut errs).unwrap(),
            "\n"
        );
        assert!(errs.is_empty());
        assert_eq!(
            inspect_output(&raws, Some("{{.Name"), &mut errs)
                .unwrap_err()
                .code,
            64
        );
    }

    #[test]
    fn not_found_is_worded_like_the_docker_client() {
        let e = ClientError::Daemon {
            status: StatusCode::NOT_FOUND,
            message: "network x not found".into(),
        };
        assert_eq!(network_error(e, "x"), "Error: No such network: x");
        let e = ClientError::Daemon {
            status: StatusCode::FORBIDDEN,
            message: "bridge is a pre-defined network and cannot be removed".into(),
        };
        assert_eq!(
            network_error(e, "bridge"),
            "Error response from daemon: bridge is a pre-defined network and cannot be removed"
        );
    }

    #[test]
    fn connect_sends_the_endpoint_config_docker_sends() {
        let a: ConnectArgs = parse(&["n1", "web"]);
        let v = serde_json::to_value(connect_request(&a).unwrap()).unwrap();
        assert_eq!(v["Container"], "web");
        let ep = &v["EndpointConfig"];
        assert_eq!(ep["IPAMConfig"], json!({}));
        assert_eq!(ep["Links"], Value::Null);
        assert_eq!(ep["Aliases"], json!([]));
        assert_eq!(ep["DriverOpts"], json!({}));
        assert_eq!(ep["IPAddress"], "");
        let a: ConnectArgs = parse(&[
            "--alias",
            "db,database",
            "--ip",
            "10.10.0.9",
            "--link",
            "other:o",
            "--driver-opt",
            "k = v",
            "n1",
            "web",
        ]);
        let v = serde_json::to_value(connect_request(&a).unwrap()).unwrap();
        let ep = &v["EndpointConfig"];
        assert_eq!(ep["Aliases"], json!(["db", "database"]));
        assert_eq!(ep["IPAMConfig"], json!({"IPv4Address": "10.10.0.9"}));
        assert_eq!(ep["Links"], json!(["other:o"]));
        assert_eq!(ep["DriverOpts"], json!({"k": "v"}));
        let a: ConnectArgs = parse(&["--link", "a:b:c", "n1", "web"]);
        assert_eq!(connect_request(&a).unwrap_err().code, 125);
        let a: ConnectArgs = parse(&["--driver-opt", "novalue", "n1", "web"]);
        assert_eq!(
            connect_request(&a).unwrap_err().message,
            "invalid key/value pair format in driver options"
        );
    }

    #[test]
    fn disconnect_sends_force() {
        let a: DisconnectArgs = parse(&["-f", "n1", "web"]);
        assert!(a.force);
        let v = serde_json::to_value(NetworkDisconnectRequest {
            container: a.container,
            force: a.force,
        })
        .unwrap();
        assert_eq!(v, json!({"Container": "web", "Force": true}));
    }

    #[test]
    fn prune_asks_like_docker_and_reads_any_stdin() {
        let mut out = Vec::new();
        assert!(crate::commands::confirm(
            &mut &b"y\n"[..],
            &mut out,
            PRUNE_WARNING
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
        );
        assert!(crate::commands::confirm(
            &mut &b"Y"[..],
            &mut Vec::new(),
            PRUNE_WARNING
        ));
        assert!(!crate::commands::confirm(
            &mut &b"yes\n"[..],
            &mut Vec::new(),
            PRUNE_WARNING
        ));
        assert!(!crate::commands::confirm(
            &mut &b"\n"[..],
            &mut Vec::new(),
            PRUNE_WARNING
        ));
        assert!(!crate::commands::confirm(
            &mut &b""[..],
            &mut Vec::new(),
            PRUNE_WARNING
        ));
        assert_eq!(
            prune_output(&["n1".into(), "n2".into()]),
            "Deleted Networks:\nn1\nn2\n"
        );
        assert_eq!(prune_output(&[]), "");
        let a: PruneArgs = parse(&["-f", "--filter", "until=24h"]);
        assert!(a.force);
        assert_eq!(a.filter, ["until=24h"]);
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(enc_segment("my-net_1.x"), "my-net_1.x");
        assert_eq!(enc_segment("a b/c"), "a%20b%2Fc");
    }
}
