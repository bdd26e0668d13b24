#!/usr/bin/env python3
"""Drives a Fjord broker with kafka-python (pure Python client) and checks every answer.

Usage: kafka_python_check.py BOOTSTRAP PREFIX [--records N] [--debug]

Scenario, on topics and a group named after PREFIX:
  1. KafkaAdminClient: create a 3-partition topic and a 1-partition one; creating the first
     again fails with TopicAlreadyExistsError; delete the second and see it leave list_topics.
  2. KafkaProducer (acks='all', idempotent): N keyed records with explicit timestamps; every
     send succeeds, offsets per partition are 0..n-1 in send order, a key stays on one
     partition.
  3. KafkaConsumer with a group (auto_offset_reset='earliest', manual commits) reads every
     record exactly once with the key, value and timestamp sent; commit() succeeds;
     committed(), end_offsets(), beginning_offsets() and offsets_for_times() match what was
     produced, and so do KafkaAdminClient.list_group_offsets and list_partition_offsets.
  4. A second consumer in the same group gets nothing and starts at the committed offsets.
  5. KafkaAdminClient.delete_group_offsets on the now empty group: partition 0's offset goes;
     a partition of a topic that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION.

Prints one JSON summary line on stdout (last line); exits 0 only if every check passed.
Diagnostics on stderr; --debug adds kafka-python's debug log (every request and response).
"""

import argparse
import logging
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import TopicAlreadyExistsError

from check_common import STEP_TIMEOUT_S, Checks

PARTITIONS = 3
TIMEOUT_MS = int(STEP_TIMEOUT_S * 1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("prefix")
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    checks = Checks("kafka_python_check")
    checks.run(lambda c: scenario(c, args))


def scenario(c, args):
    topic = f"{args.prefix}-orders"
    doomed = f"{args.prefix}-doomed"
    group = f"{args.prefix}-group"
    n = args.records
    c.summary.update(client="kafka-python", version=kafka.__version__, topic=topic, group=group, records=n)
    common = {"bootstrap_servers": args.bootstrap, "client_id": f"{args.prefix}-kafka-python", "request_timeout_ms": 15000}

    # ---------------------------------------------------------------------------------------
    c.begin("admin: create topics")
    admin = KafkaAdminClient(**common)
    admin.create_topics(
        {topic: {"num_partitions": PARTITIONS, "replication_factor": 1}, doomed: {"num_partitions": 1, "replication_factor": 1}},
        timeout_ms=15000,
    )
    admin.wait_for_topics([topic, doomed], timeout_ms=TIMEOUT_MS)
    described = {t["name"]: t for t in admin.describe_topics([topic])}
    partitions = sorted(p["partition_index"] for p in described[topic]["partitions"])
    c.equal("partitions of the new topic", partitions, list(range(PARTITIONS)))
    cluster = admin.describe_cluster()
    brokers = sorted(f"{b['host']}:{b['port']}" for b in cluster["brokers"])
    c.equal("describe_cluster brokers", brokers, [args.bootstrap])
    c.summary["brokers"] = brokers

    c.begin("admin: create an existing topic")
    try:
        admin.create_topics({topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, timeout_ms=15000)
        c.expect("creating an existing topic fails", False, "it succeeded")
    except TopicAlreadyExistsError:
        c.expect("creating an existing topic raises TopicAlreadyExistsError", True)

    c.begin("admin: delete topic")
    admin.delete_topics([doomed], timeout_ms=15000)
    c.wait_until(f"{doomed} gone from list_topics", lambda: doomed not in admin.list_topics())
    c.expect(f"{topic} still listed", topic in admin.list_topics())

    # ---------------------------------------------------------------------------------------
    c.begin("produce")
    base_ts = int(time.time() * 1000) - 10 * 60 * 1000  # ten minutes ago, one ms apart
    producer = KafkaProducer(
        **common,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_block_ms=TIMEOUT_MS,
        delivery_timeout_ms=TIMEOUT_MS,
    )
    sent = {}
    futures = []
    for i in range(n):
        key, value, ts = f"key-{i % 37}", f"value-{i:06d}", base_ts + i
        sent[i] = (key, value, ts)
        futures.append(producer.send(topic, key=key.encode(), value=value.encode(), timestamp_ms=ts))
    producer.flush(timeout=STEP_TIMEOUT_S)
    delivered = {}  # (partition, offset) -> i
    send_errors = []
    for i, future in enumerate(futures):
        try:
            md = future.get(timeout=STEP_TIMEOUT_S)
            delivered[(md.partition, md.offset)] = i
        except Exception as exc:  # noqa: BLE001 - every failed send is reported
            send_errors.append(f"record {i}: {type(exc).__name__}: {exc}")
    producer.close(timeout=10)
    c.equal("send errors", send_errors[:10], [])
    c.equal("records acknowledged", len(delivered), n)

    counts = {p: 0 for p in range(PARTITIONS)}
    by_partition = {p: [] for p in range(PARTITIONS)}
    for (p, o), i in delivered.items():
        counts[p] = counts.get(p, 0) + 1
        by_partition.setdefault(p, []).append((o, i))
    for p, entries in by_partition.items():
        entries.sort()
        c.equal(f"partition {p}: offsets are 0..n-1", [o for o, _ in entries], list(range(len(entries))))
        c.expect(f"partition {p}: offsets follow send order", [i for _, i in entries] == sorted(i for _, i in entries))
    key_partitions = {}
    for (p, _), i in delivered.items():
        key_partitions.setdefault(sent[i][0], set()).add(p)
    c.equal("keys on more than one partition", sorted(k for k, ps in key_partitions.items() if len(ps) > 1), [])
    c.summary["partition_counts"] = {str(p): counts[p] for p in sorted(counts)}

    # ---------------------------------------------------------------------------------------
    c.begin("consume with a group")
    consumer_conf = dict(
        common,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
        request_timeout_ms=TIMEOUT_MS,
    )
    consumer = KafkaConsumer(**consumer_conf)
    # The broker version kafka-python inferred from ApiVersions; it picks request versions by it.
    c.summary["inferred_broker_version"] = ".".join(map(str, consumer.config.get("api_version") or ()))
    consumer.subscribe([topic])
    received = {}
    duplicates = []
    deadline = time.monotonic() + 60
    while len(received) < n and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                where = (r.partition, r.offset)
                if where in received:
                    duplicates.append(where)
                received[where] = (r.key.decode() if r.key is not None else None, r.value.decode(), r.timestamp, r.timestamp_type)
    extras = []
    for records in consumer.poll(timeout_ms=1000).values():
        extras.extend((r.partition, r.offset) for r in records)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.equal("assignment", sorted(tp.partition for tp in consumer.assignment()), list(range(PARTITIONS)))
    c.equal("records consumed", len(received), n)
    c.equal("duplicates", duplicates[:10], [])
    c.equal("records beyond those produced", extras[:10], [])
    mismatches = []
    for where, i in delivered.items():
        key, value, ts = sent[i]
        got = received.get(where)
        if got != (key, value, ts, 0):  # timestamp_type 0: CreateTime
            mismatches.append({"partition": where[0], "offset": where[1], "sent": [key, value, ts], "got": got})
    c.equal("records that differ from what was sent (first 5)", mismatches[:5], [])
    c.summary["consumed"] = len(received)

    c.begin("commit")
    consumer.commit()
    committed = {tp.partition: consumer.committed(tp, timeout_ms=TIMEOUT_MS) for tp in tps}
    c.equal("committed offsets", committed, counts)
    c.equal("positions", {tp.partition: consumer.position(tp, timeout_ms=TIMEOUT_MS) for tp in tps}, counts)
    c.summary["committed"] = {str(p): o for p, o in committed.items()}

    c.begin("end_offsets, beginning_offsets, offsets_for_times")
    end = consumer.end_offsets(tps, timeout_ms=TIMEOUT_MS)
    c.equal("end_offsets", {tp.partition: o for tp, o in end.items()}, counts)
    begin = consumer.beginning_offsets(tps, timeout_ms=TIMEOUT_MS)
    c.equal("beginning_offsets", {tp.partition: o for tp, o in begin.items()}, {p: 0 for p in range(PARTITIONS)})
    query_ts = base_ts + n // 2

    def expected_for_time(p):
        hits = [(o, sent[i][2]) for o, i in by_partition[p] if sent[i][2] >= query_ts]
        return min(hits) if hits else None

    found = consumer.offsets_for_times({tp: query_ts for tp in tps}, timeout_ms=TIMEOUT_MS)
    for tp in tps:
        got = found.get(tp)
        c.equal(f"offsets_for_times partition {tp.partition}", (got.offset, got.timestamp) if got else None, expected_for_time(tp.partition))
    c.summary["end_offsets"] = {str(tp.partition): o for tp, o in end.items()}
    consumer.close(autocommit=False, timeout_ms=10000)

    c.begin("admin: list_group_offsets and list_partition_offsets")
    listed = admin.list_group_offsets({group: None})[group]
    c.equal("list_group_offsets", {tp.partition: om.offset for tp, om in listed.items() if tp.topic == topic}, counts)
    latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps}, timeout_ms=TIMEOUT_MS)
    c.equal("list_partition_offsets LATEST", {tp.partition: ot.offset for tp, ot in latest.items()}, counts)
    earliest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps}, timeout_ms=TIMEOUT_MS)
    c.equal("list_partition_offsets EARLIEST", {tp.partition: ot.offset for tp, ot in earliest.items()}, {p: 0 for p in range(PARTITIONS)})

    # ---------------------------------------------------------------------------------------
    c.begin("second consumer in the group")
    second = KafkaConsumer(**consumer_conf)
    second.subscribe([topic])
    late = []

    def assigned_everything():
        for records in second.poll(timeout_ms=200).values():
            late.extend((r.partition, r.offset) for r in records)
        return len(second.assignment()) == PARTITIONS

    c.wait_until("the second consumer's assignment", assigned_everything, timeout_s=60, interval_s=0)
    end_at = time.monotonic() + 2.0
    while time.monotonic() < end_at:
        for records in second.poll(timeout_ms=200).values():
            late.extend((r.partition, r.offset) for r in records)
    c.equal("second consumer positions", {tp.partition: second.position(tp, timeout_ms=TIMEOUT_MS) for tp in tps}, counts)
    c.equal("records the second consumer got", late[:10], [])
    second.close(autocommit=False, timeout_ms=10000)

    # ---------------------------------------------------------------------------------------
    c.begin("admin: delete_group_offsets")
    # The group is empty now: partition 0's offset can go; a topic that does not exist is
    # answered UNKNOWN_TOPIC_OR_PARTITION, partition by partition.
    missing = TopicPartition(f"{args.prefix}-no-such-topic", 0)
    results = admin.delete_group_offsets(group, [TopicPartition(topic, 0), missing])
    c.equal(
        "per-partition results",
        {(tp.topic, tp.partition): err.__name__ for tp, err in results.items()},
        {(topic, 0): "NoError", (missing.topic, 0): "UnknownTopicOrPartitionError"},
    )
    listed = admin.list_group_offsets({group: None})[group]
    c.equal("offsets left", {tp.partition: om.offset for tp, om in listed.items() if tp.topic == topic}, {p: counts[p] for p in range(1, PARTITIONS)})
    admin.close()


if __name__ == "__main__":
    main()
