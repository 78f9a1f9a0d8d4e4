"""Several consumer groups on one topic: each group is judged on the history as it lived it — producers,
nemesis, drain and its own consumers — so a message one group never read fails ``no_loss`` even when the
other read it, and the report names the group. Both ways, plus one group's incomplete evidence (unknown).
Synthetic histories."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers.audiences import AudienceView, judge, merge_cells
from chaos.checkers.guarantees import Cell, CheckerOptions, checkers_for
from chaos.checkers.verdict import UNKNOWN
from chaos.history import INFO, OK
from chaos.profiles import Guarantees
from chaos.report import render_run
from tests.unit.histories import HistoryBuilder

AUDIENCES = ["group-1", "group-2"]


def audience_of(process: str) -> str | None:
    """As the Kafka workload names them: consumer-N reads for group 1, g2-consumer-N for group 2."""
    if process.startswith("consumer-"):
        return "group-1"
    if process.startswith("g2-consumer-"):
        return "group-2"
    return None


def two_groups(group_2_reads: range, drained: bool = True) -> HistoryBuilder:
    """m0-m4 acknowledged; group 1 reads all of them, group 2 the ones in ``group_2_reads``."""
    h = HistoryBuilder()
    for n in range(5):
        h.send(f"m{n}", key="k", seq=n, group="k", producer="p1")
    for n in range(5):
        h.receive(f"m{n}", process="consumer-1", key="k", seq=n, group="k", producer="p1")
        if n in group_2_reads:
            h.receive(f"m{n}", process="g2-consumer-1", key="k", seq=n, group="k", producer="p1")
    h.drain(process="drain", outcome=OK if drained else INFO)
    return h


def judged(h: HistoryBuilder, guarantees: Guarantees | None = None) -> tuple[list, dict[str, Cell]]:
    guarantees = guarantees or Guarantees(no_loss=True, no_duplicates=True, order=True, recovery=False)
    options = CheckerOptions(consume_f="receive")
    return judge(h.history, guarantees, lambda: checkers_for(guarantees, options), AUDIENCES, audience_of)


def test_every_group_reading_every_message_passes() -> None:
    verdicts, cells = judged(two_groups(range(5)))
    assert {c.valid for c in cells.values()} == {True}
    assert {v.checker for v in verdicts} >= {"delivery@group-1", "delivery@group-2", "order@group-1"}


def test_a_message_the_second_group_never_read_is_lost_for_it_even_though_the_first_read_it() -> None:
    verdicts, cells = judged(two_groups(range(3)))
    assert cells["no_loss"].valid is False
    assert cells["no_loss"].checker == "delivery@group-2"
    by_name = {v.checker: v for v in verdicts}
    assert by_name["delivery@group-2"].anomaly("lost").ids == ["m3", "m4"]
    assert by_name["delivery@group-1"].anomaly("lost").count == 0
    assert by_name["delivery@group-2"].anomaly("lost").blocks_validity
    assert cells["no_duplicates"].valid is True  # group 1's read of m3 is not a second read for group 2


def test_without_the_split_the_other_groups_reads_would_have_hidden_the_loss() -> None:
    guarantees = Guarantees(no_loss=True)
    options = CheckerOptions(consume_f="receive")
    h = two_groups(range(3))
    _, one = judge(h.history, guarantees, lambda: checkers_for(guarantees, options), [""], audience_of)
    assert one["no_loss"].valid is True  # why each group is judged on its own reads


def test_an_incomplete_drain_leaves_every_group_unknown_and_names_them() -> None:
    _, cells = judged(two_groups(range(5), drained=False))
    assert cells["no_loss"].valid is UNKNOWN
    assert "group-1:" in cells["no_loss"].reason and "group-2:" in cells["no_loss"].reason


def test_a_failure_in_one_group_outranks_an_unknown_in_another() -> None:
    failed = {"no_loss": Cell(False, "delivery@group-2", ("lost",))}
    unknown = {"no_loss": Cell(UNKNOWN, "delivery@group-1", reason="group-1: drain incomplete")}
    assert merge_cells([unknown, failed])["no_loss"] == failed["no_loss"]


def test_the_view_keeps_shared_ops_and_drops_the_other_groups_consumers() -> None:
    h = two_groups(range(5))
    h.op("nemesis", INFO, "start", {"fault": "kill-leader"})
    view = list(AudienceView(h.history, "group-2", audience_of))
    processes = {op.process for op in view}
    assert processes == {"p1", "g2-consumer-1", "drain", "nemesis"}
    assert list(AudienceView(h.history, "group-2", audience_of)) == view  # re-iterable


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 4)))
def test_the_second_group_fails_no_loss_exactly_when_it_missed_a_message(read: set[int]) -> None:
    h = HistoryBuilder()
    for n in range(5):
        h.send(f"m{n}")
        h.receive(f"m{n}", process="consumer-1")
        if n in read:
            h.receive(f"m{n}", process="g2-consumer-1")
    h.drain(process="drain")
    _, cells = judged(h, Guarantees(no_loss=True))
    assert cells["no_loss"].valid is (len(read) == 5)


def test_the_report_says_which_group_lost_what(tmp_path: Path) -> None:
    verdicts, _ = judged(two_groups(range(3)))
    run = tmp_path / "20261204T000000Z-abc123"
    example = run / "suites" / "p-kill-leader" / "example-1"
    example.mkdir(parents=True)
    result = {"profile": "p", "family": "kill-leader", "verdicts": [v.to_dict() for v in verdicts]}
    (example / "results.json").write_text(json.dumps(result))
    matrix = [{"profile": "p", "fault": "kill-leader", "guarantee": "no_loss", "valid": False}]
    (run / "matrix.json").write_text(json.dumps(matrix))
    summary, index = render_run(run)
    assert "- **lost** (2) in p / kill-leader, read by group-2: m3, m4" in summary.read_text()
    assert "read by group-1" not in summary.read_text()
    assert "read by group-2" in index.read_text()
