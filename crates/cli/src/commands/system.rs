//! `version` and `info`.

use std::fmt::Write as _;

use api::types::{SystemInfo, SystemVersion};
use clap::Args;
use serde_json::json;

use crate::{format, Env, Failure};

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

/// Docker's human time for build stamps (Go's `time.ANSIC`).
fn human_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn client_json(env: &Env, negotiated: &str) -> serde_json::Value {
    json!({
        "Platform": {"Name": ""},
        "Version": api::version::COMPAT_VERSION,
        "ApiVersion": negotiated,
        "DefaultAPIVersion": api::version::DEFAULT_VERSION.to_string(),
        "GitCommit": api::version::GIT_COMMIT,
        "GoVersion": format!("rustc {}", api::version::RUSTC_VERSION),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": api::version::BUILD_TIME,
        "Context": env.global.context.clone().unwrap_or_else(|| "default".into()),
        "Experimental": true,
    })
}

/// `balena-engine version`.
pub async fn version(env: &Env, args: VersionArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let server: Result<SystemVersion, Failure> = async {
        client.negotiate().await?;
        Ok(client.get("/version").await?.json::<SystemVersion>()?)
    }
    .await;
    let negotiated = client.version().to_string();
    let cj = client_json(env, &negotiated);

    if let Some(tmpl) = args.format {
        let data = json!({
            "Client": cj,
            "Server": server.as_ref().ok().map(|s| serde_json::to_value(s).unwrap_or_default()),
        });
        let out = format::render(&tmpl, &data)?;
        println!("{out}");
        return server.map(|_| ());
    }

    let mut o = String::new();
    let _ = writeln!(o, "Client:");
    let row = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, " {:<18}{}", format!("{k}:"), v);
    };
    row(&mut o, "Version", api::version::COMPAT_VERSION);
    row(&mut o, "API version", &negotiated);
    row(&mut o, "Rust version", api::version::RUSTC_VERSION);
    row(&mut o, "Git commit", api::version::GIT_COMMIT);
    row(&mut o, "Built", &human_time(api::version::BUILD_TIME));
    row(
        &mut o,
        "OS/Arch",
        &format!("{}/{}", std::env::consts::OS, go_arch()),
    );
    row(&mut o, "Context", "default");
    row(&mut o, "Experimental", "true");
    print!("{o}");

    let s = server?;
    let mut o = String::new();
    let _ = writeln!(o, "\nServer: {}", s.platform.name);
    for c in &s.components {
        let _ = writeln!(o, " {}:", c.name);
        let d = c.details.clone().unwrap_or_default();
        let get = |k: &str| d.get(k).cloned().unwrap_or_default();
        let row = |o: &mut String, k: &str, v: &str| {
            let _ = writeln!(o, "  {:<17}{}", format!("{k}:"), v);
        };
        row(&mut o, "Version", &c.version);
        if c.name == "Engine" {
            row(
                &mut o,
                "API version",
                &format!(
                    "{} (minimum version {})",
                    get("ApiVersion"),
                    get("MinAPIVersion")
                ),
            );
            row(&mut o, "Go version", &get("GoVersion"));
            row(&mut o, "Git commit", &get("GitCommit"));
            row(&mut o, "Built", &human_time(&get("BuildTime")));
            row(&mut o, "OS/Arch", &format!("{}/{}", get("Os"), get("Arch")));
            row(&mut o, "Experimental", &get("Experimental"));
        } else if let Some(commit) = d.get("GitCommit") {
            row(&mut o, "GitCommit", commit);
        }
    }
    print!("{o}");
    Ok(())
}

/// Go's `units.BytesSize`: binary units, four significant digits.
pub fn bytes_size(n: f64) -> String {
    api::progress::format_units(n, 1024.0, &api::progress::BINARY_UNITS, 4)
}

fn render_info(env: &Env, i: &SystemInfo) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, " Containers: {}", i.containers);
    let _ = writeln!(w, "  Running: {}", i.containers_running);
    let _ = writeln!(w, "  Paused: {}", i.containers_paused);
    let _ = writeln!(w, "  Stopped: {}", i.containers_stopped);
    let _ = writeln!(w, " Images: {}", i.images);
    let _ = writeln!(w, " Server Version: {}", i.server_version);
    let _ = writeln!(w, " Storage Driver: {}", i.driver);
    for [k, v] in &i.driver_status {
        let _ = writeln!(w, "  {k}: {v}");
    }
    let _ = writeln!(w, " Logging Driver: {}", i.logging_driver);
    let _ = writeln!(w, " Cgroup Driver: {}", i.cgroup_driver);
    if !i.cgroup_version.is_empty() {
        let _ = writeln!(w, " Cgroup Version: {}", i.cgroup_version);
    }
    let _ = writeln!(w, " Plugins:");
    let _ = writeln!(w, "  Volume: {}", i.plugins.volume.join(" "));
    let _ = writeln!(w, "  Network: {}", i.plugins.network.join(" "));
    if let Some(a) = i.plugins.authorization.as_ref().filter(|a| !a.is_empty()) {
        let _ = writeln!(w, "  Authorization: {}", a.join(" "));
    }
    let _ = writeln!(w, "  Log: {}", i.plugins.log.join(" "));
    let _ = writeln!(w, " Swarm: {}", i.swarm.local_node_state);
    let _ = writeln!(
        w,
        " Runtimes: {}",
        i.runtimes.keys().cloned().collect::<Vec<_>>().join(" ")
    );
    let _ = writeln!(w, " Default Runtime: {}", i.default_runtime);
    let _ = writeln!(w, " Init Binary: {}", i.init_binary);
    let _ = writeln!(w, " containerd version: {}", i.containerd_commit.id);
    let _ = writeln!(w, " runc version: {}", i.runc_commit.id);
    let _ = writeln!(w, " init version: {}", i.init_commit.id);
    if !i.security_options.is_empty() {
        let _ = writeln!(w, " Security Options:");
        for opt in &i.security_options {
            let mut name = "";
            let mut rest = Vec::new();
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", n)) => name = n,
                    Some((k, v)) => rest.push((k, v)),
                    None => {}
                }
            }
            let _ = writeln!(w, "  {name}");
            for (k, v) in rest {
                let mut key = k.to_string();
                if let Some(f) = key.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                let _ = writeln!(w, "   {key}: {v}");
            }
        }
    }
    let _ = writeln!(w, " Kernel Version: {}", i.kernel_version);
    let _ = writeln!(w, " Operating System: {}", i.operating_system);
    let _ = writeln!(w, " OSType: {}", i.os_type);
    let _ = writeln!(w, " Architecture: {}", i.architecture);
    let _ = writeln!(w, " CPUs: {}", i.ncpu);
    let _ = writeln!(w, " Total Memory: {}", bytes_size(i.mem_total as f64));
    let _ = writeln!(w, " Name: {}", i.name);
    let _ = writeln!(w, " ID: {}", i.id);
    let _ = writeln!(w, " Docker Root Dir: {}", i.docker_root_dir);
    let _ = writeln!(w, " Debug Mode: {}", i.debug);
    if i.debug {
        let _ = writeln!(w, "  File Descriptors: {}", i.nfd);
        let _ = writeln!(w, "  Goroutines: {}", i.n_goroutines);
        let _ = writeln!(w, "  System Time: {}", i.system_time);
        let _ = writeln!(w, "  EventsListeners: {}", i.n_events_listener);
    }
    for (k, v) in [
        ("HTTP Proxy", &i.http_proxy),
        ("HTTPS Proxy", &i.https_proxy),
        ("No Proxy", &i.no_proxy),
    ] {
        if !v.is_empty() {
            let _ = writeln!(w, " {k}: {v}");
        }
    }
    let _ = writeln!(w, " Registry: {}", i.index_server_address);
    let _ = writeln!(w, " Labels:");
    for l in &i.labels {
        let _ = writeln!(w, "  {l}");
    }
    let _ = writeln!(w, " Experimental: {}", i.experimental_build);
    if let Some(rc) = &i.registry_config {
        let mut insecure: Vec<String> = rc
            .index_configs
            .values()
            .filter(|c| !c.secure)
            .map(|c| c.name.clone())
            .collect();
        insecure.extend(rc.insecure_registry_cidrs.iter().cloned());
        if !insecure.is_empty() {
            let _ = writeln!(w, " Insecure Registries:");
            for r in insecure {
                let _ = writeln!(w, "  {r}");
            }
        }
        if !rc.mirrors.is_empty() {
            let _ = writeln!(w, " Registry Mirrors:");
            for m in &rc.mirrors {
                let _ = writeln!(w, "  {m}");
            }
        }
    }
    let _ = writeln!(w, " Live Restore Enabled: {}", i.live_restore_enabled);
    let _ = env;
    o
}

/// `balena-engine info`.
pub async fn info(env: &Env, args: InfoArgs) -> Result<(), Failure> {
    let mut client = env.client()?;
    let server: Result<serde_json::Value, Failure> = async {
        let r = client.get("/info").await?;
        Ok(r.json::<serde_json::Value>()?)
    }
    .await;

    if let Some(tmpl) = args.format {
        let mut data = server.as_ref().cloned().unwrap_or_else(|_| json!({}));
        if let serde_json::Value::Object(m) = &mut data {
            m.insert(
                "ClientInfo".into(),
                json!({"Debug": env.global.debug, "Context": "default", "Plugins": [], "Warnings": null}),
            );
            m.insert(
                "ServerErrors".into(),
                match &server {
                    Ok(_) => serde_json::Value::Null,
                    Err(f) => json!([f.message]),
                },
            );
        }
        println!("{}", format::render(&tmpl, &data)?);
        return server.map(|_| ());
    }

    println!("Client:");
    println!(" Context:    default");
    println!(" Debug Mode: {}", env.global.debug);
    println!();
    println!("Server:");
    match server {
        Err(f) => {
            println!("ERROR: {}", f.message);
            Err(Failure::new(1, "errors pretty printing info"))
        }
        Ok(v) => {
            let i: SystemInfo = serde_json::from_value(v).map_err(|e| {
                Failure::new(1, format!("error decoding response from daemon: {e}"))
            })?;
            print!("{}", render_info(env, &i));
            if let Some(warnings) = &i.warnings {
                if !warnings.is_empty() {
                    eprintln!();
                    for w in warnings {
                        eprintln!("{w}");
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_size_matches_go_units() {
        assert_eq!(bytes_size(25_120_956_416.0), "23.4GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(999.0), "999B");
        assert_eq!(bytes_size(2_147_483_648.0), "2GiB");
    }

    #[test]
    fn build_time_is_shown_as_ansic() {
        assert_eq!(
            human_time("2023-04-04T18:21:03+00:00"),
            "Tue Apr  4 18:21:03 2023"
        );
        assert_eq!(human_time("garbage"), "garbage");
    }

    #[test]
    fn info_renders_security_options_like_docker() {
        let env = Env {
            global: Default::default(),
        };
        let i = SystemInfo {
            security_options: vec![
                "name=seccomp,profile=default".into(),
                "name=cgroupns".into(),
            ],
            ..Default::default()
        };
        let out = render_info(&env, &i);
        assert!(
            out.contains(" Security Options:\n  seccomp\n   Profile: default\n  cgroupns\n"),
            "{out}"
        );
    }
}
