//! Connections of `concord serve`: the accept loop with caps on open connections (in all and per
//! client address), time limits on headers, bodies and sending, and a graceful end.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::error::ApiError;
use super::state::SharedState;

/// How many connections may be open and how long a client may take (from `[server]`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub per_address: usize,
    /// The whole request head must arrive within this; also how long an idle keep-alive
    /// connection is kept.
    pub header_timeout: Duration,
    /// A response the client does not read for this long ends the connection.
    pub send_timeout: Duration,
    /// Reverse proxies carry many clients: the per-address cap does not apply to them.
    pub proxies: Vec<ipnet::IpNet>,
}

/// What the accept loop reports in the metrics.
#[derive(Clone)]
pub struct ConnectionMetrics {
    pub open: Gauge,
    pub refused: Counter,
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets requests in
/// flight finish and returns when every connection is closed.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = pin!(shutdown);
    loop {
        // At the cap, new clients wait in the listen backlog until a connection closes.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = if limits.proxies.iter().any(|n| n.contains(&peer.ip())) {
            None
        } else {
            match per_address.take(peer.ip(), limits.per_address) {
                Some(slot) => Some(slot),
                None => {
                    metrics.refused.inc();
                    drop(tcp);
                    continue;
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(SendTimeout::new(tcp, limits.send_timeout));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let open = metrics.open.clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
            open.dec();
            drop((permit, slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; gives the place back when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// An I/O stream whose writes fail with `TimedOut` when the peer reads nothing for `limit`
/// (a client that stops reading cannot hold a connection and its stream forever).
struct SendTimeout<T> {
    io: T,
    limit: Duration,
    stalled: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> SendTimeout<T> {
    fn new(io: T, limit: Duration) -> SendTimeout<T> {
        SendTimeout {
            io,
            limit,
            stalled: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    /// After a write that could not proceed: `Ready(err)` once it has waited `limit`.
    fn check<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.armed = false;
            return polled;
        }
        if !self.armed {
            self.armed = true;
            self.stalled.as_mut().reset(Instant::now() + self.limit);
        }
        match self.stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.check(polled, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.check(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.check(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.check(polled, cx)
    }
}

/// A request body must arrive whole within `server.body_timeout_s` (a client trickling bytes
/// cannot hold a handler); bodies are small, so they are read here, within the size limit.
pub async fn read_body_in_time(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if req.body().size_hint().exact() == Some(0) {
        return Ok(next.run(req).await);
    }
    let (parts, body) = req.into_parts();
    let limit = state.settings.max_body_bytes;
    let deadline = Duration::from_secs(state.settings.body_timeout_s);
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            state
                .metrics
                .rate_limited
                .get_or_create(&super::metrics::Metrics::kind("body_timeout"))
                .inc();
            return Err(ApiError::RequestTimeout);
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest("the request body could not be read".into())
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_peer_that_stops_reading_times_the_write_out_and_a_slow_one_does_not() {
        let (near, mut far) = tokio::io::duplex(16);
        let mut w = SendTimeout::new(near, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = w.write_all(&[7u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(w);
        let mut rest = Vec::new();
        far.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 16, "what fit before the timeout");

        // A reader taking 16 bytes every 50 ms keeps the writer going past the limit.
        let (near, mut far) = tokio::io::duplex(16);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 16];
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                match far.read(&mut buf).await.unwrap() {
                    0 => break got,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        let mut w = SendTimeout::new(near, Duration::from_millis(200));
        w.write_all(&[1u8; 160]).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), vec![1u8; 160]);
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_places_back() {
        let table = Arc::new(PerAddress::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let a = table.take(ip, 2).unwrap();
        let _b = table.take(ip, 2).unwrap();
        assert!(table.take(ip, 2).is_none());
        assert!(table.take(other, 2).is_some());
        drop(a);
        assert!(table.take(ip, 2).is_some());
    }
}
