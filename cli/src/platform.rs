//! Running a broker process: take the data directory, open the broker, bind the Kafka
//! listener and the metrics endpoint, serve until SIGINT/SIGTERM, then shut down cleanly
//! (stop accepting, finish in-flight requests, flush and close every partition).
//! `fjord broker` and `fjord dev` both run through here.

use std::sync::Arc;

use anyhow::Context;
use fjord_log_core::broker::Broker;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::broker_settings::Resolved;
use crate::data_dir::DataDir;

/// How the process introduces itself, and what runs beside the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `fjord broker`: logs only.
    Broker,
    /// `fjord dev`: also a connect worker, and the endpoints printed to stdout for a person.
    Dev(DevOptions),
}

/// What `fjord dev` adds to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevOptions {
    /// Where the connect worker's REST API listens.
    pub connect_listen: std::net::SocketAddr,
}

/// Runs until SIGINT or SIGTERM; returns after a clean shutdown.
pub fn run(settings: Resolved, mode: Mode) -> anyhow::Result<()> {
    let data_dir = DataDir::create(&settings.broker.data_dir)?;
    let _lock = data_dir.lock()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("could not start the async runtime")?;
    runtime.block_on(serve(settings, mode, &data_dir))
}

async fn serve(settings: Resolved, mode: Mode, data_dir: &DataDir) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("could not install a SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("could not install a SIGTERM handler")?;

    // A controller-only node serves no Kafka clients: it has no Kafka listener.
    let serves_clients = settings.broker.cluster.as_ref().is_none_or(|c| c.broker_role);
    let listener = if serves_clients {
        Some(TcpListener::bind(settings.listen).await.map_err(|e| {
            anyhow::anyhow!("could not bind the Kafka listener on {}: {e}; is another broker running there? Choose another address with --listen", settings.listen)
        })?)
    } else {
        None
    };
    let metrics_listener = crate::metrics_http::bind(settings.metrics_listen).await?;

    let broker = Broker::open(settings.broker.clone()).await.with_context(|| {
        format!("could not open the data directory {}; the error above names the file at fault", data_dir.root().display())
    })?;
    let mut registry = Registry::default();
    broker.metrics().register(&mut registry);
    let connect_metrics = fjord_connect::runtime::ConnectMetrics::default();
    if matches!(mode, Mode::Dev(_)) {
        connect_metrics.register(&mut registry);
    }
    let registry = Arc::new(registry);

    let (stop, stopped) = watch::channel(false);
    let server = listener.map(|listener| tokio::spawn(fjord_log_core::server::serve(broker.clone(), listener, stopped.clone())));
    let metrics = tokio::spawn(crate::metrics_http::serve(metrics_listener, registry, stopped));

    let advertised = format!("{}:{}", settings.broker.advertised_host, settings.broker.advertised_port);
    let connect = match mode {
        Mode::Dev(dev) => Some(crate::connect::embedded::start(dev.connect_listen, &advertised, data_dir.root(), connect_metrics).await?),
        Mode::Broker => None,
    };
    match (&server, &settings.broker.cluster) {
        (Some(_), _) => tracing::info!(listen = %settings.listen, advertised = %advertised, metrics = %settings.metrics_listen, "Kafka listener listening; ready for clients"),
        (None, cluster) => tracing::info!(
            rpc_listen = cluster.as_ref().map_or("", |c| c.rpc_listen.as_str()),
            metrics = %settings.metrics_listen,
            "controller-only node running; Kafka clients connect to the brokers"
        ),
    }
    if let Some(connect) = &connect {
        println!("fjord dev {} is running. Data in {}", env!("CARGO_PKG_VERSION"), data_dir.root().display());
        println!();
        println!("  Kafka bootstrap server  {advertised}");
        println!("  Connect REST API        http://{}/connectors", connect.address);
        println!("  Prometheus metrics      http://{}/metrics", settings.metrics_listen);
        println!();
        println!("Try it: echo hello | fjord produce greetings -b {advertised}");
        println!("        fjord consume greetings --from-beginning -b {advertised}   (or any Kafka client)");
        println!("Ready. Press Ctrl-C (or send SIGTERM) to stop.");
    }

    let received = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!("received {received}; shutting down");
    // Connectors first: source tasks flush what they read to the broker before it stops.
    let dev = connect.is_some();
    if let Some(connect) = connect {
        connect.shutdown().await;
    }
    // In a cluster, leadership moves to other brokers first (controlled shutdown).
    broker.controlled_shutdown(std::time::Duration::from_secs(10)).await;
    stop.send_replace(true);
    if let Some(server) = server {
        let _ = server.await;
    }
    let _ = metrics.await;
    broker.shutdown().await;
    if dev {
        println!("fjord dev shut down cleanly.");
    }
    Ok(())
}
