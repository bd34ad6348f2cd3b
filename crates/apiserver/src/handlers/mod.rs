//! The route table: method, Docker's path pattern, handler.

use http::Method;

use crate::router::Handler;

mod archive;
mod containers;
mod events;
mod images;
mod networks;
mod ops;
mod pull;
mod swarm;
mod system;
mod volumes;

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    let mut r: Vec<(Method, &'static str, Handler)> = vec![
        (Method::GET, "/_ping", system::ping),
        (Method::HEAD, "/_ping", system::ping),
        (Method::GET, "/version", system::version),
        (Method::GET, "/info", system::info),
    ];
    r.extend(pull::routes());
    r.extend(images::routes());
    r.extend(containers::routes());
    r.extend(ops::routes());
    r.extend(networks::routes());
    r.extend(events::routes());
    r.extend(swarm::routes());
    r.extend(archive::routes());
    r.extend(volumes::routes());
    r
}

/// Tests: which of `routes` answers `method path`, and its `param`.
#[cfg(test)]
pub(crate) fn find_route(
    routes: Vec<(Method, &'static str, Handler)>,
    method: Method,
    path: &str,
    param: &str,
) -> Option<(&'static str, Option<String>)> {
    routes.into_iter().find_map(|(m, pattern, _)| {
        if m != method {
            return None;
        }
        let params = crate::router::match_path(&crate::router::compile(pattern), path)?;
        Some((pattern, params.get(param).cloned()))
    })
}
