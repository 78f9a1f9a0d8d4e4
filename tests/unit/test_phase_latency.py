"""Latency by phase (measured, never judged): each acknowledged op's invoke-to-ok time lands in the phase it
was invoked in — before the first fault, during a fault, after a heal — and an op that never completed ok
has none."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import AvailabilityChecker, run_checkers
from chaos.history import FAIL, INFO, INVOKE, NEMESIS, OK
from tests.unit.histories import HistoryBuilder


def latency(builder: HistoryBuilder) -> dict[str, dict[str, float | int]]:
    (verdict,) = run_checkers(builder.history, [AvailabilityChecker()])
    return verdict.stats["latency_ms"]


def test_each_op_s_latency_is_counted_in_the_phase_it_was_invoked_in() -> None:
    h = HistoryBuilder()
    for n in range(10):  # before: 5 ms each
        h.op("p1", INVOKE, "send", {"id": f"b{n}"}, at_ms=100 + 10 * n)
        h.op("p1", OK, "send", {"id": f"b{n}"}, at_ms=105 + 10 * n)
    h.op(NEMESIS, INFO, "start", {"fault": "kill"}, at_ms=300)
    h.op("p1", INVOKE, "send", {"id": "d0"}, at_ms=310)
    h.op(NEMESIS, INFO, "stop", {"fault": "kill"}, at_ms=800)
    h.op("p1", OK, "send", {"id": "d0"}, at_ms=900)  # invoked during the fault: 590 ms, counted there
    h.op("p1", INVOKE, "send", {"id": "a0"}, at_ms=1000)
    h.op("p1", OK, "send", {"id": "a0"}, at_ms=1020)
    h.op("p1", INVOKE, "send", {"id": "a1"}, at_ms=1030)
    h.op("p1", FAIL, "send", {"id": "a1"}, at_ms=1031)  # failed: no latency
    h.op("p1", INVOKE, "send", {"id": "a2"}, at_ms=1040)  # never completed: no latency
    found = latency(h)
    assert found["before"] == {"count": 10, "p50": 5.0, "p99": 5.0, "max": 5.0}
    assert found["during"] == {"count": 1, "p50": 590.0, "p99": 590.0, "max": 590.0}
    assert found["after"] == {"count": 1, "p50": 20.0, "p99": 20.0, "max": 20.0}


def test_a_history_without_faults_has_only_a_before_phase() -> None:
    h = HistoryBuilder()
    h.send("m1")
    assert latency(h) == {
        "before": {"count": 1, "p50": 1.0, "p99": 1.0, "max": 1.0},
        "during": {"count": 0},
        "after": {"count": 0},
    }


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 300), st.sampled_from([OK, FAIL, INFO])), max_size=60))
def test_every_acknowledged_op_is_counted_once_in_its_phase(sends: list[tuple[int, int, str]]) -> None:
    fault_start, fault_stop = 700, 1200
    events: list[tuple[int, int, str, str, dict[str, object]]] = []  # (time, order, process, type/f, value)
    expected = {"before": 0, "during": 0, "after": 0}
    for n, (at, took, outcome) in enumerate(sends):
        events.append((at, 1, f"p{n}", INVOKE, {"id": n}))
        events.append((at + took + 1, 2, f"p{n}", outcome, {"id": n}))
        if outcome == OK:
            phase = "before" if at < fault_start else "during" if at < fault_stop else "after"
            expected[phase] += 1
    events += [(fault_start, 0, NEMESIS, "start", {"fault": "f"}), (fault_stop, 0, NEMESIS, "stop", {"fault": "f"})]
    h = HistoryBuilder()
    for at, _, process, what, value in sorted(events, key=lambda e: (e[0], e[1])):
        if process == NEMESIS:
            h.op(NEMESIS, INFO, what, value, at_ms=at)
        else:
            h.op(process, what, "send", value, at_ms=at)
    found = latency(h)
    assert {phase: found[phase]["count"] for phase in expected} == expected
