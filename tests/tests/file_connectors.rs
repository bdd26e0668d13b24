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

use fjord_tests::{BrokerProcess, ConnectProcess, fjord_bin, run, unique_name, wait_until};

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
