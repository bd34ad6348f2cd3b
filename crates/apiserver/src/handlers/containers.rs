//! Container and exec endpoints, including the hijacked attach and exec
//! streams.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper_util::rt::TokioIo;

use engine::containers::runtime::AttachOpts;

use super::images::blocking;
use crate::error::ApiError;
use crate::response::{json, Body};
use crate::router::{Ctx, Handler, HandlerFuture};
use crate::stream::channel_body;

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::POST, "/containers/create", create),
        (Method::GET, "/containers/json", list),
        (Method::GET, "/containers/{id}/json", inspect),
        (Method::POST, "/containers/{id}/start", start),
        (Method::POST, "/containers/{id}/stop", stop),
        (Method::POST, "/containers/{id}/restart", restart),
        (Method::POST, "/containers/{id}/kill", kill),
        (Method::POST, "/containers/{id}/wait", wait),
        (Method::POST, "/containers/{id}/pause", pause),
        (Method::POST, "/containers/{id}/unpause", unpause),
        (Method::POST, "/containers/{id}/resize", resize),
        (Method::POST, "/containers/{id}/attach", attach),
        (Method::GET, "/containers/{id}/logs", logs),
        (Method::POST, "/containers/{id}/exec", exec_create),
        (Method::DELETE, "/containers/{id}", remove),
        (Method::POST, "/exec/{id}/start", exec_start),
        (Method::POST, "/exec/{id}/resize", exec_resize),
        (Method::GET, "/exec/{id}/json", exec_inspect),
    ]
}

fn id(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params
        .get("id")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("missing id"))
}

fn no_content() -> Result<Response<Body>, ApiError> {
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

async fn read_json<T: serde::de::DeserializeOwned + Default>(
    body: hyper::body::Incoming,
    allow_empty: bool,
) -> Result<T, ApiError> {
    use http_body_util::BodyExt;
    let bytes = http_body_util::Limited::new(body, 16 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if allow_empty {
            return Ok(T::default());
        }
        return Err(ApiError::bad_request("invalid JSON: body is empty"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn opt_i64(q: &crate::router::Query, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

fn create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name = ctx.query().get("name").map(str::to_string);
        let req: api::container::CreateRequest = read_json(ctx.body, false).await?;
        let engine = ctx.state.engine.clone();
        let r = blocking(move || {
            engine
                .containers()
                .create(engine.images(), name.as_deref(), req)
        })
        .await?;
        json(StatusCode::CREATED, &r)
    })
}

fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let q = ctx.query();
        let all = q.bool("all");
        let size = q.bool("size");
        let limit = opt_i64(&q, "limit")?.filter(|l| *l > 0).map(|l| l as usize);
        let filters = engine::filters::Filters::parse(q.get("filters"))?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || {
            engine
                .containers()
                .list(engine.images(), all, limit, size, &filters)
        })
        .await?;
        json(StatusCode::OK, &v)
    })
}

fn inspect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let size = ctx.query().bool("size");
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.containers().inspect(&id, size)).await?;
        json(StatusCode::OK, &v)
    })
}

fn start(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        ctx.state.engine.containers().start(&id).await?;
        no_content()
    })
}

fn stop(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let t = opt_i64(&ctx.query(), "t")?;
        ctx.state.engine.containers().stop(&id, t).await?;
        no_content()
    })
}

fn restart(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let t = opt_i64(&ctx.query(), "t")?;
        ctx.state.engine.containers().restart(&id, t).await?;
        no_content()
    })
}

fn kill(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let sig = ctx.query().get("signal").map(str::to_string);
        ctx.state
            .engine
            .containers()
            .kill(&id, sig.as_deref())
            .await?;
        no_content()
    })
}

fn pause(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        ctx.state.engine.containers().pause(&id, true).await?;
        no_content()
    })
}

fn unpause(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        ctx.state.engine.containers().pause(&id, false).await?;
        no_content()
    })
}

fn size_params(q: &crate::router::Query) -> Result<(u16, u16), ApiError> {
    let get = |k: &str| -> Result<u16, ApiError> {
        q.get(k)
            .unwrap_or("0")
            .parse::<u16>()
            .map_err(|_| ApiError::bad_request(format!("invalid {k} value")))
    };
    Ok((get("h")?, get("w")?))
}

fn resize(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let (h, w) = size_params(&ctx.query())?;
        ctx.state.engine.containers().resize(&id, h, w).await?;
        json(StatusCode::OK, &serde_json::json!({}))
    })
}

fn wait(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let cond = ctx.query().get("condition").unwrap_or("").to_string();
        let fut = ctx.state.engine.containers().wait(&id, &cond)?;
        // Headers go out now (the wait is registered); the body when done.
        let (tx, body) = channel_body(1);
        tokio::spawn(async move {
            let r = fut.await;
            if let Ok(mut b) = serde_json::to_vec(&r) {
                b.push(b'\n');
                let _ = tx.send(b).await;
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

fn remove(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let q = ctx.query();
        if q.bool("link") {
            return Err(ApiError::bad_request(
                "Conflict, cannot remove the default link name of the container",
            ));
        }
        ctx.state
            .engine
            .containers()
            .remove(&id, q.bool("force"), q.bool("v"))
            .await?;
        no_content()
    })
}

/// A Docker stream frame for a log entry.
fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 8);
    v.extend_from_slice(&shim::proto::frame_header(stream, payload.len()));
    v.extend_from_slice(payload);
    v
}

fn entry_bytes(e: &logger::LogEntry, tty: bool, timestamps: bool) -> Vec<u8> {
    let mut line = Vec::with_capacity(e.line.len() + 32);
    if timestamps {
        let t: chrono::DateTime<chrono::Utc> = e.time.into();
        line.extend_from_slice(
            t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .as_bytes(),
        );
        line.push(b' ');
    }
    line.extend_from_slice(&e.line);
    if tty {
        line
    } else {
        let s = match e.stream {
            logger::Stream::Stdout => 1,
            logger::Stream::Stderr => 2,
        };
        frame(s, &line)
    }
}

fn read_config(q: &crate::router::Query) -> Result<(logger::ReadConfig, bool), ApiError> {
    let now = std::time::SystemTime::now();
    let time = |k: &str| -> Result<Option<std::time::SystemTime>, ApiError> {
        match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => logger::parse_time_arg(v, now)
                .map(Some)
                .map_err(|e| ApiError::bad_request(e.to_string())),
        }
    };
    let tail = match q.get("tail").filter(|v| !v.is_empty() && *v != "all") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail value: {v:?}")))?
                .max(0) as usize,
        ),
    };
    let rc = logger::ReadConfig {
        since: time("since")?,
        until: time("until")?,
        tail,
        follow: q.bool("follow"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
    };
    Ok((rc, q.bool("timestamps")))
}

fn logs(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let q = ctx.query();
        let (rc, timestamps) = read_config(&q)?;
        if !rc.stdout && !rc.stderr {
            return Err(ApiError::bad_request(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let (tx, body) = channel_body(16);
        let gone_tx = tx.clone();
        let engine = ctx.state.engine.clone();
        let (tty, it) = blocking(move || {
            engine
                .containers()
                .logs(&id, rc, Box::new(move || gone_tx.is_closed()))
        })
        .await?;
        tokio::task::spawn_blocking(move || {
            for e in it {
                let Ok(e) = e else { continue };
                if tx.send_blocking(entry_bytes(&e, tty, timestamps)).is_err() {
                    break;
                }
            }
        });
        let mut resp = Response::new(body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(if tty {
                "application/vnd.docker.raw-stream"
            } else {
                "application/vnd.docker.multiplexed-stream"
            }),
        );
        Ok(resp)
    })
}

/// The detach sequence for a stream with stdin (none without stdin).
fn detach_keys(spec: Option<&str>, stdin: bool) -> Result<Vec<u8>, ApiError> {
    if !stdin {
        return Ok(Vec::new());
    }
    let spec = spec
        .filter(|s| !s.is_empty())
        .unwrap_or(crate::hijack::DEFAULT_DETACH_KEYS);
    crate::hijack::parse_detach_keys(spec)
        .map_err(|e| ApiError::bad_request(format!("Invalid detach keys ({spec}) provided: {e}")))
}

fn wants_upgrade(parts: &http::request::Parts) -> bool {
    parts
        .headers
        .get(http::header::UPGRADE)
        .is_some_and(|v| !v.is_empty())
}

/// Answers 101 and, once the connection is handed over, bridges it to
/// `stream`. `prefix` is written to the client first (attach logs).
fn hijack(
    parts: http::request::Parts,
    body: hyper::body::Incoming,
    tty: bool,
    stream: impl std::future::Future<Output = Option<tokio::io::DuplexStream>> + Send + 'static,
    prefix: Vec<Bytes>,
    detach_keys: Vec<u8>,
) -> Result<Response<Body>, ApiError> {
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if !wants_upgrade(&parts) {
        // Clients that do not upgrade get the output as a plain body.
        let (tx, out) = channel_body(16);
        tokio::spawn(async move {
            for b in prefix {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            if let Some(mut s) = stream.await {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut resp = Response::new(out);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        return Ok(resp);
    }
    let mut req = http::Request::from_parts(parts, body);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut io = TokioIo::new(upgraded);
        use tokio::io::AsyncWriteExt;
        for b in prefix {
            if io.write_all(&b).await.is_err() {
                return;
            }
        }
        match stream.await {
            Some(s) => {
                crate::hijack::bridge(io, s, detach_keys).await;
            }
            None => {
                let _ = io.shutdown().await;
            }
        }
    });
    let mut resp = Response::new(crate::response::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    h.insert(http::header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    Ok(resp)
}

fn attach(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let q = ctx.query();
        let opts = AttachOpts {
            stdin: q.bool("stdin"),
            stdout: q.bool("stdout"),
            stderr: q.bool("stderr"),
        };
        let want_stream = q.bool("stream");
        let want_logs = q.bool("logs");
        let detach_keys = detach_keys(q.get("detachKeys"), opts.stdin)?;
        let containers = ctx.state.engine.containers().clone();
        let mut prefix = Vec::new();
        let mut tty = false;
        if want_logs {
            let rc = logger::ReadConfig {
                since: None,
                until: None,
                tail: None,
                follow: false,
                stdout: opts.stdout,
                stderr: opts.stderr,
            };
            let c2 = containers.clone();
            let id2 = id.clone();
            let (t, entries) = blocking(move || {
                let (t, it) = c2.logs(&id2, rc, Box::new(|| false))?;
                Ok((t, it.filter_map(Result::ok).collect::<Vec<_>>()))
            })
            .await?;
            tty = t;
            prefix = entries
                .iter()
                .map(|e| Bytes::from(entry_bytes(e, t, false)))
                .collect();
        }
        let stream: std::pin::Pin<
            Box<dyn std::future::Future<Output = Option<tokio::io::DuplexStream>> + Send>,
        > = if want_stream {
            let (t, fut) = containers.attach(&id, opts)?;
            tty = t;
            Box::pin(async move {
                match fut.await {
                    Ok(Some(s)) => Some(engine::containers::runtime::relay(s, t, None)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "attach");
                        None
                    }
                }
            })
        } else {
            // Make sure the container exists.
            let c2 = containers.clone();
            let id2 = id.clone();
            blocking(move || c2.inspect(&id2, false).map(|_| ())).await?;
            Box::pin(async { None })
        };
        hijack(ctx.parts, ctx.body, tty, stream, prefix, detach_keys)
    })
}

fn exec_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let cfg: api::container::ExecConfig = read_json(ctx.body, false).await?;
        let eid = ctx.state.engine.containers().exec_create(&id, cfg)?;
        json(StatusCode::CREATED, &serde_json::json!({ "Id": eid }))
    })
}

fn exec_start(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let parts = ctx.parts;
        use http_body_util::BodyExt;
        use hyper::body::Body as _;
        // The body is small JSON; the connection is hijacked after it.
        let (body_bytes, body) = {
            let mut b = ctx.body;
            let mut collected = Vec::new();
            while let Some(f) = b.frame().await {
                let f = f.map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
                if let Some(d) = f.data_ref() {
                    collected.extend_from_slice(d);
                    if collected.len() > 64 << 10 {
                        return Err(ApiError::bad_request("exec start body too large"));
                    }
                }
                if b.is_end_stream() {
                    break;
                }
            }
            (collected, b)
        };
        let cfg: api::container::ExecStartConfig = if body_bytes.iter().all(u8::is_ascii_whitespace)
        {
            Default::default()
        } else {
            serde_json::from_slice(&body_bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
        };
        let containers = ctx.state.engine.containers().clone();
        let (keys, stdin) = containers.exec_detach_keys(&id)?;
        let keys = detach_keys(Some(&keys), stdin)?;
        if cfg.detach {
            containers.exec_start(&id, true).await?;
            return json(StatusCode::OK, &serde_json::json!({}));
        }
        // Checked now, started once the client has the 101: a process that
        // writes at once must not have its output arrive with the response
        // head (docker-py reads the stream from the raw socket and would
        // lose what its HTTP parser buffered).
        let tty = containers.exec_check(&id)?;
        let stream = async move {
            match containers.exec_start(&id, false).await {
                Ok(s) => s.stream,
                Err(e) => {
                    // After the 101 the error can only travel in the stream
                    // (as dockerd does); the exit code is in /exec/{id}/json.
                    use tokio::io::AsyncWriteExt;
                    let msg = format!("{e}\r\n");
                    let (api_end, mut ours) = tokio::io::duplex(msg.len() + 16);
                    let bytes = if tty {
                        msg.into_bytes()
                    } else {
                        frame(2, msg.as_bytes())
                    };
                    let _ = ours.write_all(&bytes).await;
                    let _ = ours.shutdown().await;
                    Some(api_end)
                }
            }
        };
        hijack(parts, body, tty, stream, Vec::new(), keys)
    })
}

fn exec_resize(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let (h, w) = size_params(&ctx.query())?;
        ctx.state.engine.containers().exec_resize(&id, h, w).await?;
        json(StatusCode::OK, &serde_json::json!({}))
    })
}

fn exec_inspect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let v = ctx.state.engine.containers().exec_inspect(&id)?;
        json(StatusCode::OK, &v)
    })
}
