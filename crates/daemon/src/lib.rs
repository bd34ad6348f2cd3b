//! `balena-engine-daemon`: parses dockerd's flags and daemon.json, takes the
//! pid file and data root locks, opens the engine, serves the API, and shuts
//! down cleanly on SIGTERM/SIGINT.
//!
//! # Layout
//! - [`config`]: flags, daemon.json, merge and validation.
//! - [`lock`]: pid file and data root locks.
//! - [`listen`]: API sockets and systemd notification.
//!
//! Must not: start threads before [`main`] is called by the dispatcher (the
//! tokio runtime is built here, after argv[0] dispatch).

pub mod config;
pub mod listen;
pub mod lock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use config::{DaemonConfig, Invocation};

/// Entry point of the daemon role; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let started = Instant::now();
    let config = match config::load(args) {
        Ok(Invocation::Run(c)) => c,
        Ok(Invocation::Help(h)) => {
            print!("{h}");
            return 0;
        }
        Ok(Invocation::Version) => {
            println!(
                "balena-engine-daemon version {} (balenaEngine {} compatible), build {}",
                api::version::ENGINE_VERSION,
                api::version::COMPAT_VERSION,
                api::version::GIT_COMMIT
            );
            return 0;
        }
        Err(e) => {
            eprintln!("balena-engine-daemon: {e}");
            return 1;
        }
    };
    init_logging(config.log_level);
    match run(*config, started) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    }
}

fn init_logging(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

fn run(config: DaemonConfig, started: Instant) -> anyhow::Result<()> {
    use anyhow::Context;
    let _pidfile = lock::Pidfile::acquire(&config.pidfile)?;
    let _root_lock = lock::DataRootLock::acquire(&config.engine.data_root, &config.pidfile)?;
    std::fs::create_dir_all(&config.engine.exec_root)
        .with_context(|| format!("create exec root {}", config.engine.exec_root.display()))?;

    engine::mem::limit_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .max_blocking_threads(64)
        .thread_name("engine")
        .enable_all()
        .build()
        .context("start async runtime")?;

    let grace = Duration::from_secs(u64::from(config.engine.shutdown_timeout_secs));

    rt.block_on(async move {
        // Sockets first: a daemon refused for a busy socket changes nothing
        // (no bridge, no firewall rule). Clients that connect meanwhile wait
        // in the backlog until the server runs.
        let (listeners, sockets) =
            listen::bind_all(&config.hosts, &config.group, config.group_explicit)?;
        let opened = engine::Engine::open(config.engine.clone());
        let engine = match opened {
            Ok(e) => Arc::new(e),
            Err(e) => {
                for s in &sockets {
                    let _ = std::fs::remove_file(s);
                }
                return Err(e.into());
            }
        };
        tracing::info!(
            data_root = %config.engine.data_root.display(),
            storage_driver = %config.engine.storage_driver,
            id = engine.id(),
            "engine opened"
        );
        engine.restore().await;
        for h in &config.hosts {
            tracing::info!("API listen on {h}");
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let containers = engine.containers().clone();
        let state = Arc::new(apiserver::State { engine });
        let server = tokio::spawn(apiserver::serve(state, listeners, stop_rx, grace));
        tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            "Daemon has completed initialization"
        );
        listen::sd_notify("READY=1");

        wait_for_signal().await?;
        tracing::info!("Processing signal, shutting down");
        // Exits from now on are not restarted by their policies.
        containers.begin_shutdown();
        listen::sd_notify("STOPPING=1");
        let _ = stop_tx.send(true);
        // A third signal while we drain forces the exit, as dockerd does.
        tokio::select! {
            // Cancel-safe: the server task keeps running if this arm loses.
            r = server => { let _ = r; }
            // Cancel-safe: signal streams lose nothing we need.
            _ = async { let _ = wait_for_signal().await; let _ = wait_for_signal().await; } => {
                tracing::warn!("forced shutdown");
            }
        }
        for s in sockets {
            let _ = std::fs::remove_file(&s);
        }
        tracing::info!("Daemon shutdown complete");
        anyhow::Ok(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        // Cancel-safe: a signal not yet delivered stays pending.
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
