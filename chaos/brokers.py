"""Broker kits: what the profile loader, the schedule and the suites need to know of each broker.

Each broker module declares one :class:`BrokerKit` (its cluster settings, client settings, how to start
its cluster and workload). This registry is the only place that maps a broker name to its kit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.errors import UsageError

if TYPE_CHECKING:
    from chaos.cluster import Cluster, Platform
    from chaos.history import Recorder
    from chaos.profiles import Profile
    from chaos.workloads.base import Workload


@dataclass(frozen=True)
class BrokerKit:
    broker: str
    image: str  # catalogue name of the broker's image (valkey runs the redis kit on another image)
    cluster_settings: type
    client_settings: type
    make_cluster: Callable[[Platform, Profile, int | None], Cluster]
    make_workload: Callable[[Cluster, Profile, Recorder, str], Workload]
    default_families: tuple[str, ...]
    families: frozenset[str] = field(default_factory=frozenset)
    check: Callable[[Profile], None] = lambda profile: None
    # (from image, from version, to image, to version) -> why the broker cannot roll that way, or None
    upgrade_problem: Callable[[str, str, str, str], str | None] = lambda *path: None
    extra: dict[str, Any] = field(default_factory=dict)


def _kits() -> dict[str, BrokerKit]:
    from chaos.workloads.kafka import KIT as KAFKA
    from chaos.workloads.rabbitmq import KIT as RABBITMQ
    from chaos.workloads.redis import KIT as REDIS
    from chaos.workloads.redis import VALKEY_KIT

    return {k.broker: k for k in (KAFKA, RABBITMQ, REDIS, VALKEY_KIT)}


def kit_for(broker: str) -> BrokerKit:
    kits = _kits()
    if broker not in kits:
        raise UsageError(f"unknown broker {broker!r}; known: {', '.join(sorted(kits))}")
    return kits[broker]


def new_cluster(platform: Platform, profile: Profile, proxy_base_port: int | None = None) -> Cluster:
    """The profile's cluster, not started, prepared for the faults it draws (power-loss families need
    the nodes to record what they fsync)."""
    from chaos.faults.families import needs_sync_journal

    cluster = kit_for(profile.broker).make_cluster(platform, profile, proxy_base_port)
    cluster.track_syncs = needs_sync_journal(profile.faults.families)
    return cluster
