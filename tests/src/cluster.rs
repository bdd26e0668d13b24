//! `ClusterProcess`: a cluster of `fjord broker` processes on 127.0.0.1 — every node a voter
//! of the controller quorum, or separate controller-only and broker-only nodes — each with
//! its own data directory and ports; nodes can be
//! killed (SIGKILL), stopped and restarted one at a time. [`ClusterProcess::start_splittable`]
//! puts a [`NetworkSplitter`] between the nodes, so a test can cut the network.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use crate::broker::{BrokerBuilder, BrokerProcess};
use crate::netsplit::NetworkSplitter;
use crate::process::{run, wait_until};

/// How long a cluster may take to elect a controller and register every broker.
const FORM_TIMEOUT: Duration = Duration::from_secs(60);

/// A running cluster. See the module docs.
#[derive(Debug)]
pub struct ClusterProcess {
    nodes: Vec<BrokerProcess>,
    /// `--controller-quorum-voters`, for nodes added later.
    voters: String,
}

/// Free ports for the inter-broker listeners, which every node must know before any starts,
/// in a band of their own (see [`crate::broker::free_ports_in`]): they never collide with
/// the Kafka and metrics listeners' ports.
fn free_rpc_addrs(ips: &[Ipv4Addr]) -> Vec<SocketAddr> {
    crate::broker::free_ports_in(ips, 20_000..32_000)
}

impl ClusterProcess {
    /// Starts `count` nodes (ids 1..=count) and waits until every one is registered and
    /// unfenced. `configure` adds settings to each node's builder.
    #[track_caller]
    pub fn start(count: usize, configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> Self {
        let listen = free_rpc_addrs(&vec![Ipv4Addr::LOCALHOST; count]);
        Self::launch(&listen, &listen, configure)
    }

    /// As [`start`](Self::start), with a [`NetworkSplitter`] between the nodes: node `i`
    /// listens on [`NetworkSplitter::node_ip`]`(i)` and the others reach it through the
    /// splitter's front.
    #[track_caller]
    pub fn start_splittable(count: usize, configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> (Self, NetworkSplitter) {
        let ips: Vec<Ipv4Addr> = (1..=count).map(NetworkSplitter::node_ip).collect();
        let listen = free_rpc_addrs(&ips);
        let splitter = NetworkSplitter::start(&listen);
        let advertised: Vec<SocketAddr> = (1..=count).map(|id| splitter.front(id)).collect();
        (Self::launch(&listen, &advertised, configure), splitter)
    }

    /// Starts node `i + 1` listening for inter-broker traffic on `listen[i]` and known to the
    /// others as `advertised[i]`.
    #[track_caller]
    fn launch(listen: &[SocketAddr], advertised: &[SocketAddr], configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> Self {
        let count = listen.len();
        let voters = advertised.iter().enumerate().map(|(i, addr)| format!("{}@{addr}", i + 1)).collect::<Vec<_>>().join(",");
        let nodes = (0..count).map(|i| configure(node_builder(i + 1, &voters, listen[i])).start()).collect();
        let cluster = Self { nodes, voters };
        cluster.wait_until_all_alive();
        cluster
    }

    /// Starts `controllers` controller-only nodes (ids 1..=controllers, the quorum's voters,
    /// no Kafka listener) and `brokers` broker-only nodes after them, and waits until every
    /// broker is registered and alive: the layout of a larger cluster.
    #[track_caller]
    pub fn start_separated(controllers: usize, brokers: usize, configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> Self {
        let listen = free_rpc_addrs(&vec![Ipv4Addr::LOCALHOST; controllers]);
        let voters = listen.iter().enumerate().map(|(i, addr)| format!("{}@{addr}", i + 1)).collect::<Vec<_>>().join(",");
        let nodes = (0..controllers)
            .map(|i| configure(node_builder(i + 1, &voters, listen[i])).controller_only().start())
            .collect();
        let mut cluster = Self { nodes, voters };
        for _ in 0..brokers {
            cluster.start_broker_only(&configure);
        }
        cluster.wait_until_all_alive();
        cluster
    }

    /// Starts a broker-only node (not a voter: it receives the metadata log as an observer)
    /// with the next node id, and waits until it is registered and alive; returns its id.
    #[track_caller]
    pub fn add_broker(&mut self, configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> usize {
        let id = self.start_broker_only(&configure);
        self.wait_until_all_alive();
        id
    }

    /// Starts a broker-only node with the next node id; returns its id.
    #[track_caller]
    fn start_broker_only(&mut self, configure: &impl Fn(BrokerBuilder) -> BrokerBuilder) -> usize {
        let id = self.nodes.len() + 1;
        let listen = free_rpc_addrs(&[Ipv4Addr::LOCALHOST])[0];
        self.nodes.push(configure(node_builder(id, &self.voters, listen)).start());
        id
    }

    /// Node `id` (1-based).
    pub fn node(&mut self, id: usize) -> &mut BrokerProcess {
        &mut self.nodes[id - 1]
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every broker's Kafka address, comma-separated (controller-only nodes have none).
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().filter(|n| !n.is_controller_only()).map(BrokerProcess::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// The Kafka addresses of nodes `ids`, comma-separated.
    pub fn bootstrap_of(&self, ids: &[usize]) -> String {
        ids.iter().map(|&id| self.nodes[id - 1].bootstrap()).collect::<Vec<_>>().join(",")
    }

    /// Runs `fjord ARGS -b <bootstrap> --output json` and parses what it prints; `None` when
    /// it fails or prints no JSON.
    pub fn fjord_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        self.fjord_json_via(&self.bootstrap(), args)
    }

    /// As [`fjord_json`](Self::fjord_json), through the brokers in `bootstrap` only.
    pub fn fjord_json_via(&self, bootstrap: &str, args: &[&str]) -> Option<serde_json::Value> {
        let mut cmd = Command::new(crate::fjord_bin());
        // A short client timeout: while a node is down, a call through it fails fast and the
        // caller's wait loop asks again.
        cmd.args(args).args(["--output", "json", "--timeout", "5s", "-b", bootstrap]);
        let out = run(&mut cmd, None, Duration::from_secs(30));
        if !out.status.success() {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// `fjord topic describe TOPIC --output json`, once it answers.
    #[track_caller]
    pub fn describe_topic(&self, topic: &str) -> serde_json::Value {
        wait_until(&format!("topic describe {topic}"), Duration::from_secs(30), Duration::from_millis(200), || self.fjord_json(&["topic", "describe", topic]))
    }

    /// Waits until every broker is registered and alive.
    #[track_caller]
    pub fn wait_until_all_alive(&self) {
        let count = self.nodes.iter().filter(|n| !n.is_controller_only()).count();
        wait_until("every node registered and alive", FORM_TIMEOUT, Duration::from_millis(300), || {
            let json = self.fjord_json(&["cluster", "describe"])?;
            let alive = json["brokers"].as_array().map_or(0, |b| b.iter().filter(|b| b["state"] == "alive").count());
            (alive == count && json["controller_id"].as_i64().is_some_and(|c| c > 0)).then_some(())
        });
    }
}

/// A cluster node's builder: node `id` of the quorum `voters`, its inter-broker listener on
/// `rpc_listen`, with short broker sessions so that tests see fencing quickly.
fn node_builder(id: usize, voters: &str, rpc_listen: SocketAddr) -> BrokerBuilder {
    BrokerProcess::builder()
        .arg("--node-id")
        .arg(id.to_string())
        .arg("--controller-quorum-voters")
        .arg(voters)
        .arg("--rpc-listen")
        .arg(rpc_listen.to_string())
        .env("FJORD_BROKER_SESSION_TIMEOUT_MS", "6000")
        .env("FJORD_BROKER_HEARTBEAT_INTERVAL_MS", "500")
}

/// The batches of one partition directory as `fjord log dump --output json` prints them
/// (offsets, epochs, CRCs): equal on every replica that holds the same records.
#[track_caller]
pub fn partition_log_dump(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(crate::fjord_bin());
    cmd.arg("log").arg("dump").arg(dir).args(["--output", "json"]);
    let out = run(&mut cmd, None, Duration::from_secs(60));
    out.assert_success();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`fjord log dump` printed a line that is not JSON ({e}): {l}"))).collect()
}
