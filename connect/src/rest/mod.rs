//! The REST API, compatible with Kafka Connect's: the same paths, bodies, status codes and
//! `{"error_code", "message"}` errors, so curl scripts, Kafka UI consoles and Terraform
//! providers written for Kafka Connect work against a Fjord worker.
//!
//! Routes: `/` (version), `/connectors` (list, `?expand=status|info`, create),
//! `/connectors/{name}` (info, delete), `/config` (get, put, patch), `/status`, `/tasks`,
//! `/tasks/{id}/status`, `/tasks/{id}/restart`, `/pause`, `/resume`, `/stop`, `/restart`,
//! `/offsets` (get, patch, delete), `/connector-plugins`, `/connector-plugins/{type}/config`
//! and `/connector-plugins/{type}/config/validate`; and `/metrics` (Prometheus).

mod connectors;
mod error;
mod plugins;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

use crate::runtime::Worker;

pub use error::ApiError;

/// The API's routes over `worker`.
pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/", get(connectors::root))
        .route("/connectors", get(connectors::list).post(connectors::create))
        .route("/connectors/{name}", get(connectors::info).delete(connectors::delete))
        .route("/connectors/{name}/config", get(connectors::get_config).put(connectors::put_config).patch(connectors::patch_config))
        .route("/connectors/{name}/status", get(connectors::status))
        .route("/connectors/{name}/tasks", get(connectors::tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(connectors::task_status))
        .route("/connectors/{name}/tasks/{task}/restart", post(connectors::restart_task))
        .route("/connectors/{name}/pause", put(connectors::pause))
        .route("/connectors/{name}/resume", put(connectors::resume))
        .route("/connectors/{name}/stop", put(connectors::stop))
        .route("/connectors/{name}/restart", post(connectors::restart))
        .route("/connectors/{name}/offsets", get(connectors::offsets).patch(connectors::alter_offsets).delete(connectors::reset_offsets))
        .route("/connector-plugins", get(plugins::list))
        .route("/connector-plugins/{class}/config", get(plugins::config))
        .route("/connector-plugins/{class}/config/validate", put(plugins::validate))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("HTTP 404 Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed") })
        .with_state(worker)
}

/// The worker's Prometheus metrics (`fjord_connect_*`), beside the API as Kafka Connect
/// workers are usually scraped.
async fn metrics(axum::extract::State(worker): axum::extract::State<Worker>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut registry = prometheus_client::registry::Registry::default();
    worker.settings().metrics.register(&mut registry);
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response(),
        Err(e) => ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("could not encode the metrics: {e}")).into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, worker: Worker, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(worker)).with_graceful_shutdown(shutdown).await
}
