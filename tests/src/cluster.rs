//! `ClusterProcess`: a cluster of `fjord broker` processes on 127.0.0.1, every node a voter
//! of the controller quorum, each with its own data directory and ports; nodes can be
//! killed (SIGKILL), stopped and restarted one at a time.

use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::Duration;

use crate::broker::{BrokerBuilder, BrokerProcess};
use crate::process::{run, wait_until};

/// How long a cluster may take to elect a controller and register every broker.
const FORM_TIMEOUT: Duration = Duration::from_secs(60);

/// A running cluster. See the module docs.
#[derive(Debug)]
pub struct ClusterProcess {
    nodes: Vec<BrokerProcess>,
}

/// Free ports for the inter-broker listeners, which every node must know before any starts.
/// They are taken below Linux's ephemeral range (32768–60999), where the ports the harness
/// picks for the Kafka and metrics listeners (`bind(0)`) never fall, so the two never collide.
fn free_rpc_ports(count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut seed = std::process::id() as u64 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    while held.len() < count {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let port = 20_000 + (seed >> 33) as u16 % 12_000;
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(listener);
        }
    }
    held.iter().map(|l| l.local_addr().expect("local address").port()).collect()
}

impl ClusterProcess {
    /// Starts `count` nodes (ids 1..=count) and waits until every one is registered and
    /// unfenced. `configure` adds settings to each node's builder.
    #[track_caller]
    pub fn start(count: usize, configure: impl Fn(BrokerBuilder) -> BrokerBuilder) -> Self {
        let rpc = free_rpc_ports(count);
        let voters = rpc.iter().enumerate().map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1)).collect::<Vec<_>>().join(",");
        let nodes = (0..count)
            .map(|i| {
                let builder = BrokerProcess::builder()
                    .arg("--node-id")
                    .arg((i + 1).to_string())
                    .arg("--controller-quorum-voters")
                    .arg(voters.clone())
                    .arg("--rpc-listen")
                    .arg(format!("127.0.0.1:{}", rpc[i]))
                    .env("FJORD_BROKER_SESSION_TIMEOUT_MS", "6000")
                    .env("FJORD_BROKER_HEARTBEAT_INTERVAL_MS", "500");
                configure(builder).start()
            })
            .collect();
        let cluster = Self { nodes };
        cluster.wait_until_all_alive();
        cluster
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

    /// Every node's Kafka address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().map(BrokerProcess::bootstrap).collect::<Vec<_>>().join(",")
    }

    /// Runs `fjord ARGS -b <bootstrap> --output json` and parses what it prints; `None` when
    /// it fails or prints no JSON.
    pub fn fjord_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut cmd = Command::new(crate::fjord_bin());
        // A short client timeout: while a node is down, a call through it fails fast and the
        // caller's wait loop asks again.
        cmd.args(args).args(["--output", "json", "--timeout", "5s", "-b", &self.bootstrap()]);
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

    /// Waits until every node is registered and alive.
    #[track_caller]
    pub fn wait_until_all_alive(&self) {
        let count = self.nodes.len();
        wait_until("every node registered and alive", FORM_TIMEOUT, Duration::from_millis(300), || {
            let json = self.fjord_json(&["cluster", "describe"])?;
            let alive = json["brokers"].as_array().map_or(0, |b| b.iter().filter(|b| b["state"] == "alive").count());
            (alive == count && json["controller_id"].as_i64().is_some_and(|c| c > 0)).then_some(())
        });
    }
}
