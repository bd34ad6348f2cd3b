//! `save` and `load`.

use std::io::IsTerminal;

use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::client::reader_body;
use crate::commands::enc;
use crate::jsonmsg::{Decoder, Display};
use crate::{Env, Failure};

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `balena-engine save`.
pub async fn save(env: &Env, a: SaveArgs) -> Result<(), Failure> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let query: Vec<String> = a
        .images
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    let mut client = env.client()?;
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let resp = client
        .stream(
            Method::GET,
            &format!("/images/get?{}", query.join("&")),
            empty,
            None,
        )
        .await?;
    // Write to a temp file beside the target and rename at the end, so a
    // failed save never leaves a truncated archive under the final name.
    let (mut out, tmp): (
        Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
        Option<(String, String)>,
    ) = match &a.output {
        Some(path) => {
            let tmp = format!("{path}.tmp-{}", std::process::id());
            let f = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| Failure::new(1, format!("failed to save image: {tmp}: {e}")))?;
            (Box::new(f), Some((tmp, path.clone())))
        }
        None => (Box::new(tokio::io::stdout()), None),
    };
    let mut body = resp.into_body();
    let result: Result<(), String> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).await.map_err(|e| e.to_string())?;
            }
        }
        out.flush().await.map_err(|e| e.to_string())
    }
    .await;
    drop(out);
    match (result, tmp) {
        (Ok(()), Some((tmp, path))) => tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| Failure::new(1, format!("failed to save image: {e}"))),
        (Ok(()), None) => Ok(()),
        (Err(e), tmp) => {
            if let Some((tmp, _)) = tmp {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            Err(Failure::new(1, format!("failed to save image: {e}")))
        }
    }
}

/// `balena-engine load`.
pub async fn load(env: &Env, a: LoadArgs) -> Result<(), Failure> {
    let body = match &a.input {
        Some(path) => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| Failure::new(1, format!("open {path}: {e}")))?;
            reader_body(f)
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            reader_body(tokio::io::stdin())
        }
    };
    let mut client = env.client()?;
    let path = format!("/images/load?quiet={}", a.quiet as u8);
    let resp = client
        .stream(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    show_stream(resp.into_body(), a.quiet).await
}

/// Shows a JSON message stream; quiet shows only `stream` lines.
pub async fn show_stream(body: hyper::body::Incoming, quiet: bool) -> Result<(), Failure> {
    let terminal = std::io::stdout().is_terminal() && !quiet;
    show_stream_inner(body, quiet, std::io::stdout(), terminal).await
}

/// [`show_stream`] to another writer (`run` shows its pull on stderr).
pub async fn show_stream_to(
    body: hyper::body::Incoming,
    out: impl std::io::Write,
    terminal: bool,
) -> Result<(), Failure> {
    show_stream_inner(body, false, out, terminal).await
}

async fn show_stream_inner(
    mut body: hyper::body::Incoming,
    quiet: bool,
    out: impl std::io::Write,
    terminal: bool,
) -> Result<(), Failure> {
    let mut display = Display::new(out, terminal);
    let mut dec = Decoder::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::new(1, e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        for m in dec.feed(&data) {
            let m = m.map_err(|e| Failure::new(1, e))?;
            if quiet && m.stream.is_none() && m.error.is_none() && m.error_detail.is_none() {
                continue;
            }
            display.show(&m).map_err(|e| Failure::new(1, e))?;
        }
    }
    Ok(())
}
