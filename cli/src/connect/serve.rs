//! What `fjord connect standalone` and `fjord connect worker` share: the worker's own flags
//! (REST address, default converters, offset flush interval) and running the REST API until
//! SIGINT/SIGTERM, then stopping the tasks after they flush.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use fjord_connect::converter::Converter;
use fjord_connect::runtime::{Worker, WorkerSettings};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::client::parse_duration;

/// Flags of a worker process.
#[derive(Debug, clap::Args)]
pub struct WorkerProcessArgs {
    /// Address of the REST API (Kafka Connect's: /connectors, /connector-plugins, ...)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8083", env = "FJORD_CONNECT_REST_LISTEN")]
    pub rest_listen: SocketAddr,

    /// How statuses name this worker (default: the REST address, with the machine's host name
    /// when it listens on all interfaces)
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_CONNECT_REST_ADVERTISED_ADDRESS")]
    rest_advertised_address: Option<String>,

    /// How often source offsets are stored and sink offsets committed (e.g. 5s)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    offset_flush_interval: Duration,

    /// Converter for keys of connectors that do not name one: json, string or bytes
    #[arg(long, value_name = "NAME", default_value = "json")]
    key_converter: String,

    /// Converter for values of connectors that do not name one: json, string or bytes
    #[arg(long, value_name = "NAME", default_value = "json")]
    value_converter: String,

    /// Whether the default JSON converters write and expect the {schema, payload} envelope
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    schemas_enable: bool,
}

impl WorkerProcessArgs {
    /// The worker's settings, named by its REST address.
    pub fn settings(&self, rest_address: SocketAddr) -> anyhow::Result<WorkerSettings> {
        let schemas = self.schemas_enable.to_string();
        let key_converter = Converter::named(&self.key_converter, Some(&schemas)).map_err(|e| anyhow::anyhow!("--key-converter: {e}"))?;
        let value_converter = Converter::named(&self.value_converter, Some(&schemas)).map_err(|e| anyhow::anyhow!("--value-converter: {e}"))?;
        let worker_id = match &self.rest_advertised_address {
            Some(advertised) => advertised.clone(),
            None if rest_address.ip().is_unspecified() => format!("{}:{}", host_name(), rest_address.port()),
            None => rest_address.to_string(),
        };
        Ok(WorkerSettings { worker_id, key_converter, value_converter, offset_flush_interval: self.offset_flush_interval, ..WorkerSettings::default() })
    }

    /// Binds the REST API's address (before the worker starts, so a taken port fails fast).
    pub async fn bind(&self) -> anyhow::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind(self.rest_listen)
            .await
            .with_context(|| format!("could not bind the REST API on {}; is another worker running there? Choose another address with --rest-listen", self.rest_listen))?;
        let address = listener.local_addr().context("the REST listener has no address")?;
        Ok((listener, address))
    }
}

/// The machine's host name, as the kernel has it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into())
}

/// The process's signals, installed before anything slow starts.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("could not install a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("could not install a SIGTERM handler")?,
        })
    }
}

/// Serves the REST API on `listener` until SIGINT or SIGTERM, then stops the worker.
pub async fn serve_until_signal(listener: TcpListener, worker: Worker, mut signals: Signals) -> anyhow::Result<()> {
    let (stop_rest, rest_stopped) = tokio::sync::oneshot::channel::<()>();
    let rest = tokio::spawn(fjord_connect::rest::serve(listener, worker.clone(), async move {
        let _ = rest_stopped.await;
    }));
    let received = tokio::select! {
        _ = signals.interrupt.recv() => "SIGINT",
        _ = signals.terminate.recv() => "SIGTERM",
    };
    tracing::info!("received {received}; stopping connectors");
    let _ = stop_rest.send(());
    let _ = rest.await;
    worker.shutdown().await;
    tracing::info!("connect worker stopped; offsets stored");
    Ok(())
}
