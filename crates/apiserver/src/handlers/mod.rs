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
