"""Position checks (Kafka's partition and offset): a position that held two messages, and an acknowledged
message the readers went past without it — each found, each passed when absent, each unknown when its
evidence is missing. Synthetic histories, no brokers."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import OK
from tests.unit.histories import HistoryBuilder

KINDS = ("inconsistent_offsets", "lost_by_offset")


def judge(h: HistoryBuilder, consume_f: str = "receive") -> Verdict:
    (verdict,) = run_checkers(h.history, [DeliveryChecker(consume_f=consume_f, positions=True)])
    return verdict


def cell(verdict: Verdict, kind: str) -> object:
    return decide_cell(verdict, (kind,)).valid


def audit(h: HistoryBuilder, records: list[tuple[int, int, str]]) -> None:
    h.op("auditor", "invoke", "audit")
    h.op("auditor", OK, "audit", {"ids": [r[2] for r in records], "records": records})


def test_a_position_that_held_two_messages_is_inconsistent() -> None:
    h = HistoryBuilder()
    h.send("a", partition=0, offset=5)  # acknowledged at 0:5, then truncated away
    h.send("b", partition=0, offset=5)  # the new leader wrote b at the same offset
    h.receive("b", partition=0, offset=5)
    h.drain()
    verdict = judge(h)
    assert verdict.anomaly("inconsistent_offsets").ids == ["0:5 held a and b"]
    assert cell(verdict, "inconsistent_offsets") is False


def test_the_same_message_read_again_at_its_position_is_consistent() -> None:
    h = HistoryBuilder()
    for n in range(3):
        h.send(f"m{n}", partition=1, offset=n)
    for n in [0, 1, 1, 2]:  # a redelivery of m1 at its own offset
        h.receive(f"m{n}", partition=1, offset=n)
    h.drain()
    verdict = judge(h)
    assert all(cell(verdict, kind) is True for kind in KINDS)
    assert verdict.stats["positions_read"] == 4


def test_an_acknowledged_message_the_readers_went_past_is_lost_by_offset() -> None:
    h = HistoryBuilder()
    h.send("a", partition=0, offset=5)
    h.send("b", partition=0, offset=6)
    h.send("c", partition=1, offset=9)  # partition 1: no reader got this far, nothing to say
    h.receive("b", partition=0, offset=6)
    h.drain(outcome="info")  # the drain did not finish: the audit decides
    audit(h, [(0, 6, "b")])
    verdict = judge(h)
    assert verdict.anomaly("lost_by_offset").ids == ["a"]
    assert verdict.stats["lost_by_offset_at"] == {"a": "0:5 (readers reached 6)"}
    assert cell(verdict, "lost_by_offset") is False


def test_a_message_received_then_dropped_by_its_consumer_is_lost_but_not_lost_by_offset() -> None:
    h = HistoryBuilder()
    h.send("a", partition=0, offset=0)
    h.send("b", partition=0, offset=1)
    h.receive("a", partition=0, offset=0)  # delivered, never processed
    h.receive("b", partition=0, offset=1)
    h.receive("b", f="process", partition=0, offset=1)
    h.drain()
    verdict = judge(h, consume_f="process")
    assert verdict.anomaly("lost").ids == ["a"]
    assert verdict.anomaly("lost_by_offset").count == 0 and cell(verdict, "lost_by_offset") is True


def test_without_a_completed_drain_or_audit_neither_kind_passes() -> None:
    h = HistoryBuilder()
    h.send("a", partition=0, offset=0)
    h.receive("a", partition=0, offset=0)
    h.drain(outcome="info")
    verdict = judge(h)
    assert cell(verdict, "inconsistent_offsets") == UNKNOWN
    assert cell(verdict, "lost_by_offset") == UNKNOWN


def test_without_read_positions_neither_kind_passes() -> None:
    h = HistoryBuilder()
    h.send("a", partition=0, offset=0)
    h.receive("a")  # a consumer program that does not report where it read
    h.drain()
    verdict = judge(h)
    assert all(cell(verdict, kind) == UNKNOWN for kind in KINDS)
    assert "no read carried a partition and offset" in verdict.incomplete["lost_by_offset"]


def test_histories_without_positions_are_not_judged_by_them() -> None:
    """Brokers whose records have no offsets (RabbitMQ queues, the tests above without positions) keep
    their no_loss cell as it was: the position kinds are neither found nor missing."""
    h = HistoryBuilder()
    h.send("a")
    h.receive("a")
    h.drain()
    (verdict,) = run_checkers(h.history, [DeliveryChecker()])
    assert decide_cell(verdict, ("lost", *KINDS)).valid is True


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=1, max_size=40),  # the partition of each message, in send order
    st.data(),
)
def test_a_clean_log_passes_and_one_rewritten_or_skipped_position_is_found(
    partitions: list[int], data: st.DataObject
) -> None:
    offsets: dict[int, int] = {}
    log = []
    for n, partition in enumerate(partitions):
        log.append((f"m{n}", partition, offsets.get(partition, 0)))
        offsets[partition] = offsets.get(partition, 0) + 1
    change = data.draw(st.sampled_from(["none", "rewrite", "skip"]))
    victim = data.draw(st.integers(0, len(log) - 1))
    h = HistoryBuilder()
    for mid, partition, offset in log:
        h.send(mid, partition=partition, offset=offset)
    read = list(log)
    if change == "rewrite":
        mid, partition, offset = read[victim]
        read[victim] = ("stranger", partition, offset)
    elif change == "skip":
        _, partition, offset = read[victim]
        last = max(o for _, p, o in log if p == partition)
        if offset == last:  # a skip needs a later read in its partition to show
            h.send("later", partition=partition, offset=last + 1)
            read.append(("later", partition, last + 1))
        del read[victim]
    for mid, partition, offset in read:
        h.receive(mid, partition=partition, offset=offset)
    h.drain()
    verdict = judge(h)
    found = {kind: verdict.anomaly(kind).count for kind in KINDS}
    if change == "none":
        assert found == {"inconsistent_offsets": 0, "lost_by_offset": 0}
    elif change == "rewrite":
        assert found["inconsistent_offsets"] == 1 and found["lost_by_offset"] == 1
    else:
        assert found == {"inconsistent_offsets": 0, "lost_by_offset": 1}


def test_a_position_that_is_not_an_offset_is_not_placed() -> None:
    """A consumer program may report what it likes: a text offset or acks=0's -1 names no position."""
    h = HistoryBuilder()
    h.send("a", partition=0, offset=-1)
    h.receive("a", partition=0, offset="7")
    h.drain()
    verdict = judge(h)
    assert verdict.stats["positions_acknowledged"] == 0 and verdict.stats["positions_read"] == 0
    assert all(cell(verdict, kind) == UNKNOWN for kind in KINDS)


# read sessions: per consumer, between its assign/revoke/seek events ---------------------------------
SESSION_KINDS = ("nonmonotonic", "skipped")


def follow(h: HistoryBuilder) -> Verdict:
    (verdict,) = run_checkers(h.history, [DeliveryChecker(positions=True, sessions=True)])
    return verdict


def sent(h: HistoryBuilder, offsets: range, partition: int = 0) -> None:
    for n in offsets:
        h.send(f"m{n}", partition=partition, offset=n)


def test_a_session_reading_back_without_a_rebalance_or_seek_is_nonmonotonic() -> None:
    h = HistoryBuilder()
    sent(h, range(6))
    h.op("c1", OK, "assign", {"partitions": [0]})
    for n in [0, 1, 2, 3, 1, 2, 3, 4, 5]:  # the log was reset under it and it read 1-3 again
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    verdict = follow(h)
    assert verdict.anomaly("nonmonotonic").ids == ["c1 read 0:1 after 0:3"]
    assert cell(verdict, "nonmonotonic") is False and cell(verdict, "skipped") is True


def test_reading_back_after_a_rebalance_or_a_seek_is_a_new_session() -> None:
    h = HistoryBuilder()
    sent(h, range(6))
    h.op("c1", OK, "assign", {"partitions": [0]})
    for n in [0, 1, 2, 3]:
        h.receive(f"m{n}", partition=0, offset=n)
    h.op("c1", OK, "seek", {"partition": 0, "to": 2})  # its own rewind to the last commit
    for n in [2, 3]:
        h.receive(f"m{n}", partition=0, offset=n)
    h.op("c1", OK, "revoke", {"partitions": [0]})
    h.op("c1", OK, "assign", {"partitions": [0]})
    for n in [3, 4, 5]:
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    verdict = follow(h)
    assert all(cell(verdict, kind) is True for kind in SESSION_KINDS)


def test_a_session_passing_over_an_acknowledged_record_skipped_it() -> None:
    h = HistoryBuilder()
    sent(h, range(4))
    sent(h, range(6, 8))  # 4 and 5: a transaction's commit marker and an aborted write, no acknowledgement
    h.op("c1", OK, "assign", {"partitions": [0]})
    for n in [0, 1, 3, 6, 7]:  # 2 was acknowledged at 0:2 and passed over; 4-5 held nothing acknowledged
        h.receive(f"m{n}", partition=0, offset=n)
    h.op("c2", OK, "assign", {"partitions": [0]})
    h.receive("m2", partition=0, offset=2, process="c2")  # another session read it: not lost, still skipped by c1
    h.drain()
    verdict = follow(h)
    assert verdict.anomaly("skipped").ids == ["c1 went from 0:1 to 0:3 past m2 at 0:2"]
    assert cell(verdict, "skipped") is False and cell(verdict, "nonmonotonic") is True
    assert verdict.anomaly("lost").count == 0


def test_sessions_are_unknown_without_session_events_or_a_finished_drain() -> None:
    h = HistoryBuilder()
    sent(h, range(3))
    for n in [0, 2, 1]:  # a consumer that records no assignment: its reads are not followed
        h.receive(f"m{n}", partition=0, offset=n)
    h.drain()
    verdict = follow(h)
    assert all(cell(verdict, kind) == UNKNOWN for kind in SESSION_KINDS)
    assert "no consumer recorded its session events" in verdict.incomplete["skipped"]
    h2 = HistoryBuilder()
    sent(h2, range(3))
    h2.op("c1", OK, "assign", {"partitions": [0]})
    for n in range(3):
        h2.receive(f"m{n}", partition=0, offset=n)
    h2.drain(outcome="info")
    assert all(cell(follow(h2), kind) == UNKNOWN for kind in SESSION_KINDS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40))
def test_increasing_contiguous_reads_are_never_flagged_and_any_step_back_is(reads: list[int]) -> None:
    h = HistoryBuilder()
    sent(h, range(31))
    h.op("c1", OK, "assign", {"partitions": [0]})
    ordered = sorted(set(reads))
    for n in range(ordered[0], ordered[-1] + 1):
        h.receive(f"m{n}", partition=0, offset=n)
    h.op("c2", OK, "assign", {"partitions": [0]})
    for n in reads:
        h.receive(f"m{n}", partition=0, offset=n, process="c2")
    h.drain()
    verdict = follow(h)
    stepped_back = any(b <= a for a, b in itertools.pairwise(reads))
    backwards = [w for w in verdict.anomaly("nonmonotonic").ids if w.startswith("c2")]
    assert bool(backwards) == stepped_back
    assert not [w for w in verdict.anomaly("nonmonotonic").ids + verdict.anomaly("skipped").ids if w.startswith("c1")]
