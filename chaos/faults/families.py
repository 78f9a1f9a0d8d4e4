"""Fault families: the named kinds of fault a schedule draws from, built for one cluster and workload.

Families are generic; what "the leader" means comes from the cluster (``leader_role`` /
``follower_role`` resolved by the broker folder) and the workload's subject (topic-partition, queue).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.errors import UsageError
from chaos.faults.base import Fault, Target
from chaos.faults.link import ClientLinkFault, ProxyDown
from chaos.faults.network import PacketLoss, Partition
from chaos.faults.process import DiskLoss, NodeFault, PowerLoss, RollingRestart, RollingUpgrade
from chaos.faults.staged import LeaderAloneThenLost, StaleReplicaLeft
from chaos.faults.targets import everyone, minority, one_random, role
from chaos.net.partition import Grudge, bridge, halves, isolate, majorities_ring
from chaos.net.toxiproxy import Latency, ResetPeer, Timeout, Toxic


@dataclass
class FaultContext:
    cluster: Cluster
    workload: Any
    rng: random.Random
    subject: str | None
    upgrade: Any = None  # the profile's UpgradeSettings, for the rolling-upgrade family

    def leader(self) -> Target:
        return role(self.cluster, self.cluster.leader_role, self.subject)

    def coordinator(self) -> Target:
        """The node coordinating the workload's consumer group (the cluster's ``coordinator`` role), asked
        when the fault applies."""
        group = getattr(self.workload, "group", None)
        if not group:
            raise ValueError("this fault family needs a workload whose consumers form a group with a coordinator")
        return role(self.cluster, "coordinator", group)

    def require_subject(self) -> str:
        if not self.subject:
            raise ValueError("this fault family needs the workload's subject (e.g. a topic-partition)")
        return self.subject

    def follower(self) -> Target:
        """One follower of the subject, never its leader (asked at the same moment): none when the
        leader is alone (the fault then has no target and does not happen)."""
        leader = role(self.cluster, self.cluster.leader_role, self.subject)
        followers = role(self.cluster, self.cluster.follower_role, self.subject)

        def resolve() -> list[Node]:
            leaders = {n.name for n in leader()}
            return [n for n in followers() if n.name not in leaders]

        return one_random(resolve, self.rng)


def isolating(target: Target) -> Callable[[Sequence[str], random.Random], Grudge]:
    """A partition shape that cuts off whatever ``target`` names at apply time — nobody (an empty
    grudge: the fault hits nothing) when it names no node, never a node chosen some other way."""

    def shape(nodes: Sequence[str], rng: random.Random) -> Grudge:
        victims = [n.name for n in target()]
        return isolate(*victims)(nodes, rng) if victims else {}

    shape.__name__ = "isolate"
    return shape


class BothWays(ClientLinkFault):
    """A client-link toxic in both directions (a blackhole drops requests and responses)."""

    def __init__(self, cluster: Cluster, target: Target, make: Callable[[str], Toxic]) -> None:
        super().__init__(cluster, target, make("downstream"))
        self._upstream = ClientLinkFault(cluster, target, make("upstream"))
        self.name = f"{self.name}-both"

    def _apply(self) -> None:
        super()._apply()
        self._upstream.apply()

    def _heal(self) -> None:
        self._upstream.heal()
        super()._heal()


def _members(ctx: FaultContext) -> Callable[[], list[Any]]:
    return lambda: [n for n in ctx.cluster.members if n.status() == "running"]


FAMILIES: dict[str, Callable[[FaultContext], Fault]] = {
    "kill-leader": lambda c: NodeFault(c.leader(), "kill"),
    "stop-leader": lambda c: NodeFault(c.leader(), "stop"),
    "pause-leader": lambda c: NodeFault(c.leader(), "pause"),
    "kill-follower": lambda c: NodeFault(c.follower(), "kill"),
    "lose-disk-leader": lambda c: DiskLoss(c.cluster, c.leader()),
    "lose-disk-coordinator": lambda c: DiskLoss(c.cluster, c.coordinator()),
    "power-loss-leader": lambda c: PowerLoss(c.cluster, c.leader()),
    "power-loss-all": lambda c: PowerLoss(c.cluster, everyone(c.cluster)),
    "kill-minority": lambda c: NodeFault(minority(c.cluster, c.rng), "kill"),
    "kill-all": lambda c: NodeFault(everyone(c.cluster), "kill"),
    "rolling-restart": lambda c: RollingRestart(c.cluster),
    "rolling-upgrade": lambda c: RollingUpgrade(
        c.cluster, c.upgrade.to_image, c.upgrade.to_version, c.upgrade.finalize
    ),
    "leader-alone-lost": lambda c: LeaderAloneThenLost(c.cluster, c.require_subject()),
    "stale-replica-left": lambda c: StaleReplicaLeft(c.cluster, c.require_subject(), c.rng),
    "isolate-leader": lambda c: Partition(c.cluster, isolating(c.leader()), c.rng, _members(c), cut_clients=True),
    "isolate-leader-clients-stay": lambda c: Partition(c.cluster, isolating(c.leader()), c.rng),
    "isolate-follower": lambda c: Partition(c.cluster, isolating(c.follower()), c.rng, _members(c)),
    "halves": lambda c: Partition(c.cluster, halves, c.rng, _members(c), cut_clients=True),
    "majorities-ring": lambda c: Partition(c.cluster, majorities_ring, c.rng, _members(c)),
    "bridge": lambda c: Partition(c.cluster, bridge, c.rng, _members(c)),
    "packet-loss": lambda c: PacketLoss(c.cluster, _members(c), 0.2),
    "link-blackhole": lambda c: BothWays(c.cluster, c.leader(), lambda s: Timeout(stream=s, timeout=0)),  # type: ignore[arg-type]
    "link-responses-lost": lambda c: ClientLinkFault(c.cluster, lambda: list(c.cluster.nodes), Timeout(timeout=0)),
    "link-reset": lambda c: ClientLinkFault(c.cluster, c.leader(), ResetPeer(timeout=0)),
    "link-latency": lambda c: ClientLinkFault(c.cluster, c.leader(), Latency(latency=300, jitter=100)),
    "proxy-down": lambda c: ProxyDown(c.cluster, c.leader()),
    "crash-consumer": lambda c: c.workload.consumer_crash(),
    "scale-consumers": lambda c: c.workload.consumer_scaling(),
    "pause-consumers": lambda c: c.workload.consumer_pause(),
    "stall-consumer": lambda c: c.workload.consumer_stall(),
}


# Families that act on the run's own clients only (its consumers), never on the cluster: two runs sharing a
# cluster at once do not feel each other's faults (the meta-suite plays a row and its twin so).
WORKLOAD_FAMILIES = frozenset({"crash-consumer", "scale-consumers", "pause-consumers", "stall-consumer"})

# Families whose cluster must record what its nodes fsync (see chaos.cluster.syncjournal).
NEEDS_SYNC_JOURNAL = frozenset({"power-loss-leader", "power-loss-all"})
ENTRY_POINT_GROUP = "brokerchaos.faults"


@dataclass(frozen=True)
class FamilyPlugin:
    """A fault family another package adds through the ``brokerchaos.faults`` entry point group (the
    entry point's name is the family's). An entry point may also name a bare ``build`` callable: a
    family for every broker that needs no sync journal."""

    build: Callable[[FaultContext], Fault]
    brokers: frozenset[str] | None = None  # None: every broker
    needs_sync_journal: bool = False


@functools.cache
def plugins() -> dict[str, FamilyPlugin]:
    found: dict[str, FamilyPlugin] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name in FAMILIES or point.name in found:
            raise UsageError(f"fault family {point.name!r} is defined twice (again by {point.value})")
        value = point.load()
        if not isinstance(value, FamilyPlugin):
            if not callable(value):
                raise UsageError(f"entry point {point.name} ({point.value}) is no fault family")
            value = FamilyPlugin(build=value)
        found[point.name] = value
    return found


def families_for(broker: str, own: frozenset[str]) -> frozenset[str]:
    """The families a broker can draw: its kit's own (``own``) and every plugin's that serves it."""
    added = {name for name, p in plugins().items() if p.brokers is None or broker in p.brokers}
    return own | added


def needs_sync_journal(families: list[str] | tuple[str, ...]) -> bool:
    extra = {name for name, p in plugins().items() if p.needs_sync_journal}
    return bool((NEEDS_SYNC_JOURNAL | extra).intersection(families))


def build(family: str, ctx: FaultContext) -> Fault:
    if family in FAMILIES:
        return FAMILIES[family](ctx)
    return plugins()[family].build(ctx)
