"""Order across consumers when a member is put out of its group while it still works: a consumer that
processes a record of a partition the group has assigned to another consumer is a zombie
(``zombie_processed``). Handoffs where the old owner gives the partition up first (a rebalance, a crash,
a scale-in) never are. Synthetic histories, no brokers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import OrderChecker, run_checkers
from chaos.checkers.verdict import Verdict
from chaos.history import OK
from tests.unit.histories import HistoryBuilder


def judge(h: HistoryBuilder) -> Verdict:
    (verdict,) = run_checkers(h.history, [OrderChecker(consume_f="process", across_consumers=True, owners=True)])
    return verdict


def assign(h: HistoryBuilder, process: str, *partitions: int) -> None:
    h.op(process, OK, "assign", {"partitions": list(partitions)})


def revoke(h: HistoryBuilder, process: str, *partitions: int) -> None:
    h.op(process, OK, "revoke", {"partitions": list(partitions)})


def process(h: HistoryBuilder, consumer: str, offset: int, partition: int = 0) -> None:
    h.receive(
        f"m{offset}",
        consumer,
        f="process",
        partition=partition,
        offset=offset,
        group=partition,
        producer="p1",
        seq=offset,
    )


def test_a_stalled_member_that_finishes_its_batch_after_the_handoff_is_a_zombie() -> None:
    h = HistoryBuilder()
    assign(h, "c1", 0)
    assign(h, "c2", 1)
    for offset in range(3):
        process(h, "c1", offset)  # c1 holds a batch 0:0-0:5, processes three, stalls
    revoke(h, "c2", 1)
    assign(h, "c2", 0, 1)  # the group put c1 out: c2 owns partition 0 and processes from the last commit
    for offset in range(6):
        process(h, "c2", offset)
    for offset in range(3, 6):
        process(h, "c1", offset)  # back from its stall, c1 finishes the batch before it polls
    revoke(h, "c1", 0)
    h.drain()
    verdict = judge(h)
    assert verdict.anomaly("zombie_processed").ids == [
        f"c1 processed m{n} at 0:{n} while c2 owned partition 0" for n in range(3, 6)
    ]
    assert verdict.anomaly("reordered").count == 0  # first deliveries were all in order: only owners show it
    assert verdict.valid is False


def test_a_handoff_where_the_old_owner_gave_the_partition_up_first_is_none() -> None:
    h = HistoryBuilder()
    assign(h, "c1", 0)
    process(h, "c1", 0)
    revoke(h, "c1", 0)  # an eager rebalance: c1 gives up before anyone gets it
    assign(h, "c2", 0)
    process(h, "c2", 0)  # processed again from the last commit: at-least-once, not a zombie
    process(h, "c2", 1)
    revoke(h, "c2", 0)
    assign(h, "c1", 0)  # and back
    process(h, "c1", 2)
    h.drain()
    verdict = judge(h)
    assert verdict.anomaly("zombie_processed").count == 0 and verdict.valid is True


def test_without_recorded_assignments_zombies_are_unknown() -> None:
    h = HistoryBuilder()
    process(h, "c1", 0)
    h.drain()
    verdict = judge(h)
    assert verdict.incomplete["zombie_processed"] == "no consumer recorded an assignment"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["c1", "c2", "c3"]), min_size=1, max_size=8), st.integers(0, 7))
def test_clean_handoffs_never_flag_and_one_late_batch_flags_exactly_its_records(owners: list[str], late: int) -> None:
    """Partition 0 passes through ``owners`` in turn, each giving it up before the next gets it and
    processing two records meanwhile; then, if ``late`` names a handoff, its old owner processes one more
    record after the new owner's assignment (and before its own revoke)."""
    h = HistoryBuilder()
    offset = 0
    late_one = late < len(owners) - 1 and owners[late] != owners[late + 1]
    for n, owner in enumerate(owners):
        assign(h, owner, 0)
        for _ in range(2):
            process(h, owner, offset)
            offset += 1
        if n == late and late_one:
            assign(h, owners[n + 1], 0)  # the group moved it on without the owner noticing
            process(h, owner, offset)
            offset += 1
            revoke(h, owner, 0)
            continue
        revoke(h, owner, 0)
    h.drain()
    assert judge(h).anomaly("zombie_processed").count == (1 if late_one else 0)


def test_a_reader_outside_the_group_owns_nothing_and_is_never_a_zombie() -> None:
    """The exactly-once pipeline's output reader records ``process`` ops with the output topic's
    partitions; it never joins the input's group, so its reads say nothing about ownership."""
    h = HistoryBuilder()
    assign(h, "c1", 0)
    process(h, "output-reader", 0)
    h.drain()
    assert judge(h).anomaly("zombie_processed").count == 0
