//! `/_ping`, `/version`, `/info`.

use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::error::ApiError;
use crate::response::{self, json};
use crate::router::{Ctx, HandlerFuture};

/// `GET|HEAD /_ping`: "OK", uncached, with the builder version clients use
/// to pick a build backend.
pub(crate) fn ping(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let head = ctx.parts.method == Method::HEAD;
        let mut resp = Response::new(if head {
            response::empty()
        } else {
            response::full(&b"OK"[..])
        });
        let h = resp.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        );
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        h.insert("Builder-Version", HeaderValue::from_static("1"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if head {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        Ok(resp)
    })
}

/// `GET /version`.
pub(crate) fn version(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let engine = ctx.state.engine.clone();
        let v = tokio::task::spawn_blocking(move || engine.version())
            .await
            .map_err(|e| ApiError::internal(format!("version: {e}")))?;
        json(StatusCode::OK, &v)
    })
}

/// `GET /info`.
pub(crate) fn info(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let engine = ctx.state.engine.clone();
        let tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let info = tokio::task::spawn_blocking(move || engine.info(tasks))
            .await
            .map_err(|e| ApiError::internal(format!("info: {e}")))?;
        json(StatusCode::OK, &info)
    })
}
