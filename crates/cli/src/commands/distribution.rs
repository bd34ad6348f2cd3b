//! `push`, `login`, `logout`, `import`.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use http::Method;
use http_body_util::BodyExt;

use crate::client::reader_body;
use crate::commands::archive::show_stream;
use crate::commands::enc;
use crate::{Env, Failure};

/// Docker Hub's server name in config.json.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Skip image signing (accepted for compatibility)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Password
    #[arg(short = 'p', long, value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Username
    #[arg(short = 'u', long, value_name = "string")]
    pub username: Option<String>,
    /// SERVER
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// SERVER
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// file|- (a tar archive of a root file system)
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `balena-engine push`.
pub async fn push(env: &Env, a: PushArgs) -> Result<(), Failure> {
    let named = image::reference::parse_normalized_named(&a.name)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    if a.all_tags && named.tag().is_some() {
        return Err(Failure::new(125, "tag can't be used with --all-tags/-a"));
    }
    let tag = named.tag().unwrap_or("").to_string();
    let path = format!(
        "/images/{}/push?tag={}",
        named
            .trimmed()
            .familiar_string()
            .split('/')
            .map(enc)
            .collect::<Vec<_>>()
            .join("/"),
        enc(&tag)
    );
    let auth = crate::config::registry_auth_header(env.global.config.as_deref(), named.domain())
        .unwrap_or_else(|| "e30=".to_string());
    let mut client = env.client()?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let resp = client
        .stream_with_headers(
            Method::POST,
            &path,
            empty,
            None,
            Some(("X-Registry-Auth", &auth)),
        )
        .await?;
    show_stream(resp.into_body(), a.quiet).await?;
    if a.quiet {
        println!("{named}");
    }
    Ok(())
}

fn server_key(server: Option<&str>) -> String {
    match server {
        None | Some("") | Some("docker.io") | Some("index.docker.io") => DOCKER_HUB.to_string(),
        Some(s) => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

/// Reads a line from the terminal, without echo for passwords.
fn prompt(label: &str, hidden: bool) -> Result<String, Failure> {
    print!("{label}");
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    let saved = if hidden {
        nix::sys::termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet
                .local_flags
                .remove(nix::sys::termios::LocalFlags::ECHO);
            let _ =
                nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        println!();
    }
    r.map_err(|e| Failure::new(1, e.to_string()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `balena-engine login`.
pub async fn login(env: &Env, a: LoginArgs) -> Result<(), Failure> {
    let key = server_key(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        return Err(Failure::new(
            125,
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    let tty = std::io::stdin().is_terminal();
    let username = match a.username {
        Some(u) => u,
        None if tty => prompt("Username: ", false)?,
        None => {
            return Err(Failure::new(
                1,
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .map_err(|e| Failure::new(1, e.to_string()))?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if tty {
        prompt("Password: ", true)?
    } else {
        return Err(Failure::new(
            1,
            "Error: Cannot perform an interactive login from a non TTY device",
        ));
    };
    if username.is_empty() || password.is_empty() {
        return Err(Failure::new(1, "Error: Username and password are required"));
    }
    let body =
        serde_json::json!({"username": username, "password": password, "serveraddress": key});
    let mut client = env.client()?;
    client
        .request(Method::POST, "/auth", Some(body.to_string().into_bytes()))
        .await?;
    let path =
        crate::config::store_credentials(env.global.config.as_deref(), &key, &username, &password)
            .map_err(|e| Failure::new(1, format!("Error saving credentials: {e}")))?;
    println!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    println!("Login Succeeded");
    Ok(())
}

/// `balena-engine logout`.
pub async fn logout(env: &Env, a: LogoutArgs) -> Result<(), Failure> {
    let key = server_key(a.server.as_deref());
    match crate::config::remove_credentials(env.global.config.as_deref(), &key) {
        Ok(true) => println!("Removing login credentials for {key}"),
        Ok(false) => println!("Not logged in to {key}"),
        Err(e) => return Err(Failure::new(1, format!("Error removing credentials: {e}"))),
    }
    Ok(())
}

/// `balena-engine import`.
pub async fn import(env: &Env, a: ImportArgs) -> Result<(), Failure> {
    let body = if a.file == "-" {
        reader_body(tokio::io::stdin())
    } else if a.file.contains("://") {
        return Err(Failure::new(
            1,
            "importing from a URL is not supported; download the archive and import the file",
        ));
    } else {
        let f = tokio::fs::File::open(&a.file)
            .await
            .map_err(|e| Failure::new(1, format!("open {}: {e}", a.file)))?;
        reader_body(f)
    };
    let mut path = String::from("/images/create?fromSrc=-");
    if let Some(r) = &a.reference {
        let (repo, tag) = crate::commands::images::split_repo_tag(r);
        path.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
    }
    if let Some(m) = &a.message {
        path.push_str(&format!("&message={}", enc(m)));
    }
    for c in &a.changes {
        path.push_str(&format!("&changes={}", enc(c)));
    }
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let mut client = env.client()?;
    let resp = client
        .stream(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    show_stream(resp.into_body(), false).await
}
