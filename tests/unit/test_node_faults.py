"""Node faults on several nodes act on all of them at once (a power cut takes the rack, not one machine
after another), and the heal brings back every node the fault reached. The nodes are small models."""

from __future__ import annotations

import threading
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
