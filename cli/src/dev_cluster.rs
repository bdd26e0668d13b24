//! `fjord dev --nodes N`: a local cluster of N nodes, each a `fjord broker` child process
//! with its own data directory (`DIR/node-<id>`), Kafka listener on consecutive ports from
//! `--listen`, inter-broker listener 100 ports above it and metrics on consecutive ports from
//! `--metrics-listen` (9644 by default). Every node votes in the controller quorum. A connect
//! worker (`fjord connect worker --group-id fjord-dev`, REST API on `--connect-listen`) runs
//! beside them as one more child, its internal topics replicated across the nodes. It prints
//! every endpoint. A node or the worker that dies (killed, crashed) is reported and started
//! again after `RESTART_AFTER` — longer than a broker session, so the cluster fails over first,
//! as it would in production — while the others keep serving; Ctrl-C (or SIGTERM) stops the
//! worker (its tasks flush), then every node cleanly (each moves its leadership away, flushes
//! and closes).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::broker_settings::BrokerSettings;

/// One node's endpoints.
#[derive(Debug, Clone)]
struct NodePlan {
    id: i32,
    kafka: String,
    rpc: String,
    metrics: String,
    data_dir: PathBuf,
}

fn plan(nodes: u16, listen: &str, metrics_base: u16, data_dir: &Path) -> anyhow::Result<Vec<NodePlan>> {
    let (host, port) = listen.rsplit_once(':').context("--listen must be HOST:PORT")?;
    let port: u16 = port.parse().with_context(|| format!("--listen port {port:?} is not a number"))?;
    let mut out = Vec::new();
    for i in 0..nodes {
        let kafka_port = port.checked_add(i).context("--listen port too high for this many nodes")?;
        let rpc_port = kafka_port.checked_add(100).context("--listen port too high for the inter-broker ports")?;
        out.push(NodePlan {
            id: i32::from(i) + 1,
            kafka: format!("{host}:{kafka_port}"),
            rpc: format!("{host}:{rpc_port}"),
            metrics: format!("{host}:{}", metrics_base.saturating_add(i)),
            data_dir: data_dir.join(format!("node-{}", i + 1)),
        });
    }
    Ok(out)
}

/// How long a node that died stays down before it is started again: longer than a broker
/// session (9 s), so its leadership moves to the others first.
const RESTART_AFTER: Duration = Duration::from_secs(10);

/// Starts node `p` as a `fjord broker` child process.
fn start_node(exe: &Path, p: &NodePlan, voters: &str) -> anyhow::Result<Child> {
    Command::new(exe)
        .arg("broker")
        .args(["--node-id", &p.id.to_string()])
        .args(["--listen", &p.kafka])
        .args(["--metrics-listen", &p.metrics])
        .args(["--controller-quorum-voters", voters])
        .args(["--rpc-listen", &p.rpc])
        .arg("--data-dir")
        .arg(&p.data_dir)
        .env("FJORD_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start node {}", p.id))
}

/// The connect worker's group in `fjord dev --nodes`.
const CONNECT_GROUP: &str = "fjord-dev";

/// Starts the connect worker as a `fjord connect worker` child process.
fn start_worker(exe: &Path, bootstrap: &str, listen: SocketAddr, replication_factor: u16) -> anyhow::Result<Child> {
    Command::new(exe)
        .args(["connect", "worker", "--bootstrap-server", bootstrap, "--group-id", CONNECT_GROUP])
        .args(["--rest-listen", &listen.to_string()])
        .args(["--replication-factor", &replication_factor.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .context("could not start the connect worker")
}

/// Runs the cluster and a connect worker until SIGINT or SIGTERM.
pub fn run(nodes: u16, settings: &BrokerSettings, connect_listen: SocketAddr) -> anyhow::Result<()> {
    if nodes < 2 {
        bail!("--nodes must be at least 2 (leave it out for a single node)");
    }
    let data_dir = settings.data_dir.clone().unwrap_or_else(|| PathBuf::from("./fjord-data"));
    let listen = settings.listen.clone().unwrap_or_else(|| "127.0.0.1:9092".into());
    let metrics_base = match &settings.metrics_listen {
        Some(address) => address.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).with_context(|| format!("--metrics-listen {address:?} is not HOST:PORT"))?,
        None => 9644,
    };
    let plans = plan(nodes, &listen, metrics_base, &data_dir)?;
    let voters = plans.iter().map(|p| format!("{}@{}", p.id, p.rpc)).collect::<Vec<_>>().join(",");
    let exe = std::env::current_exe().context("cannot find the fjord executable to start the nodes")?;
    let mut nodes_running: Vec<Supervised> = Vec::new();
    for p in &plans {
        std::fs::create_dir_all(&p.data_dir).with_context(|| format!("cannot create {}", p.data_dir.display()))?;
        let (exe, p, voters) = (exe.clone(), p.clone(), voters.clone());
        nodes_running.push(Supervised::start(format!("node {}", p.id), "the other nodes keep serving and fail over its partitions.", move || start_node(&exe, &p, &voters))?);
    }
    println!("fjord dev {}: a {nodes}-node cluster. Data under {}", env!("CARGO_PKG_VERSION"), data_dir.display());
    println!();
    for (p, node) in plans.iter().zip(&nodes_running) {
        println!("  node {}  Kafka {}  inter-broker {}  metrics http://{}/metrics  (pid {})", p.id, p.kafka, p.rpc, p.metrics, node.child.id());
    }
    let bootstrap = plans.iter().map(|p| p.kafka.clone()).collect::<Vec<_>>().join(",");
    let replication = nodes.min(3);
    // The worker creates its topics replicated across the nodes: it starts once they are up.
    wait_for_brokers(&bootstrap, usize::from(nodes), Duration::from_secs(60));
    let mut worker = {
        let (exe, bootstrap) = (exe.clone(), bootstrap.clone());
        Supervised::start("connect worker".to_string(), "its connectors are kept in the cluster.", move || start_worker(&exe, &bootstrap, connect_listen, replication))?
    };
    println!("  connect worker  REST http://{connect_listen}/connectors  group {CONNECT_GROUP}  (pid {})", worker.child.id());
    println!();
    println!("Bootstrap servers: {bootstrap}");
    println!("Try it: fjord topic create orders --partitions 3 --replication-factor 3 -b {bootstrap}");
    println!("Ready. Press Ctrl-C (or send SIGTERM) to stop every node.");

    let stop = crate::interrupt::on_ctrl_c()?;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        worker.tend();
        for node in &mut nodes_running {
            node.tend();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The worker first, while the cluster it flushes to is still up.
    worker.terminate();
    worker.wait_or_kill(Instant::now() + STOP_WITHIN);
    // SIGTERM: each node shuts down cleanly.
    for node in &nodes_running {
        node.terminate();
    }
    let deadline = Instant::now() + STOP_WITHIN;
    for node in &mut nodes_running {
        node.wait_or_kill(deadline);
    }
    println!("fjord dev cluster shut down.");
    Ok(())
}

/// How long a child has to stop after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// A child process `fjord dev` keeps running: reported and started again `RESTART_AFTER`
/// after it dies.
struct Supervised {
    /// How messages name it ("node 2", "connect worker").
    name: String,
    /// What its death means, for the message that reports it.
    when_down: &'static str,
    start: Box<dyn Fn() -> anyhow::Result<Child>>,
    child: Child,
    /// When it starts again, while it is down.
    restart_at: Option<Instant>,
}

impl Supervised {
    fn start(name: String, when_down: &'static str, start: impl Fn() -> anyhow::Result<Child> + 'static) -> anyhow::Result<Self> {
        let child = start()?;
        Ok(Self { name, when_down, start: Box::new(start), child, restart_at: None })
    }

    /// Notices that the child exited, and starts it again once that is due.
    fn tend(&mut self) {
        if self.restart_at.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            eprintln!("{} exited ({status}); {} Starting it again in {} s.", self.name, self.when_down, RESTART_AFTER.as_secs());
            self.restart_at = Some(Instant::now() + RESTART_AFTER);
        }
        if self.restart_at.is_some_and(|at| at <= Instant::now()) {
            match (self.start)() {
                Ok(started) => {
                    eprintln!("{} started again (pid {})", self.name, started.id());
                    self.child = started;
                    self.restart_at = None;
                }
                Err(e) => {
                    eprintln!("{} could not start again ({e:#}); trying again in {} s", self.name, RESTART_AFTER.as_secs());
                    self.restart_at = Some(Instant::now() + RESTART_AFTER);
                }
            }
        }
    }

    /// Sends SIGTERM to the child, unless it is down.
    fn terminate(&self) {
        if self.restart_at.is_none() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        }
    }

    /// Waits for the child to exit until `deadline`, then kills it.
    fn wait_or_kill(&mut self, deadline: Instant) {
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                _ => {
                    eprintln!("{} did not stop within {} s; killing it", self.name, STOP_WITHIN.as_secs());
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// Waits until the cluster's metadata lists `nodes` brokers (or `timeout` passes: the worker
/// then starts anyway, and is started again if it cannot join yet).
fn wait_for_brokers(bootstrap: &str, nodes: usize, timeout: Duration) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let deadline = Instant::now() + timeout;
    let Ok(client) = rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).set("log_level", "3").create::<BaseConsumer>() else { return };
    while Instant::now() < deadline {
        if client.fetch_metadata(None, Duration::from_secs(2)).is_ok_and(|m| m.brokers().len() >= nodes) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_consecutive_ports_and_their_own_directories() {
        let plans = plan(3, "127.0.0.1:9092", 9644, Path::new("/tmp/d")).unwrap();
        let kafka: Vec<_> = plans.iter().map(|p| p.kafka.as_str()).collect();
        assert_eq!(kafka, ["127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"]);
        assert_eq!(plans[2].rpc, "127.0.0.1:9194");
        assert_eq!(plans[1].data_dir, PathBuf::from("/tmp/d/node-2"));
    }
}
