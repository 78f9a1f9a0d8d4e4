"""RabbitMQ's routing, as the checkers model it: topic patterns word by word (``*`` one word, ``#`` zero or
more), direct keys exactly, fanout to every queue; and each queue judged on what its bindings route to it
(a message the broker misrouted is ``unexpected`` there, a copy it left out ``lost``), what no binding
routes judged as ``unroutable``; each queue's dead letters its own, read for its own audience. Pure logic
and synthetic histories."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.brokers.rabbitmq.routing import UNROUTABLE, UNROUTED, queues_for, routed_queues, topic_matches
from chaos.brokers.rabbitmq.settings import RabbitMQClientSettings
from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
from chaos.checkers.audiences import judge
from chaos.checkers.guarantees import CheckerOptions, checkers_for
from chaos.checkers.verdict import UNKNOWN
from chaos.history import FAIL, INFO, OK, MemoryHistory
from chaos.profiles import Guarantees
from chaos.workloads.base import LoadBudget
from tests.unit.histories import HistoryBuilder

BINDINGS = {"eu-orders": ["orders.eu.*"], "all-orders": ["orders.#"], "cancellations": ["*.*.cancelled"]}


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("orders.eu.*", "orders.eu.created", True),
        ("orders.eu.*", "orders.eu", False),
        ("orders.eu.*", "orders.eu.created.late", False),
        ("orders.#", "orders", True),
        ("orders.#", "orders.eu.created", True),
        ("orders.#", "payments.eu", False),
        ("#", "", True),
        ("#.cancelled", "orders.eu.cancelled", True),
        ("*.*.cancelled", "payments.cancelled", False),
        ("orders.*.created", "orders..created", True),  # an empty word is a word
        ("a.#.b", "a.b", True),
        ("a.#.b", "a.x.y.b", True),
    ],
)
def test_topic_patterns_match_word_by_word(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5))
def test_a_pattern_of_the_key_itself_and_hash_match_every_key(words: list[str]) -> None:
    key = ".".join(words)
    assert topic_matches(key, key) and topic_matches("#", key)
    assert topic_matches(".".join("*" for _ in words), key)
    assert not topic_matches(".".join("*" for _ in words) + ".*", key)


def test_each_exchange_type_routes_as_rabbitmq_does() -> None:
    assert routed_queues("topic", BINDINGS, "orders.eu.cancelled") == ["eu-orders", "all-orders", "cancellations"]
    assert routed_queues("topic", BINDINGS, "orders.us.created") == ["all-orders"]
    assert routed_queues("topic", BINDINGS, "audit.log") == []
    assert routed_queues("direct", {"q1": ["a", "b"], "q2": ["b"]}, "b") == ["q1", "q2"]
    assert routed_queues("direct", {"q1": ["a.*"]}, "a.x") == []  # a direct key is no pattern
    assert routed_queues("fanout", {"q1": [], "q2": []}, "anything") == ["q1", "q2"]


def test_what_no_binding_routes_goes_to_the_alternate_exchanges_queue_only_when_there_is_one() -> None:
    assert queues_for("topic", BINDINGS, "audit.log", alternate_exchange=True) == [UNROUTED]
    assert queues_for("topic", BINDINGS, "audit.log", alternate_exchange=False) == []
    routed = ["eu-orders", "all-orders", "cancellations"]
    assert queues_for("topic", BINDINGS, "orders.eu.cancelled", alternate_exchange=True) == routed


QUEUES = list(BINDINGS)


def routes(value: dict) -> list[str]:  # type: ignore[type-arg]
    """As the workload routes without mandatory: what no queue is bound for, to the unroutable audience."""
    return routed_queues("topic", BINDINGS, value["routing_key"]) or [UNROUTABLE]


def mandatory_routes(value: dict) -> list[str]:  # type: ignore[type-arg]
    """As the workload routes with mandatory: a returned message is a failed send every queue sees."""
    return routed_queues("topic", BINDINGS, value["routing_key"]) or QUEUES


def audience_of(process: str) -> str | None:
    return {"c-eu": "eu-orders", "c-all": "all-orders", "c-cancel": "cancellations"}.get(process)


def exchange_run(eu_reads: list[str], sends: dict[str, str], failed: frozenset[str] = frozenset()) -> HistoryBuilder:
    """``sends``: message -> routing key; every queue reads what routes to it, except the eu-orders queue,
    which reads ``eu_reads``; a message in ``failed`` was returned (its publish failed)."""
    h = HistoryBuilder()
    for mid, key in sends.items():
        h.send(mid, outcome=FAIL if mid in failed else "ok", routing_key=key)
    for mid, key in sends.items():
        for queue in routed_queues("topic", BINDINGS, key):
            if queue != "eu-orders" and mid not in failed:
                h.receive(mid, process={"all-orders": "c-all", "cancellations": "c-cancel"}[queue])
    for mid in eu_reads:
        h.receive(mid, process="c-eu")
    h.drain(process="drain")
    return h


SENDS = {"m1": "orders.eu.created", "m2": "orders.us.created", "m3": "orders.eu.cancelled"}


def judged(h: HistoryBuilder, audiences: list[str] = QUEUES, how: object = routes) -> tuple[list, dict]:  # type: ignore[type-arg]
    guarantees = Guarantees(no_loss=True, no_duplicates=True, order=False, recovery=False)
    options = CheckerOptions(consume_f="receive")
    return judge(h.history, guarantees, lambda: checkers_for(guarantees, options), audiences, audience_of, how)  # type: ignore[arg-type]


def test_every_queue_holding_exactly_what_its_bindings_route_passes() -> None:
    _, cells = judged(exchange_run(["m1", "m3"], SENDS))
    assert cells["no_loss"].valid is True and cells["no_duplicates"].valid is True


def test_a_copy_missing_from_one_queue_is_lost_there() -> None:
    verdicts, cells = judged(exchange_run(["m1"], SENDS))
    assert cells["no_loss"].valid is False and cells["no_loss"].checker == "delivery@eu-orders"
    assert {v.checker: v.anomaly("lost").ids for v in verdicts if v.checker.startswith("delivery")} == {
        "delivery@eu-orders": ["m3"],
        "delivery@all-orders": [],
        "delivery@cancellations": [],
    }


def test_a_message_in_a_queue_its_key_does_not_bind_is_unexpected_there() -> None:
    verdicts, cells = judged(exchange_run(["m1", "m2", "m3"], SENDS))  # m2 is orders.us: not eu-orders'
    by_name = {v.checker: v for v in verdicts}
    assert by_name["delivery@eu-orders"].anomaly("unexpected").ids == ["m2"]
    assert cells["no_loss"].valid is False


def test_a_confirmed_message_no_queue_is_bound_for_is_lost_as_unroutable_and_a_returned_one_is_not() -> None:
    sends = {**SENDS, "m4": "audit.log"}
    verdicts, cells = judged(exchange_run(["m1", "m3"], sends), [*QUEUES, UNROUTABLE])
    assert cells["no_loss"].checker == f"delivery@{UNROUTABLE}"
    assert {v.checker: v for v in verdicts}[f"delivery@{UNROUTABLE}"].anomaly("lost").ids == ["m4"]
    # published mandatory: the broker returned it, a failed send each queue sees
    _, cells = judged(exchange_run(["m1", "m3"], sends, failed=frozenset({"m4"})), QUEUES, mandatory_routes)
    assert cells["no_loss"].valid is True
    # and had the broker confirmed it instead, every queue would have lost it
    verdicts, cells = judged(exchange_run(["m1", "m3"], sends), QUEUES, mandatory_routes)
    assert {v.checker for v in verdicts if v.anomaly("lost").ids == ["m4"]} == {f"delivery@{q}" for q in QUEUES}


def test_a_headers_exchange_matches_all_pairs_or_any_one() -> None:
    bindings = {"eu-big": ["region=eu,size=big"], "eu-or-big": ["any:region=eu,size=big"], "us": ["region=us"]}
    assert routed_queues("headers", bindings, "region=eu,size=big") == ["eu-big", "eu-or-big"]
    assert routed_queues("headers", bindings, "region=eu,size=small") == ["eu-or-big"]
    assert routed_queues("headers", bindings, "region=us,size=big") == ["eu-or-big", "us"]
    assert routed_queues("headers", bindings, "kind=audit") == []


# Dead letters per queue -------------------------------------------------------------------------------
def fanout_workload(**client: object) -> RabbitMQWorkload:
    """A fanout exchange to two quorum queues with poison dead-lettered: the workload as declared (its
    queues, their dead-letter plumbing, who reads for whom), with no broker behind it."""
    settings = RabbitMQClientSettings(
        queue_type="quorum", exchange_type="fanout", bindings={"billing": [], "shipping": []}, **client
    )  # type: ignore[arg-type]
    budget = LoadBudget(max_messages=10, max_seconds=1, rate=10)
    return RabbitMQWorkload(SimpleNamespace(), "orders", MemoryHistory(), budget, settings)  # type: ignore[arg-type]


def test_each_bound_queue_dead_letters_into_its_own_queue_read_for_its_own_audience() -> None:
    workload = fanout_workload(poison="dead_letter", delivery_limit=2)
    assert workload.queues == ["orders.billing", "orders.shipping"]
    assert workload.dead_letters == {
        "orders.billing": ("orders.billing.dlx", "orders.billing.dlq"),
        "orders.shipping": ("orders.shipping.dlx", "orders.shipping.dlq"),
    }
    for queue, (dlx, dlq) in workload.dead_letters.items():
        assert workload._arguments(queue)["x-dead-letter-exchange"] == dlx
        assert ("queue_bind", (dlq, dlx), {}) in workload._declarations()
    readers = [workload.dead_letter_reader(q) for q in workload.queues]
    assert readers == ["g1-dlq-reader", "g2-dlq-reader"]
    assert [workload.audience_of(r) for r in readers] == ["billing", "shipping"]
    assert workload.audience_of("g2-consumer-1") == "shipping"


def poison_fanout_run(readers: tuple[str, str], second_read: str = OK, second_copy: bool = True) -> HistoryBuilder:
    """Good m1 and poison p1 through the fanout: each queue's consumer reads m1 and p1 (it rejects p1),
    and each queue dead-letters its own copy of p1, read by ``readers`` (billing's, then shipping's;
    ``second_copy`` False: shipping's dead-letter queue holds none)."""
    h = HistoryBuilder()
    h.send("m1", kind="good")
    h.send("p1", kind="poison")
    for consumer in ("g1-consumer-1", "g2-consumer-1"):
        h.receive("m1", process=consumer, kind="good")
        h.op(consumer, OK, "process", {"id": "m1", "kind": "good"})
        h.receive("p1", process=consumer, kind="poison")
    h.drain(process="drain")
    for reader, outcome, copy in zip(readers, (OK, second_read), (True, second_copy), strict=True):
        if copy:
            h.op(reader, OK, "dead_letter", {"id": "p1", "reason": "delivery_limit"})
        h.op(reader, outcome, "dead_letter_read")
    return h


def judged_dead_letters(workload: RabbitMQWorkload, h: HistoryBuilder) -> tuple[list, dict]:  # type: ignore[type-arg]
    guarantees = Guarantees(no_loss=True, dead_letter=True, order=False, recovery=False)
    options = CheckerOptions(consume_f="receive")
    make = lambda: checkers_for(guarantees, options)  # noqa: E731
    return judge(h.history, guarantees, make, workload.audiences, workload.audience_of, workload.routes)


def test_a_poison_copy_in_each_queues_own_dead_letters_passes_and_one_shared_reader_would_see_it_twice() -> None:
    workload = fanout_workload(poison="dead_letter", delivery_limit=2)
    _, cells = judged_dead_letters(workload, poison_fanout_run(("g1-dlq-reader", "g2-dlq-reader")))
    assert cells["dead_letter"].valid is True
    # Read by one reader no audience owns (one dead-letter queue for both), the two copies are one
    # message dead-lettered twice in each audience's eyes: why each queue has its own.
    verdicts, cells = judged_dead_letters(workload, poison_fanout_run(("dlq-reader", "dlq-reader")))
    assert cells["dead_letter"].valid is False
    twice = {v.checker: v.anomaly("dead_lettered_twice").ids for v in verdicts if v.checker.startswith("dead_")}
    assert twice == {"dead_letter@billing": ["p1"], "dead_letter@shipping": ["p1"]}


def test_a_copy_missing_from_one_queues_dead_letters_fails_there_and_an_unread_one_is_unknown() -> None:
    workload = fanout_workload(poison="dead_letter", delivery_limit=2)
    h = poison_fanout_run(("g1-dlq-reader", "g2-dlq-reader"), second_copy=False)
    verdicts, cells = judged_dead_letters(workload, h)
    assert cells["dead_letter"].valid is False and cells["dead_letter"].checker == "dead_letter@shipping"
    by_name = {v.checker: v for v in verdicts}
    assert by_name["dead_letter@shipping"].anomaly("poison_not_dead_lettered").ids == ["p1"]
    # shipping's dead-letter queue could not be read to its end: what it holds is unknown, not a pass
    _, cells = judged_dead_letters(workload, poison_fanout_run(("g1-dlq-reader", "g2-dlq-reader"), second_read=INFO))
    assert cells["dead_letter"].valid is UNKNOWN and "shipping" in cells["dead_letter"].reason


def test_mirroring_behind_an_exchange_is_one_policy_over_every_bound_queue_and_no_other() -> None:
    calls: list[tuple[str, ...]] = []
    settings = RabbitMQClientSettings(
        queue_type="classic", mirrored=True, exchange_type="fanout", bindings={"billing": [], "shipping": []}
    )
    cluster = SimpleNamespace(ctl=lambda *args: calls.append(args))
    budget = LoadBudget(max_messages=10, max_seconds=1, rate=10)
    RabbitMQWorkload(cluster, "orders", MemoryHistory(), budget, settings)  # type: ignore[arg-type]
    [(_set_policy, _apply, _queues, _name, pattern, _definition)] = calls
    mirrored = re.compile(pattern)
    assert mirrored.match("orders.billing") and mirrored.match("orders.shipping")
    assert not mirrored.match("orders.billing.dlq") and not mirrored.match("orders")
