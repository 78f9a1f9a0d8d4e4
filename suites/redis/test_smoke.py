"""Redis Streams, smoke: what a team relies on when a client link to the primary misbehaves.

Guarantees: no acknowledged XADD is lost and each producer's entries arrive in order, while the
primary's client link is blackholed, then reset, then healed. Consumers ack after processing and
re-read their own pending entries after a reconnect, so redeliveries (at-least-once) are allowed.
"""

from __future__ import annotations

import time

import pytest

from chaos.checkers import DeliveryChecker, OrderChecker
from chaos.cluster.redis import RedisSentinelCluster
from chaos.faults import ClientLinkFault, applied
from chaos.history import JsonlHistory
from chaos.net.toxiproxy import ResetPeer, Timeout
from chaos.workloads.base import LoadBudget
from chaos.workloads.redis import RedisStreamsWorkload
from fixtures.runs import Judge

pytestmark = pytest.mark.broker("redis")

BUDGET = LoadBudget(max_messages=4000, max_seconds=20, rate=400)


@pytest.mark.parametrize("toxic", [Timeout(timeout=0), ResetPeer(timeout=0)], ids=["blackhole", "reset-peer"])
def test_no_acknowledged_entry_is_lost_when_the_primary_link_fails(
    redis_cluster: RedisSentinelCluster, history: JsonlHistory, judge: Judge, unique_name: str, toxic: object
) -> None:
    workload = RedisStreamsWorkload(redis_cluster, unique_name, history, BUDGET)
    primary = [redis_cluster.current_primary()]
    with workload.running():
        time.sleep(1.5)
        with applied(ClientLinkFault(redis_cluster, lambda: primary, toxic), history):  # type: ignore[arg-type]
            time.sleep(2)
        time.sleep(1.5)
    workload.drain(timeout=30)
    delivery, _ = judge(DeliveryChecker(allow_duplicates=True), OrderChecker())
    assert delivery.stats["send_ok"] > 500, "the workload barely ran: the fault tested nothing"
