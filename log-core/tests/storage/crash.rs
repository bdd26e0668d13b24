//! Crash test: a child process appends with fsync on every append and reports each
//! acknowledged offset; the parent kills it with SIGKILL at random moments and reopens the
//! log. Every acknowledged record must be there, intact, and nothing torn may be served.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fjord_log_core::storage::{FlushPolicy, LogConfig, PartitionLog};
use rand::Rng;

use crate::support::*;

const DIR_ENV: &str = "FJORD_CRASH_TEST_DIR";
const ROUNDS: usize = 16;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 32 * 1024,
        index_interval_bytes: 512,
        retention_ms: None,
        flush: FlushPolicy::every_append(),
        max_message_bytes: 64 << 20,
        ..LogConfig::default()
    }
}

/// The child's body: runs only when the parent sets the directory variable.
#[test]
#[ignore = "run by crash::sigkill_never_loses_an_acknowledged_record as a child process"]
fn child_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let mut log = open(std::path::Path::new(&dir), config());
    let mut rng = rand::rng();
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..100_000 {
        if Instant::now() > deadline {
            break;
        }
        // Mostly small appends; every few, one of several MiB, which a SIGKILL can cut
        // short in the middle of the write.
        let (records, pad) = if i % 4 == 3 { (64, rng.random_range(32_000..128_000)) } else { (rng.random_range(1..20), rng.random_range(0..400)) };
        let info = append_self_describing(&mut log, records, pad, 0);
        assert!(info.synced);
        println!("ACK {}", info.last_offset);
    }
}

#[test]
fn sigkill_never_loses_an_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acked_end = 0u64;
    let mut total_truncated = 0u64;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash::child_writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("ACK ").and_then(|n| n.parse::<u64>().ok()) {
                    let _ = tx.send(n);
                }
            }
        });
        // Wait for the first acknowledgement, then kill at a random moment.
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("child appends");
        std::thread::sleep(Duration::from_millis(rng.random_range(1..150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let last_acked = rx.try_iter().last().unwrap_or(first);
        acked_end = acked_end.max(last_acked + 1);

        let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
        total_truncated += report.truncated_bytes;
        assert!(log.log_end_offset() >= acked_end, "round {round}: log ends at {} but {} was acknowledged", log.log_end_offset(), acked_end - 1);
        let records = read_all(&log);
        assert_eq!(records.len() as u64, log.log_end_offset(), "round {round}: offsets are contiguous");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            let value = r.value.as_deref().unwrap();
            let prefix = format!("offset-{}-", r.offset);
            assert!(value.starts_with(prefix.as_bytes()), "round {round}: record {i} holds the wrong bytes");
        }
        acked_end = log.log_end_offset();
        drop(log);
    }
    assert!(acked_end > 0);
    eprintln!("{ROUNDS} kills, {acked_end} records, {total_truncated} torn bytes cut on recovery");
}
