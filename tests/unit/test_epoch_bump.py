"""A Kafka idempotent producer that takes a new epoch while a message is in flight sends it again with
sequence numbers the broker never saw (confluentinc/librdkafka#4953): a duplicate of such a message is
named ``resent_after_epoch_bump``, any other stays ``duplicated``, and both fail ``no_duplicates``."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from chaos.brokers.kafka.workload import ProducerIdLog
from chaos.checkers import UNKNOWN, DeliveryChecker, run_checker
from chaos.checkers.guarantees import decide_cell
from chaos.history import INVOKE, OK, MemoryHistory
from tests.unit.histories import HistoryBuilder

NO_DUPLICATES = ("duplicated", "resent_after_epoch_bump", "redelivered", "nonmonotonic", "rewound")


def _pid(h: HistoryBuilder, epoch: int, process: str = "p1") -> None:
    h.op(process, OK, "producer_id", {"id": 7, "epoch": epoch})


def _in_flight_across(bump: bool, copies: int) -> HistoryBuilder:
    """m0 acknowledged; m1 sent, (the epoch bumped,) then acknowledged; m1 read ``copies`` times."""
    h = HistoryBuilder()
    _pid(h, 0)
    h.send("m0")
    h.op("p1", INVOKE, "send", {"id": "m1"})
    if bump:
        _pid(h, 1)
    h.op("p1", OK, "send", {"id": "m1"})
    h.receive("m0", record="0:0")
    for k in range(copies):
        h.receive("m1", record=f"0:{k + 1}")
    h.drain()
    return h


def test_a_duplicate_in_flight_across_an_epoch_bump_is_named_and_fails_no_duplicates() -> None:
    verdict = run_checker(_in_flight_across(bump=True, copies=2).history, DeliveryChecker())
    assert verdict.ids("resent_after_epoch_bump") == ["m1"] and verdict.anomaly("duplicated").count == 0
    assert verdict.valid is False and decide_cell(verdict, NO_DUPLICATES).valid is False


def test_a_duplicate_without_an_epoch_bump_stays_duplicated() -> None:
    verdict = run_checker(_in_flight_across(bump=False, copies=2).history, DeliveryChecker())
    assert verdict.ids("duplicated") == ["m1"] and verdict.anomaly("resent_after_epoch_bump").count == 0


def test_a_bump_with_nothing_read_twice_is_no_anomaly() -> None:
    verdict = run_checker(_in_flight_across(bump=True, copies=1).history, DeliveryChecker())
    assert verdict.valid is True


def test_without_any_record_of_producer_ids_a_duplicate_is_not_explained() -> None:
    """The evidence for the cause missing (no ``producer_id`` ops: another broker, or a producer without
    idempotence): the duplicate is counted as such, never excused or renamed."""
    h = _in_flight_across(bump=False, copies=2)
    ops = [op for op in h.history if op.f != "producer_id"]
    verdict = run_checker(MemoryHistory(ops), DeliveryChecker())
    assert verdict.ids("duplicated") == ["m1"] and verdict.valid is False


def test_a_bump_after_the_message_was_answered_does_not_explain_its_duplicate() -> None:
    h = HistoryBuilder()
    _pid(h, 0)
    h.send("m1")
    _pid(h, 1)  # m1 was answered before the bump: the bump did not resend it
    h.receive("m1", record="0:0")
    h.receive("m1", record="0:1")
    h.drain()
    assert run_checker(h.history, DeliveryChecker()).ids("duplicated") == ["m1"]


def test_a_send_never_answered_across_its_producers_bump_is_in_flight_at_it() -> None:
    """No answer ever reached the producer (the run ended first): the bump after its send still finds
    it in flight, as librdkafka resends every unanswered message under the new epoch."""
    for bump, kind in ((True, "resent_after_epoch_bump"), (False, "duplicated")):
        h = HistoryBuilder()
        _pid(h, 0)
        h.op("p1", INVOKE, "send", {"id": "m1"})
        if bump:
            _pid(h, 1)
        h.receive("m1", record="0:0")
        h.receive("m1", record="0:1")
        h.drain()
        assert run_checker(h.history, DeliveryChecker()).ids(kind) == ["m1"], bump


def test_another_producers_bump_does_not_explain_this_ones_duplicate() -> None:
    h = HistoryBuilder()
    _pid(h, 0, "p1")
    _pid(h, 0, "p2")
    h.op("p1", INVOKE, "send", {"id": "m1"})
    _pid(h, 1, "p2")
    h.op("p1", OK, "send", {"id": "m1"})
    h.receive("m1", record="0:0")
    h.receive("m1", record="0:1")
    h.drain()
    assert run_checker(h.history, DeliveryChecker()).ids("duplicated") == ["m1"]


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=12))
def test_every_message_read_twice_is_counted_once_under_one_of_the_two_names(
    plan: list[tuple[bool, int]],
) -> None:
    h = HistoryBuilder()
    epoch = 0
    _pid(h, epoch)
    for i, (bump, copies) in enumerate(plan):
        h.op("p1", INVOKE, "send", {"id": f"m{i}"})
        if bump:
            epoch += 1
            _pid(h, epoch)
        h.op("p1", OK, "send", {"id": f"m{i}"})
        for k in range(copies):
            h.receive(f"m{i}", record=f"{i}:{k}")
    h.drain()
    verdict = run_checker(h.history, DeliveryChecker())
    resent = {f"m{i}" for i, (bump, copies) in enumerate(plan) if bump and copies > 1}
    duplicated = {f"m{i}" for i, (bump, copies) in enumerate(plan) if not bump and copies > 1}
    assert verdict.anomaly("resent_after_epoch_bump").count == len(resent)
    assert verdict.anomaly("duplicated").count == len(duplicated)
    assert verdict.valid is (not resent and not duplicated)


def test_the_producer_log_records_each_producer_id_and_epoch_and_passes_the_rest_on(caplog) -> None:  # type: ignore[no-untyped-def]
    history = MemoryHistory()
    log = ProducerIdLog(history, "producer-1")
    fmt = "%s [%s] %s"
    log.log(logging.DEBUG, fmt, "GETPID", "rdkafka#producer-1", "[thrd:main]: Acquired PID{Id:0,Epoch:0}")
    log.log(
        logging.DEBUG,
        fmt,
        "DRAIN",
        "rdkafka#producer-1",
        "[thrd:x]: All partitions drained, bumped epoch to PID{Id:0,Epoch:1}",
    )
    log.log(logging.DEBUG, fmt, "IDEMPSTATE", "rdkafka#producer-1", "[thrd:main]: state change DrainBump -> Assigned")
    with caplog.at_level(logging.WARNING, logger="brokerchaos.librdkafka"):
        log.log(logging.WARNING, fmt, "FAIL", "rdkafka#producer-1", "Disconnected")
    ops = list(history)
    assert [(op.process, op.f, op.value) for op in ops] == [
        ("producer-1", "producer_id", {"id": 0, "epoch": 0}),
        ("producer-1", "producer_id", {"id": 0, "epoch": 1}),
    ]
    assert "Disconnected" in caplog.text


def test_a_duplicate_read_fails_even_without_a_completed_drain_and_a_clean_one_is_then_unknown() -> None:
    """Two copies read are proof however the run ended; without the drain, no duplicate is not."""
    for copies, expected in ((2, False), (1, UNKNOWN)):
        h = _in_flight_across(bump=True, copies=copies)
        verdict = run_checker(MemoryHistory([op for op in h.history if op.f != "drain"]), DeliveryChecker())
        assert verdict.valid == expected and "resent_after_epoch_bump" in verdict.incomplete
