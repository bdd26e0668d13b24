//! The `fjord` binary as a user runs it: real processes, real data directories, real signals.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use fjord_log_core::storage::{
    AppendOptions, BatchBuilder, CLEAN_SHUTDOWN_FILE, Compression, LogConfig, PartitionLog,
    TimestampType,
};

const FJORD: &str = env!("CARGO_BIN_EXE_fjord");

fn fjord(args: &[&str]) -> Output {
    Command::new(FJORD)
        .args(args)
        .env_remove("FJORD_LOG")
        .output()
        .expect("run fjord")
}

/// Writes `batches` batches of 5 records each into the partition log at `dir`.
fn write_log(dir: &Path, batches: usize) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, LogConfig::default()).expect("open the log");
    for b in 0..batches {
        let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
        for i in 0..5 {
            let key = format!("key-{b}-{i}");
            builder.push(
                i,
                1_700_000_000_000 + i,
                Some(key.as_bytes()),
                Some(&b"value"[..]),
                &[],
            );
        }
        let mut bytes = builder.build().unwrap();
        log.append(
            &mut bytes,
            AppendOptions {
                leader_epoch: 0,
                now_ms: 1_700_000_000_000,
            },
        )
        .expect("append");
    }
    log
}

/// Kills the child when dropped, so a failing assertion never leaves a `fjord dev` behind.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `fjord dev` on free ports and returns once it says it is ready, with everything it
/// printed and the Kafka and metrics ports.
fn start_dev(data_dir: &Path) -> (Child, String, u16, u16) {
    let (kafka, metrics) = (free_port(), free_port());
    let mut child = Command::new(FJORD)
        .args(["dev", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{kafka}"), "--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--connect-listen", "127.0.0.1:0"])
        .env_remove("FJORD_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fjord dev");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).expect("read fjord dev's stdout"), 0, "fjord dev exited early; it printed:\n{printed}");
        printed.push_str(&line);
        if line.starts_with("Ready.") {
            break;
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, printed, kafka, metrics)
}

/// `GET /metrics` over plain HTTP/1.0.
fn get_metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics endpoint");
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\"",
            "sh",
            signal,
            &child.id().to_string(),
        ])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} failed");
}

#[test]
fn version_names_the_binary_and_the_release() {
    let out = fjord(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("fjord {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_explains_fjord_and_shows_examples() {
    let out = fjord(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in ["Kafka", "fjord dev", "fjord broker", "fjord log dump", "FJORD_LOG"] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
}

#[test]
fn dev_prints_its_endpoints_serves_metrics_and_stops_cleanly_on_sigint() {
    let data = tempfile::tempdir().unwrap();
    let (child, printed, kafka, metrics) = start_dev(data.path());
    let mut child = Reap(child);
    assert!(printed.contains(&format!("Kafka bootstrap server  127.0.0.1:{kafka}")), "{printed}");
    assert!(printed.contains(&format!("http://127.0.0.1:{metrics}/metrics")), "{printed}");
    // A Kafka client can connect (the listener is up) and the metrics say so.
    let kafka_conn = std::net::TcpStream::connect(("127.0.0.1", kafka)).expect("the Kafka listener accepts connections");
    let body = get_metrics(metrics);
    assert!(body.starts_with("HTTP/1.") && body.contains(" 200 "), "{body}");
    assert!(body.contains("fjord_broker_partitions 50"), "__consumer_offsets is hosted:\n{body}");
    drop(kafka_conn);

    send_signal(&child.0, "INT");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let offsets = data.path().join("logs").join("__consumer_offsets-0");
    assert!(offsets.join(CLEAN_SHUTDOWN_FILE).exists(), "partitions are closed cleanly");
}

#[test]
fn dev_stops_cleanly_on_sigterm_and_refuses_a_second_instance() {
    let data = tempfile::tempdir().unwrap();
    let (child, _, _, _) = start_dev(data.path());
    let mut child = Reap(child);

    let second = fjord(&["dev", "--data-dir", data.path().to_str().unwrap()]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by another fjord process"));

    send_signal(&child.0, "TERM");
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn log_dump_prints_one_json_object_per_batch() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("logs").join("orders-0");
    write_log(&dir, 4).close().unwrap();

    let out = fjord(&["log", "dump", dir.to_str().unwrap(), "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[3].starts_with(r#"{"base_offset":15,"last_offset":19,"count":5,"#),
        "{}",
        lines[3]
    );
    assert!(lines.iter().all(|l| l.contains(r#""crc_valid":true"#)));
}

#[test]
fn log_dump_reports_a_corrupt_batch_and_fails() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("orders-0");
    let mut log = write_log(&dir, 2);
    log.roll().unwrap();
    drop(log);
    write_log(&dir, 1).close().unwrap();
    // Flip a byte inside the first batch's records. The log was closed cleanly and the damage
    // is in an inactive segment, so opening does not scan (and cut) it: the dump finds it.
    let segment = dir.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[70] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();

    let out = fjord(&["log", "dump", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("baseOffset: 0 lastOffset: 4 count: 5")
            && stdout.contains("crcValid: false"),
        "{stdout}"
    );
    assert!(
        stdout.contains("baseOffset: 10 lastOffset: 14 count: 5"),
        "the dump goes on past a bad CRC:\n{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 of 3 batches failed the CRC-32C check"),
        "{stderr}"
    );
}

#[test]
fn log_dump_refuses_a_directory_that_is_not_a_partition() {
    let data = tempfile::tempdir().unwrap();
    let out = fjord(&["log", "dump", data.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no segment files"));
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "the dump must not create a log"
    );
}
