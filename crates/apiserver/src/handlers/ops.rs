//! `stats`, `top`, `update`, `rename` and `POST /containers/prune`.

use http::{HeaderValue, Method, Response, StatusCode};

use super::images::blocking;
use crate::error::ApiError;
use crate::response::{json, Body};
use crate::router::{Ctx, Handler, HandlerFuture};
use crate::stream::channel_body;

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/containers/{id}/stats", stats),
        (Method::GET, "/containers/{id}/top", top),
        (Method::POST, "/containers/{id}/update", update),
        (Method::POST, "/containers/{id}/rename", rename),
        (Method::POST, "/containers/prune", prune),
    ]
}

fn id(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params
        .get("id")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("missing id"))
}

/// Docker's `BoolValueOrDefault`: absent or empty gives `default`; else
/// anything but `0`, `no`, `false`, `none` (any case) is true.
fn bool_or(q: &crate::router::Query, key: &str, default: bool) -> bool {
    match q.get(key) {
        None | Some("") => default,
        Some(v) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "no" | "false" | "none"
        ),
    }
}

fn encode(doc: &api::ops::StatsJson) -> Vec<u8> {
    let mut b = serde_json::to_vec(doc).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Docker's collector samples every second.
const INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn stats(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let q = ctx.query();
        let stream = bool_or(&q, "stream", true);
        let one_shot = q.bool("one-shot");
        let engine = ctx.state.engine.clone();
        let mut s = engine.containers().stats_stream(&id)?;
        if stream && one_shot {
            return Err(ApiError::bad_request(
                "cannot have stream=true and one-shot=true",
            ));
        }
        if !stream && !s.running() {
            // A stopped container: one zeroed document with its name and id.
            let doc = s.sample();
            let mut r = Response::new(crate::response::full(encode(&doc)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(r);
        }
        let (tx, body) = channel_body(2);
        tokio::spawn(async move {
            // Without a stream, the first sample only primes precpu_stats
            // (unless one-shot), as Docker does.
            let mut skip = !stream && !one_shot;
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if s.removed() || tx.is_closed() {
                    return;
                }
                let Ok((doc, back)) = tokio::task::spawn_blocking(move || {
                    let d = s.sample();
                    (d, s)
                })
                .await
                else {
                    return;
                };
                s = back;
                if skip {
                    skip = false;
                    continue;
                }
                if tx.send(encode(&doc)).await.is_err() || !stream {
                    return;
                }
            }
        });
        let mut resp = Response::new(body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(resp)
    })
}

fn top(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let args = ctx.query().get("ps_args").unwrap_or("").to_string();
        let engine = ctx.state.engine.clone();
        let t = blocking(move || engine.containers().top(&id, &args)).await?;
        json(StatusCode::OK, &t)
    })
}

async fn read_body(body: hyper::body::Incoming) -> Result<Vec<u8>, ApiError> {
    use http_body_util::BodyExt;
    Ok(http_body_util::Limited::new(body, 1 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
        .to_bytes()
        .to_vec())
}

fn update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let old_api = !ctx.version.at_least(api::ApiVersion::new(1, 40));
        let b = read_body(ctx.body).await?;
        let mut u: api::ops::UpdateConfig = if b.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("invalid JSON: body is empty"));
        } else {
            serde_json::from_slice(&b)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
        };
        if old_api {
            u.pids_limit = None;
        }
        // Both 0 and -1 mean unlimited when updating.
        if u.pids_limit.is_some_and(|p| p <= 0) {
            u.pids_limit = Some(0);
        }
        let containers = ctx.state.engine.containers().clone();
        let r = containers.update(&id, u).await?;
        json(StatusCode::OK, &r)
    })
}

fn rename(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let name = ctx.query().get("name").unwrap_or("").to_string();
        let engine = ctx.state.engine.clone();
        blocking(move || engine.containers().rename(&id, &name)).await?;
        let mut r = Response::new(crate::response::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok::<Response<Body>, ApiError>(r)
    })
}

fn prune(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filters = engine::filters::Filters::parse(ctx.query().get("filters"))?;
        let r = ctx.state.engine.containers().prune(&filters).await?;
        json(StatusCode::OK, &r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_documents_end_with_a_newline() {
        let b = encode(&api::ops::StatsJson::default());
        assert_eq!(b.last(), Some(&b'\n'));
        assert!(b.starts_with(b"{\"read\":\"0001-01-01T00:00:00Z\""));
    }
}
