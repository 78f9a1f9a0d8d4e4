"""Session-scoped clusters of every registered broker and the per-test reset that keeps faults from leaking
between tests."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest

from chaos.brokers import kit_for, kits
from chaos.cluster import Cluster, Platform
from chaos.errors import BrokerChaosError, UsageError
from chaos.plugin.options import Options

log = logging.getLogger("brokerchaos.fixtures")
C = TypeVar("C", bound=Cluster)


def session_cluster(cls: type[C], platform: Platform, options: Options, **kwargs: Any) -> Iterator[C]:
    """Start one cluster for the session; a cluster that cannot start fails its tests (never skips them)."""
    try:
        cluster = cls(platform, version=options.version(cls.broker), proxy_base_port=options.proxy_base_port, **kwargs)
        cluster.start()
    except BrokerChaosError as exc:
        pytest.fail(f"{cls.broker} cluster did not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


def reset(cluster: C) -> C:
    try:
        took = cluster.restore()
    except BrokerChaosError as exc:
        pytest.fail(f"{cluster.broker} cluster could not be reset between tests: {exc}", pytrace=False)
    log.debug("%s reset in %.2f s", cluster.broker, took)
    return cluster


def _cluster_fixtures(broker: str) -> tuple[Any, Any]:
    """``<broker>_session_cluster`` (one cluster for the whole session) and ``<broker>_cluster`` (that
    cluster, reset before each test: no toxics or partitions, every node running and a member)."""

    def started(platform: Platform, options: Options) -> Iterator[Cluster]:
        yield from session_cluster(kit_for(broker).cluster_class, platform, options)

    def restored(request: pytest.FixtureRequest) -> Cluster:
        return reset(request.getfixturevalue(f"{broker}_session_cluster"))

    started.__doc__ = f"A running {broker} cluster (its kit's default topology) behind Toxiproxy, for the session."
    restored.__doc__ = f"The {broker} session cluster, reset before the test: no fault left from another test."
    return (
        pytest.fixture(scope="session", name=f"{broker}_session_cluster")(started),
        pytest.fixture(name=f"{broker}_cluster")(restored),
    )


try:
    _BROKERS = list(kits())
except UsageError:  # a broken broker plugin: options.pytest_configure reports it as one line
    _BROKERS = []
for _broker in _BROKERS:
    globals()[f"{_broker}_session_cluster"], globals()[f"{_broker}_cluster"] = _cluster_fixtures(_broker)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A fresh stream/queue/topic name per test, so tests never read each other's data."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"
