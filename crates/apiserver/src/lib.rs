//! The Docker Engine API v1.41 over HTTP/1.1.
//!
//! Transport stops here: requests are parsed into plain values, the engine
//! is called, and its answers (or its errors' [`engine::ErrorKind`]) become
//! HTTP responses with Docker's headers and `{"message"}` bodies.
//!
//! # Layout
//! - [`listener`]: the sockets we serve on (unix, tcp, systemd fds).
//! - `router`: `/vX.Y` prefixes, path patterns with Docker's `{name:.*}`
//!   segments, 404 for everything else.
//! - `error`: [`ApiError`], the only place an error kind becomes a status.
//! - `handlers`: one module per API area, calling the engine.
//! - `response`: body type and JSON helpers.
//!
//! Must not: hold engine locks across awaits, or run blocking kernel work
//! on the async workers (use `spawn_blocking`).

mod error;
mod handlers;
mod hijack;
pub mod listener;
mod response;
mod router;
mod stream;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

pub use error::ApiError;
pub use listener::Listener;

/// What every handler can reach.
#[derive(Debug)]
pub struct State {
    pub engine: Arc<engine::Engine>,
}

/// Serves the API on `listeners` until `shutdown` turns true, then stops
/// accepting, lets in-flight requests finish for up to `grace`, and returns.
pub async fn serve(
    state: Arc<State>,
    listeners: Vec<Listener>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    // Every connection task holds a clone of `alive_tx`; once all are gone,
    // `alive_rx.recv()` returns None: that is how we wait for them.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<listener::Stream>(64);
    let mut accept_tasks = Vec::new();
    for l in listeners {
        let tx = conn_tx.clone();
        accept_tasks.push(tokio::spawn(listener::accept_loop(l, tx)));
    }
    drop(conn_tx);

    loop {
        tokio::select! {
            // Cancel-safe: `changed` only observes the watch value.
            res = shutdown.changed() => {
                if res.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            // Cancel-safe: mpsc::Receiver::recv loses nothing when dropped.
            stream = conn_rx.recv() => {
                let Some(stream) = stream else { break };
                tokio::spawn(serve_connection(
                    state.clone(),
                    stream,
                    shutdown.clone(),
                    alive_tx.clone(),
                ));
            }
        }
    }
    for t in accept_tasks {
        t.abort();
    }
    drop(alive_tx);
    tokio::select! {
        // Cancel-safe: both arms are plain futures we drop on exit.
        _ = alive_rx.recv() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!("connections still open after the shutdown grace period"),
    }
}

/// Serves one connection; on shutdown, finishes the request in flight and
/// closes (hijacked streams such as attach end with the process).
async fn serve_connection(
    state: Arc<State>,
    stream: listener::Stream,
    mut shutdown: watch::Receiver<bool>,
    _alive: tokio::sync::mpsc::Sender<()>,
) {
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(router::dispatch(state, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        // Cancel-safe: polling the connection again below resumes it.
        r = conn.as_mut() => r,
        _ = async { shutdown.wait_for(|v| *v).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
