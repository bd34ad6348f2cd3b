//! Networks: the `bridge`, `host` and `none` networks and user-defined
//! bridge networks, their records, and the endpoints containers have on
//! them.
//!
//! The API surface is fixed here first; the implementation lands in the
//! following changes of the networking work.

use std::sync::Arc;

use api::network::{
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};

use crate::filters::Filters;
use crate::EngineError;

/// The networks service the API server calls.
#[derive(Debug, Default)]
pub struct Networks {}

fn not_yet() -> EngineError {
    EngineError::InvalidArgument("networks are not available yet".into())
}

impl Networks {
    /// `POST /networks/create`.
    pub async fn create(
        self: &Arc<Self>,
        _req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, EngineError> {
        Err(not_yet())
    }

    /// `GET /networks` (filters: driver, id, label, name, scope, type,
    /// dangling).
    pub async fn list(self: &Arc<Self>, _filters: &Filters) -> Result<Vec<Network>, EngineError> {
        Err(not_yet())
    }

    /// `GET /networks/{id}`: by full id, name, or unique id prefix.
    pub async fn inspect(
        self: &Arc<Self>,
        _name: &str,
        _verbose: bool,
    ) -> Result<Network, EngineError> {
        Err(not_yet())
    }

    /// `DELETE /networks/{id}` (409 while containers use it; the predefined
    /// networks cannot be removed: 403).
    pub async fn remove(self: &Arc<Self>, _name: &str) -> Result<(), EngineError> {
        Err(not_yet())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect(
        self: &Arc<Self>,
        _name: &str,
        _req: NetworkConnectRequest,
    ) -> Result<(), EngineError> {
        Err(not_yet())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(
        self: &Arc<Self>,
        _name: &str,
        _req: NetworkDisconnectRequest,
    ) -> Result<(), EngineError> {
        Err(not_yet())
    }

    /// `POST /networks/prune` (filters: until, label, label!).
    pub async fn prune(
        self: &Arc<Self>,
        _filters: &Filters,
    ) -> Result<NetworkPruneResponse, EngineError> {
        Err(not_yet())
    }
}
