#!/usr/bin/env python3
"""A second-language consumer of switchboard's topics, written only from spec/EVENTS.md.

It reads the given topics from the beginning to their current end with confluent-kafka
(librdkafka), without a consumer group, decodes every record value as JSON and checks:
  - the record key is the one section 1 derives from the event ({CustomerID}:{AgentID or ThisDN}
    on voice-agentstate, {CustomerID}:{CallThreadID} on voice-callthread);
  - the partition is murmur2(key) as the Java client computes it (toPositive(h) % partitions);
    confluent-kafka's own default partitioner differs, so murmur2 is implemented here;
  - Seq is 1, 2, 3... per (topic, key) in offset order;
  - the headers event, tenant and schema match the value.
It prints one JSON summary line last and exits 1 if it found any problem (0 otherwise,
2 on usage or connection errors).

    consume.py --brokers 127.0.0.1:9092 --topic voice-agentstate --topic voice-callthread
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition, OFFSET_BEGINNING

AGENT_SUFFIX = "voice-agentstate"
CALL_SUFFIX = "voice-callthread"


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) as a signed 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = n4 * 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Printed by org.apache.kafka.common.utils.Utils.murmur2 of kafka-clients 4.1.1
# (the first six are also Kafka's own UtilsTest cases).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"acme:agent7": 875296164,
    b"acme:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b": 887729887,
    "é:ü".encode(): 74074550,
}


def self_test():
    bad = {k: (murmur2(k), v) for k, v in JAVA_VECTORS.items() if murmur2(k) != v}
    if bad:
        raise SystemExit("murmur2 disagrees with the Java client: %r" % bad)


def want_key(topic, ev):
    tenant = ev.get("CustomerID")
    if topic.endswith(CALL_SUFFIX):
        return "%s:%s" % (tenant, ev.get("CallThreadID"))
    return "%s:%s" % (tenant, ev.get("AgentID") or ev.get("ThisDN"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to read to the end")
    ap.add_argument("--verbose", action="store_true", help="print each problem")
    args = ap.parse_args()
    self_test()

    conf = {
        "bootstrap.servers": args.brokers,
        # assign() is used, so the group is never joined; librdkafka still wants a name.
        # Never "callthread": switchboard reserves it.
        "group.id": "switchboard-interop-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    c = Consumer(conf)
    try:
        md = c.list_topics(timeout=15)
    except KafkaException as e:
        print(json.dumps({"error": "metadata: %s" % e}))
        return 2
    assign, partitions = [], {}
    for t in args.topic:
        tm = md.topics.get(t)
        if tm is None or tm.error is not None or not tm.partitions:
            print(json.dumps({"error": "topic %s: %s" % (t, tm.error if tm else "missing")}))
            return 2
        partitions[t] = len(tm.partitions)
        for p in sorted(tm.partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=15)
            if hi > lo:
                assign.append(TopicPartition(t, p, OFFSET_BEGINNING))
    ends = {}
    for tp in assign:
        ends[(tp.topic, tp.partition)] = c.get_watermark_offsets(tp, timeout=15)[1]
    c.assign(assign)

    records, problems = [], {"key": [], "partition": [], "seq": [], "header": [], "decode": []}
    pending = set(ends)
    deadline = time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        msg = c.poll(1.0)
        if msg is None:
            continue
        tp = (msg.topic(), msg.partition())
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                if tp in pending and msg.offset() >= ends[tp]:
                    pending.discard(tp)
                continue
            print(json.dumps({"error": "consume: %s" % msg.error()}))
            return 2
        if msg.offset() >= ends[tp]:
            pending.discard(tp)
            continue
        records.append((msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers() or []))
        if msg.offset() >= ends[tp] - 1:
            pending.discard(tp)
    c.close()
    if pending:
        print(json.dumps({"error": "did not reach the end of %s in %ss" % (sorted(pending), args.timeout)}))
        return 2

    last = {}
    events = {}
    for topic, part, off, key, value, headers in sorted(records, key=lambda r: (r[0], r[1], r[2])):
        where = "%s[%d]@%d" % (topic, part, off)
        try:
            ev = json.loads(value)
        except (TypeError, ValueError) as e:
            problems["decode"].append("%s: %s" % (where, e))
            continue
        k = (key or b"").decode("utf-8", "replace")
        if k != want_key(topic, ev):
            problems["key"].append("%s: key %r, want %r" % (where, k, want_key(topic, ev)))
        wp = java_partition(key or b"", partitions[topic])
        if part != wp:
            problems["partition"].append("%s: key %r on partition %d, murmur2 gives %d" % (where, k, part, wp))
        seq = ev.get("Seq")
        prev = last.get((topic, k), 0)
        if seq != prev + 1:
            problems["seq"].append("%s: key %r Seq %r after %r" % (where, k, seq, prev))
        last[(topic, k)] = seq if isinstance(seq, int) else prev + 1
        h = {hk: (hv or b"").decode() for hk, hv in headers}
        if h.get("event") != ev.get("id") or h.get("tenant") != ev.get("CustomerID") or \
                h.get("schema") != str(ev.get("SchemaVersion")):
            problems["header"].append("%s: headers %r" % (where, h))
        events[ev.get("id")] = events.get(ev.get("id"), 0) + 1

    if args.verbose:
        for kind, ps in problems.items():
            for p in ps:
                print("%s: %s" % (kind, p), file=sys.stderr)
    summary = {
        "records": len(records),
        "keys": len(last),
        "partitions": partitions,
        "events": events,
        "problems": {k: len(v) for k, v in problems.items()},
        "examples": {k: v[:3] for k, v in problems.items() if v},
    }
    print(json.dumps(summary, sort_keys=True))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
