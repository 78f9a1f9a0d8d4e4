"""A process that applied a partition and a toxic heals both when it gets SIGINT: afterwards no iptables
rule, no helper container and no toxic of it remains on the (still running) cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.resources import OWNER, OWNER_LABEL, RUN_LABEL
from tests.integration.helpers import finish, interruptible

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import random, sys, time
    from chaos.cluster import Platform
    from chaos.cluster.attach import AttachedCluster
    from chaos.faults import ClientLinkFault, Partition, applied
    from chaos.net.partition import isolate
    from chaos.net.toxiproxy import Latency

    with AttachedCluster(Platform.default(), sys.argv[1], sys.argv[2]) as cluster:
        victim = cluster.node("redis-2")
        with applied(Partition(cluster, isolate("redis-2"), random.Random(1))):
            with applied(ClientLinkFault(cluster, lambda: [victim], Latency(latency=1000))):
                print("applied", flush=True)
                time.sleep(120)
    """
)


def test_sigint_heals_the_partition_and_the_toxic_and_removes_the_helpers(redis_cluster: RedisSentinelCluster) -> None:
    child_run = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BROKERCHAOS_RUN_ID": child_run, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, redis_cluster.platform.run.run_id, redis_cluster.name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("applied"):
            break
        assert time.monotonic() < deadline
    else:
        raise AssertionError("the child exited before applying its faults:\n" + "".join(seen)[-3000:])
    victim = redis_cluster.node("redis-2")
    assert redis_cluster.net.rules(redis_cluster.node("redis-1")), "the partition should be in force"
    assert redis_cluster.toxiproxy.toxics(victim.endpoint.proxy), "the toxic should be in force"  # type: ignore[union-attr]

    proc.send_signal(signal.SIGINT)
    output = finish(proc, 60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in output

    for node in redis_cluster.nodes:
        assert redis_cluster.net.rules(node) == [], f"rules left on {node.name}"
    for proxy in redis_cluster.toxiproxy.proxies().values():  # type: ignore[union-attr]
        assert proxy.toxics == [], f"toxic left on {proxy.name}"
    selector = {"label": [f"{OWNER_LABEL}={OWNER}", f"{RUN_LABEL}={child_run}"]}
    assert redis_cluster.platform.client.containers.list(all=True, filters=selector) == []
