//! The `fjord` client tools (`topic`, `produce`, `consume`, `group`, `cluster`) run as child
//! processes against a real `fjord broker`: exit codes, the JSON documents they print, and
//! what the records and offsets look like afterwards.
//!
//! The contract checked here (issue #5): every client subcommand takes `--bootstrap-server`
//! (env `FJORD_BOOTSTRAP_SERVER`) and `--timeout`; `--output json` prints one JSON document
//! on stdout (JSON lines for `consume`); exit codes are 0 on success, 1 on any failure, 2 on a
//! command-line usage error.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_tests::{BrokerProcess, Output, fjord_bin, run, unique_name, wait_until};
use serde_json::Value;

/// The `--timeout` every client command gets unless the test passes its own (for `consume`
/// it bounds the whole run).
const CLIENT_TIMEOUT: &str = "120s";
/// How long one client command may run before the test kills it and fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);
/// How long to poll for metadata changes to show (single node: should be at once).
const METADATA_WAIT: Duration = Duration::from_secs(30);

/// A `fjord` command without any inherited `FJORD_*` variable (the harness's own, such as
/// `FJORD_BIN`, or a `FJORD_BOOTSTRAP_SERVER` of whoever runs the tests).
fn fjord_command() -> Command {
    let mut cmd = Command::new(fjord_bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FJORD_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `fjord <args> --bootstrap-server <bootstrap>`, adding `--timeout 120s` unless `args`
/// has its own.
fn fjord_at(bootstrap: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = fjord_command();
    cmd.args(args).args(["--bootstrap-server", bootstrap]);
    if !args.contains(&"--timeout") {
        cmd.args(["--timeout", CLIENT_TIMEOUT]);
    }
    run(&mut cmd, stdin, COMMAND_LIMIT)
}

/// A broker and the `fjord` client tools pointed at it.
struct Fjord {
    broker: BrokerProcess,
}

impl Fjord {
    fn start() -> Self {
        Self {
            broker: BrokerProcess::start(),
        }
    }

    fn bootstrap(&self) -> String {
        self.broker.bootstrap()
    }

    /// Runs a client command, whatever its exit status.
    fn run(&self, args: &[&str]) -> Output {
        fjord_at(&self.bootstrap(), args, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        fjord_at(&self.bootstrap(), args, Some(stdin))
    }

    /// Runs a client command and fails (with its output and the broker's log) unless it
    /// exits 0.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        self.check_success(&output);
        output
    }

    #[track_caller]
    fn ok_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.run_stdin(args, stdin);
        self.check_success(&output);
        output
    }

    #[track_caller]
    fn check_success(&self, output: &Output) {
        if !output.status.success() {
            self.broker.fail(&format!(
                "expected exit status 0 (contract: success):\n{output}"
            ));
        }
    }

    /// Runs a client command that must fail with exit status 1 and a message on stderr.
    #[track_caller]
    fn fails(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        self.check_failure(&output);
        output
    }

    #[track_caller]
    fn check_failure(&self, output: &Output) {
        if output.status.code() != Some(1) {
            self.broker.fail(&format!(
                "expected exit status 1 (contract: any failure):\n{output}"
            ));
        }
        if output.stderr.trim().is_empty() {
            self.broker.fail(&format!(
                "a failing command printed nothing on stderr:\n{output}"
            ));
        }
    }

    /// Runs a client command with `--output json`, which must exit 0 and print one JSON
    /// document on stdout.
    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let output = self.ok(&args);
        self.parse_document(&output)
    }

    #[track_caller]
    fn parse_document(&self, output: &Output) -> Value {
        serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
            self.broker.fail(&format!(
                "stdout is not one JSON document ({e}) (contract: --output json prints one \
                 JSON document on stdout):\n{output}"
            ))
        })
    }

    // --- topics ---

    /// `fjord topic list --output json`: the array, checked to be an array of objects.
    #[track_caller]
    fn topic_list(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["topic", "list"];
        args.extend(extra);
        let doc = self.json(&args);
        let Some(items) = doc.as_array() else {
            self.broker.fail(&format!(
                "`topic list --output json` is not a JSON array: {doc}"
            ));
        };
        for item in items {
            for field in ["topic", "partitions", "replication_factor", "internal"] {
                if item.get(field).is_none() {
                    self.broker.fail(&format!(
                        "`topic list --output json`: an entry lacks `{field}`: {item}"
                    ));
                }
            }
        }
        items.clone()
    }

    /// The `topic list` entry for `topic`, if listed.
    #[track_caller]
    fn listed_topic(&self, topic: &str) -> Option<Value> {
        self.topic_list(&[])
            .into_iter()
            .find(|t| t["topic"] == topic)
    }

    /// `fjord topic describe <topic> --output json`, checked for the contract's fields, with
    /// `partitions` sorted by partition.
    #[track_caller]
    fn describe_topic(&self, topic: &str) -> TopicDescription {
        let doc = self.json(&["topic", "describe", topic]);
        let fail = |what: &str| -> ! {
            self.broker.fail(&format!(
                "`topic describe {topic} --output json`: {what}:\n{doc:#}"
            ))
        };
        if !doc.is_object() {
            fail("not a JSON object");
        }
        if doc["topic"] != topic {
            fail("`topic` is not the topic's name");
        }
        if !doc["internal"].is_boolean() {
            fail("`internal` is missing or not a boolean");
        }
        let Some(configs) = doc["configs"].as_object() else {
            fail("`configs` is missing or not an object");
        };
        let configs = configs
            .iter()
            .map(|(k, v)| (k.clone(), config_value(v)))
            .collect();
        let Some(partitions) = doc["partitions"].as_array() else {
            fail("`partitions` is missing or not an array");
        };
        let mut parsed = Vec::new();
        for p in partitions {
            let int = |field: &str| -> i64 {
                p[field].as_i64().unwrap_or_else(|| {
                    fail(&format!("partition entry lacks integer `{field}`: {p}"))
                })
            };
            let ints = |field: &str| -> Vec<i64> {
                p[field]
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "partition entry lacks integer array `{field}`: {p}"
                        ))
                    })
            };
            parsed.push(PartitionDescription {
                partition: int("partition") as i32,
                leader: int("leader"),
                replicas: ints("replicas"),
                isr: ints("isr"),
                start_offset: int("start_offset"),
                end_offset: int("end_offset"),
            });
        }
        parsed.sort_by_key(|p| p.partition);
        TopicDescription {
            internal: doc["internal"].as_bool().unwrap_or_default(),
            partitions: parsed,
            configs,
            raw: doc,
        }
    }

    /// Creates `topic` with `partitions` partitions through the CLI.
    #[track_caller]
    fn create_topic(&self, topic: &str, partitions: u32) {
        self.ok(&[
            "topic",
            "create",
            topic,
            "--partitions",
            &partitions.to_string(),
        ]);
    }

    // --- groups ---

    /// `fjord group describe <group> --output json`, checked for the contract's fields.
    #[track_caller]
    fn describe_group(&self, group: &str) -> GroupDescription {
        let doc = self.json(&["group", "describe", group]);
        self.parse_group(group, doc)
    }

    #[track_caller]
    fn parse_group(&self, group: &str, doc: Value) -> GroupDescription {
        let fail = |what: &str| -> ! {
            self.broker.fail(&format!(
                "`group describe {group} --output json`: {what}:\n{doc:#}"
            ))
        };
        if !doc.is_object() {
            fail("not a JSON object");
        }
        if doc["group"] != group {
            fail("`group` is not the group's id");
        }
        let Some(state) = doc["state"].as_str() else {
            fail("`state` is missing or not a string");
        };
        let Some(members) = doc["members"].as_array() else {
            fail("`members` is missing or not an array");
        };
        let Some(offsets) = doc["offsets"].as_array() else {
            fail("`offsets` is missing or not an array");
        };
        let mut parsed = BTreeMap::new();
        for o in offsets {
            let int = |field: &str| -> i64 {
                o[field]
                    .as_i64()
                    .unwrap_or_else(|| fail(&format!("offsets entry lacks integer `{field}`: {o}")))
            };
            let Some(topic) = o["topic"].as_str() else {
                fail(&format!("offsets entry lacks `topic`: {o}"));
            };
            parsed.insert(
                (topic.to_owned(), int("partition") as i32),
                GroupOffset {
                    committed: int("committed_offset"),
                    end: int("end_offset"),
                    lag: int("lag"),
                },
            );
        }
        GroupDescription {
            state: state.to_owned(),
            members: members.len(),
            offsets: parsed,
            raw: doc.clone(),
        }
    }

    /// The group ids `fjord group list --output json` shows.
    #[track_caller]
    fn group_list(&self) -> BTreeSet<String> {
        let doc = self.json(&["group", "list"]);
        let Some(items) = doc.as_array() else {
            self.broker.fail(&format!(
                "`group list --output json` is not a JSON array: {doc}"
            ));
        };
        items
            .iter()
            .map(|g| {
                g["group"].as_str().map(str::to_owned).unwrap_or_else(|| {
                    self.broker.fail(&format!(
                        "`group list --output json`: entry without `group`: {g}"
                    ))
                })
            })
            .collect()
    }

    /// `fjord group reset-offsets <group> --topic <topic> <how> --output json`: the
    /// `offsets` entries by partition as (previous, new).
    #[track_caller]
    fn reset_offsets(&self, group: &str, topic: &str, how: &[&str]) -> BTreeMap<i32, (i64, i64)> {
        let mut args = vec!["group", "reset-offsets", group, "--topic", topic];
        args.extend(how);
        let doc = self.json(&args);
        let fail = |what: &str| -> ! {
            self.broker
                .fail(&format!("`{}`: {what}:\n{doc:#}", args.join(" ")))
        };
        let Some(offsets) = doc["offsets"].as_array() else {
            fail("no `offsets` array");
        };
        let mut parsed = BTreeMap::new();
        for o in offsets {
            if o["topic"] != topic {
                fail(&format!("entry for another topic: {o}"));
            }
            let int = |field: &str| -> i64 {
                o[field]
                    .as_i64()
                    .unwrap_or_else(|| fail(&format!("entry lacks integer `{field}`: {o}")))
            };
            parsed.insert(
                int("partition") as i32,
                (int("previous_offset"), int("new_offset")),
            );
        }
        parsed
    }

    // --- records ---

    /// Consumes with `--output json` and parses every line.
    #[track_caller]
    fn consume_json(&self, args: &[&str]) -> Vec<Consumed> {
        let mut all = vec!["consume"];
        all.extend(args);
        all.extend(["--output", "json"]);
        let output = self.ok(&all);
        output
            .stdout_lines()
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                parse_consumed(line).unwrap_or_else(|e| {
                    self.broker.fail(&format!(
                        "`consume --output json` line {} is not a record object ({e}): {line:?}\n\
                         (first lines of stdout follow)\n{}",
                        i + 1,
                        output.stdout.lines().take(5).collect::<Vec<_>>().join("\n")
                    ))
                })
            })
            .collect()
    }
}

#[derive(Debug)]
struct TopicDescription {
    internal: bool,
    partitions: Vec<PartitionDescription>,
    configs: BTreeMap<String, String>,
    raw: Value,
}

impl TopicDescription {
    fn end_offsets(&self) -> BTreeMap<i32, i64> {
        self.partitions
            .iter()
            .map(|p| (p.partition, p.end_offset))
            .collect()
    }
}

#[derive(Debug)]
struct PartitionDescription {
    partition: i32,
    leader: i64,
    replicas: Vec<i64>,
    isr: Vec<i64>,
    start_offset: i64,
    end_offset: i64,
}

#[derive(Debug)]
struct GroupDescription {
    state: String,
    members: usize,
    offsets: BTreeMap<(String, i32), GroupOffset>,
    raw: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupOffset {
    committed: i64,
    end: i64,
    lag: i64,
}

/// A config value as text: Kafka's config values are strings, but accept a JSON number or
/// boolean printed bare.
fn config_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One record of `consume --output json`.
#[derive(Debug, Clone)]
struct Consumed {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: Value,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn parse_consumed(line: &str) -> Result<Consumed, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("not an object")?;
    for field in [
        "topic",
        "partition",
        "offset",
        "timestamp",
        "key",
        "value",
        "headers",
    ] {
        if !obj.contains_key(field) {
            return Err(format!("no `{field}`"));
        }
    }
    let opt_string = |field: &str| -> Result<Option<String>, String> {
        match &v[field] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            other => Err(format!("`{field}` is neither a string nor null: {other}")),
        }
    };
    let timestamp = v["timestamp"].clone();
    let plausible = match &timestamp {
        Value::Number(n) => n.as_i64().is_some_and(|t| t >= 0),
        Value::String(s) => !s.is_empty(),
        _ => false,
    };
    if !plausible {
        return Err(format!("`timestamp` is not a time: {timestamp}"));
    }
    let headers = v["headers"]
        .as_array()
        .ok_or("`headers` is not an array")?
        .iter()
        .map(|h| {
            let key = h["key"]
                .as_str()
                .ok_or_else(|| format!("header without a string `key`: {h}"))?
                .to_owned();
            if h.get("value").is_none() {
                return Err(format!("header without `value`: {h}"));
            }
            Ok((key, h["value"].as_str().map(str::to_owned)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Consumed {
        topic: v["topic"]
            .as_str()
            .ok_or("`topic` is not a string")?
            .to_owned(),
        partition: v["partition"]
            .as_i64()
            .ok_or("`partition` is not an integer")? as i32,
        offset: v["offset"].as_i64().ok_or("`offset` is not an integer")?,
        timestamp,
        key: opt_string("key")?,
        value: opt_string("value")?,
        headers,
    })
}

/// A loopback port nobody listens on right now.
fn unused_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `ms` since the epoch as RFC 3339 in UTC with milliseconds, e.g.
/// `2023-11-14T22:13:20.000Z` (days to civil date after Howard Hinnant's algorithm).
fn rfc3339_utc(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Lines `key-<i % keys>:value-<i>` for `i` in `range`, each ending in `\n`.
fn keyed_input(range: std::ops::Range<usize>, keys: usize) -> String {
    range
        .map(|i| format!("key-{}:value-{i}\n", i % keys))
        .collect()
}

/// The `i` of `value-<i>`.
#[track_caller]
fn value_index(value: &str) -> usize {
    value
        .strip_prefix("value-")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("unexpected value {value:?}"))
}

/// Checks that a key is only ever found on one partition.
#[track_caller]
fn assert_keys_stay_on_one_partition<'a>(records: impl IntoIterator<Item = (&'a str, i32)>) {
    let mut partitions: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for (key, partition) in records {
        partitions.entry(key).or_default().insert(partition);
    }
    let split: Vec<_> = partitions.iter().filter(|(_, p)| p.len() > 1).collect();
    assert!(
        split.is_empty(),
        "keys found on more than one partition: {split:?}"
    );
}

#[test]
fn rfc3339_helper_formats_utc() {
    assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

// ------------------------------------------------------------------------------------------
// topic
// ------------------------------------------------------------------------------------------

#[test]
fn topic_create_list_describe_alter_and_delete() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-topic");

    // create with a config override; again fails; --if-not-exists succeeds.
    fjord.ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "3",
        "--config",
        "retention.ms=3600000",
    ]);
    let again = fjord.fails(&["topic", "create", &topic, "--partitions", "3"]);
    assert!(
        again.stderr.to_lowercase().contains("exist"),
        "creating an existing topic should say it exists:\n{again}"
    );
    fjord.ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "3",
        "--if-not-exists",
    ]);

    // list --output json
    let entry = wait_until(
        &format!("{topic} in `topic list`"),
        METADATA_WAIT,
        Duration::from_millis(200),
        || fjord.listed_topic(&topic),
    );
    assert_eq!(entry["partitions"], 3, "topic list entry: {entry}");
    assert_eq!(entry["replication_factor"], 1, "topic list entry: {entry}");
    assert_eq!(entry["internal"], false, "topic list entry: {entry}");

    // internal topics only with --internal
    let plain = fjord.topic_list(&[]);
    assert!(
        plain
            .iter()
            .all(|t| t["internal"] != true && t["topic"] != "__consumer_offsets"),
        "`topic list` without --internal lists internal topics: {plain:?}"
    );
    let with_internal = fjord.topic_list(&["--internal"]);
    let offsets_topic = with_internal
        .iter()
        .find(|t| t["topic"] == "__consumer_offsets")
        .unwrap_or_else(|| {
            panic!("`topic list --internal` lacks __consumer_offsets: {with_internal:?}")
        });
    assert_eq!(offsets_topic["internal"], true, "{offsets_topic}");
    assert!(
        with_internal.iter().any(|t| t["topic"] == topic),
        "`topic list --internal` lacks {topic}"
    );

    // the human table names the topic
    let table = fjord.ok(&["topic", "list"]);
    assert!(
        table.stdout.contains(&topic),
        "`topic list` table lacks {topic}:\n{table}"
    );

    // describe --output json
    let described = fjord.describe_topic(&topic);
    assert!(!described.internal, "{:#}", described.raw);
    assert_eq!(
        described
            .partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        vec![0, 1, 2],
        "{:#}",
        described.raw
    );
    for p in &described.partitions {
        assert!(
            p.leader >= 0,
            "partition {} has no leader: {:#}",
            p.partition,
            described.raw
        );
        assert_eq!(p.replicas, vec![p.leader], "{:#}", described.raw);
        assert_eq!(p.isr, vec![p.leader], "{:#}", described.raw);
        assert_eq!(
            (p.start_offset, p.end_offset),
            (0, 0),
            "an empty topic: {:#}",
            described.raw
        );
    }
    assert_eq!(
        described.configs,
        BTreeMap::from([("retention.ms".to_owned(), "3600000".to_owned())]),
        "`configs` holds exactly the overridden configs: {:#}",
        described.raw
    );

    // alter: more partitions, a config changed, then removed
    fjord.ok(&["topic", "alter", &topic, "--partitions", "6"]);
    let described = wait_until(
        &format!("{topic} with 6 partitions"),
        METADATA_WAIT,
        Duration::from_millis(200),
        || Some(fjord.describe_topic(&topic)).filter(|d| d.partitions.len() == 6),
    );
    assert_eq!(
        described
            .partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>(),
        "{:#}",
        described.raw
    );
    assert_eq!(
        described.configs.get("retention.ms").map(String::as_str),
        Some("3600000"),
        "adding partitions kept the config: {:#}",
        described.raw
    );
    fjord.ok(&["topic", "alter", &topic, "--config", "retention.ms=1000"]);
    let described = fjord.describe_topic(&topic);
    assert_eq!(
        described.configs.get("retention.ms").map(String::as_str),
        Some("1000"),
        "after --config retention.ms=1000: {:#}",
        described.raw
    );
    fjord.ok(&["topic", "alter", &topic, "--delete-config", "retention.ms"]);
    let described = fjord.describe_topic(&topic);
    assert!(
        !described.configs.contains_key("retention.ms"),
        "after --delete-config retention.ms the override is gone: {:#}",
        described.raw
    );

    // delete; gone from the list; a missing topic fails unless --if-exists
    fjord.ok(&["topic", "delete", &topic]);
    wait_until(
        &format!("{topic} gone from `topic list`"),
        METADATA_WAIT,
        Duration::from_millis(200),
        || fjord.listed_topic(&topic).is_none().then_some(()),
    );
    fjord.fails(&["topic", "delete", &topic]);
    fjord.ok(&["topic", "delete", &topic, "--if-exists"]);
    // Describing a missing topic is a failure, and must not auto-create it.
    fjord.fails(&["topic", "describe", &topic]);
    assert!(
        fjord.listed_topic(&topic).is_none(),
        "`topic describe` of a missing topic created it"
    );
}

#[test]
fn topic_create_validate_only_bad_configs_and_deleting_several() {
    let fjord = Fjord::start();

    let dry = unique_name("cli-validate");
    fjord.ok(&[
        "topic",
        "create",
        &dry,
        "--partitions",
        "2",
        "--validate-only",
    ]);
    assert!(
        fjord.listed_topic(&dry).is_none(),
        "`topic create --validate-only` created {dry}"
    );

    let bad = unique_name("cli-badconfig");
    fjord.fails(&["topic", "create", &bad, "--config", "retention.ms=soon"]);
    assert!(
        fjord.listed_topic(&bad).is_none(),
        "a refused topic was created"
    );

    let (a, b) = (unique_name("cli-del-a"), unique_name("cli-del-b"));
    fjord.create_topic(&a, 1);
    fjord.create_topic(&b, 2);
    fjord.ok(&["topic", "delete", &a, &b]);
    wait_until(
        "both topics gone from `topic list`",
        METADATA_WAIT,
        Duration::from_millis(200),
        || {
            let names: Vec<Value> = fjord
                .topic_list(&[])
                .into_iter()
                .map(|t| t["topic"].clone())
                .collect();
            (!names.contains(&Value::from(a.as_str())) && !names.contains(&Value::from(b.as_str())))
                .then_some(())
        },
    );
}

// ------------------------------------------------------------------------------------------
// produce / consume
// ------------------------------------------------------------------------------------------

#[test]
fn produce_50k_lines_from_a_file_and_consume_them_as_json_lines_and_through_a_template() {
    const N: usize = 50_000;
    let fjord = Fjord::start();
    let topic = unique_name("cli-50k");
    fjord.create_topic(&topic, 3);

    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("records.txt");
    let input: String = (0..N).map(|i| format!("key-{i}:value-{i}\n")).collect();
    std::fs::write(&file, input).expect("write the input file");
    let file = file.to_str().expect("a UTF-8 path");
    fjord.ok(&["produce", &topic, "--file", file, "--key-separator", ":"]);

    let records =
        fjord.consume_json(&[&topic, "--from-beginning", "--max-messages", &N.to_string()]);
    assert_eq!(
        records.len(),
        N,
        "`consume --max-messages {N}` printed {} records",
        records.len()
    );

    let mut seen = vec![false; N];
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &records {
        assert_eq!(r.topic, topic, "{r:?}");
        assert!(r.headers.is_empty(), "no headers were produced: {r:?}");
        let value = r
            .value
            .as_deref()
            .unwrap_or_else(|| panic!("record without a value: {r:?}"));
        let i = value_index(value);
        assert_eq!(
            r.key.as_deref(),
            Some(format!("key-{i}").as_str()),
            "key and value do not match: {r:?}"
        );
        assert!(
            i < N && !seen[i],
            "value-{i} consumed twice or out of range: {r:?}"
        );
        seen[i] = true;
        if let Some(&previous) = last_offset.get(&r.partition) {
            assert!(
                r.offset > previous,
                "partition {}: offset {} printed after {previous}",
                r.partition,
                r.offset
            );
        }
        last_offset.insert(r.partition, r.offset);
        *counts.entry(r.partition).or_default() += 1;
    }
    assert!(seen.iter().all(|&s| s), "some records are missing");
    assert_keys_stay_on_one_partition(
        records
            .iter()
            .map(|r| (r.key.as_deref().unwrap_or(""), r.partition)),
    );
    assert_eq!(
        counts.len(),
        3,
        "50,000 distinct keys spread over all 3 partitions: {counts:?}"
    );

    // The same records through a --format template: one `partition/offset key=value` line
    // each, agreeing with the JSON lines.
    let formatted = fjord.ok(&[
        "consume",
        &topic,
        "--from-beginning",
        "--max-messages",
        &N.to_string(),
        "--format",
        "{partition}/{offset} {key}={value}",
    ]);
    let mut from_template: Vec<String> = formatted.stdout.lines().map(str::to_owned).collect();
    let mut from_json: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{}/{} {}={}",
                r.partition,
                r.offset,
                r.key.as_deref().unwrap_or(""),
                r.value.as_deref().unwrap_or("")
            )
        })
        .collect();
    from_template.sort();
    from_json.sort();
    assert_eq!(from_template.len(), N, "--format printed {} lines", from_template.len());
    assert!(from_template == from_json, "--format lines differ from the JSON records");

    // The description agrees: offsets 0..count per partition.
    let described = fjord.describe_topic(&topic);
    for p in &described.partitions {
        assert_eq!(p.start_offset, 0, "{:#}", described.raw);
        assert_eq!(
            p.end_offset,
            counts.get(&p.partition).copied().unwrap_or(0),
            "partition {}: end offset vs records consumed: {:#}",
            p.partition,
            described.raw
        );
        assert_eq!(
            last_offset.get(&p.partition).map(|o| o + 1),
            Some(p.end_offset),
            "partition {}: the last offset consumed is end_offset - 1 (no gaps)",
            p.partition
        );
    }
}

#[test]
fn produce_from_stdin_and_consume_with_a_template_default_output_and_positions() {
    const N: usize = 70;
    let fjord = Fjord::start();
    let topic = unique_name("cli-stdin");
    fjord.create_topic(&topic, 3);

    // stdin, keyed; seven keys over three partitions
    let input = keyed_input(0..N, 7);
    fjord.ok_stdin(
        &["produce", &topic, "--key-separator", ":"],
        input.as_bytes(),
    );

    // --format
    let out = fjord.ok(&[
        "consume",
        &topic,
        "--from-beginning",
        "--max-messages",
        &N.to_string(),
        "--format",
        "{partition}|{offset}|{key}|{value}",
    ]);
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), N, "one line per record:\n{out}");
    let mut per_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    let mut keys = Vec::new();
    for line in &lines {
        let fields: Vec<&str> = line.splitn(4, '|').collect();
        assert_eq!(
            fields.len(),
            4,
            "line {line:?} is not partition|offset|key|value\n{out}"
        );
        let partition: i32 = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("partition in {line:?}"));
        let offset: i64 = fields[1]
            .parse()
            .unwrap_or_else(|_| panic!("offset in {line:?}"));
        let i = value_index(fields[3]);
        assert_eq!(fields[2], format!("key-{}", i % 7), "line {line:?}");
        per_partition
            .entry(partition)
            .or_default()
            .push((offset, i));
        keys.push((fields[2].to_owned(), partition));
    }
    assert_keys_stay_on_one_partition(keys.iter().map(|(k, p)| (k.as_str(), *p)));
    let mut all: Vec<usize> = per_partition.values().flatten().map(|(_, i)| *i).collect();
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>(), "every record exactly once");
    for (partition, entries) in &per_partition {
        let offsets: Vec<i64> = entries.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..entries.len() as i64).collect::<Vec<_>>(),
            "partition {partition}: offsets in order, from 0"
        );
        assert!(
            entries.iter().map(|(_, i)| *i).is_sorted(),
            "partition {partition}: records out of the order they were sent: {entries:?}"
        );
    }

    // Default output: the value only, one per line; without --max-messages it stops at the
    // end offsets and exits 0.
    let out = fjord.ok(&["consume", &topic, "--from-beginning"]);
    let mut values: Vec<usize> = out.stdout_lines().into_iter().map(value_index).collect();
    values.sort_unstable();
    assert_eq!(
        values,
        (0..N).collect::<Vec<_>>(),
        "default output is the values:\n{out}"
    );

    // --partition P --offset N: that partition from N to its end.
    let (&partition, entries) = per_partition
        .iter()
        .max_by_key(|(_, e)| e.len())
        .expect("a partition with records");
    let count = entries.len() as i64;
    assert!(count > 3, "{per_partition:?}");
    let out = fjord.ok(&[
        "consume",
        &topic,
        "--partition",
        &partition.to_string(),
        "--offset",
        "2",
        "--format",
        "{partition} {offset}",
    ]);
    let expected: Vec<String> = (2..count).map(|o| format!("{partition} {o}")).collect();
    assert_eq!(
        out.stdout_lines(),
        expected,
        "--partition {partition} --offset 2:\n{out}"
    );

    // --offset earliest / latest
    let out = fjord.ok(&[
        "consume",
        &topic,
        "--partition",
        &partition.to_string(),
        "--offset",
        "earliest",
        "--format",
        "{offset}",
    ]);
    assert_eq!(
        out.stdout_lines().len() as i64,
        count,
        "--offset earliest:\n{out}"
    );
    let out = fjord.ok(&[
        "consume",
        &topic,
        "--partition",
        &partition.to_string(),
        "--offset",
        "latest",
    ]);
    assert!(
        out.stdout.trim().is_empty(),
        "--offset latest reads nothing:\n{out}"
    );

    // Unkeyed lines from stdin: values as given.
    let plain = unique_name("cli-stdin-plain");
    fjord.create_topic(&plain, 1);
    fjord.ok_stdin(
        &["produce", &plain],
        b"alpha\nbeta with spaces\ngamma:with:colons\n",
    );
    let records = fjord.consume_json(&[&plain, "--from-beginning", "--max-messages", "3"]);
    let values: Vec<Option<&str>> = records.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(
        values,
        vec![
            Some("alpha"),
            Some("beta with spaces"),
            Some("gamma:with:colons")
        ],
        "{records:?}"
    );
    assert!(
        records.iter().all(|r| r.key.is_none()),
        "no key was given: {records:?}"
    );
}

#[test]
fn produce_fails_on_a_line_without_the_key_separator_naming_the_line() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-badline");
    fjord.create_topic(&topic, 1);
    let out = fjord.run_stdin(
        &["produce", &topic, "--key-separator", ":"],
        b"k1:v1\nk2:v2\nno separator here\nk4:v4\n",
    );
    fjord.check_failure(&out);
    assert!(
        out.stderr.to_lowercase().contains("line 3"),
        "the message should name line 3:\n{out}"
    );
}

#[test]
fn produce_with_headers_and_consume_them_as_json() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-headers");
    fjord.create_topic(&topic, 1);
    fjord.ok_stdin(
        &["produce", &topic, "--header", "a=1", "--header", "b=2"],
        b"first\nsecond\n",
    );
    let records = fjord.consume_json(&[&topic, "--from-beginning", "--max-messages", "2"]);
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(
            r.headers,
            vec![
                ("a".to_owned(), Some("1".to_owned())),
                ("b".to_owned(), Some("2".to_owned()))
            ],
            "{r:?}"
        );
    }
    assert_eq!(
        records
            .iter()
            .map(|r| (r.offset, r.value.clone()))
            .collect::<Vec<_>>(),
        vec![
            (0, Some("first".to_owned())),
            (1, Some("second".to_owned()))
        ]
    );
    if let Value::Number(ts) = &records[0].timestamp {
        let ts = ts.as_i64().unwrap_or_default();
        let now = now_ms();
        assert!(
            (now - 3_600_000..=now + 60_000).contains(&ts),
            "timestamp {ts} is not a recent epoch-ms (now {now})"
        );
    }
}

#[test]
fn produce_to_a_partition_with_each_acks_and_compression() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-options");
    fjord.create_topic(&topic, 3);
    let mut expected = Vec::new();
    let mut options: Vec<Vec<&str>> = ["none", "gzip", "snappy", "lz4", "zstd"]
        .iter()
        .map(|c| vec!["--acks", "all", "--compression", c])
        .collect();
    options.push(vec!["--acks", "1"]);
    for (run, opts) in options.iter().enumerate() {
        let input: String = (0..20).map(|i| format!("run-{run}-{i}\n")).collect();
        let mut args = vec!["produce", topic.as_str(), "--partition", "1"];
        args.extend(opts.iter().copied());
        fjord.ok_stdin(&args, input.as_bytes());
        expected.extend(input.lines().map(str::to_owned));
    }
    let records = fjord.consume_json(&[
        &topic,
        "--from-beginning",
        "--max-messages",
        &expected.len().to_string(),
    ]);
    assert!(
        records.iter().all(|r| r.partition == 1),
        "--partition 1: records elsewhere: {:?}",
        records
            .iter()
            .filter(|r| r.partition != 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let got: Vec<String> = records.iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(
        got, expected,
        "one partition: the records in the order produced"
    );

    // acks=0: nothing is acknowledged, but the records arrive.
    fjord.ok_stdin(
        &["produce", &topic, "--partition", "2", "--acks", "0"],
        b"x\ny\nz\n",
    );
    let records = wait_until(
        "the acks=0 records",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || {
            let records = fjord.consume_json(&[&topic, "--partition", "2", "--offset", "earliest"]);
            (records.len() >= 3).then_some(records)
        },
    );
    let got: Vec<Option<&str>> = records.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(got, vec![Some("x"), Some("y"), Some("z")]);
}

#[test]
fn consume_from_time_in_epoch_ms_and_rfc3339() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-fromtime");
    fjord.create_topic(&topic, 1);
    let early: String = (0..10).map(|i| format!("early-{i}\n")).collect();
    fjord.ok_stdin(&["produce", &topic], early.as_bytes());
    let middle = now_ms() + 1;
    while now_ms() <= middle + 1 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let late: String = (0..10).map(|i| format!("late-{i}\n")).collect();
    fjord.ok_stdin(&["produce", &topic], late.as_bytes());
    let expected: Vec<&str> = late.lines().collect();

    let out = fjord.ok(&["consume", &topic, "--from-time", &middle.to_string()]);
    assert_eq!(out.stdout_lines(), expected, "--from-time {middle}:\n{out}");
    let rfc = rfc3339_utc(middle);
    let out = fjord.ok(&["consume", &topic, "--from-time", &rfc]);
    assert_eq!(out.stdout_lines(), expected, "--from-time {rfc}:\n{out}");
}

#[test]
fn consume_max_messages_times_out_when_the_topic_has_fewer() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-timeout");
    fjord.create_topic(&topic, 2);
    fjord.ok_stdin(&["produce", &topic], keyed_input(0..10, 3).as_bytes());
    let out = fjord.run(&[
        "consume",
        &topic,
        "--from-beginning",
        "--max-messages",
        "60000",
        "--timeout",
        "5s",
    ]);
    fjord.check_failure(&out);
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr.contains("timeout") || stderr.contains("timed out"),
        "the message should mention the timeout:\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(120),
        "a 5 s timeout took {:?}",
        out.elapsed
    );
}

// ------------------------------------------------------------------------------------------
// group
// ------------------------------------------------------------------------------------------

#[test]
fn group_consume_commits_then_describe_list_reset_offsets_and_delete() {
    const N: usize = 50_000;
    let fjord = Fjord::start();
    let topic = unique_name("cli-group");
    let group = unique_name("cli-group");
    fjord.create_topic(&topic, 3);
    let input: String = (0..N).map(|i| format!("key-{i}:value-{i}\n")).collect();
    fjord.ok_stdin(
        &["produce", &topic, "--key-separator", ":"],
        input.as_bytes(),
    );

    let records = fjord.consume_json(&[
        &topic,
        "--group",
        &group,
        "--from-beginning",
        "--max-messages",
        &N.to_string(),
    ]);
    assert_eq!(records.len(), N);
    let ends = fjord.describe_topic(&topic).end_offsets();
    assert_eq!(ends.values().sum::<i64>(), N as i64, "end offsets {ends:?}");

    // Committed at the end of every partition, lag 0.
    let described = fjord.describe_group(&group);
    let expect_offsets =
        |described: &GroupDescription, committed: &dyn Fn(i32, i64) -> i64, what: &str| {
            let want: BTreeMap<(String, i32), GroupOffset> = ends
                .iter()
                .map(|(&p, &end)| {
                    let c = committed(p, end);
                    (
                        (topic.clone(), p),
                        GroupOffset {
                            committed: c,
                            end,
                            lag: end - c,
                        },
                    )
                })
                .collect();
            if described.offsets != want {
                fjord.broker.fail(&format!(
                    "{what}: group offsets\n  expected {want:?}\n  got      {:?}\n{:#}",
                    described.offsets, described.raw
                ));
            }
        };
    expect_offsets(
        &described,
        &|_, end| end,
        "after consuming everything with --group",
    );

    let list = fjord.group_list();
    assert!(
        list.contains(&group),
        "`group list` lacks {group}: {list:?}"
    );

    // The consumer left the group when it exited (or its session expires): no members.
    let described = wait_until(
        &format!("group {group} without members"),
        Duration::from_secs(90),
        Duration::from_millis(500),
        || Some(fjord.describe_group(&group)).filter(|d| d.members == 0),
    );
    assert_eq!(described.state, "Empty", "{:#}", described.raw);

    // --dry-run changes nothing.
    let plan = fjord.reset_offsets(&group, &topic, &["--to-earliest", "--dry-run"]);
    let want: BTreeMap<i32, (i64, i64)> = ends.iter().map(|(&p, &end)| (p, (end, 0))).collect();
    assert_eq!(
        plan, want,
        "--to-earliest --dry-run: partition -> (previous, new)"
    );
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, end| end,
        "after a dry run",
    );

    // --to-earliest
    let done = fjord.reset_offsets(&group, &topic, &["--to-earliest"]);
    assert_eq!(done, want, "--to-earliest: partition -> (previous, new)");
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, _| 0,
        "after --to-earliest",
    );

    // --to-offset 10
    let done = fjord.reset_offsets(&group, &topic, &["--to-offset", "10"]);
    assert_eq!(
        done,
        ends.keys()
            .map(|&p| (p, (0, 10)))
            .collect::<BTreeMap<_, _>>(),
        "--to-offset 10"
    );
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, _| 10,
        "after --to-offset 10",
    );

    // --to-latest
    let done = fjord.reset_offsets(&group, &topic, &["--to-latest"]);
    assert_eq!(
        done,
        ends.iter()
            .map(|(&p, &end)| (p, (10, end)))
            .collect::<BTreeMap<_, _>>(),
        "--to-latest"
    );
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, end| end,
        "after --to-latest",
    );

    // --shift-by -5
    let done = fjord.reset_offsets(&group, &topic, &["--shift-by", "-5"]);
    assert_eq!(
        done,
        ends.iter()
            .map(|(&p, &end)| (p, (end, end - 5)))
            .collect::<BTreeMap<_, _>>(),
        "--shift-by -5"
    );
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, end| end - 5,
        "after --shift-by -5",
    );

    // The group resumes from the reset offsets: exactly the last five of each partition.
    let tail = fjord.consume_json(&[&topic, "--group", &group, "--max-messages", "15"]);
    let got: BTreeSet<(i32, i64)> = tail.iter().map(|r| (r.partition, r.offset)).collect();
    let want: BTreeSet<(i32, i64)> = ends
        .iter()
        .flat_map(|(&p, &end)| (end - 5..end).map(move |o| (p, o)))
        .collect();
    assert_eq!(got, want, "the group read after --shift-by -5");
    wait_until(
        &format!("group {group} without members again"),
        Duration::from_secs(90),
        Duration::from_millis(500),
        || Some(fjord.describe_group(&group)).filter(|d| d.members == 0),
    );
    expect_offsets(
        &fjord.describe_group(&group),
        &|_, end| end,
        "after reading the tail",
    );

    // delete
    fjord.ok(&["group", "delete", &group]);
    let list = fjord.group_list();
    assert!(
        !list.contains(&group),
        "`group list` still shows deleted {group}: {list:?}"
    );
    let after = fjord.run(&["group", "describe", &group, "--output", "json"]);
    if after.status.success() {
        let described = fjord.parse_group(&group, fjord.parse_document(&after));
        assert!(
            matches!(described.state.as_str(), "Dead" | "Empty") && described.offsets.is_empty(),
            "a deleted group described as {:#}",
            described.raw
        );
    } else {
        fjord.check_failure(&after);
    }
}

// ------------------------------------------------------------------------------------------
// cluster, connection settings, errors
// ------------------------------------------------------------------------------------------

#[test]
fn cluster_describe_shows_the_broker() {
    let fjord = Fjord::start();
    let doc = fjord.json(&["cluster", "describe"]);
    assert!(
        doc["cluster_id"].as_str().is_some_and(|id| !id.is_empty()),
        "cluster_id: {doc:#}"
    );
    let controller = doc["controller_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("controller_id: {doc:#}"));
    let brokers = doc["brokers"]
        .as_array()
        .unwrap_or_else(|| panic!("brokers: {doc:#}"));
    assert_eq!(brokers.len(), 1, "{doc:#}");
    let broker = &brokers[0];
    assert_eq!(broker["host"], "127.0.0.1", "{doc:#}");
    assert_eq!(
        broker["port"].as_u64(),
        Some(u64::from(fjord.broker.kafka_addr().port())),
        "{doc:#}"
    );
    assert_eq!(
        broker["node_id"].as_i64(),
        Some(controller),
        "the only broker is the controller: {doc:#}"
    );
}

#[test]
fn bootstrap_server_comes_from_the_environment_and_the_flag_wins() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-env");

    let env_run = |args: &[&str], env_bootstrap: &str| {
        let mut cmd = fjord_command();
        cmd.args(args)
            .args(["--timeout", CLIENT_TIMEOUT])
            .env("FJORD_BOOTSTRAP_SERVER", env_bootstrap);
        run(&mut cmd, None, COMMAND_LIMIT)
    };
    let out = env_run(
        &["topic", "create", &topic, "--partitions", "2"],
        &fjord.bootstrap(),
    );
    fjord.check_success(&out);
    let out = env_run(&["topic", "list", "--output", "json"], &fjord.bootstrap());
    fjord.check_success(&out);
    let doc = fjord.parse_document(&out);
    assert!(
        doc.as_array()
            .is_some_and(|a| a.iter().any(|t| t["topic"] == topic)),
        "FJORD_BOOTSTRAP_SERVER: {topic} not listed:\n{out}"
    );

    // --bootstrap-server beats the variable.
    let nowhere = format!("127.0.0.1:{}", unused_port());
    let mut cmd = fjord_command();
    cmd.args([
        "topic",
        "list",
        "--output",
        "json",
        "--timeout",
        CLIENT_TIMEOUT,
    ])
    .args(["--bootstrap-server", &fjord.bootstrap()])
    .env("FJORD_BOOTSTRAP_SERVER", &nowhere);
    let out = run(&mut cmd, None, COMMAND_LIMIT);
    fjord.check_success(&out);
    assert!(
        fjord
            .parse_document(&out)
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t["topic"] == topic))
    );
}

#[test]
fn an_unreachable_bootstrap_server_fails_within_the_timeout() {
    let nowhere = format!("127.0.0.1:{}", unused_port());
    let topic = unique_name("cli-nowhere");
    let commands: Vec<(Vec<&str>, Option<&[u8]>)> = vec![
        (vec!["topic", "list"], None),
        (vec!["topic", "create", &topic], None),
        (vec!["topic", "describe", &topic], None),
        (vec!["cluster", "describe"], None),
        (vec!["group", "list"], None),
        (vec!["produce", &topic], Some(b"one\n")),
        (vec!["consume", &topic, "--max-messages", "1"], None),
    ];
    for (args, stdin) in commands {
        let mut all = args.clone();
        all.extend(["--timeout", "3s"]);
        let out = fjord_at(&nowhere, &all, stdin);
        assert_eq!(out.status.code(), Some(1), "expected exit status 1:\n{out}");
        assert!(
            !out.stderr.trim().is_empty(),
            "no message on stderr:\n{out}"
        );
        assert!(
            out.elapsed < Duration::from_secs(90),
            "`{}` with --timeout 3s took {:?}",
            args.join(" "),
            out.elapsed
        );
    }
}

#[test]
fn usage_errors_exit_with_status_2() {
    let cases: [&[&str]; 5] = [
        &["topic", "create"],
        &["topic", "list", "--output", "yaml"],
        &["consume"],
        &["group", "reset-offsets", "g", "--topic", "t"],
        &["topic", "create", "t", "--partitions", "many"],
    ];
    for args in cases {
        let mut cmd = fjord_command();
        cmd.args(args);
        let out = run(&mut cmd, None, COMMAND_LIMIT);
        assert_eq!(out.status.code(), Some(2), "a usage error exits 2:\n{out}");
        assert!(
            !out.stderr.trim().is_empty(),
            "no message on stderr:\n{out}"
        );
    }
}

#[test]
fn deleting_a_topic_drops_the_groups_offsets_on_it_so_a_recreated_topic_starts_clean() {
    let fjord = Fjord::start();
    let topic = unique_name("cli-recreated");
    let group = unique_name("cli-recreated-group");
    fjord.create_topic(&topic, 2);
    let lines: String = (0..100).map(|i| format!("k{i}:v{i}\n")).collect();
    fjord.ok_stdin(&["produce", &topic, "--key-separator", ":"], lines.as_bytes());
    fjord.ok(&["consume", &topic, "--group", &group, "--from-beginning", "--max-messages", "100"]);
    let before = fjord.describe_group(&group);
    assert_eq!(before.offsets.len(), 2, "committed on both partitions: {:#}", before.raw);

    fjord.ok(&["topic", "delete", &topic]);
    fjord.create_topic(&topic, 2);

    // The group either is gone (exit 1) or has no offsets on the new topic of the same name.
    let out = fjord.run(&["group", "describe", &group, "--output", "json"]);
    if out.status.success() {
        let after = fjord.parse_group(&group, fjord.parse_document(&out));
        assert!(
            after.offsets.keys().all(|(t, _)| t != &topic),
            "offsets of the deleted topic survived into the new one: {:#}",
            after.raw
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{out}");
    }
}

#[test]
fn ctrl_c_stops_a_following_group_consumer_cleanly_and_commits_exactly_what_it_printed() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use rustix::process::{Pid, Signal, kill_process};

    let fjord = Fjord::start();
    let topic = unique_name("cli-ctrl-c");
    let group = unique_name("cli-ctrl-c-group");
    fjord.create_topic(&topic, 1);
    let lines: String = (0..5_000).map(|i| format!("v{i}\n")).collect();
    fjord.ok_stdin(&["produce", &topic], lines.as_bytes());

    let mut child = fjord_command()
        .args(["consume", &topic, "--group", &group, "--from-beginning", "--follow"])
        .args(["--bootstrap-server", &fjord.bootstrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fjord consume");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = 0u64;
    let mut line = String::new();
    // Every record, then Ctrl-C while it waits for more.
    while printed < 5_000 && out.read_line(&mut line).expect("read stdout") > 0 {
        printed += 1;
        line.clear();
    }
    assert_eq!(printed, 5_000, "the consumer printed every record before Ctrl-C");
    let pid = Pid::from_raw(child.id() as i32).expect("a pid");
    kill_process(pid, Signal::INT).expect("send SIGINT");
    let status = wait_until("fjord consume to exit after SIGINT", Duration::from_secs(60), Duration::from_millis(50), || {
        child.try_wait().ok().flatten()
    });
    assert!(status.success(), "Ctrl-C is a clean stop for --follow: {status:?}");

    let described = fjord.describe_group(&group);
    assert_eq!(
        described.offsets.get(&(topic.clone(), 0)).map(|o| o.committed),
        Some(5_000),
        "committed offset after Ctrl-C: {:#}",
        described.raw
    );
    assert_eq!(described.members, 0, "the consumer left the group on its way out: {:#}", described.raw);
}

#[test]
fn a_header_key_that_is_not_utf8_is_reported_not_a_crash() {
    use std::os::unix::ffi::OsStrExt;

    let fjord = Fjord::start();
    let topic = unique_name("cli-bad-header");
    fjord.create_topic(&topic, 1);
    // kcat writes header keys as given: one of 0xff, which the protocol forbids.
    let mut bad_header = vec![0xffu8];
    bad_header.extend_from_slice(b"bad=v");
    let mut kcat = fjord_tests::kcat_command(&fjord.bootstrap());
    kcat.args(["-P", "-t", &topic, "-H"]).arg(std::ffi::OsStr::from_bytes(&bad_header)).args(["-H", "ok=1"]);
    let produced = run(&mut kcat, Some(b"hello\n"), COMMAND_LIMIT);
    assert!(produced.status.success(), "kcat -P:\n{produced}");

    let out = fjord.ok(&["consume", &topic, "--from-beginning", "--output", "json"]);
    let record: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON record");
    assert_eq!(record["value"], "hello", "{record}");
    assert_eq!(record["headers_error"], "a header key is not UTF-8", "{record}");
}
