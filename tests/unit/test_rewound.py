"""``rewound``: a group member's first read of a partition after an assignment below what the group had
committed there — found, passed when every assignment resumes at or past the commit, unknown without a
commit or a finished drain, and not judged where the workload records no commits. Synthetic histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.checkers import DeliveryChecker, run_checkers
from chaos.checkers.guarantees import decide_cell
from chaos.checkers.verdict import UNKNOWN, Verdict
from chaos.history import FAIL, OK
from tests.unit.histories import HistoryBuilder


def judge(h: HistoryBuilder, commits: bool = True) -> Verdict:
    (verdict,) = run_checkers(h.history, [DeliveryChecker(positions=True, sessions=True, commits=commits)])
    return verdict


def rewound(verdict: Verdict) -> object:
    return decide_cell(verdict, ("rewound",)).valid


def sent(h: HistoryBuilder, offsets: range, partition: int = 0) -> None:
    for n in offsets:
        h.send(f"m{partition}-{n}", partition=partition, offset=n)


def read(h: HistoryBuilder, process: str, offsets: range, partition: int = 0) -> None:
    for n in offsets:
        h.receive(f"m{partition}-{n}", process=process, partition=partition, offset=n)


def commit(h: HistoryBuilder, process: str, *offsets: tuple[int, int], outcome: str = OK) -> None:
    h.op(process, outcome, "commit", {"offsets": [list(pair) for pair in offsets]})


def test_an_assignment_that_resumes_below_the_groups_commit_is_rewound() -> None:
    """The offsets partition was recreated empty: the next owner starts over from auto.offset.reset."""
    h = HistoryBuilder()
    sent(h, range(8))
    h.op("c1", OK, "assign", {"partitions": [0]})
    read(h, "c1", range(6))
    commit(h, "c1", (0, 6))
    h.op("c1", OK, "revoke", {"partitions": [0]})
    h.op("c2", OK, "assign", {"partitions": [0]})
    read(h, "c2", range(8))
    h.drain()
    verdict = judge(h)
    assert verdict.anomaly("rewound").ids == ["c2 resumed 0:0 after the group had committed 0:6"]
    assert rewound(verdict) is False
    assert decide_cell(verdict, ("nonmonotonic",)).valid is True  # a new session: not a step back


def test_assignments_that_resume_at_the_commit_or_past_it_pass() -> None:
    """At-least-once repeats what came after the last commit (here 4-5, read by c1 but not committed)."""
    h = HistoryBuilder()
    sent(h, range(10))
    sent(h, range(3), partition=1)
    h.op("c1", OK, "assign", {"partitions": [0, 1]})
    read(h, "c1", range(6))
    commit(h, "c1", (0, 4))
    read(h, "c1", range(2), partition=1)
    h.op("c1", OK, "revoke", {"partitions": [0, 1]})
    h.op("c2", OK, "assign", {"partitions": [0]})
    h.op("c1", OK, "assign", {"partitions": [1]})
    read(h, "c2", range(4, 10))
    read(h, "c1", range(3), partition=1)  # partition 1 had no commit: from the start is no rewind
    h.drain()
    verdict = judge(h)
    assert rewound(verdict) is True and verdict.anomaly("rewound").count == 0


def test_a_refused_commit_and_a_partition_assigned_elsewhere_do_not_count() -> None:
    h = HistoryBuilder()
    sent(h, range(6))
    sent(h, range(6), partition=1)
    h.op("c1", OK, "assign", {"partitions": [0, 1]})
    read(h, "c1", range(6))
    commit(h, "c1", (0, 6), outcome=FAIL)  # a zombie's commit: refused, it stands for nothing
    commit(h, "c1", (1, 3))
    h.op("c1", OK, "revoke", {"partitions": [0, 1]})
    h.op("c2", OK, "assign", {"partitions": [0]})  # partition 1's commit is not c2's business
    read(h, "c2", range(6))
    h.drain()
    assert rewound(judge(h)) is True


def test_a_seek_back_to_the_commit_is_no_assignment() -> None:
    h = HistoryBuilder()
    sent(h, range(6))
    h.op("c1", OK, "assign", {"partitions": [0]})
    read(h, "c1", range(4))
    commit(h, "c1", (0, 2))
    h.op("c1", OK, "seek", {"partition": 0, "to": 2})
    read(h, "c1", range(2, 6))
    h.drain()
    assert rewound(judge(h)) is True


def test_rewound_is_unknown_without_a_commit_or_a_finished_drain() -> None:
    h = HistoryBuilder()
    sent(h, range(3))
    h.op("c1", OK, "assign", {"partitions": [0]})
    read(h, "c1", range(3))
    h.drain()
    verdict = judge(h)
    assert rewound(verdict) == UNKNOWN
    assert verdict.incomplete["rewound"] == "no consumer recorded a commit the coordinator accepted"
    h2 = HistoryBuilder()
    sent(h2, range(3))
    h2.op("c1", OK, "assign", {"partitions": [0]})
    read(h2, "c1", range(3))
    commit(h2, "c1", (0, 3))
    h2.drain(outcome="info")
    assert rewound(judge(h2)) == UNKNOWN


def test_a_workload_that_records_no_commits_is_not_judged_by_them() -> None:
    h = HistoryBuilder()
    sent(h, range(3))
    h.op("c1", OK, "assign", {"partitions": [0]})
    read(h, "c1", range(3))
    h.drain()
    verdict = judge(h, commits=False)
    assert "rewound" not in verdict.anomalies and "rewound" not in verdict.incomplete


@settings(max_examples=80, deadline=None)
@given(committed=st.integers(0, 20), resumed=st.integers(0, 20))
def test_an_assignment_is_rewound_exactly_when_it_resumes_below_the_commit(committed: int, resumed: int) -> None:
    h = HistoryBuilder()
    sent(h, range(21))
    h.op("c1", OK, "assign", {"partitions": [0]})
    read(h, "c1", range(committed))
    commit(h, "c1", (0, committed))
    h.op("c1", OK, "revoke", {"partitions": [0]})
    h.op("c2", OK, "assign", {"partitions": [0]})
    read(h, "c2", range(resumed, 21))
    h.drain()
    verdict = judge(h)
    assert (verdict.anomaly("rewound").count == 1) == (resumed < committed)
