"""Staged faults: the stages run in their order, each waits for the cluster to show the one before, a
stage that never happens is an error, and the heal undoes every stage reached. The cluster is a small
model (roles that change as the stages act), not a broker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from chaos.faults.base import applied
from chaos.faults.staged import LeaderAloneThenLost, StageTimeoutError, StaleReplicaLeft


@dataclass(eq=False)
class FakeNode:
    name: str
    log: list[str]
    running: bool = True

    def kill(self) -> None:
        self.running = False
        self.log.append(f"kill {self.name}")

    def ensure_running(self) -> None:
        if not self.running:
            self.running = True
            self.log.append(f"start {self.name}")

    def status(self) -> str:
        return "running" if self.running else "exited"


@dataclass
class FakeNet:
    log: list[str]

    def ip(self, node: FakeNode) -> str:
        return f"10.0.0.{node.name[-1]}"

    def run_all(self, scripts: dict[FakeNode, str]) -> dict[str, str]:
        for node, script in scripts.items():
            self.log.append(f"{'heal' if '-F' in script else 'cut'} on {node.name}")
        return {}


@dataclass
class FakeKafka:
    """Replicas r1 (leader), r2, r3 of one partition; the ISR shrinks once replication is cut."""

    log: list[str] = field(default_factory=list)
    replication_port: int = 19092
    shrinks: bool = True
    leaderless_after_kill: bool = True

    def __post_init__(self) -> None:
        self.members = [FakeNode(f"r{i}", self.log) for i in (1, 2, 3)]
        self.net = FakeNet(self.log)
        self.leader: FakeNode | None = self.members[0]
        self.in_sync = list(self.members)

    def role_nodes(self, role: str, subject: str | None = None) -> list[FakeNode]:
        cut = any(entry.startswith("cut") for entry in self.log) and not any(e.startswith("heal") for e in self.log)
        if cut and self.shrinks:
            self.in_sync = [n for n in self.in_sync if n is self.leader or not self._cut_off(n)]
        if self.leader is not None and not self.leader.running and self.leaderless_after_kill:
            self.leader = None
        if role == "leader":
            if self.leader is None:
                raise LookupError("no leader")
            return [self.leader]
        return [n for n in self.in_sync if n is not self.leader]

    def _cut_off(self, node: FakeNode) -> bool:
        return any(entry == f"cut on {self.members[0].name}" for entry in self.log) and node is not self.members[0]

    def force_election(self, subject: str) -> None:
        self.log.append("unclean election")
        self.leader = next(n for n in self.members if n.running)


def test_leader_alone_then_lost_runs_its_stages_in_order_and_heals_them() -> None:
    cluster = FakeKafka()
    fault = LeaderAloneThenLost(cluster, "t-0", hold_s=0)  # type: ignore[arg-type]
    with applied(fault):
        assert cluster.log == ["cut on r1", "kill r1", "unclean election"]
        assert fault.targets == ["r1"]
    assert cluster.log[-1] == "start r1"


def test_a_stage_that_never_happens_is_an_error_and_the_heal_still_runs() -> None:
    cluster = FakeKafka(shrinks=False)
    fault = LeaderAloneThenLost(cluster, "t-0", stage_timeout=0.5, hold_s=0)  # type: ignore[arg-type]
    with pytest.raises(StageTimeoutError, match="in-sync set shrinking"), applied(fault):
        pass
    assert cluster.log == ["cut on r1", "heal on r1"]
    assert all(n.running for n in cluster.members)


def test_stale_replica_left_kills_every_in_sync_replica_and_restarts_them() -> None:
    cluster = FakeKafka()
    fault = StaleReplicaLeft(cluster, "t-0", random.Random(1), hold_s=0)  # type: ignore[arg-type]
    with applied(fault):
        killed = [entry for entry in cluster.log if entry.startswith("kill")]
        alive = [n.name for n in cluster.members if n.running]
        assert len(killed) == 2 and len(alive) == 1 and alive[0] not in fault.targets
    assert sorted(e for e in cluster.log if e.startswith("start")) == sorted(f"start {t}" for t in fault.targets)
