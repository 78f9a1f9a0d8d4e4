"""Process faults on broker nodes: kill (SIGKILL), stop (SIGTERM), pause (freeze); healed by a start or
resume."""

from __future__ import annotations

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.faults.base import Fault, Target

ACTIONS = ("kill", "stop", "pause")


class NodeFault(Fault):
    """``action`` each target node; the heal brings every one of them back."""

    def __init__(self, target: Target, action: str = "kill", stop_timeout: int = 10) -> None:
        super().__init__()
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        self.target = target
        self.action = action
        self.name = action
        self.stop_timeout = stop_timeout
        self._hit: list[Node] = []

    def _apply(self) -> None:
        for node in self.target():
            self._hit.append(node)
            self.targets.append(node.name)
            if self.action == "kill":
                node.kill()
            elif self.action == "stop":
                node.stop(self.stop_timeout)
            else:
                node.pause()

    def _heal(self) -> None:
        for node in self._hit:
            node.ensure_running()
        self._hit.clear()


class RollingRestart(Fault):
    """Restart members one at a time (SIGTERM, start), waiting for the cluster to be healthy between.

    Applying it performs the whole roll; healing only makes sure every node is running again."""

    name = "rolling-restart"

    def __init__(self, cluster: Cluster, stop_timeout: int = 30, health_timeout: float = 120.0) -> None:
        super().__init__()
        self.cluster = cluster
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout

    def _apply(self) -> None:
        for node in self.cluster.members:
            self.targets.append(node.name)
            node.stop(self.stop_timeout)
            node.start()
            self.cluster.wait_ready(self.health_timeout)

    def _heal(self) -> None:
        for node in self.cluster.nodes:
            node.ensure_running()
