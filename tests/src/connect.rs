//! `fjord connect` worker processes for tests: started with their arguments, their output in
//! a log file, stopped cleanly (SIGTERM, must exit 0) or killed (SIGKILL).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::broker::fjord_bin;
use crate::process::{tail, wait_with_deadline};

/// One `fjord connect …` process. Dropping it kills it.
#[derive(Debug)]
pub struct ConnectProcess {
    args: Vec<String>,
    log_path: PathBuf,
    /// Where the newest start's output begins in the log.
    log_start: usize,
    child: Option<Child>,
}

impl ConnectProcess {
    /// Starts `fjord connect ARGS…`, its output appended to `log_path`.
    #[track_caller]
    pub fn start(args: &[&str], log_path: &Path) -> Self {
        let mut process = Self { args: args.iter().map(|s| s.to_string()).collect(), log_path: log_path.to_path_buf(), log_start: 0, child: None };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        self.log_start = self.log().len();
        let log = File::options().create(true).append(true).open(&self.log_path).unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path.display()));
        let err = log.try_clone().unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path.display()));
        let child = Command::new(fjord_bin())
            .arg("connect")
            .args(&self.args)
            .env("FJORD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", fjord_bin().display()));
        self.child = Some(child);
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The address its REST API listens on, read from its log (waits up to a minute for it).
    #[track_caller]
    pub fn rest_addr(&self) -> std::net::SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            // The newest start's line: `rest=http://HOST:PORT/connectors`.
            if let Some(at) = log.get(self.log_start..).and_then(|l| l.find("rest=http://")).map(|at| at + self.log_start) {
                let rest = &log[at + "rest=http://".len()..];
                if let Some(addr) = rest.split('/').next().and_then(|a| a.parse().ok()) {
                    return addr;
                }
            }
            assert!(Instant::now() < deadline, "fjord connect did not report its REST address within a minute; log:\n{}", tail(&log, 80));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM; asserts a clean exit (status 0) within 30 s.
    #[track_caller]
    pub fn stop(&mut self) {
        let mut child = self.child.take().unwrap_or_else(|| panic!("stop(): not running"));
        send(&child, Signal::TERM);
        match wait_with_deadline(&mut child, Instant::now() + Duration::from_secs(30)) {
            Some(status) if status.success() => {}
            Some(status) => panic!("fjord connect exited with {status} after SIGTERM; log:\n{}", tail(&self.log(), 80)),
            None => {
                send(&child, Signal::KILL);
                let _ = wait_with_deadline(&mut child, Instant::now() + Duration::from_secs(10));
                panic!("fjord connect did not exit within 30 s of SIGTERM; log:\n{}", tail(&self.log(), 80));
            }
        }
    }

    /// SIGKILL, no chance to flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            send(&child, Signal::KILL);
            let _ = wait_with_deadline(&mut child, Instant::now() + Duration::from_secs(10));
        }
    }

    /// Starts it again with the same arguments (after `stop` or `kill`).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for ConnectProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- fjord connect log ({}) ---\n{}", self.log_path.display(), tail(&self.log(), 80));
        }
        self.kill();
    }
}

fn send(child: &Child, signal: Signal) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, signal);
    }
}
