//! kafka-python (the pure-Python client, its own protocol implementation) against a real
//! `fjord broker`: admin create/delete, keyed produce, group consume, commits, end/beginning
//! offsets and offsets for times. The scenario is `tests/python/kafka_python_check.py`; this
//! test runs it and checks its summary. `FJORD_TEST_CLIENT_DEBUG=1` adds kafka-python's
//! debug log (every request and response) to the output.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use fjord_tests::{BrokerProcess, run_python_check, unique_name};
use serde_json::{Value, json};

const RECORDS: u64 = 500;

#[test]
fn kafka_python_admin_produce_consume_commit() {
    let mut broker = BrokerProcess::start();
    let prefix = unique_name("kp");
    let records = RECORDS.to_string();
    let mut args = vec![broker.bootstrap(), prefix, "--records".into(), records];
    if std::env::var_os("FJORD_TEST_CLIENT_DEBUG").is_some() {
        args.push("--debug".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (summary, output) =
        run_python_check("kafka_python_check.py", &args, Duration::from_secs(300));
    eprintln!("{}", output.stderr);

    assert_eq!(summary["records"], json!(RECORDS));
    assert_eq!(summary["consumed"], json!(RECORDS));
    assert_eq!(summary["brokers"], json!([broker.bootstrap()]));
    let counts = summary["partition_counts"]
        .as_object()
        .expect("partition_counts");
    assert_eq!(counts.len(), 3, "{summary}");
    assert_eq!(
        counts.values().filter_map(Value::as_u64).sum::<u64>(),
        RECORDS
    );
    for (partition, count) in counts {
        assert_eq!(&summary["committed"][partition], count, "{summary}");
        assert_eq!(&summary["end_offsets"][partition], count, "{summary}");
    }

    assert!(
        !broker.log().contains("panicked"),
        "the broker panicked:\n{}",
        broker.log()
    );
    broker.stop();
}
