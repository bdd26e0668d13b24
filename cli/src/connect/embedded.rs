//! The connect worker `fjord dev` runs beside its broker: the REST API on `--connect-listen`
//! (127.0.0.1:8083 by default, Kafka Connect's port), connectors and source offsets kept under
//! the data directory (`connect/connectors.json`, `connect/offsets.json`) so they come back on
//! the next start.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use fjord_connect::offsets::file::FileOffsetStore;
use fjord_connect::runtime::{Cluster, ConfigFile, ConnectMetrics, Worker, WorkerSettings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running embedded worker.
#[derive(Debug)]
pub struct EmbeddedWorker {
    pub address: SocketAddr,
    worker: Worker,
    stop_rest: oneshot::Sender<()>,
    rest: JoinHandle<std::io::Result<()>>,
}

/// Starts the worker against the broker at `bootstrap`.
pub async fn start(listen: SocketAddr, bootstrap: &str, data_root: &Path, metrics: ConnectMetrics) -> anyhow::Result<EmbeddedWorker> {
    let dir = data_root.join("connect");
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("could not bind the connect REST API on {listen}; is a Kafka Connect worker running there? Choose another address with --connect-listen")
    })?;
    let address = listener.local_addr().context("the connect listener has no address")?;
    let offsets = FileOffsetStore::open(&dir.join("offsets.json"))?;
    let configs = ConfigFile::open(&dir.join("connectors.json"))?;
    let settings = WorkerSettings { worker_id: address.to_string(), metrics, ..WorkerSettings::default() };
    let worker = Worker::with_config_file(Cluster::new(bootstrap), settings, Arc::new(offsets), configs).await?;
    let (stop_rest, stopped) = oneshot::channel::<()>();
    let rest = tokio::spawn(fjord_connect::rest::serve(listener, worker.clone(), async move {
        let _ = stopped.await;
    }));
    tracing::info!(rest = %format!("http://{address}/connectors"), "connect worker running");
    Ok(EmbeddedWorker { address, worker, stop_rest, rest })
}

impl EmbeddedWorker {
    /// Stops the REST API, then every connector after its tasks flush.
    pub async fn shutdown(self) {
        let _ = self.stop_rest.send(());
        let _ = self.rest.await;
        self.worker.shutdown().await;
    }
}
