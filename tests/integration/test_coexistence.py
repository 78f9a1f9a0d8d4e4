"""All three brokers' clusters up at once on this machine, each node under a memory cap."""

from __future__ import annotations

import logging

from chaos.brokers.kafka.cluster import KafkaCluster
from chaos.brokers.rabbitmq.cluster import RabbitMQCluster
from chaos.brokers.redis.cluster import RedisSentinelCluster
from chaos.cluster import Cluster

log = logging.getLogger("brokerchaos.tests")


def test_kafka_rabbitmq_and_redis_clusters_run_together_within_their_memory_caps(
    kafka_cluster: KafkaCluster, rabbitmq_cluster: RabbitMQCluster, redis_cluster: RedisSentinelCluster
) -> None:
    clusters: list[Cluster] = [kafka_cluster, rabbitmq_cluster, redis_cluster]
    total = 0.0
    for cluster in clusters:
        cluster.wait_ready(60)  # all healthy while the others run
        for node in cluster.nodes:
            node.container.reload()
            cap = node.container.attrs["HostConfig"]["Memory"]
            stats = node.container.stats(stream=False, one_shot=True)["memory_stats"]
            used = stats.get("usage", 0)
            assert cap > 0, f"{node.name} has no memory cap"
            assert used < cap, f"{node.name} uses {used} of its {cap} byte cap"
            total += used
            log.info("%-12s %7.1f MB of %6.0f MB cap", node.name, used / 2**20, cap / 2**20)
    log.info("all three clusters together: %.0f MB", total / 2**20)
