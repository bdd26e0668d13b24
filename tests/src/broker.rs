//! `BrokerProcess`: one `fjord broker` process on free loopback ports.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use crate::process::{tail, wait_with_deadline};

/// How long a broker may take from spawn to accepting Kafka connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a process to disappear after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh port pairs tried when the broker cannot bind the ones picked.
const BIND_ATTEMPTS: usize = 5;
/// Lines of the broker's log shown when something goes wrong.
const LOG_TAIL_LINES: usize = 80;

/// The `fjord` binary the tests run.
///
/// `FJORD_BIN` if set (`./scripts/test` sets it), else `target/<profile>/fjord` next to the
/// running test executable (`target/<profile>/deps/<test>`). Panics with the command that
/// builds it if it is missing.
#[track_caller]
pub fn fjord_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FJORD_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "FJORD_BIN={} does not exist; build it with `cargo build -p fjord` (or run ./scripts/test)",
            bin.display()
        );
        return bin;
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/debug/deps/<test> -> target/debug/fjord
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile_dir| profile_dir.join("fjord"));
    match candidate {
        Some(bin) if bin.is_file() => bin,
        _ => panic!(
            "the fjord binary was not found (looked at {}; FJORD_BIN is not set); build it with \
             `cargo build -p fjord` or run ./scripts/test, which builds it and sets FJORD_BIN",
            candidate.map_or_else(|| "<none>".into(), |p| p.display().to_string())
        ),
    }
}

/// Options for a broker before it starts; see [`BrokerProcess::builder`].
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    data_dir: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    controller_only: bool,
}

impl BrokerBuilder {
    /// Uses `dir` as the data directory (created if missing) instead of a fresh one. It is
    /// left in place when the broker goes away.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Adds a command-line argument after the harness's own (`--data-dir`, `--listen`,
    /// `--metrics-listen`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for the broker. The harness clears every inherited
    /// `FJORD_*` variable, so only those set here reach it.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the node as a controller only (`--process-roles controller`): it has no Kafka
    /// listener, so the harness waits for its metrics endpoint instead.
    pub fn controller_only(mut self) -> Self {
        self.controller_only = true;
        self.arg("--process-roles").arg("controller")
    }

    /// Starts the broker and waits until it accepts Kafka connections; panics with the
    /// broker's log if it exits or is not ready within a minute.
    #[track_caller]
    pub fn start(self) -> BrokerProcess {
        let scratch = tempfile::Builder::new()
            .prefix("fjord-test-broker-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let data_dir = match self.data_dir {
            Some(dir) => dir,
            None => scratch.path().join("data"),
        };
        fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
        let mut broker = BrokerProcess {
            bin: fjord_bin(),
            log_path: scratch.path().join("broker.log"),
            scratch,
            data_dir,
            kafka_port: 0,
            metrics_port: 0,
            args: self.args,
            env: self.env,
            child: None,
            starts: 0,
            log_reported: Cell::new(false),
            controller_only: self.controller_only,
        };
        let mut last_error = String::new();
        for _ in 0..BIND_ATTEMPTS {
            let (kafka_port, metrics_port) = free_port_pair();
            broker.kafka_port = kafka_port;
            broker.metrics_port = metrics_port;
            match broker.spawn_and_wait() {
                Ok(()) => return broker,
                Err(Failure::BindConflict(log)) => last_error = log,
                Err(Failure::Fatal(message)) => broker.fail(&message),
            }
        }
        broker.fail(&format!(
            "the broker could not bind free ports in {BIND_ATTEMPTS} attempts; last log:\n{last_error}"
        ))
    }
}

enum Failure {
    /// The broker exited because a port it was given was taken (by someone else, between
    /// our probe and its bind): worth another try on other ports.
    BindConflict(String),
    Fatal(String),
}

/// One `fjord broker` process, listening on `127.0.0.1` on ports picked for it, with its
/// own data directory and a log file holding everything it printed (stdout and stderr, every
/// start appended).
///
/// Dropping it kills the process (SIGKILL) and deletes its temporary directory; after a
/// panic it first prints the end of the log, and keeps the directory if `FJORD_TEST_KEEP`
/// is set.
#[derive(Debug)]
pub struct BrokerProcess {
    bin: PathBuf,
    scratch: TempDir,
    data_dir: PathBuf,
    log_path: PathBuf,
    kafka_port: u16,
    metrics_port: u16,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    child: Option<Child>,
    starts: u32,
    /// Set once a panic message carried the log, so that `Drop` does not print it again.
    log_reported: Cell<bool>,
    /// A controller-only node: ready once its metrics endpoint answers (no Kafka listener).
    controller_only: bool,
}

impl BrokerProcess {
    /// Starts a broker on a fresh data directory; see [`BrokerBuilder::start`].
    #[track_caller]
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// Starts a broker on the data directory `dir` (created if missing, never deleted).
    #[track_caller]
    pub fn start_in(dir: impl Into<PathBuf>) -> Self {
        Self::builder().data_dir(dir).start()
    }

    /// Options for a broker: data directory, extra arguments, environment.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// Whether this node runs only the controller (no Kafka listener).
    pub fn is_controller_only(&self) -> bool {
        self.controller_only
    }

    /// `host:port` for clients' `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    /// The Kafka listener's address.
    pub fn kafka_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.kafka_port))
    }

    /// The Prometheus endpoint's address (`http://<addr>/metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.metrics_port))
    }

    /// The data directory the broker runs on.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file holding everything the broker printed.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the broker printed so far (all starts).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the broker's process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the broker with SIGKILL (no clean shutdown) and waits for it to be gone.
    #[track_caller]
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                signal(&child, Signal::KILL);
            }
            if wait_with_deadline(&mut child, Instant::now() + KILL_TIMEOUT).is_none() {
                self.fail(&format!(
                    "process {} survived SIGKILL for {KILL_TIMEOUT:?}",
                    child.id()
                ));
            }
        }
    }

    /// Stops the broker with SIGTERM and asserts that it shuts down cleanly: exits with
    /// status 0 within 30 s.
    #[track_caller]
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            self.fail("stop(): the broker is not running");
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.fail(&format!("stop(): the broker had already exited ({status})"));
        }
        signal(&child, Signal::TERM);
        match wait_with_deadline(&mut child, Instant::now() + STOP_TIMEOUT) {
            Some(status) if status.success() => {}
            Some(status) => self.fail(&format!("the broker exited with {status} after SIGTERM")),
            None => {
                signal(&child, Signal::KILL);
                let _ = wait_with_deadline(&mut child, Instant::now() + KILL_TIMEOUT);
                self.fail(&format!(
                    "the broker did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed it"
                ));
            }
        }
    }

    /// Starts the broker again on the same data directory and ports, killing it first
    /// (SIGKILL) if it still runs, and waits until it accepts connections.
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        match self.spawn_and_wait() {
            Ok(()) => {}
            Err(Failure::BindConflict(_)) => self.fail(&format!(
                "restart: the broker could not bind its ports again ({} / {})",
                self.kafka_port, self.metrics_port
            )),
            Err(Failure::Fatal(message)) => self.fail(&message),
        }
    }

    /// Waits for the broker to exit by itself, for at most `timeout`; `None` if it still runs.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = wait_with_deadline(child, Instant::now() + timeout);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// The Prometheus text served at `http://<metrics_addr>/metrics`. Panics unless the
    /// answer is `200 OK` within 10 s.
    #[track_caller]
    pub fn metrics(&self) -> String {
        let (status_line, body) = http_get(self.metrics_addr(), "/metrics")
            .unwrap_or_else(|e| self.fail(&format!("GET /metrics failed: {e}")));
        if !status_line.contains(" 200") {
            self.fail(&format!("GET /metrics answered `{status_line}`:\n{body}"));
        }
        body
    }

    /// Panics with `message`, the broker's command line and the end of its log.
    #[track_caller]
    pub fn fail(&self, message: &str) -> ! {
        self.log_reported.set(true);
        panic!("{message}\n{}", self.diagnostics())
    }

    fn diagnostics(&self) -> String {
        format!(
            "broker: {} broker --data-dir {} --listen {} --metrics-listen {}\n\
             --- broker log ({}), last {LOG_TAIL_LINES} lines ---\n{}\n--- end of broker log ---",
            self.bin.display(),
            self.data_dir.display(),
            self.bootstrap(),
            self.metrics_addr(),
            self.log_path.display(),
            tail(&self.log(), LOG_TAIL_LINES),
        )
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("broker")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.bootstrap())
            .arg("--metrics-listen")
            .arg(self.metrics_addr().to_string())
            .args(&self.args);
        // Settings come from the arguments above, not from the environment of whoever runs
        // the tests (FJORD_BIN, FJORD_PYTHON and the like are the harness's own).
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FJORD_") {
                cmd.env_remove(key);
            }
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Spawns the process (log appended to `log_path`) and waits until a TCP connection to
    /// the Kafka port succeeds while the process still runs.
    fn spawn_and_wait(&mut self) -> Result<(), Failure> {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Failure::Fatal(format!("cannot open the broker log: {e}")))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.command();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let _ = writeln!(
            log,
            "==== fjord-tests: start #{} at unix time {:.3}: {} ====",
            self.starts,
            now.as_secs_f64(),
            crate::process::describe(&cmd)
        );
        let stderr = log
            .try_clone()
            .map_err(|e| Failure::Fatal(format!("cannot clone the log file handle: {e}")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| Failure::Fatal(format!("cannot start {}: {e}", self.bin.display())))?;
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let this_start = self
                    .log()
                    .get(log_start as usize..)
                    .unwrap_or_default()
                    .to_owned();
                let lower = this_start.to_lowercase();
                if lower.contains("address already in use") || lower.contains("addrinuse") {
                    return Err(Failure::BindConflict(this_start));
                }
                return Err(Failure::Fatal(format!(
                    "the broker exited ({status}) before accepting connections on {}",
                    self.bootstrap()
                )));
            }
            let ready_addr = if self.controller_only { self.metrics_addr() } else { self.kafka_addr() };
            if TcpStream::connect_timeout(&ready_addr, Duration::from_millis(500)).is_ok() {
                // Connected: make sure it was our broker that answered, not a stranger that
                // took the port while ours failed to bind.
                thread::sleep(Duration::from_millis(50));
                if matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None))) {
                    return Ok(());
                }
                continue;
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(Failure::Fatal(format!(
                    "the broker did not accept connections on {} within {READY_TIMEOUT:?}; killed it",
                    self.bootstrap()
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if thread::panicking() {
            if !self.log_reported.get() {
                eprintln!("{}", self.diagnostics());
            }
            if std::env::var_os("FJORD_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
                self.scratch.disable_cleanup(true);
                eprintln!("FJORD_TEST_KEEP: kept {}", self.scratch.path().display());
            }
        }
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                signal(&child, Signal::KILL);
            }
            let _ = wait_with_deadline(&mut child, Instant::now() + KILL_TIMEOUT);
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .expect("a child's process id is a positive i32");
    // ESRCH: it exited between our check and the signal; waiting will tell.
    let _ = kill_process(pid, signal);
}

/// Two distinct ports that were free on 127.0.0.1 a moment ago (the listeners are closed
/// before the broker binds them, so a conflict is possible and handled by retrying).
fn free_port_pair() -> (u16, u16) {
    let ports = free_ports_in(&[Ipv4Addr::LOCALHOST; 2], 10_000..20_000);
    (ports[0].port(), ports[1].port())
}

/// One free port on each of `ips`, picked at random in `range`. The ranges the harness uses
/// lie below Linux's ephemeral range (32768–60999): a port from `bind(0)` or an outgoing
/// connection's local port comes from there and could take a stopped broker's port before
/// it restarts on it.
pub(crate) fn free_ports_in(ips: &[Ipv4Addr], range: std::ops::Range<u16>) -> Vec<SocketAddr> {
    let mut held: Vec<TcpListener> = Vec::new();
    let mut seed = u64::from(std::process::id()) ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let span = u64::from(range.end - range.start);
    while held.len() < ips.len() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let port = range.start + ((seed >> 33) % span) as u16;
        let taken = held.iter().any(|l| l.local_addr().is_ok_and(|a| a.port() == port));
        if !taken && let Ok(listener) = TcpListener::bind((ips[held.len()], port)) {
            held.push(listener);
        }
    }
    held.iter().map(|l| l.local_addr().expect("local address")).collect()
}

/// A minimal HTTP/1.0 GET (no chunked encoding to undo): the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    Ok((status_line, body.to_owned()))
}
