//! Swarm is left out on purpose. Its endpoints answer as Docker does on a
//! node that is not in a swarm: 503 with Docker's wording, so clients show
//! the usual message instead of a confusing 404.

use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

fn unavailable(_ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            NOT_A_MANAGER,
        ))
    })
}

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    let mut r: Vec<(Method, &'static str, Handler)> = Vec::new();
    for p in [
        "/swarm",
        "/swarm/unlockkey",
        "/nodes",
        "/nodes/{id}",
        "/services",
        "/services/{id}",
        "/services/{id}/logs",
        "/tasks",
        "/tasks/{id}",
        "/tasks/{id}/logs",
        "/secrets",
        "/secrets/{id}",
        "/configs",
        "/configs/{id}",
    ] {
        r.push((Method::GET, p, unavailable));
    }
    for p in [
        "/swarm/init",
        "/swarm/join",
        "/swarm/leave",
        "/swarm/update",
        "/swarm/unlock",
        "/nodes/{id}/update",
        "/services/create",
        "/services/{id}/update",
        "/secrets/create",
        "/secrets/{id}/update",
        "/configs/create",
        "/configs/{id}/update",
    ] {
        r.push((Method::POST, p, unavailable));
    }
    for p in [
        "/nodes/{id}",
        "/services/{id}",
        "/secrets/{id}",
        "/configs/{id}",
    ] {
        r.push((Method::DELETE, p, unavailable));
    }
    r
}
