//! The HTTP listener: accepts connections and serves the router on each (HTTP/1.1 and h2c, as
//! `axum::serve` does), with what `axum::serve` cannot set:
//!
//! - a **header-read timeout**: a client that opens a connection and sends its request headers
//!   slowly (or never) is cut off after [`ServeOptions::header_read_timeout`], so a few slow
//!   clients cannot hold every connection the server has (slowloris);
//! - a **bounded graceful shutdown**: on the shutdown signal it stops accepting, asks every
//!   connection to finish its request, and waits at most [`ServeOptions::drain`] for them (event
//!   streams never finish by themselves).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers (`--header-read-timeout-secs`).
    pub header_read_timeout: Duration,
    /// How long a shutdown waits for open connections before it lets them go.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains (see the module docs).
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
///
/// # Errors
/// Never returns an error of its own today; a failed `accept` (out of file descriptors) is logged
/// and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let service = TowerToHyperService::new(service);
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout);
            builder.http2().timer(TokioTimer::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = closed.wait_for(|closing| *closing) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection task holds a receiver; all gone means all connections are done.
    drop(closed);
    if tokio::time::timeout(options.drain, closing.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            after_secs = options.drain.as_secs(),
            "shutting down with connections still open (event streams)"
        );
    }
    Ok(())
}
