"""Partition shapes are pure: check who can connect to whom, for every shape and cluster size."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from chaos.net.partition import ALL, NEW, bridge, can_connect, components, halves, isolate, majorities_ring, one_way

NODES = ["n1", "n2", "n3"]


def reach(grudge: dict, nodes: list[str]) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(a, b) for a, b in itertools.permutations(nodes, 2) if can_connect(grudge, a, b)}


def test_isolate_cuts_one_node_from_all_others_both_ways() -> None:
    grudge = isolate("n2")(NODES, random.Random(0))
    assert reach(grudge, NODES) == {("n1", "n3"), ("n3", "n1")}


def test_components_drop_everything_across_groups() -> None:
    grudge = components([["a"], ["b", "c"]])
    assert grudge == {"a": {"b": ALL, "c": ALL}, "b": {"a": ALL}, "c": {"a": ALL}}


def test_one_way_lets_only_the_reachable_side_connect() -> None:
    grudge = one_way("n1", "n2")(NODES, random.Random(0))
    assert grudge == {"n1": {"n2": NEW}}
    assert can_connect(grudge, "n1", "n2") and not can_connect(grudge, "n2", "n1")
    assert reach(grudge, NODES) == set(itertools.permutations(NODES, 2)) - {("n2", "n1")}


@given(st.integers(3, 9), st.randoms(use_true_random=False))
def test_halves_split_into_two_sides_with_no_link_across(n: int, rng: random.Random) -> None:
    nodes = [f"n{i}" for i in range(n)]
    links = reach(halves(nodes, rng), nodes)
    sides = {frozenset([a] + [b for b in nodes if (a, b) in links]) for a in nodes}
    assert len(sides) == 2
    small, large = sorted(sides, key=len)
    assert len(small) == n // 2 and len(large) == n - n // 2


@given(st.integers(3, 9), st.randoms(use_true_random=False))
def test_majorities_ring_gives_every_node_a_different_majority(n: int, rng: random.Random) -> None:
    nodes = [f"n{i}" for i in range(n)]
    grudge = majorities_ring(nodes, rng)
    views = [frozenset(o for o in nodes if o not in grudge.get(node, {})) for node in nodes]
    assert all(len(view) > n / 2 for view in views)
    if n > 3:
        assert len(set(views)) == n


@given(st.integers(3, 9), st.randoms(use_true_random=False))
def test_bridge_node_sees_both_halves_which_cannot_see_each_other(n: int, rng: random.Random) -> None:
    nodes = [f"n{i}" for i in range(n)]
    grudge = bridge(nodes, rng)
    bridges = [node for node in nodes if node not in grudge]
    assert len(bridges) == 1
    middle = bridges[0]
    assert all(can_connect(grudge, middle, o) and can_connect(grudge, o, middle) for o in nodes if o != middle)
    assert any(not can_connect(grudge, a, b) for a, b in itertools.permutations(nodes, 2))
