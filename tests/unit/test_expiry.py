"""Deletion from the log's front (Kafka retention): a record read and then deleted is no truncation; one
never read is lost unless the profile tolerates expiry, and then expired only when it was old enough by
the first sign it was gone; without the final read's start offsets the verdict is unknown. Synthetic
histories (times in ms), no brokers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import OK
from chaos.report.render import fates_line
from tests.unit.histories import HistoryBuilder


def judge(h: HistoryBuilder, expire_after_s: float | None) -> Verdict:
    checker = DeliveryChecker(positions=True, sessions=True, expire_after_s=expire_after_s)
    (verdict,) = run_checkers(h.history, [checker])
    return verdict


def cell(verdict: Verdict, kind: str) -> object:
    return decide_cell(verdict, (kind,)).valid


def audit(h: HistoryBuilder, records: list[tuple[int, int, str]], starts: list[list[int]] | None, at_ms: int) -> None:
    h.op("auditor", "invoke", "audit", at_ms=at_ms)
    value: dict[str, object] = {"ids": [r[2] for r in records], "records": records}
    if starts is not None:
        value["starts"] = starts
    h.op("auditor", OK, "audit", value)


def paused_consumer(jump_at_ms: int, starts: list[list[int]] | None = [[0, 6]]) -> HistoryBuilder:  # noqa: B006
    """m0-m9 acknowledged at 0:0-0:9 (m_n at n ms); c1 reads m0 and m1, holds still, and at ``jump_at_ms``
    its next fetch lands on 0:6 (retention deleted 0:2-0:5 meanwhile, and m0-m1 after they were read)."""
    h = HistoryBuilder()
    h.op("c1", OK, "assign", {"partitions": [0]}, at_ms=0)
    for n in range(10):
        h.send(f"m{n}", partition=0, offset=n)
        if n < 2:
            h.receive(f"m{n}", partition=0, offset=n)
    h.clock_ms = jump_at_ms - 1
    for n in range(6, 10):
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    audit(h, [(0, n, f"m{n}") for n in range(6, 10)], starts, at_ms=jump_at_ms + 1000)
    return h


def test_without_a_stated_expiry_what_retention_deleted_unread_is_lost_and_skipped() -> None:
    verdict = judge(paused_consumer(jump_at_ms=5000), expire_after_s=None)
    assert verdict.anomaly("lost").ids == ["m2", "m3", "m4", "m5"]
    assert verdict.anomaly("lost_by_offset").count == 4
    assert verdict.anomaly("skipped").ids == ["c1 went from 0:1 to 0:6 past m2 at 0:2"]
    assert verdict.anomaly("truncated").count == 0  # m0, m1: read, then deleted from the front
    assert verdict.stats["deleted_after_read"] == 2
    assert cell(verdict, "lost") is False


def test_under_a_stated_expiry_what_was_old_enough_when_found_gone_expired() -> None:
    verdict = judge(paused_consumer(jump_at_ms=5000), expire_after_s=3.0)
    assert verdict.anomaly("expired").ids == ["m2", "m3", "m4", "m5"]
    for kind in ("lost", "lost_by_offset", "skipped", "truncated"):
        assert verdict.anomaly(kind).count == 0, kind
        assert cell(verdict, kind) is True, kind
    assert verdict.stats["deleted_too_soon"] == 0 and verdict.valid is True


def test_under_a_stated_expiry_what_was_gone_sooner_is_lost() -> None:
    # The jump past 0:2-0:5 came 1 s after they were acknowledged: deleted before they were 3 s old.
    verdict = judge(paused_consumer(jump_at_ms=1000), expire_after_s=3.0)
    assert verdict.anomaly("lost").ids == ["m2", "m3", "m4", "m5"]
    assert verdict.anomaly("expired").count == 0
    assert verdict.stats["deleted_too_soon"] == 4
    assert verdict.anomaly("skipped").count == 1
    assert cell(verdict, "lost") is False
    assert fates_line(verdict.to_dict()).endswith("4 lost (4 deleted by the expiry policy before they were 3 s old)")


def test_under_a_stated_expiry_without_the_log_start_offsets_loss_is_unknown() -> None:
    verdict = judge(paused_consumer(jump_at_ms=5000, starts=None), expire_after_s=3.0)
    for kind in ("lost", "lost_by_offset", "skipped"):
        assert cell(verdict, kind) == UNKNOWN, kind
        assert verdict.anomaly(kind).count == 0, kind
    assert "where each partition starts" in verdict.incomplete["lost"]


def test_a_record_missing_at_or_above_the_log_start_is_still_truncated() -> None:
    h = HistoryBuilder()
    for n in range(4):
        h.send(f"m{n}", partition=0, offset=n)
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    audit(h, [(0, 2, "m2")], starts=[[0, 2]], at_ms=10_000)  # m3 at 0:3 is gone from the end
    verdict = judge(h, expire_after_s=1.0)
    assert verdict.anomaly("truncated").ids == ["m3"]
    assert verdict.stats["deleted_after_read"] == 2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 9), st.integers(100, 20_000), st.floats(0.5, 10.0))
def test_an_unread_deleted_record_is_expired_exactly_when_it_was_old_enough(
    start: int, jump_at_ms: int, expire_after_s: float
) -> None:
    """m0..m9 acknowledged at 0-9 ms, none read until a fresh consumer's jump to the log start; every record
    below it is expired when it was at least expire_after_s old at the final read (no jump to date it
    sooner: a session's first read is no gap), lost otherwise."""
    h = HistoryBuilder()
    for n in range(10):
        h.send(f"m{n}", partition=0, offset=n)
    h.op("c1", OK, "assign", {"partitions": [0]}, at_ms=jump_at_ms)
    for n in range(start, 10):
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    audit_at = jump_at_ms + 500
    audit(h, [(0, n, f"m{n}") for n in range(start, 10)], [[0, start]], at_ms=audit_at)
    verdict = judge(h, expire_after_s=expire_after_s)
    # m_n's ok is at 2n+2 ms; the audit op's ok one ms after its invoke
    old_enough = [f"m{n}" for n in range(start) if (audit_at + 1 - (2 * n + 2)) / 1000 >= expire_after_s]
    assert verdict.anomaly("expired").ids == old_enough
    assert verdict.anomaly("lost").count == start - len(old_enough)
