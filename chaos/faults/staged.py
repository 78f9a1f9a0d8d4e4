"""Staged faults: ordinary faults in a fixed order, each step waiting until the cluster shows the one
before took effect.

Some losses need an order — first a replica falls out of sync, then the in-sync ones go — that
independently drawn steps would almost never hit (Kafka's catalogue rows K2 and K3). Each stage waits on
what the cluster reports (its in-sync set, its leader), bounded in time: a stage that does not happen is
an apply failure (the example's verdict is unknown), never a silent pass.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.errors import BrokerChaosError
from chaos.faults.base import Fault, nodes
from chaos.faults.network import ReplicationCut

log = logging.getLogger("brokerchaos.faults")


class StageTimeoutError(BrokerChaosError):
    """A stage of a staged fault did not take effect in time."""


class Staged(Fault):
    """Shared parts: the subject's roles, bounded waits, and a heal that undoes every stage reached."""

    def __init__(self, cluster: Cluster, subject: str, stage_timeout: float = 60.0, hold_s: float = 3.0) -> None:
        super().__init__()
        self.cluster = cluster
        self.subject = subject
        self.stage_timeout = stage_timeout
        self.hold_s = hold_s  # how long a weakened state lasts under load before the next stage
        self._cut: ReplicationCut | None = None
        self._killed: list[Node] = []

    def _roles(self, role: str) -> list[Node]:
        return self.cluster.role_nodes(role, self.subject)

    def _leader(self) -> Node | None:
        """The subject's leader now, or None while it has none."""
        try:
            found = self._roles("leader")
        except LookupError:
            return None
        return found[0] if found else None

    def _wait(self, what: str, done: Callable[[], bool]) -> None:
        began = time.monotonic()
        last_error = ""
        while True:
            try:
                if done():
                    log.info("%s: %s after %.1f s", self.name, what, time.monotonic() - began)
                    return
            except (LookupError, BrokerChaosError) as exc:  # metadata unavailable mid-fault: ask again
                last_error = f" (last answer: {exc})"
            if time.monotonic() - began > self.stage_timeout:
                raise StageTimeoutError(f"{self.name}: no sign of {what} within {self.stage_timeout:.0f} s{last_error}")
            time.sleep(0.3)

    def _cut_replication(self, receivers: list[Node], senders: list[Node]) -> None:
        self._cut = ReplicationCut(self.cluster, nodes(*receivers), nodes(*senders))
        self._cut.apply()

    def _kill(self, victims: list[Node]) -> None:
        for node in victims:
            self._killed.append(node)
            node.kill()

    def _heal(self) -> None:
        for node in self._killed:
            node.ensure_running()
        self._killed.clear()
        if self._cut is not None:
            self._cut.heal()
            self._cut = None


class LeaderAloneThenLost(Staged):
    """Catalogue K2. The followers stop copying from the leader until it alone is in sync — it goes on
    acknowledging whatever its settings let it — then its machine is lost, and the operator restores
    service by electing a surviving replica. What only the leader held is gone: nothing when an
    acknowledgement needed a second in-sync copy, the writes of the weakened spell when it did not.

    Healing brings the old leader back; it rejoins as a follower and drops the tail no one else has."""

    name = "leader-alone-lost"

    def _apply(self) -> None:
        leader = self._roles("leader")[0]
        followers = self._roles("follower")
        self.targets = [leader.name]
        self._cut_replication([leader], followers)
        self._wait("the in-sync set shrinking to the leader alone", lambda: not self._roles("follower"))
        time.sleep(self.hold_s)
        self._kill([leader])
        self._cut.heal()  # type: ignore[union-attr]  # the survivors may talk again; the leader is gone

        def survivor_elected() -> bool:
            current = self._leader()
            if current is None:  # fenced and leaderless now: the operator's break-glass election
                self.cluster.force_election(self.subject)
                return False
            return current is not leader

        self._wait("a surviving replica elected", survivor_elected)


class StaleReplicaLeft(Staged):
    """Catalogue K3. One follower stops copying until it falls out of sync while the others go on
    acknowledging; then every in-sync replica dies, leaving the stale one the only live copy. A cluster
    that elects out-of-sync replicas makes it leader, and when the others return they drop what it
    never had; a cluster that does not stays without a leader until an in-sync replica returns.

    The controllers must keep a quorum with two replicas down: run it on five or more KRaft nodes."""

    name = "stale-replica-left"

    def __init__(self, cluster: Cluster, subject: str, rng: random.Random, **kwargs: float) -> None:
        super().__init__(cluster, subject, **kwargs)
        self.rng = rng

    def _apply(self) -> None:
        leader = self._roles("leader")[0]
        in_sync = self._roles("follower")
        if not in_sync:
            raise StageTimeoutError(f"{self.name}: {self.subject} has no in-sync follower to leave behind")
        stale = self.rng.choice(in_sync)
        fresh = [leader, *(n for n in in_sync if n is not stale)]
        others = [n for n in self.cluster.members if n is not stale and n.status() == "running"]
        self.targets = [n.name for n in fresh]
        self._cut_replication(others, [stale])
        self._wait(f"{stale.name} falling out of sync", lambda: stale not in self._roles("follower"))
        time.sleep(self.hold_s)  # the in-sync ones acknowledge writes the stale one never copies
        self._kill(fresh)
        self._cut.heal()  # type: ignore[union-attr]
        # In force once the dead are fenced: leaderless, or led by the stale replica.
        self._wait("the in-sync replicas fenced", lambda: self._leader() in (None, stale))
