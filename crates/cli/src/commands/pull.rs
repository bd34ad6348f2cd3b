//! `pull`.

use clap::Args;
use http::Method;
use http_body_util::BodyExt;

use crate::commands::archive::show_stream;
use crate::commands::enc;
use crate::{Env, Failure};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository (not supported)
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Skip image verification (accepted for compatibility)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// `balena-engine pull`.
pub async fn pull(env: &Env, a: PullArgs) -> Result<(), Failure> {
    if a.all_tags {
        return Err(Failure::new(1, "pulling all tags (-a) is not supported"));
    }
    let named = image::reference::parse_normalized_named(&a.name)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    let named = if named.tag().is_none() && named.digest().is_none() {
        if !a.quiet {
            println!("Using default tag: latest");
        }
        named.tag_name_only()
    } else {
        named
    };
    let tag = named
        .digest()
        .map(|d| d.to_string())
        .or_else(|| named.tag().map(str::to_string))
        .unwrap_or_default();
    let mut path = format!(
        "/images/create?fromImage={}&tag={}",
        enc(&named.trimmed().to_string()),
        enc(&tag)
    );
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let mut client = env.client()?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let auth = crate::config::registry_auth_header(env.global.config.as_deref(), named.domain());
    let resp = client
        .stream_with_headers(
            Method::POST,
            &path,
            empty,
            None,
            auth.as_deref().map(|h| ("X-Registry-Auth", h)),
        )
        .await?;
    show_stream(resp.into_body(), a.quiet).await?;
    println!("{named}");
    Ok(())
}
