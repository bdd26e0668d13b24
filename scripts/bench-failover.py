#!/usr/bin/env python3
"""Time from a partition leader's SIGKILL to the first acknowledgement of a write sent after it.

Used by scripts/bench-cluster. A confluent-kafka producer (acks=all, idempotent) sends one
record every 20 ms to a replication-factor-3 topic of one partition; for each round the
script finds the partition's leader (`fjord topic describe`), SIGKILLs that node, records the
time, waits for the first delivery report that succeeds after it, restarts the node and
waits until the ISR is full again. Prints one JSON object: the unavailability of each round
in milliseconds, with p50 and max.

  bench-failover.py FJORD BOOTSTRAP TOPIC ROUNDS NODE_COMMAND_DIR
"""
import json, os, signal, subprocess, sys, threading, time

from confluent_kafka import Producer

fjord, bootstrap, topic, rounds, pid_dir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

acks = []  # (send time, ack time) of successful deliveries, monotonic
lock = threading.Lock()


def delivered(err, msg):
    if err is None:
        sent = float(msg.value().decode())
        with lock:
            acks.append((sent, time.monotonic()))


def describe():
    out = subprocess.run([fjord, "topic", "describe", topic, "--output", "json", "--timeout", "3s", "-b", bootstrap], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)["partitions"][0] if out.returncode == 0 else None


producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0, "message.timeout.ms": 120000})
stop = threading.Event()


def send():
    i = 0
    while not stop.is_set():
        producer.produce(topic, value=repr(time.monotonic()).encode(), on_delivery=delivered)
        producer.poll(0)
        i += 1
        time.sleep(0.02)


sender = threading.Thread(target=send)
sender.start()
results = []
try:
    time.sleep(3)
    for _ in range(rounds):
        p = None
        while p is None or p["leader"] <= 0 or len(p["isr"]) < 3:
            time.sleep(0.3)
            p = describe()
        leader = p["leader"]
        with open(os.path.join(pid_dir, f"node-{leader}.pid")) as f:
            pid = int(f.read())
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        first = None
        deadline = killed + 120
        while first is None and time.monotonic() < deadline:
            producer.poll(0.05)
            with lock:
                # The first write sent after the kill that the cluster acknowledged.
                first = min((acked for sent, acked in acks if sent > killed), default=None)
        if first is None:
            raise SystemExit(f"no write acknowledged within 120 s of killing node {leader}")
        results.append(round((first - killed) * 1000))
        # The runner restarts the node when its pid file goes.
        os.remove(os.path.join(pid_dir, f"node-{leader}.pid"))
        while not os.path.exists(os.path.join(pid_dir, f"node-{leader}.pid")):
            time.sleep(0.1)
finally:
    stop.set()
    sender.join()
    producer.flush(30)
ordered = sorted(results)
print(json.dumps({"rounds_ms": results, "p50_ms": ordered[len(ordered) // 2], "max_ms": ordered[-1]}))
