//! A cluster of in-process quorum nodes on 127.0.0.1, each with its own data directory and
//! listener, that tests start, kill, wipe and restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_quorum::{Quorum, QuorumConfig, StateMachine};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A state machine that records what it is given, in order.
#[derive(Debug, Default)]
pub struct Recorder {
    applied: Mutex<Vec<(u64, Vec<u8>)>>,
    restores: AtomicUsize,
}

impl Recorder {
    /// The applied entries' bytes, in order.
    pub fn entries(&self) -> Vec<Vec<u8>> {
        self.applied
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// How many snapshots it was restored from.
    pub fn restores(&self) -> usize {
        self.restores.load(Ordering::Relaxed)
    }

    /// The applied entries' indexes, in order.
    pub fn indexes(&self) -> Vec<u64> {
        self.applied
            .lock()
            .unwrap()
            .iter()
            .map(|(i, _)| *i)
            .collect()
    }
}

impl StateMachine for Recorder {
    fn apply(&self, index: u64, entry: &[u8]) {
        self.applied.lock().unwrap().push((index, entry.to_vec()));
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.applied.lock().unwrap()).unwrap()
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        *self.applied.lock().unwrap() =
            serde_json::from_slice(snapshot).map_err(|e| e.to_string())?;
        self.restores.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One running node.
pub struct Node {
    pub quorum: Quorum,
    pub machine: Arc<Recorder>,
    server: JoinHandle<()>,
}

pub struct Cluster {
    dir: tempfile::TempDir,
    voters: BTreeMap<u64, String>,
    tune: fn(&mut QuorumConfig),
    pub nodes: BTreeMap<u64, Node>,
}

/// `entry-{i}` as bytes.
pub fn entry(i: usize) -> Vec<u8> {
    format!("entry-{i}").into_bytes()
}

impl Cluster {
    /// Starts voters `1..=n`, their configurations changed by `tune`.
    pub async fn start(n: u64, tune: fn(&mut QuorumConfig)) -> Cluster {
        let mut listeners = BTreeMap::new();
        let mut voters = BTreeMap::new();
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            voters.insert(id, listener.local_addr().unwrap().to_string());
            listeners.insert(id, listener);
        }
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            voters,
            tune,
            nodes: BTreeMap::new(),
        };
        for (id, listener) in listeners {
            cluster.start_node(id, listener).await;
        }
        cluster
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    pub fn config(&self, id: u64) -> QuorumConfig {
        let mut config = QuorumConfig::new(id, self.voters.clone(), self.data_dir(id));
        (self.tune)(&mut config);
        config
    }

    async fn start_node(&mut self, id: u64, listener: TcpListener) {
        let machine = Arc::new(Recorder::default());
        let quorum = Quorum::start(self.config(id), machine.clone())
            .await
            .unwrap();
        let serve = quorum.serve(listener, std::future::pending());
        let server = tokio::spawn(async move { serve.await.unwrap() });
        self.nodes.insert(
            id,
            Node {
                quorum,
                machine,
                server,
            },
        );
    }

    /// Starts node `id`, not among the voters, as an observer waiting to be added; returns
    /// its address.
    pub async fn start_observer(&mut self, id: u64) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        self.start_node(id, listener).await;
        addr
    }

    /// Starts a stopped node again on its address, from its data directory.
    pub async fn restart(&mut self, id: u64) {
        let listener = TcpListener::bind(&self.voters[&id]).await.unwrap();
        self.start_node(id, listener).await;
    }

    /// Stops a node abruptly: its server goes away with its connections, its Raft stops.
    pub async fn kill(&mut self, id: u64) {
        let node = self.nodes.remove(&id).unwrap();
        node.server.abort();
        let _ = node.server.await;
        node.quorum.shutdown().await.unwrap();
    }

    /// Kills a node and removes its data directory.
    pub async fn wipe(&mut self, id: u64) {
        self.kill(id).await;
        std::fs::remove_dir_all(self.data_dir(id)).unwrap();
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    /// Waits until every running node names the same leader, and returns it.
    pub async fn leader(&self) -> u64 {
        loop {
            let seen: Vec<_> = self
                .nodes
                .values()
                .map(|n| n.quorum.watch_leader().borrow().leader)
                .collect();
            if let Some(Some(leader)) = seen.first()
                && self.nodes.contains_key(leader)
                && seen.iter().all(|l| *l == Some(*leader))
            {
                return *leader;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A running node other than `leader`.
    pub fn follower_of(&self, leader: u64) -> u64 {
        *self
            .nodes
            .keys()
            .find(|id| **id != leader)
            .expect("a follower")
    }

    /// Proposes entries `range` through `leader`, returning the last index.
    pub async fn propose(&self, leader: u64, range: std::ops::Range<usize>) -> u64 {
        let mut last = 0;
        for i in range {
            let index = self.node(leader).quorum.propose(entry(i)).await.unwrap();
            assert!(index > last, "indexes increase");
            last = index;
        }
        last
    }

    /// Waits until every running node has applied `index`.
    pub async fn wait_applied(&self, index: u64) {
        for node in self.nodes.values() {
            node.quorum.wait_applied(index).await.unwrap();
        }
    }

    pub async fn shutdown(mut self) {
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            self.kill(id).await;
        }
    }
}

/// Runs a test body with a deadline.
pub async fn within<F: std::future::Future>(seconds: u64, body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(seconds), body)
        .await
        .expect("the test ran out of time")
}
