//! The `fjord broker` process as the harness drives it: ready on its Kafka port, Prometheus
//! text on its metrics port, a clean exit 0 on SIGTERM, and a restart on the same data
//! directory and ports. The client tests rely on all of this.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use fjord_tests::{BrokerProcess, wait_until};

#[test]
fn broker_serves_metrics_stops_cleanly_and_restarts() {
    let mut broker = BrokerProcess::start();
    // The port accepts connections as soon as it is bound; the log line may follow a moment later.
    wait_until(
        "a \"listening\" line in the broker log",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || broker.log().contains("listening").then_some(()),
    );
    let metrics = broker.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| !l.is_empty() && !l.starts_with('#')),
        "no samples in /metrics:\n{metrics}"
    );

    broker.stop();
    broker.restart();
    broker.metrics();
    broker.kill();
    broker.restart();
    broker.stop();
}
