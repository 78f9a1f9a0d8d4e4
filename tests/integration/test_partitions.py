"""Partitions between brokers drop real packets: exactly the intended pairs, and heal restores all."""

from __future__ import annotations

import itertools
import random

import pytest

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.cluster.node import Node
from chaos.faults import PacketLoss, Partition, RateLimit, applied, netem_available
from chaos.faults.network import Delay
from chaos.net.helpers import NetemUnavailableError
from chaos.net.partition import bridge, can_connect, halves, isolate, majorities_ring, one_way


def connectivity(cluster: RedisSentinelCluster, nodes: list[Node]) -> set[tuple[str, str]]:
    """Which ordered pairs (a, b) can open a TCP connection from a's namespace to b's Redis port."""
    ips = {n.name: cluster.net.ip(n) for n in nodes}
    scripts = {}
    for source in nodes:
        probes = [
            f"(nc -z -w 1 {ips[t.name]} 6379 && echo {t.name} ok || echo {t.name} no)" for t in nodes if t is not source
        ]
        scripts[source] = "; ".join(probes) + "; true"
    results = cluster.net.run_all(scripts)
    return {
        (source, line.split()[0])
        for source, output in results.items()
        for line in output.splitlines()
        if line.endswith(" ok")
    }


SHAPES = {
    "isolate": isolate("redis-2"),
    "halves": halves,
    "majorities-ring": majorities_ring,
    "bridge": bridge,
    "one-way": one_way("redis-1", "redis-3"),
}


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_each_shape_blocks_exactly_the_intended_pairs(redis_cluster: RedisSentinelCluster, shape_name: str) -> None:
    data = redis_cluster.data_nodes
    everyone = set(itertools.permutations([n.name for n in data], 2))
    assert connectivity(redis_cluster, data) == everyone
    fault = Partition(redis_cluster, SHAPES[shape_name], random.Random(7), universe=lambda: data)
    with applied(fault):
        expected = {(a, b) for a, b in everyone if can_connect(fault.grudge, a, b)}
        assert expected != everyone, "the shape should cut something"
        assert connectivity(redis_cluster, data) == expected
    assert connectivity(redis_cluster, data) == everyone
    assert all(redis_cluster.net.rules(n) == [] for n in data)


def test_packet_loss_and_rate_limit_are_installed_and_removed(redis_cluster: RedisSentinelCluster) -> None:
    victim = redis_cluster.data_nodes[1]
    with applied(PacketLoss(redis_cluster, lambda: [victim], 0.3)):
        rules = redis_cluster.net.rules(victim)
        probabilities = [float(r.split("--probability ")[1].split()[0]) for r in rules]
        assert len(rules) == len(redis_cluster.nodes) - 1
        assert all(abs(p - 0.3) < 0.001 for p in probabilities)
    assert redis_cluster.net.rules(victim) == []
    with applied(RateLimit(redis_cluster, lambda: [victim], "1mbit")):
        assert "tbf" in redis_cluster.net.run(victim, "tc qdisc show dev eth0")
    assert "tbf" not in redis_cluster.net.run(victim, "tc qdisc show dev eth0")


def test_delay_needs_netem_and_says_so_when_the_kernel_lacks_it(redis_cluster: RedisSentinelCluster) -> None:
    available, reason = netem_available(redis_cluster)
    victim = redis_cluster.data_nodes[1]
    if available:
        with applied(Delay(redis_cluster, lambda: [victim], 50, 10)):
            assert "netem" in redis_cluster.net.run(victim, "tc qdisc show dev eth0")
        return
    assert "netem" in reason
    with pytest.raises(NetemUnavailableError), applied(Delay(redis_cluster, lambda: [victim], 50, 10)):
        pass
    pytest.skip(f"netem delay not testable here: {reason}")
