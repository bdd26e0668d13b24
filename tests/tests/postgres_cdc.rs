//! Change data capture from the real PostgreSQL, end to end:
//!
//! - a table is snapshotted, then changed by concurrent transactions (inserts, updates,
//!   deletes) while the connect worker is SIGKILLed and restarted mid-stream: every committed
//!   change reaches the topic in commit order per key (each row's version goes up one at a time
//!   from the snapshot's, none missing), and a Postgres sink replaying the topic through `extract-new-record-state`
//!   ends with a table equal to the source, column types included;
//! - a snapshot taken while rows are being inserted switches to streaming with no gap and no
//!   overlap: every row appears exactly once;
//! - a quiet captured table does not hold back the WAL that other tables write: the slot's
//!   confirmed position moves past it, and the next change of the captured table still arrives;
//! - `sslmode=require` in the connection URL encrypts every connection, the replication
//!   stream's included;
//! - a user without REPLICATION gets an error that says how to grant it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fjord_tests::{BrokerProcess, ConnectProcess, TestDatabase, http, unique_name, wait_until};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::{Value, json};

/// Runs `sql` through psql in the background (the writer racing the connector).
fn writer(db: &TestDatabase, sql: String) -> Child {
    let mut child = Command::new("psql").args([db.url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1"]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(sql.as_bytes());
    });
    child
}

fn worker(bootstrap: &str, dir: &Path, configs: &[&Path]) -> ConnectProcess {
    let mut args: Vec<String> = ["standalone", "-b", bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "300ms", "--offsets-file"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(dir.join("offsets").display().to_string());
    args.extend(configs.iter().map(|c| c.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ConnectProcess::start(&args, &dir.join("worker.log"))
}

/// Every change event of `topic` (values only; tombstones skipped), reading until `done`.
fn events(bootstrap: &str, topic: &str, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", unique_name("check")).set("auto.offset.reset", "earliest").create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while !done(&out) {
        assert!(std::time::Instant::now() < deadline, "timed out reading {topic}: {} events", out.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && let Some(payload) = m.payload() {
                let v: Value = serde_json::from_slice(payload).unwrap();
                out.push(v["payload"].clone());
            }
    }
    out
}

#[test]
fn changes_stream_in_commit_order_through_a_sigkill_and_replay_into_an_equal_table() {
    let db = TestDatabase::create("cdc");
    // `rate`, a numeric without a declared scale, holds values of several scales.
    db.query("CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), version integer NOT NULL, opened date, updated timestamptz, note jsonb, rate numeric)");
    db.query("INSERT INTO accounts SELECT i, 'owner ' || i, i * 1.5, 1, date '2020-01-01' + i, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', jsonb_build_object('n', i), round(i::numeric / 7 - 20, i % 6) FROM generate_series(1, 300) AS i");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let prefix = unique_name("shop").replace('-', "_");
    let topic = format!("{prefix}.public.accounts");
    let dir = tempfile::tempdir().unwrap();
    let cdc = dir.path().join("cdc.yaml");
    std::fs::write(&cdc, format!("name: accounts-cdc\nconnector.class: postgres-cdc\nconnection.url: {}\ntopic.prefix: {prefix}\ntable.include.list: public.accounts\n", db.url)).unwrap();
    let sink = dir.path().join("sink.json");
    std::fs::write(&sink, json!({"name": "accounts-copy", "config": {
        "connector.class": "postgres-sink", "connection.url": db.url, "topics": topic, "table.name.format": "accounts_copy",
        "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true", "auto.create": "true",
        "transforms": "unwrap", "transforms.unwrap.type": "extract-new-record-state"}}).to_string()).unwrap();

    let mut connect = worker(&bootstrap, dir.path(), &[&cdc, &sink]);
    // The writer: 1,500 transactions, each updating one row, some inserting and deleting.
    let mut sql = String::new();
    for t in 0..1500 {
        let id = 1 + (t * 7919) % 300;
        sql.push_str(&format!("BEGIN; UPDATE accounts SET balance = balance + 1, version = version + 1, updated = now(), rate = rate * -1.5 WHERE id = {id};"));
        if t % 5 == 0 {
            sql.push_str(&format!("INSERT INTO accounts VALUES ({}, 'new', 0, 1, NULL, now(), '{{\"k\": [1, 2]}}');", 1000 + t));
        }
        if t % 7 == 0 {
            sql.push_str(&format!("DELETE FROM accounts WHERE id = {};", 1000 + t - 5 * ((t / 5) % 3)));
        }
        sql.push_str(" COMMIT; SELECT pg_sleep(0.002);\n");
    }
    let mut writing = writer(&db, sql);
    std::thread::sleep(Duration::from_secs(3));
    connect.kill();
    std::thread::sleep(Duration::from_millis(500));
    connect.restart();
    assert!(writing.wait().unwrap().success(), "the writer failed");

    // Every change, in order per key: versions 1, 2, 3, … up to the row's last.
    let finals: BTreeMap<i64, i64> = db.query("SELECT id, version FROM accounts").lines().map(|l| {
        let (id, v) = l.split_once('|').unwrap();
        (id.parse().unwrap(), v.parse().unwrap())
    }).collect();
    let seen = events(&bootstrap, &topic, |evs| {
        let mut last: BTreeMap<i64, i64> = BTreeMap::new();
        for e in evs {
            if let Some(v) = e["after"]["version"].as_i64() {
                last.insert(e["after"]["id"].as_i64().unwrap(), v);
            }
        }
        finals.iter().all(|(id, v)| last.get(id) == Some(v))
    });
    let mut versions: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut variable_scales = BTreeSet::new();
    for e in &seen {
        assert!(["r", "c", "u", "d"].contains(&e["op"].as_str().unwrap()), "{e}");
        assert_eq!(e["source"]["connector"], "postgresql");
        // Numerics as Debezium's default, decimal.handling.mode=precise: a Decimal's bytes in
        // base64, and a VariableScaleDecimal's scale and bytes.
        if let Some(balance) = e["after"]["balance"].as_str() {
            assert!(!balance.contains('.'), "balance as Decimal bytes, not text: {e}");
        }
        if e["after"]["rate"].is_object() {
            assert!(e["after"]["rate"]["scale"].is_i64() && e["after"]["rate"]["value"].is_string(), "rate as a VariableScaleDecimal: {e}");
            variable_scales.insert(e["after"]["rate"]["scale"].as_i64());
        }
        if let Some(v) = e["after"]["version"].as_i64() {
            let list = versions.entry(e["after"]["id"].as_i64().unwrap()).or_default();
            // A change repeated after the kill is the same change again, never a jump back.
            if list.last() != Some(&v) {
                list.push(v);
            }
        }
    }
    assert!(variable_scales.len() > 3, "rates of several scales: {variable_scales:?}");
    for (id, list) in &versions {
        // From the version the snapshot read (changes before it are in it) to the last.
        let want: Vec<i64> = (list[0]..=*list.last().unwrap()).collect();
        assert_eq!(list, &want, "row {id}: its versions in the topic");
    }

    // The replayed table equals the source, types included.
    let columns = |table: &str| db.query(&format!("SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '{table}'"));
    let rows = |table: &str| db.try_query(&format!("SELECT id, owner, balance, version, opened, updated, note, rate FROM {table} ORDER BY id"));
    wait_until("the copy to equal the source", Duration::from_secs(120), Duration::from_millis(300), || (rows("accounts_copy").ok() == rows("accounts").ok()).then_some(()));
    assert_eq!(columns("accounts_copy"), columns("accounts"));
    connect.stop();
    drop(broker);
}

#[test]
fn a_snapshot_taken_during_inserts_switches_to_streaming_with_no_gap_and_no_overlap() {
    let db = TestDatabase::create("cdcsnap");
    db.query("CREATE TABLE events (id bigint PRIMARY KEY, body text)");
    db.query("INSERT INTO events SELECT i, repeat('x', 100) FROM generate_series(1, 30000) AS i");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let prefix = unique_name("snap").replace('-', "_");
    let dir = tempfile::tempdir().unwrap();
    let cdc = dir.path().join("cdc.properties");
    std::fs::write(&cdc, format!("name=events-cdc\nconnector.class=postgres-cdc\nconnection.url={}\ntopic.prefix={prefix}\ntable.include.list=public.events\nmax.batch.size=500\n", db.url)).unwrap();
    let mut sql = String::new();
    for i in 30_001..=32_000 {
        sql.push_str(&format!("INSERT INTO events VALUES ({i}, 'late'); SELECT pg_sleep(0.001);\n"));
    }
    let mut writing = writer(&db, sql);
    let connect = worker(&bootstrap, dir.path(), &[&cdc]);
    assert!(writing.wait().unwrap().success());
    let seen = events(&bootstrap, &format!("{prefix}.public.events"), |evs| evs.len() >= 32_000);
    std::thread::sleep(Duration::from_secs(2));
    let mut ids: Vec<i64> = seen.iter().map(|e| e["after"]["id"].as_i64().unwrap()).collect();
    let reads = seen.iter().filter(|e| e["op"] == "r").count();
    assert!(reads >= 30_000, "the snapshot read the rows there before it: {reads}");
    assert_eq!(seen.iter().filter(|e| e["source"]["snapshot"] == "last").count(), 1, "one record ends the snapshot");
    ids.sort_unstable();
    let want: Vec<i64> = (1..=32_000).collect();
    assert_eq!(ids.len(), want.len(), "every row exactly once (snapshot reads plus streamed inserts)");
    assert_eq!(ids, want);
    drop(connect);
    drop(broker);
}

#[test]
fn a_quiet_captured_table_does_not_hold_back_the_wal_other_tables_write() {
    let db = TestDatabase::create("cdcidle");
    db.query("CREATE TABLE watched (id bigint PRIMARY KEY, body text)");
    db.query("CREATE TABLE busy (id bigint PRIMARY KEY, body text)");
    db.query("INSERT INTO watched VALUES (1, 'before')");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let prefix = unique_name("idle").replace('-', "_");
    let slot = format!("idle_{}", db.name);
    let dir = tempfile::tempdir().unwrap();
    let cdc = dir.path().join("cdc.properties");
    std::fs::write(&cdc, format!("name=watched-cdc\nconnector.class=postgres-cdc\nconnection.url={}\ntopic.prefix={prefix}\ntable.include.list=public.watched\nslot.name={slot}\n", db.url)).unwrap();
    let connect = worker(&bootstrap, dir.path(), &[&cdc]);
    let topic = format!("{prefix}.public.watched");
    events(&bootstrap, &topic, |evs| evs.iter().any(|e| e["after"]["id"] == 1));

    // WAL written by a table the connector does not capture only.
    db.query("INSERT INTO busy SELECT i, repeat('x', 200) FROM generate_series(1, 20000) AS i");
    let written = db.query("SELECT pg_current_wal_lsn()");
    let confirmed = format!("SELECT coalesce(confirmed_flush_lsn >= '{written}', false) FROM pg_replication_slots WHERE slot_name = '{slot}'");
    wait_until("the slot's confirmed position to pass the other table's writes", Duration::from_secs(60), Duration::from_millis(200), || {
        (db.query(&confirmed) == "t").then_some(())
    });

    // Nothing of the captured table was skipped with it.
    db.query("INSERT INTO watched VALUES (2, 'after')");
    let seen = events(&bootstrap, &topic, |evs| evs.iter().any(|e| e["after"]["id"] == 2));
    let ids: Vec<i64> = seen.iter().filter_map(|e| e["after"]["id"].as_i64()).collect();
    assert_eq!(ids, vec![1, 2], "{seen:?}");
    drop(connect);
    drop(broker);
}

#[test]
fn sslmode_require_encrypts_every_connection_the_replication_stream_included() {
    let db = TestDatabase::create("cdctls");
    assert_eq!(db.query("SHOW ssl"), "on", "this test needs a PostgreSQL with TLS (Debian's packages turn it on)");
    db.query("CREATE TABLE secrets (id bigint PRIMARY KEY, body text)");
    db.query("INSERT INTO secrets VALUES (1, 'one')");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let prefix = unique_name("tls").replace('-', "_");
    let dir = tempfile::tempdir().unwrap();
    let cdc = dir.path().join("cdc.properties");
    std::fs::write(&cdc, format!("name=tls-cdc\nconnector.class=postgres-cdc\nconnection.url={}?sslmode=require\ntopic.prefix={prefix}\ntable.include.list=public.secrets\n", db.url)).unwrap();
    let connect = worker(&bootstrap, dir.path(), &[&cdc]);
    let topic = format!("{prefix}.public.secrets");
    events(&bootstrap, &topic, |evs| evs.iter().any(|e| e["after"]["id"] == 1));
    db.query("INSERT INTO secrets VALUES (2, 'two')");
    events(&bootstrap, &topic, |evs| evs.iter().any(|e| e["after"]["id"] == 2));
    let connections = format!(
        "SELECT a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'fjord-connect%' AND a.datname = '{}' ORDER BY 1",
        db.name
    );
    let rows = db.query(&connections);
    assert!(rows.lines().any(|l| l == "walsender|t"), "the replication stream is encrypted: {rows}");
    assert!(rows.lines().any(|l| l == "client backend|t"), "the query connection is encrypted: {rows}");
    assert!(rows.lines().all(|l| l.ends_with("|t")), "no connection in the clear: {rows}");
    drop(connect);
    drop(broker);
}

#[test]
fn a_user_without_replication_rights_is_told_how_to_grant_them() {
    let db = TestDatabase::create("cdcrights");
    let role = format!("norepl_{}", db.name);
    db.query(&format!("CREATE ROLE {role} LOGIN"));
    let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    let broker = BrokerProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let connect = worker(&broker.bootstrap(), dir.path(), &[]);
    let addr = connect.rest_addr();
    let body = json!({"name": "denied", "config": {"connector.class": "postgres-cdc", "connection.url": url, "topic.prefix": "x"}}).to_string();
    assert_eq!(http(addr, "POST", "/connectors", Some(&body)).unwrap().status, 201);
    let status = wait_until("the task to fail", Duration::from_secs(60), Duration::from_millis(100), || {
        let s = http(addr, "GET", "/connectors/denied/status", None).ok()?.json();
        (s["tasks"][0]["state"] == "FAILED").then_some(s)
    });
    assert!(status["tasks"][0]["trace"].as_str().unwrap().contains("REPLICATION"), "{status}");
    drop(connect);
    db.query(&format!("DROP ROLE {role}"));
}
