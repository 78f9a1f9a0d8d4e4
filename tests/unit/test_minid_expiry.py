"""Redis ``XADD ... MINID`` under a stated expiry: an entry never consumed is expired only when an XADD that
reached the server carried a threshold above its id, and even the first such XADD was sent at least the
tolerance after the entry's acknowledgement; too young stays lost; only XADDs of unknown outcome, or a
send between, leave loss unknown; without a stated expiry it is lost; poison it could trim is
poison_trimmed. Synthetic histories (times in ms), no brokers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeadLetterChecker, DeliveryChecker, run_checkers
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import FAIL, INFO, INVOKE, OK
from tests.unit.histories import HistoryBuilder


def judge(h: HistoryBuilder, expire_after_s: float | None) -> Verdict:
    checker = DeliveryChecker(consume_f="process", expire_after_s=expire_after_s, expiry_evidence="minid")
    (verdict,) = run_checkers(h.history, [checker])
    return verdict


def lost(verdict: Verdict) -> object:
    return decide_cell(verdict, ("lost",)).valid


def xadd(h: HistoryBuilder, mid: str, at_ms: int, entry_ms: int, minid: int, outcome: str = OK) -> None:
    """One XADD sent at ``at_ms`` with MINID ``minid``, answered 1 ms later with an entry of ``entry_ms``."""
    h.op("p1", INVOKE, "send", {"id": mid, "minid": minid}, at_ms=at_ms)
    value = {"id": mid, "minid": minid, **({"entry": f"{entry_ms}-0"} if outcome == OK else {})}
    h.op("p1", outcome, "send", value, at_ms=at_ms + 1)


def stream(trimmer_sent_ms: int, trimmer_minid: int = 1500, trimmer_outcome: str = OK) -> HistoryBuilder:
    """``old`` written at 1000 ms (entry 1000), ``new`` right after it (an entry above every threshold here)
    and consumed; ``trimmer`` sent at ``trimmer_sent_ms`` with a threshold of ``trimmer_minid``; ``old``
    never consumed."""
    h = HistoryBuilder()
    xadd(h, "old", 1000, 1000, minid=0)
    xadd(h, "new", 1001, 1600, minid=500)
    xadd(h, "trimmer", trimmer_sent_ms, trimmer_sent_ms, minid=trimmer_minid, outcome=trimmer_outcome)
    h.op("c1", OK, "process", {"id": "new"}, at_ms=trimmer_sent_ms + 5)
    h.op("c1", OK, "process", {"id": "trimmer"}, at_ms=trimmer_sent_ms + 6)
    h.op("c1", INVOKE, "drain", at_ms=trimmer_sent_ms + 7)
    h.op("c1", OK, "drain", at_ms=trimmer_sent_ms + 8)
    return h


def test_an_entry_an_acknowledged_xadd_could_trim_once_it_was_old_enough_expired() -> None:
    verdict = judge(stream(trimmer_sent_ms=6000), expire_after_s=4.0)  # old acknowledged at 1001: 5 s before
    assert verdict.anomaly("expired").ids == ["old"]
    assert lost(verdict) is True and verdict.stats["deleted_too_soon"] == 0


def test_an_entry_trimmable_only_sooner_than_tolerated_is_lost() -> None:
    verdict = judge(stream(trimmer_sent_ms=3000), expire_after_s=4.0)  # every XADD done by 3001: 2 s old
    assert verdict.anomaly("lost").ids == ["old"] and verdict.stats["deleted_too_soon"] == 1
    assert lost(verdict) is False


def test_an_entry_no_xadd_could_trim_is_lost_whatever_the_tolerance() -> None:
    verdict = judge(stream(trimmer_sent_ms=6000, trimmer_minid=900), expire_after_s=1.0)  # 900 < 1000
    assert verdict.anomaly("lost").ids == ["old"] and verdict.anomaly("expired").count == 0


def test_only_an_xadd_of_unknown_outcome_could_trim_it_and_loss_is_unknown() -> None:
    verdict = judge(stream(trimmer_sent_ms=6000, trimmer_outcome=INFO), expire_after_s=4.0)
    assert lost(verdict) == UNKNOWN
    assert "1 only by MINID commands of unknown outcome" in verdict.incomplete["lost"]


def test_without_a_stated_expiry_a_trimmed_entry_is_lost() -> None:
    verdict = judge(stream(trimmer_sent_ms=6000), expire_after_s=None)
    assert verdict.anomaly("lost").ids == ["old"] and "expired" not in verdict.anomalies


def poison_history(trimmer_minid: int) -> HistoryBuilder:
    """Poison acknowledged at 1001 ms (entry 1000) and never dead-lettered: the stream trimmed it first,
    if the later XADD's threshold covered it."""
    h = HistoryBuilder()
    h.op("p1", INVOKE, "send", {"id": "bad", "kind": "poison", "minid": 0}, at_ms=1000)
    h.op("p1", OK, "send", {"id": "bad", "kind": "poison", "minid": 0, "entry": "1000-0"}, at_ms=1001)
    h.op("p1", INVOKE, "send", {"id": "good", "kind": "good", "minid": trimmer_minid}, at_ms=5000)
    h.op("p1", OK, "send", {"id": "good", "kind": "good", "minid": trimmer_minid, "entry": "5000-0"}, at_ms=5001)
    h.op("c1", OK, "receive", {"id": "good"}, at_ms=5002)
    h.op("c1", INVOKE, "drain", at_ms=5003)
    h.op("c1", OK, "drain", at_ms=5004)
    h.op("dlq", INVOKE, "dead_letter_read", at_ms=5005)
    h.op("dlq", OK, "dead_letter_read", at_ms=5006)
    return h


def test_poison_an_xadd_could_trim_before_it_was_dead_lettered_is_poison_trimmed() -> None:
    (covered,) = run_checkers(poison_history(1500).history, [DeadLetterChecker(trimmed_by_age=True)])
    assert covered.anomaly("poison_trimmed").ids == ["bad"] and covered.valid is True
    (uncovered,) = run_checkers(poison_history(900).history, [DeadLetterChecker(trimmed_by_age=True)])
    assert uncovered.anomaly("poison_not_dead_lettered").ids == ["bad"] and uncovered.valid is False
    (untolerated,) = run_checkers(poison_history(1500).history, [DeadLetterChecker()])
    assert untolerated.anomaly("poison_not_dead_lettered").ids == ["bad"]


# XTRIM ... MINID from a trimmer of its own: the same judgement, the thresholds on ``trim`` ops --------
def xtrim(h: HistoryBuilder, at_ms: int, minid: int, outcome: str = OK) -> None:
    """The trimmer's XTRIM sent at ``at_ms`` with MINID ``minid``, answered 1 ms later."""
    h.op("trimmer", INVOKE, "trim", {"id": f"trimmer-{at_ms}", "minid": minid}, at_ms=at_ms)
    h.op("trimmer", outcome, "trim", {"id": f"trimmer-{at_ms}", "minid": minid, "removed": 1}, at_ms=at_ms + 1)


def trimmed_stream(trim_sent_ms: int, trim_minid: int = 1500, trim_outcome: str = OK) -> HistoryBuilder:
    """``old`` (entry 1000) and ``new`` (entry 1600, consumed) written with no threshold of their own; the
    trimmer's one XTRIM at ``trim_sent_ms``; ``old`` never consumed."""
    h = HistoryBuilder()
    for mid, at, entry in (("old", 1000, 1000), ("new", 1001, 1600)):
        h.op("p1", INVOKE, "send", {"id": mid}, at_ms=at)
        h.op("p1", OK, "send", {"id": mid, "entry": f"{entry}-0"}, at_ms=at + 1)
    xtrim(h, trim_sent_ms, trim_minid, trim_outcome)
    h.op("c1", OK, "process", {"id": "new"}, at_ms=trim_sent_ms + 5)
    h.op("c1", INVOKE, "drain", at_ms=trim_sent_ms + 7)
    h.op("c1", OK, "drain", at_ms=trim_sent_ms + 8)
    return h


def test_an_entry_an_xtrim_covered_once_it_was_old_enough_expired_and_sooner_is_lost() -> None:
    expired = judge(trimmed_stream(trim_sent_ms=6000), expire_after_s=4.0)
    assert expired.anomaly("expired").ids == ["old"] and lost(expired) is True
    too_soon = judge(trimmed_stream(trim_sent_ms=3000), expire_after_s=4.0)
    assert too_soon.anomaly("lost").ids == ["old"] and too_soon.stats["deleted_too_soon"] == 1


def test_an_xtrim_refused_or_below_the_entry_trimmed_nothing_and_one_of_unknown_outcome_leaves_it_unknown() -> None:
    refused = judge(trimmed_stream(trim_sent_ms=6000, trim_outcome=FAIL), expire_after_s=4.0)
    assert refused.anomaly("lost").ids == ["old"] and refused.anomaly("expired").count == 0
    below = judge(trimmed_stream(trim_sent_ms=6000, trim_minid=900), expire_after_s=4.0)
    assert below.anomaly("lost").ids == ["old"]
    unknown = judge(trimmed_stream(trim_sent_ms=6000, trim_outcome=INFO), expire_after_s=4.0)
    assert lost(unknown) == UNKNOWN and "1 only by MINID commands of unknown outcome" in unknown.incomplete["lost"]


@settings(max_examples=100, deadline=None)
@given(sent_after_ms=st.integers(1, 9000), tolerance_ms=st.integers(100, 9000), by_xtrim=st.booleans())
def test_expired_exactly_when_the_first_covering_command_came_at_least_the_tolerance_after(
    sent_after_ms: int, tolerance_ms: int, by_xtrim: bool
) -> None:
    """``old`` acknowledged at 1001 ms; the only command covering it (an XADD, or the trimmer's XTRIM) sent
    ``sent_after_ms`` later and answered 1 ms after that. Expired when that gap reaches the tolerance;
    lost when even the last completion falls short of it from the first send (1000 ms); unknown in the
    2 ms between."""
    history = trimmed_stream(trim_sent_ms=1001 + sent_after_ms) if by_xtrim else stream(1001 + sent_after_ms)
    verdict = judge(history, expire_after_s=tolerance_ms / 1000)
    expired = verdict.anomaly("expired").count == 1
    assert expired == (sent_after_ms >= tolerance_ms)
    too_soon = verdict.stats["deleted_too_soon"] == 1
    assert too_soon == (1001 + sent_after_ms + 1 - 1000 < tolerance_ms)
    if not expired and not too_soon:
        assert lost(verdict) == UNKNOWN


def test_poison_an_xtrim_could_trim_before_it_was_dead_lettered_is_poison_trimmed() -> None:
    def history(trim_minid: int) -> HistoryBuilder:
        h = HistoryBuilder()
        h.op("p1", INVOKE, "send", {"id": "bad", "kind": "poison"}, at_ms=1000)
        h.op("p1", OK, "send", {"id": "bad", "kind": "poison", "entry": "1000-0"}, at_ms=1001)
        xtrim(h, 5000, trim_minid)
        h.op("c1", INVOKE, "drain", at_ms=5003)
        h.op("c1", OK, "drain", at_ms=5004)
        h.op("dlq", INVOKE, "dead_letter_read", at_ms=5005)
        h.op("dlq", OK, "dead_letter_read", at_ms=5006)
        return h

    (covered,) = run_checkers(history(1500).history, [DeadLetterChecker(trimmed_by_age=True)])
    assert covered.anomaly("poison_trimmed").ids == ["bad"] and covered.valid is True
    (uncovered,) = run_checkers(history(900).history, [DeadLetterChecker(trimmed_by_age=True)])
    assert uncovered.anomaly("poison_not_dead_lettered").ids == ["bad"] and uncovered.valid is False
