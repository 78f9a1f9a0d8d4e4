"""Guarantee cells are decided by their own anomalies and their own evidence: an incomplete drain never
yields a pass, whatever else the history holds; a FAIL names the anomalies that decided it; recovery
can fail on every budget."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import run_checkers
from chaos.checkers.guarantees import GUARANTEES, CheckerOptions, checkers_for, guarantee_cells, mark_failing
from chaos.history import FAIL, INFO, INVOKE, OK, Op
from chaos.profiles import Guarantees
from chaos.schedule.budget import BUDGETS
from chaos.schedule.explore import RECOVERY_GRACE_S
from tests.unit.histories import HistoryBuilder, generate_clean, reindexed

EVERYTHING = Guarantees(
    no_loss=True,
    no_duplicates=True,
    order=True,
    dead_letter=True,
    exactly_once=True,
    recovery=True,
    broker_health=True,
)


def _cells(ops: list[Op], guarantees: Guarantees = EVERYTHING, **options: object):  # type: ignore[no-untyped-def]
    checkers = checkers_for(guarantees, CheckerOptions(consume_f="receive", settling=("lag",), **options))  # type: ignore[arg-type]
    verdicts = run_checkers(reindexed(ops), checkers)
    cells = guarantee_cells(guarantees, verdicts)
    mark_failing(verdicts, cells)
    return cells, verdicts


def _with_everything(rng: random.Random, ops: list[Op]) -> list[Op]:
    """Add what every checker reads: poison and its dead letter, a transaction, a fault and its heal,
    broker-side samples — and, at random, anomalies of any kind."""
    extra = [
        Op("nemesis", INFO, "start", {"fault": "kill"}, time=1),
        Op("nemesis", INFO, "applied", {"fault": "kill", "targets": ["n1"]}, time=2),
        Op("nemesis", INFO, "stop", {"fault": "kill"}, time=3),
        Op("p0", INVOKE, "send", {"id": "bad", "kind": "poison"}, time=4),
        Op("p0", OK, "send", {"id": "bad", "kind": "poison"}, time=5),
        Op("dlq", OK, "dead_letter", {"id": "bad", "reason": "delivery_limit"}, time=6),
        Op("dlq", OK, "dead_letter_read", time=7),
        Op("observer", OK, "observe", {"lag": 0}, time=8),
    ]
    anomalies = [
        Op("c0", OK, "receive", {"id": "ghost", "group": 0, "producer": "px", "seq": 0}, time=9),  # phantom
        Op("p7", INVOKE, "send", {"id": "lost-one"}, time=10),
        Op("p7", OK, "send", {"id": "lost-one"}, time=11),
        Op("dlq", OK, "dead_letter", {"id": "bad", "reason": "delivery_limit"}, time=12),  # twice
    ]
    return [*extra, *rng.sample(anomalies, rng.randrange(len(anomalies) + 1)), *ops]


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 30), st.sampled_from(["missing", INFO, "one-of-two"]))
def test_an_incomplete_drain_never_yields_a_pass_for_any_guarantee(rng: random.Random, messages: int, how: str) -> None:
    plan = generate_clean(rng, producers=2, groups=2, messages=messages)
    ops = [op for op in _with_everything(rng, plan.ops) if op.f != "drain"]
    if how == INFO:
        ops += [Op("c0", INVOKE, "drain", time=10**9), Op("c0", INFO, "drain", time=10**9 + 1)]
    elif how == "one-of-two":
        ops += [Op("c0", INVOKE, "drain", time=10**9), Op("c0", OK, "drain", time=10**9 + 1)]
        ops += [Op("c1", INVOKE, "drain", time=10**9 + 2)]
    cells, _ = _cells(ops)
    assert set(cells) == set(GUARANTEES)
    assert not [g for g, c in cells.items() if c.valid is True], {g: c.to_dict() for g, c in cells.items()}


def test_a_phantom_read_fails_no_loss_and_leaves_no_duplicates_unknown_when_the_drain_did_not_finish() -> None:
    h = HistoryBuilder()
    h.send("m0")
    h.receive("m0")
    h.receive("ghost")
    h.drain(outcome=INFO)
    cells, _ = _cells(h.history.ops, Guarantees(no_loss=True, no_duplicates=True, order=False, recovery=False))
    assert cells["no_loss"].valid is False and cells["no_loss"].failed_by == ("unexpected",)
    assert cells["no_duplicates"].valid == "unknown" and "drain" in cells["no_duplicates"].reason


def test_a_failed_no_duplicates_cell_marks_its_anomaly_as_the_evidence() -> None:
    h = HistoryBuilder()
    h.send("m0")
    h.receive("m0")
    h.receive("m0")
    h.drain()
    guarantees = Guarantees(no_loss=True, no_duplicates=True, order=False, recovery=False)
    cells, verdicts = _cells(h.history.ops, guarantees)
    assert cells["no_duplicates"].valid is False and cells["no_duplicates"].failed_by == ("duplicated",)
    delivery = next(v for v in verdicts if v.checker == "delivery")
    assert delivery.to_dict()["anomalies"]["duplicated"]["fails_check"] is True
    # Not claimed: reported, but it is no evidence of a FAIL.
    cells, verdicts = _cells(h.history.ops, replace(guarantees, no_duplicates=False))
    assert "no_duplicates" not in cells
    delivery = next(v for v in verdicts if v.checker == "delivery")
    assert delivery.to_dict()["anomalies"]["duplicated"]["fails_check"] is False


def test_a_send_that_definitely_failed_and_was_read_is_its_own_anomaly_not_a_loss() -> None:
    h = HistoryBuilder()
    h.send("m0", FAIL)
    h.send("m1")
    h.receive("m1")
    h.receive("m0")
    h.drain()
    cells, verdicts = _cells(h.history.ops, Guarantees(no_loss=True, order=False, recovery=False))
    assert cells["no_loss"].failed_by == ("failed_but_delivered",)
    assert next(v for v in verdicts if v.checker == "delivery").anomaly("lost").count == 0


@pytest.mark.parametrize("budget_name", sorted(BUDGETS))
def test_recovery_fails_on_every_budget_when_every_send_after_the_heal_fails(budget_name: str) -> None:
    """What ``execute`` does: clients keep sending for the budget's recovery window after the last heal,
    and the checker's grace is what ``execute`` gives it."""
    budget = BUDGETS[budget_name]
    grace = min(RECOVERY_GRACE_S, budget.recovery_window_s)
    assert budget.recovery_window_s > grace or budget.recovery_window_s >= RECOVERY_GRACE_S
    h = HistoryBuilder()
    for t in range(0, 2000, 10):
        h.op("p1", INVOKE, "send", {"id": f"a{t}"}, at_ms=t)
        h.op("p1", OK, "send", {"id": f"a{t}"}, at_ms=t + 1)
    h.fault("kill-leader", 2000, 8000)
    heal_ms = 8000
    for t in range(heal_ms, heal_ms + int(budget.recovery_window_s * 1000), 50):
        h.op("p1", INVOKE, "send", {"id": f"b{t}"}, at_ms=t)
        h.op("p1", FAIL, "send", {"id": f"b{t}"}, at_ms=t + 1)
    h.drain()
    cells, _ = _cells(h.history.ops, Guarantees(no_loss=False, order=False, recovery=True), recovery_grace_s=grace)
    assert cells["recovery"].valid is False and cells["recovery"].failed_by == ("never_recovered",)


def test_a_length_cap_is_told_from_loss_only_where_the_profile_tolerates_its_trimming() -> None:
    """An entry the cap trimmed unread is lost unless ``may_trim_to_length`` says the cap is the policy."""
    h = HistoryBuilder()
    for n in range(6):
        h.send(f"m{n}", entry=f"1-{n}", kind="good")
    for n in range(3, 6):
        h.receive(f"m{n}")
    h.drain()
    options = CheckerOptions(consume_f="receive", keep_newest=3)
    claims = replace(Guarantees(), dead_letter=False, order=False, recovery=False)
    for tolerated, lost, trimmed in ((False, 3, 0), (True, 0, 3)):
        guarantees = replace(claims, may_trim_to_length=tolerated)
        verdicts = run_checkers(h.history, checkers_for(guarantees, options))
        delivery = verdicts[0]
        assert (delivery.anomaly("lost").count, delivery.anomaly("trimmed").count) == (lost, trimmed)
        assert guarantee_cells(guarantees, verdicts)["no_loss"].valid is (not lost)


def test_a_run_that_did_not_test_what_it_names_turns_its_passes_unknown_and_keeps_what_it_caught() -> None:
    from chaos.checkers.guarantees import Cell, unproven
    from chaos.checkers.verdict import UNKNOWN

    cells = {"no_loss": Cell(True, "delivery"), "order": Cell(False, "order", ("reordered",))}
    assert unproven(cells, []) == cells
    why = ["power-loss fell short: 1 file(s) the broker never fsynced"]
    after = unproven(cells, why)
    assert after["no_loss"] == Cell(UNKNOWN, "delivery", reason=why[0])
    assert after["order"] == cells["order"]
