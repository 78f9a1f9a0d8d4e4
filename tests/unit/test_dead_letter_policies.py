"""Policies a broker shows through its dead letters. Expiry by a queue's TTL (RabbitMQ x-message-ttl): the
broker dead-letters an expired message with reason ``expired`` and the time, to the second. Under a stated
expiry such a message never consumed is expired when it was old enough, lost when it was too young, and
unknown when the whole-second time cannot say; a message the queue dropped for another reason (``maxlen``)
stays lost, and the report says where it went. A length limit that drops its head (drop-head) dead-letters
as ``maxlen``: trimmed only where the profile tolerates it. One that refuses publishes and dead-letters them
(reject-publish-dlx) keeps refused messages there: refused, not good dead-lettered, unless the publish was
confirmed. Synthetic histories (times in ms), no brokers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeadLetterChecker, DeliveryChecker, run_checkers
from chaos.checkers.guarantees import decide_cell, loss_kinds
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import INFO, OK, Op
from chaos.profiles import Guarantees
from chaos.report.render import fates_line
from tests.unit.histories import HistoryBuilder

MS = 1_000_000


def judge(h: HistoryBuilder, expire_after_s: float | None) -> tuple[Verdict, Verdict]:
    delivery = DeliveryChecker(expire_after_s=expire_after_s, expiry_evidence="dead_letter")
    tolerated = frozenset({"expired"}) if expire_after_s is not None else frozenset()
    dead_letter = DeadLetterChecker(tolerated_reasons=tolerated)
    verdicts = run_checkers(h.history, [delivery, dead_letter])
    return verdicts[0], verdicts[1]


def no_loss(verdict: Verdict) -> object:
    return decide_cell(verdict, loss_kinds(Guarantees())).valid


def queue_history(expired_at_ms: int | None, dlq_read: str = OK) -> HistoryBuilder:
    """m0-m9 sent at 0-19 ms (m_n's ok at 2n+2 ms); c1 consumes m0-m3 and then holds still; the broker
    dead-letters m4-m7 as expired, dated ``expired_at_ms`` (None: no time given), and m8 as maxlen; m9
    is nowhere; poison p0 is dead-lettered at its delivery limit. The drain completes."""
    h = HistoryBuilder()
    for n in range(10):
        h.send(f"m{n}", kind="good")
    h.send("p0", kind="poison")
    for n in range(4):
        h.receive(f"m{n}")
    h.drain()
    h.clock_ms = 20_000
    for n in range(4, 9):
        value: dict[str, object] = {"id": f"m{n}", "reason": "expired" if n < 8 else "maxlen"}
        if expired_at_ms is not None:
            value["dead_lettered_at"] = expired_at_ms * MS
        h.op("dlq-reader", OK, "dead_letter", value)
    h.op("dlq-reader", OK, "dead_letter", {"id": "p0", "reason": "delivery_limit"})
    if dlq_read == OK:
        h.op("dlq-reader", OK, "dead_letter_read")
    else:
        h.history.append(Op("dlq-reader", INFO, "dead_letter_read", {}, error="ConnectionClosed", time=20_100 * MS))
    return h


def test_without_a_stated_expiry_an_expired_message_is_lost_and_dead_lettered_as_good() -> None:
    delivery, dead_letter = judge(queue_history(expired_at_ms=5000), expire_after_s=None)
    assert delivery.anomaly("lost").ids == ["m4", "m5", "m6", "m7", "m8", "m9"]
    assert delivery.stats["lost_dead_lettered"] == {"expired": 4, "maxlen": 1}
    assert no_loss(delivery) is False
    assert dead_letter.anomaly("good_dead_lettered").count == 5


def test_under_a_stated_expiry_what_was_old_enough_when_dead_lettered_expired() -> None:
    delivery, dead_letter = judge(queue_history(expired_at_ms=5000), expire_after_s=3.0)
    assert delivery.anomaly("expired").ids == ["m4", "m5", "m6", "m7"]
    # m8 went to the dead-letter queue because the queue was full: a policy the profile does not tolerate
    assert delivery.anomaly("lost").ids == ["m8", "m9"]
    assert delivery.stats["lost_dead_lettered"] == {"maxlen": 1}
    assert delivery.stats["deleted_too_soon"] == 0 and delivery.stats["expiry_undecided"] == 0
    assert dead_letter.anomaly("dead_lettered_by_policy").count == 4
    assert dead_letter.anomaly("good_dead_lettered").ids == ["m8"]


def test_under_a_stated_expiry_every_expired_message_old_enough_passes() -> None:
    h = queue_history(expired_at_ms=5000)
    h.receive("m8", at_ms=20_100)  # (a history where m8 and m9 were consumed after all)
    h.receive("m9")
    delivery, _ = judge(h, expire_after_s=3.0)
    assert delivery.anomaly("expired").count == 4
    assert no_loss(delivery) is True and delivery.valid is True


def test_under_a_stated_expiry_what_expired_too_young_is_lost() -> None:
    delivery, _ = judge(queue_history(expired_at_ms=1000), expire_after_s=3.0)
    assert delivery.anomaly("expired").count == 0
    assert delivery.stats["deleted_too_soon"] == 4
    assert delivery.anomaly("lost").count == 6 and no_loss(delivery) is False


def test_a_dead_letter_dated_within_a_second_of_the_tolerance_leaves_loss_unknown() -> None:
    # dated 2.5 s: between 2.48 and 3.5 s old when it expired; the tolerance, 3 s, lies in between
    h = queue_history(expired_at_ms=2500)
    h.receive("m8", at_ms=20_100)
    h.receive("m9")
    delivery, _ = judge(h, expire_after_s=3.0)
    assert delivery.stats["expiry_undecided"] == 4
    assert delivery.anomaly("lost").count == 0 and delivery.anomaly("expired").count == 0
    assert no_loss(delivery) == UNKNOWN
    assert "within a second of the stated 3 s" in delivery.incomplete["lost"]


def test_an_expired_dead_letter_without_a_time_leaves_loss_unknown() -> None:
    h = queue_history(expired_at_ms=None)
    h.receive("m8", at_ms=20_100)
    h.receive("m9")
    delivery, _ = judge(h, expire_after_s=3.0)
    assert no_loss(delivery) == UNKNOWN
    assert "4 with no time" in delivery.incomplete["lost"]


def test_a_dead_letter_queue_not_read_to_its_end_leaves_loss_unknown_under_a_stated_expiry() -> None:
    delivery, dead_letter = judge(queue_history(expired_at_ms=5000, dlq_read=INFO), expire_after_s=3.0)
    assert no_loss(delivery) == UNKNOWN
    assert "dead-letter queue was not read to its end (ConnectionClosed)" in delivery.incomplete["lost"]
    assert "good_dead_lettered" in dead_letter.incomplete


def test_poison_dead_lettered_by_a_policy_is_not_judged_against_the_delivery_limit() -> None:
    h = HistoryBuilder()
    h.send("p0", kind="poison")
    h.send("p1", kind="poison")
    for _ in range(4):
        h.receive("p1")
    h.drain()
    h.op("dlq-reader", OK, "dead_letter", {"id": "p0", "reason": "expired"})  # expired before any delivery
    h.op("dlq-reader", OK, "dead_letter", {"id": "p1", "reason": "delivery_limit"})
    h.op("dlq-reader", OK, "dead_letter_read")
    (verdict,) = run_checkers(h.history, [DeadLetterChecker(dead_letter_after=3)])
    assert verdict.anomaly("dead_lettered_off_limit").ids == [
        "p1 (delivered 4 times, the configuration allows 3; the broker's count on the dead letter: none)"
    ]


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 8000), st.floats(0.5, 6.0))
def test_an_expired_dead_letter_is_judged_by_its_age_bounds(dated_ms: int, expire_after_s: float) -> None:
    """m4-m7 dead-lettered as expired, dated ``dated_ms`` (whole seconds on a real broker; any ms here):
    each is expired when the date is at least the tolerance after its acknowledgement, too young when a
    second after the date is still short of the tolerance from its first send, and undecided between."""
    h = queue_history(expired_at_ms=dated_ms)
    h.receive("m8", at_ms=20_100)
    h.receive("m9")
    delivery, _ = judge(h, expire_after_s=expire_after_s)
    after_ms = expire_after_s * 1000
    expired = [f"m{n}" for n in range(4, 8) if dated_ms - (2 * n + 2) >= after_ms]
    too_soon = [f"m{n}" for n in range(4, 8) if f"m{n}" not in expired and dated_ms + 1000 - (2 * n + 1) < after_ms]
    undecided = 4 - len(expired) - len(too_soon)
    assert delivery.anomaly("expired").ids == expired
    assert delivery.stats["deleted_too_soon"] == len(too_soon)
    assert delivery.stats["expiry_undecided"] == undecided
    assert no_loss(delivery) == (False if too_soon else UNKNOWN if undecided else True)


def test_a_drop_head_limit_is_trimmed_only_by_the_brokers_maxlen_dead_letters() -> None:
    h = queue_history(expired_at_ms=5000)
    checker = DeliveryChecker(trim_reason="maxlen")  # tolerates drop-head, states no expiry
    (verdict,) = run_checkers(h.history, [checker])
    assert verdict.anomaly("trimmed").ids == ["m8"]
    assert verdict.anomaly("lost").ids == ["m4", "m5", "m6", "m7", "m9"]  # expired, and nowhere: lost
    assert verdict.stats["trimmed_as"] == "maxlen"
    assert fates_line(verdict.to_dict()) == (
        "11 acknowledged, 4 consumed, 1 trimmed (dropped by the queue's length limit: "
        "maxlen), 5 lost (4 dead-lettered as expired)"
    )


def test_a_drop_head_limit_without_the_dead_letter_queue_read_leaves_loss_unknown() -> None:
    h = queue_history(expired_at_ms=5000, dlq_read=INFO)
    (verdict,) = run_checkers(h.history, [DeliveryChecker(trim_reason="maxlen")])
    assert no_loss(verdict) == UNKNOWN and verdict.anomaly("lost").count == 0
    assert "the dead-letter queue was not read (ConnectionClosed)" in verdict.incomplete["lost"]


def test_a_length_cap_the_profile_does_not_tolerate_counts_what_it_allowed_to_trim_as_lost() -> None:
    h = HistoryBuilder()
    for n in range(6):
        h.send(f"m{n}", entry=f"1-{n}")
    for n in range(3, 6):
        h.receive(f"m{n}")
    h.drain()
    (verdict,) = run_checkers(h.history, [DeliveryChecker(keep_newest=3, trim_tolerated=False)])
    assert verdict.anomaly("lost").count == 3 and verdict.stats["lost_within_length_cap"] == 3
    assert fates_line(verdict.to_dict()) == (
        "6 acknowledged, 3 consumed, 3 lost (3 the length cap of 3 allowed to trim, which this profile does not "
        "tolerate (guarantees.may_trim_to_length))"
    )


def refused_history() -> HistoryBuilder:
    """reject-publish-dlx: ``nacked`` refused by the full queue (its publish failed), ``unanswered`` refused
    with its nack lost, ``confirmed`` accepted; the broker dead-letters all three as maxlen."""
    h = HistoryBuilder()
    h.send("nacked", outcome="fail", kind="good")
    h.send("unanswered", outcome=INFO, kind="good")
    h.send("confirmed", kind="good")
    h.send("p0", kind="poison")
    h.drain()
    for mid, reason in (("nacked", "maxlen"), ("unanswered", "maxlen"), ("confirmed", "maxlen"), ("p0", "rejected")):
        h.op("dlq-reader", OK, "dead_letter", {"id": mid, "reason": reason})
    h.op("dlq-reader", OK, "dead_letter_read")
    return h


def test_a_refused_publish_the_queue_dead_lettered_is_refused_not_good_dead_lettered() -> None:
    (kept,) = run_checkers(refused_history().history, [DeadLetterChecker(refusal_reason="maxlen")])
    assert kept.anomaly("refused_dead_lettered").ids == ["nacked", "unanswered"]
    assert kept.anomaly("good_dead_lettered").ids == ["confirmed"] and kept.valid is False
    (plain,) = run_checkers(refused_history().history, [DeadLetterChecker()])
    assert plain.anomaly("good_dead_lettered").ids == ["nacked", "unanswered", "confirmed"]
    assert "refused_dead_lettered" not in plain.anomalies
