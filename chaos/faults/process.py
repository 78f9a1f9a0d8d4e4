"""Process faults on broker nodes: kill (SIGKILL), stop (SIGTERM), pause (freeze); healed by a start or
resume."""

from __future__ import annotations

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
