//! What a hostile or merely heavy client meets at a real `fjord broker`: bounded fetches and
//! decompression, connection and frame limits, answers (not hangs) for what the broker does
//! not support, and the Kafka behaviours admin clients rely on (DescribeConfigs for the
//! broker, DescribeLogDirs, DescribeTopicPartitions, compacted and compressed topics).
//!
//! Requests the client libraries do not produce are sent with [`RawClient`]; records are
//! produced with rdkafka. Every wait is bounded.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_log_core::storage::{BatchBuilder, BatchHeader, Batches, Compression, TimestampType, decode_records};
use fjord_tests::{BrokerProcess, CallError, RawClient, unique_name};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, DescribeConfigsRequest, DescribeLogDirsRequest, DescribeTopicPartitionsRequest, FetchRequest,
    FindCoordinatorRequest, ProduceRequest, ResponseKind, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, FromClientConfig};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

const LONG: Duration = Duration::from_secs(120);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = runtime()
        .block_on(admin(bootstrap).create_topics(&[new], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))))
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t} failed: {e}"));
    }
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> ThreadedProducer<DefaultProducerContext> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("acks", "all").set("linger.ms", "5").set("message.timeout.ms", "60000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("producer")
}

/// Sends every `(key, value)` to partition 0 of `topic` and waits for all acknowledgements.
fn produce(bootstrap: &str, topic: &str, records: impl IntoIterator<Item = (Option<Vec<u8>>, Vec<u8>)>, extra: &[(&str, &str)]) {
    let producer = producer(bootstrap, extra);
    for (key, value) in records {
        let mut record = BaseRecord::to(topic).payload(&value).partition(0);
        if let Some(key) = &key {
            record = record.key(key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
    }
    producer.flush(LONG).expect("every record acknowledged");
}

/// `VmHWM` (peak resident memory) of the broker, in KiB.
fn peak_rss_kib(broker: &BrokerProcess) -> u64 {
    let pid = broker.pid().expect("broker running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

fn connect(broker: &BrokerProcess) -> RawClient {
    RawClient::connect(broker.kafka_addr()).unwrap_or_else(|e| broker.fail(&format!("cannot connect: {e}")))
}

fn api_versions_ok(client: &mut RawClient) -> Result<(), CallError> {
    match client.call(ApiKey::ApiVersions, 3, ApiVersionsRequest::default())? {
        (ResponseKind::ApiVersions(r), _) if r.error_code == 0 => Ok(()),
        (other, _) => Err(CallError::Other(format!("unexpected ApiVersions answer {other:?}"))),
    }
}

fn fetch_request(topic: &str, max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(partition_max_bytes),
        ])])
}

/// The records bytes of partition 0 of the first topic of a Fetch response.
fn fetched_records(response: ResponseKind) -> (i16, Bytes) {
    let ResponseKind::Fetch(r) = response else { panic!("not a Fetch response: {response:?}") };
    let p = &r.responses[0].partitions[0];
    (p.error_code, p.records.clone().unwrap_or_default())
}

#[test]
fn a_fetch_asking_for_2_gib_gets_at_most_fetch_max_bytes_and_memory_stays_bounded() {
    const FETCH_MAX: i32 = 1 << 20;
    let broker = BrokerProcess::builder().arg("--fetch-max-bytes").arg(FETCH_MAX.to_string()).start();
    let topic = unique_name("big-fetch");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    // 48 MiB in 16 KiB records: a read sized by the request would take all of it, per client.
    produce(&broker.bootstrap(), &topic, (0..3072u32).map(|i| (None, vec![(i % 251) as u8; 16 << 10])), &[("compression.type", "none")]);
    let before = peak_rss_kib(&broker);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let addr = broker.kafka_addr();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let mut client = RawClient::connect(addr).unwrap();
                let mut sizes = Vec::new();
                for _ in 0..3 {
                    let (response, _) = client.call(ApiKey::Fetch, 12, fetch_request(&topic, i32::MAX, i32::MAX)).unwrap();
                    let (error, records) = fetched_records(response);
                    assert_eq!(error, 0);
                    sizes.push(records.len());
                }
                sizes
            })
        })
        .collect();
    for client in clients {
        for size in client.join().unwrap() {
            assert!(size > 0, "the fetch returned records");
            // At most fetch.max.bytes, plus the rest of one batch (the first is always whole).
            assert!(size <= FETCH_MAX as usize + (1 << 20), "a 2 GiB fetch returned {size} bytes, past fetch.max.bytes {FETCH_MAX}");
        }
    }
    let grown = peak_rss_kib(&broker).saturating_sub(before);
    assert!(grown < 100 * 1024, "peak broker memory grew by {grown} KiB for 12 fetches capped at 1 MiB");
}

#[test]
fn a_compressed_bomb_is_refused_without_being_inflated() {
    let broker = BrokerProcess::start();
    let topic = unique_name("bomb");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    // One record of 200 MiB of zeros: a few hundred KiB once compressed, far under
    // max.message.bytes as sent, far over what any producer batch inflates to.
    let mut builder = BatchBuilder::new(0, Compression::Zstd, TimestampType::CreateTime);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    builder.push(0, now, Some(b"k"), Some(&vec![0u8; 200 << 20]), &[]);
    let bomb = builder.build().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
    let before = peak_rss_kib(&broker);
    let produce = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(StrBytes::from_string(topic.clone()))).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(bomb))),
        ]),
    ]);
    let (response, _) = connect(&broker).call(ApiKey::Produce, 9, produce).unwrap();
    let ResponseKind::Produce(r) = response else { panic!("{response:?}") };
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, ResponseError::MessageTooLarge.code(), "the bomb is refused: {:?}", p.error_message);
    let grown = peak_rss_kib(&broker).saturating_sub(before);
    assert!(grown < 64 * 1024, "peak broker memory grew by {grown} KiB while refusing the bomb");
    // Nothing was stored.
    let (response, _) = connect(&broker).call(ApiKey::Fetch, 12, fetch_request(&topic, 1 << 20, 1 << 20)).unwrap();
    assert!(fetched_records(response).1.is_empty());
}

#[test]
fn a_half_sent_frame_is_closed_after_the_read_timeout_and_an_idle_connection_after_the_idle_timeout() {
    let broker = BrokerProcess::builder()
        .arg("--socket-request-read-timeout-ms")
        .arg("1000")
        .arg("--connections-max-idle-ms")
        .arg("2000")
        .start();
    let mut half = TcpStream::connect(broker.kafka_addr()).unwrap();
    half.write_all(&10_000i32.to_be_bytes()).unwrap();
    half.write_all(&[0u8; 100]).unwrap();
    let idle = TcpStream::connect(broker.kafka_addr()).unwrap();
    for (name, mut stream) in [("half-sent frame", half), ("idle connection", idle)] {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
            other => broker.fail(&format!("{name}: expected the broker to close the connection, got {other:?}")),
        }
    }
    // A connection that keeps talking stays open.
    let mut busy = connect(&broker);
    for _ in 0..5 {
        api_versions_ok(&mut busy).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    let metrics = broker.metrics();
    for reason in ["read_timeout", "idle"] {
        assert!(metrics.contains(&format!("fjord_broker_connection_closes_total{{reason=\"{reason}\"}}")), "no {reason} close counted:\n{metrics}");
    }
}

#[test]
fn requests_the_broker_does_not_serve_get_an_answer_or_a_closed_connection_never_a_hang() {
    let broker = BrokerProcess::start();
    // A client configured for SASL on this plaintext listener learns it at once.
    let mut client = connect(&broker);
    let (response, _) = client.call(ApiKey::SaslHandshake, 1, SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"))).unwrap();
    let ResponseKind::SaslHandshake(r) = response else { panic!("{response:?}") };
    assert_eq!(r.error_code, ResponseError::UnsupportedSaslMechanism.code());
    assert!(r.mechanisms.is_empty());
    // A transactional producer is told, not left retrying until its timeout.
    let find = FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![StrBytes::from_static_str("my-txn")]);
    let (response, _) = client.call(ApiKey::FindCoordinator, 4, find).unwrap();
    let ResponseKind::FindCoordinator(r) = response else { panic!("{response:?}") };
    assert_eq!(r.coordinators[0].error_code, ResponseError::TransactionalIdAuthorizationFailed.code());
    // An API key nobody defines, an API Kafka defines but this broker does not serve, a
    // version past the served range: the connection is closed at once, as Kafka does.
    for (name, frame) in [
        ("API key 999", raw_frame(999, 0)),
        ("WriteTxnMarkers (27)", raw_frame(27, 1)),
        ("Produce v2", raw_frame(0, 2)),
        ("Fetch v99", raw_frame(1, 99)),
    ] {
        let mut stream = TcpStream::connect(broker.kafka_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(&frame).unwrap();
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
            other => broker.fail(&format!("{name}: expected the connection closed, got {other:?}")),
        }
    }
    api_versions_ok(&mut client).unwrap();

    // An acks=0 produce expects no answer, so when it fails the broker closes the connection,
    // as Kafka does: the only way the producer learns to refresh its metadata.
    let lost = ProduceRequest::default().with_acks(0).with_timeout_ms(1000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("no-such-topic-here")))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from_static(b"not a batch")))])]);
    match client.call(ApiKey::Produce, 9, lost) {
        Err(CallError::Closed) => {}
        other => broker.fail(&format!("a failed acks=0 produce left the connection open: {other:?}")),
    }
}

/// A request frame with a v1 header and no body.
fn raw_frame(api_key: i16, version: i16) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&api_key.to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&7i32.to_be_bytes());
    payload.extend_from_slice(&(-1i16).to_be_bytes());
    payload.extend_from_slice(&[0, 0, 0, 0]);
    let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

#[test]
fn connections_past_max_connections_per_ip_are_refused_and_others_go_on() {
    let broker = BrokerProcess::builder().arg("--max-connections-per-ip").arg("4").start();
    // The harness's readiness probe may still wait in the listen backlog, to be counted once
    // accepted: connections are accepted in order, so once one of ours is served the probe
    // has been accepted too. Then start from none open.
    api_versions_ok(&mut connect(&broker)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !broker.metrics().lines().any(|l| l == "fjord_broker_connections 0") {
        assert!(Instant::now() < deadline, "connections never dropped to 0:\n{}", broker.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut open: Vec<RawClient> = (0..4).map(|_| connect(&broker)).collect();
    for client in &mut open {
        api_versions_ok(client).unwrap();
    }
    for _ in 0..3 {
        let mut extra = connect(&broker);
        match api_versions_ok(&mut extra) {
            Err(CallError::Closed) => {}
            other => broker.fail(&format!("a fifth connection from 127.0.0.1 was served: {other:?}")),
        }
    }
    for client in &mut open {
        api_versions_ok(client).unwrap();
    }
    // One closes: a new one is let in (once the broker has seen the close).
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut again = connect(&broker);
        match api_versions_ok(&mut again) {
            Ok(()) => break,
            Err(CallError::Closed) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => broker.fail(&format!("no room after a connection closed: {e}")),
        }
    }
    let metrics = broker.metrics();
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fjord_broker_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| broker.fail(&format!("no refused-connections counter in:\n{metrics}")));
    assert!(refused >= 3.0, "{refused} connections counted as refused");
}

#[test]
fn a_topic_with_compression_type_zstd_stores_zstd_whatever_the_producer_sends() {
    let broker = BrokerProcess::start();
    let topic = unique_name("zstd-topic");
    create_topic(&broker.bootstrap(), &topic, 1, &[("compression.type", "zstd")]);
    let values: Vec<Vec<u8>> = (0..200u32).map(|i| format!("value-{i}-{}", "x".repeat(50)).into_bytes()).collect();
    for codec in ["none", "gzip", "lz4"] {
        produce(&broker.bootstrap(), &topic, values.iter().map(|v| (Some(b"k".to_vec()), v.clone())), &[("compression.type", codec)]);
    }
    let (response, _) = connect(&broker).call(ApiKey::Fetch, 12, fetch_request(&topic, 50 << 20, 50 << 20)).unwrap();
    let (error, records) = fetched_records(response);
    assert_eq!(error, 0);
    let mut seen = Vec::new();
    for item in Batches::new(&records) {
        let (_, bytes) = item.unwrap();
        let header = BatchHeader::parse(bytes).unwrap();
        assert_eq!(header.compression().unwrap(), Compression::Zstd, "every stored batch is zstd");
        let (_, decoded) = decode_records(bytes).unwrap();
        seen.extend(decoded.into_iter().map(|r| r.value.unwrap().to_vec()));
    }
    let expected: Vec<Vec<u8>> = (0..3).flat_map(|_| values.clone()).collect();
    assert_eq!(seen, expected, "the records are intact, in order");
}

#[test]
fn a_compacted_topic_refuses_a_record_without_a_key() {
    let broker = BrokerProcess::start();
    let topic = unique_name("compacted");
    create_topic(&broker.bootstrap(), &topic, 1, &[("cleanup.policy", "compact")]);
    produce(&broker.bootstrap(), &topic, [(Some(b"key".to_vec()), b"keyed".to_vec())], &[]);
    let delivery = runtime().block_on(async {
        let future = rdkafka::producer::FutureProducer::<DefaultClientContext>::from_config(
            ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).set("acks", "all").set("message.timeout.ms", "30000"),
        )
        .unwrap();
        future.send(rdkafka::producer::FutureRecord::<(), [u8]>::to(&topic).payload(b"no key").partition(0), Duration::from_secs(30)).await
    });
    let (error, _) = delivery.expect_err("a keyless record must be refused");
    assert_eq!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::InvalidRecord), "{error}");
}

#[test]
fn describe_configs_for_the_broker_lists_every_setting_with_source_type_and_documentation() {
    let broker = BrokerProcess::builder().arg("--fetch-max-bytes").arg("2097152").start();
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("1"))
            .with_configuration_keys(None)]);
    let (response, _) = connect(&broker).call(ApiKey::DescribeConfigs, 4, request).unwrap();
    let ResponseKind::DescribeConfigs(r) = response else { panic!("{response:?}") };
    let result = &r.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    let entries: HashMap<String, _> = result.configs.iter().map(|c| (c.name.to_string(), c)).collect();
    assert!(entries.len() >= 50, "only {} broker settings described", entries.len());
    let fetch_max = entries["fetch.max.bytes"];
    assert_eq!(fetch_max.value.as_ref().map(|v| v.to_string()).as_deref(), Some("2097152"));
    assert_eq!(fetch_max.config_source, 4, "set on the command line: STATIC_BROKER_CONFIG");
    assert_eq!(fetch_max.config_type, 3, "INT");
    let idle = entries["connections.max.idle.ms"];
    assert_eq!(idle.value.as_ref().map(|v| v.to_string()).as_deref(), Some("600000"));
    assert_eq!(idle.config_source, 5, "not set: DEFAULT_CONFIG");
    assert_eq!(idle.config_type, 5, "LONG");
    assert!(
        entries["log.retention.ms"].synonyms.iter().any(|s| s.name.as_str() == "log.retention.hours" && s.source == 5),
        "the default of log.retention.ms comes from log.retention.hours"
    );
    for entry in entries.values() {
        assert!(entry.documentation.as_ref().is_some_and(|d| !d.is_empty()), "{} has no documentation", entry.name.as_str());
        assert!(!entry.is_sensitive, "{}", entry.name.as_str());
    }
    // The topic resource describes every Kafka 4.0 topic config.
    let topic = unique_name("described");
    create_topic(&broker.bootstrap(), &topic, 1, &[("min.cleanable.dirty.ratio", "0.25")]);
    let request = DescribeConfigsRequest::default()
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic))
            .with_configuration_keys(None)]);
    let (response, _) = connect(&broker).call(ApiKey::DescribeConfigs, 4, request).unwrap();
    let ResponseKind::DescribeConfigs(r) = response else { panic!("{response:?}") };
    let entries: HashMap<String, _> = r.results[0].configs.iter().map(|c| (c.name.to_string(), c)).collect();
    assert_eq!(entries.len(), 33, "Kafka 4.0 has 33 topic configs: {:?}", entries.keys());
    let ratio = entries["min.cleanable.dirty.ratio"];
    assert_eq!((ratio.value.as_ref().map(|v| v.to_string()).as_deref(), ratio.config_source, ratio.config_type), (Some("0.25"), 1, 6));
}

#[test]
fn describe_log_dirs_reports_the_log_dir_its_space_and_partition_sizes() {
    let broker = BrokerProcess::start();
    let topic = unique_name("sized");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    produce(&broker.bootstrap(), &topic, (0..100u32).map(|i| (None, vec![i as u8; 1000])), &[("compression.type", "none")]);
    let (response, _) = connect(&broker).call(ApiKey::DescribeLogDirs, 4, DescribeLogDirsRequest::default().with_topics(None)).unwrap();
    let ResponseKind::DescribeLogDirs(r) = response else { panic!("{response:?}") };
    assert_eq!(r.results.len(), 1, "one log dir");
    let dir = &r.results[0];
    assert_eq!(dir.error_code, 0);
    assert!(dir.log_dir.as_str().ends_with("logs"), "{}", dir.log_dir.as_str());
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    let ours = dir.topics.iter().find(|t| t.name.as_str() == topic).expect("the topic is in the log dir");
    assert_eq!(ours.partitions.len(), 1);
    assert!(ours.partitions[0].partition_size >= 100_000, "size {}", ours.partitions[0].partition_size);
    assert!(dir.topics.iter().any(|t| t.name.as_str() == "__consumer_offsets"));

    // AlterReplicaLogDirs: to the directory the replica is in, nothing to do; to any other,
    // LOG_DIR_NOT_FOUND (there is one log dir).
    use kafka_protocol::messages::AlterReplicaLogDirsRequest;
    use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    let log_dir = dir.log_dir.to_string();
    for (path, expected) in [(log_dir.as_str(), 0), ("/elsewhere", ResponseError::LogDirNotFound.code())] {
        let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
            .with_path(StrBytes::from_string(path.to_string()))
            .with_topics(vec![AlterReplicaLogDirTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(vec![0])])]);
        let (response, _) = connect(&broker).call(ApiKey::AlterReplicaLogDirs, 2, request).unwrap();
        let ResponseKind::AlterReplicaLogDirs(r) = response else { panic!("{response:?}") };
        assert_eq!(r.results[0].partitions[0].error_code, expected, "moving to {path}");
    }
}

#[test]
fn describe_topic_partitions_pages_through_topics_with_a_cursor() {
    let broker = BrokerProcess::start();
    let (a, b) = (unique_name("pages-a"), unique_name("pages-b"));
    create_topic(&broker.bootstrap(), &a, 5, &[]);
    create_topic(&broker.bootstrap(), &b, 3, &[]);
    let names = [a.clone(), b.clone()];
    let mut client = connect(&broker);
    let mut cursor = None;
    let mut pages = Vec::new();
    for _ in 0..10 {
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(names.iter().map(|n| TopicRequest::default().with_name(TopicName(StrBytes::from_string(n.clone())))).collect())
            .with_response_partition_limit(3)
            .with_cursor(cursor.take());
        let (response, _) = client.call(ApiKey::DescribeTopicPartitions, 0, request).unwrap();
        let ResponseKind::DescribeTopicPartitions(r) = response else { panic!("{response:?}") };
        let page: Vec<(String, i32)> = r
            .topics
            .iter()
            .flat_map(|t| {
                assert_eq!(t.error_code, 0);
                t.partitions.iter().map(move |p| (t.name.as_ref().unwrap().to_string(), p.partition_index))
            })
            .collect();
        assert!(page.len() <= 3, "a page holds at most the limit: {page:?}");
        pages.push(page);
        match r.next_cursor {
            Some(next) => cursor = Some(Cursor::default().with_topic_name(next.topic_name).with_partition_index(next.partition_index)),
            None => break,
        }
    }
    let all: Vec<(String, i32)> = pages.concat();
    let expected: Vec<(String, i32)> = (0..5).map(|p| (a.clone(), p)).chain((0..3).map(|p| (b.clone(), p))).collect();
    assert_eq!(all, expected, "every partition once, in order, over {} pages", pages.len());
    assert_eq!(pages.len(), 3);
}

#[test]
fn dynamic_broker_configs_change_topic_defaults_at_runtime_and_survive_a_restart() {
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let mut broker = BrokerProcess::start();
    let topic = unique_name("inherits");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    let alter = |name: &str, key: &str, value: &str| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.to_string())))])])
    };
    let answer = |broker: &BrokerProcess, request| {
        let (response, _) = connect(broker).call(ApiKey::IncrementalAlterConfigs, 1, request).unwrap();
        let ResponseKind::IncrementalAlterConfigs(r) = response else { panic!("{response:?}") };
        (r.responses[0].error_code, r.responses[0].error_message.as_ref().map(|m| m.to_string()))
    };
    // The cluster-wide default, as kafka-configs.sh --entity-type brokers --entity-default does.
    assert_eq!(answer(&broker, alter("", "log.retention.ms", "3600000")).0, 0);
    // A setting Kafka does not change at runtime is refused, naming it.
    let (code, message) = answer(&broker, alter("1", "log.retention.hours", "1"));
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert!(message.unwrap_or_default().contains("log.retention.hours"));
    // A bad value is refused.
    assert_eq!(answer(&broker, alter("1", "log.segment.bytes", "12")).0, ResponseError::InvalidConfig.code());

    let describe_topic = |broker: &BrokerProcess| {
        let request = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.clone()))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")]))]);
        let (response, _) = connect(broker).call(ApiKey::DescribeConfigs, 4, request).unwrap();
        let ResponseKind::DescribeConfigs(r) = response else { panic!("{response:?}") };
        let c = &r.results[0].configs[0];
        (c.value.as_ref().map(|v| v.to_string()), c.config_source)
    };
    assert_eq!(describe_topic(&broker), (Some("3600000".to_string()), 3), "inherited from DYNAMIC_DEFAULT_BROKER_CONFIG");
    broker.restart();
    assert_eq!(describe_topic(&broker), (Some("3600000".to_string()), 3), "kept across a restart");
}
