"""Benchmark: how long faults take to apply and heal (goal < 1 s for partitions and toxics).

Peers measured in the same run: one ``exec true`` in a node's namespace helper (the floor for any
iptables change) and one Toxiproxy ``GET /version`` (the floor for a toxic). Printed, never asserted.
Usage: python -m bench.faults [--rounds N]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections.abc import Callable

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.faults import ClientLinkFault, Fault, Partition, ProxyDown
from chaos.net.partition import halves, isolate, majorities_ring
from chaos.net.toxiproxy import Latency, Timeout


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def measure(make: Callable[[], Fault], rounds: int) -> tuple[float, float]:
    applies, heals = [], []
    for _ in range(rounds):
        fault = make()
        applies.append(timed(fault.apply))
        heals.append(timed(fault.heal))
    return statistics.median(applies), statistics.median(heals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(1)
    with RedisSentinelCluster() as cluster:
        node = cluster.data_nodes[0]
        cluster.net.run(node, "true")  # create the helpers before timing
        for n in cluster.nodes:
            cluster.net.helper(n)
        exec_floor = statistics.median(timed(lambda: cluster.net.run(node, "true")) for _ in range(args.rounds))
        api_floor = statistics.median(timed(cluster.toxiproxy.version) for _ in range(args.rounds))  # type: ignore[union-attr]
        cases: dict[str, tuple[Callable[[], Fault], float]] = {
            "partition isolate-one (6 nodes)": (lambda: Partition(cluster, isolate(node.name), rng), exec_floor),
            "partition halves": (lambda: Partition(cluster, halves, rng), exec_floor),
            "partition majorities-ring": (lambda: Partition(cluster, majorities_ring, rng), exec_floor),
            "toxic latency 500ms": (lambda: ClientLinkFault(cluster, lambda: [node], Latency(latency=500)), api_floor),
            "toxic blackhole": (lambda: ClientLinkFault(cluster, lambda: [node], Timeout(timeout=0)), api_floor),
            "proxy down": (lambda: ProxyDown(cluster, lambda: [node]), api_floor),
        }
        print(f"fault apply/heal latency, median of {args.rounds} (goal < 1 s)")
        print(
            f"  peers: exec in a namespace helper {exec_floor * 1000:6.1f} ms, "
            f"toxiproxy API call {api_floor * 1000:5.1f} ms"
        )
        for label, (make, floor) in cases.items():
            applied_s, healed_s = measure(make, args.rounds)
            print(
                f"  {label:<32} apply {applied_s * 1000:6.1f} ms (x{applied_s / floor:5.1f})  "
                f"heal {healed_s * 1000:6.1f} ms (x{healed_s / floor:5.1f})"
            )


if __name__ == "__main__":
    main()
