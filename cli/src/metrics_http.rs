//! The HTTP endpoint for Prometheus: `GET /metrics` in the text exposition format, and
//! `GET /health` for load balancers and scripts.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds `addr` and serves until `shutdown` turns true.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("could not bind the metrics endpoint on {addr}: {e}; choose another address with --metrics-listen")
    })
}

/// Serves the registry on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(move || metrics(registry.clone())))
        .route("/health", get(|| async { "ok\n" }));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}

async fn metrics(registry: Arc<Registry>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("encoding metrics failed: {e}\n")),
    }
}
