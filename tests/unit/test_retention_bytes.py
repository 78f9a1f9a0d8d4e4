"""A partition's size cap (Kafka retention.bytes) as a stated policy: a record never read, below its
partition's final start, is trimmed when the records after it could hold the cap (each at most the
largest record's key and value plus a batch's framing), and then neither lost by offset nor skipped;
otherwise it is lost; without the final read's start offsets it cannot be told. Synthetic histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.checkers.delivery import SizeCap
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import OK
from chaos.report.render import fates_line
from tests.unit.histories import HistoryBuilder
from tests.unit.test_expiry import audit

RECORD = 100 + SizeCap.FRAMING  # what each record here may take at most: 100 bytes of key and value


def judge(h: HistoryBuilder, retention_bytes: int | None) -> Verdict:
    checker = DeliveryChecker(positions=True, sessions=True, retention_bytes=retention_bytes)
    (verdict,) = run_checkers(h.history, [checker])
    return verdict


def paused_consumer(starts: list[list[int]] | None = [[0, 6]]) -> HistoryBuilder:  # noqa: B006
    """m0-m9 acknowledged at 0:0-0:9, 100 bytes each; c1 reads m0 and m1, holds still, and its next fetch
    lands on 0:6: the log's front moved past 0:2-0:5 while nobody read them."""
    h = HistoryBuilder()
    h.op("c1", OK, "assign", {"partitions": [0]}, at_ms=0)
    for n in range(10):
        h.send(f"m{n}", partition=0, offset=n, bytes=100)
        if n < 2:
            h.receive(f"m{n}", partition=0, offset=n)
    h.clock_ms = 4999
    for n in range(6, 10):
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    audit(h, [(0, n, f"m{n}") for n in range(6, 10)], starts, at_ms=6000)
    return h


def test_what_the_records_after_it_could_hold_the_cap_for_is_trimmed_and_the_rest_lost() -> None:
    # m2 and m3 have 7 and 6 records after them (up to 0:9): enough for 6 records' worth; m4, m5 not
    verdict = judge(paused_consumer(), retention_bytes=6 * RECORD)
    assert verdict.anomaly("trimmed").ids == ["m2", "m3"]
    assert verdict.anomaly("lost").ids == ["m4", "m5"]
    assert decide_cell(verdict, ("lost",)).valid is False
    assert verdict.stats["retention_bytes"] == 6 * RECORD and verdict.stats["record_bytes_max"] == 100


def test_a_cap_the_log_could_meet_for_all_trims_them_all_and_nothing_is_lost_by_offset_or_skipped() -> None:
    verdict = judge(paused_consumer(), retention_bytes=RECORD)
    assert verdict.anomaly("trimmed").ids == ["m2", "m3", "m4", "m5"]
    for kind in ("lost", "lost_by_offset", "skipped", "truncated"):
        assert verdict.anomaly(kind).count == 0, kind
    assert verdict.valid is True
    assert "4 trimmed (retention.bytes 197 per partition), 0 lost" in fates_line(verdict.to_dict())


def test_without_the_final_reads_start_offsets_trimmed_or_lost_cannot_be_told() -> None:
    verdict = judge(paused_consumer(starts=None), retention_bytes=RECORD)
    assert decide_cell(verdict, ("lost",)).valid == UNKNOWN
    assert "no final log read" in verdict.incomplete["lost"]


def test_a_record_missing_above_the_logs_start_is_lost_whatever_the_cap() -> None:
    verdict = judge(paused_consumer(starts=[[0, 3]]), retention_bytes=RECORD)
    assert verdict.anomaly("trimmed").ids == ["m2"]  # below the start: the cap's
    assert verdict.anomaly("lost").ids == ["m3", "m4", "m5"]  # the log still starts before them


@settings(max_examples=100, deadline=None)
@given(cap_records=st.integers(0, 12), start=st.integers(2, 9))
def test_trimmed_exactly_when_below_the_start_and_the_records_after_it_could_hold_the_cap(
    cap_records: int, start: int
) -> None:
    verdict = judge(paused_consumer(starts=[[0, start]]), retention_bytes=cap_records * RECORD)
    unread = [f"m{n}" for n in range(2, 6)]
    expected = [f"m{n}" for n in range(2, 6) if n < start and (9 - n) >= cap_records]
    assert verdict.anomaly("trimmed").ids == expected
    assert verdict.anomaly("lost").ids == [m for m in unread if m not in expected]
