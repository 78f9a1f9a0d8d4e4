"""A cluster that will not recover on its own is called so once its state has lasted, not at the readiness
deadline; and a drain that cannot measure its backlog on such a cluster ends early, incomplete (never a
pass). The clusters and workloads here are small models of what readiness and the drain ask."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

import chaos.cluster.base as cluster_base
from chaos.cluster.base import Cluster, ClusterNotReadyError, NotReady
from chaos.history import INFO, OK, MemoryHistory
from chaos.schedule.explore import _repairs_tried
from chaos.workloads.base import LoadBudget, Workload


@dataclass
class ClusterModel:
    """What ``Cluster.wait_ready`` asks of a cluster: its nodes, a readiness check, repairs and messages."""

    states: list[NotReady | None]  # what each readiness check finds, the last one for ever after
    nodes: list[object] = field(default_factory=list)
    checks: int = 0

    def check_ready(self) -> None:
        state = self.states[min(self.checks, len(self.states) - 1)]
        self.checks += 1
        if state is not None:
            raise state

    def repair(self) -> None:
        pass

    def _not_ready_message(self, node: str, what: str, culprit: object) -> str:
        return f"{node} {what}"


def wait_ready(model: ClusterModel, timeout: float) -> float:
    began = time.monotonic()
    Cluster.wait_ready(model, timeout, repair=True)  # type: ignore[arg-type]
    return time.monotonic() - began


@pytest.fixture(autouse=True)
def short_final_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_base, "FINAL_AFTER_S", 0.6)


def test_a_state_the_broker_will_not_leave_ends_readiness_once_it_has_lasted() -> None:
    offline = NotReady("kafka-3", "orders-1 has no leader although its replicas (kafka-3) are up", final=True)
    began = time.monotonic()
    with pytest.raises(ClusterNotReadyError, match=r"will not recover on its own.*orders-1 has no leader"):
        wait_ready(ClusterModel([offline]), timeout=30)
    assert time.monotonic() - began < 5  # the hold, not the 30 s deadline


def test_a_state_that_is_not_final_waits_for_the_deadline() -> None:
    booting = NotReady("kafka-3", "does not answer ApiVersions through its proxy")
    began = time.monotonic()
    with pytest.raises(ClusterNotReadyError, match="not ready after 2 s"):
        wait_ready(ClusterModel([booting]), timeout=2)
    assert time.monotonic() - began >= 2


def test_a_final_looking_state_that_clears_within_the_hold_is_ready() -> None:
    electing = NotReady("kafka-1", "orders-0 has no leader although its replicas (kafka-1) are up", final=True)
    assert wait_ready(ClusterModel([electing, electing, None]), timeout=30) < 5


def test_the_hold_counts_one_unchanged_state_only() -> None:
    """Final states that keep changing (another partition each check) are progress of a kind: the hold
    starts again, and only the deadline ends the wait."""
    states: list[NotReady | None] = [
        NotReady("kafka-1", f"orders-{i % 3} has no leader although its replicas are up", final=True)
        for i in range(400)
    ]
    began = time.monotonic()
    with pytest.raises(ClusterNotReadyError, match="not ready after 2 s"):
        wait_ready(ClusterModel(states), timeout=2)
    assert time.monotonic() - began >= 2


class UnmeasurableBacklog(Workload):
    """A workload whose backlog cannot be read (a partition without a leader answers no offsets)."""

    drain_stall_s = 0.5

    def __init__(self) -> None:
        self.recorded = MemoryHistory()
        super().__init__(self.recorded, LoadBudget())

    def produce(self, index: int) -> None:
        pass

    def consume(self, index: int) -> None:
        pass

    def backlog(self) -> int | None:
        return None


def drained(unrecovered: bool, timeout: float) -> tuple[bool, str, float]:
    workload = UnmeasurableBacklog()
    began = time.monotonic()
    complete = workload.drain(timeout=timeout, unrecovered=unrecovered)
    ended = [op for op in workload.recorded.ops if op.f == "drain" and op.type in (OK, INFO)]
    assert len(ended) == 1
    return complete, ended[0].value["outcome"], time.monotonic() - began


def test_a_drain_on_a_cluster_that_did_not_recover_ends_once_its_backlog_stayed_unmeasurable() -> None:
    complete, outcome, seconds = drained(unrecovered=True, timeout=30)
    assert not complete and outcome == "unmeasurable"
    assert seconds < 5


def test_a_drain_on_a_recovered_cluster_keeps_waiting_for_a_backlog_it_cannot_measure_yet() -> None:
    complete, outcome, seconds = drained(unrecovered=False, timeout=1.5)
    assert not complete and outcome == "timeout"
    assert seconds >= 1.5


class BacklogAnswersLate(UnmeasurableBacklog):
    """Unmeasurable at first, then answered (empty): a broker that was still electing its queues' leaders."""

    def __init__(self, unanswered_s: float) -> None:
        super().__init__()
        self.answers_at = time.monotonic() + unanswered_s

    def backlog(self) -> int | None:
        return 0 if time.monotonic() >= self.answers_at else None


def test_a_backlog_never_answered_up_to_the_timeout_marks_the_cluster_unfit_for_the_next_run() -> None:
    never = UnmeasurableBacklog()
    never.drain(timeout=1.0)
    assert never.backlog_unanswered
    late = BacklogAnswersLate(unanswered_s=0.5)
    assert late.drain(timeout=5.0, quiet_s=0.2) and not late.backlog_unanswered


class StuckThread:
    """A client thread that never ends (a consumer closing against a coordinator that is gone): it
    records the time it was given to end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.given: list[float] = []

    def join(self, timeout: float | None = None) -> None:
        self.given.append(timeout or 0.0)
        time.sleep(timeout or 0.0)

    def is_alive(self) -> bool:
        return True


def test_stuck_client_threads_share_one_wait_instead_of_adding_theirs_up() -> None:
    workload = UnmeasurableBacklog()
    threads = [StuckThread(f"consumer-{n}") for n in range(1, 4)]
    workload._threads = threads  # type: ignore[assignment]
    workload._join_threads(0.3)
    assert sum(sum(t.given) for t in threads) <= 0.3
    assert threads[0].given and threads[0].given[0] > 0


def test_a_cluster_given_up_on_says_whether_the_harness_repaired_anything() -> None:
    """R6's twin under pause_minority stayed split with no repair made: its reason must not claim one."""
    assert _repairs_tried([]) == "and the harness made no repair (none applies to its state)"
    restarted = [{"action": "restarted rabbitmq-1's RabbitMQ application", "node": "rabbitmq-1"}]
    assert _repairs_tried(restarted) == "even with the operator's help (1 repair(s))"
