"""Each checker proven both ways: it flags the seeded anomaly (naming that message) and passes the clean
history; missing prerequisites give ``unknown``, never ``True``."""

from __future__ import annotations

from chaos.checkers import (
    UNKNOWN,
    AvailabilityChecker,
    DeadLetterChecker,
    DeliveryChecker,
    ExactlyOnceChecker,
    OrderChecker,
    combine,
    run_checker,
    run_checkers,
)
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import Verdict
from chaos.history import FAIL, INFO, INVOKE, OK, Op
from tests.unit.histories import HistoryBuilder


def _queue(extra=None) -> HistoryBuilder:  # type: ignore[no-untyped-def]
    h = HistoryBuilder()
    for i in range(5):
        h.send(f"m{i}", group="q", producer="p1", seq=i)
    for i in range(5):
        h.receive(f"m{i}", group="q", producer="p1", seq=i)
    if extra:
        extra(h)
    h.drain()
    return h


# delivery --------------------------------------------------------------------------------------------
def test_delivery_passes_a_clean_history() -> None:
    verdict = run_checker(_queue().history, DeliveryChecker())
    assert verdict.valid is True
    assert verdict.stats["send_ok"] == 5 and verdict.stats["consumed_distinct"] == 5


def test_delivery_flags_a_lost_acknowledged_send_with_its_timeline() -> None:
    verdict = run_checker(_queue(lambda h: h.send("lost-1")).history, DeliveryChecker())
    assert verdict.valid is False
    assert verdict.ids("lost") == ["lost-1"]
    events = verdict.anomaly("lost").timelines["lost-1"]
    assert [(e["type"], e["f"]) for e in events] == [(INVOKE, "send"), (OK, "send")]


def test_delivery_shows_the_fault_around_a_lost_message() -> None:
    h = _queue()
    h.fault("kill-leader", start_ms=h.clock_ms + 1, stop_ms=None)
    h.send("lost-2")
    h.op("nemesis", INFO, "stop", {"fault": "kill-leader"})
    h.drain()
    verdict = run_checker(h.history, DeliveryChecker())
    kinds = [e["f"] for e in verdict.anomaly("lost").timelines["lost-2"]]
    assert kinds == ["start", "send", "send", "stop"]


def test_a_timeline_shows_each_op_once_and_a_whole_log_read_as_where_it_holds_the_message() -> None:
    """A consumer's op names its message twice (``id`` and ``source``); the final read lists every record:
    the timeline has each op once, and of the read only its counts and the positions of this message."""
    h = _queue()
    h.send("dup", partition=0, offset=7)
    for offset in (7, 9):
        h.receive("dup", partition=0, offset=offset, source="dup")
    records = [[0, n, f"m{n}"] for n in range(40)] + [[0, 7, "dup"], [0, 9, "dup"]]
    h.op("auditor", INVOKE, "audit")
    h.op("auditor", OK, "audit", {"ids": [r[2] for r in records], "records": records, "starts": [[0, 0]]})
    h.drain()
    verdict = run_checker(h.history, DeliveryChecker())
    events = verdict.anomaly("duplicated").timelines["dup"]
    assert [e["f"] for e in events] == ["send", "send", "receive", "receive", "audit"]
    assert events[-1]["value"] == {"starts": [[0, 0]], "ids_count": 42, "records_count": 42, "holds": [[0, 7], [0, 9]]}


def _audited(found: list[str], outcome: str = OK) -> HistoryBuilder:
    h = _queue()
    h.op("auditor", INVOKE, "audit")
    h.op("auditor", outcome, "audit", {"ids": found} if outcome == OK else {"read": len(found)})
    return h


def test_delivery_flags_a_consumed_write_the_final_log_read_no_longer_holds() -> None:
    verdict = run_checker(_audited(["m0", "m1", "m3", "m4"]).history, DeliveryChecker())
    assert verdict.valid is False
    assert verdict.ids("truncated") == ["m2"] and not verdict.ids("lost")


def test_delivery_passes_when_the_final_log_read_holds_every_write() -> None:
    verdict = run_checker(_audited([f"m{i}" for i in range(5)]).history, DeliveryChecker())
    assert verdict.valid is True and verdict.stats["audited"] is True


def test_delivery_is_unknown_on_truncation_when_the_final_log_read_failed() -> None:
    verdict = run_checker(_audited(["m0"], outcome=INFO).history, DeliveryChecker())
    assert verdict.valid == UNKNOWN and verdict.stats["audited"] is False
    assert "audit" in verdict.incomplete["truncated"] and "lost" not in verdict.incomplete


def test_delivery_flags_a_duplicate_unless_at_least_once_is_allowed() -> None:
    history = _queue(lambda h: h.receive("m3")).history
    assert run_checker(history, DeliveryChecker()).ids("duplicated") == ["m3"]
    tolerant = run_checker(history, DeliveryChecker(allow_duplicates=True))
    assert tolerant.valid is True and tolerant.anomaly("duplicated").count == 1


def test_a_copy_the_broker_flags_as_a_redelivery_is_told_from_one_it_presents_as_new() -> None:
    flagged = _queue(lambda h: h.receive("m3", redelivered=True)).history  # its ack was lost: at-least-once
    verdict = run_checker(flagged, DeliveryChecker())
    assert verdict.ids("redelivered") == ["m3"] and verdict.anomaly("duplicated").count == 0
    assert decide_cell(verdict, ("duplicated", "redelivered")).valid is False  # no_duplicates still fails
    assert verdict.stats["redelivered_copies"] == 1 and verdict.stats["consumed_distinct"] == 5
    as_new = _queue(lambda h: h.receive("m3", redelivered=False)).history  # e.g. a publisher's retry
    verdict = run_checker(as_new, DeliveryChecker())
    assert verdict.ids("duplicated") == ["m3"] and verdict.anomaly("redelivered").count == 0
    assert run_checker(flagged, DeliveryChecker(allow_duplicates=True)).valid is True


def test_a_first_processing_on_a_flagged_delivery_is_no_redelivery() -> None:
    """Its first delivery went to a consumer that crashed before processing: the flag is set, yet this is
    the message's only processing."""
    h = HistoryBuilder()
    h.send("m0")
    h.receive("m0", redelivered=True)
    h.drain()
    verdict = run_checker(h.history, DeliveryChecker())
    assert verdict.valid is True and verdict.anomaly("redelivered").count == 0


def test_delivery_tells_a_read_never_sent_from_a_read_whose_send_definitely_failed() -> None:
    verdict = run_checker(
        _queue(lambda h: (h.receive("ghost"), h.send("f1", FAIL), h.receive("f1"))).history, DeliveryChecker()
    )
    assert verdict.valid is False
    assert verdict.ids("unexpected") == ["ghost"]
    assert verdict.ids("failed_but_delivered") == ["f1"] and not verdict.ids("lost")


def test_delivery_counts_a_landed_unknown_send_as_recovered_and_a_missing_one_apart() -> None:
    verdict = run_checker(
        _queue(lambda h: (h.send("i1", INFO), h.receive("i1"), h.send("i2", INFO), h.send("i3", INVOKE))).history,
        DeliveryChecker(),
    )
    assert verdict.valid is True
    assert verdict.ids("recovered") == ["i1"]
    assert verdict.ids("unconfirmed_lost") == ["i2", "i3"]
    strict = run_checker(_queue(lambda h: h.send("i2", INFO)).history, DeliveryChecker(fail_on_unconfirmed_loss=True))
    assert strict.valid is False and strict.ids("unconfirmed_lost") == ["i2"]


def test_delivery_retry_that_succeeds_is_an_acknowledged_send() -> None:
    h = _queue(lambda h: (h.send("r1", INFO), h.send("r1", OK)))
    verdict = run_checker(h.history, DeliveryChecker())
    assert verdict.ids("lost") == ["r1"]


def test_delivery_matches_a_completion_without_id_to_the_open_invoke() -> None:
    h = HistoryBuilder()
    h.op("p1", INVOKE, "send", {"id": "x"})
    h.op("p1", OK, "send")
    h.drain()
    assert run_checker(h.history, DeliveryChecker()).ids("lost") == ["x"]


def test_delivery_without_a_complete_drain_is_unknown_not_ok() -> None:
    h = HistoryBuilder()
    h.send("m0")
    assert run_checker(h.history, DeliveryChecker()).valid == UNKNOWN
    h.drain(outcome=INFO)
    verdict = run_checker(h.history, DeliveryChecker())
    assert verdict.valid == UNKNOWN and "drain incomplete" in verdict.reason


def test_a_definite_anomaly_is_false_even_without_a_drain() -> None:
    h = HistoryBuilder()
    h.send("m0")
    h.receive("m0")
    h.receive("m0")
    assert run_checker(h.history, DeliveryChecker()).valid is False


def test_delivery_can_count_processing_instead_of_delivery() -> None:
    h = _queue(lambda h: [h.receive(f"m{i}", f="process") for i in range(4)])
    verdict = run_checker(h.history, DeliveryChecker(consume_f="process"))
    assert verdict.ids("lost") == ["m4"]


# order -----------------------------------------------------------------------------------------------
def test_order_passes_fifo_and_flags_the_message_that_arrives_late() -> None:
    assert run_checker(_queue().history, OrderChecker()).valid is True
    h = HistoryBuilder()
    for i in range(4):
        h.send(f"m{i}", group="q", producer="p1", seq=i)
    for i in (0, 2, 1, 3):
        h.receive(f"m{i}", group="q", producer="p1", seq=i)
    verdict = run_checker(h.history, OrderChecker())
    assert verdict.valid is False and verdict.ids("reordered") == ["m1"]


def test_order_is_per_group_and_per_producer() -> None:
    h = HistoryBuilder()
    h.receive("a1", group="k1", producer="p1", seq=1)
    h.receive("b0", group="k2", producer="p1", seq=0)
    h.receive("c0", group="k1", producer="p2", seq=0)
    h.drain()
    assert run_checker(h.history, OrderChecker()).valid is True


def test_order_excuses_a_flagged_redelivery_only_when_the_profile_allows_it() -> None:
    h = HistoryBuilder()
    h.receive("m1", group="q", producer="p", seq=1)
    h.receive("m0", group="q", producer="p", seq=0, redelivered=True)
    h.drain()
    assert run_checker(h.history, OrderChecker()).ids("reordered") == ["m0"]
    assert run_checker(h.history, OrderChecker(allow_requeue_reorder=True)).valid is True


def test_order_ignores_second_deliveries_and_is_unknown_without_data() -> None:
    h = HistoryBuilder()
    h.receive("m0", group="q", producer="p", seq=0)
    h.receive("m1", group="q", producer="p", seq=1)
    h.receive("m0", group="q", producer="p", seq=0)
    h.drain()
    assert run_checker(h.history, OrderChecker()).valid is True
    empty = HistoryBuilder()
    empty.drain()
    assert run_checker(empty.history, OrderChecker()).valid == UNKNOWN


def test_order_judges_a_key_across_consumers_where_one_consumer_owns_it_at_a_time() -> None:
    """A rebalance hands k1 to c2 while c1, kicked out of the group, still works it: c2 reaches seq 3
    before c1 delivers seq 2. Per consumer each looks in order; across the key's owners it is not."""
    h = HistoryBuilder()
    h.receive("m0", group="k1", producer="p", seq=0, process="c1")
    h.receive("m1", group="k1", producer="p", seq=1, process="c1")
    h.receive("m3", group="k1", producer="p", seq=3, process="c2")
    h.receive("m2", group="k1", producer="p", seq=2, process="c1")
    h.drain()
    assert run_checker(h.history, OrderChecker()).valid is True
    assert run_checker(h.history, OrderChecker(across_consumers=True)).ids("reordered") == ["m2"]
    handed_over = HistoryBuilder()  # c2 re-reads m1 after the rebalance, then goes on: in order
    for process, n in (("c1", 0), ("c1", 1), ("c2", 1), ("c2", 2), ("c2", 3)):
        handed_over.receive(f"m{n}", group="k1", producer="p", seq=n, process=process)
    handed_over.drain()
    assert run_checker(handed_over.history, OrderChecker(across_consumers=True)).valid is True


def test_messages_without_an_id_are_counted_and_do_not_stop_the_check() -> None:
    h = HistoryBuilder()
    h.receive(None, group="q", producer="p", seq=0)
    h.receive("m2", group="q", producer="p", seq=2)
    h.receive(None, group="q", producer="p", seq=5)
    h.receive("m1", group="q", producer="p", seq=1)
    h.drain()
    verdict = run_checker(h.history, OrderChecker())
    assert verdict.ids("reordered") == ["m1"] and verdict.stats["without_order_fields"] == 2


def test_a_log_holding_a_producers_messages_out_of_send_order_is_reordered_in_log() -> None:
    """Judged where each message was first read, across consumers: c2 took the partition over after
    offset 11, and the log held m2 before m1 (m1's first try failed and its retry came later)."""

    def history(offsets: list[int]) -> list[Op]:
        h = HistoryBuilder()
        for seq in range(len(offsets)):
            h.send(f"m{seq}", group="k1", producer="p", seq=seq)
        for n, (seq, offset) in enumerate(sorted(enumerate(offsets), key=lambda so: so[1])):
            process = "c1" if n < 2 else "c2"
            h.receive(f"m{seq}", group="k1", producer="p", seq=seq, partition=0, offset=offset, process=process)
        h.drain()
        return h.history

    in_order = run_checker(history([10, 11, 12, 14]), OrderChecker(positions=True))
    assert in_order.valid is True
    retried = run_checker(history([10, 13, 11, 14]), OrderChecker(positions=True))
    assert retried.ids("reordered_in_log") == ["m1 (seq 1) at 0:13, after m2 (seq 2) at 0:11"]
    assert retried.ids("reordered") == []  # per consumer, each read its part in order
    unplaced = HistoryBuilder()
    unplaced.send("m0", group="k1", producer="p", seq=0)
    unplaced.receive("m0", group="k1", producer="p", seq=0)
    unplaced.drain()
    verdict = run_checker(unplaced.history, OrderChecker(positions=True))
    assert verdict.valid == UNKNOWN and "no read carried a partition" in verdict.reason


def test_a_position_read_holding_two_messages_is_left_to_the_offset_checks() -> None:
    """m1 read at 0:11, the log truncated, m3 written and read at 0:11: a rewritten position, which
    the delivery checker reports as inconsistent_offsets; the log order does not judge it."""
    h = HistoryBuilder()
    for seq, offset in ((0, 10), (1, 11), (3, 11), (4, 12)):
        h.send(f"m{seq}", group="k1", producer="p", seq=seq)
        h.receive(f"m{seq}", group="k1", producer="p", seq=seq, partition=0, offset=offset)
    h.drain()
    assert run_checker(h.history, OrderChecker(positions=True)).valid is True


def test_a_log_written_twice_over_is_not_read_as_one_order_across_groups() -> None:
    """What K3 did with static members (no rebalance to start a new life): old m1 of group k1 first read at
    0:12, the log truncated to 0:10, then new m9 of k1 written at 0:11 and o2 of group k2 at 0:12. m9 before
    m1 compares two lives of the log; position 0:12 held two messages (of different groups), so the order
    there is not judged. A real reorder in the same history is still found."""

    def two_lives() -> HistoryBuilder:
        h = HistoryBuilder()
        for mid, group, seq, offset in (("m0", "k1", 0, 10), ("o1", "k2", 1, 11), ("m1", "k1", 1, 12)):
            h.send(mid, group=group, producer="p", seq=seq)
            h.receive(mid, group=group, producer="p", seq=seq, partition=0, offset=offset)
        for mid, group, seq, offset in (("m9", "k1", 9, 11), ("o2", "k2", 2, 12)):
            h.send(mid, group=group, producer="p", seq=seq)
            h.receive(mid, group=group, producer="p", seq=seq, partition=0, offset=offset, process="c1")
        return h

    clean = two_lives()
    clean.drain()
    assert run_checker(clean.history, OrderChecker(positions=True)).ids("reordered_in_log") == []
    h = two_lives()
    h.send("m5", group="k1", producer="p", seq=5)  # a retry overtaken, in the new life: a real reorder
    h.receive("m5", group="k1", producer="p", seq=5, partition=0, offset=13, process="c1")
    h.send("m4", group="k1", producer="p", seq=4)
    h.receive("m4", group="k1", producer="p", seq=4, partition=0, offset=14, process="c1")
    h.drain()
    found = run_checker(h.history, OrderChecker(positions=True)).ids("reordered_in_log")
    assert found == ["m4 (seq 4) at 0:14, after m5 (seq 5) at 0:13"]  # m9 sits at a rewritten position


def test_order_is_unknown_while_first_deliveries_may_still_come() -> None:
    h = HistoryBuilder()
    h.receive("m0", group="q", producer="p", seq=0)
    h.receive("m1", group="q", producer="p", seq=1)
    h.drain(outcome=INFO)
    verdict = run_checker(h.history, OrderChecker())
    assert verdict.valid == UNKNOWN and "drain" in verdict.reason


# trimming by a length cap ----------------------------------------------------------------------------
def _capped(unknown: int = 0) -> HistoryBuilder:
    """Ten entries acknowledged (stream ids 1-0 .. 10-0), a slow consumer that read only the last five;
    ``unknown`` more sends whose outcome is unknown (they may sit in the stream after the others)."""
    h = HistoryBuilder()
    for n in range(10):
        h.send(f"m{n}", entry=f"{n + 1}-0")
    for n in range(unknown):
        h.send(f"u{n}", outcome=INFO)
    for n in range(5, 10):
        h.receive(f"m{n}", entry=f"{n + 1}-0")
    h.drain()
    return h


def test_entries_a_length_cap_allowed_to_drop_are_trimmed_not_lost() -> None:
    within = run_checker(_capped().history, DeliveryChecker(keep_newest=5))
    assert within.valid is True
    assert within.anomalies["trimmed"].count == 5 and within.anomalies["lost"].count == 0
    beyond = run_checker(_capped().history, DeliveryChecker(keep_newest=6))  # m4 had only 5 entries after it
    assert beyond.valid is False and beyond.ids("lost") == ["m4"] and beyond.anomalies["trimmed"].count == 4
    uncapped = run_checker(_capped().history, DeliveryChecker())
    assert uncapped.anomalies["lost"].count == 5 and "trimmed" not in uncapped.anomalies


def test_a_drop_the_cap_may_or_may_not_have_allowed_leaves_loss_unknown() -> None:
    """m4 has five acknowledged entries after it and one send of unknown outcome: with a cap of six its
    drop was allowed only if that send landed."""
    verdict = run_checker(_capped(unknown=1).history, DeliveryChecker(keep_newest=6))
    assert verdict.valid == UNKNOWN and "sends of unknown outcome" in verdict.incomplete["lost"]
    assert verdict.anomalies["lost"].count == 0 and verdict.stats["maybe_trimmed"] == 1


# exactly-once ----------------------------------------------------------------------------------------
def _eos(mutate=None) -> HistoryBuilder:  # type: ignore[no-untyped-def]
    h = HistoryBuilder()
    for i in range(4):
        h.send(f"in{i}")
    h.op("proc", INVOKE, "txn", {"txn": "t1", "inputs": ["in0", "in1"]})
    h.op("proc", OK, "txn", {"txn": "t1", "inputs": ["in0", "in1"]})
    h.op("proc", INVOKE, "txn", {"txn": "t2", "inputs": ["in2", "in3"]})
    h.op("proc", OK, "txn", {"txn": "t2", "inputs": ["in2", "in3"]})
    for i, txn in ((0, "t1"), (1, "t1"), (2, "t2"), (3, "t2")):
        h.receive(f"out{i}", source=f"in{i}", txn=txn)
    if mutate:
        mutate(h)
    h.drain()
    return h


def test_exactly_once_passes_committed_transactions() -> None:
    verdict = run_checker(_eos().history, ExactlyOnceChecker())
    assert verdict.valid is True and verdict.stats["txn_committed"] == 2


def test_exactly_once_flags_a_lost_input_and_a_duplicated_one() -> None:
    verdict = run_checker(
        _eos(lambda h: (h.send("in9"), h.receive("out1b", source="in1", txn="t3"))).history, ExactlyOnceChecker()
    )
    assert verdict.valid is False
    assert verdict.ids("lost") == ["in9"]
    assert verdict.ids("duplicated") == ["in1"]


def test_exactly_once_flags_an_aborted_read_g1a() -> None:
    def abort(h: HistoryBuilder) -> None:
        h.op("proc", INVOKE, "txn", {"txn": "t9", "inputs": ["poison"]})
        h.op("proc", FAIL, "txn", {"txn": "t9", "inputs": ["poison"]})
        h.receive("out-poison", source="poison", txn="t9")

    verdict = run_checker(_eos(abort).history, ExactlyOnceChecker())
    assert verdict.valid is False and verdict.ids("aborted_read") == ["out-poison"]


def _derived_from(input_outcome: str) -> Verdict:
    """An output (its own transaction t2 committed) made from an input whose transaction p9 ended so."""

    def derived(h: HistoryBuilder) -> None:
        h.op("producer", INVOKE, "txn", {"txn": "p9", "inputs": ["in-x"]})
        h.op("producer", input_outcome, "txn", {"txn": "p9", "inputs": ["in-x"]})
        h.receive("out-derived", source="in-x", txn="t2", source_txn="p9")

    return run_checker(_eos(derived).history, ExactlyOnceChecker())


def test_exactly_once_flags_an_output_derived_from_an_aborted_input() -> None:
    verdict = _derived_from(FAIL)
    assert verdict.valid is False and verdict.ids("derived_from_aborted") == ["out-derived"]
    assert verdict.ids("aborted_read") == []  # its own transaction (t2) committed


def test_exactly_once_reports_an_output_derived_from_an_input_of_unknown_outcome() -> None:
    verdict = _derived_from(INFO)
    assert verdict.valid is True and verdict.ids("derived_from_unknown") == ["out-derived"]
    assert verdict.stats["txn_unknown_but_derived"] == 1


def test_a_transaction_label_used_twice_leaves_the_outcome_checks_unknown() -> None:
    """A restarted processor counting its transactions from 1 again: "t2" aborted the second time, and
    a read of "t2" cannot say which of the two it saw."""

    def reused(h: HistoryBuilder) -> None:
        h.op("proc", INVOKE, "txn", {"txn": "t2", "inputs": ["in2"]})
        h.op("proc", FAIL, "txn", {"txn": "t2", "inputs": ["in2"]})

    verdict = run_checker(_eos(reused).history, ExactlyOnceChecker())
    assert verdict.valid == UNKNOWN and "2 records read belong to transaction labels invoked more than once (t2)" in (
        verdict.reason
    )
    assert verdict.ids("aborted_read") == []  # not judged: t2's first outcome (committed) is lost


def test_exactly_once_reports_a_read_of_an_undecided_transaction_without_failing() -> None:
    def undecided(h: HistoryBuilder) -> None:
        h.op("proc", INVOKE, "txn", {"txn": "t7", "inputs": []})
        h.receive("out-x", source="in0-copy", txn="t7")

    verdict = run_checker(_eos(undecided).history, ExactlyOnceChecker())
    assert verdict.valid is True and verdict.ids("uncommitted_read") == ["out-x"]


# dead letter -----------------------------------------------------------------------------------------
def test_a_dead_letter_after_more_or_fewer_deliveries_than_configured_is_reported_not_failed() -> None:
    on_limit = run_checker(_dlq(limit=4).history, DeadLetterChecker(dead_letter_after=4))
    assert on_limit.valid is True and on_limit.ids("dead_lettered_off_limit") == []
    assert on_limit.stats["deliveries_before_dead_letter"] == {"4": 1}
    off = run_checker(_dlq(limit=3).history, DeadLetterChecker(dead_letter_after=4))
    assert off.valid is True  # a finding to read, not a failure
    assert off.ids("dead_lettered_off_limit") == [
        "bad0 (delivered 3 times, the configuration allows 4; the broker's count on the dead letter: 3)"
    ]
    unread = _dlq(limit=3)
    unread.history.ops = [op for op in unread.history.ops if op.f != "dead_letter_read"]
    assert "dead_lettered_off_limit" in run_checker(unread.history, DeadLetterChecker(dead_letter_after=4)).incomplete


def _dlq(mutate=None, limit: int = 3) -> HistoryBuilder:  # type: ignore[no-untyped-def]
    h = HistoryBuilder()
    h.send("g0", kind="good")
    h.send("bad0", kind="poison")
    h.send("g1", kind="good")
    h.receive("g0")
    for _ in range(limit):
        h.receive("bad0")
    h.receive("g1")
    h.op("dlq", OK, "dead_letter", {"id": "bad0", "reason": "delivery_limit", "delivery_count": limit})
    if mutate:
        mutate(h)
    h.op("dlq", OK, "dead_letter_read")
    h.drain()
    return h


def test_poison_a_length_cap_dropped_before_any_delivery_is_trimmed_not_missing_from_the_dlq() -> None:
    """bad1 was written first (entry 1-0), three entries came after it, and no consumer ever saw it: a
    cap of three allowed the broker to trim it; a cap of four did not."""

    def history() -> HistoryBuilder:
        h = HistoryBuilder()
        h.send("bad1", kind="poison", entry="1-0")
        for n, mid in enumerate(("g0", "g1", "g2")):
            h.send(mid, kind="good", entry=f"{n + 2}-0")
            h.receive(mid)
        h.op("dlq", OK, "dead_letter_read")
        h.drain()
        return h

    allowed = run_checker(history().history, DeadLetterChecker(keep_newest=3))
    assert allowed.valid is True and allowed.ids("poison_trimmed") == ["bad1"]
    not_allowed = run_checker(history().history, DeadLetterChecker(keep_newest=4))
    assert not_allowed.valid is False and not_allowed.ids("poison_not_dead_lettered") == ["bad1"]


def test_dead_letter_passes_poison_dead_lettered_once() -> None:
    verdict = run_checker(_dlq().history, DeadLetterChecker(max_deliveries=3))
    assert verdict.valid is True
    assert verdict.stats["max_poison_deliveries"] == 3 and verdict.stats["head_of_line_s"]["max"] >= 0


def test_dead_letter_flags_each_kind() -> None:
    cases = {
        "poison_not_dead_lettered": lambda h: h.send("bad1", kind="poison"),
        "dead_lettered_twice": lambda h: h.op("dlq", OK, "dead_letter", {"id": "bad0", "reason": "x"}),
        "dead_letter_without_reason": lambda h: (
            h.send("bad2", kind="poison"),
            h.op("dlq", OK, "dead_letter", {"id": "bad2"}),
        ),
        "good_dead_lettered": lambda h: h.op("dlq", OK, "dead_letter", {"id": "g1", "reason": "x"}),
        "over_delivered": lambda h: h.receive("bad0"),
        "poison_processed": lambda h: h.receive("bad0", f="process"),
    }
    expected = {
        "poison_not_dead_lettered": "bad1",
        "dead_lettered_twice": "bad0",
        "dead_letter_without_reason": "bad2",
        "good_dead_lettered": "g1",
        "over_delivered": "bad0",
        "poison_processed": "bad0",
    }
    for kind, mutate in cases.items():
        verdict = run_checker(_dlq(mutate).history, DeadLetterChecker(max_deliveries=3))
        assert verdict.valid is False, kind
        assert verdict.ids(kind) == [expected[kind]], kind


def test_dead_letter_measures_head_of_line_delay_and_flags_it_against_a_bound() -> None:
    h = HistoryBuilder()
    h.send("bad", kind="poison")
    h.send("late", kind="good")
    h.op("c1", OK, "receive", {"id": "late"}, at_ms=h.clock_ms + 5000)
    h.op("dlq", OK, "dead_letter", {"id": "bad", "reason": "limit"})
    h.op("dlq", OK, "dead_letter_read")
    h.drain()
    verdict = run_checker(h.history, DeadLetterChecker(max_head_of_line_s=2.0))
    assert verdict.valid is False and verdict.ids("head_of_line") == ["late"]
    assert verdict.stats["head_of_line_s"]["max"] >= 5.0
    assert run_checker(h.history, DeadLetterChecker(max_head_of_line_s=10.0)).valid is True


def test_a_dead_letter_queue_not_read_to_its_end_leaves_the_verdict_unknown_not_failed() -> None:
    h = HistoryBuilder()
    h.send("bad0", kind="poison")
    h.send("bad1", kind="poison")
    h.op("dlq", OK, "dead_letter", {"id": "bad0", "reason": "delivery_limit"})
    h.op("dlq", INFO, "dead_letter_read", at_ms=None)
    h.drain()
    verdict = run_checker(h.history, DeadLetterChecker())
    assert verdict.valid == UNKNOWN and verdict.anomaly("poison_not_dead_lettered").count == 0
    assert "not read to its end" in verdict.reason
    h.op("dlq", OK, "dead_letter", {"id": "g", "reason": "x"})  # what a partial read did find still counts
    h.send("g", kind="good")
    assert run_checker(h.history, DeadLetterChecker()).ids("good_dead_lettered") == ["g"]


def test_processing_only_good_messages_is_no_poison_processed_and_an_unfinished_drain_cannot_say_so() -> None:
    h = _dlq(lambda h: (h.receive("g0", f="process"), h.receive("g1", f="process")))
    verdict = run_checker(h.history, DeadLetterChecker(max_deliveries=3))
    assert verdict.valid is True and verdict.anomaly("poison_processed").count == 0
    unfinished = _dlq(lambda h: h.receive("g0", f="process"))
    unfinished.drain(outcome=INFO)
    verdict = run_checker(unfinished.history, DeadLetterChecker(max_deliveries=3))
    assert verdict.valid == UNKNOWN and "poison_processed" in verdict.incomplete


def test_dead_letter_without_poison_is_unknown() -> None:
    h = HistoryBuilder()
    h.send("g", kind="good")
    h.receive("g")
    h.drain()
    assert run_checker(h.history, DeadLetterChecker()).valid == UNKNOWN


# availability ----------------------------------------------------------------------------------------
def _steady(h: HistoryBuilder, from_ms: int, to_ms: int, every_ms: int = 10) -> None:
    for t in range(from_ms, to_ms, every_ms):
        h.op("p1", INVOKE, "send", {"id": f"s{t}"}, at_ms=t)
        h.op("p1", OK, "send", {"id": f"s{t}"}, at_ms=t)


def test_availability_measures_recovery_after_heal() -> None:
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.fault("partition", 3000, 4000)
    _steady(h, 4500, 10000)
    h.drain()
    verdict = run_checker(h.history, AvailabilityChecker())
    window = verdict.stats["windows"][0]
    assert verdict.valid is True
    assert window["rate_during"] == 0 and window["rate_before"] > 50
    assert 0.4 <= window["first_ok_after_heal_s"] <= 0.6


def test_availability_flags_never_recovered_and_slow_recovery() -> None:
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.fault("kill", 3000, 4000)
    h.op("p1", INVOKE, "send", {"id": "x"}, at_ms=12000)
    h.op("p1", FAIL, "send", {"id": "x"}, at_ms=12001)
    h.drain()
    assert run_checker(h.history, AvailabilityChecker()).ids("never_recovered") == ["kill#0"]
    h2 = HistoryBuilder()
    _steady(h2, 0, 3000)
    h2.fault("kill", 3000, 4000)
    _steady(h2, 9000, 12000)
    h2.drain()
    assert run_checker(h2.history, AvailabilityChecker(max_recovery_s=2)).ids("slow_recovery") == ["kill#0 (5.0 s)"]


def test_availability_cannot_judge_recovery_once_clients_stopped_trying() -> None:
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.fault("kill", 3000, 4000)
    h.op("c1", OK, "receive", {"id": "s10"}, at_ms=12000)  # the drain goes on, producers are gone
    h.drain()
    verdict = run_checker(h.history, AvailabilityChecker())
    assert verdict.anomaly("never_recovered").count == 0
    assert verdict.valid == UNKNOWN and "clients tried for only" in verdict.reason


def test_availability_judges_what_the_cluster_did_before_the_operator_stepped_in() -> None:
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.fault("kill", 3000, 4000)
    for t in range(4000, 10000, 100):  # every send after the heal fails ...
        h.op("p1", INVOKE, "send", {"id": f"f{t}"}, at_ms=t)
        h.op("p1", FAIL, "send", {"id": f"f{t}"}, at_ms=t + 1)
    h.op("operator", INFO, "repair", {"action": "started rabbitmq-2 (exited)"}, at_ms=10000)
    _steady(h, 10100, 12000)  # ... until the operator restarted a node
    h.drain()
    verdict = run_checker(h.history, AvailabilityChecker())
    assert verdict.valid is False
    assert verdict.ids("never_recovered") == ["kill#0 (recovered only after repair, if at all)"]


def test_a_client_that_only_fails_to_connect_after_the_heal_is_still_trying() -> None:
    """A producer that reaches no broker publishes nothing; its failed connections are its attempts."""

    def history(connects_until_ms: int, recovers_at_ms: int | None) -> list[Op]:
        h = HistoryBuilder()
        _steady(h, 0, 3000)
        h.fault("kill-all", 3000, 4000)
        for t in range(4000, connects_until_ms, 200):
            h.op("p1", INVOKE, "connect", at_ms=t)
            h.op("p1", FAIL, "connect", at_ms=t + 50)
        if recovers_at_ms is not None:
            _steady(h, recovers_at_ms, recovers_at_ms + 2000)
        h.drain()
        return h.history

    assert run_checker(history(16000, None), AvailabilityChecker()).ids("never_recovered") == ["kill-all#0"]
    assert run_checker(history(6000, 6000), AvailabilityChecker()).valid is True
    short = run_checker(history(5000, None), AvailabilityChecker())
    assert short.valid == UNKNOWN and "clients tried for only 0.8 s" in short.reason


def test_a_declared_recovery_bound_is_the_least_wait_before_never_recovered() -> None:
    """Without a bound, 8 s without a success after the heal is never_recovered; a profile that allows
    20 s (a whole cluster booting) waits that long before saying so, and 8 s is then too short to judge."""

    def history(fail_until_ms: int, recovers_at_ms: int | None) -> list[Op]:
        h = HistoryBuilder()
        _steady(h, 0, 3000)
        h.fault("kill-all", 3000, 4000)
        for t in range(4000, fail_until_ms, 100):
            h.op("p1", INVOKE, "send", {"id": f"f{t}"}, at_ms=t)
            h.op("p1", FAIL, "send", {"id": f"f{t}"}, at_ms=t + 1)
        if recovers_at_ms is not None:
            _steady(h, recovers_at_ms, recovers_at_ms + 3000)
        h.drain()
        return h.history

    bounded = AvailabilityChecker(max_recovery_s=20)
    assert run_checker(history(12000, 12000), bounded).valid is True
    assert run_checker(history(12000, None), AvailabilityChecker()).ids("never_recovered") == ["kill-all#0"]
    assert run_checker(history(25000, None), AvailabilityChecker(max_recovery_s=20)).ids("never_recovered") == [
        "kill-all#0"
    ]
    assert run_checker(history(12000, None), AvailabilityChecker(max_recovery_s=20)).valid == UNKNOWN


def _reads(h: HistoryBuilder, from_ms: int, to_ms: int, every_ms: int = 10) -> None:
    for t in range(from_ms, to_ms, every_ms):
        h.op("c1", OK, "receive", {"id": f"s{t}"}, at_ms=t)


def test_a_cluster_that_takes_writes_but_serves_no_reads_has_not_recovered() -> None:
    def history(reads_resume_ms: int | None, run_ends_ms: int = 12000) -> list[Op]:
        h = HistoryBuilder()
        _steady(h, 0, 3000)
        _reads(h, 5, 3000)
        h.fault("crash-consumer", 3000, 4000)
        _steady(h, 4000, min(10000, run_ends_ms - 1))
        if reads_resume_ms is not None:
            _reads(h, reads_resume_ms, 10000)
        h.op("c1", INVOKE, "drain", at_ms=run_ends_ms - 1)
        h.op("c1", OK, "drain", at_ms=run_ends_ms)
        return h.history

    healthy = run_checker(history(4205), AvailabilityChecker(max_recovery_s=5))
    assert healthy.valid is True and healthy.stats["windows"][0]["first_read_after_heal_s"] == 0.2
    assert run_checker(history(None), AvailabilityChecker()).ids("never_recovered") == ["crash-consumer#0 (reads)"]
    slow = run_checker(history(9000), AvailabilityChecker(max_recovery_s=2))
    assert slow.ids("slow_recovery") == ["crash-consumer#0 (reads: first read after 5.0 s)"]
    # a consumer group's own bound for reads (it reads again once it has rejoined); sends keep theirs
    group_bound = run_checker(history(9000), AvailabilityChecker(max_recovery_s=2, max_read_recovery_s=6))
    assert group_bound.valid is True
    assert run_checker(history(9000), AvailabilityChecker(max_recovery_s=6, max_read_recovery_s=4)).ids(
        "slow_recovery"
    ) == ["crash-consumer#0 (reads: first read after 5.0 s)"]
    # the run ended 1 s after the heal: too soon to say the reads never came back
    brief = run_checker(history(None, run_ends_ms=5000), AvailabilityChecker())
    assert brief.valid == UNKNOWN and "consumers were observed for only 1.0 s" in brief.reason


def test_reads_are_judged_only_where_there_was_something_to_read() -> None:
    """No read before the fault (nothing to compare), or no send after the heal (nothing new to read):
    the reads of that window are not judged, and the sends decide."""
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.fault("kill", 3000, 4000)
    _steady(h, 4000, 10000)
    h.drain()
    assert run_checker(h.history, AvailabilityChecker()).valid is True
    h2 = HistoryBuilder()
    _steady(h2, 0, 3000)
    _reads(h2, 5, 3000)
    h2.fault("kill", 3000, 4000)
    h2.op("p1", INVOKE, "connect", at_ms=12000)
    h2.op("p1", OK, "connect", at_ms=12001)
    h2.drain()
    verdict = run_checker(h2.history, AvailabilityChecker())
    assert verdict.ids("never_recovered") == ["kill#0"]
    assert "first_read_after_heal_s" not in verdict.stats["windows"][0]


def test_availability_is_unknown_when_no_fault_hit_anything() -> None:
    h = HistoryBuilder()
    _steady(h, 0, 3000)
    h.op("nemesis", INFO, "start", {"fault": "kill"}, at_ms=3000)
    h.op("nemesis", INFO, "no_target", {"fault": "kill", "targets": []}, at_ms=3001)
    h.op("nemesis", INFO, "stop", {"fault": "kill"}, at_ms=6000)
    _steady(h, 6000, 12000)
    h.drain()
    verdict = run_checker(h.history, AvailabilityChecker())
    assert verdict.valid == UNKNOWN and "no fault hit anything" in verdict.reason


# composition -----------------------------------------------------------------------------------------
def test_several_checkers_run_in_one_pass_and_combine() -> None:
    verdicts = run_checkers(_queue(lambda h: h.send("lost")).history, [DeliveryChecker(), OrderChecker()])
    assert [v.valid for v in verdicts] == [False, True]
    assert combine(*(v.valid for v in verdicts)) is False
    assert combine(True, UNKNOWN) == UNKNOWN and combine(True, True) is True
