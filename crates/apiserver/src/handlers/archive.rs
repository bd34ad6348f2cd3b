//! A container's file system: `changes`, `export`, the archive API,
//! `commit`, and `system/df`.

use base64::Engine as _;
use http::{HeaderValue, Method, Response, StatusCode};

use super::images::blocking;
use crate::error::ApiError;
use crate::response::{json, Body};
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/containers/{id}/changes", changes),
        (Method::GET, "/containers/{id}/export", export),
        (Method::HEAD, "/containers/{id}/archive", archive_head),
        (Method::GET, "/containers/{id}/archive", archive_get),
        (Method::PUT, "/containers/{id}/archive", archive_put),
        (Method::POST, "/commit", commit),
        (Method::GET, "/system/df", df),
    ]
}

fn id(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params
        .get("id")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("missing id"))
}

/// Docker's `ArchiveFormValues`: the container and a non-empty `path`.
fn archive_args(ctx: &Ctx) -> Result<(String, String), ApiError> {
    let name = id(ctx)?;
    match ctx.query().get("path") {
        Some(p) if !p.is_empty() => Ok((name, p.to_string())),
        _ => Err(ApiError::bad_request("bad parameter: path cannot be empty")),
    }
}

/// The `X-Docker-Container-Path-Stat` header value: base64 of the JSON.
pub(crate) fn stat_header(stat: &api::fs::PathStat) -> Result<HeaderValue, ApiError> {
    let raw = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(raw))
        .map_err(|e| ApiError::internal(e.to_string()))
}

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn changes(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = id(&ctx)?;
        let list = ctx.state.engine.containers().changes(&name).await?;
        json(StatusCode::OK, &list)
    })
}

fn tar_response(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    resp
}

/// Streams what `write` produces with the container's root open; `first`
/// runs before the stream starts (its error is the answer).
async fn stream_root<T: Send + 'static>(
    ctx: &Ctx,
    name: String,
    first: impl FnOnce(&engine::containers::files::RootFs) -> Result<T, engine::EngineError>
        + Send
        + 'static,
    write: impl FnOnce(
            &engine::containers::files::RootFs,
            crate::stream::BodyWriter,
        ) -> Result<(), engine::EngineError>
        + Send
        + 'static,
    event: &'static str,
) -> Result<(T, Body), ApiError> {
    let (tx, body) = crate::stream::channel_body(16);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<T>();
    let containers = ctx.state.engine.containers().clone();
    let name2 = name.clone();
    let task = tokio::spawn(async move {
        let r = containers
            .with_root(&name2, move |root, _| {
                let v = first(root)?;
                if ready_tx.send(v).is_err() {
                    return Err(engine::EngineError::Cancelled);
                }
                write(root, crate::stream::BodyWriter(tx))
            })
            .await;
        match &r {
            Ok(()) => containers.file_event(&name2, event),
            Err(e) => tracing::debug!(container = %name2, error = %e, "file stream ended"),
        }
        r
    });
    match ready_rx.await {
        Ok(v) => Ok((v, body)),
        // The closure never got that far: its error is the answer.
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(())) => Err(ApiError::internal("file stream ended early")),
            Err(e) => Err(ApiError::internal(format!("task failed: {e}"))),
        },
    }
}

fn export(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = id(&ctx)?;
        let ((), body) = stream_root(
            &ctx,
            name,
            |_| Ok(()),
            |root, w| root.export(std::io::BufWriter::with_capacity(128 << 10, w)),
            "export",
        )
        .await?;
        Ok(tar_response(body))
    })
}

fn archive_head(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let (name, path) = archive_args(&ctx)?;
        let containers = ctx.state.engine.containers().clone();
        let stat = containers
            .with_root(&name, move |root, _| root.stat(&path))
            .await?;
        let mut r = Response::new(crate::response::empty());
        r.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
        Ok(r)
    })
}

fn archive_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let (name, path) = archive_args(&ctx)?;
        let p2 = path.clone();
        let (stat, body) = stream_root(
            &ctx,
            name,
            move |root| root.stat(&p2),
            move |root, w| root.archive(&path, std::io::BufWriter::with_capacity(128 << 10, w)),
            "archive-path",
        )
        .await?;
        let mut r = tar_response(body);
        r.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
        Ok(r)
    })
}

fn archive_put(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let (name, path) = archive_args(&ctx)?;
        let q = ctx.query();
        let no_overwrite = q.bool("noOverwriteDirNonDir");
        let copy_uid_gid = q.bool("copyUIDGID");
        let reader = crate::stream::body_reader(ctx.body);
        // Whatever the extraction leaves unread is drained, so a client
        // still uploading gets the answer instead of a reset.
        let reader = Drain(Some(reader));
        ctx.state
            .engine
            .containers()
            .extract_to_dir(&name, &path, no_overwrite, copy_uid_gid, reader)
            .await?;
        Ok(Response::new(crate::response::empty()))
    })
}

/// Reads through to the end of the body when dropped.
struct Drain(Option<crate::stream::BodyReader>);

impl std::io::Read for Drain {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        if let Some(mut r) = self.0.take() {
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
    }
}

fn commit(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let container = q.get("container").unwrap_or("").to_string();
        if container.is_empty() {
            return Err(ApiError::bad_request("No container name or ID supplied"));
        }
        // Docker: `pause` defaults to true when absent.
        let pause = match q.get("pause") {
            None | Some("") => true,
            Some(_) => q.bool("pause"),
        };
        let mut o = engine::commit::CommitOptions {
            container,
            repo: q.get("repo").unwrap_or("").to_string(),
            tag: q.get("tag").unwrap_or("").to_string(),
            comment: q.get("comment").unwrap_or("").to_string(),
            author: q.get("author").unwrap_or("").to_string(),
            pause,
            changes: q
                .get_all("changes")
                .into_iter()
                .map(str::to_string)
                .collect(),
            config: None,
        };
        use http_body_util::BodyExt;
        let bytes = http_body_util::Limited::new(ctx.body, 16 << 20)
            .collect()
            .await
            .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
            .to_bytes();
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            o.config = Some(v);
        }
        let id = ctx.state.engine.commit(o).await?;
        json(StatusCode::CREATED, &api::fs::IdResponse { id })
    })
}

fn df(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let engine = ctx.state.engine.clone();
        let du = blocking(move || engine.disk_usage()).await?;
        json(StatusCode::OK, &du)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_header_is_base64_of_dockers_json() {
        let s = api::fs::PathStat {
            name: "etc".into(),
            size: 4096,
            mode: api::fs::go_mode::DIR | 0o755,
            mtime: "2024-01-02T03:04:05Z".into(),
            link_target: String::new(),
        };
        let h = stat_header(&s).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.to_str().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            r#"{"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-01-02T03:04:05Z","linkTarget":""}"#
        );
    }
}
