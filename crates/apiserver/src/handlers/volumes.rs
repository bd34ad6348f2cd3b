//! Volume endpoints (`/volumes`): create, list, inspect, remove, prune.
//! Parsing here; everything else is the engine's (on blocking threads:
//! volume work writes durably and walks directories).

use http::{Method, Response, StatusCode};

use api::volume::VolumeCreateRequest;
use engine::filters::Filters;

use crate::error::ApiError;
use crate::handlers::images::blocking;
use crate::response::{json, Body};
use crate::router::{Ctx, Handler, HandlerFuture};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/volumes", list),
        (Method::POST, "/volumes/create", create),
        (Method::POST, "/volumes/prune", prune),
        (Method::GET, "/volumes/{name:.*}", inspect),
        (Method::DELETE, "/volumes/{name:.*}", remove),
    ]
}

fn name(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params
        .get("name")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("missing name"))
}

/// The create body: empty is Docker's "got EOF", malformed JSON a 400,
/// unknown fields ignored.
fn parse_create(bytes: &[u8]) -> Result<VolumeCreateRequest, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("got EOF while reading request body"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn filters(q: Option<&str>) -> Result<Filters, ApiError> {
    Filters::parse(q)
        .map_err(|e| ApiError::bad_request(format!("error reading volume filters: {e}")))
}

fn create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        use http_body_util::BodyExt;
        let bytes = http_body_util::Limited::new(ctx.body, 1 << 20)
            .collect()
            .await
            .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
            .to_bytes();
        let req = parse_create(&bytes)?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.volumes().create(req)).await?;
        json(StatusCode::CREATED, &v)
    })
}

fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let f = filters(ctx.query().get("filters"))?;
        let v = ctx.state.engine.volumes().list(&f)?;
        json(StatusCode::OK, &v)
    })
}

fn inspect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let n = name(&ctx)?;
        let v = ctx.state.engine.volumes().inspect(&n)?;
        json(StatusCode::OK, &v)
    })
}

fn remove(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let n = name(&ctx)?;
        let force = ctx.query().bool("force");
        let engine = ctx.state.engine.clone();
        blocking(move || engine.volumes().remove(&n, force)).await?;
        let mut r: Response<Body> = Response::new(crate::response::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok(r)
    })
}

fn prune(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let f = Filters::parse(ctx.query().get("filters"))?;
        let engine = ctx.state.engine.clone();
        let v = blocking(move || engine.volumes().prune(&f)).await?;
        json(StatusCode::OK, &v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Option<(&'static str, Option<String>)> {
        crate::handlers::find_route(routes(), method, path, "name")
    }

    #[test]
    fn paths_route_like_moby() {
        assert_eq!(route(Method::GET, "/volumes"), Some(("/volumes", None)));
        assert_eq!(
            route(Method::POST, "/volumes/create"),
            Some(("/volumes/create", None))
        );
        assert_eq!(
            route(Method::POST, "/volumes/prune"),
            Some(("/volumes/prune", None))
        );
        assert_eq!(
            route(Method::GET, "/volumes/data"),
            Some(("/volumes/{name:.*}", Some("data".into())))
        );
        assert_eq!(
            route(Method::DELETE, "/volumes/data"),
            Some(("/volumes/{name:.*}", Some("data".into())))
        );
        assert_eq!(route(Method::PUT, "/volumes/data"), None);
        let all = crate::handlers::routes();
        assert!(all
            .iter()
            .any(|(m, p, _)| *m == Method::POST && *p == "/volumes/create"));
    }

    #[test]
    fn create_bodies_and_filters_are_checked() {
        let r = parse_create(br#"{"Name":"v","DriverOpts":{"type":"tmpfs"},"Z":1}"#).unwrap();
        assert_eq!(r.name, "v");
        let e = parse_create(b"").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "got EOF while reading request body");
        assert_eq!(
            parse_create(b"{").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let e = filters(Some("{bad")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("error reading volume filters"));
    }
}
