//! The sockets the API is served on.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Any accepted connection.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) type Stream = Box<dyn Io>;

/// Accepts connections and hands them to the server until the server goes
/// away. Transient accept errors (out of fds) are logged and retried after a
/// short pause instead of spinning.
pub(crate) async fn accept_loop(listener: Listener, tx: mpsc::Sender<Stream>) {
    loop {
        let accepted: std::io::Result<Stream> = match &listener {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Box::new(s) as Stream),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Box::new(s) as Stream
            }),
        };
        match accepted {
            Ok(s) => {
                if tx.send(s).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
