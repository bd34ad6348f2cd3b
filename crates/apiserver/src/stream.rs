//! Bridges between hyper bodies and the engine's blocking code: a request
//! body read as `std::io::Read` on a blocking thread, and a response body
//! fed from a blocking thread, with backpressure both ways. A client that
//! goes away closes the channels, which the engine sees as a cancelled
//! operation.

use std::io::Read;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

use crate::response::Body;

/// A request body readable from a blocking thread.
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cur: Bytes,
}

/// Starts forwarding `body` into a [`BodyReader`] (at most 8 chunks ahead).
pub(crate) fn body_reader(mut body: Incoming) -> BodyReader {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            match body.frame().await {
                None => return,
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        if tx.send(Ok(data)).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            }
        }
    });
    BodyReader {
        rx,
        cur: Bytes::new(),
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// A response body fed by [`BodySender`]s.
pub(crate) fn channel_body(capacity: usize) -> (BodySender, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    (
        BodySender { tx },
        http_body_util::StreamBody::new(stream).boxed(),
    )
}

/// The sending side of a streamed response.
#[derive(Clone)]
pub(crate) struct BodySender {
    tx: mpsc::Sender<Bytes>,
}

/// The client went away.
#[derive(Debug)]
pub(crate) struct Gone;

impl BodySender {
    /// From a blocking thread.
    pub fn send_blocking(&self, b: impl Into<Bytes>) -> Result<(), Gone> {
        self.tx.blocking_send(b.into()).map_err(|_| Gone)
    }

    /// Whether the client went away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the client went away.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// From async code.
    pub async fn send(&self, b: impl Into<Bytes>) -> Result<(), Gone> {
        self.tx.send(b.into()).await.map_err(|_| Gone)
    }
}

/// Adapts a [`BodySender`] to `std::io::Write` for blocking producers.
pub(crate) struct BodyWriter(pub BodySender);

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send_blocking(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
