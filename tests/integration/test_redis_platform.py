"""The Redis cluster on real containers: streams through the proxies, toxics, failover, freeze."""

from __future__ import annotations

import time

import pytest
import redis

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.brokers.redis.xadd import NotConnectedError, WriteAheadLink
from chaos.faults.base import applied, nodes
from chaos.faults.link import ProxyDown
from chaos.net.toxiproxy import Timeout
from tests.integration.helpers import read_by_each_audience

GROUPS = ["group-1", "group-2"]


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_every_node_is_reached_through_its_own_proxy_on_loopback(redis_cluster: RedisSentinelCluster) -> None:
    assert len(redis_cluster.data_nodes) == 3 and len(redis_cluster.sentinel_nodes) == 3
    ports = set()
    for node in redis_cluster.nodes:
        assert node.endpoint is not None and node.endpoint.host == "127.0.0.1"
        ports.add(node.endpoint.port)
        with redis_cluster.client(node) as conn:
            assert conn.ping()
    assert len(ports) == 6
    proxies = redis_cluster.toxiproxy.proxies()  # type: ignore[union-attr]
    assert {p.upstream for p in proxies.values()} == {f"{n.name}:{n.spec.client_port}" for n in redis_cluster.nodes}


def test_xadd_xreadgroup_xack_through_the_proxies(redis_cluster: RedisSentinelCluster, unique_name: str) -> None:
    primary = redis_cluster.current_primary()
    with redis_cluster.client(primary) as conn:
        ids = [conn.xadd(unique_name, {"msg": str(i)}) for i in range(200)]
        conn.xgroup_create(unique_name, "workers", id="0")
        got = conn.xreadgroup("workers", "c1", {unique_name: ">"}, count=500)
        entries = got[0][1]
        assert [fields["msg"] for _, fields in entries] == [str(i) for i in range(200)]
        assert conn.xack(unique_name, "workers", *[entry_id for entry_id, _ in entries]) == 200
        assert conn.xpending(unique_name, "workers")["pending"] == 0
        conn.wait(2, 2000)
    replica = next(n for n in redis_cluster.data_nodes if n is not primary)
    with redis_cluster.client(replica) as conn:
        assert [entry_id for entry_id, _ in conn.xrange(unique_name)] == ids


def test_timeout_toxic_blocks_client_traffic_and_removing_it_restores_it(
    redis_cluster: RedisSentinelCluster, unique_name: str
) -> None:
    primary = redis_cluster.current_primary()
    toxiproxy = redis_cluster.toxiproxy
    assert toxiproxy is not None and primary.endpoint is not None
    toxiproxy.add_toxic(primary.endpoint.proxy, Timeout(name="blackhole", timeout=0))
    with pytest.raises((redis.TimeoutError, redis.ConnectionError)), redis_cluster.client(primary, timeout=1.0) as conn:
        conn.xadd(unique_name, {"msg": "during"})
    toxiproxy.remove_toxic(primary.endpoint.proxy, "blackhole")
    with redis_cluster.client(primary, timeout=1.0) as conn:
        conn.xadd(unique_name, {"msg": "after"})
        assert conn.xlen(unique_name) in (1, 2)  # the blocked XADD may have reached the server


def test_sigkill_of_the_primary_promotes_a_replica_found_through_current_primary(
    redis_cluster: RedisSentinelCluster, unique_name: str
) -> None:
    old = redis_cluster.current_primary()
    assert old.host_pid() is not None  # the engine is local: the kill is a signal, not an engine round trip
    old.kill()
    assert old.status() == "exited" and old.host_pid() is None
    new = _wait_for(
        lambda: _primary_other_than(redis_cluster, old.name), timeout=30, what="Sentinel to promote a replica"
    )
    assert redis_cluster.role_of(new) == "master"
    with redis_cluster.client(new) as conn:
        assert conn.xadd(unique_name, {"msg": "after failover"})


def _primary_other_than(cluster: RedisSentinelCluster, name: str):  # type: ignore[no-untyped-def]
    try:
        primary = cluster.current_primary()
    except LookupError:
        return None
    return primary if primary.name != name and cluster.role_of(primary) == "master" else None


def test_restarted_old_primary_rejoins_as_a_replica(redis_cluster: RedisSentinelCluster) -> None:
    # Runs after the failover test in file order; the per-test reset already started the old primary.
    roles = sorted(redis_cluster.role_of(n) for n in redis_cluster.data_nodes)
    assert roles == ["master", "slave", "slave"]


def test_pause_freezes_a_node_and_resume_thaws_it(redis_cluster: RedisSentinelCluster) -> None:
    replica = next(n for n in redis_cluster.data_nodes if redis_cluster.role_of(n) == "slave")
    replica.pause()
    assert replica.status() == "paused"
    with pytest.raises(redis.TimeoutError), redis_cluster.client(replica, timeout=0.5) as conn:
        conn.ping()
    replica.resume()
    assert replica.status() == "running"
    with redis_cluster.client(replica, timeout=1.0) as conn:
        assert conn.ping()


def test_batches_written_ahead_get_their_own_replies_in_order(
    redis_cluster: RedisSentinelCluster, unique_name: str
) -> None:
    """Three batches on the wire before any reply is read: each reply belongs to its own XADD, and one
    refused XADD (the key holds a string, not a stream) fails alone."""
    primary = redis_cluster.current_primary()
    wrong = f"{unique_name}-string"
    with redis_cluster.client(primary) as conn:
        conn.set(wrong, "not a stream")
    link = WriteAheadLink(redis_cluster.client(primary), unique_name, depth=3)
    try:
        batches = [[{"n": f"{b}-{i}"} for i in range(20)] for b in range(3)]
        for batch in batches:
            link.send(batch)
        link.stream = wrong
        link.send([{"n": "refused"}])
        replies = [link.replies(20) for _ in batches] + [link.replies(1)]
    finally:
        link.close()
    assert isinstance(replies[-1][0], redis.ResponseError)
    ids = [entry for batch in replies[:-1] for entry in batch]
    assert all(isinstance(entry, str) for entry in ids)
    with redis_cluster.client(primary) as conn:
        stored = conn.xrange(unique_name)
    assert [entry_id for entry_id, _ in stored] == ids
    assert [fields["n"] for _, fields in stored] == [f["n"] for batch in batches for f in batch]


def test_a_link_that_cannot_connect_is_a_definite_failure(redis_cluster: RedisSentinelCluster) -> None:
    primary = redis_cluster.current_primary()
    assert redis_cluster.toxiproxy is not None and primary.endpoint is not None
    with applied(ProxyDown(redis_cluster, nodes(primary))):
        link = WriteAheadLink(redis_cluster.client(primary, timeout=1.0), "never", depth=2)
        with pytest.raises(NotConnectedError, match="Error connecting"):
            link.send([{"n": "1"}])
        link.close()


def test_two_consumer_groups_each_read_every_entry_and_the_backlog_counts_both(
    redis_cluster: RedisSentinelCluster, unique_name: str
) -> None:
    """``client.consumer_groups = 2`` on real Redis: both groups read all of it, each judged on its own
    reads; an entry added afterwards is backlog twice (once per group) until both have acknowledged it."""
    from chaos.brokers.redis.settings import RedisClientSettings
    from chaos.brokers.redis.workload import RedisStreamsWorkload
    from chaos.checkers.guarantees import CheckerOptions
    from chaos.history import MemoryHistory
    from chaos.workloads.base import LoadBudget

    history = MemoryHistory()
    budget = LoadBudget(max_messages=300, max_seconds=10, rate=300)
    client = RedisClientSettings(consumer_groups=2)
    workload = RedisStreamsWorkload(redis_cluster, unique_name, history, budget, consumers=2, client=client)
    consumed = read_by_each_audience(workload, history, CheckerOptions(), GROUPS)
    assert consumed == {"delivery@group-1": 300, "delivery@group-2": 300}
    with redis_cluster.client(redis_cluster.current_primary()) as conn:
        conn.xadd(unique_name, {"id": "late"})
    assert workload.backlog() == 2
