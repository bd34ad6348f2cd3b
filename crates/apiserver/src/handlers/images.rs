//! Image endpoints that read or change the local store.

use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::response::json;
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/images/json", list),
        (Method::POST, "/images/prune", prune),
        (Method::POST, "/images/load", load),
        (Method::POST, "/images/delta", delta),
        (Method::GET, "/images/get", save_many),
        (Method::GET, "/images/{name:.*}/get", save_one),
        (Method::GET, "/images/{name:.*}/json", inspect),
        (Method::GET, "/images/{name:.*}/history", history),
        (Method::POST, "/images/{name:.*}/tag", tag),
        (Method::DELETE, "/images/{name:.*}", delete),
    ]
}

/// Runs store work on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, engine::EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
        .map_err(ApiError::from)
}

fn param(ctx: &Ctx, name: &str) -> Result<String, ApiError> {
    ctx.params
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("missing {name}")))
}

fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let all = q.bool("all");
        let digests = q.bool("digests");
        let mut filters = engine::filters::Filters::parse(q.get("filters"))?;
        // The legacy `filter=` parameter is a reference pattern.
        if let Some(f) = q.get("filter").filter(|f| !f.is_empty()) {
            let mut v = serde_json::Map::new();
            v.insert("reference".into(), serde_json::json!([f]));
            filters =
                engine::filters::Filters::parse(Some(&serde_json::Value::Object(v).to_string()))?;
        }
        let engine = ctx.state.engine.clone();
        let list = blocking(move || engine.images().list(all, &filters, digests)).await?;
        json(StatusCode::OK, &list)
    })
}

fn inspect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = param(&ctx, "name")?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.images().inspect(&name)).await?;
        json(StatusCode::OK, &v)
    })
}

fn history(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = param(&ctx, "name")?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.images().history(&name)).await?;
        json(StatusCode::OK, &v)
    })
}

fn tag(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = param(&ctx, "name")?;
        let q = ctx.query();
        let repo = q.get("repo").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        if repo.is_empty() {
            return Err(ApiError::bad_request(
                "repository name must have at least one component",
            ));
        }
        let engine = ctx.state.engine.clone();
        blocking(move || engine.images().tag(&name, &repo, &tag)).await?;
        let mut resp = http::Response::new(crate::response::empty());
        *resp.status_mut() = StatusCode::CREATED;
        Ok(resp)
    })
}

fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = param(&ctx, "name")?;
        let q = ctx.query();
        let force = q.bool("force");
        let noprune = q.bool("noprune");
        let engine = ctx.state.engine.clone();
        let v = blocking(move || {
            let in_use = |id: &image::ImageId| engine.image_in_use(id);
            engine.images().delete(&name, force, noprune, &in_use)
        })
        .await?;
        json(StatusCode::OK, &v)
    })
}

fn prune(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let filters = engine::filters::Filters::parse(q.get("filters"))?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || {
            let in_use = |id: &image::ImageId| engine.image_in_use(id);
            engine.images().prune(&filters, &in_use)
        })
        .await?;
        json(StatusCode::OK, &v)
    })
}

/// Streams JSON messages from blocking engine work: the work gets a
/// progress sink; its error after the stream started becomes Docker's final
/// `errorDetail` message.
pub(crate) fn progress_stream(
    work: impl FnOnce(&mut engine::archive::Progress<'_>) -> Result<(), engine::EngineError>
        + Send
        + 'static,
) -> http::Response<crate::response::Body> {
    let (tx, body) = crate::stream::channel_body(16);
    tokio::task::spawn_blocking(move || {
        let sink = tx.clone();
        let mut progress = |m: api::progress::JsonMessage| {
            sink.send_blocking(m.to_line())
                .map_err(|_| engine::EngineError::Cancelled)
        };
        if let Err(e) = work(&mut progress) {
            if !matches!(e, engine::EngineError::Cancelled) {
                tracing::debug!(error = %e, "streamed operation failed");
                let _ =
                    tx.send_blocking(api::progress::JsonMessage::error(e.to_string()).to_line());
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

fn load(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let quiet = ctx.query().bool("quiet");
        let engine = ctx.state.engine.clone();
        let mut reader = crate::stream::body_reader(ctx.body);
        Ok(progress_stream(move |progress| {
            let r =
                engine
                    .images()
                    .load_archive(&mut reader, quiet, engine.delta_store(), progress);
            // Read what the client still sends (tar padding after the end
            // blocks), so it is not cut off mid-upload.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            r
        }))
    })
}

fn save(names: Vec<String>, ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        if names.is_empty() {
            return Err(ApiError::bad_request("no image names given"));
        }
        // Resolve first, so a missing image is a 404, not a broken stream.
        let engine = ctx.state.engine.clone();
        let check = names.clone();
        blocking(move || {
            for n in &check {
                engine.images().resolve(n)?;
            }
            Ok(())
        })
        .await?;
        let engine = ctx.state.engine.clone();
        let (tx, body) = crate::stream::channel_body(16);
        tokio::task::spawn_blocking(move || {
            let w = std::io::BufWriter::with_capacity(256 << 10, crate::stream::BodyWriter(tx));
            if let Err(e) = engine.images().save_archive(&names, w) {
                tracing::warn!(error = %e, "image save failed after the stream started");
            }
        });
        let mut resp = http::Response::new(body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-tar"),
        );
        Ok(resp)
    })
}

fn save_one(ctx: Ctx) -> HandlerFuture {
    match param(&ctx, "name") {
        Ok(n) => save(vec![n], ctx),
        Err(e) => Box::pin(async move { Err(e) }),
    }
}

fn save_many(ctx: Ctx) -> HandlerFuture {
    let names = ctx
        .query()
        .get_all("names")
        .into_iter()
        .map(str::to_string)
        .collect();
    save(names, ctx)
}

/// `POST /images/delta?src=&dest=&t=` (balenaEngine).
fn delta(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let src = q.get("src").unwrap_or("").to_string();
        let dest = q.get("dest").unwrap_or("").to_string();
        let tag = q.get("t").unwrap_or("").to_string();
        if src.is_empty() || dest.is_empty() {
            return Err(ApiError::bad_request("src and dest are required"));
        }
        let engine = ctx.state.engine.clone();
        let (s2, d2) = (src.clone(), dest.clone());
        blocking(move || {
            engine.images().resolve(&s2)?;
            engine.images().resolve(&d2)?;
            Ok(())
        })
        .await?;
        let engine = ctx.state.engine.clone();
        Ok(progress_stream(move |progress| {
            engine
                .images()
                .delta_create(&src, &dest, &tag, progress)
                .map(|_| ())
        }))
    })
}
