"""RabbitMQ's routing, as the checkers model it: topic patterns word by word (``*`` one word, ``#`` zero or
more), direct keys exactly, fanout to every queue; and each queue judged on what its bindings route to it
(a message the broker misrouted is ``unexpected`` there, a copy it left out ``lost``), what no binding
routes judged as ``unroutable``. Pure logic and synthetic histories."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.brokers.rabbitmq.routing import UNROUTABLE, routed_queues, topic_matches
from chaos.checkers.audiences import judge
from chaos.checkers.guarantees import CheckerOptions, checkers_for
from chaos.history import FAIL
from chaos.profiles import Guarantees
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
