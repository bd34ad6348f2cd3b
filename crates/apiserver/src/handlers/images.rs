//! Image endpoints that read or change the local store.

use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::response::json;
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/images/json", list),
        (Method::POST, "/images/prune", prune),
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

fn no_container(_: &image::ImageId) -> Option<String> {
    None
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
        let v =
            blocking(move || engine.images().delete(&name, force, noprune, &no_container)).await?;
        json(StatusCode::OK, &v)
    })
}

fn prune(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let filters = engine::filters::Filters::parse(q.get("filters"))?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.images().prune(&filters, &no_container)).await?;
        json(StatusCode::OK, &v)
    })
}
