"""The broker registry: one folder per broker, each declaring its :class:`BrokerKit`.

Everything that knows a broker lives in its folder (``kafka/``, ``rabbitmq/``, ``redis/``): the cluster,
the workload, the settings of its profile sections and their checks, its images and how to build them,
its upgrade rules. The core (faults, schedule, checkers, history, report, images machinery, net) asks
this registry and names no broker.

Other packages add brokers through the ``brokerchaos.brokers`` entry point group: each entry point
names a :class:`BrokerKit`, or a sequence of them (a folder may serve several, like Redis and Valkey).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from chaos.errors import UsageError

if TYPE_CHECKING:
    from chaos.cluster import Cluster, Platform
    from chaos.history import Recorder
    from chaos.images.catalogue import ImageSpec
    from chaos.profiles import Profile
    from chaos.settings import SettingsTable
    from chaos.workloads.base import Workload

ENTRY_POINT_GROUP = "brokerchaos.brokers"
# The folders shipped in this package; each module's ``KITS`` lists what it serves.
BUILTIN = ("chaos.brokers.kafka", "chaos.brokers.rabbitmq", "chaos.brokers.redis")


@dataclass(frozen=True)
class BrokerKit:
    """What the profile loader, the schedule, the image builder and the suites need of one broker."""

    broker: str
    image: str  # catalogue name of the broker's image (valkey runs the redis kit on another image)
    cluster_class: type[Cluster]
    cluster_settings: type[SettingsTable]
    client_settings: type[SettingsTable]
    make_cluster: Callable[[Platform, Profile, int | None], Cluster]
    make_workload: Callable[[Cluster, Profile, Recorder, str], Workload]
    default_families: tuple[str, ...]
    images: tuple[ImageSpec, ...]  # every version of ``image`` this kit can run
    default_version: str
    families: frozenset[str] = field(default_factory=frozenset)
    check: Callable[[Profile], None] = lambda profile: None
    # (from image, from version, to image, to version) -> why the broker cannot roll that way, or None
    upgrade_problem: Callable[[str, str, str, str], str | None] = lambda *path: None
    # recipe kind -> builder, for images no generic recipe builds (Kafka's jars from Maven Central)
    builders: dict[str, Callable[..., None]] = field(default_factory=dict)
    default_profile: str | None = None  # the shipped safe profile `pytest suites/` runs by default
    libraries: tuple[str, ...] = ()  # client distributions whose versions run.json records
    library_versions: Callable[[], dict[str, str | None]] = dict  # versions no distribution carries
    # [client] keys only the kit's own consumer applies: refused with workload.consumer_command
    consumer_keys: frozenset[str] = frozenset()
    # whether a run of the profile keeps this machine's cores busy on its own (a consume-transform-produce
    # pipeline): two such runs at once take as long as one after the other
    cpu_bound: Callable[[Profile], bool] = lambda profile: False
    extra: dict[str, Any] = field(default_factory=dict)


def _as_kits(value: object, source: str) -> list[BrokerKit]:
    found = [value] if isinstance(value, BrokerKit) else list(value) if isinstance(value, Iterable) else []
    if not found or not all(isinstance(kit, BrokerKit) for kit in found):
        raise UsageError(f"{source} gives no BrokerKit (got {type(value).__name__})")
    return found


def _builtin(module: str) -> Callable[[], object]:
    return lambda: importlib.import_module(module).KITS


def _discovered() -> Iterable[tuple[str, Callable[[], object]]]:
    for module in BUILTIN:
        yield module, _builtin(module)
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        yield f"entry point {point.name} ({point.value})", point.load


@functools.cache
def kits() -> dict[str, BrokerKit]:
    """Every broker this installation knows, by name; a name served twice is refused."""
    known: dict[str, BrokerKit] = {}
    for source, load in _discovered():
        for kit in _as_kits(load(), source):
            if kit.broker in known and known[kit.broker] is not kit:
                raise UsageError(f"broker {kit.broker!r} is served twice (again by {source})")
            known[kit.broker] = kit
    return known


def kit_for(broker: str) -> BrokerKit:
    known = kits()
    if broker not in known:
        raise UsageError(f"unknown broker {broker!r}; known: {', '.join(sorted(known))}")
    return known[broker]


def new_cluster(platform: Platform, profile: Profile, proxy_base_port: int | None = None) -> Cluster:
    """The profile's cluster, not started, prepared for the faults it draws (power-loss families need
    the nodes to record what they fsync)."""
    from chaos.faults.families import needs_sync_journal

    cluster = kit_for(profile.broker).make_cluster(platform, profile, proxy_base_port)
    cluster.track_syncs = needs_sync_journal(profile.faults.families)
    return cluster
