"""A transaction that spans two topics (orders and their inventory records, each topic read by its own
consumer group): it must become visible in both or in neither. Each topic's readers are judged apart for
delivery, so a half that one topic shows and the other never does — a transaction of unknown outcome,
where neither half alone is a loss — is caught only by the exactly-once checker, which judges the whole
history (``torn_transaction``). Both ways, and the incomplete case. Synthetic histories."""

from __future__ import annotations

from chaos.checkers.audiences import judge
from chaos.checkers.guarantees import CheckerOptions, checkers_for
from chaos.checkers.verdict import UNKNOWN
from chaos.history import FAIL, INFO, INVOKE, OK
from chaos.profiles import Guarantees
from tests.unit.histories import HistoryBuilder

AUDIENCES = ["topic-1", "topic-2"]


def audience_of(process: str) -> str | None:
    return {"consumer-1": "topic-1", "g2-consumer-1": "topic-2"}.get(process)


def routes(value: dict) -> list[str]:  # type: ignore[type-arg]
    return [f"topic-{value.get('topic', 1)}"]


def transaction(h: HistoryBuilder, txn: str, orders: list[str], outcome: str, read: set[str]) -> None:
    """``txn`` writes each order to topic 1 and ``<order>@t2`` to topic 2; the ids in ``read`` are read."""
    writes = [(o, 1) for o in orders] + [(f"{o}@t2", 2) for o in orders]
    ids = [mid for mid, _ in writes]
    h.op("producer-1", INVOKE, "txn", {"txn": txn, "inputs": ids})
    for mid, topic in writes:
        h.send(mid, outcome=outcome, txn=txn, topic=topic, process="producer-1")
    h.op("producer-1", outcome, "txn", {"txn": txn, "inputs": ids})
    for n, (mid, topic) in enumerate(writes):
        if mid in read:
            reader = "consumer-1" if topic == 1 else "g2-consumer-1"
            h.receive(mid, process=reader, source=mid, txn=txn, record=f"{topic}/0:{n}")


def judged(h: HistoryBuilder) -> tuple[list, dict]:  # type: ignore[type-arg]
    guarantees = Guarantees(no_loss=True, order=False, recovery=False, exactly_once=True)
    options = CheckerOptions(consume_f="receive")
    return judge(h.history, guarantees, lambda: checkers_for(guarantees, options), AUDIENCES, audience_of, routes)


def test_transactions_visible_in_both_topics_or_in_neither_pass() -> None:
    h = HistoryBuilder()
    transaction(h, "t1", ["o1", "o2"], OK, {"o1", "o2", "o1@t2", "o2@t2"})
    transaction(h, "t2", ["o3"], FAIL, set())  # aborted: in neither
    transaction(h, "t3", ["o4"], INFO, set())  # unknown, and in neither: it may have aborted
    transaction(h, "t4", ["o5"], INFO, {"o5", "o5@t2"})  # unknown, and in both: it committed
    h.drain(process="drain")
    verdicts, cells = judged(h)
    assert cells["exactly_once"].valid is True and cells["no_loss"].valid is True
    assert [v.checker for v in verdicts].count("exactly_once") == 1  # judged once, on the whole history


def test_a_transaction_one_topic_shows_and_the_other_never_does_is_torn() -> None:
    h = HistoryBuilder()
    transaction(h, "t1", ["o1", "o2"], OK, {"o1", "o2", "o1@t2", "o2@t2"})
    transaction(h, "t2", ["o3", "o4"], INFO, {"o3", "o4"})  # the orders, never their inventory
    h.drain(process="drain")
    verdicts, cells = judged(h)
    assert cells["exactly_once"].valid is False
    assert cells["exactly_once"].failed_by == ("torn_transaction",)
    assert next(v for v in verdicts if v.checker == "exactly_once").ids("torn_transaction") == ["t2"]
    assert cells["no_loss"].valid is True  # each topic alone lost nothing: why the whole history is judged


def test_a_torn_transaction_cannot_be_told_before_the_drain_completes() -> None:
    h = HistoryBuilder()
    transaction(h, "t2", ["o3"], INFO, {"o3"})
    h.drain(process="drain", outcome=INFO)
    _, cells = judged(h)
    assert cells["exactly_once"].valid is UNKNOWN


def test_an_aborted_transaction_read_in_one_topic_is_an_aborted_read_and_torn() -> None:
    h = HistoryBuilder()
    transaction(h, "t1", ["o1"], OK, {"o1", "o1@t2"})
    transaction(h, "t9", ["poison"], FAIL, {"poison@t2"})
    h.drain(process="drain")
    verdicts, cells = judged(h)
    eos = next(v for v in verdicts if v.checker == "exactly_once")
    assert eos.ids("aborted_read") == ["2/0:1"] and eos.ids("torn_transaction") == ["t9"]
    assert cells["exactly_once"].valid is False
