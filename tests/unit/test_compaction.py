"""Kafka log compaction (cleanup.policy=compact) as a stated policy: a record never read that a later
record of its key, still in the final log read, superseded is compacted — neither lost, lost by offset
nor skipped; one with no later record of its key kept is lost; without the claim every such record is
lost (counted as superseded); without a completed final log read nothing can be told. Synthetic
histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.checkers.guarantees import CheckerOptions, checkers_for, decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import INFO, OK
from chaos.profiles import Guarantees
from chaos.report.render import fates_line
from tests.unit.histories import HistoryBuilder
from tests.unit.test_expiry import audit

KEYS = ("a", "b")


def judge(h: HistoryBuilder, tolerated: bool = True) -> Verdict:
    checker = DeliveryChecker(positions=True, sessions=True, compacted=True, compaction_tolerated=tolerated)
    (verdict,) = run_checkers(h.history, [checker])
    return verdict


def paused_consumer(kept: list[int] | None, audited: bool = True) -> HistoryBuilder:
    """m0-m9 acknowledged at 0:0-0:9, keys a and b in turn; c1 reads m0 and m1, holds still while the
    cleaner runs, then reads on from 0:8 (0:2-0:7 compacted away). The final log read holds ``kept``
    (the offsets compaction left; None: no audit)."""
    h = HistoryBuilder()
    h.op("c1", OK, "assign", {"partitions": [0]}, at_ms=0)
    for n in range(10):
        h.send(f"m{n}", partition=0, offset=n, key=KEYS[n % 2])
        if n < 2:
            h.receive(f"m{n}", partition=0, offset=n)
    h.clock_ms = 4999
    for n in range(8, 10):
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    if kept is not None and audited:
        audit(h, [(0, n, f"m{n}") for n in kept], starts=[[0, 0]], at_ms=6000)
    elif kept is not None:
        h.op("auditor", "invoke", "audit", at_ms=6000)
        h.op("auditor", INFO, "audit", {"read": 3}, at_ms=6001)
    return h


def test_records_a_later_one_of_their_key_superseded_are_compacted_and_nothing_fails() -> None:
    verdict = judge(paused_consumer(kept=[8, 9]))
    assert verdict.anomaly("compacted").ids == ["m2", "m3", "m4", "m5", "m6", "m7"]
    for kind in ("lost", "lost_by_offset", "skipped", "truncated"):
        assert verdict.anomaly(kind).count == 0, kind
    assert verdict.valid is True
    assert verdict.stats["compacted_after_read"] == 2  # m0 and m1, read before the cleaner removed them
    assert "6 compacted (a later record of the same key is in the final log), 0 lost" in fates_line(verdict.to_dict())


def test_without_the_claim_the_same_records_are_lost_and_counted_as_superseded() -> None:
    verdict = judge(paused_consumer(kept=[8, 9]), tolerated=False)
    assert verdict.anomaly("lost").ids == ["m2", "m3", "m4", "m5", "m6", "m7"]
    assert verdict.anomaly("lost_by_offset").count == 6 and verdict.anomaly("truncated").ids == ["m0", "m1"]
    assert decide_cell(verdict, ("lost",)).valid is False
    assert verdict.stats["lost_superseded"] == 6
    assert "6 superseded by a later record of their key" in fates_line(verdict.to_dict())


def test_a_record_whose_key_kept_nothing_later_is_lost() -> None:
    # 0:7 (key b) is the latest b acknowledged before 0:9; the final log lost 0:9, so nothing later of b
    # is kept and m7 is lost; a's m2-m6 are superseded by m8, kept
    verdict = judge(paused_consumer(kept=[8]))
    assert verdict.anomaly("compacted").ids == ["m2", "m4", "m6"]
    assert verdict.anomaly("lost").ids == ["m3", "m5", "m7"]
    assert verdict.anomaly("truncated").ids == ["m1", "m9"]  # read, and gone with nothing of b kept after it
    assert decide_cell(verdict, ("lost",)).valid is False


def test_without_a_completed_final_log_read_compacted_or_lost_cannot_be_told() -> None:
    verdict = judge(paused_consumer(kept=[8, 9], audited=False))
    assert decide_cell(verdict, ("lost",)).valid == UNKNOWN
    assert "no completed final log read" in verdict.incomplete["lost"]
    assert verdict.stats["compaction_undecided"] == 6
    assert "6 compacted or lost, which cannot be told" in fates_line(verdict.to_dict())


def test_the_claim_reaches_the_delivery_checker_only_where_the_log_is_compacted() -> None:
    options = CheckerOptions(positions=True, sessions=True, compacted=True)
    (delivery, *_) = checkers_for(Guarantees(may_compact=True), options)
    assert delivery.compaction is not None and delivery.compaction.tolerated
    (delivery, *_) = checkers_for(Guarantees(may_compact=True), CheckerOptions(positions=True))
    assert delivery.compaction is None


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.sampled_from("abc"), min_size=2, max_size=12), data=st.data())
def test_compacted_exactly_when_a_later_record_of_its_key_is_kept(keys: list[str], data: st.DataObject) -> None:
    """Nothing read; the final log keeps any subset: a record is compacted iff a kept record of its key
    stands at a higher offset, a kept record is read by the audit only (never consumed: lost), and the
    rest are lost."""
    kept = sorted(data.draw(st.sets(st.integers(0, len(keys) - 1))))
    h = HistoryBuilder()
    h.op("c1", OK, "assign", {"partitions": [0]}, at_ms=0)
    for n, key in enumerate(keys):
        h.send(f"m{n}", partition=0, offset=n, key=key)
    h.drain()
    audit(h, [(0, n, f"m{n}") for n in kept], starts=[[0, 0]], at_ms=1000)
    verdict = judge(h)
    expected = [f"m{n}" for n, key in enumerate(keys) if any(k > n and keys[k] == key for k in kept)]
    assert verdict.anomaly("compacted").ids == expected
    assert verdict.anomaly("lost").count == len(keys) - len(expected)
