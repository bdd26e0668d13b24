//! The connect worker's REST API against Kafka Connect's documented behaviour, driven over
//! HTTP as curl scripts and consoles drive it: create (201, 409 for a second time), list with
//! `?expand=`, status, pause/resume (202), restart, stop, offsets (read; altered and reset
//! only when stopped), config get/put/patch, validate with per-key errors, 400/404 bodies as
//! `{"error_code", "message"}`, secrets not echoed, a failing task restarted by itself
//! with its failure and restart count in the status, and Prometheus metrics on `/metrics`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fjord_tests::{BrokerProcess, ConnectProcess, HttpAnswer, fjord_bin, http, run, unique_name, wait_until};
use serde_json::{Value, json};

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> HttpAnswer {
    let body = body.map(|b| b.to_string());
    http(addr, method, path, body.as_deref()).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[track_caller]
fn expect(answer: &HttpAnswer, status: u16) -> Value {
    assert_eq!(answer.status, status, "body: {}", answer.body);
    if answer.body.is_empty() { Value::Null } else { answer.json() }
}

fn wait_for_state(addr: SocketAddr, name: &str, connector: &str, task: Option<&str>) -> Value {
    wait_until(&format!("{name} to be {connector}/{task:?}"), Duration::from_secs(60), Duration::from_millis(100), || {
        let status = call(addr, "GET", &format!("/connectors/{name}/status"), None);
        if status.status != 200 {
            return None;
        }
        let status = status.json();
        let connector_ok = status["connector"]["state"] == connector;
        let task_ok = match task {
            None => status["tasks"].as_array().is_some_and(Vec::is_empty),
            Some(state) => status["tasks"][0]["state"] == state,
        };
        (connector_ok && task_ok).then_some(status)
    })
}

fn start_worker(bootstrap: &str, dir: &Path) -> ConnectProcess {
    let offsets = dir.join("offsets").display().to_string();
    ConnectProcess::start(
        &["standalone", "-b", bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "500ms", "--offsets-file", &offsets],
        &dir.join("worker.log"),
    )
}

#[test]
fn the_rest_api_answers_as_kafka_connect_does() {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("rest");
    run(Command::new(fjord_bin()).args(["topic", "create", &topic, "-b", &bootstrap]), None, Duration::from_secs(60)).assert_success();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\nb\nc\n").unwrap();
    let worker = start_worker(&bootstrap, dir.path());
    let addr = worker.rest_addr();

    let root = expect(&call(addr, "GET", "/", None), 200);
    assert!(root["version"].is_string());
    let plugins = expect(&call(addr, "GET", "/connector-plugins", None), 200);
    let classes: Vec<&str> = plugins.as_array().unwrap().iter().filter_map(|p| p["class"].as_str()).collect();
    assert!(classes.contains(&"file-source") && classes.contains(&"file-sink"), "{plugins}");

    // Validate: one answer with an error per bad key.
    let validated = expect(&call(addr, "PUT", "/connector-plugins/file-sink/config/validate", Some(json!({"connector.class": "file-sink", "name": "x", "topics": "t", "format": "xml"}))), 200);
    assert_eq!(validated["error_count"], 2, "{validated}");
    let errors_of = |key: &str| validated["configs"].as_array().unwrap().iter().find(|c| c["value"]["name"] == key).unwrap()["value"]["errors"].clone();
    assert!(errors_of("file")[0].as_str().unwrap().contains("Missing required configuration"), "{validated}");
    assert!(errors_of("format")[0].as_str().unwrap().contains("lines, json"), "{validated}");

    // Create, and create again.
    let source = json!({"name": "src", "config": {"connector.class": "FileStreamSource", "file": input, "topic": topic, "value.converter": "string", "secret.note": "${env:HOME}"}});
    let created = expect(&call(addr, "POST", "/connectors", Some(source.clone())), 201);
    assert_eq!(created["name"], "src");
    assert_eq!(created["type"], "source");
    assert_eq!(created["tasks"][0], json!({"connector": "src", "task": 0}));
    let again = expect(&call(addr, "POST", "/connectors", Some(source)), 409);
    assert_eq!(again["error_code"], 409);
    assert!(again["message"].as_str().unwrap().contains("already exists"));
    assert_eq!(expect(&call(addr, "GET", "/connectors", None), 200), json!(["src"]));
    let expanded = expect(&call(addr, "GET", "/connectors?expand=status&expand=info", None), 200);
    assert_eq!(expanded["src"]["info"]["name"], "src");
    assert!(expanded["src"]["status"]["connector"]["state"].is_string());
    // The placeholder is stored and shown as written; its value is never echoed.
    assert_eq!(expect(&call(addr, "GET", "/connectors/src/config", None), 200)["secret.note"], "${env:HOME}");

    // Bad requests.
    let missing = expect(&call(addr, "GET", "/connectors/nope", None), 404);
    assert_eq!(missing, json!({"error_code": 404, "message": "Connector nope not found"}));
    let broken = http(addr, "POST", "/connectors", Some("{\"name\": ")).unwrap();
    assert_eq!(expect(&broken, 400)["error_code"], 400);
    let unknown = expect(&call(addr, "POST", "/connectors", Some(json!({"name": "u", "config": {"connector.class": "nope"}}))), 400);
    assert!(unknown["message"].as_str().unwrap().contains("unknown connector.class"), "{unknown}");
    assert_eq!(expect(&call(addr, "GET", "/no/such/path", None), 404)["error_code"], 404);

    // The source runs, reads the file, stores its offsets.
    wait_for_state(addr, "src", "RUNNING", Some("RUNNING"));
    let offsets = wait_until("source offsets", Duration::from_secs(60), Duration::from_millis(200), || {
        let o = expect(&call(addr, "GET", "/connectors/src/offsets", None), 200);
        (o["offsets"][0]["offset"]["position"] == 6).then_some(o)
    });
    assert!(offsets["offsets"][0]["partition"]["inode"].is_u64(), "{offsets}");
    // Prometheus metrics beside the API.
    let metrics = http(addr, "GET", "/metrics", None).unwrap();
    assert_eq!(metrics.status, 200);
    for series in [
        r#"fjord_connect_source_records_polled_total{connector="src",task="0"} 3"#,
        r#"fjord_connect_source_records_written_total{connector="src",task="0"} 3"#,
        r#"fjord_connect_task_state{connector="src",task="0",state="RUNNING"} 1"#,
    ] {
        assert!(metrics.body.contains(series), "no {series} in:\n{}", metrics.body);
    }

    // Pause and resume.
    expect(&call(addr, "PUT", "/connectors/src/pause", None), 202);
    wait_for_state(addr, "src", "PAUSED", Some("PAUSED"));
    expect(&call(addr, "PUT", "/connectors/src/resume", None), 202);
    wait_for_state(addr, "src", "RUNNING", Some("RUNNING"));
    let restarted = expect(&call(addr, "POST", "/connectors/src/restart?includeTasks=true", None), 202);
    assert_eq!(restarted["name"], "src");
    expect(&call(addr, "POST", "/connectors/src/restart", None), 204);
    expect(&call(addr, "POST", "/connectors/src/tasks/0/restart", None), 204);
    assert_eq!(expect(&call(addr, "GET", "/connectors/src/tasks/0/status", None), 200)["id"], 0);
    assert_eq!(expect(&call(addr, "GET", "/connectors/src/tasks/7/status", None), 404)["error_code"], 404);

    // Offsets change only when stopped.
    let reset_running = expect(&call(addr, "DELETE", "/connectors/src/offsets", None), 400);
    assert!(reset_running["message"].as_str().unwrap().contains("STOPPED"), "{reset_running}");
    expect(&call(addr, "PUT", "/connectors/src/stop", None), 204);
    wait_for_state(addr, "src", "STOPPED", None);
    let partition = offsets["offsets"][0]["partition"].clone();
    let mut offset = offsets["offsets"][0]["offset"].clone();
    offset["position"] = json!(2);
    expect(&call(addr, "PATCH", "/connectors/src/offsets", Some(json!({"offsets": [{"partition": partition, "offset": offset}]}))), 200);
    assert_eq!(expect(&call(addr, "GET", "/connectors/src/offsets", None), 200)["offsets"][0]["offset"]["position"], 2);
    expect(&call(addr, "DELETE", "/connectors/src/offsets", None), 200);
    assert_eq!(expect(&call(addr, "GET", "/connectors/src/offsets", None), 200)["offsets"], json!([]));

    // Reconfigure: PUT replaces, PATCH merges.
    let mut config = expect(&call(addr, "GET", "/connectors/src/config", None), 200);
    config["batch.size"] = json!("10");
    assert_eq!(call(addr, "PUT", "/connectors/src/config", Some(config)).status, 200);
    let patched = expect(&call(addr, "PATCH", "/connectors/src/config", Some(json!({"batch.size": null, "poll.interval.ms": "50"}))), 200);
    assert_eq!(patched["config"]["poll.interval.ms"], "50");
    assert!(patched["config"].get("batch.size").is_none(), "{patched}");
    let mismatch = expect(&call(addr, "PUT", "/connectors/src/config", Some(json!({"name": "other", "connector.class": "file-source"}))), 400);
    assert!(mismatch["message"].as_str().unwrap().contains("doesn't match"), "{mismatch}");

    // A sink that cannot open its file fails, and is retried by itself with the count shown.
    let failing = json!({"name": "bad-sink", "config": {"connector.class": "file-sink", "topics": topic, "file": "/nonexistent-dir/out.txt"}});
    expect(&call(addr, "POST", "/connectors", Some(failing)), 201);
    let failed = wait_until("the sink to fail twice", Duration::from_secs(60), Duration::from_millis(200), || {
        let s = expect(&call(addr, "GET", "/connectors/bad-sink/status", None), 200);
        (s["tasks"][0]["restarts"].as_u64().unwrap_or(0) >= 2).then_some(s)
    });
    assert!(failed["tasks"][0]["trace"].as_str().unwrap().contains("nonexistent-dir"), "{failed}");

    expect(&call(addr, "DELETE", "/connectors/bad-sink", None), 204);
    expect(&call(addr, "DELETE", "/connectors/src", None), 204);
    expect(&call(addr, "GET", "/connectors/src", None), 404);
    assert_eq!(expect(&call(addr, "GET", "/connectors", None), 200), json!([]));
    drop(worker);
    drop(broker);
}
