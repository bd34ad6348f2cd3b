//! `POST /images/create`: pull (`fromImage`) and import (`fromSrc`).

use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::POST, "/images/create", create),
        (Method::POST, "/images/{name:.*}/push", push),
        (Method::POST, "/auth", login),
    ]
}

/// Streams a pull or push running on the engine: its messages become body
/// lines; a client that goes away drops the receiver, which cancels it.
fn run_streamed<F>(
    work: impl FnOnce(tokio::sync::mpsc::Sender<api::progress::JsonMessage>) -> F + Send + 'static,
) -> http::Response<crate::response::Body>
where
    F: std::future::Future<Output = Result<(), engine::EngineError>> + Send + 'static,
{
    let (mtx, mut mrx) = tokio::sync::mpsc::channel::<api::progress::JsonMessage>(64);
    let (btx, body) = crate::stream::channel_body(64);
    tokio::spawn(async move {
        while let Some(m) = mrx.recv().await {
            if btx.send(m.to_line()).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let errors = mtx.clone();
        match work(mtx).await {
            Ok(()) => {}
            Err(engine::EngineError::Cancelled) => {
                tracing::info!("cancelled: the client went away");
            }
            Err(e) => {
                tracing::warn!(error = %e, "streamed operation failed");
                let _ = errors
                    .send(api::progress::JsonMessage::error(e.to_string()))
                    .await;
            }
        }
    });
    let mut resp = http::Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn push(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = ctx
            .params
            .get("name")
            .cloned()
            .ok_or_else(|| ApiError::bad_request("missing name"))?;
        let tag = ctx.query().get("tag").unwrap_or("").to_string();
        let auth = auth(&ctx);
        let engine = ctx.state.engine.clone();
        let e2 = engine.clone();
        let targets = tokio::task::spawn_blocking(move || e2.push_targets(&name, &tag))
            .await
            .map_err(|e| ApiError::internal(format!("push: {e}")))??;
        Ok(run_streamed(move |tx| async move {
            engine.push_run(targets, auth, tx).await
        }))
    })
}

#[derive(serde::Deserialize)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, alias = "serverAddress", alias = "serveraddress")]
    serveraddress: String,
}

/// `POST /auth`: checks credentials against the registry.
fn login(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        use http_body_util::BodyExt;
        let bytes = http_body_util::Limited::new(ctx.body, 64 << 10)
            .collect()
            .await
            .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
            .to_bytes();
        let b: AuthBody = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid auth body: {e}")))?;
        let server = b
            .serveraddress
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .trim_end_matches("/v2")
            .to_string();
        let registry = match server.as_str() {
            "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
                "docker.io".to_string()
            }
            s => s.to_string(),
        };
        let creds = registry::Auth::basic(b.username, b.password);
        ctx.state
            .engine
            .registry()
            .login(&registry, &creds)
            .await
            .map_err(|e| ApiError::from(engine::EngineError::Registry(e)))?;
        crate::response::json(
            StatusCode::OK,
            &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        )
    })
}

/// Credentials from `X-Registry-Auth`; a malformed header means anonymous,
/// as in Docker.
fn auth(ctx: &Ctx) -> registry::Auth {
    match ctx
        .parts
        .headers
        .get("X-Registry-Auth")
        .and_then(|h| h.to_str().ok())
    {
        Some(h) if !h.is_empty() => registry::Auth::from_x_registry_auth(h).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "ignoring a malformed X-Registry-Auth header");
            registry::Auth::Anonymous
        }),
        _ => registry::Auth::Anonymous,
    }
}

/// `fromImage` + `tag` as Docker combines them: a tag that parses as a
/// digest pins the digest; no tag means `latest`.
pub(crate) fn pull_reference(from: &str, tag: &str) -> Result<image::reference::Named, ApiError> {
    let named = image::reference::parse_normalized_named(from)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let named = if tag.is_empty() {
        named
    } else if let Ok(d) = image::Digest::parse(tag) {
        named.trimmed().with_digest(d)
    } else {
        named
            .with_tag(tag)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    Ok(if named.tag().is_none() && named.digest().is_none() {
        named.tag_name_only()
    } else {
        named
    })
}

fn create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let from_image = q.get("fromImage").unwrap_or("").to_string();
        let from_src = q.get("fromSrc").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        if !from_image.is_empty() {
            let platform = match q.get("platform").filter(|p| !p.is_empty()) {
                Some(p) => Some(
                    image::Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?,
                ),
                None => None,
            };
            let reference = pull_reference(&from_image, &tag)?;
            let req = engine::pull::PullRequest {
                reference,
                platform,
                auth: auth(&ctx),
            };
            let engine = ctx.state.engine.clone();
            let prepared = engine.pull_prepare(req).await?;
            return Ok(run_streamed(move |tx| async move {
                engine.pull_run(prepared, tx).await
            }));
        }
        if !from_src.is_empty() {
            let repo = q.get("repo").unwrap_or("").to_string();
            let message = q.get("message").unwrap_or("").to_string();
            let changes: Vec<String> = q
                .get_all("changes")
                .into_iter()
                .map(str::to_string)
                .collect();
            let platform = q.get("platform").unwrap_or("").to_string();
            if from_src != "-" {
                return Err(ApiError::bad_request(
                    "importing from a URL is not supported; send the archive in the request body (fromSrc=-)",
                ));
            }
            let engine = ctx.state.engine.clone();
            let mut reader = crate::stream::body_reader(ctx.body);
            return Ok(super::images::progress_stream(move |progress| {
                let r = engine
                    .images()
                    .import(&mut reader, &repo, &tag, &message, &changes, &platform)
                    .and_then(|id| {
                        progress(api::progress::JsonMessage::status(id.to_string(), None))
                    });
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                r
            }));
        }
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "either fromImage or fromSrc must be given",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_combine_like_docker() {
        assert_eq!(
            pull_reference("busybox", "").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            pull_reference("busybox", "1.36").unwrap().to_string(),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            pull_reference("localhost:5000/a:x", "")
                .unwrap()
                .to_string(),
            "localhost:5000/a:x"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pull_reference("a", &d).unwrap().to_string(),
            format!("docker.io/library/a@{d}")
        );
        assert!(pull_reference("UPPER", "").is_err());
        assert!(pull_reference("a", "bad tag").is_err());
    }
}
