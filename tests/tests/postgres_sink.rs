//! The PostgreSQL sink against the real server: keyed JSON records (with schemas) upserted and
//! deleted by key into a table it creates and widens itself, and the same records appended to
//! a second table; the worker is SIGKILLed mid-stream and restarted. The upserted table then
//! holds exactly each key's last state, and the appended table every record exactly once
//! (the offsets are stored in the database in the same transaction as the rows).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use fjord_tests::{BrokerProcess, ConnectProcess, Rng, TestDatabase, fjord_bin, run, unique_name, wait_until};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::json;

const PARTITIONS: u32 = 3;

fn key(id: u32) -> String {
    json!({"schema": {"type": "struct", "optional": false, "fields": [{"field": "id", "type": "int32", "optional": false}]}, "payload": {"id": id}}).to_string()
}

fn value(id: u32, name: &str, score: i64, email: Option<&str>) -> String {
    let mut fields = vec![
        json!({"field": "id", "type": "int32", "optional": false}),
        json!({"field": "name", "type": "string", "optional": true}),
        json!({"field": "score", "type": "int64", "optional": true}),
    ];
    let mut payload = json!({"id": id, "name": name, "score": score});
    if let Some(email) = email {
        fields.push(json!({"field": "email", "type": "string", "optional": true}));
        payload["email"] = json!(email);
    }
    json!({"schema": {"type": "struct", "optional": false, "name": "user", "fields": fields}, "payload": payload}).to_string()
}

/// Produces `count` changes to random users (a delete now and then); returns the rows written
/// (non-deletes) and updates `state` to each user's last row.
fn produce(bootstrap: &str, topic: &str, rng: &mut Rng, count: usize, with_email: bool, state: &mut BTreeMap<u32, String>) -> usize {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new().set("bootstrap.servers", bootstrap).set("enable.idempotence", "true").set("linger.ms", "5").create().unwrap();
    let mut rows = 0;
    for i in 0..count {
        let id = u32::try_from(rng.below(300)).unwrap() + 1;
        let k = key(id);
        if rng.below(10) == 0 {
            producer.send(BaseRecord::<String, String>::to(topic).key(&k)).map_err(|(e, _)| e).unwrap();
            state.remove(&id);
        } else {
            let name = format!("user {id} v{i}");
            let score = i64::try_from(rng.below(1_000_000)).unwrap();
            let email = with_email.then(|| format!("u{id}@example.com"));
            let v = value(id, &name, score, email.as_deref());
            producer.send(BaseRecord::to(topic).key(&k).payload(&v)).map_err(|(e, _)| e).unwrap();
            state.insert(id, format!("{id}|{name}|{score}|{}", email.unwrap_or_default()));
            rows += 1;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    rows
}

fn stored_total(db: &TestDatabase, connector: &str) -> i64 {
    db.try_query(&format!("SELECT coalesce(sum(next_offset), 0) FROM __fjord_connect_offsets WHERE connector = '{connector}'")).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `fjord connect standalone` running `config`, its offsets and log in `dir`.
fn standalone(bootstrap: &str, dir: &std::path::Path, config: &std::path::Path) -> ConnectProcess {
    ConnectProcess::start(
        &["standalone", "-b", bootstrap, "--rest-listen", "127.0.0.1:0", "--offsets-file", &dir.join("o").display().to_string(), &config.display().to_string()],
        &dir.join("worker.log"),
    )
}

#[test]
fn the_postgres_sink_upserts_deletes_and_appends_exactly_once_across_a_sigkill() {
    let db = TestDatabase::create("sink");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("users");
    run(Command::new(fjord_bin()).args(["topic", "create", &topic, "--partitions", &PARTITIONS.to_string(), "-b", &bootstrap]), None, Duration::from_secs(60)).assert_success();

    let dir = tempfile::tempdir().unwrap();
    let upserts = dir.path().join("upserts.json");
    std::fs::write(&upserts, json!({"name": "users-upsert", "config": {
        "connector.class": "postgres-sink", "connection.url": db.url, "topics": topic, "table.name.format": "users",
        "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true", "auto.create": "true", "auto.evolve": "true",
        "max.buffered.records": "700"}}).to_string()).unwrap();
    let appends = dir.path().join("appends.yaml");
    std::fs::write(&appends, format!(
        "name: users-append\nconnector.class: io.confluent.connect.jdbc.JdbcSinkConnector\nconnection.url: {}\ntopics: {topic}\ntable.name.format: users_log\nauto.create: true\nauto.evolve: true\nmax.buffered.records: 500\n",
        db.url
    )).unwrap();
    let args: Vec<String> = ["standalone", "-b", &bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "300ms",
        "--offsets-file", &dir.path().join("offsets").display().to_string(), &upserts.display().to_string(), &appends.display().to_string()]
        .iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut rng = Rng::new(7);
    let mut state = BTreeMap::new();
    let mut rows = produce(&bootstrap, &topic, &mut rng, 20_000, false, &mut state);
    let mut worker = ConnectProcess::start(&args, &dir.path().join("worker.log"));
    wait_until("part of the records in the database", Duration::from_secs(120), Duration::from_millis(20), || (stored_total(&db, "users-append") >= 3000).then_some(()));
    worker.kill();
    // More changes while it is down, with a new field (the tables gain a column).
    rows += produce(&bootstrap, &topic, &mut rng, 5_000, true, &mut state);
    worker.restart();
    let total = 25_000;
    wait_until("every record in the database", Duration::from_secs(180), Duration::from_millis(100), || {
        (stored_total(&db, "users-upsert") == total && stored_total(&db, "users-append") == total).then_some(())
    });
    worker.stop();

    let got = db.query("SELECT id, name, score, coalesce(email, '') FROM users ORDER BY id");
    let want: Vec<String> = state.values().cloned().collect();
    assert_eq!(got.lines().collect::<Vec<_>>(), want, "the upserted table is each key's last state");
    let logged: usize = db.query("SELECT count(*) FROM users_log").parse().unwrap();
    assert_eq!(logged, rows, "every non-delete record appended exactly once");
    let columns = db.query("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'users'");
    assert_eq!(columns, "id:integer,name:text,score:bigint,email:text");
    let pk = db.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'users'::regclass AND i.indisprimary");
    assert_eq!(pk, "id");
    drop(broker);
}

#[test]
fn a_postgres_sink_with_a_bad_config_or_a_missing_table_says_what_to_do() {
    let db = TestDatabase::create("sinkbad");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("rows");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.properties");
    std::fs::write(&config, format!("name=bad\nconnector.class=postgres-sink\nconnection.url={}\ntopics={topic}\ninsert.mode=upsert\n", db.url)).unwrap();
    let mut worker = standalone(&bootstrap, dir.path(), &config);
    let addr = worker.rest_addr();
    let status = wait_until("the task to fail", Duration::from_secs(60), Duration::from_millis(100), || {
        let s = fjord_tests::http(addr, "GET", "/connectors/bad/status", None).ok()?.json();
        (s["tasks"][0]["state"] == "FAILED").then_some(s)
    });
    assert!(status["tasks"][0]["trace"].as_str().unwrap().contains("pk.mode"), "{status}");
    // No table and no auto.create: the record waits, the task says which table to create.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    producer.send(BaseRecord::<str, str>::to(&topic).payload(r#"{"a": 1}"#)).map_err(|(e, _)| e).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let body = json!({"connector.class": "postgres-sink", "connection.url": db.url, "topics": topic, "value.converter.schemas.enable": "false"}).to_string();
    let put = fjord_tests::http(addr, "PUT", "/connectors/bad/config", Some(&body)).unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    let status = wait_until("the task to fail on the missing table", Duration::from_secs(60), Duration::from_millis(100), || {
        let s = fjord_tests::http(addr, "GET", "/connectors/bad/status", None).ok()?.json();
        s["tasks"][0]["trace"].as_str().is_some_and(|t| t.contains("does not exist")).then_some(s)
    });
    assert!(status["tasks"][0]["trace"].as_str().unwrap().contains("auto.create"), "{status}");
    worker.stop();
}

/// Plain inserts stream into an open transaction as they arrive; a value PostgreSQL refuses in
/// the middle of a streamed batch fails the task with the column named, and what the table holds
/// is exactly the batches committed with their offsets, nothing of the refused one.
#[test]
fn a_value_postgresql_refuses_mid_stream_fails_the_task_and_commits_nothing_of_its_batch() {
    let db = TestDatabase::create("sinkstream");
    db.query("CREATE TABLE amounts (id bigint, amount numeric(12,2))");
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("amounts");
    let schema = json!({"type": "struct", "optional": false, "fields": [{"field": "id", "type": "int64", "optional": false}, {"field": "amount", "type": "string", "optional": true}]});
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "5").create().unwrap();
    let bad = 7_321;
    for id in 0..12_000u32 {
        let amount = if id == bad { "not a number".to_string() } else { format!("{}.{:02}", id, id % 100) };
        let v = json!({"schema": schema, "payload": {"id": id, "amount": amount}}).to_string();
        producer.send(BaseRecord::<str, String>::to(&topic).payload(&v)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("amounts.json");
    std::fs::write(&config, json!({"name": "amounts", "config": {
        "connector.class": "postgres-sink", "connection.url": db.url, "topics": topic, "table.name.format": "amounts",
        "max.buffered.records": "3000", "errors.retry.timeout": "0"}}).to_string()).unwrap();
    let mut worker = standalone(&bootstrap, dir.path(), &config);
    let addr = worker.rest_addr();
    let status = wait_until("the task to fail on the refused value", Duration::from_secs(120), Duration::from_millis(100), || {
        let s = fjord_tests::http(addr, "GET", "/connectors/amounts/status", None).ok()?.json();
        s["tasks"][0]["trace"].as_str().is_some_and(|t| t.contains("not a number")).then_some(s)
    });
    let trace = status["tasks"][0]["trace"].as_str().unwrap().to_string();
    assert!(trace.contains("amounts"), "the error names the table: {trace}");
    worker.stop();
    let stored = stored_total(&db, "amounts");
    let rows: i64 = db.query("SELECT count(*) FROM amounts").parse().unwrap();
    assert!(stored >= 3000 && stored <= i64::from(bad), "whole batches before the refused value were committed (stored {stored})");
    assert_eq!(rows, stored, "the table holds exactly the committed offsets' rows");
    let max: i64 = db.query("SELECT coalesce(max(id), -1) FROM amounts").parse().unwrap();
    assert_eq!(max + 1, stored, "in order, nothing of the refused batch");
    drop(broker);
}
