"""Broker name → cluster class. The only place that knows which folder serves which broker."""

from __future__ import annotations

from chaos.cluster.base import Cluster
from chaos.errors import UsageError


def _known() -> dict[str, type[Cluster]]:
    from chaos.cluster.kafka.cluster import KafkaCluster
    from chaos.cluster.rabbitmq.cluster import RabbitMQCluster
    from chaos.cluster.redis.cluster import BROKERS as REDIS

    return {**REDIS, "kafka": KafkaCluster, "rabbitmq": RabbitMQCluster}


def cluster_class(broker: str) -> type[Cluster]:
    known = _known()
    if broker not in known:
        raise UsageError(f"unknown broker {broker!r}; known: {', '.join(sorted(known))}")
    return known[broker]
