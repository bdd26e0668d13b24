//! kcat (Debian's, on Debian's librdkafka) against a real `fjord broker`: metadata listing,
//! keyed produce, exact consume, offsets by timestamp, group consumption with committed
//! offsets, and data surviving restarts.
//!
//! Topics with several partitions are created with rdkafka's admin client (kcat cannot
//! create topics); everything else goes through the kcat binary.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_tests::{BrokerProcess, Output, kcat_command, run, unique_name, wait_until};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const KCAT_TIMEOUT: Duration = Duration::from_secs(90);

/// One consumed record, as printed by [`CONSUME_FORMAT`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Record {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

/// kcat's output format for consumed records: partition, offset, key, value, tab-separated.
const CONSUME_FORMAT: &str = "%p\\t%o\\t%k\\t%s\\n";

fn parse_records(output: &Output) -> Vec<Record> {
    output
        .stdout_lines()
        .into_iter()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '\t').collect();
            assert_eq!(
                fields.len(),
                4,
                "unexpected kcat output line {line:?}\n{output}"
            );
            Record {
                partition: fields[0].parse().expect("partition"),
                offset: fields[1].parse().expect("offset"),
                key: fields[2].to_owned(),
                value: fields[3].to_owned(),
            }
        })
        .collect()
}

/// Creates `topic` with `partitions` partitions through rdkafka's admin client and waits
/// until kcat's metadata shows all of them.
fn create_topic(broker: &BrokerProcess, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("rdkafka admin client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(15)));
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &options,
        ))
        .unwrap_or_else(|e| broker.fail(&format!("CreateTopics {topic}: {e}")));
    for result in results {
        if let Err((name, code)) = result {
            broker.fail(&format!("CreateTopics {name}: {code:?}"));
        }
    }
    wait_until(
        &format!("{topic} with {partitions} partitions in kcat -L"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let metadata = list_metadata(broker, Some(topic));
            (topic_partitions(&metadata, topic) == Some(partitions as usize)).then_some(())
        },
    );
}

/// `kcat -L -J [-t topic]`, parsed.
fn list_metadata(broker: &BrokerProcess, topic: Option<&str>) -> serde_json::Value {
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args(["-L", "-J"]);
    if let Some(topic) = topic {
        cmd.args(["-t", topic]);
    }
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    output.assert_success();
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("kcat -L -J printed no JSON ({e}):\n{output}"))
}

/// The number of partitions `topic` has in kcat's JSON metadata, if it is listed without
/// error and every partition has a leader.
fn topic_partitions(metadata: &serde_json::Value, topic: &str) -> Option<usize> {
    let entry = metadata["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic"] == topic)?;
    if entry.get("error").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let partitions = entry["partitions"].as_array()?;
    partitions
        .iter()
        .all(|p| p["leader"].as_i64().is_some_and(|l| l >= 0))
        .then_some(partitions.len())
}

/// Produces `key:value` lines with `kcat -P -K:` and asserts that kcat reports success.
fn produce_keyed(broker: &BrokerProcess, topic: &str, lines: &[String], extra: &[&str]) {
    let mut input = lines.join("\n");
    input.push('\n');
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args(["-P", "-t", topic, "-K:"]).args(extra);
    let output = run(&mut cmd, Some(input.as_bytes()), KCAT_TIMEOUT);
    if !output.status.success() {
        broker.fail(&format!("kcat -P failed:\n{output}"));
    }
}

/// Consumes the whole topic (every partition, from the beginning, until the end) with
/// `kcat -C -e`.
fn consume_all(broker: &BrokerProcess, topic: &str) -> Vec<Record> {
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args([
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-f",
        CONSUME_FORMAT,
    ]);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    if !output.status.success() {
        broker.fail(&format!("kcat -C failed:\n{output}"));
    }
    let mut records = parse_records(&output);
    records.sort();
    records
}

/// Runs a group consumer (`kcat -G group topic -e`) until every assigned partition is at
/// its end; it commits its offsets when it closes.
fn consume_with_group(broker: &BrokerProcess, group: &str, topic: &str) -> Vec<Record> {
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args(["-G", group, "-e", "-f", CONSUME_FORMAT])
        .args(["-X", "auto.offset.reset=earliest"])
        .args(["-X", "session.timeout.ms=10000"])
        .arg(topic);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    if !output.status.success() {
        broker.fail(&format!("kcat -G failed:\n{output}"));
    }
    let mut records = parse_records(&output);
    records.sort();
    records
}

/// `n` lines `key-<i % 7>:value-<i>` starting at `first`.
fn keyed_lines(first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| format!("key-{}:value-{i:05}", i % 7))
        .collect()
}

/// Checks that `records` are exactly `lines` (as `key:value`), that every partition's
/// offsets are 0..n-1 in the order the lines were sent, and that a key stays on one
/// partition. Returns the number of records per partition.
#[track_caller]
fn assert_exactly(records: &[Record], lines: &[String]) -> BTreeMap<i32, i64> {
    let mut got: Vec<String> = records
        .iter()
        .map(|r| format!("{}:{}", r.key, r.value))
        .collect();
    got.sort();
    let mut want = lines.to_vec();
    want.sort();
    assert_eq!(
        got, want,
        "the records consumed are not exactly the lines produced"
    );

    let mut per_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for record in records {
        per_partition
            .entry(record.partition)
            .or_default()
            .push(record);
    }
    let position: BTreeMap<&str, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.split_once(':').expect("key").1, i))
        .collect();
    let mut counts = BTreeMap::new();
    for (partition, mut entries) in per_partition {
        entries.sort_by_key(|r| r.offset);
        let offsets: Vec<i64> = entries.iter().map(|r| r.offset).collect();
        let expected: Vec<i64> = (0..entries.len() as i64).collect();
        assert_eq!(
            offsets, expected,
            "partition {partition}: offsets are not 0..n-1"
        );
        let order: Vec<usize> = entries.iter().map(|r| position[r.value.as_str()]).collect();
        assert!(
            order.is_sorted(),
            "partition {partition}: records out of send order: {order:?}"
        );
        counts.insert(partition, entries.len() as i64);
    }
    let mut key_partitions: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for record in records {
        key_partitions
            .entry(&record.key)
            .or_default()
            .insert(record.partition);
    }
    let split: Vec<_> = key_partitions
        .iter()
        .filter(|(_, ps)| ps.len() > 1)
        .collect();
    assert!(
        split.is_empty(),
        "keys found on more than one partition: {split:?}"
    );
    counts
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `kcat -Q -t topic:partition:timestamp`, the offset it prints.
fn query_offset(broker: &BrokerProcess, topic: &str, partition: i32, timestamp: i64) -> i64 {
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args(["-Q", "-t", &format!("{topic}:{partition}:{timestamp}")]);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    if !output.status.success() {
        broker.fail(&format!("kcat -Q failed:\n{output}"));
    }
    // "<topic> [<partition>] offset <offset>", or "...: <error>" on a partition error.
    let prefix = format!("{topic} [{partition}] offset ");
    let line = output
        .stdout_lines()
        .into_iter()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| {
            broker.fail(&format!(
                "kcat -Q printed no offset for {topic} [{partition}]:\n{output}"
            ))
        });
    let rest = &line[prefix.len()..];
    rest.parse()
        .unwrap_or_else(|_| broker.fail(&format!("kcat -Q reported an error: {line}\n{output}")))
}

#[test]
fn kcat_lists_the_broker_and_topics() {
    let broker = BrokerProcess::start();
    let topic = unique_name("kcat-list");
    create_topic(&broker, &topic, 3);

    let metadata = list_metadata(&broker, None);
    let brokers: Vec<String> = metadata["brokers"]
        .as_array()
        .unwrap_or_else(|| panic!("no brokers in {metadata}"))
        .iter()
        .map(|b| b["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        brokers,
        vec![broker.bootstrap()],
        "kcat -L brokers: {metadata}"
    );
    assert_eq!(
        topic_partitions(&metadata, &topic),
        Some(3),
        "kcat -L topics: {metadata}"
    );

    // The plain-text listing of one topic, as a person reads it.
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args(["-L", "-t", &topic]);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    output.assert_success();
    assert!(
        output
            .stdout
            .contains(&format!("topic \"{topic}\" with 3 partitions:")),
        "{output}"
    );
    assert!(
        output
            .stdout
            .contains(&format!(" at {}", broker.bootstrap())),
        "{output}"
    );

    // A topic that does not exist is auto-created on Metadata (auto.create.topics.enable).
    let auto = unique_name("kcat-auto");
    wait_until(
        "an auto-created topic",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || topic_partitions(&list_metadata(&broker, Some(&auto)), &auto).filter(|&n| n >= 1),
    );
}

#[test]
fn kcat_produces_keyed_lines_and_consumes_them_exactly() {
    let broker = BrokerProcess::start();
    let topic = unique_name("kcat-keys");
    create_topic(&broker, &topic, 3);

    let lines = keyed_lines(0, 300);
    produce_keyed(&broker, &topic, &lines, &["-X", "acks=all"]);
    let records = consume_all(&broker, &topic);
    let counts = assert_exactly(&records, &lines);
    assert_eq!(
        counts.len(),
        3,
        "7 keys should spread over all 3 partitions: {counts:?}"
    );

    // Starting in the middle of a partition (inside a batch): exactly the records from there.
    let (&partition, &count) = counts.iter().max_by_key(|(_, c)| **c).expect("a partition");
    let start = count / 2;
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args([
        "-C",
        "-t",
        &topic,
        "-p",
        &partition.to_string(),
        "-o",
        &start.to_string(),
    ])
    .args(["-e", "-f", CONSUME_FORMAT]);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    if !output.status.success() {
        broker.fail(&format!("kcat -C -p -o failed:\n{output}"));
    }
    let tail = parse_records(&output);
    let expected: Vec<Record> = records
        .iter()
        .filter(|r| r.partition == partition && r.offset >= start)
        .cloned()
        .collect();
    assert_eq!(
        tail, expected,
        "consuming partition {partition} from offset {start}"
    );

    // -c: a bounded count from the beginning.
    let mut cmd = kcat_command(&broker.bootstrap());
    cmd.args([
        "-C",
        "-t",
        &topic,
        "-p",
        &partition.to_string(),
        "-o",
        "beginning",
        "-c",
        "3",
    ])
    .args(["-f", CONSUME_FORMAT]);
    let output = run(&mut cmd, None, KCAT_TIMEOUT);
    output.assert_success();
    let offsets: Vec<i64> = parse_records(&output).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 1, 2], "{output}");
}

#[test]
fn kcat_queries_offsets_by_timestamp() {
    let broker = BrokerProcess::start();
    let topic = unique_name("kcat-query");
    create_topic(&broker, &topic, 1);

    let before = now_ms() - 1;
    let first = keyed_lines(0, 10);
    produce_keyed(&broker, &topic, &first, &[]);
    // Every record of the first run has a timestamp < middle <= every one of the second.
    let middle = now_ms() + 1;
    while now_ms() <= middle {
        std::thread::sleep(Duration::from_millis(2));
    }
    let second = keyed_lines(10, 10);
    produce_keyed(&broker, &topic, &second, &[]);

    assert_eq!(
        query_offset(&broker, &topic, 0, before),
        0,
        "timestamp before every record"
    );
    assert_eq!(
        query_offset(&broker, &topic, 0, middle),
        10,
        "timestamp between the two runs"
    );
    assert_eq!(query_offset(&broker, &topic, 0, -2), 0, "-2: earliest");
    assert_eq!(query_offset(&broker, &topic, 0, -1), 20, "-1: latest");
    // Kafka answers -1 (no such offset) for a timestamp after every record.
    assert_eq!(
        query_offset(&broker, &topic, 0, now_ms() + 3_600_000),
        -1,
        "timestamp after every record"
    );

    let mut all = first;
    all.extend(second);
    assert_exactly(&consume_all(&broker, &topic), &all);
}

#[test]
fn kcat_group_consumer_commits_offsets() {
    let broker = BrokerProcess::start();
    let topic = unique_name("kcat-group");
    let group = unique_name("kcat-group");
    create_topic(&broker, &topic, 3);

    let lines = keyed_lines(0, 90);
    produce_keyed(&broker, &topic, &lines, &[]);
    let records = consume_with_group(&broker, &group, &topic);
    let counts = assert_exactly(&records, &lines);

    // kcat committed what it consumed when it closed: the group's offsets are the ends.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", &group)
        .create()
        .expect("rdkafka consumer");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..3 {
        partitions.add_partition(&topic, partition);
    }
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(30))
        .unwrap_or_else(|e| broker.fail(&format!("OffsetFetch for group {group}: {e}")));
    let committed: BTreeMap<i32, Offset> = committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    let expected: BTreeMap<i32, Offset> = (0..3)
        .map(|p| (p, Offset::Offset(counts.get(&p).copied().unwrap_or(0))))
        .collect();
    assert_eq!(committed, expected, "committed offsets of group {group}");

    // The same group again: nothing new.
    let again = consume_with_group(&broker, &group, &topic);
    assert_eq!(
        again,
        Vec::new(),
        "a second run of the group re-read committed records"
    );

    // New records: the group gets exactly those.
    let more = keyed_lines(90, 12);
    produce_keyed(&broker, &topic, &more, &[]);
    let mut got: Vec<String> = consume_with_group(&broker, &group, &topic)
        .iter()
        .map(|r| format!("{}:{}", r.key, r.value))
        .collect();
    got.sort();
    let mut want = more;
    want.sort();
    assert_eq!(got, want, "the group's third run");
}

#[test]
fn kcat_data_survives_clean_and_unclean_restarts() {
    let mut broker = BrokerProcess::start();
    let topic = unique_name("kcat-restart");
    create_topic(&broker, &topic, 3);
    let lines = keyed_lines(0, 60);
    produce_keyed(&broker, &topic, &lines, &["-X", "acks=all"]);
    let before = consume_all(&broker, &topic);
    assert_exactly(&before, &lines);

    broker.stop(); // SIGTERM: exits 0 after a clean shutdown
    broker.restart();
    assert_eq!(
        consume_all(&broker, &topic),
        before,
        "after a clean restart"
    );

    broker.kill(); // SIGKILL: the page cache still holds every acknowledged byte
    broker.restart();
    assert_eq!(
        consume_all(&broker, &topic),
        before,
        "after a kill and restart"
    );

    // And the restarted broker still takes writes, continuing the offsets.
    let more = keyed_lines(60, 15);
    produce_keyed(&broker, &topic, &more, &[]);
    let mut all = lines;
    all.extend(more);
    assert_exactly(&consume_all(&broker, &topic), &all);
    broker.stop();
}
