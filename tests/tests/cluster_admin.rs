//! The operator's side of a three-node cluster, through `fjord` and the Kafka admin APIs
//! behind it: the metadata quorum (DescribeQuorum), preferred-leader election (ElectLeaders),
//! moving a partition to another broker (AlterPartitionReassignments /
//! ListPartitionReassignments), and the replication metrics on `/metrics`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod cluster_clients;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_tests::{ClusterProcess, fjord_bin, run, unique_name, wait_until};
use cluster_clients::{assigned_reader, produce_acked, read_values};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn fjord(cluster: &ClusterProcess, args: &[&str]) -> fjord_tests::Output {
    let mut cmd = Command::new(fjord_bin());
    cmd.args(args).args(["-b", &cluster.bootstrap()]);
    run(&mut cmd, None, Duration::from_secs(120))
}

fn create_topic(cluster: &ClusterProcess, topic: &str, partitions: u32, replication: u32) {
    fjord(cluster, &["topic", "create", topic, "--partitions", &partitions.to_string(), "--replication-factor", &replication.to_string()]).assert_success();
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn produce(bootstrap: &str, topic: &str, count: u64) {
    produce_acked(bootstrap, topic, 0..count, Duration::from_secs(60));
}

fn read_all(bootstrap: &str, topic: &str, expected: usize) -> Vec<u64> {
    read_values(bootstrap, topic, 0, expected, Duration::from_secs(60), Duration::ZERO)
}

#[test]
fn cluster_describe_shows_the_metadata_quorum_with_every_voter_caught_up() {
    let cluster = ClusterProcess::start(3, |b| b);
    let described = wait_until("every voter caught up", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["cluster", "describe"])?;
        let voters = d["quorum"]["voters"].as_array()?;
        (voters.len() == 3 && voters.iter().all(|v| v["lag"] == 0 && v["last_fetch_ms_ago"].as_i64().is_some())).then_some(d)
    });
    let quorum = &described["quorum"];
    assert_eq!(quorum["leader_id"], described["controller_id"], "the quorum's leader is the active controller: {described}");
    assert!(quorum["term"].as_i64().unwrap() >= 1, "{described}");
    let hw = quorum["high_watermark"].as_i64().unwrap();
    assert!(hw > 0, "the metadata log has entries: {described}");
    let voters: Vec<i64> = quorum["voters"].as_array().unwrap().iter().map(|v| v["node_id"].as_i64().unwrap()).collect();
    assert_eq!(voters, vec![1, 2, 3]);
    for v in quorum["voters"].as_array().unwrap() {
        assert_eq!(v["log_end_offset"].as_i64().unwrap(), hw, "{described}");
    }
}

#[test]
fn a_preferred_election_moves_leadership_back_after_a_broker_returns() {
    // Automatic rebalancing off, so only the operator's election moves leadership back.
    let mut cluster = ClusterProcess::start(3, |b| b.env("FJORD_AUTO_LEADER_REBALANCE_ENABLE", "false"));
    let topic = unique_name("elect");
    create_topic(&cluster, &topic, 3, 3);
    let settled = |d: &serde_json::Value| d["partitions"].as_array().unwrap().iter().all(|p| p["isr"].as_array().unwrap().len() == 3);
    let before = wait_until("a full ISR everywhere", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &topic]).filter(settled));
    let p0 = &before["partitions"][0];
    let preferred = ids(&p0["replicas"])[0];
    assert_eq!(p0["leader"].as_i64().unwrap(), preferred, "a new partition is led by its preferred replica: {before}");

    cluster.node(preferred as usize).kill();
    wait_until("another leader for partition 0", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["topic", "describe", &topic])?;
        let leader = d["partitions"][0]["leader"].as_i64()?;
        (leader > 0 && leader != preferred).then_some(())
    });
    cluster.node(preferred as usize).restart();
    let back = wait_until("the broker back in every ISR", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &topic]).filter(settled));
    assert_ne!(back["partitions"][0]["leader"].as_i64().unwrap(), preferred, "leadership stays away until an election: {back}");

    let out = fjord(&cluster, &["topic", "elect-leaders", &topic, "--output", "json"]);
    out.assert_success();
    let outcomes: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let p0 = outcomes.as_array().unwrap().iter().find(|o| o["partition"] == 0).unwrap();
    assert_eq!(p0["result"], "elected", "{outcomes}");
    assert!(outcomes.as_array().unwrap().iter().filter(|o| o["partition"] != 0).all(|o| o["result"] == "not_needed"), "{outcomes}");
    let after = cluster.describe_topic(&topic);
    assert_eq!(after["partitions"][0]["leader"].as_i64().unwrap(), preferred, "{after}");
    assert!(after["partitions"][0]["leader_epoch"].as_i64().unwrap() > back["partitions"][0]["leader_epoch"].as_i64().unwrap(), "{after}");

    // An unknown partition is an error for that partition, and the command says so.
    let out = fjord(&cluster, &["topic", "elect-leaders", &topic, "--partition", "9"]);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stdout.contains("no such topic or partition"), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn reassigning_a_partition_moves_its_records_to_the_new_broker_and_off_the_old() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("move");
    create_topic(&cluster, &topic, 1, 2);
    let d = wait_until("two in-sync replicas", Duration::from_secs(60), Duration::from_millis(300), || {
        cluster.fjord_json(&["topic", "describe", &topic]).filter(|d| d["partitions"][0]["isr"].as_array().is_some_and(|i| i.len() == 2))
    });
    let old = ids(&d["partitions"][0]["replicas"]);
    let (kept, dropped) = (old[0], old[1]);
    let added = (1..=3).find(|b| !old.contains(b)).unwrap();
    produce(&cluster.bootstrap(), &topic, 2_000);

    let target = format!("{added},{kept}");
    let out = fjord(&cluster, &["topic", "reassign", &topic, "--partition", "0", "--replicas", &target, "--wait", "--output", "json"]);
    out.assert_success();
    let after = cluster.describe_topic(&topic);
    let p = &after["partitions"][0];
    assert_eq!(ids(&p["replicas"]), vec![added, kept], "{after}");
    assert_eq!(ids(&p["isr"]).into_iter().collect::<BTreeSet<_>>(), BTreeSet::from([added, kept]), "{after}");
    let listed = cluster.fjord_json(&["topic", "reassignments"]).unwrap();
    assert_eq!(listed, serde_json::json!([]), "nothing left in progress");

    // The dropped broker deletes its copy; the new one serves every record.
    let dropped_dir = cluster.node(dropped as usize).data_dir().join("logs").join(format!("{topic}-0"));
    wait_until("the dropped replica's directory removed", Duration::from_secs(30), Duration::from_millis(200), || (!dropped_dir.exists()).then_some(()));
    assert_eq!(read_all(&cluster.bootstrap(), &topic, 2_000), (0..2_000).collect::<Vec<u64>>());
    let metrics = cluster.node(p["leader"].as_i64().unwrap() as usize).metrics();
    let expands: f64 = metrics.lines().find_map(|l| l.strip_prefix("fjord_broker_isr_expands_total ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
    assert!(expands >= 1.0, "the leader counted adding the new replica to the ISR:\n{metrics}");
    let follower = if p["leader"].as_i64().unwrap() == added { kept } else { added };
    assert!(metrics.contains(&format!("replica=\"{follower}\"")), "the leader reports its follower's lag:\n{metrics}");

    // A move to an unknown broker is refused with the reason.
    let out = fjord(&cluster, &["topic", "reassign", &topic, "--replicas", "1,9"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("broker 9"), "{}", out.stderr);
}

#[test]
fn a_broker_only_node_joins_the_cluster_takes_replicas_and_is_drained_again() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let added = cluster.add_broker(|b| b) as i64;
    let described = wait_until("the new broker an observer of the quorum, caught up", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["cluster", "describe"])?;
        let observers = d["quorum"]["observers"].as_array()?;
        (observers.len() == 1 && observers[0]["node_id"] == added && observers[0]["lag"] == 0).then_some(d)
    });
    assert_eq!(described["quorum"]["voters"].as_array().unwrap().len(), 3, "{described}");
    assert_eq!(described["brokers"].as_array().unwrap().len(), 4, "{described}");

    let topic = unique_name("grow");
    create_topic(&cluster, &topic, 4, 3);
    let full = |d: &serde_json::Value| d["partitions"].as_array().unwrap().iter().all(|p| p["isr"].as_array().unwrap().len() == 3);
    let d = wait_until("a full ISR everywhere", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &topic]).filter(full));
    let on_added = d["partitions"].as_array().unwrap().iter().filter(|p| ids(&p["replicas"]).contains(&added)).count();
    assert!(on_added >= 2, "the new broker takes its share of replicas: {d}");
    produce(&cluster.bootstrap(), &topic, 1_000);

    // It survives a SIGKILL and restart like any member: it catches up from the controller
    // quorum without a vote, and rejoins the ISRs.
    cluster.node(added as usize).kill();
    cluster.node(added as usize).restart();
    cluster.wait_until_all_alive();
    wait_until("a full ISR again", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &topic]).filter(full));

    // Drained: every replica it held moves to the other brokers.
    fjord(&cluster, &["topic", "reassign", "--drain-broker", &added.to_string(), "--wait"]).assert_success();
    let after = wait_until("every partition off the drained broker, fully in sync", Duration::from_secs(60), Duration::from_millis(300), || {
        cluster.fjord_json(&["topic", "describe", &topic]).filter(|d| full(d) && d["partitions"].as_array().unwrap().iter().all(|p| !ids(&p["replicas"]).contains(&added)))
    });
    let mut values: Vec<u64> = Vec::new();
    for p in 0..4 {
        let consumer = assigned_reader(&cluster.bootstrap(), &topic, [p]);
        let (_, end) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut read = 0;
        while read < end && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                values.push(std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap());
                read = m.offset() + 1;
            }
        }
    }
    values.sort_unstable();
    assert_eq!(values, (0..1_000).collect::<Vec<u64>>(), "every record survived the drain: {after}");
}

#[test]
fn group_requests_reach_the_coordinator_and_other_brokers_say_not_coordinator() {
    use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, GroupId, ResponseKind};
    use kafka_protocol::protocol::StrBytes;

    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("groups");
    create_topic(&cluster, &topic, 1, 3);
    produce(&cluster.bootstrap(), &topic, 10);
    let group = unique_name("g");
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", cluster.bootstrap()).set("group.id", &group).set("enable.auto.commit", "false").create().unwrap();
    let mut position = TopicPartitionList::new();
    position.add_partition_offset(&topic, 0, Offset::Offset(7)).unwrap();
    consumer.commit(&position, rdkafka::consumer::CommitMode::Sync).unwrap();
    drop(consumer);

    let mut answers = Vec::new();
    for id in 1..=3 {
        let mut client = fjord_tests::RawClient::connect(cluster.node(id).kafka_addr()).unwrap();
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(StrBytes::from_string(group.clone()))]);
        let (response, _) = client.call(ApiKey::DescribeGroups, 5, request).unwrap();
        let ResponseKind::DescribeGroups(r) = response else { panic!("{response:?}") };
        assert_eq!(r.groups.len(), 1);
        answers.push((id, r.groups[0].error_code, r.groups[0].group_state.to_string()));
    }
    let coordinators: Vec<_> = answers.iter().filter(|(_, code, _)| *code == 0).collect();
    assert_eq!(coordinators.len(), 1, "exactly one broker coordinates the group: {answers:?}");
    assert_eq!(coordinators[0].2, "Empty", "{answers:?}");
    assert!(answers.iter().filter(|(_, code, _)| *code != 0).all(|(_, code, _)| *code == 16), "the others answer NOT_COORDINATOR: {answers:?}");

    // The group's commit is there through any bootstrap broker (clients follow FindCoordinator).
    let reader: BaseConsumer = ClientConfig::new().set("bootstrap.servers", cluster.bootstrap()).set("group.id", &group).create().unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, 0);
    let committed = reader.committed_offsets(wanted, Duration::from_secs(10)).unwrap();
    assert_eq!(committed.find_partition(&topic, 0).unwrap().offset(), Offset::Offset(7));
}

#[test]
fn producer_ids_come_from_blocks_the_controller_hands_out_and_never_repeat() {
    use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId, ResponseKind};

    let mut cluster = ClusterProcess::start(3, |b| b);
    let init = |cluster: &mut ClusterProcess, id: usize| -> i64 {
        let mut client = fjord_tests::RawClient::connect(cluster.node(id).kafka_addr()).unwrap();
        let request = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000).with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
        let (response, _) = client.call(ApiKey::InitProducerId, 4, request).unwrap();
        let ResponseKind::InitProducerId(r) = response else { panic!("{response:?}") };
        assert_eq!(r.error_code, 0, "{r:?}");
        r.producer_id.0
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        for node in 1..=3 {
            ids.push(init(&mut cluster, node));
        }
    }
    // A restarted broker takes a fresh block rather than reusing its old one.
    cluster.node(1).kill();
    cluster.node(1).restart();
    cluster.wait_until_all_alive();
    ids.push(init(&mut cluster, 1));
    let distinct: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "every producer id is handed out once: {ids:?}");
    assert!(ids.iter().all(|&id| id >= 0));
}

#[test]
fn controller_only_nodes_run_the_quorum_while_the_brokers_serve_clients() {
    use kafka_protocol::messages::{ApiKey, MetadataRequest, ResponseKind};

    // Nodes 1–3 vote and run the controller, nothing else; 4–6 are brokers only.
    let mut cluster = ClusterProcess::start_separated(3, 3, |b| b);
    let described = wait_until("three voters and three caught-up observers", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["cluster", "describe"])?;
        let node_ids = |key: &str| d["quorum"][key].as_array().map(|a| a.iter().map(|v| v["node_id"].as_i64().unwrap()).collect::<Vec<_>>());
        let caught_up = d["quorum"]["observers"].as_array()?.iter().all(|o| o["lag"] == 0);
        (node_ids("voters")? == [1, 2, 3] && node_ids("observers")? == [4, 5, 6] && caught_up).then_some(d)
    });
    let brokers: Vec<i64> = described["brokers"].as_array().unwrap().iter().map(|b| b["node_id"].as_i64().unwrap()).collect();
    assert_eq!(brokers, [4, 5, 6], "controllers are not brokers: {described}");
    let controller = described["controller_id"].as_i64().unwrap();
    assert!((1..=3).contains(&controller), "the active controller is a controller-only node: {described}");
    assert!(cluster.node(controller as usize).metrics().contains("fjord_broker_active_controller 1"));

    // Kafka clients are told a broker they can reach as the controller (it forwards admin
    // requests), never a node without a Kafka listener.
    let mut client = fjord_tests::RawClient::connect(cluster.node(4).kafka_addr()).unwrap();
    let (response, _) = client.call(ApiKey::Metadata, 12, MetadataRequest::default().with_topics(Some(vec![]))).unwrap();
    let ResponseKind::Metadata(metadata) = response else { panic!("{response:?}") };
    assert!((4..=6).contains(&i64::from(metadata.controller_id.0)), "Metadata names a broker as controller: {metadata:?}");

    // Admin operations and placement go through the brokers to the controller quorum; every
    // replica lands on a broker.
    let topic = unique_name("separated");
    create_topic(&cluster, &topic, 3, 3);
    let full = |d: &serde_json::Value| d["partitions"].as_array().unwrap().iter().all(|p| p["isr"].as_array().unwrap().len() == 3);
    let d = wait_until("a full ISR everywhere", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &topic]).filter(full));
    for p in d["partitions"].as_array().unwrap() {
        assert!(ids(&p["replicas"]).iter().all(|r| (4..=6).contains(r)), "replicas only on brokers: {d}");
    }
    produce(&cluster.bootstrap(), &topic, 500);

    // The active controller dies: another controller-only node takes over and the cluster
    // keeps creating topics and taking writes.
    cluster.node(controller as usize).kill();
    let after = wait_until("another active controller", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["cluster", "describe"])?;
        let c = d["controller_id"].as_i64()?;
        ((1..=3).contains(&c) && c != controller).then_some(d)
    });
    let fresh = unique_name("after");
    create_topic(&cluster, &fresh, 1, 3);
    wait_until("the new topic fully in sync", Duration::from_secs(60), Duration::from_millis(300), || cluster.fjord_json(&["topic", "describe", &fresh]).filter(full));
    produce_acked(&cluster.bootstrap(), &topic, 500..1_000, Duration::from_secs(60));
    produce(&cluster.bootstrap(), &fresh, 300);

    cluster.node(controller as usize).restart();
    wait_until("the restarted controller caught up as a voter", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["cluster", "describe"])?;
        d["quorum"]["voters"].as_array()?.iter().all(|v| v["lag"] == 0 && v["last_fetch_ms_ago"].as_i64().is_some()).then_some(())
    });
    let mut values: Vec<u64> = (0..3).flat_map(|p| read_values(&cluster.bootstrap(), &topic, p, 0, Duration::ZERO, Duration::from_secs(5))).collect();
    values.sort_unstable();
    assert_eq!(values, (0..1_000).collect::<Vec<u64>>(), "{after}");
    assert_eq!(read_all(&cluster.bootstrap(), &fresh, 300), (0..300).collect::<Vec<u64>>());
}
