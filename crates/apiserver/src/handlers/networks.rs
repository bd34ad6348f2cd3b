//! Network endpoints (`/networks`): create, list, inspect, remove,
//! connect, disconnect, prune. Parsing and Docker's router-level checks
//! live here; everything else is the engine's.

use http::{Method, Response, StatusCode};

use api::network::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use engine::filters::Filters;

use crate::error::ApiError;
use crate::response::{json, Body};
use crate::router::{Ctx, Handler, HandlerFuture, Query};

pub(crate) fn routes() -> Vec<(Method, &'static str, Handler)> {
    vec![
        (Method::GET, "/networks", list),
        (Method::POST, "/networks/create", create),
        (Method::POST, "/networks/prune", prune),
        (Method::GET, "/networks/{id:.*}", inspect),
        (Method::POST, "/networks/{id:.*}/connect", connect),
        (Method::POST, "/networks/{id:.*}/disconnect", disconnect),
        (Method::DELETE, "/networks/{id:.*}", remove),
    ]
}

/// The list filters Docker's router accepts (`network.ValidateFilters`).
const LIST_FILTERS: [&str; 7] = ["dangling", "driver", "id", "label", "name", "scope", "type"];

fn id(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params
        .get("id")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("missing id"))
}

/// Reads a whole request body (at most 1 MiB: network requests are small).
async fn read_body(body: hyper::body::Incoming) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    Ok(http_body_util::Limited::new(body, 1 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
        .to_bytes())
}

/// Decodes a JSON body as Docker's network routes do: an empty body is
/// "got EOF", malformed JSON is a 400, unknown fields are ignored.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("got EOF while reading request body"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The create body, with Docker's refusal of an empty name (libnetwork's
/// `ErrInvalidName`, a 400).
fn parse_create(bytes: &[u8]) -> Result<NetworkCreateRequest, ApiError> {
    let req: NetworkCreateRequest = decode(bytes)?;
    if req.name.is_empty() {
        return Err(ApiError::bad_request("invalid name: "));
    }
    Ok(req)
}

/// `GET /networks` filters, checked against Docker's list.
fn list_filters(q: &Query) -> Result<Filters, ApiError> {
    let f = Filters::parse(q.get("filters"))?;
    f.validate(&LIST_FILTERS)?;
    Ok(f)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `verbose` and `scope` of `GET /networks/{id}`. `Ok(None)` means the
/// scope selects no local network, so the answer is Docker's 404.
fn inspect_params(q: &Query) -> Result<Option<bool>, ApiError> {
    let verbose = match q.get("verbose").filter(|v| !v.is_empty()) {
        None => false,
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid value for verbose: {v}: strconv.ParseBool: parsing \"{v}\": invalid syntax"
            ))
        })?,
    };
    // Every network here is local: Moby filters by scope, so `swarm` or
    // `global` finds nothing.
    match q.get("scope").unwrap_or("") {
        "" | "local" => Ok(Some(verbose)),
        _ => Ok(None),
    }
}

fn no_such_network(term: &str) -> ApiError {
    ApiError::not_found(format!("network {term} not found"))
}

fn status_only(status: StatusCode) -> Result<Response<Body>, ApiError> {
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = status;
    Ok(r)
}

fn create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let req = parse_create(&read_body(ctx.body).await?)?;
        let r = ctx.state.engine.networks().create(req).await?;
        json(StatusCode::CREATED, &r)
    })
}

fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filters = list_filters(&ctx.query())?;
        let v = ctx.state.engine.networks().list(&filters).await?;
        json(StatusCode::OK, &v)
    })
}

fn inspect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let Some(verbose) = inspect_params(&ctx.query())? else {
            return Err(no_such_network(&id));
        };
        let v = ctx.state.engine.networks().inspect(&id, verbose).await?;
        json(StatusCode::OK, &v)
    })
}

fn remove(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        ctx.state.engine.networks().remove(&id).await?;
        status_only(StatusCode::NO_CONTENT)
    })
}

fn connect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let req: NetworkConnectRequest = decode(&read_body(ctx.body).await?)?;
        ctx.state.engine.networks().connect(&id, req).await?;
        status_only(StatusCode::OK)
    })
}

fn disconnect(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id = id(&ctx)?;
        let req: NetworkDisconnectRequest = decode(&read_body(ctx.body).await?)?;
        ctx.state.engine.networks().disconnect(&id, req).await?;
        status_only(StatusCode::OK)
    })
}

fn prune(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filters = Filters::parse(ctx.query().get("filters"))?;
        let v = ctx.state.engine.networks().prune(&filters).await?;
        json(StatusCode::OK, &v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Option<(&'static str, Option<String>)> {
        crate::handlers::find_route(routes(), method, path, "id")
    }

    #[test]
    fn paths_route_like_moby() {
        assert_eq!(route(Method::GET, "/networks"), Some(("/networks", None)));
        assert_eq!(
            route(Method::POST, "/networks/create"),
            Some(("/networks/create", None))
        );
        assert_eq!(
            route(Method::POST, "/networks/prune"),
            Some(("/networks/prune", None))
        );
        assert_eq!(
            route(Method::GET, "/networks/mynet"),
            Some(("/networks/{id:.*}", Some("mynet".into())))
        );
        assert_eq!(
            route(Method::DELETE, "/networks/abc123"),
            Some(("/networks/{id:.*}", Some("abc123".into())))
        );
        assert_eq!(
            route(Method::POST, "/networks/n1/connect"),
            Some(("/networks/{id:.*}/connect", Some("n1".into())))
        );
        assert_eq!(
            route(Method::POST, "/networks/n1/disconnect"),
            Some(("/networks/{id:.*}/disconnect", Some("n1".into())))
        );
        // A network called "create" is still inspectable and removable.
        assert_eq!(
            route(Method::GET, "/networks/create"),
            Some(("/networks/{id:.*}", Some("create".into())))
        );
        assert_eq!(route(Method::PUT, "/networks/n1"), None);
        assert_eq!(route(Method::POST, "/networks/n1"), None);
    }

    #[test]
    fn network_routes_are_registered() {
        let all = crate::handlers::routes();
        for (m, p) in [
            (Method::GET, "/networks"),
            (Method::POST, "/networks/create"),
            (Method::GET, "/networks/{id:.*}"),
            (Method::DELETE, "/networks/{id:.*}"),
            (Method::POST, "/networks/{id:.*}/connect"),
            (Method::POST, "/networks/{id:.*}/disconnect"),
            (Method::POST, "/networks/prune"),
        ] {
            assert!(
                all.iter().any(|(rm, rp, _)| *rm == m && *rp == p),
                "{m} {p} is not routed"
            );
        }
    }

    #[test]
    fn create_bodies_are_read_tolerantly() {
        let r = parse_create(
            br#"{"Name":"n1","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"default",
                "Options":{},"Config":[{"Subnet":"10.5.0.0/16","Gateway":"10.5.0.1"}]},
                "Options":null,"Labels":{"a":"b"},"Unknown":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(r.name, "n1");
        assert!(r.check_duplicate);
        assert_eq!(r.driver, "bridge");
        assert_eq!(r.ipam.unwrap().config[0].gateway, "10.5.0.1");
        assert_eq!(r.labels["a"], "b");
    }

    #[test]
    fn bad_create_bodies_are_400s() {
        let e = parse_create(b"").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "got EOF while reading request body");
        let e = parse_create(b"{\"Name\":").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        let e = parse_create(br#"{"Name":1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_create(br#"{"Driver":"bridge"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "invalid name: ");
    }

    #[test]
    fn connect_and_disconnect_bodies_decode() {
        let c: NetworkConnectRequest = decode(
            br#"{"Container":"web","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.5.0.9"},
                "Aliases":["db"],"Links":null}}"#,
        )
        .unwrap();
        assert_eq!(c.container, "web");
        let ep = c.endpoint_config.unwrap();
        assert_eq!(ep.ipam_config.unwrap().ipv4_address, "10.5.0.9");
        assert_eq!(ep.aliases, Some(vec!["db".to_string()]));
        let d: NetworkDisconnectRequest = decode(br#"{"Container":"web","Force":true}"#).unwrap();
        assert!(d.force);
        let e = decode::<NetworkDisconnectRequest>(b" \n").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn list_filters_follow_dockers_accepted_keys() {
        let q = Query::parse("filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D");
        assert_eq!(list_filters(&q).unwrap().get("driver"), ["bridge"]);
        let q = Query::parse(r#"filters={"name":["a","b"],"label":["x=y"]}"#);
        let f = list_filters(&q).unwrap();
        assert_eq!(f.get("name"), ["a", "b"]);
        let e = list_filters(&Query::parse(r#"filters={"nope":["a"]}"#)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "invalid filter 'nope'");
        let e = list_filters(&Query::parse("filters=%7Bbad")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(list_filters(&Query::parse(""))
            .unwrap()
            .get("name")
            .is_empty());
    }

    #[test]
    fn inspect_reads_verbose_and_scope_like_moby() {
        assert_eq!(inspect_params(&Query::parse("")).unwrap(), Some(false));
        assert_eq!(
            inspect_params(&Query::parse("verbose=true")).unwrap(),
            Some(true)
        );
        assert_eq!(
            inspect_params(&Query::parse("verbose=1")).unwrap(),
            Some(true)
        );
        assert_eq!(
            inspect_params(&Query::parse("verbose=False&scope=local")).unwrap(),
            Some(false)
        );
        let e = inspect_params(&Query::parse("verbose=yes")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            "invalid value for verbose: yes: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(inspect_params(&Query::parse("scope=swarm")).unwrap(), None);
        assert_eq!(inspect_params(&Query::parse("scope=global")).unwrap(), None);
        assert_eq!(no_such_network("x").status, StatusCode::NOT_FOUND);
        assert_eq!(no_such_network("x").message, "network x not found");
    }

    #[test]
    fn forbidden_engine_errors_are_403s() {
        let e: ApiError = engine::EngineError::Forbidden(
            "bridge is a pre-defined network and cannot be removed".into(),
        )
        .into();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
    }
}
