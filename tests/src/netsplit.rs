//! `NetworkSplitter`: a fault-injecting TCP proxy in front of every node's inter-broker
//! listener, so a test can cut nodes off from each other and heal the split again, without
//! root or network namespaces.
//!
//! Node `i` listens for inter-broker traffic on its own loopback address,
//! [`NetworkSplitter::node_ip`]`(i)` (`127.0.0.1i`), and advertises the proxy's front for it
//! (`127.0.0.1:<port>`) in the controller quorum's voter list. A clustered `fjord` node's
//! outgoing inter-broker connections leave from its listener's address, so the proxy knows
//! which node each connection comes from by its source address.
//!
//! A cut link behaves as a network that drops packets: bytes either way are read and thrown
//! away (the sender sees no answer and no reset), and new connections are accepted and never
//! forwarded. Healing closes the connections that were blackholed — TCP would have timed
//! them out or failed them on their first unanswered bytes — and forwards new ones again.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The proxies of one cluster. See the module docs.
#[derive(Debug)]
pub struct NetworkSplitter {
    fronts: Vec<SocketAddr>,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Cut links, as (lower node id, higher node id).
    cut: Mutex<BTreeSet<(usize, usize)>>,
    connections: Mutex<Vec<Connection>>,
    stopping: AtomicBool,
}

/// One proxied connection from node `from` (when known) to node `to`.
#[derive(Debug)]
struct Connection {
    from: Option<usize>,
    to: usize,
    blackholed: Arc<AtomicBool>,
    sockets: Vec<TcpStream>,
}

fn link(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl State {
    fn is_cut(&self, from: Option<usize>, to: usize) -> bool {
        from.is_some_and(|from| self.cut.lock().unwrap_or_else(|p| p.into_inner()).contains(&link(from, to)))
    }

    /// Accepts on `listener` for node `to` (reached at `target`) until the splitter is dropped.
    fn serve(self: Arc<Self>, listener: TcpListener, to: usize, target: SocketAddr) {
        listener.set_nonblocking(true).expect("a non-blocking listener");
        while !self.stopping.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((client, peer)) => {
                    let _ = client.set_nonblocking(false);
                    let from = NetworkSplitter::node_of(peer.ip());
                    Arc::clone(&self).proxy(client, from, to, target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    fn proxy(self: Arc<Self>, client: TcpStream, from: Option<usize>, to: usize, target: SocketAddr) {
        let _ = client.set_nodelay(true);
        let blackholed = Arc::new(AtomicBool::new(self.is_cut(from, to)));
        let mut sockets = vec![client.try_clone().expect("clone a socket")];
        if blackholed.load(Ordering::Acquire) {
            // Never reaches the node: read and drop until the client gives up or healing
            // closes it.
            std::thread::spawn(move || pump(client, None, &AtomicBool::new(true)));
        } else {
            let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            let _ = upstream.set_nodelay(true);
            sockets.push(upstream.try_clone().expect("clone a socket"));
            for (source, sink) in [(client.try_clone().expect("clone a socket"), upstream.try_clone().expect("clone a socket")), (upstream, client)] {
                let blackholed = Arc::clone(&blackholed);
                std::thread::spawn(move || pump(source, Some(sink), &blackholed));
            }
        }
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.retain(|c| c.sockets.iter().all(|s| s.peer_addr().is_ok()));
        connections.push(Connection { from, to, blackholed, sockets });
    }
}

/// Copies `source` to `sink` until either ends, dropping what it reads while `blackholed`.
fn pump(mut source: TcpStream, sink: Option<TcpStream>, blackholed: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if blackholed.load(Ordering::Acquire) {
            continue;
        }
        if let Some(mut sink) = sink.as_ref()
            && sink.write_all(&buf[..n]).is_err()
        {
            break;
        }
    }
    if let Some(sink) = sink {
        let _ = sink.shutdown(Shutdown::Write);
    }
}

impl NetworkSplitter {
    /// The loopback address node `id` listens on and connects from.
    pub fn node_ip(id: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 10 + u8::try_from(id).expect("a small node id"))
    }

    /// The node whose address `ip` is, if any.
    fn node_of(ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                (a == 127 && b == 0 && c == 0 && d > 10).then(|| usize::from(d - 10))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Starts a front on 127.0.0.1 for each node; `targets[i]` is node `i + 1`'s real
    /// inter-broker listener.
    pub fn start(targets: &[SocketAddr]) -> Self {
        let state = Arc::new(State::default());
        let mut fronts = Vec::new();
        for (i, &target) in targets.iter().enumerate() {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a proxy front");
            fronts.push(listener.local_addr().expect("the front's address"));
            let state = Arc::clone(&state);
            std::thread::spawn(move || state.serve(listener, i + 1, target));
        }
        Self { fronts, state }
    }

    /// The address the other nodes reach node `id` at.
    pub fn front(&self, id: usize) -> SocketAddr {
        self.fronts[id - 1]
    }

    /// Cuts node `id` off from every other node, both ways.
    pub fn isolate(&self, id: usize) {
        let mut cut = self.state.cut.lock().unwrap_or_else(|p| p.into_inner());
        for other in (1..=self.fronts.len()).filter(|&o| o != id) {
            cut.insert(link(id, other));
        }
        for c in self.state.connections.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if c.from.is_some_and(|from| cut.contains(&link(from, c.to))) {
                c.blackholed.store(true, Ordering::Release);
            }
        }
    }

    /// Restores every link; connections that were blackholed are closed, so both ends
    /// reconnect.
    pub fn heal(&self) {
        self.state.cut.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.state.connections.lock().unwrap_or_else(|p| p.into_inner()).retain(|c| {
            if c.blackholed.load(Ordering::Acquire) {
                for s in &c.sockets {
                    let _ = s.shutdown(Shutdown::Both);
                }
                false
            } else {
                true
            }
        });
    }
}

impl Drop for NetworkSplitter {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::Release);
        for c in self.state.connections.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            for s in &c.sockets {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}
