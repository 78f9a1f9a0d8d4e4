"""The broker-health checker: settling metrics back to 0 after the last heal, proven both ways."""

from __future__ import annotations

from chaos.checkers import run_checker
from chaos.checkers.health import BrokerHealthChecker
from chaos.checkers.verdict import UNKNOWN
from chaos.history import INVOKE, OK
from tests.unit.histories import HistoryBuilder


def _observed(values: list[int | None], heal_at_s: int = 2, drained: bool = True) -> HistoryBuilder:
    """One sample per second; a fault from 1 s to ``heal_at_s``."""
    h = HistoryBuilder()
    h.fault("kill", 1000, heal_at_s * 1000)
    for second, value in enumerate(values):
        h.op("observer", OK, "observe", {"under_replicated": value}, at_ms=second * 1000 + 1)
    if drained:
        h.drain()
    return h


def _checker(within_s: float) -> BrokerHealthChecker:
    """Settled must hold for 3 samples over 2 s (one sample a second here)."""
    return BrokerHealthChecker(("under_replicated",), within_s, hold_s=2, min_samples=3)


def test_settled_within_the_bound_passes() -> None:
    verdict = run_checker(_observed([0, 3, 3, 2, 0, 0, 0]).history, _checker(5))
    assert verdict.valid is True and verdict.stats["recovered_after_s"] == 2.0
    assert verdict.stats["peaks"] == {"under_replicated": 3}


def test_never_settled_after_the_bound_fails() -> None:
    verdict = run_checker(_observed([0, 3, 3, 3, 3, 3, 3, 3]).history, _checker(4))
    assert verdict.valid is False and verdict.anomaly("not_recovered").count == 1


def test_a_zero_before_a_relapse_is_not_recovery() -> None:
    values: list[int | None] = [0, 3, 0, 1, 1, 1, 1, 1, 1]
    verdict = run_checker(_observed(values).history, _checker(4))
    assert verdict.valid is False and verdict.anomaly("not_recovered").count == 1


def test_an_unreadable_sample_neither_settles_nor_unsettles() -> None:
    values: list[int | None] = [0, 3, 3, 0, 0, None, 0]
    verdict = run_checker(_observed(values).history, _checker(5))
    assert verdict.valid is True and verdict.stats["recovered_after_s"] == 1.0


def test_settling_later_than_the_bound_fails_as_slow() -> None:
    verdict = run_checker(_observed([0, 3, 3, 3, 3, 3, 0]).history, _checker(2))
    assert verdict.valid is False and verdict.anomaly("slow_recovery").count == 1


def test_unreadable_or_too_short_after_the_heal_is_unknown() -> None:
    short = run_checker(_observed([0, 3, 3, 3]).history, _checker(30))
    blind = run_checker(_observed([0, None, None, None]).history, _checker(30))
    assert short.valid == UNKNOWN and blind.valid == UNKNOWN


def test_one_zero_sample_is_not_yet_health() -> None:
    verdict = run_checker(_observed([0, 3, 3, 0]).history, _checker(30))
    assert verdict.valid == UNKNOWN and "hold for only 1 sample" in verdict.reason
    held = run_checker(_observed([0, 3, 3, 0, 0, 0]).history, _checker(30))
    assert held.valid is True and held.stats["held_settled_s"] == 2.0


def test_nothing_to_settle_is_no_evidence_of_health() -> None:
    verdict = run_checker(_observed([5]).history, BrokerHealthChecker((), 1))
    assert verdict.valid == UNKNOWN and "no broker-side metric" in verdict.reason


def test_only_samples_before_the_operator_stepped_in_count() -> None:
    h = _observed([0, 3, 3, 3, 3, 3], drained=False)
    h.op("operator", "info", "repair", {"action": "restarted rabbitmq-3"}, at_ms=6000)
    for second in (7, 8, 9, 10):
        h.op("observer", OK, "observe", {"under_replicated": 0}, at_ms=second * 1000 + 1)
    h.drain()
    verdict = run_checker(h.history, _checker(3))
    assert verdict.valid is False and verdict.anomaly("not_recovered").count == 1


def test_an_incomplete_drain_leaves_health_unknown() -> None:
    verdict = run_checker(_observed([0, 3, 0, 0, 0, 0], drained=False).history, _checker(5))
    assert verdict.valid == UNKNOWN


def test_the_final_drain_s_own_load_is_not_a_relapse() -> None:
    """Settled and held before the drain: a blip while the drain writes (Redis replication offsets move
    with its acknowledgements) does not undo it; with no hold before the drain it stays unknown."""

    def observed(before_drain: list[int], during_drain: list[int]) -> HistoryBuilder:
        h = HistoryBuilder()
        h.fault("kill", 1000, 2000)
        for second, value in enumerate(before_drain):
            h.op("observer", OK, "observe", {"under_replicated": value}, at_ms=second * 1000 + 1)
        at = len(before_drain) * 1000
        h.op("c1", INVOKE, "drain", at_ms=at)
        for i, value in enumerate(during_drain):
            h.op("observer", OK, "observe", {"under_replicated": value}, at_ms=at + i * 1000 + 1)
        h.op("c1", OK, "drain", {"backlog": 0}, at_ms=at + len(during_drain) * 1000)
        return h

    held = run_checker(observed([0, 3, 0, 0, 0, 0], [132, 0]).history, _checker(5))
    assert held.valid is True and held.stats["held_settled_s"] == 3.0
    not_held = run_checker(observed([0, 3, 3, 0], [0, 0, 0, 0]).history, _checker(5))
    assert not_held.valid == UNKNOWN
