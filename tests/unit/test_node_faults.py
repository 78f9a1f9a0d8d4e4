"""Node faults on several nodes act on all of them at once (a power cut takes the rack, not one machine
after another), and the heal brings back every node the fault reached. The nodes are small models."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from chaos.faults.base import applied, nodes
from chaos.faults.process import NodeFault


@dataclass(eq=False)
class NodeModel:
    """A node whose kill waits at ``barrier``: the kills meet there only if they run at the same time."""

    name: str
    barrier: threading.Barrier | None = None
    fails: bool = False
    running: bool = True
    events: list[str] = field(default_factory=list)

    def kill(self) -> None:
        if self.barrier is not None:
            self.barrier.wait()
        if self.fails:
            raise RuntimeError(f"docker could not kill {self.name}")
        self.running = False
        self.events.append("kill")

    def killer(self) -> Callable[[], None]:
        return self.kill  # resolved when the fault deals the kills, as a real node resolves its process

    def ensure_running(self) -> None:
        if not self.running:
            self.running = True
            self.events.append("start")


def test_a_kill_of_three_nodes_reaches_them_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=5)
    cluster = [NodeModel(f"n{i}", barrier) for i in (1, 2, 3)]
    with applied(NodeFault(nodes(*cluster), "kill")) as fault:  # type: ignore[arg-type]
        assert [n.running for n in cluster] == [False, False, False]
        assert fault.targets == ["n1", "n2", "n3"]
    assert [n.events for n in cluster] == [["kill", "start"]] * 3


def test_a_kill_that_fails_on_one_node_still_heals_the_others() -> None:
    cluster = [NodeModel("n1"), NodeModel("n2", fails=True), NodeModel("n3")]
    with pytest.raises(RuntimeError, match="could not kill n2"), applied(NodeFault(nodes(*cluster), "kill")):  # type: ignore[arg-type]
        pass
    assert all(n.running for n in cluster)
    assert cluster[0].events == ["kill", "start"]
    assert cluster[2].events == ["kill", "start"]


def test_a_kill_of_one_node_runs_in_the_callers_thread() -> None:
    seen: list[str] = []
    node = NodeModel("n1")
    node.kill = lambda: seen.append(threading.current_thread().name)  # type: ignore[method-assign]
    with applied(NodeFault(nodes(node), "kill")):  # type: ignore[arg-type]
        pass
    assert seen == [threading.current_thread().name]


def test_a_fault_whose_target_names_no_node_does_nothing() -> None:
    with applied(NodeFault(nodes(), "kill")) as fault:
        assert fault.targets == []


def test_a_fault_that_hit_nothing_is_recorded_as_no_target_not_applied() -> None:
    from chaos.faults.base import FaultLog
    from chaos.history import MemoryHistory

    history = MemoryHistory()
    faults = FaultLog(history)
    with applied(NodeFault(nodes(), "kill"), history, faults):
        pass
    assert [op.f for op in history] == ["start", "no_target", "stop"]
    assert faults.hit == [False]
    assert faults.played()[0]["hit"] is False


@dataclass
class RoleCluster:
    """A cluster model whose roles are asked like a real one's: the leader and its in-sync followers."""

    leader_name: str
    followers: list[str]
    members: list[NodeModel] = field(default_factory=list)
    leader_role: str = "leader"
    follower_role: str = "follower"

    def role_nodes(self, role: str, subject: str | None = None) -> list[NodeModel]:
        by_name = {n.name: n for n in self.members}
        if role == "leader":
            return [by_name[self.leader_name]]
        return [by_name[n] for n in self.followers]


def test_isolate_follower_never_picks_the_leader_and_hits_nothing_without_a_follower() -> None:
    import random

    from chaos.faults.families import FaultContext, isolating

    cluster = RoleCluster("n1", ["n2", "n3"], [NodeModel("n1"), NodeModel("n2"), NodeModel("n3")])
    for seed in range(50):
        ctx = FaultContext(cluster, None, random.Random(seed), "q")  # type: ignore[arg-type]
        grudge = isolating(ctx.follower())(["n1", "n2", "n3"], random.Random(seed))
        cut_off = [n for n, dropped in grudge.items() if len(dropped) == 2]
        assert cut_off and "n1" not in cut_off
    # The follower list lags a leader change (the old view still names the new leader): never the leader.
    stale = RoleCluster("n2", ["n2", "n3"], cluster.members)
    for seed in range(50):
        ctx = FaultContext(stale, None, random.Random(seed), "q")  # type: ignore[arg-type]
        assert [n.name for n in ctx.follower()()] == ["n3"]
    alone = RoleCluster("n1", [], cluster.members)
    ctx = FaultContext(alone, None, random.Random(0), "q")  # type: ignore[arg-type]
    assert isolating(ctx.follower())(["n1", "n2", "n3"], random.Random(0)) == {}


def test_a_power_loss_without_its_fsync_journal_is_refused_before_any_kill() -> None:
    from chaos.faults.process import PowerLoss, PowerLossUnavailableError

    class NoJournal:
        def sync_journal_problem(self, node: NodeModel) -> str:
            return "the cluster was not started with the fsync journal (track_syncs)"

    node = NodeModel("n1")
    with (
        pytest.raises(PowerLossUnavailableError, match="cannot be applied"),
        applied(
            PowerLoss(NoJournal(), nodes(node))  # type: ignore[arg-type]
        ),
    ):
        pass
    assert node.events == [] and node.running  # never a plain SIGKILL in its place


class JournalledDisk:
    """A cluster whose power loss finds ``unsynced`` on every node it hits."""

    def __init__(self, tails: dict[str, int], never_synced: dict[str, int]) -> None:
        from chaos.cluster.syncjournal import Unsynced

        self.unsynced = Unsynced(tails, never_synced)

    def sync_journal_problem(self, node: NodeModel) -> str:
        return ""

    def drop_unsynced(self, node: NodeModel) -> object:
        return self.unsynced


def _power_loss_on(disk: JournalledDisk) -> tuple[list[str], list[dict[str, object]]]:
    """Play a power loss on one node of ``disk``: the fault log's shortfalls, and the nemesis events."""
    from chaos.faults.base import FaultLog
    from chaos.faults.process import PowerLoss
    from chaos.history import MemoryHistory

    history = MemoryHistory()
    faults = FaultLog(history)
    with applied(PowerLoss(disk, nodes(NodeModel("n1"))), log_=faults):  # type: ignore[arg-type]
        pass
    return faults.shortfalls, [op.value for op in history]


def test_a_power_loss_that_kept_never_synced_files_whole_fell_short_and_names_the_largest() -> None:
    shortfalls, events = _power_loss_on(JournalledDisk({}, {"/data/00.log": 4096, "/data/00.index": 10}))
    assert len(shortfalls) == 1
    assert "power-loss fell short: 2 file(s) the broker never fsynced (4106 bytes apparent" in shortfalls[0]
    assert "n1:/data/00.log" in shortfalls[0]
    assert events[-1]["shortfall"] == shortfalls[0].removeprefix("power-loss fell short: ")


def test_a_power_loss_that_cut_every_unsynced_tail_and_kept_nothing_whole_did_what_it_names() -> None:
    shortfalls, events = _power_loss_on(JournalledDisk({"/data/appendonly.aof": 512}, {}))
    assert shortfalls == [] and events[-1]["shortfall"] is None
    assert events[-1]["unsynced_bytes_dropped"] == 512


def test_a_power_loss_on_a_disk_with_everything_synced_cut_nothing_and_did_what_it_names() -> None:
    """``appendfsync always``: nothing unsynced, nothing to cut. The loss was modelled in full: a pass
    after it is earned."""
    shortfalls, _ = _power_loss_on(JournalledDisk({}, {}))
    assert shortfalls == []
