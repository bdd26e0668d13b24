//! The runnable examples in `examples/`, run as a user runs them (their script, `fjord dev`,
//! the machine's PostgreSQL) on free ports: each must finish with status 0.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fjord_tests::{fjord_bin, postgres_url, run};

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_postgres_cdc_roundtrip_example_runs() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/postgres-cdc-roundtrip/run.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("FJORD_BIN", fjord_bin())
        .env("FJORD_POSTGRES_URL", postgres_url())
        .env("KAFKA_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("CONNECT_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("METRICS_LISTEN", format!("127.0.0.1:{}", free_port()));
    let out = run(&mut cmd, None, Duration::from_secs(240));
    out.assert_success();
    assert!(out.stdout.contains("orders_copy equals orders: 21 rows"), "{out}");
    assert!(out.stdout.contains("amount numeric"), "the copy has the source's column types:\n{out}");
}
