"""Priority queues: a first delivery while a message of a higher rank, acknowledged, was still waiting is
``priority_inverted`` — measured and reported, failing no guarantee; unknown without a completed drain.
And what a profile's priorities declare on a RabbitMQ queue and its messages. Synthetic histories."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.brokers.rabbitmq.settings import priority_rank
from chaos.brokers.rabbitmq.workload import RabbitMQWorkload
from chaos.checkers import PriorityChecker, run_checkers
from chaos.checkers.guarantees import CheckerOptions, checkers_for, guarantee_cells, mark_failing
from chaos.checkers.verdict import Verdict
from chaos.history import FAIL, OK
from chaos.profiles import parse_profile
from chaos.report import render_run
from chaos.report.render import priorities_line
from chaos.settings import ProfileError
from tests.unit.histories import HistoryBuilder
from tests.unit.test_report import _run_dir


def low_then_high() -> HistoryBuilder:
    """A low-rank message and then a high-rank one, both acknowledged, neither delivered yet."""
    h = HistoryBuilder()
    h.send("low", rank=0)
    h.send("high", rank=1)
    return h


def measure(h: HistoryBuilder) -> Verdict:
    (verdict,) = run_checkers(h.history, [PriorityChecker()])
    return verdict


def test_a_low_rank_delivered_while_an_acknowledged_high_one_waits_is_inverted_and_not_the_other_way() -> None:
    h = low_then_high()
    h.receive("low", rank=0)  # high acknowledged and waiting: inverted
    h.receive("high", rank=1)
    h.drain()
    inverted = measure(h)
    assert inverted.anomaly("priority_inverted").ids == ["low"] and inverted.valid is True
    assert inverted.stats["by_rank"] == {"0": {"delivered": 1, "inverted": 1}, "1": {"delivered": 1, "inverted": 0}}

    h = low_then_high()
    h.receive("high", rank=1)
    h.receive("low", rank=0)
    h.drain()
    assert measure(h).anomaly("priority_inverted").count == 0


def test_a_higher_message_not_yet_acknowledged_refused_or_already_delivered_is_not_waiting() -> None:
    h = HistoryBuilder()
    h.send("refused", outcome=FAIL, rank=1)
    h.receive("early", rank=1)  # delivered before its own confirm
    h.send("early", rank=1)
    h.send("low", rank=0)
    h.receive("low", rank=0)
    h.receive("low", rank=0)  # a redelivery is not a first delivery
    h.drain()
    assert measure(h).anomaly("priority_inverted").count == 0


def test_without_a_completed_drain_or_any_ranked_delivery_the_figure_is_unknown() -> None:
    h = HistoryBuilder()
    h.send("low", rank=0)
    h.receive("low", rank=0)
    h.drain(outcome="info")
    assert "final drain incomplete" in measure(h).incomplete["priority_inverted"]
    h = HistoryBuilder()
    h.send("plain")
    h.receive("plain")
    h.drain()
    assert "no delivery" in measure(h).incomplete["priority_inverted"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 200), st.integers(-20, 200)),
        min_size=1,
        max_size=25,
    )
)
def test_the_count_is_the_definition_checked_message_by_message(messages: list[tuple[int, int, int, int]]) -> None:
    """Each message: (id, rank, acknowledged at, first delivered at — negative: never). Inverted: delivered
    at t while another of a higher rank was acknowledged before t and delivered after t, or never."""
    seen: dict[int, tuple[int, int, int]] = {}
    for mid, rank, acked, delivered in messages:
        seen.setdefault(mid, (rank, acked, delivered))
    events = []
    for mid, (rank, acked, delivered) in seen.items():
        events.append((acked * 2 + 1, "send", mid, rank))  # at one instant, a delivery comes first
        if delivered >= 0:
            events.append((delivered * 2, "receive", mid, rank))
    h = HistoryBuilder()
    position: dict[tuple[str, int], int] = {}  # (op, message) -> its place in the history
    for i, (at, f, mid, rank) in enumerate(sorted(events)):
        position[(f, mid)] = i
        process = "p1" if f == "send" else "c1"
        h.op(process, OK, f, {"id": mid, "rank": rank}, at_ms=at)
    h.drain()

    def waiting_at(place: int, other: int) -> bool:
        delivered = position.get(("receive", other))
        return position[("send", other)] < place and (delivered is None or delivered > place)

    expected = {
        mid
        for mid, (rank, _acked, _delivered) in seen.items()
        if ("receive", mid) in position
        and any(seen[o][0] > rank and waiting_at(position[("receive", mid)], o) for o in seen if o != mid)
    }
    assert measure(h).anomaly("priority_inverted").count == len(expected)


def test_the_figure_fails_no_guarantee_and_is_only_measured_where_messages_carry_a_rank() -> None:
    guarantees = parse_profile({"name": "q", "broker": "rabbitmq"}).guarantees
    checkers = checkers_for(guarantees, CheckerOptions(prioritised=True))
    assert any(isinstance(c, PriorityChecker) for c in checkers)
    assert not any(isinstance(c, PriorityChecker) for c in checkers_for(guarantees, CheckerOptions()))
    h = low_then_high()
    h.receive("low", rank=0)
    verdicts = run_checkers(h.history, [PriorityChecker()])
    mark_failing(verdicts, guarantee_cells(guarantees, [*verdicts, Verdict("delivery", True)]))
    assert verdicts[0].anomaly("priority_inverted").blocks_validity is False


# what a profile's priorities declare -------------------------------------------------------------------
def workload(client: dict[str, Any], version: str = "4.3.6") -> SimpleNamespace:
    profile = parse_profile({"name": "q", "broker": "rabbitmq", "version": version, "client": client})
    dead_letters = {"q": ("q.dlx", "q.dlq")}
    return SimpleNamespace(
        client=profile.client, dead_letters=dead_letters, queue="q", cluster=SimpleNamespace(version=version)
    )


def test_a_classic_queue_declares_x_max_priority_and_ranks_by_it_capped() -> None:
    w = workload({"queue_type": "classic", "poison": "reject", "max_priority": 5, "priorities": [1, 9]})
    assert RabbitMQWorkload._arguments(w, "q")["x-max-priority"] == 5  # type: ignore[arg-type]
    value: dict[str, Any] = {"id": "m1"}
    RabbitMQWorkload._prioritise(w, value, 9)  # type: ignore[arg-type]
    assert (value["priority"], value["rank"], value["group"]) == (9, 5, "q:rank-5")
    assert RabbitMQWorkload._properties(w, value).priority == 9  # type: ignore[arg-type]


def test_a_quorum_queue_ranks_two_levels_on_4_0_to_4_2_and_one_per_priority_from_4_3() -> None:
    w = workload({"priorities": [0, 4, 5, 9]}, version="4.0.5")
    assert "x-max-priority" not in RabbitMQWorkload._arguments(w, "q")  # type: ignore[arg-type]
    assert [priority_rank(w.client, "4.0.5", p) for p in (0, 4, 5, 9)] == [0, 0, 1, 1]
    assert [priority_rank(w.client, "4.3.6", p) for p in (0, 4, 5, 9, 40)] == [0, 4, 5, 9, 31]


@pytest.mark.parametrize(
    ("client", "version", "says"),
    [
        ({"queue_type": "classic", "poison": "reject", "priorities": [1, 2]}, "4.3.6", "set client.max_priority"),
        ({"priorities": [0, 5]}, "3.10.8", "ignore priorities"),
        ({"max_priority": 5}, "4.3.6", "a classic queue's"),
        ({"queue_type": "classic", "poison": "reject", "max_priority": 300}, "4.3.6", "1-255"),
        ({"priorities": []}, "4.3.6", "0-255"),
    ],
)
def test_priorities_the_queue_would_ignore_are_refused_at_load(client: dict[str, Any], version: str, says: str) -> None:
    with pytest.raises(ProfileError, match=says):
        workload(client, version)


def test_the_summary_says_the_figure_per_rank_or_why_it_was_not_measured() -> None:
    h = low_then_high()
    h.receive("low", rank=0)
    h.receive("high", rank=1)
    h.drain()
    assert priorities_line(measure(h).to_dict()) == (
        "2 first deliveries, 1 (50.0%) while a message of a higher rank waited (rank 0: 1 of 1; rank 1: 0 of 1)"
    )
    h.drain(outcome="info")
    assert priorities_line(measure(h).to_dict()).startswith("not measured (final drain incomplete")


def test_summary_md_and_index_html_show_the_figure(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, lost=False)
    h = low_then_high()
    h.receive("low", rank=0)
    h.receive("high", rank=1)
    h.drain()
    example = run / "suites" / "p-kill-leader" / "example-1"
    result = json.loads((example / "results.json").read_text())
    result["verdicts"].append(measure(h).to_dict())
    (example / "results.json").write_text(json.dumps(result))
    summary, index = render_run(run)
    assert "## Priorities (measured, failing nothing)\n\n- p / kill-leader: 2 first deliveries, 1 (50.0%)" in (
        summary.read_text()
    )
    assert "<ul id='priorities'><li>p / kill-leader: 2 first deliveries" in index.read_text()
