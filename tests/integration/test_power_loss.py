"""The power-loss fault on a real Redis: a SIGKILL alone keeps every acknowledged XADD (the page cache
survives a container kill), a power loss drops what ``appendfsync everysec`` had not synced yet, and
``appendfsync always`` loses nothing to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from chaos.brokers.redis.cluster import RedisPersistence, RedisSentinelCluster
from chaos.cluster import Platform
from chaos.faults.base import applied, nodes
from chaos.faults.process import NodeFault, PowerLoss

BATCHES = 2_000  # of 100 XADDs: far more than the writer sends before the fault


@pytest.fixture(params=["everysec", "always"])
def single_primary(request: pytest.FixtureRequest, platform: Platform) -> Iterator[RedisSentinelCluster]:
    cluster = RedisSentinelCluster(
        platform,
        name=f"power-{request.param}",
        replicas=0,
        sentinels=1,
        persistence=RedisPersistence(appendonly=True, appendfsync=request.param),
    )
    cluster.track_syncs = True
    with cluster:
        yield cluster


def _write_through(cluster: RedisSentinelCluster, fault: NodeFault) -> tuple[int, int]:
    """XADD in pipelined batches while ``fault`` hits the primary mid-stream; returns the entries
    acknowledged before it and the stream's length once the primary is back."""
    primary = cluster.current_primary()
    acknowledged = 0
    failed = threading.Event()

    def write() -> None:
        nonlocal acknowledged
        with cluster.client(primary) as conn:
            acknowledged = conn.xlen("s")
            for _ in range(BATCHES):
                pipe = conn.pipeline(transaction=False)
                for _ in range(100):
                    pipe.xadd("s", {"i": "x"})
                try:
                    pipe.execute()
                except redis.RedisError:
                    failed.set()
                    return
                acknowledged += 100

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(1.5)
    with applied(fault):
        writer.join(30)
    assert failed.is_set(), "the writer finished before the fault: raise BATCHES"
    cluster.wait_ready(60)
    deadline = time.monotonic() + 60
    while True:
        try:
            with cluster.client(primary) as conn:
                return acknowledged, conn.xlen("s")
        except redis.BusyLoadingError:  # still replaying its AOF
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_power_loss_drops_only_what_was_not_fsynced(single_primary: RedisSentinelCluster) -> None:
    cluster = single_primary
    primary = cluster.current_primary()
    acknowledged, after_kill = _write_through(cluster, NodeFault(nodes(primary), "kill"))
    assert after_kill >= acknowledged > 0, "a SIGKILL alone must keep every acknowledged XADD"

    loss = PowerLoss(cluster, nodes(primary))
    acknowledged, after_power_loss = _write_through(cluster, loss)
    if cluster.persistence.appendfsync == "always":
        # what it drops is the tail of writes in flight (written, not yet synced, never acknowledged)
        assert after_power_loss >= acknowledged
    else:
        assert after_power_loss < acknowledged, f"nothing lost; the cut was {loss.dropped}"
        assert sum(loss.dropped.values()) > 0
