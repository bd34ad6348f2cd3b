//! `network connect` and `network disconnect` for a container: recorded
//! for a stopped container (used at its next start), done live in its
//! namespace for a running one.

use std::sync::Arc;

use api::network::EndpointSettings;

use super::{Containers, Status};
use crate::networks::Networks;
use crate::EngineError;

fn task_err(e: tokio::task::JoinError) -> EngineError {
    EngineError::Corrupt(format!("network task: {e}"))
}

impl Containers {
    /// Connects container `name` to `network`.
    pub async fn connect_network(
        self: &Arc<Self>,
        nets: &Arc<Networks>,
        network: &str,
        name: &str,
        mut settings: EndpointSettings,
    ) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let net = nets.get(network)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let mode = rec.host_config.network_mode.as_str();
        if mode == "host" || net.name == "host" {
            return Err(EngineError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if mode == "none" || net.name == "none" || mode.starts_with("container:") {
            return Err(EngineError::Forbidden(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network ({})",
                if mode.is_empty() { "none" } else { mode }
            )));
        }
        if rec.networks.contains_key(&net.name)
            || rec.networks.values().any(|s| s.network_id == net.id)
        {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name.trim_start_matches('/'),
                net.name
            )));
        }
        nets.check_endpoint(&net, &settings)?;
        settings.network_id = net.id.clone();
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            c.update(&self.settings.root, |r| {
                r.networks.insert(net.name.clone(), settings);
            })?;
            nets.event("connect", &net, Some(&c.id));
            return Ok(());
        }
        let nets2 = nets.clone();
        let rec2 = rec.clone();
        let net2 = net.clone();
        let (s, ep) =
            tokio::task::spawn_blocking(move || nets2.attach_running(&rec2, &net2, settings))
                .await
                .map_err(task_err)??;
        c.update(&self.settings.root, |r| {
            r.networks.insert(net.name.clone(), s);
            r.net.endpoints.insert(net.id.clone(), ep);
        })?;
        nets.event("connect", &net, Some(&c.id));
        Ok(())
    }

    /// Disconnects container `name` from `network`; `force` also works
    /// for a container that no longer exists.
    pub async fn disconnect_network(
        self: &Arc<Self>,
        nets: &Arc<Networks>,
        network: &str,
        name: &str,
        force: bool,
    ) -> Result<(), EngineError> {
        let net = nets.get(network)?;
        let c = match self.get(name) {
            Ok(c) => c,
            Err(e) if force => {
                // Forced: drop a stale endpoint by container name.
                if nets.forget_endpoint(&net.id, name) {
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.host_config.network_mode == "host" || net.name == "host" {
            return Err(EngineError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let Some((key, s)) = rec
            .networks
            .iter()
            .find(|(k, s)| **k == net.name || s.network_id == net.id)
            .map(|(k, s)| (k.clone(), s.clone()))
        else {
            return Err(EngineError::Forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, net.name
            )));
        };
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            let ep = rec.net.endpoints.get(&net.id).cloned();
            let nets2 = nets.clone();
            let id = rec.id.clone();
            let net_id = net.id.clone();
            tokio::task::spawn_blocking(move || {
                nets2.detach_running(&id, &net_id, &s, ep.as_ref())
            })
            .await
            .map_err(task_err)?;
        }
        c.update(&self.settings.root, |r| {
            r.networks.remove(&key);
            r.net.endpoints.remove(&net.id);
        })?;
        nets.event("disconnect", &net, Some(&c.id));
        Ok(())
    }
}
