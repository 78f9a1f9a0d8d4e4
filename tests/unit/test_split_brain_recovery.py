"""Which nodes an operator restarts after a RabbitMQ split brain (``ignore`` mode): pure logic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chaos.brokers.rabbitmq.cluster import _partition_peers, losing_sides


def test_nothing_split_restarts_nothing() -> None:
    assert losing_sides({"r1": set(), "r2": set(), "r3": set()}) == []


def test_the_lone_node_loses_to_the_pair() -> None:
    assert losing_sides({"r1": {"r2", "r3"}, "r2": {"r1"}, "r3": {"r1"}}) == ["r1"]


def test_one_sided_report_still_splits() -> None:
    """Only one node noticed (the others have not yet): the split is real all the same."""
    assert losing_sides({"r1": set(), "r2": set(), "r3": {"r1", "r2"}}) == ["r3"]


def test_a_tie_keeps_the_side_of_the_first_node() -> None:
    assert losing_sides({"a": {"c", "d"}, "b": {"c", "d"}, "c": {"a", "b"}, "d": {"a", "b"}}) == ["c", "d"]


@given(st.lists(st.integers(0, 2), min_size=2, max_size=7))
def test_the_largest_side_survives_and_every_other_node_restarts(assignment: list[int]) -> None:
    nodes = [f"n{i}" for i in range(len(assignment))]
    side = dict(zip(nodes, assignment, strict=True))
    partitioned = {n: {o for o in nodes if side[o] != side[n]} for n in nodes}
    losers = losing_sides(partitioned)
    sizes = {s: assignment.count(s) for s in set(assignment)}
    if len(sizes) == 1:
        assert losers == []
        return
    kept = [n for n in nodes if n not in losers]
    assert len({side[n] for n in kept}) == 1, "the kept nodes form one side"
    assert len(kept) == max(sizes.values())


def test_partition_peers_reads_both_json_shapes() -> None:
    me = "rabbit@r1"
    assert _partition_peers({"partitions": {me: ["rabbit@r2"]}}, me) == ["rabbit@r2"]
    assert _partition_peers({"partitions": [{"node": me, "partitions": ["rabbit@r3"]}]}, me) == ["rabbit@r3"]
    assert _partition_peers({"partitions": {}}, me) == []
