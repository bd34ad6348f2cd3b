//! `GET /events`: a stream of JSON event messages, one per line.

use http::{HeaderValue, Method, Response, StatusCode};

use crate::error::ApiError;
use crate::router::{Ctx, Handler, HandlerFuture};
use crate::stream::channel_body;

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![(Method::GET, "/events", events)]
}

fn time_param(v: Option<&str>) -> Result<Option<i64>, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => engine::events::parse_time(s)
            .map(Some)
            .map_err(ApiError::from),
    }
}

fn events(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let since = time_param(q.get("since"))?;
        let until = time_param(q.get("until"))?;
        if let (Some(s), Some(u)) = (since, until) {
            if u < s {
                return Err(ApiError::bad_request(format!(
                    "`since` time ({}) cannot be after `until` time ({})",
                    q.get("since").unwrap_or(""),
                    q.get("until").unwrap_or("")
                )));
            }
        }
        let filter = engine::events::EventFilter::parse(q.get("filters"))?;
        let mut sub = ctx.state.engine.events().subscribe(since, until, filter);
        let (tx, body) = channel_body(64);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    m = sub.next() => m,
                    () = tx.closed() => None,
                };
                let Some(m) = next else { break };
                let mut line = match serde_json::to_vec(&*m) {
                    Ok(b) => b,
                    Err(_) => continue,
                };
                line.push(b'\n');
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
        let mut resp = Response::new(body);
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(resp)
    })
}
