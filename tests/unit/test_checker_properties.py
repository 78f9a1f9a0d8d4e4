"""Property tests both ways: generated clean histories (random interleavings, retries, unknown outcomes
that later land) are valid; the same history with one injected anomaly is invalid and names exactly that
message."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, OrderChecker, run_checkers
from chaos.history import INVOKE, OK, Op
from tests.unit.histories import Plan, generate_clean, reindexed

plans = st.builds(
    generate_clean,
    st.randoms(use_true_random=False),
    producers=st.integers(1, 3),
    groups=st.integers(1, 3),
    messages=st.integers(2, 40),
)


def _check(ops: list[Op]):  # type: ignore[no-untyped-def]
    return run_checkers(reindexed(ops), [DeliveryChecker(), OrderChecker()])


@settings(max_examples=200, deadline=None)
@given(plans)
def test_clean_histories_are_valid(plan: Plan) -> None:
    delivery, order = _check(plan.ops)
    # Nothing acknowledged: nothing to lose, and "no loss" is no evidence either.
    assert delivery.valid is (True if plan.ok_ids else "unknown"), delivery.to_dict()
    assert order.valid in (True, "unknown"), order.to_dict()
    assert order.valid is True or not plan.received
    assert delivery.anomaly("recovered").count + delivery.anomaly("unconfirmed_lost").count == len(plan.info_ids)


@settings(max_examples=200, deadline=None)
@given(plans, st.randoms(use_true_random=False))
def test_removing_one_acknowledged_receive_is_exactly_one_lost_message(plan: Plan, rng: random.Random) -> None:
    received_ok = [m for m in plan.ok_ids if m in plan.received]
    if not received_ok:
        return
    victim = rng.choice(received_ok)
    ops = [op for i, op in enumerate(plan.ops) if i != plan.received[victim]]
    delivery, _ = _check(ops)
    assert delivery.valid is False
    assert delivery.ids("lost") == [victim]
    assert delivery.anomaly("duplicated").count == 0 and delivery.anomaly("unexpected").count == 0


@settings(max_examples=200, deadline=None)
@given(plans, st.randoms(use_true_random=False))
def test_a_second_delivery_is_exactly_one_duplicate(plan: Plan, rng: random.Random) -> None:
    if not plan.received:
        return
    victim = rng.choice(sorted(plan.received))
    again = plan.ops[plan.received[victim]]
    ops = [*plan.ops[:-2], Op("c-late", OK, "receive", dict(again.value), time=again.time), *plan.ops[-2:]]
    delivery, order = _check(ops)
    assert delivery.valid is False and delivery.ids("duplicated") == [victim]
    assert delivery.anomaly("lost").count == 0
    assert order.anomaly("reordered").count == 0


@settings(max_examples=100, deadline=None)
@given(plans)
def test_a_read_of_a_message_never_sent_is_exactly_one_unexpected(plan: Plan) -> None:
    ops = [*plan.ops, Op("c0", OK, "receive", {"id": "ghost"})]
    delivery, _ = _check(ops)
    assert delivery.valid is False and delivery.ids("unexpected") == ["ghost"]


@settings(max_examples=200, deadline=None)
@given(plans, st.randoms(use_true_random=False))
def test_swapping_two_deliveries_of_one_producer_is_exactly_one_reorder(plan: Plan, rng: random.Random) -> None:
    # Find two receives by the same consumer of the same (group, producer), adjacent in that stream.
    streams: dict[tuple[str, object, object], list[int]] = {}
    for index, op in enumerate(plan.ops):
        if op.f == "receive":
            streams.setdefault((op.process, op.value["group"], op.value["producer"]), []).append(index)
    pairs = [(s[i], s[i + 1]) for s in streams.values() for i in range(len(s) - 1)]
    if not pairs:
        return
    first, second = rng.choice(pairs)
    ops = list(plan.ops)
    ops[first], ops[second] = ops[second], ops[first]
    delivery, order = _check(ops)
    assert order.valid is False
    assert order.ids("reordered") == [plan.ops[first].value["id"]]
    assert delivery.valid is (True if plan.ok_ids else "unknown")


@settings(max_examples=100, deadline=None)
@given(plans)
def test_without_the_drain_nothing_is_called_lost(plan: Plan) -> None:
    ops = [op for op in plan.ops if op.f != "drain"]
    delivery, _ = _check(ops)
    assert delivery.valid == "unknown"
    assert delivery.anomaly("lost").count == 0


@settings(max_examples=100, deadline=None)
@given(plans)
def test_an_acknowledged_send_left_open_is_not_lost(plan: Plan) -> None:
    before, _ = _check(plan.ops)
    ops = [*plan.ops[:-2], Op("p9", INVOKE, "send", {"id": "open"}), *plan.ops[-2:]]
    delivery, _ = _check(ops)
    assert delivery.valid == before.valid and delivery.anomaly("lost").count == 0
    assert delivery.anomaly("unconfirmed_lost").count == before.anomaly("unconfirmed_lost").count + 1
