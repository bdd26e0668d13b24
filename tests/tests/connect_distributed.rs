//! Workers in a group (`fjord connect worker --group-id`): connectors created through one
//! worker are seen by the other, their tasks are divided between the two, a target state set
//! through one reaches tasks running on the other, and when a worker is SIGKILLed the
//! survivor takes its tasks over and resumes them from the stored source offsets, so no line
//! is lost; a restarted worker rejoins and gets a share again. Two workers asked at once to
//! create the same connector do not both succeed: the group's leader decides.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fjord_tests::{BrokerProcess, ConnectProcess, HttpAnswer, fjord_bin, http, run, topic_reader, unique_name, wait_until};
use serde_json::{Value, json};

const ASSIGNMENT_PARTITIONS: u64 = 32;

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> HttpAnswer {
    let body = body.map(|b| b.to_string());
    http(addr, method, path, body.as_deref()).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The assignment-topic partition of a connector's task 0, as the workers compute it (FNV-1a
/// of the name, modulo the partition count): the map is a contract between workers of
/// different builds, so the test writes it down on its own.
fn partition_of(connector: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in connector.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % ASSIGNMENT_PARTITIONS
}

/// Four connector names, two on even partitions and two on odd ones: the round-robin
/// assignor gives even partitions to one worker and odd ones to the other.
fn connector_names(prefix: &str) -> Vec<String> {
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for i in 0.. {
        let name = format!("{prefix}-{i}");
        let bucket = if partition_of(&name).is_multiple_of(2) { &mut even } else { &mut odd };
        if bucket.len() < 2 {
            bucket.push(name);
        }
        if even.len() == 2 && odd.len() == 2 {
            break;
        }
    }
    even.into_iter().chain(odd).collect()
}

fn append_lines(path: &Path, lines: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for i in lines {
        writeln!(file, "line-{i}").unwrap();
    }
    file.sync_all().unwrap();
}

/// The task states of `name` as `addr` reports them: (state, worker id) per task.
fn tasks_of(addr: SocketAddr, name: &str) -> Option<Vec<(String, String)>> {
    let answer = call(addr, "GET", &format!("/connectors/{name}/status"), None);
    if answer.status != 200 {
        return None;
    }
    let status = answer.json();
    let tasks = status["tasks"].as_array()?;
    Some(tasks.iter().map(|t| (t["state"].as_str().unwrap_or_default().to_string(), t["worker_id"].as_str().unwrap_or_default().to_string())).collect())
}

/// Waits until every connector's one task is in `state`; returns the worker running each.
fn wait_for_tasks(addr: SocketAddr, names: &[String], state: &str, on: impl Fn(&str) -> bool) -> Vec<String> {
    wait_until(&format!("every task {state} on the expected workers"), Duration::from_secs(90), Duration::from_millis(250), || {
        let mut workers = Vec::new();
        for name in names {
            let tasks = tasks_of(addr, name)?;
            let [(task_state, worker)] = tasks.as_slice() else { return None };
            if task_state != state || !on(worker) {
                return None;
            }
            workers.push(worker.clone());
        }
        Some(workers)
    })
}

/// The distinct values of `topic`, read from the start until every one of `expected` arrived.
fn wait_for_values(bootstrap: &str, topic: &str, expected: &BTreeSet<String>) {
    use rdkafka::message::Message;
    let consumer = topic_reader(bootstrap, topic);
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !expected.is_subset(&seen) && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && let Some(value) = m.payload() {
                seen.insert(String::from_utf8_lossy(value).into_owned());
            }
    }
    let missing: Vec<&String> = expected.difference(&seen).collect();
    assert!(missing.is_empty(), "{topic} lacks {missing:?} (has {seen:?})");
}

fn start_worker(bootstrap: &str, group: &str, log: &Path) -> ConnectProcess {
    ConnectProcess::start(&["worker", "-b", bootstrap, "--group-id", group, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "500ms"], log)
}

#[test]
fn a_group_shares_connectors_divides_tasks_and_a_survivor_takes_over_a_killed_workers_tasks() {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let group = unique_name("connect-group");
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_worker(&bootstrap, &group, &dir.path().join("first.log"));
    let second = start_worker(&bootstrap, &group, &dir.path().join("second.log"));
    let (a, b) = (first.rest_addr(), second.rest_addr());

    // Four file sources created through the first worker.
    let names = connector_names(&unique_name("tail"));
    for name in &names {
        run(Command::new(fjord_bin()).args(["topic", "create", name, "-b", &bootstrap]), None, Duration::from_secs(60)).assert_success();
        let file = dir.path().join(format!("{name}.txt"));
        append_lines(&file, 0..3);
        let config = json!({"name": name, "config": {"connector.class": "file-source", "file": file, "topic": name, "value.converter": "string"}});
        let created = call(a, "POST", "/connectors", Some(config));
        assert_eq!(created.status, 201, "{}", created.body);
    }
    assert_eq!(call(a, "POST", "/connectors", Some(json!({"name": names[0], "config": {"connector.class": "file-source", "file": "/x", "topic": "t"}}))).status, 409);

    // The second worker sees them, and the tasks are divided: two here, two there.
    let listed = wait_until("the second worker to list the connectors", Duration::from_secs(60), Duration::from_millis(100), || {
        let list = call(b, "GET", "/connectors", None).json();
        (list.as_array().map(Vec::len) == Some(names.len())).then_some(list)
    });
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(listed, json!(sorted));
    let workers = wait_for_tasks(b, &names, "RUNNING", |w| w == a.to_string() || w == b.to_string());
    let on_first = workers.iter().filter(|w| **w == a.to_string()).count();
    assert_eq!(on_first, 2, "tasks divided two and two: {workers:?}");
    let on_a: Vec<String> = names.iter().zip(&workers).filter(|(_, w)| **w == a.to_string()).map(|(n, _)| n.clone()).collect();

    // Both workers asked at once to create one name: exactly one succeeds, and both workers
    // end up with the winner's config.
    let contested = unique_name("contested");
    let files = [dir.path().join("contested-a.txt"), dir.path().join("contested-b.txt")];
    let asks = std::thread::scope(|scope| {
        let asking: Vec<_> = [a, b]
            .into_iter()
            .zip(&files)
            .map(|(addr, file)| {
                let config = json!({"name": contested, "config": {"connector.class": "file-source", "file": file, "topic": names[0], "value.converter": "string"}});
                scope.spawn(move || call(addr, "POST", "/connectors", Some(config)))
            })
            .collect();
        asking.into_iter().map(|asked| asked.join().unwrap()).collect::<Vec<_>>()
    });
    let statuses: Vec<u16> = asks.iter().map(|answer| answer.status).collect();
    assert!(statuses == [201, 409] || statuses == [409, 201], "one create wins, the other is refused: {statuses:?} {:?}", asks.iter().map(|x| &x.body).collect::<Vec<_>>());
    let loser = asks.iter().find(|answer| answer.status == 409).unwrap();
    assert_eq!(loser.json()["error_code"], 409, "{}", loser.body);
    let winner_file = files[statuses.iter().position(|s| *s == 201).unwrap()].display().to_string();
    for addr in [a, b] {
        wait_until("both workers to hold the winner's config", Duration::from_secs(60), Duration::from_millis(100), || {
            (call(addr, "GET", &format!("/connectors/{contested}/config"), None).json()["file"] == json!(winner_file)).then_some(())
        });
    }
    assert_eq!(call(b, "DELETE", &format!("/connectors/{contested}"), None).status, 204);
    assert_eq!(call(a, "DELETE", &format!("/connectors/{contested}"), None).status, 404);
    wait_for_tasks(b, &names, "RUNNING", |w| w == a.to_string() || w == b.to_string());

    // A target state set through the second worker reaches a task running on the first.
    assert_eq!(call(b, "PUT", &format!("/connectors/{}/pause", on_a[0]), None).status, 202);
    wait_for_tasks(a, &on_a[..1], "PAUSED", |w| w == a.to_string());
    assert_eq!(call(a, "PUT", &format!("/connectors/{}/resume", on_a[0]), None).status, 202);
    wait_for_tasks(b, &on_a[..1], "RUNNING", |w| w == a.to_string());
    for name in &names {
        wait_for_values(&bootstrap, name, &(0..3).map(|i| format!("line-{i}")).collect());
    }

    // SIGKILL the first worker; the second takes its tasks over and nothing is lost.
    first.kill();
    for name in &names {
        append_lines(&dir.path().join(format!("{name}.txt")), 3..6);
    }
    wait_for_tasks(b, &names, "RUNNING", |w| w == b.to_string());
    for name in &names {
        wait_for_values(&bootstrap, name, &(0..6).map(|i| format!("line-{i}")).collect());
    }

    // The first worker comes back, rejoins the group and gets a share again.
    first.restart();
    let a = first.rest_addr();
    let workers = wait_for_tasks(b, &names, "RUNNING", |_| true);
    wait_until("the restarted worker to run a share of the tasks", Duration::from_secs(90), Duration::from_millis(250), || {
        let workers = wait_for_tasks(b, &names, "RUNNING", |_| true);
        (workers.iter().filter(|w| **w == a.to_string()).count() == 2).then_some(())
    });
    drop(workers);
    for name in &names {
        append_lines(&dir.path().join(format!("{name}.txt")), 6..9);
        wait_for_values(&bootstrap, name, &(0..9).map(|i| format!("line-{i}")).collect());
    }

    // Deleted through one worker, gone from the other.
    assert_eq!(call(a, "DELETE", &format!("/connectors/{}", names[0]), None).status, 204);
    wait_until("the deletion to reach the second worker", Duration::from_secs(60), Duration::from_millis(100), || {
        (call(b, "GET", &format!("/connectors/{}", names[0]), None).status == 404).then_some(())
    });

    let mut second = second;
    second.stop();
    first.stop();
}
