#!/usr/bin/env python3
"""Drives a Fjord broker with confluent-kafka (librdkafka) and checks every answer.

Usage: confluent_kafka_check.py BOOTSTRAP PREFIX [--records N] [--debug]

Scenario, on topics and a group named after PREFIX:
  1. AdminClient: create a 3-partition topic and a 1-partition one; creating the first again
     fails with TOPIC_ALREADY_EXISTS; delete the second and see it disappear from metadata.
  2. Producer (acks=all, enable.idempotence=True): N keyed records with explicit timestamps;
     every delivery report succeeds, offsets per partition are 0..n-1 in send order, a key
     always lands on one partition.
  3. Watermarks (Consumer.get_watermark_offsets), Consumer.offsets_for_times and
     AdminClient.list_offsets (earliest, latest, by timestamp) match what was delivered.
  4. A group consumer (auto.offset.reset=earliest, manual commits) reads every record exactly
     once with the key, value and timestamp sent; commit(asynchronous=False) succeeds;
     committed() and AdminClient.list_consumer_group_offsets equal the end offsets.
  5. A second consumer in the same group starts at the committed offsets (end-of-partition
     there, no record), then gets exactly the records produced after it joined.
  6. Incremental cooperative rebalancing (partition.assignment.strategy=cooperative-sticky,
     KIP-429): a member joining takes some partitions from the first without the first
     giving up the rest; records produced after that reach exactly one of them, the owner.

Prints one JSON summary line on stdout (last line); exits 0 only if every check passed.
Diagnostics on stderr; --debug adds librdkafka's protocol debug log.
"""

import argparse
import time

import confluent_kafka
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from check_common import STEP_TIMEOUT_S, Checks

PARTITIONS = 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("prefix")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    checks = Checks("confluent_kafka_check")
    checks.run(lambda c: scenario(c, args))


def scenario(c, args):
    topic = f"{args.prefix}-orders"
    doomed = f"{args.prefix}-doomed"
    group = f"{args.prefix}-group"
    n = args.records
    client_errors = []
    c.summary.update(
        client="confluent-kafka",
        version=confluent_kafka.__version__,
        librdkafka=confluent_kafka.libversion()[0],
        topic=topic,
        group=group,
        records=n,
        client_errors=client_errors,
    )

    def on_error(err):
        # error_cb: connection failures, protocol errors, fatal idempotence errors.
        client_errors.append(str(err))
        c.log(f"client error: {err}")

    def config(**extra):
        conf = {
            "bootstrap.servers": args.bootstrap,
            "client.id": f"{args.prefix}-confluent",
            "socket.timeout.ms": 10000,
            "error_cb": on_error,
        }
        if args.debug:
            conf["debug"] = "broker,protocol,metadata,topic,msg,cgrp,fetch,eos,admin"
        conf.update(extra)
        return conf

    # ---------------------------------------------------------------------------------------
    c.begin("admin: create topics")
    admin = AdminClient(config())
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1), NewTopic(doomed, num_partitions=1, replication_factor=1)],
        operation_timeout=15,
        request_timeout=STEP_TIMEOUT_S,
    )
    for name, future in futures.items():
        future.result(timeout=STEP_TIMEOUT_S)  # raises KafkaException on a topic error
        c.log(f"created {name}")

    def topic_ready(name, partitions):
        md = admin.list_topics(timeout=10)
        t = md.topics.get(name)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return None
        if any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
            return None
        return md

    md = c.wait_until(f"{topic} with {PARTITIONS} partitions and leaders in metadata", lambda: topic_ready(topic, PARTITIONS))
    c.wait_until(f"{doomed} in metadata", lambda: topic_ready(doomed, 1))
    brokers = sorted(f"{b.host}:{b.port}" for b in md.brokers.values())
    c.equal("metadata brokers", brokers, [args.bootstrap])
    leaders = sorted({p.leader for p in md.topics[topic].partitions.values()})
    c.equal("partition leaders are the one broker", leaders, sorted(md.brokers.keys()))
    c.equal("partition ids", sorted(md.topics[topic].partitions.keys()), list(range(PARTITIONS)))
    c.summary["brokers"] = brokers

    c.begin("admin: create an existing topic")
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)], request_timeout=STEP_TIMEOUT_S)
    try:
        futures[topic].result(timeout=STEP_TIMEOUT_S)
        c.expect("creating an existing topic fails", False, "it succeeded")
    except KafkaException as exc:
        c.equal("error code", exc.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)

    c.begin("admin: delete topic")
    futures = admin.delete_topics([doomed], operation_timeout=15, request_timeout=STEP_TIMEOUT_S)
    futures[doomed].result(timeout=STEP_TIMEOUT_S)
    c.wait_until(f"{doomed} gone from metadata", lambda: doomed not in admin.list_topics(timeout=10).topics)
    c.expect(f"{topic} still listed", topic in admin.list_topics(timeout=10).topics)

    # ---------------------------------------------------------------------------------------
    c.begin("produce")
    base_ts = int(time.time() * 1000) - 10 * 60 * 1000  # ten minutes ago, one ms apart
    sent = {}  # i -> (key, value, timestamp)
    delivered = {}  # (partition, offset) -> i
    delivery_errors = []

    def on_delivery(err, msg):
        i = int(msg.value().decode().split("-")[1])
        if err is not None:
            delivery_errors.append(f"record {i}: {err}")
        else:
            delivered[(msg.partition(), msg.offset())] = i

    producer = Producer(config(**{"acks": "all", "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 30000}))
    for i in range(n):
        key, value, ts = f"key-{i % 37}", f"value-{i:06d}", base_ts + i
        sent[i] = (key, value, ts)
        while True:
            try:
                producer.produce(topic, key=key, value=value, timestamp=ts, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(STEP_TIMEOUT_S)
    c.equal("records left undelivered after flush", remaining, 0)
    c.equal("delivery errors", delivery_errors[:10], [])
    c.equal("delivery reports", len(delivered), n)
    c.equal("distinct records delivered", sorted(delivered.values()), list(range(n)))

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
    c.equal("keys spread over more than one partition", len({p for ps in key_partitions.values() for p in ps}) > 1, True)
    c.equal("keys on more than one partition", sorted(k for k, ps in key_partitions.items() if len(ps) > 1), [])
    c.summary["partition_counts"] = {str(p): counts[p] for p in sorted(counts)}

    # ---------------------------------------------------------------------------------------
    c.begin("watermarks and offsets for times")
    probe = Consumer(config(**{"group.id": f"{args.prefix}-probe", "enable.auto.commit": False}))
    watermarks = {}
    for p in range(PARTITIONS):
        low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
        watermarks[str(p)] = [low, high]
        c.equal(f"partition {p} watermarks", (low, high), (0, counts[p]))
    c.summary["watermarks"] = watermarks

    query_ts = base_ts + n // 2

    def expected_for_time(p):
        # Earliest offset whose timestamp >= query_ts; -1 when there is none.
        hits = [o for o, i in by_partition[p] if sent[i][2] >= query_ts]
        return min(hits) if hits else -1

    found = probe.offsets_for_times([TopicPartition(topic, p, query_ts) for p in range(PARTITIONS)], timeout=10)
    for tp in found:
        c.expect(f"offsets_for_times partition {tp.partition}: no error", tp.error is None, str(tp.error))
        c.equal(f"offsets_for_times partition {tp.partition}", tp.offset, expected_for_time(tp.partition))
    probe.close()

    c.begin("admin: list_offsets")
    for spec_name, spec, expected in (
        ("earliest", OffsetSpec.earliest(), lambda p: 0),
        ("latest", OffsetSpec.latest(), lambda p: counts[p]),
        ("for_timestamp", OffsetSpec.for_timestamp(query_ts), expected_for_time),
    ):
        futures = admin.list_offsets({TopicPartition(topic, p): spec for p in range(PARTITIONS)}, request_timeout=STEP_TIMEOUT_S)
        for tp, future in futures.items():
            info = future.result(timeout=STEP_TIMEOUT_S)
            c.equal(f"list_offsets {spec_name} partition {tp.partition}", info.offset, expected(tp.partition))
            if spec_name == "for_timestamp" and info.offset >= 0:
                i = dict(by_partition[tp.partition])[info.offset]
                c.equal(f"list_offsets for_timestamp partition {tp.partition}: timestamp", info.timestamp, sent[i][2])

    # ---------------------------------------------------------------------------------------
    c.begin("consume with a group")
    assigned = set()

    def on_assign(consumer, partitions):
        assigned.update(tp.partition for tp in partitions)
        c.log(f"assigned {[tp.partition for tp in partitions]}")

    consumer_conf = {
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    }
    consumer = Consumer(config(**consumer_conf))
    consumer.subscribe([topic], on_assign=on_assign)
    received = {}  # (partition, offset) -> (key, value, timestamp)
    duplicates = []
    consume_errors = []
    deadline = time.monotonic() + 60
    while len(received) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                consume_errors.append(str(msg.error()))
                c.log(f"consume error: {msg.error()}")
                if msg.error().fatal() or len(consume_errors) > 20:
                    break
            continue
        where = (msg.partition(), msg.offset())
        ts_type, ts = msg.timestamp()
        record = (msg.key().decode() if msg.key() else None, msg.value().decode(), ts, ts_type)
        if where in received:
            duplicates.append(where)
        received[where] = record
    # A little longer, to catch records beyond the ones sent.
    extra_deadline = time.monotonic() + 1.0
    extras = []
    while time.monotonic() < extra_deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            extras.append((msg.partition(), msg.offset()))
    c.equal("consume errors", consume_errors[:10], [])
    c.equal("assigned partitions", sorted(assigned), list(range(PARTITIONS)))
    c.equal("records consumed", len(received), n)
    c.equal("duplicates", duplicates[:10], [])
    c.equal("records beyond those produced", extras[:10], [])
    mismatches = []
    for where, i in delivered.items():
        key, value, ts = sent[i]
        got = received.get(where)
        if got != (key, value, ts, TIMESTAMP_CREATE_TIME):
            mismatches.append({"partition": where[0], "offset": where[1], "sent": [key, value, ts], "got": got})
    c.equal("records that differ from what was sent (first 5)", mismatches[:5], [])
    c.summary["consumed"] = len(received)

    c.begin("commit")
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    result = consumer.commit(asynchronous=False)
    c.equal(
        "commit result",
        sorted((tp.partition, tp.offset, str(tp.error) if tp.error else None) for tp in result or []),
        [(p, counts[p], None) for p in range(PARTITIONS)],
    )
    committed = consumer.committed(tps, timeout=10)
    c.equal("committed offsets", {tp.partition: tp.offset for tp in committed}, counts)
    c.equal("committed errors", [str(tp.error) for tp in committed if tp.error], [])
    positions = consumer.position(tps)
    c.equal("positions", {tp.partition: tp.offset for tp in positions}, counts)
    c.summary["committed"] = {str(tp.partition): tp.offset for tp in committed}
    consumer.close()

    c.begin("admin: list_consumer_group_offsets")
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)], request_timeout=STEP_TIMEOUT_S)
    listed = futures[group].result(timeout=STEP_TIMEOUT_S)
    c.equal("group offsets", {tp.partition: tp.offset for tp in listed.topic_partitions}, counts)

    # ---------------------------------------------------------------------------------------
    c.begin("second consumer in the group")
    # A new member of the group resumes at the committed offsets: every partition reports
    # end-of-partition at exactly the old end offset without delivering a record, and records
    # produced after that are all it gets. (librdkafka's position() stays unset until a record
    # is delivered, so end-of-partition events are what show where it starts.)
    assigned.clear()
    second = Consumer(config(**consumer_conf, **{"enable.partition.eof": True}))
    second.subscribe([topic], on_assign=on_assign)
    late = []
    eof_at = {}

    def poll_second(timeout_s):
        msg = second.poll(timeout_s)
        if msg is None:
            return
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof_at.setdefault(msg.partition(), msg.offset())
            else:
                consume_errors.append(str(msg.error()))
                c.log(f"second consumer error: {msg.error()}")
        else:
            late.append((msg.partition(), msg.offset(), msg.value().decode()))

    def at_end_everywhere():
        poll_second(0.2)
        return len(eof_at) == PARTITIONS

    c.wait_until("end-of-partition on every partition for the second consumer", at_end_everywhere, timeout_s=60, interval_s=0)
    c.equal("assigned partitions", sorted(assigned), list(range(PARTITIONS)))
    c.equal("second consumer starts at the committed offsets", eof_at, counts)
    c.equal("records the second consumer got before new ones were produced", late[:10], [])

    more = 30
    new_delivered = {}

    def on_new_delivery(err, msg):
        if err is None:
            new_delivered[(msg.partition(), msg.offset())] = msg.value().decode()
        else:
            delivery_errors.append(str(err))

    for i in range(n, n + more):
        producer.produce(topic, key=f"key-{i % 37}", value=f"value-{i:06d}", on_delivery=on_new_delivery)
    c.equal("new records left undelivered after flush", producer.flush(STEP_TIMEOUT_S), 0)
    c.equal("new records delivered", len(new_delivered), more)
    c.wait_until(f"the second consumer to receive the {more} new records", lambda: poll_second(0.2) or len(late) >= more, timeout_s=30, interval_s=0)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        poll_second(0.2)
    c.equal("the second consumer got exactly the new records", sorted(late), sorted((p, o, v) for (p, o), v in new_delivered.items()))
    c.expect("new records continue the old offsets", all(o >= counts[p] for (p, o) in new_delivered), str(sorted(new_delivered)))
    c.equal("consume errors", consume_errors[:10], [])
    second.close()

    # ---------------------------------------------------------------------------------------
    c.begin("cooperative-sticky group")
    coop_group = f"{args.prefix}-coop"
    events = {"first": [], "second": []}
    got = {}

    def coop_consumer(name):
        consumer = Consumer(config(**{
            "group.id": coop_group,
            "partition.assignment.strategy": "cooperative-sticky",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }))
        consumer.subscribe(
            [topic],
            on_assign=lambda _c, parts: events[name].append(("assign", sorted(p.partition for p in parts))),
            on_revoke=lambda _c, parts: events[name].append(("revoke", sorted(p.partition for p in parts))),
        )
        return consumer

    coop = {"first": coop_consumer("first")}

    def poll_all():
        for name, consumer in coop.items():
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error() and msg.value().decode().startswith("coop-"):
                got.setdefault(msg.value().decode(), []).append((name, msg.partition()))

    def owned(name):
        return sorted(tp.partition for tp in coop[name].assignment())

    c.wait_until("the first cooperative member to own every partition", lambda: poll_all() or owned("first") == list(range(PARTITIONS)), timeout_s=60, interval_s=0)
    coop["second"] = coop_consumer("second")
    c.wait_until(
        "the second member to take a share",
        lambda: poll_all() or (owned("second") and sorted(owned("first") + owned("second")) == list(range(PARTITIONS))),
        timeout_s=60,
        interval_s=0,
    )
    c.expect("the first member gave up only some partitions", ("revoke", list(range(PARTITIONS))) not in events["first"], str(events))
    c.expect("the first member kept some partitions", len(owned("first")) > 0, str(events))
    owners = {p: name for name in coop for p in owned(name)}
    coop_delivered = {}

    def on_coop_delivery(err, msg):
        if err is None:
            coop_delivered[msg.value().decode()] = msg.partition()
        else:
            delivery_errors.append(str(err))

    for i in range(30):
        producer.produce(topic, key=f"coop-key-{i}", value=f"coop-{i:03d}", on_delivery=on_coop_delivery)
    c.equal("cooperative records left undelivered after flush", producer.flush(STEP_TIMEOUT_S), 0)
    c.wait_until("every cooperative record to be consumed", lambda: poll_all() or len(got) >= len(coop_delivered), timeout_s=60, interval_s=0)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        poll_all()
    c.equal("each record read once, by its partition's owner", got, {v: [(owners[p], p)] for v, p in coop_delivered.items()})
    for consumer in coop.values():
        consumer.close()

    c.begin("end")
    c.equal("client errors (error_cb)", client_errors[:10], [])


if __name__ == "__main__":
    main()
