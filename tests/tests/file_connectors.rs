//! The file connectors end to end: `fjord connect standalone` processes against a real
//! broker. A file source follows a log file into a topic while a file sink writes the topic
//! out to another file; the source is stopped and started again with lines written while it
//! was down, the sink is SIGKILLed mid-stream and restarted, and the log is rotated (renamed,
//! with lines still written to the renamed file, and a new file started). The sink's file is
//! then exactly the lines written, in order: nothing lost, nothing twice.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fjord_tests::{topic_reader, BrokerProcess, ConnectProcess, fjord_bin, run, unique_name, wait_until};

fn append_lines(path: &Path, lines: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let mut text = String::new();
    for i in lines {
        text.push_str(&format!("line {i:06} {}\n", "x".repeat(i % 50)));
    }
    file.write_all(text.as_bytes()).unwrap();
}

fn expected(lines: std::ops::Range<usize>) -> String {
    lines.map(|i| format!("line {i:06} {}\n", "x".repeat(i % 50))).collect()
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

fn wait_for_lines(path: &Path, count: usize, sink: &ConnectProcess) {
    wait_until(&format!("{count} lines in {}", path.display()), Duration::from_secs(180), Duration::from_millis(200), || {
        let n = line_count(path);
        assert!(n <= count, "the sink wrote {n} lines, more than the {count} written; log:\n{}", sink.log());
        (n == count).then_some(())
    });
}

#[test]
fn file_source_to_topic_to_file_sink_gives_back_the_input_across_restarts_a_kill_and_rotation() {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("lines");
    run(Command::new(fjord_bin()).args(["topic", "create", &topic, "--partitions", "1", "-b", &bootstrap]), None, Duration::from_secs(60)).assert_success();

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let output = dir.path().join("copy.txt");
    let source_config = dir.path().join("source.yaml");
    std::fs::write(
        &source_config,
        format!("name: app-log\nconnector.class: file-source\nfile.glob: {}*\ntopic: {topic}\nvalue.converter: string\n", input.display()),
    )
    .unwrap();
    let sink_config = dir.path().join("sink.json");
    std::fs::write(
        &sink_config,
        serde_json::json!({"name": "copy", "config": {"connector.class": "FileStreamSink", "topics": topic, "file": output, "value.converter": "string"}}).to_string(),
    )
    .unwrap();
    let worker_args = |offsets: &str, config: &Path| -> Vec<String> {
        ["standalone", "-b", &bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "1s", "--offsets-file", &dir.path().join(offsets).display().to_string(), &config.display().to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let source_args = worker_args("source.offsets", &source_config);
    let sink_args = worker_args("sink.offsets", &sink_config);

    append_lines(&input, 0..3000);
    let mut source = ConnectProcess::start(&as_strs(&source_args), &dir.path().join("source.log"));
    let mut sink = ConnectProcess::start(&as_strs(&sink_args), &dir.path().join("sink.log"));
    wait_for_lines(&output, 3000, &sink);

    // A clean stop of the source, lines written while it is down, a start.
    source.stop();
    append_lines(&input, 3000..4000);
    source.restart();
    wait_for_lines(&output, 4000, &sink);

    // The sink is killed while it writes; what it wrote but had not committed is cut away and
    // read again.
    append_lines(&input, 4000..40_000);
    wait_until("the sink to be part-way", Duration::from_secs(120), Duration::from_millis(20), || (line_count(&output) > 8000).then_some(()));
    sink.kill();
    sink.restart();
    wait_for_lines(&output, 40_000, &sink);

    // Rotation by rename: the writer finishes its lines in the renamed file, then starts a new one.
    append_lines(&input, 40_000..41_000);
    std::fs::rename(&input, dir.path().join("app.log.1")).unwrap();
    append_lines(&dir.path().join("app.log.1"), 41_000..41_100);
    append_lines(&input, 41_100..42_000);
    wait_for_lines(&output, 42_000, &sink);

    // Nothing more arrives later (no duplicate from a late flush), and the content is exact.
    std::thread::sleep(Duration::from_secs(3));
    let got = std::fs::read_to_string(&output).unwrap();
    let want = expected(0..42_000);
    if got != want {
        let first_diff = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        panic!("the sink's file differs from the lines written (first difference at line {first_diff:?}; {} lines vs {})", got.lines().count(), want.lines().count());
    }
    source.stop();
    sink.stop();
    drop(broker);
}

#[test]
fn a_bad_connector_config_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.properties");
    std::fs::write(&config, "name=bad\nconnector.class=file-sink\nfile=/tmp/x\ntopics=t\nformat=xml\n").unwrap();
    let out = run(
        Command::new(fjord_bin()).args(["connect", "standalone", "-b", "127.0.0.1:1", "--offsets-file", &dir.path().join("o").display().to_string(), &config.display().to_string()]),
        None,
        Duration::from_secs(30),
    );
    assert!(!out.status.success(), "{out}");
    assert!(out.stderr.contains("format") && out.stderr.contains("lines, json"), "{out}");
    std::fs::write(&config, "name=bad\nconnector.class=no-such-connector\n").unwrap();
    let out = run(
        Command::new(fjord_bin()).args(["connect", "standalone", "--offsets-file", &dir.path().join("o").display().to_string(), &config.display().to_string()]),
        None,
        Duration::from_secs(30),
    );
    assert!(!out.status.success() && out.stderr.contains("unknown connector.class"), "{out}");
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A record read back: key, value, headers.
type Read = (Option<String>, Option<String>, Vec<(String, String)>);

/// Every record of `topic` from the start, waiting until `count` arrived.
fn read_topic(bootstrap: &str, topic: &str, count: usize) -> Vec<Read> {
    use rdkafka::message::{Headers, Message};
    let consumer = topic_reader(bootstrap, topic);
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while records.len() < count && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
            let headers = m
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())).collect())
                .unwrap_or_default();
            records.push((text(m.key()), text(m.payload()), headers));
        }
    }
    assert_eq!(records.len(), count, "records of {topic}: {records:?}");
    records
}

#[test]
fn records_that_fail_a_transform_or_converter_go_to_the_dead_letter_topic_with_their_origin() {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let (numbers, source_dlq, sink_dlq) = (unique_name("numbers"), unique_name("source-dlq"), unique_name("sink-dlq"));
    for topic in [&numbers, &source_dlq, &sink_dlq] {
        run(Command::new(fjord_bin()).args(["topic", "create", topic, "--partitions", "1", "-b", &bootstrap]), None, Duration::from_secs(60)).assert_success();
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("numbers.txt");
    std::fs::write(&input, "1\n2\nnot a number\n3\n").unwrap();
    let output = dir.path().join("numbers.jsonl");
    // The source casts each line to int64 (one line fails) and writes JSON with schemas.
    let source = dir.path().join("source.properties");
    std::fs::write(
        &source,
        format!(
            "name=numbers\nconnector.class=file-source\nfile={}\ntopic={numbers}\ntransforms=toInt\ntransforms.toInt.type=cast\ntransforms.toInt.spec=int64\nerrors.tolerance=all\nerrors.deadletterqueue.topic.name={source_dlq}\n",
            input.display()
        ),
    )
    .unwrap();
    let mut worker = ConnectProcess::start(
        &["standalone", "-b", &bootstrap, "--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "500ms", "--offsets-file", &dir.path().join("offsets").display().to_string(), &source.display().to_string()],
        &dir.path().join("worker.log"),
    );
    let good = read_topic(&bootstrap, &numbers, 3);
    let values: Vec<String> = good.iter().map(|(_, v, _)| v.clone().unwrap()).collect();
    assert_eq!(values, [r#"{"schema":{"type":"int64","optional":false},"payload":1}"#, r#"{"schema":{"type":"int64","optional":false},"payload":2}"#, r#"{"schema":{"type":"int64","optional":false},"payload":3}"#]);
    let dead = read_topic(&bootstrap, &source_dlq, 1);
    assert_eq!(dead[0].1.as_deref(), Some("not a number"));
    let header = |name: &str| dead[0].2.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no header {name} in {:?}", dead[0].2));
    assert_eq!(header("__connect.errors.stage"), "TRANSFORMATION");
    assert_eq!(header("__connect.errors.connector.name"), "numbers");
    assert!(header("__connect.errors.exception.message").contains("cannot cast"), "{dead:?}");
    assert!(header("__connect.errors.source.offset").contains("\"position\":17"), "{dead:?}");

    // A sink expecting plain JSON objects: the schema envelopes pass (as JSON), a raw line
    // written by another producer fails the converter and goes to the sink's dead letters.
    let mut producer = Command::new(fjord_bin());
    producer.args(["produce", &numbers, "-b", &bootstrap]);
    run(&mut producer, Some(b"{not json\n"), Duration::from_secs(60)).assert_success();
    let sink = dir.path().join("sink.json");
    std::fs::write(
        &sink,
        serde_json::json!({"name": "numbers-out", "config": {
            "connector.class": "file-sink", "topics": numbers, "file": output, "format": "json",
            "value.converter": "json", "value.converter.schemas.enable": "true",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": sink_dlq, "errors.log.enable": "true"}})
        .to_string(),
    )
    .unwrap();
    let addr = worker.rest_addr();
    let body = std::fs::read_to_string(&sink).unwrap();
    let created = fjord_tests::http(addr, "POST", "/connectors", Some(&body)).unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let dead = read_topic(&bootstrap, &sink_dlq, 1);
    assert_eq!(dead[0].1.as_deref(), Some("{not json"));
    assert!(dead[0].2.iter().any(|(n, v)| n == "__connect.errors.stage" && v == "VALUE_CONVERTER"), "{dead:?}");
    assert!(dead[0].2.iter().any(|(n, v)| n == "__connect.errors.offset" && v == "3"), "{dead:?}");
    wait_until("the sink's file", Duration::from_secs(60), Duration::from_millis(100), || (std::fs::read_to_string(&output).unwrap_or_default() == "1\n2\n3\n").then_some(()));
    worker.stop();
}
