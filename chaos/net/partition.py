"""Partition shapes as grudges (Jepsen's word): for each node, the nodes whose packets it drops.

A grudge entry's mode is ``all`` (drop every packet from that node: no TCP either way) or ``new`` (drop
only connections that node starts: it cannot reach us, we can still reach it — a one-way partition).
Shapes are pure functions of the node names, so they are unit-tested without containers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

ALL = "all"
NEW = "new"

Grudge = dict[str, dict[str, str]]
Shape = Callable[[Sequence[str], random.Random], Grudge]


def components(groups: Sequence[Sequence[str]]) -> Grudge:
    """Complete partition between groups: every node drops everything from every other group."""
    grudge: Grudge = {}
    for group in groups:
        for node in group:
            others = [o for g in groups if g is not group for o in g]
            if others:
                grudge[node] = dict.fromkeys(others, ALL)
    return grudge


def isolate(*victims: str) -> Shape:
    """The named nodes (or, with none named, one chosen at random) cut off from all the others."""

    def shape(nodes: Sequence[str], rng: random.Random) -> Grudge:
        chosen = list(victims) or [rng.choice(list(nodes))]
        return components([chosen, [n for n in nodes if n not in chosen]])

    shape.__name__ = "isolate"
    return shape


def halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """A random split into a smaller and a larger half."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    return components([shuffled[:cut], shuffled[cut:]])


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Each node sees a majority, and no two nodes see the same one (links become one-directional)."""
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    reach = n // 2  # each node sees itself and the next n//2 nodes
    grudge: Grudge = {}
    for i, node in enumerate(ring):
        sees = {ring[(i + k) % n] for k in range(reach + 1)}
        dropped = {o: ALL for o in ring if o not in sees}
        if dropped:
            grudge[node] = dropped
    return grudge


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves that cannot see each other, and one bridge node that sees both."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    shuffled.pop()  # the bridge
    cut = len(shuffled) // 2
    left, right = shuffled[:cut], shuffled[cut:]
    return components([left, right])  # the bridge node drops nothing


def one_way(reachable: str, blocked: str) -> Shape:
    """``reachable`` can open connections to ``blocked``; ``blocked`` cannot open any to ``reachable``."""

    def shape(nodes: Sequence[str], rng: random.Random) -> Grudge:
        return {reachable: {blocked: NEW}}

    shape.__name__ = "one_way"
    return shape


def can_connect(grudge: Grudge, source: str, destination: str) -> bool:
    """Whether a TCP connection from ``source`` to ``destination`` succeeds under ``grudge``."""
    if grudge.get(destination, {}).get(source) in (ALL, NEW):
        return False  # the destination drops the SYN
    return grudge.get(source, {}).get(destination) != ALL  # the source drops the SYN-ACK


SHAPES: dict[str, Shape] = {
    "isolate-one": isolate(),
    "halves": halves,
    "majorities-ring": majorities_ring,
    "bridge": bridge,
}
