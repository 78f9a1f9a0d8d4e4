"""Benchmark: the checkers a Kafka profile runs (delivery with its position and read-session checks, order
across consumers and in the log, availability with reads and latency by phase) over a generated
1,000,000-op history, against a naive baseline of lost, duplicated and reordered.

The checkers stream the history (state per distinct message); the baseline first materialises every
record, then builds full Python sets. Both run in fresh subprocesses so peak memory (max RSS) is their
own. Both times include making the history's ops, which a third process measures alone, so that the
checking itself is shown too (the goal is about it). Printed, never asserted.
Usage: python -m bench.checkers [--ops N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

from chaos.checkers import AvailabilityChecker, DeliveryChecker, OrderChecker, run_checkers
from chaos.history import INVOKE, OK, Op

GROUPS = 16
PRODUCERS = 4


def _message(n: int) -> dict[str, object]:
    """Message ``n``, at its position: one partition per group, contiguous offsets."""
    group = n % GROUPS
    seq = n // (GROUPS * PRODUCERS)
    return {
        "id": n,
        "group": group,
        "producer": f"p{n % PRODUCERS}",
        "seq": seq,
        "partition": group,
        "offset": n // GROUPS,
    }


def generate(ops: int) -> Iterator[Op]:
    """Each consumer's assignment, then invoke/ok send and receive per message, interleaved with a lag of
    50 messages, a commit after every 100 receives; a drain at the end."""
    for c in range(GROUPS):
        yield Op(f"c{c}", OK, "assign", {"partitions": [c]}, time=0)
    messages = (ops - 2 - GROUPS) * 100 // 301  # 3 ops a message, and a commit per 100 of them
    t = 0
    lag = 50
    for n in range(messages + lag):
        if n < messages:
            value = _message(n)
            yield Op(f"p{n % PRODUCERS}", INVOKE, "send", value, time=t)
            yield Op(f"p{n % PRODUCERS}", OK, "send", value, time=t + 1)
            t += 2
        m = n - lag
        if m >= 0:
            yield Op(f"c{m % GROUPS}", OK, "receive", _message(m), time=t)
            t += 1
            if m % 100 == 99:
                done = _message(m)
                yield Op(f"c{m % GROUPS}", OK, "commit", {"offsets": [[done["partition"], done["offset"] + 1]]}, time=t)
    yield Op("c0", INVOKE, "drain", time=t)
    yield Op("c0", OK, "drain", time=t + 1)


def streaming(ops: int) -> dict[str, float]:
    began = time.perf_counter()
    checkers = [
        DeliveryChecker(positions=True, sessions=True, commits=True),
        OrderChecker(across_consumers=True, positions=True, owners=True),
        AvailabilityChecker(),
    ]
    delivery, order, availability = run_checkers(generate(ops), checkers, timelines=False)
    took = time.perf_counter() - began
    assert delivery.valid is True and order.valid is True, (delivery.summary(), order.summary())
    assert "skipped" in delivery.anomalies and "reordered_in_log" in order.anomalies
    assert delivery.anomaly("rewound").count == 0 and "rewound" not in delivery.incomplete
    assert order.anomaly("zombie_processed").count == 0 and "zombie_processed" not in order.incomplete
    assert delivery.stats["positions_read"] > 0 and availability.stats["latency_ms"]["before"]["count"] > 0
    return {"seconds": took}


def generation(ops: int) -> dict[str, float]:
    """Making the ops alone: what both the checkers' and the baseline's times include."""
    began = time.perf_counter()
    count = sum(1 for _ in generate(ops))
    assert count > 0
    return {"seconds": time.perf_counter() - began}


def naive(ops: int) -> dict[str, float]:
    began = time.perf_counter()
    records = [op.to_dict() for op in generate(ops)]
    sent = {r["value"]["id"] for r in records if r["f"] == "send" and r["type"] == OK}
    received = [r["value"]["id"] for r in records if r["f"] == "receive" and r["type"] == OK]
    lost = sent - set(received)
    duplicated = [m for m, c in Counter(received).items() if c > 1]
    streams: dict[tuple[str, int, str], list[int]] = {}
    for r in records:
        if r["f"] == "receive":
            v = r["value"]
            streams.setdefault((r["process"], v["group"], v["producer"]), []).append(v["seq"])
    reordered = sum(1 for s in streams.values() for a, b in itertools.pairwise(s) if b < a)
    took = time.perf_counter() - began
    assert not lost and not duplicated and not reordered
    return {"seconds": took}


def _child(kind: str, ops: int) -> None:
    result = {"streaming": streaming, "naive": naive, "generation": generation}[kind](ops)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _measure(kind: str, ops: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.checkers", "--child", kind, "--ops", str(ops)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["streaming", "naive", "generation"])
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.ops)
        return
    ours = _measure("streaming", args.ops)
    base = _measure("naive", args.ops)
    making = _measure("generation", args.ops)["seconds"]
    print(f"delivery (positions, sessions, commits) + order (log) + availability over {args.ops:,} ops (goal: <= 3 s)")
    print(
        f"  streaming checkers : {ours['seconds']:6.2f} s  {args.ops / ours['seconds']:>12,.0f} ops/s  "
        f"max RSS {ours['max_rss_mb']:6.0f} MB"
    )
    print(
        f"  naive full sets    : {base['seconds']:6.2f} s  {args.ops / base['seconds']:>12,.0f} ops/s  "
        f"max RSS {base['max_rss_mb']:6.0f} MB"
    )
    print(
        f"  ratio (naive / ours): time x{base['seconds'] / ours['seconds']:.2f}, "
        f"memory x{base['max_rss_mb'] / ours['max_rss_mb']:.2f}"
    )
    print(
        f"  making the ops alone: {making:.2f} s; checking alone: ours {ours['seconds'] - making:.2f} s, "
        f"naive {base['seconds'] - making:.2f} s"
    )


if __name__ == "__main__":
    main()
